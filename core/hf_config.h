// Hugging Face config.json → ModelSpec: the parameters transformers registers for the
// *ForCausalLM model of a config, so that users check the model they train, not a preset.
//
// Names, shapes, order, inits and tied heads follow transformers v4.57.1's modeling code, read
// line by line (Note [Which transformers] in hf_config.cc); the tensor-parallel split of each
// parameter follows Megatron. Presets built from shipped configs live in core/hf_presets.h;
// reading a file and its JSON errors belong to core/model_file.h.
#ifndef TWINSIM_CORE_HF_CONFIG_H_
#define TWINSIM_CORE_HF_CONFIG_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/model_spec.h"
#include "core/status.h"

namespace twinsim::core {

// Bounds on what a config may ask for, checked before anything is built.
struct HfConfigLimits {
  // The number of tensors (ParamSpecs) the config describes, counted from its sizes before
  // building: DeepSeek-V3 has 45,337 (58 MoE layers of 256 experts). The default bounds a
  // spec at a few hundred MB of host memory; a fuzzer passes a smaller one.
  int64_t max_tensors = int64_t{1} << 20;
};

// Builds the ModelSpec of the *ForCausalLM model that transformers v4.57.1 creates from
// `config` (AutoModelForCausalLM.from_config), named `name`, and validates it
// (ValidateModelSpec). `config["model_type"]` picks the family, one of HfModelTypes(); keys a
// config.json may omit take the defaults of that family's PretrainedConfig subclass (the key's
// default in configuration_<family>.py); the structural keys (vocab_size, hidden_size,
// num_hidden_layers, num_attention_heads, intermediate_size, and each family's expert sizes)
// are required. Parameters are fp32, as from_config allocates them whatever torch_dtype says.
// NumParams equals transformers' model.num_parameters() for the same config (a tied lm_head
// counted once).
// On failure returns InvalidArgument with one line that starts with `source` (the file path):
// not a JSON object; unknown model_type (listing the supported ones); a missing or ill-typed
// key (naming it); impossible values (sizes outside [1, 2^24], heads not dividing the hidden
// size, key/value heads not dividing the heads, more tensors than `limits.max_tensors`).
// Never throws. Thread-safe; pure.
StatusOr<ModelSpec> ModelSpecFromHfConfig(const nlohmann::json& config, std::string_view source,
                                          std::string name, const HfConfigLimits& limits = {});

// The model_type values ModelSpecFromHfConfig accepts, in the order of the message listing
// them: gpt2, llama, mistral, mixtral, qwen2, qwen2_moe, qwen3, qwen3_moe, phi3, gemma2,
// gemma3_text, deepseek_v3.
std::vector<std::string> HfModelTypes();

}  // namespace twinsim::core

#endif  // TWINSIM_CORE_HF_CONFIG_H_
