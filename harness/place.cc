#include "harness/place.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "core/json.h"
#include "core/memory_guard.h"
#include "core/memory_ledger.h"
#include "core/model_presets.h"
#include "core/text.h"
#include "core/topology_presets.h"
#include "harness/internal/checks.h"
#include "harness/json_line.h"
#include "policies/placement/registry.h"
#include "policies/seed/policy.h"
#include "properties/init_check.h"
#include "properties/placement_run.h"
#include "sim/platform.h"

namespace twinsim::harness {

std::string ModelFamily::ModelText(std::pair<int, int> width, int layers) const {
  return fmt::format("gpt2:n_layer={},n_embd={},n_head={}{}", layers, width.first, width.second,
                     fixed_keys);
}

const std::vector<std::pair<int, int>>& Gpt2WidthLadder() {
  static const std::vector<std::pair<int, int>> kLadder = {
      {768, 12},  {1024, 16}, {1536, 24}, {2048, 32},  {2560, 40},   {3072, 48},
      {4096, 64}, {5120, 80}, {6144, 96}, {8192, 128}, {10240, 160}, {12288, 192}};
  return kLadder;
}

template <typename Io, typename R>
void LargestModelFields(Io& io, R& r) {
  io("policy", r.policy);
  io("family", r.family);
  io("cluster", r.cluster);
  io("tp", r.tp);
  io("pp", r.pp);
  io("dp", r.dp);
  io("cp", r.cp);
  io("dp_shard", r.dp_shard);
  io("dp_replicate", r.dp_replicate);
  io("mesh", r.mesh);
  io("gpu_memory", r.gpu_memory);
  io("host_memory", r.host_memory);
  io("batch", r.batch);
  io("seq", r.seq);
  io("largest", r.largest);
  io("params", r.params);
  io("next_fails", r.next_fails);
}
TWINSIM_JSON_FROM_FIELDS(LargestModelReport, LargestModelFields)

namespace {

// The search's steps, built once per candidate model (every policy shares them).
class CandidateSteps {
 public:
  explicit CandidateSteps(const LargestModelRequest& request) : request_(request) {}

  // Whether the candidate fits under `policy`; otherwise `why` says why not.
  bool Fits(const placement::PlacementPolicy& policy, std::pair<int, int> width, int layers,
            std::string* why) {
    const std::string text = request_.family.ModelText(width, layers);
    auto it = cache_.find(text);
    if (it == cache_.end()) {
      std::optional<placement::RankStep> step;
      StatusOr<core::ParallelLayout> layout = request_.make_layout(text);
      if (layout.ok()) {
        StatusOr<placement::RankStep> s = placement::BuildRankStep(
            *layout, request_.config, request_.search, request_.separate_grad);
        if (s.ok()) step = std::move(*s);
      }
      it = cache_.emplace(text, std::move(step)).first;
    }
    if (!it->second) {
      *why = "not a valid model or layout";
      return false;
    }
    const placement::PlacementResult r = policy.Run(it->second->workload, request_.budget);
    if (!r.fits) {
      *why = r.oom->message;
      return false;
    }
    if (policy.Name() == "optimal" &&
        !placement::FeasiblePlacementExists(it->second->workload, request_.budget)) {
      *why = "no placement avoids OOM (the model data exceeds GPU plus host)";
      return false;
    }
    return true;
  }

