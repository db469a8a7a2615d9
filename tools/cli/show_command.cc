#include "tools/cli/show_command.h"

#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/dtype.h"
#include "core/init_spec.h"
#include "core/hf_config.h"
#include "core/model_presets.h"
#include "core/model_spec.h"
#include "core/parallel_layout.h"
#include "core/provenance.h"
#include "core/text.h"
#include "core/topology.h"
#include "core/topology_presets.h"
#include "policies/placement/placement.h"
#include "policies/placement/registry.h"
#include "policies/seed/policy.h"
#include "tools/cli/args.h"
#include "tools/cli/layout_args.h"

namespace twinsim::cli {
namespace {

using core::Thousands;

// Ranks listed by the text form of `show layout`; --json lists them all.
constexpr int kMaxRanksShown = 64;
// Largest world size `show layout` accepts (dp * pp * tp).
constexpr uint64_t kMaxWorld = 65536;

std::string Billions(int64_t v) { return fmt::format("{:.3f} B", static_cast<double>(v) / 1e9); }

std::string GiB(int64_t bytes) {
  return fmt::format("{:.0f} GiB", static_cast<double>(bytes) / (int64_t{1} << 30));
}

std::string GBps(double bytes_per_s) { return fmt::format("{:.1f} GB/s", bytes_per_s / 1e9); }

std::string Gbps(double bytes_per_s) { return fmt::format("{:.0f} Gb/s", bytes_per_s * 8 / 1e9); }

// A table with a header row; columns are left-aligned unless marked right-aligned.
void PrintTable(Output& out, const std::vector<std::string>& header,
                const std::vector<std::vector<std::string>>& rows,
                const std::vector<bool>& right) {
  std::vector<size_t> width(header.size());
  for (size_t c = 0; c < header.size(); ++c) width[c] = header[c].size();
  for (const auto& row : rows) {
    for (size_t c = 0; c < row.size(); ++c) width[c] = std::max(width[c], row[c].size());
  }
  auto line = [&](const std::vector<std::string>& cells) {
    std::string text;
    for (size_t c = 0; c < cells.size(); ++c) {
      const bool last = c + 1 == cells.size();
      const std::string pad(width[c] - cells[c].size(), ' ');
      if (c) text += "  ";
      if (right[c]) {
        text += pad + cells[c];
      } else {
        text += cells[c];
        if (!last) text += pad;
      }
    }
    while (!text.empty() && text.back() == ' ') text.pop_back();
    out.Append(text);
    out.Append('\n');
  };
  line(header);
  for (const auto& row : rows) line(row);
}

std::string JsonString(std::string_view text) {
  std::string s;
  AppendJsonString(text, s);
  return s;
}

// Picks the model text from a positional argument or --model (not both).
StatusOr<std::optional<std::string>> PickPositionalOrOption(std::string_view option,
                                                             const std::string& positional,
                                                             const std::string& named,
                                                             bool positional_given,
                                                             bool named_given) {
  if (positional_given && named_given) {
    return Status::InvalidArgument(std::string(option) + ": given both as an argument (" +
                                   Quote(positional) + ") and as " + std::string(option) + " (" +
                                   Quote(named) + "); give one");
  }
  if (positional_given) return std::optional<std::string>(positional);
  if (named_given) return std::optional<std::string>(named);
  return std::optional<std::string>();
}

std::string SplitText(const core::ParamSpec& p) {
  if (p.tp_split == core::TpSplit::kReplicated) return "replicated";
  return fmt::format("{}(dim {})", core::TpSplitName(p.tp_split), p.tp_dim);
}

std::string RoleText(const core::ParamSpec& p) {
  std::string text(core::ParamRoleName(p.role));
  if (p.role == core::ParamRole::kLayer) text += " " + std::to_string(p.layer);
  if (p.expert >= 0) text += " expert " + std::to_string(p.expert);
  return text;
}

// ---------------------------------------------------------------------------------------------
// show model

class ShowModelCommand final : public Command {
 public:
  void DeclareOptions(CLI::App& app) override {
    positional_ = app.add_option("model", model_pos_, "Model: a preset or FAMILY[:key=value,...]")
                      ->type_name("MODEL");
    named_ = app.add_option("--model", model_opt_, "The same as the MODEL argument")
                 ->type_name("MODEL");
    app.add_flag("--summary", summary_, "Print only the header and per-role totals");
    app.add_flag("--json", json_, "Print one JSON object instead of the table");
    app.footer(
        "Prints a model's parameters in registration order: name, shape, dtype, init rule,\n"
        "tensor-parallel split, role (embedding, layer N, final_norm, head) and the parameter\n"
        "it is tied to. With no MODEL, lists the presets and families. Examples:\n"
        "  twinsim show model gpt2-small\n"
        "  twinsim show model 'gpt2:n_layer=2,n_embd=128,n_head=4' --summary\n"
        "  twinsim show model llama3-405b --summary --json");
  }

