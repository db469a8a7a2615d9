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
using core::PeerTraffic;
using core::SendMode;

struct SimCommWorld::Message {
  int src = 0;
  int dst = 0;
  int tag = 0;
  uint64_t bytes = 0;
  bool has_payload = false;
  std::vector<std::byte> payload;
  bool arrived = true;    // eager: false until the courier has moved the bytes
  Status transfer_error;  // eager: why the courier failed
  bool consumed = false;  // the receiver has written it, or rejected it
  Status receive_error;   // why the receiver rejected it
};

namespace {

enum class CollectiveKind : uint8_t { kBroadcast, kAllGather, kReduceScatterSum, kBarrier };

struct CollectiveCall {
  CollectiveKind kind = CollectiveKind::kBarrier;
  int root = 0;
  uint64_t send_bytes = 0;
  uint64_t recv_bytes = 0;
  std::vector<uint64_t> counts;

  std::string Describe() const {
    auto counts_text = [&] {
      return counts.empty() ? std::string("equal") : fmt::format("{}", fmt::join(counts, ","));
    };
    switch (kind) {
      case CollectiveKind::kBroadcast:
        return fmt::format("Broadcast(root={}, {} B)", root, send_bytes);
      case CollectiveKind::kAllGather:
        return fmt::format("AllGather(send {} B, recv {} B, counts {})", send_bytes, recv_bytes,
                           counts_text());
      case CollectiveKind::kReduceScatterSum:
        return fmt::format("ReduceScatterSum(send {} B, recv {} B, counts {})", send_bytes,
                           recv_bytes, counts_text());
      case CollectiveKind::kBarrier:
        return "Barrier()";
    }
    return "?";
  }
};

uint64_t Sum(std::span<const uint64_t> values, bool* overflow) {
  uint64_t total = 0;
  for (uint64_t v : values) {
    if (v > std::numeric_limits<uint64_t>::max() - total) *overflow = true;
    total += v;
  }
  return total;
}

std::string StatusText(const Status& status) {
  return status.ok() ? std::string("OK") : status.ToString();
}

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
  bool overflow = false;
  const uint64_t total = Sum(counts, &overflow);
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

struct SimCommWorld::Collective {
  struct Part {
    bool arrived = false;
    CollectiveCall call;
    Status local_error;
    bool holds_bytes = true;
    std::vector<std::byte> payload;
  };

  uint64_t seq = 0;
  std::vector<Part> parts;
  int arrived = 0;
  int departed = 0;
  bool complete = false;
  std::vector<Status> results;   // per rank, set when decided
  std::vector<uint64_t> counts;  // effective per-rank byte counts, set on success

