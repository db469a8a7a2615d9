#include "core/model_presets.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <iterator>
#include <string>
#include <vector>

namespace twinsim::core {
namespace {

ModelSpec Make(const std::string& text) {
  StatusOr<ModelSpec> m = MakeModel(text);
  EXPECT_TRUE(m.ok()) << text << ": " << m.status().ToString();
  return m.ok() ? *m : ModelSpec{};
}

const ParamSpec& Get(const ModelSpec& m, const std::string& name) {
  const int i = m.Find(name);
  EXPECT_GE(i, 0) << name;
  static const ParamSpec kMissing;
  return i >= 0 ? m.params[i] : kMissing;
}

// GPT2LMHeadModel's parameter count with a tied head: wte + wpe + blocks + ln_f.
int64_t Gpt2Count(int64_t vocab, int64_t positions, int64_t d, int64_t layers) {
  return vocab * d + positions * d + layers * (12 * d * d + 13 * d) + 2 * d;
}

// LlamaForCausalLM's parameter count with an untied head.
int64_t Llama3Count(int64_t vocab, int64_t d, int64_t layers, int64_t heads, int64_t kv_heads,
                    int64_t ffn) {
  const int64_t head_dim = d / heads;
  const int64_t per_layer = 2 * d * d + 2 * kv_heads * head_dim * d + 3 * ffn * d + 2 * d;
  return 2 * vocab * d + layers * per_layer + d;
}

TEST(ModelPresetsTest, EveryPresetAndFamilyBuildsAndValidates) {
  std::vector<std::string> names = ModelPresetNames();
  for (const std::string& f : ModelFamilyNames()) names.push_back(f);
  ASSERT_GE(names.size(), 20u);
  for (const std::string& name : names) {
    StatusOr<ModelSpec> m = MakeModel(name);
    ASSERT_TRUE(m.ok()) << name << ": " << m.status().ToString();
    EXPECT_EQ(m->name, name);
    EXPECT_TRUE(ValidateModelSpec(*m).ok()) << name;
    EXPECT_GT(m->num_layers, 0) << name;
  }
}

// Published totals: Hugging Face's GPT-2 checkpoints (lm_head shares wte), as also recorded by
// hpcaitech/ColossalAI-Benchmark zero/common/gpt2.py for gpt2_small, gpt2_xl and gpt2_10b.
TEST(ModelPresetsTest, Gpt2ParameterCountsMatchPublishedTotals) {
  EXPECT_EQ(Make("gpt2-small").NumParams(), 124439808);
  EXPECT_EQ(Make("gpt2-medium").NumParams(), 354823168);
  EXPECT_EQ(Make("gpt2-large").NumParams(), 774030080);
  EXPECT_EQ(Make("gpt2-xl").NumParams(), 1557611200);
  EXPECT_EQ(Make("gpt2-10b").NumParams(), 10279047168);
}

// ColossalAI's GPT-2-shaped benchmark sizes: hidden / layers / heads as its model zoos define
// gpt2_<size> (sources in model_presets.cc), counted as GPT2LMHeadModel counts them.
TEST(ModelPresetsTest, ColossalAiSizesHaveTheirShapes) {
  struct Size {
    const char* name;
    int layers;
    int64_t hidden;
    int heads;
  };
  const Size sizes[] = {
      {"gpt2-4b", 64, 2304, 16},  {"gpt2-6b", 30, 4096, 16},  {"gpt2-8b", 72, 3072, 24},
      {"gpt2-10b", 50, 4096, 16}, {"gpt2-12b", 60, 4096, 16}, {"gpt2-14b", 70, 4096, 16},
      {"gpt2-15b", 78, 4096, 16}, {"gpt2-18b", 90, 4096, 16}, {"gpt2-20b", 25, 8192, 16},
      {"gpt2-24b", 30, 8192, 16}, {"gpt2-28b", 35, 8192, 16}, {"gpt2-32b", 40, 8192, 16},
  };
  for (const Size& s : sizes) {
    const ModelSpec m = Make(s.name);
    EXPECT_EQ(m.num_layers, s.layers) << s.name;
    EXPECT_EQ(Get(m, "transformer.wte.weight").shape, (std::vector<int64_t>{50257, s.hidden}))
        << s.name;
    EXPECT_EQ(Get(m, "transformer.wpe.weight").shape, (std::vector<int64_t>{1024, s.hidden}))
        << s.name;
    EXPECT_EQ(m.NumParams(), Gpt2Count(50257, 1024, s.hidden, s.layers)) << s.name;
    // The name promises roughly this many parameters.
    const double billions = std::stod(std::string(s.name).substr(5));
    EXPECT_NEAR(m.NumParams() / 1e9, billions, 0.1 * billions) << s.name;
  }
}

TEST(ModelPresetsTest, Gpt3Has175BillionParameters) {
  const ModelSpec m = Make("gpt3-175b");
  EXPECT_EQ(m.num_layers, 96);
  EXPECT_EQ(Get(m, "transformer.wpe.weight").shape, (std::vector<int64_t>{2048, 12288}));
  EXPECT_EQ(m.NumParams(), Gpt2Count(50257, 2048, 12288, 96));
  EXPECT_EQ(m.NumParams(), 174604259328);  // the "175B" of Brown et al. 2020
}

TEST(ModelPresetsTest, AttentionHeadsFollowTheConfig) {
  for (const auto& [text, heads] : std::vector<std::pair<std::string, int>>{
           {"gpt2-small", 12}, {"gpt2-xl", 25}, {"gpt3-175b", 96}, {"llama3-8b", 32},
           {"llama3-405b", 128}, {"gpt2:n_layer=2,n_embd=128,n_head=4", 4},
           {"tiny-mlp", 0}}) {
    StatusOr<ModelSpec> m = MakeModel(text);
    ASSERT_TRUE(m.ok()) << text << ": " << m.status().message();
    EXPECT_EQ(m->num_heads, heads) << text;
  }
}

TEST(ModelPresetsTest, Gpt2BlockNamesShapesAndOrderFollowHuggingFace) {
  const ModelSpec m = Make("gpt2-small");
  ASSERT_EQ(m.params.size(), 2u + 12 * 12 + 3);
  struct Expected {
    const char* name;
    std::vector<int64_t> shape;
  };
  const Expected head[] = {
      {"transformer.wte.weight", {50257, 768}},
      {"transformer.wpe.weight", {1024, 768}},
      {"transformer.h.0.ln_1.weight", {768}},
      {"transformer.h.0.ln_1.bias", {768}},
      {"transformer.h.0.attn.c_attn.weight", {768, 2304}},  // Conv1D: [in, out]
      {"transformer.h.0.attn.c_attn.bias", {2304}},
      {"transformer.h.0.attn.c_proj.weight", {768, 768}},
      {"transformer.h.0.attn.c_proj.bias", {768}},
      {"transformer.h.0.ln_2.weight", {768}},
      {"transformer.h.0.ln_2.bias", {768}},
      {"transformer.h.0.mlp.c_fc.weight", {768, 3072}},
      {"transformer.h.0.mlp.c_fc.bias", {3072}},
      {"transformer.h.0.mlp.c_proj.weight", {3072, 768}},
      {"transformer.h.0.mlp.c_proj.bias", {768}},
      {"transformer.h.1.ln_1.weight", {768}},
  };
  for (size_t i = 0; i < std::size(head); ++i) {
    EXPECT_EQ(m.params[i].name, head[i].name) << i;
    EXPECT_EQ(m.params[i].shape, head[i].shape) << head[i].name;
  }
  const size_t n = m.params.size();
  EXPECT_EQ(m.params[n - 4].name, "transformer.h.11.mlp.c_proj.bias");
  EXPECT_EQ(m.params[n - 3].name, "transformer.ln_f.weight");
  EXPECT_EQ(m.params[n - 2].name, "transformer.ln_f.bias");
  EXPECT_EQ(m.params[n - 1].name, "lm_head.weight");
  EXPECT_EQ(m.params[n - 1].tied_to, "transformer.wte.weight");
  EXPECT_EQ(m.params[n - 1].shape, (std::vector<int64_t>{50257, 768}));
}

TEST(ModelPresetsTest, Gpt2RolesAndLayers) {
  const ModelSpec m = Make("gpt2-small");
  EXPECT_EQ(m.num_layers, 12);
  EXPECT_EQ(Get(m, "transformer.wte.weight").role, ParamRole::kEmbedding);
  EXPECT_EQ(Get(m, "transformer.wpe.weight").role, ParamRole::kEmbedding);
  EXPECT_EQ(Get(m, "transformer.h.7.attn.c_attn.bias").role, ParamRole::kLayer);
  EXPECT_EQ(Get(m, "transformer.h.7.attn.c_attn.bias").layer, 7);
  EXPECT_EQ(Get(m, "transformer.ln_f.bias").role, ParamRole::kFinalNorm);
  EXPECT_EQ(Get(m, "transformer.ln_f.bias").layer, -1);
  EXPECT_EQ(Get(m, "lm_head.weight").role, ParamRole::kHead);
  for (const ParamSpec& p : m.params) EXPECT_EQ(p.dtype, DType::kFp32) << p.name;
}

TEST(ModelPresetsTest, Gpt2InitsAreHuggingFacesWithResidualScaling) {
  const ModelSpec m = Make("gpt2-small");
  const std::string normal = "normal:mean=0,std=0.02";
  EXPECT_EQ(FormatInitSpec(Get(m, "transformer.wte.weight").init), normal);
  EXPECT_EQ(FormatInitSpec(Get(m, "transformer.wpe.weight").init), normal);
  EXPECT_EQ(FormatInitSpec(Get(m, "transformer.h.3.attn.c_attn.weight").init), normal);
  EXPECT_EQ(FormatInitSpec(Get(m, "transformer.h.3.mlp.c_fc.weight").init), normal);
  EXPECT_EQ(FormatInitSpec(Get(m, "lm_head.weight").init), normal);
  // 0.02 / sqrt(2 * n_layer), computed in double as Python computes it.
  for (const char* name :
       {"transformer.h.0.attn.c_proj.weight", "transformer.h.11.mlp.c_proj.weight"}) {
    const InitSpec& init = Get(m, name).init;
    EXPECT_EQ(init.kind, InitKind::kNormal) << name;
    EXPECT_EQ(init.mean, 0.0) << name;
    EXPECT_EQ(init.std, 0.02 / std::sqrt(24.0)) << name;
  }
  EXPECT_EQ(Get(Make("gpt2-xl"), "transformer.h.47.mlp.c_proj.weight").init.std,
            0.02 / std::sqrt(96.0));
  for (const char* name : {"transformer.h.0.attn.c_attn.bias", "transformer.h.0.attn.c_proj.bias",
                           "transformer.h.0.mlp.c_fc.bias", "transformer.h.0.mlp.c_proj.bias",
                           "transformer.h.0.ln_1.bias", "transformer.ln_f.bias"}) {
    EXPECT_EQ(FormatInitSpec(Get(m, name).init), "constant:value=0") << name;
  }
  for (const char* name :
       {"transformer.h.0.ln_1.weight", "transformer.h.0.ln_2.weight", "transformer.ln_f.weight"}) {
    EXPECT_EQ(FormatInitSpec(Get(m, name).init), "constant:value=1") << name;
  }
}

TEST(ModelPresetsTest, Gpt2TpSplitsFollowMegatronOnConv1DShapes) {
  const ModelSpec m = Make("gpt2-small");
  struct Split {
    const char* name;
    TpSplit split;
    int dim;
  };
  const Split splits[] = {
      {"transformer.wte.weight", TpSplit::kVocab, 0},
      {"transformer.wpe.weight", TpSplit::kReplicated, -1},
      {"transformer.h.0.ln_1.weight", TpSplit::kReplicated, -1},
      {"transformer.h.0.ln_1.bias", TpSplit::kReplicated, -1},
      {"transformer.h.0.attn.c_attn.weight", TpSplit::kColumn, 1},  // [in, out]: out is dim 1
      {"transformer.h.0.attn.c_attn.bias", TpSplit::kColumn, 0},
      {"transformer.h.0.attn.c_proj.weight", TpSplit::kRow, 0},  // [in, out]: in is dim 0
      {"transformer.h.0.attn.c_proj.bias", TpSplit::kReplicated, -1},
      {"transformer.h.0.mlp.c_fc.weight", TpSplit::kColumn, 1},
      {"transformer.h.0.mlp.c_fc.bias", TpSplit::kColumn, 0},
      {"transformer.h.0.mlp.c_proj.weight", TpSplit::kRow, 0},
      {"transformer.h.0.mlp.c_proj.bias", TpSplit::kReplicated, -1},
      {"transformer.ln_f.weight", TpSplit::kReplicated, -1},
      {"lm_head.weight", TpSplit::kVocab, 0},
  };
  for (const Split& s : splits) {
    EXPECT_EQ(Get(m, s.name).tp_split, s.split) << s.name;
    EXPECT_EQ(Get(m, s.name).tp_dim, s.dim) << s.name;
  }
}

// Hugging Face's safetensors totals for meta-llama/Llama-3.1-{8B,70B,405B}.
TEST(ModelPresetsTest, Llama3ParameterCountsMatchPublishedTotals) {
  const ModelSpec m8 = Make("llama3-8b"), m70 = Make("llama3-70b"), m405 = Make("llama3-405b");
  EXPECT_EQ(m8.NumParams(), 8030261248);
  EXPECT_EQ(m70.NumParams(), 70553706496);
  EXPECT_EQ(m405.NumParams(), 405853388800);
  EXPECT_EQ(m8.NumParams(), Llama3Count(128256, 4096, 32, 32, 8, 14336));
  EXPECT_EQ(m70.NumParams(), Llama3Count(128256, 8192, 80, 64, 8, 28672));
  EXPECT_EQ(m405.NumParams(), Llama3Count(128256, 16384, 126, 128, 8, 53248));
  EXPECT_EQ(m405.params.size(), 1u + 126 * 9 + 2);
}

// ffn_dim as Meta's reference model derives it from dim, ffn_dim_multiplier and multiple_of
// (meta-llama/llama-models, models/llama3_1/api/sku_list.py gives those two per size).
TEST(ModelPresetsTest, Llama3FfnDimsFollowMetasFormula) {
  auto ffn = [](int64_t dim, double multiplier, int64_t multiple_of) {
    int64_t hidden = 4 * dim;
    hidden = 2 * hidden / 3;
    hidden = static_cast<int64_t>(multiplier * static_cast<double>(hidden));
    return multiple_of * ((hidden + multiple_of - 1) / multiple_of);
  };
  EXPECT_EQ(Get(Make("llama3-8b"), "model.layers.0.mlp.up_proj.weight").shape[0],
            ffn(4096, 1.3, 1024));
  EXPECT_EQ(Get(Make("llama3-70b"), "model.layers.0.mlp.up_proj.weight").shape[0],
            ffn(8192, 1.3, 4096));
  EXPECT_EQ(Get(Make("llama3-405b"), "model.layers.0.mlp.up_proj.weight").shape[0],
            ffn(16384, 1.2, 4096));
}

TEST(ModelPresetsTest, Llama3LayerNamesOrderAndGqaShapes) {
  const ModelSpec m = Make("llama3-8b");
  struct Expected {
    const char* name;
    std::vector<int64_t> shape;
    TpSplit split;
    int dim;
  };
  const Expected order[] = {
      {"model.embed_tokens.weight", {128256, 4096}, TpSplit::kVocab, 0},
      {"model.layers.0.self_attn.q_proj.weight", {4096, 4096}, TpSplit::kColumn, 0},
      {"model.layers.0.self_attn.k_proj.weight", {1024, 4096}, TpSplit::kColumn, 0},  // 8 kv heads
      {"model.layers.0.self_attn.v_proj.weight", {1024, 4096}, TpSplit::kColumn, 0},
      {"model.layers.0.self_attn.o_proj.weight", {4096, 4096}, TpSplit::kRow, 1},
      {"model.layers.0.mlp.gate_proj.weight", {14336, 4096}, TpSplit::kColumn, 0},
      {"model.layers.0.mlp.up_proj.weight", {14336, 4096}, TpSplit::kColumn, 0},
      {"model.layers.0.mlp.down_proj.weight", {4096, 14336}, TpSplit::kRow, 1},
      {"model.layers.0.input_layernorm.weight", {4096}, TpSplit::kReplicated, -1},
      {"model.layers.0.post_attention_layernorm.weight", {4096}, TpSplit::kReplicated, -1},
      {"model.layers.1.self_attn.q_proj.weight", {4096, 4096}, TpSplit::kColumn, 0},
  };
  for (size_t i = 0; i < std::size(order); ++i) {
    const ParamSpec& p = m.params[i];
    EXPECT_EQ(p.name, order[i].name) << i;
    EXPECT_EQ(p.shape, order[i].shape) << p.name;
    EXPECT_EQ(p.tp_split, order[i].split) << p.name;
    EXPECT_EQ(p.tp_dim, order[i].dim) << p.name;
  }
  const size_t n = m.params.size();
  EXPECT_EQ(m.params[n - 2].name, "model.norm.weight");
  EXPECT_EQ(m.params[n - 2].role, ParamRole::kFinalNorm);
  EXPECT_EQ(m.params[n - 1].name, "lm_head.weight");
  EXPECT_EQ(m.params[n - 1].shape, (std::vector<int64_t>{128256, 4096}));
  EXPECT_EQ(m.params[n - 1].tied_to, "");  // Llama 3 does not tie its head
  EXPECT_EQ(m.params[n - 1].tp_split, TpSplit::kVocab);

  const ModelSpec big = Make("llama3-405b");
  EXPECT_EQ(Get(big, "model.layers.125.self_attn.k_proj.weight").shape,
            (std::vector<int64_t>{1024, 16384}));  // 8 kv heads x head_dim 128
  EXPECT_EQ(Get(big, "model.layers.125.self_attn.q_proj.weight").shape,
            (std::vector<int64_t>{16384, 16384}));
  EXPECT_EQ(Get(big, "model.layers.125.mlp.down_proj.weight").shape,
            (std::vector<int64_t>{16384, 53248}));
}

TEST(ModelPresetsTest, Llama3InitsAreHuggingFaces) {
  const ModelSpec m = Make("llama3-70b");
  for (const ParamSpec& p : m.params) {
    const bool norm = p.name.find("norm") != std::string::npos;
    EXPECT_EQ(FormatInitSpec(p.init), norm ? "constant:value=1" : "normal:mean=0,std=0.02")
        << p.name;
  }
}

TEST(ModelPresetsTest, LinearStackUsesTorchDefaultInit) {
  const ModelSpec m = Make("linear-stack:layers=4,width=1024");
  ASSERT_EQ(m.params.size(), 8u);
  EXPECT_EQ(m.num_layers, 4);
  EXPECT_EQ(m.NumParams(), 4 * (1024 * 1024 + 1024));
  const ParamSpec& w = Get(m, "layers.2.weight");
  EXPECT_EQ(w.shape, (std::vector<int64_t>{1024, 1024}));
  EXPECT_EQ(w.init.kind, InitKind::kKaimingUniform);
  EXPECT_EQ(w.init.a, std::sqrt(5.0));
  EXPECT_EQ(w.init.fan_in, 1024);
  EXPECT_EQ(w.init.mode, FanMode::kFanIn);
  EXPECT_EQ(w.init.nonlinearity, Nonlinearity::kLeakyRelu);
  // kaiming_uniform(a=sqrt(5)) is U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
  const double gain = CalculateGain(w.init.nonlinearity, w.init.a);
  EXPECT_NEAR(gain * std::sqrt(3.0 / 1024), 1.0 / 32, 1e-15);
  const ParamSpec& b = Get(m, "layers.2.bias");
  EXPECT_EQ(b.init.kind, InitKind::kUniform);
  EXPECT_EQ(b.init.a, -1.0 / 32);
  EXPECT_EQ(b.init.b, 1.0 / 32);
  // Column, row, column, row; row-parallel biases replicated.
  EXPECT_EQ(Get(m, "layers.0.weight").tp_split, TpSplit::kColumn);
  EXPECT_EQ(Get(m, "layers.0.weight").tp_dim, 0);
  EXPECT_EQ(Get(m, "layers.0.bias").tp_split, TpSplit::kColumn);
  EXPECT_EQ(Get(m, "layers.1.weight").tp_split, TpSplit::kRow);
  EXPECT_EQ(Get(m, "layers.1.weight").tp_dim, 1);
  EXPECT_EQ(Get(m, "layers.1.bias").tp_split, TpSplit::kReplicated);
  EXPECT_EQ(Get(m, "layers.1.bias").tp_dim, -1);
}

TEST(ModelPresetsTest, TinyMlpHasOddShapesAndFanIns) {
  const ModelSpec m = Make("tiny-mlp");
  ASSERT_EQ(m.params.size(), 6u);
  EXPECT_EQ(m.params[0].shape, (std::vector<int64_t>{32, 12}));
  EXPECT_EQ(m.params[0].init.fan_in, 12);
  EXPECT_EQ(m.params[2].shape, (std::vector<int64_t>{32, 32}));
  EXPECT_EQ(m.params[4].name, "layers.2.weight");
  EXPECT_EQ(m.params[4].shape, (std::vector<int64_t>{10, 32}));
  EXPECT_EQ(m.params[5].shape, (std::vector<int64_t>{10}));
  EXPECT_EQ(m.params[5].init.b, 1.0 / std::sqrt(32.0));
  EXPECT_EQ(Make("tiny-mlp:bias=0").params.size(), 3u);
}

TEST(ModelPresetsTest, OverridesChangeOnlyWhatTheyName) {
  const ModelSpec m = Make("gpt2:n_layer=2,n_embd=128,n_head=4,vocab_size=50258");
  EXPECT_EQ(m.name, "gpt2:n_layer=2,n_embd=128,n_head=4,vocab_size=50258");
  EXPECT_EQ(m.num_layers, 2);
  EXPECT_EQ(m.NumParams(), Gpt2Count(50258, 1024, 128, 2));
  EXPECT_EQ(Get(m, "transformer.wte.weight").shape, (std::vector<int64_t>{50258, 128}));
  EXPECT_EQ(Get(m, "transformer.h.1.mlp.c_proj.weight").init.std, 0.02 / std::sqrt(4.0));

  // A preset with overrides keeps the rest of the preset.
  const ModelSpec l = Make("llama3-405b:n_layers=2");
  EXPECT_EQ(l.num_layers, 2);
  EXPECT_EQ(l.NumParams(), Llama3Count(128256, 16384, 2, 128, 8, 53248));
  const ModelSpec gqa =
      Make("llama3:n_layers=1,dim=64,n_heads=8,n_kv_heads=2,ffn_dim=96,vocab_size=100");
  EXPECT_EQ(Get(gqa, "model.layers.0.self_attn.k_proj.weight").shape,
            (std::vector<int64_t>{16, 64}));
  EXPECT_EQ(Get(gqa, "model.layers.0.self_attn.q_proj.weight").shape,
            (std::vector<int64_t>{64, 64}));

  const ModelSpec inner = Make("gpt2:n_layer=1,n_inner=100");
  EXPECT_EQ(Get(inner, "transformer.h.0.mlp.c_fc.weight").shape, (std::vector<int64_t>{768, 100}));

  const ModelSpec untied = Make("gpt2-small:tie_word_embeddings=0");
  EXPECT_EQ(untied.NumParams(), 124439808 + 50257 * 768);
  EXPECT_EQ(Get(untied, "lm_head.weight").tied_to, "");
  const ModelSpec tied = Make("llama3:n_layers=1,tie_word_embeddings=true");
  EXPECT_EQ(Get(tied, "lm_head.weight").tied_to, "model.embed_tokens.weight");

  const ModelSpec half = Make("gpt2:n_layer=1,dtype=bf16,initializer_range=0.01");
  for (const ParamSpec& p : half.params) EXPECT_EQ(p.dtype, DType::kBf16) << p.name;
  EXPECT_EQ(Get(half, "transformer.wte.weight").init.std, 0.01);

  const ModelSpec stack = Make("linear-stack:layers=2,width=8,in_features=3,out_features=5");
  EXPECT_EQ(stack.params[0].shape, (std::vector<int64_t>{8, 3}));
  EXPECT_EQ(stack.params[2].shape, (std::vector<int64_t>{5, 8}));
}

TEST(ModelPresetsTest, Llama405bBuildsInMilliseconds) {
  constexpr int kRuns = 20;
  const auto start = std::chrono::steady_clock::now();
  size_t params = 0;
  for (int i = 0; i < kRuns; ++i) params += Make("llama3-405b").params.size();
  const double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count() /
      kRuns;
  EXPECT_EQ(params, kRuns * 1137u);
  EXPECT_LT(ms, 20.0) << "one llama3-405b spec took " << ms << " ms";
  std::printf("llama3-405b ModelSpec (1,137 params): %.3f ms per build\n", ms);
}

TEST(ModelPresetsTest, BadModelStringsGetOneClearMessage) {
  struct Case {
    const char* text;
    const char* message;  // the whole message
  };
  const Case cases[] = {
      {"gpt2:",
       "gpt2: expected key=value after ':' (keys: n_layer, n_embd, n_head, n_inner, "
       "vocab_size, n_positions, initializer_range, tie_word_embeddings, dtype)"},
      {"gpt2:n_layer", "gpt2: expected key=value, got 'n_layer'"},
      {"gpt2:n_layer=2,", "gpt2: trailing ',' in 'gpt2:n_layer=2,'"},
      {"gpt2:n_layers=2",
       "gpt2: unknown key 'n_layers' (did you mean 'n_layer'?); expected one of n_layer, n_embd, "
       "n_head, n_inner, vocab_size, n_positions, initializer_range, tie_word_embeddings, dtype"},
      {"gpt2: n_layer=2",
       "gpt2: unknown key ' n_layer' (did you mean 'n_layer'?); expected one of n_layer, n_embd, "
       "n_head, n_inner, vocab_size, n_positions, initializer_range, tie_word_embeddings, dtype"},
      {"llama3:n_layer=2",
       "llama3: unknown key 'n_layer' (did you mean 'n_layers'?); expected one of n_layers, dim, "
       "n_heads, n_kv_heads, ffn_dim, vocab_size, initializer_range, tie_word_embeddings, dtype"},
      {"llama3-8b:hidden_size=10",
       "llama3-8b: unknown key 'hidden_size'; expected one of n_layers, dim, n_heads, n_kv_heads, "
       "ffn_dim, vocab_size, initializer_range, tie_word_embeddings, dtype"},
      {"tiny-mlp:n_layer=2",
       "tiny-mlp: unknown key 'n_layer'; expected one of layers, width, in_features, "
       "out_features, bias, dtype"},
      {"gpt2:n_layer=0", "gpt2: 'n_layer': expected an integer in [1, 10000], got '0'"},
      {"gpt2:n_layer=-3", "gpt2: 'n_layer': expected an integer in [1, 10000], got '-3'"},
      {"gpt2:n_layer=", "gpt2: 'n_layer': expected an integer in [1, 10000], got ''"},
      {"gpt2:n_layer=20000", "gpt2: 'n_layer': expected an integer in [1, 10000], got '20000'"},
      {"gpt2:n_embd=12.5", "gpt2: 'n_embd': expected an integer in [1, 16777216], got '12.5'"},
      {"gpt2:vocab_size=99999999999999999999",
       "gpt2: 'vocab_size': expected an integer in [1, 16777216], got '99999999999999999999'"},
      {"linear-stack:width=0",
       "linear-stack: 'width': expected an integer in [1, 16777216], got '0'"},
      {"gpt2:n_layer=1,n_layer=2", "gpt2: key 'n_layer' given twice"},
      {"gpt2:n_embd=100,n_head=3",
       "gpt2: n_embd=100 is not divisible by n_head=3 (each attention head takes n_embd/n_head "
       "features)"},
      {"gpt2-xl:n_head=7",
       "gpt2-xl: n_embd=1600 is not divisible by n_head=7 (each attention head takes "
       "n_embd/n_head features)"},
      {"llama3:dim=4100",
       "llama3: dim=4100 is not divisible by n_heads=32 (each attention head takes dim/n_heads "
       "features)"},
      {"llama3:n_heads=32,n_kv_heads=5",
       "llama3: n_heads=32 is not divisible by n_kv_heads=5 (grouped-query attention shares each "
       "key/value head among n_heads/n_kv_heads query heads)"},
      {"llama3-8b:n_kv_heads=64",
       "llama3-8b: n_heads=32 is not divisible by n_kv_heads=64 (grouped-query attention shares "
       "each key/value head among n_heads/n_kv_heads query heads)"},
      {"gpt2:dtype=fp64", "gpt2: 'dtype': expected fp32, bf16 or fp16, got 'fp64'"},
      {"gpt2:initializer_range=-0.02",
       "gpt2: 'initializer_range': expected a positive finite number, got '-0.02'"},
      {"gpt2:initializer_range=nan",
       "gpt2: 'initializer_range': expected a positive finite number, got 'nan'"},
      {"gpt2:initializer_range=1e300",
       "model 'gpt2:initializer_range=1e300': param 'transformer.wte.weight': init normal: 'std' "
       "= 1e+300 is outside float range"},
      {"linear-stack:bias=2", "linear-stack: 'bias': expected 0, 1, true or false, got '2'"},
      {"gpt2:tie_word_embeddings=yes",
       "gpt2: 'tie_word_embeddings': expected 0, 1, true or false, got 'yes'"},
  };
  for (const Case& c : cases) {
    StatusOr<ModelSpec> m = MakeModel(c.text);
    ASSERT_FALSE(m.ok()) << c.text;
    EXPECT_EQ(m.status().code(), StatusCode::kInvalidArgument) << c.text;
    EXPECT_EQ(m.status().message(), c.message) << c.text;
  }
}

// Unknown names end with the catalogue; the part before it is exact.
TEST(ModelPresetsTest, UnknownModelNamesSuggestTheNearestPreset) {
  struct Case {
    const char* text;
    const char* start;
  };
  const Case cases[] = {
      {"", "empty model name; expected a preset (tiny-mlp, gpt2-small, "},
      {":n_layer=2", "empty model name before ':' in ':n_layer=2'; expected a preset ("},
      {"gtp2-small",
       "unknown model 'gtp2-small' (did you mean 'gpt2-small'?); expected a preset ("},
      {"GPT2-small",
       "unknown model 'GPT2-small' (did you mean 'gpt2-small'?); expected a preset ("},
      {"gpt2_10b", "unknown model 'gpt2_10b' (did you mean 'gpt2-10b'?); expected a preset ("},
      {"llama-3-8b:n_layers=2",
       "unknown model 'llama-3-8b' (did you mean 'llama3-8b'?); expected a preset ("},
      {"linear_stack", "unknown model 'linear_stack' (did you mean 'linear-stack'?); expected a "},
      {"bert", "unknown model 'bert'; expected a preset ("},
  };
  const std::string tail =
      ") or FAMILY[:key=value,...] with FAMILY one of gpt2, llama3, linear-stack, or a model file "
      "PATH.json (a Hugging Face config or a twinsim parameter list)";
  for (const Case& c : cases) {
    StatusOr<ModelSpec> m = MakeModel(c.text);
    ASSERT_FALSE(m.ok()) << c.text;
    const std::string& msg = m.status().message();
    EXPECT_EQ(msg.rfind(c.start, 0), 0u) << c.text << " -> " << msg;
    EXPECT_EQ(msg.substr(msg.size() - tail.size()), tail) << c.text << " -> " << msg;
    EXPECT_NE(msg.find("llama3-405b"), std::string::npos) << msg;
  }
}

TEST(ModelPresetsTest, TypedBuildersRejectWhatTheParserWouldNot) {
  Gpt2Config g;
  g.n_head = 0;
  EXPECT_EQ(MakeGpt2(g, "x").status().message(), "gpt2: n_head must be in [1, 16777216], got 0");
  g = Gpt2Config{};
  g.initializer_range = 0;
  EXPECT_EQ(MakeGpt2(g, "x").status().message(),
            "gpt2: initializer_range must be a positive finite number");
  Llama3Config l;
  l.n_layers = 20000;
  EXPECT_EQ(MakeLlama3(l, "x", "mine").status().message(),
            "mine: n_layers must be in [1, 10000], got 20000");
  LinearStackConfig s;
  s.in_features = -1;
  EXPECT_EQ(MakeLinearStack(s, "x").status().message(),
            "linear-stack: in_features must be in [1, 16777216], got -1");
}

}  // namespace
}  // namespace twinsim::core
