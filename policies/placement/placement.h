// Placement policies: where each chunk unit of a rank (workload.h Note [Placement units]) lives
// — GPU or host — as the training step's ops run: ColossalAI Gemini's code at 4f9953be (cuda,
// cpu, static, auto; Note [Gemini placement]), the documented intent of its static fractions
// (static-documented), twinsim's GPU-Adam variants, and optimal (twinsim's offline lower bound
// on PCIe traffic). Each policy's provenance() cites the code it follows.
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
  // The policy itself refused, not the device: Gemini's auto raising "Adjust layout failed"
  // when evicting every evictable chunk leaves its model-data budget short (Note [Auto
  // placement]). The device might have held the op.
  bool policy_limit = false;
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
// evictions and loads before op `op` runs, or (after_op) the moves right after it (Gemini's
// fp16 chunk to the host with its gradients after its last backward op; the GPU-Adam variant's
// write-back of a host-homed unit). Optimal's moves are byte-granular: a part of a unit.
struct Transfer {
  int op = 0;
  bool after_op = false;
  int unit = 0;
  Where to = Where::kGpu;  // kGpu: a load (H2D); kHost: an eviction (D2H)
  uint64_t bytes = 0;
};

// Memory while one op ran: the GPU ledger with the op's units and transient charged, and the
// host ledger.
struct OpMemory {
  uint64_t gpu_bytes = 0;
  uint64_t host_bytes = 0;
};

// What the GPU held at a policy's peak, by what the bytes are for, and the op at the peak: the
// `peak_breakdown` of `place --json` (issue 16). The parts sum to PlacementResult::peak_gpu_bytes.
struct PeakBreakdown {
  int op = -1;          // the op at the peak; -1: the initial placement, before the first op
  std::string op_name;  // "initial placement" when op == -1
  // The parameters as the system stores them: fp16/bf16 shards or chunks and their gathered
  // copies (a gathered chunk, an all-gathered FSDP module, a ZeRO-3 live parameter).
  uint64_t params = 0;
  uint64_t grads = 0;  // gradients apart from the parameters' own storage
  // The fp32 master copy where the system keeps one apart from the parameters, and the Adam
  // moments (m, v).
  uint64_t optimizer = 0;
  uint64_t activations = 0;  // stored activations (Note [Activation memory])
  // Communication and bucket buffers: ZeRO's reduce/all-gather buckets, Megatron's gradient
  // buffer padding, NCCL's buffers where a policy models them.
  uint64_t buffers = 0;
  uint64_t other = 0;  // temporaries: an op's transient (logit gradients, rebuilt activations)
  uint64_t total() const { return params + grads + optimizer + activations + buffers + other; }
};

// Note [Peak breakdown]
// ~~~~~~~~~~~~~~~~~~~~~~
// Every GPU charge of a step (Note [Step accounting]) says what its bytes are for, and the
// breakdown is what the GPU ledger held, by part, the first time it reached its peak (the
// moment a charge took it there, even a charge the caching allocator then refused, as the
// ledger's peak counts it). For the chunk policies (cuda, cpu, static, static-documented,
// auto, their GPU-Adam variants, optimal):
// - params: fp16 units' param shards (Workload::chunk_param_bytes), the gathered rest of a
//   DP-sharded chunk while an op runs ("gather"), static's kept-gathered chunks ("gathered").
// - grads: an fp16 unit's bytes beyond its param shard, i.e. the separate fp16 gradient chunk
//   (separate_grad, with gradient accumulation). Without it Gemini writes each gradient into
//   the fp16 chunk's own storage (ColossalAI 4f9953be zero/gemini/gemini_ddp.py:379-400,
//   grad_handle: with reuse_fp16_chunk grad_chunk is the chunk, and copy_tensor_to_chunk_slice
//   puts the gradient in the weight's slice), so grads is 0 and the gradients are in params.
// - optimizer: optimizer units (fp32 master shard, Adam m and v) on the GPU.
// - activations: of the running op's non-model bytes, the stored activations
//   (Op::stored_activation_bytes: (K - 1) * S + n of Note [Activation memory]); other: the
//   rest, the op's temporaries (logit and input gradients, recomputation's rebuilt layer).
// - buffers: 0; Gemini's chunk policies charge no communication buffers apart from the gather.
// Optimal, byte-granular, counts a partly resident fp16 unit's bytes as param bytes first.
// total() == peak_gpu_bytes (placement_property_test, PeakBreakdownAddsUpToThePeak).

