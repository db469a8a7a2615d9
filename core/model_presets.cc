#include "core/model_presets.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <functional>
#include <initializer_list>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>

#include "core/hf_presets.h"
#include "core/model_file.h"
#include "core/text.h"

namespace twinsim::core {

// Note [GPT-2 as Hugging Face builds it]
// Names, shapes and order are those of transformers' GPT2LMHeadModel.state_dict():
//   transformer.wte.weight [vocab, d]          transformer.wpe.weight [n_positions, d]
//   transformer.h.{i}.ln_1.weight/bias [d]
//   transformer.h.{i}.attn.c_attn.weight [d, 3d], .bias [3d]
//   transformer.h.{i}.attn.c_proj.weight [d, d],  .bias [d]
//   transformer.h.{i}.ln_2.weight/bias [d]
//   transformer.h.{i}.mlp.c_fc.weight [d, inner], .bias [inner]     (inner = 4d by default)
//   transformer.h.{i}.mlp.c_proj.weight [inner, d], .bias [d]
//   transformer.ln_f.weight/bias [d]           lm_head.weight [vocab, d], tied to wte
// GPT-2's projections are transformers' Conv1D, which stores its weight as [in, out] (the
// transpose of nn.Linear's [out, in]), so the column-parallel split of c_attn and c_fc (their
// output features) is dimension 1 and the row-parallel split of the two c_proj (input
// features) is dimension 0.
// Init is GPT2PreTrainedModel._init_weights with initializer_range r = 0.02: weights and both
// embeddings normal(0, r); biases zero; LayerNorm weight one, bias zero; then every parameter
// named "c_proj.weight" (attention and MLP output projections, the residual branches) redrawn
// from normal(0, r / sqrt(2 * n_layer)) — GPT-2's depth scaling. ColossalAI's GPT benchmarks
// build this same model (GPT2LMHeadModel(GPT2Config(...))), so they inherit this init.
// named_parameters() skips lm_head.weight because it shares wte's storage; the spec keeps it
// (tied_to = wte) since a pipeline's last stage needs it, and NumParams counts it once.

// Note [Llama 3 as Hugging Face builds it]
// transformers' LlamaForCausalLM registers, per decoder layer: self_attn.{q,k,v,o}_proj, then
// mlp.{gate,up,down}_proj, then input_layernorm and post_attention_layernorm; the model opens
// with model.embed_tokens and closes with model.norm and an untied lm_head. nn.Linear stores
// [out, in]: q_proj [n_heads * head_dim, dim], k_proj and v_proj [n_kv_heads * head_dim, dim]
// (grouped-query attention), o_proj [dim, n_heads * head_dim], gate/up [ffn_dim, dim],
// down [dim, ffn_dim], no biases; head_dim = dim / n_heads. LlamaPreTrainedModel._init_weights
// draws every Linear and Embedding weight from normal(0, initializer_range = 0.02); RMSNorm
// weights are created as ones. (Meta's and torchtitan's own inits differ — torchtitan uses
// truncated normals with depth-scaled std — but this is the model Hugging Face users init.)
// Sizes are Meta's params for Llama 3.1 (meta-llama/llama-models,
// models/llama3_1/api/sku_list.py): ffn_dim is Meta's
// multiple_of * ceil(int(ffn_dim_multiplier * int(8 * dim / 3)) / multiple_of).

// Note [PyTorch's default nn.Linear init]
// nn.Linear.reset_parameters: kaiming_uniform_(weight, a=sqrt(5)) with fan_in = in_features,
// i.e. U(-b, b) with b = gain * sqrt(3 / fan_in), gain = sqrt(2 / (1 + a^2)) = sqrt(1/3), so
// b = 1 / sqrt(fan_in); then bias ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)). The spec states it in
// those terms (kaiming_uniform with fan_in and a = sqrt(5); uniform with the bias bound
// computed in double as torch computes it in Python floats).

// Note [TP splits follow Megatron]
// Column-parallel layers (QKV, MLP up/gate/fc) split their output features, and so their
// bias; row-parallel layers (attention and MLP output projections) split their input features
// and keep their bias whole on every TP rank; the word embedding and the LM head split the
// vocabulary; position embeddings and norms are replicated. A linear stack alternates column
// and row, as Megatron pairs an MLP's two layers. What the spec does not encode: Megatron
// interleaves Q, K and V per head inside its fused QKV weight, while Hugging Face's c_attn
// is [q | k | v] along its output, so a contiguous TP shard of c_attn holds whole columns but
// not whole heads; with GQA, TP degrees above n_kv_heads need replicated K/V heads; and
// Megatron pads the vocabulary to a multiple of 128 * tp, which Hugging Face does not. The
// element-wise init questions twinsim asks depend only on which elements a rank owns.

namespace {

constexpr int kMaxLayers = 10000;
constexpr int64_t kMaxSize = int64_t{1} << 24;  // 16,777,216: any width, vocabulary or count

// ---------------------------------------------------------------------------------------------
// Values of `key=value` overrides. `head` is the model name before ':' (the message prefix).

StatusOr<int64_t> ParseSize(std::string_view head, std::string_view key, std::string_view value,
                            int64_t max) {
  int64_t v = 0;
  auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
  if (value.empty() || ec != std::errc() || ptr != value.data() + value.size() || v < 1 ||
      v > max) {
    return Status::InvalidArgument(std::string(head) + ": " + Quote(key) +
                                   ": expected an integer in [1, " + std::to_string(max) +
                                   "], got " + Quote(value));
  }
  return v;
}

StatusOr<double> ParsePositive(std::string_view head, std::string_view key,
                               std::string_view value) {
  double v = 0;
  auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
  if (value.empty() || ec != std::errc() || ptr != value.data() + value.size() ||
      !std::isfinite(v) || !(v > 0)) {
    return Status::InvalidArgument(std::string(head) + ": " + Quote(key) +
                                   ": expected a positive finite number, got " + Quote(value));
  }
  return v;
}

StatusOr<bool> ParseBool(std::string_view head, std::string_view key, std::string_view value) {
  if (value == "1" || value == "true") return true;
  if (value == "0" || value == "false") return false;
  return Status::InvalidArgument(std::string(head) + ": " + Quote(key) +
                                 ": expected 0, 1, true or false, got " + Quote(value));
}

StatusOr<DType> ParseDTypeValue(std::string_view head, std::string_view key,
                                std::string_view value) {
  StatusOr<DType> dtype = ParseDType(value);
  if (dtype.ok()) return dtype;
  return Status::InvalidArgument(std::string(head) + ": " + Quote(key) +
                                 ": expected fp32, bf16 or fp16, got " + Quote(value));
}

// ---------------------------------------------------------------------------------------------
// Families: their keys and how an override changes a configuration.

enum class Family { kGpt2, kLlama3, kLinearStack };

struct AnyConfig {
  Family family = Family::kGpt2;
  Gpt2Config gpt2;
  Llama3Config llama3;
  LinearStackConfig linear;
};

// One `key=value` a family accepts: parses `value` into its field of the configuration.
struct Key {
  std::string_view name;
  std::function<Status(std::string_view head, std::string_view value, AnyConfig& config)> set;
};

// `field(config)` returns a pointer to the field the key sets.
template <typename Field>
Key SizeKey(std::string_view name, int64_t max, Field field) {
  return {name, [=](std::string_view head, std::string_view value, AnyConfig& c) -> Status {
            StatusOr<int64_t> v = ParseSize(head, name, value, max);
            if (!v.ok()) return v.status();
            auto* target = field(c);
            *target = static_cast<std::remove_pointer_t<decltype(target)>>(*v);
            return Status::Ok();
          }};
}

template <typename Field, typename T>
Key ParsedKey(std::string_view name, Field field,
              StatusOr<T> (*parse)(std::string_view, std::string_view, std::string_view)) {
  return {name, [=](std::string_view head, std::string_view value, AnyConfig& c) -> Status {
            StatusOr<T> v = parse(head, name, value);
            if (!v.ok()) return v.status();
            *field(c) = *v;
            return Status::Ok();
          }};
}

const std::vector<Key>& FamilyKeys(Family family) {
  using C = AnyConfig;
  static const std::vector<Key> gpt2 = {
      SizeKey("n_layer", kMaxLayers, [](C& c) { return &c.gpt2.n_layer; }),
      SizeKey("n_embd", kMaxSize, [](C& c) { return &c.gpt2.n_embd; }),
      SizeKey("n_head", kMaxSize, [](C& c) { return &c.gpt2.n_head; }),
      SizeKey("n_inner", kMaxSize, [](C& c) { return &c.gpt2.n_inner; }),
      SizeKey("vocab_size", kMaxSize, [](C& c) { return &c.gpt2.vocab_size; }),
      SizeKey("n_positions", kMaxSize, [](C& c) { return &c.gpt2.n_positions; }),
      ParsedKey(
          "initializer_range", [](C& c) { return &c.gpt2.initializer_range; }, ParsePositive),
      ParsedKey(
          "tie_word_embeddings", [](C& c) { return &c.gpt2.tie_word_embeddings; }, ParseBool),
      ParsedKey(
          "dtype", [](C& c) { return &c.gpt2.dtype; }, ParseDTypeValue),
  };
  static const std::vector<Key> llama3 = {
      SizeKey("n_layers", kMaxLayers, [](C& c) { return &c.llama3.n_layers; }),
      SizeKey("dim", kMaxSize, [](C& c) { return &c.llama3.dim; }),
      SizeKey("n_heads", kMaxSize, [](C& c) { return &c.llama3.n_heads; }),
      SizeKey("n_kv_heads", kMaxSize, [](C& c) { return &c.llama3.n_kv_heads; }),
      SizeKey("ffn_dim", kMaxSize, [](C& c) { return &c.llama3.ffn_dim; }),
      SizeKey("vocab_size", kMaxSize, [](C& c) { return &c.llama3.vocab_size; }),
      ParsedKey(
          "initializer_range", [](C& c) { return &c.llama3.initializer_range; }, ParsePositive),
      ParsedKey(
          "tie_word_embeddings", [](C& c) { return &c.llama3.tie_word_embeddings; }, ParseBool),
      ParsedKey(
          "dtype", [](C& c) { return &c.llama3.dtype; }, ParseDTypeValue),
  };
  static const std::vector<Key> linear = {
      SizeKey("layers", kMaxLayers, [](C& c) { return &c.linear.layers; }),
      SizeKey("width", kMaxSize, [](C& c) { return &c.linear.width; }),
      SizeKey("in_features", kMaxSize, [](C& c) { return &c.linear.in_features; }),
      SizeKey("out_features", kMaxSize, [](C& c) { return &c.linear.out_features; }),
      ParsedKey(
          "bias", [](C& c) { return &c.linear.bias; }, ParseBool),
      ParsedKey(
          "dtype", [](C& c) { return &c.linear.dtype; }, ParseDTypeValue),
  };
  switch (family) {
    case Family::kGpt2:
      return gpt2;
    case Family::kLlama3:
      return llama3;
    case Family::kLinearStack:
      return linear;
  }
  return gpt2;
}

// ---------------------------------------------------------------------------------------------
// Presets and families by name.

struct Named {
  std::string_view name;
  AnyConfig config;
};

AnyConfig Gpt2(int n_layer, int64_t n_embd, int n_head, int64_t n_positions = 1024) {
  AnyConfig c;
  c.family = Family::kGpt2;
  c.gpt2.n_layer = n_layer;
  c.gpt2.n_embd = n_embd;
  c.gpt2.n_head = n_head;
  c.gpt2.n_positions = n_positions;
  return c;
}

AnyConfig Llama3(int n_layers, int64_t dim, int n_heads, int n_kv_heads, int64_t ffn_dim) {
  AnyConfig c;
  c.family = Family::kLlama3;
  c.llama3.n_layers = n_layers;
  c.llama3.dim = dim;
  c.llama3.n_heads = n_heads;
  c.llama3.n_kv_heads = n_kv_heads;
  c.llama3.ffn_dim = ffn_dim;
  return c;
}

AnyConfig LinearStack(int layers, int64_t width, int64_t in_features, int64_t out_features) {
  AnyConfig c;
  c.family = Family::kLinearStack;
  c.linear.layers = layers;
  c.linear.width = width;
  c.linear.in_features = in_features;
  c.linear.out_features = out_features;
  return c;
}

const std::vector<Named>& Presets() {
  static const std::vector<Named> presets = {
      // Three small nn.Linear layers, 12 -> 32 -> 32 -> 10: odd sizes, so TP shards are uneven.
      {"tiny-mlp", LinearStack(3, 32, 12, 10)},
      // Hugging Face's GPT-2 configs (gpt2, gpt2-medium, gpt2-large, gpt2-xl on the Hub):
      // n_layer / n_embd / n_head, vocabulary 50257, 1024 positions.
      {"gpt2-small", Gpt2(12, 768, 12)},
      {"gpt2-medium", Gpt2(24, 1024, 16)},
      {"gpt2-large", Gpt2(36, 1280, 20)},
      {"gpt2-xl", Gpt2(48, 1600, 25)},
      // ColossalAI's GPT-2-shaped benchmark sizes (GPT2LMHeadModel, vocabulary 50257, 1024
      // positions), hidden / layers / heads as these files define gpt2_<size>:
      //   hpcaitech/ColossalAI-Pytorch-lightning benchmark/gpt/model.py (4B, 6B, 8B, 12B, 15B,
      //   18B, 20B, 24B, 28B, 32B);
      //   hpcaitech/ColossalAI examples/language/gpt/gemini/commons/model_zoo.py (10b, 14b,
      //   20b, 24b). Where both define a size they agree.
      {"gpt2-4b", Gpt2(64, 2304, 16)},
      {"gpt2-6b", Gpt2(30, 4096, 16)},
      {"gpt2-8b", Gpt2(72, 3072, 24)},
      {"gpt2-10b", Gpt2(50, 4096, 16)},
      {"gpt2-12b", Gpt2(60, 4096, 16)},
      {"gpt2-14b", Gpt2(70, 4096, 16)},
      {"gpt2-15b", Gpt2(78, 4096, 16)},
      {"gpt2-18b", Gpt2(90, 4096, 16)},
      {"gpt2-20b", Gpt2(25, 8192, 16)},
      {"gpt2-24b", Gpt2(30, 8192, 16)},
      {"gpt2-28b", Gpt2(35, 8192, 16)},
      {"gpt2-32b", Gpt2(40, 8192, 16)},
      // GPT-3 175B (Brown et al. 2020, Table 2.1: 96 layers, d_model 12288, 96 heads, context
      // 2048), as ColossalAI-Pytorch-lightning's gpt3() builds it: GPT-2 architecture and names.
      {"gpt3-175b", Gpt2(96, 12288, 96, 2048)},
      // Meta's Llama 3.1 params (meta-llama/llama-models models/llama3_1/api/sku_list.py):
      // n_layers / dim / n_heads / n_kv_heads, vocabulary 128256; ffn_dim from Meta's
      // ffn_dim_multiplier (1.3, 1.3, 1.2) and multiple_of (1024, 4096, 4096).
      {"llama3-8b", Llama3(32, 4096, 32, 8, 14336)},
      {"llama3-70b", Llama3(80, 8192, 64, 8, 28672)},
      {"llama3-405b", Llama3(126, 16384, 128, 8, 53248)},
  };
  return presets;
}

const std::vector<Named>& Families() {
  static const std::vector<Named> families = {
      {"gpt2", Gpt2(12, 768, 12)},
      {"llama3", Llama3(32, 4096, 32, 8, 14336)},
      {"linear-stack", LinearStack(4, 1024, 0, 0)},
  };
  return families;
}

const AnyConfig* FindNamed(const std::vector<Named>& table, std::string_view name) {
  for (const Named& n : table) {
    if (n.name == name) return &n.config;
  }
  return nullptr;
}

// ---------------------------------------------------------------------------------------------
// Building specs.

InitSpec Normal(double std) { return NormalInit(std); }
InitSpec Constant(double value) { return ConstantInit(value); }

struct Builder {
  ModelSpec model;
  DType dtype = DType::kFp32;

