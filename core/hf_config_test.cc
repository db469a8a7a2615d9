#include "core/hf_config.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/hf_presets.h"
#include "core/model_file.h"
#include "core/model_presets.h"

namespace twinsim::core {
namespace {

using nlohmann::json;

ModelSpec Build(const json& config) {
  StatusOr<ModelSpec> m = ModelSpecFromHfConfig(config, "config.json", "m");
  EXPECT_TRUE(m.ok()) << m.status().ToString();
  return m.ok() ? *m : ModelSpec{};
}

std::string Error(const json& config) {
  StatusOr<ModelSpec> m = ModelSpecFromHfConfig(config, "dir/config.json", "m");
  EXPECT_FALSE(m.ok());
  if (m.ok()) return "";
  EXPECT_EQ(m.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(m.status().message().find('\n'), std::string::npos) << m.status().message();
  return m.status().message();
}

// "name [shape]" of every parameter of layer `layer`, in registration order.
std::vector<std::string> LayerParams(const ModelSpec& m, int layer) {
  std::vector<std::string> out;
  for (const ParamSpec& p : m.params) {
    if (p.layer == layer) out.push_back(p.name + " " + FormatShape(p.shape));
  }
  return out;
}

std::vector<std::string> Outside(const ModelSpec& m) {
  std::vector<std::string> out;
  for (const ParamSpec& p : m.params) {
    if (p.layer < 0) out.push_back(p.name + " " + FormatShape(p.shape));
  }
  return out;
}

const ParamSpec& Get(const ModelSpec& m, const std::string& name) {
  const int i = m.Find(name);
  EXPECT_GE(i, 0) << name;
  static const ParamSpec kMissing;
  return i >= 0 ? m.params[i] : kMissing;
}

// A tiny dense config: d 16, 4 heads of 4, 2 kv heads, ffn 24, vocab 50, 2 layers.
json Tiny(const std::string& type) {
  return {{"model_type", type},          {"vocab_size", 50},
          {"hidden_size", 16},           {"intermediate_size", 24},
          {"num_hidden_layers", 2},      {"num_attention_heads", 4},
          {"num_key_value_heads", 2},    {"head_dim", 4},
          {"initializer_range", 0.01}};
}

// What transformers' num_parameters() counts for the decoder families, by hand from
// Note [Decoder families as transformers v4.57.1 builds them] in hf_config.cc.
int64_t Attention(int64_t d, int64_t h, int64_t kv, int64_t hd, bool qkv_bias, bool o_bias,
                  bool qk_norm) {
  return 2 * d * h * hd + 2 * d * kv * hd + (qkv_bias ? (h + 2 * kv) * hd : 0) +
         (o_bias ? d : 0) + (qk_norm ? 2 * hd : 0);
}
int64_t Mlp(int64_t d, int64_t f) { return 3 * d * f; }
int64_t Total(int64_t vocab, int64_t d, int64_t layers, int64_t per_layer, bool tie) {
  return vocab * d * (tie ? 1 : 2) + layers * per_layer + d;
}

TEST(HfConfigTest, ListsTheSupportedModelTypes) {
  EXPECT_EQ(HfModelTypes(),
            (std::vector<std::string>{"gpt2", "llama", "mistral", "mixtral", "qwen2", "qwen2_moe",
                                      "qwen3", "qwen3_moe", "phi3", "gemma2", "gemma3_text",
                                      "deepseek_v3"}));
}

TEST(HfConfigTest, LlamaGivesTheLlama3PresetsSpec) {
  // meta-llama/Llama-3.1-8B's config.json, the structural keys.
  const json config = {{"model_type", "llama"},        {"vocab_size", 128256},
                       {"hidden_size", 4096},          {"intermediate_size", 14336},
                       {"num_hidden_layers", 32},      {"num_attention_heads", 32},
                       {"num_key_value_heads", 8},     {"initializer_range", 0.02},
                       {"tie_word_embeddings", false}, {"torch_dtype", "bfloat16"}};
  const ModelSpec hf = Build(config);
  StatusOr<ModelSpec> preset = MakeModel("llama3-8b");
  ASSERT_TRUE(preset.ok());
  ASSERT_EQ(hf.params.size(), preset->params.size());
  for (size_t i = 0; i < hf.params.size(); ++i) {
    const ParamSpec &a = hf.params[i], &b = preset->params[i];
    EXPECT_EQ(a.name, b.name);
    EXPECT_EQ(a.shape, b.shape) << a.name;
    EXPECT_EQ(a.tp_split, b.tp_split) << a.name;
    EXPECT_EQ(a.tp_dim, b.tp_dim) << a.name;
    EXPECT_EQ(a.role, b.role) << a.name;
    EXPECT_EQ(a.layer, b.layer) << a.name;
    EXPECT_EQ(FormatInitSpec(a.init), FormatInitSpec(b.init)) << a.name;
    EXPECT_EQ(a.tied_to, b.tied_to) << a.name;
  }
  EXPECT_EQ(hf.NumParams(), 8030261248);  // Llama 3.1 8B
  EXPECT_EQ(hf.num_layers, 32);
  EXPECT_EQ(hf.num_heads, 32);
}

TEST(HfConfigTest, Gpt2GivesTheGpt2PresetsSpec) {
  // openai-community/gpt2's config.json, the structural keys (n_inner null: 4 * n_embd).
  const json config = {{"model_type", "gpt2"},  {"vocab_size", 50257}, {"n_positions", 1024},
                       {"n_embd", 768},         {"n_layer", 12},       {"n_head", 12},
                       {"n_inner", nullptr},    {"initializer_range", 0.02}};
  const ModelSpec hf = Build(config);
  StatusOr<ModelSpec> preset = MakeModel("gpt2-small");
  ASSERT_TRUE(preset.ok());
  ASSERT_EQ(hf.params.size(), preset->params.size());
  for (size_t i = 0; i < hf.params.size(); ++i) {
    const ParamSpec &a = hf.params[i], &b = preset->params[i];
    EXPECT_EQ(a.name, b.name);
    EXPECT_EQ(a.shape, b.shape) << a.name;
    EXPECT_EQ(a.tp_split, b.tp_split) << a.name;
    EXPECT_EQ(a.tp_dim, b.tp_dim) << a.name;
    EXPECT_EQ(a.role, b.role) << a.name;
    EXPECT_EQ(a.layer, b.layer) << a.name;
    EXPECT_EQ(FormatInitSpec(a.init), FormatInitSpec(b.init)) << a.name;
    EXPECT_EQ(a.tied_to, b.tied_to) << a.name;
  }
  EXPECT_EQ(hf.NumParams(), 124439808);
}

TEST(HfConfigTest, LlamaBiasesAndTiedHead) {
  json config = Tiny("llama");
  config["attention_bias"] = true;
  config["mlp_bias"] = true;
  config["tie_word_embeddings"] = true;
  const ModelSpec m = Build(config);
  EXPECT_EQ(LayerParams(m, 0),
            (std::vector<std::string>{
                "model.layers.0.self_attn.q_proj.weight [16, 16]",
                "model.layers.0.self_attn.q_proj.bias [16]",
                "model.layers.0.self_attn.k_proj.weight [8, 16]",
                "model.layers.0.self_attn.k_proj.bias [8]",
                "model.layers.0.self_attn.v_proj.weight [8, 16]",
                "model.layers.0.self_attn.v_proj.bias [8]",
                "model.layers.0.self_attn.o_proj.weight [16, 16]",
                "model.layers.0.self_attn.o_proj.bias [16]",
                "model.layers.0.mlp.gate_proj.weight [24, 16]",
                "model.layers.0.mlp.gate_proj.bias [24]",
                "model.layers.0.mlp.up_proj.weight [24, 16]",
                "model.layers.0.mlp.up_proj.bias [24]",
                "model.layers.0.mlp.down_proj.weight [16, 24]",
                "model.layers.0.mlp.down_proj.bias [16]",
                "model.layers.0.input_layernorm.weight [16]",
                "model.layers.0.post_attention_layernorm.weight [16]",
            }));
  EXPECT_EQ(Outside(m), (std::vector<std::string>{"model.embed_tokens.weight [50, 16]",
                                                   "model.norm.weight [16]",
                                                   "lm_head.weight [50, 16]"}));
  EXPECT_EQ(Get(m, "lm_head.weight").tied_to, "model.embed_tokens.weight");
  // Row-parallel o_proj and down_proj keep their biases whole; column biases split.
  EXPECT_EQ(Get(m, "model.layers.0.self_attn.o_proj.bias").tp_split, TpSplit::kReplicated);
  EXPECT_EQ(Get(m, "model.layers.0.self_attn.q_proj.bias").tp_split, TpSplit::kColumn);
  EXPECT_EQ(Get(m, "model.layers.1.mlp.down_proj.weight").tp_dim, 1);
  EXPECT_EQ(Get(m, "model.layers.0.mlp.gate_proj.bias").init.kind, InitKind::kConstant);
  EXPECT_EQ(Get(m, "model.layers.0.mlp.up_proj.weight").init.std, 0.01);
  const int64_t per_layer = Attention(16, 4, 2, 4, true, true, false) + Mlp(16, 24) + 24 * 2 +
                            16 + 2 * 16;
  EXPECT_EQ(m.NumParams(), Total(50, 16, 2, per_layer, true));
}

TEST(HfConfigTest, MistralAndQwen2) {
  const ModelSpec mistral = Build(Tiny("mistral"));
  EXPECT_EQ(mistral.NumParams(),
            Total(50, 16, 2, Attention(16, 4, 2, 4, false, false, false) + Mlp(16, 24) + 32,
                  false));
  EXPECT_EQ(mistral.params.size(), 3u + 2 * 9);

  const ModelSpec qwen2 = Build(Tiny("qwen2"));
  EXPECT_EQ(LayerParams(qwen2, 1),
            (std::vector<std::string>{
                "model.layers.1.self_attn.q_proj.weight [16, 16]",
                "model.layers.1.self_attn.q_proj.bias [16]",
                "model.layers.1.self_attn.k_proj.weight [8, 16]",
                "model.layers.1.self_attn.k_proj.bias [8]",
                "model.layers.1.self_attn.v_proj.weight [8, 16]",
                "model.layers.1.self_attn.v_proj.bias [8]",
                "model.layers.1.self_attn.o_proj.weight [16, 16]",
                "model.layers.1.mlp.gate_proj.weight [24, 16]",
                "model.layers.1.mlp.up_proj.weight [24, 16]",
                "model.layers.1.mlp.down_proj.weight [16, 24]",
                "model.layers.1.input_layernorm.weight [16]",
                "model.layers.1.post_attention_layernorm.weight [16]",
            }));
  EXPECT_EQ(qwen2.NumParams(),
            Total(50, 16, 2, Attention(16, 4, 2, 4, true, false, false) + Mlp(16, 24) + 32,
                  false));
}

TEST(HfConfigTest, HeadDimDefaultsPerFamily) {
  json config = Tiny("mistral");
  config.erase("head_dim");
  EXPECT_EQ(Get(Build(config), "model.layers.0.self_attn.q_proj.weight").shape,
            (std::vector<int64_t>{16, 16}));  // hidden / heads
  config["model_type"] = "qwen3";  // Qwen3Config's head_dim defaults to 128
  EXPECT_EQ(Get(Build(config), "model.layers.0.self_attn.q_proj.weight").shape,
            (std::vector<int64_t>{512, 16}));
  config["model_type"] = "gemma2";  // Gemma2Config's to 256
  EXPECT_EQ(Get(Build(config), "model.layers.0.self_attn.k_proj.weight").shape,
            (std::vector<int64_t>{512, 16}));
  config["model_type"] = "llama";
  config.erase("num_key_value_heads");  // LlamaConfig: None means num_attention_heads
  EXPECT_EQ(Get(Build(config), "model.layers.0.self_attn.k_proj.weight").shape,
            (std::vector<int64_t>{16, 16}));
}

TEST(HfConfigTest, Qwen3HasQkNormsAfterOProj) {
  const ModelSpec m = Build(Tiny("qwen3"));
  EXPECT_EQ(LayerParams(m, 0),
            (std::vector<std::string>{
                "model.layers.0.self_attn.q_proj.weight [16, 16]",
                "model.layers.0.self_attn.k_proj.weight [8, 16]",
                "model.layers.0.self_attn.v_proj.weight [8, 16]",
                "model.layers.0.self_attn.o_proj.weight [16, 16]",
                "model.layers.0.self_attn.q_norm.weight [4]",
                "model.layers.0.self_attn.k_norm.weight [4]",
                "model.layers.0.mlp.gate_proj.weight [24, 16]",
                "model.layers.0.mlp.up_proj.weight [24, 16]",
                "model.layers.0.mlp.down_proj.weight [16, 24]",
                "model.layers.0.input_layernorm.weight [16]",
                "model.layers.0.post_attention_layernorm.weight [16]",
            }));
  EXPECT_EQ(Get(m, "model.layers.0.self_attn.q_norm.weight").tp_split, TpSplit::kReplicated);
  EXPECT_EQ(Get(m, "model.layers.0.self_attn.q_norm.weight").init.value, 1.0);
  EXPECT_EQ(m.NumParams(),
            Total(50, 16, 2, Attention(16, 4, 2, 4, false, false, true) + Mlp(16, 24) + 32,
                  false));
}

TEST(HfConfigTest, Phi3FusesQkvAndGateUpAndRegistersOProjFirst) {
  const ModelSpec m = Build(Tiny("phi3"));
  EXPECT_EQ(LayerParams(m, 0), (std::vector<std::string>{
                                   "model.layers.0.self_attn.o_proj.weight [16, 16]",
                                   "model.layers.0.self_attn.qkv_proj.weight [32, 16]",
                                   "model.layers.0.mlp.gate_up_proj.weight [48, 16]",
                                   "model.layers.0.mlp.down_proj.weight [16, 24]",
                                   "model.layers.0.input_layernorm.weight [16]",
                                   "model.layers.0.post_attention_layernorm.weight [16]",
                               }));
  EXPECT_EQ(Get(m, "model.layers.0.self_attn.qkv_proj.weight").tp_split, TpSplit::kColumn);
  EXPECT_EQ(Get(m, "model.layers.0.mlp.gate_up_proj.weight").tp_dim, 0);
  EXPECT_EQ(Get(m, "model.layers.0.self_attn.o_proj.weight").tp_split, TpSplit::kRow);
  EXPECT_EQ(m.NumParams(),
            Total(50, 16, 2, Attention(16, 4, 2, 4, false, false, false) + Mlp(16, 24) + 32,
                  false));
}

TEST(HfConfigTest, GemmaNormsAreZerosAndTheHeadIsTied) {
  const ModelSpec g2 = Build(Tiny("gemma2"));
  EXPECT_EQ(LayerParams(g2, 0),
            (std::vector<std::string>{
                "model.layers.0.self_attn.q_proj.weight [16, 16]",
                "model.layers.0.self_attn.k_proj.weight [8, 16]",
                "model.layers.0.self_attn.v_proj.weight [8, 16]",
                "model.layers.0.self_attn.o_proj.weight [16, 16]",
                "model.layers.0.mlp.gate_proj.weight [24, 16]",
                "model.layers.0.mlp.up_proj.weight [24, 16]",
                "model.layers.0.mlp.down_proj.weight [16, 24]",
                "model.layers.0.input_layernorm.weight [16]",
                "model.layers.0.post_attention_layernorm.weight [16]",
                "model.layers.0.pre_feedforward_layernorm.weight [16]",
                "model.layers.0.post_feedforward_layernorm.weight [16]",
            }));
  for (const ParamSpec& p : g2.params) {
    if (p.shape.size() == 1) {
      EXPECT_EQ(p.init.kind, InitKind::kConstant) << p.name;
      EXPECT_EQ(p.init.value, 0.0) << p.name;  // Gemma2RMSNorm computes x * (1 + w)
    }
  }
  EXPECT_EQ(Get(g2, "lm_head.weight").tied_to, "model.embed_tokens.weight");
  const int64_t g2_layer = Attention(16, 4, 2, 4, false, false, false) + Mlp(16, 24) + 4 * 16;
  EXPECT_EQ(g2.NumParams(), Total(50, 16, 2, g2_layer, true));

  const ModelSpec g3 = Build(Tiny("gemma3_text"));
  const std::vector<std::string> l0 = LayerParams(g3, 0);
  ASSERT_EQ(l0.size(), 13u);
  EXPECT_EQ(l0[4], "model.layers.0.self_attn.q_norm.weight [4]");
  EXPECT_EQ(l0[5], "model.layers.0.self_attn.k_norm.weight [4]");
  EXPECT_EQ(Get(g3, "model.layers.0.self_attn.k_norm.weight").init.value, 0.0);
  EXPECT_EQ(g3.NumParams(), Total(50, 16, 2, g2_layer + 8, true));
}

TEST(HfConfigTest, MixtralExperts) {
  json config = Tiny("mixtral");
  config["num_local_experts"] = 3;
  const ModelSpec m = Build(config);
  const std::vector<std::string> l0 = LayerParams(m, 0);
  const std::string b = "model.layers.0.block_sparse_moe.";
  EXPECT_EQ(l0, (std::vector<std::string>{
                    "model.layers.0.self_attn.q_proj.weight [16, 16]",
                    "model.layers.0.self_attn.k_proj.weight [8, 16]",
                    "model.layers.0.self_attn.v_proj.weight [8, 16]",
                    "model.layers.0.self_attn.o_proj.weight [16, 16]",
                    b + "gate.weight [3, 16]",
                    b + "experts.0.w1.weight [24, 16]",
                    b + "experts.0.w2.weight [16, 24]",
                    b + "experts.0.w3.weight [24, 16]",
                    b + "experts.1.w1.weight [24, 16]",
                    b + "experts.1.w2.weight [16, 24]",
                    b + "experts.1.w3.weight [24, 16]",
                    b + "experts.2.w1.weight [24, 16]",
                    b + "experts.2.w2.weight [16, 24]",
                    b + "experts.2.w3.weight [24, 16]",
                    "model.layers.0.input_layernorm.weight [16]",
                    "model.layers.0.post_attention_layernorm.weight [16]",
                }));
  EXPECT_EQ(Get(m, b + "gate.weight").tp_split, TpSplit::kReplicated);
  EXPECT_EQ(Get(m, b + "gate.weight").expert, -1);
  EXPECT_EQ(Get(m, b + "experts.2.w2.weight").expert, 2);
  EXPECT_EQ(Get(m, b + "experts.2.w2.weight").tp_split, TpSplit::kRow);
  EXPECT_EQ(Get(m, b + "experts.1.w3.weight").tp_split, TpSplit::kColumn);
  EXPECT_EQ(Get(m, "model.layers.0.self_attn.q_proj.weight").expert, -1);
  const int64_t per_layer =
      Attention(16, 4, 2, 4, false, false, false) + 3 * 16 + 3 * Mlp(16, 24) + 32;
  EXPECT_EQ(m.NumParams(), Total(50, 16, 2, per_layer, false));
}

TEST(HfConfigTest, Qwen2MoeSharedExpertAndDenseLayers) {
  json config = Tiny("qwen2_moe");
  config["num_experts"] = 2;
  config["moe_intermediate_size"] = 8;
  config["shared_expert_intermediate_size"] = 12;
  config["num_hidden_layers"] = 3;
  config["mlp_only_layers"] = {2};
  const ModelSpec m = Build(config);
  const std::string p = "model.layers.0.mlp.";
  EXPECT_EQ(LayerParams(m, 0), (std::vector<std::string>{
                                   "model.layers.0.self_attn.q_proj.weight [16, 16]",
                                   "model.layers.0.self_attn.q_proj.bias [16]",
                                   "model.layers.0.self_attn.k_proj.weight [8, 16]",
                                   "model.layers.0.self_attn.k_proj.bias [8]",
                                   "model.layers.0.self_attn.v_proj.weight [8, 16]",
                                   "model.layers.0.self_attn.v_proj.bias [8]",
                                   "model.layers.0.self_attn.o_proj.weight [16, 16]",
                                   p + "gate.weight [2, 16]",
                                   p + "experts.0.gate_proj.weight [8, 16]",
                                   p + "experts.0.up_proj.weight [8, 16]",
                                   p + "experts.0.down_proj.weight [16, 8]",
                                   p + "experts.1.gate_proj.weight [8, 16]",
                                   p + "experts.1.up_proj.weight [8, 16]",
                                   p + "experts.1.down_proj.weight [16, 8]",
                                   p + "shared_expert.gate_proj.weight [12, 16]",
                                   p + "shared_expert.up_proj.weight [12, 16]",
                                   p + "shared_expert.down_proj.weight [16, 12]",
                                   p + "shared_expert_gate.weight [1, 16]",
                                   "model.layers.0.input_layernorm.weight [16]",
                                   "model.layers.0.post_attention_layernorm.weight [16]",
                               }));
  EXPECT_EQ(Get(m, p + "shared_expert.up_proj.weight").expert, -1);
  EXPECT_EQ(Get(m, p + "shared_expert_gate.weight").tp_split, TpSplit::kReplicated);
  // Layer 2 is in mlp_only_layers: a dense MLP at intermediate_size.
  EXPECT_EQ(Get(m, "model.layers.2.mlp.down_proj.weight").shape, (std::vector<int64_t>{16, 24}));
  EXPECT_EQ(m.Find("model.layers.2.mlp.gate.weight"), -1);
  const int64_t attn = Attention(16, 4, 2, 4, true, false, false);
  const int64_t sparse = attn + 2 * 16 + 2 * Mlp(16, 8) + Mlp(16, 12) + 16 + 32;
  const int64_t dense = attn + Mlp(16, 24) + 32;
  EXPECT_EQ(m.NumParams(), 2 * 50 * 16 + 2 * sparse + dense + 16);

  config["decoder_sparse_step"] = 2;  // only layer 1: (1 + 1) % 2 == 0
  config["mlp_only_layers"] = json::array();
  const ModelSpec stepped = Build(config);
  EXPECT_EQ(stepped.Find("model.layers.0.mlp.gate.weight"), -1);
  EXPECT_GE(stepped.Find("model.layers.1.mlp.gate.weight"), 0);
  EXPECT_EQ(stepped.Find("model.layers.2.mlp.gate.weight"), -1);
}

TEST(HfConfigTest, Qwen3MoeHasNoSharedExpert) {
  json config = Tiny("qwen3_moe");
  config["num_experts"] = 2;
  config["moe_intermediate_size"] = 8;
  const ModelSpec m = Build(config);
  const std::vector<std::string> l0 = LayerParams(m, 0);
  ASSERT_EQ(l0.size(), 6u + 1 + 6 + 2);
  EXPECT_EQ(l0[6], "model.layers.0.mlp.gate.weight [2, 16]");
  EXPECT_EQ(l0[12], "model.layers.0.mlp.experts.1.down_proj.weight [16, 8]");
  EXPECT_EQ(l0[13], "model.layers.0.input_layernorm.weight [16]");
  const int64_t per_layer =
      Attention(16, 4, 2, 4, false, false, true) + 2 * 16 + 2 * Mlp(16, 8) + 32;
  EXPECT_EQ(m.NumParams(), Total(50, 16, 2, per_layer, false));
}

json TinyDeepseek() {
  json c = Tiny("deepseek_v3");
  c.erase("head_dim");
  c["num_hidden_layers"] = 3;
  c["first_k_dense_replace"] = 1;
  c["n_routed_experts"] = 2;
  c["n_shared_experts"] = 2;
  c["moe_intermediate_size"] = 8;
  c["q_lora_rank"] = 12;
  c["kv_lora_rank"] = 6;
  c["qk_rope_head_dim"] = 2;
  c["qk_nope_head_dim"] = 3;
  c["v_head_dim"] = 5;
  return c;
}

// DeepseekV3ForCausalLM's count: Note [Decoder families ...], deepseek_v3.
int64_t DeepseekCount(int64_t vocab, int64_t d, int64_t layers, int64_t dense, int64_t heads,
                      std::optional<int64_t> q_lora, int64_t kv_lora, int64_t rope, int64_t nope,
                      int64_t v, int64_t ffn, int64_t experts, int64_t moe_ffn, int64_t shared,
                      bool tie) {
  const int64_t qk = nope + rope;
  const int64_t q = q_lora ? d * *q_lora + *q_lora + *q_lora * heads * qk : d * heads * qk;
  const int64_t attn =
      q + d * (kv_lora + rope) + kv_lora + kv_lora * heads * (nope + v) + heads * v * d;
  const int64_t dense_layer = attn + 3 * d * ffn + 2 * d;
  const int64_t moe_layer =
      attn + experts * 3 * d * moe_ffn + experts * d + 3 * d * moe_ffn * shared + 2 * d;
  return vocab * d * (tie ? 1 : 2) + dense * dense_layer + (layers - dense) * moe_layer + d;
}

TEST(HfConfigTest, DeepseekV3LatentAttentionDenseLayersAndExperts) {
  const ModelSpec m = Build(TinyDeepseek());
  const std::string a = "model.layers.0.self_attn.";
  EXPECT_EQ(LayerParams(m, 0), (std::vector<std::string>{
                                   a + "q_a_proj.weight [12, 16]",
                                   a + "q_a_layernorm.weight [12]",
                                   a + "q_b_proj.weight [20, 12]",
                                   a + "kv_a_proj_with_mqa.weight [8, 16]",
                                   a + "kv_a_layernorm.weight [6]",
                                   a + "kv_b_proj.weight [32, 6]",
                                   a + "o_proj.weight [16, 20]",
                                   "model.layers.0.mlp.gate_proj.weight [24, 16]",
                                   "model.layers.0.mlp.up_proj.weight [24, 16]",
                                   "model.layers.0.mlp.down_proj.weight [16, 24]",
                                   "model.layers.0.input_layernorm.weight [16]",
                                   "model.layers.0.post_attention_layernorm.weight [16]",
                               }));
  const std::vector<std::string> l1 = LayerParams(m, 1);
  const std::string p = "model.layers.1.mlp.";
  ASSERT_EQ(l1.size(), 7u + 6 + 1 + 3 + 2);
  EXPECT_EQ(std::vector<std::string>(l1.begin() + 7, l1.end() - 2),
            (std::vector<std::string>{
                p + "experts.0.gate_proj.weight [8, 16]",
                p + "experts.0.up_proj.weight [8, 16]",
                p + "experts.0.down_proj.weight [16, 8]",
                p + "experts.1.gate_proj.weight [8, 16]",
                p + "experts.1.up_proj.weight [8, 16]",
                p + "experts.1.down_proj.weight [16, 8]",
                p + "gate.weight [2, 16]",
                p + "shared_experts.gate_proj.weight [16, 16]",  // 8 * n_shared_experts
                p + "shared_experts.up_proj.weight [16, 16]",
                p + "shared_experts.down_proj.weight [16, 16]",
            }));
  // e_score_correction_bias is a buffer in transformers v4.57.1, not a parameter.
  EXPECT_EQ(m.Find(p + "gate.e_score_correction_bias"), -1);
  EXPECT_EQ(Get(m, p + "gate.weight").init.kind, InitKind::kNormal);
  EXPECT_EQ(Get(m, p + "gate.weight").tp_split, TpSplit::kReplicated);
  EXPECT_EQ(Get(m, a + "q_a_proj.weight").tp_split, TpSplit::kReplicated);
  EXPECT_EQ(Get(m, a + "kv_a_proj_with_mqa.weight").tp_split, TpSplit::kReplicated);
  EXPECT_EQ(Get(m, a + "q_b_proj.weight").tp_split, TpSplit::kColumn);
  EXPECT_EQ(Get(m, a + "kv_b_proj.weight").tp_split, TpSplit::kColumn);
  EXPECT_EQ(Get(m, a + "o_proj.weight").tp_split, TpSplit::kRow);
  EXPECT_EQ(Get(m, p + "experts.1.up_proj.weight").expert, 1);
  EXPECT_EQ(Get(m, p + "shared_experts.up_proj.weight").expert, -1);
  EXPECT_EQ(m.NumParams(), DeepseekCount(50, 16, 3, 1, 4, 12, 6, 2, 3, 5, 24, 2, 8, 2, false));

  json no_q_lora = TinyDeepseek();
  no_q_lora["q_lora_rank"] = nullptr;  // one q_proj, as DeepSeek-V2-Lite
  no_q_lora["attention_bias"] = true;
  const ModelSpec lite = Build(no_q_lora);
  EXPECT_EQ(LayerParams(lite, 2)[0], "model.layers.2.self_attn.q_proj.weight [20, 16]");
  EXPECT_EQ(LayerParams(lite, 2)[2], "model.layers.2.self_attn.kv_a_proj_with_mqa.bias [8]");
  EXPECT_EQ(lite.NumParams(),
            DeepseekCount(50, 16, 3, 1, 4, std::nullopt, 6, 2, 3, 5, 24, 2, 8, 2, false) +
                3 * (6 + 2 + 16));  // kv_a_proj_with_mqa and o_proj biases
}

// ---------------------------------------------------------------------------------------------
// The shipped configs and their presets.

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << path;
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(HfConfigTest, ShippedConfigsEqualTheEmbeddedPresets) {
  ASSERT_EQ(HfPresets().size(), 3u);
  for (const HfPreset& p : HfPresets()) {
    const std::string text = ReadFile(std::string(p.file));
    EXPECT_EQ(text, p.config_json) << p.file << " and core/hf_presets.cc differ";
    const ModelSpec file = Build(json::parse(text));
    StatusOr<ModelSpec> preset = MakeModel(p.name);
    ASSERT_TRUE(preset.ok()) << preset.status().ToString();
    ASSERT_EQ(file.params.size(), preset->params.size()) << p.name;
    for (size_t i = 0; i < file.params.size(); ++i) {
      EXPECT_EQ(file.params[i].name, preset->params[i].name);
      EXPECT_EQ(file.params[i].shape, preset->params[i].shape);
    }
    EXPECT_EQ(preset->name, p.name);
  }
}

TEST(HfConfigTest, ShippedConfigsCountWhatTransformersCounts) {
  // mistralai/Mixtral-8x7B-v0.1: 46,702,792,704 as published (the model card's 46.7B).
  const ModelSpec mixtral = Build(json::parse(ReadFile("scenarios/models/mixtral-8x7b.json")));
  const int64_t mixtral_layer = Attention(4096, 32, 8, 128, false, false, false) + 8 * 4096 +
                                8 * Mlp(4096, 14336) + 2 * 4096;
  EXPECT_EQ(mixtral.NumParams(), Total(32000, 4096, 32, mixtral_layer, false));
  EXPECT_EQ(mixtral.NumParams(), 46702792704);

  // Qwen/Qwen3-30B-A3B: 30.5B published.
  const ModelSpec qwen = Build(json::parse(ReadFile("scenarios/models/qwen3-30b-a3b.json")));
  const int64_t qwen_layer = Attention(2048, 32, 4, 128, false, false, true) + 128 * 2048 +
                             128 * Mlp(2048, 768) + 2 * 2048;
  EXPECT_EQ(qwen.NumParams(), Total(151936, 2048, 48, qwen_layer, false));
  EXPECT_EQ(qwen.NumParams(), 30532122624);

  // deepseek-ai/DeepSeek-V3: 671B for the main model (61 layers, MTP layer not built).
  const ModelSpec ds = Build(json::parse(ReadFile("scenarios/models/deepseek-v3.json")));
  EXPECT_EQ(ds.NumParams(), DeepseekCount(129280, 7168, 61, 3, 128, 1536, 512, 64, 128, 128,
                                          18432, 256, 2048, 1, false));
  EXPECT_EQ(ds.NumParams(), 671026404352);
  EXPECT_EQ(ds.num_layers, 61);
  EXPECT_EQ(ds.params.size(), 3u + 3 * 12 + 58 * (7 + 3 * 256 + 1 + 3 + 2));
}

TEST(HfConfigTest, ModelFilesWithModelTypeAreHuggingFaceConfigs) {
  StatusOr<ModelSpec> m = MakeModel("scenarios/models/qwen3-30b-a3b.json");
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->name, "scenarios/models/qwen3-30b-a3b.json");
  EXPECT_EQ(m->NumParams(), 30532122624);
  StatusOr<ModelSpec> bad =
      ModelSpecFromJsonText(R"({"model_type": "llama", "vocab_size": 0})", "bad.json");
  EXPECT_EQ(bad.status().message(),
            "model file 'bad.json': key 'vocab_size': expected an integer in [1, 16777216], "
            "got 0");
}

TEST(HfConfigTest, PresetsTakeOverrides) {
  StatusOr<ModelSpec> small = MakeModel("deepseek-v3:num_hidden_layers=4,n_routed_experts=8");
  ASSERT_TRUE(small.ok()) << small.status().ToString();
  EXPECT_EQ(small->num_layers, 4);
  EXPECT_EQ(small->name, "deepseek-v3:num_hidden_layers=4,n_routed_experts=8");
  EXPECT_GE(small->Find("model.layers.3.mlp.experts.7.down_proj.weight"), 0);
  EXPECT_EQ(MakeModel("mixtral-8x7b:num_hiden_layers=2").status().message(),
            "mixtral-8x7b: unknown key 'num_hiden_layers' (did you mean 'num_hidden_layers'?); "
            "expected a number or boolean key of scenarios/models/mixtral-8x7b.json: "
            "attention_dropout, bos_token_id, eos_token_id, hidden_size, initializer_range, "
            "intermediate_size, max_position_embeddings, num_attention_heads, "
            "num_experts_per_tok, num_hidden_layers, num_key_value_heads, num_local_experts, "
            "output_router_logits, rms_norm_eps, rope_theta, router_aux_loss_coef, "
            "sliding_window, tie_word_embeddings, use_cache, vocab_size");
  EXPECT_EQ(MakeModel("qwen3-30b-a3b:num_experts=x").status().message(),
            "qwen3-30b-a3b: 'num_experts': expected a number, true, false or null, got 'x'");
  EXPECT_EQ(MakeModel("qwen3-30b-a3b:num_experts=-1").status().message(),
            "qwen3-30b-a3b:num_experts=-1: key 'num_experts': expected an integer in [0, "
            "16777216], got -1");
}

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif

TEST(HfConfigTest, DeepseekV3BuildsFast) {
  if (kSanitized) GTEST_SKIP() << "a time limit, and sanitizers multiply the time";
  const json config = json::parse(ReadFile("scenarios/models/deepseek-v3.json"));
  const auto start = std::chrono::steady_clock::now();
  StatusOr<ModelSpec> m = ModelSpecFromHfConfig(config, "deepseek-v3.json", "deepseek-v3");
  const double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  ASSERT_TRUE(m.ok());
  // Issue 15's target is 50 ms (core:hf_config_bench measures it: about 30 ms on the 2-core
  // CI machine); 10x headroom for a loaded machine running the whole suite.
  EXPECT_LT(ms, 500.0);
}

// ---------------------------------------------------------------------------------------------
// Bad configs: one line, naming the file and the key.

TEST(HfConfigTest, BadConfigsGetOneLineNamingTheFileAndKey) {
  EXPECT_EQ(Error(json::array()),
            "dir/config.json: expected a JSON object (a Hugging Face config.json), got array");
  EXPECT_EQ(Error({{"hidden_size", 4}}),
            "dir/config.json: missing key 'model_type' (one of gpt2, llama, mistral, mixtral, "
            "qwen2, qwen2_moe, qwen3, qwen3_moe, phi3, gemma2, gemma3_text, deepseek_v3)");
  EXPECT_EQ(Error({{"model_type", "bert"}}),
            "dir/config.json: unknown model_type 'bert'; supported: gpt2, llama, mistral, "
            "mixtral, qwen2, qwen2_moe, qwen3, qwen3_moe, phi3, gemma2, gemma3_text, "
            "deepseek_v3");
  EXPECT_EQ(Error({{"model_type", "qwen3moe"}}),
            "dir/config.json: unknown model_type 'qwen3moe' (did you mean 'qwen3_moe'?); "
            "supported: gpt2, llama, mistral, mixtral, qwen2, qwen2_moe, qwen3, qwen3_moe, "
            "phi3, gemma2, gemma3_text, deepseek_v3");
  EXPECT_EQ(Error({{"model_type", 3}}),
            "dir/config.json: key 'model_type': expected a string, got integer 3");

  json c = Tiny("llama");
  c.erase("hidden_size");
  EXPECT_EQ(Error(c), "dir/config.json: missing key 'hidden_size' (an integer in [1, 16777216])");
  c = Tiny("llama");
  c["hidden_size"] = "16";
  EXPECT_EQ(Error(c),
            "dir/config.json: key 'hidden_size': expected an integer in [1, 16777216], got "
            "string \"16\"");
  c["hidden_size"] = 16.5;
  EXPECT_EQ(Error(c),
            "dir/config.json: key 'hidden_size': expected an integer in [1, 16777216], got "
            "number 16.5");
  c["hidden_size"] = -16;
  EXPECT_EQ(Error(c),
            "dir/config.json: key 'hidden_size': expected an integer in [1, 16777216], got -16");
  c["hidden_size"] = 18446744073709551615u;
  EXPECT_EQ(Error(c),
            "dir/config.json: key 'hidden_size': expected an integer in [1, 16777216], got "
            "18446744073709551615");
  c = Tiny("llama");
  c["tie_word_embeddings"] = 1;
  EXPECT_EQ(Error(c),
            "dir/config.json: key 'tie_word_embeddings': expected true or false, got integer 1");
  c = Tiny("llama");
  c["initializer_range"] = 0;
  EXPECT_EQ(Error(c),
            "dir/config.json: key 'initializer_range': expected a positive finite number, got 0");
  c = Tiny("llama");
  c["num_hidden_layers"] = 0;
  EXPECT_EQ(Error(c),
            "dir/config.json: key 'num_hidden_layers': expected an integer in [1, 10000], got 0");

  c = Tiny("mistral");
  c.erase("head_dim");
  c["num_attention_heads"] = 3;
  c["num_key_value_heads"] = 1;
  EXPECT_EQ(Error(c),
            "dir/config.json: hidden_size=16 is not divisible by num_attention_heads=3 (each "
            "head takes hidden_size/num_attention_heads features; or give head_dim)");
  c = Tiny("mistral");
  c["num_key_value_heads"] = 3;
  EXPECT_EQ(Error(c),
            "dir/config.json: num_attention_heads=4 is not divisible by num_key_value_heads=3 "
            "(each key/value head serves num_attention_heads/num_key_value_heads query heads)");
  c = Tiny("gpt2");
  EXPECT_EQ(Error(c), "dir/config.json: missing key 'n_positions' (an integer in [1, 16777216])");

  c = Tiny("mixtral");
  EXPECT_EQ(Error(c),
            "dir/config.json: missing key 'num_local_experts' (an integer in [1, 16777216])");
  c = Tiny("qwen2_moe");
  c["num_experts"] = 2;
  c["moe_intermediate_size"] = 8;
  c["shared_expert_intermediate_size"] = 8;
  c["mlp_only_layers"] = {0, 5};
  EXPECT_EQ(Error(c),
            "dir/config.json: key 'mlp_only_layers': expected an integer in [0, 1], got 5");
  c = TinyDeepseek();
  c.erase("q_lora_rank");
  EXPECT_EQ(Error(c),
            "dir/config.json: missing key 'q_lora_rank' (an integer in [1, 16777216], or null "
            "for a single q_proj)");
  c = TinyDeepseek();
  c["first_k_dense_replace"] = 4;
  EXPECT_EQ(Error(c),
            "dir/config.json: key 'first_k_dense_replace': expected an integer in [0, 3], got 4");

  c = Tiny("mixtral");
  c["num_local_experts"] = 100000;
  c["num_hidden_layers"] = 1000;
  EXPECT_EQ(Error(c),
            "dir/config.json: the config describes up to 300029003 tensors, more than the limit "
            "of 1048576");
  // An element count past int64_t: ValidateModelSpec's message, behind the file name.
  c = Tiny("llama");
  c["num_attention_heads"] = 16777216;
  c["num_key_value_heads"] = 1;
  c["head_dim"] = 16777216;
  c["hidden_size"] = 16777216;
  const std::string overflow = Error(c);
  EXPECT_EQ(overflow.rfind("dir/config.json: model 'm': ", 0), 0u) << overflow;
}

}  // namespace
}  // namespace twinsim::core
