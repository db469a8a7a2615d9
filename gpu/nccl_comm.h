// NcclComm: one process driving several GPUs through NCCL — ncclCommInitAll over the ranks'
// devices, then grouped ncclSend/ncclRecv, broadcast, all-gather and reduce-scatter on the
// ranks' CudaDevice buffers, one thread per rank (as torch.distributed's single-process
// multi-GPU mode did).
//
// NCCL is loaded at run time (dlopen "libnccl.so.2", or $TWINSIM_NCCL_LIBRARY), not linked:
// the library is 200+ MB, a GPU machine brings its own (PyTorch's nvidia-nccl wheel), and the
// build and its tests must work where there is none. See Note [NCCL semantics].
#ifndef TWINSIM_GPU_NCCL_COMM_H_
#define TWINSIM_GPU_NCCL_COMM_H_

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/comm.h"
#include "core/status.h"
#include "gpu/cuda_device.h"

namespace twinsim::gpu {

// Note [NCCL semantics]
// ---------------------
// NCCL point-to-point has no tags and checks no sizes: messages between two ranks match in the
// order posted, and a receive of the wrong size is undefined (it may hang). NcclComm keeps
// core/comm.h's local argument checks (peers, tags >= 0, regions in bounds, counts against
// sizes), ignores the tag value otherwise, and REQUIRES what NCCL requires: the same sequence
// of calls with matching sizes on every rank. Run a program on the host backend first, which
// reports every mismatch by name. Sums of ReduceScatterSum follow NCCL's algorithm order, so
// they may differ from HostComm's rank-order sums in the last bits (core/comm.h allows that).
// Uneven AllGather counts become grouped broadcasts, uneven ReduceScatterSum grouped reduces.

// Whether NCCL can be loaded here: OK, or Unavailable with dlerror()'s text. Loads it once.
Status NcclAvailable();

// The communicators of one process over several GPUs. Not copyable.
class NcclWorld {
 public:
  // ncclCommInitAll over `ordinals` (rank r drives GPU ordinals[r]). Unavailable when NCCL
  // cannot be loaded or there are too few GPUs; Internal on an NCCL error.
  static StatusOr<std::unique_ptr<NcclWorld>> Create(std::span<const int> ordinals);
  ~NcclWorld();  // ncclCommDestroy on every communicator
  NcclWorld(const NcclWorld&) = delete;
  NcclWorld& operator=(const NcclWorld&) = delete;

  int size() const { return static_cast<int>(ordinals_.size()); }
  int ordinal(int rank) const { return ordinals_[rank]; }

 private:
  friend class NcclComm;
  NcclWorld() = default;
  std::vector<int> ordinals_;
  std::vector<void*> comms_;  // ncclComm_t by rank
};

// One rank's Comm. Thread safety: one thread per rank, as NCCL requires of a communicator.
class NcclComm final : public core::Comm {
 public:
  // REQUIRES: world and device outlive this object; device->ordinal() == world->ordinal(rank).
  // Creates a stream and a 4-byte scratch buffer (for Barrier) on the rank's GPU.
  static StatusOr<std::unique_ptr<NcclComm>> Create(NcclWorld* world, int rank, CudaDevice* device);
  ~NcclComm() override;

  int rank() const override { return rank_; }
  int size() const override { return world_->size(); }
  Status Send(int dst, const core::BufferRegion& src, int tag) override;
  Status Recv(int src, const core::BufferRegion& dst, int tag) override;
  Status SendRecv(int dst, const core::BufferRegion& send, int src, const core::BufferRegion& recv,
                  int tag) override;
  Status Broadcast(int root, const core::BufferRegion& buffer) override;
  Status AllGather(const core::BufferRegion& send, const core::BufferRegion& recv,
                   std::span<const uint64_t> counts) override;
  Status ReduceScatterSum(const core::BufferRegion& send, const core::BufferRegion& recv,
                          std::span<const uint64_t> counts) override;
  Status Barrier() override;
  core::TrafficStats traffic() const override { return traffic_; }

 private:
  NcclComm(NcclWorld* world, int rank, CudaDevice* device)
      : world_(world), rank_(rank), device_(device) {}
  // Waits for the rank's stream; an NCCL or CUDA failure becomes "rank R in <what>: ...".
  Status Finish(const std::string& what);

  NcclWorld* const world_;
  const int rank_;
  CudaDevice* const device_;
  void* stream_ = nullptr;   // cudaStream_t
  void* scratch_ = nullptr;  // 4 bytes of device memory
  core::TrafficStats traffic_;
};

}  // namespace twinsim::gpu

#endif  // TWINSIM_GPU_NCCL_COMM_H_
