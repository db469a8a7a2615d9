// Hugging Face's GPT-2 init order (policies/seed/hf_init.h): the draw list against facts read
// in transformers' source (cited per test), and its replay on twinsim's model of PyTorch's CPU
// generator against a live PyTorch (Debian's python3-torch) that builds the same module tree
// with its own nn.Embedding / nn.Linear constructors and Module.apply. The torch seed is drawn
// at run time and printed as TWINSIM_ORACLE_SEED=<n>; set that variable to replay it.
#include "policies/seed/hf_init.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "core/model_presets.h"
#include "core/testing/python_oracle.h"
#include "policies/seed/common.h"

namespace twinsim::policies::seed {
namespace {

constexpr char kTiny[] = "gpt2:n_layer=2,n_embd=8,n_head=2,vocab_size=16,n_positions=4";

core::ModelSpec Tiny() { return core::MakeModel(kTiny).value(); }

std::string NameOf(const core::ModelSpec& m, const HfDraw& d) { return m.params[d.param].name; }

// modeling_gpt2.py @0010f602: GPT2Model.__init__ builds wte, wpe (nn.Embedding: N(0, 1)) and
// the blocks' Conv1D layers (N(0, 0.02)) before its post_init; GPT2LMHeadModel builds lm_head
// (nn.Linear: kaiming_uniform(a = sqrt 5)) after it. _init_weights re-draws Conv1D/Embedding
// weights from N(0, initializer_range) and, from GPT2Attention / GPT2MLP (whose
// named_parameters() hold "c_proj.weight"), c_proj again with std / sqrt(2 * n_layer).
// modeling_utils.py @040ba146 PreTrainedModel._initialize_weights: each module once, apply()
// post-order (children first); tie_weights after the draws.
TEST(HfInitTest, Gpt2DrawOrder) {
  const core::ModelSpec m = Tiny();
  StatusOr<std::vector<HfDraw>> d = Gpt2HfDraws(m, HfInitMode::kPostInit);
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  // 2 embeddings + 4 Conv1D per layer (constructors), 2 + 6 per layer (post_init), lm_head 2.
  ASSERT_EQ(d->size(), 2u + 4 * 2 + 2 + 6 * 2 + 2);
  EXPECT_EQ(NameOf(m, (*d)[0]), "transformer.wte.weight");
  EXPECT_EQ((*d)[0].spec.std, 1.0);
  EXPECT_FALSE((*d)[0].post_init);
  EXPECT_EQ(NameOf(m, (*d)[2]), "transformer.h.0.attn.c_attn.weight");
  EXPECT_EQ((*d)[2].spec.std, 0.02);
  // post_init starts after every constructor draw of GPT2Model.
  EXPECT_EQ(NameOf(m, (*d)[10]), "transformer.wte.weight");
  EXPECT_TRUE((*d)[10].post_init);
  EXPECT_EQ((*d)[10].spec.std, 0.02);
  // attn.c_proj: as a Conv1D, then as GPT2Attention's c_proj with 0.02 / sqrt(2 * 2).
  EXPECT_EQ(NameOf(m, (*d)[13]), "transformer.h.0.attn.c_proj.weight");
  EXPECT_EQ(NameOf(m, (*d)[14]), "transformer.h.0.attn.c_proj.weight");
  EXPECT_EQ((*d)[13].spec.std, 0.02);
  EXPECT_DOUBLE_EQ((*d)[14].spec.std, 0.01);
  int c_proj_draws = 0;
  for (const HfDraw& x : *d) c_proj_draws += NameOf(m, x) == "transformer.h.1.mlp.c_proj.weight";
  EXPECT_EQ(c_proj_draws, 3);  // constructor, Conv1D, GPT2MLP
  // lm_head: its constructor's kaiming_uniform, then _init_weights, both before the tie.
  EXPECT_EQ(NameOf(m, d->end()[-2]), "lm_head.weight");
  EXPECT_EQ(d->end()[-2].spec.kind, core::InitKind::kKaimingUniform);
  EXPECT_DOUBLE_EQ(d->end()[-2].spec.a, std::sqrt(5.0));
  EXPECT_EQ(d->end()[-2].spec.fan_in, 8);
  EXPECT_EQ(d->back().spec.kind, core::InitKind::kNormal);
  EXPECT_TRUE(d->back().post_init);
}

// ColossalAI-Pytorch-lightning@395762e0 benchmark/gpt/model.py (no_init_weights, GPTLMModel):
// _init_weights is a no-op while the model is built: constructor draws only.
TEST(HfInitTest, ConstructorOnlyKeepsTheDefaults) {
  const core::ModelSpec m = Tiny();
  StatusOr<std::vector<HfDraw>> d = Gpt2HfDraws(m, HfInitMode::kConstructorOnly);
  ASSERT_TRUE(d.ok());
  ASSERT_EQ(d->size(), 2u + 4 * 2 + 1);
  for (const HfDraw& x : *d) EXPECT_FALSE(x.post_init);
  EXPECT_EQ(d->back().spec.kind, core::InitKind::kKaimingUniform);
  StatusOr<std::vector<std::vector<float>>> v =
      ReplayGpt2HfInitCpu(m, HfInitMode::kConstructorOnly, 1);
  ASSERT_TRUE(v.ok());
  // Embeddings keep N(0, 1): far wider than initializer_range.
  double sq = 0;
  for (float x : (*v)[m.Find("transformer.wte.weight")]) sq += double{x} * x;
  EXPECT_GT(std::sqrt(sq / 128), 0.5);
  EXPECT_EQ((*v)[m.Find("lm_head.weight")], (*v)[m.Find("transformer.wte.weight")]);
}

// The order moves every stream position: wte's final values are not the first N(0, 0.02) draw
// after torch.manual_seed, as a once-per-parameter model would have them.
TEST(HfInitTest, FinalValuesComeLaterInTheStream) {
  const core::ModelSpec m = Tiny();
  StatusOr<std::vector<std::vector<float>>> v = ReplayGpt2HfInitCpu(m, HfInitMode::kPostInit, 7);
  ASSERT_TRUE(v.ok());
  std::vector<float> once(128);
  TorchGenerator::Cpu(7).Init(m.params[m.Find("transformer.wte.weight")].init, once);
  EXPECT_NE((*v)[m.Find("transformer.wte.weight")], once);
  EXPECT_EQ((*v)[m.Find("transformer.h.0.ln_1.weight")], std::vector<float>(8, 1.0f));
  EXPECT_EQ((*v)[m.Find("transformer.h.0.attn.c_attn.bias")], std::vector<float>(24, 0.0f));
}

TEST(HfInitTest, RejectsModelsNotShapedLikeGpt2) {
  const core::ModelSpec mlp = core::MakeModel("tiny-mlp").value();
  EXPECT_EQ(Gpt2HfDraws(mlp, HfInitMode::kPostInit).status().message(),
            "model 'tiny-mlp' is not shaped like GPT-2 (no parameter 'transformer.wte.weight')");
  EXPECT_FALSE(ReplayGpt2HfInitCpu(core::MakeModel("gpt2-small").value(), HfInitMode::kPostInit, 1)
                   .ok());  // above the replay's element limit
  EXPECT_EQ(HfInitProvenance(HfInitMode::kPostInit).sources[0].repository,
            "huggingface/transformers");
  EXPECT_EQ(HfInitProvenance(HfInitMode::kConstructorOnly).sources.back().release, "395762e0");
}

// ---- against a live PyTorch ------------------------------------------------------------------

std::vector<float> ParseHexFloats(std::istringstream& in, size_t count) {
  std::vector<float> v;
  std::string word;
  for (size_t i = 0; i < count && in >> word; ++i) {
    v.push_back(static_cast<float>(std::strtod(word.c_str(), nullptr)));
  }
  return v;
}

TEST(HfInitOracleTest, ReplayMatchesTorchBitForBit) {
  const std::string missing = core::testing_support::TorchOracleUnavailableReason();
  if (!missing.empty()) GTEST_SKIP() << missing;
  uint64_t seed = std::random_device{}();
  if (const char* env = std::getenv("TWINSIM_ORACLE_SEED")) seed = std::strtoull(env, nullptr, 10);
  std::printf("TWINSIM_ORACLE_SEED=%llu\n", static_cast<unsigned long long>(seed));
  const core::ModelSpec m = Tiny();
  for (const auto& [mode, arg] : {std::pair{HfInitMode::kPostInit, "postinit"},
                                  std::pair{HfInitMode::kConstructorOnly, "ctor"}}) {
    // normal_ under ATen's DEFAULT build is the path twinsim models bit for bit; every final
    // value here is a normal_ draw (lm_head's uniform_ draw is overwritten or tied away).
    const std::string command =
        std::string("ATEN_CPU_CAPABILITY=default ") + core::testing_support::kOraclePython + " " +
        core::testing_support::RunfilePath("policies/seed/testdata/hf_gpt2_init.py") + " " +
        std::to_string(seed) + " 2 8 16 4 0x1.47ae147ae147bp-6 " + arg;
    int status = 0;
    const std::string out = core::testing_support::RunCommand(command, &status);
    ASSERT_EQ(status, 0) << command << "\n" << out;
    StatusOr<std::vector<std::vector<float>>> ours = ReplayGpt2HfInitCpu(m, mode, seed);
    ASSERT_TRUE(ours.ok()) << ours.status().ToString();
    std::istringstream lines(out);
    std::string line;
    int compared = 0;
    while (std::getline(lines, line)) {
      if (line.rfind("capability ", 0) == 0) continue;
      std::istringstream in(line);
      std::string name;
      size_t count = 0;
      in >> name >> count;
      const int p = m.Find(name);
      ASSERT_GE(p, 0) << name;
      const std::vector<float> theirs = ParseHexFloats(in, count);
      ASSERT_EQ(theirs.size(), (*ours)[p].size()) << name;
      for (size_t i = 0; i < count; ++i) {
        ASSERT_EQ(std::memcmp(&theirs[i], &(*ours)[p][i], sizeof(float)), 0)
            << arg << " " << name << "[" << i << "]: torch " << theirs[i] << ", twinsim "
            << (*ours)[p][i];
      }
      ++compared;
    }
    EXPECT_EQ(compared, static_cast<int>(m.params.size())) << arg;
  }
}

}  // namespace
}  // namespace twinsim::policies::seed
