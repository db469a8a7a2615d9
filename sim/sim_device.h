// SimDevice: one rank's GPU in a SimGrid model of a cluster — a finite memory pool (SimGrid has
// no memory model; a core::MemoryLedger does the accounting, as on every backend) whose
// operations take simulated time on the platform: init kernels at the GPU's throughput, host
// copies over the PCIe route, device copies at HBM bandwidth (Note [Device time model]).
//
// Two modes (Note [Devices without bytes] in core/device.h): data mode holds real bytes and
// fills them with the same FillFunction as the host backend, so its bits equal the host's;
// timing-only mode (holds_bytes = false) keeps the accounting and the time and no bytes, for
// 405B-parameter models on thousands of GPUs.
#ifndef TWINSIM_SIM_SIM_DEVICE_H_
#define TWINSIM_SIM_SIM_DEVICE_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/buffer_table.h"
#include "core/device.h"
#include "core/host_device.h"
#include "core/memory_ledger.h"
#include "core/status.h"
#include "sim/sim_cluster.h"

namespace twinsim::sim {

// Note [Device time model]
// ------------------------
// Every call returns when its effect is complete, in simulated time, on the rank's GPU:
//   Fill          an Exec of `elements` flops on the GPU host, whose speed is the GPU's
//                 init_elements_per_s (sim/platform.h), so N elements take N / throughput.
//                 The Exec is placed on the GPU host explicitly: this_actor::execute would run
//                 on the calling actor's host, the node CPU (build-facts.md).
//   CopyFromHost  `bytes` moved node CPU -> GPU over the platform's route (PCIe slot link and
//   CopyToHost    switch uplink), shared with whatever else uses those links at the time.
//   Copy          2 * bytes / hbm_bandwidth (read and write), a sleep: one rank per GPU, so
//                 nothing else competes for the GPU's memory in this model.
//   WriteKernelOutput  an init kernel of `elements` elements on the GPU host, as Fill: the bits
//                 were computed elsewhere (Note [Modelled init kernels] in core/device.h) but
//                 the modelled GPU ran the kernel, so no PCIe transfer is charged.
//   HostInitWork  an Exec of `elements` flops on the node's CPU host at sim::kCpuFlopsPerS (an
//                 assumed figure, sim/platform.h). The CPU host is one SimGrid host per node, so
//                 the node's ranks doing CPU init at once share its speed (8 ranks: 1/8 each).
//   Allocate, Free, Info, Stats, WouldFit: no time (a caching allocator's bookkeeping).
// Zero-byte operations take no time. Argument errors are found before any time passes; a
// failed call takes none.

struct SimDeviceOptions {
  std::string name;   // empty: "sim:<gpu host name>"
  std::string model;  // what it stands for, e.g. GpuSpec::model
  uint64_t capacity = 0;
  bool holds_bytes = true;
  double hbm_bandwidth_bytes_per_s = 1e12;  // must be > 0
  // A fresh buffer's bytes in data mode (0xFF: NaN in every float type, as on HostDevice).
  std::byte fresh_byte{0xFF};
  // Executes a fill on host memory (kernels::FillOnHost); unset: Fill in data mode returns
  // FailedPrecondition. Timing-only devices never call it.
  core::FillFunction fill;
};

// REQUIRES: every call but Info, Stats and WouldFit comes from a SimGrid actor of the engine
// that runs `cluster` (they wait in simulated time). Not synchronized: SimGrid runs one actor
// at a time, and the device never yields while its state is inconsistent.
class SimDevice final : public core::Device {
 public:
  // `rank` indexes `cluster` (its GPU and CPU hosts) and appears in Info() and OOM reports.
  // REQUIRES: cluster outlives the device; 0 <= rank < cluster->world_size().
  SimDevice(int rank, SimDeviceOptions options, SimCluster* cluster);
  ~SimDevice() override;

  core::DeviceInfo Info() const override;
  StatusOr<core::Allocation> Allocate(uint64_t bytes, std::string_view tag) override;
  bool WouldFit(uint64_t bytes) const override;
  Status Free(const core::Buffer& buffer) override;
  Status CopyFromHost(const core::BufferRegion& dst, std::span<const std::byte> src) override;
  Status CopyToHost(const core::BufferRegion& src, std::span<std::byte> dst) override;
  Status Copy(const core::BufferRegion& dst, const core::BufferRegion& src) override;
  Status Fill(const core::BufferRegion& dst, const core::FillRequest& request) override;
  core::MemoryStats Stats() const override;
  Status WriteKernelOutput(const core::BufferRegion& dst, std::span<const std::byte> src,
                           uint64_t elements) override;
  Status HostInitWork(uint64_t elements) override;

  // For SimComm, which moves bytes between devices and times the move itself: the same checks
  // as the Device calls (handle, bounds; `op` names the caller in messages), no time.
  // CheckRegion validates only; ReadRegion copies the bytes out (empty without bytes);
  // WriteRegion copies them in (REQUIRES data.size() == region.bytes; ignored without bytes).
  Status CheckRegion(const core::BufferRegion& region, std::string_view op) const;
  StatusOr<std::vector<std::byte>> ReadRegion(const core::BufferRegion& region,
                                              std::string_view op) const;
  Status WriteRegion(const core::BufferRegion& region, std::span<const std::byte> data,
                     std::string_view op);

  int rank() const { return rank_; }
  uint64_t device_id() const { return device_id_; }

 private:
  // A buffer's bytes: null when !holds_bytes or bytes == 0.
  using Table = core::BufferTable<std::unique_ptr<std::byte[]>>;
  using Entry = Table::Entry;

  // Logs the live bytes per tag to the trace's memory counter.
  void TraceMemory();
  // Runs `elements` flops on `host` (the GPU's or the node CPU's) and traces the span `name`
  // on the device track with `args`. No time for 0 elements.
  Status Execute(simgrid::s4u::Host* host, uint64_t elements, std::string name,
                 std::vector<TraceArg> args);

  const int rank_;
  const SimDeviceOptions options_;
  SimCluster* const cluster_;
  const std::string name_;
  const uint64_t device_id_;

  core::MemoryLedger ledger_;
  Table buffers_;
};

}  // namespace twinsim::sim

#endif  // TWINSIM_SIM_SIM_DEVICE_H_