struct PlacementResult {
  std::string policy;  // PlacementPolicy::Name()
  bool fits = false;
  std::optional<PlacementOom> oom;  // set exactly when !fits
  uint64_t peak_gpu_bytes = 0;
  uint64_t peak_host_bytes = 0;
  // With MemoryBudget::caching_allocator: the allocator's peak reserved bytes (segments),
  // >= peak_gpu_bytes; 0 otherwise.
  uint64_t peak_reserved_bytes = 0;
  // What peak_gpu_bytes is made of; policies fill it as they reach their peak. total() ==
  // peak_gpu_bytes for every policy that fills it (zeroes: not filled yet).
  PeakBreakdown peak_breakdown;
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
  // "cuda", "cpu", "static(0.5,1,0)", "static-documented(1,0.5,0)", "auto(0.8,0.9)",
  // "cpu+gpu-adam", "optimal".
  virtual std::string Name() const = 0;
  // The upstream code it follows, cited (core/provenance.h); twinsim_own for twinsim's own.
  virtual core::Provenance provenance() const { return {}; }
  // Replays `workload` under `budget` (Note [Step accounting]). Never fails: an OOM is in the
  // result.
  virtual PlacementResult Run(const Workload& workload, const MemoryBudget& budget) const = 0;
};

// Note [Gemini placement]
// ~~~~~~~~~~~~~~~~~~~~~~~
// cuda, cpu, static, static-documented and auto are ColossalAI Gemini's code at 4f9953be
// (2026-04-09), with the chunk of a unit standing for Gemini's Chunk. Where state lives:
// - Chunk shards start per GeminiDDP's cpu_offload rule: on the host for every policy except
//   static with offload_param_frac == 0 (gemini_ddp.py:183-188; chunk.py:128, 313-319). The
//   rule reads the offload_param_frac *argument*, before StaticPlacementPolicy ignores it.
// - The optimizer unit's device is the policy's setup_grads_device: auto puts every chunk's on
//   the host (placement_policy.py:224-234; twinsim has no keep-gathered chunks); static walks
//   the chunks (Note [Static placement]). It never moves again, except that auto with
//   gpu_margin_mem_ratio > 0 moves fp32 chunks to the GPU once (Note [GPU margin]).
// - Adam runs where that state is (Note [CPU Adam]).
// Per forward or backward op, as GeminiZeROHook.pre_op/post_op (gemini_hook.py:27-84):
// 1. The evictable chunks are the accessed (gathered since their last release) fp16 chunks
//    whose tensors are all HOLD or HOLD_AFTER_BWD (chunk.py:228-236, can_release), in count_id
//    order (manager.py:191-200): the op's own chunks are in COMPUTE, and a chunk part-way
//    through its backward has tensors READY_FOR_REDUCE, so neither is evictable. The policy's
//    evict_tensors chooses from them; a chunk is moved only once released (can_move is "not
//    gathered", chunk.py:224-226). Only fp16 chunks are ever evicted or fetched.
// 2. The op's chunks not on the GPU are loaded (H2D); they become accessed.
// 3. After the backward op that produces a chunk's last gradient, the chunk is reduced (no
//    longer accessed) and moved to its gradient device: to the host, D2H, when its optimizer
//    state is there (gemini_ddp.py:357-435, grad_handle, move_chunk(grad_chunk, grads_device)).
// The reported step is a steady one: static (cuda, cpu) runs a first step from the initial
// placement and reports the second, from where the first ended; auto reports the second step
// after its warmup (Note [Auto placement]).
// Not modelled: a DP-sharded chunk stays gathered (the whole chunk on the GPU) until released,
// where twinsim charges the gather as the op's transient; the first load after a CPU Adam
// update copies the fp32 master shard and casts it on the GPU (chunk.py:559-572,
// __paired_shard_move), twice the fp16 bytes, where twinsim counts the fp16 unit's bytes.

