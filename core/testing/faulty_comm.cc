#include "core/testing/faulty_comm.h"

#include <fmt/format.h>

#include <thread>

namespace twinsim::core::faults {

FaultyComm::FaultyComm(Comm* target, CommFaults faults)
    : CommWrapper(target),
      faults_(faults),
      rng_(faults.seed * 0x9E3779B97F4A7C15ull + static_cast<uint64_t>(target->rank()) + 1) {}

Status FaultyComm::BeforeCall(const char* what) {
  if (faults_.max_delay.count() > 0) {
    std::uniform_int_distribution<int64_t> delay(0, faults_.max_delay.count());
    std::this_thread::sleep_for(std::chrono::microseconds(delay(rng_)));
  }
  if (++calls_ == faults_.fail_call) {
    ++injected_;
    return Status::Internal(
        fmt::format("rank {}: injected fault: call #{} ({}) failed", rank(), calls_, what));
  }
  return Status::Ok();
}

bool FaultyComm::DropThisSend() {
  if (++sends_ != faults_.drop_send) return false;
  ++injected_;
  return true;
}

Status FaultyComm::Send(int dst, const BufferRegion& src, int tag) {
  TWINSIM_RETURN_IF_ERROR(BeforeCall("Send"));
  if (DropThisSend()) return Status::Ok();
  return CommWrapper::Send(dst, src, tag);
}

Status FaultyComm::Recv(int src, const BufferRegion& dst, int tag) {
  TWINSIM_RETURN_IF_ERROR(BeforeCall("Recv"));
  return CommWrapper::Recv(src, dst, tag);
}

Status FaultyComm::SendRecv(int dst, const BufferRegion& send, int src, const BufferRegion& recv,
                            int tag) {
  TWINSIM_RETURN_IF_ERROR(BeforeCall("SendRecv"));
  if (DropThisSend()) return CommWrapper::Recv(src, recv, tag);
  return CommWrapper::SendRecv(dst, send, src, recv, tag);
}

Status FaultyComm::Broadcast(int root, const BufferRegion& buffer) {
  TWINSIM_RETURN_IF_ERROR(BeforeCall("Broadcast"));
  return CommWrapper::Broadcast(root, buffer);
}

Status FaultyComm::AllGather(const BufferRegion& send, const BufferRegion& recv,
                             std::span<const uint64_t> counts) {
  TWINSIM_RETURN_IF_ERROR(BeforeCall("AllGather"));
  return CommWrapper::AllGather(send, recv, counts);
}

Status FaultyComm::ReduceScatterSum(const BufferRegion& send, const BufferRegion& recv,
                                    std::span<const uint64_t> counts) {
  TWINSIM_RETURN_IF_ERROR(BeforeCall("ReduceScatterSum"));
  return CommWrapper::ReduceScatterSum(send, recv, counts);
}

Status FaultyComm::Barrier() {
  TWINSIM_RETURN_IF_ERROR(BeforeCall("Barrier"));
  return CommWrapper::Barrier();
}

}  // namespace twinsim::core::faults
