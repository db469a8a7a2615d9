// The library face of `twinsim place` (DESIGN.md "Layout": harness/ holds one request ->
// report function per command): PlaceRequest -> RunPlace -> PlaceReport, the rank-to-GPU map
// and its default budgets, and the --max-model search (FindLargestModel) with its typed report. The
// command parses options into these types, calls, and prints; the sweep and tests call the same
// functions without a process.
#ifndef TWINSIM_HARNESS_PLACE_H_
#define TWINSIM_HARNESS_PLACE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/parallel_layout.h"
#include "core/status.h"
#include "core/topology.h"
#include "policies/placement/chunk.h"
#include "policies/placement/placement.h"
#include "policies/placement/workload.h"
#include "policies/placement/zero.h"

namespace twinsim::harness {

// A family of models for --max-model: GPT-2 shapes whose n_layer the search sets.
struct ModelFamily {
  std::string text;                         // as given: "gpt2" or "gpt2:n_embd=H,n_head=A,..."
  std::vector<std::pair<int, int>> widths;  // (hidden, heads) to try, smallest first
  std::string fixed_keys;                   // ",vocab_size=V,n_positions=P" as given, or ""
  // The candidate model's text: "gpt2:n_layer=L,n_embd=H,n_head=A" + fixed_keys.
  std::string ModelText(std::pair<int, int> width, int layers) const;
};
// GPT-2 widths tried when the family fixes none, from GPT-2 small's 768 up to GPT-3 175B's
// 12288, 64-wide heads as GPT-2 and GPT-3.
const std::vector<std::pair<int, int>>& Gpt2WidthLadder();
// The most layers the search tries.
inline constexpr int kMaxSearchLayers = 4096;

// Everything the --max-model search needs besides the policies.
struct LargestModelRequest {
  ModelFamily family;
  std::string cluster;        // for the report only
  core::LayoutConfig layout;  // the degrees and mesh make_layout builds, for the report only
  // The command's layout with the candidate model instead of --model; an error rules the
  // candidate out ("not a valid model or layout").
  std::function<StatusOr<core::ParallelLayout>(std::string_view model_text)> make_layout;
  int min_layers = 1;  // pp * vpp: the fewest layers a layout takes
  placement::WorkloadConfig config;
  placement::ChunkSearchOptions search;
  bool separate_grad = false;
  placement::MemoryBudget budget;
  // Called with each policy's name before its search (progress); may be empty.
  std::function<void(const std::string& policy)> on_policy;
};

// One policy's answer. JSON keys (to_json/from_json) as `place --max-model --json` prints them:
// policy, family, cluster, tp, pp, dp, cp, dp_shard, dp_replicate, mesh, gpu_memory,
// host_memory, batch, seq, largest (null: none fits), params, next_fails.
struct LargestModelReport {
  std::string policy;
  std::string family;
  std::string cluster;
  int tp = 1, pp = 1, dp = 1, cp = 1, dp_shard = 1, dp_replicate = 1;
  std::string mesh = "megatron";  // core::MeshName
  uint64_t gpu_memory = 0;
  uint64_t host_memory = 0;
  int64_t batch = 0;
  int64_t seq = 0;
  std::optional<std::string> largest;  // the model text; none when the smallest fails
  int64_t params = 0;                  // its parameters, tied ones once
  std::string next_fails;              // why one more layer fails
};
void to_json(nlohmann::ordered_json& j, const LargestModelReport& r);
void from_json(const nlohmann::ordered_json& j, LargestModelReport& r);

// Per policy and width, the most layers whose step fits under the budget (binary search:
// fitting grows no easier with more layers), and the largest model over the widths by
// parameters. For optimal, the largest for which a feasible placement exists (optimal is a
// relaxation without a host limit). Errors only from building a found model's spec.
StatusOr<std::vector<LargestModelReport>> FindLargestModel(
    const LargestModelRequest& request,
    const std::vector<const placement::PlacementPolicy*>& policies);

// ---------------------------------------------------------------------------------------------
// RunPlace: one rank's training step under each placement policy.

// Where the step runs besides the accounting (Note [Simulated placement step]).
enum class PlaceBackend : uint8_t { kSim, kHost, kAccounting };
// "sim", "host", "accounting".
std::string_view PlaceBackendName(PlaceBackend backend);

// Limits of a request (as `chunks` for the world size).
inline constexpr uint64_t kPlaceMaxWorld = 65536;
inline constexpr uint64_t kPlaceMaxBatch = uint64_t{1} << 20;
inline constexpr uint64_t kPlaceMaxSeq = uint64_t{1} << 24;
inline constexpr uint64_t kPlaceMaxMicrobatches = uint64_t{1} << 20;
inline constexpr uint64_t kPlaceMaxHeads = uint64_t{1} << 20;
// The sim backend simulates every rank of the layout; larger worlds fall back to accounting.
inline constexpr int kPlaceMaxSimWorld = 256;

// Every input of `twinsim place`, typed. Messages of Validate() name the command-line option
// they concern ("--rank: expected a rank below the world size 1, got '3'"), as the CLI prints
// them.
struct PlaceRequest {
  std::string cluster;  // a topology preset, PRESET[:key=value,...]
  // REQUIRED: the model and its layout (with `family`: the family's smallest candidate).
  std::optional<core::ParallelLayout> layout;
  // --max-model: search this family instead of placing `layout`'s model; `make_layout` builds
  // the layout of a candidate, `min_layers` is the fewest layers a candidate takes.
  std::optional<ModelFamily> family;
  std::function<StatusOr<core::ParallelLayout>(std::string_view model_text)> make_layout;
  int min_layers = 1;
  std::optional<PlaceBackend> backend;  // none: sim, or accounting above kPlaceMaxSimWorld ranks
  std::string trace_path;               // sim: a Perfetto trace per policy
  std::optional<uint64_t> max_memory;   // host: the memory cap (none: what the machine gives)
  bool caching_allocator = false;       // GPU allocations through the caching-allocator model
  uint64_t rank = 0;
  std::optional<uint64_t> gpu_memory;     // none: the rank's GPU (core::ResourcesOfRank)
  std::optional<uint64_t> host_memory;    // none: the node's pageable memory / its GPUs
  bool pin_memory = false;                // host chunks in pinned memory
  std::optional<uint64_t> pinned_memory;  // with pin_memory; none: the node's pinned / GPUs
  // The step's shape: micro_batch_size, seq_len, num_microbatches, schedule, recompute; heads 0
  // is the model's own. `rank` and `hidden` are set from the request.
  placement::WorkloadConfig step;
  bool grad_accumulation = false;  // separate fp16 grad chunks even with one microbatch
  // The chunk-size search of `twinsim chunks`. Its dp_shards is set from the layout: chunks are
  // sharded over the layout's shard group (shard_group_size: dp_shard ranks, dp_shard x cp
  // under torchtitan's mesh), and the dp_replicate replicas hold the same shards.
  placement::ChunkSearchOptions search;
  std::string search_option = "--chunk-size";  // the option a search error is blamed on
  std::vector<std::string> policies;           // placement policy names, or {"all"}
  bool gpu_adam = false;
  std::optional<double> gpu_margin_mem_ratio;           // auto only
  std::optional<placement::StaticFractions> fractions;  // static, static-documented only
  placement::ZeroOptions zero;  // zero1, zero2, zero3 (stage set by name)
  std::vector<std::string> init_policies;               // seed policy names, or {"all"}
  bool timeline = false;                                // report memory while each op ran