  Status Validate() override {
    StatusOr<std::optional<std::string>> text = PickPositionalOrOption(
        "--model", model_pos_, model_opt_, positional_->count() > 0, named_->count() > 0);
    if (!text.ok()) return text.status();
    if (!text->has_value()) return Status::Ok();
    if (!IsValidUtf8(**text)) return Status::InvalidArgument("--model: expected UTF-8 text");
    StatusOr<core::ModelSpec> model = core::MakeModel(**text);
    if (!model.ok()) return ForOption("--model", model.status());
    model_ = std::move(*model);
    return Status::Ok();
  }

  Status Execute(Output& out) override {
    if (!model_) return List(out);
    const core::ModelSpec& m = *model_;
    struct RoleTotal {
      core::ParamRole role;
      int64_t tensors = 0, elements = 0, tied = 0;
    };
    std::vector<RoleTotal> totals;
    for (core::ParamRole role : {core::ParamRole::kEmbedding, core::ParamRole::kLayer,
                                 core::ParamRole::kFinalNorm, core::ParamRole::kHead}) {
      RoleTotal t{role};
      for (const core::ParamSpec& p : m.params) {
        if (p.role != role) continue;
        ++t.tensors;
        (p.tied_to.empty() ? t.elements : t.tied) += p.Numel();
      }
      if (t.tensors > 0) totals.push_back(t);
    }
    if (json_) {
      out.Append("{\"name\":" + JsonString(m.name));
      out.Append(fmt::format(",\"num_params\":{},\"num_tensors\":{},\"num_layers\":{},\"roles\":[",
                             m.NumParams(), m.params.size(), m.num_layers));
      for (size_t i = 0; i < totals.size(); ++i) {
        out.Append(fmt::format(
            "{}{{\"role\":\"{}\",\"tensors\":{},\"elements\":{},\"tied_elements\":{}}}",
            i ? "," : "", core::ParamRoleName(totals[i].role), totals[i].tensors,
            totals[i].elements, totals[i].tied));
      }
      out.Append("]");
      if (!summary_) {
        out.Append(",\"params\":[");
        for (size_t i = 0; i < m.params.size(); ++i) {
          const core::ParamSpec& p = m.params[i];
          std::string shape;
          for (size_t d = 0; d < p.shape.size(); ++d) {
            shape += (d ? "," : "") + std::to_string(p.shape[d]);
          }
          out.Append(fmt::format(
              "{}{{\"name\":{},\"shape\":[{}],\"numel\":{},\"dtype\":\"{}\",\"init\":{},"
              "\"tp_split\":\"{}\",\"tp_dim\":{},\"role\":\"{}\",\"layer\":{},\"expert\":{},"
              "\"tied_to\":{}}}",
              i ? "," : "", JsonString(p.name), shape, p.Numel(), core::DTypeName(p.dtype),
              JsonString(core::FormatInitSpec(p.init)), core::TpSplitName(p.tp_split), p.tp_dim,
              core::ParamRoleName(p.role), p.layer, p.expert, JsonString(p.tied_to)));
        }
        out.Append("]");
      }
      out.Append("}\n");
      return Status::Ok();
    }
    out.Append(fmt::format("model       {}\nparameters  {} ({})\ntensors     {}\nlayers      {}\n\n",
                           m.name, Thousands(m.NumParams()), Billions(m.NumParams()),
                           m.params.size(), m.num_layers));
    std::vector<std::vector<std::string>> role_rows;
    for (const RoleTotal& t : totals) {
      role_rows.push_back({std::string(core::ParamRoleName(t.role)), Thousands(t.tensors),
                           Thousands(t.elements), t.tied ? Thousands(t.tied) : ""});
    }
    PrintTable(out, {"role", "tensors", "elements", "tied elements (not counted)"}, role_rows,
               {false, true, true, false});
    if (summary_) return Status::Ok();
    out.Append('\n');
    std::vector<std::vector<std::string>> rows;
    for (size_t i = 0; i < m.params.size(); ++i) {
      const core::ParamSpec& p = m.params[i];
      rows.push_back({std::to_string(i), p.name, core::FormatShape(p.shape),
                      std::string(core::DTypeName(p.dtype)), core::FormatInitSpec(p.init),
                      SplitText(p), RoleText(p), p.tied_to});
    }
    PrintTable(out, {"#", "name", "shape", "dtype", "init", "tp split", "role", "tied_to"}, rows,
               {true, false, false, false, false, false, false, false});
    return Status::Ok();
  }

