#include "sim/sim_comm.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <exception>
#include <limits>
#include <utility>

// Note [Matching on the sim]
// --------------------------
// SimComm keeps HostComm's semantics (Note [Blocking and matching] in core/comm.h, Note
// [Determinism of HostComm] in core/host_comm.cc) and adds time:
// - Messages queue per (source, destination, tag) in send order; a Recv takes the oldest. In
//   rendezvous mode the receiver, once it holds a matching message whose sizes agree, moves its
//   bytes from the sender's GPU host to its own (SimCluster::MoveBytes) and both calls return
//   when they have arrived. In eager mode the Send starts a courier actor that moves the bytes
//   at once; the Recv returns when they have arrived (or at once if they already had).
// - Collectives match by call order and are decided from all ranks' calls at once, as on the
//   host; the last rank to arrive then runs the collective's transfers (Note [Collective
//   timing]) and every rank leaves when they are done.
// - SimGrid mailboxes would give rendezvous timing too, but a deadlock there ends the engine
//   and kills the actors mid-call; here each blocked rank waits on its own SimGrid condition
//   variable, and a rank about to wait first checks whether any rank can still make progress:
//   none running (computing, copying, transferring), no eager message travelling, no blocked
//   rank whose wait is satisfied. Then it aborts the communicator with HostComm's report
//   ("deadlock: every rank is blocked or has exited: rank 0 waits in ..."), and every waiting
//   rank returns Unavailable. SimGrid runs one actor at a time, so the check is exact, and a
//   counter of running ranks makes it O(1) unless every rank waits. There is no wall-clock
//   timeout inside the simulation: an actor that never yields stops the whole simulation,
//   which RunRanksOnSim's process isolation bounds instead (Note [One engine per process]).
// - Sending to oneself through SendRecv moves nothing and takes no time.
//
// Note [Collective timing]
// ------------------------
// A collective's time is that of NCCL's bandwidth-optimal ring in rank order, every step at
// once: rank r sends to rank r+1 (mod n), as one SimGrid transfer, all the bytes the ring sends
// over that hop:
//   Broadcast(root)   B on every hop but the one into the root (a pipelined chain);
//   AllGather         total - counts[r+1] (every block but the one r+1 contributed);
//   ReduceScatterSum  total - counts[r] (every block but the one r ends up owning);
//   Barrier           0 bytes (one latency).
// So n concurrent flows share the links as the real ring does: inside an NVSwitch node each GPU
// port carries one flow each way, across nodes one flow per node boundary crosses the fabric.
// Not modelled: the per-step latency ((n - 1) latencies instead of one), tree or NVLS
// algorithms, and reduction compute time. The link traffic (Note [Link traffic]) counts these
// ring transfers; the logical traffic stays that of Note [Logical traffic].