// Note [CPU Adam]
// ~~~~~~~~~~~~~~~
// Gemini's optimizer is HybridAdam (CPUAdam for host tensors, a fused CUDA kernel for GPU
// ones; colossalai/nn/optimizer/hybrid_adam.py). An Adam op whose optimizer unit is on the host
// runs on the CPU: its fp16 unit already went to the host with the gradients (Note [Gemini
// placement] 3.), so nothing crosses PCIe and no GPU memory is charged; the updated fp16
// weights go back to the GPU when the next step's forward loads the chunk. An Adam op whose
// optimizer unit is on the GPU runs there. Optimal is a bound over GPU Adam, so a Gemini
// policy's ratio to it can fall below 1.
// gpu_adam selects twinsim's own variant instead (not Gemini): Adam always on the GPU, an
// optimizer unit on the host loaded for it and written back, fp16 units not sent to the host
// after backward (Note [GPU-Adam variant]).

// Note [GPU-Adam variant]
// ~~~~~~~~~~~~~~~~~~~~~~~
// twinsim's variant of cpu, static and auto, selected by gpu_adam, kept for comparison (and as
// the policy the no-oom and monotone properties hold for): every op runs on the GPU, Adam
// included, so an optimizer unit whose home is the host crosses PCIe twice per step.
// - cpu, static: a fixed home per unit, walked in chunk order against fractions of the true
//   fp16 total (the documented intent); a host-homed unit is loaded for each op that needs it
//   and evicted right after it; with DP sharding, (1 - shard_param_frac) of the chunks stay
//   gathered for the whole step ("gathered").
// - auto: a warmup pass starts with units in unit order on the GPU up to the warmup budget,
//   evicts in unit order, and traces each op's non-model + gather bytes; then two steady steps
//   (the second is the result) evict furthest-next-use first (ties: the higher unit), under a
//   soft budget that yields when the host is full, down to capacity - trace[i].

// Cuda: ColossalAI's static(1, 0, 0), which its docs call the old "cuda" placement
// (gemini_plugin.py:392-393): every unit on the GPU from the start; nothing moves; GPU Adam.
std::unique_ptr<PlacementPolicy> MakeCudaPolicy();
// Cpu: ColossalAI's static(1, 1, 1), the docs' old "cpu" (gemini_plugin.py:394-396): fp16 units
// start on the host and every accessed chunk that can be evicted is, before each op; optimizer
// state on the host, CPU Adam. gpu_adam: twinsim's variant (Note [GPU-Adam variant]).
std::unique_ptr<PlacementPolicy> MakeCpuPolicy(bool gpu_adam = false);

// Note [Static placement]
// ~~~~~~~~~~~~~~~~~~~~~~~
// StaticPlacementPolicy(shard_param_frac, offload_optim_frac, offload_param_frac) as coded
// (ColossalAI 4f9953be zero/gemini/placement_policy.py:47-107):
// - offload_param_frac is set to 0, with a warning, unless shard_param_frac == 1 and
//   offload_optim_frac == 1 (:59-61).
// - setup_grads_device (:86-107) sums total_chunk_mem = sum(chunk_mem of get_chunk(p) for p in
//   params): a sum over *parameters*, so every chunk counts once per tensor in it. It then walks
//   set(chunks) and puts a chunk's optimizer state on the host while the offloaded chunk_mem is
//   below offload_optim_frac * that inflated total (so it overshoots by up to one chunk), and
//   sets keep_gathered_chunk_mem = (1 - shard_param_frac) * total and keep_cuda_chunk_mem =
//   (1 - offload_param_frac) * total from the same inflated total. With GPT-2 XL's 30 chunks and
//   580 tensors the total is ~19x the chunks' memory: any offload_optim_frac above ~0.05
//   offloads every optimizer chunk, and offload_param_frac offloads nothing below ~0.95.
// - Set order. A Python set of Chunk objects iterates in hash-slot order, and Chunk.__hash__ is
//   hash(id(self)) (chunk.py:592-593): an address, so the order is where the allocator put the
//   objects, which the code does not determine. twinsim assumes count_id (creation) order, what
//   increasing addresses would give. Which chunks are offloaded may differ in a real run; how
//   many differs only when chunk sizes differ (the last chunk, an oversize tensor's chunk).
// - evict_tensors (:69-84), before every op, over the evictable chunks (Note [Gemini
//   placement]) from the front: releases chunks while their total chunk_mem is above
//   keep_gathered_chunk_mem, then moves chunks to the host while it is above
//   keep_cuda_chunk_mem (a chunk not released cannot move, but still counts as moved).
// static-documented is the intent its docstring states (gemini_plugin.py:390-398): the same
// walks against fractions of the chunks' true total (each chunk once), and cpu_offload from
// the offload_param_frac that is honoured. `twinsim place` prints both when they differ.
struct StaticFractions {
  double shard_param_frac = 1.0;
  double offload_optim_frac = 0.0;
  double offload_param_frac = 0.0;
  bool gpu_adam = false;    // twinsim's variant (Note [GPU-Adam variant])
  bool documented = false;  // static-documented
};
// InvalidArgument unless every fraction is in [0, 1], or for documented with gpu_adam (the
// GPU-Adam variant already walks the true total).
StatusOr<std::unique_ptr<PlacementPolicy>> MakeStaticPolicy(const StaticFractions& fractions);

