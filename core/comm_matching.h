// The rules every Comm backend shares: argument checks and their error texts, message queues
// matched on (source, destination, tag), collectives matched by call order and decided from all
// ranks' calls at once, the logical traffic of a collective, and the report of a stuck world.
//
// HostComm (core/host_comm.h) and SimComm (sim/sim_comm.h) differ only in how they wait and how
// bytes move; what a program is told when it gets something wrong comes from here, so the two
// backends word every error alike (their tests compare the texts).
#ifndef TWINSIM_CORE_COMM_MATCHING_H_
#define TWINSIM_CORE_COMM_MATCHING_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "core/comm.h"
#include "core/device.h"
#include "core/status.h"

namespace twinsim::core {

// ---- Point-to-point --------------------------------------------------------------------------

// "Send(dst=1, tag=3, 64 B)", "Recv(src=0, tag=3, 64 B)", "SendRecv(dst=1, 64 B, src=3, 64 B,
// tag=0)": how a call is named in errors and reports.
std::string DescribeSend(int dst, int tag, uint64_t bytes);
std::string DescribeRecv(int src, int tag, uint64_t bytes);
std::string DescribeSendRecv(int dst, uint64_t send_bytes, int src, uint64_t recv_bytes, int tag);

// InvalidArgument "rank R: <role> rank P is outside [0, N)" unless 0 <= peer < size.
Status CheckPeer(int rank, int size, int peer, std::string_view role);
// The argument checks of Send, Recv and SendRecv on rank `rank` of `size`, in the order every
// backend makes them (peers, tag, receive region bounds). `what` names the call.
Status CheckSendArgs(int rank, int size, int dst, int tag, std::string_view what);
Status CheckRecvArgs(int rank, int size, int src, const BufferRegion& dst, int tag,
                     std::string_view what);
Status CheckSendRecvArgs(int rank, int size, int dst, int src, const BufferRegion& recv, int tag,
                         std::string_view what);

// `status` with "rank R in <what>: " before its message (same code). REQUIRES !status.ok().
Status InCall(int rank, std::string_view what, const Status& status);
// InvalidArgument "rank R: bytes [o, o+n) lie outside buffer #id of B B": a region a backend
// cannot read.
Status RegionOutsideBuffer(int rank, const BufferRegion& region);

// A message sent and not yet received. Backends that need more (the sim's in-flight state)
// derive from it.
struct QueuedMessage {
  int src = 0;
  int dst = 0;
  int tag = 0;
  uint64_t bytes = 0;
  bool has_payload = false;  // false when the sender's device holds no bytes
  std::vector<std::byte> payload;
  bool consumed = false;  // the receiver has written it, or rejected it
  Status receive_error;   // why the receiver rejected it
};

// "0 -> 1 tag 8 (64 B)".
std::string DescribeMessage(const QueuedMessage& message);

// What the receiver of `message` (from `src`, into a region of `dst_bytes`) must check before
// writing it: InvalidArgument when the sizes differ. `what` names the receive call.
Status CheckMessageSize(int rank, std::string_view what, const QueuedMessage& message,
                        uint64_t dst_bytes);
// FailedPrecondition when this rank's device holds bytes and the sender's did not.
Status CheckMessagePayload(int rank, std::string_view what, const QueuedMessage& message,
                           bool holds_bytes);
// The sender's error once the receiver rejected `message` (receive_error set).
Status RejectedMessage(int rank, std::string_view what, const QueuedMessage& message);

// Messages queued per (source, destination, tag), oldest first (Note [Blocking and matching] in
// core/comm.h). M is QueuedMessage or a type derived from it. Not synchronized: the backend
// holds its lock around every call.
template <typename M>
class MessageQueues {
 public:
  void Push(std::shared_ptr<M> message) {
    queues_[{message->src, message->dst, message->tag}].push_back(std::move(message));
  }
  bool HasMessage(int src, int dst, int tag) const {
    auto it = queues_.find({src, dst, tag});
    return it != queues_.end() && !it->second.empty();
  }
  // The oldest message from src to dst with tag, removed. REQUIRES: HasMessage(src, dst, tag).
  std::shared_ptr<M> Pop(int src, int dst, int tag) {
    auto it = queues_.find({src, dst, tag});
    std::shared_ptr<M> message = std::move(it->second.front());
    it->second.pop_front();
    if (it->second.empty()) queues_.erase(it);
    return message;
  }
  // DescribeMessage of every queued message, in (src, dst, tag) order.
  std::vector<std::string> Undelivered() const {
    std::vector<std::string> out;
    for (const auto& [key, queue] : queues_) {
      for (const auto& message : queue) out.push_back(DescribeMessage(*message));
    }
    return out;
  }

 private:
  std::map<std::tuple<int, int, int>, std::deque<std::shared_ptr<M>>> queues_;
};

// ---- Collectives -----------------------------------------------------------------------------

enum class CollectiveKind : uint8_t { kBroadcast, kAllGather, kReduceScatterSum, kBarrier };

// What one rank asked a collective to do, as given.
struct CollectiveCall {
  CollectiveKind kind = CollectiveKind::kBarrier;
  int root = 0;
  uint64_t send_bytes = 0;
  uint64_t recv_bytes = 0;
  std::vector<uint64_t> counts;

