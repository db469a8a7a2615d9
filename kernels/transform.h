// The per-element arithmetic of twinsim's init: Philox words of one 4-element block to the
// four fp32 values of that block. The host fill (fill.cc) and the CUDA kernel (fill_cuda.cu)
// both call exactly these functions, so they compute the same bits.
//
// See Note [Element-wise streams] in kernels/fill.h for the counter layout.
#ifndef TWINSIM_KERNELS_TRANSFORM_H_
#define TWINSIM_KERNELS_TRANSFORM_H_

#include <cstdint>

#include "core/fill_request.h"
#include "kernels/hd.h"
#include "kernels/philox.h"
#include "kernels/portable_math.h"

namespace twinsim::kernels {

// The primitives and their resolved parameters are core's (core/fill_request.h), so a
// Device::Fill request carries exactly what these functions evaluate.
using core::Primitive;
using core::Transform;

// The stream of one parameter: its Philox key (from DeriveParamKey) and the draw index.
struct ParamStream {
  PhiloxKey key{};
  uint32_t draw = 0;
};

inline constexpr int kBlockElems = 4;

// The Philox words of block `block` (elements 4*block .. 4*block+3) of `stream`.
TWINSIM_HD PhiloxCounter BlockWords(const ParamStream& stream, uint64_t block) {
  return Philox4x32(PhiloxCounter{{static_cast<uint32_t>(block), static_cast<uint32_t>(block >> 32),
                                   stream.draw, 0u}},
                    stream.key);
}

// u in [0, 1): the top 24 bits of `w` times 2^-24 (exact).
TWINSIM_HD float UnitFloat(uint32_t w) { return static_cast<float>(w >> 8) * 0x1p-24f; }

// u in (0, 1): (2k + 1) 2^-24 from the top 23 bits of `w` (exact; never 0, so log is finite).
// The normal's tails are therefore cut at sqrt(48 ln 2) = 5.77 standard deviations.
TWINSIM_HD float OpenUnitFloat(uint32_t w) {
  return static_cast<float>(w >> 9) * 0x1p-23f + 0x1p-24f;
}

// One Box-Muller pair from two words: (r cos theta, r sin theta).
TWINSIM_HD void BoxMuller(uint32_t w_radius, uint32_t w_angle, float* z_cos, float* z_sin) {
  const float u1 = OpenUnitFloat(w_radius);
  const float u2 = UnitFloat(w_angle);
  const float r = Sqrt(-2.0f * Log(u1));
  float s, c;
  SinCos2Pi(u2, &s, &c);
  *z_cos = r * c;
  *z_sin = r * s;
}

TWINSIM_HD float UniformValue(const Transform& t, uint32_t w) {
  return t.p[0] + t.p[1] * UnitFloat(w);
}

TWINSIM_HD float TruncNormalValue(const Transform& t, uint32_t w) {
  const float x = t.p[0] + t.p[1] * UnitFloat(w);
  const float v = t.p[3] + t.p[2] * ErfInv(x);
  return v < t.p[4] ? t.p[4] : (v > t.p[5] ? t.p[5] : v);
}

// The four fp32 values of one block, given its Philox words.
TWINSIM_HD void BlockValues(const Transform& t, const PhiloxCounter& words, float out[4]) {
  switch (t.prim) {
    case Primitive::kUniform:
      for (int i = 0; i < 4; ++i) out[i] = UniformValue(t, words.w[i]);
      break;
    case Primitive::kNormal: {
      float z[4];
      BoxMuller(words.w[0], words.w[1], &z[0], &z[1]);
      BoxMuller(words.w[2], words.w[3], &z[2], &z[3]);
      for (int i = 0; i < 4; ++i) out[i] = t.p[0] + t.p[1] * z[i];
      break;
    }
    case Primitive::kTruncNormal:
      for (int i = 0; i < 4; ++i) out[i] = TruncNormalValue(t, words.w[i]);
      break;
    case Primitive::kConstant:
      for (int i = 0; i < 4; ++i) out[i] = t.p[0];
      break;
  }
}

}  // namespace twinsim::kernels

#endif  // TWINSIM_KERNELS_TRANSFORM_H_