 private:
  Status List(Output& out) const {
    std::vector<std::vector<std::string>> rows;
    std::string json = "{\"presets\":[";
    bool first = true;
    for (const std::string& name : core::ModelPresetNames()) {
      StatusOr<core::ModelSpec> m = core::MakeModel(name);
      if (!m.ok()) return m.status();
      rows.push_back({name, Thousands(m->NumParams()), Billions(m->NumParams()),
                      std::to_string(m->num_layers), std::to_string(m->params.size())});
      json += fmt::format("{}{{\"name\":{},\"num_params\":{},\"num_layers\":{},\"num_tensors\":{}}}",
                          first ? "" : ",", JsonString(name), m->NumParams(), m->num_layers,
                          m->params.size());
      first = false;
    }
    json += "],\"families\":[";
    std::string families_text;
    first = true;
    for (const std::string& family : core::ModelFamilyNames()) {
      json += (first ? "" : ",") + JsonString(family);
      families_text += (first ? "" : ", ") + family;
      first = false;
    }
    json += "]}\n";
    if (json_) {
      out.Append(json);
      return Status::Ok();
    }
    out.Append("Model presets (twinsim show model PRESET):\n\n");
    PrintTable(out, {"preset", "parameters", "", "layers", "tensors"}, rows,
               {false, true, true, true, true});
    out.Append("\nFamilies (FAMILY or PRESET, optionally with :key=value,... overrides): " +
               families_text + "\n");
    std::vector<std::string_view> types;
    const std::vector<std::string> hf_types = core::HfModelTypes();
    for (const std::string& t : hf_types) types.push_back(t);
    out.Append("Model files (PATH.json): a Hugging Face config.json with model_type " +
               core::Join(types) + ", or a twinsim parameter list\n");
    return Status::Ok();
  }

  CLI::Option* positional_ = nullptr;
  CLI::Option* named_ = nullptr;
  std::string model_pos_, model_opt_;
  bool summary_ = false;
  bool json_ = false;
  std::optional<core::ModelSpec> model_;
};

// ---------------------------------------------------------------------------------------------
// show layout

class ShowLayoutCommand final : public Command {
 public:
  void DeclareOptions(CLI::App& app) override {
    layout_args_.Declare(app);
    app.add_flag("--json", json_, "Print one JSON object instead of the tables");
    app.footer(
        "Prints how Megatron-style parallelism places a model on dp * pp * tp * cp ranks: the\n"
        "world size, each pipeline stage (model chunk) with its pipeline rank, virtual stage,\n"
        "block range and parameter count (tied copies included), and for each rank its\n"
        "coordinates, the stages it holds, and the number of shards and elements it owns (a\n"
        "replicated tensor counts whole on every TP rank) and keeps once --dp-shard splits\n"
        "parameters (torch.chunk on dim 0 over the shard group). The table lists the first 64\n"
        "ranks; --json lists them all. Examples:\n"
        "  twinsim show layout --model gpt2-small --tp 4 --pp 3 --dp 2\n"
        "  twinsim show layout --model llama3-8b --tp 2 --dp-shard 4 --dp-replicate 2 --cp 2 \\\n"
        "      --mesh torchtitan");
  }

  Status Validate() override {
    StatusOr<core::ParallelLayout> layout = layout_args_.Make(kMaxWorld);
    if (!layout.ok()) return layout.status();
    layout_ = std::move(*layout);
    return Status::Ok();
  }

