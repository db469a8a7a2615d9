#include "properties/placement_run.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <optional>
#include <span>
#include <utility>

#include "core/checksum.h"
#include "core/host_device.h"
#include "core/memory_ledger.h"
#include "policies/placement/step_walk.h"
#include "sim/sim_device.h"
#include "sim/sim_run.h"

namespace twinsim::properties {
namespace {

using placement::OpPhase;
using placement::PlacementResult;
using placement::Transfer;
using placement::Where;
using placement::Workload;

// Note [Simulated placement step]: CPU Adam streams about 28 bytes per element (fp32 master,
// m and v read and written, the fp16 gradient in and parameter out). At an assumed 100 GB/s of
// node memory bandwidth that is ~3.6e9 elements/s, i.e. 28 units of the CPU host's
// sim::kCpuFlopsPerS per element; an assumption until `twinsim calibrate` measures the CPU.
constexpr uint64_t kCpuAdamWorkPerElement = 28;

double Seconds(std::chrono::steady_clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

// Moves `bytes` around the ring of `group` (this rank at `pos`) `steps` times: every rank sends
// to the next and receives from the previous, `bytes` each way per step.
Status Ring(core::Comm& comm, const std::vector<int>& group, size_t pos, const core::Buffer& send,
            const core::Buffer& recv, uint64_t bytes, int steps, int tag) {
  const int n = static_cast<int>(group.size());
  const int next = group[(pos + 1) % n];
  const int prev = group[(pos + n - 1) % n];
  for (int s = 0; s < steps; ++s) {
    TWINSIM_RETURN_IF_ERROR(comm.SendRecv(next, {send, 0, bytes}, prev, {recv, 0, bytes}, tag));
  }
  return Status::Ok();
}

// One rank's step on the sim backend (Note [Simulated placement step]).
Status RunRankStep(int rank, const core::ParallelLayout& layout, const Workload& w,
                   const PlacementResult& r, core::Comm& comm, core::Device& device) {
  const bool sharded = std::any_of(w.chunk_gather_bytes.begin(), w.chunk_gather_bytes.end(),
                                   [](uint64_t b) { return b > 0; });
  // Sharded chunks gather and reduce-scatter over the layout's shard group, then the shards'
  // replicas all-reduce (HSDP); a layout without dp_shard shards over its DP group.
  const bool by_shard_group = sharded && layout.shard_group_size() > 1;
  const std::vector<int> group = by_shard_group ? layout.ShardGroup(rank) : layout.DpGroup(rank);
  const std::vector<int> replicas =
      by_shard_group ? layout.ReplicateGroup(rank) : std::vector<int>{rank};
  auto position = [rank](const std::vector<int>& g) {
    return static_cast<size_t>(std::find(g.begin(), g.end(), rank) - g.begin());
  };
  const size_t pos = position(group), replica_pos = position(replicas);
  const int dp = static_cast<int>(group.size());
  const int nr = static_cast<int>(replicas.size());

  // Per op: the bytes of its ring steps, so the staging buffers can be sized once.
  const size_t num_ops = w.ops.size();
  std::vector<uint64_t> gather_step(num_ops, 0), reduce_step(num_ops, 0), replica_step(num_ops, 0);
  std::vector<int> reduce_steps(num_ops, 0);
  uint64_t largest = 1;
  for (const Transfer& t : r.transfers) largest = std::max(largest, t.bytes);
  for (size_t i = 0; i < num_ops; ++i) {
    const placement::Op& op = w.ops[i];
    if (dp < 2 || op.phase == OpPhase::kOptimizer) continue;
    const uint64_t gather = w.OpGatherBytes(op, r.kept_gathered_chunks);
    uint64_t grad = 0;
    for (int c : op.chunks) {
      // The chunk's fp16 gradient, whole: the gathered chunk when sharded, else the fp16 unit
      // (which holds the gradient beside the weights, or a separate gradient of equal size).
      grad += sharded ? w.chunk_gather_bytes[c] + w.chunk_param_bytes[c]
                      : w.unit_bytes[placement::Fp16Unit(c)];
    }
    if (sharded && gather > 0) gather_step[i] = (gather + dp - 2) / (dp - 1);
    if (op.phase == OpPhase::kBackward && grad > 0) {
      reduce_step[i] = (grad + dp - 1) / dp;
      reduce_steps[i] = sharded ? dp - 1 : 2 * (dp - 1);
      // HSDP: each shard's replicas all-reduce it (2 (nr - 1) steps of shard / nr).
      if (nr > 1) replica_step[i] = (reduce_step[i] + nr - 1) / nr;
    }
    largest = std::max({largest, gather_step[i], reduce_step[i], replica_step[i]});
  }
  StatusOr<core::Allocation> staging = device.Allocate(largest, "staging");
  if (!staging.ok()) return staging.status();
  StatusOr<core::Allocation> peer = device.Allocate(largest, "staging");
  if (!peer.ok()) return peer.status();
  if (!staging->fits() || !peer->fits()) {
    return Status::ResourceExhausted(fmt::format(
        "rank {}: no room for two staging buffers of {} B on the simulated GPU", rank, largest));
  }
  const core::Buffer a = staging->buffer, b = peer->buffer;

  auto move = [&](const Transfer& t) -> Status {
    if (t.to == Where::kGpu) return device.CopyFromHost({a, 0, t.bytes}, {});
    return device.CopyToHost({a, 0, t.bytes}, {});
  };
  auto run_op = [&](int op, bool on_cpu) -> Status {
    const size_t i = static_cast<size_t>(op);
    if (gather_step[i] > 0) {
      TWINSIM_RETURN_IF_ERROR(Ring(comm, group, pos, a, b, gather_step[i], dp - 1, 2 * op));
    }
    if (on_cpu) {
      // Note [CPU Adam]: on the node's CPU, shared with the node's other ranks.
      const int c = w.ops[i].chunks.front();
      TWINSIM_RETURN_IF_ERROR(device.HostInitWork(kCpuAdamWorkPerElement * w.chunk_elements[c]));
    } else {
      TWINSIM_RETURN_IF_ERROR(device.Compute(w.ops[i].flops, w.ops[i].hbm_bytes, w.ops[i].name));
    }
    if (reduce_steps[i] > 0) {
      TWINSIM_RETURN_IF_ERROR(
          Ring(comm, group, pos, a, b, reduce_step[i], reduce_steps[i], 2 * op + 1));
    }
    if (replica_step[i] > 0) {
      TWINSIM_RETURN_IF_ERROR(Ring(comm, replicas, replica_pos, a, b, replica_step[i], 2 * (nr - 1),
                                   2 * static_cast<int>(num_ops) + op));
    }
    return Status::Ok();
  };
  placement::StepFunctions step([&](size_t, const Transfer& t) { return move(t); }, run_op);
  TWINSIM_RETURN_IF_ERROR(placement::WalkStep(w, r, step));
  TWINSIM_RETURN_IF_ERROR(device.Free(a));
  return device.Free(b);
}

// Seconds of compute alone: what Device::Compute charges on the sim, summed.
double StepComputeSeconds(const Workload& w, const PlacementResult& r, const core::GpuSpec& gpu) {
  double total = 0;
  for (size_t i = 0; i < w.ops.size(); ++i) {
    if (i < r.op_on_cpu.size() && r.op_on_cpu[i]) continue;  // CPU Adam: not GPU compute
    total += sim::ComputeSeconds(w.ops[i].flops, w.ops[i].hbm_bytes, gpu.matmul_flops_per_s,
                                 gpu.hbm_bandwidth_bytes_per_s);
  }
  return total;
}

}  // namespace

StatusOr<SimStepResult> SimulatePlacementStep(const SimStepOptions& options,
                                              const core::ParallelLayout& layout,
                                              const std::vector<const Workload*>& workloads,
                                              const std::vector<const PlacementResult*>& results) {
  const auto start = std::chrono::steady_clock::now();
  const int world = layout.world_size();
  if (static_cast<int>(workloads.size()) != world || static_cast<int>(results.size()) != world) {
    return Status::InvalidArgument(
        fmt::format("SimulatePlacementStep: {} workloads and {} results for a world of {}",
                    workloads.size(), results.size(), world));
  }
  for (int r = 0; r < world; ++r) {
    if (workloads[r] == nullptr || results[r] == nullptr) {
      return Status::InvalidArgument(fmt::format("SimulatePlacementStep: rank {} is missing", r));
    }
    if (!results[r]->fits) {
      return Status::InvalidArgument(
          fmt::format("SimulatePlacementStep: rank {}'s step does not fit ({}); it has no duration",
                      r, results[r]->oom ? results[r]->oom->message : "OOM"));
    }
  }
  if (core::NumGpus(options.topology) < world) {
    return Status::InvalidArgument(
        fmt::format("SimulatePlacementStep: the cluster has {} GPUs, the layout needs {}",
                    core::NumGpus(options.topology), world));
  }

  sim::SimRunOptions run;
  run.topology = options.topology;
  run.world_size = world;
  run.holds_bytes = false;
  run.trace_path = options.trace_path;
  StatusOr<sim::SimRun> sim = sim::RunRanksOnSim(
      run, [&](int rank, core::Comm& comm, core::Device& device, std::vector<std::byte>&) {
        return RunRankStep(rank, layout, *workloads[rank], *results[rank], comm, device);
      });
  if (!sim.ok()) return sim.status();
  SimStepResult out;
  for (int r = 0; r < world; ++r) {
    const sim::SimRankResult& rr = sim->ranks[r];
    if (!rr.status.ok()) {
      return Status(rr.status.code(), fmt::format("rank {}: {}", r, rr.status.message()));
    }
    out.rank_time_s.push_back(rr.end_time_s);
  }
  out.step_time_s = sim->end_time_s;
  out.link_bytes = sim->link_bytes;
  for (int rank = 0; rank < world; ++rank) {
    out.compute_time_s =
        std::max(out.compute_time_s,
                 StepComputeSeconds(*workloads[rank], *results[rank],
                                    core::GpuOfRank(options.topology, rank)));
  }
  out.wall_s = Seconds(std::chrono::steady_clock::now() - start);
  return out;
}

// ---- host backend ------------------------------------------------------------------------------

namespace {

// The unit's bytes: a counter pattern of (unit, word), so that every unit differs.
std::vector<std::byte> UnitBytes(int unit, uint64_t bytes) {
  std::vector<std::byte> v(bytes);
  uint64_t x = 0x9e3779b97f4a7c15ULL * static_cast<uint64_t>(unit + 1);
  for (uint64_t i = 0; i < bytes; i += 8) {
    x += 0x9e3779b97f4a7c15ULL;
    uint64_t z = x;
    z = (z ^ (z >> 31)) * 0xbf58476d1ce4e5b9ULL;
    std::memcpy(v.data() + i, &z, std::min<uint64_t>(8, bytes - i));
  }
  return v;
}

class Replay final : public placement::StepHandler {
 public:
  Replay(const Workload& w, const PlacementResult& r, const placement::MemoryBudget& budget,
         int64_t corrupt_move)
      : w_(w),
        r_(r),
        device_(
            0, core::HostDeviceOptions{.name = "gpu (host backend)", .capacity = budget.gpu_bytes}),
        host_(-1, "host", budget.host_bytes),
        corrupt_move_(corrupt_move),
        on_device_(w.num_units()),
        on_host_(w.num_units()),
        sums_(w.num_units()) {}

