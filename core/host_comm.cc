#include "core/host_comm.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <exception>
#include <limits>
#include <system_error>
#include <thread>
#include <utility>

// Note [Determinism of HostComm]
// ------------------------------
// The host backend is the reference other backends are compared with, so what a program gets
// from it must not depend on how the OS schedules the rank threads:
// - A Recv names its source and tag, and messages with the same (source, destination, tag)
//   are delivered in the order they were sent. No any-source receive exists, so the message a
//   Recv gets is fixed by the sender's program order.
// - A collective is matched by call order (each rank's k-th collective call is collective #k).
//   Each rank stages its input; only when every rank has arrived are outputs computed, each
//   rank from all contributions, so no rank ever sees a partial result. The fp32 sum of
//   ReduceScatterSum adds in rank order 0, 1, ..., N-1 whatever the arrival order.
// - Argument errors of a collective (kinds, roots or sizes that disagree) are decided from all
//   ranks' calls at once, so every rank gets the same verdict on every run.
// - Fresh device buffers hold a fixed pattern (HostDeviceOptions::fresh_byte).
// Only the text of an abort report (deadlock, timeout) depends on timing: it describes the
// moment it was taken. Its status code does not.

namespace twinsim::core {

struct HostCommWorld::Message {
  int src = 0;
  int dst = 0;
  int tag = 0;
  uint64_t bytes = 0;
  bool has_payload = false;  // false when the sender's device holds no bytes
  std::vector<std::byte> payload;
  bool consumed = false;  // the receiver has written it, or rejected it
  Status receive_error;   // why the receiver rejected it
};

namespace {

enum class CollectiveKind : uint8_t { kBroadcast, kAllGather, kReduceScatterSum, kBarrier };

// What one rank asked a collective to do, as given.
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

}  // namespace

struct HostCommWorld::Collective {
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
  std::vector<Status> results;   // per rank, set on completion
  std::vector<uint64_t> counts;  // effective per-rank byte counts, set on success

