#include "core/host_memory.h"

#include <fmt/format.h>

#include <algorithm>

namespace twinsim::core {

std::string_view HostMemoryKindName(HostMemoryKind kind) {
  switch (kind) {
    case HostMemoryKind::kPageable:
      return "pageable";
    case HostMemoryKind::kPinned:
      return "pinned";
  }
  return "unknown";
}

HostMemory::HostMemory(const HostMemoryOptions& options)
    : total_(-1, options.name, options.total_capacity),
      pinned_(-1, options.name + "/pinned",
              std::min(options.pinned_capacity, options.total_capacity)) {}

StatusOr<HostAllocation> HostMemory::Reserve(HostMemoryKind kind, uint64_t bytes,
                                             std::string_view tag, int rank) {
  if (tag.empty()) return Status::InvalidArgument("host memory: empty tag");
  std::lock_guard<std::mutex> lock(mu_);
  HostAllocation result;
  if (kind == HostMemoryKind::kPinned) {
    // Check both pools before charging either, so a refusal charges nothing.
    if (!pinned_.WouldFit(bytes)) {
      result.oom = pinned_.TryChargeAs(rank, bytes, tag);
      return result;
    }
    if (!total_.WouldFit(bytes)) {
      result.oom = total_.TryChargeAs(rank, bytes, tag);
      return result;
    }
    (void)pinned_.TryChargeAs(rank, bytes, tag);
  }
  if (std::optional<OomReport> oom = total_.TryChargeAs(rank, bytes, tag)) {
    result.oom = std::move(oom);
    return result;
  }
  const uint64_t id = next_id_++;
  live_.emplace(id, Entry{kind, bytes, std::string(tag)});
  result.reservation = HostReservation{id, kind, bytes};
  return result;
}

bool HostMemory::WouldFit(HostMemoryKind kind, uint64_t bytes) const {
  std::lock_guard<std::mutex> lock(mu_);
  if (kind == HostMemoryKind::kPinned && !pinned_.WouldFit(bytes)) return false;
  return total_.WouldFit(bytes);
}

Status HostMemory::Release(const HostReservation& reservation) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = live_.find(reservation.id);
  if (it == live_.end()) {
    return Status::NotFound(
        fmt::format("host memory: reservation #{} is not live (released twice?)", reservation.id));
  }
  const Entry& entry = it->second;
  total_.Release(entry.bytes, entry.tag);
  if (entry.kind == HostMemoryKind::kPinned) pinned_.Release(entry.bytes, entry.tag);
  live_.erase(it);
  return Status::Ok();
}

MemoryStats HostMemory::TotalStats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return total_.Stats();
}

MemoryStats HostMemory::PinnedStats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return pinned_.Stats();
}

}  // namespace twinsim::core