  StatusOr<HostReplayResult> Run() {
    for (int u = 0; u < w_.num_units(); ++u) {
      std::vector<std::byte> bytes = UnitBytes(u, w_.unit_bytes[u]);
      sums_[u] = core::Checksum64(bytes);
      if (r_.initial_location[u] == Where::kGpu) {
        TWINSIM_RETURN_IF_ERROR(ToDevice(u, bytes, "initial placement"));
      } else {
        ChargeHost(u, "initial placement");
        on_host_[u] = std::move(bytes);
      }
      if (stopped()) return out_;
    }
    std::optional<core::Buffer> kept;
    if (r_.gathered_bytes > 0) {
      StatusOr<core::Allocation> g = device_.Allocate(r_.gathered_bytes, "gathered");
      if (!g.ok()) return g.status();
      if (!g->fits()) return Oom("initial placement: kept-gathered buffers do not fit the GPU");
      kept = g->buffer;
    }
    if (Status walked = placement::WalkStep(w_, r_, *this); !walked.ok()) {
      return walked.code() == StatusCode::kInvalidArgument ? Internal(std::string(walked.message()))
                                                            : walked;
    }
    if (stopped()) return out_;
    for (int u = 0; u < w_.num_units(); ++u) {  // where every unit ended, once more
      if ((r_.final_location[u] == Where::kGpu) != on_device_[u].has_value()) {
        return Internal(fmt::format("unit {} did not end where the accounting says", u));
      }
      TWINSIM_RETURN_IF_ERROR(Verify(u, "end of step"));
      if (stopped()) return out_;
    }
    if (kept) TWINSIM_RETURN_IF_ERROR(device_.Free(*kept));
    for (int u = 0; u < w_.num_units(); ++u) {
      if (on_device_[u]) TWINSIM_RETURN_IF_ERROR(device_.Free(*on_device_[u]));
    }
    out_.fits = true;
    out_.peak_device_bytes = std::max(out_.peak_device_bytes, device_.Stats().peak);
    return out_;
  }