// Where static's setup_grads_device puts each chunk's optimizer state, and the two budgets of
// its evict_tensors (Note [Static placement]). Pure; for `twinsim place`'s comparison.
struct StaticPlan {
  double total_chunk_mem = 0;  // the walk's total (inflated when coded)
  double true_chunk_mem = 0;   // sum of chunk_mem over chunks, each once
  double keep_gathered_chunk_mem = 0;
  double keep_cuda_chunk_mem = 0;
  bool param_frac_ignored = false;     // offload_param_frac > 0 set to 0 (:59-61)
  bool cpu_offload = false;            // fp16 shards start on the host
  std::vector<bool> optim_on_host;     // per chunk
  uint64_t offloaded_optim_bytes = 0;  // sum of the optimizer units put on the host
  int offloaded_optim_chunks = 0;
};
StaticPlan PlanStatic(const Workload& workload, const StaticFractions& fractions);

// Note [Auto placement]
// ~~~~~~~~~~~~~~~~~~~~~
// Gemini's AutoPlacementPolicy (ColossalAI 4f9953be zero/gemini/placement_policy.py:128-258,
// gemini_mgr.py:98-160), two passes over the step:
// 1. Warmup. Everything starts on the host (cpu_offload). Model data may use (1 -
//    warmup_non_model_ratio) of the GPU; before each op, if the op's missing units exceed what
//    is left of that, evictable chunks are evicted in count_id order until they fit, and if
//    even all of them do not make room the result is "cannot fit" (Gemini raises "Adjust
//    layout failed! No enough CUDA memory!", :205-209). The pass traces each op's non-model +
//    gather bytes while it runs, and the GPU's peak.
// 2. Steady steps. The first starts where the warmup ended (Note [GPU margin] applied); the
//    result is the second, which starts where the first ended. Before op i the model-data
//    budget is steady_cap_ratio * capacity - max(trace[i], trace[i + 1]) (this op and the next
//    sampling moment, next_period_non_model_data_usage); evictable chunks are evicted furthest
//    next use first (the next forward or backward op using the chunk; none left in the step
//    counts as furthest), ties in count_id order: sorted(..., reverse=True) is stable
//    (:213-222), so the lower chunk goes first. "Cannot fit" as in the warmup.
// Demand, used and freed memory are the units' bytes (Gemini counts chunk_mem, the whole
// chunk: the same without DP sharding).

// Note [GPU margin]
// ~~~~~~~~~~~~~~~~~
// GeminiOptimizer(gpu_margin_mem_ratio), default 0.0 (gemini_optimizer.py:104, :184-195;
// gemini_plugin.py:463), auto only: at the first optimizer step the margin is the GPU's
// capacity less the warmup's peak (chunk_memstats_collector.py:32-36), and fp32 chunks are
// moved to the GPU, in chunk order, while the used margin plus the chunk's fp32 shard stays
// below margin * ratio / 4 (HybridAdam's num_fp32_shards_per_param; :313-343); their fp16
// chunks' gradient device becomes the GPU and their Adam runs there. The one-time move is
// before the reported steps.
struct AutoOptions {
  double warmup_non_model_ratio = 0.8;  // ColossalAI's default (gemini_plugin.py:452)
  double steady_cap_ratio = 0.9;        // (gemini_plugin.py:453)
  double gpu_margin_mem_ratio = 0.0;    // Note [GPU margin]
  bool gpu_adam = false;                // twinsim's variant (Note [GPU-Adam variant])
};
// InvalidArgument unless the ratios are in [0, 1], or for gpu_margin_mem_ratio > 0 with
// gpu_adam.
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
