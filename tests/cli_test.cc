// End-to-end tests of the `twinsim` binary: runs the built tool as a child process and checks
// its exit status, stdout and stderr. Covers --help and --version, the Philox known answers,
// the consistency of `rng fill` across sub-ranges, 2-D blocks, dtypes and --json, PyTorch
// values from Debian's python3-torch, `show`, `init` (seed policies checked on small layouts)
// and tables of bad command lines.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "kernels/dtype.h"
#include "tools/cli/version.h"
#include "tests/twinsim_runner.h"

namespace twinsim {
namespace {


using testing::BadCase;
using testing::Describe;
using testing::ExpectRejected;
using testing::Lines;
using testing::ReadFile;
using testing::RunResult;
using testing::TmpDir;
using testing::Twinsim;
using testing::TwinsimPath;


// Runs a command that must succeed and returns its stdout lines.
std::vector<std::string> OkLines(const std::vector<std::string>& args) {
  const RunResult r = Twinsim(args);
  EXPECT_EQ(r.exit_code, 0) << Describe(args) << "\nstderr: " << r.err;
  EXPECT_EQ(r.err, "") << Describe(args);
  return Lines(r.out);
}

float ParseHexFloat(const std::string& text) {
  char* end = nullptr;
  const float f = std::strtof(text.c_str(), &end);
  EXPECT_EQ(*end, '\0') << "not a hex float: " << text;
  return f;
}

// ---------------------------------------------------------------------------------------------
// Help and version

TEST(CliHelpTest, EveryCommandHasHelpThatExitsZero) {
  const std::vector<std::vector<std::string>> invocations = {
      {"--help"},
      {"-h"},
      {"rng", "--help"},
      {"rng", "philox", "--help"},
      {"rng", "fill", "--help"},
      {"rng", "fill", "-h"},
      {"rng", "torch-cpu", "--help"},
      {"rng", "torch-cuda", "--help"},
      {"rng", "invariance", "--help"},
      {"init", "--help"},
      {"init", "--policy", "nope", "--help"},
      // Help wins over everything else on the line, including bad and missing options.
      {"rng", "fill", "--numel", "-5", "--help"},
  };
  for (const auto& args : invocations) {
    const RunResult r = Twinsim(args);
    EXPECT_EQ(r.exit_code, 0) << Describe(args) << "\nstderr: " << r.err;
    EXPECT_NE(r.out.find("Usage: twinsim"), std::string::npos) << Describe(args) << "\n" << r.out;
    EXPECT_EQ(r.err, "") << Describe(args);
  }
}

TEST(CliHelpTest, TopLevelHelpListsEveryCommand) {
  const RunResult r = Twinsim({"--help"});
  for (const char* command : {"rng philox", "rng fill", "rng torch-cpu", "rng torch-cuda",
                              "show layout", "twinsim init [options]"}) {
    EXPECT_NE(r.out.find(command), std::string::npos) << command << "\n" << r.out;
  }
}

TEST(CliVersionTest, PrintsTheVersion) {
  const RunResult r = Twinsim({"--version"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out, "twinsim " + std::string(cli::kVersion) + "\n");
  EXPECT_EQ(r.out, "twinsim 0.1.0\n");
  EXPECT_EQ(r.err, "");
}

// ---------------------------------------------------------------------------------------------
// rng philox: the Random123 known-answer vectors (kat_vectors, philox4x32 10 rounds).

TEST(CliPhiloxTest, Random123KnownAnswers) {
  struct Kat {
    const char* counter;
    const char* key;
    const char* expected;
  };
  const Kat kats[] = {
      {"0,0,0,0", "0,0", "6627e8d5 e169c58d bc57ac4c 9b00dbd8"},
      {"ffffffff,ffffffff,ffffffff,ffffffff", "ffffffff,ffffffff",
       "408f276d 41c83b0e a20bc7c6 6d5451fd"},
      {"243f6a88,85a308d3,13198a2e,03707344", "a4093822,299f31d0",
       "d16cfe09 94fdcceb 5001e420 24126ea1"},
      // The same words with 0x prefixes and upper-case digits.
      {"0x243F6A88,0x85A308D3,0x13198A2E,0x3707344", "0xA4093822,0x299F31D0",
       "d16cfe09 94fdcceb 5001e420 24126ea1"},
  };
  for (const Kat& kat : kats) {
    const std::vector<std::string> args = {"rng",   "philox",    "--key",
                                           kat.key, "--counter", kat.counter};
    const RunResult r = Twinsim(args);
    EXPECT_EQ(r.exit_code, 0) << Describe(args) << "\n" << r.err;
    EXPECT_EQ(r.out, std::string(kat.expected) + "\n") << Describe(args);
    EXPECT_EQ(r.err, "");
  }
}

// ---------------------------------------------------------------------------------------------
// rng fill

std::vector<std::string> FillArgs(const std::string& dist, const std::string& dtype,
                                  std::vector<std::string> extra) {
  std::vector<std::string> args = {
      "rng",    "fill", "--seed",  "0x5eed", "--param", "layers.3.mlp.w1.weight",
      "--dist", dist,   "--dtype", dtype};
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

const char* const kDists[] = {"normal:std=0.02", "uniform:a=-0.5,b=0.5", "trunc_normal:std=0.02",
                              "kaiming_uniform:fan_in=63,a=2.2360679775", "constant:value=0.25"};
const char* const kDtypes[] = {"fp32", "bf16", "fp16"};

// --numel/--begin/--end reach the fill: every init kind, dtype and range is checked through the
// library (harness/rng_test.cc, SubRangesEqualTheSameElementsOfTheWholeFill).
TEST(CliFillTest, SubRangeEqualsTheSameLinesOfTheFullFill) {
  constexpr int kNumel = 1001;  // not a multiple of the 4-element Philox block
  const std::vector<std::string> full =
      OkLines(FillArgs(kDists[0], "bf16", {"--numel", std::to_string(kNumel)}));
  ASSERT_EQ(full.size(), static_cast<size_t>(kNumel));
  for (const auto& [b, e] : {std::pair{3, 17}, std::pair{998, 1001}}) {
    const std::vector<std::string> part =
        OkLines(FillArgs(kDists[0], "bf16",
                         {"--numel", std::to_string(kNumel), "--begin", std::to_string(b),
                          "--end", std::to_string(e)}));
    EXPECT_EQ(part, std::vector<std::string>(full.begin() + b, full.begin() + e))
        << "[" << b << ", " << e << ")";
  }
}

TEST(CliFillTest, OnlyBeginOrOnlyEndDefaultsTheOther) {
  const std::vector<std::string> full = OkLines(FillArgs(kDists[0], "fp32", {"--numel", "40"}));
  EXPECT_EQ(OkLines(FillArgs(kDists[0], "fp32", {"--numel", "40", "--begin", "33"})),
            std::vector<std::string>(full.begin() + 33, full.end()));
  EXPECT_EQ(OkLines(FillArgs(kDists[0], "fp32", {"--numel", "40", "--end", "7"})),
            std::vector<std::string>(full.begin(), full.begin() + 7));
}

// --rows/--cols and the block bounds reach the fill: every init kind, dtype and block is checked
// through the library (harness/rng_test.cc, BlocksEqualTheCorrespondingEntriesOfTheWholeFill).
TEST(CliFillTest, Block2DEqualsTheCorrespondingEntriesOfTheFullFill) {
  constexpr int kRows = 7, kCols = 9;
  const std::vector<std::string> full =
      OkLines(FillArgs(kDists[2], "fp16", {"--numel", std::to_string(kRows * kCols)}));
  ASSERT_EQ(full.size(), static_cast<size_t>(kRows * kCols));
  // The whole matrix through --rows/--cols is the flat fill.
  EXPECT_EQ(OkLines(FillArgs(kDists[2], "fp16", {"--rows", "7", "--cols", "9"})), full);
  const std::vector<std::string> got =
      OkLines(FillArgs(kDists[2], "fp16",
                       {"--rows", "7", "--cols", "9", "--row-begin", "2", "--row-end", "5",
                        "--col-begin", "3", "--col-end", "8"}));
  std::vector<std::string> expected;
  for (int r = 2; r < 5; ++r) {
    for (int c = 3; c < 8; ++c) expected.push_back(full[r * kCols + c]);
  }
  EXPECT_EQ(got, expected);
}

// A block wider than the tool's internal batch (65,536 elements) is split inside rows.
TEST(CliFillTest, WideBlockEqualsTheFlatRange) {
  const std::vector<std::string> block =
      OkLines(FillArgs(kDists[0], "bf16",
                       {"--rows", "3", "--cols", "200000", "--row-begin", "1", "--row-end", "2",
                        "--col-begin", "1000", "--col-end", "140000"}));
  const std::vector<std::string> flat = OkLines(
      FillArgs(kDists[0], "bf16", {"--numel", "600000", "--begin", "201000", "--end", "340000"}));
  ASSERT_EQ(flat.size(), 139000u);
  EXPECT_EQ(block, flat);
}

TEST(CliFillTest, JsonParsesAndMatchesTheTextOutput) {
  for (const char* dtype : kDtypes) {
    const std::vector<std::string> flat = {"--numel", "50", "--begin", "7",
                                           "--end",   "31", "--draw",  "3"};
    std::vector<std::string> args = FillArgs("normal:std=0.02", dtype, flat);
    const std::vector<std::string> text = OkLines(args);
    args.push_back("--json");
    const RunResult r = Twinsim(args);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.err, "");
    const nlohmann::json j = nlohmann::json::parse(r.out);  // throws (fails) if malformed
    EXPECT_EQ(j.at("seed").get<uint64_t>(), 0x5eedu);
    EXPECT_EQ(j.at("param"), "layers.3.mlp.w1.weight");
    EXPECT_EQ(j.at("numel"), 50);
    EXPECT_EQ(j.at("dtype"), dtype);
    EXPECT_EQ(j.at("draw"), 3);
    EXPECT_EQ(j.at("begin"), 7);
    EXPECT_EQ(j.at("end"), 31);
    EXPECT_EQ(j.at("values").get<std::vector<std::string>>(), text);
    // The canonical spec names the same distribution: feeding it back gives the same values.
    const std::string canonical = j.at("dist").get<std::string>();
    EXPECT_NE(canonical.find("std=0.02"), std::string::npos) << canonical;
    EXPECT_EQ(OkLines(FillArgs(canonical, dtype, flat)), text) << canonical;
  }
}

TEST(CliFillTest, JsonOfA2DBlockNamesTheBlock) {
  const std::vector<std::string> block = {"--rows",      "4", "--cols",    "5",
                                          "--row-begin", "1", "--col-end", "3"};
  std::vector<std::string> args = FillArgs("uniform", "fp32", block);
  const std::vector<std::string> text = OkLines(args);
  ASSERT_EQ(text.size(), 9u);
  args.push_back("--json");
  const RunResult r = Twinsim(args);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j.at("rows"), 4);
  EXPECT_EQ(j.at("cols"), 5);
  EXPECT_EQ(j.at("numel"), 20);
  EXPECT_EQ(j.at("row_begin"), 1);
  EXPECT_EQ(j.at("row_end"), 4);
  EXPECT_EQ(j.at("col_begin"), 0);
  EXPECT_EQ(j.at("col_end"), 3);
  EXPECT_EQ(j.at("values").get<std::vector<std::string>>(), text);
}

TEST(CliFillTest, JsonEscapesTheParameterName) {
  const RunResult r = Twinsim({"rng", "fill", "--seed", "1", "--param", "a\"b\\c", "--numel", "2",
                               "--dist", "normal", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out).at("param"), "a\"b\\c");
}

TEST(CliFillTest, ReducedPrecisionValuesAreRepresentable) {
  const std::vector<std::string> bf16 = OkLines(FillArgs("normal", "bf16", {"--numel", "4000"}));
  const std::vector<std::string> fp16 = OkLines(FillArgs("normal", "fp16", {"--numel", "4000"}));
  const std::vector<std::string> fp32 = OkLines(FillArgs("normal", "fp32", {"--numel", "4000"}));
  ASSERT_EQ(bf16.size(), 4000u);
  ASSERT_EQ(fp16.size(), 4000u);
  int rounded = 0;
  for (size_t i = 0; i < bf16.size(); ++i) {
    const float b = ParseHexFloat(bf16[i]);
    const float h = ParseHexFloat(fp16[i]);
    const float f = ParseHexFloat(fp32[i]);
    EXPECT_EQ(kernels::FloatBits(b) & 0xffffu, 0u) << bf16[i] << " is not a bf16 value";
    EXPECT_EQ(kernels::Fp16ToFloat(kernels::FloatToFp16(h)), h) << fp16[i] << " is not fp16";
    // And they are the fp32 values rounded, not other draws.
    EXPECT_EQ(b, kernels::Bf16ToFloat(kernels::FloatToBf16(f))) << i;
    EXPECT_EQ(h, kernels::Fp16ToFloat(kernels::FloatToFp16(f))) << i;
    rounded += b != f;
  }
  EXPECT_GT(rounded, 3900);  // almost every fp32 draw needs rounding
}

TEST(CliFillTest, SeedParamAndDrawSelectDifferentStreams) {
  const std::vector<std::string> base =
      OkLines({"rng", "fill", "--seed", "7", "--param", "w", "--numel", "8", "--dist", "normal"});
  const std::vector<std::string> decimal_hex =
      OkLines({"rng", "fill", "--seed", "0x7", "--param", "w", "--numel", "8", "--dist", "normal"});
  EXPECT_EQ(base, decimal_hex);
  for (const auto& args :
       std::vector<std::vector<std::string>>{{"--seed", "8", "--param", "w"},
                                             {"--seed", "7", "--param", "v"},
                                             {"--seed", "7", "--param", "w", "--draw", "1"}}) {
    std::vector<std::string> full = {"rng", "fill", "--numel", "8", "--dist", "normal"};
    full.insert(full.end(), args.begin(), args.end());
    EXPECT_NE(OkLines(full), base) << Describe(full);
  }
}

// ---------------------------------------------------------------------------------------------
// rng torch-cpu: values printed by Debian's PyTorch 1.13 (python3-torch) on x86-64, e.g.
//   torch.manual_seed(3); l = torch.nn.Linear(4, 3); [x.hex() for x in l.weight.flatten()]
// normal_ of >= 16 elements was taken under ATEN_CPU_CAPABILITY=default (see
// kernels/torch/cpu_generator.h, Note [normal_ under AVX2]).

std::vector<float> Floats(const std::vector<std::string>& hex) {
  std::vector<float> values;
  for (const std::string& h : hex) values.push_back(ParseHexFloat(h));
  return values;
}

TEST(CliTorchCpuTest, RandMatchesPyTorch) {
  // torch.manual_seed(42); torch.rand(2, 3)
  const std::vector<std::string> expected = {"0x1.c3b8ccp-1", "0x1.d47b66p-1", "0x1.880d7p-2",
                                             "0x1.eb2a1cp-1", "0x1.8fd1a8p-2", "0x1.33a88ep-1"};
  EXPECT_EQ(Floats(OkLines({"rng", "torch-cpu", "--seed", "42", "--op", "rand", "--shape", "2,3"})),
            Floats(expected));
  // The shape only sets the element count.
  EXPECT_EQ(Floats(OkLines({"rng", "torch-cpu", "--seed", "42", "--op", "rand", "--shape", "6"})),
            Floats(expected));
}

TEST(CliTorchCpuTest, NormalMatchesPyTorch) {
  // torch.manual_seed(7); torch.normal(0.0, 1.0, (5,))   (fewer than 16: the scalar path)
  EXPECT_EQ(Floats(OkLines({"rng", "torch-cpu", "--seed", "7", "--op", "normal", "--shape", "5"})),
            Floats({"-0x1.2ca2e8p-3", "0x1.92811cp-1", "0x1.e4c5cep-1", "-0x1.1d45a6p+0",
                    "0x1.b0d7ap+0"}));
  // ATEN_CPU_CAPABILITY=default: torch.manual_seed(5); torch.empty(17).normal_(0.5, 2.0)
  EXPECT_EQ(
      Floats(OkLines({"rng", "torch-cpu", "--seed", "5", "--op", "normal", "--shape", "17",
                      "--mean", "0.5", "--std", "2", "--capability", "default"})),
      Floats({"0x1.0bd178p+2", "0x1.78d6a6p+1", "-0x1.6218c0p-3", "-0x1.6e1c7ep+0", "0x1.ece6d4p-3",
              "-0x1.683544p-1", "0x1.947a80p-1", "0x1.9a4ed4p-3", "0x1.6eaa76p+2", "0x1.077bdcp+1",
              "0x1.88855cp-2", "-0x1.c7ce80p+1", "0x1.bba174p+1", "0x1.7cf290p+0", "0x1.ff3334p-1",
              "0x1.ff3d74p+1", "0x1.fd5366p+0"}));
}

TEST(CliTorchCpuTest, LinearPrintsWeightRowMajorThenBias) {
  // torch.manual_seed(3); torch.nn.Linear(4, 3): weight [3, 4], bias [3].
  const std::vector<std::string> weight = {"-0x1.fba258p-2", "-0x1.93e5ap-2", "-0x1.b69838p-3",
                                           "-0x1.e465f4p-2", "-0x1.d112p-6",  "-0x1.c270ep-2",
                                           "0x1.1664p-2",    "0x1.f318a8p-3", "0x1.82bfdp-4",
                                           "0x1.8d2a4cp-2",  "-0x1.9126cp-5", "0x1.32adacp-2"};
  const std::vector<std::string> bias = {"-0x1.66901cp-2", "-0x1.93957p-4", "-0x1.c885d8p-2"};
  std::vector<std::string> all = weight;
  all.insert(all.end(), bias.begin(), bias.end());
  const std::vector<std::string> args = {"rng",  "torch-cpu", "--seed",  "3",
                                         "--op", "linear",    "--shape", "3,4"};
  EXPECT_EQ(Floats(OkLines(args)), Floats(all));

  std::vector<std::string> json_args = args;
  json_args.push_back("--json");
  const RunResult r = Twinsim(json_args);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j.at("op"), "linear");
  EXPECT_EQ(j.at("shape"), nlohmann::json::array({3, 4}));
  EXPECT_EQ(Floats(j.at("weight").get<std::vector<std::string>>()), Floats(weight));
  EXPECT_EQ(Floats(j.at("bias").get<std::vector<std::string>>()), Floats(bias));