  ParamSpec& Add(std::string name, std::vector<int64_t> shape, InitSpec init, TpSplit split,
                 int tp_dim, ParamRole role, int layer = -1) {
    ParamSpec& p = model.params.emplace_back();
    p.name = std::move(name);
    p.shape = std::move(shape);
    p.dtype = dtype;
    p.init = init;
    p.tp_split = split;
    p.tp_dim = tp_dim;
    p.role = role;
    p.layer = layer;
    return p;
  }
};

Status NotDivisible(std::string_view family, std::string_view what, int64_t a, std::string_view by,
                    int64_t b, std::string_view why) {
  return Status::InvalidArgument(std::string(family) + ": " + std::string(what) + "=" +
                                 std::to_string(a) + " is not divisible by " + std::string(by) +
                                 "=" + std::to_string(b) + " (" + std::string(why) + ")");
}

// Returns InvalidArgument unless every (key, value) has 1 <= value <= max.
Status CheckSizes(std::string_view family,
                  std::initializer_list<std::tuple<std::string_view, int64_t, int64_t>> sizes) {
  for (const auto& [key, value, max] : sizes) {
    if (value < 1 || value > max) {
      return Status::InvalidArgument(std::string(family) + ": " + std::string(key) +
                                     " must be in [1, " + std::to_string(max) + "], got " +
                                     std::to_string(value));
    }
  }
  return Status::Ok();
}

Status CheckRange(std::string_view family, double initializer_range) {
  if (!std::isfinite(initializer_range) || !(initializer_range > 0)) {
    return Status::InvalidArgument(std::string(family) +
                                   ": initializer_range must be a positive finite number");
  }
  return Status::Ok();
}

StatusOr<ModelSpec> Finish(Builder& b) {
  TWINSIM_RETURN_IF_ERROR(ValidateModelSpec(b.model));
  return std::move(b.model);
}

StatusOr<ModelSpec> Build(const AnyConfig& config, std::string name, std::string_view family) {
  switch (config.family) {
    case Family::kGpt2:
      return MakeGpt2(config.gpt2, std::move(name), family);
    case Family::kLlama3:
      return MakeLlama3(config.llama3, std::move(name), family);
    case Family::kLinearStack:
      return MakeLinearStack(config.linear, std::move(name), family);
  }
  return Status::Internal("unhandled model family");
}

std::vector<std::string_view> AllModelNames() {
  std::vector<std::string_view> names;
  for (const Named& n : Presets()) names.push_back(n.name);
  for (const HfPreset& p : HfPresets()) names.push_back(p.name);
  for (const Named& n : Families()) names.push_back(n.name);
  return names;
}

std::string Expected() {
  std::vector<std::string_view> presets, families;
  for (const Named& n : Presets()) presets.push_back(n.name);
  for (const HfPreset& p : HfPresets()) presets.push_back(p.name);
  for (const Named& n : Families()) families.push_back(n.name);
  return "expected a preset (" + Join(presets) + ") or FAMILY[:key=value,...] with FAMILY one of " +
         Join(families) + ", or a model file PATH.json (a Hugging Face config or a twinsim parameter list)";
}

}  // namespace

StatusOr<ModelSpec> MakeGpt2(const Gpt2Config& c, std::string name, std::string_view family) {
  TWINSIM_RETURN_IF_ERROR(CheckSizes(family, {{"n_layer", c.n_layer, kMaxLayers},
                                              {"n_embd", c.n_embd, kMaxSize},
                                              {"n_head", c.n_head, kMaxSize},
                                              {"vocab_size", c.vocab_size, kMaxSize},
                                              {"n_positions", c.n_positions, kMaxSize}}));
  if (c.n_inner != 0) {
    TWINSIM_RETURN_IF_ERROR(CheckSizes(family, {{"n_inner", c.n_inner, kMaxSize}}));
  }
  TWINSIM_RETURN_IF_ERROR(CheckRange(family, c.initializer_range));
  if (c.n_embd % c.n_head != 0) {
    return NotDivisible(family, "n_embd", c.n_embd, "n_head", c.n_head,
                        "each attention head takes n_embd/n_head features");
  }
  const int64_t d = c.n_embd;
  const int64_t inner = c.n_inner != 0 ? c.n_inner : 4 * d;
  const InitSpec weight = Normal(c.initializer_range);
  // GPT-2's depth scaling of the residual projections: Note [GPT-2 as Hugging Face builds it].
  const InitSpec residual = Normal(c.initializer_range / std::sqrt(2.0 * c.n_layer));
  const InitSpec zero = Constant(0.0), one = Constant(1.0);
  constexpr TpSplit kRep = TpSplit::kReplicated, kCol = TpSplit::kColumn, kRow = TpSplit::kRow;

  Builder b;
  b.dtype = c.dtype;
  b.model.name = std::move(name);
  b.model.num_layers = c.n_layer;
  b.model.num_heads = c.n_head;
  b.model.params.reserve(4 + 12 * static_cast<size_t>(c.n_layer) + 2);
  b.Add("transformer.wte.weight", {c.vocab_size, d}, weight, TpSplit::kVocab, 0,
        ParamRole::kEmbedding);
  b.Add("transformer.wpe.weight", {c.n_positions, d}, weight, kRep, -1, ParamRole::kEmbedding);
  for (int i = 0; i < c.n_layer; ++i) {
    const std::string h = "transformer.h." + std::to_string(i) + ".";
    const ParamRole L = ParamRole::kLayer;
    // Conv1D weights are [in, out]: column splits dim 1, row splits dim 0.
    b.Add(h + "ln_1.weight", {d}, one, kRep, -1, L, i);
    b.Add(h + "ln_1.bias", {d}, zero, kRep, -1, L, i);
    b.Add(h + "attn.c_attn.weight", {d, 3 * d}, weight, kCol, 1, L, i);
    b.Add(h + "attn.c_attn.bias", {3 * d}, zero, kCol, 0, L, i);
    b.Add(h + "attn.c_proj.weight", {d, d}, residual, kRow, 0, L, i);
    b.Add(h + "attn.c_proj.bias", {d}, zero, kRep, -1, L, i);
    b.Add(h + "ln_2.weight", {d}, one, kRep, -1, L, i);
    b.Add(h + "ln_2.bias", {d}, zero, kRep, -1, L, i);
    b.Add(h + "mlp.c_fc.weight", {d, inner}, weight, kCol, 1, L, i);
    b.Add(h + "mlp.c_fc.bias", {inner}, zero, kCol, 0, L, i);
    b.Add(h + "mlp.c_proj.weight", {inner, d}, residual, kRow, 0, L, i);
    b.Add(h + "mlp.c_proj.bias", {d}, zero, kRep, -1, L, i);
  }
  b.Add("transformer.ln_f.weight", {d}, one, kRep, -1, ParamRole::kFinalNorm);
  b.Add("transformer.ln_f.bias", {d}, zero, kRep, -1, ParamRole::kFinalNorm);
  ParamSpec& head =
      b.Add("lm_head.weight", {c.vocab_size, d}, weight, TpSplit::kVocab, 0, ParamRole::kHead);
  if (c.tie_word_embeddings) head.tied_to = "transformer.wte.weight";
  return Finish(b);
}

StatusOr<ModelSpec> MakeLlama3(const Llama3Config& c, std::string name, std::string_view family) {
  TWINSIM_RETURN_IF_ERROR(CheckSizes(family, {{"n_layers", c.n_layers, kMaxLayers},
                                              {"dim", c.dim, kMaxSize},
                                              {"n_heads", c.n_heads, kMaxSize},
                                              {"n_kv_heads", c.n_kv_heads, kMaxSize},
                                              {"ffn_dim", c.ffn_dim, kMaxSize},
                                              {"vocab_size", c.vocab_size, kMaxSize}}));
  TWINSIM_RETURN_IF_ERROR(CheckRange(family, c.initializer_range));
  if (c.dim % c.n_heads != 0) {
    return NotDivisible(family, "dim", c.dim, "n_heads", c.n_heads,
                        "each attention head takes dim/n_heads features");
  }
  if (c.n_heads % c.n_kv_heads != 0) {
    return NotDivisible(family, "n_heads", c.n_heads, "n_kv_heads", c.n_kv_heads,
                        "grouped-query attention shares each key/value head among "
                        "n_heads/n_kv_heads query heads");
  }
  const int64_t d = c.dim;
  const int64_t head_dim = d / c.n_heads;
  const int64_t q_out = c.n_heads * head_dim, kv_out = c.n_kv_heads * head_dim;
  const InitSpec weight = Normal(c.initializer_range);
  const InitSpec one = Constant(1.0);
  constexpr TpSplit kRep = TpSplit::kReplicated, kCol = TpSplit::kColumn, kRow = TpSplit::kRow;

  Builder b;
  b.dtype = c.dtype;
  b.model.name = std::move(name);
  b.model.num_layers = c.n_layers;
  b.model.num_heads = c.n_heads;
  b.model.params.reserve(3 + 9 * static_cast<size_t>(c.n_layers));
  b.Add("model.embed_tokens.weight", {c.vocab_size, d}, weight, TpSplit::kVocab, 0,
        ParamRole::kEmbedding);
  for (int i = 0; i < c.n_layers; ++i) {
    const std::string l = "model.layers." + std::to_string(i) + ".";
    const ParamRole L = ParamRole::kLayer;
    // nn.Linear weights are [out, in]: column splits dim 0, row splits dim 1.
    b.Add(l + "self_attn.q_proj.weight", {q_out, d}, weight, kCol, 0, L, i);
    b.Add(l + "self_attn.k_proj.weight", {kv_out, d}, weight, kCol, 0, L, i);
    b.Add(l + "self_attn.v_proj.weight", {kv_out, d}, weight, kCol, 0, L, i);
    b.Add(l + "self_attn.o_proj.weight", {d, q_out}, weight, kRow, 1, L, i);
    b.Add(l + "mlp.gate_proj.weight", {c.ffn_dim, d}, weight, kCol, 0, L, i);
    b.Add(l + "mlp.up_proj.weight", {c.ffn_dim, d}, weight, kCol, 0, L, i);
    b.Add(l + "mlp.down_proj.weight", {d, c.ffn_dim}, weight, kRow, 1, L, i);
    b.Add(l + "input_layernorm.weight", {d}, one, kRep, -1, L, i);
    b.Add(l + "post_attention_layernorm.weight", {d}, one, kRep, -1, L, i);
  }
  b.Add("model.norm.weight", {d}, one, kRep, -1, ParamRole::kFinalNorm);
  ParamSpec& head =
      b.Add("lm_head.weight", {c.vocab_size, d}, weight, TpSplit::kVocab, 0, ParamRole::kHead);
  if (c.tie_word_embeddings) head.tied_to = "model.embed_tokens.weight";
  return Finish(b);
}

StatusOr<ModelSpec> MakeLinearStack(const LinearStackConfig& c, std::string name,
                                    std::string_view family) {
  TWINSIM_RETURN_IF_ERROR(
      CheckSizes(family, {{"layers", c.layers, kMaxLayers}, {"width", c.width, kMaxSize}}));
  if (c.in_features != 0) {
    TWINSIM_RETURN_IF_ERROR(CheckSizes(family, {{"in_features", c.in_features, kMaxSize}}));
  }
  if (c.out_features != 0) {
    TWINSIM_RETURN_IF_ERROR(CheckSizes(family, {{"out_features", c.out_features, kMaxSize}}));
  }
  const int64_t in = c.in_features != 0 ? c.in_features : c.width;
  const int64_t out = c.out_features != 0 ? c.out_features : c.width;

  Builder b;
  b.dtype = c.dtype;
  b.model.name = std::move(name);
  b.model.num_layers = c.layers;
  b.model.params.reserve(2 * static_cast<size_t>(c.layers));
  for (int i = 0; i < c.layers; ++i) {
    const int64_t fan_in = i == 0 ? in : c.width;
    const int64_t fan_out = i == c.layers - 1 ? out : c.width;
    // Note [PyTorch's default nn.Linear init].
    InitSpec weight;
    weight.kind = InitKind::kKaimingUniform;
    weight.a = std::sqrt(5.0);
    weight.mode = FanMode::kFanIn;
    weight.nonlinearity = Nonlinearity::kLeakyRelu;
    weight.fan_in = fan_in;
    weight.fan_out = fan_out;
    InitSpec bias;
    bias.kind = InitKind::kUniform;
    bias.b = 1.0 / std::sqrt(static_cast<double>(fan_in));
    bias.a = -bias.b;
    // Note [TP splits follow Megatron]: even layers column-parallel, odd layers row-parallel.
    const bool column = i % 2 == 0;
    const std::string l = "layers." + std::to_string(i) + ".";
    b.Add(l + "weight", {fan_out, fan_in}, weight, column ? TpSplit::kColumn : TpSplit::kRow,
          column ? 0 : 1, ParamRole::kLayer, i);
    if (c.bias) {
      b.Add(l + "bias", {fan_out}, bias, column ? TpSplit::kColumn : TpSplit::kReplicated,
            column ? 0 : -1, ParamRole::kLayer, i);
    }
  }
  return Finish(b);
}

StatusOr<ModelSpec> MakeModel(std::string_view text) {
  if (text.empty()) return Status::InvalidArgument("empty model name; " + Expected());
  if (IsModelFilePath(text)) return LoadModelFile(text);
  const size_t colon = text.find(':');
  const std::string_view head = text.substr(0, colon);
  if (head.empty()) {
    return Status::InvalidArgument("empty model name before ':' in " + Quote(text) + "; " +
                                   Expected());
  }
  // Presets from shipped Hugging Face configs (core/hf_presets.h) take their config's keys.
  if (const HfPreset* hf = FindHfPreset(head)) {
    return MakeHfPreset(*hf, colon == std::string_view::npos ? "" : text.substr(colon + 1),
                        std::string(text));
  }
  const AnyConfig* base = FindNamed(Presets(), head);
  if (base == nullptr) base = FindNamed(Families(), head);
  if (base == nullptr) {
    return Status::InvalidArgument("unknown model " + Quote(head) +
                                   DidYouMean(head, AllModelNames()) + "; " + Expected());
  }
  AnyConfig config = *base;
  const std::vector<Key>& family_keys = FamilyKeys(config.family);
  std::vector<std::string_view> keys;
  for (const Key& k : family_keys) keys.push_back(k.name);
  const std::string prefix(head);

  if (colon != std::string_view::npos) {
    StatusOr<std::vector<KeyValue>> items =
        SplitKeyValues(text.substr(colon + 1), prefix, text, keys);
    if (!items.ok()) return items.status();
    for (const KeyValue& item : *items) {
      // Not structured bindings: the lambda captures `key` (clang before 16 rejects that).
      const std::string_view key = item.key, value = item.value;
      const auto known = std::find_if(family_keys.begin(), family_keys.end(),
                                      [&](const Key& k) { return k.name == key; });
      if (known == family_keys.end()) {
        return Status::InvalidArgument(prefix + ": unknown key " + Quote(key) +
                                       DidYouMean(key, keys) + "; expected one of " + Join(keys));
      }
      TWINSIM_RETURN_IF_ERROR(known->set(head, value, config));
    }
  }
  return Build(config, std::string(text), head);
}

std::vector<std::string> ModelPresetNames() {
  std::vector<std::string> names;
  for (const Named& n : Presets()) names.emplace_back(n.name);
  for (const HfPreset& p : HfPresets()) names.emplace_back(p.name);
  return names;
}

std::vector<std::string> ModelFamilyNames() {
  std::vector<std::string> names;
  for (const Named& n : Families()) names.emplace_back(n.name);
  return names;
}

}  // namespace twinsim::core
