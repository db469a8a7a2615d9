#include "core/device.h"

#include <atomic>

namespace twinsim::core {

Device::~Device() = default;

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
