// Placement policies: where each chunk unit of a rank (workload.h Note [Placement units]) lives
// — GPU or host — as the training step's ops run, as ColossalAI Gemini and PatrickStar decide
// it: cuda, cpu, static(fractions), auto (traced, furthest-next-use eviction) and optimal (the
// offline lower bound on PCIe traffic).
//
// Accounting only: a GPU and a host core::MemoryLedger, no bytes, no time. An OOM, or auto's
// "cannot fit", is a result (PlacementOom), never an error (STYLE.md "Errors").
#ifndef TWINSIM_POLICIES_PLACEMENT_PLACEMENT_H_
#define TWINSIM_POLICIES_PLACEMENT_PLACEMENT_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/provenance.h"
#include "core/status.h"
#include "policies/placement/workload.h"

namespace twinsim::placement {

struct MemoryBudget {
  uint64_t gpu_bytes = 0;   // the rank's GPU memory
  uint64_t host_bytes = 0;  // host memory the rank may use for chunks
  // Also place every GPU allocation (units, transients, gathered buffers) through a model of
  // PyTorch's caching allocator (core/caching_allocator.h): a request that fits the free total
  // but no cached block or new segment is a "fragmentation" OOM, and the result reports the
  // peak reserved bytes. Off: exact byte accounting.
  bool caching_allocator = false;
};

enum class Where : uint8_t { kGpu = 0, kHost };

// Why a step did not finish. `op` is -1 for the initial placement (before the first op).
struct PlacementOom {
  int op = -1;
  std::string op_name;     // "initial placement" when op == -1
  std::string device;      // "gpu" or "host"
  uint64_t requested = 0;  // bytes the failing request (or op) needed
  uint64_t available = 0;  // bytes it could have had
  uint64_t shortfall = 0;  // requested - available
  std::string message;     // one line a person can read
};

// Note [Step accounting]
// ~~~~~~~~~~~~~~~~~~~~~~
// A step starts from the policy's initial placement (free: it was set up at init) and runs the
// ops in order. Before an op the policy names units to evict; the op's units not on the GPU are
// loaded. An eviction moves a unit GPU -> host (D2H: the one authoritative copy moves, so it is
// always written back); a load moves it host -> GPU (H2D). A move is a real copy: its bytes
// must fit at the destination before the source is freed. The op's evictions and loads go one
// unit at a time, each load as soon as the GPU has room for it, evictions just before, to make
// that room (Step::Exchange in placement.cc); the host backend (properties/placement_run.h)
// replays the same order with real bytes. The op then charges its transient bytes (non-model +
// gather) to the GPU for its duration. With MemoryBudget::caching_allocator every GPU charge
// also takes a block from a caching-allocator model (one block per unit, per op transient,
// for the kept-gathered buffers); optimal, a bound, ignores it. Tags: "fp16", "optim",
// "gathered" (static's kept-gathered chunks), "non-model", "gather". After the step every unit
// is in exactly one place and no transient is charged.

// One PCIe move of a step, in the order the step makes them (Note [Step accounting]): the
// evictions and loads before op `op` runs, or (after_op) the write-backs right after it (cpu and
// static evict a host-homed unit once its op is done). Optimal's moves are byte-granular: a part
// of a unit.
struct Transfer {
  int op = 0;
  bool after_op = false;
  int unit = 0;
  Where to = Where::kGpu;  // kGpu: a load (H2D); kHost: an eviction (D2H)
  uint64_t bytes = 0;
  // A copy that leaves the unit where it is: CPU Adam's gradients out (D2H) and updated
  // parameters back (H2D) for a unit on the GPU (Note [CPU Adam]).
  bool copy = false;
};

// Memory while one op ran: the GPU ledger with the op's units and transient charged, and the
// host ledger.
struct OpMemory {
  uint64_t gpu_bytes = 0;
  uint64_t host_bytes = 0;
};

struct PlacementResult {
  std::string policy;  // PlacementPolicy::Name()
  bool fits = false;
  std::optional<PlacementOom> oom;  // set exactly when !fits
  uint64_t peak_gpu_bytes = 0;
  uint64_t peak_host_bytes = 0;
  // With MemoryBudget::caching_allocator: the allocator's peak reserved bytes (segments),
  // >= peak_gpu_bytes; 0 otherwise.
  uint64_t peak_reserved_bytes = 0;
  uint64_t h2d_bytes = 0;  // PCIe bytes per step, up to the OOM when !fits
  uint64_t d2h_bytes = 0;
  // h2d / optimal's h2d (RunPolicies; Note [Optimal placement]); 0 when !fits.
  double ratio_to_optimal = 0;
  // State after the step (or at the OOM): a location per unit (empty for optimal, whose units
  // may be split), and what the ledgers still hold.
  std::vector<Where> final_location;
  std::vector<Where> initial_location;  // where the step started (empty for optimal)
  uint64_t final_gpu_bytes = 0;         // GPU ledger in_use
  uint64_t final_host_bytes = 0;        // host ledger in_use
  uint64_t final_transient_bytes = 0;   // GPU "non-model" + "gather" in use
  uint64_t gathered_bytes = 0;          // static's kept-gathered buffers (0 otherwise)
  // Every move of the step, up to the OOM when !fits; their bytes sum to h2d_bytes + d2h_bytes.
  std::vector<Transfer> transfers;
  // Per op that ran (up to the OOM): memory while it ran. max over gpu_bytes <= peak_gpu_bytes.
  std::vector<OpMemory> timeline;
  // Per op that ran: whether it ran on the CPU (Note [CPU Adam]).
  std::vector<bool> op_on_cpu;
  // Per chunk: kept gathered for the whole step (static's shard_param_frac < 1), so its ops
  // gather nothing. Empty: every op gathers what Workload::OpGatherBytes says.
  std::vector<bool> kept_gathered_chunks;
};

// One placement policy. Run is pure and thread-safe; Name() changes when the output changes.
class PlacementPolicy {
 public:
  virtual ~PlacementPolicy() = default;
  // "cuda", "cpu", "static(0.5,1,0)", "auto(0.8,0.9)", "optimal".
  virtual std::string Name() const = 0;
  // The upstream code it follows, cited (core/provenance.h); twinsim_own for twinsim's own.
  virtual core::Provenance provenance() const { return {}; }
  // Replays `workload` under `budget` (Note [Step accounting]). Never fails: an OOM is in the
  // result.
  virtual PlacementResult Run(const Workload& workload, const MemoryBudget& budget) const = 0;
};

// All units on the GPU from the start; nothing moves.
std::unique_ptr<PlacementPolicy> MakeCudaPolicy();
// All units on the host; an op's units are loaded before it and evicted right after it.
std::unique_ptr<PlacementPolicy> MakeCpuPolicy(bool cpu_adam = false);

// Note [CPU Adam]
// ~~~~~~~~~~~~~~~
// ColossalAI's HybridAdam runs Adam where a chunk's optimizer state lives. With cpu_adam, an
// Adam op whose optimizer unit is on the host when the op comes runs on the CPU: nothing is
// loaded and no GPU memory is charged; if the chunk's fp16 unit is on the GPU, its gradients go
// to the host and the updated fp16 parameters come back (two copy Transfers of the fp16 unit's
// and of the parameters' bytes; the unit stays put). Optimizer units on the GPU keep GPU Adam.
// Optimal is a bound over GPU Adam, so a CPU-Adam policy's ratio to it can fall below 1.

// Note [Static placement]
// ~~~~~~~~~~~~~~~~~~~~~~~
// ColossalAI's StaticPlacementPolicy(shard_param_frac, offload_optim_frac, offload_param_frac):
// - offload_optim_frac: chunks are walked in order and their optimizer state is put on the host
//   while the offloaded chunk memory is below offload_optim_frac * total chunk memory (so the
//   first chunks, rounding up by one chunk), the rest on the GPU;
// - offload_param_frac: only honoured when shard_param_frac == 1 and offload_optim_frac == 1
//   (ColossalAI warns and uses 0 otherwise); the same walk puts that fraction of fp16 units on
//   the host (ColossalAI keeps total * (1 - offload_param_frac) on CUDA and offloads the rest
//   after use);
// - shard_param_frac: with DP sharding, chunks are walked in order and kept gathered while the
//   kept memory is below (1 - shard_param_frac) * total; a kept-gathered chunk's gather buffer
//   stays on the GPU for the whole step ("gathered") instead of being gathered per op.
// A unit whose home is the host is loaded for each op that needs it and evicted after it (as
// cpu); a unit whose home is the GPU never moves. Adam runs on the GPU (workload.h Note
// [Placement units]), so offloaded optimizer state crosses PCIe twice per step here, where
// ColossalAI would run CPU Adam instead.
struct StaticFractions {
  double shard_param_frac = 1.0;
  double offload_optim_frac = 0.0;
  double offload_param_frac = 0.0;
  bool cpu_adam = false;  // Note [CPU Adam]
};
// InvalidArgument unless every fraction is in [0, 1].
StatusOr<std::unique_ptr<PlacementPolicy>> MakeStaticPolicy(const StaticFractions& fractions);

// Note [Auto placement]
// ~~~~~~~~~~~~~~~~~~~~~
// Gemini's AutoPlacementPolicy, in two passes over the step:
// 1. Warmup. Units start on the GPU in unit order up to the warmup budget, the rest on the host
//    (more stay on the GPU, up to op 0's limit, while the host could not take the rest). Model
//    data may use (1 - warmup_non_model_ratio) of the GPU; before each op, resident units not used
//    by it are evicted in unit order (no future is known yet) until its missing units fit that
//    budget (or, if the op alone needs more, the whole GPU less its transient). The pass traces
//    each op's non-model + gather bytes from the GPU ledger while it runs.
// 2. Steady steps. The first starts where the warmup ended (and mostly refills the GPU); the
//    result is the second, which starts where the first ended, so its traffic is a step's in
//    steady state. A failure in either is the result. Before op i the model-data
//    budget is steady_cap_ratio * capacity - max(trace[i], trace[i + 1]) (this op and the next
//    sampling moment, as Gemini's next_period_non_model_data_usage); resident units not used by
//    op i are evicted, furthest next use first (never used again counts as furthest; ties: the
//    higher unit), until the op's missing units fit. The budget's margins are soft: they yield
//    when evicting further would overflow the host, down to the hard limit capacity - trace[i].
//    If the op still does not fit, the result is "cannot fit": the op, the GPU and the shortfall
//    (Gemini raises "Adjust layout failed"). If the host cannot take what must be evicted, the
//    exchange reports a host OOM.
struct AutoOptions {
  double warmup_non_model_ratio = 0.8;  // ColossalAI's default
  double steady_cap_ratio = 0.9;
  bool cpu_adam = false;  // Note [CPU Adam]
};
// InvalidArgument unless both ratios are in [0, 1].
StatusOr<std::unique_ptr<PlacementPolicy>> MakeAutoPolicy(const AutoOptions& options = {});

// Note [Optimal placement]
// ~~~~~~~~~~~~~~~~~~~~~~~~
// Offline Belady over the step's access sequence, byte-granular: a unit may be partly resident
// (a relaxation every whole-unit policy is a special case of), op i may keep at most
// capacity - transient(i) bytes of model data, loads happen on demand, and when an op's missing
// bytes do not fit, bytes are evicted from the resident unit whose next use is furthest away
// (never again first). The initial GPU content is free: units in order of first use up to op 0's
// budget. With byte-granular units this is uniform paging with multi-page requests, for which
// furthest-in-future is optimal, so its H2D bytes are a lower bound on every policy's H2D bytes
// from any initial placement (the host is not limited in the relaxation). It reports an OOM only
// where an op's own units plus its transient exceed the GPU. Its D2H are the evicted bytes;
// final_location stays empty.
std::unique_ptr<PlacementPolicy> MakeOptimalPolicy();

// Runs every policy and fills ratio_to_optimal from an optimal run of the same workload: h2d /
// optimal h2d, 1 when both are 0, +infinity when only optimal's is 0, 0 for a result that did
// not fit (its traffic stops at the OOM). Results in input order.
std::vector<PlacementResult> RunPolicies(std::span<const PlacementPolicy* const> policies,
                                         const Workload& workload, const MemoryBudget& budget);

// The no-oom precondition (DESIGN.md "Properties"): every op's units plus its transient bytes
// (non-model + gather) fit the GPU, and at every op the model data fits the host plus what the
// GPU can hold beside that op, less one unit (units move whole):
//   total_model <= host + min_i(gpu - transient_i) - 2 * max_unit.
// Two units of slack: units move whole, and a move needs room at its destination before it
// frees its source (Step::Exchange), so a swap needs room for one unit in flight.
bool FeasiblePlacementExists(const Workload& workload, const MemoryBudget& budget);

}  // namespace twinsim::placement

#endif  // TWINSIM_POLICIES_PLACEMENT_PLACEMENT_H_