  Status Execute(Output& out) override {
    const core::ParallelLayout& l = *layout_;
    const core::ModelSpec& m = l.model();
    const core::LayoutConfig& c = l.config();
    const std::string_view partition =
        c.partition == core::PipelinePartition::kByLayers ? "layers" : "params";
    if (json_) {
      out.Append("{\"model\":" + JsonString(m.name));
      out.Append(fmt::format(
          ",\"num_params\":{},\"num_layers\":{},\"dp\":{},\"pp\":{},\"tp\":{},\"cp\":{},"
          "\"dp_shard\":{},\"dp_replicate\":{},\"mesh\":\"{}\",\"shard_group_size\":{},"
          "\"vpp\":{},\"ep\":{},\"etp\":{},\"partition\":\"{}\",\"world_size\":{},"
          "\"num_stages\":{},\"stages\":[",
          m.NumParams(), m.num_layers, c.dp, c.pp, c.tp, c.cp, c.dp_shard, c.dp / c.dp_shard,
          core::MeshName(c.mesh), l.shard_group_size(), c.vpp, c.ep, l.expert_tp(), partition,
          l.world_size(),
          l.num_stages()));
    } else {
      out.Append(fmt::format(
          "model       {} ({} parameters, {} layers)\nlayout      dp={} pp={} tp={} cp={} vpp={} "
          "ep={} etp={}, partition by {}\nsharding    dp_shard={} x dp_replicate={}, {} convention: "
          "parameters split over {} rank(s)\nworld size  {}\nstages      {}\n\n",
          m.name, Thousands(m.NumParams()), m.num_layers, c.dp, c.pp, c.tp, c.cp, c.vpp, c.ep,
          l.expert_tp(), partition, c.dp_shard, c.dp / c.dp_shard, core::MeshName(c.mesh), l.shard_group_size(),
          Thousands(l.world_size()), l.num_stages()));
    }
    std::vector<std::vector<std::string>> rows;
    for (int s = 0; s < l.num_stages(); ++s) {
      const core::IndexRange layers = l.StageLayers(s);
      const size_t tensors = l.StagePlacements(s).size();
      if (json_) {
        out.Append(fmt::format(
            "{}{{\"stage\":{},\"pp_rank\":{},\"virtual_stage\":{},\"layer_begin\":{},"
            "\"layer_end\":{},\"tensors\":{},\"elements\":{}}}",
            s ? "," : "", s, l.PipelineRankOf(s), l.VirtualStageOf(s), layers.begin, layers.end,
            tensors, l.StageNumel(s)));
      } else {
        rows.push_back({std::to_string(s), std::to_string(l.PipelineRankOf(s)),
                        std::to_string(l.VirtualStageOf(s)),
                        fmt::format("[{}, {})", layers.begin, layers.end),
                        std::to_string(tensors), Thousands(l.StageNumel(s))});
      }
    }
    if (json_) {
      out.Append("],\"ranks\":[");
    } else {
      PrintTable(out, {"stage", "pp rank", "virtual", "layers", "tensors", "elements"}, rows,
                 {true, true, true, false, true, true});
      out.Append('\n');
      rows.clear();
    }
    const int shown = json_ ? l.world_size() : std::min(l.world_size(), kMaxRanksShown);
    for (int r = 0; r < shown; ++r) {
      const core::ParallelCoords co = l.RankCoords(r);
      std::vector<int> stages;
      for (int v = 0; v < c.vpp; ++v) stages.push_back(l.StageAt(co.pp, v));
      const std::vector<core::OwnedShard> owned = l.OwnedBy(r);
      int64_t elements = 0, kept = 0;
      for (const core::OwnedShard& o : owned) {
        const std::vector<int64_t>& shape = m.params[o.param].shape;
        const int64_t numel = o.shard.Numel(shape);
        elements += numel;
        // Elements per dim-0 row of the TP shard, times the rows this rank keeps.
        const int64_t rows = shape.empty() ? 1 : o.shard.dim == 0 ? o.shard.range.size() : shape[0];
        kept += rows == 0 ? 0 : numel / rows * o.rows.size();
      }
      std::string stage_list;
      for (size_t i = 0; i < stages.size(); ++i) {
        stage_list += (i ? "," : "") + std::to_string(stages[i]);
      }
      if (json_) {
        out.Append(fmt::format(
            "{}{{\"rank\":{},\"dp\":{},\"pp\":{},\"tp\":{},\"cp\":{},\"dp_shard\":{},"
            "\"dp_replicate\":{},\"ep\":{},\"expert_dp\":{},\"etp\":{},\"stages\":[{}],"
            "\"shards\":{},\"elements\":{},\"elements_kept\":{}}}",
            r ? "," : "", r, co.dp, co.pp, co.tp, co.cp, co.dp_shard, co.dp_replicate, co.ep,
            co.expert_dp, co.etp, stage_list, owned.size(), elements, kept));
      } else {
        rows.push_back({std::to_string(r),
                        fmt::format("({}, {}, {}, {})", co.dp, co.pp, co.tp, co.cp), stage_list,
                        std::to_string(owned.size()), Thousands(elements), Thousands(kept)});
      }
    }
    if (json_) {
      out.Append("]}\n");
      return Status::Ok();
    }
    PrintTable(out, {"rank", "(dp, pp, tp, cp)", "stages", "shards", "elements owned", "kept"},
               rows, {true, false, false, true, true, true});
    if (shown < l.world_size()) {
      out.Append(fmt::format("... {} more ranks omitted (--json lists every rank)\n",
                             Thousands(l.world_size() - shown)));
    }
    return Status::Ok();
  }

