// HostMemory: a node's CPU memory as a budget — total RAM with a pinned (page-locked) share —
// that ranks charge when they keep data on the host (CPU init, offloaded chunks, staging).
//
// DESIGN.md checks host memory too ("Host memory is finite too (pinned and pageable)"): a
// placement policy that offloads everything, or megatron-cpu building full master weights on
// every rank, must run out of host memory the way it would on the real node. This class only
// accounts; whoever holds the bytes (a std::vector, cudaHostAlloc) allocates them itself.
#ifndef TWINSIM_CORE_HOST_MEMORY_H_
#define TWINSIM_CORE_HOST_MEMORY_H_

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "core/memory_ledger.h"
#include "core/status.h"

namespace twinsim::core {

// Pageable memory counts against the total; pinned memory counts against both the pinned
// limit and the total (page-locked memory is still RAM).
enum class HostMemoryKind : uint8_t { kPageable = 0, kPinned = 1 };
std::string_view HostMemoryKindName(HostMemoryKind kind);  // "pageable", "pinned"

struct HostMemoryOptions {
  std::string name = "host";     // e.g. "node0:host"; pinned reports say "<name>/pinned"
  uint64_t total_capacity = 0;   // all host RAM the ranks of this node may use
  uint64_t pinned_capacity = 0;  // how much of it may be pinned; clamped to total_capacity
};

// A handle to reserved host bytes; a value, like Buffer.
struct HostReservation {
  uint64_t id = 0;  // 0: none
  HostMemoryKind kind = HostMemoryKind::kPageable;
  uint64_t bytes = 0;
};

// Either a reservation or the report of why it did not fit (see Note [OOM is a result, not an
// error] in core/device.h).
struct HostAllocation {
  HostReservation reservation;
  std::optional<OomReport> oom;

  bool fits() const { return !oom.has_value(); }
};

// Thread-safe: the ranks of a node share one HostMemory and call it from their own threads.
class HostMemory {
 public:
  explicit HostMemory(const HostMemoryOptions& options);
  HostMemory(const HostMemory&) = delete;
  HostMemory& operator=(const HostMemory&) = delete;

  // Charges `bytes` of `kind` under `tag` for `rank` (-1: no particular rank). OK with a
  // reservation when it fits, OK with `oom` set when it does not (nothing charged; a pinned
  // request reports the pinned pool or the total, whichever is short). InvalidArgument for an
  // empty tag.
  StatusOr<HostAllocation> Reserve(HostMemoryKind kind, uint64_t bytes, std::string_view tag,
                                   int rank = -1);

  // Whether Reserve(kind, bytes, ...) would fit now. Records nothing.
  bool WouldFit(HostMemoryKind kind, uint64_t bytes) const;

  // Returns a reservation. NotFound for one already released or never made here.
  Status Release(const HostReservation& reservation);

  // All host memory (pageable + pinned), and the pinned share alone.
  MemoryStats TotalStats() const;
  MemoryStats PinnedStats() const;

 private:
  struct Entry {
    HostMemoryKind kind;
    uint64_t bytes;
    std::string tag;
  };

  mutable std::mutex mu_;
  MemoryLedger total_;                        // guarded by mu_
  MemoryLedger pinned_;                       // guarded by mu_
  uint64_t next_id_ = 1;                      // guarded by mu_
  std::unordered_map<uint64_t, Entry> live_;  // guarded by mu_
};

}  // namespace twinsim::core

#endif  // TWINSIM_CORE_HOST_MEMORY_H_
