// The upstream facts megatron.cc encodes, one assertion each, citing NVIDIA/Megatron-LM at
// d98e8a64 (Note [megatron sources] in megatron.cc). Runs the policies on the host backend
// (properties/init_check.h) and looks at what they drew and what the ranks hold.
#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "core/model_presets.h"
#include "core/parallel_layout.h"
#include "policies/seed/common.h"
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

// Two blocks, untied word embeddings off (GPT-2 ties them), 64 positions, vocab 65.
constexpr char kGpt2[] =
    "gpt2:n_layer=2,n_embd=8,n_head=2,vocab_size=65,n_positions=4,tie_word_embeddings=1";
constexpr uint64_t kSeed = 1234;  // Megatron's default --seed

std::unique_ptr<SeedPolicy> Policy(const std::string& name) {
  return std::move(MakePolicy(name)).value();
}

core::ParallelLayout Layout(const core::ModelSpec& model, int tp, int pp, int dp, int ep = 1) {
  core::LayoutConfig config;
  config.tp = tp;
  config.pp = pp;
  config.dp = dp;
  config.ep = ep;
  return core::ParallelLayout::Make(config, model).value();
}

core::ParallelLayout Layout(const std::string& model, int tp, int pp, int dp) {
  return Layout(core::MakeModel(model).value(), tp, pp, dp);
}

// The policy's own layout (LayoutFor), run on the host backend.
InitRun RunPolicy(const SeedPolicy& policy, const core::ParallelLayout& given, uint64_t seed = kSeed,
            InitDevice device = InitDevice::kCuda) {
  const core::ParallelLayout layout = LayoutFor(policy, given).value();
  InitRunOptions options;
  options.seed = seed;
  options.init_device = device;
  StatusOr<InitRun> run = RunInit(policy, layout, options);
  EXPECT_TRUE(run.ok()) << run.status().message();
  EXPECT_TRUE(run->status().ok()) << run->status().message();
  return std::move(run).value();
}

// The draws `rank` reported for parameter `name`, in order.
std::vector<DrawSpan> DrawsOf(const InitRun& run, const core::ParallelLayout& layout, int rank,
                              const std::string& name) {
  const int param = layout.model().Find(name);
  std::vector<DrawSpan> out;
  for (const DrawSpan& d : run.ranks.at(rank).draws) {
    if (d.param == param) out.push_back(d);
  }
  return out;
}

// `rank`'s fp32 values of its home shard of `name`.
std::vector<float> ValuesOf(const InitRun& run, const core::ParallelLayout& layout, int rank,
                            const std::string& name, bool tied_copy = false) {
  const RankOutcome& r = run.ranks.at(rank);
  const int param = layout.model().Find(name);
  for (size_t i = 0; i < r.owned.size(); ++i) {
    if (r.owned[i].param != param || (r.owned[i].tied_from >= 0) != tied_copy) continue;
    std::vector<float> v(r.bytes[i].size() / sizeof(float));
    std::memcpy(v.data(), r.bytes[i].data(), v.size() * sizeof(float));
    return v;
  }
  ADD_FAILURE() << "rank " << rank << " holds no shard of " << name;
  return {};
}

int RankAt(const core::ParallelLayout& layout, int dp, int pp, int tp) {
  return layout.RankOf(core::ParallelCoords{dp, pp, tp, 0, 0});
}

// megatron/training/initialize.py:445 and :484 (_set_random_seed): `if seed_ is not None and
// seed_ > 0: ... else: raise ValueError("Seed ({}) should be a positive integer.")`.
TEST(MegatronSourceTest, SeedZeroIsRejectedWithMegatronsMessage_initialize_py_484) {
  for (const char* name : {"megatron", "megatron-cpu", "megatron+dp-random-init"}) {
    std::unique_ptr<SeedPolicy> policy = Policy(name);
    const Status zero = policy->CheckSeed(0);
    EXPECT_EQ(zero.code(), StatusCode::kInvalidArgument) << name;
    EXPECT_NE(zero.message().find("Seed (0) should be a positive integer."), std::string::npos)
        << zero.message();
    EXPECT_NE(zero.message().find("initialize.py:484"), std::string::npos) << zero.message();
    EXPECT_TRUE(policy->CheckSeed(1).ok()) << name;
    // The harness reports every property n/a with that reason.
    InitRunOptions options;
    options.seed = 0;
    options.init_device = policy->default_init_device();
    StatusOr<PolicyCheck> check =
        CheckPolicy(*policy, Layout(kGpt2, 1, 1, 1), options, AllProperties());
    ASSERT_TRUE(check.ok());
    for (const PolicyCheck::Row& row : check->rows) {
      EXPECT_EQ(row.result.verdict, Verdict::kNotApplicable);
      EXPECT_NE(row.result.detail.find("should be a positive integer"), std::string::npos);
    }
  }
  // Other frameworks accept seed 0.
  EXPECT_TRUE(Policy("colossal")->CheckSeed(0).ok());
}