 private:
  LayoutArgs layout_args_;
  bool json_ = false;
  std::optional<core::ParallelLayout> layout_;
};

// ---------------------------------------------------------------------------------------------
// show cluster

class ShowClusterCommand final : public Command {
 public:
  void DeclareOptions(CLI::App& app) override {
    positional_ = app.add_option("cluster", cluster_pos_, "Cluster: PRESET[:key=value,...]")
                      ->type_name("PRESET");
    named_ = app.add_option("--cluster", cluster_opt_, "The same as the PRESET argument")
                 ->type_name("PRESET");
    app.add_flag("--json", json_, "Print one JSON object instead of the text");
    app.footer(
        "Prints a cluster preset's hardware: nodes, GPUs per node, GPU model, memory and HBM\n"
        "bandwidth, NVLink, PCIe, NICs, fabric and host memory (node 0; preset nodes are\n"
        "identical). Keys: nodes, gpus_per_node, gpu_memory_gb, host_memory_gb,\n"
        "pinned_memory_gb, nic_gbps, fabric_latency_ns, storage_read_gb_per_s. With no PRESET,\n"
        "lists the presets.\n"
        "Example:\n"
        "  twinsim show cluster dgx-h100:nodes=2048");
  }

  Status Validate() override {
    StatusOr<std::optional<std::string>> text = PickPositionalOrOption(
        "--cluster", cluster_pos_, cluster_opt_, positional_->count() > 0, named_->count() > 0);
    if (!text.ok()) return text.status();
    if (!text->has_value()) return Status::Ok();
    if (!IsValidUtf8(**text)) return Status::InvalidArgument("--cluster: expected UTF-8 text");
    StatusOr<core::Topology> topology = core::MakeTopology(**text);
    if (!topology.ok()) return ForOption("--cluster", topology.status());
    topology_ = std::move(*topology);
    return Status::Ok();
  }

  Status Execute(Output& out) override {
    if (!topology_) return List(out);
    const core::Topology& t = *topology_;
    const core::NodeSpec& n = t.nodes.front();
    const core::GpuSpec& g = n.gpus.front();
    if (json_) {
      out.Append("{\"name\":" + JsonString(t.name));
      out.Append(fmt::format(
          ",\"nodes\":{},\"gpus_per_node\":{},\"num_gpus\":{},\"gpu_model\":{},"
          "\"gpu_memory_bytes\":{},\"hbm_bandwidth_bytes_per_s\":{},\"sm_count\":{},"
          "\"nvlink\":{{\"kind\":\"{}\",\"generation\":{},\"num_nvswitches\":{},"
          "\"per_gpu_bandwidth_bytes_per_s\":{}}},"
          "\"pcie\":{{\"generation\":{},\"lanes\":{},\"bandwidth_bytes_per_s\":{}}},"
          "\"pcie_switches\":{},\"nics_per_node\":{},\"nic_bandwidth_bytes_per_s\":{},"
          "\"fabric\":{{\"kind\":{},\"link_bandwidth_bytes_per_s\":{},\"latency_s\":{}}},"
          "\"host_memory\":{{\"pageable_bytes\":{},\"pinned_bytes\":{}}}}}\n",
          t.nodes.size(), n.gpus.size(), core::NumGpus(t), JsonString(g.model),
          g.memory_capacity_bytes, g.hbm_bandwidth_bytes_per_s, g.sm_count,
          core::NvlinkKindName(n.nvlink.kind), n.nvlink.generation, n.nvlink.num_nvswitches,
          n.nvlink.per_gpu_bandwidth_bytes_per_s, g.pcie.generation, g.pcie.lanes,
          g.pcie.bandwidth_bytes_per_s, n.pcie_switches.size(), n.nics.size(),
          n.nics.empty() ? 0.0 : n.nics.front().bandwidth_bytes_per_s,
          JsonString(t.fabric.kind), t.fabric.link_bandwidth_bytes_per_s, t.fabric.latency_s,
          n.host_memory.pageable_bytes, n.host_memory.pinned_bytes));
      return Status::Ok();
    }
    std::string nvlink = "none";
    if (n.nvlink.kind != core::NvlinkKind::kNone) {
      nvlink = fmt::format("{} gen {}, {} NVSwitches, {} per GPU per direction",
                           core::NvlinkKindName(n.nvlink.kind), n.nvlink.generation,
                           n.nvlink.num_nvswitches, GBps(n.nvlink.per_gpu_bandwidth_bytes_per_s));
    }
    std::string nics = "none";
    if (!n.nics.empty()) {
      nics = fmt::format("{} x {} per node", n.nics.size(), Gbps(n.nics.front().bandwidth_bytes_per_s));
    }
    out.Append(fmt::format(
        "cluster        {}\nnodes          {}\nGPUs per node  {}\nGPUs           {}\n"
        "GPU model      {} ({} SMs)\nGPU memory     {}\nHBM bandwidth  {}\nNVLink         {}\n"
        "PCIe           Gen{} x{}, {} per direction per GPU; {} switches\nNICs           {}\n"
        "fabric         {}, {} links, {:.2f} us latency\nhost memory    {} pageable, {} pinned "
        "per node\n",
        t.name, Thousands(static_cast<int64_t>(t.nodes.size())), n.gpus.size(),
        Thousands(core::NumGpus(t)), g.model, g.sm_count, GiB(g.memory_capacity_bytes),
        GBps(g.hbm_bandwidth_bytes_per_s), nvlink, g.pcie.generation, g.pcie.lanes,
        GBps(g.pcie.bandwidth_bytes_per_s), n.pcie_switches.size(), nics,
        t.fabric.kind.empty() ? "none" : t.fabric.kind, Gbps(t.fabric.link_bandwidth_bytes_per_s),
        t.fabric.latency_s * 1e6, GiB(n.host_memory.pageable_bytes),
        GiB(n.host_memory.pinned_bytes)));
    return Status::Ok();
  }

