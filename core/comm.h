// Comm: one rank's view of a communicator over N ranks — point-to-point messages, broadcast,
// all-gather, reduce-scatter and barrier on Device buffers — with per-peer traffic accounting.
//
// Seed policies move RNG states, shards and checkpoints with it; the CLI reports its traffic
// as "bytes sent". Backends: HostComm (ranks as threads, core/host_comm.h), SimComm (time
// follows the links, sim/), NcclComm and LocalComm (gpu/), CommWrapper for decorators and
// FaultyComm (core/testing/) for tests. The shape follows NCCL and MPI, blocking throughout.
#ifndef TWINSIM_CORE_COMM_H_
#define TWINSIM_CORE_COMM_H_

#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "core/device.h"
#include "core/status.h"

namespace twinsim::core {

// Traffic between this rank and one peer, in the logical model of Note [Logical traffic].
struct PeerTraffic {
  uint64_t bytes_sent = 0;
  uint64_t bytes_received = 0;
  uint64_t messages_sent = 0;      // point-to-point messages only
  uint64_t messages_received = 0;  // point-to-point messages only

  friend bool operator==(const PeerTraffic&, const PeerTraffic&) = default;
};

// One rank's traffic: per peer, only the peers it actually exchanged bytes or messages with,
// so the stats of a rank that talks to two neighbours stay small in a world of 16,384 ranks
// (a dense per-peer table over every rank of such a world would take gigabytes).
//
// Thread safety: a value type; not synchronized.
class TrafficStats {
 public:
  // A peer and its traffic. peers() lists them by ascending rank.
  using Entry = std::pair<int, PeerTraffic>;

  // Adds `bytes` and `messages` sent to / received from `peer` (>= 0). A call that adds
  // nothing (0 bytes, 0 messages) records no entry. O(1) when `peer` is the last peer so far
  // or already known near the end; O(peers) for an insertion in the middle.
  void RecordSent(int peer, uint64_t bytes, uint64_t messages = 0);
  void RecordReceived(int peer, uint64_t bytes, uint64_t messages = 0);
  // Counts one completed collective.
  void RecordCollective() { ++collective_calls_; }
  void set_collective_calls(uint64_t calls) { collective_calls_ = calls; }

  // The traffic with `peer`: zeros for a peer never talked to (or out of range).
  PeerTraffic Peer(int peer) const;
  // The peers talked to, by ascending rank. Valid until the next Record call.
  std::span<const Entry> peers() const { return peers_; }

  uint64_t bytes_sent() const { return bytes_sent_; }          // over all peers
  uint64_t bytes_received() const { return bytes_received_; }  // over all peers
  uint64_t collective_calls() const { return collective_calls_; }  // barriers included

  friend bool operator==(const TrafficStats& a, const TrafficStats& b) {
    return a.peers_ == b.peers_ && a.collective_calls_ == b.collective_calls_;
  }

 private:
  PeerTraffic& Slot(int peer);

  std::vector<Entry> peers_;  // sorted by peer; no all-zero entry
  uint64_t bytes_sent_ = 0;
  uint64_t bytes_received_ = 0;
  uint64_t collective_calls_ = 0;
};

// Note [Logical traffic]
// ----------------------
// Traffic is counted as what each rank must deliver to each other rank, as if every
// collective were a direct exchange, independent of the algorithm a backend uses (ring, tree,
// NVLS) and of the links it crosses:
//   Send/Recv         the sender counts `bytes` sent to dst, the receiver `bytes` from src.
//   Broadcast         the root sends `bytes` to every other rank; each receives from the root.
//   AllGather         rank r sends counts[r] to every other rank and receives counts[j] from j.
//   ReduceScatterSum  rank r sends its input slice j (counts[j] bytes) to each j != r and
//                     receives counts[r] from every other rank.
//   Barrier           no bytes.
// Traffic to oneself is never counted. Only completed operations count (in eager mode a Send
// counts when handed over). So the figures are exact, equal on every backend for the same
// program, and balanced: over the world, bytes sent == bytes received. Link-level traffic
// (ring steps, PCIe hops) is the sim backend's separate report.

// Note [Blocking and matching]
// ----------------------------
// Every operation blocks until this rank's part is done: Recv until the data is in `dst`;
// Send until the message is handed over, which may mean until the receiver has it (NCCL and
// SimGrid mailboxes are rendezvous; HostComm is rendezvous by default, eager on request).
// Portable code therefore must not rely on buffering: a cycle of Sends deadlocks; use SendRecv
// for shifts and rings. Messages match on (source, destination, tag) in the order sent, and
// there is no any-source receive, so which message a Recv gets never depends on timing.
// Collectives match by call order: every rank's k-th collective call is the same collective,
// with the same arguments where the contract says so; a disagreement fails on every rank with
// a message naming the ranks and their calls. Backends never hang forever: HostComm reports a
// deadlock (every rank blocked or exited) at once and anything else stuck after a timeout,
// naming what each rank waits on; after such a failure the communicator is aborted and every
// later call fails (as after ncclCommAbort).

// Note [Comm works on device buffers]
// -----------------------------------
// Operations take BufferRegions of the rank's Device, not host spans: NCCL moves device memory,
// and a timing-only sim device has no host bytes to point at, while a region still says how
// many bytes move between which ranks. Host-side data (a generator state) is sent by copying it
// into a device buffer first (CopyFromHost), as PyTorch sends RNG states as tensors. Over
// devices without bytes, operations check sizes and count traffic but carry no payload.

// One rank's communicator. Errors: InvalidArgument for a bad rank, a negative tag, a region out
// of bounds or sizes that disagree (between ranks too); FailedPrecondition when some ranks'
// devices hold bytes and others' do not; Unavailable when the communicator is aborted
// (deadlock, timeout, or an earlier abort), with what every rank was waiting on.
//
// Thread safety: a Comm belongs to its rank and is used by one thread at a time; different
// ranks' Comms are used concurrently.
class Comm {
 public:
  Comm() = default;
  Comm(const Comm&) = delete;
  Comm& operator=(const Comm&) = delete;
  virtual ~Comm();

