// The library face of `twinsim show` (DESIGN.md "Layout": harness/ holds one request -> report
// function per command): one request, run function and report per subcommand (model, layout,
// cluster, policy), and a listing for each of them when no name is given. The command parses
// options into a request and prints the report as text or, with --json, as one line of
// CompactJson(report) (harness/json_line.h); tests call the same functions without a process.
#ifndef TWINSIM_HARNESS_SHOW_H_
#define TWINSIM_HARNESS_SHOW_H_

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"
#include "harness/layout.h"

namespace twinsim::harness {

// ---------------------------------------------------------------------------------------------
// show model

struct ShowModelRequest {
  std::string model;     // REQUIRED: a preset, FAMILY[:key=value,...] or PATH.json
  bool summary = false;  // header and per-role totals only (no per-parameter rows)
  // OK when RunShowModel would succeed; else "--model: expected UTF-8 text" or
  // "--model: <core::MakeModel's message>".
  Status Validate() const;
};
struct ShowRoleTotal {  // parameters of one role; tied copies apart
  std::string role;     // core::ParamRoleName
  int64_t tensors = 0, elements = 0, tied_elements = 0;
  friend bool operator==(const ShowRoleTotal&, const ShowRoleTotal&) = default;
};
struct ShowParamReport {
  std::string name;
  std::vector<int64_t> shape;
  int64_t numel = 0;
  std::string dtype, init, tp_split;  // core::DTypeName, core::FormatInitSpec, core::TpSplitName
  int tp_dim = 0;
  std::string role;  // core::ParamRoleName
  int layer = -1, expert = -1;
  std::string tied_to;
  friend bool operator==(const ShowParamReport&, const ShowParamReport&) = default;
};
struct ShowModelReport {
  std::string name;
  int64_t num_params = 0;
  uint64_t num_tensors = 0;
  int num_layers = 0;
  std::vector<ShowRoleTotal> roles;  // embedding, layer, final_norm, head: those present
  std::optional<std::vector<ShowParamReport>> params;  // registration order; none: summary
  friend bool operator==(const ShowModelReport&, const ShowModelReport&) = default;
};
void to_json(nlohmann::ordered_json& j, const ShowModelReport& r);
void from_json(const nlohmann::ordered_json& j, ShowModelReport& r);
StatusOr<ShowModelReport> RunShowModel(const ShowModelRequest& request);

// The presets and families `show model` lists with no MODEL.
struct ShowModelPreset {
  std::string name;
  int64_t num_params = 0;
  int num_layers = 0;
  uint64_t num_tensors = 0;
  friend bool operator==(const ShowModelPreset&, const ShowModelPreset&) = default;
};
struct ShowModelList {
  std::vector<ShowModelPreset> presets;
  std::vector<std::string> families;
  std::vector<std::string> hf_model_types;  // not in JSON: core::HfModelTypes()
  friend bool operator==(const ShowModelList&, const ShowModelList&) = default;
};
void to_json(nlohmann::ordered_json& j, const ShowModelList& r);
void from_json(const nlohmann::ordered_json& j, ShowModelList& r);
StatusOr<ShowModelList> ListModels();

// ---------------------------------------------------------------------------------------------
// show layout

// Largest world size (dp * pp * tp * cp) `show layout` accepts.
inline constexpr uint64_t kShowMaxWorld = 65536;

struct ShowLayoutRequest {
  LayoutRequest layout;           // REQUIRED
  std::optional<int> max_ranks;   // ranks reported; none: every rank
  // OK when RunShowLayout would succeed; errors as harness::MakeLayout's ("--tp: ...").
  Status Validate() const;
};
struct ShowStageReport {
  int stage = 0, pp_rank = 0, virtual_stage = 0;
  int64_t layer_begin = 0, layer_end = 0;
  uint64_t tensors = 0;
  int64_t elements = 0;
  friend bool operator==(const ShowStageReport&, const ShowStageReport&) = default;
};
struct ShowRankReport {
  int rank = 0, dp = 0, pp = 0, tp = 0, cp = 0, dp_shard = 0, dp_replicate = 0, ep = 0,
      expert_dp = 0, etp = 0;
  std::vector<int> stages;
  uint64_t shards = 0;
  int64_t elements = 0, elements_kept = 0;  // owned; kept once dp_shard splits them
  friend bool operator==(const ShowRankReport&, const ShowRankReport&) = default;
};
struct ShowLayoutReport {
  std::string model;
  int64_t num_params = 0;
  int num_layers = 0;
  int dp = 1, pp = 1, tp = 1, cp = 1, dp_shard = 1, dp_replicate = 1;
  std::string mesh;  // core::MeshName
  int shard_group_size = 1, vpp = 1, ep = 1, etp = 1;
  std::string partition;  // "layers" or "params"
  int world_size = 1, num_stages = 1;
  std::vector<ShowStageReport> stages;
  std::vector<ShowRankReport> ranks;  // the first max_ranks ranks (all when none)
  friend bool operator==(const ShowLayoutReport&, const ShowLayoutReport&) = default;
};
void to_json(nlohmann::ordered_json& j, const ShowLayoutReport& r);
void from_json(const nlohmann::ordered_json& j, ShowLayoutReport& r);
StatusOr<ShowLayoutReport> RunShowLayout(const ShowLayoutRequest& request);

// ---------------------------------------------------------------------------------------------
// show cluster

struct ShowClusterRequest {
  std::string cluster;  // REQUIRED: PRESET[:key=value,...]
  // OK when RunShowCluster would succeed; else "--cluster: expected UTF-8 text" or
  // "--cluster: <core::MakeTopology's message>".
  Status Validate() const;
};
// Node 0's hardware (preset nodes are identical); bandwidths in bytes per second.
struct ShowClusterReport {
  std::string name;
  uint64_t nodes = 0, gpus_per_node = 0;
  int64_t num_gpus = 0;
  std::string gpu_model;
  int64_t gpu_memory_bytes = 0;
  double hbm_bandwidth_bytes_per_s = 0;
  int sm_count = 0;
  std::string nvlink_kind;  // core::NvlinkKindName; "none" when there is none
  int nvlink_generation = 0, num_nvswitches = 0;
  double nvlink_per_gpu_bandwidth_bytes_per_s = 0;
  int pcie_generation = 0, pcie_lanes = 0;
  double pcie_bandwidth_bytes_per_s = 0;
  uint64_t pcie_switches = 0, nics_per_node = 0;
  double nic_bandwidth_bytes_per_s = 0;  // 0 without NICs
  std::string fabric_kind;               // "" when there is none
  double fabric_link_bandwidth_bytes_per_s = 0, fabric_latency_s = 0;
  int64_t host_pageable_bytes = 0, host_pinned_bytes = 0;
  friend bool operator==(const ShowClusterReport&, const ShowClusterReport&) = default;
};
void to_json(nlohmann::ordered_json& j, const ShowClusterReport& r);
void from_json(const nlohmann::ordered_json& j, ShowClusterReport& r);
StatusOr<ShowClusterReport> RunShowCluster(const ShowClusterRequest& request);

struct ShowClusterPreset {
  std::string name;
  uint64_t gpus_per_node = 0;
  std::string gpu_model;
  int64_t gpu_memory_bytes = 0;  // not in JSON
  std::string nvlink_kind;       // not in JSON
  friend bool operator==(const ShowClusterPreset&, const ShowClusterPreset&) = default;
};
struct ShowClusterList {
  std::vector<ShowClusterPreset> presets;
  friend bool operator==(const ShowClusterList&, const ShowClusterList&) = default;
};
void to_json(nlohmann::ordered_json& j, const ShowClusterList& r);
void from_json(const nlohmann::ordered_json& j, ShowClusterList& r);
StatusOr<ShowClusterList> ListClusters();

// ---------------------------------------------------------------------------------------------
// show policy

struct ShowPolicyRequest {
  std::string name;  // REQUIRED: a seed policy (init --policy) or a placement policy
  // OK when RunShowPolicy would succeed; else "policy: expected UTF-8 text" or "unknown
  // policy 'x' (seed policies: ...; placement policies: ...)", with a did-you-mean.
  Status Validate() const;
};
struct ShowSourceReport {  // a core::SourceRef; `text` is core::FormatSourceRef of it
  std::string repository, release, file, function;
  int first_line = 0, last_line = 0;
  std::string fact, text;
  friend bool operator==(const ShowSourceReport&, const ShowSourceReport&) = default;
};
struct ShowProvenanceReport {
  bool twinsim_own = false;
  std::vector<ShowSourceReport> sources;
  std::vector<std::string> deviations;
  friend bool operator==(const ShowProvenanceReport&, const ShowProvenanceReport&) = default;
};
struct ShowClaimReport {
  std::string property, condition;  // policies::seed::PropertyName; "" when unconditional
  friend bool operator==(const ShowClaimReport&, const ShowClaimReport&) = default;
};
// A seed policy (kind "seed": every field) or a placement policy (kind "placement": name,
// instance and provenance).
struct ShowPolicyReport {
  std::string name;
  std::string kind;  // "seed" or "placement"
  std::string version, models, default_init_device;  // seed
  std::vector<std::string> init_devices;             // seed: those it supports
  std::vector<ShowClaimReport> claims;               // seed
  std::vector<std::string> not_claimed;              // seed: properties, in AllProperties order
  std::string instance;                              // placement: Name() with default options
  ShowProvenanceReport provenance;
  friend bool operator==(const ShowPolicyReport&, const ShowPolicyReport&) = default;
};
void to_json(nlohmann::ordered_json& j, const ShowPolicyReport& r);
void from_json(const nlohmann::ordered_json& j, ShowPolicyReport& r);
StatusOr<ShowPolicyReport> RunShowPolicy(const ShowPolicyRequest& request);

struct ShowSeedPolicyEntry {
  std::string name, models;
  friend bool operator==(const ShowSeedPolicyEntry&, const ShowSeedPolicyEntry&) = default;
};
struct ShowPolicyList {
  std::vector<ShowSeedPolicyEntry> seed;
  std::vector<std::string> placement;
  friend bool operator==(const ShowPolicyList&, const ShowPolicyList&) = default;
};
void to_json(nlohmann::ordered_json& j, const ShowPolicyList& r);
void from_json(const nlohmann::ordered_json& j, ShowPolicyList& r);
StatusOr<ShowPolicyList> ListPolicies();

}  // namespace twinsim::harness

#endif  // TWINSIM_HARNESS_SHOW_H_
