// CudaDevice: one rank's GPU on the cuda backend — real cudaMalloc under a per-rank byte budget
// (so one large GPU can stand in for a smaller one, or for several ranks' GPUs), the init
// kernels of kernels/fill_cuda, pinned host memory under its own limit, and CUDA events that
// time every copy and kernel by transfer class (h2d, d2h, d2d, init).
//
// The third backend of core::Device (DESIGN.md, "The three backends"); its figures go through a
// core::MemoryLedger like the host and sim devices', so an OOM reads the same everywhere.
// Construction fails with Unavailable on a machine without a usable GPU; nothing here aborts.
#ifndef TWINSIM_GPU_CUDA_DEVICE_H_
#define TWINSIM_GPU_CUDA_DEVICE_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "core/buffer_table.h"
#include "core/device.h"
#include "core/memory_ledger.h"
#include "core/status.h"
#include "gpu/transfer.h"

namespace twinsim::gpu {

// Number of usable CUDA devices; 0 without a driver or device (then CudaUnavailableReason()
// says why). Never fails: asking for the GPU count says 0 rather than failing (c10).
int CudaDeviceCount();
std::string CudaUnavailableReason();

// Note [Timing on a shared GPU]
// -----------------------------
// Every copy and kernel is bracketed by CUDA events on the stream it runs on and its device
// time recorded as a Transfer (gpu/transfer.h). Host-side work around it (the memcpy into the
// pinned staging buffer, argument checks, bookkeeping) is not part of the figure, which is what
// the sim models: a PCIe transfer or a kernel on the GPU. Several ranks sharing one GPU
// (LocalComm) would otherwise overlap and each see the others' work in its own times; devices
// given the same `gpu_lock` run their timed work one at a time, so each figure is the
// operation alone on the GPU, as the sim's replay of the same list predicts it
// (harness/sim_replay.h). The price is no overlap between ranks on one GPU, which init never needs.
//
// Host copies go through a pinned staging buffer of `staging_bytes` (chunked when larger), so
// H2D and D2H run at pinned PCIe speed; the pageable figure is `twinsim calibrate`'s to report.
// Init kernels run on the legacy default stream (kernels::FillRangeCuda), one launch per row of
// a 2-D block request: a column-split shard of R rows costs R launches.

struct CudaDeviceOptions {
  std::string name;       // empty: "cuda:<ordinal>" (rank < 0) or "cuda:<ordinal>/rank<rank>"
  int ordinal = 0;        // which GPU (cudaSetDevice)
  uint64_t capacity = 0;  // the budget in bytes; 0: the GPU's free memory at construction
  // Pinned host memory this device may hold (its staging buffer included).
  uint64_t pinned_capacity = uint64_t{1} << 30;
  uint64_t staging_bytes = uint64_t{64} << 20;  // > 0; at most pinned_capacity
  std::byte fresh_byte{0xFF};  // a new buffer's bytes, as HostDevice (NaN in every float type)
  // Shared by the devices of ranks on one GPU; null: none (Note [Timing on a shared GPU]).
  std::mutex* gpu_lock = nullptr;
  bool record_transfers = true;  // keep each Transfer (totals are always kept)
};

// Pinned (page-locked) host memory from AllocatePinned; a value like core::Buffer.
struct PinnedAllocation {
  void* ptr = nullptr;  // null when !fits() or bytes == 0
  uint64_t bytes = 0;
  std::optional<core::OomReport> oom;  // set when the pinned limit was exceeded

  bool fits() const { return !oom.has_value(); }
};

// Thread-safe (one mutex; each call holds it until its effect is complete).
class CudaDevice final : public core::Device {
 public:
  // Binds to GPU `options.ordinal` for rank `rank` (-1: none), creates its stream, events and
  // staging buffer. Unavailable without a usable GPU (saying why), InvalidArgument for an
  // ordinal out of range or a staging buffer larger than the pinned limit, Internal on another
  // CUDA error.
  static StatusOr<std::unique_ptr<CudaDevice>> Create(int rank, CudaDeviceOptions options);
  ~CudaDevice() override;  // frees every live buffer and pinned allocation

