// The library face of `twinsim fit` (issue 16 "What to fit"): for a model, a cluster and N
// GPUs, which layouts (tp x pp x dp) and memory systems (ZeRO stages, FSDP2, Megatron's
// distributed optimizer, Gemini) train, and with what largest micro-batch under no, selective
// and full activation recomputation. FitRequest -> RunFit -> FitReport; every placement is
// RunPlace's accounting backend (harness/place.h), no simulation. See Note [The fit search].
#ifndef TWINSIM_HARNESS_FIT_H_
#define TWINSIM_HARNESS_FIT_H_

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"
#include "harness/place.h"

namespace twinsim::harness {

// Note [The fit search]
// ~~~~~~~~~~~~~~~~~~~~~
// Layouts: every tp x pp x dp = N with tp a power of two that divides the model's heads and is
// at most the cluster's GPUs per node (tensor parallelism stays inside a node, as Megatron's
// users run it), pp a divisor of the model's layers (and of N / tp), dp = N / (tp pp); cp = 1,
// no experts parallelism, no virtual stages. Every DP rank is in one sharded group (dp_shard =
// dp): what ZeRO and FSDP2 do without HSDP; Megatron's distributed optimizer and Gemini's chunks
// shard over the same group. With tp > 1 sequence parallelism is on (Megatron's advice with
// TP). With pp > 1 the step runs pp microbatches under 1F1B (the fewest that fill the pipe), so
// stage 0 holds pp of them. The rank placed is rank 0 (stage 0, the embedding and the most
// in-flight microbatches; the last stage's logits are not checked: a limit, see the report).
// Each (layout, policy) gets, per recompute mode (none, selective, full), the largest
// micro-batch b <= max_batch whose step fits the rank's GPU and host: b = 1, 2, 4, ... until a
// step fails, then bisection between the last fit and the first failure. That assumes a step
// that fails at b fails at every b' > b (activations grow with b; the model states do not
// change): a search, not a proof. Full recomputation is searched first and its batch bounds
// selective's search, whose batch bounds none's (a mode that stores more activations fails
// wherever one that stores less does; harness/fit_test checks every bound found against
// RunPlace at b and b + 1). When batch 1 fits in no mode, the offload variant is tried
// (zero1/zero2: offload_optimizer; zero3: offload_optimizer, then also offload_param; fsdp2:
// fsdp2-cpu-offload) and, if it fits, the row reports that variant's batches.
// Order: layouts by tp, then pp (ascending); within a layout, policies in the request's order.

// Largest micro-batch the search tries by default, and the most it may be asked to.
inline constexpr int64_t kFitDefaultMaxBatch = 1024;
inline constexpr int64_t kFitMaxGpus = 65536;

struct FitRequest {
  std::string model;    // REQUIRED: a preset or FAMILY[:key=value,...] (--model)
  std::string cluster;  // REQUIRED: a topology preset (--cluster)
  int64_t gpus = 0;     // REQUIRED: N >= 1, at most the cluster's GPUs (--gpus)
  // Placement policy names (--policy); empty: DefaultFitPolicies().
  std::vector<std::string> policies;
  int64_t seq = 2048;                       // sequence length (--seq)
  std::optional<int64_t> tp, pp;            // fix a degree instead of enumerating (--tp, --pp)
  int64_t max_batch = kFitDefaultMaxBatch;  // the search's cap (--max-batch)

  // OK when RunFit would run; one-line InvalidArgument messages naming the option ("--gpus:
  // expected a positive integer, got '0'").
  Status Validate() const;
};

// zero1, zero2, zero3, fsdp2, megatron-distopt, auto.
const std::vector<std::string>& DefaultFitPolicies();

// One (layout, policy): a line of `fit --json`. Keys as the fields, in this order; max_batch is
// an object {none, selective, full}; peak_breakdown as `place --json`'s.
struct FitRow {
  std::string model, cluster;
  int64_t gpus = 0, seq = 0;
  int tp = 1, pp = 1, dp = 1, dp_shard = 1;
  std::string policy;
  bool fits = false;  // batch 1 fits in some mode (with offload when needs_offload)
  int64_t max_batch_none = 0, max_batch_selective = 0, max_batch_full = 0;  // 0: none fits
  bool needs_recompute = false;  // fits, but not without recomputation
  bool needs_offload = false;    // fits only with `offload`
  std::string offload;           // "offload_optimizer", "offload_optimizer+offload_param",
                                 // "fsdp2-cpu-offload"; "" without
  std::string best_recompute;    // the mode of the largest batch (none first on ties); "" if none
  int64_t best_batch = 0;
  uint64_t gpu_memory = 0, host_memory = 0;          // the rank's budgets
  uint64_t peak_gpu_bytes = 0, peak_host_bytes = 0;  // of the best config (0 when none fits)
  PeakBreakdownReport peak_breakdown;
};
void to_json(nlohmann::ordered_json& j, const FitRow& r);
void from_json(const nlohmann::ordered_json& j, FitRow& r);

struct FitReport {
  int layouts = 0;  // layouts enumerated
  std::vector<FitRow> rows;
};

// Runs the search of Note [The fit search]. Errors: the request's (as Validate). `progress`,
// when set, is told each (layout, policy) before its search ("tp=2 pp=1 dp=4 zero3").
StatusOr<FitReport> RunFit(const FitRequest& request,
                           const std::function<void(const std::string&)>& progress = {});

}  // namespace twinsim::harness

#endif  // TWINSIM_HARNESS_FIT_H_