// megatron/training/initialize.py:448 (seed + 100 * pp_rank) and
// megatron/core/tensor_parallel/random.py:492-493 (seed + 2718 + tp_rank for
// 'model-parallel-rng', under which layers.py:171-183 draws TP-split weights).
TEST(MegatronSourceTest, TensorParallelSeedIsSeedPlus100PpPlus2718PlusTp_random_py_492) {
  const core::ParallelLayout layout = LayoutFor(*Policy("megatron"), Layout(kGpt2, 2, 2, 1)).value();
  const InitRun run = RunPolicy(*Policy("megatron"), layout);
  const int rank = RankAt(layout, 0, 1, 1);
  const std::vector<DrawSpan> d = DrawsOf(run, layout, rank, "transformer.h.1.mlp.c_fc.weight");
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].stream.kind, StreamKind::kTorchCuda);
  EXPECT_EQ(d[0].stream.seed, kSeed + 100 + 2718 + 1);
}

// megatron/core/models/common/embeddings/language_model_embedding.py:70-77: the position
// embedding is a torch.nn.Embedding (its constructor draws N(0, 1) on the CPU) re-drawn by
// embedding_init_method, both from the CPU generator torch.manual_seed(seed + 100 * pp_rank)
// (initialize.py:455).
TEST(MegatronSourceTest, PositionEmbeddingsAreDrawnTwiceFromTheCpuGenerator_lme_py_70) {
  for (const char* name : {"megatron", "megatron-cpu"}) {
    std::unique_ptr<SeedPolicy> policy = Policy(name);
    const core::ParallelLayout layout = LayoutFor(*policy, Layout(kGpt2, 2, 1, 1)).value();
    const InitRun run = RunPolicy(*policy, layout, kSeed, policy->default_init_device());
    const std::vector<DrawSpan> d = DrawsOf(run, layout, 1, "transformer.wpe.weight");
    ASSERT_EQ(d.size(), 2u) << name;
    for (const DrawSpan& span : d) {
      EXPECT_EQ(span.stream.kind, StreamKind::kTorchCpu) << name;
      EXPECT_EQ(span.stream.seed, kSeed) << name;
    }
    EXPECT_EQ(d[0].end, d[1].begin) << name;  // the second draw follows the first
    if (std::string(name) == "megatron") {
      // Nothing else draws from the CPU generator on the GPU path: the values are the
      // second draw of a fresh torch.manual_seed(seed).
      const core::ParamSpec& spec = layout.model().params[layout.model().Find("transformer.wpe.weight")];
      TorchGenerator cpu = TorchGenerator::Cpu(kSeed);
      std::vector<float> expected(static_cast<size_t>(spec.Numel()));
      core::InitSpec constructor;
      constructor.kind = core::InitKind::kNormal;
      constructor.std = 1;
      cpu.Init(constructor, expected);
      cpu.Init(spec.init, expected);
      EXPECT_EQ(ValuesOf(run, layout, 1, "transformer.wpe.weight"), expected);
    }
  }
}

// megatron/core/models/gpt/gpt_model.py:277-289: the last stage builds and initializes its own
// output layer; language_module.py:286-289 fill_(0), :312-314 all_reduce over the embedding
// group. The draw is consumed on the last stage's model-parallel generator, and the copy ends
// equal to the first stage's word embedding.
TEST(MegatronSourceTest, LastStageTiedOutputLayerConsumesItsDraws_language_module_py_286) {
  std::unique_ptr<SeedPolicy> policy = Policy("megatron");
  const core::ParallelLayout layout = LayoutFor(*policy, Layout(kGpt2, 2, 2, 1)).value();
  const InitRun run = RunPolicy(*policy, layout);
  const int last = RankAt(layout, 0, 1, 1);
  const std::vector<DrawSpan> d = DrawsOf(run, layout, last, "transformer.wte.weight");
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].stream.kind, StreamKind::kTorchCuda);
  EXPECT_EQ(d[0].stream.seed, kSeed + 100 + 2718 + 1);
  // It is the last draw of that generator on the rank: every block draws before it.
  for (const DrawSpan& other : run.ranks.at(last).draws) {
    if (other.stream == d[0].stream && other.param != d[0].param) {
      EXPECT_LE(other.end, d[0].begin);
    }
  }
  const int first = RankAt(layout, 0, 0, 1);
  EXPECT_EQ(ValuesOf(run, layout, last, "transformer.wte.weight", true),
            ValuesOf(run, layout, first, "transformer.wte.weight"));
}