  // Decides every rank's result from all calls (the rules of HostComm). Called once, by the
  // last rank to arrive.
  void Decide();
};

struct SimCommWorld::RankState {
  enum class Phase : uint8_t { kRunning, kBlocked, kExited };
  Phase phase = Phase::kRunning;
  std::string waiting_on;
  std::function<bool()> ready;
  Status exit_status;
  uint64_t next_collective = 0;
};

void SimCommWorld::Collective::Decide() {
  const int n = static_cast<int>(parts.size());
  results.assign(n, Status::Ok());
  const std::string name = fmt::format("collective #{}", seq);

  // 1. A rank whose own arguments were bad fails with its own message; the others are told.
  std::string summary;
  for (int r = 0; r < n; ++r) {
    if (parts[r].local_error.ok()) continue;
    summary += fmt::format("{}{}", summary.empty() ? "" : "; ", parts[r].local_error.message());
  }
  if (!summary.empty()) {
    for (int r = 0; r < n; ++r) {
      results[r] =
          parts[r].local_error.ok()
              ? Status::InvalidArgument(fmt::format("{} failed on other ranks: {}", name, summary))
              : parts[r].local_error;
    }
    return;
  }

  // 2. Every rank must make the same call (kind, root, sizes), up to its own send/recv sizes.
  auto effective_counts = [n](const CollectiveCall& call) -> std::vector<uint64_t> {
    switch (call.kind) {
      case CollectiveKind::kBroadcast:
        return std::vector<uint64_t>(n, call.send_bytes);
      case CollectiveKind::kAllGather:
        return call.counts.empty() ? std::vector<uint64_t>(n, call.send_bytes) : call.counts;
      case CollectiveKind::kReduceScatterSum:
        return call.counts.empty() ? std::vector<uint64_t>(n, call.recv_bytes) : call.counts;
      case CollectiveKind::kBarrier:
        return std::vector<uint64_t>(n, 0);
    }
    return {};
  };
  const std::vector<uint64_t> reference = effective_counts(parts[0].call);
  bool agree = true;
  for (int r = 1; r < n && agree; ++r) {
    const CollectiveCall& call = parts[r].call;
    agree = call.kind == parts[0].call.kind && effective_counts(call) == reference &&
            (call.kind != CollectiveKind::kBroadcast || call.root == parts[0].call.root);
  }
  if (!agree) {
    std::vector<std::pair<std::string, std::vector<int>>> groups;
    for (int r = 0; r < n; ++r) {
      const std::string call = parts[r].call.Describe();
      auto it = std::find_if(groups.begin(), groups.end(),
                             [&](const auto& g) { return g.first == call; });
      if (it == groups.end()) {
        groups.push_back({call, {r}});
      } else {
        it->second.push_back(r);
      }
    }
    std::string text;
    for (const auto& [call, ranks] : groups) {
      text += fmt::format("{}rank{} {} called {}", text.empty() ? "" : "; ",
                          ranks.size() > 1 ? "s" : "", fmt::join(ranks, ","), call);
    }
    results.assign(
        n, Status::InvalidArgument(fmt::format("{}: ranks disagree on the call: {}", name, text)));
    return;
  }

  // 3. Either every device holds bytes or none does.
  for (int r = 1; r < n; ++r) {
    if (parts[r].holds_bytes != parts[0].holds_bytes) {
      results.assign(
          n, Status::FailedPrecondition(fmt::format(
                 "{}: rank 0's device {} bytes but rank {}'s {}; all ranks' devices must agree",
                 name, parts[0].holds_bytes ? "holds" : "holds no", r,
                 parts[r].holds_bytes ? "does" : "does not")));
      return;
    }
  }
  counts = reference;
}

// ---------------------------------------------------------------------------------------------

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
  RankState& state = ranks_[rank];
  if (state.phase == RankState::Phase::kExited) return;
  if (state.phase == RankState::Phase::kRunning) --running_;
  state.phase = RankState::Phase::kExited;
  state.exit_status = status;
  // The ranks still waiting may have been waiting on this one.
  if (blocked_ > 0 && options_.detect_deadlock && !abort_.has_value() && AllStuckLocked()) {
    AbortLocked(Status::Unavailable(
        fmt::format("deadlock: every rank is blocked or has exited: {}", ReportLocked())));
  }
}

Status SimCommWorld::abort_status() const { return abort_.has_value() ? *abort_ : Status::Ok(); }

std::vector<std::string> SimCommWorld::UndeliveredMessages() const {
  std::vector<std::string> out;
  for (const auto& [key, queue] : queues_) {
    for (const auto& message : queue) {
      out.push_back(fmt::format("{} -> {} tag {} ({} B)", message->src, message->dst, message->tag,
                                message->bytes));
    }
  }
  return out;
}

bool SimCommWorld::AllStuckLocked() const {
  if (running_ > 0 || in_flight_ > 0) return false;
  for (const RankState& state : ranks_) {
    if (state.phase == RankState::Phase::kBlocked && state.ready && state.ready()) return false;
  }
  return true;
}

