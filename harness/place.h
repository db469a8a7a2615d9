// The library face of `twinsim place` (DESIGN.md "Layout": harness/ holds one request ->
// report function per command): the rank-to-GPU map and its default budgets, and the
// --max-model search (FindLargestModel) with its typed report. The command parses options into
// these types, calls, and prints; the sweep and tests call the same functions without a
// process.
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

namespace twinsim::harness {

// What one rank gets of its cluster: ranks fill the nodes' GPUs in order, and a node's host
// memory is shared evenly by its GPUs. These are the default budgets of `place` (gpu_bytes,
// host_bytes; pinned_bytes with --pin-memory) and of `validate --placement` (rank 0).
struct RankResources {
  std::string gpu_model;         // "V100-SXM2-32GB"
  uint64_t gpu_bytes = 0;        // the rank's GPU's memory
  uint64_t host_bytes = 0;       // the node's pageable host memory / its GPUs
  uint64_t pinned_bytes = 0;     // the node's pinned limit / its GPUs
  uint64_t node_host_bytes = 0;  // the node's pageable host memory
  int64_t gpus_per_node = 1;     // GPUs on the rank's node
};
// REQUIRES: 0 <= rank < core::NumGpus(topology). Pure.
RankResources ResourcesOfRank(const core::Topology& topology, int rank);

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
  std::string cluster;  // for the report only
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
// policy, family, cluster, gpu_memory, host_memory, batch, seq, largest (null: none fits),
// params, next_fails.
struct LargestModelReport {
  std::string policy;
  std::string family;
  std::string cluster;
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

}  // namespace twinsim::harness

#endif  // TWINSIM_HARNESS_PLACE_H_