namespace twinsim::sim {

namespace sg4 = simgrid::s4u;
using core::BufferRegion;
using core::CollectiveArgs;
using core::CollectiveCall;
using core::CollectiveKind;
using core::CollectiveRendezvous;
using core::RankActivity;
using core::SendMode;

struct SimCommWorld::Message : core::QueuedMessage {
  bool arrived = true;    // eager: false until the courier has moved the bytes
  Status transfer_error;  // eager: why the courier failed
};

namespace {

// One hop of a collective's ring (Note [Collective timing]).
struct Flow {
  int from = 0;
  int to = 0;
  uint64_t bytes = 0;
};

std::vector<Flow> RingFlows(const CollectiveCall& call, const std::vector<uint64_t>& counts,
                            int n) {
  std::vector<Flow> flows;
  if (n < 2) return flows;
  uint64_t total = 0;
  for (uint64_t c : counts) total += c;  // no overflow: Decide checked the sums
  flows.reserve(n);
  for (int r = 0; r < n; ++r) {
    const int next = (r + 1) % n;
    switch (call.kind) {
      case CollectiveKind::kBroadcast:
        if (next != call.root) flows.push_back({r, next, counts[r]});
        break;
      case CollectiveKind::kAllGather:
        flows.push_back({r, next, total - counts[next]});
        break;
      case CollectiveKind::kReduceScatterSum:
        flows.push_back({r, next, total - counts[r]});
        break;
      case CollectiveKind::kBarrier:
        flows.push_back({r, next, 0});
        break;
    }
  }
  return flows;
}

}  // namespace

SimCommWorld::SimCommWorld(SimCluster* cluster, SimCommOptions options)
    : cluster_(cluster),
      size_(std::max(1, cluster->world_size())),
      options_(options),
      mu_(sg4::Mutex::create()),
      ranks_(size_),
      running_(size_) {
  cvs_.reserve(size_);
  for (int r = 0; r < size_; ++r) cvs_.push_back(sg4::ConditionVariable::create());
}

SimCommWorld::~SimCommWorld() = default;

void SimCommWorld::Notify(int rank) { cvs_[rank]->notify_all(); }

void SimCommWorld::MarkExited(int rank, const Status& status) {
  if (rank < 0 || rank >= size_) return;
  Lock lock(*mu_);
  RankActivity& state = ranks_[rank];
  if (state.phase == RankActivity::Phase::kExited) return;
  if (state.phase == RankActivity::Phase::kRunning) --running_;
  state.phase = RankActivity::Phase::kExited;
  state.exit_status = status;
  // The ranks still waiting may have been waiting on this one.
  if (blocked_ > 0 && options_.detect_deadlock && !abort_.has_value() && AllStuckLocked()) {
    AbortLocked(core::DeadlockStatus(ReportLocked()));
  }
}

Status SimCommWorld::abort_status() const { return abort_.has_value() ? *abort_ : Status::Ok(); }

std::vector<std::string> SimCommWorld::UndeliveredMessages() const {
  return queues_.Undelivered();
}

bool SimCommWorld::AllStuckLocked() const {
  if (running_ > 0 || in_flight_ > 0) return false;
  for (const RankActivity& state : ranks_) {
    if (state.phase == RankActivity::Phase::kBlocked && state.ready && state.ready()) return false;
  }
  return true;
}

std::string SimCommWorld::ReportLocked() const {
  return core::ReportWorld(ranks_, queues_.Undelivered(), collectives_);
}

void SimCommWorld::AbortLocked(Status reason) {
  if (!abort_.has_value()) abort_ = std::move(reason);
  for (int r = 0; r < size_; ++r) Notify(r);
}

Status SimCommWorld::AbortedLocked(int rank, const std::string& what) const {
  return core::AbortedCall(rank, what, *abort_);
}

Status SimCommWorld::WaitLocked(Lock& lock, int rank, const std::string& what,
                                const std::function<bool()>& ready) {
  if (abort_.has_value()) return AbortedLocked(rank, what);
  if (ready()) return Status::Ok();
  RankActivity& state = ranks_[rank];
  state.phase = RankActivity::Phase::kBlocked;
  state.waiting_on = what;
  state.ready = ready;
  --running_;
  ++blocked_;
  Status result;
  while (true) {
    if (ready()) break;
    if (abort_.has_value()) {
      result = AbortedLocked(rank, what);
      break;
    }
    if (options_.detect_deadlock && AllStuckLocked()) {
      AbortLocked(core::DeadlockStatus(ReportLocked()));
      result = AbortedLocked(rank, what);
      break;
    }
    cvs_[rank]->wait(lock);
  }
  ++running_;
  --blocked_;
  state.phase = RankActivity::Phase::kRunning;
  state.waiting_on.clear();
  state.ready = nullptr;
  return result;
}

// ---------------------------------------------------------------------------------------------

SimComm::SimComm(SimCommWorld* world, int rank, SimDevice* device)
    : world_(world), rank_(rank), device_(device), holds_bytes_(device->Info().holds_bytes) {}

SimComm::~SimComm() = default;

StatusOr<std::vector<std::byte>> SimComm::ReadRegion(const BufferRegion& region,
                                                     std::string_view op) {
  if (!region.InBounds()) return core::RegionOutsideBuffer(rank_, region);
  return device_->ReadRegion(region, op);
}

void SimComm::TraceCall(const std::string& what, double start, uint64_t bytes,
                        const Status& status) {
  TraceLog& trace = world_->cluster_->trace();
  if (!trace.enabled()) return;
  std::vector<TraceArg> args = {TraceArg::Num("bytes", static_cast<double>(bytes))};
  if (!status.ok()) args.push_back(TraceArg::Str("error", status.ToString()));
  trace.Span(rank_, TraceTrack::kComm, what, start, world_->cluster_->Now(), std::move(args));
}

Status SimComm::PostMessage(int dst, const BufferRegion& src, int tag, const std::string& what,
                            std::shared_ptr<SimCommWorld::Message>* posted) {
  StatusOr<std::vector<std::byte>> payload = ReadRegion(src, what);
  if (!payload.ok()) return core::InCall(rank_, what, payload.status());
  auto message = std::make_shared<SimCommWorld::Message>();
  message->src = rank_;
  message->dst = dst;
  message->tag = tag;
  message->bytes = src.bytes;
  message->has_payload = holds_bytes_;
  message->payload = std::move(payload).value();
  const bool eager = world_->options_.send_mode == SendMode::kEager;
  {
    SimCommWorld::Lock lock(*world_->mu_);
    if (world_->abort_.has_value()) return world_->AbortedLocked(rank_, what);
    if (eager && dst != rank_) {
      message->arrived = false;
      ++world_->in_flight_;
    }
    world_->queues_.Push(message);
    world_->Notify(dst);
  }
  if (eager && dst != rank_) {
    traffic_.RecordSent(dst, src.bytes, 1);
    // The courier moves the bytes while the sender goes on (Note [Matching on the sim]).
    SimCommWorld* world = world_;
    const int from = rank_;
    try {
      sg4::Actor::create(fmt::format("courier-{}-{}", from, dst), world->cluster_->gpu(from),
                         [world, message, from, dst] {
                           SimCluster* cluster = world->cluster_;
                           Status moved = cluster->MoveBytes(from, cluster->gpu(from),
                                                             cluster->gpu(dst), message->bytes);
                           SimCommWorld::Lock lock(*world->mu_);
                           message->transfer_error = moved;
                           message->arrived = true;
                           --world->in_flight_;
                           world->Notify(dst);
                         });
    } catch (const std::exception& e) {
      SimCommWorld::Lock lock(*world_->mu_);
      message->transfer_error = Status::Internal(e.what());
      message->arrived = true;
      --world_->in_flight_;
    }
  }
  *posted = std::move(message);
  return Status::Ok();
}

Status SimComm::AwaitConsumed(const std::shared_ptr<SimCommWorld::Message>& message,
                              const std::string& what) {
  if (world_->options_.send_mode == SendMode::kEager) return Status::Ok();
  SimCommWorld::Lock lock(*world_->mu_);
  TWINSIM_RETURN_IF_ERROR(
      world_->WaitLocked(lock, rank_, what, [&message] { return message->consumed; }));
  if (!message->receive_error.ok()) return core::RejectedMessage(rank_, what, *message);
  if (message->dst != rank_) traffic_.RecordSent(message->dst, message->bytes, 1);
  return Status::Ok();
}

Status SimComm::TakeMessage(int src, const BufferRegion& dst, int tag, const std::string& what) {
  SimCommWorld* world = world_;
  std::shared_ptr<SimCommWorld::Message> message;
  {
    SimCommWorld::Lock lock(*world->mu_);
    auto& queues = world->queues_;
    const int me = rank_;
    TWINSIM_RETURN_IF_ERROR(world->WaitLocked(
        lock, rank_, what, [&queues, src, me, tag] { return queues.HasMessage(src, me, tag); }));
    message = queues.Pop(src, rank_, tag);
  }
  // The message is ours now: check it, move its bytes, write them, then tell the sender.
  Status status = core::CheckMessageSize(rank_, what, *message, dst.bytes);
  if (status.ok()) status = device_->CheckRegion(dst, "Recv");
  if (status.ok()) status = core::CheckMessagePayload(rank_, what, *message, holds_bytes_);
  if (status.ok() && !message->arrived) {
    SimCommWorld::Lock lock(*world->mu_);
    status = world->WaitLocked(lock, rank_, what, [&message] { return message->arrived; });
  } else if (status.ok() && world->options_.send_mode == SendMode::kRendezvous) {
    SimCluster* cluster = world->cluster_;
    status = cluster->MoveBytes(src, cluster->gpu(src), cluster->gpu(rank_), message->bytes);
  }
  if (status.ok()) status = message->transfer_error;
  if (status.ok() && holds_bytes_) status = device_->WriteRegion(dst, message->payload, "Recv");
  // Without bytes the received contents are unknown to the device (Note [Sampled fills]).
  if (status.ok() && !holds_bytes_) device_->ForgetSamples(dst);
  {
    SimCommWorld::Lock lock(*world->mu_);
    message->receive_error = status;
    message->consumed = true;
    message->payload.clear();
    message->payload.shrink_to_fit();
    world->Notify(src);
  }
  if (status.ok() && src != rank_) traffic_.RecordReceived(src, message->bytes, 1);
  return status;
}

Status SimComm::Send(int dst, const BufferRegion& src, int tag) {
  const double start = world_->cluster_->Now();
  const std::string what = core::DescribeSend(dst, tag, src.bytes);
  TWINSIM_RETURN_IF_ERROR(core::CheckSendArgs(rank_, size(), dst, tag, what));
  std::shared_ptr<SimCommWorld::Message> message;
  TWINSIM_RETURN_IF_ERROR(PostMessage(dst, src, tag, what, &message));
  Status status = AwaitConsumed(message, what);
  TraceCall(what, start, src.bytes, status);
  return status;
}

Status SimComm::Recv(int src, const BufferRegion& dst, int tag) {
  const double start = world_->cluster_->Now();
  const std::string what = core::DescribeRecv(src, tag, dst.bytes);
  TWINSIM_RETURN_IF_ERROR(core::CheckRecvArgs(rank_, size(), src, dst, tag, what));
  Status status = TakeMessage(src, dst, tag, what);
  TraceCall(what, start, dst.bytes, status);
  return status;
}

Status SimComm::SendRecv(int dst, const BufferRegion& send, int src, const BufferRegion& recv,
                         int tag) {
  const double start = world_->cluster_->Now();
  const std::string what = core::DescribeSendRecv(dst, send.bytes, src, recv.bytes, tag);
  TWINSIM_RETURN_IF_ERROR(core::CheckSendRecvArgs(rank_, size(), dst, src, recv, tag, what));
  std::shared_ptr<SimCommWorld::Message> message;
  TWINSIM_RETURN_IF_ERROR(PostMessage(dst, send, tag, what, &message));
  Status status = TakeMessage(src, recv, tag, what);
  if (status.ok()) status = AwaitConsumed(message, what);
  TraceCall(what, start, send.bytes + recv.bytes, status);
  return status;
}

Status SimComm::RunRing(const CollectiveRendezvous& collective) {
  SimCluster* cluster = world_->cluster_;
  const int n = size();
  Status moved;
  std::vector<sg4::CommPtr> transfers;
  for (const Flow& flow : RingFlows(collective.parts[0].call, collective.counts, n)) {
    StatusOr<sg4::CommPtr> started =
        cluster->StartMove(flow.from, cluster->gpu(flow.from), cluster->gpu(flow.to), flow.bytes);
    if (!started.ok()) {
      moved = started.status();
      break;
    }
    if (*started != nullptr) transfers.push_back(*started);
  }
  try {
    if (!transfers.empty()) sg4::Comm::wait_all(transfers);
  } catch (const std::exception& e) {
    if (moved.ok()) moved = Status::Internal(e.what());
  }
  return moved;
}

Status SimComm::RunCollective(const CollectiveArgs& args) {
  SimCommWorld* world = world_;
  const double start = world->cluster_->Now();
  std::string what = args.call.Describe();
  core::CollectivePart part = core::MakeCollectivePart(
      rank_, args, holds_bytes_, what,
      [this, &what](const BufferRegion& region) { return ReadRegion(region, what); },
      [this, &what](const BufferRegion& region) { return device_->CheckRegion(region, what); });
  const int n = size();

  std::shared_ptr<CollectiveRendezvous> collective;
  {
    SimCommWorld::Lock lock(*world->mu_);
    if (world->abort_.has_value()) return world->AbortedLocked(rank_, what);
    const uint64_t seq = world->ranks_[rank_].next_collective++;
    what = fmt::format("{} [collective #{}]", what, seq);
    bool last = false;
    collective = world->collectives_.Join(seq, n, rank_, std::move(part), &last);
    if (last) {
      collective->Decide();
      // Note [Collective timing]: the last rank to arrive runs the ring's transfers.
      if (collective->all_ok()) {
        lock.unlock();
        const Status moved = RunRing(*collective);
        lock.lock();
        if (!moved.ok()) {
          collective->results.assign(
              n, Status::Internal(fmt::format("collective #{}: {}", seq, moved.message())));
        }
      }
      collective->complete = true;
      for (int r = 0; r < n; ++r) world->Notify(r);
    }
    TWINSIM_RETURN_IF_ERROR(
        world->WaitLocked(lock, rank_, what, [&collective] { return collective->complete; }));
  }

  // Complete: every part is immutable from here on.
  Status status = collective->results[rank_];
  if (status.ok() && holds_bytes_) {
    status = core::WriteCollectiveResult(
        rank_, args, *collective, what,
        [this, &what](const BufferRegion& region, std::span<const std::byte> bytes) {
          return device_->WriteRegion(region, bytes, what);
        });
  } else if (status.ok() && args.output.has_value() &&
             !(args.call.kind == core::CollectiveKind::kBroadcast && rank_ == args.call.root)) {
    // Without bytes the result is unknown to the device (Note [Sampled fills]); a broadcast's
    // root keeps what it sent.
    device_->ForgetSamples(*args.output);
  }
  if (status.ok()) core::RecordCollectiveTraffic(rank_, args.call, collective->counts, &traffic_);
  {
    SimCommWorld::Lock lock(*world->mu_);
    world->collectives_.Depart(collective);
  }
  TraceCall(what, start, args.call.send_bytes, status);
  return status;
}

Status SimComm::Broadcast(int root, const BufferRegion& buffer) {
  return RunCollective(core::BroadcastArgs(rank_, size(), root, buffer));
}

Status SimComm::AllGather(const BufferRegion& send, const BufferRegion& recv,
                          std::span<const uint64_t> counts) {
  return RunCollective(core::AllGatherArgs(rank_, size(), send, recv, counts));
}

Status SimComm::ReduceScatterSum(const BufferRegion& send, const BufferRegion& recv,
                                 std::span<const uint64_t> counts) {
  return RunCollective(core::ReduceScatterSumArgs(rank_, size(), send, recv, counts));
}

Status SimComm::Barrier() { return RunCollective(core::BarrierArgs()); }

}  // namespace twinsim::sim