std::string SimCommWorld::ReportLocked() const {
  std::string out;
  for (int r = 0; r < size_; ++r) {
    const RankState& state = ranks_[r];
    if (r > 0) out += "; ";
    switch (state.phase) {
      case RankState::Phase::kRunning:
        out += fmt::format("rank {} is running (not in a communication call)", r);
        break;
      case RankState::Phase::kBlocked:
        out += fmt::format("rank {} waits in {}{}", r, state.waiting_on,
                           state.ready && state.ready() ? " (now ready)" : "");
        break;
      case RankState::Phase::kExited:
        out += fmt::format("rank {} has exited ({})", r, StatusText(state.exit_status));
        break;
    }
  }
  const std::vector<std::string> queued = UndeliveredMessages();
  if (!queued.empty()) out += fmt::format("; messages not received: {}", fmt::join(queued, ", "));
  for (const auto& [seq, collective] : collectives_) {
    if (collective->complete) continue;
    std::vector<int> missing;
    for (int r = 0; r < size_; ++r) {
      if (!collective->parts[r].arrived) missing.push_back(r);
    }
    out += fmt::format("; collective #{} lacks rank(s) {}", seq, fmt::join(missing, ","));
  }
  return out;
}

void SimCommWorld::AbortLocked(Status reason) {
  if (!abort_.has_value()) abort_ = std::move(reason);
  for (int r = 0; r < size_; ++r) Notify(r);
}

Status SimCommWorld::AbortedLocked(int rank, const std::string& what) const {
  return Status(abort_->code(), fmt::format("rank {} in {}: communicator aborted: {}", rank, what,
                                            abort_->message()));
}

Status SimCommWorld::WaitLocked(Lock& lock, int rank, const std::string& what,
                                const std::function<bool()>& ready) {
  if (abort_.has_value()) return AbortedLocked(rank, what);
  if (ready()) return Status::Ok();
  RankState& state = ranks_[rank];
  state.phase = RankState::Phase::kBlocked;
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
      AbortLocked(Status::Unavailable(
          fmt::format("deadlock: every rank is blocked or has exited: {}", ReportLocked())));
      result = AbortedLocked(rank, what);
      break;
    }
    cvs_[rank]->wait(lock);
  }
  ++running_;
  --blocked_;
  state.phase = RankState::Phase::kRunning;
  state.waiting_on.clear();
  state.ready = nullptr;
  return result;
}

// ---------------------------------------------------------------------------------------------

struct SimComm::CollectiveArgs {
  CollectiveCall call;
  std::optional<BufferRegion> input;
  std::optional<BufferRegion> output;
  Status local_error;
};

SimComm::SimComm(SimCommWorld* world, int rank, SimDevice* device)
    : world_(world), rank_(rank), device_(device), holds_bytes_(device->Info().holds_bytes) {
  traffic_.peers.resize(world->size());
}

SimComm::~SimComm() = default;

Status SimComm::CheckPeer(int peer, std::string_view role) const {
  if (peer < 0 || peer >= size()) {
    return Status::InvalidArgument(
        fmt::format("rank {}: {} rank {} is outside [0, {})", rank_, role, peer, size()));
  }
  return Status::Ok();
}

StatusOr<std::vector<std::byte>> SimComm::ReadRegion(const BufferRegion& region,
                                                     std::string_view op) {
  if (!region.InBounds()) {
    return Status::InvalidArgument(fmt::format(
        "rank {}: bytes [{}, {}+{}) lie outside buffer #{} of {} B", rank_, region.offset,
        region.offset, region.bytes, region.buffer.id, region.buffer.bytes));
  }
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
  if (!payload.ok()) {
    return Status(payload.status().code(),
                  fmt::format("rank {} in {}: {}", rank_, what, payload.status().message()));
  }
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
    world_->queues_[{rank_, dst, tag}].push_back(message);
    world_->Notify(dst);
  }
  if (eager && dst != rank_) {
    traffic_.peers[dst].bytes_sent += src.bytes;
    ++traffic_.peers[dst].messages_sent;
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
  if (!message->receive_error.ok()) {
    return Status(message->receive_error.code(),
                  fmt::format("rank {} in {}: rank {} rejected the message: {}", rank_, what,
                              message->dst, message->receive_error.message()));
  }
  if (message->dst != rank_) {
    traffic_.peers[message->dst].bytes_sent += message->bytes;
    ++traffic_.peers[message->dst].messages_sent;
  }
  return Status::Ok();
}

