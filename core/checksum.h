// Checksum64: a fast, non-cryptographic 64-bit checksum of a byte range, for checking that
// bytes arrived intact after a move (properties/placement_run.h). Word-at-a-time multiply-xor
// mixing (in the style of FNV-1a, over 8-byte words), with the length folded in, so that any
// single flipped bit and any truncation change the result. Stable: the value of a given byte
// string never changes between releases or platforms (little-endian words).
#ifndef TWINSIM_CORE_CHECKSUM_H_
#define TWINSIM_CORE_CHECKSUM_H_

#include <cstddef>
#include <cstdint>
#include <span>

namespace twinsim::core {

// Pure, thread-safe, O(bytes).
uint64_t Checksum64(std::span<const std::byte> bytes);

}  // namespace twinsim::core

#endif  // TWINSIM_CORE_CHECKSUM_H_
