// The host communication backend: N ranks as threads of one process, sharing a HostCommWorld,
// with real bytes moved by memcpy — and RunRanks, which runs a rank function on every rank.
//
// It is the reference the sim and cuda backends are compared with, so results never depend on
// thread interleaving (see Note [Determinism of HostComm] in host_comm.cc), and a program that
// would hang on NCCL fails here instead, saying which rank waits on what.
#ifndef TWINSIM_CORE_HOST_COMM_H_
#define TWINSIM_CORE_HOST_COMM_H_

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/comm.h"
#include "core/comm_matching.h"
#include "core/device.h"
#include "core/host_device.h"
#include "core/status.h"

namespace twinsim::core {

// When a Send returns (Note [Blocking and matching] in core/comm.h).
enum class SendMode : uint8_t {
  kRendezvous = 0,  // when the receiver has taken the message, like NCCL and SimGrid
  kEager = 1,       // when the message is queued, like MPI's small-message path
};

struct HostCommOptions {
  SendMode send_mode = SendMode::kRendezvous;
  // How long one blocking call may wait before the world is aborted with a report. It must
  // exceed the longest time a rank computes between calls that others wait on (a rank busy
  // filling a large buffer is "running", and only the timeout can end a wait on it).
  std::chrono::milliseconds timeout{30'000};
  // Abort at once when every rank is blocked or exited and none can proceed.
  bool detect_deadlock = true;
};

// The shared state of one communicator: message queues, collectives in progress, and what each
// rank is doing. Create one per run, with one HostComm per rank on top.
//
// Thread safety: all methods are thread-safe.
class HostCommWorld {
 public:
  // REQUIRES: size >= 1 (a smaller size is treated as 1).
  explicit HostCommWorld(int size, HostCommOptions options = {});
  ~HostCommWorld();
  HostCommWorld(const HostCommWorld&) = delete;
  HostCommWorld& operator=(const HostCommWorld&) = delete;

  int size() const { return size_; }
  const HostCommOptions& options() const { return options_; }

  // Records that `rank` will make no further calls (its function returned with `status`), so
  // ranks waiting on it can be told at once instead of after the timeout. RunRanks calls it.
  void MarkExited(int rank, const Status& status);

  // OK, or the failure that aborted the communicator (deadlock, timeout).
  Status abort_status() const;

  // Messages sent but never received, e.g. "0 -> 1 tag 8 (64 B)", in (src, dst, tag) order.
  std::vector<std::string> UndeliveredMessages() const;

 private:
  friend class HostComm;
  struct Message;

  // Blocks `rank` until ready() (evaluated under mu_) holds, the world is aborted, a deadlock
  // is found or the timeout expires. `what` describes the call for reports.
  Status WaitLocked(std::unique_lock<std::mutex>& lock, int rank, const std::string& what,
                    const std::function<bool()>& ready);
  Status AbortedLocked(int rank, const std::string& what) const;
  bool AllStuckLocked() const;
  std::string ReportLocked() const;
  void AbortLocked(Status reason);

  const int size_;
  const HostCommOptions options_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<RankActivity> ranks_;  // guarded by mu_
  MessageQueues<Message> queues_;    // guarded by mu_
  CollectiveTable collectives_;      // guarded by mu_
  std::optional<Status> abort_;      // guarded by mu_
};

// One rank's Comm over a HostCommWorld, moving the bytes of `device`'s buffers.
class HostComm final : public Comm {
 public:
  // REQUIRES: world and device are non-null and outlive this object; 0 <= rank < world->size();
  // no other HostComm of this world has the same rank.
  HostComm(HostCommWorld* world, int rank, Device* device);
  ~HostComm() override;

  int rank() const override { return rank_; }
  int size() const override { return world_->size(); }
  Status Send(int dst, const BufferRegion& src, int tag) override;
  Status Recv(int src, const BufferRegion& dst, int tag) override;
  Status SendRecv(int dst, const BufferRegion& send, int src, const BufferRegion& recv,
                  int tag) override;
  Status Broadcast(int root, const BufferRegion& buffer) override;
  Status AllGather(const BufferRegion& send, const BufferRegion& recv,
                   std::span<const uint64_t> counts) override;
  Status ReduceScatterSum(const BufferRegion& send, const BufferRegion& recv,
                          std::span<const uint64_t> counts) override;
  Status Barrier() override;
  TrafficStats traffic() const override { return traffic_; }

 private:
  // Copies `region` into a new payload (empty when the device holds no bytes).
  StatusOr<std::vector<std::byte>> ReadRegion(const BufferRegion& region);
  // Checks a region on a device without bytes, where it cannot be read.
  Status CheckRegion(const BufferRegion& region);
  Status PostMessage(int dst, const BufferRegion& src, int tag, const std::string& what,
                     std::shared_ptr<HostCommWorld::Message>* posted);
  Status AwaitConsumed(const std::shared_ptr<HostCommWorld::Message>& message,
                       const std::string& what);
  Status TakeMessage(int src, const BufferRegion& dst, int tag, const std::string& what);
  Status RunCollective(const CollectiveArgs& args);

  HostCommWorld* const world_;
  const int rank_;
  Device* const device_;
  const bool holds_bytes_;
  TrafficStats traffic_;  // touched only by this rank's thread
};

// What a rank runs: its rank, its communicator and its device.
using RankFunction = std::function<Status(int rank, Comm& comm, Device& device)>;

struct RunRanksOptions {
  int world_size = 1;
  // Every rank gets a HostDevice with these options; an empty name becomes "host:<rank>",
  // another name "<name>:<rank>".
  HostDeviceOptions device;
  HostCommOptions comm;
};

// Runs fn(rank, comm, device) for every rank on its own thread, over a fresh HostCommWorld and
// fresh HostDevices, and returns each rank's Status (index = rank) once all have returned.
// An exception escaping fn becomes that rank's Internal status. A rank that fails does not stop
// the others, but a rank waiting on it is told (Unavailable) instead of waiting forever.
// world_size < 1 gives a single InvalidArgument status. Thread-safe; blocks the caller.
std::vector<Status> RunRanks(const RunRanksOptions& options, const RankFunction& fn);
std::vector<Status> RunRanks(int world_size, const RankFunction& fn);

// OK when every status is OK; otherwise the first failure's code with every failing rank's
// message, "rank 1: ...; rank 3: ...".
Status CombineRankStatuses(std::span<const Status> statuses);

}  // namespace twinsim::core

#endif  // TWINSIM_CORE_HOST_COMM_H_
