#include "core/testing/faulty_device.h"

#include <fmt/format.h>

namespace twinsim::core::faults {

StatusOr<Allocation> FaultyDevice::Allocate(uint64_t bytes, std::string_view tag) {
  bool fail = false;
  uint64_t index = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    index = ++allocations_;
    fail = index == faults_.fail_allocation;
    if (fail) ++injected_;
  }
  if (!fail) return DeviceWrapper::Allocate(bytes, tag);
  const DeviceInfo info = Info();
  if (faults_.allocation_failure == DeviceFaults::AllocationFailure::kError) {
    return Status::Internal(fmt::format("{}: injected fault: allocation #{} ({} B for '{}')",
                                        info.name, index, bytes, tag));
  }
  // An OOM that reads exactly like the target's own, as if the device were full.
  const MemoryStats stats = Stats();
  OomReport report;
  report.rank = info.rank;
  report.device = info.name;
  report.tag = std::string(tag);
  report.requested = bytes;
  report.in_use = stats.in_use;
  report.capacity = stats.capacity;
  for (const TagUsage& usage : stats.by_tag) {
    if (usage.in_use > 0) report.in_use_by_tag.emplace_back(usage.tag, usage.in_use);
  }
  Allocation allocation;
  allocation.oom = std::move(report);
  return allocation;
}

Status FaultyDevice::CopyToHost(const BufferRegion& src, std::span<std::byte> dst) {
  TWINSIM_RETURN_IF_ERROR(DeviceWrapper::CopyToHost(src, dst));
  std::lock_guard<std::mutex> lock(mu_);
  if (++copies_to_host_ == faults_.corrupt_copy_to_host && faults_.corrupt_offset < dst.size()) {
    dst[faults_.corrupt_offset] ^= faults_.corrupt_mask;
    ++injected_;
  }
  return Status::Ok();
}

Status FaultyDevice::CorruptByte(const Buffer& buffer, uint64_t offset, std::byte mask) {
  std::byte value{0};
  const BufferRegion region = BufferRegion::Slice(buffer, offset, 1);
  // The target's CopyToHost, not ours: a deliberate corruption must not be corrupted again.
  TWINSIM_RETURN_IF_ERROR(target()->CopyToHost(region, std::span<std::byte>(&value, 1)));
  value ^= mask;
  TWINSIM_RETURN_IF_ERROR(target()->CopyFromHost(region, std::span<const std::byte>(&value, 1)));
  std::lock_guard<std::mutex> lock(mu_);
  ++injected_;
  return Status::Ok();
}

uint64_t FaultyDevice::injected() const {
  std::lock_guard<std::mutex> lock(mu_);
  return injected_;
}

}  // namespace twinsim::core::faults
