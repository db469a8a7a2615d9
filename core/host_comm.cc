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

struct HostCommWorld::Message : QueuedMessage {};

HostCommWorld::HostCommWorld(int size, HostCommOptions options)
    : size_(size < 1 ? 1 : size), options_(options), ranks_(size_) {}

HostCommWorld::~HostCommWorld() = default;

void HostCommWorld::MarkExited(int rank, const Status& status) {
  std::lock_guard<std::mutex> lock(mu_);
  if (rank < 0 || rank >= size_) return;
  ranks_[rank].phase = RankActivity::Phase::kExited;
  ranks_[rank].exit_status = status;
  cv_.notify_all();
}

Status HostCommWorld::abort_status() const {
  std::lock_guard<std::mutex> lock(mu_);
  return abort_.has_value() ? *abort_ : Status::Ok();
}

std::vector<std::string> HostCommWorld::UndeliveredMessages() const {
  std::lock_guard<std::mutex> lock(mu_);
  return queues_.Undelivered();
}

bool HostCommWorld::AllStuckLocked() const {
  for (const RankActivity& state : ranks_) {
    switch (state.phase) {
      case RankActivity::Phase::kRunning:
        return false;
      case RankActivity::Phase::kBlocked:
        if (state.ready && state.ready()) return false;
        break;
      case RankActivity::Phase::kExited:
        break;
    }
  }
  return true;
}

std::string HostCommWorld::ReportLocked() const {
  return ReportWorld(ranks_, queues_.Undelivered(), collectives_);
}

void HostCommWorld::AbortLocked(Status reason) {
  if (!abort_.has_value()) abort_ = std::move(reason);
  cv_.notify_all();
}

Status HostCommWorld::AbortedLocked(int rank, const std::string& what) const {
  return AbortedCall(rank, what, *abort_);
}

Status HostCommWorld::WaitLocked(std::unique_lock<std::mutex>& lock, int rank,
                                 const std::string& what, const std::function<bool()>& ready) {
  if (abort_.has_value()) return AbortedLocked(rank, what);
  if (ready()) return Status::Ok();
  RankActivity& state = ranks_[rank];
  state.phase = RankActivity::Phase::kBlocked;
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
      AbortLocked(DeadlockStatus(ReportLocked()));
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
  state.phase = RankActivity::Phase::kRunning;
  state.waiting_on.clear();
  state.ready = nullptr;
  return result;
}

// ---------------------------------------------------------------------------------------------

HostComm::HostComm(HostCommWorld* world, int rank, Device* device)
    : world_(world), rank_(rank), device_(device), holds_bytes_(device->Info().holds_bytes) {}

HostComm::~HostComm() = default;

Status HostComm::CheckRegion(const BufferRegion& region) {
  // A self-copy validates the handle and the bounds; on a device without bytes it moves nothing.
  return device_->Copy(region, region);
}

StatusOr<std::vector<std::byte>> HostComm::ReadRegion(const BufferRegion& region) {
  if (!region.InBounds()) return RegionOutsideBuffer(rank_, region);
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
  if (!payload.ok()) return InCall(rank_, what, payload.status());
  auto message = std::make_shared<HostCommWorld::Message>();
  message->src = rank_;
  message->dst = dst;
  message->tag = tag;
  message->bytes = src.bytes;
  message->has_payload = holds_bytes_;
  message->payload = std::move(payload).value();
  std::lock_guard<std::mutex> lock(world_->mu_);
  if (world_->abort_.has_value()) return world_->AbortedLocked(rank_, what);
  world_->queues_.Push(message);
  world_->cv_.notify_all();
  *posted = std::move(message);
  if (world_->options_.send_mode == SendMode::kEager && dst != rank_) {
    traffic_.RecordSent(dst, src.bytes, 1);
  }
  return Status::Ok();
}

Status HostComm::AwaitConsumed(const std::shared_ptr<HostCommWorld::Message>& message,
                               const std::string& what) {
  if (world_->options_.send_mode == SendMode::kEager) return Status::Ok();
  std::unique_lock<std::mutex> lock(world_->mu_);
  TWINSIM_RETURN_IF_ERROR(
      world_->WaitLocked(lock, rank_, what, [&message] { return message->consumed; }));
  if (!message->receive_error.ok()) return RejectedMessage(rank_, what, *message);
  if (message->dst != rank_) traffic_.RecordSent(message->dst, message->bytes, 1);
  return Status::Ok();
}

