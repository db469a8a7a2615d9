#include "harness/place.h"

#include <fmt/format.h>

#include <map>

#include "core/model_presets.h"

namespace twinsim::harness {

RankResources ResourcesOfRank(const core::Topology& topology, int rank) {
  RankResources r;
  int64_t local = rank;
  for (const core::NodeSpec& node : topology.nodes) {
    const int64_t n = static_cast<int64_t>(node.gpus.size());
    if (local < n) {
      r.gpu_bytes = static_cast<uint64_t>(node.gpus[local].memory_capacity_bytes);
      r.gpu_model = node.gpus[local].model;
      r.host_bytes = static_cast<uint64_t>(node.host_memory.pageable_bytes) / n;
      r.gpus_per_node = n;
      r.node_host_bytes = static_cast<uint64_t>(node.host_memory.pageable_bytes);
      r.pinned_bytes = static_cast<uint64_t>(node.host_memory.pinned_bytes) / n;
      break;
    }
    local -= n;
  }
  return r;
}

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

void to_json(nlohmann::ordered_json& j, const LargestModelReport& r) {
  j = nlohmann::ordered_json{{"policy", r.policy},
                             {"family", r.family},
                             {"cluster", r.cluster},
                             {"gpu_memory", r.gpu_memory},
                             {"host_memory", r.host_memory},
                             {"batch", r.batch},
                             {"seq", r.seq},
                             {"largest", nullptr},
                             {"params", r.params},
                             {"next_fails", r.next_fails}};
  if (r.largest) j["largest"] = *r.largest;
}

void from_json(const nlohmann::ordered_json& j, LargestModelReport& r) {
  j.at("policy").get_to(r.policy);
  j.at("family").get_to(r.family);
  j.at("cluster").get_to(r.cluster);
  j.at("gpu_memory").get_to(r.gpu_memory);
  j.at("host_memory").get_to(r.host_memory);
  j.at("batch").get_to(r.batch);
  j.at("seq").get_to(r.seq);
  if (j.at("largest").is_null()) {
    r.largest.reset();
  } else {
    r.largest = j.at("largest").get<std::string>();
  }
  j.at("params").get_to(r.params);
  j.at("next_fails").get_to(r.next_fails);
}

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

}  // namespace twinsim::harness