  // Decides every rank's result from all calls. Called once, by the last rank to arrive.
  void Finalize();
};

struct HostCommWorld::RankState {
  enum class Phase : uint8_t { kRunning, kBlocked, kExited };
  Phase phase = Phase::kRunning;
  std::string waiting_on;
  std::function<bool()> ready;
  Status exit_status;
  uint64_t next_collective = 0;
};

void HostCommWorld::Collective::Finalize() {
  const int n = static_cast<int>(parts.size());
  results.assign(n, Status::Ok());
  const std::string name = fmt::format("collective #{}", seq);

  // 1. A rank whose own arguments were bad fails with its own message; the others are told.
  std::vector<int> bad;
  for (int r = 0; r < n; ++r) {
    if (!parts[r].local_error.ok()) bad.push_back(r);
  }
  if (!bad.empty()) {
    std::string summary;
    for (int r : bad) {
      // The message starts "rank R in <call>: ...".
      summary += fmt::format("{}{}", summary.empty() ? "" : "; ", parts[r].local_error.message());
    }
    for (int r = 0; r < n; ++r) {
      results[r] =
          parts[r].local_error.ok()
              ? Status::InvalidArgument(fmt::format("{} failed on other ranks: {}", name, summary))
              : parts[r].local_error;
    }
    return;
  }

  // 2. Every rank must make the same call (kind, root, sizes), up to its own send/recv sizes.
  auto effective_counts = [&](const CollectiveCall& call) -> std::vector<uint64_t> {
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
    // Group ranks by what they called, in order of the first rank of each group.
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
    const Status mismatch =
        Status::InvalidArgument(fmt::format("{}: ranks disagree on the call: {}", name, text));
    results.assign(n, mismatch);
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

HostCommWorld::HostCommWorld(int size, HostCommOptions options)
    : size_(size < 1 ? 1 : size), options_(options), ranks_(size_) {}

HostCommWorld::~HostCommWorld() = default;

void HostCommWorld::MarkExited(int rank, const Status& status) {
  std::lock_guard<std::mutex> lock(mu_);
  if (rank < 0 || rank >= size_) return;
  ranks_[rank].phase = RankState::Phase::kExited;
  ranks_[rank].exit_status = status;
  cv_.notify_all();
}

Status HostCommWorld::abort_status() const {
  std::lock_guard<std::mutex> lock(mu_);
  return abort_.has_value() ? *abort_ : Status::Ok();
}

std::vector<std::string> HostCommWorld::UndeliveredMessages() const {
  std::lock_guard<std::mutex> lock(mu_);
  return UndeliveredLocked();
}

std::vector<std::string> HostCommWorld::UndeliveredLocked() const {
  std::vector<std::string> out;
  for (const auto& [key, queue] : queues_) {
    for (const auto& message : queue) {
      out.push_back(fmt::format("{} -> {} tag {} ({} B)", message->src, message->dst, message->tag,
                                message->bytes));
    }
  }
  return out;
}

bool HostCommWorld::AllStuckLocked() const {
  for (const RankState& state : ranks_) {
    switch (state.phase) {
      case RankState::Phase::kRunning:
        return false;
      case RankState::Phase::kBlocked:
        if (state.ready && state.ready()) return false;
        break;
      case RankState::Phase::kExited:
        break;
    }
  }
  return true;
}

std::string HostCommWorld::ReportLocked() const {
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
  const std::vector<std::string> queued = UndeliveredLocked();
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

void HostCommWorld::AbortLocked(Status reason) {
  if (!abort_.has_value()) abort_ = std::move(reason);
  cv_.notify_all();
}

Status HostCommWorld::AbortedLocked(int rank, const std::string& what) const {
  return Status(abort_->code(), fmt::format("rank {} in {}: communicator aborted: {}", rank, what,
                                            abort_->message()));
}

Status HostCommWorld::WaitLocked(std::unique_lock<std::mutex>& lock, int rank,
                                 const std::string& what, const std::function<bool()>& ready) {
  if (abort_.has_value()) return AbortedLocked(rank, what);
  if (ready()) return Status::Ok();
  RankState& state = ranks_[rank];
  state.phase = RankState::Phase::kBlocked;
  state.waiting_on = what;
  state.ready = ready;
  const auto start = std::chrono::steady_clock::now();
  const auto deadline = start + options_.timeout;
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
    if (cv_.wait_until(lock, deadline) == std::cv_status::timeout) {
      if (ready()) break;
      if (!abort_.has_value()) {
        AbortLocked(
            Status::Unavailable(fmt::format("timed out: rank {} waited {} ms in {}: {}", rank,
                                            options_.timeout.count(), what, ReportLocked())));
      }
      result = AbortedLocked(rank, what);
      break;
    }
  }
  state.phase = RankState::Phase::kRunning;
  state.waiting_on.clear();
  state.ready = nullptr;
  return result;
}

// ---------------------------------------------------------------------------------------------

struct HostComm::CollectiveArgs {
  CollectiveCall call;
  std::optional<BufferRegion> input;   // what this rank contributes, if anything
  std::optional<BufferRegion> output;  // where this rank's result goes, if anywhere
  Status local_error;                  // this rank's own arguments are bad
};

HostComm::HostComm(HostCommWorld* world, int rank, Device* device)
    : world_(world), rank_(rank), device_(device), holds_bytes_(device->Info().holds_bytes) {
  traffic_.peers.resize(world->size());
}

HostComm::~HostComm() = default;

Status HostComm::CheckPeer(int peer, std::string_view role) const {
  if (peer < 0 || peer >= size()) {
    return Status::InvalidArgument(
        fmt::format("rank {}: {} rank {} is outside [0, {})", rank_, role, peer, size()));
  }
  return Status::Ok();
}

Status HostComm::CheckRegion(const BufferRegion& region) {
  // A self-copy validates the handle and the bounds; on a device without bytes it moves nothing.
  return device_->Copy(region, region);
}

StatusOr<std::vector<std::byte>> HostComm::ReadRegion(const BufferRegion& region) {
  if (!region.InBounds()) {
    return Status::InvalidArgument(fmt::format(
        "rank {}: bytes [{}, {}+{}) lie outside buffer #{} of {} B", rank_, region.offset,
        region.offset, region.bytes, region.buffer.id, region.buffer.bytes));
  }
  if (!holds_bytes_) {
    TWINSIM_RETURN_IF_ERROR(CheckRegion(region));
    return std::vector<std::byte>();
  }
  std::vector<std::byte> payload(region.bytes);
  TWINSIM_RETURN_IF_ERROR(device_->CopyToHost(region, payload));
  return payload;
}

Status HostComm::PostMessage(int dst, const BufferRegion& src, int tag, const std::string& what,
                             std::shared_ptr<HostCommWorld::Message>* posted) {
  StatusOr<std::vector<std::byte>> payload = ReadRegion(src);
  if (!payload.ok()) {
    return Status(payload.status().code(),
                  fmt::format("rank {} in {}: {}", rank_, what, payload.status().message()));
  }
  auto message = std::make_shared<HostCommWorld::Message>();
  message->src = rank_;
  message->dst = dst;
  message->tag = tag;
  message->bytes = src.bytes;
  message->has_payload = holds_bytes_;
  message->payload = std::move(payload).value();
  std::lock_guard<std::mutex> lock(world_->mu_);
  if (world_->abort_.has_value()) return world_->AbortedLocked(rank_, what);
  world_->queues_[{rank_, dst, tag}].push_back(message);
  world_->cv_.notify_all();
  *posted = std::move(message);
  if (world_->options_.send_mode == SendMode::kEager && dst != rank_) {
    traffic_.peers[dst].bytes_sent += src.bytes;
    ++traffic_.peers[dst].messages_sent;
  }
  return Status::Ok();
}

Status HostComm::AwaitConsumed(const std::shared_ptr<HostCommWorld::Message>& message,
                               const std::string& what) {
  if (world_->options_.send_mode == SendMode::kEager) return Status::Ok();
  std::unique_lock<std::mutex> lock(world_->mu_);
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

Status HostComm::TakeMessage(int src, const BufferRegion& dst, int tag, const std::string& what) {
  std::shared_ptr<HostCommWorld::Message> message;
  {
    std::unique_lock<std::mutex> lock(world_->mu_);
    const std::tuple<int, int, int> key{src, rank_, tag};
    auto& queues = world_->queues_;
    TWINSIM_RETURN_IF_ERROR(world_->WaitLocked(lock, rank_, what, [&queues, &key] {
      auto it = queues.find(key);
      return it != queues.end() && !it->second.empty();
    }));
    auto it = queues.find(key);
    message = it->second.front();
    it->second.pop_front();
    if (it->second.empty()) queues.erase(it);
  }
  // The message is ours now; write it outside the lock, then tell the sender.
  Status status;
  if (message->bytes != dst.bytes) {
    status = Status::InvalidArgument(
        fmt::format("rank {} in {}: the message from rank {} has {} B, the receive expects {} B",
                    rank_, what, src, message->bytes, dst.bytes));
  } else if (!holds_bytes_) {
    status = CheckRegion(dst);
  } else if (!message->has_payload) {
    status = Status::FailedPrecondition(fmt::format(
        "rank {} in {}: rank {}'s device holds no bytes, this rank's does", rank_, what, src));
  } else {
    status = device_->CopyFromHost(dst, message->payload);
  }
  {
    std::lock_guard<std::mutex> lock(world_->mu_);
    message->receive_error = status;
    message->consumed = true;
    message->payload.clear();
    message->payload.shrink_to_fit();
    world_->cv_.notify_all();
  }
  if (status.ok() && src != rank_) {
    traffic_.peers[src].bytes_received += message->bytes;
    ++traffic_.peers[src].messages_received;
  }
  return status;
}

Status HostComm::Send(int dst, const BufferRegion& src, int tag) {
  const std::string what = fmt::format("Send(dst={}, tag={}, {} B)", dst, tag, src.bytes);
  TWINSIM_RETURN_IF_ERROR(CheckPeer(dst, "destination"));
  if (tag < 0)
    return Status::InvalidArgument(fmt::format("rank {} in {}: negative tag", rank_, what));
  std::shared_ptr<HostCommWorld::Message> message;
  TWINSIM_RETURN_IF_ERROR(PostMessage(dst, src, tag, what, &message));
  return AwaitConsumed(message, what);
}

Status HostComm::Recv(int src, const BufferRegion& dst, int tag) {
  const std::string what = fmt::format("Recv(src={}, tag={}, {} B)", src, tag, dst.bytes);
  TWINSIM_RETURN_IF_ERROR(CheckPeer(src, "source"));
  if (tag < 0)
    return Status::InvalidArgument(fmt::format("rank {} in {}: negative tag", rank_, what));
  if (!dst.InBounds()) {
    return Status::InvalidArgument(
        fmt::format("rank {} in {}: the region lies outside its buffer", rank_, what));
  }
  return TakeMessage(src, dst, tag, what);
}

Status HostComm::SendRecv(int dst, const BufferRegion& send, int src, const BufferRegion& recv,
                          int tag) {
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
  std::shared_ptr<HostCommWorld::Message> message;
  TWINSIM_RETURN_IF_ERROR(PostMessage(dst, send, tag, what, &message));
  TWINSIM_RETURN_IF_ERROR(TakeMessage(src, recv, tag, what));
  return AwaitConsumed(message, what);
}

Status HostComm::RunCollective(CollectiveArgs args) {
  std::string what = args.call.Describe();
  HostCommWorld::Collective::Part part;
  part.arrived = true;
  part.holds_bytes = holds_bytes_;
  part.local_error = args.local_error;
  if (part.local_error.ok() && args.input.has_value()) {
    StatusOr<std::vector<std::byte>> payload = ReadRegion(*args.input);
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
  if (part.local_error.ok() && args.output.has_value() && !holds_bytes_) {
    part.local_error = CheckRegion(*args.output);
  }
  if (!part.local_error.ok()) {
    part.local_error = Status(part.local_error.code(), fmt::format("rank {} in {}: {}", rank_, what,
                                                                   part.local_error.message()));
  }
  part.call = args.call;

  std::shared_ptr<HostCommWorld::Collective> collective;
  {
    std::unique_lock<std::mutex> lock(world_->mu_);
    if (world_->abort_.has_value()) return world_->AbortedLocked(rank_, what);
    const uint64_t seq = world_->ranks_[rank_].next_collective++;
    what = fmt::format("{} [collective #{}]", what, seq);
    std::shared_ptr<HostCommWorld::Collective>& slot = world_->collectives_[seq];
    if (slot == nullptr) {
      slot = std::make_shared<HostCommWorld::Collective>();
      slot->seq = seq;
      slot->parts.resize(size());
    }
    collective = slot;
    collective->parts[rank_] = std::move(part);
    if (++collective->arrived == size()) {
      collective->Finalize();
      collective->complete = true;
      world_->cv_.notify_all();
    }
    TWINSIM_RETURN_IF_ERROR(
        world_->WaitLocked(lock, rank_, what, [&collective] { return collective->complete; }));
  }

  // Complete: every part is immutable from here on, so outputs are computed without the lock.
  Status status = collective->results[rank_];
  const std::vector<uint64_t>& counts = collective->counts;
  const auto& parts = collective->parts;
  const int n = size();
  if (status.ok() && holds_bytes_) {
    switch (args.call.kind) {
      case CollectiveKind::kBroadcast:
        if (rank_ != args.call.root) {
          status = device_->CopyFromHost(*args.output, parts[args.call.root].payload);
        }
        break;
      case CollectiveKind::kAllGather: {
        uint64_t offset = args.output->offset;
        for (int r = 0; r < n && status.ok(); ++r) {
          status = device_->CopyFromHost(
              BufferRegion::Slice(args.output->buffer, offset, counts[r]), parts[r].payload);
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
          std::memcpy(sum.data(), parts[0].payload.data() + begin, elements * sizeof(float));
          for (int r = 1; r < n; ++r) {
            std::memcpy(term.data(), parts[r].payload.data() + begin, elements * sizeof(float));
            for (uint64_t i = 0; i < elements; ++i) sum[i] += term[i];
          }
        }
        status = device_->CopyFromHost(
            *args.output, std::span<const std::byte>(reinterpret_cast<const std::byte*>(sum.data()),
                                                     elements * sizeof(float)));
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
    std::lock_guard<std::mutex> lock(world_->mu_);
    if (++collective->departed == n) world_->collectives_.erase(collective->seq);
  }
  return status;
}

Status HostComm::Broadcast(int root, const BufferRegion& buffer) {
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

Status HostComm::AllGather(const BufferRegion& send, const BufferRegion& recv,
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

Status HostComm::ReduceScatterSum(const BufferRegion& send, const BufferRegion& recv,
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

Status HostComm::Barrier() {
  CollectiveArgs args;
  args.call.kind = CollectiveKind::kBarrier;
  return RunCollective(std::move(args));
}

// ---------------------------------------------------------------------------------------------

std::vector<Status> RunRanks(int world_size, const RankFunction& fn) {
  RunRanksOptions options;
  options.world_size = world_size;
  return RunRanks(options, fn);
}

std::vector<Status> RunRanks(const RunRanksOptions& options, const RankFunction& fn) {
  if (options.world_size < 1) {
    return {Status::InvalidArgument(
        fmt::format("RunRanks: world size {} (must be at least 1)", options.world_size))};
  }
  const int n = options.world_size;
  HostCommWorld world(n, options.comm);
  std::vector<std::unique_ptr<HostDevice>> devices;
  std::vector<std::unique_ptr<HostComm>> comms;
  for (int r = 0; r < n; ++r) {
    HostDeviceOptions device_options = options.device;
    if (!device_options.name.empty()) device_options.name += fmt::format(":{}", r);
    devices.push_back(std::make_unique<HostDevice>(r, std::move(device_options)));
    comms.push_back(std::make_unique<HostComm>(&world, r, devices.back().get()));
  }
  std::vector<Status> statuses(n);
  auto run_rank = [&](int r) {
    Status status;
    try {
      status = fn(r, *comms[r], *devices[r]);
    } catch (const std::exception& e) {
      status = Status::Internal(fmt::format("rank {} threw: {}", r, e.what()));
    } catch (...) {
      status = Status::Internal(fmt::format("rank {} threw a non-standard exception", r));
    }
    world.MarkExited(r, status);
    statuses[r] = std::move(status);
  };
  std::vector<std::thread> threads;
  threads.reserve(n);
  for (int r = 0; r < n; ++r) {
    try {
      threads.emplace_back(run_rank, r);
    } catch (const std::system_error& e) {
      statuses[r] = Status::Unavailable(fmt::format("rank {}: no thread: {}", r, e.what()));
      world.MarkExited(r, statuses[r]);
    }
  }
  for (std::thread& thread : threads) thread.join();
  return statuses;
}

Status CombineRankStatuses(std::span<const Status> statuses) {
  std::optional<StatusCode> code;
  std::string message;
  for (size_t r = 0; r < statuses.size(); ++r) {
    if (statuses[r].ok()) continue;
    if (!code.has_value()) code = statuses[r].code();
    message += fmt::format("{}rank {}: {}", message.empty() ? "" : "; ", r, statuses[r].message());
  }
  if (!code.has_value()) return Status::Ok();
  return Status(*code, std::move(message));
}

}  // namespace twinsim::core
