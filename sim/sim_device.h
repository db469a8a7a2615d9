// SimDevice: one rank's GPU in a SimGrid model of a cluster — a finite memory pool (SimGrid has
// no memory model; a core::MemoryLedger does the accounting, as on every backend) whose
// operations take simulated time on the platform: init kernels at the GPU's throughput, host
// copies over the PCIe route, device copies at HBM bandwidth (Note [Device time model]).
//
// Two modes (Note [Devices without bytes] in core/device.h): data mode holds real bytes and
// fills them with the same FillFunction as the host backend, so its bits equal the host's;
// timing-only mode (holds_bytes = false) keeps the accounting and the time and no bytes, for
// 405B-parameter models on thousands of GPUs, plus a few elements of each counter-stream Fill
// so that parity can still be checked (Note [Sampled fills]).
#ifndef TWINSIM_SIM_SIM_DEVICE_H_
#define TWINSIM_SIM_SIM_DEVICE_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <utility>
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
//   StorageRead   a transfer from the node's storage host to its CPU over the node's storage
//                 link, shared by the node's ranks reading at once.
//   HostInitWork  an Exec of `elements` flops on the node's CPU host at sim::kCpuFlopsPerS (an
//                 assumed figure, sim/platform.h). The CPU host is one SimGrid host per node, so
//                 the node's ranks doing CPU init at once share its speed (8 ranks: 1/8 each).
//   Compute       a training-step op: max(flops / (kMatmulEfficiency * matmul_flops_per_s),
//                 hbm_bytes / hbm_bandwidth) seconds of the GPU host, as an Exec (so it shares
//                 the GPU with init kernels); no time for flops when matmul_flops_per_s is 0.
//   Allocate, Free, Info, Stats, WouldFit: no time (a caching allocator's bookkeeping).
// Zero-byte operations take no time. Argument errors are found before any time passes; a
// failed call takes none.

// Note [Sampled fills]
// --------------------
// A timing-only device holds no bytes, yet parity should still be checked there (issue 4).
// twinsim's counter streams make that cheap: an element's value is a pure function of (key,
// draw, logical element index) (Note [Element-wise streams] in kernels/fill.h), so for each
// Fill the device computes a handful of the elements it would have written, with the same
// FillFunction data mode uses, on one-element sub-requests: the first, the last and up to
// kSamplesPerFill - 2 spread evenly between. It keeps them per buffer by byte offset, and the
// harness reads them with SampledElements and compares them with the single-device value
// (CheckParity in properties/init_check.h).
//   Cost     at most kSamplesPerFill elements computed and kept per Fill, whatever its size, and
//            dropped when the buffer is freed: memory is O(samples). No simulated time: the
//            samples are the harness's work, not the modelled GPU's.
//   Staleness  bytes written any other way (CopyFromHost, WriteKernelOutput, a message or
//            collective result received through SimComm) are unknown here, so samples inside
//            a region so written are dropped; Copy carries the source region's samples along.
//            What is kept is always what the buffer would hold in data mode.
//   Scope    only Fill is sampled: bits of modelled framework kernels (WriteKernelOutput with
//            an empty `src`) were never computed. Without a FillFunction nothing is sampled,
//            and data mode samples nothing (its bytes can be read).
inline constexpr int kSamplesPerFill = 8;

// The fraction of the dense tensor-core peak a training step's matmuls sustain: an assumption,
// within the 40-55% model-FLOPs utilization that Megatron-LM and PaLM report for large models.
inline constexpr double kMatmulEfficiency = 0.5;

// The seconds Compute charges (Note [Device time model]): max(flops / (kMatmulEfficiency *
// matmul_flops_per_s), hbm_bytes / hbm_bandwidth_bytes_per_s), no matmul time when
// matmul_flops_per_s is 0. REQUIRES hbm_bandwidth_bytes_per_s > 0. Pure.
double ComputeSeconds(double flops, uint64_t hbm_bytes, double matmul_flops_per_s,
                      double hbm_bandwidth_bytes_per_s);