 private:
  // The replay stopped at an OOM or a corruption (recorded in out_). Helpers record those and
  // return OK; a non-OK status is an error of the replay itself.
  bool stopped() const { return !out_.oom.empty() || !out_.intact; }

  HostReplayResult Oom(std::string what) {
    out_.oom = std::move(what);
    return out_;
  }
  static Status Internal(std::string what) {
    return Status::Internal("host backend disagrees with the accounting: " + what);
  }

  void ChargeHost(int u, std::string_view when) {
    if (host_.TryCharge(w_.unit_bytes[u], u % 2 == 0 ? "fp16" : "optim")) {
      out_.oom =
          fmt::format("{}: chunk unit {} ({} B) does not fit the host", when, u, w_.unit_bytes[u]);
    }
  }

  Status ToDevice(int u, std::span<const std::byte> bytes, std::string_view when) {
    StatusOr<core::Allocation> a =
        device_.Allocate(w_.unit_bytes[u], u % 2 == 0 ? "fp16" : "optim");
    if (!a.ok()) return a.status();
    if (!a->fits()) {
      out_.oom =
          fmt::format("{}: chunk unit {} ({} B) does not fit the GPU", when, u, w_.unit_bytes[u]);
      return Status::Ok();
    }
    TWINSIM_RETURN_IF_ERROR(device_.CopyFromHost(core::BufferRegion::Whole(a->buffer), bytes));
    on_device_[u] = a->buffer;
    return Status::Ok();
  }

