#include "core/hf_config.h"

#include <algorithm>
#include <cmath>
#include <iterator>
#include <new>
#include <optional>
#include <string>
#include <utility>

#include "core/text.h"

namespace twinsim::core {

// Note [Which transformers]
// ~~~~~~~~~~~~~~~~~~~~~~~~~
// Every family below is read from huggingface/transformers at tag v4.57.1 (commit
// 8cb5963cc22174954e7dca2c0a3320b7dc2f4edc), src/transformers/models/<family>/modeling_<family>.py
// and configuration_<family>.py; line numbers below are that tag's. 4.57 is the last release
// line whose MoE experts are per-expert nn.Linear modules (mlp.experts.<e>.gate_proj.weight ...);
// transformers 5.x fuses each layer's experts into 3-D tensors, which changes names, shapes and
// count of tensors (not the number of elements). A 5.x model is not modelled here.
//
// What every family shares (modeling_utils.py PreTrainedModel._init_weights, lines 2910-2944):
// nn.Linear and nn.Embedding weights normal(0, initializer_range), Linear biases zero, and any
// module whose class name contains "RMSNorm" or "LayerNorm" weight one, bias zero. named_parameters()
// walks a module's own parameters, then its children in registration order, so the order below
// is the order of the assignments in each __init__ (a Linear's weight before its bias).
// Not expressible as an InitSpec and so not modelled: nn.Embedding's padding_idx row, which
// _init_weights zeroes after drawing (pad_token_id: Gemma's 0, Phi-3's 32000; Llama, Mixtral,
// Qwen and DeepSeek-V3 configs leave it null).
//
// Note [Decoder families as transformers v4.57.1 builds them]
// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
// model.embed_tokens.weight [vocab, d]; per layer i, model.layers.<i>.:
//   self_attn: q_proj, k_proj, v_proj, o_proj ([heads*hd, d], [kv*hd, d], [kv*hd, d],
//     [d, heads*hd]), each weight then its bias where the family has one;
//     then q_norm, k_norm [hd] (qwen3, qwen3_moe, gemma3_text);
//   mlp: gate_proj, up_proj, down_proj ([ffn, d], [ffn, d], [d, ffn]) or the family's MoE block;
//   input_layernorm, post_attention_layernorm [d]; gemma2/gemma3_text add
//   pre_feedforward_layernorm and post_feedforward_layernorm [d];
// model.norm.weight [d]; lm_head.weight [vocab, d], tied to embed_tokens when
// tie_word_embeddings (ForCausalLM._tied_weights_keys), and then counted once.
// hd is head_dim where the config has one, else hidden_size / num_attention_heads.
// Per family, where it departs from that (file: lines):
//   llama (modeling_llama.py: 143-151 MLP, 197-222 attention, 268-277 layer, 334-344 model,
//     413-422 head): attention_bias puts a bias on all four projections, mlp_bias on all three.
//   mistral (modeling_mistral.py: 35-43, 123-138, 187-214, 307-317, 387-396): no biases.
//   qwen2 (modeling_qwen2.py: 34-42, 122-137, 310-320, 403-412): q/k/v biases always, o none.
//   qwen3 (modeling_qwen3.py: 158-184, 241-242, 336-346, 429-438): q_norm/k_norm after o_proj;
//     attention_bias on all four projections; head_dim defaults to 128 (configuration_qwen3.py).
//   phi3 (modeling_phi3.py: 50-56 MLP, 145-161 attention, 236-243 layer, 339-349, 419-428):
//     self_attn.o_proj [d, heads*hd] is registered BEFORE self_attn.qkv_proj
//     [(heads + 2*kv)*hd, d]; mlp.gate_up_proj [2*ffn, d], mlp.down_proj [d, ffn].
//   gemma2 (modeling_gemma2.py: 50-54 norm, 203-226, 278-290, 356-363 init, 365-375, 495-504):
//     Gemma2RMSNorm computes x * (1 + w) and stores w = zeros; Gemma2PreTrainedModel.
//     _init_weights zeroes every RMSNorm weight after the generic fill with ones, so norms
//     init to 0. head_dim defaults to 256; tie_word_embeddings defaults to true.
//   gemma3_text (modeling_gemma3.py: 97-104 scaled embedding, an nn.Embedding; 126-130 norm,
//     263-293 attention with q_norm/k_norm, 344-356 layer, 433-441 init, 456-471 model,
//     602-613 Gemma3ForCausalLM): as gemma2 plus q_norm/k_norm (zeros as well).
// Mixture-of-experts blocks (expert e gets ParamSpec::expert = e):
//   mixtral (modeling_mixtral.py: 57-65 expert, 75-97 block, 298-307 layer, 566-575 head): the
//     layer's block is `block_sparse_moe`: gate.weight [E, d], then experts.<e>.w1 [ffn, d],
//     w2 [d, ffn], w3 [ffn, d] (that order).
//   qwen2_moe (modeling_qwen2_moe.py: 243-251 MLP, 273-308 attention with qkv_bias, 589-603
//     block, 652-667 layer, 758-770 init): mlp.gate.weight [E, d], experts.<e>.{gate,up,down}_proj
//     at moe_intermediate_size, shared_expert.{gate,up,down}_proj at
//     shared_expert_intermediate_size, shared_expert_gate.weight [1, d]. A layer is sparse when
//     it is not in mlp_only_layers, num_experts > 0 and (i + 1) % decoder_sparse_step == 0; a
//     dense layer has a plain mlp at intermediate_size.
//   qwen3_moe (modeling_qwen3_moe.py: 122-148 attention, 197-205, 213-222 block, 288-303 layer):
//     as qwen2_moe without shared expert; attention as qwen3.
//   deepseek_v3 (modeling_deepseek_v3.py: 92-101 MLP, 109-121 router, 156-172 MoE, 327-368
//     attention, 449-462 layer, 516-519 init, 523-535 model, 604-613 head): multi-head latent
//     attention: q_a_proj [q_lora, d] (bias if attention_bias), q_a_layernorm [q_lora],
//     q_b_proj [heads*(nope+rope), q_lora] — or, when q_lora_rank is null, one q_proj
//     [heads*(nope+rope), d] — then kv_a_proj_with_mqa [kv_lora+rope, d] (bias if
//     attention_bias), kv_a_layernorm [kv_lora], kv_b_proj [heads*(nope+v), kv_lora], o_proj
//     [d, heads*v] (bias if attention_bias). Layers i < first_k_dense_replace have a dense mlp at
//     intermediate_size; the others: experts.<e>.{gate,up,down}_proj at moe_intermediate_size
//     FIRST, then gate.weight [E, d] (DeepseekV3TopkRouter, drawn normal(0, r) by the override),
//     then shared_experts.{gate,up,down}_proj at moe_intermediate_size * n_shared_experts.
//     The router's e_score_correction_bias [E] is a registered buffer in v4.57.1 (line 121),
//     not a parameter: it is in the state dict but not in parameters() or num_parameters(),
//     so it is not in the spec (DeepSeek's own modeling_deepseek.py makes it an nn.Parameter).
//     The multi-token-prediction layer (num_nextn_predict_layers, model.layers.61 in the
//     checkpoint) is not built: DeepseekV3Model builds num_hidden_layers layers and ignores
//     layer 61's weights on load (_keys_to_ignore_on_load_unexpected, line 524), so
//     num_nextn_predict_layers is read by nothing here.
// GPT-2 (modeling_gpt2.py GPT2LMHeadModel) is Note [GPT-2 as Hugging Face builds it] in
// model_presets.cc, built here from n_layer, n_embd, n_head, n_inner, vocab_size, n_positions.
//
// Note [Tensor-parallel split of Hugging Face parameters]
// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
// As Note [TP splits follow Megatron] in model_presets.cc: q/k/v, gate/up, fused qkv_proj and
// gate_up_proj, MLA's q_b_proj and kv_b_proj are column-parallel (dim 0 of nn.Linear's
// [out, in], biases with them); o_proj, down_proj and w2 row-parallel (dim 1), their biases
// replicated; embed_tokens and lm_head split the vocabulary; norms (q/k norms, MLA's a-norms),
// routers, shared_expert_gate and MLA's down-projections q_a_proj and kv_a_proj_with_mqa are
// replicated, as Megatron-Core keeps its MLA down-projections whole on every TP rank. Experts
// are split over EP by their expert index (Note [Expert parallelism] in parallel_layout.h) and,
// with expert-tensor size = tp, column/row inside each expert as a dense MLP. Contiguous shards
// of the fused qkv_proj and gate_up_proj do not hold whole heads or matching gate/up rows (see
// the same caveat for GPT-2's c_attn); element ownership, which is what init checks, is exact.

namespace {

using nlohmann::json;

constexpr int64_t kMaxLayers = 10000;
constexpr int64_t kMaxSize = int64_t{1} << 24;  // any width, vocabulary, head or expert count

// The model_type values, in the order messages list them.
constexpr std::string_view kTypes[] = {"gpt2",      "llama",     "mistral",    "mixtral",
                                       "qwen2",     "qwen2_moe", "qwen3",      "qwen3_moe",
                                       "phi3",      "gemma2",    "gemma3_text", "deepseek_v3"};

// A JSON value for a message: one line, at most 40 characters.
std::string Shown(const json& value) {
  std::string text = value.dump(-1, ' ', false, json::error_handler_t::replace);
  if (text.size() > 40) text = text.substr(0, 37) + "...";
  return text;
}

std::string_view TypeName(const json& value) {
  if (value.is_number_integer()) return "integer";
  if (value.is_number_float()) return "number";
  return value.type_name();
}

// Reads one config's keys; every error is one line naming the file and the key.
class Reader {
 public:
  Reader(const json& config, std::string_view source) : config_(config), source_(source) {}