 private:
  Status List(Output& out) const {
    std::vector<std::vector<std::string>> rows;
    std::string json = "{\"presets\":[";
    bool first = true;
    for (const std::string& name : core::TopologyPresetNames()) {
      StatusOr<core::Topology> t = core::MakeTopology(name);
      if (!t.ok()) return t.status();
      const core::NodeSpec& n = t->nodes.front();
      rows.push_back({name, std::to_string(n.gpus.size()), n.gpus.front().model,
                      GiB(n.gpus.front().memory_capacity_bytes),
                      std::string(core::NvlinkKindName(n.nvlink.kind))});
      json += fmt::format("{}{{\"name\":{},\"gpus_per_node\":{},\"gpu_model\":{}}}",
                          first ? "" : ",", JsonString(name), n.gpus.size(),
                          JsonString(n.gpus.front().model));
      first = false;
    }
    json += "]}\n";
    if (json_) {
      out.Append(json);
      return Status::Ok();
    }
    out.Append("Cluster presets (twinsim show cluster PRESET[:nodes=N,...]):\n\n");
    PrintTable(out, {"preset", "GPUs/node", "GPU model", "GPU memory", "NVLink"}, rows,
               {false, true, false, true, false});
    return Status::Ok();
  }

  CLI::Option* positional_ = nullptr;
  CLI::Option* named_ = nullptr;
  std::string cluster_pos_, cluster_opt_;
  bool json_ = false;
  std::optional<core::Topology> topology_;
};

// ---------------------------------------------------------------------------------------------
// show policy

// The placement policies `show policy` knows, with their default options (the registry's).
std::unique_ptr<placement::PlacementPolicy> MakePlacementPolicyByName(std::string_view name) {
  StatusOr<std::unique_ptr<placement::PlacementPolicy>> p = placement::MakePlacementPolicy(name);
  return p.ok() ? std::move(*p) : nullptr;
}

std::string JoinStrings(const std::vector<std::string>& items) {
  return core::Join(std::vector<std::string_view>(items.begin(), items.end()));
}

// The provenance as text lines (indented by the caller) and as a JSON object.
std::vector<std::string> ProvenanceLines(const core::Provenance& p) {
  std::vector<std::string> lines;
  if (p.twinsim_own && p.sources.empty()) lines.push_back("twinsim's own scheme (no upstream)");
  if (!p.twinsim_own && p.sources.empty()) lines.push_back("no upstream source cited");
  for (const core::SourceRef& ref : p.sources) {
    lines.push_back(core::FormatSourceRef(ref));
    if (!ref.fact.empty()) lines.push_back("  " + ref.fact);
  }
  return lines;
}

std::string ProvenanceJson(const core::Provenance& p) {
  std::string j =
      fmt::format("{{\"twinsim_own\":{},\"sources\":[", p.twinsim_own ? "true" : "false");
  for (size_t i = 0; i < p.sources.size(); ++i) {
    const core::SourceRef& r = p.sources[i];
    j += fmt::format(
        "{}{{\"repository\":{},\"release\":{},\"file\":{},\"function\":{},\"first_line\":{},"
        "\"last_line\":{},\"fact\":{},\"text\":{}}}",
        i ? "," : "", JsonString(r.repository), JsonString(r.release), JsonString(r.file),
        JsonString(r.function), r.first_line, r.last_line, JsonString(r.fact),
        JsonString(core::FormatSourceRef(r)));
  }
  j += "],\"deviations\":[";
  for (size_t i = 0; i < p.deviations.size(); ++i) {
    j += (i ? "," : "") + JsonString(p.deviations[i]);
  }
  return j + "]}";
}

class ShowPolicyCommand final : public Command {
 public:
  void DeclareOptions(CLI::App& app) override {
    app.add_option("policy", name_, "A seed policy (init --policy) or a placement policy "
                                     "(place --policy)")
        ->type_name("NAME");
    app.add_flag("--json", json_, "Print one JSON object instead of the text");
    app.footer(
        "Prints what a policy models: for a seed policy its models() line, version, init\n"
        "devices, the properties it claims (with their conditions) and those it does not; for\n"
        "seed and placement policies alike, its provenance: the upstream repository, release,\n"
        "file, lines and function it follows, and where the framework's code and its documents\n"
        "disagree. With no NAME, lists the policies. Examples:\n"
        "  twinsim show policy megatron\n"
        "  twinsim show policy static --json");
  }

