// `twinsim validate` without a GPU: the --placement options are checked before any GPU is
// asked for (a bad value exits 2 with one line on stderr and nothing on stdout), a valid
// command line exits 1 saying there is no GPU, and the timing table both parts print.
#include "tools/cli/validate_command.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <string>
#include <vector>

#include "gpu/cuda_device.h"
#include "gpu/transfer.h"
#include "harness/validate.h"
#include "tools/cli/command.h"
#include "tools/cli/validate_text.h"

namespace twinsim::cli {
namespace {

struct Outcome {
  int status = 0;
  std::string out, err;
};

std::string ReadAll(std::FILE* f) {
  std::string text;
  std::rewind(f);
  char buf[4096];
  for (size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0;) text.append(buf, n);
  std::fclose(f);
  return text;
}

Outcome Validate(std::vector<std::string> options) {
  std::vector<std::string> args = {"twinsim", "validate"};
  args.insert(args.end(), options.begin(), options.end());
  std::FILE* out = std::tmpfile();
  std::FILE* err = std::tmpfile();
  Outcome r;
  r.status = Dispatch({ValidateCommandGroup()}, args, out, err);
  r.out = ReadAll(out);
  r.err = ReadAll(err);
  return r;
}

const std::vector<std::string> kBase = {"--model", "gpt2-small", "--backend", "cuda"};

std::vector<std::string> With(std::vector<std::string> extra) {
  std::vector<std::string> v = kBase;
  v.insert(v.end(), extra.begin(), extra.end());
  return v;
}

TEST(ValidateCommandTest, BadPlacementOptionsExit2WithOneLine) {
  struct Case {
    std::vector<std::string> options;
    std::string message;
  };
  const std::vector<Case> cases = {
      {kBase, "--policy: required (or --placement)"},
      {With({"--placement", "bogus"}), "--placement: unknown placement policy 'bogus'"},
      {With({"--placement", "cpu,cpu"}), "--placement:"},
      {With({"--placement", "cpu,"}), "--placement: expected comma-separated names"},
      {With({"--placement", "all,cpu"}), "--placement: 'all' must stand alone"},
      {With({"--placement", "cpu", "--gpu-memory", "4 GiB"}),
       "--gpu-memory: expected a size like 24GB or 32GiB, got '4 GiB'"},
      {With({"--placement", "cpu", "--host-memory", "0"}), "--host-memory:"},
      {With({"--placement", "cpu", "--seq", "2048"}), "--seq: 'gpt2-small' has 1024 positions"},
      {With({"--placement", "cpu", "--seq", "0"}), "--seq: expected a positive integer"},
      {With({"--placement", "cpu", "--cp", "2", "--seq", "510"}),
       "--seq: --cp 2 splits each sequence into 2 x cp = 4 pieces, as Megatron-LM does; "
       "expected a multiple of 4, got 510"},
      {With({"--placement", "cpu", "--dp", "4", "--dp-shard", "3"}),
       "--dp-shard: LayoutConfig.dp_shard = 3 does not divide dp = 4"},
      {With({"--gpu-memory", "4GiB"}), "--gpu-memory: only with --placement"},
      {With({"--seq", "512", "--policy", "all"}), "--seq: only with --placement"},
      {{"--model", "tiny-mlp", "--backend", "cuda", "--placement", "cpu"},
       "--placement: 'tiny-mlp' is not a transformer"},
  };
  for (const Case& c : cases) {
    std::string line;
    for (const std::string& o : c.options) line += o + " ";
    SCOPED_TRACE(line);
    const Outcome r = Validate(c.options);
    EXPECT_EQ(r.status, kExitUsage);
    EXPECT_EQ(r.out, "");
    EXPECT_NE(r.err.find(c.message), std::string::npos) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  }
}

TEST(ValidateCommandTest, AValidPlacementCommandLineNeedsAGpu) {
  if (gpu::CudaDeviceCount() > 0) GTEST_SKIP() << "a GPU is present: this checks the no-GPU path";
  for (const std::vector<std::string>& options :
       {With({"--placement", "cpu,auto", "--gpu-memory", "4GiB"}),
        With({"--placement", "all", "--host-memory", "64GiB", "--seq", "512", "--json"}),
        With({"--policy", "all", "--placement", "optimal"})}) {
    const Outcome r = Validate(options);
    EXPECT_EQ(r.status, kExitFailure);
    EXPECT_EQ(r.out, "");
    EXPECT_NE(r.err.find("no CUDA device to validate on"), std::string::npos) << r.err;
  }
}

TEST(ValidateCommandTest, HelpListsThePlacementOptions) {
  const Outcome r = Validate({"--help"});
  EXPECT_EQ(r.status, kExitSuccess);
  for (const char* option : {"--placement", "--gpu-memory", "--host-memory", "--seq"}) {
    EXPECT_NE(r.out.find(option), std::string::npos) << option;
  }
}

TEST(TimingRowsTest, PerClassErrorInPercentAndNullWithoutAMeasurement) {
  gpu::TransferTotals m, s;
  m[gpu::TransferClass::kH2D] = {2, 1000, 0, 0.010};
  s[gpu::TransferClass::kH2D] = {2, 1000, 0, 0.011};
  constexpr std::array<gpu::TransferClass, 2> kPcie = {gpu::TransferClass::kH2D,
                                                       gpu::TransferClass::kD2H};
  const std::vector<harness::TimingRow> rows = harness::TimingRows(m, s, kPcie);
  EXPECT_EQ(harness::TimingJson(rows),
            "[{\"class\":\"h2d\",\"count\":2,\"bytes\":1000,\"elements\":0,\"measured_s\":0.01,"
            "\"predicted_s\":0.011,\"error_pct\":10.000},{\"class\":\"d2h\",\"count\":0,"
            "\"bytes\":0,\"elements\":0,\"measured_s\":0,\"predicted_s\":0,\"error_pct\":null}]");
  const std::string text = TimingText(rows);
  EXPECT_NE(text.find("+10.0%"), std::string::npos) << text;
  EXPECT_NE(text.find("n/a"), std::string::npos) << text;
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 3) << text;
  EXPECT_EQ(TimingErrorText(0, 1), "n/a");
  EXPECT_EQ(TimingErrorText(2, 1), "-50.0%");
}

}  // namespace
}  // namespace twinsim::cli
