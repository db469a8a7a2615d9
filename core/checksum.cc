#include "core/checksum.h"

#include <cstring>

namespace twinsim::core {
namespace {

constexpr uint64_t kPrime = 0x100000001b3ULL;        // FNV-1a's 64-bit prime
constexpr uint64_t kOffset = 0xcbf29ce484222325ULL;  // FNV-1a's offset basis

// A bijective finalizer (splitmix64's), so that nearby inputs spread over all 64 bits.
uint64_t Mix(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

}  // namespace

uint64_t Checksum64(std::span<const std::byte> bytes) {
  uint64_t h = kOffset ^ Mix(bytes.size());
  size_t i = 0;
  for (; i + 8 <= bytes.size(); i += 8) {
    uint64_t word;
    std::memcpy(&word, bytes.data() + i, 8);  // little-endian hosts only (x86-64, aarch64)
    h = (h ^ Mix(word)) * kPrime;
  }
  uint64_t tail = 0;
  if (i < bytes.size()) std::memcpy(&tail, bytes.data() + i, bytes.size() - i);
  h = (h ^ Mix(tail ^ (uint64_t{0xff} << 56))) * kPrime;
  return Mix(h);
}

}  // namespace twinsim::core