  // "Broadcast(root=0, 64 B)", "AllGather(send 8 B, recv 32 B, counts equal)", "Barrier()".
  std::string Describe() const;
};

// One rank's collective call with its regions, after this rank's own argument checks.
struct CollectiveArgs {
  CollectiveCall call;
  std::optional<BufferRegion> input;   // what this rank contributes, if anything
  std::optional<BufferRegion> output;  // where this rank's result goes, if anywhere
  Status local_error;                  // this rank's own arguments are bad (then no regions)
};

// The collective calls of rank `rank` in a world of `size`, checked as the contract of
// core/comm.h says (counts against sizes, fp32 alignment, overflow).
CollectiveArgs BroadcastArgs(int rank, int size, int root, const BufferRegion& buffer);
CollectiveArgs AllGatherArgs(int rank, int size, const BufferRegion& send,
                             const BufferRegion& recv, std::span<const uint64_t> counts);
CollectiveArgs ReduceScatterSumArgs(int rank, int size, const BufferRegion& send,
                                    const BufferRegion& recv, std::span<const uint64_t> counts);
CollectiveArgs BarrierArgs();

// One rank's part of a collective in progress.
struct CollectivePart {
  bool arrived = false;
  CollectiveCall call;
  Status local_error;  // "rank R in <call>: ..." when this rank's arguments were bad
  bool holds_bytes = true;
  std::vector<std::byte> payload;  // the input's bytes (empty without bytes)
};

// The part rank `rank` brings to a collective: its call, its input read with `read`, its output
// checked (bounds, then `check_output`), any error prefixed "rank R in <what>: ". `read` and
// `check_output` are the backend's device access and are called only while no error is known.
CollectivePart MakeCollectivePart(
    int rank, const CollectiveArgs& args, bool holds_bytes, std::string_view what,
    const std::function<StatusOr<std::vector<std::byte>>(const BufferRegion&)>& read,
    const std::function<Status(const BufferRegion&)>& check_output);

// One collective, from the first rank's arrival to the last rank's departure.
struct CollectiveRendezvous {
  uint64_t seq = 0;
  std::vector<CollectivePart> parts;  // by rank
  int arrived = 0;
  int departed = 0;
  bool complete = false;
  std::vector<Status> results;   // per rank, set by Decide
  std::vector<uint64_t> counts;  // effective per-rank byte counts, set when every result is OK

  // Decides every rank's result from all calls at once (Note [Determinism of HostComm]): a
  // rank's own bad arguments fail it and tell the others; calls that disagree (kind, root,
  // sizes) fail all with the ranks grouped by call; devices must all hold bytes or none.
  // Called once, by the last rank to arrive.
  void Decide();
  bool all_ok() const;
};

// The collectives of one communicator that some rank has entered and not every rank left.
// Not synchronized: the backend holds its lock around every call.
class CollectiveTable {
 public:
  // Records `part` as rank `rank`'s part of collective #seq of a world of `size` and returns
  // the collective; `*last` tells whether this rank completed the arrivals.
  std::shared_ptr<CollectiveRendezvous> Join(uint64_t seq, int size, int rank,
                                             CollectivePart part, bool* last);
  // This rank is done with `collective`; the last to leave removes it.
  void Depart(const std::shared_ptr<CollectiveRendezvous>& collective);
  // "; collective #3 lacks rank(s) 1,2" for every incomplete collective, for reports.
  std::string IncompleteReport() const;

 private:
  std::map<uint64_t, std::shared_ptr<CollectiveRendezvous>> collectives_;
};

// Writes rank `rank`'s result of a decided, successful collective into args.output with
// `write` (the backend's device write), summing fp32 in rank order for ReduceScatterSum, and
// prefixes a failure "rank R in <what>: writing the result: ". REQUIRES: the rank's devices hold
// bytes and collective.results[rank] is OK.
Status WriteCollectiveResult(
    int rank, const CollectiveArgs& args, const CollectiveRendezvous& collective,
    std::string_view what,
    const std::function<Status(const BufferRegion&, std::span<const std::byte>)>& write);

// Adds rank `rank`'s logical traffic of a completed collective (Note [Logical traffic] in
// core/comm.h) and counts the call.
void RecordCollectiveTraffic(int rank, const CollectiveCall& call,
                             std::span<const uint64_t> counts, TrafficStats* traffic);

// ---- Stuck worlds ----------------------------------------------------------------------------

// What one rank is doing, as the communicator sees it.
struct RankActivity {
  enum class Phase : uint8_t { kRunning, kBlocked, kExited };
  Phase phase = Phase::kRunning;
  std::string waiting_on;      // the call, when blocked
  std::function<bool()> ready;  // its wait condition, when blocked
  Status exit_status;          // when exited
  uint64_t next_collective = 0;
};

// "rank 0 waits in Recv(...); rank 1 has exited (OK); messages not received: ...; collective #0
// lacks rank(s) 1": the state of every rank, then `undelivered` and `collectives`.
std::string ReportWorld(std::span<const RankActivity> ranks,
                        const std::vector<std::string>& undelivered,
                        const CollectiveTable& collectives);
// Unavailable "deadlock: every rank is blocked or has exited: <report>".
Status DeadlockStatus(const std::string& report);
// What a call on an aborted communicator returns: the abort's code, "rank R in <what>:
// communicator aborted: <reason>".
Status AbortedCall(int rank, std::string_view what, const Status& abort);

}  // namespace twinsim::core

#endif  // TWINSIM_CORE_COMM_MATCHING_H_
