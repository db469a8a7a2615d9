#include "gpu/local_comm.h"

#include <fmt/format.h>

#include <utility>

namespace twinsim::gpu {

using core::BufferRegion;
using core::CollectiveArgs;
using core::CollectiveKind;
using core::CollectivePart;
using core::CollectiveRendezvous;

LocalCommWorld::LocalCommWorld(int size, std::chrono::milliseconds timeout)
    : size_(size < 1 ? 1 : size),
      timeout_(timeout),
      next_collective_(size_, 0),
      exited_(size_, false) {}

void LocalCommWorld::MarkExited(int rank) {
  std::lock_guard<std::mutex> lock(mu_);
  if (rank >= 0 && rank < size_) exited_[rank] = true;
  cv_.notify_all();
}

Status LocalCommWorld::WaitLocked(std::unique_lock<std::mutex>& lock, int rank,
                                  const std::string& what, const std::function<bool()>& ready) {
  const auto deadline = std::chrono::steady_clock::now() + timeout_;
  while (!ready()) {
    if (abort_.has_value()) return core::AbortedCall(rank, what, *abort_);
    int running = 0;
    for (int r = 0; r < size_; ++r) running += exited_[r] ? 0 : 1;
    if (running <= 1 && !ready()) {
      // Everyone else has made their last call: nothing can make this wait end.
      abort_ = Status::Unavailable(
          fmt::format("rank {} waits in {} but every other rank has exited", rank, what));
      cv_.notify_all();
      return core::AbortedCall(rank, what, *abort_);
    }
    if (cv_.wait_until(lock, deadline) == std::cv_status::timeout && !ready()) {
      if (!abort_.has_value()) {
        abort_ = Status::Unavailable(fmt::format("timed out: rank {} waited {} ms in {}{}", rank,
                                                 timeout_.count(), what,
                                                 collectives_.IncompleteReport()));
        cv_.notify_all();
      }
      return core::AbortedCall(rank, what, *abort_);
    }
  }
  return Status::Ok();
}

LocalComm::LocalComm(LocalCommWorld* world, int rank, CudaDevice* device)
    : world_(world), rank_(rank), device_(device) {}

Status LocalComm::Post(int dst, const BufferRegion& src, int tag, const std::string& what,
                       std::shared_ptr<Message>* posted) {
  if (!src.InBounds()) return core::InCall(rank_, what, core::RegionOutsideBuffer(rank_, src));
  StatusOr<void*> address = device_->DevicePointer(src, "Send");
  if (!address.ok()) return core::InCall(rank_, what, address.status());
  auto message = std::make_shared<Message>();
  message->src = rank_;
  message->dst = dst;
  message->tag = tag;
  message->bytes = src.bytes;
  message->has_payload = true;
  message->address = *address;
  std::lock_guard<std::mutex> lock(world_->mu_);
  if (world_->abort_.has_value()) return core::AbortedCall(rank_, what, *world_->abort_);
  world_->queues_.Push(message);
  world_->cv_.notify_all();
  *posted = std::move(message);
  return Status::Ok();
}

Status LocalComm::AwaitConsumed(const std::shared_ptr<Message>& message, const std::string& what) {
  std::unique_lock<std::mutex> lock(world_->mu_);
  TWINSIM_RETURN_IF_ERROR(
      world_->WaitLocked(lock, rank_, what, [&message] { return message->consumed; }));
  if (!message->receive_error.ok()) return core::RejectedMessage(rank_, what, *message);
  if (message->dst != rank_) traffic_.RecordSent(message->dst, message->bytes, 1);
  return Status::Ok();
}

Status LocalComm::Take(int src, const BufferRegion& dst, int tag, const std::string& what) {
  std::shared_ptr<Message> message;
  {
    std::unique_lock<std::mutex> lock(world_->mu_);
    auto& queues = world_->queues_;
    const int me = rank_;
    TWINSIM_RETURN_IF_ERROR(world_->WaitLocked(
        lock, rank_, what, [&queues, src, me, tag] { return queues.HasMessage(src, me, tag); }));
    message = queues.Pop(src, rank_, tag);
  }
  // The sender waits until `consumed`, so its address stays valid while we copy.
  Status status = core::CheckMessageSize(rank_, what, *message, dst.bytes);
  if (status.ok()) {
    StatusOr<void*> address = device_->DevicePointer(dst, "Recv");
    status = address.status();
    if (address.ok() && dst.bytes > 0) {
      status =
          device_->TimedMemcpy(TransferClass::kD2D, *address, message->address, dst.bytes).status();
    }
  }
  {
    std::lock_guard<std::mutex> lock(world_->mu_);
    message->receive_error = status;
    message->consumed = true;
    world_->cv_.notify_all();
  }
  if (status.ok() && src != rank_) traffic_.RecordReceived(src, message->bytes, 1);
  return status;
}

Status LocalComm::Send(int dst, const BufferRegion& src, int tag) {
  const std::string what = core::DescribeSend(dst, tag, src.bytes);
  TWINSIM_RETURN_IF_ERROR(core::CheckSendArgs(rank_, size(), dst, tag, what));
  std::shared_ptr<Message> message;
  TWINSIM_RETURN_IF_ERROR(Post(dst, src, tag, what, &message));
  return AwaitConsumed(message, what);
}

Status LocalComm::Recv(int src, const BufferRegion& dst, int tag) {
  const std::string what = core::DescribeRecv(src, tag, dst.bytes);
  TWINSIM_RETURN_IF_ERROR(core::CheckRecvArgs(rank_, size(), src, dst, tag, what));
  return Take(src, dst, tag, what);
}

Status LocalComm::SendRecv(int dst, const BufferRegion& send, int src, const BufferRegion& recv,
                           int tag) {
  const std::string what = core::DescribeSendRecv(dst, send.bytes, src, recv.bytes, tag);
  TWINSIM_RETURN_IF_ERROR(core::CheckSendRecvArgs(rank_, size(), dst, src, recv, tag, what));
  std::shared_ptr<Message> message;
  TWINSIM_RETURN_IF_ERROR(Post(dst, send, tag, what, &message));
  TWINSIM_RETURN_IF_ERROR(Take(src, recv, tag, what));
  return AwaitConsumed(message, what);
}

Status LocalComm::WriteResult(const CollectiveArgs& args, const CollectiveRendezvous& c,
                              const std::vector<const void*>& inputs) {
  const int n = size();
  auto d2d = [this](const BufferRegion& dst, const void* from) -> Status {
    if (dst.bytes == 0) return Status::Ok();
    TWINSIM_ASSIGN_OR_RETURN(void* to, device_->DevicePointer(dst, "collective result"));
    if (to == from) return Status::Ok();  // in place
    return device_->TimedMemcpy(TransferClass::kD2D, to, from, dst.bytes).status();
  };
  switch (args.call.kind) {
    case CollectiveKind::kBroadcast:
      if (rank_ == args.call.root) return Status::Ok();
      return d2d(*args.output, inputs[args.call.root]);
    case CollectiveKind::kAllGather: {
      uint64_t offset = args.output->offset;
      for (int r = 0; r < n; ++r) {
        TWINSIM_RETURN_IF_ERROR(
            d2d(BufferRegion::Slice(args.output->buffer, offset, c.counts[r]), inputs[r]));
        offset += c.counts[r];
      }
      return Status::Ok();
    }
    case CollectiveKind::kReduceScatterSum: {
      // The fp32 sum in rank order on the host (WriteCollectiveResult), from each rank's slice.
      CollectiveRendezvous host = c;
      uint64_t begin = 0;
      for (int r = 0; r < rank_; ++r) begin += c.counts[r];
      for (int r = 0; r < n; ++r) {
        std::vector<std::byte>& payload = host.parts[r].payload;
        payload.assign(begin + c.counts[rank_], std::byte{0});
        if (c.counts[rank_] == 0) continue;
        TWINSIM_RETURN_IF_ERROR(device_
                                    ->TimedMemcpy(TransferClass::kD2H, payload.data() + begin,
                                                  static_cast<const std::byte*>(inputs[r]) + begin,
                                                  c.counts[rank_])
                                    .status());
      }
      return core::WriteCollectiveResult(
          rank_, args, host, args.call.Describe(),
          [this](const BufferRegion& region, std::span<const std::byte> bytes) {
            return device_->CopyFromHost(region, bytes);
          });
    }
    case CollectiveKind::kBarrier:
      return Status::Ok();
  }
  return Status::Ok();
}

Status LocalComm::RunCollective(const CollectiveArgs& args) {
  std::string what = args.call.Describe();
  const void* input = nullptr;
  CollectivePart part = core::MakeCollectivePart(
      rank_, args, /*holds_bytes=*/true, what,
      [this, &input](const BufferRegion& region) -> StatusOr<std::vector<std::byte>> {
        TWINSIM_ASSIGN_OR_RETURN(void* address, device_->DevicePointer(region, "collective input"));
        input = address;
        return std::vector<std::byte>();
      },
      [this](const BufferRegion& region) {
        return device_->DevicePointer(region, "collective output").status();
      });

  std::shared_ptr<CollectiveRendezvous> collective;
  std::vector<const void*> inputs;
  uint64_t seq = 0;
  {
    std::unique_lock<std::mutex> lock(world_->mu_);
    if (world_->abort_.has_value()) return core::AbortedCall(rank_, what, *world_->abort_);
    seq = world_->next_collective_[rank_]++;
    what = fmt::format("{} [collective #{}]", what, seq);
    std::vector<const void*>& slot = world_->inputs_[seq];
    slot.resize(size(), nullptr);
    slot[rank_] = input;
    bool last = false;
    collective = world_->collectives_.Join(seq, size(), rank_, std::move(part), &last);
    if (last) {
      collective->Decide();
      collective->complete = true;
      world_->cv_.notify_all();
    }
    TWINSIM_RETURN_IF_ERROR(
        world_->WaitLocked(lock, rank_, what, [&collective] { return collective->complete; }));
    inputs = world_->inputs_[seq];
  }
  Status status = collective->results[rank_];
  if (status.ok()) {
    status = WriteResult(args, *collective, inputs);
    if (!status.ok()) status = core::InCall(rank_, what, status);
  }
  if (status.ok()) {
    core::RecordCollectiveTraffic(rank_, args.call, collective->counts, &traffic_);
  }
  // Inputs must stay untouched until every rank has copied from them.
  std::unique_lock<std::mutex> lock(world_->mu_);
  world_->collectives_.Depart(collective);
  world_->cv_.notify_all();
  const int n = size();
  Status wait =
      world_->WaitLocked(lock, rank_, what, [&collective, n] { return collective->departed == n; });
  if (collective->departed == n) world_->inputs_.erase(seq);
  return status.ok() ? wait : status;
}

Status LocalComm::Broadcast(int root, const BufferRegion& buffer) {
  return RunCollective(core::BroadcastArgs(rank_, size(), root, buffer));
}

Status LocalComm::AllGather(const BufferRegion& send, const BufferRegion& recv,
                            std::span<const uint64_t> counts) {
  return RunCollective(core::AllGatherArgs(rank_, size(), send, recv, counts));
}

Status LocalComm::ReduceScatterSum(const BufferRegion& send, const BufferRegion& recv,
                                   std::span<const uint64_t> counts) {
  return RunCollective(core::ReduceScatterSumArgs(rank_, size(), send, recv, counts));
}

Status LocalComm::Barrier() { return RunCollective(core::BarrierArgs()); }

}  // namespace twinsim::gpu
