// Storage dtypes of initialized parameters and the fp32 -> bf16 / fp16 conversions.
//
// Both conversions round to nearest, ties to even, from the fp32 value, with integer bit
// operations only, so host and GPU agree bit for bit (NaN becomes a quiet NaN; fp16 overflow
// becomes infinity; fp16 subnormals are produced exactly).
#ifndef TWINSIM_KERNELS_DTYPE_H_
#define TWINSIM_KERNELS_DTYPE_H_

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "core/dtype.h"
#include "kernels/hd.h"

namespace twinsim::kernels {

// The storage dtype is core's vocabulary type; kernels round to it.
using core::DType;
using core::DTypeName;
using core::DTypeSize;
using core::ParseDType;

TWINSIM_HD uint32_t FloatBits(float f) {
#if defined(__CUDA_ARCH__)
  return __float_as_uint(f);
#else
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
#endif
}

TWINSIM_HD float BitsFloat(uint32_t u) {
#if defined(__CUDA_ARCH__)
  return __uint_as_float(u);
#else
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
#endif
}

// fp32 -> bf16, round to nearest even. NaN -> quiet NaN with the sign kept.
TWINSIM_HD uint16_t FloatToBf16(float f) {
  const uint32_t u = FloatBits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x0040u);
  const uint32_t rounding = 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>((u + rounding) >> 16);
}

TWINSIM_HD float Bf16ToFloat(uint16_t h) { return BitsFloat(static_cast<uint32_t>(h) << 16); }

// fp32 -> IEEE binary16, round to nearest even; overflow -> +-inf; NaN -> quiet NaN.
TWINSIM_HD uint16_t FloatToFp16(float f) {
  const uint32_t u = FloatBits(f);
  const uint32_t sign = (u >> 16) & 0x8000u;
  const uint32_t abs = u & 0x7fffffffu;
  if (abs > 0x7f800000u) return static_cast<uint16_t>(sign | 0x7e00u | ((abs >> 13) & 0x3ffu));
  if (abs >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // rounds to >= 65520
  if (abs >= 0x38800000u) {  // normal half: |f| >= 2^-14
    const uint32_t mant_odd = (abs >> 13) & 1u;
    const uint32_t rebias = abs - (112u << 23);  // exponent 127 -> 15
    return static_cast<uint16_t>(sign | ((rebias + 0xfffu + mant_odd) >> 13));
  }
  if (abs < 0x33000000u) return static_cast<uint16_t>(sign);  // |f| <= 2^-25: rounds to 0
  // Subnormal half: value = m * 2^-24 with m in [0, 1024]; shift the 24-bit significand.
  const uint32_t exp = abs >> 23;  // 102 .. 112
  const uint32_t sig = (abs & 0x7fffffu) | 0x800000u;
  const uint32_t shift = 126u - exp;  // 14 .. 24
  const uint32_t m = sig >> shift;
  const uint32_t rem = sig & ((1u << shift) - 1u);
  const uint32_t half = 1u << (shift - 1u);
  const uint32_t up = (rem > half || (rem == half && (m & 1u))) ? 1u : 0u;
  return static_cast<uint16_t>(sign | (m + up));
}

TWINSIM_HD float Fp16ToFloat(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1fu;
  const uint32_t mant = h & 0x3ffu;
  if (exp == 0x1fu) return BitsFloat(sign | 0x7f800000u | (mant << 13));
  if (exp != 0) return BitsFloat(sign | ((exp + 112u) << 23) | (mant << 13));
  // Zero or subnormal: mant * 2^-24, exact in float.
  const float v = static_cast<float>(mant) * 5.9604644775390625e-08f;
  return sign ? -v : v;
}

// Rounds `value` to `dtype` and stores it at element `i` of `out`.
TWINSIM_HD void StoreAs(DType dtype, float value, void* out, uint64_t i) {
  if (dtype == DType::kFp32) {
    static_cast<float*>(out)[i] = value;
  } else if (dtype == DType::kBf16) {
    static_cast<uint16_t*>(out)[i] = FloatToBf16(value);
  } else {
    static_cast<uint16_t*>(out)[i] = FloatToFp16(value);
  }
}

// Element `i` of `data` (stored in `dtype`) widened back to fp32, exactly.
TWINSIM_HD float LoadAsFloat(DType dtype, const void* data, uint64_t i) {
  if (dtype == DType::kFp32) return static_cast<const float*>(data)[i];
  const uint16_t h = static_cast<const uint16_t*>(data)[i];
  return dtype == DType::kBf16 ? Bf16ToFloat(h) : Fp16ToFloat(h);
}

}  // namespace twinsim::kernels

#endif  // TWINSIM_KERNELS_DTYPE_H_
