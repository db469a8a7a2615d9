// What an init run will hold in real bytes, known before it allocates anything: the memory
// guard (core/memory_guard.h) compares it with what the machine can give.
#ifndef TWINSIM_PROPERTIES_MEMORY_NEED_H_
#define TWINSIM_PROPERTIES_MEMORY_NEED_H_

#include <cstdint>

#include "core/parallel_layout.h"

namespace twinsim::properties {

// The bytes of every rank's owned shards (padded, in their dtypes) summed over the world: what
// a host or data-mode sim run holds at the end of init, before any policy's extra (a full
// master weight, a creation run) and before a second run for the determinism check. A lower
// bound, so a refusal on it is never wrong. Ranks that differ only in dp own the same shards,
// so the sum is taken over one DP replica and multiplied. O(world / dp * parameters).
uint64_t InitHeldBytesLowerBound(const core::ParallelLayout& layout);

}  // namespace twinsim::properties

#endif  // TWINSIM_PROPERTIES_MEMORY_NEED_H_