  // nn.Linear(4, 3, bias=False) draws the same weight. Only the low 32 bits of the seed count.
  EXPECT_EQ(Floats(OkLines({"rng", "torch-cpu", "--seed", "0x100000003", "--op", "linear",
                            "--shape", "3,4", "--no-bias"})),
            Floats(weight));
}

TEST(CliTorchCpuTest, JsonMatchesTextForRandAndNormal) {
  for (const char* op : {"rand", "normal"}) {
    const std::vector<std::string> args = {"rng",  "torch-cpu", "--seed",  "9",
                                           "--op", op,          "--shape", "4,5"};
    const std::vector<std::string> text = OkLines(args);
    ASSERT_EQ(text.size(), 20u);
    std::vector<std::string> json_args = args;
    json_args.push_back("--json");
    const RunResult r = Twinsim(json_args);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const nlohmann::json j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j.at("seed"), 9);
    EXPECT_EQ(j.at("op"), op);
    EXPECT_EQ(j.at("values").get<std::vector<std::string>>(), text) << op;
  }
}

// ---------------------------------------------------------------------------------------------
// rng torch-cuda

TEST(CliTorchCudaTest, JsonDescribesTheLaunchAndMatchesText) {
  const std::vector<std::string> args = {"rng",     "torch-cuda", "--seed", "1234",
                                         "--numel", "1000",       "--gpu",  "h100"};
  const std::vector<std::string> text = OkLines(args);
  ASSERT_EQ(text.size(), 1000u);
  std::vector<std::string> json_args = args;
  json_args.push_back("--json");
  const RunResult r = Twinsim(json_args);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j.at("gpu"), "h100");
  EXPECT_EQ(j.at("block"), 256);
  EXPECT_EQ(j.at("grid"), 4);  // ceil(1000 / 256) blocks: far below the H100's resident limit
  EXPECT_EQ(j.at("counter_offset"), 4);
  EXPECT_EQ(j.at("values").get<std::vector<std::string>>(), text);
  for (const std::string& v : text) {
    const float f = ParseHexFloat(v);
    EXPECT_TRUE(f >= 0.0f && f < 1.0f) << v;
  }
}

