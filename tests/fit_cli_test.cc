// End-to-end tests of `twinsim fit`'s command-line face: runs the built tool as a child process
// and checks --help, one --json run (one object per row, the keys the library writes) and bad
// command lines (exit 2, one line on stderr, nothing on stdout). What the search finds is
// harness/fit_test's.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tests/twinsim_runner.h"

namespace twinsim {
namespace {

using nlohmann::json;

using testing::BadCase;
using testing::ExpectRejected;
using testing::Lines;
using testing::Ok;

// A 4-layer GPT-2 on `gpus` of four 2 GiB GPUs, with `more` options.
std::vector<std::string> Small(std::vector<std::string> more, const std::string& gpus = "2") {
  std::vector<std::string> args = {"fit", "--model", "gpt2:n_layer=4,n_embd=512,n_head=8"};
  for (const char* arg :
       {"--cluster", "v100-32g:gpus_per_node=4,gpu_memory_gb=2", "--seq", "512"}) {
    args.push_back(arg);
  }
  args.push_back("--gpus");
  args.push_back(gpus);
  args.insert(args.end(), more.begin(), more.end());
  return args;
}

TEST(FitCliTest, HelpNamesTheOptionsAndTheSearch) {
  const std::string out = Ok({"fit", "--help"});
  for (const char* text : {"--model", "--cluster", "--gpus", "--policy", "--seq", "--tp", "--pp",
                           "--max-batch", "--json", "bisection", "offload_optimizer",
                           "twinsim fit --model llama3-8b --cluster dgx-h100 --gpus 8"}) {
    EXPECT_NE(out.find(text), std::string::npos) << text << "\n" << out;
  }
  EXPECT_NE(Ok({"--help"}).find("twinsim fit [options]"), std::string::npos);
}

TEST(FitCliTest, JsonPrintsOneObjectPerRow) {
  const std::string out = Ok(Small({"--policy", "zero2,fsdp2", "--json"}));
  const std::vector<std::string> lines = Lines(out);
  // tp in {1, 2} x pp in {1, 2} with tp pp | 2: three layouts, two policies each.
  ASSERT_EQ(lines.size(), 6u) << out;
  for (const std::string& line : lines) {
    const json j = json::parse(line);
    EXPECT_EQ(j["gpus"], 2);
    EXPECT_EQ(j["seq"], 512);
    EXPECT_TRUE(j["max_batch"].contains("selective")) << line;
    EXPECT_TRUE(j.contains("peak_breakdown")) << line;
  }
  EXPECT_EQ(json::parse(lines[0])["policy"], "zero2");
  EXPECT_EQ(json::parse(lines[1])["policy"], "fsdp2");
  // The text: three lines of setup, a blank line, the header and the same rows.
  EXPECT_EQ(Lines(Ok(Small({"--policy", "zero2,fsdp2"}))).size(), 5u + 6u);
}

TEST(FitCliTest, BadCommandLinesExitTwoWithOneLine) {
  const std::vector<BadCase> cases = {
      {Small({}, "0"), "twinsim fit: --gpus: expected a positive integer, got '0'"},
      {Small({}, "x"), "twinsim fit: --gpus: expected a positive integer, got 'x'"},
      {Small({}, "8"), "twinsim fit: --gpus: the cluster"},
      {Small({"--policy", "zero4"}), "twinsim fit: --policy: unknown policy 'zero4'"},
      {Small({"--policy", "zero1,zero1"}), "twinsim fit: --policy:"},
      {Small({"--tp", "3"}, "4"), "twinsim fit: --gpus: no layout of 4 GPUs"},
      {Small({"--tp", "3"}), "twinsim fit: --tp: expected a positive integer up to 2, got '3'"},
      {{"fit", "--model", "gpt2-small", "--gpus", "1"}, "--cluster"},
  };
  for (const BadCase& c : cases) ExpectRejected(c);
}

}  // namespace
}  // namespace twinsim
