// Model presets and the --model syntax: ModelSpecs that follow real models' parameter names,
// shapes, registration order, init rules and Megatron TP splits, built from a short string.
//
// `MakeModel("gpt2-small")`, `MakeModel("llama3-405b")` or
// `MakeModel("gpt2:n_layer=2,n_embd=128,n_head=4,vocab_size=50258")`. Only specs are built,
// never tensors, so even llama3-405b (1,137 parameters, 406e9 elements) takes about a
// millisecond.
// Scenario files, the CLI and the property generators share these builders.
#ifndef TWINSIM_CORE_MODEL_PRESETS_H_
#define TWINSIM_CORE_MODEL_PRESETS_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/model_spec.h"
#include "core/status.h"

namespace twinsim::core {

// Hugging Face GPT2LMHeadModel (GPT2Config). See Note [GPT-2 as Hugging Face builds it] in
// model_presets.cc for names, shapes, inits and TP splits.
struct Gpt2Config {
  int n_layer = 12;
  int64_t n_embd = 768;
  int n_head = 12;
  int64_t n_inner = 0;  // MLP width; 0 means 4 * n_embd, as in GPT2Config
  int64_t vocab_size = 50257;
  int64_t n_positions = 1024;
  double initializer_range = 0.02;
  bool tie_word_embeddings = true;
  DType dtype = DType::kFp32;
};

// Hugging Face LlamaForCausalLM with Llama 3's shapes (GQA, SwiGLU, RMSNorm, untied head).
// `dim` is hidden_size, `ffn_dim` intermediate_size, `n_kv_heads` num_key_value_heads.
struct Llama3Config {
  int n_layers = 32;
  int64_t dim = 4096;
  int n_heads = 32;
  int n_kv_heads = 8;
  int64_t ffn_dim = 14336;
  int64_t vocab_size = 128256;
  double initializer_range = 0.02;
  bool tie_word_embeddings = false;
  DType dtype = DType::kFp32;
};

// `layers` plain torch.nn.Linear layers in an nn.ModuleList named "layers", with PyTorch's
// default init: in_features -> width -> ... -> width -> out_features.
struct LinearStackConfig {
  int layers = 4;
  int64_t width = 1024;
  int64_t in_features = 0;   // 0 means width
  int64_t out_features = 0;  // 0 means width
  bool bias = true;
  DType dtype = DType::kFp32;
};

// Build the ModelSpec of a configuration and validate it (ValidateModelSpec); `name` becomes
// ModelSpec::name. Return InvalidArgument, prefixed with `family`, for non-positive sizes,
// head counts that do not divide, or a non-positive initializer_range. Thread-safe; pure.
StatusOr<ModelSpec> MakeGpt2(const Gpt2Config& config, std::string name,
                             std::string_view family = "gpt2");
StatusOr<ModelSpec> MakeLlama3(const Llama3Config& config, std::string name,
                               std::string_view family = "llama3");
StatusOr<ModelSpec> MakeLinearStack(const LinearStackConfig& config, std::string name,
                                    std::string_view family = "linear-stack");

// Builds the model that `text` names:
//   PATH.json                     a model file (core/model_file.h): a Hugging Face config.json
//                                 or a twinsim parameter list; read from disk
//   PRESET                        a name from ModelPresetNames(), e.g. "gpt2-small"; the
//                                 presets from shipped Hugging Face configs (core/hf_presets.h:
//                                 mixtral-8x7b, qwen3-30b-a3b, deepseek-v3) take any number or
//                                 boolean key of their config.json after ':', e.g.
//                                 "deepseek-v3:num_hidden_layers=4,n_routed_experts=16"
//   FAMILY                        a family's defaults: gpt2 (= gpt2-small), llama3
//                                 (= llama3-8b), linear-stack (layers=4, width=1024)
//   PRESET_OR_FAMILY:key=value,.. the same with some hyperparameters overridden, e.g.
//                                 "gpt2:n_layer=2,n_embd=128,n_head=4" or "llama3-70b:n_layers=2"
// Keys: gpt2 and gpt3-* take n_layer, n_embd, n_head, n_inner, vocab_size, n_positions,
// initializer_range, tie_word_embeddings (0|1), dtype (fp32|bf16|fp16); llama3 takes n_layers,
// dim, n_heads, n_kv_heads, ffn_dim, vocab_size, initializer_range, tie_word_embeddings,
// dtype; linear-stack and tiny-mlp take layers, width, in_features, out_features, bias (0|1),
// dtype. ModelSpec::name is `text`.
// On failure returns InvalidArgument with one line naming the model or key and what was
// expected, with a did-you-mean for near misses ("gpt2: unknown key 'n_layers' (did you mean
// 'n_layer'?); expected one of ..."). Thread-safe; pure except that a PATH.json is read from disk.
StatusOr<ModelSpec> MakeModel(std::string_view text);

// The preset names MakeModel accepts, in a stable order (small to large within a family).
std::vector<std::string> ModelPresetNames();
// The family names MakeModel accepts before ':' (presets are accepted there too).
std::vector<std::string> ModelFamilyNames();

}  // namespace twinsim::core

#endif  // TWINSIM_CORE_MODEL_PRESETS_H_
