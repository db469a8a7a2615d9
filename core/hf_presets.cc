#include "core/hf_presets.h"

#include <algorithm>
#include <string>
#include <utility>

#include <nlohmann/json.hpp>

#include "core/hf_config.h"
#include "core/text.h"

namespace twinsim::core {

// Note [Shipped Hugging Face configs]
// The three texts below are scenarios/models/*.json byte for byte: the config.json of each
// model's Hugging Face Hub repository (scenarios/models/README.md names them and what their
// parameter counts are). Edit the file and this text together; hf_config_test compares them.

namespace {

// scenarios/models/mixtral-8x7b.json (from mistralai/Mixtral-8x7B-v0.1)
constexpr std::string_view kMixtral8x7bJson = R"json({
  "architectures": [
    "MixtralForCausalLM"
  ],
  "attention_dropout": 0.0,
  "bos_token_id": 1,
  "eos_token_id": 2,
  "hidden_act": "silu",
  "hidden_size": 4096,
  "initializer_range": 0.02,
  "intermediate_size": 14336,
  "max_position_embeddings": 32768,
  "model_type": "mixtral",
  "num_attention_heads": 32,
  "num_experts_per_tok": 2,
  "num_hidden_layers": 32,
  "num_key_value_heads": 8,
  "num_local_experts": 8,
  "output_router_logits": false,
  "rms_norm_eps": 1e-05,
  "rope_theta": 1000000.0,
  "router_aux_loss_coef": 0.02,
  "sliding_window": null,
  "tie_word_embeddings": false,
  "torch_dtype": "bfloat16",
  "transformers_version": "4.36.0.dev0",
  "use_cache": true,
  "vocab_size": 32000
}
)json";

// scenarios/models/qwen3-30b-a3b.json (from Qwen/Qwen3-30B-A3B)
constexpr std::string_view kQwen330bA3bJson = R"json({
  "architectures": [
    "Qwen3MoeForCausalLM"
  ],
  "attention_bias": false,
  "attention_dropout": 0.0,
  "bos_token_id": 151643,
  "decoder_sparse_step": 1,
  "eos_token_id": 151645,
  "head_dim": 128,
  "hidden_act": "silu",
  "hidden_size": 2048,
  "initializer_range": 0.02,
  "intermediate_size": 6144,
  "max_position_embeddings": 40960,
  "max_window_layers": 48,
  "mlp_only_layers": [],
  "model_type": "qwen3_moe",
  "moe_intermediate_size": 768,
  "norm_topk_prob": true,
  "num_attention_heads": 32,
  "num_experts": 128,
  "num_experts_per_tok": 8,
  "num_hidden_layers": 48,
  "num_key_value_heads": 4,
  "output_router_logits": false,
  "rms_norm_eps": 1e-06,
  "rope_scaling": null,
  "rope_theta": 1000000.0,
  "router_aux_loss_coef": 0.001,
  "sliding_window": null,
  "tie_word_embeddings": false,
  "torch_dtype": "bfloat16",
  "transformers_version": "4.51.0",
  "use_cache": true,
  "use_sliding_window": false,
  "vocab_size": 151936
}
)json";