// megatron/training/initialize.py:450-452 (--data-parallel-random-init: seed + 10 * dp_rank),
// then megatron/training/training.py:2546-2548 and distributed_data_parallel.py:706-721
// broadcast_params from the first rank of the data-parallel group.
TEST(MegatronSourceTest, DataParallelRandomInitDrawsSeedPlus10DpThenBroadcasts_initialize_py_452) {
  std::unique_ptr<SeedPolicy> policy = Policy("megatron+dp-random-init");
  const core::ParallelLayout layout = LayoutFor(*policy, Layout(kGpt2, 2, 1, 2)).value();
  const InitRun run = RunPolicy(*policy, layout);
  const int dp1 = RankAt(layout, 1, 0, 1), dp0 = RankAt(layout, 0, 0, 1);
  const std::vector<DrawSpan> d = DrawsOf(run, layout, dp1, "transformer.h.0.mlp.c_fc.weight");
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].stream.seed, kSeed + 10 + 2718 + 1);
  EXPECT_EQ(DrawsOf(run, layout, dp0, "transformer.h.0.mlp.c_fc.weight").at(0).stream.seed,
            kSeed + 2718 + 1);
  EXPECT_EQ(ValuesOf(run, layout, dp1, "transformer.h.0.mlp.c_fc.weight"),
            ValuesOf(run, layout, dp0, "transformer.h.0.mlp.c_fc.weight"));
  // Plain megatron: DP ranks draw from the same seed.
  const InitRun plain = RunPolicy(*Policy("megatron"), layout);
  EXPECT_EQ(DrawsOf(plain, layout, dp1, "transformer.h.0.mlp.c_fc.weight").at(0).stream.seed,
            kSeed + 2718 + 1);
}

// A hand-built MoE model: one dense layer and two experts of one block (core presets have no
// MoE model until issue 15).
core::ModelSpec TwoExperts() {
  core::ModelSpec m;
  m.name = "two-experts";
  m.num_layers = 1;
  for (int e = 0; e < 2; ++e) {
    core::ParamSpec p;
    p.name = "layers.0.experts." + std::to_string(e) + ".weight";
    p.shape = {4, 4};
    p.init.kind = core::InitKind::kNormal;
    p.init.std = 0.02;
    p.tp_split = core::TpSplit::kColumn;
    p.tp_dim = 0;
    p.layer = 0;
    p.expert = e;
    m.params.push_back(p);
  }
  return m;
}

// megatron/core/tensor_parallel/random.py:508: expert seed + 1024 + 100 * ep_rank + etp_rank,
// with etp_rank = tp_rank under the default --expert-tensor-parallel-size = tp
// (megatron/training/arguments.py:587-588).
TEST(MegatronSourceTest, ExpertSeedIsSeedPlus1024Plus100EpPlusEtp_random_py_508) {
  const core::ParallelLayout layout = Layout(TwoExperts(), 2, 1, 2, 2);
  const InitRun run = RunPolicy(*Policy("megatron"), layout);
  const int rank = RankAt(layout, 1, 0, 1);  // ep_rank 1, tp_rank 1
  const std::vector<DrawSpan> d = DrawsOf(run, layout, rank, "layers.0.experts.1.weight");
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].stream.seed, kSeed + 1024 + 100 + 1);
}

// megatron/core/transformer/moe/router.py:62-84: the router's fp32 weight is a CPU
// torch.empty drawn by config.init_method outside any tracker fork, so from the CPU generator
// _set_random_seed seeded (seed + 100 * pp_rank, initialize.py:448, :455); the experts and
// other replicated layer weights draw on the GPU. Every rank of a stage draws the same router.
TEST(MegatronSourceTest, RouterIsDrawnFromTheCpuGenerator_router_py_64) {
  const core::ModelSpec model =
      core::MakeModel(
          "qwen3-30b-a3b:num_hidden_layers=2,hidden_size=4,num_attention_heads=1,"
          "num_key_value_heads=1,vocab_size=128,head_dim=4,intermediate_size=4,"
          "moe_intermediate_size=4,num_experts=2,num_experts_per_tok=1")
          .value();
  const core::ParallelLayout layout = Layout(model, 2, 2, 2, 2);
  const InitRun run = RunPolicy(*Policy("megatron"), layout);
  for (int rank = 0; rank < layout.world_size(); ++rank) {
    const int pp = layout.RankCoords(rank).pp;
    const std::string router = "model.layers." + std::to_string(pp) + ".mlp.gate.weight";
    const std::vector<DrawSpan> d = DrawsOf(run, layout, rank, router);
    ASSERT_EQ(d.size(), 1u) << "rank " << rank;
    EXPECT_EQ(d[0].stream.kind, StreamKind::kTorchCpu) << "rank " << rank;
    EXPECT_EQ(d[0].stream.seed, kSeed + 100 * pp) << "rank " << rank;
    EXPECT_EQ(d[0].begin, 0u) << "rank " << rank;  // the stage's first CPU draw
    EXPECT_EQ(ValuesOf(run, layout, rank, router),
              ValuesOf(run, layout, layout.RankOf({0, pp, 0, 0, 0}), router));
    const std::vector<DrawSpan> q =
        DrawsOf(run, layout, rank,
                "model.layers." + std::to_string(pp) + ".self_attn.q_norm.weight");
    EXPECT_TRUE(q.empty());  // a constant init draws nothing
  }
  // Each stage's routers come from its own CPU seed: with ep == 1 (no additive expert seeds to
  // collide across stages) nothing is drawn twice.
  const core::ParallelLayout no_ep = Layout(model, 2, 2, 2, 1);
  const InitRun run1 = RunPolicy(*Policy("megatron"), no_ep);
  const properties::PropertyResult distinct = properties::CheckDistinct(no_ep, run1);
  EXPECT_EQ(distinct.verdict, Verdict::kHolds) << distinct.detail;
}

