// Runs a placement policy's step (policies/placement/placement.h) on a backend:
//   sim   every rank of the layout replays its step's moves and ops on a SimGrid model of the
//         cluster, timing-only: PCIe moves take time over the node's links, ops take GPU time
//         (Note [Op cost]), DP gathers and gradient reductions cross NVLink or the fabric; the
//         step has a simulated duration.
//   host  one rank's chunk units hold real bytes, on a HostDevice as big as the rank's GPU
//         budget and in host memory; every move is checksummed at both ends, every op checks
//         that its units are on the GPU and its transient still fits.
// The accounting layer (placement.h) decides; these replay what it decided, so a backend that
// disagrees with the accounting (an OOM the ledger did not see, a unit where it should not be,
// a corrupted move) is a finding.
#ifndef TWINSIM_PROPERTIES_PLACEMENT_RUN_H_
#define TWINSIM_PROPERTIES_PLACEMENT_RUN_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/memory_ledger.h"
#include "core/parallel_layout.h"
#include "core/status.h"
#include "core/topology.h"
#include "policies/placement/chunk.h"
#include "policies/placement/placement.h"
#include "policies/placement/workload.h"
#include "sim/sim_cluster.h"

namespace twinsim::properties {

// Note [Simulated placement step]
// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
// Rank r runs on GPU r of the cluster (sim::RunRanksOnSim, timing-only) and, for each op of
// its workload, in order:
//   1. the moves logged before the op: D2H evictions, then H2D loads (CopyToHost /
//      CopyFromHost over the PCIe route, shared with the node's other GPUs);
//   2. with DP sharding (chunk_gather_bytes > 0), a ring all-gather of the op's chunks over its
//      group of n ranks: n - 1 steps, each sending and receiving gather / (n - 1) bytes
//      (static's kept-gathered chunks gather nothing). The group is the layout's ShardGroup
//      when it has more than one rank (the chunks of `chunks` and `place`), else the DP group
//      (a caller sharding chunks over the DP group of a layout without dp_shard);
//   3. the op's compute (Device::Compute: flops and HBM bytes, Note [Op cost]);
//   4. after a backward op, with n > 1, the gradient reduction of its chunks over that group:
//      a ring reduce-scatter when sharded (n - 1 steps of grad / n bytes) or a ring
//      all-reduce over the DP group when not (2 (n - 1) steps); sharded over a ShardGroup with
//      replicas (HSDP, dp_replicate = r > 1), each shard is then all-reduced over its
//      ReplicateGroup (2 (r - 1) steps of grad / (n r) bytes);
//   5. the write-backs logged after the op (cpu and static).
// Moves, collectives and compute run one after another on the rank: no overlap of transfers
// with compute (Gemini's default), so the step time is an upper bound for overlapping runtimes.
// Not modelled: tensor-parallel all-reduces, pipeline sends and bubbles (each stage runs its
// op sequence independently), CPU-side optimizer work, context parallelism's KV exchange and
// its gradient reduction over cp (Megatron's dp-cp group). The step is the op sequence of the
// workload: one microbatch's forward and backward and the optimizer (Note [Activation memory]).

struct SimStepOptions {
  core::Topology topology;  // at least layout.world_size() GPUs
  std::string trace_path;   // non-empty: a Perfetto trace of the step (sim/trace.h)
};

struct SimStepResult {
  double step_time_s = 0;           // the slowest rank's end time
  std::vector<double> rank_time_s;  // per rank
  sim::LinkBytes link_bytes{};      // hardware bytes per link class, all ranks
  double compute_time_s = 0;        // the slowest rank's op compute alone (no moves, no comm)
  double wall_s = 0;                // wall-clock seconds the simulation took
};

// Simulates one step of every rank (Note [Simulated placement step]). workloads[r] and
// results[r] are rank r's step and its policy's result; every result must fit (a step that
// OOMs has no duration) and ranks of one DP group must have the same op sequence.
// InvalidArgument for sizes that do not match the layout, a result that did not fit, or a
// cluster with too few GPUs; the simulation's own errors otherwise.
StatusOr<SimStepResult> SimulatePlacementStep(
    const SimStepOptions& options, const core::ParallelLayout& layout,
    const std::vector<const placement::Workload*>& workloads,
    const std::vector<const placement::PlacementResult*>& results);

// Note [Chunk bytes on the host backend]
// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
// Each unit gets bytes of its own (a counter pattern of its index) and their checksum
// (core::Checksum64) at its initial place: the "GPU" is a HostDevice whose capacity is the
// rank's GPU budget, the host side is process memory charged to a ledger of the host budget.
// A load allocates the unit on the device (tag fp16 / optim) and copies it in; an eviction
// copies it out and frees it. After every move the destination's bytes are read back and
// their checksum compared with the unit's; before each op its units must be on the device and
// its transient (non-model + gather) must still fit beside them (Device::WouldFit). Static's
// kept-gathered buffers are allocated for the whole step. At the end every unit is checked
// once more where it ended. Optimal's byte-granular moves are a bound, not a placement, and
// are not replayed.

struct HostReplayResult {
  bool fits = false;         // no allocation or transient failed
  std::string oom;           // when !fits: the op and what did not fit
  bool intact = true;        // every checksum matched
  std::string corruption;    // when !intact: the first unit and move that did not
  uint64_t moves = 0;        // transfers replayed
  uint64_t bytes_moved = 0;  // their bytes
  uint64_t checksums = 0;    // checksums compared
  uint64_t peak_device_bytes = 0;
  double wall_s = 0;
};

// The largest total of a rank's model bytes the host backend holds (4 GiB).
inline constexpr uint64_t kHostReplayMaxBytes = uint64_t{4} << 30;

// Replays `result` with real bytes (Note [Chunk bytes on the host backend]). InvalidArgument
// for optimal's result, a result without initial_location, or more than kHostReplayMaxBytes
// of model data. `corrupt_move` >= 0 flips one byte in flight of that transfer (for tests: the
// checksum must catch it).
StatusOr<HostReplayResult> ReplayPlacementWithBytes(const placement::Workload& workload,
                                                    const placement::PlacementResult& result,
                                                    const placement::MemoryBudget& budget,
                                                    int64_t corrupt_move = -1);

// Note [Init meets placement]
// ~~~~~~~~~~~~~~~~~~~~~~~~~~~
// Before the first step a rank initializes its parameters (a seed policy) and then packs them
// into chunks placed where the placement policy starts (PlacementResult::initial_location).
// init-fits under a placement holds when both phases fit the rank's GPU and host budgets:
//   init   the seed policy's own run (properties::RunInit with those capacities) ran out of no
//          memory: GPU-side init must fit the GPU before partitioning, a seed checkpoint or a
//          CPU-side full materialization must fit the host;
//   build  the parameters then sit on the GPU in their dtype, whole for the rank's TP/PP shard
//          (not yet split over DP). Chunks are built in order: chunk c's units are made on the
//          GPU from its tensors, the tensors are freed, and the units whose home is the host are
//          moved there. The GPU's peak over that walk, and the host's, must fit.
// Optimal has no whole-unit initial placement: n/a.

struct InitMeetsPlacement {
  bool applicable = true;  // false for optimal
  bool fits = false;
  std::string why;  // when !fits: the phase, device and bytes
  uint64_t build_peak_gpu_bytes = 0;
  uint64_t build_peak_host_bytes = 0;
};

// `init_oom`: the seed policy's first OOM on this rank, if any (RankOutcome::oom and
// oom_during); `chunks` built from the rank's tensors, `workload` from `chunks`.
InitMeetsPlacement CheckInitMeetsPlacement(const std::optional<core::OomReport>& init_oom,
                                           std::string_view init_oom_during,
                                           const placement::ChunkManager& chunks,
                                           const placement::Workload& workload,
                                           const placement::PlacementResult& result,
                                           const placement::MemoryBudget& budget);

}  // namespace twinsim::properties

#endif  // TWINSIM_PROPERTIES_PLACEMENT_RUN_H_