// Small tensors give thread t the first word of Philox(counter = (offset / 4, 0, t, 0),
// key = seed) as u * 2^-32 + 2^-33 in float: cross-checks `torch-cuda` against `philox`.
TEST(CliTorchCudaTest, SmallTensorElementsComeFromThePhiloxSubsequenceOfTheirThread) {
  const std::vector<std::string> values =
      OkLines({"rng", "torch-cuda", "--seed", "0x123456789abcdef0", "--numel", "3", "--gpu", "a100",
               "--offset", "8"});
  ASSERT_EQ(values.size(), 3u);
  for (int t = 0; t < 3; ++t) {
    const std::vector<std::string> words =
        OkLines({"rng", "philox", "--key", "9abcdef0,12345678", "--counter",
                 "2,0," + std::to_string(t) + ",0"});
    ASSERT_EQ(words.size(), 1u);
    const uint32_t w0 = static_cast<uint32_t>(std::stoul(words[0].substr(0, 8), nullptr, 16));
    const float expected = static_cast<float>(w0) * 0x1p-32f + 0x1p-33f;
    EXPECT_EQ(ParseHexFloat(values[t]), expected) << "thread " << t;
  }
}

// normal_ launches like uniform_: the same offset advance, so a uniform_ call followed by a
// normal_ call starts the second at the first's offset_after.
TEST(CliTorchCudaTest, NormalAdvancesTheOffsetLikeUniformAndHasTheRequestedMoments) {
  auto Json = [](std::vector<std::string> args) {
    args.push_back("--json");
    const RunResult r = Twinsim(args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return nlohmann::json::parse(r.out);
  };
  const nlohmann::json u = Json({"rng", "torch-cuda", "--seed", "5", "--numel", "300000",
                                 "--gpu", "h100"});
  const nlohmann::json n = Json({"rng", "torch-cuda", "--seed", "5", "--numel", "300000",
                                 "--gpu", "h100", "--op", "normal", "--mean", "1", "--std", "0.02"});
  EXPECT_EQ(u.at("op"), "uniform");
  EXPECT_EQ(n.at("op"), "normal");
  EXPECT_EQ(n.at("grid"), u.at("grid"));
  EXPECT_EQ(n.at("offset_after"), u.at("offset_after"));
  EXPECT_EQ(u.at("offset_after").get<uint64_t>(), u.at("counter_offset").get<uint64_t>());
  const auto values = n.at("values").get<std::vector<std::string>>();
  double sum = 0, sum_sq = 0;
  for (const std::string& v : values) {
    const double x = ParseHexFloat(v);
    sum += x;
    sum_sq += (x - 1) * (x - 1);
  }
  const double mean = sum / values.size(), sd = std::sqrt(sum_sq / values.size());
  EXPECT_NEAR(mean, 1.0, 0.001);
  EXPECT_NEAR(sd, 0.02, 0.0005);
  const nlohmann::json next =
      Json({"rng", "torch-cuda", "--seed", "5", "--numel", "10", "--gpu", "h100", "--offset",
            std::to_string(u.at("offset_after").get<uint64_t>())});
  EXPECT_EQ(next.at("offset_after").get<uint64_t>(), u.at("offset_after").get<uint64_t>() + 4);
}

TEST(CliTorchCudaTest, LayoutDependsOnTheGpuOnlyForLargeTensors) {
  auto Values = [](const char* gpu, const char* numel) {
    return OkLines({"rng", "torch-cuda", "--seed", "0", "--numel", numel, "--gpu", gpu});
  };
  EXPECT_EQ(Values("a100", "5000"), Values("h100", "5000"));
  // 300,000 elements need more threads than either GPU keeps resident, so the grid-stride
  // loops differ: same seed, different tensors.
  const std::vector<std::string> a100 = Values("a100", "300000");
  const std::vector<std::string> h100 = Values("h100", "300000");
  ASSERT_EQ(a100.size(), 300000u);
  EXPECT_EQ(a100[0], h100[0]);
  EXPECT_NE(a100, h100);
}

// ---------------------------------------------------------------------------------------------
// Failures: exit status 2, one line on stderr naming the problem, nothing on stdout.

TEST(CliInvarianceTest, CounterStreamsMatchUnderEveryLayoutAndTorchsDoNot) {
  const std::vector<std::string> args = {"rng", "invariance", "--rows", "64", "--cols", "40",
                                         "--seed", "7", "--json"};
  const RunResult r = Twinsim(args);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json j = nlohmann::json::parse(r.out);
  EXPECT_TRUE(j["ok"].get<bool>());
  int counter_rows = 0;
  for (const auto& c : j["checks"]) {
    const std::string scheme = c["scheme"];
    const std::string comparison = c["comparison"];
    if (scheme == "twinsim counter") {
      EXPECT_TRUE(c["claim"].get<bool>());
      if (c.contains("skipped")) continue;  // host vs CUDA without a GPU
      ++counter_rows;
      EXPECT_EQ(c["differing"].get<uint64_t>(), 0u) << comparison;
    } else if (comparison.find("column-parallel") != std::string::npos) {
      // torch CPU: the second rank repeats the first rank's draws, so its half differs.
      EXPECT_EQ(c["differing"].get<uint64_t>(), 32u * 40u) << comparison;
    } else if (comparison.find("a100") != std::string::npos) {
      // 2,560 elements fit in one grid-stride pass on both GPUs: same layout, same values.
      EXPECT_EQ(c["differing"].get<uint64_t>(), 0u) << comparison;
    }
  }
  EXPECT_EQ(counter_rows, 4);
  // The table form says the same in words.
  const RunResult table = Twinsim({"rng", "invariance", "--rows", "64", "--cols", "40"});
  ASSERT_EQ(table.exit_code, 0);
  EXPECT_NE(table.out.find("identical bits under every layout above"), std::string::npos);
}

TEST(CliErrorTest, BadInvocationsExitTwoWithOneLineAndNoOutput) {
  const std::vector<std::string> fill = {"rng", "fill", "--seed", "1", "--param", "w"};
  auto Fill = [&](std::vector<std::string> extra) {
    std::vector<std::string> args = fill;
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  };
  const std::vector<BadCase> cases = {
      // Dispatcher
      {{}, "twinsim: missing command"},
      {{"--bogus"}, "twinsim: unknown option '--bogus'"},
      {{"--version", "extra"}, "twinsim: --version: expected no further arguments"},
      {{"rnq"}, "twinsim: unknown command group 'rnq' (did you mean 'rng'?)"},
      {{"rng"}, "twinsim rng: missing command; expected one of philox, fill"},
      {{"rng", "fil"}, "twinsim rng: unknown command 'fil' (did you mean 'fill'?)"},
      {{"rng", "--seed", "1"}, "twinsim rng: expected a command"},
      // rng invariance
      {{"rng", "invariance", "--rows", "4"},
       "twinsim rng invariance: --rows: expected at least 8 (so that TP=8 shards exist), got '4'"},
      {{"rng", "invariance", "--cols", "x"}, "twinsim rng invariance: --cols: expected"},
      {{"rng", "invariance", "--dist", "gauss"},
       "twinsim rng invariance: --dist: unknown init kind 'gauss'"},
      {{"rng", "invariance", "--seed", "-1"}, "twinsim rng invariance: --seed: expected"},
      // rng philox
      {{"rng", "philox", "--counter", "0,0,0,0"}, "twinsim rng philox: --key: missing"},
      {{"rng", "philox", "--key", "0,0,0", "--counter", "0,0,0,0"},
       "--key: expected 2 comma-separated 32-bit hex words"},
      {{"rng", "philox", "--key", "0,0", "--counter", "0,0,0,xyz"},
       "--counter: expected 4 comma-separated 32-bit hex words"},
      {{"rng", "philox", "--key", "0,123456789", "--counter", "0,0,0,0"}, "got '0,123456789'"},
      // rng fill: options
      {Fill({"--numel", "-5", "--dist", "normal"}),
       "twinsim rng fill: --numel: expected a non-negative integer, got '-5'"},
      {Fill({"--numel=-5", "--dist", "normal"}), "--numel: expected a non-negative integer"},
      {Fill({"--numel", "12abc", "--dist", "normal"}), "--numel: expected a non-negative integer"},
      {Fill({"--numel", "10", "--begin", "6", "--end", "4", "--dist", "normal"}),
       "--begin: expected at most --end (4), got '6'"},
      {Fill({"--numel", "10", "--end", "11", "--dist", "normal"}),
       "--end: expected at most --numel (10), got '11'"},
      {Fill({"--numel", "10", "--begin", "11", "--dist", "normal"}),
       "--begin: expected at most --numel (10), got '11'"},
      {Fill({"--numel", "10", "--dist", "gaussian"}), "--dist: unknown init kind 'gaussian'"},
      {Fill({"--numel", "10", "--dist", "normal:sdt=1"}), "--dist: unknown key 'sdt'"},
      {Fill({"--numel", "10", "--dist", "normal:std=-1"}), "--dist: normal: std must be >= 0"},
      {Fill({"--numel", "10", "--dist", "normal:std=abc"}), "--dist: normal: 'std'"},
      {Fill({"--numel", "10", "--dist", "normal", "--dtype", "fp8"}),
       "--dtype: unknown dtype 'fp8'"},
      {Fill({"--numel", "10", "--dist", "normal", "--draw", "4294967296"}),
       "--draw: expected a non-negative integer <= 4294967295"},
      {{"rng", "fill", "--seed", "0xzz", "--param", "w", "--numel", "1", "--dist", "normal"},
       "--seed: expected an unsigned 64-bit integer (decimal or 0x hex), got '0xzz'"},
      {{"rng", "fill", "--seed", "18446744073709551616", "--param", "w", "--numel", "1", "--dist",
        "normal"},
       "--seed: expected an unsigned 64-bit integer"},
      {{"rng", "fill", "--seed", "1", "--numel", "1", "--dist", "normal"},
       "twinsim rng fill: --param: missing; this option is required"},
      {{"rng", "fill", "--seed", "1", "--param", "w", "--numel", "1"}, "--dist: missing"},
      {Fill({"--dist", "normal"}), "--numel: missing"},
      {Fill({"--numel", "10", "--dist", "normal", "--nmuel", "3"}),
       "unknown option '--nmuel' (did you mean '--numel'?)"},
      {Fill({"--numel", "10", "--dist", "normal", "--frobnicate"}),
       "unknown option '--frobnicate'"},
      {Fill({"--numel", "10", "--dist", "normal", "stray"}), "unexpected argument 'stray'"},
      {Fill({"--numel", "10", "--dist", "normal", "--numel", "11"}),
       "--numel: given 2 times; expected at most once"},
      {Fill({"--dist", "normal", "--numel"}), "--numel: expected a value"},
      {Fill({"--numel=", "--dist", "normal"}), "--numel: expected a value after '='"},
      {Fill({"--numel", "3", "--dist", "normal", "--json=yes"}),
       "--json: takes no value, got 'yes'"},
      {Fill({"--numel", "3", "--dist", "normal", "--json", "--json"}),
       "--json: given 2 times; expected at most once"},
      {Fill({"--numel", "10", "--rows", "2", "--dist", "normal"}),
       "--rows: cannot be combined with --numel"},
      {Fill({"--rows", "2", "--dist", "normal"}), "--cols: missing"},
      {Fill({"--rows", "2", "--cols", "3", "--begin", "1", "--dist", "normal"}),
       "--begin: only valid with --numel"},
      {Fill({"--rows", "2", "--cols", "3", "--row-end", "3", "--dist", "normal"}),
       "--row-begin/--row-end: row range [0, 3) is not inside [0, 2)"},
      {Fill({"--rows", "2", "--cols", "3", "--col-begin", "2", "--col-end", "1", "--dist",
             "normal"}),
       "--col-begin/--col-end: column range [2, 1)"},
      {Fill({"--rows", "4294967296", "--cols", "4294967296", "--dist", "normal"}),
       "--rows/--cols: rows * cols overflows 64 bits"},
      {{"rng", "fill", "--seed", "1", "--param", "", "--numel", "1", "--dist", "normal"},
       "--param: expected a non-empty parameter name"},
      {{"rng", "fill", "--seed", "1", "--param", "w\xff", "--numel", "1", "--dist", "normal"},
       "--param: expected a name in UTF-8"},
      // rng torch-cpu
      {{"rng", "torch-cpu", "--seed", "1", "--op", "linear", "--shape", "2,3,4"},
       "twinsim rng torch-cpu: --shape: expected 2 comma-separated non-negative dimensions "
       "(got 3)"},
      {{"rng", "torch-cpu", "--seed", "1", "--op", "linear", "--shape", "4"},
       "--shape: expected 2 comma-separated"},
      {{"rng", "torch-cpu", "--seed", "1", "--op", "randn", "--shape", "4"},
       "--op: expected one of rand, normal, linear, got 'randn'"},
      {{"rng", "torch-cpu", "--seed", "1", "--op", "rand", "--shape", "4,-1"}, "--shape: expected"},
      {{"rng", "torch-cpu", "--seed", "1", "--op", "rand"}, "--shape: missing"},
      {{"rng", "torch-cpu", "--seed", "1", "--op", "normal", "--shape", "4", "--std", "-1"},
       "--std: expected a non-negative number"},
      {{"rng", "torch-cpu", "--seed", "1", "--op", "rand", "--shape", "4", "--std", "2"},
       "--std: only valid with --op normal"},
      {{"rng", "torch-cpu", "--seed", "1", "--op", "normal", "--shape", "4", "--capability",
        "avx2"},
       "--capability: normal is modelled only under 'default'"},
      // rng torch-cuda
      {{"rng", "torch-cuda", "--seed", "1", "--numel", "10", "--gpu", "a10"},
       "twinsim rng torch-cuda: --gpu:"},
      {{"rng", "torch-cuda", "--seed", "1", "--numel", "10"}, "--gpu: missing"},
      {{"rng", "torch-cuda", "--seed", "1", "--numel", "-1", "--gpu", "h100"},
       "--numel: expected a non-negative integer, got '-1'"},
      {{"rng", "torch-cuda", "--seed", "1", "--numel", "10", "--gpu", "h100", "--offset", "x"},
       "--offset: expected"},
      {{"rng", "torch-cuda", "--seed", "1", "--numel", "10", "--gpu", "h100", "--op", "randn"},
       "--op: expected uniform or normal, got 'randn'"},
      {{"rng", "torch-cuda", "--seed", "1", "--numel", "10", "--gpu", "h100", "--std", "2"},
       "--std: only valid with --op normal"},
      {{"rng", "torch-cuda", "--seed", "1", "--numel", "10", "--gpu", "h100", "--op", "normal",
        "--to", "2"},
       "--to: only valid with --op uniform"},
      {{"rng", "torch-cuda", "--seed", "1", "--numel", "10", "--gpu", "h100", "--op", "normal",
        "--std", "-0.5"},
       "--std: expected a non-negative number, got '-0.5'"},
  };
  ASSERT_GE(cases.size(), 15u);
  for (const BadCase& c : cases) ExpectRejected(c);
}

TEST(CliErrorTest, WriteFailureExitsOneWithOneLine) {
  const RunResult r = Twinsim(FillArgs("normal", "fp32", {"--numel", "100000"}), "/dev/full");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(Lines(r.err).size(), 1u) << r.err;
  EXPECT_NE(r.err.find("twinsim rng fill: writing standard output failed"), std::string::npos)
      << r.err;
}

// ---------------------------------------------------------------------------------------------
// show model / layout / cluster

nlohmann::json OkJson(const std::vector<std::string>& args) {
  const RunResult r = Twinsim(args);
  EXPECT_EQ(r.exit_code, 0) << Describe(args) << "\nstderr: " << r.err;
  EXPECT_EQ(r.err, "") << Describe(args);
  return nlohmann::json::parse(r.out, nullptr, /*allow_exceptions=*/false);
}

TEST(CliShowTest, EveryShowCommandHasHelpThatExitsZero) {
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{{"show", "--help"},
                                             {"show", "model", "--help"},
                                             {"show", "layout", "--help"},
                                             {"show", "cluster", "--help"}}) {
    const RunResult r = Twinsim(args);
    EXPECT_EQ(r.exit_code, 0) << Describe(args) << "\nstderr: " << r.err;
    EXPECT_NE(r.out.find("Usage: twinsim"), std::string::npos) << Describe(args) << "\n" << r.out;
    EXPECT_EQ(r.err, "") << Describe(args);
  }
}

