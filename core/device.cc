#include "core/device.h"

#include <fmt/format.h>

#include <atomic>
#include <cmath>

namespace twinsim::core {

Device::~Device() = default;

Status Device::WriteKernelOutput(const BufferRegion& dst, std::span<const std::byte> src,
                                 uint64_t elements) {
  (void)elements;
  if (src.empty() && dst.bytes > 0 && !Info().holds_bytes) {
    // No bits to write: check the handle with an empty copy at the region's start.
    if (!dst.InBounds()) {
      return Status::InvalidArgument(
          fmt::format("{}: WriteKernelOutput of bytes [{}, {}+{}) outside buffer #{} of {} B",
                      Info().name, dst.offset, dst.offset, dst.bytes, dst.buffer.id,
                      dst.buffer.bytes));
    }
    return CopyFromHost(BufferRegion::Slice(dst.buffer, dst.offset, 0), {});
  }
  return CopyFromHost(dst, src);
}

Status Device::HostInitWork(uint64_t elements) {
  (void)elements;
  return Status::Ok();
}

Status Device::StorageRead(uint64_t bytes) {
  (void)bytes;
  return Status::Ok();
}

Status Device::Compute(double flops, uint64_t hbm_bytes, std::string_view what) {
  (void)hbm_bytes;
  if (!std::isfinite(flops) || flops < 0) {
    return Status::InvalidArgument(
        fmt::format("{}: Compute '{}' of {} flops", Info().name, what, flops));
  }
  return Status::Ok();
}

std::string_view DeviceKindName(DeviceKind kind) {
  switch (kind) {
    case DeviceKind::kHost:
      return "host";
    case DeviceKind::kSim:
      return "sim";
    case DeviceKind::kCuda:
      return "cuda";
  }
  return "unknown";
}

uint64_t NewDeviceId() {
  static std::atomic<uint64_t> next{1};
  return next.fetch_add(1, std::memory_order_relaxed);
}

StatusOr<Buffer> AllocateOrError(Device& device, uint64_t bytes, std::string_view tag) {
  StatusOr<Allocation> allocation = device.Allocate(bytes, tag);
  if (!allocation.ok()) return allocation.status();
  if (!allocation->fits()) return Status::ResourceExhausted(allocation->oom->ToString());
  return allocation->buffer;
}

}  // namespace twinsim::core