  // The checksum of unit u where it is now, against the one it was born with.
  Status Verify(int u, std::string_view when) {
    uint64_t sum;
    if (on_device_[u]) {
      std::vector<std::byte> back(w_.unit_bytes[u]);
      TWINSIM_RETURN_IF_ERROR(device_.CopyToHost(core::BufferRegion::Whole(*on_device_[u]), back));
      sum = core::Checksum64(back);
    } else {
      sum = core::Checksum64(on_host_[u]);
    }
    ++out_.checksums;
    if (sum != sums_[u] && out_.intact) {
      out_.intact = false;
      out_.corruption = fmt::format("{}: chunk unit {} arrived with checksum {:016x}, sent {:016x}",
                                    when, u, sum, sums_[u]);
    }
    return Status::Ok();
  }

  // placement::StepHandler: the walk's moves and ops.
  Status Move(size_t index, const Transfer& move) override {
    return MoveUnit(index, w_.ops[move.op].name);
  }
  Status Op(int op, bool on_cpu) override {
    const placement::Op& o = w_.ops[op];
    for (int u : o.units) {
      if (!on_cpu && !on_device_[u]) {
        return Internal(fmt::format("{}: unit {} is not on the GPU when the op runs", o.name, u));
      }
    }
    if (on_cpu && on_device_[placement::OptimUnit(o.chunks.front())]) {
      return Internal(fmt::format("{}: CPU Adam with the optimizer state on the GPU", o.name));
    }
    const uint64_t gather = w_.OpGatherBytes(o, r_.kept_gathered_chunks);
    if (!device_.WouldFit(o.non_model_bytes + gather)) {
      Oom(fmt::format("{}: its transient of {} B does not fit beside its chunks", o.name,
                      o.non_model_bytes + gather));
      return Status::Ok();
    }
    out_.peak_device_bytes =
        std::max(out_.peak_device_bytes, device_.Stats().in_use + o.non_model_bytes + gather);
    return Status::Ok();
  }
  bool Done() const override { return stopped(); }