struct SimDeviceOptions {
  std::string name;   // empty: "sim:<gpu host name>"
  std::string model;  // what it stands for, e.g. GpuSpec::model
  uint64_t capacity = 0;
  bool holds_bytes = true;
  double hbm_bandwidth_bytes_per_s = 1e12;  // must be > 0
  double matmul_flops_per_s = 0;            // GpuSpec::matmul_flops_per_s; 0: unknown
  // A fresh buffer's bytes in data mode (0xFF: NaN in every float type, as on HostDevice).
  std::byte fresh_byte{0xFF};
  // Executes a fill on host memory (kernels::FillOnHost); unset: Fill in data mode returns
  // FailedPrecondition. Timing-only devices call it only for a few elements of each Fill (Note
  // [Sampled fills]), and sample nothing when it is unset.
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
  Status StorageRead(uint64_t bytes) override;
  Status Compute(double flops, uint64_t hbm_bytes, std::string_view what) override;

  // For SimComm, which moves bytes between devices and times the move itself: the same checks
  // as the Device calls (handle, bounds; `op` names the caller in messages), no time.
  // CheckRegion validates only; ReadRegion copies the bytes out (empty without bytes);
  // WriteRegion copies them in (REQUIRES data.size() == region.bytes; ignored without bytes).
  Status CheckRegion(const core::BufferRegion& region, std::string_view op) const;
  StatusOr<std::vector<std::byte>> ReadRegion(const core::BufferRegion& region,
                                              std::string_view op) const;
  Status WriteRegion(const core::BufferRegion& region, std::span<const std::byte> data,
                     std::string_view op);

  // Timing-only: the bytes of `region` were overwritten by data this device never saw (a
  // message received without payload), so its samples there are dropped (Note [Sampled
  // fills]). REQUIRES: CheckRegion(region, ...) succeeded. Nothing in data mode; no time.
  void ForgetSamples(const core::BufferRegion& region);

  // Timing-only: the elements sampled from Fill calls into `buffer` that nothing has
  // overwritten since (Note [Sampled fills]), as (byte offset within the buffer, the element's
  // bytes in its dtype), by ascending offset; at most kSamplesPerFill per Fill. Empty in data
  // mode, without a FillFunction, and for a handle this device does not hold. Read-only: no
  // simulated time, no trace; callable outside an actor.
  std::vector<std::pair<uint64_t, std::vector<std::byte>>> SampledElements(
      const core::Buffer& buffer) const;
  // The same samples as SampledElements, flat and as elements of `element_size` bytes: for
  // each sample that is one whole such element (offset a multiple of element_size, size
  // element_size), its element index offset / element_size appended to `elements` and its
  // bytes to `bytes`, by ascending offset. Appends nothing where SampledElements is empty.
  // Read-only like SampledElements; no allocation per sample (16,384 ranks read theirs).
  void AppendSampledElements(const core::Buffer& buffer, uint64_t element_size,
                             std::vector<uint64_t>& elements,
                             std::vector<std::byte>& bytes) const;

  int rank() const { return rank_; }
  uint64_t device_id() const { return device_id_; }

 private:
  // One element sampled from a Fill (Note [Sampled fills]): `size` bytes at byte `offset` of
  // its buffer. 16 bytes with the value inline: 16,384 ranks' samples stay small.
  struct Sample {
    uint64_t offset = 0;
    uint32_t size = 0;
    std::array<std::byte, 4> bytes{};  // the widest DType is 4 bytes
  };
  using Samples = std::vector<Sample>;  // one buffer's, sorted by offset

  // A buffer's contents: its bytes (null when !holds_bytes or bytes == 0), or, without bytes,
  // its sampled fill elements, kept in the buffer's own entry (no second table).
  struct Contents {
    std::unique_ptr<std::byte[]> bytes;
    Samples samples;
  };
  using Table = core::BufferTable<Contents>;
  using Entry = Table::Entry;

  // Computes and records in `samples` up to kSamplesPerFill elements of `request`, written at
  // `dst` (already checked), replacing those there. A failing FillFunction fails the Fill.
  Status SampleFill(const core::BufferRegion& dst, const core::FillRequest& request,
                    Samples& samples);
  // Drops the samples overlapping bytes [offset, offset + bytes) of their buffer.
  static void DropSamples(Samples& samples, uint64_t offset, uint64_t bytes);
  // Logs the live bytes per tag to the trace's memory counter.
  void TraceMemory();
  // Runs `elements` flops on `host` (the GPU's or the node CPU's) and traces the span that
  // `describe()` names, a (name, args) pair, on the device track. `describe` is called only
  // when the trace is enabled or SimGrid fails (Note [Cost of a simulated op] in
  // sim_device.cc). No time for 0 elements.
  template <typename Describe>
  Status Execute(simgrid::s4u::Host* host, uint64_t elements, const Describe& describe);

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
