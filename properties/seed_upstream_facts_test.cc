// The upstream facts behind torch-serial, torch-parallel, dtensor, dtensor@2.5, seed-checkpoint
// and zero-init, one assertion each, every one citing file:line@commit (or the function, where
// the stored text gave no line numbers). Runs the policies on the host backend
// (properties/init_check.h) and reads what they drew, sent and held.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "core/init_spec.h"
#include "core/model_presets.h"
#include "core/parallel_layout.h"
#include "core/provenance.h"
#include "kernels/torch/cuda_layout.h"
#include "policies/seed/policy.h"
#include "properties/init_check.h"

namespace twinsim::properties {
namespace {

using policies::seed::MakePolicy;
using policies::seed::StreamKind;

constexpr const char* kGpt2Tiny = "gpt2:n_layer=2,n_embd=16,n_head=2,vocab_size=64";

core::ParallelLayout LayoutOf(const std::string& model_text, const core::LayoutConfig& config) {
  StatusOr<core::ModelSpec> model = core::MakeModel(model_text);
  EXPECT_TRUE(model.ok()) << model.status().message();
  StatusOr<core::ParallelLayout> layout = core::ParallelLayout::Make(config, *model);
  EXPECT_TRUE(layout.ok()) << layout.status().message();
  return std::move(layout).value();
}

core::ParallelLayout Layout(const std::string& model_text, int tp, int pp, int dp) {
  core::LayoutConfig config;
  config.tp = tp;
  config.pp = pp;
  config.dp = dp;
  return LayoutOf(model_text, config);
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

// ---- dtensor under FSDP2 (issue 14, Note [dtensor] in policies/seed/torch_policies.cc) ----

// `model_text` over dp ranks of which dp_shard shard parameters, tp and cp, under `mesh`.
core::ParallelLayout FsdpLayout(const std::string& model_text, int tp, int dp, int dp_shard,
                                int cp = 1,
                                core::MeshConvention mesh = core::MeshConvention::kTorchtitan) {
  core::LayoutConfig config;
  config.tp = tp;
  config.dp = dp;
  config.dp_shard = dp_shard;
  config.cp = cp;
  config.mesh = mesh;
  return LayoutOf(model_text, config);
}

// Entry `entry` of rank `r`'s outcome as float32 values.
std::vector<float> Floats(const RankOutcome& r, size_t entry) {
  std::vector<float> out(r.bytes.at(entry).size() / sizeof(float));
  std::memcpy(out.data(), r.bytes.at(entry).data(), out.size() * sizeof(float));
  return out;
}

// The start offsets (DrawSpan::begin) rank `r` drew parameter `param` at, in draw order.
std::vector<uint64_t> Starts(const RankOutcome& r, int param) {
  std::vector<uint64_t> starts;
  for (const policies::seed::DrawSpan& d : r.draws) {
    if (d.param == param) starts.push_back(d.begin);
  }
  return starts;
}

// nn.Linear's default kaiming_uniform_(a=sqrt(5)) bound as torch.nn.init computes it:
// gain / sqrt(fan_in) * sqrt(3).
double KaimingUniformBound(int64_t fan_in) {
  const double std = core::CalculateGain(core::Nonlinearity::kLeakyRelu, std::sqrt(5.0)) /
                     std::sqrt(static_cast<double>(fan_in));
  return std::sqrt(3.0) * std;
}

// Known answer, derived here from the formulas, not from the policy: an [8, 4] column-parallel
// weight and a [4, 8] row-parallel one (linear-stack, no bias), seed 7, at dp_shard F and tp T
// (2 x 2 as in issue 14, and 4 x 2, 2 x 4, where the fsdp and tp sizes differ).
// pytorch@0175565d torch/distributed/tensor/_random.py:
//   _calc_shard_info: the mesh dims sharding tensor dim 0 (fsdp's _StridedShard, then tp's
//   Shard(0)) flatten in mesh order: shard index f * T + t on dim 0; for the row-parallel
//   weight dim 0 has fsdp, dim 1 tp, and _calc_shard_linear_idx gives f * T + t again;
//   _calc_first_shard_size: each placement chunks the global size of its dim over its mesh dim
//   alone, the last one winning: [8 / T, 4] for the first weight (tp's Shard(0) wins over
//   fsdp's), [4 / F, 8 / T] for the second;
//   _compute_rng_offsets: start base + (idx * first + 3) // 4 * 4, end base + (numel + 3) // 4
//   * 4 (the second weight's base is 32).
// pytorch@010ae4a8 torch/distributed/fsdp/_fully_shard/_fsdp_param.py,
// FSDPParam._init_sharded_param: fsdp rank f holds torch.chunk(tp_local, F, dim=0)[f], and
// _init_sharding_spec_tp / _spmd put _StridedShard(0, split_factor=T) on fsdp for the first
// weight (TP shards its dim 0), Shard(0) for the second. Each piece is one uniform_ on a
// tensor of its own size (PyTorch's CUDA layout, kernels/torch/cuda_layout.h).
void ExpectFsdpKnownAnswer(int fsdp, int tp) {
  SCOPED_TRACE("dp_shard " + std::to_string(fsdp) + ", tp " + std::to_string(tp));
  const core::ParallelLayout layout = FsdpLayout(
      "linear-stack:layers=2,width=8,in_features=4,out_features=4,bias=0", tp, fsdp, fsdp);
  ASSERT_EQ(layout.shard_group_size(), fsdp);
  const InitRun run = RunPolicy(*Policy("dtensor"), layout, InitDevice::kCuda, 7);
  const kernels::torch::CudaDeviceProfile gpu = InitRunOptions{}.gpu;
  ASSERT_EQ(run.ranks.size(), static_cast<size_t>(fsdp * tp));
  const auto round4 = [](uint64_t n) { return (n + 3) / 4 * 4; };
  for (const RankOutcome& r : run.ranks) {
    const uint64_t t = static_cast<uint64_t>(r.coords.tp);
    ASSERT_EQ(r.owned.size(), 2u);
    // layers.0.weight [8, 4]: TP rank t holds rows [t * 8 / T, ...); fsdp piece f: 8 / T / F
    // of them. First shard size [8 / T, 4].
    const std::vector<float> w0 = Floats(r, 0);
    ASSERT_EQ(w0.size(), 32u / tp);
    const uint64_t piece0 = 32u / tp / fsdp, first0 = 8u / tp * 4;
    const double b0 = KaimingUniformBound(4);
    std::vector<uint64_t> starts0, starts1;
    for (uint64_t f = 0; f < static_cast<uint64_t>(fsdp); ++f) {
      const uint64_t offset = round4((f * tp + t) * first0);
      starts0.push_back(offset);
      const std::vector<float> want =
          kernels::torch::CudaUniform(7, offset, static_cast<int64_t>(piece0), gpu, -b0, b0);
      for (uint64_t e = 0; e < piece0; ++e) {
        EXPECT_EQ(w0[f * piece0 + e], want[e]) << "rank " << r.rank << " piece " << f;
      }
    }
    // layers.1.weight [4, 8]: TP rank t holds columns [t * 8 / T, ...); fsdp piece f: rows
    // [f * 4 / F, ...) of it. First shard size [4 / F, 8 / T].
    const std::vector<float> w1 = Floats(r, 1);
    ASSERT_EQ(w1.size(), 32u / tp);
    const uint64_t piece1 = 32u / tp / fsdp, first1 = (4u / fsdp) * (8u / tp);
    const double b1 = KaimingUniformBound(8);
    for (uint64_t f = 0; f < static_cast<uint64_t>(fsdp); ++f) {
      const uint64_t offset = 32 + round4((f * tp + t) * first1);
      starts1.push_back(offset);
      const std::vector<float> want =
          kernels::torch::CudaUniform(7, offset, static_cast<int64_t>(piece1), gpu, -b1, b1);
      for (uint64_t e = 0; e < piece1; ++e) {
        EXPECT_EQ(w1[f * piece1 + e], want[e]) << "rank " << r.rank << " piece " << f;
      }
    }
    EXPECT_EQ(Starts(r, 0), starts0) << "rank " << r.rank;
    EXPECT_EQ(Starts(r, 1), starts1) << "rank " << r.rank;
  }
}

TEST(SeedUpstreamFacts, DTensorFsdpPiecesKnownAnswer) {
  ExpectFsdpKnownAnswer(2, 2);
  ExpectFsdpKnownAnswer(4, 2);
  ExpectFsdpKnownAnswer(2, 4);
}

// The same _calc_first_shard_size (pytorch@0175565d _random.py) makes the first weight above
// an upstream overlap: its fsdp-1 pieces start at 32 and 48, past its end increment of 32 and
// inside the second weight's range, so two parameters share Philox positions and distinct
// fails. The policy does not claim distinct there (TP shards dim 0 with fsdp > 1).
TEST(SeedUpstreamFacts, DTensorFsdpStridedShardOffsetsRunIntoTheNextParameter) {
  const core::ParallelLayout layout =
      FsdpLayout("linear-stack:layers=2,width=8,in_features=4,out_features=4,bias=0", 2, 2, 2);
  const PolicyCheck::Row row = CheckRow("dtensor", layout, 7, InitDevice::kCuda,
                                        Property::kDistinct);
  EXPECT_FALSE(row.claimed);
  EXPECT_EQ(row.result.verdict, Verdict::kFails) << row.result.detail;
  // Without fsdp (dp_shard 1) the TP shards tile the tensor and distinct holds.
  const PolicyCheck::Row tp_only = CheckRow(
      "dtensor", FsdpLayout("linear-stack:layers=2,width=8,in_features=4,out_features=4,bias=0",
                            2, 2, 1),
      7, InitDevice::kCuda, Property::kDistinct);
  EXPECT_TRUE(tp_only.claimed);
  EXPECT_EQ(tp_only.result.verdict, Verdict::kHolds) << tp_only.result.detail;
}

// Uneven dim 0 (pytorch@010ae4a8 _fsdp_param.py, FSDPParam._init_sharded_param): torch.chunk
// pieces of ceil(5 / 4) = 2 rows (2, 2, 1, and an empty one), padded to 2 rows for the
// all-gather while the local tensor is the unpadded narrow; DTensor's first shard size is
// the padded one (Shard._local_shard_size_and_offset via _calc_first_shard_size @0175565d),
// so piece f starts at (f * 2 * 4 + 3) // 4 * 4 and the empty piece draws nothing.
TEST(SeedUpstreamFacts, DTensorFsdpUnevenPiecesStartAtPaddedOffsets) {
  const core::ParallelLayout layout =
      FsdpLayout("linear-stack:layers=1,width=4,in_features=4,out_features=5,bias=1", 1, 4, 4);
  const InitRun run = RunPolicy(*Policy("dtensor"), layout, InitDevice::kCuda, 7);
  ASSERT_EQ(run.ranks.size(), 4u);
  for (const RankOutcome& r : run.ranks) {
    // layers.0.weight [5, 4]: pieces of 8, 8, 4 elements at 0, 8, 16.
    EXPECT_EQ(Starts(r, 0), (std::vector<uint64_t>{0, 8, 16})) << "rank " << r.rank;
    // layers.0.bias [5] after it, base (20 + 3) // 4 * 4 = 20: pieces at 20 + 0, 2, 4 rounded.
    EXPECT_EQ(Starts(r, 1), (std::vector<uint64_t>{20, 24, 24})) << "rank " << r.rank;
    const std::vector<float> w = Floats(r, 0);
    ASSERT_EQ(w.size(), 20u);
    const kernels::torch::CudaDeviceProfile gpu = InitRunOptions{}.gpu;
    const double b = KaimingUniformBound(4);
    const std::vector<float> last = kernels::torch::CudaUniform(7, 16, 4, gpu, -b, b);
    for (int e = 0; e < 4; ++e) EXPECT_EQ(w[16 + e], last[e]) << "rank " << r.rank;
  }
}

// torchtitan@b5bcd76c: spmd_backend defaults to "spmd_types" (config/configs.py:172), whose
// FSDP mesh is the storage mesh with dp_shard and cp as separate dims
// (distributed/fsdp.py:28-62); _init_sharding_spec_spmd (pytorch@010ae4a8 _fsdp_param.py) puts
// Shard(0) on each. _calc_first_shard_size (pytorch@0175565d _random.py) then sizes dim 0 by cp
// alone: [8 / 2, 4] = 16 for an [8, 4] weight over fsdp = dp_shard 2 x cp 2, while the pieces
// are 2 rows (8 elements); fsdp index dp_shard * cp + cp_rank.
TEST(SeedUpstreamFacts, DTensorFsdpWithCpUnderTorchtitanSizesDimZeroByCp) {
  const core::ParallelLayout layout =
      FsdpLayout("linear-stack:layers=1,width=4,in_features=4,out_features=8,bias=0", 1, 2, 2, 2);
  ASSERT_EQ(layout.shard_group_size(), 4);
  const InitRun run = RunPolicy(*Policy("dtensor"), layout, InitDevice::kCuda, 7);
  for (const RankOutcome& r : run.ranks) {
    EXPECT_EQ(Starts(r, 0), (std::vector<uint64_t>{0, 16, 32, 48})) << "rank " << r.rank;
  }
  // Under the Megatron convention cp keeps whole copies: fsdp = dp_shard = 2, pieces of 16 at
  // 0 and 16.
  const core::ParallelLayout megatron = FsdpLayout(
      "linear-stack:layers=1,width=4,in_features=4,out_features=8,bias=0", 1, 2, 2, 2,
      core::MeshConvention::kMegatron);
  const InitRun m = RunPolicy(*Policy("dtensor"), megatron, InitDevice::kCuda, 7);
  for (const RankOutcome& r : m.ranks) {
    EXPECT_EQ(Starts(r, 0), (std::vector<uint64_t>{0, 16})) << "rank " << r.rank;
  }
}

// Every rank of an fsdp group holds the same TP shard, as gathered; HSDP replicas
// (dp_replicate, a Replicate placement outside _calc_shard_info's dim map) draw alike.
// The policy says that memory and time are those of whole TP shards.
TEST(SeedUpstreamFacts, DTensorFsdpValuesAreGatheredOnEveryRank) {
  const core::ParallelLayout layout = FsdpLayout(kGpt2Tiny, 2, 4, 2);
  const InitRun run = RunPolicy(*Policy("dtensor"), layout, InitDevice::kCuda, 7);
  for (const RankOutcome& r : run.ranks) {
    const RankOutcome& same_tp = run.ranks.at(r.coords.tp);  // dp 0's rank at this tp
    ASSERT_EQ(r.bytes.size(), same_tp.bytes.size());
    for (size_t k = 0; k < r.bytes.size(); ++k) {
      EXPECT_EQ(r.bytes[k], same_tp.bytes[k]) << "rank " << r.rank << " entry " << k;
    }
  }
  const std::unique_ptr<SeedPolicy> p = Policy("dtensor");
  EXPECT_EQ(p->version(), "4");
  ASSERT_FALSE(p->provenance().deviations.empty());
  EXPECT_NE(p->provenance().deviations[0].find("memory and kernel time charged are those of the "
                                               "whole TP shard"),
            std::string::npos);
  // dtensor@2.5 keeps whole-TP-shard offsets (the FSDP2 pieces are modelled for the current
  // release only): its draws do not depend on dp_shard.
  const InitRun old_sharded = RunPolicy(*Policy("dtensor@2.5"), layout, InitDevice::kCuda, 7);
  const InitRun old_plain =
      RunPolicy(*Policy("dtensor@2.5"), FsdpLayout(kGpt2Tiny, 2, 4, 1), InitDevice::kCuda, 7);
  for (size_t i = 0; i < old_sharded.ranks.size(); ++i) {
    EXPECT_EQ(old_sharded.ranks[i].bytes, old_plain.ranks[i].bytes) << "rank " << i;
  }
}

}  // namespace
}  // namespace twinsim::properties