TEST(CliShowTest, ModelJsonReportsGpt2SmallParameters) {
  const nlohmann::json j = OkJson({"show", "model", "gpt2-small", "--json"});
  ASSERT_TRUE(j.is_object());
  EXPECT_EQ(j["name"], "gpt2-small");
  EXPECT_EQ(j["num_params"].get<int64_t>(), 124439808);
  EXPECT_EQ(j["num_layers"].get<int>(), 12);
  ASSERT_EQ(j["params"].size(), j["num_tensors"].get<size_t>());
  EXPECT_EQ(j["params"][0]["name"], "transformer.wte.weight");
  EXPECT_EQ(j["params"][0]["shape"], nlohmann::json({50257, 768}));
  // The untied parameters' elements add up to the parameter count; so do the role totals.
  int64_t untied = 0, roles = 0;
  for (const auto& p : j["params"]) {
    if (p["tied_to"] == "") untied += p["numel"].get<int64_t>();
  }
  for (const auto& r : j["roles"]) roles += r["elements"].get<int64_t>();
  EXPECT_EQ(untied, 124439808);
  EXPECT_EQ(roles, 124439808);
  // --model is the same as the argument; --summary drops the parameter list.
  const nlohmann::json summary = OkJson({"show", "model", "--model", "gpt2-small", "--summary",
                                         "--json"});
  EXPECT_EQ(summary["num_params"].get<int64_t>(), 124439808);
  EXPECT_FALSE(summary.contains("params"));
  const std::vector<std::string> text = OkLines({"show", "model", "gpt2-small"});
  ASSERT_GE(text.size(), 2u);
  EXPECT_NE(text[1].find("124,439,808"), std::string::npos) << text[1];
}