Status SimComm::TakeMessage(int src, const BufferRegion& dst, int tag, const std::string& what) {
  SimCommWorld* world = world_;
  std::shared_ptr<SimCommWorld::Message> message;
  {
    SimCommWorld::Lock lock(*world->mu_);
    const std::tuple<int, int, int> key{src, rank_, tag};
    auto& queues = world->queues_;
    TWINSIM_RETURN_IF_ERROR(world->WaitLocked(lock, rank_, what, [&queues, &key] {
      auto it = queues.find(key);
      return it != queues.end() && !it->second.empty();
    }));
    auto it = queues.find(key);
    message = it->second.front();
    it->second.pop_front();
    if (it->second.empty()) queues.erase(it);
  }
  // The message is ours now: check it, move its bytes, write them, then tell the sender.
  Status status;
  if (message->bytes != dst.bytes) {
    status = Status::InvalidArgument(
        fmt::format("rank {} in {}: the message from rank {} has {} B, the receive expects {} B",
                    rank_, what, src, message->bytes, dst.bytes));
  } else if (Status region = device_->CheckRegion(dst, "Recv"); !region.ok()) {
    status = region;
  } else if (holds_bytes_ && !message->has_payload) {
    status = Status::FailedPrecondition(fmt::format(
        "rank {} in {}: rank {}'s device holds no bytes, this rank's does", rank_, what, src));
  } else if (!message->arrived) {
    SimCommWorld::Lock lock(*world->mu_);
    status = world->WaitLocked(lock, rank_, what, [&message] { return message->arrived; });
  } else if (world->options_.send_mode == SendMode::kRendezvous) {
    SimCluster* cluster = world->cluster_;
    status = cluster->MoveBytes(src, cluster->gpu(src), cluster->gpu(rank_), message->bytes);
  }
  if (status.ok()) status = message->transfer_error;
  if (status.ok() && holds_bytes_) status = device_->WriteRegion(dst, message->payload, "Recv");
  {
    SimCommWorld::Lock lock(*world->mu_);
    message->receive_error = status;
    message->consumed = true;
    message->payload.clear();
    message->payload.shrink_to_fit();
    world->Notify(src);
  }
  if (status.ok() && src != rank_) {
    traffic_.peers[src].bytes_received += message->bytes;
    ++traffic_.peers[src].messages_received;
  }
  return status;
}

Status SimComm::Send(int dst, const BufferRegion& src, int tag) {
  const double start = world_->cluster_->Now();
  const std::string what = fmt::format("Send(dst={}, tag={}, {} B)", dst, tag, src.bytes);
  TWINSIM_RETURN_IF_ERROR(CheckPeer(dst, "destination"));
  if (tag < 0)
    return Status::InvalidArgument(fmt::format("rank {} in {}: negative tag", rank_, what));
  std::shared_ptr<SimCommWorld::Message> message;
  TWINSIM_RETURN_IF_ERROR(PostMessage(dst, src, tag, what, &message));
  Status status = AwaitConsumed(message, what);
  TraceCall(what, start, src.bytes, status);
  return status;
}

