// SimComm: core::Comm on a SimGrid model of a cluster — the semantics and errors of HostComm
// (core/host_comm.h), with every byte moved as a SimGrid transfer between the ranks' GPU hosts,
// so a message's time follows the platform's route (NVLink inside a node, PCIe and the fabric
// between nodes) and the links it shares with other traffic at the time.
//
// Matching, collectives and deadlock detection are twinsim's own, over SimGrid mutexes and
// condition variables, so a program that deadlocks fails on every blocked rank with the same
// report HostComm gives, instead of SimGrid killing the actors (Note [Matching on the sim]).
#ifndef TWINSIM_SIM_SIM_COMM_H_
#define TWINSIM_SIM_SIM_COMM_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <simgrid/s4u.hpp>
#include <span>
#include <string>
#include <vector>

#include "core/comm.h"
#include "core/comm_matching.h"
#include "core/host_comm.h"
#include "core/status.h"
#include "sim/sim_cluster.h"
#include "sim/sim_device.h"

namespace twinsim::sim {

struct SimCommOptions {
  // Rendezvous (the default, like NCCL and SimGrid mailboxes): a Send returns when its bytes
  // have arrived. Eager: a Send returns at once and its bytes travel meanwhile.
  core::SendMode send_mode = core::SendMode::kRendezvous;
  // Abort at once when every rank is blocked or has exited and none can proceed.
  bool detect_deadlock = true;
};

// The shared state of one simulated communicator: message queues, collectives in progress,
// what each rank is doing. One per run, with one SimComm per rank on top.
//
// REQUIRES: constructed after the SimGrid engine exists; MarkExited and the SimComm calls come
// from actors of that engine. abort_status() and UndeliveredMessages() may be called from
// anywhere once the engine has stopped running (they take no SimGrid lock).
class SimCommWorld {
 public:
  // One rank per cluster rank. REQUIRES: cluster outlives this object.
  SimCommWorld(SimCluster* cluster, SimCommOptions options = {});
  ~SimCommWorld();
  SimCommWorld(const SimCommWorld&) = delete;
  SimCommWorld& operator=(const SimCommWorld&) = delete;

  int size() const { return size_; }
  const SimCommOptions& options() const { return options_; }

  // `rank` will make no further calls (its function returned `status`). Ranks waiting on it
  // are told at once if nothing else can wake them (deadlock).
  void MarkExited(int rank, const Status& status);

  // OK, or the failure that aborted the communicator (deadlock).
  Status abort_status() const;
  // Messages sent but never received, "0 -> 1 tag 8 (64 B)", in (src, dst, tag) order.
  std::vector<std::string> UndeliveredMessages() const;

 private:
  friend class SimComm;
  struct Message;

  using Lock = std::unique_lock<simgrid::s4u::Mutex>;

  Status WaitLocked(Lock& lock, int rank, const std::string& what,
                    const std::function<bool()>& ready);
  Status AbortedLocked(int rank, const std::string& what) const;
  bool AllStuckLocked() const;
  std::string ReportLocked() const;
  void AbortLocked(Status reason);
  void Notify(int rank);

  SimCluster* const cluster_;
  const int size_;
  const SimCommOptions options_;

  simgrid::s4u::MutexPtr mu_;
  std::vector<simgrid::s4u::ConditionVariablePtr> cvs_;  // one per rank
  std::vector<core::RankActivity> ranks_;
  int running_ = 0;    // ranks neither blocked nor exited
  int blocked_ = 0;    // ranks waiting in a call
  int in_flight_ = 0;  // eager messages still travelling
  core::MessageQueues<Message> queues_;
  core::CollectiveTable collectives_;
  std::optional<Status> abort_;
};

// One rank's Comm over a SimCommWorld, moving the bytes of its SimDevice's buffers.
class SimComm final : public core::Comm {
 public:
  // REQUIRES: world and device outlive this object; 0 <= rank < world->size(); the device is
  // rank `rank`'s (its bytes live on that rank's GPU host); one SimComm per rank.
  SimComm(SimCommWorld* world, int rank, SimDevice* device);
  ~SimComm() override;

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
  StatusOr<std::vector<std::byte>> ReadRegion(const core::BufferRegion& region,
                                              std::string_view op);
  Status PostMessage(int dst, const core::BufferRegion& src, int tag, const std::string& what,
                     std::shared_ptr<SimCommWorld::Message>* posted);
  Status AwaitConsumed(const std::shared_ptr<SimCommWorld::Message>& message,
                       const std::string& what);
  Status TakeMessage(int src, const core::BufferRegion& dst, int tag, const std::string& what);
  Status RunCollective(const core::CollectiveArgs& args);
  // The ring transfers of a decided collective (Note [Collective timing] in sim_comm.cc), run
  // by the last rank to arrive, without the world's lock.
  Status RunRing(const core::CollectiveRendezvous& collective);
  // The trace span of one call, from `start` to now.
  void TraceCall(const std::string& what, double start, uint64_t bytes, const Status& status);

  SimCommWorld* const world_;
  const int rank_;
  SimDevice* const device_;
  const bool holds_bytes_;
  core::TrafficStats traffic_;
};

}  // namespace twinsim::sim

#endif  // TWINSIM_SIM_SIM_COMM_H_
