// show model and show layout; show cluster and show policy are in show_catalog.cc.
#include "harness/show.h"

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/dtype.h"
#include "core/hf_config.h"
#include "core/init_spec.h"
#include "core/json.h"
#include "core/model_presets.h"
#include "core/model_spec.h"
#include "core/parallel_layout.h"
#include "harness/json_line.h"

namespace twinsim::harness {

using Json = nlohmann::ordered_json;

// The field lists: one per report piece, for both to_json and from_json.
template <typename Io, typename R>
void RoleFields(Io& io, R& r) {
  io("role", r.role);
  io("tensors", r.tensors);
  io("elements", r.elements);
  io("tied_elements", r.tied_elements);
}
template <typename Io, typename R>
void ParamFields(Io& io, R& r) {
  io("name", r.name);
  io("shape", r.shape);
  io("numel", r.numel);
  io("dtype", r.dtype);
  io("init", r.init);
  io("tp_split", r.tp_split);
  io("tp_dim", r.tp_dim);
  io("role", r.role);
  io("layer", r.layer);
  io("expert", r.expert);
  io("tied_to", r.tied_to);
}
template <typename Io, typename R>
void PresetFields(Io& io, R& r) {
  io("name", r.name);
  io("num_params", r.num_params);
  io("num_layers", r.num_layers);
  io("num_tensors", r.num_tensors);
}
template <typename Io, typename R>
void StageFields(Io& io, R& r) {
  io("stage", r.stage);
  io("pp_rank", r.pp_rank);
  io("virtual_stage", r.virtual_stage);
  io("layer_begin", r.layer_begin);
  io("layer_end", r.layer_end);
  io("tensors", r.tensors);
  io("elements", r.elements);
}
template <typename Io, typename R>
void RankFields(Io& io, R& r) {
  io("rank", r.rank);
  io("dp", r.dp);
  io("pp", r.pp);
  io("tp", r.tp);
  io("cp", r.cp);
  io("dp_shard", r.dp_shard);
  io("dp_replicate", r.dp_replicate);
  io("ep", r.ep);
  io("expert_dp", r.expert_dp);
  io("etp", r.etp);
  io("stages", r.stages);
  io("shards", r.shards);
  io("elements", r.elements);
  io("elements_kept", r.elements_kept);
}
template <typename Io, typename R>
void LayoutFields(Io& io, R& r) {
  io("model", r.model);
  io("num_params", r.num_params);
  io("num_layers", r.num_layers);
  io("dp", r.dp);
  io("pp", r.pp);
  io("tp", r.tp);
  io("cp", r.cp);
  io("dp_shard", r.dp_shard);
  io("dp_replicate", r.dp_replicate);
  io("mesh", r.mesh);
  io("shard_group_size", r.shard_group_size);
  io("vpp", r.vpp);
  io("ep", r.ep);
  io("etp", r.etp);
  io("partition", r.partition);
  io("world_size", r.world_size);
  io("num_stages", r.num_stages);
  io("stages", r.stages);
  io("ranks", r.ranks);
}

TWINSIM_JSON_FROM_FIELDS(ShowRoleTotal, RoleFields)
TWINSIM_JSON_FROM_FIELDS(ShowParamReport, ParamFields)
TWINSIM_JSON_FROM_FIELDS(ShowModelPreset, PresetFields)
TWINSIM_JSON_FROM_FIELDS(ShowStageReport, StageFields)
TWINSIM_JSON_FROM_FIELDS(ShowRankReport, RankFields)
TWINSIM_JSON_FROM_FIELDS(ShowLayoutReport, LayoutFields)

// ---------------------------------------------------------------------------------------------
// show model

namespace {

StatusOr<core::ModelSpec> LoadShowModel(const std::string& text) {
  if (!core::IsValidUtf8(text)) return Status::InvalidArgument("--model: expected UTF-8 text");
  StatusOr<core::ModelSpec> model = core::MakeModel(text);
  if (!model.ok()) return Status::InvalidArgument("--model: " + model.status().message());
  return model;
}

}  // namespace

Status ShowModelRequest::Validate() const { return LoadShowModel(model).status(); }

void to_json(Json& j, const ShowModelReport& r) {
  j = Json{{"name", r.name},
           {"num_params", r.num_params},
           {"num_tensors", r.num_tensors},
           {"num_layers", r.num_layers},
           {"roles", r.roles}};
  if (r.params) j["params"] = *r.params;
}

void from_json(const Json& j, ShowModelReport& r) {
  j.at("name").get_to(r.name);
  j.at("num_params").get_to(r.num_params);
  j.at("num_tensors").get_to(r.num_tensors);
  j.at("num_layers").get_to(r.num_layers);
  j.at("roles").get_to(r.roles);
  r.params.reset();
  if (j.contains("params")) r.params = j.at("params").get<std::vector<ShowParamReport>>();
}

StatusOr<ShowModelReport> RunShowModel(const ShowModelRequest& request) {
  TWINSIM_ASSIGN_OR_RETURN(const core::ModelSpec m, LoadShowModel(request.model));
  ShowModelReport r;
  r.name = m.name;
  r.num_params = m.NumParams();
  r.num_tensors = m.params.size();
  r.num_layers = m.num_layers;
  for (core::ParamRole role : {core::ParamRole::kEmbedding, core::ParamRole::kLayer,
                               core::ParamRole::kFinalNorm, core::ParamRole::kHead}) {
    ShowRoleTotal t{std::string(core::ParamRoleName(role))};
    for (const core::ParamSpec& p : m.params) {
      if (p.role != role) continue;
      ++t.tensors;
      (p.tied_to.empty() ? t.elements : t.tied_elements) += p.Numel();
    }
    if (t.tensors > 0) r.roles.push_back(std::move(t));
  }
  if (request.summary) return r;
  r.params.emplace();
  for (const core::ParamSpec& p : m.params) {
    r.params->push_back({p.name, p.shape, p.Numel(), std::string(core::DTypeName(p.dtype)),
                         core::FormatInitSpec(p.init), std::string(core::TpSplitName(p.tp_split)),
                         p.tp_dim, std::string(core::ParamRoleName(p.role)), p.layer, p.expert,
                         p.tied_to});
  }
  return r;
}

void to_json(Json& j, const ShowModelList& r) {
  j = Json{{"presets", r.presets}, {"families", r.families}};
}

void from_json(const Json& j, ShowModelList& r) {
  j.at("presets").get_to(r.presets);
  j.at("families").get_to(r.families);
  r.hf_model_types.clear();
}

StatusOr<ShowModelList> ListModels() {
  ShowModelList list;
  for (const std::string& name : core::ModelPresetNames()) {
    TWINSIM_ASSIGN_OR_RETURN(const core::ModelSpec m, core::MakeModel(name));
    list.presets.push_back({name, m.NumParams(), m.num_layers, m.params.size()});
  }
  list.families = core::ModelFamilyNames();
  list.hf_model_types = core::HfModelTypes();
  return list;
}

// ---------------------------------------------------------------------------------------------
// show layout

Status ShowLayoutRequest::Validate() const {
  return MakeLayout(layout, kShowMaxWorld).status();
}

StatusOr<ShowLayoutReport> RunShowLayout(const ShowLayoutRequest& request) {
  TWINSIM_ASSIGN_OR_RETURN(const core::ParallelLayout l, MakeLayout(request.layout, kShowMaxWorld));
  const core::ModelSpec& m = l.model();
  const core::LayoutConfig& c = l.config();
  ShowLayoutReport r;
  r.model = m.name;
  r.num_params = m.NumParams();
  r.num_layers = m.num_layers;
  r.dp = c.dp;
  r.pp = c.pp;
  r.tp = c.tp;
  r.cp = c.cp;
  r.dp_shard = c.dp_shard;
  r.dp_replicate = c.dp / c.dp_shard;
  r.mesh = std::string(core::MeshName(c.mesh));
  r.shard_group_size = l.shard_group_size();
  r.vpp = c.vpp;
  r.ep = c.ep;
  r.etp = l.expert_tp();
  r.partition = c.partition == core::PipelinePartition::kByLayers ? "layers" : "params";
  r.world_size = l.world_size();
  r.num_stages = l.num_stages();
  for (int s = 0; s < l.num_stages(); ++s) {
    const core::IndexRange layers = l.StageLayers(s);
    r.stages.push_back({s, l.PipelineRankOf(s), l.VirtualStageOf(s), layers.begin, layers.end,
                        l.StagePlacements(s).size(), l.StageNumel(s)});
  }
  const int shown =
      request.max_ranks ? std::min(l.world_size(), std::max(0, *request.max_ranks)) : l.world_size();
  for (int rank = 0; rank < shown; ++rank) {
    const core::ParallelCoords co = l.RankCoords(rank);
    ShowRankReport k{rank,         co.dp, co.pp,        co.tp,  co.cp, co.dp_shard,
                     co.dp_replicate, co.ep, co.expert_dp, co.etp};
    for (int v = 0; v < c.vpp; ++v) k.stages.push_back(l.StageAt(co.pp, v));
    const std::vector<core::OwnedShard> owned = l.OwnedBy(rank);
    k.shards = owned.size();
    for (const core::OwnedShard& o : owned) {
      const std::vector<int64_t>& shape = m.params[o.param].shape;
      const int64_t numel = o.shard.Numel(shape);
      k.elements += numel;
      // Elements per dim-0 row of the TP shard, times the rows this rank keeps.
      const int64_t rows = shape.empty() ? 1 : o.shard.dim == 0 ? o.shard.range.size() : shape[0];
      k.elements_kept += rows == 0 ? 0 : numel / rows * static_cast<int64_t>(o.rows.size());
    }
    r.ranks.push_back(std::move(k));
  }
  return r;
}

}  // namespace twinsim::harness