Status SimComm::Recv(int src, const BufferRegion& dst, int tag) {
  const double start = world_->cluster_->Now();
  const std::string what = fmt::format("Recv(src={}, tag={}, {} B)", src, tag, dst.bytes);
  TWINSIM_RETURN_IF_ERROR(CheckPeer(src, "source"));
  if (tag < 0)
    return Status::InvalidArgument(fmt::format("rank {} in {}: negative tag", rank_, what));
  if (!dst.InBounds()) {
    return Status::InvalidArgument(
        fmt::format("rank {} in {}: the region lies outside its buffer", rank_, what));
  }
  Status status = TakeMessage(src, dst, tag, what);
  TraceCall(what, start, dst.bytes, status);
  return status;
}

Status SimComm::SendRecv(int dst, const BufferRegion& send, int src, const BufferRegion& recv,
                         int tag) {
  const double start = world_->cluster_->Now();
  const std::string what = fmt::format("SendRecv(dst={}, {} B, src={}, {} B, tag={})", dst,
                                       send.bytes, src, recv.bytes, tag);
  TWINSIM_RETURN_IF_ERROR(CheckPeer(dst, "destination"));
  TWINSIM_RETURN_IF_ERROR(CheckPeer(src, "source"));
  if (tag < 0)
    return Status::InvalidArgument(fmt::format("rank {} in {}: negative tag", rank_, what));
  if (!recv.InBounds()) {
    return Status::InvalidArgument(
        fmt::format("rank {} in {}: the receive region lies outside its buffer", rank_, what));
  }
  std::shared_ptr<SimCommWorld::Message> message;
  TWINSIM_RETURN_IF_ERROR(PostMessage(dst, send, tag, what, &message));
  Status status = TakeMessage(src, recv, tag, what);
  if (status.ok()) status = AwaitConsumed(message, what);
  TraceCall(what, start, send.bytes + recv.bytes, status);
  return status;
}

