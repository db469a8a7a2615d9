// RunRngPhilox, RunRngFill (and its batched walk), RunRngTorchCpu and RunRngTorchCuda without a
// process: known answers, bad requests with the messages the command prints, and each
// report's JSON round trip.
#include "harness/rng.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "harness/json_line.h"

namespace twinsim::harness {
namespace {

using Json = nlohmann::ordered_json;

template <typename Report>
Report RoundTrip(const Report& r) {
  return Json::parse(CompactJson(Json(r))).template get<Report>();
}

TEST(RngTest, HexFloatIsC99PercentA) {
  EXPECT_EQ(HexFloat(0.375f), "0x1.8p-2");
  EXPECT_EQ(HexFloat(-1.0f), "-0x1p+0");
  EXPECT_EQ(HexFloat(0.0f), "0x0p+0");
}

TEST(RunRngPhiloxTest, GivesTheKnownAnswerForZeroKeyAndCounter) {
  // Random123's kat_vectors, as `twinsim rng philox --help` quotes it.
  const RngPhiloxReport r = RunRngPhilox({});
  EXPECT_EQ(r.words, (std::array<uint32_t, 4>{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}));
}

RngFillRequest Flat(uint64_t numel) {
  RngFillRequest q;
  q.seed = 1234;
  q.param = "wq.weight";
  q.dist = "normal:std=0.02";
  q.numel = numel;
  return q;
}

TEST(RunRngFillTest, ABlockHoldsTheFlatParametersElements) {
  RngFillRequest flat = Flat(5 * 7);
  StatusOr<RngFillReport> whole = RunRngFill(flat);
  ASSERT_TRUE(whole.ok()) << whole.status().message();
  ASSERT_EQ(whole->values.size(), 35u);
  RngFillRequest q = flat;
  q.numel.reset();
  q.rows = 5;
  q.cols = 7;
  q.row_begin = 1;
  q.row_end = 3;
  q.col_begin = 2;
  q.col_end = 6;
  StatusOr<RngFillReport> block = RunRngFill(q);
  ASSERT_TRUE(block.ok()) << block.status().message();
  ASSERT_EQ(block->values.size(), 8u);
  for (uint64_t r = 1, i = 0; r < 3; ++r) {
    for (uint64_t c = 2; c < 6; ++c, ++i) {
      EXPECT_EQ(block->values[i], whole->values[r * 7 + c]) << "element (" << r << ", " << c << ")";
    }
  }
  EXPECT_EQ(RoundTrip(*block), *block);
  flat.begin = 3;
  flat.end = 9;
  StatusOr<RngFillReport> part = RunRngFill(flat);
  ASSERT_TRUE(part.ok());
  EXPECT_EQ(part->values, std::vector<float>(whole->values.begin() + 3, whole->values.begin() + 9));
  EXPECT_EQ(RoundTrip(*part), *part);
}

// Every init kind and dtype: a sub-range or a 2-D block holds exactly the elements of the whole
// flat fill it names (what `rng fill --begin/--end` and `--row-begin ...` print; the CLI test
// keeps one case of each).
const char* const kDists[] = {"normal:std=0.02", "uniform:a=-0.5,b=0.5", "trunc_normal:std=0.02",
                              "kaiming_uniform:fan_in=63,a=2.2360679775", "constant:value=0.25"};
const char* const kDtypes[] = {"fp32", "bf16", "fp16"};

RngFillRequest Whole(const char* dist, const char* dtype, uint64_t numel) {
  RngFillRequest q;
  q.seed = 0x5eed;
  q.param = "layers.3.mlp.w1.weight";
  q.dist = dist;
  q.dtype = dtype;
  q.numel = numel;
  return q;
}

TEST(RunRngFillTest, SubRangesEqualTheSameElementsOfTheWholeFill) {
  constexpr uint64_t kNumel = 1001;  // not a multiple of the 4-element Philox block
  for (const char* dist : kDists) {
    for (const char* dtype : kDtypes) {
      StatusOr<RngFillReport> whole = RunRngFill(Whole(dist, dtype, kNumel));
      ASSERT_TRUE(whole.ok()) << whole.status().message();
      ASSERT_EQ(whole->values.size(), kNumel);
      const std::pair<uint64_t, uint64_t> ranges[] = {{0, 0},      {0, 1},     {1, 2},
                                                      {3, 17},     {5, 9},     {500, 500},
                                                      {998, 1001}, {1000, 1001}, {0, kNumel},
                                                      {2, 1000}};
      for (const auto& [b, e] : ranges) {
        RngFillRequest q = Whole(dist, dtype, kNumel);
        q.begin = b;
        q.end = e;
        StatusOr<RngFillReport> part = RunRngFill(q);
        ASSERT_TRUE(part.ok()) << part.status().message();
        EXPECT_EQ(part->values, std::vector<float>(whole->values.begin() + b,
                                                   whole->values.begin() + e))
            << dist << " " << dtype << " [" << b << ", " << e << ")";
      }
    }
  }
}

TEST(RunRngFillTest, BlocksEqualTheCorrespondingEntriesOfTheWholeFill) {
  constexpr uint64_t kRows = 7, kCols = 9;
  struct Block {
    uint64_t r0, r1, c0, c1;
  };
  const Block blocks[] = {{0, 7, 0, 9}, {2, 5, 3, 8}, {0, 1, 0, 9}, {6, 7, 8, 9},
                          {0, 7, 4, 5}, {3, 3, 0, 9}, {1, 6, 0, 0}, {4, 7, 1, 9}};
  for (const char* dist : kDists) {
    for (const char* dtype : kDtypes) {
      StatusOr<RngFillReport> whole = RunRngFill(Whole(dist, dtype, kRows * kCols));
      ASSERT_TRUE(whole.ok()) << whole.status().message();
      for (const Block& b : blocks) {
        RngFillRequest q = Whole(dist, dtype, 0);
        q.numel.reset();
        q.rows = kRows;
        q.cols = kCols;
        q.row_begin = b.r0;
        q.row_end = b.r1;
        q.col_begin = b.c0;
        q.col_end = b.c1;
        StatusOr<RngFillReport> got = RunRngFill(q);
        ASSERT_TRUE(got.ok()) << got.status().message();
        std::vector<float> expected;
        for (uint64_t r = b.r0; r < b.r1; ++r) {
          for (uint64_t c = b.c0; c < b.c1; ++c) expected.push_back(whole->values[r * kCols + c]);
        }
        EXPECT_EQ(got->values, expected) << dist << " " << dtype << " rows [" << b.r0 << ", "
                                         << b.r1 << ") cols [" << b.c0 << ", " << b.c1 << ")";
      }
    }
  }
}

TEST(RunRngFillTest, BatchesStopWhenTheCallerSaysSo) {
  StatusOr<RngFillPlan> plan = PlanRngFill(Flat(uint64_t{1} << 20));
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->NumValues(), uint64_t{1} << 20);
  int batches = 0;
  ForEachFillBatch(*plan, [&](std::span<const float> values) {
    EXPECT_EQ(values.size(), 65536u);
    return ++batches < 2;
  });
  EXPECT_EQ(batches, 2);
}

TEST(RunRngFillTest, RefusesBadRequestsNamingTheOption) {
  RngFillRequest q = Flat(4);
  q.end = 9;
  EXPECT_EQ(q.Validate().message(), "--end: expected at most --numel (4), got '9'");
  q.end = 2;
  q.begin = 3;
  EXPECT_EQ(q.Validate().message(), "--begin: expected at most --end (2), got '3'");
  q = Flat(4);
  q.rows = 2;
  EXPECT_EQ(q.Validate().message(),
            "--rows: cannot be combined with --numel (a flat parameter); use --begin/--end");
  q.numel.reset();
  EXPECT_EQ(q.Validate().message(), "--cols: missing; --rows needs --cols");
  q.cols = 3;
  q.row_end = 5;
  EXPECT_EQ(q.Validate().message(), "--row-begin/--row-end: row range [0, 5) is not inside [0, 2)");
  q = Flat(4);
  q.numel.reset();
  EXPECT_EQ(q.Validate().message(),
            "--numel: missing; give --numel N for a flat parameter or --rows R --cols C for a 2-D "
            "one");
  q = Flat(4);
  q.param = "";
  EXPECT_EQ(q.Validate().message(), "--param: expected a non-empty parameter name, got ''");
  q = Flat(4);
  q.dtype = "fp8";
  EXPECT_EQ(q.Validate().message(), "--dtype: unknown dtype 'fp8' (expected fp32, bf16 or fp16)");
  q = Flat(4);
  q.dist = "bogus";
  EXPECT_EQ(RunRngFill(q).status().code(), StatusCode::kInvalidArgument);
}

TEST(RunRngTorchCpuTest, LinearGivesWeightThenBias) {
  RngTorchCpuRequest q;
  q.op = "linear";
  q.shape = {4, 3};
  StatusOr<RngTorchCpuReport> r = RunRngTorchCpu(q);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->weight.size(), 12u);
  EXPECT_EQ(r->bias.size(), 4u);
  EXPECT_TRUE(r->values.empty());
  EXPECT_EQ(RoundTrip(*r), *r);
  q.no_bias = true;
  r = RunRngTorchCpu(q);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->bias.empty());
  q = {};
  q.seed = 7;
  q.op = "rand";
  q.shape = {2, 3};
  r = RunRngTorchCpu(q);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->values.size(), 6u);
  for (const float v : r->values) EXPECT_TRUE(v >= 0.0f && v < 1.0f) << v;
  EXPECT_EQ(RoundTrip(*r), *r);
}

