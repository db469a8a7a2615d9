// MemoryLedger: the memory accounting every twinsim backend shares — capacity, live and peak
// bytes per tag ("param", "grad", "optim", "init-temp", ...), and out-of-memory reports.
//
// The host, sim and cuda devices (and HostMemory) all charge their allocations to a ledger, so
// an OOM on a simulated H100 and one on a budgeted real H100 produce the same OomReport, with
// the same figures, and `init-fits` / `no-oom` can compare backends field by field.
// See Note [OOM is a result, not an error] in core/device.h.
#ifndef TWINSIM_CORE_MEMORY_LEDGER_H_
#define TWINSIM_CORE_MEMORY_LEDGER_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace twinsim::core {

// Live and peak bytes of one tag.
struct TagUsage {
  std::string tag;
  uint64_t in_use = 0;  // bytes currently allocated under this tag
  uint64_t peak = 0;    // the most bytes ever live under this tag at once
  uint64_t live_allocations = 0;
  uint64_t total_allocations = 0;  // successful allocations ever made under this tag
};

// What a device (or host memory pool) says when an allocation does not fit. Every backend
// fills it the same way; `in_use` and `in_use_by_tag` are the state just before the failed
// request, which was not charged.
struct OomReport {
  int rank = -1;           // the rank that owns the memory; -1 when shared (host memory)
  std::string device;      // DeviceInfo::name, or the host memory pool's name
  std::string tag;         // the tag of the request that failed
  uint64_t requested = 0;  // bytes asked for
  uint64_t in_use = 0;     // bytes live when it was asked
  uint64_t capacity = 0;
  // Live bytes per tag when it was asked, sorted by tag; only tags with bytes live.
  std::vector<std::pair<std::string, uint64_t>> in_use_by_tag;

  // Bytes that were still free: capacity - in_use.
  uint64_t available() const { return capacity - in_use; }
  // One line a person can read, e.g. "rank 3 (host:3): out of memory allocating 2.00 GiB
  // (2147483648 B) for 'param': 7.50 GiB of 8.00 GiB in use (optim 1.50 GiB, param 6.00 GiB)".
  std::string ToString() const;

  friend bool operator==(const OomReport&, const OomReport&) = default;
};

// A snapshot of a ledger.
struct MemoryStats {
  uint64_t capacity = 0;
  uint64_t in_use = 0;
  uint64_t peak = 0;
  uint64_t live_allocations = 0;
  std::vector<TagUsage> by_tag;  // every tag ever charged, sorted by tag
  // Live bytes per tag at the moment `peak` was first reached, sorted by tag; only tags with
  // bytes live. Answers "what filled memory at its fullest?".
  std::vector<std::pair<std::string, uint64_t>> at_peak;
  uint64_t oom_count = 0;             // every refused request
  std::vector<OomReport> oom_events;  // the first kMaxOomEvents of them, in order

  static constexpr size_t kMaxOomEvents = 64;

  // The usage of `tag`, or a zero TagUsage with that name if it was never charged.
  TagUsage Tag(std::string_view tag) const;
};

// Capacity accounting with per-tag live/peak figures and an OOM log. Holds no memory itself:
// the owner allocates real bytes (or none, for a timing-only device) after a successful charge.
//
// Thread safety: not synchronized; the owner serializes calls (HostDevice and HostMemory hold
// a mutex around them; a SimGrid device runs in one OS thread).
class MemoryLedger {
 public:
  // `rank` and `device` are copied into every OomReport. Any capacity is valid, 0 included
  // (then every request of one byte or more is refused).
  MemoryLedger(int rank, std::string device, uint64_t capacity);

  // Charges `bytes` to `tag` if in_use + bytes <= capacity and returns nullopt. Otherwise
  // charges nothing, records the event (oom_count, oom_events) and returns the report.
  // A zero-byte request always fits. REQUIRES: !tag.empty() (callers validate).
  std::optional<OomReport> TryCharge(uint64_t bytes, std::string_view tag) {
    return TryChargeAs(rank_, bytes, tag);
  }
  // As TryCharge, with `rank` as the requester in the report (for memory shared by ranks).
  std::optional<OomReport> TryChargeAs(int rank, uint64_t bytes, std::string_view tag);

  // Whether TryCharge(bytes, ...) would succeed now. Records nothing: a "try" for placement
  // policies that probe before they act.
  bool WouldFit(uint64_t bytes) const { return bytes <= capacity_ - in_use_; }

  // Returns `bytes` charged earlier to `tag`. REQUIRES: a matching TryCharge succeeded and was
  // not released yet (the owner tracks its buffers; the ledger checks only that the tag's
  // live bytes do not go negative, and clamps at zero if they would).
  void Release(uint64_t bytes, std::string_view tag);

  uint64_t capacity() const { return capacity_; }
  uint64_t in_use() const { return in_use_; }
  uint64_t peak() const { return peak_; }
  uint64_t available() const { return capacity_ - in_use_; }

  MemoryStats Stats() const;

 private:
  std::vector<std::pair<std::string, uint64_t>> LiveByTag() const;

  int rank_;
  std::string device_;
  uint64_t capacity_;
  uint64_t in_use_ = 0;
  uint64_t peak_ = 0;
  uint64_t live_allocations_ = 0;
  std::map<std::string, TagUsage, std::less<>> tags_;
  std::vector<std::pair<std::string, uint64_t>> at_peak_;
  uint64_t oom_count_ = 0;
  std::vector<OomReport> oom_events_;
};

// "0 B", "512 B", "1.50 KiB", "2.00 GiB": binary units, two decimals. For messages only.
std::string FormatByteSize(uint64_t bytes);

}  // namespace twinsim::core

#endif  // TWINSIM_CORE_MEMORY_LEDGER_H_