Status SimComm::RunCollective(CollectiveArgs args) {
  SimCommWorld* world = world_;
  const double start = world->cluster_->Now();
  std::string what = args.call.Describe();
  SimCommWorld::Collective::Part part;
  part.arrived = true;
  part.holds_bytes = holds_bytes_;
  part.local_error = args.local_error;
  if (part.local_error.ok() && args.input.has_value()) {
    StatusOr<std::vector<std::byte>> payload = ReadRegion(*args.input, what);
    if (payload.ok()) {
      part.payload = std::move(payload).value();
    } else {
      part.local_error = payload.status();
    }
  }
  if (part.local_error.ok() && args.output.has_value() && !args.output->InBounds()) {
    part.local_error = Status::InvalidArgument(
        fmt::format("rank {}: the output region lies outside its buffer", rank_));
  }
  if (part.local_error.ok() && args.output.has_value()) {
    part.local_error = device_->CheckRegion(*args.output, what);
  }
  if (!part.local_error.ok()) {
    part.local_error = Status(part.local_error.code(), fmt::format("rank {} in {}: {}", rank_, what,
                                                                   part.local_error.message()));
  }
  part.call = args.call;
  const int n = size();

  std::shared_ptr<SimCommWorld::Collective> collective;
  {
    SimCommWorld::Lock lock(*world->mu_);
    if (world->abort_.has_value()) return world->AbortedLocked(rank_, what);
    const uint64_t seq = world->ranks_[rank_].next_collective++;
    what = fmt::format("{} [collective #{}]", what, seq);
    std::shared_ptr<SimCommWorld::Collective>& slot = world->collectives_[seq];
    if (slot == nullptr) {
      slot = std::make_shared<SimCommWorld::Collective>();
      slot->seq = seq;
      slot->parts.resize(n);
    }
    collective = slot;
    collective->parts[rank_] = std::move(part);
    if (++collective->arrived == n) {
      collective->Decide();
      // Note [Collective timing]: the last rank to arrive runs the ring's transfers.
      {
        bool all_ok = true;
        for (const Status& s : collective->results) all_ok = all_ok && s.ok();
        if (all_ok) {
          lock.unlock();
          const std::vector<uint64_t> counts =
              collective->counts.empty() ? std::vector<uint64_t>(n, 0) : collective->counts;
          Status moved;
          std::vector<sg4::CommPtr> transfers;
          SimCluster* cluster = world->cluster_;
          for (const Flow& flow : RingFlows(collective->parts[0].call, counts, n)) {
            StatusOr<sg4::CommPtr> started = cluster->StartMove(flow.from, cluster->gpu(flow.from),
                                                                cluster->gpu(flow.to), flow.bytes);
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
          lock.lock();
          if (!moved.ok()) {
            collective->results.assign(
                n, Status::Internal(fmt::format("collective #{}: {}", seq, moved.message())));
          }
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
  const std::vector<uint64_t>& counts = collective->counts;
  const auto& parts = collective->parts;
  if (status.ok() && holds_bytes_) {
    switch (args.call.kind) {
      case CollectiveKind::kBroadcast:
        if (rank_ != args.call.root) {
          status = device_->WriteRegion(*args.output, parts[args.call.root].payload, what);
        }
        break;
      case CollectiveKind::kAllGather: {
        uint64_t offset = args.output->offset;
        for (int r = 0; r < n && status.ok(); ++r) {
          status = device_->WriteRegion(BufferRegion::Slice(args.output->buffer, offset, counts[r]),
                                        parts[r].payload, what);
          offset += counts[r];
        }
        break;
      }
      case CollectiveKind::kReduceScatterSum: {
        uint64_t begin = 0;
        for (int r = 0; r < rank_; ++r) begin += counts[r];
        const uint64_t elements = counts[rank_] / sizeof(float);
        std::vector<float> sum(elements);
        std::vector<float> term(elements);
        if (elements > 0) {
          // In rank order, as HostComm adds: bit-identical results on both backends.
          std::memcpy(sum.data(), parts[0].payload.data() + begin, elements * sizeof(float));
          for (int r = 1; r < n; ++r) {
            std::memcpy(term.data(), parts[r].payload.data() + begin, elements * sizeof(float));
            for (uint64_t i = 0; i < elements; ++i) sum[i] += term[i];
          }
        }
        status = device_->WriteRegion(
            *args.output,
            std::span<const std::byte>(reinterpret_cast<const std::byte*>(sum.data()),
                                       elements * sizeof(float)),
            what);
        break;
      }
      case CollectiveKind::kBarrier:
        break;
    }
    if (!status.ok()) {
      status = Status(status.code(), fmt::format("rank {} in {}: writing the result: {}", rank_,
                                                 what, status.message()));
    }
  }
  if (status.ok()) {
    // Note [Logical traffic] in core/comm.h.
    for (int peer = 0; peer < n; ++peer) {
      if (peer == rank_) continue;
      PeerTraffic& t = traffic_.peers[peer];
      switch (args.call.kind) {
        case CollectiveKind::kBroadcast:
          if (rank_ == args.call.root) t.bytes_sent += counts[peer];
          if (peer == args.call.root) t.bytes_received += counts[rank_];
          break;
        case CollectiveKind::kAllGather:
          t.bytes_sent += counts[rank_];
          t.bytes_received += counts[peer];
          break;
        case CollectiveKind::kReduceScatterSum:
          t.bytes_sent += counts[peer];
          t.bytes_received += counts[rank_];
          break;
        case CollectiveKind::kBarrier:
          break;
      }
    }
    ++traffic_.collective_calls;
  }
  {
    SimCommWorld::Lock lock(*world->mu_);
    if (++collective->departed == n) world->collectives_.erase(collective->seq);
  }
  TraceCall(what, start, args.call.send_bytes, status);
  return status;
}

Status SimComm::Broadcast(int root, const BufferRegion& buffer) {
  CollectiveArgs args;
  args.call.kind = CollectiveKind::kBroadcast;
  args.call.root = root;
  args.call.send_bytes = buffer.bytes;
  args.call.recv_bytes = buffer.bytes;
  args.local_error = CheckPeer(root, "root");
  if (args.local_error.ok()) {
    if (rank_ == root) {
      args.input = buffer;
    } else {
      args.output = buffer;
    }
  }
  return RunCollective(std::move(args));
}

Status SimComm::AllGather(const BufferRegion& send, const BufferRegion& recv,
                          std::span<const uint64_t> counts) {
  CollectiveArgs args;
  args.call.kind = CollectiveKind::kAllGather;
  args.call.send_bytes = send.bytes;
  args.call.recv_bytes = recv.bytes;
  args.call.counts.assign(counts.begin(), counts.end());
  bool overflow = false;
  if (!counts.empty() && counts.size() != static_cast<size_t>(size())) {
    args.local_error =
        Status::InvalidArgument(fmt::format("{} counts for {} ranks", counts.size(), size()));
  } else if (!counts.empty() && send.bytes != counts[rank_]) {
    args.local_error = Status::InvalidArgument(
        fmt::format("send has {} B but counts[{}] = {}", send.bytes, rank_, counts[rank_]));
  } else if (!counts.empty() && (recv.bytes != Sum(counts, &overflow) || overflow)) {
    args.local_error = Status::InvalidArgument(
        fmt::format("recv has {} B but the counts sum to {}", recv.bytes, Sum(counts, &overflow)));
  } else if (counts.empty() && (send.bytes > std::numeric_limits<uint64_t>::max() / size() ||
                                recv.bytes != send.bytes * size())) {
    args.local_error = Status::InvalidArgument(fmt::format(
        "recv has {} B but {} ranks x {} B were expected", recv.bytes, size(), send.bytes));
  }
  if (args.local_error.ok()) {
    args.input = send;
    args.output = recv;
  }
  return RunCollective(std::move(args));
}

Status SimComm::ReduceScatterSum(const BufferRegion& send, const BufferRegion& recv,
                                 std::span<const uint64_t> counts) {
  CollectiveArgs args;
  args.call.kind = CollectiveKind::kReduceScatterSum;
  args.call.send_bytes = send.bytes;
  args.call.recv_bytes = recv.bytes;
  args.call.counts.assign(counts.begin(), counts.end());
  bool overflow = false;
  bool aligned = recv.bytes % sizeof(float) == 0;
  for (uint64_t c : counts) aligned = aligned && c % sizeof(float) == 0;
  if (!counts.empty() && counts.size() != static_cast<size_t>(size())) {
    args.local_error =
        Status::InvalidArgument(fmt::format("{} counts for {} ranks", counts.size(), size()));
  } else if (!aligned) {
    args.local_error =
        Status::InvalidArgument("byte counts must be multiples of 4 (fp32 elements)");
  } else if (!counts.empty() && recv.bytes != counts[rank_]) {
    args.local_error = Status::InvalidArgument(
        fmt::format("recv has {} B but counts[{}] = {}", recv.bytes, rank_, counts[rank_]));
  } else if (!counts.empty() && (send.bytes != Sum(counts, &overflow) || overflow)) {
    args.local_error = Status::InvalidArgument(
        fmt::format("send has {} B but the counts sum to {}", send.bytes, Sum(counts, &overflow)));
  } else if (counts.empty() && (recv.bytes > std::numeric_limits<uint64_t>::max() / size() ||
                                send.bytes != recv.bytes * size())) {
    args.local_error = Status::InvalidArgument(fmt::format(
        "send has {} B but {} ranks x {} B were expected", send.bytes, size(), recv.bytes));
  }
  if (args.local_error.ok()) {
    args.input = send;
    args.output = recv;
  }
  return RunCollective(std::move(args));
}

Status SimComm::Barrier() {
  CollectiveArgs args;
  args.call.kind = CollectiveKind::kBarrier;
  return RunCollective(std::move(args));
}

}  // namespace twinsim::sim