// megatron/core/tensor_parallel/layers.py:186-229 with _set_random_seed's CPU seed
// (initialize.py:448, :455): the CPU generator does not depend on the EP rank, so
// --use-cpu-initialization draws the experts of EP rank 1 from the same positions as EP rank
// 0's: they repeat, and distinct fails. megatron-cpu claims distinct only with ep == 1 (or no
// experts); this pins the refutation until the property suite has MoE models (issue 15).
TEST(MegatronSourceTest, MegatronCpuRepeatsExpertsAcrossEpRanks_layers_py_186) {
  std::unique_ptr<SeedPolicy> policy = Policy("megatron-cpu");
  const core::ParallelLayout layout = Layout(TwoExperts(), 1, 1, 2, 2);
  const Claim* distinct = policy->FindClaim(Property::kDistinct);
  ASSERT_NE(distinct, nullptr);
  EXPECT_FALSE(distinct->AppliesTo(layout, InitDevice::kCpu));
  EXPECT_TRUE(distinct->AppliesTo(Layout(TwoExperts(), 1, 1, 2, 1), InitDevice::kCpu));
  const InitRun run = RunPolicy(*policy, layout, kSeed, InitDevice::kCpu);
  EXPECT_EQ(ValuesOf(run, layout, 0, "layers.0.experts.0.weight"),
            ValuesOf(run, layout, 1, "layers.0.experts.1.weight"));
  EXPECT_EQ(properties::CheckDistinct(layout, run).verdict, Verdict::kFails);
}

// megatron/core/tokenizers/utils/build_tokenizer.py:133-147 vocab_size_with_padding: a
// multiple of make_vocab_size_divisible_by * tp (default 128, arguments.py:2441), even at
// tp = 1. The other frameworks allocate the vocabulary as it is.
TEST(MegatronSourceTest, OnlyMegatronPadsTheVocabulary_build_tokenizer_py_138) {
  core::LayoutConfig config;  // vocab_divisible_by = 128
  config.pad_vocab = false;
  const core::ModelSpec gpt2 = core::MakeModel("gpt2-small").value();
  const core::ParallelLayout unpadded = core::ParallelLayout::Make(config, gpt2).value();
  const int wte = gpt2.Find("transformer.wte.weight");
  for (const char* name : {"megatron", "megatron-cpu", "megatron+dp-random-init"}) {
    EXPECT_EQ(LayoutFor(*Policy(name), unpadded)->ShardOf(wte, 0).padded_extent, 50304) << name;
  }
  config.pad_vocab = true;
  const core::ParallelLayout padded = core::ParallelLayout::Make(config, gpt2).value();
  for (const char* name : {"torch-serial", "torch-parallel", "dtensor", "counter"}) {
    EXPECT_EQ(LayoutFor(*Policy(name), padded)->ShardOf(wte, 0).padded_extent, 50257) << name;
  }
}

// Every framework policy here cites its source (core/provenance.h).
TEST(MegatronSourceTest, ProvenanceNamesTheCommitRead) {
  for (const char* name : {"megatron", "megatron-cpu", "megatron+dp-random-init"}) {
    const core::Provenance p = Policy(name)->provenance();
    ASSERT_FALSE(p.sources.empty()) << name;
    EXPECT_FALSE(p.twinsim_own);
    for (const core::SourceRef& ref : p.sources) {
      EXPECT_EQ(ref.repository, "NVIDIA/Megatron-LM");
      EXPECT_EQ(ref.release, "d98e8a64");
      EXPECT_GT(ref.first_line, 0) << ref.file;
    }
  }
}

}  // namespace
}  // namespace twinsim::policies::seed