  Status Error(std::string message) const {
    return Status::InvalidArgument(std::string(source_) + ": " + std::move(message));
  }

  bool Has(std::string_view key) const { return config_.find(key) != config_.end(); }

  // The value of `key`, or nullptr when absent or null.
  const json* Find(std::string_view key) const {
    auto it = config_.find(key);
    if (it == config_.end() || it->is_null()) return nullptr;
    return &*it;
  }

  // A required integer in [min, max]; absent or null is an error.
  StatusOr<int64_t> Int(std::string_view key, int64_t min = 1, int64_t max = kMaxSize) const {
    const json* v = Find(key);
    if (v == nullptr) {
      return Error("missing key " + Quote(key) + " (an integer in [" + std::to_string(min) +
                   ", " + std::to_string(max) + "])");
    }
    return ToInt(key, *v, min, max);
  }

  // An integer in [min, max], or `fallback` when the key is absent or null.
  StatusOr<int64_t> IntOr(std::string_view key, int64_t fallback, int64_t min = 1,
                          int64_t max = kMaxSize) const {
    const json* v = Find(key);
    if (v == nullptr) return fallback;
    return ToInt(key, *v, min, max);
  }

  StatusOr<bool> BoolOr(std::string_view key, bool fallback) const {
    const json* v = Find(key);
    if (v == nullptr) return fallback;
    if (!v->is_boolean()) {
      return Error("key " + Quote(key) + ": expected true or false, got " + std::string(TypeName(*v)) +
                   " " + Shown(*v));
    }
    return v->get<bool>();
  }

