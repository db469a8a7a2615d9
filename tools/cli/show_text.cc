#include "tools/cli/show_text.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/model_spec.h"
#include "core/text.h"

namespace twinsim::cli {
namespace {

using core::Thousands;

std::string Billions(int64_t v) { return fmt::format("{:.3f} B", static_cast<double>(v) / 1e9); }

std::string GiB(int64_t bytes) {
  return fmt::format("{:.0f} GiB", static_cast<double>(bytes) / (int64_t{1} << 30));
}

std::string GBps(double bytes_per_s) { return fmt::format("{:.1f} GB/s", bytes_per_s / 1e9); }

std::string Gbps(double bytes_per_s) { return fmt::format("{:.0f} Gb/s", bytes_per_s * 8 / 1e9); }

std::string JoinStrings(const std::vector<std::string>& items) {
  return core::Join(std::vector<std::string_view>(items.begin(), items.end()));
}

std::string SplitText(const harness::ShowParamReport& p) {
  if (p.tp_split == "replicated") return "replicated";
  return fmt::format("{}(dim {})", p.tp_split, p.tp_dim);
}

std::string RoleText(const harness::ShowParamReport& p) {
  std::string text = p.role;
  if (p.role == "layer") text += " " + std::to_string(p.layer);
  if (p.expert >= 0) text += " expert " + std::to_string(p.expert);
  return text;
}

void PrintProvenance(Output& out, const harness::ShowProvenanceReport& prov) {
  std::vector<std::string> lines;
  if (prov.twinsim_own && prov.sources.empty()) {
    lines.push_back("twinsim's own scheme (no upstream)");
  }
  if (!prov.twinsim_own && prov.sources.empty()) lines.push_back("no upstream source cited");
  for (const harness::ShowSourceReport& ref : prov.sources) {
    lines.push_back(ref.text);
    if (!ref.fact.empty()) lines.push_back("  " + ref.fact);
  }
  std::string label = "provenance";
  for (const std::string& line : lines) {
    out.Append(fmt::format("{:<13}{}\n", label, line));
    label.clear();
  }
  label = "deviations";
  for (const std::string& d : prov.deviations) {
    out.Append(fmt::format("{:<13}- {}\n", label, d));
    label.clear();
  }
}

}  // namespace

void PrintShowModel(Output& out, const harness::ShowModelReport& r) {
  out.Append(fmt::format("model       {}\nparameters  {} ({})\ntensors     {}\nlayers      {}\n\n",
                         r.name, Thousands(r.num_params), Billions(r.num_params), r.num_tensors,
                         r.num_layers));
  std::vector<std::vector<std::string>> role_rows;
  for (const harness::ShowRoleTotal& t : r.roles) {
    role_rows.push_back({t.role, Thousands(t.tensors), Thousands(t.elements),
                         t.tied_elements ? Thousands(t.tied_elements) : ""});
  }
  PrintTable(out, {"role", "tensors", "elements", "tied elements (not counted)"}, role_rows,
             {false, true, true, false});
  if (!r.params) return;
  out.Append('\n');
  std::vector<std::vector<std::string>> rows;
  for (size_t i = 0; i < r.params->size(); ++i) {
    const harness::ShowParamReport& p = (*r.params)[i];
    rows.push_back({std::to_string(i), p.name, core::FormatShape(p.shape), p.dtype, p.init,
                    SplitText(p), RoleText(p), p.tied_to});
  }
  PrintTable(out, {"#", "name", "shape", "dtype", "init", "tp split", "role", "tied_to"}, rows,
             {true, false, false, false, false, false, false, false});
}

void PrintModelList(Output& out, const harness::ShowModelList& list) {
  std::vector<std::vector<std::string>> rows;
  for (const harness::ShowModelPreset& m : list.presets) {
    rows.push_back({m.name, Thousands(m.num_params), Billions(m.num_params),
                    std::to_string(m.num_layers), std::to_string(m.num_tensors)});
  }
  out.Append("Model presets (twinsim show model PRESET):\n\n");
  PrintTable(out, {"preset", "parameters", "", "layers", "tensors"}, rows,
             {false, true, true, true, true});
  out.Append("\nFamilies (FAMILY or PRESET, optionally with :key=value,... overrides): " +
             JoinStrings(list.families) + "\n");
  out.Append("Model files (PATH.json): a Hugging Face config.json with model_type " +
             JoinStrings(list.hf_model_types) + ", or a twinsim parameter list\n");
}

void PrintShowLayout(Output& out, const harness::ShowLayoutReport& r) {
  out.Append(fmt::format(
      "model       {} ({} parameters, {} layers)\nlayout      dp={} pp={} tp={} cp={} vpp={} "
      "ep={} etp={}, partition by {}\nsharding    dp_shard={} x dp_replicate={}, {} convention: "
      "parameters split over {} rank(s)\nworld size  {}\nstages      {}\n\n",
      r.model, Thousands(r.num_params), r.num_layers, r.dp, r.pp, r.tp, r.cp, r.vpp, r.ep, r.etp,
      r.partition, r.dp_shard, r.dp_replicate, r.mesh, r.shard_group_size,
      Thousands(r.world_size), r.num_stages));
  std::vector<std::vector<std::string>> rows;
  for (const harness::ShowStageReport& s : r.stages) {
    rows.push_back({std::to_string(s.stage), std::to_string(s.pp_rank),
                    std::to_string(s.virtual_stage),
                    fmt::format("[{}, {})", s.layer_begin, s.layer_end), std::to_string(s.tensors),
                    Thousands(s.elements)});
  }
  PrintTable(out, {"stage", "pp rank", "virtual", "layers", "tensors", "elements"}, rows,
             {true, true, true, false, true, true});
  out.Append('\n');
  rows.clear();
  for (const harness::ShowRankReport& k : r.ranks) {
    std::string stage_list;
    for (size_t i = 0; i < k.stages.size(); ++i) {
      stage_list += (i ? "," : "") + std::to_string(k.stages[i]);
    }
    rows.push_back({std::to_string(k.rank),
                    fmt::format("({}, {}, {}, {})", k.dp, k.pp, k.tp, k.cp), stage_list,
                    std::to_string(k.shards), Thousands(k.elements), Thousands(k.elements_kept)});
  }
  PrintTable(out, {"rank", "(dp, pp, tp, cp)", "stages", "shards", "elements owned", "kept"},
             rows, {true, false, false, true, true, true});
  const int shown = static_cast<int>(r.ranks.size());
  if (shown < r.world_size) {
    out.Append(fmt::format("... {} more ranks omitted (--json lists every rank)\n",
                           Thousands(r.world_size - shown)));
  }
}

void PrintShowCluster(Output& out, const harness::ShowClusterReport& r) {
  std::string nvlink = "none";
  if (r.nvlink_kind != "none") {
    nvlink = fmt::format("{} gen {}, {} NVSwitches, {} per GPU per direction", r.nvlink_kind,
                         r.nvlink_generation, r.num_nvswitches,
                         GBps(r.nvlink_per_gpu_bandwidth_bytes_per_s));
  }
  std::string nics = "none";
  if (r.nics_per_node > 0) {
    nics = fmt::format("{} x {} per node", r.nics_per_node, Gbps(r.nic_bandwidth_bytes_per_s));
  }
  out.Append(fmt::format(
      "cluster        {}\nnodes          {}\nGPUs per node  {}\nGPUs           {}\n"
      "GPU model      {} ({} SMs)\nGPU memory     {}\nHBM bandwidth  {}\nNVLink         {}\n"
      "PCIe           Gen{} x{}, {} per direction per GPU; {} switches\nNICs           {}\n"
      "fabric         {}, {} links, {:.2f} us latency\nhost memory    {} pageable, {} pinned "
      "per node\n",
      r.name, Thousands(static_cast<int64_t>(r.nodes)), r.gpus_per_node, Thousands(r.num_gpus),
      r.gpu_model, r.sm_count, GiB(r.gpu_memory_bytes), GBps(r.hbm_bandwidth_bytes_per_s), nvlink,
      r.pcie_generation, r.pcie_lanes, GBps(r.pcie_bandwidth_bytes_per_s), r.pcie_switches, nics,
      r.fabric_kind.empty() ? "none" : r.fabric_kind, Gbps(r.fabric_link_bandwidth_bytes_per_s),
      r.fabric_latency_s * 1e6, GiB(r.host_pageable_bytes), GiB(r.host_pinned_bytes)));
}

void PrintClusterList(Output& out, const harness::ShowClusterList& list) {
  std::vector<std::vector<std::string>> rows;
  for (const harness::ShowClusterPreset& p : list.presets) {
    rows.push_back({p.name, std::to_string(p.gpus_per_node), p.gpu_model, GiB(p.gpu_memory_bytes),
                    p.nvlink_kind});
  }
  out.Append("Cluster presets (twinsim show cluster PRESET[:nodes=N,...]):\n\n");
  PrintTable(out, {"preset", "GPUs/node", "GPU model", "GPU memory", "NVLink"}, rows,
             {false, true, false, true, false});
}

void PrintShowPolicy(Output& out, const harness::ShowPolicyReport& r) {
  if (r.kind != "seed") {
    out.Append(fmt::format("policy       {} (placement policy; with default options: {})\n",
                           r.name, r.instance));
    PrintProvenance(out, r.provenance);
    return;
  }
  out.Append(fmt::format("policy       {} (seed policy, version {})\n", r.name, r.version));
  out.Append(fmt::format("models       {}\n", r.models));
  out.Append(fmt::format("init device  {} by default; supports {}\n", r.default_init_device,
                         JoinStrings(r.init_devices)));
  std::string label = "claims";
  for (const harness::ShowClaimReport& c : r.claims) {
    out.Append(fmt::format("{:<13}{}{}\n", label, c.property,
                           c.condition.empty() ? "" : " when " + c.condition));
    label.clear();
  }
  if (r.claims.empty()) out.Append("claims       none\n");
  out.Append(fmt::format("not claimed  {}\n", r.not_claimed.empty() ? std::string("none")
                                                                    : JoinStrings(r.not_claimed)));
  PrintProvenance(out, r.provenance);
}

void PrintPolicyList(Output& out, const harness::ShowPolicyList& list) {
  out.Append("Seed policies (twinsim show policy NAME):\n\n");
  std::vector<std::vector<std::string>> rows;
  for (const harness::ShowSeedPolicyEntry& e : list.seed) rows.push_back({e.name, e.models});
  PrintTable(out, {"policy", "models"}, rows, {false, false});
  out.Append("\nPlacement policies: " + JoinStrings(list.placement) + "\n");
}

}  // namespace twinsim::cli