TEST(RunRngTorchCpuTest, RefusesBadRequestsNamingTheOption) {
  RngTorchCpuRequest q;
  q.op = "bogus";
  q.shape = {4};
  EXPECT_EQ(q.Validate().message(), "--op: expected one of rand, normal, linear, got 'bogus'");
  q.op = "rand";
  q.mean = 1;
  EXPECT_EQ(q.Validate().message(), "--mean: only valid with --op normal");
  q.mean.reset();
  q.no_bias = true;
  EXPECT_EQ(q.Validate().message(), "--no-bias: only valid with --op linear");
  q.no_bias = false;
  q.op = "normal";
  q.std = -1;
  EXPECT_EQ(q.Validate().message(), "--std: expected a non-negative number, got '-1'");
  q.std.reset();
  q.capability = "avx2";
  EXPECT_EQ(q.Validate().message().rfind("--capability: normal is modelled only under", 0), 0u);
  q.op = "linear";
  q.capability = "";
  EXPECT_EQ(RunRngTorchCpu(q).status().code(), StatusCode::kInvalidArgument);  // shape {4}
}

TEST(RunRngTorchCudaTest, ReportsTheLaunchAndTheValues) {
  RngTorchCudaRequest q;
  q.numel = 10;
  q.gpu = "a100";
  q.offset = 8;
  q.from = -1;
  q.to = 2;
  StatusOr<RngTorchCudaReport> r = RunRngTorchCuda(q);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->values.size(), 10u);
  for (const float v : r->values) EXPECT_TRUE(v >= -1.0f && v <= 2.0f) << v;
  EXPECT_EQ(r->gpu, "a100");
  EXPECT_GT(r->offset_after, r->offset);
  EXPECT_EQ(RoundTrip(*r), *r);
}

TEST(RunRngTorchCudaTest, RefusesBadRequestsNamingTheOption) {
  RngTorchCudaRequest q;
  q.numel = 10;
  q.gpu = "nosuch";
  EXPECT_EQ(q.Validate().message().rfind("--gpu: unknown GPU profile 'nosuch'", 0), 0u);
  q.gpu = "h100";
  q.from = 3;
  q.to = 2;
  EXPECT_EQ(q.Validate().message(), "--from: expected at most --to (2), got '3'");
  q.from.reset();
  q.to.reset();
  q.op = "bogus";
  EXPECT_EQ(q.Validate().message(), "--op: expected uniform or normal, got 'bogus'");
  q.op = "uniform";
  q.mean = 1;
  EXPECT_EQ(q.Validate().message(), "--mean: only valid with --op normal");
  q.op = "normal";
  q.to = 1;
  EXPECT_EQ(q.Validate().message(), "--to: only valid with --op uniform");
  q.to.reset();
  q.std = -2;
  EXPECT_EQ(q.Validate().message(), "--std: expected a non-negative number, got '-2'");
}

}  // namespace
}  // namespace twinsim::harness
