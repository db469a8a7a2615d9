// Each fact fsdp2 (fsdp2.h Note [FSDP2 step]) and megatron-distopt (megatron_distopt.h Note
// [Megatron distributed optimizer]) encode, one assertion each, named by its source.
#include <gtest/gtest.h>

#include <numeric>
#include <string>

#include "core/model_presets.h"
#include "core/parallel_layout.h"
#include "policies/placement/chunk.h"
#include "policies/placement/fsdp2.h"
#include "policies/placement/megatron_distopt.h"
#include "policies/placement/registry.h"
#include "policies/placement/workload.h"

namespace twinsim::placement {
namespace {

// Rank `rank`'s step of `text` under `lc`, chunks sharded over the shard group as `place` does.
Workload Step(const std::string& text, core::LayoutConfig lc, int rank = 0, bool recompute = false) {
  core::ModelSpec model = core::MakeModel(text).value();
  core::ParallelLayout layout = core::ParallelLayout::Make(lc, model).value();
  ChunkOptions co;
  co.chunk_size = text == "llama3-8b" ? int64_t{1} << 30 : 1 << 20;
  co.dp_shards = layout.shard_group_size();
  ChunkManager chunks = ChunkManager::Make(RankTensors(layout, rank), co).value();
  WorkloadConfig wc;
  wc.rank = rank;
  wc.seq_len = 64;
  wc.heads = 4;
  wc.recompute = recompute;
  return BuildWorkload(layout, chunks, wc).value();
}

const char kLlama[] =
    "llama3:n_layers=3,dim=128,n_heads=4,n_kv_heads=2,ffn_dim=256,vocab_size=1000";

core::LayoutConfig Sharded(int dp, int pp = 1) {
  core::LayoutConfig lc;
  lc.dp = dp;
  lc.dp_shard = dp;
  lc.pp = pp;
  return lc;
}

std::unique_ptr<PlacementPolicy> Fsdp2(Fsdp2Options o = {}) {
  return std::move(MakeFsdp2Policy(o)).value();
}

constexpr MemoryBudget kRoomy{uint64_t{1} << 40, uint64_t{1} << 40};

// torchtitan/distributed/fsdp.py @b5bcd76c:168-368 (apply_fsdp_to_decoder): a unit per block,
// tok_embeddings alone, [norm, lm_head] together.
TEST(Fsdp2Test, TorchtitanWrapsEachBlockTheEmbeddingAndNormWithHead) {
  const Fsdp2Plan plan = PlanFsdp2(Step(kLlama, Sharded(2)), {});
  ASSERT_EQ(plan.units.size(), 5u);
  EXPECT_EQ(plan.units[0].name, "tok_embeddings");
  EXPECT_EQ(plan.units[1].name, "layers.0");
  EXPECT_EQ(plan.units[3].name, "layers.2");
  EXPECT_EQ(plan.units[4].name, "norm+lm_head");
}

// fsdp.py:258-265: [norm, lm_head] is resharded after forward only under "always"; fsdp.py:
// 112-136: "default" reshards the rest unless pipeline parallelism is on.
TEST(Fsdp2Test, ReshardAfterForwardFollowsTorchtitansPolicy) {
  const Fsdp2Plan plan = PlanFsdp2(Step(kLlama, Sharded(2)), {});
  EXPECT_TRUE(plan.units[0].reshard_after_forward);
  EXPECT_TRUE(plan.units[1].reshard_after_forward);
  EXPECT_FALSE(plan.units[4].reshard_after_forward);
  const Fsdp2Plan pp = PlanFsdp2(Step(kLlama, Sharded(2, 3)), {});
  for (const Fsdp2Unit& u : pp.units) EXPECT_FALSE(u.reshard_after_forward) << u.name;
  Fsdp2Options always;
  always.reshard_after_forward = Fsdp2Options::Reshard::kAlways;
  EXPECT_TRUE(PlanFsdp2(Step(kLlama, Sharded(2)), always).units[4].reshard_after_forward);
}

// fsdp.py:238-250: tied weights make one unit of tok_embeddings, norm and lm_head.
TEST(Fsdp2Test, TiedEmbeddingsShareOneUnit) {
  const Fsdp2Plan plan = PlanFsdp2(Step("gpt2:n_layer=2,n_embd=128,n_head=4", Sharded(2)), {});
  int tied = 0;
  for (const Fsdp2Unit& u : plan.units) tied += u.name == "tok_embeddings+norm+lm_head";
  EXPECT_EQ(tied, 1);
}

// _fsdp_param.py FSDPParam.init_all_gather_outputs: the unsharded parameter is numel x
// world_size of the (padded) shard; sharded state 4 + 4 + 8 bytes per shard element.
TEST(Fsdp2Test, ShardedStateIsSixteenBytesPerShardElementAfterTheStep) {
  const Workload w = Step(kLlama, Sharded(4));
  const Fsdp2Plan plan = PlanFsdp2(w, {});
  uint64_t shard = 0;
  for (uint64_t e : w.tensor_elements) shard += (e + 3) / 4;
  EXPECT_EQ(plan.shard_elements, shard);
  const PlacementResult r = Fsdp2()->Run(w, kRoomy);
  ASSERT_TRUE(r.fits);
  EXPECT_EQ(r.final_gpu_bytes, 16 * shard);
  EXPECT_EQ(r.timeline.back().gpu_bytes, 16 * shard);  // Adam: params, grads, m, v
}

// _fsdp_param_group.py wait_for_unshard ([Note: Overlapping all-gather copy-in and
// all-gather]): in forward a layer computes beside its unsharded params and its held all-gather
// output: two bf16 copies of the unit.
TEST(Fsdp2Test, ForwardHoldsTheUnitsAllGatherOutputBesideItsParams) {
  const Workload w = Step(kLlama, Sharded(2));
  const Fsdp2Plan plan = PlanFsdp2(w, {});
  const PlacementResult r = Fsdp2()->Run(w, kRoomy);
  // fwd layer 1 (op 2): the gather of layer 1 (its output and its bf16 inputs) beside layer
  // 0's held output, or the copy-out beside its own output.
  const uint64_t u1 = 2 * 2 * plan.units[2].shard_elements;
  const uint64_t u0 = 2 * 2 * plan.units[1].shard_elements;
  const uint64_t cast = 2 * plan.units[2].shard_elements;
  const uint64_t params = 4 * plan.shard_elements, optim = 8 * plan.shard_elements;
  ASSERT_EQ(w.ops[2].name, "fwd layer 1");
  EXPECT_EQ(r.timeline[2].gpu_bytes,
            params + optim + w.ops[2].non_model_bytes + std::max(u0 + u1 + cast, 2 * u1));
}

// _fsdp_param_group.py post_backward / foreach_reduce: gradients arrive as fp32 shards, so
// after backward the GPU holds 4 bytes per shard element of gradients; reduce dtype float32
// (torchtitan config/configs.py:102) makes the reduce-scatter input 4 x world x shard.
TEST(Fsdp2Test, ReduceDtypeSizesTheReduceScatterInput) {
  const Workload w = Step(kLlama, Sharded(2));
  Fsdp2Options bf16;
  bf16.reduce_dtype_bytes = 2;
  const PlacementResult fp32 = Fsdp2()->Run(w, kRoomy);
  const PlacementResult half = Fsdp2(bf16)->Run(w, kRoomy);
  EXPECT_GT(fp32.peak_gpu_bytes, half.peak_gpu_bytes);
}

// reshard_after_forward false keeps every unit gathered from its forward to its backward.
TEST(Fsdp2Test, NoReshardKeepsUnitsGatheredAndPeaksHigher) {
  const Workload w = Step(kLlama, Sharded(4));
  Fsdp2Options never;
  never.reshard_after_forward = Fsdp2Options::Reshard::kNever;
  const PlacementResult a = Fsdp2()->Run(w, kRoomy);
  const PlacementResult b = Fsdp2(never)->Run(w, kRoomy);
  EXPECT_LE(a.peak_gpu_bytes, b.peak_gpu_bytes);
  const Fsdp2Plan plan = PlanFsdp2(w, never);
  uint64_t all = 0;
  for (const Fsdp2Unit& u : plan.units) all += 2 * 4 * u.shard_elements;
  // fwd head (op 4): every unit's bf16 copy is resident.
  EXPECT_GE(b.timeline[4].gpu_bytes, all);
}

// _fsdp_param.py FSDPParam.all_gather_inputs: CPUOffloadPolicy keeps the fp32 shard on the
// host and copies it to the GPU for each all-gather; the optimizer steps on the CPU.
TEST(Fsdp2Test, CpuOffloadMovesShardsAndStepsOnTheCpu) {
  const Workload w = Step(kLlama, Sharded(2));
  Fsdp2Options off;
  off.cpu_offload = true;
  const PlacementResult r = Fsdp2(off)->Run(w, kRoomy);
  const Fsdp2Plan plan = PlanFsdp2(w, off);
  ASSERT_TRUE(r.fits);
  EXPECT_EQ(r.final_gpu_bytes, 0u);
  EXPECT_EQ(r.final_host_bytes, 16 * plan.shard_elements);
  EXPECT_EQ(r.d2h_bytes, 4 * plan.shard_elements);
  EXPECT_TRUE(r.op_on_cpu.back());
  EXPECT_LT(r.peak_gpu_bytes, Fsdp2()->Run(w, kRoomy).peak_gpu_bytes);
  // Forward gathers every unit once; backward regathers those resharded after forward.
  uint64_t h2d = 0;
  for (const Fsdp2Unit& u : plan.units) h2d += 4 * u.shard_elements * (u.reshard_after_forward ? 2 : 1);
  EXPECT_EQ(r.h2d_bytes, h2d);
}

TEST(Fsdp2Test, PeakBreakdownSumsToThePeakAndOomNamesTheOp) {
  const Workload w = Step(kLlama, Sharded(2));
  for (const std::string name : {"fsdp2", "fsdp2-no-reshard", "fsdp2-cpu-offload",
                                 "megatron-distopt"}) {
    auto p = std::move(MakePlacementPolicy(name)).value();
    const PlacementResult r = p->Run(w, kRoomy);
    EXPECT_EQ(r.peak_breakdown.total(), r.peak_gpu_bytes) << name;
    EXPECT_GT(r.peak_breakdown.params + r.peak_breakdown.buffers, 0u) << name;
    const PlacementResult small = p->Run(w, {r.peak_gpu_bytes - 1, uint64_t{1} << 40});
    ASSERT_FALSE(small.fits) << name;
    EXPECT_EQ(small.oom->device, "gpu");
    EXPECT_EQ(small.oom->op, r.peak_breakdown.op) << name;
  }
}

// distrib_optimizer.py @d98e8a64:506-588 and param_layout.py:24-42: 64-element param starts,
// one bucket without overlap_grad_reduce, its end padded to lcm(dp x cp, 128).
TEST(MegatronDistOptTest, BufferIsPaddedAsMegatronLaysItOut) {
  core::LayoutConfig lc;
  lc.dp = 3;
  const Workload w = Step(kLlama, lc);
  const MegatronBufferLayout b = LayoutMegatronBuffer(w, {});
  uint64_t end = 0;
  for (auto it = w.tensor_elements.rbegin(); it != w.tensor_elements.rend(); ++it) {
    end = (end + 63) / 64 * 64 + *it;
  }
  ASSERT_EQ(b.bucket_end.size(), 1u);
  EXPECT_EQ(b.numel, (end + 383) / 384 * 384);  // lcm(3, 128) = 384
  EXPECT_EQ(b.numel_unpadded,
            std::accumulate(w.tensor_elements.begin(), w.tensor_elements.end(), uint64_t{0}));
}

// distributed_data_parallel.py:131-137 and :160-171: overlap_grad_reduce buckets by bucket_size
// (default max(40e6, 1e6 x dp)); stages after the first do not bucket.
TEST(MegatronDistOptTest, BucketsOnlyWithOverlapGradReduceOnTheFirstStage) {
  MegatronDistOptOptions o;
  o.overlap_grad_reduce = true;
  o.bucket_size = 20000;
  const Workload w = Step(kLlama, Sharded(2));
  EXPECT_GT(LayoutMegatronBuffer(w, o).bucket_end.size(), 1u);
  MegatronDistOptOptions dflt;
  dflt.overlap_grad_reduce = true;
  EXPECT_EQ(LayoutMegatronBuffer(w, dflt).bucket_size, 40000000u);
  core::LayoutConfig pp;
  pp.pp = 3;
  EXPECT_EQ(LayoutMegatronBuffer(Step(kLlama, pp, /*rank=*/1), o).bucket_end.size(), 1u);
}

// distrib_optimizer.py:200-240 (_build_model_gbuf_range): each bucket in dp equal slices; the
// slices' parameter elements over the DP ranks are every parameter once.
TEST(MegatronDistOptTest, ShardsCoverEveryParameterOnce) {
  core::LayoutConfig lc;
  lc.dp = 4;
  uint64_t sum = 0;
  for (int rank = 0; rank < 4; ++rank) {
    sum += LayoutMegatronBuffer(Step(kLlama, lc, rank), {}).shard_param_elements;
  }
  EXPECT_EQ(sum, LayoutMegatronBuffer(Step(kLlama, lc), {}).numel_unpadded);
}

// theoretical_memory_usage.py:293-296: 6 + 12 / d bytes per parameter (bf16 param, fp32 grad,
// fp32 main param and Adam over d), here plus the padding; arguments.py:1204-1217: fp32 grads.
TEST(MegatronDistOptTest, SixPlusTwelveOverDBytesPerParameter) {
  core::LayoutConfig lc;
  lc.dp = 4;
  const Workload w = Step(kLlama, lc);
  const MegatronBufferLayout b = LayoutMegatronBuffer(w, {});
  const PlacementResult r = std::move(MakeMegatronDistOptPolicy()).value()->Run(w, kRoomy);
  EXPECT_EQ(r.final_gpu_bytes, 6 * b.numel + 12 * b.shard_param_elements);
  EXPECT_EQ(r.peak_breakdown.params, 2 * b.numel_unpadded);
  EXPECT_EQ(r.peak_breakdown.grads, 4 * b.numel_unpadded);
  EXPECT_EQ(r.peak_breakdown.buffers, 6 * (b.numel - b.numel_unpadded));
  MegatronDistOptOptions bf16;
  bf16.grad_reduce_in_fp32 = false;
  const PlacementResult h = std::move(MakeMegatronDistOptPolicy(bf16)).value()->Run(w, kRoomy);
  EXPECT_EQ(h.final_gpu_bytes, 4 * b.numel + 12 * b.shard_param_elements);
}

// Megatron-LM @d98e8a64 training/theoretical_memory_usage.py:12-305
// (compute_weight_and_optimizer_memory) for Llama 3 8B (hidden 4096, 32 heads, 8 query groups,
// kv_channels 128, ffn 14336, SwiGLU, RMSNorm, untied, padded vocab 128256) at tp = pp = 1,
// dp = 8 with --use-distributed-optimizer: 8,030,261,248 parameters x (6 + 12 / 8) bytes =
// 60,226,959,360 B. Every llama3-8b tensor is a multiple of 64 elements and the whole buffer a
// multiple of lcm(8, 128), so Megatron's padding is zero and the layouts agree to the byte.
TEST(MegatronDistOptTest, Llama3EightBMatchesTheoreticalMemoryUsageAtDp8) {
  core::LayoutConfig lc;
  lc.dp = 8;
  const Workload w = Step("llama3-8b", lc);
  const MegatronBufferLayout b = LayoutMegatronBuffer(w, {});
  EXPECT_EQ(b.numel_unpadded, 8030261248u);
  EXPECT_EQ(b.numel, b.numel_unpadded);
  const PlacementResult r =
      std::move(MakeMegatronDistOptPolicy()).value()->Run(w, {uint64_t{1} << 40, 0});
  EXPECT_EQ(r.final_gpu_bytes, 60226959360u);
}

// FSDP2's steady state for Llama 3 8B over 8 shards: 16 bytes per parameter / 8 after the
// optimizer step (fp32 parameter, gradient, Adam m and v), 16,060,522,496 B.
TEST(Fsdp2Test, Llama3EightBShardedStateAtDp8) {
  const Workload w = Step("llama3-8b", Sharded(8));
  const PlacementResult r = Fsdp2()->Run(w, {uint64_t{1} << 40, 0});
  EXPECT_EQ(r.final_gpu_bytes, 16060522496u);
}

TEST(MegatronDistOptTest, ProvenanceCitesTheCommit) {
  for (const std::string name : {"fsdp2", "megatron-distopt"}) {
    const core::Provenance p = std::move(MakePlacementPolicy(name)).value()->provenance();
    ASSERT_FALSE(p.sources.empty()) << name;
    for (const core::SourceRef& s : p.sources) EXPECT_FALSE(s.release.empty()) << name;
  }
  EXPECT_FALSE(MakeFsdp2Policy({Fsdp2Options::Reshard::kDefault, 3, 4, false}).ok());
  MegatronDistOptOptions zero;
  zero.bucket_size = 0;
  EXPECT_FALSE(MakeMegatronDistOptPolicy(zero).ok());
}

}  // namespace
}  // namespace twinsim::placement
