#include "policies/seed/hf_init.h"

#include <fmt/format.h>

#include <cmath>
#include <span>
#include <string>

#include "policies/seed/common.h"

namespace twinsim::policies::seed {
namespace {

core::InitSpec NormalSpec(double std) {
  core::InitSpec s;
  s.kind = core::InitKind::kNormal;
  s.mean = 0.0;
  s.std = std;
  return s;
}

// nn.Linear.reset_parameters' weight draw: kaiming_uniform_(a = sqrt(5)) on [out, in].
core::InitSpec LinearDefault(int64_t in_features, int64_t out_features) {
  core::InitSpec s;
  s.kind = core::InitKind::kKaimingUniform;
  s.a = std::sqrt(5.0);
  s.mode = core::FanMode::kFanIn;
  s.nonlinearity = core::Nonlinearity::kLeakyRelu;
  s.fan_in = in_features;
  s.fan_out = out_features;
  return s;
}

// Conv1D.__init__ (transformers pytorch_utils): nn.init.normal_(weight, std=0.02).
constexpr double kConv1DStd = 0.02;

StatusOr<int> Find(const core::ModelSpec& model, const std::string& name) {
  const int i = model.Find(name);
  if (i < 0) {
    return Status::InvalidArgument(
        fmt::format("model '{}' is not shaped like GPT-2 (no parameter '{}')", model.name, name));
  }
  return i;
}

}  // namespace

StatusOr<std::vector<HfDraw>> Gpt2HfDraws(const core::ModelSpec& model, HfInitMode mode) {
  TWINSIM_ASSIGN_OR_RETURN(const int wte, Find(model, "transformer.wte.weight"));
  TWINSIM_ASSIGN_OR_RETURN(const int wpe, Find(model, "transformer.wpe.weight"));
  TWINSIM_ASSIGN_OR_RETURN(const int head, Find(model, "lm_head.weight"));
  struct Layer {
    int c_attn, attn_proj, c_fc, mlp_proj;
  };
  std::vector<Layer> layers;
  for (int i = 0; i < model.num_layers; ++i) {
    const std::string h = "transformer.h." + std::to_string(i) + ".";
    Layer l;
    TWINSIM_ASSIGN_OR_RETURN(l.c_attn, Find(model, h + "attn.c_attn.weight"));
    TWINSIM_ASSIGN_OR_RETURN(l.attn_proj, Find(model, h + "attn.c_proj.weight"));
    TWINSIM_ASSIGN_OR_RETURN(l.c_fc, Find(model, h + "mlp.c_fc.weight"));
    TWINSIM_ASSIGN_OR_RETURN(l.mlp_proj, Find(model, h + "mlp.c_proj.weight"));
    layers.push_back(l);
  }
  const core::ParamSpec& head_spec = model.params[head];
  if (head_spec.shape.size() != 2) {
    return Status::InvalidArgument(
        fmt::format("model '{}': lm_head.weight is not 2-D", model.name));
  }
  // _init_weights' std: the presets state wte's final init as N(0, initializer_range).
  const core::InitSpec range = model.params[wte].init;
  std::vector<HfDraw> draws;
  // 1. GPT2Model's constructors, in registration order.
  draws.push_back({wte, NormalSpec(1.0), false});  // nn.Embedding.reset_parameters
  draws.push_back({wpe, NormalSpec(1.0), false});
  for (const Layer& l : layers) {
    for (int p : {l.c_attn, l.attn_proj, l.c_fc, l.mlp_proj}) {
      draws.push_back({p, NormalSpec(kConv1DStd), false});
    }
  }
  // 2. GPT2Model.post_init: apply(_initialize_weights), children before parents.
  if (mode == HfInitMode::kPostInit) {
    draws.push_back({wte, range, true});
    draws.push_back({wpe, range, true});
    for (const Layer& l : layers) {
      draws.push_back({l.c_attn, range, true});                              // Conv1D
      draws.push_back({l.attn_proj, range, true});                           // Conv1D
      draws.push_back({l.attn_proj, model.params[l.attn_proj].init, true});  // GPT2Attention
      draws.push_back({l.c_fc, range, true});                                // Conv1D
      draws.push_back({l.mlp_proj, range, true});                            // Conv1D
      draws.push_back({l.mlp_proj, model.params[l.mlp_proj].init, true});    // GPT2MLP
    }
  }
  // 3. lm_head's constructor, then (post_init) its _init_weights; tied afterwards.
  draws.push_back({head, LinearDefault(head_spec.shape[1], head_spec.shape[0]), false});
  if (mode == HfInitMode::kPostInit) draws.push_back({head, range, true});
  return draws;
}

StatusOr<std::vector<std::vector<float>>> ReplayGpt2HfInitCpu(const core::ModelSpec& model,
                                                              HfInitMode mode, uint64_t seed,
                                                              int64_t max_elements) {
  int64_t total = 0;
  for (const core::ParamSpec& p : model.params) total += p.Numel();
  if (total > max_elements) {
    return Status::InvalidArgument(
        fmt::format("model '{}' has {} elements; the replay holds at most {}", model.name, total,
                    max_elements));
  }
  TWINSIM_ASSIGN_OR_RETURN(std::vector<HfDraw> draws, Gpt2HfDraws(model, mode));
  std::vector<std::vector<float>> values(model.params.size());
  std::vector<bool> drawn(model.params.size(), false);
  TorchGenerator gen = TorchGenerator::Cpu(seed);
  for (const HfDraw& d : draws) {
    std::vector<float>& v = values[d.param];
    v.assign(static_cast<size_t>(model.params[d.param].Numel()), 0.0f);
    gen.Init(d.spec, std::span<float>(v));
    drawn[d.param] = true;
  }
  for (size_t i = 0; i < model.params.size(); ++i) {
    const core::ParamSpec& p = model.params[i];
    if (!p.tied_to.empty() || drawn[i]) continue;
    // Biases (torch.zeros) and LayerNorms (ones, zeros): the preset's constant.
    values[i].assign(static_cast<size_t>(p.Numel()), p.init.kind == core::InitKind::kConstant
                                                         ? static_cast<float>(p.init.value)
                                                         : 0.0f);
  }
  for (size_t i = 0; i < model.params.size(); ++i) {  // tie_weights, after every draw
    if (!model.params[i].tied_to.empty()) values[i] = values[model.Find(model.params[i].tied_to)];
  }
  return values;
}

core::Provenance HfInitProvenance(HfInitMode mode) {
  const std::string hf = "huggingface/transformers";
  core::Provenance p;
  p.sources = {
      {hf, "0010f602", "src/transformers/models/gpt2/modeling_gpt2.py",
       "GPT2PreTrainedModel._init_weights", 0, 0,
       "Linear/Conv1D and Embedding weights N(0, initializer_range); a module whose "
       "named_parameters() has c_proj.weight draws it again with std / sqrt(2 * n_layer)"},
      {hf, "0010f602", "src/transformers/models/gpt2/modeling_gpt2.py",
       "GPT2Model.__init__, GPT2LMHeadModel.__init__", 0, 0,
       "GPT2Model (with its own post_init) is built before lm_head; then post_init"},
      {hf, "040ba146", "src/transformers/modeling_utils.py",
       "PreTrainedModel.post_init, init_weights, _initialize_weights, tie_weights", 0, 0,
       "apply(_initialize_weights) in post-order, each module once (_is_hf_initialized), then "
       "tie_weights"},
  };
  if (mode == HfInitMode::kConstructorOnly) {
    p.sources.push_back({"hpcaitech/ColossalAI-Pytorch-lightning", "395762e0",
                         "benchmark/gpt/model.py", "no_init_weights, GPTLMModel", 0, 0,
                         "GPT2PreTrainedModel._init_weights replaced by a no-op while the "
                         "model is built: constructor defaults only"});
  }
  p.deviations = {
      "lines are not given: the files were read through a code index without line numbers",
      "modeling_gpt2.py and modeling_utils.py were read at two different commits (the ones the "
      "index holds)",
  };
  return p;
}

}  // namespace twinsim::policies::seed