TEST(CliShowTest, ModelWithoutArgumentListsPresetsAndFamilies) {
  const nlohmann::json j = OkJson({"show", "model", "--json"});
  ASSERT_TRUE(j.is_object());
  bool found = false;
  for (const auto& p : j["presets"]) found |= p["name"] == "llama3-405b";
  EXPECT_TRUE(found);
  EXPECT_NE(std::find(j["families"].begin(), j["families"].end(), "gpt2"), j["families"].end());
}

TEST(CliShowTest, LayoutOwnedElementsOfOneReplicaCoverTheModel) {
  const nlohmann::json model = OkJson({"show", "model", "gpt2-small", "--json"});
  const nlohmann::json j = OkJson(
      {"show", "layout", "--model", "gpt2-small", "--tp", "4", "--pp", "3", "--dp", "2", "--json"});
  ASSERT_TRUE(j.is_object() && model.is_object());
  EXPECT_EQ(j["world_size"].get<int>(), 24);
  EXPECT_EQ(j["num_stages"].get<int>(), 3);
  ASSERT_EQ(j["ranks"].size(), 24u);
  ASSERT_EQ(j["stages"].size(), 3u);
  // One DP replica stores every parameter once, plus a copy of the tied embedding on the last
  // stage (pp > 1), plus tp - 1 extra copies of every replicated tensor (each TP rank holds it
  // whole). Split tensors are partitioned exactly, vocabulary padding aside.
  const int64_t tp = 4;
  int64_t expected = model["num_params"].get<int64_t>();
  for (const auto& p : model["params"]) {
    const int64_t numel = p["numel"].get<int64_t>();
    std::string split = p["tp_split"];
    if (p["tied_to"] != "") {
      expected += numel;  // the tied copy
      for (const auto& q : model["params"]) {
        if (q["name"] == p["tied_to"]) split = q["tp_split"];
      }
      if (split == "replicated") expected += (tp - 1) * numel;
      continue;
    }
    if (split == "replicated") expected += (tp - 1) * numel;
  }
  int64_t owned = 0, stage_elements = 0;
  for (const auto& r : j["ranks"]) {
    if (r["dp"] == 0) owned += r["elements"].get<int64_t>();
  }
  for (const auto& s : j["stages"]) stage_elements += s["elements"].get<int64_t>();
  EXPECT_EQ(owned, expected);
  EXPECT_EQ(stage_elements, model["num_params"].get<int64_t>() + 50257 * 768);
  // Ranks that differ only in dp own the same.
  for (int r = 0; r < 24; ++r) {
    const auto& a = j["ranks"][r];
    for (const auto& b : j["ranks"]) {
      if (b["pp"] == a["pp"] && b["tp"] == a["tp"]) {
        EXPECT_EQ(b["elements"], a["elements"]);
      }
    }
  }
}

// --dp-shard, --dp-replicate and --cp: the ranks of one replica keep every element of one
// unsharded replica exactly once between them (torch.chunk pieces of each TP shard), under
// Megatron's convention (cp ranks keep whole copies) and torchtitan's (FSDP over dp_shard x cp).
TEST(CliShowTest, ShardedLayoutsKeepOneReplicaBetweenTheShardGroup) {
  for (const char* mesh : {"megatron", "torchtitan"}) {
    SCOPED_TRACE(mesh);
    const nlohmann::json j =
        OkJson({"show", "layout", "--model", "gpt2-small", "--tp", "2", "--pp", "2", "--dp-shard",
                "3", "--dp-replicate", "2", "--cp", "2", "--mesh", mesh, "--json"});
    ASSERT_TRUE(j.is_object());
    EXPECT_EQ(j["world_size"].get<int>(), 2 * 2 * 6 * 2);
    EXPECT_EQ(j["dp"].get<int>(), 6);
    EXPECT_EQ(j["dp_replicate"].get<int>(), 2);
    const bool titan = std::string(mesh) == "torchtitan";
    EXPECT_EQ(j["shard_group_size"].get<int>(), titan ? 6 : 3);
    int64_t unsharded = 0, kept = 0;
    for (const auto& r : j["ranks"]) {
      if (r["dp"] == 0 && r["cp"] == 0) unsharded += r["elements"].get<int64_t>();
      if (r["dp_replicate"] == 0 && (titan || r["cp"] == 0)) kept += r["elements_kept"].get<int64_t>();
      EXPECT_EQ(r["dp"].get<int>(), r["dp_replicate"].get<int>() * 3 + r["dp_shard"].get<int>());
    }
    EXPECT_GT(unsharded, 0);
    EXPECT_EQ(kept, unsharded);
  }
  // --dp-shard alone shards over every DP rank (ZeRO-3).
  const nlohmann::json z =
      OkJson({"show", "layout", "--model", "tiny-mlp", "--dp-shard", "4", "--json"});
  EXPECT_EQ(z["dp"].get<int>(), 4);
  EXPECT_EQ(z["shard_group_size"].get<int>(), 4);
}

TEST(CliShowTest, LayoutTextListsAtMost64Ranks) {
  const std::vector<std::string> lines =
      OkLines({"show", "layout", "--model", "gpt2-small", "--tp", "8", "--pp", "2", "--dp", "8"});
  ASSERT_FALSE(lines.empty());
  EXPECT_NE(lines.back().find("64 more ranks omitted"), std::string::npos) << lines.back();
  EXPECT_LT(lines.size(), 90u);
  const nlohmann::json j = OkJson({"show", "layout", "--model", "gpt2-small", "--tp", "8", "--pp",
                                   "2", "--dp", "8", "--json"});
  EXPECT_EQ(j["ranks"].size(), 128u);
}

