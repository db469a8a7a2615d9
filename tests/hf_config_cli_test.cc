// End-to-end tests of `--model config.json` (issue 15): the twinsim binary reads the shipped
// Hugging Face configs and reports what transformers counts, lists the presets built from them,
// runs counter init on configs with experts over tp, pp, dp and ep, and rejects bad configs with
// exit status 2 and one line naming the file. The families' parameters themselves are
// core:hf_config_test's.
#include <gtest/gtest.h>

#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/twinsim_runner.h"

namespace twinsim {
namespace {

using testing::BadCase;
using testing::Describe;
using testing::ExpectRejected;
using testing::RunResult;
using testing::SourcePath;
using testing::TmpDir;
using testing::Twinsim;

nlohmann::json OkJson(const std::vector<std::string>& args) {
  const RunResult r = Twinsim(args);
  EXPECT_EQ(r.exit_code, 0) << Describe(args) << "\nstderr: " << r.err;
  EXPECT_EQ(r.err, "") << Describe(args);
  return nlohmann::json::parse(r.out, nullptr, /*allow_exceptions=*/false);
}

TEST(HfConfigCliTest, ShowModelReportsWhatTransformersCounts) {
  const std::string mixtral = SourcePath("scenarios/models/mixtral-8x7b.json");
  const nlohmann::json j = OkJson({"show", "model", "--model", mixtral, "--json"});
  ASSERT_TRUE(j.is_object());
  EXPECT_EQ(j["name"], mixtral);
  EXPECT_EQ(j["num_params"].get<int64_t>(), 46702792704);  // Mixtral-8x7B as published
  EXPECT_EQ(j["num_layers"].get<int>(), 32);
  EXPECT_EQ(j["params"][0]["name"], "model.embed_tokens.weight");

  const nlohmann::json ds = OkJson({"show", "model", "deepseek-v3", "--summary", "--json"});
  EXPECT_EQ(ds["num_params"].get<int64_t>(), 671026404352);
  const nlohmann::json qwen =
      OkJson({"show", "model", SourcePath("scenarios/models/qwen3-30b-a3b.json"), "--summary",
              "--json"});
  EXPECT_EQ(qwen["num_params"].get<int64_t>(), 30532122624);
}

TEST(HfConfigCliTest, ShowModelListsTheHuggingFacePresets) {
  const nlohmann::json j = OkJson({"show", "model", "--json"});
  std::vector<std::string> names;
  for (const auto& p : j["presets"]) names.push_back(p["name"]);
  for (const char* name : {"mixtral-8x7b", "qwen3-30b-a3b", "deepseek-v3"}) {
    EXPECT_NE(std::find(names.begin(), names.end(), name), names.end()) << name;
  }
}

// A config's experts reach the layouts: counter init on real bytes over tp, pp, dp and ep, from a
// file (a tiny qwen3_moe) and from a shrunken preset (deepseek-v3's MLA, dense first layer,
// shared expert).
TEST(HfConfigCliTest, InitRunsOnConfigsWithExperts) {
  const std::string path = TmpDir() + "/tiny-qwen3-moe.json";
  std::ofstream(path) << R"({"model_type": "qwen3_moe", "vocab_size": 64, "hidden_size": 32,
      "intermediate_size": 48, "moe_intermediate_size": 16, "num_experts": 4,
      "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
      "head_dim": 8})";
  const std::string deepseek =
      "deepseek-v3:num_hidden_layers=3,first_k_dense_replace=1,n_routed_experts=4,"
      "hidden_size=64,intermediate_size=96,moe_intermediate_size=32,num_attention_heads=4,"
      "num_key_value_heads=4,q_lora_rank=32,kv_lora_rank=16,qk_rope_head_dim=8,"
      "qk_nope_head_dim=8,v_head_dim=8,vocab_size=256";
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"init", "--model", path, "--tp", "2", "--pp", "2", "--dp", "2",
                                 "--ep", "2", "--policy", "counter"},
        std::vector<std::string>{"init", "--model", deepseek, "--tp", "2", "--pp", "3", "--dp",
                                 "2", "--ep", "2", "--policy", "counter"}}) {
    const RunResult r = Twinsim(args);
    EXPECT_EQ(r.exit_code, 0) << Describe(args) << "\nstderr: " << r.err;
    EXPECT_NE(r.out.find("1 policy, 6 claims checked, 0 broken"), std::string::npos)
        << Describe(args) << "\n" << r.out;
  }
}

TEST(HfConfigCliTest, BadConfigsExitTwoWithOneLineNamingTheFile) {
  const std::string dir = TmpDir();
  auto write = [&](const std::string& name, const std::string& text) {
    const std::string path = dir + "/" + name;
    std::ofstream(path) << text;
    return path;
  };
  const std::string unknown = write("unknown.json", R"({"model_type": "bert"})");
  const std::string missing =
      write("missing.json", R"({"model_type": "llama", "vocab_size": 10, "hidden_size": 8})");
  const std::string heads = write("heads.json", R"({"model_type": "mistral", "vocab_size": 10,
      "hidden_size": 10, "intermediate_size": 8, "num_hidden_layers": 1,
      "num_attention_heads": 4, "num_key_value_heads": 2})");
  const std::vector<BadCase> cases = {
      {{"show", "model", "--model", unknown},
       "': unknown model_type 'bert'; supported: gpt2, llama,"},
      {{"show", "model", missing},
       "': missing key 'intermediate_size' (an integer in [1, 16777216])"},
      {{"show", "model", heads},
       "': hidden_size=10 is not divisible by num_attention_heads=4"},
      {{"show", "model", "deepseek-v3:q_lora_rank=0"},
       "deepseek-v3:q_lora_rank=0: key 'q_lora_rank': expected an integer in [1, 16777216], "
       "got 0"},
  };
  // The path is in the message, cut by Quote past 80 bytes (a sandbox's temporary paths are
  // longer): the fragments start after it.
  for (const BadCase& c : cases) {
    ExpectRejected(c);
    const RunResult r = Twinsim(c.args);
    if (c.args.back().find(".json") != std::string::npos) {
      EXPECT_EQ(r.err.rfind("twinsim show model: --model: model file '", 0), 0u) << r.err;
    }
  }
}

}  // namespace
}  // namespace twinsim
