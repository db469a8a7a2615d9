// RapidCheck generators for models, layouts and seeds (see generators.h).
#include "properties/generators.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "core/model_presets.h"

namespace twinsim::properties {
namespace {

using core::LayoutConfig;
using core::ModelSpec;

// A generator bug, not a property failure: the generators promise valid values.
ModelSpec OrDie(StatusOr<ModelSpec> model) {
  if (!model.ok()) {
    std::fprintf(stderr, "properties::GenModel built an invalid model: %s\n",
                 model.status().ToString().c_str());
    std::abort();
  }
  return std::move(model).value();
}

rc::Gen<ModelSpec> GenGpt2() {
  // n_layer, n_head, head_dim, n_inner (0 = 4 * n_embd), vocab_size, n_positions, tied.
  return rc::gen::map(
      rc::gen::tuple(rc::gen::inRange(1, 7), rc::gen::inRange(1, 5), rc::gen::inRange(1, 25),
                     rc::gen::inRange(0, 65), rc::gen::inRange(17, 301), rc::gen::inRange(1, 33),
                     rc::gen::arbitrary<bool>()),
      [](const std::tuple<int, int, int, int, int, int, bool>& t) {
        const auto& [n_layer, n_head, head_dim, n_inner, vocab, n_positions, untied] = t;
        core::Gpt2Config c;
        c.n_layer = n_layer;
        c.n_head = n_head;
        c.n_embd = static_cast<int64_t>(n_head) * head_dim;
        c.n_inner = n_inner;
        c.vocab_size = vocab;
        c.n_positions = n_positions;
        c.tie_word_embeddings = !untied;
        const std::string name = "gpt2:n_layer=" + std::to_string(c.n_layer) +
                                 ",n_embd=" + std::to_string(c.n_embd) +
                                 ",n_head=" + std::to_string(c.n_head) +
                                 (c.n_inner > 0 ? ",n_inner=" + std::to_string(c.n_inner) : "") +
                                 ",vocab_size=" + std::to_string(c.vocab_size) +
                                 ",n_positions=" + std::to_string(c.n_positions) +
                                 ",tie_word_embeddings=" + (c.tie_word_embeddings ? "1" : "0");
        return OrDie(core::MakeGpt2(c, name));
      });
}

rc::Gen<ModelSpec> GenLlama3() {
  // n_layers, n_kv_heads, heads per kv head, head_dim, ffn_dim, vocab_size, tied.
  return rc::gen::map(
      rc::gen::tuple(rc::gen::inRange(1, 7), rc::gen::inRange(1, 4), rc::gen::inRange(1, 4),
                     rc::gen::inRange(1, 11), rc::gen::inRange(1, 129), rc::gen::inRange(17, 301),
                     rc::gen::arbitrary<bool>()),
      [](const std::tuple<int, int, int, int, int, int, bool>& t) {
        const auto& [n_layers, n_kv, group, head_dim, ffn, vocab, tied] = t;
        core::Llama3Config c;
        c.n_layers = n_layers;
        c.n_kv_heads = n_kv;
        c.n_heads = n_kv * group;
        c.dim = static_cast<int64_t>(c.n_heads) * head_dim;
        c.ffn_dim = ffn;
        c.vocab_size = vocab;
        c.tie_word_embeddings = tied;
        const std::string name = "llama3:n_layers=" + std::to_string(c.n_layers) +
                                 ",dim=" + std::to_string(c.dim) +
                                 ",n_heads=" + std::to_string(c.n_heads) +
                                 ",n_kv_heads=" + std::to_string(c.n_kv_heads) +
                                 ",ffn_dim=" + std::to_string(c.ffn_dim) +
                                 ",vocab_size=" + std::to_string(c.vocab_size) +
                                 ",tie_word_embeddings=" + (c.tie_word_embeddings ? "1" : "0");
        return OrDie(core::MakeLlama3(c, name));
      });
}

rc::Gen<ModelSpec> GenLinearStack() {
  // layers, width, in_features (0 = width), out_features (0 = width), no bias.
  return rc::gen::map(
      rc::gen::tuple(rc::gen::inRange(1, 7), rc::gen::inRange(1, 97), rc::gen::inRange(0, 97),
                     rc::gen::inRange(0, 97), rc::gen::arbitrary<bool>()),
      [](const std::tuple<int, int, int, int, bool>& t) {
        const auto& [layers, width, in, out, no_bias] = t;
        core::LinearStackConfig c;
        c.layers = layers;
        c.width = width;
        c.in_features = in;
        c.out_features = out;
        c.bias = !no_bias;
        const std::string name =
            "linear-stack:layers=" + std::to_string(c.layers) +
            ",width=" + std::to_string(c.width) +
            (c.in_features > 0 ? ",in_features=" + std::to_string(c.in_features) : "") +
            (c.out_features > 0 ? ",out_features=" + std::to_string(c.out_features) : "") +
            ",bias=" + (c.bias ? "1" : "0");
        return OrDie(core::MakeLinearStack(c, name));
      });
}

// Mixture-of-experts models from the Hugging Face families, shrunk by overrides (core/hf_config):
// qwen3_moe (experts only), mixtral (block_sparse_moe) and deepseek_v3 (MLA, dense first
// layers, a shared expert). Experts are 2, 4 or 8, so GenLayout's ep can split them.
rc::Gen<ModelSpec> GenMoe() {
  // family, layers, experts (2^k), hidden per head, heads, expert ffn, vocab.
  return rc::gen::map(
      rc::gen::tuple(rc::gen::inRange(0, 3), rc::gen::inRange(1, 4), rc::gen::inRange(1, 4),
                     rc::gen::inRange(1, 5), rc::gen::inRange(1, 3), rc::gen::inRange(1, 9),
                     rc::gen::inRange(17, 97)),
      [](const std::tuple<int, int, int, int, int, int, int>& t) {
        const auto& [family, layers, log_experts, head_dim, heads, ffn, vocab] = t;
        const std::string experts = std::to_string(1 << log_experts);
        const std::string hidden = std::to_string(2 * head_dim * heads);
        const std::string common =
            "num_hidden_layers=" + std::to_string(layers) + ",hidden_size=" + hidden +
            ",num_attention_heads=" + std::to_string(heads) + ",num_key_value_heads=" +
            std::to_string(heads) + ",vocab_size=" + std::to_string(vocab);
        std::string name;
        if (family == 0) {
          name = "qwen3-30b-a3b:" + common + ",head_dim=" + std::to_string(2 * head_dim) +
                 ",intermediate_size=" + std::to_string(ffn) + ",moe_intermediate_size=" +
                 std::to_string(ffn) + ",num_experts=" + experts + ",num_experts_per_tok=1";
        } else if (family == 1) {
          name = "mixtral-8x7b:" + common + ",intermediate_size=" + std::to_string(ffn) +
                 ",num_local_experts=" + experts + ",num_experts_per_tok=1";
        } else {
          name = "deepseek-v3:" + common + ",first_k_dense_replace=" +
                 std::to_string(layers > 1 ? 1 : 0) + ",n_routed_experts=" + experts +
                 ",intermediate_size=" + std::to_string(2 * ffn) +
                 ",moe_intermediate_size=" + std::to_string(ffn) +
                 ",q_lora_rank=4,kv_lora_rank=4,qk_rope_head_dim=2,qk_nope_head_dim=2,"
                 "v_head_dim=2,n_group=1,topk_group=1,num_experts_per_tok=1";
        }
        return OrDie(core::MakeModel(name));
      });
}

// The number of experts in `model` (1 + the largest expert index; 0 for a dense model).
int NumExperts(const ModelSpec& model) {
  int n = 0;
  for (const core::ParamSpec& p : model.params) n = std::max(n, p.expert + 1);
  return n;
}

// The largest tp every column / row split of `model` allows (no empty shards), capped at 8;
// with `experts_only`, the largest etp its expert parameters allow.
int MaxTp(const ModelSpec& model, bool experts_only = false) {
  int64_t max_tp = 8;
  for (const core::ParamSpec& p : model.params) {
    if (experts_only && p.expert < 0) continue;
    if (p.tp_split == core::TpSplit::kColumn || p.tp_split == core::TpSplit::kRow) {
      max_tp = std::min(max_tp, p.shape[p.tp_dim]);
    }
  }
  return static_cast<int>(max_tp);
}

}  // namespace

rc::Gen<ModelSpec> GenModel() {
  return rc::gen::oneOf(GenGpt2(), GenLlama3(), GenLinearStack(), GenMoe());
}

rc::Gen<LayoutConfig> GenLayout(const ModelSpec& model) {
  const int max_tp = MaxTp(model);
  const int layers = model.num_layers;
  const int experts = NumExperts(model);
  // tp, pp, vpp (clamped below), dp, ep choice, by-params, vocab_divisible_by choice.
  return rc::gen::map(
      rc::gen::tuple(rc::gen::inRange(1, max_tp + 1), rc::gen::inRange(1, layers + 1),
                     rc::gen::inRange(1, layers + 1), rc::gen::inRange(1, 5),
                     rc::gen::inRange(0, 3), rc::gen::arbitrary<bool>(), rc::gen::inRange(0, 3)),
      [layers, experts](const std::tuple<int, int, int, int, int, bool, int>& t) {
        const auto& [tp, pp, vpp, dp, ep_choice, by_params, vocab_choice] = t;
        LayoutConfig c;
        c.tp = tp;
        c.pp = pp;
        c.vpp = pp == 1 ? 1 : std::min(vpp, layers / pp);
        c.dp = dp;
        std::vector<int> divisors;
        for (int d = 1; d <= dp; ++d) {
          if (dp % d == 0 && (experts == 0 || experts % d == 0)) divisors.push_back(d);
        }
        c.ep = divisors[ep_choice % divisors.size()];
        c.partition =
            by_params ? core::PipelinePartition::kByParams : core::PipelinePartition::kByLayers;
        constexpr int kVocabDivisibleBy[] = {1, 2, 128};
        c.vocab_divisible_by = kVocabDivisibleBy[vocab_choice];
        return c;
      });
}

rc::Gen<LayoutConfig> GenLayoutAllAxes(const ModelSpec& model) {
  // cp is 2 one time in four; dp_shard a divisor of dp; the torchtitan convention half the time
  // where ep == 1 (its expert mesh is not modelled); for a model with experts, under Megatron's
  // convention, an etp other than tp half the time (a divisor of tp * cp * dp / ep that its
  // expert weights allow).
  const int max_etp = MaxTp(model, true);
  const bool experts = NumExperts(model) > 0;
  return rc::gen::map(
      rc::gen::pair(GenLayout(model),
                    rc::gen::tuple(rc::gen::inRange(0, 4), rc::gen::inRange(0, 3),
                                   rc::gen::arbitrary<bool>(), rc::gen::inRange(0, 6))),
      [max_etp, experts](const std::pair<LayoutConfig, std::tuple<int, int, bool, int>>& both) {
        LayoutConfig c = both.first;
        const auto& [cp_choice, shard_choice, torchtitan, etp_choice] = both.second;
        std::vector<int> divisors;
        for (int d = 1; d <= c.dp; ++d) {
          if (c.dp % d == 0) divisors.push_back(d);
        }
        c.cp = cp_choice == 3 ? 2 : 1;
        c.dp_shard = divisors[shard_choice % divisors.size()];
        c.mesh = torchtitan && c.ep == 1 ? core::MeshConvention::kTorchtitan
                                         : core::MeshConvention::kMegatron;
        if (experts && c.mesh == core::MeshConvention::kMegatron && etp_choice >= 3) {
          const int per_ep = c.tp * c.cp * c.dp / c.ep;
          std::vector<int> etps;
          for (int d = 1; d <= std::min(per_ep, max_etp); ++d) {
            if (per_ep % d == 0 && d != c.tp) etps.push_back(d);
          }
          if (!etps.empty()) c.etp = etps[etp_choice % etps.size()];
        }
        return c;
      });
}

rc::Gen<uint64_t> GenSeed() { return rc::gen::arbitrary<uint64_t>(); }

std::string_view ModelFamily(const ModelSpec& model) {
  const std::string_view name = model.name;
  return name.substr(0, name.find(':'));
}

std::string Describe(const ModelSpec& model) {
  return "--model " + model.name + " (" + std::to_string(model.num_layers) + " layers, " +
         std::to_string(model.params.size()) + " tensors, " + std::to_string(model.NumParams()) +
         " elements)";
}

std::string Describe(const LayoutConfig& c) {
  return "tp=" + std::to_string(c.tp) + " pp=" + std::to_string(c.pp) +
         " vpp=" + std::to_string(c.vpp) + " dp=" + std::to_string(c.dp) +
         " ep=" + std::to_string(c.ep) + (c.etp > 0 ? " etp=" + std::to_string(c.etp) : "") +
         " cp=" + std::to_string(c.cp) +
         " dp_shard=" + std::to_string(c.dp_shard) + " mesh=" + std::string(core::MeshName(c.mesh)) +
         " partition=" + (c.partition == core::PipelinePartition::kByParams ? "params" : "layers") +
         " vocab_divisible_by=" + std::to_string(c.vocab_divisible_by);
}

}  // namespace twinsim::properties

namespace twinsim::core {
void showValue(const ModelSpec& model, std::ostream& os) { os << properties::Describe(model); }
void showValue(const LayoutConfig& config, std::ostream& os) { os << properties::Describe(config); }
}  // namespace twinsim::core