TEST(CliShowTest, ClusterJsonReportsGpuCount) {
  const nlohmann::json j = OkJson({"show", "cluster", "dgx-h100:nodes=2048", "--json"});
  ASSERT_TRUE(j.is_object());
  EXPECT_EQ(j["num_gpus"].get<int64_t>(), 16384);
  EXPECT_EQ(j["nodes"].get<int64_t>(), 2048);
  EXPECT_EQ(j["gpus_per_node"].get<int>(), 8);
  const nlohmann::json list = OkJson({"show", "cluster", "--json"});
  ASSERT_TRUE(list.is_object());
  EXPECT_GE(list["presets"].size(), 1u);
  const std::vector<std::string> text = OkLines({"show", "cluster", "dgx-h100:nodes=2048"});
  bool found = false;
  for (const std::string& line : text) found |= line.find("16,384") != std::string::npos;
  EXPECT_TRUE(found);
}

TEST(CliShowTest, BadShowInvocationsExitTwoWithOneLineAndNoOutput) {
  const std::vector<std::string> layout = {"show", "layout", "--model", "gpt2-small"};
  auto Layout = [&](std::vector<std::string> extra) {
    std::vector<std::string> args = layout;
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  };
  const std::vector<BadCase> cases = {
      {{"show", "modle"}, "twinsim show: unknown command 'modle' (did you mean 'model'?)"},
      {{"show", "model", "gpt2-smal"},
       "twinsim show model: --model: unknown model 'gpt2-smal' (did you mean 'gpt2-small'?)"},
      {{"show", "model", "gpt2:n_layers=2"}, "--model: gpt2: unknown key 'n_layers'"},
      {{"show", "model", "gpt2", "--model", "gpt2"}, "--model: given both"},
      {{"show", "layout", "--tp", "2"}, "twinsim show layout: --model: missing"},
      {{"show", "layout", "--model", "gpt2-smal"}, "--model: unknown model 'gpt2-smal'"},
      {Layout({"--tp", "0"}), "twinsim show layout: --tp: expected a positive integer, got '0'"},
      {Layout({"--tp", "abc"}), "--tp: expected"},
      {Layout({"--pp", "13"}), "--pp: LayoutConfig: pp * vpp = 13 * 1"},
      {Layout({"--tp", "5000"}), "--tp: LayoutConfig.tp = 5000 leaves empty TP shards"},
      {Layout({"--dp", "4", "--ep", "3"}), "--ep: LayoutConfig.ep = 3 does not divide dp * cp = 4"},
      {Layout({"--dp", "4", "--dp-shard", "3"}),
       "--dp-shard: LayoutConfig.dp_shard = 3 does not divide dp = 4"},
      {Layout({"--dp", "4", "--dp-shard", "2", "--dp-replicate", "3"}),
       "--dp-replicate: --dp-replicate x --dp-shard = 3 x 2 = 6 but --dp is 4"},
      {Layout({"--cp", "0"}), "--cp: expected a positive integer, got '0'"},
      {Layout({"--mesh", "deepspeed"}), "--mesh: expected 'megatron' or 'torchtitan', got 'deepspeed'"},
      {Layout({"--mesh", "torchtitan", "--dp", "2", "--ep", "2"}),
       "--ep: LayoutConfig.ep = 2 under the torchtitan convention"},
      {Layout({"--vpp", "2"}), "--vpp: LayoutConfig.vpp = 2 needs pp > 1"},
      {Layout({"--partition", "even"}), "--partition: expected 'layers' or 'params'"},
      {Layout({"--vocab-divisible-by", "0"}),
       "--vocab-divisible-by: expected a positive integer, got '0'"},
      {Layout({"--dp", "65536", "--tp", "2"}), "--dp: world size dp * pp * tp * cp"},
      {{"show", "cluster", "dgx-h10"},
       "twinsim show cluster: --cluster: unknown cluster preset 'dgx-h10' (did you mean "
       "'dgx-h100'?)"},
      {{"show", "cluster", "dgx-h100:node=2"}, "--cluster: dgx-h100: unknown key 'node'"},
      {{"show", "cluster", "dgx-h100:nodes=0"}, "--cluster: dgx-h100: 'nodes'"},
  };
  for (const BadCase& c : cases) ExpectRejected(c, /*whole_line=*/false);
}

// ---------------------------------------------------------------------------------------------
// init

// `twinsim init` on a small GPT-2 (2 blocks, width 16, vocabulary 64): well under a second.
constexpr char kSmallGpt2[] = "gpt2:n_layer=2,n_embd=16,n_head=2,vocab_size=64";

// The table row of `property` in `twinsim init` text output ("  parity  FAILS  not claimed"),
// and the detail line below it; fails the test when there is none.
struct InitRow {
  std::string row, detail;
};
InitRow FindInitRow(const std::vector<std::string>& lines, const std::string& property) {
  for (size_t i = 0; i + 1 < lines.size(); ++i) {
    if (lines[i].rfind("  " + property + " ", 0) == 0) return {lines[i], lines[i + 1]};
  }
  ADD_FAILURE() << "no row for " << property;
  return {};
}

TEST(CliInitTest, CounterHoldsEveryPropertyOnTinyMlp) {
  const std::vector<std::string> lines = OkLines(
      {"init", "--model", "tiny-mlp", "--tp", "2", "--pp", "1", "--dp", "2", "--policy", "counter",
       "--check", "all"});
  ASSERT_FALSE(lines.empty());
  EXPECT_EQ(lines[0].rfind("counter v", 0), 0u) << lines[0];
  EXPECT_NE(lines[0].find("(init on cuda): twinsim: element-wise"), std::string::npos) << lines[0];
  for (const char* property :
       {"parity", "replica", "distinct", "determinism", "init-fits", "distribution"}) {
    const InitRow r = FindInitRow(lines, property);
    EXPECT_NE(r.row.find(" holds "), std::string::npos) << r.row;
    EXPECT_NE(r.row.find("claimed"), std::string::npos) << r.row;
    EXPECT_EQ(r.row.find("not claimed"), std::string::npos) << r.row;
    EXPECT_EQ(r.detail.rfind("      ", 0), 0u) << "detail should be indented: " << r.detail;
  }
  bool cost = false;
  for (const std::string& line : lines) {
    cost |= line.rfind("  init cost: peak device memory", 0) == 0;
  }
  EXPECT_TRUE(cost);
  EXPECT_EQ(lines.back(), "1 policy, 6 claims checked, 0 broken");
}

TEST(CliInitTest, TorchParallelFailsUnclaimedParityWithACounterexample) {
  const std::vector<std::string> args = {"init", "--policy", "torch-parallel", "--model",
                                         kSmallGpt2, "--tp", "1", "--pp", "2", "--dp", "1",
                                         "--check", "parity"};
  const std::vector<std::string> lines = OkLines(args);
  const InitRow r = FindInitRow(lines, "parity");
  EXPECT_NE(r.row.find("FAILS"), std::string::npos) << r.row;
  EXPECT_NE(r.row.find("not claimed"), std::string::npos) << r.row;
  // The counterexample: which element, on which rank, and what single-device init gives.
  EXPECT_NE(r.detail.find("param '"), std::string::npos) << r.detail;
  EXPECT_NE(r.detail.find("on rank "), std::string::npos) << r.detail;
  EXPECT_NE(r.detail.find("but single-device init gives"), std::string::npos) << r.detail;
  for (const std::string& line : lines) {
    EXPECT_NE(line.rfind("  replica ", 0), 0u) << "--check parity printed another row: " << line;
  }
  ASSERT_FALSE(lines.empty());
  EXPECT_EQ(lines.back(), "1 policy, 0 claims checked, 0 broken");
}

// With several policies, a closing matrix gives one line per policy and one column per
// property; a claimed property carries '*'.
TEST(CliInitTest, SeveralPoliciesEndWithTheMatrix) {
  const std::vector<std::string> lines =
      OkLines({"init", "--policy", "torch-parallel,counter", "--model", kSmallGpt2, "--tp", "2",
               "--pp", "2", "--dp", "1", "--check", "parity,replica"});
  auto at = std::find(lines.begin(), lines.end(),
                      "matrix (* = claimed by the policy on this layout)");
  ASSERT_NE(at, lines.end());
  ASSERT_GE(lines.end() - at, 5);
  EXPECT_EQ(at[1], "  policy          parity  replica");
  EXPECT_EQ(at[2], "  torch-parallel  FAILS   holds*");
  EXPECT_EQ(at[3], "  counter         holds*  holds*");
  EXPECT_EQ(lines.back(), "2 policies, 3 claims checked, 0 broken");
}

