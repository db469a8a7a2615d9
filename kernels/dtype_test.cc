#include "kernels/dtype.h"

#include <gtest/gtest.h>

#include <cmath>

namespace twinsim::kernels {
namespace {

// Reference bf16 rounding: pick the nearer of the two bf16 neighbours in double, ties to the
// one with an even last bit.
uint16_t ReferenceBf16(float f) {
  const uint32_t u = FloatBits(f);
  const uint16_t down = static_cast<uint16_t>(u >> 16);
  const uint16_t up = static_cast<uint16_t>(down + 1);
  const double x = f;
  const double dd = std::fabs(x - Bf16ToFloat(down));
  const double du = std::fabs(Bf16ToFloat(up) - x);  // up may be inf: then du is inf
  if (std::isinf(Bf16ToFloat(up)) && !std::isinf(f)) {
    // Rounding up overflows only past the midpoint of the largest finite bf16 and 2^128.
    const double mid =
        (std::fabs(static_cast<double>(Bf16ToFloat(down))) + std::ldexp(1.0, 128)) / 2;
    if (std::fabs(x) > mid || (std::fabs(x) == mid && (down & 1))) return up;
    return down;
  }
  if (dd < du) return down;
  if (du < dd) return up;
  return (down & 1) ? up : down;
}

TEST(DTypeTest, Fp16MatchesTheCompilersFloat16OnASweepOfAllFloats) {
  for (uint64_t bits = 0; bits <= 0xffffffffULL; bits += 251) {
    const float f = BitsFloat(static_cast<uint32_t>(bits));
    if (std::isnan(f)) continue;
    const _Float16 h = static_cast<_Float16>(f);
    uint16_t want;
    std::memcpy(&want, &h, 2);
    ASSERT_EQ(FloatToFp16(f), want) << std::hexfloat << f;
  }
}

TEST(DTypeTest, Fp16EdgeCases) {
  const float cases[] = {
      0.0f,         -0.0f,    65504.0f,  65519.996f,      65520.0f,       1e9f,
      0x1p-14f,     0x1p-24f, 0x1p-25f,  0x1.8p-25f,      0x1p-26f,       0x1.ffcp-15f,
      0x1.ffep-15f, INFINITY, -INFINITY, 1.0f + 0x1p-11f, 1.0f + 0x3p-11f};
  for (float f : cases) {
    const _Float16 h = static_cast<_Float16>(f);
    uint16_t want;
    std::memcpy(&want, &h, 2);
    EXPECT_EQ(FloatToFp16(f), want) << std::hexfloat << f;
    if (!std::isnan(f)) {
      EXPECT_EQ(Fp16ToFloat(FloatToFp16(f)), static_cast<float>(h));
    }
  }
  EXPECT_TRUE(std::isnan(Fp16ToFloat(FloatToFp16(NAN))));
}

TEST(DTypeTest, Bf16MatchesAReferenceRoundingOnASweepOfAllFloats) {
  for (uint64_t bits = 0; bits <= 0xffffffffULL; bits += 251) {
    const float f = BitsFloat(static_cast<uint32_t>(bits));
    if (std::isnan(f)) {
      EXPECT_TRUE(std::isnan(Bf16ToFloat(FloatToBf16(f))));
      continue;
    }
    ASSERT_EQ(FloatToBf16(f), ReferenceBf16(f)) << std::hexfloat << f;
  }
}

TEST(DTypeTest, Bf16TiesGoToEven) {
  EXPECT_EQ(FloatToBf16(BitsFloat(0x3f808000u)), 0x3f80);  // tie, even below
  EXPECT_EQ(FloatToBf16(BitsFloat(0x3f818000u)), 0x3f82);  // tie, odd below: up
  EXPECT_EQ(FloatToBf16(BitsFloat(0x3f808001u)), 0x3f81);  // above the tie
  EXPECT_EQ(FloatToBf16(BitsFloat(0x7f7fffffu)), 0x7f80);  // FLT_MAX rounds to inf
}

TEST(DTypeTest, NamesParse) {
  EXPECT_EQ(*ParseDType("bf16"), DType::kBf16);
  EXPECT_EQ(*ParseDType("half"), DType::kFp16);
  EXPECT_EQ(*ParseDType("float32"), DType::kFp32);
  EXPECT_EQ(DTypeName(DType::kBf16), "bf16");
  const auto bad = ParseDType("fp8");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(), "unknown dtype 'fp8' (expected fp32, bf16 or fp16)");
}

}  // namespace
}  // namespace twinsim::kernels