  // OK when RunPlace would run: every check of the request, the cluster, the model, the
  // policies and the step build, with the CLI's one-line InvalidArgument messages (or the
  // memory guard's ResourceExhausted for the host backend).
  Status Validate() const;
};

// A request checked and its step built: what RunPlace runs (so that a command checks its
// request once, before it runs, without building the step twice).
class PreparedPlace;
struct PreparedPlaceDeleter {
  void operator()(PreparedPlace* p) const;
};
using PreparedPlacePtr = std::unique_ptr<PreparedPlace, PreparedPlaceDeleter>;
// Errors as PlaceRequest::Validate.
StatusOr<PreparedPlacePtr> PreparePlace(const PlaceRequest& request);
// The budgets the prepared request runs under (the defaults filled in, the pinned cap applied).
placement::MemoryBudget BudgetOf(const PreparedPlace& prepared);

// JSON pieces of a policy's report, keys as `place --json` prints them.
struct PlaceOomReport {
  int op = -1;
  std::string op_name, device;
  uint64_t requested = 0, available = 0, shortfall = 0;
  std::string message;
};
struct PlaceSimReport {
  double step_time_s = 0, compute_time_s = 0;
  uint64_t ranks = 0;
  std::vector<std::pair<std::string, uint64_t>> link_bytes;  // per sim::LinkClass, by name
  double wall_s = 0;                                         // written to the millisecond
};
struct PlaceReplayReport {
  uint64_t moves = 0, bytes_moved = 0, checksums = 0;
  bool intact = true;
  uint64_t peak_device_bytes = 0;
};
struct InitMeetsPlacementReport {
  std::string seed_policy;
  bool applicable = true, fits = false;
  std::string why;
  uint64_t build_peak_gpu_bytes = 0, build_peak_host_bytes = 0;
};
struct StaticPlanSide {
  double total_chunk_mem = 0, keep_gathered_chunk_mem = 0, keep_cuda_chunk_mem = 0;
  bool cpu_offload = false;
  int offloaded_optim_chunks = 0;
  uint64_t offloaded_optim_bytes = 0;
  std::vector<int> optim_on_host;  // chunk indices
};
struct StaticPlanReport {
  bool differ = false, param_frac_ignored = false;
  double true_chunk_mem = 0;
  StaticPlanSide code, documented;
};
// What the GPU held at the policy's peak (placement::PeakBreakdown, Note [Peak breakdown]):
// JSON keys params, grads, optimizer, activations, buffers, other (bytes), op (the op's name,
// "initial placement" before the first), op_index (-1 for the initial placement).
struct PeakBreakdownReport {
  uint64_t params = 0, grads = 0, optimizer = 0, activations = 0, buffers = 0, other = 0;
  std::string op;
  int op_index = -1;
  uint64_t total() const { return params + grads + optimizer + activations + buffers + other; }
};
struct TimelineEntry {
  std::string op;
  uint64_t gpu_bytes = 0, host_bytes = 0;
};

// One policy's result: one line of `place --json`.
struct PlacePolicyReport {
  std::string policy, model, cluster;
  int tp = 1, pp = 1, dp = 1, rank = 0, stage = 0, heads = 0;
  int64_t batch = 0, seq = 0;
  int cp = 1, dp_shard = 1, dp_replicate = 1;  // the layout's sharding axes
  std::string mesh;                            // core::MeshName
  int microbatches = 1;
  std::string schedule;
  int held_microbatches = 0;
  bool recompute = false;
  int dp_shards = 1;  // ranks each chunk is sharded over (1: whole, or kept gathered)
  int64_t chunk_size = 0;
  uint64_t num_chunks = 0, bytes_per_param = 0, model_bytes = 0;
  uint64_t layer_activation_bytes = 0, stage_activation_bytes = 0;
  uint64_t gpu_memory = 0, host_memory = 0;
  bool feasible = false, fits = false;
  std::optional<PlaceOomReport> oom;
  uint64_t peak_gpu_bytes = 0, peak_host_bytes = 0, h2d_bytes = 0, d2h_bytes = 0;
  PeakBreakdownReport peak_breakdown;  // sums to peak_gpu_bytes
  std::optional<double> ratio_to_optimal;  // none: did not fit, or infinite
  bool ratio_infinite = false;
  bool pin_memory = false;
  std::string allocator;  // "exact" or "caching"
  uint64_t peak_reserved_bytes = 0;
  std::string backend;  // PlaceBackendName
  std::optional<double> step_time_s;
  std::optional<PlaceSimReport> sim;
  std::string sim_note;  // why there is no step time, when the sim could not run the step
  std::optional<PlaceReplayReport> host_replay;
  std::vector<InitMeetsPlacementReport> init_meets_placement;
  std::optional<StaticPlanReport> static_plan;  // the coded static policy (not --gpu-adam)
  std::optional<std::vector<TimelineEntry>> timeline;
};
void to_json(nlohmann::ordered_json& j, const PlacePolicyReport& r);
void from_json(const nlohmann::ordered_json& j, PlacePolicyReport& r);
// `r` as `place --json` prints it: one line of compact JSON, doubles written shortest as fmt
// writes them, strings escaped as core::AppendJsonString; no newline.
std::string PlaceJsonLine(const PlacePolicyReport& r);

// What the text report adds to the policies' JSON: the setup the header describes.
struct PlaceSetup {
  std::string gpu_model;
  core::RankResources resources;
  int64_t hidden = 0;
  int dp_coord = 0, pp_coord = 0, tp_coord = 0, cp_coord = 0, num_stages = 1;
  uint64_t pageable_budget = 0;  // the host budget before the pinned cap
  uint64_t pinned_bytes = 0;     // the pinned limit (--pinned-memory or the node's share)
  bool keep_gathered = false;    // one chunk kept gathered (below the minimum size)
  bool sim_skipped = false;      // the default backend fell back to accounting
  int world_size = 1;
  int tensors = 0;  // tensors over the chunks (static's inflated total)
  std::optional<placement::StaticPlan> static_code, static_docs;
};

// Everything `place` reports: the setup and one report per policy, in the request's order.
struct PlaceReport {
  PlaceSetup setup;
  std::vector<PlacePolicyReport> policies;
};

// Whether static's code and docs place differently (the text report says so).
bool StaticPlansDiffer(const placement::StaticPlan& a, const placement::StaticPlan& b);

// Runs every policy over the rank's step, then the backend (sim: every rank's step on the
// simulated cluster; host: the step with real bytes) and the init check. An OOM is a result;
// errors are the request's (as Validate) or the backends' own. `progress`, when set, is told
// what runs ("simulating auto", "init counter").
StatusOr<PlaceReport> RunPlace(const PlaceRequest& request,
                               const std::function<void(const std::string&)>& progress = {});
StatusOr<PlaceReport> RunPlace(const PreparedPlace& prepared,
                               const std::function<void(const std::string&)>& progress = {});
// --max-model with a prepared request: FindLargestModel over its policies.
StatusOr<std::vector<LargestModelReport>> FindLargestModel(
    const PreparedPlace& prepared, const std::function<void(const std::string&)>& progress = {});

}  // namespace twinsim::harness

#endif  // TWINSIM_HARNESS_PLACE_H_