  virtual int rank() const = 0;  // in [0, size())
  virtual int size() const = 0;  // >= 1

  // Sends the bytes of `src` to rank `dst` with `tag` (>= 0). See Note [Blocking and matching].
  // `dst` may be this rank, but where sends are rendezvous a plain Send to oneself can never
  // complete (it is reported as a deadlock); SendRecv delivers to oneself everywhere.
  virtual Status Send(int dst, const BufferRegion& src, int tag) = 0;

  // Receives the next message from `src` with `tag` into `dst`. The message must have exactly
  // dst.bytes bytes: otherwise the message is consumed and Recv fails with InvalidArgument, and
  // so does the matching Send unless it had already returned (eager mode).
  virtual Status Recv(int src, const BufferRegion& dst, int tag) = 0;

  // Sends `send` to `dst` and receives from `src` into `recv`, both with `tag`, without
  // deadlocking when every rank of a ring calls it at once (MPI_Sendrecv; a grouped
  // ncclSend/ncclRecv). REQUIRES: `send` and `recv` do not overlap (not checked).
  virtual Status SendRecv(int dst, const BufferRegion& send, int src, const BufferRegion& recv,
                          int tag) = 0;

  // Copies the root's `buffer` into every other rank's `buffer`. REQUIRES: the same root and
  // the same buffer.bytes on every rank.
  virtual Status Broadcast(int root, const BufferRegion& buffer) = 0;

  // Concatenates every rank's `send`, in rank order, into every rank's `recv`. `counts[r]` is
  // rank r's contribution in bytes, the same on every rank (uneven sizes allowed); then
  // send.bytes == counts[rank()] and recv.bytes == sum(counts). Empty `counts`: every rank
  // contributes send.bytes, equal on all ranks, and recv.bytes == size() * send.bytes. In place
  // when `send` is this rank's slice of `recv`.
  virtual Status AllGather(const BufferRegion& send, const BufferRegion& recv,
                           std::span<const uint64_t> counts) = 0;

  // Element-wise fp32 sum of every rank's `send`, scattered: rank r receives bytes
  // [sum(counts[0..r)), +counts[r]) of the sum in `recv`. `counts` in bytes, multiples of 4,
  // the same on every rank; send.bytes == sum(counts), recv.bytes == counts[rank()]. Empty
  // `counts`: every rank receives recv.bytes (equal on all ranks), send.bytes == size() *
  // recv.bytes. Each backend sums in a fixed order, so results repeat bit for bit from run to
  // run; HostComm adds in rank order ((x0 + x1) + x2) + ..., which NCCL's ring need not match.
  virtual Status ReduceScatterSum(const BufferRegion& send, const BufferRegion& recv,
                                  std::span<const uint64_t> counts) = 0;

  // Returns once every rank has entered the barrier.
  virtual Status Barrier() = 0;

  // This rank's traffic so far (Note [Logical traffic]). Never fails.
  virtual TrafficStats traffic() const = 0;
};

// Forwards every call to another Comm; subclass it and override what you want to change
// (LevelDB's EnvWrapper). Used by FaultyComm.
class CommWrapper : public Comm {
 public:
  // REQUIRES: target is non-null and outlives this wrapper. Does not take ownership.
  explicit CommWrapper(Comm* target) : target_(target) {}

  Comm* target() const { return target_; }

  int rank() const override { return target_->rank(); }
  int size() const override { return target_->size(); }
  Status Send(int dst, const BufferRegion& src, int tag) override {
    return target_->Send(dst, src, tag);
  }
  Status Recv(int src, const BufferRegion& dst, int tag) override {
    return target_->Recv(src, dst, tag);
  }
  Status SendRecv(int dst, const BufferRegion& send, int src, const BufferRegion& recv,
                  int tag) override {
    return target_->SendRecv(dst, send, src, recv, tag);
  }
  Status Broadcast(int root, const BufferRegion& buffer) override {
    return target_->Broadcast(root, buffer);
  }
  Status AllGather(const BufferRegion& send, const BufferRegion& recv,
                   std::span<const uint64_t> counts) override {
    return target_->AllGather(send, recv, counts);
  }
  Status ReduceScatterSum(const BufferRegion& send, const BufferRegion& recv,
                          std::span<const uint64_t> counts) override {
    return target_->ReduceScatterSum(send, recv, counts);
  }
  Status Barrier() override { return target_->Barrier(); }
  TrafficStats traffic() const override { return target_->traffic(); }

 private:
  Comm* target_;
};

}  // namespace twinsim::core

#endif  // TWINSIM_CORE_COMM_H_
