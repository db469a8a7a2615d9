#include "harness/fit.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/parallel_layout.h"
#include "core/text.h"
#include "core/topology.h"
#include "core/topology_presets.h"
#include "harness/internal/checks.h"
#include "harness/layout.h"
#include "policies/placement/registry.h"

namespace twinsim::harness {

// Defined in place.cc (the keys of `place --json`'s peak_breakdown).
void to_json(nlohmann::ordered_json& j, const PeakBreakdownReport& b);
void from_json(const nlohmann::ordered_json& j, PeakBreakdownReport& b);

namespace {

using Json = nlohmann::ordered_json;

enum class Recompute : uint8_t { kNone, kSelective, kFull };
constexpr std::array<Recompute, 3> kModes = {Recompute::kNone, Recompute::kSelective,
                                             Recompute::kFull};
const char* ModeName(Recompute mode) {
  switch (mode) {
    case Recompute::kNone:
      return "none";
    case Recompute::kSelective:
      return "selective";
    case Recompute::kFull:
      return "full";
  }
  return "";
}

Status CheckRange(std::string_view option, int64_t value, int64_t max) {
  if (value < 1 || value > max) {
    return Status::InvalidArgument(
        fmt::format("{}: expected a positive integer{}, got '{}'", option,
                    value > max ? fmt::format(" up to {}", max) : "", value));
  }
  return Status::Ok();
}

// What Validate checks and RunFit uses.
struct Checked {
  core::ModelSpec model;
  core::Topology topology;
  std::vector<std::string> policies;
  std::vector<core::LayoutConfig> layouts;
};

// "cuda, cpu, ..., megatron-distopt": the names --policy takes.
std::string PolicyList() {
  const std::vector<std::string>& names = placement::PlacementPolicyNames();
  return core::Join(std::vector<std::string_view>(names.begin(), names.end()));
}

// The layouts of Note [The fit search], by tp then pp.
std::vector<core::LayoutConfig> Layouts(const FitRequest& r, const core::ModelSpec& model,
                                        int64_t gpus_per_node) {
  std::vector<core::LayoutConfig> layouts;
  for (int64_t tp = 1; tp <= gpus_per_node && tp <= r.gpus; tp *= 2) {
    if (model.num_heads % tp != 0 || r.gpus % tp != 0) continue;
    if (r.tp && *r.tp != tp) continue;
    for (int64_t pp = 1; pp <= model.num_layers && tp * pp <= r.gpus; ++pp) {
      if (model.num_layers % pp != 0 || (r.gpus / tp) % pp != 0) continue;
      if (r.pp && *r.pp != pp) continue;
      core::LayoutConfig c;
      c.tp = static_cast<int>(tp);
      c.pp = static_cast<int>(pp);
      c.dp = static_cast<int>(r.gpus / (tp * pp));
      c.dp_shard = c.dp;
      layouts.push_back(c);
    }
  }
  return layouts;
}

StatusOr<Checked> Check(const FitRequest& r) {
  Checked c;
  if (r.model.empty()) return Status::InvalidArgument("--model: required");
  if (r.cluster.empty()) return Status::InvalidArgument("--cluster: required");
  TWINSIM_ASSIGN_OR_RETURN(c.model, LoadModel(r.model));
  StatusOr<core::Topology> topology = core::MakeTopology(r.cluster);
  if (!topology.ok()) return internal::ForOptionOf("--cluster", topology.status());
  c.topology = *std::move(topology);
  TWINSIM_RETURN_IF_ERROR(CheckRange("--gpus", r.gpus, kFitMaxGpus));
  const int64_t have = core::NumGpus(c.topology);
  if (r.gpus > have) {
    return Status::InvalidArgument(fmt::format("--gpus: the cluster {} has {} GPUs, got '{}'",
                                               core::Quote(r.cluster), have, r.gpus));
  }
  TWINSIM_RETURN_IF_ERROR(CheckRange("--seq", r.seq, static_cast<int64_t>(kPlaceMaxSeq)));
  TWINSIM_RETURN_IF_ERROR(
      CheckRange("--max-batch", r.max_batch, static_cast<int64_t>(kPlaceMaxBatch)));
  if (r.tp) TWINSIM_RETURN_IF_ERROR(CheckRange("--tp", *r.tp, r.gpus));
  if (r.pp) TWINSIM_RETURN_IF_ERROR(CheckRange("--pp", *r.pp, r.gpus));
  c.policies = r.policies.empty() ? DefaultFitPolicies() : r.policies;
  TWINSIM_RETURN_IF_ERROR(internal::CheckNames("--policy", c.policies));
  for (const std::string& name : c.policies) {
    if (!placement::IsPlacementPolicyName(name)) {
      return Status::InvalidArgument(
          fmt::format("--policy: unknown policy '{}'; expected {}", name, PolicyList()));
    }
  }
  if (c.model.num_heads <= 0) {
    return Status::InvalidArgument(
        fmt::format("--model: the attention heads of {} are not known", core::Quote(c.model.name)));
  }
  c.layouts = Layouts(r, c.model, core::ResourcesOfRank(c.topology, 0).gpus_per_node);
  if (c.layouts.empty()) {
    return Status::InvalidArgument(fmt::format(
        "--gpus: no layout of {} GPUs: tp must be a power of two dividing {} heads and at most "
        "{} GPUs per node, pp must divide {} layers{}",
        r.gpus, c.model.num_heads, core::ResourcesOfRank(c.topology, 0).gpus_per_node,
        c.model.num_layers, r.tp || r.pp ? " (with the --tp/--pp given)" : ""));
  }
  return c;
}

// One configuration to place: a layout, a policy and its options.
struct Config {
  core::ParallelLayout layout;
  std::string policy;
  placement::ZeroOptions zero;
};

PlaceRequest MakePlace(const FitRequest& r, const Config& c, Recompute mode, int64_t batch) {
  PlaceRequest p;
  p.cluster = r.cluster;
  p.layout = c.layout;
  p.backend = PlaceBackend::kAccounting;
  p.step.seq_len = r.seq;
  p.step.micro_batch_size = batch;
  p.step.num_microbatches = c.layout.config().pp;
  p.step.sequence_parallel = c.layout.config().tp > 1;
  p.step.recompute = mode == Recompute::kFull;
  p.step.selective_recompute = mode == Recompute::kSelective;
  p.policies = {c.policy};
  p.zero = c.zero;
  return p;
}

// The policy's report when the step at `batch` fits; none when it does not (an error at a
// batch, such as a size bound, counts as not fitting).
std::optional<PlacePolicyReport> Fits(const FitRequest& r, const Config& c, Recompute mode,
                                      int64_t batch) {
  StatusOr<PlaceReport> report = RunPlace(MakePlace(r, c, mode, batch));
  if (!report.ok() || report->policies.empty() || !report->policies[0].fits) return std::nullopt;
  return report->policies[0];
}

// The largest batch <= min(max_batch, limit) that fits and its report; 0 when batch 1 does
// not. `limit`: a batch above it is known to fail (a mode that stores more fails wherever one
// that stores less does), so the search bisects below limit + 1 instead of doubling.
std::pair<int64_t, std::optional<PlacePolicyReport>> LargestBatch(const FitRequest& r,
                                                                  const Config& c, Recompute mode,
                                                                  int64_t limit) {
  if (limit < 1) return {0, std::nullopt};
  std::optional<PlacePolicyReport> best = Fits(r, c, mode, 1);
  if (!best) return {0, std::nullopt};
  int64_t lo = 1, hi = 0;  // lo fits; hi (when > 0) fails
  if (limit < r.max_batch) hi = limit + 1;
  while (hi == 0 && lo < r.max_batch) {
    const int64_t next = std::min(lo * 2, r.max_batch);
    if (std::optional<PlacePolicyReport> at = Fits(r, c, mode, next)) {
      lo = next;
      best = std::move(at);
    } else {
      hi = next;
    }
  }
  while (hi > lo + 1) {
    const int64_t mid = lo + (hi - lo) / 2;
    if (std::optional<PlacePolicyReport> at = Fits(r, c, mode, mid)) {
      lo = mid;
      best = std::move(at);
    } else {
      hi = mid;
    }
  }
  return {lo, best};
}

// The offload variants of Note [The fit search], in the order tried.
std::vector<std::pair<Config, std::string>> OffloadVariants(const Config& c) {
  std::vector<std::pair<Config, std::string>> out;
  if (c.policy == "zero1" || c.policy == "zero2" || c.policy == "zero3") {
    Config o = c;
    o.zero.offload_optimizer = true;
    out.emplace_back(o, "offload_optimizer");
    if (c.policy == "zero3") {
      o.zero.offload_param = true;
      out.emplace_back(o, "offload_optimizer+offload_param");
    }
  } else if (c.policy == "fsdp2") {
    Config o = c;
    o.policy = "fsdp2-cpu-offload";
    out.emplace_back(o, "fsdp2-cpu-offload");
  }
  return out;
}

FitRow Search(const FitRequest& r, const Config& config) {
  FitRow row;
  row.model = r.model;
  row.cluster = r.cluster;
  row.gpus = r.gpus;
  row.seq = r.seq;
  const core::LayoutConfig& lc = config.layout.config();
  row.tp = lc.tp;
  row.pp = lc.pp;
  row.dp = lc.dp;
  row.dp_shard = lc.dp_shard;
  row.policy = config.policy;
  auto run = [&](const Config& c) {
    // Full recomputation first: its batch bounds selective's, which bounds none's.
    std::array<std::pair<int64_t, std::optional<PlacePolicyReport>>, 3> found;
    int64_t limit = r.max_batch;
    for (size_t i = kModes.size(); i-- > 0;) {
      found[i] = LargestBatch(r, c, kModes[i], limit);
      limit = found[i].first;
    }
    return found;
  };
  auto found = run(config);
  if (found[2].first == 0) {  // not even with full recomputation: try offloading
    for (const auto& [variant, name] : OffloadVariants(config)) {
      auto with = run(variant);
      if (with[2].first > 0) {
        found = std::move(with);
        row.needs_offload = true;
        row.offload = name;
        break;
      }
    }
  }
  row.max_batch_none = found[0].first;
  row.max_batch_selective = found[1].first;
  row.max_batch_full = found[2].first;
  row.fits = row.max_batch_full > 0 || row.max_batch_selective > 0 || row.max_batch_none > 0;
  row.needs_recompute = row.fits && row.max_batch_none == 0;
  size_t best = kModes.size();
  for (size_t i = 0; i < kModes.size(); ++i) {
    if (found[i].first > 0 && (best == kModes.size() || found[i].first > found[best].first)) {
      best = i;
    }
  }
  // The budgets come from any report; take batch 1's when nothing fits.
  std::optional<PlacePolicyReport> shown;
  if (best < kModes.size()) {
    row.best_recompute = ModeName(kModes[best]);
    row.best_batch = found[best].first;
    shown = found[best].second;
    row.peak_gpu_bytes = shown->peak_gpu_bytes;
    row.peak_host_bytes = shown->peak_host_bytes;
    row.peak_breakdown = shown->peak_breakdown;
  } else if (StatusOr<PlaceReport> at1 = RunPlace(MakePlace(r, config, Recompute::kFull, 1));
             at1.ok() && !at1->policies.empty()) {
    shown = at1->policies[0];
  }
  if (shown) {
    row.gpu_memory = shown->gpu_memory;
    row.host_memory = shown->host_memory;
  }
  return row;
}

}  // namespace

const std::vector<std::string>& DefaultFitPolicies() {
  static const std::vector<std::string> names = {
      "zero1", "zero2", "zero3", "fsdp2", "megatron-distopt", "auto"};
  return names;
}

Status FitRequest::Validate() const {
  TWINSIM_ASSIGN_OR_RETURN(Checked c, Check(*this));
  // The first layout's step at batch 1 (errors the search would otherwise count as no fit).
  StatusOr<core::ParallelLayout> layout = core::ParallelLayout::Make(c.layouts[0], c.model);
  if (!layout.ok()) return internal::ForOptionOf("--gpus", layout.status());
  for (const std::string& policy : c.policies) {
    TWINSIM_RETURN_IF_ERROR(
        MakePlace(*this, Config{*layout, policy, {}}, Recompute::kNone, 1).Validate());
  }
  return Status::Ok();
}

StatusOr<FitReport> RunFit(const FitRequest& request,
                           const std::function<void(const std::string&)>& progress) {
  TWINSIM_RETURN_IF_ERROR(request.Validate());
  TWINSIM_ASSIGN_OR_RETURN(Checked c, Check(request));
  FitReport report;
  report.layouts = static_cast<int>(c.layouts.size());
  for (const core::LayoutConfig& lc : c.layouts) {
    // A layout the model cannot take (e.g. its vocabulary) is skipped.
    StatusOr<core::ParallelLayout> layout = core::ParallelLayout::Make(lc, c.model);
    if (!layout.ok()) continue;
    for (const std::string& policy : c.policies) {
      if (progress) progress(fmt::format("tp={} pp={} dp={} {}", lc.tp, lc.pp, lc.dp, policy));
      report.rows.push_back(Search(request, Config{*layout, policy, {}}));
    }
  }
  return report;
}

void to_json(Json& j, const FitRow& r) {
  j = Json{{"model", r.model},
           {"cluster", r.cluster},
           {"gpus", r.gpus},
           {"seq", r.seq},
           {"tp", r.tp},
           {"pp", r.pp},
           {"dp", r.dp},
           {"dp_shard", r.dp_shard},
           {"policy", r.policy},
           {"fits", r.fits},
           {"max_batch", Json{{"none", r.max_batch_none},
                              {"selective", r.max_batch_selective},
                              {"full", r.max_batch_full}}},
           {"needs_recompute", r.needs_recompute},
           {"needs_offload", r.needs_offload},
           {"offload", r.offload},
           {"best_recompute", r.best_recompute},
           {"best_batch", r.best_batch},
           {"gpu_memory", r.gpu_memory},
           {"host_memory", r.host_memory},
           {"peak_gpu_bytes", r.peak_gpu_bytes},
           {"peak_host_bytes", r.peak_host_bytes},
           {"peak_breakdown", r.peak_breakdown}};
}

void from_json(const Json& j, FitRow& r) {
  j.at("model").get_to(r.model);
  j.at("cluster").get_to(r.cluster);
  j.at("gpus").get_to(r.gpus);
  j.at("seq").get_to(r.seq);
  j.at("tp").get_to(r.tp);
  j.at("pp").get_to(r.pp);
  j.at("dp").get_to(r.dp);
  j.at("dp_shard").get_to(r.dp_shard);
  j.at("policy").get_to(r.policy);
  j.at("fits").get_to(r.fits);
  const Json& b = j.at("max_batch");
  b.at("none").get_to(r.max_batch_none);
  b.at("selective").get_to(r.max_batch_selective);
  b.at("full").get_to(r.max_batch_full);
  j.at("needs_recompute").get_to(r.needs_recompute);
  j.at("needs_offload").get_to(r.needs_offload);
  j.at("offload").get_to(r.offload);
  j.at("best_recompute").get_to(r.best_recompute);
  j.at("best_batch").get_to(r.best_batch);
  j.at("gpu_memory").get_to(r.gpu_memory);
  j.at("host_memory").get_to(r.host_memory);
  j.at("peak_gpu_bytes").get_to(r.peak_gpu_bytes);
  j.at("peak_host_bytes").get_to(r.peak_host_bytes);
  from_json(j.at("peak_breakdown"), r.peak_breakdown);
}

}  // namespace twinsim::harness
