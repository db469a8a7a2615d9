// Accuracy of twinsim's portable log, sincos and erfinv against double-precision references,
// over every input the fill kernels can feed them.
#include "kernels/portable_math.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>

namespace twinsim::kernels {
namespace {

// Error of float `got` against the exact value `want`, in units of the float spacing at
// `want`.
double UlpError(float got, double want) {
  const float wf = static_cast<float>(want);
  const double ulp = std::nextafter(std::fabs(wf), INFINITY) - std::fabs(wf);
  return std::fabs(static_cast<double>(got) - want) / ulp;
}

TEST(PortableMathTest, LogIsWithinOneUlpOnEveryFloatFrom2PowMinus24To1) {
  double worst = 0;
  float worst_x = 0;
  for (uint32_t bits = FloatBits(0x1p-24f); bits <= FloatBits(1.0f); ++bits) {
    const float x = BitsFloat(bits);
    const double err = x == 1.0f ? std::fabs(Log(x)) : UlpError(Log(x), std::log(double{x}));
    if (err > worst) {
      worst = err;
      worst_x = x;
    }
  }
  std::printf("Log: max error %.3f ulp at x=%a\n", worst, worst_x);
  EXPECT_LT(worst, 1.0);
}

TEST(PortableMathTest, LogHandlesLargeArguments) {
  for (float x : {1.5f, 2.0f, 10.0f, 1e10f, 3.0e38f}) {
    EXPECT_LT(UlpError(Log(x), std::log(double{x})), 1.0) << x;
  }
}

TEST(PortableMathTest, SinCos2PiIsWithinTwoUlpOnEveryUniformAngle) {
  double worst_s = 0, worst_c = 0;
  uint32_t worst_s_k = 0, worst_c_k = 0;
  for (uint32_t k = 0; k < (1u << 24); ++k) {
    const float t = static_cast<float>(k) * 0x1p-24f;
    float s, c;
    SinCos2Pi(t, &s, &c);
    double es, ec;
    if (k % (1u << 22) == 0) {
      // Quarter turns are exact: sin and cos are exactly 0 or +-1 there.
      const int quarter = static_cast<int>(k >> 22);
      const float want_s[4] = {0, 1, 0, -1}, want_c[4] = {1, 0, -1, 0};
      es = s == want_s[quarter] ? 0 : 1e9;
      ec = c == want_c[quarter] ? 0 : 1e9;
    } else {
      const long double angle = 2.0L * 3.141592653589793238462643383279502884L * t;
      es = UlpError(s, static_cast<double>(std::sin(angle)));
      ec = UlpError(c, static_cast<double>(std::cos(angle)));
    }
    if (es > worst_s) worst_s = es, worst_s_k = k;
    if (ec > worst_c) worst_c = ec, worst_c_k = k;
  }
  std::printf("SinCos2Pi: max error sin %.3f ulp (k=%u), cos %.3f ulp (k=%u)\n", worst_s, worst_s_k,
              worst_c, worst_c_k);
  EXPECT_LE(worst_s, 2.0);
  EXPECT_LE(worst_c, 2.0);
}

// erfinv in double by Newton's method on std::erf, from a float starting point.
double ErfInvReference(double x) {
  double y = ErfInv(static_cast<float>(x));
  for (int i = 0; i < 4; ++i) {
    const double err = std::erf(y) - x;
    y -= err / (2.0 / std::sqrt(M_PI) * std::exp(-y * y));
  }
  return y;
}

TEST(PortableMathTest, ErfInvRelativeErrorIsBounded) {
  double worst = 0;
  float worst_x = 0;
  // Every 16th float in [2^-120, 1): results there are normal floats. The extreme tails
  // (|x| > 1 - 2^-20) are checked below.
  for (uint32_t bits = FloatBits(0x1p-120f); bits < FloatBits(1.0f); bits += 16) {
    for (float x : {BitsFloat(bits), -BitsFloat(bits)}) {
      if (std::fabs(x) > 1.0f - 0x1p-20f) continue;
      const double want = ErfInvReference(x);
      const double rel = std::fabs(ErfInv(x) - want) / std::fabs(want);
      if (rel > worst) worst = rel, worst_x = x;
    }
  }
  std::printf("ErfInv: max relative error %.3g at x=%a\n", worst, worst_x);
  EXPECT_LT(worst, 1e-6);  // measured 2.5e-7
}

TEST(PortableMathTest, ErfInvTailsAndPoles) {
  EXPECT_EQ(ErfInv(0.0f), 0.0f);
  EXPECT_EQ(ErfInv(1.0f), INFINITY);
  EXPECT_EQ(ErfInv(-1.0f), -INFINITY);
  const float x = 1.0f - 0x1p-24f;  // the largest float below 1
  EXPECT_NEAR(ErfInv(x), ErfInvReference(x), 1e-5 * ErfInvReference(x));
  EXPECT_EQ(ErfInv(-x), -ErfInv(x));
}

}  // namespace
}  // namespace twinsim::kernels
