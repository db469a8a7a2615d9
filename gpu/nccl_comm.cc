#include "gpu/nccl_comm.h"

#include <cuda_runtime_api.h>
#include <dlfcn.h>
#include <fmt/format.h>
#include <nccl.h>

#include <cstdlib>
#include <mutex>
#include <numeric>

#include "core/comm_matching.h"
#include "gpu/cuda_check.h"

namespace twinsim::gpu {
namespace {

// The NCCL entry points twinsim uses, resolved from the library at run time.
struct NcclApi {
  decltype(&::ncclCommInitAll) CommInitAll = nullptr;
  decltype(&::ncclCommDestroy) CommDestroy = nullptr;
  decltype(&::ncclSend) Send = nullptr;
  decltype(&::ncclRecv) Recv = nullptr;
  decltype(&::ncclBroadcast) Broadcast = nullptr;
  decltype(&::ncclAllGather) AllGather = nullptr;
  decltype(&::ncclReduceScatter) ReduceScatter = nullptr;
  decltype(&::ncclReduce) Reduce = nullptr;
  decltype(&::ncclAllReduce) AllReduce = nullptr;
  decltype(&::ncclGroupStart) GroupStart = nullptr;
  decltype(&::ncclGroupEnd) GroupEnd = nullptr;
  decltype(&::ncclGetErrorString) GetErrorString = nullptr;
};

StatusOr<const NcclApi*> LoadNccl() {
  static std::once_flag once;
  static NcclApi api;
  static Status status;
  std::call_once(once, [] {
    const char* path = std::getenv("TWINSIM_NCCL_LIBRARY");
    void* lib =
        dlopen(path != nullptr && *path != '\0' ? path : "libnccl.so.2", RTLD_NOW | RTLD_LOCAL);
    if (lib == nullptr) {
      const char* err = dlerror();
      status = Status::Unavailable(
          fmt::format("NCCL not loadable ({}); set TWINSIM_NCCL_LIBRARY or LD_LIBRARY_PATH",
                      err != nullptr ? err : "unknown error"));
      return;
    }
    auto resolve = [&](auto& fn, const char* name) {
      fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(dlsym(lib, name));
      if (fn == nullptr && status.ok()) {
        status = Status::Unavailable(fmt::format("NCCL library lacks {}", name));
      }
    };
    resolve(api.CommInitAll, "ncclCommInitAll");
    resolve(api.CommDestroy, "ncclCommDestroy");
    resolve(api.Send, "ncclSend");
    resolve(api.Recv, "ncclRecv");
    resolve(api.Broadcast, "ncclBroadcast");
    resolve(api.AllGather, "ncclAllGather");
    resolve(api.ReduceScatter, "ncclReduceScatter");
    resolve(api.Reduce, "ncclReduce");
    resolve(api.AllReduce, "ncclAllReduce");
    resolve(api.GroupStart, "ncclGroupStart");
    resolve(api.GroupEnd, "ncclGroupEnd");
    resolve(api.GetErrorString, "ncclGetErrorString");
  });
  if (!status.ok()) return status;
  return &api;
}

}  // namespace

// Every NCCL call goes through this (one checking macro, as NCCL's own checks.h).
#define TWINSIM_NCCL_RETURN_IF_ERROR(api, call)                          \
  do {                                                                   \
    const ncclResult_t twinsim_nccl_res_ = (call);                       \
    if (twinsim_nccl_res_ != ncclSuccess) {                              \
      return Status::Internal(std::string(#call) + ": " +                \
                              (api)->GetErrorString(twinsim_nccl_res_)); \
    }                                                                    \
  } while (0)

Status NcclAvailable() { return LoadNccl().status(); }

StatusOr<std::unique_ptr<NcclWorld>> NcclWorld::Create(std::span<const int> ordinals) {
  TWINSIM_ASSIGN_OR_RETURN(const NcclApi* api, LoadNccl());
  const int have = CudaDeviceCount();
  for (int o : ordinals) {
    if (o < 0 || o >= have) {
      return Status::Unavailable(
          fmt::format("NcclWorld: GPU ordinal {} requested, {} GPU(s) present", o, have));
    }
  }
  std::unique_ptr<NcclWorld> world(new NcclWorld());
  world->ordinals_.assign(ordinals.begin(), ordinals.end());
  std::vector<ncclComm_t> comms(ordinals.size());
  TWINSIM_NCCL_RETURN_IF_ERROR(
      api, api->CommInitAll(comms.data(), static_cast<int>(comms.size()), ordinals.data()));
  world->comms_.assign(comms.begin(), comms.end());
  return world;
}

NcclWorld::~NcclWorld() {
  StatusOr<const NcclApi*> api = LoadNccl();
  if (!api.ok()) return;
  for (void* c : comms_) (*api)->CommDestroy(static_cast<ncclComm_t>(c));
}

StatusOr<std::unique_ptr<NcclComm>> NcclComm::Create(NcclWorld* world, int rank,
                                                     CudaDevice* device) {
  if (device->ordinal() != world->ordinal(rank)) {
    return Status::InvalidArgument(
        fmt::format("NcclComm: rank {} drives GPU {}, its device is on {}", rank,
                    world->ordinal(rank), device->ordinal()));
  }
  std::unique_ptr<NcclComm> comm(new NcclComm(world, rank, device));
  TWINSIM_CUDA_RETURN_IF_ERROR(cudaSetDevice(device->ordinal()));
  cudaStream_t stream = nullptr;
  TWINSIM_CUDA_RETURN_IF_ERROR(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  comm->stream_ = stream;
  TWINSIM_CUDA_RETURN_IF_ERROR(cudaMalloc(&comm->scratch_, 4));
  return comm;
}

NcclComm::~NcclComm() {
  cudaSetDevice(device_->ordinal());
  if (scratch_ != nullptr) cudaFree(scratch_);
  if (stream_ != nullptr) cudaStreamDestroy(static_cast<cudaStream_t>(stream_));
  cudaGetLastError();
}

Status NcclComm::Finish(const std::string& what) {
  const Status s = CudaStatus(cudaStreamSynchronize(static_cast<cudaStream_t>(stream_)),
                              "cudaStreamSynchronize");
  return s.ok() ? s : core::InCall(rank_, what, s);
}

namespace {

// Shorthands for one NcclComm call: the API, this rank's communicator and stream.
struct Call {
  const NcclApi* api;
  ncclComm_t comm;
  cudaStream_t stream;
};

}  // namespace

#define TWINSIM_NCCL_CALL_PREAMBLE()                                \
  TWINSIM_ASSIGN_OR_RETURN(const NcclApi* api, LoadNccl());         \
  const Call c{api, static_cast<ncclComm_t>(world_->comms_[rank_]), \
               static_cast<cudaStream_t>(stream_)};                 \
  TWINSIM_CUDA_RETURN_IF_ERROR(cudaSetDevice(device_->ordinal()))

Status NcclComm::Send(int dst, const core::BufferRegion& src, int tag) {
  const std::string what = core::DescribeSend(dst, tag, src.bytes);
  TWINSIM_RETURN_IF_ERROR(core::CheckSendArgs(rank_, size(), dst, tag, what));
  TWINSIM_ASSIGN_OR_RETURN(void* from, device_->DevicePointer(src, "Send"));
  TWINSIM_NCCL_CALL_PREAMBLE();
  TWINSIM_NCCL_RETURN_IF_ERROR(api, api->Send(from, src.bytes, ncclUint8, dst, c.comm, c.stream));
  TWINSIM_RETURN_IF_ERROR(Finish(what));
  if (dst != rank_) traffic_.RecordSent(dst, src.bytes, 1);
  return Status::Ok();
}

Status NcclComm::Recv(int src, const core::BufferRegion& dst, int tag) {
  const std::string what = core::DescribeRecv(src, tag, dst.bytes);
  TWINSIM_RETURN_IF_ERROR(core::CheckRecvArgs(rank_, size(), src, dst, tag, what));
  TWINSIM_ASSIGN_OR_RETURN(void* to, device_->DevicePointer(dst, "Recv"));
  TWINSIM_NCCL_CALL_PREAMBLE();
  TWINSIM_NCCL_RETURN_IF_ERROR(api, api->Recv(to, dst.bytes, ncclUint8, src, c.comm, c.stream));
  TWINSIM_RETURN_IF_ERROR(Finish(what));
  if (src != rank_) traffic_.RecordReceived(src, dst.bytes, 1);
  return Status::Ok();
}

Status NcclComm::SendRecv(int dst, const core::BufferRegion& send, int src,
                          const core::BufferRegion& recv, int tag) {
  const std::string what = core::DescribeSendRecv(dst, send.bytes, src, recv.bytes, tag);
  TWINSIM_RETURN_IF_ERROR(core::CheckSendRecvArgs(rank_, size(), dst, src, recv, tag, what));
  TWINSIM_ASSIGN_OR_RETURN(void* from, device_->DevicePointer(send, "SendRecv (send)"));
  TWINSIM_ASSIGN_OR_RETURN(void* to, device_->DevicePointer(recv, "SendRecv (recv)"));
  TWINSIM_NCCL_CALL_PREAMBLE();
  TWINSIM_NCCL_RETURN_IF_ERROR(api, api->GroupStart());
  TWINSIM_NCCL_RETURN_IF_ERROR(api, api->Send(from, send.bytes, ncclUint8, dst, c.comm, c.stream));
  TWINSIM_NCCL_RETURN_IF_ERROR(api, api->Recv(to, recv.bytes, ncclUint8, src, c.comm, c.stream));
  TWINSIM_NCCL_RETURN_IF_ERROR(api, api->GroupEnd());
  TWINSIM_RETURN_IF_ERROR(Finish(what));
  if (dst != rank_) traffic_.RecordSent(dst, send.bytes, 1);
  if (src != rank_) traffic_.RecordReceived(src, recv.bytes, 1);
  return Status::Ok();
}

Status NcclComm::Broadcast(int root, const core::BufferRegion& buffer) {
  const core::CollectiveArgs args = core::BroadcastArgs(rank_, size(), root, buffer);
  const std::string what = args.call.Describe();
  if (!args.local_error.ok()) return core::InCall(rank_, what, args.local_error);
  TWINSIM_ASSIGN_OR_RETURN(void* p, device_->DevicePointer(buffer, "Broadcast"));
  TWINSIM_NCCL_CALL_PREAMBLE();
  TWINSIM_NCCL_RETURN_IF_ERROR(
      api, api->Broadcast(p, p, buffer.bytes, ncclUint8, root, c.comm, c.stream));
  TWINSIM_RETURN_IF_ERROR(Finish(what));
  core::RecordCollectiveTraffic(rank_, args.call, std::vector<uint64_t>(size(), buffer.bytes),
                                &traffic_);
  return Status::Ok();
}

namespace {

// counts as given, or `each` for every rank when empty.
std::vector<uint64_t> EffectiveCounts(std::span<const uint64_t> counts, int n, uint64_t each) {
  return counts.empty() ? std::vector<uint64_t>(n, each)
                        : std::vector<uint64_t>(counts.begin(), counts.end());
}

bool AllEqual(const std::vector<uint64_t>& v) {
  for (uint64_t x : v) {
    if (x != v.front()) return false;
  }
  return true;
}

}  // namespace

Status NcclComm::AllGather(const core::BufferRegion& send, const core::BufferRegion& recv,
                           std::span<const uint64_t> counts) {
  const core::CollectiveArgs args = core::AllGatherArgs(rank_, size(), send, recv, counts);
  const std::string what = args.call.Describe();
  if (!args.local_error.ok()) return core::InCall(rank_, what, args.local_error);
  const std::vector<uint64_t> n = EffectiveCounts(counts, size(), send.bytes);
  TWINSIM_ASSIGN_OR_RETURN(void* from, device_->DevicePointer(send, "AllGather (send)"));
  TWINSIM_ASSIGN_OR_RETURN(void* to, device_->DevicePointer(recv, "AllGather (recv)"));
  TWINSIM_NCCL_CALL_PREAMBLE();
  if (AllEqual(n)) {
    TWINSIM_NCCL_RETURN_IF_ERROR(api,
                                 api->AllGather(from, to, n[rank_], ncclUint8, c.comm, c.stream));
  } else {
    TWINSIM_NCCL_RETURN_IF_ERROR(api, api->GroupStart());
    uint64_t offset = 0;
    for (int r = 0; r < size(); ++r) {
      TWINSIM_NCCL_RETURN_IF_ERROR(api, api->Broadcast(from, static_cast<std::byte*>(to) + offset,
                                                       n[r], ncclUint8, r, c.comm, c.stream));
      offset += n[r];
    }
    TWINSIM_NCCL_RETURN_IF_ERROR(api, api->GroupEnd());
  }
  TWINSIM_RETURN_IF_ERROR(Finish(what));
  core::RecordCollectiveTraffic(rank_, args.call, n, &traffic_);
  return Status::Ok();
}

Status NcclComm::ReduceScatterSum(const core::BufferRegion& send, const core::BufferRegion& recv,
                                  std::span<const uint64_t> counts) {
  const core::CollectiveArgs args = core::ReduceScatterSumArgs(rank_, size(), send, recv, counts);
  const std::string what = args.call.Describe();
  if (!args.local_error.ok()) return core::InCall(rank_, what, args.local_error);
  const std::vector<uint64_t> n = EffectiveCounts(counts, size(), recv.bytes);
  TWINSIM_ASSIGN_OR_RETURN(void* from, device_->DevicePointer(send, "ReduceScatterSum (send)"));
  TWINSIM_ASSIGN_OR_RETURN(void* to, device_->DevicePointer(recv, "ReduceScatterSum (recv)"));
  TWINSIM_NCCL_CALL_PREAMBLE();
  if (AllEqual(n)) {
    TWINSIM_NCCL_RETURN_IF_ERROR(api, api->ReduceScatter(from, to, n[rank_] / sizeof(float),
                                                         ncclFloat32, ncclSum, c.comm, c.stream));
  } else {
    TWINSIM_NCCL_RETURN_IF_ERROR(api, api->GroupStart());
    uint64_t offset = 0;
    for (int r = 0; r < size(); ++r) {
      TWINSIM_NCCL_RETURN_IF_ERROR(
          api, api->Reduce(static_cast<const std::byte*>(from) + offset, to, n[r] / sizeof(float),
                           ncclFloat32, ncclSum, r, c.comm, c.stream));
      offset += n[r];
    }
    TWINSIM_NCCL_RETURN_IF_ERROR(api, api->GroupEnd());
  }
  TWINSIM_RETURN_IF_ERROR(Finish(what));
  core::RecordCollectiveTraffic(rank_, args.call, n, &traffic_);
  return Status::Ok();
}

Status NcclComm::Barrier() {
  const core::CollectiveArgs args = core::BarrierArgs();
  const std::string what = args.call.Describe();
  TWINSIM_NCCL_CALL_PREAMBLE();
  TWINSIM_NCCL_RETURN_IF_ERROR(
      api, api->AllReduce(scratch_, scratch_, 1, ncclInt32, ncclSum, c.comm, c.stream));
  TWINSIM_RETURN_IF_ERROR(Finish(what));
  core::RecordCollectiveTraffic(rank_, args.call, std::vector<uint64_t>(size(), 0), &traffic_);
  return Status::Ok();
}

}  // namespace twinsim::gpu