// scenarios/models/deepseek-v3.json (from deepseek-ai/DeepSeek-V3)
constexpr std::string_view kDeepseekV3Json = R"json({
  "architectures": [
    "DeepseekV3ForCausalLM"
  ],
  "attention_bias": false,
  "attention_dropout": 0.0,
  "auto_map": {
    "AutoConfig": "configuration_deepseek.DeepseekV3Config",
    "AutoModel": "modeling_deepseek.DeepseekV3Model",
    "AutoModelForCausalLM": "modeling_deepseek.DeepseekV3ForCausalLM"
  },
  "aux_loss_alpha": 0.001,
  "bos_token_id": 0,
  "eos_token_id": 1,
  "ep_size": 1,
  "first_k_dense_replace": 3,
  "hidden_act": "silu",
  "hidden_size": 7168,
  "initializer_range": 0.02,
  "intermediate_size": 18432,
  "kv_lora_rank": 512,
  "max_position_embeddings": 163840,
  "model_type": "deepseek_v3",
  "moe_intermediate_size": 2048,
  "moe_layer_freq": 1,
  "n_group": 8,
  "n_routed_experts": 256,
  "n_shared_experts": 1,
  "norm_topk_prob": true,
  "num_attention_heads": 128,
  "num_experts_per_tok": 8,
  "num_hidden_layers": 61,
  "num_key_value_heads": 128,
  "num_nextn_predict_layers": 1,
  "pretraining_tp": 1,
  "q_lora_rank": 1536,
  "qk_nope_head_dim": 128,
  "qk_rope_head_dim": 64,
  "quantization_config": {
    "activation_scheme": "dynamic",
    "fmt": "e4m3",
    "quant_method": "fp8",
    "weight_block_size": [
      128,
      128
    ]
  },
  "rms_norm_eps": 1e-06,
  "rope_scaling": {
    "beta_fast": 32,
    "beta_slow": 1,
    "factor": 40,
    "mscale": 1.0,
    "mscale_all_dim": 1.0,
    "original_max_position_embeddings": 4096,
    "type": "yarn"
  },
  "rope_theta": 10000,
  "routed_scaling_factor": 2.5,
  "scoring_func": "sigmoid",
  "seq_aux": true,
  "tie_word_embeddings": false,
  "topk_group": 4,
  "topk_method": "noaux_tc",
  "torch_dtype": "bfloat16",
  "transformers_version": "4.33.1",
  "use_cache": true,
  "v_head_dim": 128,
  "vocab_size": 129280
}
)json";

}  // namespace

const std::vector<HfPreset>& HfPresets() {
  static const std::vector<HfPreset> presets = {
      {"mixtral-8x7b", "scenarios/models/mixtral-8x7b.json", "mistralai/Mixtral-8x7B-v0.1", kMixtral8x7bJson},
      {"qwen3-30b-a3b", "scenarios/models/qwen3-30b-a3b.json", "Qwen/Qwen3-30B-A3B", kQwen330bA3bJson},
      {"deepseek-v3", "scenarios/models/deepseek-v3.json", "deepseek-ai/DeepSeek-V3", kDeepseekV3Json},
  };
  return presets;
}

const HfPreset* FindHfPreset(std::string_view name) {
  for (const HfPreset& p : HfPresets()) {
    if (p.name == name) return &p;
  }
  return nullptr;
}

StatusOr<ModelSpec> MakeHfPreset(const HfPreset& preset, std::string_view overrides,
                                 std::string text) {
  const std::string head(preset.name);
  nlohmann::json config = nlohmann::json::parse(preset.config_json, nullptr, false);
  if (config.is_discarded() || !config.is_object()) {
    return Status::Internal(head + ": the embedded config is not a JSON object");
  }
  if (!overrides.empty()) {
    std::vector<std::string_view> keys;
    for (const auto& [key, value] : config.items()) {
      if (value.is_number() || value.is_boolean() || value.is_null()) keys.push_back(key);
    }
    StatusOr<std::vector<KeyValue>> items = SplitKeyValues(overrides, head, text, keys);
    if (!items.ok()) return items.status();
    for (const KeyValue& item : *items) {
      if (std::find(keys.begin(), keys.end(), item.key) == keys.end()) {
        return Status::InvalidArgument(head + ": unknown key " + Quote(item.key) +
                                       DidYouMean(item.key, keys) +
                                       "; expected a number or boolean key of " +
                                       std::string(preset.file) + ": " + Join(keys));
      }
      nlohmann::json value = nlohmann::json::parse(item.value, nullptr, false);
      if (value.is_discarded() || !(value.is_number() || value.is_boolean() || value.is_null())) {
        return Status::InvalidArgument(head + ": " + Quote(item.key) +
                                       ": expected a number, true, false or null, got " +
                                       Quote(item.value));
      }
      config[std::string(item.key)] = std::move(value);
    }
  }
  const std::string source = text;  // the message prefix; `text` moves into the name
  return ModelSpecFromHfConfig(config, source, std::move(text));
}

}  // namespace twinsim::core