 private:
  const LargestModelRequest& request_;
  std::map<std::string, std::optional<placement::RankStep>> cache_;
};

}  // namespace

StatusOr<std::vector<LargestModelReport>> FindLargestModel(
    const LargestModelRequest& request,
    const std::vector<const placement::PlacementPolicy*>& policies) {
  CandidateSteps steps(request);
  std::vector<LargestModelReport> reports;
  for (const placement::PlacementPolicy* policy : policies) {
    if (request.on_policy) request.on_policy(policy->Name());
    LargestModelReport report;
    report.policy = policy->Name();
    report.family = request.family.text;
    report.cluster = request.cluster;
    const core::LayoutConfig& lc = request.layout;
    report.tp = lc.tp;
    report.pp = lc.pp;
    report.dp = lc.dp;
    report.cp = lc.cp;
    report.dp_shard = lc.dp_shard;
    report.dp_replicate = lc.dp / lc.dp_shard;
    report.mesh = std::string(core::MeshName(lc.mesh));
    report.gpu_memory = request.budget.gpu_bytes;
    report.host_memory = request.budget.host_bytes;
    report.batch = request.config.micro_batch_size;
    report.seq = request.config.seq_len;
    for (const std::pair<int, int>& width : request.family.widths) {
      std::string why;
      if (!steps.Fits(*policy, width, request.min_layers, &why)) continue;
      int lo = request.min_layers, hi = kMaxSearchLayers + 1;  // fits(lo); hi: fails or past end
      while (hi - lo > 1) {
        const int mid = lo + (hi - lo) / 2;
        std::string w;
        if (steps.Fits(*policy, width, mid, &w)) {
          lo = mid;
        } else {
          hi = mid;
        }
      }
      const std::string text = request.family.ModelText(width, lo);
      StatusOr<core::ModelSpec> model = core::MakeModel(text);
      if (!model.ok()) return model.status();
      int64_t params = 0;
      for (const core::ParamSpec& q : model->params) {
        if (q.tied_to.empty()) params += q.Numel();
      }
      if (params > report.params) {
        report.params = params;
        report.largest = text;
        std::string w;
        if (hi <= kMaxSearchLayers) steps.Fits(*policy, width, hi, &w);
        report.next_fails = hi > kMaxSearchLayers ? "the search's layer limit" : w;
      }
    }
    reports.push_back(std::move(report));
  }
  return reports;
}

// ---------------------------------------------------------------------------------------------
// RunPlace

std::string_view PlaceBackendName(PlaceBackend backend) {
  switch (backend) {
    case PlaceBackend::kSim:
      return "sim";
    case PlaceBackend::kHost:
      return "host";
    case PlaceBackend::kAccounting:
      return "accounting";
  }
  return "sim";
}

class PreparedPlace {
 public:
  PlaceRequest request;
  core::Topology topology;
  core::RankResources resources;
  placement::WorkloadConfig config;
  placement::MemoryBudget budget;
  uint64_t pinned_bytes = 0, pageable_budget = 0;
  PlaceBackend backend = PlaceBackend::kSim;
  bool sim_skipped = false;
  bool separate_grad = false;
  std::vector<std::unique_ptr<placement::PlacementPolicy>> policies;
  std::optional<size_t> static_index;  // the (coded) static policy's place in `policies`
  placement::StaticFractions fractions;
  int64_t chunk_size = 0;
  std::optional<placement::ChunkManager> manager;
  std::optional<placement::Workload> workload;
  std::vector<std::unique_ptr<policies::seed::SeedPolicy>> seed_policies;
};

namespace {

using internal::ForOptionOf;

// Refuses steps whose activation bytes could overflow the workload's 64-bit arithmetic: a
// generous bound on the largest op's non-model bytes (Note [Activation memory]) must stay
// below 2^62.
Status CheckActivationBound(const core::ModelSpec& model, int64_t hidden,
                            const placement::WorkloadConfig& config) {
  using U = unsigned __int128;
  constexpr U kMaxActivationBytes = static_cast<U>(1) << 62;
  const U s = static_cast<U>(config.seq_len), b = static_cast<U>(config.micro_batch_size);
  const U h = static_cast<U>(hidden), a = static_cast<U>(config.heads);
  int64_t largest = 0;
  for (const core::ParamSpec& p : model.params) largest = std::max(largest, p.Numel());
  const U vocab = static_cast<U>(largest) / h + 1;
  const U layer = 40 * s * b * h + 5 * a * s * s * b;
  const U stage = static_cast<U>(model.num_layers + 2) * layer + 8 * s * b * vocab;
  const U bound = static_cast<U>(config.num_microbatches + 2) * stage;
  if (bound >= kMaxActivationBytes) {
    return Status::InvalidArgument(fmt::format(
        "--batch/--seq/--microbatches: batch {} x seq {} x {} microbatches of {} would need "
        "more than 2^62 bytes of activations",
        config.micro_batch_size, config.seq_len, config.num_microbatches, core::Quote(model.name)));
  }
  return Status::Ok();
}

// `value` in [1, max], as the CLI's parser words it.
Status CheckPositive(std::string_view option, int64_t value, uint64_t max) {
  if (value < 1 || static_cast<uint64_t>(value) > max) {
    return Status::InvalidArgument(
        fmt::format("{}: expected a positive integer <= {}, got '{}'", option, max, value));
  }
  return Status::Ok();
}

}  // namespace

void PreparedPlaceDeleter::operator()(PreparedPlace* p) const { delete p; }

placement::MemoryBudget BudgetOf(const PreparedPlace& prepared) { return prepared.budget; }

StatusOr<PreparedPlacePtr> PreparePlace(const PlaceRequest& request) {
  PreparedPlacePtr prepared(new PreparedPlace);
  PreparedPlace& p = *prepared;
  p.request = request;
  if (!request.layout) return Status::InvalidArgument("--model: required (or --max-model FAMILY)");
  const core::ParallelLayout& layout = *request.layout;
  const core::LayoutConfig& lc = layout.config();
  p.backend = request.backend.value_or(PlaceBackend::kSim);

  StatusOr<core::Topology> topology = core::MakeTopology(request.cluster);
  if (!topology.ok()) return ForOptionOf("--cluster", topology.status());
  p.topology = *topology;
  const int64_t gpus = core::NumGpus(p.topology);
  if (layout.world_size() > gpus) {
    const int64_t per_node = static_cast<int64_t>(p.topology.nodes[0].gpus.size());
    return Status::InvalidArgument(fmt::format(
        "--cluster: {} has {} GPUs, the layout needs {} (tp {} x pp {} x dp {} x cp {}); add "
        "nodes, e.g. {}:nodes={}",
        request.cluster, gpus, layout.world_size(), lc.tp, lc.pp, lc.dp, lc.cp,
        request.cluster.substr(0, request.cluster.find(':')),
        (layout.world_size() + per_node - 1) / per_node));
  }
  const uint64_t world = static_cast<uint64_t>(layout.world_size());
  if (request.rank >= world) {
    return Status::InvalidArgument(fmt::format(
        "--rank: expected a rank below the world size {}, got '{}'", world, request.rank));
  }
  p.config = request.step;
  p.config.rank = static_cast<int>(request.rank);
  p.resources = core::ResourcesOfRank(p.topology, p.config.rank);
  p.budget.gpu_bytes = request.gpu_memory.value_or(p.resources.gpu_bytes);
  p.budget.host_bytes = request.host_memory.value_or(p.resources.host_bytes);
  p.pinned_bytes = request.pinned_memory.value_or(p.resources.pinned_bytes);
  if (request.pinned_memory && !request.pin_memory) {
    return Status::InvalidArgument("--pinned-memory: only with --pin-memory");
  }
  // Pinned chunks (ColossalAI's pin_memory=True) come out of the pinned pool: the host budget
  // is the smaller of the two limits.
  p.pageable_budget = p.budget.host_bytes;
  if (request.pin_memory) p.budget.host_bytes = std::min(p.budget.host_bytes, p.pinned_bytes);

  TWINSIM_RETURN_IF_ERROR(CheckPositive("--batch", p.config.micro_batch_size, kPlaceMaxBatch));
  TWINSIM_RETURN_IF_ERROR(CheckPositive("--seq", p.config.seq_len, kPlaceMaxSeq));
  if (lc.cp > 1 && p.config.seq_len % (2 * lc.cp) != 0) {
    // Note [Context parallelism in the step] (policies/placement/workload.h).
    return Status::InvalidArgument(fmt::format(
        "--seq: --cp {} splits each sequence into 2 x cp = {} pieces, as Megatron-LM does; "
        "expected a multiple of {}, got {}",
        lc.cp, 2 * lc.cp, 2 * lc.cp, p.config.seq_len));
  }
  TWINSIM_RETURN_IF_ERROR(
      CheckPositive("--microbatches", p.config.num_microbatches, kPlaceMaxMicrobatches));
  if (lc.vpp > 1 && p.config.schedule == placement::PipelineSchedule::k1F1B &&
      p.config.num_microbatches % lc.pp != 0) {
    return Status::InvalidArgument(fmt::format(
        "--microbatches: the interleaved 1F1B schedule (vpp {}) needs a multiple of pp {}, "
        "got {}",
        lc.vpp, lc.pp, p.config.num_microbatches));
  }

  const core::ModelSpec& model = layout.model();
  const int64_t hidden = placement::HiddenSizeOf(model);
  std::optional<int> heads;
  if (model.num_heads > 0) heads = model.num_heads;
  if (request.step.heads > 0) {
    TWINSIM_RETURN_IF_ERROR(CheckPositive("--heads", request.step.heads, kPlaceMaxHeads));
    heads = static_cast<int>(request.step.heads);
  }
  if (hidden < 1) {
    return Status::InvalidArgument(
        fmt::format("--model: {} is not a transformer (no final norm to take the hidden size "
                    "from); place needs a gpt2, gpt3 or llama3 model",
                    core::Quote(model.name)));
  }
  if (!heads) {
    return Status::InvalidArgument(fmt::format(
        "--heads: the attention heads of {} are not known; give --heads", core::Quote(model.name)));
  }
  if (hidden % *heads != 0) {
    return Status::InvalidArgument(
        fmt::format("--heads: the hidden size {} is not a multiple of {} heads", hidden, *heads));
  }
  p.config.heads = *heads;
  const int64_t positions = internal::LearnedPositions(model);
  if (positions > 0 && p.config.seq_len > positions) {
    return Status::InvalidArgument(fmt::format("--seq: {} has {} positions, got {}",
                                               core::Quote(model.name), positions,
                                               p.config.seq_len));
  }
  TWINSIM_RETURN_IF_ERROR(CheckActivationBound(model, hidden, p.config));

  // Policies: names checked as the CLI lists them.
  const std::vector<std::string>& names = request.policies;
  std::string policy_text;
  for (size_t i = 0; i < names.size(); ++i) policy_text += (i ? "," : "") + names[i];
  for (size_t i = 0; i < names.size(); ++i) {
    const std::string& name = names[i];
    if (name == "all" && names.size() == 1) break;
    if (name.empty()) {
      return Status::InvalidArgument(
          "--policy: expected comma-separated names without empty items, got " +
          core::Quote(policy_text));
    }
    if (name == "all") {
      return Status::InvalidArgument("--policy: 'all' must stand alone, got " +
                                     core::Quote(policy_text));
    }
    if (!placement::IsPlacementPolicyName(name)) {
      return Status::InvalidArgument("--policy: unknown policy " + core::Quote(name) +
                                     "; expected " + placement::ExpectedPlacementPolicies());
    }
    for (size_t j = 0; j < i; ++j) {
      if (names[j] == name) {
        return Status::InvalidArgument("--policy: " + core::Quote(name) + " given twice");
      }
    }
  }
  if (names.empty()) {
    return Status::InvalidArgument(
        "--policy: expected comma-separated names without empty items, got ''");
  }
  const std::vector<std::string> selected =
      names == std::vector<std::string>{"all"} ? placement::AllPlacementPolicyNames() : names;
  bool has_static = false, has_auto = false, has_documented = false;
  for (const std::string& name : selected) {
    has_static = has_static || name == "static";
    has_documented = has_documented || name == "static-documented";
    has_auto = has_auto || name == "auto";
  }
  if (request.gpu_adam && has_documented) {
    return Status::InvalidArgument(
        "--gpu-adam: not with static-documented (the GPU-Adam variant of static already walks "
        "the documented fractions)");
  }
  placement::PlacementPolicyOptions policy_options;
  policy_options.gpu_adam = request.gpu_adam;
  if (request.gpu_margin_mem_ratio) {
    const double v = *request.gpu_margin_mem_ratio;
    if (!has_auto) {
      return Status::InvalidArgument("--gpu-margin-mem-ratio: only with --policy auto (or all)");
    }
    if (!(v >= 0 && v <= 1)) {
      return Status::InvalidArgument(
          fmt::format("--gpu-margin-mem-ratio: expected a ratio in [0, 1], got '{}'", v));
    }
    if (request.gpu_adam && v > 0) {
      return Status::InvalidArgument(
          "--gpu-margin-mem-ratio: moves HybridAdam's host state to the GPU; not with "
          "--gpu-adam");
    }
    policy_options.auto_options.gpu_margin_mem_ratio = v;
  }
  if (request.fractions) {
    if (!has_static && !has_documented) {
      return Status::InvalidArgument(
          "--static: only with --policy static or static-documented (or all)");
    }
    const placement::StaticFractions& f = *request.fractions;
    for (double v : {f.shard_param_frac, f.offload_optim_frac, f.offload_param_frac}) {
      if (!(v >= 0 && v <= 1)) {
        return Status::InvalidArgument(fmt::format(
            "--static: expected three fractions SHARD,OPTIM,PARAM in [0, 1], got '{},{},{}'",
            f.shard_param_frac, f.offload_optim_frac, f.offload_param_frac));
      }
    }
    policy_options.fractions = *request.fractions;
    policy_options.fractions.documented = false;
    policy_options.fractions.gpu_adam = false;
  }
  policy_options.zero = request.zero;
  p.fractions = policy_options.fractions;
  for (const std::string& name : selected) {
    StatusOr<std::unique_ptr<placement::PlacementPolicy>> made =
        placement::MakePlacementPolicy(name, policy_options);
    const bool is_static = name == "static" || name == "static-documented";
    const bool is_zero = name.rfind("zero", 0) == 0;
    if (!made.ok()) {
      return ForOptionOf(is_static ? "--static" : is_zero ? "--zero-offload" : "--policy",
                         made.status());
    }
    if (name == "static") p.static_index = p.policies.size();
    p.policies.push_back(std::move(*made));
  }

  // Chunks: the chunk-size search of `twinsim chunks` (same options), over this rank's tensors,
  // sharded over the layout's shard group as `chunks` shards them.
  p.request.search.dp_shards = layout.shard_group_size();
  p.separate_grad = request.grad_accumulation || p.config.num_microbatches > 1;
  if (StatusOr<placement::ChunkSearchResult> found = placement::SearchChunkSize(
          placement::RankTensors(layout, p.config.rank),
          placement::WithModelDefaults(p.request.search, layout.model()));
      !found.ok()) {
    return ForOptionOf(request.search_option, found.status());
  }
  StatusOr<placement::RankStep> step =
      placement::BuildRankStep(layout, p.config, p.request.search, p.separate_grad);
  if (!step.ok()) return ForOptionOf("--model", step.status());
  p.chunk_size = step->chunk_size;
  p.manager = std::move(step->chunks);
  p.workload = std::move(step->workload);
  p.budget.caching_allocator = request.caching_allocator;

  if (!request.trace_path.empty() && p.backend != PlaceBackend::kSim) {
    return Status::InvalidArgument("--trace: only with --backend sim");
  }
  if (request.family && p.backend == PlaceBackend::kHost) {
    return Status::InvalidArgument("--backend: --max-model searches with accounting or sim");
  }
  if (p.backend == PlaceBackend::kSim && layout.world_size() > kPlaceMaxSimWorld) {
    if (request.backend) {
      return Status::InvalidArgument(fmt::format(
          "--backend: sim simulates every rank, at most {}; the layout has {} (use --backend "
          "accounting)",
          kPlaceMaxSimWorld, layout.world_size()));
    }
    p.backend = PlaceBackend::kAccounting;  // the default falls back
    p.sim_skipped = true;
  }
  if (p.backend == PlaceBackend::kHost &&
      p.workload->total_model_bytes > properties::kHostReplayMaxBytes) {
    return Status::InvalidArgument(fmt::format(
        "--backend: host holds real bytes, at most {} of model data per rank; rank {} has {} "
        "(use --backend sim)",
        core::FormatByteSize(properties::kHostReplayMaxBytes), p.config.rank,
        core::FormatByteSize(p.workload->total_model_bytes)));
  }
  if (request.max_memory && p.backend != PlaceBackend::kHost) {
    return Status::InvalidArgument(
        "--max-memory: only with --backend host (the others hold no model bytes)");
  }
  if (p.backend == PlaceBackend::kHost) {
    // The memory guard (core/memory_guard.h): every unit of the rank's chunks is held once,
    // on the stand-in GPU or on the host, for the whole replay.
    TWINSIM_RETURN_IF_ERROR(core::CheckMemoryNeed(
        p.workload->total_model_bytes, core::ReadMemoryLimits(request.max_memory.value_or(0)),
        fmt::format("place --backend host for rank {} of {}", p.config.rank, layout.model().name),
        "Use --backend sim or accounting (they hold no model bytes), or a smaller model; "
        "--max-memory SIZE sets the cap"));
  }
  if (!request.init_policies.empty()) {
    if (request.family) return Status::InvalidArgument("--init-policy: not with --max-model");
    std::vector<std::string> seeds = request.init_policies;
    if (seeds == std::vector<std::string>{"all"}) seeds = policies::seed::PolicyNames();
    for (const std::string& name : seeds) {
      StatusOr<std::unique_ptr<policies::seed::SeedPolicy>> made = policies::seed::MakePolicy(name);
      if (!made.ok()) return ForOptionOf("--init-policy", made.status());
      for (const auto& q : p.seed_policies) {
        if (q->name() == name) {
          return Status::InvalidArgument("--init-policy: " + core::Quote(name) + " given twice");
        }
      }
      p.seed_policies.push_back(std::move(*made));
    }
  }
  return prepared;
}

Status PlaceRequest::Validate() const { return PreparePlace(*this).status(); }

namespace {

// Every rank's step under `policy`, on the simulated cluster (Note [Simulated placement
// step]). Ranks with the same pipeline and tensor coordinates share one step. Sets `note`
// instead when a rank runs out of memory.
Status SimulateStep(const PreparedPlace& p, const placement::PlacementPolicy& policy,
                    size_t num_policies, std::optional<properties::SimStepResult>* sim,
                    std::string* note) {
  const core::ParallelLayout& l = *p.request.layout;
  std::map<std::pair<int, int>, std::pair<placement::RankStep, placement::PlacementResult>> steps;
  std::vector<const placement::Workload*> workloads;
  std::vector<const placement::PlacementResult*> results;
  for (int r = 0; r < l.world_size(); ++r) {
    const core::ParallelCoords c = l.RankCoords(r);
    auto it = steps.find({c.pp, c.tp});
    if (it == steps.end()) {
      placement::WorkloadConfig config = p.config;
      config.rank = r;
      StatusOr<placement::RankStep> step =
          placement::BuildRankStep(l, config, p.request.search, p.separate_grad);
      if (!step.ok()) return step.status();
      placement::PlacementResult result = policy.Run(step->workload, p.budget);
      if (!result.fits) {
        *note =
            fmt::format("not simulated: rank {} runs out of memory ({})", r, result.oom->message);
        return Status::Ok();
      }
      it = steps.emplace(std::pair{c.pp, c.tp}, std::pair{std::move(*step), std::move(result)})
               .first;
    }
    workloads.push_back(&it->second.first.workload);
    results.push_back(&it->second.second);
  }
  properties::SimStepOptions options;
  options.topology = p.topology;
  if (!p.request.trace_path.empty()) {
    options.trace_path = num_policies > 1
                             ? fmt::format("{}.{}.json", p.request.trace_path, policy.Name())
                             : p.request.trace_path;
  }
  TWINSIM_ASSIGN_OR_RETURN(properties::SimStepResult result,
                           properties::SimulatePlacementStep(options, l, workloads, results));
  *sim = result;
  return Status::Ok();
}

StaticPlanSide SideOf(const placement::StaticPlan& plan) {
  StaticPlanSide s;
  s.total_chunk_mem = plan.total_chunk_mem;
  s.keep_gathered_chunk_mem = plan.keep_gathered_chunk_mem;
  s.keep_cuda_chunk_mem = plan.keep_cuda_chunk_mem;
  s.cpu_offload = plan.cpu_offload;
  s.offloaded_optim_chunks = plan.offloaded_optim_chunks;
  s.offloaded_optim_bytes = plan.offloaded_optim_bytes;
  for (size_t c = 0; c < plan.optim_on_host.size(); ++c) {
    if (plan.optim_on_host[c]) s.optim_on_host.push_back(static_cast<int>(c));
  }
  return s;
}

}  // namespace

bool StaticPlansDiffer(const placement::StaticPlan& a, const placement::StaticPlan& b) {
  return a.optim_on_host != b.optim_on_host || a.cpu_offload != b.cpu_offload ||
         a.keep_cuda_chunk_mem != b.keep_cuda_chunk_mem ||
         a.keep_gathered_chunk_mem != b.keep_gathered_chunk_mem;
}

StatusOr<PlaceReport> RunPlace(const PlaceRequest& request,
                               const std::function<void(const std::string&)>& progress) {
  TWINSIM_ASSIGN_OR_RETURN(PreparedPlacePtr prepared, PreparePlace(request));
  return RunPlace(*prepared, progress);
}

StatusOr<PlaceReport> RunPlace(const PreparedPlace& p,
                               const std::function<void(const std::string&)>& progress) {
  const core::ParallelLayout& l = *p.request.layout;
  const placement::Workload& workload = *p.workload;
  std::vector<const placement::PlacementPolicy*> policies;
  for (const auto& q : p.policies) policies.push_back(q.get());
  const std::vector<placement::PlacementResult> results =
      placement::RunPolicies(policies, workload, p.budget);
  const bool feasible = placement::FeasiblePlacementExists(workload, p.budget);

  PlaceReport report;
  PlaceSetup& s = report.setup;
  s.resources = p.resources;
  s.gpu_model = p.resources.gpu_model;
  s.hidden = placement::HiddenSizeOf(l.model());
  const core::ParallelCoords coords = l.RankCoords(p.config.rank);
  s.dp_coord = coords.dp;
  s.pp_coord = coords.pp;
  s.tp_coord = coords.tp;
  s.cp_coord = coords.cp;
  s.num_stages = l.num_stages();
  s.pageable_budget = p.pageable_budget;
  s.pinned_bytes = p.pinned_bytes;
  s.keep_gathered = p.manager->keep_gathered();
  s.sim_skipped = p.sim_skipped;
  s.world_size = l.world_size();
  for (int t : workload.chunk_num_tensors) s.tensors += t;
  const bool coded_static = p.static_index && !p.request.gpu_adam;
  if (coded_static) {
    placement::StaticFractions documented = p.fractions;
    documented.documented = true;
    s.static_code = placement::PlanStatic(workload, p.fractions);
    s.static_docs = placement::PlanStatic(workload, documented);
  }

  const core::LayoutConfig& c = l.config();
  for (size_t i = 0; i < results.size(); ++i) {
    const placement::PlacementResult& r = results[i];
    PlacePolicyReport x;
    x.policy = r.policy;
    x.model = l.model().name;
    x.cluster = p.request.cluster;
    x.tp = c.tp;
    x.pp = c.pp;
    x.dp = c.dp;
    x.cp = c.cp;
    x.dp_shard = c.dp_shard;
    x.dp_replicate = c.dp / c.dp_shard;
    x.mesh = std::string(core::MeshName(c.mesh));
    x.rank = p.config.rank;
    x.stage = workload.stage;
    x.heads = p.config.heads;
    x.batch = p.config.micro_batch_size;
    x.seq = p.config.seq_len;
    x.microbatches = p.config.num_microbatches;
    x.schedule = std::string(placement::PipelineScheduleName(p.config.schedule));
    x.held_microbatches = workload.held_microbatches;
    x.recompute = p.config.recompute;
    x.dp_shards = p.manager->dp_shards();
    x.chunk_size = p.chunk_size;
    x.num_chunks = p.manager->chunks().size();
    x.bytes_per_param = p.manager->BytesPerElement();
    x.model_bytes = workload.total_model_bytes;
    x.layer_activation_bytes = workload.layer_activation;
    x.stage_activation_bytes = workload.stage_activation;
    x.gpu_memory = p.budget.gpu_bytes;
    x.host_memory = p.budget.host_bytes;
    x.feasible = feasible;
    x.fits = r.fits;
    if (!r.fits) {
      const placement::PlacementOom& o = *r.oom;
      x.oom = PlaceOomReport{o.op,        o.op_name,   o.device, o.requested,
                             o.available, o.shortfall, o.message};
    }
    x.peak_gpu_bytes = r.peak_gpu_bytes;
    x.peak_host_bytes = r.peak_host_bytes;
    const placement::PeakBreakdown& pb = r.peak_breakdown;
    x.peak_breakdown = PeakBreakdownReport{pb.params,  pb.grads,  pb.optimizer, pb.activations,
                                           pb.buffers, pb.other, pb.op_name,   pb.op};
    x.h2d_bytes = r.h2d_bytes;
    x.d2h_bytes = r.d2h_bytes;
    if (r.fits && std::isfinite(r.ratio_to_optimal)) x.ratio_to_optimal = r.ratio_to_optimal;
    x.ratio_infinite = r.fits && std::isinf(r.ratio_to_optimal);
    x.pin_memory = p.request.pin_memory;
    x.allocator = p.budget.caching_allocator ? "caching" : "exact";
    x.peak_reserved_bytes = r.peak_reserved_bytes;
    x.backend = std::string(PlaceBackendName(p.backend));
    if (r.fits && p.backend == PlaceBackend::kSim) {
      if (progress) progress("simulating " + r.policy);
      std::optional<properties::SimStepResult> sim;
      TWINSIM_RETURN_IF_ERROR(SimulateStep(p, *p.policies[i], results.size(), &sim, &x.sim_note));
      if (sim) {
        PlaceSimReport sr;
        sr.step_time_s = sim->step_time_s;
        sr.compute_time_s = sim->compute_time_s;
        sr.ranks = sim->rank_time_s.size();
        for (int k = 0; k < sim::kNumLinkClasses; ++k) {
          sr.link_bytes.emplace_back(sim::LinkClassName(static_cast<sim::LinkClass>(k)),
                                     sim->link_bytes[k]);
        }
        sr.wall_s = sim->wall_s;
        x.step_time_s = sim->step_time_s;
        x.sim = sr;
      }
    } else if (r.fits && p.backend == PlaceBackend::kHost && !r.initial_location.empty()) {
      TWINSIM_ASSIGN_OR_RETURN(properties::HostReplayResult replay,
                               properties::ReplayPlacementWithBytes(workload, r, p.budget));
      if (!replay.fits || !replay.intact) {
        return Status::Internal(
            fmt::format("policy {}: the host backend disagrees with the accounting: {}", r.policy,
                        replay.fits ? replay.corruption : replay.oom));
      }
      x.host_replay = PlaceReplayReport{replay.moves, replay.bytes_moved, replay.checksums,
                                        replay.intact, replay.peak_device_bytes};
    }
    if (coded_static && r.policy == p.policies[*p.static_index]->Name()) {
      StaticPlanReport sp;
      sp.differ = StaticPlansDiffer(*s.static_code, *s.static_docs);
      sp.param_frac_ignored = s.static_code->param_frac_ignored;
      sp.true_chunk_mem = s.static_code->true_chunk_mem;
      sp.code = SideOf(*s.static_code);
      sp.documented = SideOf(*s.static_docs);
      x.static_plan = sp;
    }
    if (p.request.timeline) {
      x.timeline.emplace();
      for (size_t k = 0; k < r.timeline.size(); ++k) {
        x.timeline->push_back(
            {workload.ops[k].name, r.timeline[k].gpu_bytes, r.timeline[k].host_bytes});
      }
    }
    report.policies.push_back(std::move(x));
  }

  // Note [Init meets placement]: each seed policy's init on this rank's budgets (timing-only
  // sim), then the chunk build under each placement.
  for (const auto& seed : p.seed_policies) {
    if (progress) progress("init " + std::string(seed->name()));
    properties::InitRunOptions options;
    options.backend = properties::Backend::kSim;
    options.sim.topology = p.topology;
    options.sim.holds_bytes = false;
    options.init_device = seed->default_init_device();
    options.device_capacity = p.budget.gpu_bytes;
    options.host_capacity = p.budget.host_bytes;
    // Memory does not depend on the root seed: one the framework rejects (Megatron's 0)
    // becomes Megatron's default. The layout is the policy's own (its vocabulary padding).
    if (!seed->CheckSeed(options.seed).ok()) options.seed = 1234;
    StatusOr<core::ParallelLayout> own = policies::seed::LayoutFor(*seed, l);
    if (!own.ok()) {
      return Status(own.status().code(),
                    fmt::format("init policy {}: {}", seed->name(), own.status().message()));
    }
    StatusOr<properties::InitRun> run = properties::RunInit(*seed, *own, options);
    if (!run.ok()) {
      return Status(run.status().code(),
                    fmt::format("init policy {}: {}", seed->name(), run.status().message()));
    }
    const properties::RankOutcome& mine = run->ranks[p.config.rank];
    for (size_t i = 0; i < results.size(); ++i) {
      const properties::InitMeetsPlacement m = properties::CheckInitMeetsPlacement(
          mine.oom, mine.oom_during, *p.manager, workload, results[i], p.budget);
      report.policies[i].init_meets_placement.push_back({std::string(seed->name()), m.applicable,
                                                         m.fits, m.why, m.build_peak_gpu_bytes,
                                                         m.build_peak_host_bytes});
    }
  }
  return report;
}

StatusOr<std::vector<LargestModelReport>> FindLargestModel(
    const PreparedPlace& p, const std::function<void(const std::string&)>& progress) {
  LargestModelRequest request;
  request.family = *p.request.family;
  request.cluster = p.request.cluster;
  request.layout = p.request.layout->config();
  request.make_layout = p.request.make_layout;
  request.min_layers = p.request.min_layers;
  request.config = p.config;
  request.search = p.request.search;
  request.separate_grad = p.separate_grad;
  request.budget = p.budget;
  if (progress) {
    request.on_policy = [&progress](const std::string& name) { progress("searching " + name); };
  }
  std::vector<const placement::PlacementPolicy*> policies;
  for (const auto& q : p.policies) policies.push_back(q.get());
  return FindLargestModel(request, policies);
}

// ---------------------------------------------------------------------------------------------
// JSON

using Json = nlohmann::ordered_json;

template <typename Io, typename R>
void PlaceOomFields(Io& io, R& o) {
  io("op", o.op);
  io("op_name", o.op_name);
  io("device", o.device);
  io("requested", o.requested);
  io("available", o.available);
  io("shortfall", o.shortfall);
  io("message", o.message);
}
TWINSIM_JSON_FROM_FIELDS(PlaceOomReport, PlaceOomFields)

void to_json(Json& j, const PlaceSimReport& s) {
  Json links = Json::object();
  for (const auto& [name, bytes] : s.link_bytes) links[name] = bytes;
  // wall_s to the millisecond, as it always was.
  j = Json{{"step_time_s", s.step_time_s},
           {"compute_time_s", s.compute_time_s},
           {"ranks", s.ranks},
           {"link_bytes", links},
           {"wall_s", std::round(s.wall_s * 1000) / 1000}};
}
void from_json(const Json& j, PlaceSimReport& s) {
  j.at("step_time_s").get_to(s.step_time_s);
  j.at("compute_time_s").get_to(s.compute_time_s);
  j.at("ranks").get_to(s.ranks);
  s.link_bytes.clear();
  for (auto it = j.at("link_bytes").begin(); it != j.at("link_bytes").end(); ++it) {
    s.link_bytes.emplace_back(it.key(), it.value().get<uint64_t>());
  }
  j.at("wall_s").get_to(s.wall_s);
}

template <typename Io, typename R>
void PlaceReplayFields(Io& io, R& r) {
  io("moves", r.moves);
  io("bytes_moved", r.bytes_moved);
  io("checksums", r.checksums);
  io("intact", r.intact);
  io("peak_device_bytes", r.peak_device_bytes);
}
TWINSIM_JSON_FROM_FIELDS(PlaceReplayReport, PlaceReplayFields)

template <typename Io, typename R>
void InitMeetsPlacementFields(Io& io, R& m) {
  io("seed_policy", m.seed_policy);
  io("applicable", m.applicable);
  io("fits", m.fits);
  io("why", m.why);
  io("build_peak_gpu_bytes", m.build_peak_gpu_bytes);
  io("build_peak_host_bytes", m.build_peak_host_bytes);
}
TWINSIM_JSON_FROM_FIELDS(InitMeetsPlacementReport, InitMeetsPlacementFields)

template <typename Io, typename R>
void StaticPlanSideFields(Io& io, R& s) {
  io("total_chunk_mem", s.total_chunk_mem);
  io("keep_gathered_chunk_mem", s.keep_gathered_chunk_mem);
  io("keep_cuda_chunk_mem", s.keep_cuda_chunk_mem);
  io("cpu_offload", s.cpu_offload);
  io("offloaded_optim_chunks", s.offloaded_optim_chunks);
  io("offloaded_optim_bytes", s.offloaded_optim_bytes);
  io("optim_on_host", s.optim_on_host);
}
TWINSIM_JSON_FROM_FIELDS(StaticPlanSide, StaticPlanSideFields)

template <typename Io, typename R>
void StaticPlanFields(Io& io, R& s) {
  io("differ", s.differ);
  io("param_frac_ignored", s.param_frac_ignored);
  io("true_chunk_mem", s.true_chunk_mem);
  io("code", s.code);
  io("documented", s.documented);
}
TWINSIM_JSON_FROM_FIELDS(StaticPlanReport, StaticPlanFields)

template <typename Io, typename R>
void TimelineEntryFields(Io& io, R& t) {
  io("op", t.op);
  io("gpu_bytes", t.gpu_bytes);
  io("host_bytes", t.host_bytes);
}
TWINSIM_JSON_FROM_FIELDS(TimelineEntry, TimelineEntryFields)

template <typename Io, typename R>
void PeakBreakdownFields(Io& io, R& b) {
  io("params", b.params);
  io("grads", b.grads);
  io("optimizer", b.optimizer);
  io("activations", b.activations);
  io("buffers", b.buffers);
  io("other", b.other);
  io("op", b.op);
  io("op_index", b.op_index);
}
TWINSIM_JSON_FROM_FIELDS(PeakBreakdownReport, PeakBreakdownFields)

template <typename Io, typename R>
void PlacePolicyFields(Io& io, R& r) {
  io("policy", r.policy);
  io("model", r.model);
  io("cluster", r.cluster);
  io("tp", r.tp);
  io("pp", r.pp);
  io("dp", r.dp);
  io("cp", r.cp);
  io("dp_shard", r.dp_shard);
  io("dp_replicate", r.dp_replicate);
  io("mesh", r.mesh);
  io("rank", r.rank);
  io("stage", r.stage);
  io("heads", r.heads);
  io("batch", r.batch);
  io("seq", r.seq);
  io("microbatches", r.microbatches);
  io("schedule", r.schedule);
  io("held_microbatches", r.held_microbatches);
  io("recompute", r.recompute);
  io("dp_shards", r.dp_shards);
  io("chunk_size", r.chunk_size);
  io("num_chunks", r.num_chunks);
  io("bytes_per_param", r.bytes_per_param);
  io("model_bytes", r.model_bytes);
  io("layer_activation_bytes", r.layer_activation_bytes);
  io("stage_activation_bytes", r.stage_activation_bytes);
  io("gpu_memory", r.gpu_memory);
  io("host_memory", r.host_memory);
  io("feasible", r.feasible);
  io("fits", r.fits);
  io("oom", r.oom);
  io("peak_gpu_bytes", r.peak_gpu_bytes);
  io("peak_host_bytes", r.peak_host_bytes);
  io("peak_breakdown", r.peak_breakdown);
  io("h2d_bytes", r.h2d_bytes);
  io("d2h_bytes", r.d2h_bytes);
  io("ratio_to_optimal", r.ratio_to_optimal);
  io("ratio_infinite", r.ratio_infinite);
  io("pin_memory", r.pin_memory);
  io("allocator", r.allocator);
  io("peak_reserved_bytes", r.peak_reserved_bytes);
  io("backend", r.backend);
  io("step_time_s", r.step_time_s);
  io("sim", r.sim);
  io("sim_note", r.sim_note);
  io("host_replay", r.host_replay);
  io("init_meets_placement", r.init_meets_placement);
  io("static_plan", r.static_plan);
  io("timeline", r.timeline);
}
TWINSIM_JSON_FROM_FIELDS(PlacePolicyReport, PlacePolicyFields)

std::string PlaceJsonLine(const PlacePolicyReport& r) {
  std::string out;
  AppendCompactJson(Json(r), out);
  return out;
}

}  // namespace twinsim::harness