Status HostComm::TakeMessage(int src, const BufferRegion& dst, int tag, const std::string& what) {
  std::shared_ptr<HostCommWorld::Message> message;
  {
    std::unique_lock<std::mutex> lock(world_->mu_);
    auto& queues = world_->queues_;
    const int me = rank_;
    TWINSIM_RETURN_IF_ERROR(world_->WaitLocked(
        lock, rank_, what, [&queues, src, me, tag] { return queues.HasMessage(src, me, tag); }));
    message = queues.Pop(src, rank_, tag);
  }
  // The message is ours now; write it outside the lock, then tell the sender.
  Status status = CheckMessageSize(rank_, what, *message, dst.bytes);
  if (status.ok() && !holds_bytes_) {
    status = CheckRegion(dst);
  } else if (status.ok()) {
    status = CheckMessagePayload(rank_, what, *message, holds_bytes_);
    if (status.ok()) status = device_->CopyFromHost(dst, message->payload);
  }
  {
    std::lock_guard<std::mutex> lock(world_->mu_);
    message->receive_error = status;
    message->consumed = true;
    message->payload.clear();
    message->payload.shrink_to_fit();
    world_->cv_.notify_all();
  }
  if (status.ok() && src != rank_) traffic_.RecordReceived(src, message->bytes, 1);
  return status;
}

Status HostComm::Send(int dst, const BufferRegion& src, int tag) {
  const std::string what = DescribeSend(dst, tag, src.bytes);
  TWINSIM_RETURN_IF_ERROR(CheckSendArgs(rank_, size(), dst, tag, what));
  std::shared_ptr<HostCommWorld::Message> message;
  TWINSIM_RETURN_IF_ERROR(PostMessage(dst, src, tag, what, &message));
  return AwaitConsumed(message, what);
}

Status HostComm::Recv(int src, const BufferRegion& dst, int tag) {
  const std::string what = DescribeRecv(src, tag, dst.bytes);
  TWINSIM_RETURN_IF_ERROR(CheckRecvArgs(rank_, size(), src, dst, tag, what));
  return TakeMessage(src, dst, tag, what);
}

Status HostComm::SendRecv(int dst, const BufferRegion& send, int src, const BufferRegion& recv,
                          int tag) {
  const std::string what = DescribeSendRecv(dst, send.bytes, src, recv.bytes, tag);
  TWINSIM_RETURN_IF_ERROR(CheckSendRecvArgs(rank_, size(), dst, src, recv, tag, what));
  std::shared_ptr<HostCommWorld::Message> message;
  TWINSIM_RETURN_IF_ERROR(PostMessage(dst, send, tag, what, &message));
  TWINSIM_RETURN_IF_ERROR(TakeMessage(src, recv, tag, what));
  return AwaitConsumed(message, what);
}

Status HostComm::RunCollective(const CollectiveArgs& args) {
  std::string what = args.call.Describe();
  CollectivePart part = MakeCollectivePart(
      rank_, args, holds_bytes_, what,
      [this](const BufferRegion& region) { return ReadRegion(region); },
      [this](const BufferRegion& region) {
        return holds_bytes_ ? Status::Ok() : CheckRegion(region);
      });

  std::shared_ptr<CollectiveRendezvous> collective;
  {
    std::unique_lock<std::mutex> lock(world_->mu_);
    if (world_->abort_.has_value()) return world_->AbortedLocked(rank_, what);
    const uint64_t seq = world_->ranks_[rank_].next_collective++;
    what = fmt::format("{} [collective #{}]", what, seq);
    bool last = false;
    collective = world_->collectives_.Join(seq, size(), rank_, std::move(part), &last);
    if (last) {
      collective->Decide();
      collective->complete = true;
      world_->cv_.notify_all();
    }
    TWINSIM_RETURN_IF_ERROR(
        world_->WaitLocked(lock, rank_, what, [&collective] { return collective->complete; }));
  }

  // Complete: every part is immutable from here on, so outputs are computed without the lock.
  Status status = collective->results[rank_];
  if (status.ok() && holds_bytes_) {
    status = WriteCollectiveResult(
        rank_, args, *collective, what,
        [this](const BufferRegion& region, std::span<const std::byte> bytes) {
          return device_->CopyFromHost(region, bytes);
        });
  }
  if (status.ok()) RecordCollectiveTraffic(rank_, args.call, collective->counts, &traffic_);
  {
    std::lock_guard<std::mutex> lock(world_->mu_);
    world_->collectives_.Depart(collective);
  }
  return status;
}

Status HostComm::Broadcast(int root, const BufferRegion& buffer) {
  return RunCollective(BroadcastArgs(rank_, size(), root, buffer));
}

Status HostComm::AllGather(const BufferRegion& send, const BufferRegion& recv,
                           std::span<const uint64_t> counts) {
  return RunCollective(AllGatherArgs(rank_, size(), send, recv, counts));
}

Status HostComm::ReduceScatterSum(const BufferRegion& send, const BufferRegion& recv,
                                  std::span<const uint64_t> counts) {
  return RunCollective(ReduceScatterSumArgs(rank_, size(), send, recv, counts));
}

Status HostComm::Barrier() { return RunCollective(BarrierArgs()); }

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
