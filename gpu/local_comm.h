// LocalComm: several ranks sharing one GPU (threads of one process, each with its own
// CudaDevice and budget on the same ordinal), exchanging bytes by device-to-device copies.
//
// How one 80 GB H100 stands in for a TP x PP x DP world of smaller GPUs. Matching, argument
// checks, collective decisions and traffic come from core/comm_matching, as for HostComm and
// SimComm, so a program's errors read the same on every backend; only the data path differs:
// the receiver copies straight from the sender's device memory (cudaMemcpy D2D), timed as a
// d2d Transfer on the receiver's device.
#ifndef TWINSIM_GPU_LOCAL_COMM_H_
#define TWINSIM_GPU_LOCAL_COMM_H_

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/comm.h"
#include "core/comm_matching.h"
#include "core/status.h"
#include "gpu/cuda_device.h"

namespace twinsim::gpu {

// The shared state of one LocalComm communicator. Thread-safe.
class LocalCommWorld {
 public:
  // REQUIRES: size >= 1. A blocking call that waits longer than `timeout` aborts the world
  // (Unavailable, naming what the rank waited on); later calls fail too.
  explicit LocalCommWorld(int size,
                          std::chrono::milliseconds timeout = std::chrono::milliseconds(60'000));
  int size() const { return size_; }
  // Tells ranks waiting on `rank` that it made its last call, so they fail at once rather
  // than at the timeout when it will never answer.
  void MarkExited(int rank);

 private:
  friend class LocalComm;
  // A posted send: the sender's device address stays valid until `consumed`.
  struct Message : core::QueuedMessage {
    const void* address = nullptr;
  };
  Status WaitLocked(std::unique_lock<std::mutex>& lock, int rank, const std::string& what,
                    const std::function<bool()>& ready);

  const int size_;
  const std::chrono::milliseconds timeout_;
  std::mutex mu_;
  std::condition_variable cv_;
  core::MessageQueues<Message> queues_;                  // guarded by mu_
  core::CollectiveTable collectives_;                    // guarded by mu_
  std::map<uint64_t, std::vector<const void*>> inputs_;  // by collective: each rank's input
  std::vector<uint64_t> next_collective_;                // guarded by mu_, by rank
  std::vector<bool> exited_;                             // guarded by mu_, by rank
  std::optional<Status> abort_;                          // guarded by mu_
};

// One rank's Comm over a LocalCommWorld. Send is rendezvous (returns once the receiver has
// copied the bytes). ReduceScatterSum reads the other ranks' slices to the host and sums in
// rank order, as HostComm does (bit-identical results); everything else is device-to-device.
class LocalComm final : public core::Comm {
 public:
  // REQUIRES: world and device outlive this object; 0 <= rank < world->size(); every rank's
  // device is on the same GPU (one CUDA context, so addresses are valid across ranks).
  LocalComm(LocalCommWorld* world, int rank, CudaDevice* device);

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
  using Message = LocalCommWorld::Message;
  Status Post(int dst, const core::BufferRegion& src, int tag, const std::string& what,
              std::shared_ptr<Message>* posted);
  Status AwaitConsumed(const std::shared_ptr<Message>& message, const std::string& what);
  Status Take(int src, const core::BufferRegion& dst, int tag, const std::string& what);
  Status RunCollective(const core::CollectiveArgs& args);
  // Writes this rank's result of a decided collective from the other ranks' inputs.
  Status WriteResult(const core::CollectiveArgs& args, const core::CollectiveRendezvous& c,
                     const std::vector<const void*>& inputs);

  LocalCommWorld* const world_;
  const int rank_;
  CudaDevice* const device_;
  core::TrafficStats traffic_;
};

}  // namespace twinsim::gpu

#endif  // TWINSIM_GPU_LOCAL_COMM_H_
