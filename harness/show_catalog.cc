// show cluster and show policy: what twinsim knows of a cluster preset and of a policy.
#include <fmt/format.h>

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/json.h"
#include "core/provenance.h"
#include "core/text.h"
#include "core/topology.h"
#include "core/topology_presets.h"
#include "harness/json_line.h"
#include "harness/show.h"
#include "policies/placement/placement.h"
#include "policies/placement/registry.h"
#include "policies/seed/policy.h"

namespace twinsim::harness {

using Json = nlohmann::ordered_json;

// ---------------------------------------------------------------------------------------------
// show cluster

namespace {

StatusOr<core::Topology> LoadShowCluster(const std::string& text) {
  if (!core::IsValidUtf8(text)) return Status::InvalidArgument("--cluster: expected UTF-8 text");
  StatusOr<core::Topology> topology = core::MakeTopology(text);
  if (!topology.ok()) return Status::InvalidArgument("--cluster: " + topology.status().message());
  return topology;
}

}  // namespace

Status ShowClusterRequest::Validate() const { return LoadShowCluster(cluster).status(); }

void to_json(Json& j, const ShowClusterReport& r) {
  j = Json{{"name", r.name},
           {"nodes", r.nodes},
           {"gpus_per_node", r.gpus_per_node},
           {"num_gpus", r.num_gpus},
           {"gpu_model", r.gpu_model},
           {"gpu_memory_bytes", r.gpu_memory_bytes},
           {"hbm_bandwidth_bytes_per_s", r.hbm_bandwidth_bytes_per_s},
           {"sm_count", r.sm_count},
           {"nvlink",
            {{"kind", r.nvlink_kind},
             {"generation", r.nvlink_generation},
             {"num_nvswitches", r.num_nvswitches},
             {"per_gpu_bandwidth_bytes_per_s", r.nvlink_per_gpu_bandwidth_bytes_per_s}}},
           {"pcie",
            {{"generation", r.pcie_generation},
             {"lanes", r.pcie_lanes},
             {"bandwidth_bytes_per_s", r.pcie_bandwidth_bytes_per_s}}},
           {"pcie_switches", r.pcie_switches},
           {"nics_per_node", r.nics_per_node},
           {"nic_bandwidth_bytes_per_s", r.nic_bandwidth_bytes_per_s},
           {"fabric",
            {{"kind", r.fabric_kind},
             {"link_bandwidth_bytes_per_s", r.fabric_link_bandwidth_bytes_per_s},
             {"latency_s", r.fabric_latency_s}}},
           {"host_memory",
            {{"pageable_bytes", r.host_pageable_bytes}, {"pinned_bytes", r.host_pinned_bytes}}}};
}

void from_json(const Json& j, ShowClusterReport& r) {
  j.at("name").get_to(r.name);
  j.at("nodes").get_to(r.nodes);
  j.at("gpus_per_node").get_to(r.gpus_per_node);
  j.at("num_gpus").get_to(r.num_gpus);
  j.at("gpu_model").get_to(r.gpu_model);
  j.at("gpu_memory_bytes").get_to(r.gpu_memory_bytes);
  j.at("hbm_bandwidth_bytes_per_s").get_to(r.hbm_bandwidth_bytes_per_s);
  j.at("sm_count").get_to(r.sm_count);
  const Json& nv = j.at("nvlink");
  nv.at("kind").get_to(r.nvlink_kind);
  nv.at("generation").get_to(r.nvlink_generation);
  nv.at("num_nvswitches").get_to(r.num_nvswitches);
  nv.at("per_gpu_bandwidth_bytes_per_s").get_to(r.nvlink_per_gpu_bandwidth_bytes_per_s);
  const Json& pcie = j.at("pcie");
  pcie.at("generation").get_to(r.pcie_generation);
  pcie.at("lanes").get_to(r.pcie_lanes);
  pcie.at("bandwidth_bytes_per_s").get_to(r.pcie_bandwidth_bytes_per_s);
  j.at("pcie_switches").get_to(r.pcie_switches);
  j.at("nics_per_node").get_to(r.nics_per_node);
  j.at("nic_bandwidth_bytes_per_s").get_to(r.nic_bandwidth_bytes_per_s);
  const Json& fabric = j.at("fabric");
  fabric.at("kind").get_to(r.fabric_kind);
  fabric.at("link_bandwidth_bytes_per_s").get_to(r.fabric_link_bandwidth_bytes_per_s);
  fabric.at("latency_s").get_to(r.fabric_latency_s);
  j.at("host_memory").at("pageable_bytes").get_to(r.host_pageable_bytes);
  j.at("host_memory").at("pinned_bytes").get_to(r.host_pinned_bytes);
}

StatusOr<ShowClusterReport> RunShowCluster(const ShowClusterRequest& request) {
  TWINSIM_ASSIGN_OR_RETURN(const core::Topology t, LoadShowCluster(request.cluster));
  const core::NodeSpec& n = t.nodes.front();
  const core::GpuSpec& g = n.gpus.front();
  ShowClusterReport r;
  r.name = t.name;
  r.nodes = t.nodes.size();
  r.gpus_per_node = n.gpus.size();
  r.num_gpus = core::NumGpus(t);
  r.gpu_model = g.model;
  r.gpu_memory_bytes = g.memory_capacity_bytes;
  r.hbm_bandwidth_bytes_per_s = g.hbm_bandwidth_bytes_per_s;
  r.sm_count = g.sm_count;
  r.nvlink_kind = std::string(core::NvlinkKindName(n.nvlink.kind));
  r.nvlink_generation = n.nvlink.generation;
  r.num_nvswitches = n.nvlink.num_nvswitches;
  r.nvlink_per_gpu_bandwidth_bytes_per_s = n.nvlink.per_gpu_bandwidth_bytes_per_s;
  r.pcie_generation = g.pcie.generation;
  r.pcie_lanes = g.pcie.lanes;
  r.pcie_bandwidth_bytes_per_s = g.pcie.bandwidth_bytes_per_s;
  r.pcie_switches = n.pcie_switches.size();
  r.nics_per_node = n.nics.size();
  r.nic_bandwidth_bytes_per_s = n.nics.empty() ? 0.0 : n.nics.front().bandwidth_bytes_per_s;
  r.fabric_kind = t.fabric.kind;
  r.fabric_link_bandwidth_bytes_per_s = t.fabric.link_bandwidth_bytes_per_s;
  r.fabric_latency_s = t.fabric.latency_s;
  r.host_pageable_bytes = n.host_memory.pageable_bytes;
  r.host_pinned_bytes = n.host_memory.pinned_bytes;
  return r;
}

void to_json(Json& j, const ShowClusterList& r) {
  Json presets = Json::array();
  for (const ShowClusterPreset& p : r.presets) {
    presets.push_back(
        Json{{"name", p.name}, {"gpus_per_node", p.gpus_per_node}, {"gpu_model", p.gpu_model}});
  }
  j = Json{{"presets", std::move(presets)}};
}

void from_json(const Json& j, ShowClusterList& r) {
  r.presets.clear();
  for (const Json& p : j.at("presets")) {
    ShowClusterPreset preset;
    p.at("name").get_to(preset.name);
    p.at("gpus_per_node").get_to(preset.gpus_per_node);
    p.at("gpu_model").get_to(preset.gpu_model);
    r.presets.push_back(std::move(preset));
  }
}

StatusOr<ShowClusterList> ListClusters() {
  ShowClusterList list;
  for (const std::string& name : core::TopologyPresetNames()) {
    TWINSIM_ASSIGN_OR_RETURN(const core::Topology t, core::MakeTopology(name));
    const core::NodeSpec& n = t.nodes.front();
    list.presets.push_back({name, n.gpus.size(), n.gpus.front().model,
                            n.gpus.front().memory_capacity_bytes,
                            std::string(core::NvlinkKindName(n.nvlink.kind))});
  }
  return list;
}

// ---------------------------------------------------------------------------------------------
// show policy

template <typename Io, typename R>
void SourceFields(Io& io, R& r) {
  io("repository", r.repository);
  io("release", r.release);
  io("file", r.file);
  io("function", r.function);
  io("first_line", r.first_line);
  io("last_line", r.last_line);
  io("fact", r.fact);
  io("text", r.text);
}
template <typename Io, typename R>
void ProvenanceFields(Io& io, R& r) {
  io("twinsim_own", r.twinsim_own);
  io("sources", r.sources);
  io("deviations", r.deviations);
}
template <typename Io, typename R>
void ClaimFields(Io& io, R& r) {
  io("property", r.property);
  io("condition", r.condition);
}
template <typename Io, typename R>
void SeedEntryFields(Io& io, R& r) {
  io("name", r.name);
  io("models", r.models);
}
template <typename Io, typename R>
void PolicyListFields(Io& io, R& r) {
  io("seed", r.seed);
  io("placement", r.placement);
}

TWINSIM_JSON_FROM_FIELDS(ShowSourceReport, SourceFields)
TWINSIM_JSON_FROM_FIELDS(ShowProvenanceReport, ProvenanceFields)
TWINSIM_JSON_FROM_FIELDS(ShowClaimReport, ClaimFields)
TWINSIM_JSON_FROM_FIELDS(ShowSeedPolicyEntry, SeedEntryFields)
TWINSIM_JSON_FROM_FIELDS(ShowPolicyList, PolicyListFields)

namespace {

std::string JoinStrings(const std::vector<std::string>& items) {
  return core::Join(std::vector<std::string_view>(items.begin(), items.end()));
}

ShowProvenanceReport ProvenanceOf(const core::Provenance& p) {
  ShowProvenanceReport r{p.twinsim_own, {}, p.deviations};
  for (const core::SourceRef& s : p.sources) {
    r.sources.push_back({s.repository, s.release, s.file, s.function, s.first_line, s.last_line,
                         s.fact, core::FormatSourceRef(s)});
  }
  return r;
}

}  // namespace

Status ShowPolicyRequest::Validate() const { return RunShowPolicy(*this).status(); }

void to_json(Json& j, const ShowPolicyReport& r) {
  j = Json{{"name", r.name}, {"kind", r.kind}};
  if (r.kind == "seed") {
    j["version"] = r.version;
    j["models"] = r.models;
    j["default_init_device"] = r.default_init_device;
    j["init_devices"] = r.init_devices;
    j["claims"] = r.claims;
    j["not_claimed"] = r.not_claimed;
  } else {
    j["instance"] = r.instance;
  }
  j["provenance"] = r.provenance;
}

void from_json(const Json& j, ShowPolicyReport& r) {
  r = ShowPolicyReport{};
  j.at("name").get_to(r.name);
  j.at("kind").get_to(r.kind);
  if (r.kind == "seed") {
    j.at("version").get_to(r.version);
    j.at("models").get_to(r.models);
    j.at("default_init_device").get_to(r.default_init_device);
    j.at("init_devices").get_to(r.init_devices);
    j.at("claims").get_to(r.claims);
    j.at("not_claimed").get_to(r.not_claimed);
  } else {
    j.at("instance").get_to(r.instance);
  }
  j.at("provenance").get_to(r.provenance);
}

StatusOr<ShowPolicyReport> RunShowPolicy(const ShowPolicyRequest& request) {
  namespace seed = policies::seed;
  const std::string& name = request.name;
  if (!core::IsValidUtf8(name)) return Status::InvalidArgument("policy: expected UTF-8 text");
  ShowPolicyReport r;
  r.name = name;
  if (StatusOr<std::unique_ptr<seed::SeedPolicy>> made = seed::MakePolicy(name); made.ok()) {
    const seed::SeedPolicy& p = **made;
    r.kind = "seed";
    r.name = std::string(p.name());
    r.version = std::string(p.version());
    r.models = std::string(p.models());
    r.default_init_device = std::string(seed::InitDeviceName(p.default_init_device()));
    for (seed::InitDevice d : {seed::InitDevice::kCpu, seed::InitDevice::kCuda}) {
      if (p.Supports(d)) r.init_devices.emplace_back(seed::InitDeviceName(d));
    }
    for (const seed::Claim& c : p.claims()) {
      r.claims.push_back({std::string(seed::PropertyName(c.property)), c.condition});
    }
    for (seed::Property prop : seed::AllProperties()) {
      if (p.FindClaim(prop) == nullptr) r.not_claimed.emplace_back(seed::PropertyName(prop));
    }
    r.provenance = ProvenanceOf(p.provenance());
    return r;
  }
  if (StatusOr<std::unique_ptr<placement::PlacementPolicy>> made =
          placement::MakePlacementPolicy(name);
      made.ok()) {
    r.kind = "placement";
    r.instance = (*made)->Name();
    r.provenance = ProvenanceOf((*made)->provenance());
    return r;
  }
  std::vector<std::string_view> all;
  for (const std::string& n : seed::PolicyNames()) all.push_back(n);
  for (const std::string& n : placement::PlacementPolicyNames()) all.push_back(n);
  return Status::InvalidArgument(fmt::format(
      "unknown policy {}{} (seed policies: {}; placement policies: {})", core::Quote(name),
      core::DidYouMean(name, all), JoinStrings(seed::PolicyNames()),
      JoinStrings(placement::PlacementPolicyNames())));
}

StatusOr<ShowPolicyList> ListPolicies() {
  ShowPolicyList list;
  for (const std::string& n : policies::seed::PolicyNames()) {
    TWINSIM_ASSIGN_OR_RETURN(std::unique_ptr<policies::seed::SeedPolicy> p,
                             policies::seed::MakePolicy(n));
    list.seed.push_back({n, std::string(p->models())});
  }
  list.placement = placement::PlacementPolicyNames();
  return list;
}

}  // namespace twinsim::harness