  Status MoveUnit(size_t index, std::string_view op_name) {
    const Transfer& t = r_.transfers[index];
    const int u = t.unit;
    const std::string when = fmt::format("move {} ({}, {} of chunk unit {})", index, op_name,
                                         t.to == Where::kGpu ? "load" : "eviction", u);
    if (t.bytes != w_.unit_bytes[u] || (t.to == Where::kGpu) == on_device_[u].has_value()) {
      return Internal(when + ": the unit is not where the move starts, or the move is partial");
    }
    if (t.to == Where::kGpu) {
      std::vector<std::byte> bytes = std::move(on_host_[u]);
      on_host_[u].clear();
      host_.Release(w_.unit_bytes[u], u % 2 == 0 ? "fp16" : "optim");
      if (static_cast<int64_t>(index) == corrupt_move_ && !bytes.empty()) bytes[0] ^= std::byte{1};
      TWINSIM_RETURN_IF_ERROR(ToDevice(u, bytes, when));
      if (stopped()) return Status::Ok();
    } else {
      std::vector<std::byte> bytes(w_.unit_bytes[u]);
      TWINSIM_RETURN_IF_ERROR(device_.CopyToHost(core::BufferRegion::Whole(*on_device_[u]), bytes));
      TWINSIM_RETURN_IF_ERROR(device_.Free(*on_device_[u]));
      on_device_[u].reset();
      ChargeHost(u, when);
      if (stopped()) return Status::Ok();
      if (static_cast<int64_t>(index) == corrupt_move_ && !bytes.empty()) bytes[0] ^= std::byte{1};
      on_host_[u] = std::move(bytes);
    }
    ++out_.moves;
    out_.bytes_moved += t.bytes;
    out_.peak_device_bytes = std::max(out_.peak_device_bytes, device_.Stats().in_use);
    return Verify(u, when);
  }

