#include "gpu/cuda_run.h"

#include <fmt/format.h>

#include <memory>
#include <mutex>
#include <thread>

#include "gpu/cuda_device.h"
#include "gpu/local_comm.h"
#include "gpu/nccl_comm.h"

namespace twinsim::gpu {

std::string_view CudaCommKindName(CudaCommKind kind) {
  switch (kind) {
    case CudaCommKind::kAuto:
      return "auto";
    case CudaCommKind::kLocal:
      return "local";
    case CudaCommKind::kNccl:
      return "nccl";
  }
  return "invalid";
}

std::vector<Status> CudaRun::statuses() const {
  std::vector<Status> out;
  for (const CudaRankResult& r : ranks) out.push_back(r.status);
  return out;
}

TransferTotals CudaRun::totals() const {
  TransferTotals t;
  for (const CudaRankResult& r : ranks) t.Add(r.totals);
  return t;
}

StatusOr<CudaRun> RunRanksOnCuda(const CudaRunOptions& options, const core::RankFunction& fn) {
  const int n = options.world_size;
  if (n < 1) return Status::InvalidArgument(fmt::format("RunRanksOnCuda: world size {}", n));
  const int gpus = CudaDeviceCount();
  if (gpus == 0) return Status::Unavailable(CudaUnavailableReason());
  CudaRun run;
  run.comm = options.comm;
  if (run.comm == CudaCommKind::kAuto) {
    run.comm =
        n > 1 && gpus >= n && NcclAvailable().ok() ? CudaCommKind::kNccl : CudaCommKind::kLocal;
  }
  if (run.comm == CudaCommKind::kNccl) {
    TWINSIM_RETURN_IF_ERROR(NcclAvailable());
    if (gpus < n) {
      return Status::Unavailable(
          fmt::format("NCCL run of {} ranks needs {} GPUs, {} present", n, n, gpus));
    }
  }
  const bool local = run.comm == CudaCommKind::kLocal;

  std::mutex gpu_lock;  // local: one GPU shared by every rank
  std::vector<std::unique_ptr<CudaDevice>> devices;
  for (int r = 0; r < n; ++r) {
    CudaDeviceOptions o;
    o.ordinal = local ? 0 : r;
    o.pinned_capacity = options.pinned_capacity;
    o.staging_bytes = options.staging_bytes;
    o.gpu_lock = local ? &gpu_lock : nullptr;
    o.capacity = options.device_capacity;
    if (o.capacity == 0 && local && r == 0) {
      // Leave each rank an equal share of what the GPU has free now.
      TWINSIM_ASSIGN_OR_RETURN(std::unique_ptr<CudaDevice> probe, CudaDevice::Create(-1, o));
      o.capacity = probe->Info().capacity / n;
    } else if (o.capacity == 0 && local) {
      o.capacity = devices.front()->Info().capacity;
    }
    TWINSIM_ASSIGN_OR_RETURN(std::unique_ptr<CudaDevice> device, CudaDevice::Create(r, o));
    devices.push_back(std::move(device));
  }
  run.device = devices.front()->Info().model;

  std::unique_ptr<LocalCommWorld> local_world;
  std::unique_ptr<NcclWorld> nccl_world;
  std::vector<std::unique_ptr<core::Comm>> comms;
  if (local) {
    local_world = std::make_unique<LocalCommWorld>(n, options.timeout);
    for (int r = 0; r < n; ++r) {
      comms.push_back(std::make_unique<LocalComm>(local_world.get(), r, devices[r].get()));
    }
  } else {
    std::vector<int> ordinals(n);
    for (int r = 0; r < n; ++r) ordinals[r] = r;
    TWINSIM_ASSIGN_OR_RETURN(nccl_world, NcclWorld::Create(ordinals));
    for (int r = 0; r < n; ++r) {
      TWINSIM_ASSIGN_OR_RETURN(std::unique_ptr<NcclComm> comm,
                               NcclComm::Create(nccl_world.get(), r, devices[r].get()));
      comms.push_back(std::move(comm));
    }
  }

  run.ranks.resize(n);
  auto run_rank = [&](int r) {
    Status status;
    try {
      status = fn(r, *comms[r], *devices[r]);
    } catch (const std::exception& e) {
      status = Status::Internal(fmt::format("rank {} threw: {}", r, e.what()));
    }
    if (local_world) local_world->MarkExited(r);
    run.ranks[r].status = std::move(status);
  };
  std::vector<std::thread> threads;
  for (int r = 0; r < n; ++r) threads.emplace_back(run_rank, r);
  for (std::thread& t : threads) t.join();
  for (int r = 0; r < n; ++r) {
    run.ranks[r].transfers = devices[r]->transfers();
    run.ranks[r].totals = devices[r]->totals();
    run.ranks[r].memory = devices[r]->Stats();
  }
  comms.clear();  // before the worlds and devices they use
  return run;
}

}  // namespace twinsim::gpu