// --backend sim: the same verdicts as the host backend, plus a line with the simulated init
// time and the bytes per link class; timing-only keeps init-fits and makes the rest n/a.
TEST(CliInitTest, SimBackendAddsSimulatedTimeAndTraffic) {
  const std::vector<std::string> base = {"init", "--policy", "torch-serial", "--model",
                                         kSmallGpt2, "--tp", "2", "--pp", "2", "--dp", "1",
                                         "--check", "parity,distinct,init-fits"};
  std::vector<std::string> sim = base;
  for (const char* a : {"--backend", "sim", "--cluster", "dgx-h100"}) sim.push_back(a);
  const std::vector<std::string> host_lines = OkLines(base);
  const std::vector<std::string> sim_lines = OkLines(sim);
  for (const char* property : {"parity", "distinct", "init-fits"}) {
    EXPECT_EQ(FindInitRow(host_lines, property).row, FindInitRow(sim_lines, property).row)
        << property;
  }
  bool simulated = false;
  for (const std::string& line : sim_lines) {
    if (line.rfind("  simulated on dgx-h100 (data mode): init takes ", 0) == 0) {
      simulated = true;
      EXPECT_NE(line.find("traffic nvlink "), std::string::npos) << line;
      EXPECT_NE(line.find(", fabric 0 B"), std::string::npos) << line;  // one node
      EXPECT_NE(line.find(", storage 0 B"), std::string::npos) << line;  // torch-serial reads none
    }
  }
  EXPECT_TRUE(simulated);

  std::vector<std::string> timing = sim;
  for (const char* a : {"--timing-only", "--json"}) timing.push_back(a);
  const RunResult r = Twinsim(timing);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j.at("sim").at("mode"), "timing-only");
  EXPECT_GT(j.at("sim").at("init_time_s").get<double>(), 0.0);
  EXPECT_EQ(j.at("sim").at("link_bytes").size(), 6u);
  for (const nlohmann::json& p : j.at("properties")) {
    EXPECT_EQ(p.at("verdict"), p.at("property") == "init-fits" ? "holds" : "n/a") << p;
  }
  for (const nlohmann::json& rank : j.at("cost").at("per_rank")) {
    EXPECT_TRUE(rank.contains("end_time_s")) << rank;
  }

  // counter's fills are sampled in timing-only mode, so parity is checked there too (Note
  // [Sampled parity]); the checks that need every byte stay n/a.
  const RunResult counter = Twinsim({"init", "--model", "tiny-mlp", "--tp", "2", "--pp", "2",
                                     "--dp", "2", "--policy", "counter", "--backend", "sim",
                                     "--cluster", "dgx-h100", "--timing-only", "--json"});
  ASSERT_EQ(counter.exit_code, 0) << counter.err;
  const nlohmann::json c = nlohmann::json::parse(counter.out);
  EXPECT_EQ(c.at("sim").at("mode"), "timing-only");
  bool parity = false;
  for (const nlohmann::json& p : c.at("properties")) {
    const std::string name = p.at("property");
    EXPECT_EQ(p.at("verdict"), name == "init-fits" || name == "parity" ? "holds" : "n/a") << p;
    parity |= name == "parity";
  }
  EXPECT_TRUE(parity) << counter.out;
}