  Status Validate() override {
    if (name_.empty()) return Status::Ok();
    if (!IsValidUtf8(name_)) return Status::InvalidArgument("policy: expected UTF-8 text");
    StatusOr<std::unique_ptr<policies::seed::SeedPolicy>> seed = policies::seed::MakePolicy(name_);
    if (seed.ok()) {
      seed_ = std::move(*seed);
      return Status::Ok();
    }
    placement_ = MakePlacementPolicyByName(name_);
    if (placement_ != nullptr) return Status::Ok();
    std::vector<std::string_view> all;
    for (const std::string& n : policies::seed::PolicyNames()) all.push_back(n);
    for (const std::string& n : placement::PlacementPolicyNames()) all.push_back(n);
    return Status::InvalidArgument(fmt::format(
        "unknown policy {}{} (seed policies: {}; placement policies: {})", Quote(name_),
        core::DidYouMean(name_, all), JoinStrings(policies::seed::PolicyNames()),
        JoinStrings(placement::PlacementPolicyNames())));
  }

  Status Execute(Output& out) override {
    if (seed_ != nullptr) return ShowSeed(*seed_, out);
    if (placement_ != nullptr) return ShowPlacement(*placement_, out);
    return List(out);
  }

 private:
  Status ShowSeed(const policies::seed::SeedPolicy& p, Output& out) const {
    using policies::seed::InitDevice;
    std::vector<std::string> devices;
    for (InitDevice d : {InitDevice::kCpu, InitDevice::kCuda}) {
      if (p.Supports(d)) devices.emplace_back(policies::seed::InitDeviceName(d));
    }
    std::vector<std::string> unclaimed;
    for (policies::seed::Property prop : policies::seed::AllProperties()) {
      if (p.FindClaim(prop) == nullptr) unclaimed.emplace_back(policies::seed::PropertyName(prop));
    }
    const core::Provenance prov = p.provenance();
    if (json_) {
      std::string j = fmt::format(
          "{{\"name\":{},\"kind\":\"seed\",\"version\":{},\"models\":{},"
          "\"default_init_device\":\"{}\",\"init_devices\":[",
          JsonString(p.name()), JsonString(p.version()), JsonString(p.models()),
          policies::seed::InitDeviceName(p.default_init_device()));
      for (size_t i = 0; i < devices.size(); ++i) j += (i ? "," : "") + JsonString(devices[i]);
      j += "],\"claims\":[";
      for (size_t i = 0; i < p.claims().size(); ++i) {
        const policies::seed::Claim& c = p.claims()[i];
        j += fmt::format("{}{{\"property\":\"{}\",\"condition\":{}}}", i ? "," : "",
                         policies::seed::PropertyName(c.property), JsonString(c.condition));
      }
      j += "],\"not_claimed\":[";
      for (size_t i = 0; i < unclaimed.size(); ++i) j += (i ? "," : "") + JsonString(unclaimed[i]);
      j += "],\"provenance\":" + ProvenanceJson(prov) + "}\n";
      out.Append(j);
      return Status::Ok();
    }
    out.Append(fmt::format("policy       {} (seed policy, version {})\n", p.name(), p.version()));
    out.Append(fmt::format("models       {}\n", p.models()));
    out.Append(fmt::format("init device  {} by default; supports {}\n",
                           policies::seed::InitDeviceName(p.default_init_device()),
                           JoinStrings(devices)));
    std::string label = "claims";
    for (const policies::seed::Claim& c : p.claims()) {
      out.Append(fmt::format("{:<13}{}{}\n", label, policies::seed::PropertyName(c.property),
                             c.condition.empty() ? "" : " when " + c.condition));
      label.clear();
    }
    if (p.claims().empty()) out.Append("claims       none\n");
    out.Append(fmt::format("not claimed  {}\n",
                           unclaimed.empty() ? std::string("none") : JoinStrings(unclaimed)));
    PrintProvenance(prov, out);
    return Status::Ok();
  }

