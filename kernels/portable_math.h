// twinsim's own float log, sincos and erfinv, identical on the host and on NVIDIA GPUs.
//
// libm and CUDA's math library round differently in the last bit, so init values computed
// with them would differ between a CPU rank and a GPU rank. These functions use only
// operations IEEE 754 rounds correctly on both (add, sub, mul, div, sqrt, int<->float
// conversion, bit moves) and no contraction (see Note [Bit-exact host and device] in
// kernels/README.md). They are branch-free so that the host loops vectorize.
#ifndef TWINSIM_KERNELS_PORTABLE_MATH_H_
#define TWINSIM_KERNELS_PORTABLE_MATH_H_

#include <cmath>
#include <cstdint>

#include "kernels/dtype.h"
#include "kernels/hd.h"

namespace twinsim::kernels {

TWINSIM_HD float Sqrt(float x) {
#if defined(__CUDA_ARCH__)
  return __fsqrt_rn(x);
#else
  return std::sqrt(x);
#endif
}

// Natural logarithm. REQUIRES: x positive, finite and normal (>= 2^-126); callers feed it
// values in [2^-24, 1]. Error below 1 ulp (checked exhaustively on [2^-24, 1] by
// portable_math_test). Method: x = 2^k * m with m in [sqrt(1/2), sqrt(2)); with f = m - 1 and
// s = f / (2 + f), log(m) = 2 atanh(s) = f - f^2/2 + s (f^2/2 + R(s^2)), R a minimax
// polynomial (the classic fdlibm coefficients); k ln 2 is added in two parts.
TWINSIM_HD float Log(float x) {
  constexpr float kLn2Hi = 0x1.62e3p-1f;     // 0x3f317180: low bits zero, so k*kLn2Hi exact
  constexpr float kLn2Lo = 0x1.2fefa2p-17f;  // 0x3717f7d1
  constexpr float kLg1 = 0x1.555554p-1f;     // 0xaaaaaa.0p-24
  constexpr float kLg2 = 0x1.999c26p-2f;     // 0xccce13.0p-25
  constexpr float kLg3 = 0x1.23d3dcp-2f;     // 0x91e9ee.0p-25
  constexpr float kLg4 = 0x1.f13c4cp-3f;     // 0xf89e26.0p-26
  // Re-bias so the exponent field counts from sqrt(1/2) instead of 1.
  uint32_t ix = FloatBits(x) + (0x3f800000u - 0x3f3504f3u);
  const int k = static_cast<int>(ix >> 23) - 127;
  ix = (ix & 0x007fffffu) + 0x3f3504f3u;
  const float f = BitsFloat(ix) - 1.0f;
  const float s = f / (2.0f + f);
  const float z = s * s;
  const float w = z * z;
  const float t1 = w * (kLg2 + w * kLg4);
  const float t2 = z * (kLg1 + w * kLg3);
  const float r = t2 + t1;
  const float hfsq = 0.5f * f * f;
  const float dk = static_cast<float>(k);
  return s * (hfsq + r) + dk * kLn2Lo - hfsq + f + dk * kLn2Hi;
}

// sin(2 pi t) and cos(2 pi t) for t in [0, 1). Error below 2 ulp on every t = k 2^-24, and
// exact at quarter turns (portable_math_test).
// Reduction is in turns, exactly: q = nearest quarter turn, r = t - q/4 in [-1/8, 1/8]
// (exact for t a multiple of 2^-24, as uniforms are), x = 2 pi r in [-pi/4, pi/4], then
// Taylor polynomials (degree 9 for sin, 10 for cos: truncation error < 2^-28 there).
TWINSIM_HD void SinCos2Pi(float t, float* sin_out, float* cos_out) {
  constexpr float kTwoPi = 0x1.921fb6p+2f;          // 2 pi rounded to float
  const int q = static_cast<int>(t * 4.0f + 0.5f);  // 0..4
  const float r = t - static_cast<float>(q) * 0.25f;
  const float x = r * kTwoPi;
  const float z = x * x;
  const float s = x + x * z *
                          (-0x1.555556p-3f +
                           z * (0x1.111112p-7f + z * (-0x1.a01a02p-13f + z * 0x1.71de3ap-19f)));
  const float c =
      1.0f - 0.5f * z +
      z * z *
          (0x1.555556p-5f + z * (-0x1.6c16c2p-10f + z * (0x1.a01a02p-16f + z * -0x1.27e4fcp-22f)));
  // Rotate by q quarter turns: (sin, cos) -> (cos, -sin) per quarter.
  const bool swap = (q & 1) != 0;
  const float sv = swap ? c : s;
  const float cv = swap ? s : c;
  *sin_out = (q & 2) ? -sv : sv;
  *cos_out = ((q + 1) & 2) ? -cv : cv;
}

// Inverse error function on (-1, 1); +-infinity at +-1. Relative error below 2.5e-7
// (portable_math_test bounds it). Method: M. Giles, "Approximating the erfinv function"
// (GPU Computing Gems, 2011), single-precision coefficients, with w = -log((1-x)(1+x))
// from Log above; both branches are evaluated and one selected, to stay branch-free.
TWINSIM_HD float ErfInv(float x) {
  const float one_minus = (1.0f - x) * (1.0f + x);
  const bool at_pole = !(one_minus > 0.0f);
  const float w = -Log(at_pole ? 1.0f : one_minus);
  // Central branch, w < 5.
  const float wc = w - 2.5f;
  // Coefficients of Giles (2011), as float hex literals so every compiler reads the same bits.
  float p = 0x1.e2cb1p-26f;
  p = 0x1.70966cp-22f + p * wc;
  p = -0x1.d8e6aep-19f + p * wc;
  p = -0x1.26b582p-18f + p * wc;
  p = 0x1.ca65b6p-13f + p * wc;
  p = -0x1.48a81p-10f + p * wc;
  p = -0x1.11c9dep-8f + p * wc;
  p = 0x1.f91ec6p-3f + p * wc;
  p = 0x1.805c5ep+0f + p * wc;
  // Tail branch, w >= 5.
  const float wt = Sqrt(w) - 3.0f;
  float q = -0x1.a3e136p-13f;
  q = 0x1.a76ad6p-14f + q * wt;
  q = 0x1.61b8e4p-10f + q * wt;
  q = -0x1.e17bcep-9f + q * wt;
  q = 0x1.7824f6p-8f + q * wt;
  q = -0x1.f38baep-8f + q * wt;
  q = 0x1.354afcp-7f + q * wt;
  q = 0x1.006db6p+0f + q * wt;
  q = 0x1.6a9efcp+1f + q * wt;
  const float y = (w < 5.0f ? p : q) * x;
  const float inf = BitsFloat(0x7f800000u);
  return at_pole ? (x < 0.0f ? -inf : inf) : y;
}

}  // namespace twinsim::kernels

#endif  // TWINSIM_KERNELS_PORTABLE_MATH_H_
