// Philox4x32-10: the counter-based generator of Salmon et al. (SC'11), as in Random123,
// cuRAND and PyTorch's CUDA generator.
//
// Philox is a pure function: the same (counter, key) gives the same four 32-bit words on any
// CPU or GPU. twinsim builds all of its random streams on it (see kernels/fill.h). This header
// compiles under g++ and nvcc alike.
#ifndef TWINSIM_KERNELS_PHILOX_H_
#define TWINSIM_KERNELS_PHILOX_H_

#include <cstdint>

#include "kernels/hd.h"

namespace twinsim::kernels {

struct PhiloxCounter {
  uint32_t w[4];
};

struct PhiloxKey {
  uint32_t w[2];
};

// The round multipliers and Weyl key increments of Philox4x32 (Random123 philox.h).
inline constexpr uint32_t kPhiloxM0 = 0xD2511F53u;
inline constexpr uint32_t kPhiloxM1 = 0xCD9E8D57u;
inline constexpr uint32_t kPhiloxW0 = 0x9E3779B9u;
inline constexpr uint32_t kPhiloxW1 = 0xBB67AE85u;
inline constexpr int kPhiloxRounds = 10;

// One Philox round on the counter words (c0..c3) under round key (k0, k1).
TWINSIM_HD void PhiloxRound(uint32_t& c0, uint32_t& c1, uint32_t& c2, uint32_t& c3, uint32_t k0,
                            uint32_t k1) {
  const uint64_t p0 = static_cast<uint64_t>(kPhiloxM0) * c0;
  const uint64_t p1 = static_cast<uint64_t>(kPhiloxM1) * c2;
  const uint32_t hi0 = static_cast<uint32_t>(p0 >> 32), lo0 = static_cast<uint32_t>(p0);
  const uint32_t hi1 = static_cast<uint32_t>(p1 >> 32), lo1 = static_cast<uint32_t>(p1);
  c0 = hi1 ^ c1 ^ k0;
  c1 = lo1;
  c2 = hi0 ^ c3 ^ k1;
  c3 = lo0;
}

// Philox4x32-10 on (counter, key). Pure; thread-safe; no failure modes.
TWINSIM_HD PhiloxCounter Philox4x32(PhiloxCounter ctr, PhiloxKey key) {
  uint32_t c0 = ctr.w[0], c1 = ctr.w[1], c2 = ctr.w[2], c3 = ctr.w[3];
  uint32_t k0 = key.w[0], k1 = key.w[1];
#if defined(__CUDACC__)
#pragma unroll
#endif
  for (int r = 0; r < kPhiloxRounds; ++r) {
    if (r > 0) {
      k0 += kPhiloxW0;
      k1 += kPhiloxW1;
    }
    PhiloxRound(c0, c1, c2, c3, k0, k1);
  }
  return PhiloxCounter{{c0, c1, c2, c3}};
}

}  // namespace twinsim::kernels

#endif  // TWINSIM_KERNELS_PHILOX_H_
