// The upstream facts colossal.cc encodes, one assertion each, citing hpcaitech/ColossalAI at
// 4f9953be (Notes [colossal-legacy] and [colossal] in colossal.cc). Runs the policies on the
// host backend (properties/init_check.h).
#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "core/model_presets.h"
#include "core/parallel_layout.h"
#include "policies/seed/hf_init.h"
#include "policies/seed/policy.h"
#include "properties/init_check.h"

namespace twinsim::policies::seed {
namespace {

using properties::CheckPolicy;
using properties::InitRun;
using properties::InitRunOptions;
using properties::PolicyCheck;
using properties::RankOutcome;
using properties::RunInit;
using properties::Verdict;

// vocab 64 divides by tp = 2; GPT-2 ties its head.
constexpr char kGpt2[] =
    "gpt2:n_layer=2,n_embd=8,n_head=2,vocab_size=64,n_positions=4,tie_word_embeddings=1";
constexpr uint64_t kSeed = 1024;  // launch_from_torch's default seed (initialize.py:154)

std::unique_ptr<SeedPolicy> Policy(const std::string& name) {
  return std::move(MakePolicy(name)).value();
}

core::ParallelLayout Layout(const std::string& model, int tp, int pp, int dp) {
  core::LayoutConfig config;
  config.tp = tp;
  config.pp = pp;
  config.dp = dp;
  return core::ParallelLayout::Make(config, core::MakeModel(model).value()).value();
}

InitRun RunPolicy(const SeedPolicy& policy, const core::ParallelLayout& layout, InitDevice device) {
  InitRunOptions options;
  options.seed = kSeed;
  options.init_device = device;
  StatusOr<InitRun> run = RunInit(policy, layout, options);
  EXPECT_TRUE(run.ok()) << run.status().message();
  EXPECT_TRUE(run->status().ok()) << run->status().message();
  return std::move(run).value();
}

std::vector<DrawSpan> DrawsOf(const InitRun& run, const core::ParallelLayout& layout, int rank,
                              const std::string& name) {
  const int param = layout.model().Find(name);
  std::vector<DrawSpan> out;
  for (const DrawSpan& d : run.ranks.at(rank).draws) {
    if (d.param == param) out.push_back(d);
  }
  return out;
}

std::vector<std::byte> BytesOf(const InitRun& run, const core::ParallelLayout& layout, int rank,
                               const std::string& name) {
  const RankOutcome& r = run.ranks.at(rank);
  const int param = layout.model().Find(name);
  for (size_t i = 0; i < r.owned.size(); ++i) {
    if (r.owned[i].param == param && r.owned[i].tied_from < 0) return r.bytes[i];
  }
  ADD_FAILURE() << "rank " << rank << " holds no shard of " << name;
  return {};
}

// colossalai/legacy/nn/layer/parallel_1d/layers.py:912 VocabParallelEmbedding1D computes
// divide(num_embeddings, tp), which asserts divisibility (legacy/nn/layer/utils/common.py:52).
TEST(ColossalSourceTest, LegacyRejectsAVocabularyTpDoesNotDivide_layers_py_912) {
  std::unique_ptr<SeedPolicy> legacy = Policy("colossal-legacy");
  StatusOr<core::ParallelLayout> gpt2 = LayoutFor(*legacy, Layout("gpt2-small", 2, 1, 1));
  ASSERT_FALSE(gpt2.ok());
  EXPECT_EQ(gpt2.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(gpt2.status().message().find("vocabulary of 50257 rows does not divide by tp = 2"),
            std::string::npos)
      << gpt2.status().message();
  EXPECT_NE(gpt2.status().message().find("layers.py:912"), std::string::npos);
  // tp = 1 divides everything, and nothing is padded.
  StatusOr<core::ParallelLayout> one = LayoutFor(*legacy, Layout("gpt2-small", 1, 1, 1));
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(one->ShardOf(one->model().Find("transformer.wte.weight"), 0).padded_extent, 50257);
  // The harness reports every property n/a with that reason.
  InitRunOptions options;
  StatusOr<PolicyCheck> check =
      CheckPolicy(*legacy, Layout("gpt2-small", 2, 1, 1), options, AllProperties());
  ASSERT_TRUE(check.ok());
  for (const PolicyCheck::Row& row : check->rows) {
    EXPECT_EQ(row.result.verdict, Verdict::kNotApplicable);
    EXPECT_NE(row.result.detail.find("does not divide by tp = 2"), std::string::npos);
  }
}

// colossalai/legacy/nn/layer/parallel_1d/layers.py:641: parameters are allocated on
// get_accelerator().get_current_device(): the legacy layers initialize on the GPU only.
TEST(ColossalSourceTest, LegacyInitializesOnTheGpuOnly_layers_py_641) {
  EXPECT_FALSE(Policy("colossal-legacy")->Supports(InitDevice::kCpu));
  EXPECT_TRUE(Policy("colossal-legacy")->Supports(InitDevice::kCuda));
}

// colossalai/legacy/context/parallel_context.py:564-565: TENSOR seed = seed + tp_rank +
// 1024 * pp_rank; layers.py:651-652 reset_parameters under seed(ParallelMode.TENSOR);
// :659-664 the row-parallel bias is drawn there too, then broadcast from the first rank of the
// 1-D group.
TEST(ColossalSourceTest, LegacyRowParallelBiasDrawnUnderTensorThenBroadcast_layers_py_664) {
  std::unique_ptr<SeedPolicy> legacy = Policy("colossal-legacy");
  const core::ParallelLayout layout = LayoutFor(*legacy, Layout(kGpt2, 2, 2, 1)).value();
  // GPT-2's attn.c_proj is row-parallel; give its bias a random init so the draw shows.
  core::ModelSpec model = layout.model();
  const std::string bias = "transformer.h.1.attn.c_proj.bias";
  core::ParamSpec& b = model.params[model.Find(bias)];
  b.init.kind = core::InitKind::kNormal;
  b.init.std = 0.02;
  const core::ParallelLayout with_bias = core::ParallelLayout::Make(layout.config(), model).value();
  const InitRun run = RunPolicy(*legacy, with_bias, InitDevice::kCuda);
  const int tp0 = with_bias.RankOf({0, 1, 0, 0, 0}), tp1 = with_bias.RankOf({0, 1, 1, 0, 0});
  for (int tp : {0, 1}) {
    const int rank = tp == 0 ? tp0 : tp1;
    const std::vector<DrawSpan> d = DrawsOf(run, with_bias, rank, bias);
    ASSERT_EQ(d.size(), 1u);
    EXPECT_EQ(d[0].stream.kind, StreamKind::kTorchCuda);
    EXPECT_EQ(d[0].stream.seed, kSeed + tp + 1024 * 1);  // TENSOR on pp_rank 1
  }
  // tp_rank 1 drew other values and then received tp_rank 0's.
  EXPECT_EQ(BytesOf(run, with_bias, tp1, bias), BytesOf(run, with_bias, tp0, bias));
  // A column-parallel weight is drawn under TENSOR too; a replicated weight under DATA (seed).
  EXPECT_EQ(DrawsOf(run, with_bias, tp1, "transformer.h.1.mlp.c_fc.weight").at(0).stream.seed,
            kSeed + 1 + 1024);
  EXPECT_EQ(DrawsOf(run, with_bias, tp1, "transformer.wpe.weight").size(), 0u);  // pp_rank 0's
  const int first = with_bias.RankOf({0, 0, 1, 0, 0});
  EXPECT_EQ(DrawsOf(run, with_bias, first, "transformer.wpe.weight").at(0).stream.seed, kSeed);
}

// Today's ColossalAI: colossalai/initialize.py:66 launch calls set_seed(seed)
// (colossalai/utils/common.py:76-79: torch.manual_seed(seed)) on every rank, and shardformer
// slices the already-initialized full weights (shardformer/layer/linear.py:255-275): every rank
// draws the whole model from one stream, and the union of the slices is single-device init.
TEST(ColossalSourceTest, TodaysColossalSeedsEveryRankAlikeAndSlices_initialize_py_66) {
  std::unique_ptr<SeedPolicy> colossal = Policy("colossal");
  EXPECT_EQ(colossal->default_init_device(), InitDevice::kCpu);
  const core::ParallelLayout layout = LayoutFor(*colossal, Layout(kGpt2, 2, 2, 1)).value();
  const InitRun run = RunPolicy(*colossal, layout, InitDevice::kCpu);
  // Every rank drew transformer.h.1.mlp.c_fc.weight whole, from the same positions of the CPU
  // stream seeded `seed` (stage 0 too, though it keeps none of it).
  const std::vector<DrawSpan> first = DrawsOf(run, layout, 0, "transformer.h.1.mlp.c_fc.weight");
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0].stream.kind, StreamKind::kTorchCpu);
  EXPECT_EQ(first[0].stream.seed, kSeed);
  for (int rank = 1; rank < layout.world_size(); ++rank) {
    const std::vector<DrawSpan> d = DrawsOf(run, layout, rank, "transformer.h.1.mlp.c_fc.weight");
    ASSERT_EQ(d.size(), 1u);
    EXPECT_EQ(d[0].stream, first[0].stream);
    EXPECT_EQ(d[0].begin, first[0].begin);
  }
  InitRunOptions options;
  options.seed = kSeed;
  options.init_device = InitDevice::kCpu;
  StatusOr<PolicyCheck> check = CheckPolicy(*colossal, layout, options, {Property::kParity});
  ASSERT_TRUE(check.ok());
  EXPECT_EQ(check->rows.at(0).result.verdict, Verdict::kHolds) << check->rows.at(0).result.detail;
}

// colossalai/shardformer/shard/shard_config.py:47 make_vocab_size_divisible_by = 64 and
// shardformer/layer/embedding.py:302-305: the vocabulary is padded to a multiple of 64 * tp
// (with rows of zeros, not drawn).
TEST(ColossalSourceTest, TodaysColossalPadsTheVocabularyTo64Tp_embedding_py_303) {
  const core::ParallelLayout layout =
      LayoutFor(*Policy("colossal"), Layout("gpt2-small", 2, 1, 1)).value();
  const int wte = layout.model().Find("transformer.wte.weight");
  EXPECT_EQ(layout.ShardOf(wte, 0).padded_extent, 50304);  // ceil(50257 / 128) * 128
  const core::ParallelLayout small = LayoutFor(*Policy("colossal"), Layout(
      "gpt2:n_layer=1,n_embd=4,n_head=1,vocab_size=70,n_positions=2,tie_word_embeddings=1", 2,
      1, 1)).value();
  const InitRun run = RunPolicy(*Policy("colossal"), small, InitDevice::kCpu);
  // Rank 1 holds rows [64, 128): rows 70.. are padding, zeros.
  const std::vector<std::byte> rows = BytesOf(run, small, 1, "transformer.wte.weight");
  ASSERT_EQ(rows.size(), 64u * 4 * sizeof(float));
  for (size_t i = 6 * 4 * sizeof(float); i < rows.size(); ++i) {
    ASSERT_EQ(rows[i], std::byte{0}) << "byte " << i;
  }
}

// Note [colossal-legacy+cpu-init]. colossalai/legacy/context/random/seed_manager.py:48-60
// (set_mode) and :62-84 (add_seed) save and restore torch.cuda RNG state only, and
// parallel_context.py:545 seeds the CPU generator with a plain torch.manual_seed(seed) on every
// rank. So TP layers built on the CPU (RFC #786) draw every shard from the CPU stream seeded
// `seed` at word 0: TP ranks hold the same numbers, and so do the first layers of two stages.
TEST(ColossalSourceTest, CpuInitDrawsEveryRankFromTheUnforkedCpuGenerator_seed_manager_py_60) {
  std::unique_ptr<SeedPolicy> cpu = Policy("colossal-legacy+cpu-init");
  EXPECT_TRUE(cpu->Supports(InitDevice::kCpu));
  EXPECT_FALSE(cpu->Supports(InitDevice::kCuda));
  EXPECT_EQ(cpu->default_init_device(), InitDevice::kCpu);
  const core::ParallelLayout layout = LayoutFor(*cpu, Layout(kGpt2, 2, 2, 1)).value();
  const InitRun run = RunPolicy(*cpu, layout, InitDevice::kCpu);
  const std::string fc1 = "transformer.h.1.mlp.c_fc.weight";  // column-parallel, pp_rank 1
  const int tp0 = layout.RankOf({0, 1, 0, 0, 0}), tp1 = layout.RankOf({0, 1, 1, 0, 0});
  for (int rank : {tp0, tp1}) {
    for (const DrawSpan& d : run.ranks.at(rank).draws) {
      EXPECT_EQ(d.stream.kind, StreamKind::kTorchCpu);
      EXPECT_EQ(d.stream.seed, kSeed);  // no tp or pp offset: the CPU state is never forked
    }
  }
  const std::vector<DrawSpan> a = DrawsOf(run, layout, tp0, fc1), b = DrawsOf(run, layout, tp1, fc1);
  ASSERT_EQ(a.size(), 1u);
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(a[0].begin, b[0].begin);
  EXPECT_EQ(a[0].end, b[0].end);
  EXPECT_EQ(BytesOf(run, layout, tp0, fc1), BytesOf(run, layout, tp1, fc1));
  // Each stage's first drawn parameter starts the stream at word 0.
  const int stage0 = layout.RankOf({0, 0, 0, 0, 0});
  ASSERT_FALSE(run.ranks.at(stage0).draws.empty());
  ASSERT_FALSE(run.ranks.at(tp0).draws.empty());
  EXPECT_EQ(run.ranks.at(stage0).draws.front().begin, 0u);
  EXPECT_EQ(run.ranks.at(tp0).draws.front().begin, 0u);
  // distinct fails on it; on one device-equivalent rank (tp 1, one stage) parity holds.
  InitRunOptions options;
  options.seed = kSeed;
  options.init_device = InitDevice::kCpu;
  StatusOr<PolicyCheck> check = CheckPolicy(*cpu, layout, options, {Property::kDistinct});
  ASSERT_TRUE(check.ok()) << check.status().message();
  EXPECT_EQ(check->rows.at(0).result.verdict, Verdict::kFails) << check->rows.at(0).result.detail;
  const core::ParallelLayout single = LayoutFor(*cpu, Layout(kGpt2, 1, 1, 2)).value();
  check = CheckPolicy(*cpu, single, options, {Property::kParity, Property::kDistinct});
  ASSERT_TRUE(check.ok()) << check.status().message();
  for (const auto& row : check->rows) {
    EXPECT_EQ(row.result.verdict, Verdict::kHolds) << row.result.detail;
  }
}

// Today's ColossalAI shards a model the user built as GPT2LMHeadModel(config), so the CPU
// stream is consumed in Hugging Face's order (hf_init.h; huggingface/transformers
// modeling_gpt2.py @0010f602, modeling_utils.py @040ba146): constructor defaults, then
// post_init's re-draws, lm_head drawn and dropped before the tie. The values each rank keeps are
// the replay's (checked against python3-torch in hf_init_test).
TEST(ColossalSourceTest, BuildsGpt2InHuggingFacesDrawOrder_modeling_gpt2_py) {
  std::unique_ptr<SeedPolicy> colossal = Policy("colossal");
  const core::ParallelLayout layout = LayoutFor(*colossal, Layout(kGpt2, 2, 1, 1)).value();
  const InitRun run = RunPolicy(*colossal, layout, InitDevice::kCpu);
  StatusOr<std::vector<std::vector<float>>> replay =
      ReplayGpt2HfInitCpu(layout.model(), HfInitMode::kPostInit, kSeed);
  ASSERT_TRUE(replay.ok()) << replay.status().message();
  for (const char* name : {"transformer.wpe.weight", "transformer.h.1.ln_1.weight"}) {
    const std::vector<float>& want = replay->at(layout.model().Find(name));
    for (int rank : {0, 1}) {
      const std::vector<std::byte> got = BytesOf(run, layout, rank, name);
      ASSERT_EQ(got.size(), want.size() * sizeof(float)) << name;
      EXPECT_EQ(std::memcmp(got.data(), want.data(), got.size()), 0) << name << " rank " << rank;
    }
  }
  // The final wte draw comes after every constructor draw; c_proj keeps one of its three.
  const std::vector<DrawSpan> wte = DrawsOf(run, layout, 0, "transformer.wte.weight");
  ASSERT_EQ(wte.size(), 1u);
  EXPECT_GT(wte[0].begin, 0u);
  EXPECT_EQ(DrawsOf(run, layout, 1, "transformer.h.0.attn.c_proj.weight").size(), 1u);
  EXPECT_TRUE(DrawsOf(run, layout, 0, "lm_head.weight").empty());
}

TEST(ColossalSourceTest, ProvenanceNamesTheCommitRead) {
  for (const char* name : {"colossal-legacy", "colossal-legacy+cpu-init", "colossal"}) {
    const core::Provenance p = Policy(name)->provenance();
    ASSERT_FALSE(p.sources.empty()) << name;
    for (const core::SourceRef& ref : p.sources) {
      EXPECT_FALSE(ref.file.empty());
      if (ref.repository != "hpcaitech/ColossalAI") {
        // colossal builds the user's Hugging Face model: transformers' GPT-2 init order.
        EXPECT_EQ(std::string(name), "colossal") << ref.repository;
        EXPECT_EQ(ref.repository, "huggingface/transformers");
        continue;
      }
      EXPECT_EQ(ref.release, "4f9953be");
      EXPECT_GT(ref.first_line, 0) << ref.file;
    }
  }
}

}  // namespace
}  // namespace twinsim::policies::seed
