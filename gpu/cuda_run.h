// RunRanksOnCuda: runs a rank function on every rank of a world on the cuda backend — each
// rank a thread with its own budgeted CudaDevice, talking through NcclComm (one GPU per rank)
// or LocalComm (all ranks sharing one GPU) — and returns, per rank, its status and what its
// device timed. The cuda twin of core::RunRanks and sim::RunRanksOnSim.
#ifndef TWINSIM_GPU_CUDA_RUN_H_
#define TWINSIM_GPU_CUDA_RUN_H_

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/host_comm.h"
#include "core/memory_ledger.h"
#include "core/status.h"
#include "gpu/transfer.h"

namespace twinsim::gpu {

enum class CudaCommKind : uint8_t {
  kAuto = 0,   // NCCL when there are at least world_size GPUs and NCCL loads, else local
  kLocal = 1,  // every rank on GPU 0, LocalComm (device-to-device copies)
  kNccl = 2,   // rank r on GPU r, NcclComm
};
std::string_view CudaCommKindName(CudaCommKind kind);  // "auto", "local", "nccl"

struct CudaRunOptions {
  int world_size = 1;
  CudaCommKind comm = CudaCommKind::kAuto;
  // Per-rank device budget in bytes; 0: the GPU's free memory divided among its ranks.
  uint64_t device_capacity = 0;
  uint64_t pinned_capacity = uint64_t{1} << 30;  // per rank
  uint64_t staging_bytes = uint64_t{64} << 20;   // per rank
  std::chrono::milliseconds timeout{600'000};    // LocalComm: longest wait on another rank
};

struct CudaRankResult {
  Status status;
  std::vector<Transfer> transfers;  // everything its device timed, in order
  TransferTotals totals;
  core::MemoryStats memory;
};

struct CudaRun {
  CudaCommKind comm = CudaCommKind::kLocal;  // what ran (never kAuto)
  std::string device;                        // "NVIDIA H100 80GB HBM3" (GPU 0)
  std::vector<CudaRankResult> ranks;

  std::vector<Status> statuses() const;
  TransferTotals totals() const;  // over all ranks
};

// Runs fn(rank, comm, device) on every rank at once and waits for all. Fails (no rank runs)
// with Unavailable when there is no GPU (saying why) or kNccl was asked for and NCCL or GPUs
// are missing; InvalidArgument for world_size < 1. A rank's own failure is its status.
// Ranks on one GPU share a lock around timed work (Note [Timing on a shared GPU]).
StatusOr<CudaRun> RunRanksOnCuda(const CudaRunOptions& options, const core::RankFunction& fn);

}  // namespace twinsim::gpu

#endif  // TWINSIM_GPU_CUDA_RUN_H_
