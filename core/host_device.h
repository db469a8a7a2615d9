// HostDevice: the reference Device — plain host memory under a capacity budget, real bytes,
// no time. Properties run on it by default (thousands of cases a minute).
//
// It enforces its capacity through a MemoryLedger exactly as the sim and cuda devices will, so
// an OOM found here reads the same as one found there. With holds_bytes = false it accounts
// without storing data, which lets the host backend check init-fits at sizes no host could
// hold (Note [Devices without bytes] in core/device.h).
#ifndef TWINSIM_CORE_HOST_DEVICE_H_
#define TWINSIM_CORE_HOST_DEVICE_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "core/buffer_table.h"
#include "core/device.h"
#include "core/fill_request.h"
#include "core/memory_ledger.h"
#include "core/status.h"

namespace twinsim::core {

// Executes a fill on host memory: writes request.bytes() bytes to `out`. kernels::FillOnHost
// (kernels/device_fill.h) is the implementation; core does not link it.
// Must be safe to call from several threads at once on disjoint outputs.
using FillFunction = std::function<Status(const FillRequest& request, std::span<std::byte> out)>;

struct HostDeviceOptions {
  std::string name;                       // empty: "host:<rank>" ("host" when rank < 0)
  uint64_t capacity = uint64_t{1} << 30;  // the budget, in bytes (1 GiB by default)
  bool holds_bytes = true;                // false: accounting only, no data
  // What a fresh buffer's bytes are set to. 0xFF makes every fp32, bf16 and fp16 element a
  // NaN, so reading a parameter that was never filled shows up in any comparison, and the
  // bytes are the same on every run.
  std::byte fresh_byte{0xFF};
  FillFunction fill;  // unset: Fill returns FailedPrecondition
};

// Thread-safe (one mutex; data copies happen under it, which is fine for one rank's device).
class HostDevice final : public Device {
 public:
  // `rank` is recorded in Info() and in OOM reports (-1: no rank).
  HostDevice(int rank, HostDeviceOptions options);
  ~HostDevice() override;

  DeviceInfo Info() const override;
  // Beyond the Device contract: when the modelled device has room but the host cannot back
  // the bytes (new fails), returns ResourceExhausted naming the host, with nothing charged.
  StatusOr<Allocation> Allocate(uint64_t bytes, std::string_view tag) override;
  bool WouldFit(uint64_t bytes) const override;
  Status Free(const Buffer& buffer) override;
  Status CopyFromHost(const BufferRegion& dst, std::span<const std::byte> src) override;
  Status CopyToHost(const BufferRegion& src, std::span<std::byte> dst) override;
  Status Copy(const BufferRegion& dst, const BufferRegion& src) override;
  Status Fill(const BufferRegion& dst, const FillRequest& request) override;
  MemoryStats Stats() const override;

  // Beyond the Device contract: frees `buffer` (as Free) and hands its bytes to the caller
  // instead of copying them out first — how the host-backend harness reads a whole model back
  // without a second copy of it. Empty bytes when the device holds none. Fails as Free does.
  StatusOr<std::vector<std::byte>> TakeBytes(const Buffer& buffer);

 private:
  // A buffer's bytes: empty when !holds_bytes or bytes == 0.
  using Table = BufferTable<std::vector<std::byte>>;
  using Entry = Table::Entry;

  const int rank_;
  const HostDeviceOptions options_;
  const std::string name_;
  const uint64_t device_id_;

  mutable std::mutex mu_;
  MemoryLedger ledger_;                          // guarded by mu_
  Table buffers_;                                // guarded by mu_
};

}  // namespace twinsim::core

#endif  // TWINSIM_CORE_HOST_DEVICE_H_