  const Workload& w_;
  const PlacementResult& r_;
  core::HostDevice device_;
  core::MemoryLedger host_;
  int64_t corrupt_move_;
  std::vector<std::optional<core::Buffer>> on_device_;
  std::vector<std::vector<std::byte>> on_host_;
  std::vector<uint64_t> sums_;
  HostReplayResult out_;
};

}  // namespace

StatusOr<HostReplayResult> ReplayPlacementWithBytes(const Workload& workload,
                                                    const PlacementResult& result,
                                                    const placement::MemoryBudget& budget,
                                                    int64_t corrupt_move) {
  const auto start = std::chrono::steady_clock::now();
  if (result.initial_location.size() != workload.unit_bytes.size()) {
    return Status::InvalidArgument(
        fmt::format("host backend: {} has no whole-unit placement to replay (optimal is a bound)",
                    result.policy));
  }
  if (workload.total_model_bytes > kHostReplayMaxBytes) {
    return Status::InvalidArgument(fmt::format(
        "host backend: the rank's model data is {}, more than the {} it holds in real bytes; use "
        "the sim backend",
        core::FormatByteSize(workload.total_model_bytes),
        core::FormatByteSize(kHostReplayMaxBytes)));
  }
  Replay replay(workload, result, budget, corrupt_move);
  StatusOr<HostReplayResult> out = replay.Run();
  if (out.ok()) out->wall_s = Seconds(std::chrono::steady_clock::now() - start);
  return out;
}

InitMeetsPlacement CheckInitMeetsPlacement(const std::optional<core::OomReport>& init_oom,
                                           std::string_view init_oom_during,
                                           const placement::ChunkManager& chunks, const Workload& w,
                                           const PlacementResult& result,
                                           const placement::MemoryBudget& budget) {
  InitMeetsPlacement out;
  if (result.initial_location.size() != w.unit_bytes.size()) {
    out.applicable = false;
    return out;
  }
  if (init_oom) {
    out.why = fmt::format(
        "init: {} ({}) needed {} with {} free, on {}",
        init_oom_during.empty() ? "allocation" : std::string(init_oom_during), init_oom->tag,
        core::FormatByteSize(init_oom->requested),
        core::FormatByteSize(init_oom->capacity - std::min(init_oom->capacity, init_oom->in_use)),
        init_oom->device);
    return out;
  }
  // Note [Init meets placement]: the build walk.
  const std::span<const placement::TensorSpec> tensors = chunks.tensors();
  std::vector<uint64_t> param_bytes(chunks.chunks().size(), 0);
  uint64_t gpu = 0;
  for (size_t t = 0; t < tensors.size(); ++t) {
    const uint64_t b = static_cast<uint64_t>(tensors[t].numel) * core::DTypeSize(tensors[t].dtype);
    param_bytes[chunks.ChunkOf(static_cast<int>(t))] += b;
    gpu += b;
  }
  uint64_t host = 0, peak_gpu = gpu, peak_host = 0;
  for (size_t c = 0; c < param_bytes.size(); ++c) {
    const int units[2] = {placement::Fp16Unit(static_cast<int>(c)),
                          placement::OptimUnit(static_cast<int>(c))};
    for (int u : units) gpu += w.unit_bytes[u];
    peak_gpu = std::max(peak_gpu, gpu);
    gpu -= param_bytes[c];
    for (int u : units) {
      if (result.initial_location[u] == Where::kHost) {
        gpu -= w.unit_bytes[u];
        host += w.unit_bytes[u];
        peak_host = std::max(peak_host, host);
      }
    }
  }
  peak_gpu = std::max(peak_gpu, gpu + result.gathered_bytes);
  out.build_peak_gpu_bytes = peak_gpu;
  out.build_peak_host_bytes = peak_host;
  if (peak_gpu > budget.gpu_bytes) {
    out.why = fmt::format(
        "chunk build: the GPU peaks at {} (parameters not yet partitioned + "
        "chunks), {} available",
        core::FormatByteSize(peak_gpu), core::FormatByteSize(budget.gpu_bytes));
  } else if (peak_host > budget.host_bytes) {
    out.why = fmt::format("chunk build: the host peaks at {}, {} available",
                          core::FormatByteSize(peak_host), core::FormatByteSize(budget.host_bytes));
  } else {
    out.fits = true;
  }
  return out;
}

}  // namespace twinsim::properties