  StatusOr<double> PositiveOr(std::string_view key, double fallback) const {
    const json* v = Find(key);
    if (v == nullptr) return fallback;
    if (!v->is_number() || !std::isfinite(v->get<double>()) || !(v->get<double>() > 0)) {
      return Error("key " + Quote(key) + ": expected a positive finite number, got " +
                   Shown(*v));
    }
    return v->get<double>();
  }

  // A list of layer indices in [0, layers) (empty when absent or null).
  StatusOr<std::vector<int64_t>> LayerListOr(std::string_view key, int64_t layers) const {
    std::vector<int64_t> out;
    const json* v = Find(key);
    if (v == nullptr) return out;
    if (!v->is_array()) {
      return Error("key " + Quote(key) + ": expected a list of layer indices, got " +
                   std::string(TypeName(*v)) + " " + Shown(*v));
    }
    for (const json& item : *v) {
      StatusOr<int64_t> i = ToInt(key, item, 0, layers - 1);
      if (!i.ok()) return i.status();
      out.push_back(*i);
    }
    return out;
  }

 private:
  StatusOr<int64_t> ToInt(std::string_view key, const json& v, int64_t min, int64_t max) const {
    bool in_range = false;
    int64_t value = 0;
    if (v.is_number_unsigned()) {
      const uint64_t u = v.get<uint64_t>();
      in_range = u <= static_cast<uint64_t>(max) && static_cast<int64_t>(u) >= min;
      value = in_range ? static_cast<int64_t>(u) : 0;
    } else if (v.is_number_integer()) {
      value = v.get<int64_t>();
      in_range = value >= min && value <= max;
    }
    if (!v.is_number_integer() || !in_range) {
      return Error("key " + Quote(key) + ": expected an integer in [" + std::to_string(min) +
                   ", " + std::to_string(max) + "], got " +
                   (v.is_number_integer() ? "" : std::string(TypeName(v)) + " ") + Shown(v));
    }
    return value;
  }

  const json& config_;
  std::string_view source_;
};

InitSpec Normal(double std) { return NormalInit(std); }
InitSpec Constant(double value) { return ConstantInit(value); }

constexpr TpSplit kRep = TpSplit::kReplicated, kCol = TpSplit::kColumn, kRow = TpSplit::kRow;

// Appends ParamSpecs in registration order.
struct Builder {
  ModelSpec model;
  InitSpec weight, zero = Constant(0.0), norm = Constant(1.0);
  int layer = -1;
  int expert = -1;
  ParamRole role = ParamRole::kLayer;

