// FaultyDevice: a Device wrapper that injects faults — a failed or out-of-memory k-th
// allocation, a flipped bit in what a copy returns, a corrupted byte on the device — so tests
// can show that policies and checks surface them cleanly (LevelDB's fault-injection Env).
//
// Test-only (core/testing is testonly). Wraps any backend's Device. The namespace is
// core::faults, not core::testing, so that `testing::` in twinsim tests still means GoogleTest.
#ifndef TWINSIM_CORE_TESTING_FAULTY_DEVICE_H_
#define TWINSIM_CORE_TESTING_FAULTY_DEVICE_H_

#include <cstddef>
#include <cstdint>
#include <mutex>

#include "core/device.h"
#include "core/status.h"

namespace twinsim::core::faults {

struct DeviceFaults {
  enum class AllocationFailure : uint8_t {
    kError,  // Allocate returns Internal("injected fault ...")
    kOom,    // Allocate returns OK with an OomReport, as if the device were full
  };
  // 1-based index of the Allocate call that fails; 0: none.
  uint64_t fail_allocation = 0;
  AllocationFailure allocation_failure = AllocationFailure::kError;
  // 1-based index of the CopyToHost call whose returned bytes get `corrupt_mask` XORed into
  // byte `corrupt_offset` (of the returned span; ignored when the span is shorter); 0: none.
  // The device's own bytes are left intact: this models a bad transfer.
  uint64_t corrupt_copy_to_host = 0;
  uint64_t corrupt_offset = 0;
  std::byte corrupt_mask{0x01};
};

// Thread-safe when the target is.
class FaultyDevice : public DeviceWrapper {
 public:
  // REQUIRES: target non-null and outlives this object.
  FaultyDevice(Device* target, DeviceFaults faults) : DeviceWrapper(target), faults_(faults) {}

  StatusOr<Allocation> Allocate(uint64_t bytes, std::string_view tag) override;
  Status CopyToHost(const BufferRegion& src, std::span<std::byte> dst) override;

  // Flips the bits of `mask` in byte `offset` of `buffer`, on the device, now (read, XOR,
  // write through the target): a bit flip in memory. Fails as the target's copies fail
  // (e.g. FailedPrecondition on a device without bytes, InvalidArgument out of bounds).
  Status CorruptByte(const Buffer& buffer, uint64_t offset, std::byte mask = std::byte{0x01});

  // How many faults were injected so far.
  uint64_t injected() const;

 private:
  const DeviceFaults faults_;
  mutable std::mutex mu_;
  uint64_t allocations_ = 0;     // guarded by mu_
  uint64_t copies_to_host_ = 0;  // guarded by mu_
  uint64_t injected_ = 0;        // guarded by mu_
};

}  // namespace twinsim::core::faults

#endif  // TWINSIM_CORE_TESTING_FAULTY_DEVICE_H_
