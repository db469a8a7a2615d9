#include "core/comm_matching.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <utility>

namespace twinsim::core {
namespace {

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

Status CheckTag(int rank, int tag, std::string_view what) {
  if (tag >= 0) return Status::Ok();
  return Status::InvalidArgument(fmt::format("rank {} in {}: negative tag", rank, what));
}

}  // namespace

// ---- Point-to-point --------------------------------------------------------------------------

std::string DescribeSend(int dst, int tag, uint64_t bytes) {
  return fmt::format("Send(dst={}, tag={}, {} B)", dst, tag, bytes);
}

std::string DescribeRecv(int src, int tag, uint64_t bytes) {
  return fmt::format("Recv(src={}, tag={}, {} B)", src, tag, bytes);
}

std::string DescribeSendRecv(int dst, uint64_t send_bytes, int src, uint64_t recv_bytes,
                             int tag) {
  return fmt::format("SendRecv(dst={}, {} B, src={}, {} B, tag={})", dst, send_bytes, src,
                     recv_bytes, tag);
}

Status CheckPeer(int rank, int size, int peer, std::string_view role) {
  if (peer < 0 || peer >= size) {
    return Status::InvalidArgument(
        fmt::format("rank {}: {} rank {} is outside [0, {})", rank, role, peer, size));
  }
  return Status::Ok();
}

Status CheckSendArgs(int rank, int size, int dst, int tag, std::string_view what) {
  TWINSIM_RETURN_IF_ERROR(CheckPeer(rank, size, dst, "destination"));
  return CheckTag(rank, tag, what);
}

Status CheckRecvArgs(int rank, int size, int src, const BufferRegion& dst, int tag,
                     std::string_view what) {
  TWINSIM_RETURN_IF_ERROR(CheckPeer(rank, size, src, "source"));
  TWINSIM_RETURN_IF_ERROR(CheckTag(rank, tag, what));
  if (!dst.InBounds()) {
    return Status::InvalidArgument(
        fmt::format("rank {} in {}: the region lies outside its buffer", rank, what));
  }
  return Status::Ok();
}

Status CheckSendRecvArgs(int rank, int size, int dst, int src, const BufferRegion& recv, int tag,
                         std::string_view what) {
  TWINSIM_RETURN_IF_ERROR(CheckPeer(rank, size, dst, "destination"));
  TWINSIM_RETURN_IF_ERROR(CheckPeer(rank, size, src, "source"));
  TWINSIM_RETURN_IF_ERROR(CheckTag(rank, tag, what));
  if (!recv.InBounds()) {
    return Status::InvalidArgument(
        fmt::format("rank {} in {}: the receive region lies outside its buffer", rank, what));
  }
  return Status::Ok();
}

Status InCall(int rank, std::string_view what, const Status& status) {
  return Status(status.code(), fmt::format("rank {} in {}: {}", rank, what, status.message()));
}

Status RegionOutsideBuffer(int rank, const BufferRegion& region) {
  return Status::InvalidArgument(fmt::format("rank {}: bytes [{}, {}+{}) lie outside buffer #{} of {} B",
                                             rank, region.offset, region.offset, region.bytes,
                                             region.buffer.id, region.buffer.bytes));
}

std::string DescribeMessage(const QueuedMessage& message) {
  return fmt::format("{} -> {} tag {} ({} B)", message.src, message.dst, message.tag,
                     message.bytes);
}

Status CheckMessageSize(int rank, std::string_view what, const QueuedMessage& message,
                        uint64_t dst_bytes) {
  if (message.bytes == dst_bytes) return Status::Ok();
  return Status::InvalidArgument(
      fmt::format("rank {} in {}: the message from rank {} has {} B, the receive expects {} B",
                  rank, what, message.src, message.bytes, dst_bytes));
}

Status CheckMessagePayload(int rank, std::string_view what, const QueuedMessage& message,
                           bool holds_bytes) {
  if (!holds_bytes || message.has_payload) return Status::Ok();
  return Status::FailedPrecondition(
      fmt::format("rank {} in {}: rank {}'s device holds no bytes, this rank's does", rank, what,
                  message.src));
}

Status RejectedMessage(int rank, std::string_view what, const QueuedMessage& message) {
  return Status(message.receive_error.code(),
                fmt::format("rank {} in {}: rank {} rejected the message: {}", rank, what,
                            message.dst, message.receive_error.message()));
}

// ---- Collectives -----------------------------------------------------------------------------

std::string CollectiveCall::Describe() const {
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

CollectiveArgs BroadcastArgs(int rank, int size, int root, const BufferRegion& buffer) {
  CollectiveArgs args;
  args.call.kind = CollectiveKind::kBroadcast;
  args.call.root = root;
  args.call.send_bytes = buffer.bytes;
  args.call.recv_bytes = buffer.bytes;
  args.local_error = CheckPeer(rank, size, root, "root");
  if (args.local_error.ok()) {
    if (rank == root) {
      args.input = buffer;
    } else {
      args.output = buffer;
    }
  }
  return args;
}

// AllGather and ReduceScatterSum are mirror images: `mine` is the side whose size is
// counts[rank] (AllGather's send, ReduceScatterSum's recv), `all` the side of sum(counts).
namespace {

Status CheckCounts(int rank, int size, uint64_t mine, std::string_view mine_name, uint64_t all,
                   std::string_view all_name, std::span<const uint64_t> counts) {
  bool overflow = false;
  if (!counts.empty() && counts.size() != static_cast<size_t>(size)) {
    return Status::InvalidArgument(fmt::format("{} counts for {} ranks", counts.size(), size));
  }
  if (!counts.empty() && mine != counts[rank]) {
    return Status::InvalidArgument(
        fmt::format("{} has {} B but counts[{}] = {}", mine_name, mine, rank, counts[rank]));
  }
  if (!counts.empty() && (all != Sum(counts, &overflow) || overflow)) {
    return Status::InvalidArgument(
        fmt::format("{} has {} B but the counts sum to {}", all_name, all, Sum(counts, &overflow)));
  }
  if (counts.empty() && (mine > std::numeric_limits<uint64_t>::max() / size ||
                         all != mine * static_cast<uint64_t>(size))) {
    return Status::InvalidArgument(fmt::format("{} has {} B but {} ranks x {} B were expected",
                                               all_name, all, size, mine));
  }
  return Status::Ok();
}

CollectiveArgs GatherOrScatterArgs(CollectiveKind kind, const BufferRegion& send,
                                   const BufferRegion& recv, std::span<const uint64_t> counts,
                                   Status local_error) {
  CollectiveArgs args;
  args.call.kind = kind;
  args.call.send_bytes = send.bytes;
  args.call.recv_bytes = recv.bytes;
  args.call.counts.assign(counts.begin(), counts.end());
  args.local_error = std::move(local_error);
  if (args.local_error.ok()) {
    args.input = send;
    args.output = recv;
  }
  return args;
}

}  // namespace

CollectiveArgs AllGatherArgs(int rank, int size, const BufferRegion& send,
                             const BufferRegion& recv, std::span<const uint64_t> counts) {
  return GatherOrScatterArgs(
      CollectiveKind::kAllGather, send, recv, counts,
      CheckCounts(rank, size, send.bytes, "send", recv.bytes, "recv", counts));
}

CollectiveArgs ReduceScatterSumArgs(int rank, int size, const BufferRegion& send,
                                    const BufferRegion& recv, std::span<const uint64_t> counts) {
  bool aligned = recv.bytes % sizeof(float) == 0;
  for (uint64_t c : counts) aligned = aligned && c % sizeof(float) == 0;
  Status error;
  if (!counts.empty() && counts.size() != static_cast<size_t>(size)) {
    error = Status::InvalidArgument(fmt::format("{} counts for {} ranks", counts.size(), size));
  } else if (!aligned) {
    error = Status::InvalidArgument("byte counts must be multiples of 4 (fp32 elements)");
  } else {
    error = CheckCounts(rank, size, recv.bytes, "recv", send.bytes, "send", counts);
  }
  return GatherOrScatterArgs(CollectiveKind::kReduceScatterSum, send, recv, counts,
                             std::move(error));
}

CollectiveArgs BarrierArgs() { return CollectiveArgs{}; }

CollectivePart MakeCollectivePart(
    int rank, const CollectiveArgs& args, bool holds_bytes, std::string_view what,
    const std::function<StatusOr<std::vector<std::byte>>(const BufferRegion&)>& read,
    const std::function<Status(const BufferRegion&)>& check_output) {
  CollectivePart part;
  part.arrived = true;
  part.holds_bytes = holds_bytes;
  part.local_error = args.local_error;
  if (part.local_error.ok() && args.input.has_value()) {
    StatusOr<std::vector<std::byte>> payload = read(*args.input);
    if (payload.ok()) {
      part.payload = std::move(payload).value();
    } else {
      part.local_error = payload.status();
    }
  }
  if (part.local_error.ok() && args.output.has_value() && !args.output->InBounds()) {
    part.local_error = Status::InvalidArgument(
        fmt::format("rank {}: the output region lies outside its buffer", rank));
  }
  if (part.local_error.ok() && args.output.has_value()) {
    part.local_error = check_output(*args.output);
  }
  if (!part.local_error.ok()) part.local_error = InCall(rank, what, part.local_error);
  part.call = args.call;
  return part;
}

void CollectiveRendezvous::Decide() {
  const int n = static_cast<int>(parts.size());
  results.assign(n, Status::Ok());
  const std::string name = fmt::format("collective #{}", seq);

  // 1. A rank whose own arguments were bad fails with its own message; the others are told.
  std::string summary;
  for (int r = 0; r < n; ++r) {
    if (parts[r].local_error.ok()) continue;
    // The message starts "rank R in <call>: ...".
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
  // A rank's effective counts: its `counts`, or n equal ones from its own sizes.
  auto same_counts = [n](const CollectiveCall& a, const CollectiveCall& b) {
    auto count = [](const CollectiveCall& call, int r) -> uint64_t {
      if (!call.counts.empty()) return call.counts[r];
      switch (call.kind) {
        case CollectiveKind::kBroadcast:
        case CollectiveKind::kAllGather:
          return call.send_bytes;
        case CollectiveKind::kReduceScatterSum:
          return call.recv_bytes;
        case CollectiveKind::kBarrier:
          return 0;
      }
      return 0;
    };
    for (int r = 0; r < n; ++r) {
      if (count(a, r) != count(b, r)) return false;
    }
    return true;
  };
  // Counts given with the wrong length were refused in step 1 (Broadcast and Barrier have none).
  bool agree = true;
  for (int r = 1; r < n && agree; ++r) {
    const CollectiveCall& call = parts[r].call;
    agree = call.kind == parts[0].call.kind && same_counts(call, parts[0].call) &&
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
  const CollectiveCall& call = parts[0].call;
  if (!call.counts.empty()) {
    counts = call.counts;
  } else {
    const uint64_t each = call.kind == CollectiveKind::kBarrier ? 0
                          : call.kind == CollectiveKind::kReduceScatterSum ? call.recv_bytes
                                                                           : call.send_bytes;
    counts.assign(n, each);
  }
}

bool CollectiveRendezvous::all_ok() const {
  return std::all_of(results.begin(), results.end(), [](const Status& s) { return s.ok(); });
}

std::shared_ptr<CollectiveRendezvous> CollectiveTable::Join(uint64_t seq, int size, int rank,
                                                            CollectivePart part, bool* last) {
  std::shared_ptr<CollectiveRendezvous>& slot = collectives_[seq];
  if (slot == nullptr) {
    slot = std::make_shared<CollectiveRendezvous>();
    slot->seq = seq;
    slot->parts.resize(size);
  }
  slot->parts[rank] = std::move(part);
  *last = ++slot->arrived == size;
  return slot;
}

void CollectiveTable::Depart(const std::shared_ptr<CollectiveRendezvous>& collective) {
  if (++collective->departed == static_cast<int>(collective->parts.size())) {
    collectives_.erase(collective->seq);
  }
}

std::string CollectiveTable::IncompleteReport() const {
  std::string out;
  for (const auto& [seq, collective] : collectives_) {
    if (collective->complete) continue;
    std::vector<int> missing;
    for (int r = 0; r < static_cast<int>(collective->parts.size()); ++r) {
      if (!collective->parts[r].arrived) missing.push_back(r);
    }
    out += fmt::format("; collective #{} lacks rank(s) {}", seq, fmt::join(missing, ","));
  }
  return out;
}

Status WriteCollectiveResult(
    int rank, const CollectiveArgs& args, const CollectiveRendezvous& collective,
    std::string_view what,
    const std::function<Status(const BufferRegion&, std::span<const std::byte>)>& write) {
  const std::vector<uint64_t>& counts = collective.counts;
  const std::vector<CollectivePart>& parts = collective.parts;
  const int n = static_cast<int>(parts.size());
  Status status;
  switch (args.call.kind) {
    case CollectiveKind::kBroadcast:
      if (rank != args.call.root) status = write(*args.output, parts[args.call.root].payload);
      break;
    case CollectiveKind::kAllGather: {
      uint64_t offset = args.output->offset;
      for (int r = 0; r < n && status.ok(); ++r) {
        status = write(BufferRegion::Slice(args.output->buffer, offset, counts[r]),
                       parts[r].payload);
        offset += counts[r];
      }
      break;
    }
    case CollectiveKind::kReduceScatterSum: {
      uint64_t begin = 0;
      for (int r = 0; r < rank; ++r) begin += counts[r];
      const uint64_t elements = counts[rank] / sizeof(float);
      std::vector<float> sum(elements);
      std::vector<float> term(elements);
      if (elements > 0) {
        // In rank order ((x0 + x1) + x2) + ...: bit-identical results on every backend.
        std::memcpy(sum.data(), parts[0].payload.data() + begin, elements * sizeof(float));
        for (int r = 1; r < n; ++r) {
          std::memcpy(term.data(), parts[r].payload.data() + begin, elements * sizeof(float));
          for (uint64_t i = 0; i < elements; ++i) sum[i] += term[i];
        }
      }
      status = write(*args.output,
                     std::span<const std::byte>(reinterpret_cast<const std::byte*>(sum.data()),
                                                elements * sizeof(float)));
      break;
    }
    case CollectiveKind::kBarrier:
      break;
  }
  if (!status.ok()) {
    status = Status(status.code(), fmt::format("rank {} in {}: writing the result: {}", rank, what,
                                               status.message()));
  }
  return status;
}

void RecordCollectiveTraffic(int rank, const CollectiveCall& call,
                             std::span<const uint64_t> counts, TrafficStats* traffic) {
  traffic->RecordCollective();
  // Note [Logical traffic] in core/comm.h. Peers in ascending order, so each record appends.
  const int n = static_cast<int>(counts.size());
  switch (call.kind) {
    case CollectiveKind::kBroadcast:
      if (rank == call.root) {
        for (int peer = 0; peer < n; ++peer) {
          if (peer != rank) traffic->RecordSent(peer, counts[peer]);
        }
      } else {
        traffic->RecordReceived(call.root, counts[rank]);
      }
      break;
    case CollectiveKind::kAllGather:
      for (int peer = 0; peer < n; ++peer) {
        if (peer == rank) continue;
        traffic->RecordSent(peer, counts[rank]);
        traffic->RecordReceived(peer, counts[peer]);
      }
      break;
    case CollectiveKind::kReduceScatterSum:
      for (int peer = 0; peer < n; ++peer) {
        if (peer == rank) continue;
        traffic->RecordSent(peer, counts[peer]);
        traffic->RecordReceived(peer, counts[rank]);
      }
      break;
    case CollectiveKind::kBarrier:
      break;
  }
}

// ---- Stuck worlds ----------------------------------------------------------------------------

std::string ReportWorld(std::span<const RankActivity> ranks,
                        const std::vector<std::string>& undelivered,
                        const CollectiveTable& collectives) {
  std::string out;
  for (size_t r = 0; r < ranks.size(); ++r) {
    const RankActivity& state = ranks[r];
    if (r > 0) out += "; ";
    switch (state.phase) {
      case RankActivity::Phase::kRunning:
        out += fmt::format("rank {} is running (not in a communication call)", r);
        break;
      case RankActivity::Phase::kBlocked:
        out += fmt::format("rank {} waits in {}{}", r, state.waiting_on,
                           state.ready && state.ready() ? " (now ready)" : "");
        break;
      case RankActivity::Phase::kExited:
        out += fmt::format("rank {} has exited ({})", r, StatusText(state.exit_status));
        break;
    }
  }
  if (!undelivered.empty()) {
    out += fmt::format("; messages not received: {}", fmt::join(undelivered, ", "));
  }
  out += collectives.IncompleteReport();
  return out;
}

Status DeadlockStatus(const std::string& report) {
  return Status::Unavailable(
      fmt::format("deadlock: every rank is blocked or has exited: {}", report));
}

Status AbortedCall(int rank, std::string_view what, const Status& abort) {
  return Status(abort.code(), fmt::format("rank {} in {}: communicator aborted: {}", rank, what,
                                          abort.message()));
}

}  // namespace twinsim::core