  ParamSpec& Add(std::string name, std::vector<int64_t> shape, const InitSpec& init,
                 TpSplit split) {
    ParamSpec& p = model.params.emplace_back();
    p.name = std::move(name);
    p.shape = std::move(shape);
    p.dtype = DType::kFp32;
    p.init = init;
    p.tp_split = split;
    p.tp_dim = split == kRep ? -1 : (split == kRow ? 1 : 0);
    p.role = role;
    p.layer = role == ParamRole::kLayer ? layer : -1;
    p.expert = expert;
    return p;
  }
  // nn.Linear(in, out, bias): weight [out, in] then bias [out]. A row-parallel layer keeps its
  // bias whole; a column-parallel one splits it with the weight.
  void Linear(const std::string& name, int64_t in, int64_t out, TpSplit split, bool bias) {
    Add(name + ".weight", {out, in}, weight, split);
    if (bias) Add(name + ".bias", {out}, zero, split == kCol ? kCol : kRep);
  }
  void Norm(const std::string& name, int64_t dim) { Add(name + ".weight", {dim}, norm, kRep); }
};

// ---------------------------------------------------------------------------------------------
// Decoder-only families (Note [Decoder families as transformers v4.57.1 builds them]).

enum class Moe { kNone, kMixtral, kQwen, kDeepseek };

struct Decoder {
  int64_t vocab = 0, hidden = 0, layers = 0, heads = 0, kv_heads = 0, head_dim = 0, ffn = 0;
  double range = 0.02;
  bool tie = false;
  bool qkv_bias = false, o_bias = false, mlp_bias = false;
  bool qk_norm = false;   // qwen3, qwen3_moe, gemma3_text
  bool fused = false;     // phi3: o_proj, qkv_proj, gate_up_proj
  bool sandwich = false;  // gemma: pre/post feed-forward norms
  double norm_init = 1.0;
  Moe moe = Moe::kNone;
  int64_t experts = 0, moe_ffn = 0, shared_ffn = 0;
  bool shared_gate = false;  // qwen2_moe's shared_expert_gate
  std::vector<bool> sparse;  // per layer: an MoE block instead of a dense MLP
  bool mla = false;          // deepseek_v3
  std::optional<int64_t> q_lora;
  int64_t kv_lora = 0, rope = 0, nope = 0, v_head = 0;
};

// What differs between the families' PretrainedConfig defaults.
struct Defaults {
  int64_t kv_heads = 0;  // 0: num_attention_heads
  int64_t head_dim = 0;  // 0: hidden_size / num_attention_heads
  bool tie = false;
};

// The keys every decoder family reads: sizes, attention heads, head_dim, init range, tying.
Status ReadCommon(const Reader& r, const Defaults& d, bool mla, Decoder& m) {
  TWINSIM_ASSIGN_OR_RETURN(m.vocab, r.Int("vocab_size"));
  TWINSIM_ASSIGN_OR_RETURN(m.hidden, r.Int("hidden_size"));
  TWINSIM_ASSIGN_OR_RETURN(m.ffn, r.Int("intermediate_size"));
  TWINSIM_ASSIGN_OR_RETURN(m.layers, r.Int("num_hidden_layers", 1, kMaxLayers));
  TWINSIM_ASSIGN_OR_RETURN(m.heads, r.Int("num_attention_heads"));
  TWINSIM_ASSIGN_OR_RETURN(m.kv_heads,
                              r.IntOr("num_key_value_heads", d.kv_heads ? d.kv_heads : m.heads));
  TWINSIM_ASSIGN_OR_RETURN(m.range, r.PositiveOr("initializer_range", 0.02));
  TWINSIM_ASSIGN_OR_RETURN(m.tie, r.BoolOr("tie_word_embeddings", d.tie));
  if (m.heads % m.kv_heads != 0) {
    return r.Error("num_attention_heads=" + std::to_string(m.heads) +
                   " is not divisible by num_key_value_heads=" + std::to_string(m.kv_heads) +
                   " (each key/value head serves num_attention_heads/num_key_value_heads query "
                   "heads)");
  }
  if (mla) return Status::Ok();  // MLA's head sizes are their own keys
  const json* head_dim = r.Find("head_dim");
  if (head_dim == nullptr && d.head_dim == 0 && m.hidden % m.heads != 0) {
    return r.Error("hidden_size=" + std::to_string(m.hidden) +
                   " is not divisible by num_attention_heads=" + std::to_string(m.heads) +
                   " (each head takes hidden_size/num_attention_heads features; or give "
                   "head_dim)");
  }
  TWINSIM_ASSIGN_OR_RETURN(m.head_dim,
                              r.IntOr("head_dim", d.head_dim ? d.head_dim : m.hidden / m.heads));
  return Status::Ok();
}

// qwen2_moe / qwen3_moe: which layers carry the MoE block (modeling_qwen3_moe.py 295-300).
Status ReadQwenSparse(const Reader& r, Decoder& m) {
  TWINSIM_ASSIGN_OR_RETURN(m.experts, r.Int("num_experts", 0));
  TWINSIM_ASSIGN_OR_RETURN(m.moe_ffn, r.Int("moe_intermediate_size"));
  int64_t step = 1;
  TWINSIM_ASSIGN_OR_RETURN(step, r.IntOr("decoder_sparse_step", 1));
  std::vector<int64_t> dense;
  TWINSIM_ASSIGN_OR_RETURN(dense, r.LayerListOr("mlp_only_layers", m.layers));
  m.sparse.assign(m.layers, false);
  for (int64_t i = 0; i < m.layers; ++i) {
    m.sparse[i] = std::find(dense.begin(), dense.end(), i) == dense.end() && m.experts > 0 &&
                  (i + 1) % step == 0;
  }
  return Status::Ok();
}

StatusOr<Decoder> ReadDecoder(const Reader& r, std::string_view type) {
  Decoder m;
  if (type == "llama") {
    TWINSIM_RETURN_IF_ERROR(ReadCommon(r, {}, false, m));
    TWINSIM_ASSIGN_OR_RETURN(m.qkv_bias, r.BoolOr("attention_bias", false));
    m.o_bias = m.qkv_bias;
    TWINSIM_ASSIGN_OR_RETURN(m.mlp_bias, r.BoolOr("mlp_bias", false));
  } else if (type == "mistral") {
    TWINSIM_RETURN_IF_ERROR(ReadCommon(r, {.kv_heads = 8}, false, m));
  } else if (type == "mixtral") {
    TWINSIM_RETURN_IF_ERROR(ReadCommon(r, {.kv_heads = 8}, false, m));
    m.moe = Moe::kMixtral;
    TWINSIM_ASSIGN_OR_RETURN(m.experts, r.Int("num_local_experts"));
    m.moe_ffn = m.ffn;
    m.sparse.assign(m.layers, true);
  } else if (type == "qwen2") {
    TWINSIM_RETURN_IF_ERROR(ReadCommon(r, {.kv_heads = 32}, false, m));
    m.qkv_bias = true;
  } else if (type == "qwen2_moe") {
    TWINSIM_RETURN_IF_ERROR(ReadCommon(r, {.kv_heads = 16}, false, m));
    TWINSIM_ASSIGN_OR_RETURN(m.qkv_bias, r.BoolOr("qkv_bias", true));
    m.moe = Moe::kQwen;
    TWINSIM_RETURN_IF_ERROR(ReadQwenSparse(r, m));
    TWINSIM_ASSIGN_OR_RETURN(m.shared_ffn, r.Int("shared_expert_intermediate_size"));
    m.shared_gate = true;
  } else if (type == "qwen3" || type == "qwen3_moe") {
    TWINSIM_RETURN_IF_ERROR(ReadCommon(
        r, {.kv_heads = type == "qwen3" ? 32 : 4, .head_dim = type == "qwen3" ? 128 : 0}, false,
        m));
    TWINSIM_ASSIGN_OR_RETURN(m.qkv_bias, r.BoolOr("attention_bias", false));
    m.o_bias = m.qkv_bias;
    m.qk_norm = true;
    if (type == "qwen3_moe") {
      m.moe = Moe::kQwen;
      TWINSIM_RETURN_IF_ERROR(ReadQwenSparse(r, m));
    }
  } else if (type == "phi3") {
    TWINSIM_RETURN_IF_ERROR(ReadCommon(r, {}, false, m));
    m.fused = true;
  } else if (type == "gemma2" || type == "gemma3_text") {
    TWINSIM_RETURN_IF_ERROR(ReadCommon(r, {.kv_heads = 4, .head_dim = 256, .tie = true}, false, m));
    TWINSIM_ASSIGN_OR_RETURN(m.qkv_bias, r.BoolOr("attention_bias", false));
    m.o_bias = m.qkv_bias;
    m.sandwich = true;
    m.norm_init = 0.0;
    m.qk_norm = type == "gemma3_text";
  } else if (type == "deepseek_v3") {
    TWINSIM_RETURN_IF_ERROR(ReadCommon(r, {.kv_heads = 128}, true, m));
    m.mla = true;
    TWINSIM_ASSIGN_OR_RETURN(m.qkv_bias, r.BoolOr("attention_bias", false));
    m.o_bias = m.qkv_bias;
    // q_lora_rank may be null (one q_proj, as DeepSeek-V2-Lite has) but must be present:
    // DeepseekV3Config's default (1536) is DeepSeek-V3's size, not a neutral one.
    if (!r.Has("q_lora_rank")) {
      return r.Error("missing key 'q_lora_rank' (an integer in [1, " + std::to_string(kMaxSize) +
                     "], or null for a single q_proj)");
    }
    if (r.Find("q_lora_rank") != nullptr) {
      TWINSIM_ASSIGN_OR_RETURN(m.q_lora, r.Int("q_lora_rank"));
    }
    TWINSIM_ASSIGN_OR_RETURN(m.kv_lora, r.Int("kv_lora_rank"));
    TWINSIM_ASSIGN_OR_RETURN(m.rope, r.Int("qk_rope_head_dim"));
    TWINSIM_ASSIGN_OR_RETURN(m.nope, r.Int("qk_nope_head_dim"));
    TWINSIM_ASSIGN_OR_RETURN(m.v_head, r.Int("v_head_dim"));
    m.moe = Moe::kDeepseek;
    TWINSIM_ASSIGN_OR_RETURN(m.experts, r.Int("n_routed_experts"));
    TWINSIM_ASSIGN_OR_RETURN(m.moe_ffn, r.Int("moe_intermediate_size"));
    int64_t shared = 1, first_dense = 3;
    TWINSIM_ASSIGN_OR_RETURN(shared, r.IntOr("n_shared_experts", 1));
    TWINSIM_ASSIGN_OR_RETURN(first_dense, r.IntOr("first_k_dense_replace", 3, 0, m.layers));
    m.shared_ffn = m.moe_ffn * shared;
    m.sparse.assign(m.layers, false);
    for (int64_t i = first_dense; i < m.layers; ++i) m.sparse[i] = true;
  }
  return m;
}

// An upper bound on the tensors `m` describes, to refuse a config before building it.
int64_t TensorBound(const Decoder& m) {
  int64_t per_layer = 24;
  int64_t sparse_layers = 0;
  for (bool s : m.sparse) sparse_layers += s ? 1 : 0;
  return 3 + m.layers * per_layer + sparse_layers * (3 * m.experts + 5);
}

// The MLP of one layer: dense, or the family's MoE block (Note [Decoder families ...]).
void AddMlp(Builder& b, const Decoder& m, const std::string& l, bool sparse) {
  auto gated = [&](const std::string& p, int64_t ffn, const char* gate, const char* up,
                   const char* down, bool bias) {
    b.Linear(p + gate, m.hidden, ffn, kCol, bias);
    b.Linear(p + up, m.hidden, ffn, kCol, bias);
    b.Linear(p + down, ffn, m.hidden, kRow, bias);
  };
  if (!sparse) {
    if (m.fused) {
      b.Linear(l + "mlp.gate_up_proj", m.hidden, 2 * m.ffn, kCol, false);
      b.Linear(l + "mlp.down_proj", m.ffn, m.hidden, kRow, false);
    } else {
      gated(l + "mlp.", m.ffn, "gate_proj", "up_proj", "down_proj", m.mlp_bias);
    }
    return;
  }
  auto experts = [&](const std::string& p) {
    for (int64_t e = 0; e < m.experts; ++e) {
      b.expert = static_cast<int>(e);
      const std::string x = p + "experts." + std::to_string(e) + ".";
      if (m.moe == Moe::kMixtral) {
        // w1 (gate), w2 (down), w3 (up), in that registration order.
        b.Linear(x + "w1", m.hidden, m.moe_ffn, kCol, false);
        b.Linear(x + "w2", m.moe_ffn, m.hidden, kRow, false);
        b.Linear(x + "w3", m.hidden, m.moe_ffn, kCol, false);
      } else {
        gated(x, m.moe_ffn, "gate_proj", "up_proj", "down_proj", false);
      }
    }
    b.expert = -1;
  };
  switch (m.moe) {
    case Moe::kMixtral:
      b.Linear(l + "block_sparse_moe.gate", m.hidden, m.experts, kRep, false);
      experts(l + "block_sparse_moe.");
      break;
    case Moe::kQwen:
      b.Linear(l + "mlp.gate", m.hidden, m.experts, kRep, false);
      experts(l + "mlp.");
      if (m.shared_gate) {
        gated(l + "mlp.shared_expert.", m.shared_ffn, "gate_proj", "up_proj", "down_proj", false);
        b.Linear(l + "mlp.shared_expert_gate", m.hidden, 1, kRep, false);
      }
      break;
    case Moe::kDeepseek:
      experts(l + "mlp.");
      b.Add(l + "mlp.gate.weight", {m.experts, m.hidden}, b.weight, kRep);
      gated(l + "mlp.shared_experts.", m.shared_ffn, "gate_proj", "up_proj", "down_proj", false);
      break;
    case Moe::kNone:
      break;
  }
}

void AddAttention(Builder& b, const Decoder& m, const std::string& l) {
  const std::string a = l + "self_attn.";
  const int64_t d = m.hidden;
  if (m.mla) {
    const int64_t qk = m.nope + m.rope;
    if (m.q_lora) {
      b.Linear(a + "q_a_proj", d, *m.q_lora, kRep, m.qkv_bias);
      b.Norm(a + "q_a_layernorm", *m.q_lora);
      b.Linear(a + "q_b_proj", *m.q_lora, m.heads * qk, kCol, false);
    } else {
      b.Linear(a + "q_proj", d, m.heads * qk, kCol, false);
    }
    b.Linear(a + "kv_a_proj_with_mqa", d, m.kv_lora + m.rope, kRep, m.qkv_bias);
    b.Norm(a + "kv_a_layernorm", m.kv_lora);
    b.Linear(a + "kv_b_proj", m.kv_lora, m.heads * (m.nope + m.v_head), kCol, false);
    b.Linear(a + "o_proj", m.heads * m.v_head, d, kRow, m.o_bias);
    return;
  }
  const int64_t q_out = m.heads * m.head_dim, kv_out = m.kv_heads * m.head_dim;
  if (m.fused) {
    b.Linear(a + "o_proj", q_out, d, kRow, false);
    b.Linear(a + "qkv_proj", d, q_out + 2 * kv_out, kCol, false);
    return;
  }
  b.Linear(a + "q_proj", d, q_out, kCol, m.qkv_bias);
  b.Linear(a + "k_proj", d, kv_out, kCol, m.qkv_bias);
  b.Linear(a + "v_proj", d, kv_out, kCol, m.qkv_bias);
  b.Linear(a + "o_proj", q_out, d, kRow, m.o_bias);
  if (m.qk_norm) {
    b.Norm(a + "q_norm", m.head_dim);
    b.Norm(a + "k_norm", m.head_dim);
  }
}

StatusOr<ModelSpec> BuildDecoder(const Decoder& m, std::string name) {
  Builder b;
  b.weight = Normal(m.range);
  b.norm = Constant(m.norm_init);
  b.model.name = std::move(name);
  b.model.num_layers = static_cast<int>(m.layers);
  b.model.num_heads = static_cast<int>(m.heads);
  b.model.params.reserve(static_cast<size_t>(TensorBound(m)));
  b.role = ParamRole::kEmbedding;
  b.Add("model.embed_tokens.weight", {m.vocab, m.hidden}, b.weight, TpSplit::kVocab);
  b.role = ParamRole::kLayer;
  for (int64_t i = 0; i < m.layers; ++i) {
    b.layer = static_cast<int>(i);
    const std::string l = "model.layers." + std::to_string(i) + ".";
    AddAttention(b, m, l);
    AddMlp(b, m, l, !m.sparse.empty() && m.sparse[i]);
    b.Norm(l + "input_layernorm", m.hidden);
    b.Norm(l + "post_attention_layernorm", m.hidden);
    if (m.sandwich) {
      b.Norm(l + "pre_feedforward_layernorm", m.hidden);
      b.Norm(l + "post_feedforward_layernorm", m.hidden);
    }
  }
  b.layer = -1;
  b.role = ParamRole::kFinalNorm;
  b.Norm("model.norm", m.hidden);
  b.role = ParamRole::kHead;
  ParamSpec& head = b.Add("lm_head.weight", {m.vocab, m.hidden}, b.weight, TpSplit::kVocab);
  if (m.tie) head.tied_to = "model.embed_tokens.weight";
  TWINSIM_RETURN_IF_ERROR(ValidateModelSpec(b.model));
  return std::move(b.model);
}

// ---------------------------------------------------------------------------------------------
// GPT-2: Note [GPT-2 as Hugging Face builds it] in model_presets.cc (the same names, shapes,
// inits and splits as MakeGpt2; hf_config_test checks they agree).

StatusOr<ModelSpec> BuildGpt2(const Reader& r, std::string name) {
  int64_t layers = 0, d = 0, heads = 0, vocab = 0, positions = 0, inner = 0;
  double range = 0.02;
  bool tie = true, cross = false;
  TWINSIM_ASSIGN_OR_RETURN(vocab, r.Int("vocab_size"));
  TWINSIM_ASSIGN_OR_RETURN(positions, r.Int("n_positions"));
  TWINSIM_ASSIGN_OR_RETURN(d, r.Int("n_embd"));
  TWINSIM_ASSIGN_OR_RETURN(layers, r.Int("n_layer", 1, kMaxLayers));
  TWINSIM_ASSIGN_OR_RETURN(heads, r.Int("n_head"));
  TWINSIM_ASSIGN_OR_RETURN(inner, r.IntOr("n_inner", 4 * d, 1, 4 * kMaxSize));
  TWINSIM_ASSIGN_OR_RETURN(range, r.PositiveOr("initializer_range", 0.02));
  TWINSIM_ASSIGN_OR_RETURN(tie, r.BoolOr("tie_word_embeddings", true));
  TWINSIM_ASSIGN_OR_RETURN(cross, r.BoolOr("add_cross_attention", false));
  if (cross) {
    return r.Error("add_cross_attention=true (GPT-2 as an encoder-decoder's decoder) is not "
                   "supported; twinsim models GPT2LMHeadModel without cross-attention");
  }
  if (d % heads != 0) {
    return r.Error("n_embd=" + std::to_string(d) + " is not divisible by n_head=" +
                   std::to_string(heads) + " (each head takes n_embd/n_head features)");
  }
  Builder b;
  b.weight = Normal(range);
  const InitSpec residual = Normal(range / std::sqrt(2.0 * static_cast<double>(layers)));
  b.model.name = std::move(name);
  b.model.num_layers = static_cast<int>(layers);
  b.model.num_heads = static_cast<int>(heads);
  b.model.params.reserve(4 + 12 * static_cast<size_t>(layers));
  b.role = ParamRole::kEmbedding;
  auto add = [&](std::string n, std::vector<int64_t> shape, const InitSpec& init, TpSplit split,
                 int dim) -> ParamSpec& {
    ParamSpec& p = b.Add(std::move(n), std::move(shape), init, split);
    p.tp_dim = dim;  // Conv1D stores [in, out]: column splits dim 1, row dim 0
    return p;
  };
  add("transformer.wte.weight", {vocab, d}, b.weight, TpSplit::kVocab, 0);
  add("transformer.wpe.weight", {positions, d}, b.weight, kRep, -1);
  b.role = ParamRole::kLayer;
  for (int64_t i = 0; i < layers; ++i) {
    b.layer = static_cast<int>(i);
    const std::string h = "transformer.h." + std::to_string(i) + ".";
    add(h + "ln_1.weight", {d}, b.norm, kRep, -1);
    add(h + "ln_1.bias", {d}, b.zero, kRep, -1);
    add(h + "attn.c_attn.weight", {d, 3 * d}, b.weight, kCol, 1);
    add(h + "attn.c_attn.bias", {3 * d}, b.zero, kCol, 0);
    add(h + "attn.c_proj.weight", {d, d}, residual, kRow, 0);
    add(h + "attn.c_proj.bias", {d}, b.zero, kRep, -1);
    add(h + "ln_2.weight", {d}, b.norm, kRep, -1);
    add(h + "ln_2.bias", {d}, b.zero, kRep, -1);
    add(h + "mlp.c_fc.weight", {d, inner}, b.weight, kCol, 1);
    add(h + "mlp.c_fc.bias", {inner}, b.zero, kCol, 0);
    add(h + "mlp.c_proj.weight", {inner, d}, residual, kRow, 0);
    add(h + "mlp.c_proj.bias", {d}, b.zero, kRep, -1);
  }
  b.layer = -1;
  b.role = ParamRole::kFinalNorm;
  add("transformer.ln_f.weight", {d}, b.norm, kRep, -1);
  add("transformer.ln_f.bias", {d}, b.zero, kRep, -1);
  b.role = ParamRole::kHead;
  ParamSpec& head = add("lm_head.weight", {vocab, d}, b.weight, TpSplit::kVocab, 0);
  if (tie) head.tied_to = "transformer.wte.weight";
  TWINSIM_RETURN_IF_ERROR(ValidateModelSpec(b.model));
  return std::move(b.model);
}

StatusOr<ModelSpec> FromConfig(const json& config, std::string_view source, std::string name,
                               const HfConfigLimits& limits) {
  const Reader r(config, source);
  std::vector<std::string_view> types(std::begin(kTypes), std::end(kTypes));
  if (!config.is_object()) {
    return r.Error("expected a JSON object (a Hugging Face config.json), got " +
                   std::string(TypeName(config)));
  }
  const json* type_value = r.Find("model_type");
  if (type_value == nullptr) {
    return r.Error("missing key 'model_type' (one of " + Join(types) + ")");
  }
  if (!type_value->is_string()) {
    return r.Error("key 'model_type': expected a string, got " +
                   std::string(TypeName(*type_value)) + " " + Shown(*type_value));
  }
  const std::string& type = type_value->get_ref<const std::string&>();
  if (std::find(types.begin(), types.end(), type) == types.end()) {
    return r.Error("unknown model_type " + Quote(type) + DidYouMean(type, types) +
                   "; supported: " + Join(types));
  }
  if (type == "gpt2") {
    const StatusOr<int64_t> layers = r.IntOr("n_layer", 0, 0, kMaxLayers);
    if (layers.ok() && 4 + 12 * *layers > limits.max_tensors) {
      return r.Error("the config describes " + std::to_string(4 + 12 * *layers) +
                     " tensors, more than the limit of " + std::to_string(limits.max_tensors));
    }
    return BuildGpt2(r, std::move(name));
  }
  StatusOr<Decoder> m = ReadDecoder(r, type);
  if (!m.ok()) return m.status();
  const int64_t bound = TensorBound(*m);
  if (bound > limits.max_tensors) {
    return r.Error("the config describes up to " + std::to_string(bound) +
                   " tensors, more than the limit of " + std::to_string(limits.max_tensors));
  }
  return BuildDecoder(*m, std::move(name));
}

}  // namespace

StatusOr<ModelSpec> ModelSpecFromHfConfig(const nlohmann::json& config, std::string_view source,
                                          std::string name, const HfConfigLimits& limits) {
  try {
    StatusOr<ModelSpec> model = FromConfig(config, source, std::move(name), limits);
    if (!model.ok() && model.status().message().rfind(std::string(source), 0) != 0) {
      // ValidateModelSpec's messages name the model, not the file.
      return Status::InvalidArgument(std::string(source) + ": " + model.status().message());
    }
    return model;
  } catch (const nlohmann::json::exception& e) {
    return Status::InvalidArgument(std::string(source) + ": " + e.what());
  } catch (const std::bad_alloc&) {
    return Status::ResourceExhausted(std::string(source) + ": out of memory building the model");
  }
}

std::vector<std::string> HfModelTypes() {
  return std::vector<std::string>(std::begin(kTypes), std::end(kTypes));
}

}  // namespace twinsim::core