  core::DeviceInfo Info() const override;
  // OOM (a result) when the budget is exceeded or cudaMalloc reports
  // cudaErrorMemoryAllocation; Internal on another CUDA error.
  StatusOr<core::Allocation> Allocate(uint64_t bytes, std::string_view tag) override;
  bool WouldFit(uint64_t bytes) const override;
  Status Free(const core::Buffer& buffer) override;
  Status CopyFromHost(const core::BufferRegion& dst, std::span<const std::byte> src) override;
  Status CopyToHost(const core::BufferRegion& src, std::span<std::byte> dst) override;
  Status Copy(const core::BufferRegion& dst, const core::BufferRegion& src) override;
  Status Fill(const core::BufferRegion& dst, const core::FillRequest& request) override;
  core::MemoryStats Stats() const override;

  // Pinned host memory (cudaHostAlloc) charged to this device's pinned limit under `tag`:
  // OK with oom set when it does not fit (nothing allocated). InvalidArgument for an empty tag.
  StatusOr<PinnedAllocation> AllocatePinned(uint64_t bytes, std::string_view tag);
  // NotFound for a pointer this device did not hand out (or already freed).
  Status FreePinned(const PinnedAllocation& allocation);
  core::MemoryStats PinnedStats() const;  // the staging buffer shows under tag "staging"

  // The device address of `region` after the same checks as the Device calls (`op` names the
  // caller in messages): for LocalComm and NcclComm, which move bytes between devices.
  // The address stays valid until the buffer is freed.
  StatusOr<void*> DevicePointer(const core::BufferRegion& region, std::string_view op) const;

  // One timed copy between raw addresses (host addresses must be pinned for async transfer
  // speed; pageable ones work, slower), recorded as a Transfer of class `cls` (not init) and
  // returned. REQUIRES: the addresses are valid for `bytes` bytes on this device / the host.
  StatusOr<Transfer> TimedMemcpy(TransferClass cls, void* dst, const void* src, uint64_t bytes);

  // What this device timed since construction or the last ClearTransfers: every operation
  // (when record_transfers) and the totals by class.
  std::vector<Transfer> transfers() const;
  TransferTotals totals() const;
  void ClearTransfers();

  int ordinal() const { return options_.ordinal; }
  int rank() const { return rank_; }

 private:
  struct Impl;  // CUDA handles (stream, events, staging) behind a CUDA-free header
  using Table = core::BufferTable<void*>;
  using Entry = Table::Entry;

  CudaDevice(int rank, CudaDeviceOptions options, std::string name, std::string model,
             uint64_t capacity);

  // Callers hold mu_. Records `t` when its bytes or elements are non-zero.
  void RecordLocked(const Transfer& t);
  // Timed async copy on the device stream; holds gpu_lock while the GPU works. Callers hold mu_.
  StatusOr<double> TimedCopyLocked(void* dst, const void* src, uint64_t bytes, int kind);

  const int rank_;
  const CudaDeviceOptions options_;
  const std::string name_;
  const std::string model_;
  const uint64_t device_id_;
  std::unique_ptr<Impl> impl_;

  mutable std::mutex mu_;
  core::MemoryLedger ledger_;         // guarded by mu_
  Table buffers_;                     // guarded by mu_
  core::MemoryLedger pinned_ledger_;  // guarded by mu_
  // Live pinned allocations: address -> (bytes, tag). Guarded by mu_.
  std::unordered_map<void*, std::pair<uint64_t, std::string>> pinned_;
  std::unordered_set<void*> live_;   // guarded by mu_: device addresses to free at the end
  std::vector<Transfer> transfers_;  // guarded by mu_
  TransferTotals totals_;            // guarded by mu_
};

}  // namespace twinsim::gpu

#endif  // TWINSIM_GPU_CUDA_DEVICE_H_
