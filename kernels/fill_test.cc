// The fill's layout invariance: every sub-range, 2-D block and thread count gives exactly
// the values the full fill has at those positions, for every distribution and dtype.
#include "kernels/fill.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <random>
#include <set>
#include <string>
#include <unordered_set>
#include <vector>

namespace twinsim::kernels {
namespace {

const char* const kSpecs[] = {
    "uniform:a=-0.5,b=2",
    "normal:mean=0.25,std=0.02",
    "trunc_normal:mean=0,std=1,a=-2,b=2",
    "kaiming_uniform:fan_in=768,a=2.23606797749979",
    "kaiming_normal:fan_in=64,nonlinearity=relu",
    "xavier_uniform:fan_in=128,fan_out=512",
    "xavier_normal:fan_in=128,fan_out=512,gain=1.5",
    "constant:value=0.125",
};
const DType kDTypes[] = {DType::kFp32, DType::kBf16, DType::kFp16};

Transform MustResolve(std::string_view text) {
  StatusOr<core::InitSpec> spec = core::ParseInitSpec(text);
  EXPECT_TRUE(spec.ok()) << spec.status().ToString();
  return *Resolve(*spec);
}

std::vector<float> Fill(const ParamStream& s, const Transform& t, DType dtype, uint64_t begin,
                        uint64_t end) {
  std::vector<uint8_t> raw((end - begin) * DTypeSize(dtype));
  FillRange(s, t, dtype, begin, end, raw.data());
  std::vector<float> out(end - begin);
  for (uint64_t i = 0; i < end - begin; ++i) out[i] = LoadAsFloat(dtype, raw.data(), i);
  return out;
}

uint32_t Bits(float f) { return FloatBits(f); }

TEST(FillTest, FastPathEqualsElementValueEverywhere) {
  const ParamStream s{DeriveParamKey(1234, "h.0.mlp.c_fc.weight"), 0};
  for (const char* spec : kSpecs) {
    const Transform t = MustResolve(spec);
    const std::vector<float> full = Fill(s, t, DType::kFp32, 0, 4099);
    for (uint64_t e = 0; e < full.size(); ++e) {
      ASSERT_EQ(Bits(full[e]), Bits(ElementValue(s, t, e))) << spec << " element " << e;
    }
  }
}

TEST(FillTest, EverySubRangeEqualsTheFullFill) {
  std::mt19937_64 rng(7);
  const ParamStream s{DeriveParamKey(99, "wte.weight"), 0};
  constexpr uint64_t kNumel = 3001;
  for (const char* spec : kSpecs) {
    const Transform t = MustResolve(spec);
    for (DType dtype : kDTypes) {
      const std::vector<float> full = Fill(s, t, dtype, 0, kNumel);
      for (int trial = 0; trial < 200; ++trial) {
        uint64_t a = rng() % (kNumel + 1), b = rng() % (kNumel + 1);
        if (a > b) std::swap(a, b);
        const std::vector<float> part = Fill(s, t, dtype, a, b);
        for (uint64_t i = 0; i < part.size(); ++i) {
          ASSERT_EQ(Bits(part[i]), Bits(full[a + i]))
              << spec << " " << DTypeName(dtype) << " [" << a << "," << b << ") at " << a + i;
        }
      }
    }
  }
}

TEST(FillTest, ElementsFarAlongAHugeParameterAreReachableDirectly) {
  // A 405B-parameter model has tensors of ~2^31 elements; any index reaches its value directly.
  const ParamStream s{DeriveParamKey(5, "embed"), 0};
  const Transform t = MustResolve("normal:std=0.02");
  for (uint64_t base : {uint64_t{1} << 31, uint64_t{1} << 40, (uint64_t{1} << 62) + 3}) {
    const std::vector<float> v = Fill(s, t, DType::kFp32, base, base + 37);
    for (uint64_t i = 0; i < v.size(); ++i) {
      ASSERT_EQ(Bits(v[i]), Bits(ElementValue(s, t, base + i)));
    }
  }
  // Blocks 2^32 apart differ: the block index uses both counter words.
  EXPECT_NE(Bits(ElementValue(s, t, 0)), Bits(ElementValue(s, t, uint64_t{4} << 32)));
}

TEST(FillTest, ThreadCountDoesNotChangeAnyBit) {
  const ParamStream s{DeriveParamKey(3, "h.11.attn.c_proj.weight"), 0};
  constexpr uint64_t kBegin = 13, kEnd = 700001;
  for (const char* spec : {kSpecs[1], kSpecs[2]}) {
    const Transform t = MustResolve(spec);
    for (DType dtype : kDTypes) {
      std::vector<uint8_t> one((kEnd - kBegin) * DTypeSize(dtype));
      FillRange(s, t, dtype, kBegin, kEnd, one.data());
      for (int threads : {2, 3, 4, 7, 16}) {
        std::vector<uint8_t> many(one.size(), 0xAB);
        FillRangeParallel(s, t, dtype, kBegin, kEnd, many.data(), threads);
        ASSERT_EQ(std::memcmp(one.data(), many.data(), one.size()), 0)
            << spec << " " << DTypeName(dtype) << " threads=" << threads;
      }
    }
  }
}

TEST(FillTest, TensorParallelShardsOfAMatrixEqualTheFullMatrix) {
  // A [rows, cols] Linear weight split column-parallel (by rows of the weight) and
  // row-parallel (by columns), with shard sizes that do not divide evenly.
  constexpr uint64_t kRows = 37, kCols = 53;
  const ParamStream s{DeriveParamKey(11, "h.3.mlp.c_proj.weight"), 0};
  for (const char* spec : kSpecs) {
    const Transform t = MustResolve(spec);
    for (DType dtype : kDTypes) {
      const std::vector<float> full = Fill(s, t, dtype, 0, kRows * kCols);
      for (int tp : {1, 2, 3, 4, 8}) {
        for (int rank = 0; rank < tp; ++rank) {
          for (bool by_rows : {true, false}) {
            const uint64_t n = by_rows ? kRows : kCols;
            const uint64_t lo = n * rank / tp, hi = n * (rank + 1) / tp;
            Block2D b{kRows, kCols, 0, kRows, 0, kCols};
            if (by_rows) {
              b.row_begin = lo, b.row_end = hi;
            } else {
              b.col_begin = lo, b.col_end = hi;
            }
            ASSERT_TRUE(ValidateBlock(b).ok());
            const uint64_t width = b.col_end - b.col_begin;
            std::vector<uint8_t> raw((b.row_end - b.row_begin) * width * DTypeSize(dtype));
            FillBlock2D(s, t, dtype, b, raw.data());
            for (uint64_t r = b.row_begin; r < b.row_end; ++r) {
              for (uint64_t c = b.col_begin; c < b.col_end; ++c) {
                const float got =
                    LoadAsFloat(dtype, raw.data(), (r - b.row_begin) * width + (c - b.col_begin));
                ASSERT_EQ(Bits(got), Bits(full[r * kCols + c]))
                    << spec << " tp=" << tp << " rank=" << rank << " (" << r << "," << c << ")";
              }
            }
          }
        }
      }
    }
  }
}

TEST(FillTest, InvalidBlocksAreRejected) {
  EXPECT_EQ(ValidateBlock({4, 4, 3, 2, 0, 4}).code(), StatusCode::kOutOfRange);
  EXPECT_EQ(ValidateBlock({4, 4, 0, 5, 0, 4}).message(), "row range [0, 5) is not inside [0, 4)");
  EXPECT_EQ(ValidateBlock({4, 4, 0, 4, 1, 9}).message(),
            "column range [1, 9) is not inside [0, 4)");
  EXPECT_TRUE(ValidateBlock({4, 4, 2, 2, 0, 0}).ok());  // empty is fine
}

TEST(FillTest, SeedNameAndDrawEachChangeTheStream) {
  const Transform t = MustResolve("uniform");
  const auto first = [&](uint64_t seed, const char* name, uint32_t draw) {
    return Fill(ParamStream{DeriveParamKey(seed, name), draw}, t, DType::kFp32, 0, 64);
  };
  const std::vector<float> base = first(1, "w", 0);
  EXPECT_NE(base, first(2, "w", 0));
  EXPECT_NE(base, first(1, "v", 0));
  EXPECT_NE(base, first(1, "w", 1));
  EXPECT_EQ(base, first(1, "w", 0));
}

TEST(FillTest, KeysAreHashedNotOffset) {
  // An additive scheme (seed + rank) would make (seed, rank + 1) == (seed + 1, rank); hashed
  // keys for neighbouring seeds and names share nothing.
  const PhiloxKey a = DeriveParamKey(1000, "layers.1.weight");
  const PhiloxKey b = DeriveParamKey(1001, "layers.0.weight");
  EXPECT_NE(a.w[0], b.w[0]);
  EXPECT_NE(a.w[1], b.w[1]);
  // Names that differ only in length or trailing NUL get different keys.
  EXPECT_NE(DeriveParamKey(0, std::string("a")).w[0],
            DeriveParamKey(0, std::string("a\0", 2)).w[0]);
}

TEST(FillTest, NoTwoParamsShareAKeyOverALargeSample) {
  // 2,000,000 (seed, name) pairs with realistic names: all 64-bit keys distinct.
  std::vector<uint64_t> keys;
  keys.reserve(2'000'000);
  const char* const suffixes[] = {"attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight",
                                  "mlp.c_proj.bias"};
  for (uint64_t seed = 0; seed < 20; ++seed) {
    for (int layer = 0; layer < 25'000; ++layer) {
      for (const char* suffix : suffixes) {
        const std::string name = "h." + std::to_string(layer) + "." + suffix;
        const PhiloxKey k = DeriveParamKey(seed * 0x9e3779b9 + seed, name);
        keys.push_back((uint64_t{k.w[1]} << 32) | k.w[0]);
        if (keys.size() == keys.capacity()) break;
      }
    }
  }
  std::sort(keys.begin(), keys.end());
  EXPECT_EQ(std::adjacent_find(keys.begin(), keys.end()), keys.end());
}

TEST(FillTest, DistinctKeyElementPairsNeverShareAPhiloxInput) {
  // The Philox input of (key, e) is (counter(e / 4, draw), key) plus the output lane e % 4.
  // Over a random sample of keys and element indices, distinct pairs give distinct inputs.
  std::mt19937_64 rng(2026);
  struct Input {
    uint32_t k0, k1, c0, c1, c2, lane;
    bool operator==(const Input& o) const {
      return k0 == o.k0 && k1 == o.k1 && c0 == o.c0 && c1 == o.c1 && c2 == o.c2 && lane == o.lane;
    }
  };
  struct Hash {
    size_t operator()(const Input& i) const {
      return std::hash<uint64_t>()((uint64_t{i.k0} << 32 | i.k1) ^ (uint64_t{i.c0} << 29) ^
                                   (uint64_t{i.c1} << 7) ^ i.lane);
    }
  };
  std::unordered_set<Input, Hash> seen;
  std::set<std::pair<std::string, uint64_t>> pairs;
  for (int i = 0; i < 400'000; ++i) {
    const std::string name = "p" + std::to_string(rng() % 5000);
    const uint64_t e = rng() % 4 == 0 ? rng() : rng() % 100'000;
    if (!pairs.emplace(name, e).second) continue;
    const PhiloxKey k = DeriveParamKey(42, name);
    const uint64_t block = e / 4;
    const Input in{k.w[0],
                   k.w[1],
                   static_cast<uint32_t>(block),
                   static_cast<uint32_t>(block >> 32),
                   0,
                   static_cast<uint32_t>(e % 4)};
    ASSERT_TRUE(seen.insert(in).second) << name << " element " << e;
  }
  EXPECT_GT(seen.size(), 350'000u);
}

}  // namespace
}  // namespace twinsim::kernels