  Status ShowPlacement(const placement::PlacementPolicy& p, Output& out) const {
    const core::Provenance prov = p.provenance();
    if (json_) {
      out.Append(fmt::format(
          "{{\"name\":{},\"kind\":\"placement\",\"instance\":{},\"provenance\":{}}}\n",
          JsonString(name_), JsonString(p.Name()), ProvenanceJson(prov)));
      return Status::Ok();
    }
    out.Append(fmt::format("policy       {} (placement policy; with default options: {})\n", name_,
                           p.Name()));
    PrintProvenance(prov, out);
    return Status::Ok();
  }

  static void PrintProvenance(const core::Provenance& prov, Output& out) {
    std::string label = "provenance";
    for (const std::string& line : ProvenanceLines(prov)) {
      out.Append(fmt::format("{:<13}{}\n", label, line));
      label.clear();
    }
    label = "deviations";
    for (const std::string& d : prov.deviations) {
      out.Append(fmt::format("{:<13}- {}\n", label, d));
      label.clear();
    }
  }

  Status List(Output& out) const {
    if (json_) {
      std::string j = "{\"seed\":[";
      for (size_t i = 0; i < policies::seed::PolicyNames().size(); ++i) {
        const std::string& n = policies::seed::PolicyNames()[i];
        j += fmt::format("{}{{\"name\":{},\"models\":{}}}", i ? "," : "", JsonString(n),
                         JsonString(std::move(policies::seed::MakePolicy(n)).value()->models()));
      }
      j += "],\"placement\":[";
      for (size_t i = 0; i < placement::PlacementPolicyNames().size(); ++i) {
        j += (i ? "," : "") + JsonString(placement::PlacementPolicyNames()[i]);
      }
      out.Append(j + "]}\n");
      return Status::Ok();
    }
    out.Append("Seed policies (twinsim show policy NAME):\n\n");
    std::vector<std::vector<std::string>> rows;
    for (const std::string& n : policies::seed::PolicyNames()) {
      rows.push_back({n, std::string(std::move(policies::seed::MakePolicy(n)).value()->models())});
    }
    PrintTable(out, {"policy", "models"}, rows, {false, false});
    out.Append("\nPlacement policies: " + JoinStrings(placement::PlacementPolicyNames()) + "\n");
    return Status::Ok();
  }

  std::string name_;
  bool json_ = false;
  std::unique_ptr<policies::seed::SeedPolicy> seed_;
  std::unique_ptr<placement::PlacementPolicy> placement_;
};

}  // namespace

CommandGroup ShowCommandGroup() {
  CommandGroup group;
  group.name = "show";
  group.summary = "print models, parallel layouts and cluster presets as twinsim sees them";
  group.commands = {
      {"model", "a model's parameters: names, shapes, dtypes, inits, TP splits, ties",
       [] { return std::make_unique<ShowModelCommand>(); }},
      {"layout", "how dp x pp x tp parallelism places a model's parameters on ranks",
       [] { return std::make_unique<ShowLayoutCommand>(); }},
      {"cluster", "a cluster preset's nodes, GPUs, links and memory",
       [] { return std::make_unique<ShowClusterCommand>(); }},
      {"policy", "a seed or placement policy: what it models, its claims and upstream source",
       [] { return std::make_unique<ShowPolicyCommand>(); }},
  };
  return group;
}

}  // namespace twinsim::cli
