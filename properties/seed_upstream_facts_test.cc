// The upstream facts behind torch-serial, torch-parallel, dtensor, dtensor@2.5, seed-checkpoint
// and zero-init, one assertion each, every one citing file:line@commit (or the function, where
// the stored text gave no line numbers). Runs the policies on the host backend
// (properties/init_check.h) and reads what they drew, sent and held.
#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <string>

#include "core/model_presets.h"
#include "core/parallel_layout.h"
#include "core/provenance.h"
#include "policies/seed/policy.h"
#include "properties/init_check.h"

namespace twinsim::properties {
namespace {

using policies::seed::MakePolicy;
using policies::seed::StreamKind;

constexpr const char* kGpt2Tiny = "gpt2:n_layer=2,n_embd=16,n_head=2,vocab_size=64";

core::ParallelLayout Layout(const std::string& model_text, int tp, int pp, int dp) {
  StatusOr<core::ModelSpec> model = core::MakeModel(model_text);
  EXPECT_TRUE(model.ok()) << model.status().message();
  core::LayoutConfig config;
  config.tp = tp;
  config.pp = pp;
  config.dp = dp;
  StatusOr<core::ParallelLayout> layout = core::ParallelLayout::Make(config, *model);
  EXPECT_TRUE(layout.ok()) << layout.status().message();
  return std::move(layout).value();
}

std::unique_ptr<SeedPolicy> Policy(const std::string& name) {
  StatusOr<std::unique_ptr<SeedPolicy>> p = MakePolicy(name);
  EXPECT_TRUE(p.ok()) << p.status().message();
  return std::move(p).value();
}

InitRun RunPolicy(const SeedPolicy& policy, const core::ParallelLayout& layout, InitDevice device,
            uint64_t seed = 7) {
  InitRunOptions options;
  options.seed = seed;
  options.init_device = device;
  StatusOr<InitRun> run = RunInit(policy, layout, options);
  EXPECT_TRUE(run.ok()) << run.status().message();
  return std::move(run).value();
}

uint64_t Sent(const InitRun& run) {
  uint64_t total = 0;
  for (const RankOutcome& r : run.ranks) total += r.bytes_sent;
  return total;
}

// Every policy touched here names its upstream code with a release and a line or function.
TEST(SeedUpstreamFacts, EveryPolicyCitesItsSource) {
  for (const char* name :
       {"torch-serial", "torch-parallel", "dtensor", "dtensor@2.5", "seed-checkpoint",
        "zero-init"}) {
    const core::Provenance p = Policy(name)->provenance();
    EXPECT_FALSE(p.twinsim_own) << name;
    ASSERT_FALSE(p.sources.empty()) << name;
    for (const core::SourceRef& s : p.sources) {
      EXPECT_FALSE(s.repository.empty()) << name;
      EXPECT_FALSE(s.release.empty()) << name;
      EXPECT_NE(s.release, "main") << name;
      EXPECT_FALSE(s.file.empty()) << name;
      EXPECT_TRUE(s.first_line > 0 || !s.function.empty()) << name;
      EXPECT_FALSE(s.fact.empty()) << name;
    }
  }
}

// PyTorch PR #139445 (seeded_module_init, serial mode) was closed unmerged; RFC #139304 open.
TEST(SeedUpstreamFacts, TorchSerialIsAnUnmergedProposal) {
  const std::unique_ptr<SeedPolicy> p = Policy("torch-serial");
  EXPECT_NE(std::string(p->models()).find("PR #139445 (closed, unmerged"), std::string::npos);
  EXPECT_NE(std::string(p->models()).find("#139304"), std::string::npos);
  ASSERT_FALSE(p->provenance().deviations.empty());
}

// torchtitan@b5bcd76c torchtitan/distributed/utils.py:285 (seed += pp local rank) and :296
// (torch.manual_seed(seed)), with distinct_seed_mesh_dims=["pp"] (trainer.py:330-335).
TEST(SeedUpstreamFacts, TorchParallelSeedsSeedPlusPpRank) {
  const core::ParallelLayout layout = Layout(kGpt2Tiny, 1, 2, 1);
  const InitRun run = RunPolicy(*Policy("torch-parallel"), layout, InitDevice::kCuda, 40);
  for (const RankOutcome& r : run.ranks) {
    ASSERT_FALSE(r.draws.empty());
    for (const policies::seed::DrawSpan& d : r.draws) {
      EXPECT_EQ(d.stream.seed, 40u + r.coords.pp) << "rank " << r.rank;
    }
  }
}

// torchtitan@b5bcd76c torchtitan/config/configs.py:356: DebugConfig.seed defaults to None;
// utils.py:254-259 then broadcasts rank 0's random state (not reproducible across runs).
TEST(SeedUpstreamFacts, TorchParallelRecordsTheNoneSeedDefault) {
  const core::Provenance p = Policy("torch-parallel")->provenance();
  ASSERT_FALSE(p.deviations.empty());
  EXPECT_NE(p.deviations[0].find("defaults to None"), std::string::npos);
}

// pytorch@0175565d torch/distributed/tensor/_random.py, _compute_rng_offsets: the start
// increment is (shard_linear_idx * prod(first shard size) + 3) // 4 * 4 and every rank ends at
// old offset + (numel + 3) // 4 * 4; manual_seed is torch.manual_seed, no broadcast.
TEST(SeedUpstreamFacts, DTensorCurrentOffsetsPerShard) {
  // tiny-mlp at tp 2: every weight splits evenly.
  const core::ParallelLayout layout = Layout("tiny-mlp", 2, 1, 1);
  const InitRun run = RunPolicy(*Policy("dtensor"), layout, InitDevice::kCuda);
  ASSERT_EQ(run.ranks.size(), 2u);
  const RankOutcome& r0 = run.ranks[0];
  const RankOutcome& r1 = run.ranks[1];
  ASSERT_EQ(r0.draws.size(), r1.draws.size());
  EXPECT_EQ(Sent(run), 0u);  // no broadcast of the state
  for (size_t k = 0; k < r0.draws.size(); ++k) {
    const auto& a = r0.draws[k];
    const auto& b = r1.draws[k];
    EXPECT_EQ(a.stream.seed, 7u);
    const core::ParamSpec& spec = layout.model().params[a.param];
    if (spec.tp_split == core::TpSplit::kReplicated) {
      EXPECT_EQ(a.begin, b.begin) << spec.name;
      continue;
    }
    const uint64_t local0 = static_cast<uint64_t>(layout.ShardOf(a.param, 0).PaddedNumel(spec.shape));
    // Positions are per-thread Philox offsets: the shard's start offset differs by the
    // rounded increment (both start at a multiple of 4).
    EXPECT_EQ(a.begin % 4, 0u) << spec.name;
    EXPECT_EQ(b.begin, a.begin + (1 * local0 + 3) / 4 * 4) << spec.name;
  }
}

// PyTorch 2.5 torch/distributed/tensor/parallel/api.py (parallelize_module): the
// TensorParallelRNGTracker is installed with distribute_region_enabled = False, so under TP
// random ops draw local shards from the default generator: TP ranks repeat each other.
TEST(SeedUpstreamFacts, DTensor25UnderTpDrawsFromTheDefaultGenerator) {
  const core::ParallelLayout layout = Layout("tiny-mlp", 2, 1, 1);
  const InitRun run = RunPolicy(*Policy("dtensor@2.5"), layout, InitDevice::kCuda);
  ASSERT_EQ(run.ranks.size(), 2u);
  ASSERT_EQ(run.ranks[0].draws.size(), run.ranks[1].draws.size());
  for (size_t k = 0; k < run.ranks[0].draws.size(); ++k) {
    EXPECT_EQ(run.ranks[0].draws[k].stream.seed, run.ranks[1].draws[k].stream.seed);
    EXPECT_EQ(run.ranks[0].draws[k].begin, run.ranks[1].draws[k].begin);
  }
}

// PyTorch 2.5 torch/distributed/tensor/_random.py, OffsetBasedRNGTracker.__init__: rank 0's
// CUDA state is broadcast over WORLD, so every pipeline stage draws from seed + 0 (the
// per-stage seeds of set_determinism are overridden) and starts at offset 0.
TEST(SeedUpstreamFacts, DTensor25WithoutTpTakesRankZerosState) {
  const core::ParallelLayout layout = Layout(kGpt2Tiny, 1, 2, 1);
  const InitRun run = RunPolicy(*Policy("dtensor@2.5"), layout, InitDevice::kCuda, 40);
  for (const RankOutcome& r : run.ranks) {
    ASSERT_FALSE(r.draws.empty());
    EXPECT_EQ(r.draws[0].begin, 0u) << "rank " << r.rank;
    for (const auto& d : r.draws) EXPECT_EQ(d.stream.seed, 40u) << "rank " << r.rank;
  }
  EXPECT_GT(Sent(run), 0u);  // the state broadcast
  // The current release keeps the per-stage seeds.
  const InitRun now = RunPolicy(*Policy("dtensor"), layout, InitDevice::kCuda, 40);
  EXPECT_EQ(now.ranks[1].draws[0].stream.seed, 41u);
}

TEST(SeedUpstreamFacts, DTensorReleasesBySuffix) {
  EXPECT_EQ(Policy("dtensor@2.5")->name(), "dtensor@2.5");
  EXPECT_EQ(Policy("dtensor@0175565d")->name(), "dtensor");
  const StatusOr<std::unique_ptr<SeedPolicy>> bad = MakePolicy("dtensor@2.4");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(),
            "unknown dtensor release '2.4' (did you mean '2.5'?) (known: 2.5, 0175565d; plain "
            "dtensor is 0175565d)");
  const StatusOr<std::unique_ptr<SeedPolicy>> other = MakePolicy("megatron@1");
  ASSERT_FALSE(other.ok());
  EXPECT_NE(other.status().message().find("has no release versions"), std::string::npos);
}

// torchtitan@b5bcd76c torchtitan/trainer.py:395-396: the seed checkpoint run initializes on
// init_device = "cpu"; train.py:53-62: WORLD_SIZE must be 1 (the whole model, one process).
TEST(SeedUpstreamFacts, SeedCheckpointIsCreatedOnOneCpu) {
  const std::unique_ptr<SeedPolicy> p = Policy("seed-checkpoint");
  EXPECT_TRUE(p->Supports(InitDevice::kCpu));
  EXPECT_FALSE(p->Supports(InitDevice::kCuda));
  const core::ParallelLayout layout = Layout(kGpt2Tiny, 2, 2, 2);
  const std::optional<policies::seed::OfflineWork> work = p->Offline(layout.model());
  ASSERT_TRUE(work.has_value());
  uint64_t whole = 0;
  for (const core::ParamSpec& s : layout.model().params) {
    if (s.tied_to.empty()) whole += static_cast<uint64_t>(s.Numel()) * core::DTypeSize(s.dtype);
  }
  EXPECT_EQ(work->host_bytes, whole);
  EXPECT_EQ(work->storage_write_bytes, whole);
  EXPECT_EQ(work->elements_initialized, static_cast<uint64_t>(layout.model().NumParams()));
}

// torchtitan@b5bcd76c torchtitan/distributed/utils.py:245-249: world size 1 seeds
// torch.manual_seed(seed): the creation run's draws are one CPU stream seeded `seed`,
// reported once; the training ranks only load (nothing is sent between them).
TEST(SeedUpstreamFacts, SeedCheckpointRanksOnlyLoad) {
  const core::ParallelLayout layout = Layout(kGpt2Tiny, 2, 2, 2);
  const InitRun run = RunPolicy(*Policy("seed-checkpoint"), layout, InitDevice::kCpu, 40);
  EXPECT_EQ(Sent(run), 0u);
  ASSERT_FALSE(run.ranks[0].draws.empty());
  for (const auto& d : run.ranks[0].draws) {
    EXPECT_EQ(d.stream.kind, StreamKind::kTorchCpu);
    EXPECT_EQ(d.stream.seed, 40u);
  }
  for (size_t r = 1; r < run.ranks.size(); ++r) EXPECT_TRUE(run.ranks[r].draws.empty());
  ASSERT_TRUE(run.offline.has_value());
}

// pytorch@0140b62d torch/distributed/checkpoint/filesystem.py, FileSystemReader.read_data:
// each stored item is torch.load-ed whole and then narrowed, so a rank's host peak is the
// largest full parameter it holds a shard of, not its shard.
TEST(SeedUpstreamFacts, SeedCheckpointReadsWholeItems) {
  const core::ParallelLayout layout = Layout(kGpt2Tiny, 2, 1, 1);
  const InitRun run = RunPolicy(*Policy("seed-checkpoint"), layout, InitDevice::kCpu);
  for (const RankOutcome& r : run.ranks) {
    uint64_t largest_item = 0;
    bool split = false;
    for (const core::OwnedShard& o : r.owned) {
      const core::ParamSpec& s = layout.model().params[o.param];
      largest_item = std::max<uint64_t>(largest_item, s.Numel() * core::DTypeSize(s.dtype));
      split = split || o.shard.PaddedNumel(s.shape) < s.Numel();
    }
    EXPECT_TRUE(split);  // the rank holds TP shards smaller than their items
    EXPECT_EQ(r.peak_host_bytes, largest_item) << "rank " << r.rank;
  }
}

// DeepSpeed@edaa72212 deepspeed/runtime/zero/partition_parameters.py:1186-1193: each
// parameter is broadcast whole from the DP group's first rank: (dp - 1) copies of it cross
// the wire; :631-645: parameters are created on the accelerator.
TEST(SeedUpstreamFacts, ZeroInitBroadcastsEachFullParameterOverDp) {
  const std::unique_ptr<SeedPolicy> p = Policy("zero-init");
  EXPECT_FALSE(p->Supports(InitDevice::kCpu));
  const core::ParallelLayout layout = Layout(kGpt2Tiny, 1, 1, 3);
  const InitRun run = RunPolicy(*p, layout, InitDevice::kCuda);
  uint64_t whole = 0;
  for (const core::ParamSpec& s : layout.model().params) {
    if (s.tied_to.empty()) whole += static_cast<uint64_t>(s.Numel()) * core::DTypeSize(s.dtype);
  }
  EXPECT_EQ(Sent(run), 2 * whole);
  // Every DP rank drew (and was overwritten): all ranks report the same draws.
  for (const RankOutcome& r : run.ranks) EXPECT_EQ(r.draws.size(), run.ranks[0].draws.size());
}

// DeepSpeed@edaa72212 partition_parameters.py:1218-1240: after a module's __init__ its own
// parameters are broadcast and partitioned one at a time, so the full-size temporaries never
// exceed the largest module's own parameters.
TEST(SeedUpstreamFacts, ZeroInitPeakIsTheLargestModule) {
  const core::ParallelLayout layout = Layout(kGpt2Tiny, 2, 1, 1);
  const InitRun run = RunPolicy(*Policy("zero-init"), layout, InitDevice::kCuda);
  uint64_t largest_module = 0;
  std::string module;
  uint64_t sum = 0;
  for (const core::ParamSpec& s : layout.model().params) {
    if (!s.tied_to.empty()) continue;
    const std::string m = s.name.substr(0, s.name.rfind('.'));
    if (m != module) sum = 0;
    module = m;
    sum += static_cast<uint64_t>(s.Numel()) * core::DTypeSize(s.dtype);
    largest_module = std::max(largest_module, sum);
  }
  for (const RankOutcome& r : run.ranks) {
    uint64_t shards = 0;
    for (const core::OwnedShard& o : r.owned) {
      const core::ParamSpec& s = layout.model().params[o.param];
      shards += o.shard.PaddedNumel(s.shape) * core::DTypeSize(s.dtype);
    }
    EXPECT_LE(r.peak_device_bytes, shards + largest_module) << "rank " << r.rank;
    EXPECT_GT(r.peak_device_bytes, shards) << "rank " << r.rank;
  }
}

// The refutation of zero-init's unclaimed init-fits that the generators' small models cannot
// reach (Note [Refuted outside the generators' range] in seed_policy_properties_test.cc): under
// the property test's tight budget (1.5 x the largest rank's shards + 64 KiB), the full
// 2048 x 64 embedding (512 KiB) drawn on every TP rank of 4 does not fit.
TEST(SeedUpstreamFacts, ZeroInitRunsOutOfMemoryOnAFullEmbedding) {
  const core::ParallelLayout layout =
      Layout("gpt2:n_layer=1,n_embd=64,n_head=2,vocab_size=2048,n_positions=8", 4, 1, 1);
  uint64_t most = 0;
  for (int r = 0; r < layout.world_size(); ++r) {
    uint64_t bytes = 0;
    for (const core::OwnedShard& o : layout.OwnedBy(r)) {
      const core::ParamSpec& s = layout.model().params[o.param];
      bytes += static_cast<uint64_t>(o.shard.PaddedNumel(s.shape)) * core::DTypeSize(s.dtype);
    }
    most = std::max(most, bytes);
  }
  InitRunOptions options;
  options.init_device = InitDevice::kCuda;
  options.device_capacity = options.host_capacity = most + most / 2 + (64 << 10);
  StatusOr<PolicyCheck> check =
      CheckPolicy(*Policy("zero-init"), layout, options, {Property::kInitFits});
  ASSERT_TRUE(check.ok()) << check.status().message();
  const PropertyResult& result = check->rows.at(0).result;
  EXPECT_EQ(result.verdict, Verdict::kFails);
  EXPECT_NE(result.detail.find("the full parameter 'transformer.wte.weight' (zero.Init)"),
            std::string::npos)
      << result.detail;
}

// Note [Experts over EP] (policies/seed/common.h): a one-layer qwen3_moe with two experts at
// DP 2 x EP 2, each EP rank holding one expert.
constexpr const char* kTinyMoe =
    "qwen3-30b-a3b:num_hidden_layers=1,hidden_size=2,num_attention_heads=1,"
    "num_key_value_heads=1,vocab_size=17,head_dim=2,intermediate_size=1,"
    "moe_intermediate_size=1,num_experts=2,num_experts_per_tok=1";

// `property` of policy `name` on `layout`, with its claim flag; the test fails on a harness error.
PolicyCheck::Row CheckRow(const std::string& name, const core::ParallelLayout& layout,
                          uint64_t seed, InitDevice device, Property property) {
  InitRunOptions options;
  options.seed = seed;
  options.init_device = device;
  StatusOr<PolicyCheck> check = CheckPolicy(*Policy(name), layout, options, {property});
  EXPECT_TRUE(check.ok()) << name << ": " << check.status().message();
  return check.ok() ? check->rows.at(0) : PolicyCheck::Row{};
}

core::ParallelLayout MoeLayout(int ep) {
  StatusOr<core::ModelSpec> model = core::MakeModel(kTinyMoe);
  EXPECT_TRUE(model.ok()) << model.status().message();
  core::LayoutConfig config;
  config.dp = 2;
  config.ep = ep;
  StatusOr<core::ParallelLayout> layout = core::ParallelLayout::Make(config, *model);
  EXPECT_TRUE(layout.ok()) << layout.status().message();
  return std::move(layout).value();
}

// DeepSpeed@edaa72212 engine.py:1872-1891 (_validate_zero3_moe_compatibility: "Native DeepSpeed
// MoE is not supported with ZeRO Stage 3") and :1940-1952 (AutoEP experts partitioned under
// zero.Init are an AssertionError): zero.Init cannot build experts split over EP ranks. With
// ep == 1 the experts are plain modules every rank builds, broadcast like the rest.
TEST(SeedUpstreamFacts, ZeroInitRefusesExpertsSplitOverEp) {
  const std::unique_ptr<SeedPolicy> p = Policy("zero-init");
  StatusOr<core::ParallelLayout> split = policies::seed::LayoutFor(*p, MoeLayout(2));
  ASSERT_FALSE(split.ok());
  EXPECT_NE(split.status().message().find("Native DeepSpeed MoE is not supported with ZeRO"),
            std::string::npos)
      << split.status().message();
  EXPECT_NE(split.status().message().find("engine.py:1872-1891, 1940-1952"), std::string::npos);
  const core::ParallelLayout whole = MoeLayout(1);
  ASSERT_TRUE(policies::seed::LayoutFor(*p, whole).ok());
  InitRunOptions options;
  options.seed = 7;
  options.init_device = InitDevice::kCuda;
  StatusOr<PolicyCheck> check = CheckPolicy(*p, whole, options, {Property::kParity});
  ASSERT_TRUE(check.ok()) << check.status().message();
  EXPECT_TRUE(check->rows.at(0).claimed);
  EXPECT_EQ(check->rows.at(0).result.verdict, Verdict::kHolds) << check->rows.at(0).result.detail;
}

// Policies whose EP ranks draw from generators seeded alike repeat draws across experts, and do
// not claim distinct there: plain torch.manual_seed (torch-serial, torch-parallel), Megatron's
// CPU generator (initialize.py:425-484, layers.py:186-229 @d98e8a64), DTensor's default
// generator for experts that are not DTensors. Megatron's GPU path draws experts under the
// 'expert-parallel-rng' tracker, seeded seed + 1024 + 100 * ep_rank + etp_rank (random.py
// model_parallel_cuda_manual_seed @d98e8a64, Note [megatron] in megatron.cc), and keeps distinct.
TEST(SeedUpstreamFacts, ExpertsOverEpRepeatDrawsUnlessSeededPerEpRank) {
  const core::ParallelLayout layout = MoeLayout(2);
  for (const char* name : {"torch-serial", "torch-parallel", "megatron-cpu", "dtensor"}) {
    const PolicyCheck::Row row =
        CheckRow(name, layout, 1, Policy(name)->default_init_device(), Property::kDistinct);
    EXPECT_FALSE(row.claimed) << name;
    EXPECT_EQ(row.result.verdict, Verdict::kFails) << name;
    EXPECT_NE(row.result.detail.find("ep_rank 0 and ep_rank 1"), std::string::npos)
        << name << ": " << row.result.detail;
  }
  const PolicyCheck::Row megatron =
      CheckRow("megatron", layout, 1, InitDevice::kCuda, Property::kDistinct);
  EXPECT_TRUE(megatron.claimed);
  EXPECT_EQ(megatron.result.verdict, Verdict::kHolds) << megatron.result.detail;
}

// Note [Expert parallelism] (core/parallel_layout.h): at etp = 2 over tp = 1, the two DP ranks
// hold expert shards of 3 and 2 rows. torch-serial, torch-parallel and shard-local draw local
// shards one after another from one CPU generator, so the replicas' positions part after the
// experts and lm_head differs; these policies claim replica only where etp == tp (Note [Experts
// over EP] in policies/seed/common.h). Megatron, whose experts draw from the expert tracker
// and are broadcast over the expert-data-parallel group, keeps its replicas.
TEST(SeedUpstreamFacts, ReplicasDivergeWhenExpertShardsAreUneven) {
  StatusOr<core::ModelSpec> model = core::MakeModel(
      "qwen3-30b-a3b:num_hidden_layers=1,hidden_size=4,num_attention_heads=1,"
      "num_key_value_heads=1,vocab_size=17,head_dim=4,intermediate_size=5,"
      "moe_intermediate_size=5,num_experts=2,num_experts_per_tok=1");
  ASSERT_TRUE(model.ok()) << model.status().message();
  core::LayoutConfig config;
  config.dp = 2;
  config.etp = 2;
  StatusOr<core::ParallelLayout> layout = core::ParallelLayout::Make(config, *model);
  ASSERT_TRUE(layout.ok()) << layout.status().message();
  for (const char* name :
       {"torch-serial", "torch-parallel", "shard-local", "colossal-legacy+cpu-init"}) {
    const PolicyCheck::Row row = CheckRow(name, *layout, 5, InitDevice::kCpu, Property::kReplica);
    EXPECT_FALSE(row.claimed) << name;
    EXPECT_EQ(row.result.verdict, Verdict::kFails) << name;
    EXPECT_NE(row.result.detail.find("lm_head.weight"), std::string::npos)
        << name << ": " << row.result.detail;
  }
  const PolicyCheck::Row megatron =
      CheckRow("megatron", *layout, 5, InitDevice::kCuda, Property::kReplica);
  EXPECT_EQ(megatron.result.verdict, Verdict::kHolds) << megatron.result.detail;
}

}  // namespace
}  // namespace twinsim::properties