// Serial init waits for the previous stage; parallel init does not: on the simulated cluster
// torch-serial takes longer than torch-parallel once there are several stages.
TEST(CliInitTest, SimulatedSerialInitIsSlowerThanParallel) {
  auto Time = [](const char* policy) {
    const RunResult r = Twinsim({"init", "--policy", policy, "--model", "llama3-8b", "--tp", "8",
                                 "--pp", "4", "--backend", "sim", "--cluster",
                                 "dgx-h100:nodes=4", "--timing-only", "--check", "init-fits",
                                 "--json"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return nlohmann::json::parse(r.out).at("sim").at("init_time_s").get<double>();
  };
  const double serial = Time("torch-serial"), parallel = Time("torch-parallel");
  EXPECT_GT(serial, 2.5 * parallel) << serial << " vs " << parallel;
}

TEST(CliInitTest, ClaimsShowTheirConditions) {
  // torch-serial claims parity only when tp == 1 (and no experts are split over ep).
  const std::vector<std::string> base = {"init", "--policy", "torch-serial", "--model",
                                         "tiny-mlp", "--check", "parity"};
  std::vector<std::string> tp2 = base;
  tp2.insert(tp2.end(), {"--tp", "2"});
  EXPECT_NE(FindInitRow(OkLines(tp2), "parity").row.find(
                "not claimed (claimed only when tp == 1, no experts split over ep or etp)"),
            std::string::npos);
  EXPECT_NE(FindInitRow(OkLines(base), "parity").row.find("claimed when tp == 1, no experts split over ep or etp"),
            std::string::npos);
}

TEST(CliInitTest, JsonLinesHaveTheDocumentedKeys) {
  const std::vector<std::string> args = {"init", "--model", "tiny-mlp", "--tp", "2", "--dp", "2",
                                         "--policy", "all", "--seed", "7", "--json"};
  const RunResult r = Twinsim(args);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  const std::vector<std::string> lines = Lines(r.out);
  const std::vector<std::string> policies = {
      "torch-serial",    "torch-parallel", "megatron",        "megatron-cpu",
      "megatron+dp-random-init", "colossal-legacy", "colossal-legacy+cpu-init", "colossal",
      "dtensor", "dtensor@2.5", "seed-checkpoint", "zero-init", "counter", "shard-local"};
  ASSERT_EQ(lines.size(), policies.size()) << r.out;
  for (size_t i = 0; i < lines.size(); ++i) {
    const nlohmann::json j = nlohmann::json::parse(lines[i], nullptr, false);
    ASSERT_TRUE(j.is_object()) << lines[i];
    for (const char* key : {"policy", "version", "models", "init_device", "layout", "seed",
                            "properties", "cost", "broke_claim"}) {
      EXPECT_TRUE(j.contains(key)) << key << " in " << lines[i];
    }
    EXPECT_EQ(j["policy"], policies[i]);
    EXPECT_EQ(j["seed"].get<uint64_t>(), 7u);
    EXPECT_FALSE(j["broke_claim"].get<bool>()) << lines[i];
    const nlohmann::json& layout = j["layout"];
    EXPECT_EQ(layout["model"], "tiny-mlp");
    EXPECT_EQ(layout["tp"].get<int>(), 2);
    EXPECT_EQ(layout["pp"].get<int>(), 1);
    EXPECT_EQ(layout["dp"].get<int>(), 2);
    EXPECT_EQ(layout["vpp"].get<int>(), 1);
    EXPECT_EQ(layout["ep"].get<int>(), 1);
    EXPECT_EQ(layout["world"].get<int>(), 4);
    ASSERT_EQ(j["properties"].size(), 6u);
    for (const nlohmann::json& p : j["properties"]) {
      for (const char* key : {"property", "verdict", "claimed", "condition", "detail"}) {
        EXPECT_TRUE(p.contains(key)) << key << " in " << p.dump();
      }
      EXPECT_TRUE(p["verdict"] == "holds" || p["verdict"] == "fails" || p["verdict"] == "n/a");
      EXPECT_FALSE(p["claimed"].get<bool>() && p["verdict"] == "fails") << lines[i];
    }
    const nlohmann::json& cost = j["cost"];
    for (const char* key : {"max_device_bytes", "max_host_bytes", "bytes_sent", "per_rank"}) {
      EXPECT_TRUE(cost.contains(key)) << key;
    }
    ASSERT_EQ(cost["per_rank"].size(), 4u);
    uint64_t max_device = 0, sent = 0;
    for (const nlohmann::json& rank : cost["per_rank"]) {
      for (const char* key :
           {"rank", "dp", "pp", "tp", "device_bytes", "host_bytes", "bytes_sent"}) {
        EXPECT_TRUE(rank.contains(key)) << key;
      }
      max_device = std::max(max_device, rank["device_bytes"].get<uint64_t>());
      sent += rank["bytes_sent"].get<uint64_t>();
    }
    EXPECT_EQ(cost["max_device_bytes"].get<uint64_t>(), max_device);
    EXPECT_EQ(cost["bytes_sent"].get<uint64_t>(), sent);
  }
}

TEST(CliInitTest, BrokenClaimExitsOneAfterPrintingEverything) {
  // 1000 bytes of device memory: the counter policy claims init-fits and runs out.
  const std::vector<std::string> args = {"init", "--model", "tiny-mlp", "--policy", "counter",
                                         "--device-memory", "1000"};
  const RunResult r = Twinsim(args);
  EXPECT_EQ(r.exit_code, 1) << r.err;
  const std::vector<std::string> lines = Lines(r.out);
  const InitRow fits = FindInitRow(lines, "init-fits");
  EXPECT_NE(fits.row.find("FAILS"), std::string::npos) << fits.row;
  EXPECT_NE(fits.detail.find("ran out of memory"), std::string::npos) << fits.detail;
  ASSERT_FALSE(lines.empty());
  EXPECT_EQ(lines.back(), "1 policy, 1 claim checked, 1 broken, 5 not checked (n/a)");
  EXPECT_EQ(Lines(r.err).size(), 1u) << r.err;
  EXPECT_EQ(r.err, "twinsim init: 1 claimed property broken: counter init-fits\n");
  const RunResult json = Twinsim({"init", "--model", "tiny-mlp", "--policy", "counter",
                                  "--device-memory", "1000", "--json"});
  EXPECT_EQ(json.exit_code, 1);
  const nlohmann::json j = nlohmann::json::parse(json.out, nullptr, false);
  ASSERT_TRUE(j.is_object()) << json.out;
  EXPECT_TRUE(j["broke_claim"].get<bool>());
}

TEST(CliInitTest, MemorySizesTakeTheUnitsPlaceTakes) {
  // One size parser for every command (issue 13): 1000 bytes written with a unit fails the
  // same claim as above, and 512GiB of host memory is accepted.
  const RunResult kb = Twinsim({"init", "--model", "tiny-mlp", "--policy", "counter",
                                "--device-memory", "1KB", "--host-memory", "512GiB"});
  EXPECT_EQ(kb.exit_code, 1) << kb.err;
  EXPECT_EQ(kb.err, "twinsim init: 1 claimed property broken: counter init-fits\n");
  const RunResult fits = Twinsim({"init", "--model", "tiny-mlp", "--policy", "counter",
                                  "--device-memory", "80GiB", "--host-memory", "512GiB"});
  EXPECT_EQ(fits.exit_code, 0) << fits.err;
}

TEST(CliInitTest, UnsupportedInitDeviceGivesNotApplicableRows) {
  const std::vector<std::string> lines = OkLines({"init", "--model", "tiny-mlp", "--policy",
                                                  "megatron", "--init-device", "cpu"});
  ASSERT_FALSE(lines.empty());
  EXPECT_NE(lines[0].find("(init on cpu)"), std::string::npos) << lines[0];
  for (const char* property : {"parity", "replica", "distinct", "determinism", "init-fits"}) {
    const InitRow r = FindInitRow(lines, property);
    EXPECT_NE(r.row.find(" n/a "), std::string::npos) << r.row;
    EXPECT_NE(r.detail.find("does not initialize on cpu"), std::string::npos) << r.detail;
  }
  EXPECT_EQ(lines.back(), "1 policy, 0 claims checked, 0 broken");
}

// seed-checkpoint: the creation run (torchtitan, WORLD_SIZE=1, CPU) is reported apart from the
// ranks, and on the sim each rank's loads cross its node's storage link.
TEST(CliInitTest, SeedCheckpointReportsTheCreationRunApart) {
  const RunResult r = Twinsim({"init", "--model", "tiny-mlp", "--tp", "2", "--policy",
                               "seed-checkpoint", "--check", "init-fits", "--backend", "sim",
                               "--cluster", "dgx-h100", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j.at("init_device"), "cpu");
  ASSERT_TRUE(j.contains("offline")) << r.out;
  EXPECT_GT(j.at("offline").at("host_bytes").get<uint64_t>(), 0u);
  EXPECT_EQ(j.at("offline").at("storage_write_bytes"), j.at("offline").at("host_bytes"));
  EXPECT_GT(j.at("offline").at("time_s").get<double>(), 0.0);
  EXPECT_GT(j.at("sim").at("link_bytes").at("storage").get<uint64_t>(), 0u);
  EXPECT_EQ(j.at("cost").at("bytes_sent").get<uint64_t>(), 0u);
}

TEST(CliInitTest, BadInitInvocationsExitTwoWithOneLineAndNoOutput) {
  auto Init = [](std::vector<std::string> extra) {
    std::vector<std::string> args = {"init", "--model", "tiny-mlp", "--tp", "2", "--dp", "2"};
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  };
  const std::vector<BadCase> cases = {
      {Init({"--policy", "megatorn"}),
       "twinsim init: --policy: unknown seed policy 'megatorn' (did you mean 'megatron'?) "
       "(known: torch-serial, torch-parallel, megatron, megatron-cpu, megatron+dp-random-init, "
       "colossal-legacy, colossal-legacy+cpu-init, colossal, dtensor, dtensor@2.5, "
       "seed-checkpoint, zero-init, counter, shard-local)"},
      {Init({"--policy", "dtensor@2.4"}),
       "twinsim init: --policy: unknown dtensor release '2.4' (did you mean '2.5'?) (known: 2.5, "
       "0175565d; plain dtensor is 0175565d)"},
      {Init({"--policy", "counter,counter"}), "--policy: 'counter' given twice"},
      {Init({"--policy", "all,counter"}), "--policy: 'all' must stand alone"},
      {Init({"--policy", "counter,"}), "--policy: expected comma-separated names"},
      {Init({}), "twinsim init: --policy: missing; this option is required"},
      {Init({"--policy", "counter", "--check", "parity,fits"}),
       "--check: unknown property 'fits'"},
      {{"init", "--model", "tiny-mlp", "--tp", "0", "--policy", "counter"},
       "twinsim init: --tp: expected a positive integer, got '0'"},
      {{"init", "--model", "tiny-mlp", "--tp", "-1", "--policy", "counter"},
       "--tp: expected a positive integer, got '-1'"},
      {Init({"--policy", "counter", "--seed", "-3"}),
       "--seed: expected an unsigned 64-bit integer (decimal or 0x hex), got '-3'"},
      {Init({"--policy", "counter", "--init-device", "gpu"}),
       "--init-device: unknown init device 'gpu' (expected cpu or cuda)"},
      {Init({"--policy", "counter", "--gpu", "a10"}), "--gpu: unknown GPU profile 'a10'"},
      {{"init", "--model", "tiny-ml", "--policy", "counter"}, "--model: unknown model 'tiny-ml'"},
      {{"init", "--policy", "counter"}, "--model: missing"},
      {{"init", "--model", "tiny-mlp", "--tp", "64", "--policy", "counter"},
       "--tp: LayoutConfig.tp = 64 leaves empty TP shards"},
      {{"init", "--model", "tiny-mlp", "--pp", "4", "--policy", "counter"},
       "--pp: LayoutConfig: pp * vpp = 4 * 1"},
      {{"init", "--model", "tiny-mlp", "--dp", "64", "--pp", "2", "--tp", "33", "--policy",
        "counter"},
       "--dp: world size dp * pp * tp * cp = 64 * 2 * 33 * 1 = 4,224 exceeds 4,096"},
      {{"init", "--model", "tiny-mlp", "--dp", "4097", "--policy", "counter"},
       "--dp: world size dp * pp * tp * cp = 4097 * 1 * 1 * 1 = 4,097 exceeds 4,096 (twinsim init "
       "runs "
       "every rank as a thread; --backend sim goes further)"},
      // --backend sim
      {Init({"--policy", "counter", "--backend", "simgrid"}),
       "--backend: expected host or sim, got 'simgrid'"},
      {Init({"--policy", "counter", "--backend", "sim"}),
       "--cluster: required with --backend sim (e.g. --cluster dgx-h100:nodes=2)"},
      {Init({"--policy", "counter", "--cluster", "dgx-h100"}),
       "--cluster: only with --backend sim"},
      {Init({"--policy", "counter", "--timing-only"}), "--timing-only: only with --backend sim"},
      {Init({"--policy", "counter", "--trace", "t.json"}), "--trace: only with --backend sim"},
      {Init({"--policy", "counter", "--backend", "sim", "--cluster", "dgx-h10"}),
       "--cluster: unknown cluster preset 'dgx-h10'"},
      {{"init", "--model", "tiny-mlp", "--dp", "9", "--policy", "counter", "--backend", "sim",
        "--cluster", "dgx-h100"},
       "--cluster: dgx-h100 has 8 GPUs, the layout needs 9 (tp 1 x pp 1 x dp 9); add nodes, e.g. "
       "dgx-h100:nodes=2"},
      {Init({"--policy", "counter", "--device-memory", "-1"}),
       "--device-memory: expected a size like 24GB or 32GiB, got '-1'"},
      {Init({"--policy", "counter", "--device-memory", "80 GiB"}),
       "--device-memory: expected a size like 24GB or 32GiB"},
      {Init({"--policy", "counter", "--host-memory", "lots"}), "--host-memory: expected"},
      {Init({"--policy", "counter", "--vocab-divisible-by", "0"}),
       "--vocab-divisible-by: expected a positive integer"},
      {Init({"--policy", "counter", "--jsn"}), "unknown option '--jsn' (did you mean '--json'?)"},
      {Init({"--policy", "counter", "stray"}), "unexpected argument 'stray'"},
  };
  for (const BadCase& c : cases) ExpectRejected(c, /*whole_line=*/false);
}

}  // namespace
}  // namespace twinsim
