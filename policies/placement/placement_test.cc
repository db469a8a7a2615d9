// Hand-computed results of every placement policy on bare access sequences: three chunks of
// 100 bytes, a GPU with room for two.
#include "policies/placement/placement.h"

#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/model_presets.h"
#include "core/parallel_layout.h"
#include "policies/placement/chunk.h"

namespace twinsim::placement {
namespace {

// A bare access sequence over chunks 0..n-1: op i touches the fp16 unit of chunks[i] (100 B
// each); optimizer units are empty and unused, so only the fp16 units matter.
Workload Sequence(const std::vector<int>& chunks, int n, std::vector<uint64_t> non_model = {}) {
  Workload w;
  w.unit_bytes.assign(2 * n, 0);
  w.chunk_gather_bytes.assign(n, 0);
  for (int c = 0; c < n; ++c) w.unit_bytes[Fp16Unit(c)] = 100;
  w.total_model_bytes = 100u * n;
  for (size_t i = 0; i < chunks.size(); ++i) {
    Op op;
    op.name = "op " + std::to_string(i);
    op.chunks = {chunks[i]};
    op.units = {Fp16Unit(chunks[i])};
    op.non_model_bytes = i < non_model.size() ? non_model[i] : 0;
    w.ops.push_back(std::move(op));
  }
  return w;
}

// twinsim's GPU-Adam variant of auto (Note [GPU-Adam variant]).
std::unique_ptr<PlacementPolicy> Auto(double warmup, double steady) {
  return std::move(MakeAutoPolicy({warmup, steady, 0.0, /*gpu_adam=*/true})).value();
}
// Gemini's auto as coded.
std::unique_ptr<PlacementPolicy> GeminiAuto(double warmup, double steady, double margin = 0) {
  return std::move(MakeAutoPolicy({warmup, steady, margin})).value();
}

// A step over chunks 0..n-1 of 100 B fp16 units (each chunk one tensor, chunk_mem 100 B): the
// forward ops `fwd`, then the backward ops `bwd` (each a list of chunks, ascending), then one
// Adam op per chunk. Optimizer units are `optim` bytes each.
Workload Training(int n, const std::vector<std::vector<int>>& fwd,
                  const std::vector<std::vector<int>>& bwd, uint64_t optim = 0) {
  Workload w;
  w.unit_bytes.assign(2 * n, optim);
  w.chunk_gather_bytes.assign(n, 0);
  w.chunk_param_bytes.assign(n, 100);
  w.chunk_num_tensors.assign(n, 1);
  for (int c = 0; c < n; ++c) w.unit_bytes[Fp16Unit(c)] = 100;
  w.total_model_bytes = (100 + optim) * n;
  auto add = [&](OpPhase phase, std::vector<int> chunks, std::string name) {
    Op op;
    op.name = std::move(name);
    op.phase = phase;
    op.chunks = std::move(chunks);
    for (int c : op.chunks) op.units.push_back(Fp16Unit(c));
    if (phase == OpPhase::kOptimizer) op.units.push_back(OptimUnit(op.chunks.front()));
    w.ops.push_back(std::move(op));
  };
  for (const std::vector<int>& f : fwd) add(OpPhase::kForward, f, "fwd");
  for (const std::vector<int>& b : bwd) add(OpPhase::kBackward, b, "bwd");
  for (int c = 0; c < n; ++c) add(OpPhase::kOptimizer, {c}, "adam " + std::to_string(c));
  return w;
}

std::vector<const Transfer*> MovesOf(const PlacementResult& r, int unit) {
  std::vector<const Transfer*> v;
  for (const Transfer& t : r.transfers) {
    if (t.unit == unit) v.push_back(&t);
  }
  return v;
}

const std::vector<int> kABCABC = {0, 1, 2, 0, 1, 2};

// Rank 0's step of the model `text` under `lc`, packed into chunks as `co` says.
StatusOr<Workload> RankZeroStep(const std::string& text, const core::LayoutConfig& lc,
                                const ChunkOptions& co, const WorkloadConfig& wc) {
  TWINSIM_ASSIGN_OR_RETURN(core::ModelSpec model, core::MakeModel(text));
  TWINSIM_ASSIGN_OR_RETURN(core::ParallelLayout layout, core::ParallelLayout::Make(lc, model));
  TWINSIM_ASSIGN_OR_RETURN(ChunkManager chunks, ChunkManager::Make(RankTensors(layout, 0), co));
  return BuildWorkload(layout, chunks, wc);
}

TEST(PlacementTest, CpuVariantMovesEveryUseBothWays) {
  const PlacementResult r =
      MakeCpuPolicy(/*gpu_adam=*/true)->Run(Sequence(kABCABC, 3), {200, 1000});
  EXPECT_EQ(r.policy, "cpu+gpu-adam");
  ASSERT_TRUE(r.fits);
  EXPECT_EQ(r.h2d_bytes, 600u);
  EXPECT_EQ(r.d2h_bytes, 600u);
  EXPECT_EQ(r.peak_gpu_bytes, 100u);
  EXPECT_EQ(r.peak_host_bytes, 300u);
  EXPECT_EQ(r.final_gpu_bytes, 0u);
  EXPECT_EQ(r.final_host_bytes, 300u);
}

TEST(PlacementTest, OptimalIsBelady) {
  // Preload A, B. op 2 (C): evict B (next use 4, A's is 3). op 4 (B): evict A (never again).
  const PlacementResult r = MakeOptimalPolicy()->Run(Sequence(kABCABC, 3), {200, 1000});
  ASSERT_TRUE(r.fits);
  EXPECT_EQ(r.h2d_bytes, 200u);
  EXPECT_EQ(r.d2h_bytes, 200u);
  EXPECT_EQ(r.peak_gpu_bytes, 200u);
}

TEST(PlacementTest, OptimalSplitsUnitsWhenCapacityIsNotAMultiple) {
  // 250 B: preload A, B and half of C; op 2 needs 50 more bytes of C: evict 50 of B.
  // op 4 needs those 50 back: evict 50 of A. H2D = 100.
  const PlacementResult r = MakeOptimalPolicy()->Run(Sequence(kABCABC, 3), {250, 1000});
  EXPECT_EQ(r.h2d_bytes, 100u);
}

TEST(PlacementTest, AutoVariantWithGeminiMarginsKeepsOneChunk) {
  // steady budget 0.9 * 200 = 180 B: one chunk at a time. The warmup ends with C resident;
  // every op then loads its chunk: 6 loads.
  const PlacementResult r = Auto(0.8, 0.9)->Run(Sequence(kABCABC, 3), {200, 1000});
  ASSERT_TRUE(r.fits) << r.oom->message;
  EXPECT_EQ(r.h2d_bytes, 600u);
  EXPECT_EQ(r.d2h_bytes, 600u);
}

TEST(PlacementTest, AutoVariantWithoutMarginEvictsFurthest) {
  // The first steady step starts with C (from the warmup) and ends with A and C. The reported
  // step starts there: op 1 loads B, evicting A (next use 3; C's is 2). op 3 loads A, evicting
  // C (next 5; B's is 4). op 5 loads C, evicting B (A and B are never used again: ties go to
  // the higher unit). 3 loads, 3 evictions, and it ends as it began.
  const PlacementResult r = Auto(0.8, 1.0)->Run(Sequence(kABCABC, 3), {200, 1000});
  ASSERT_TRUE(r.fits) << r.oom->message;
  EXPECT_EQ(r.h2d_bytes, 300u);
  EXPECT_EQ(r.d2h_bytes, 300u);
  EXPECT_EQ(r.final_location, (std::vector<Where>{Where::kGpu, Where::kHost, Where::kHost,
                                                  Where::kHost, Where::kGpu, Where::kHost}));
}

TEST(PlacementTest, CudaNeedsEverythingOnTheGpu) {
  const PlacementResult small = MakeCudaPolicy()->Run(Sequence(kABCABC, 3), {200, 1000});
  ASSERT_FALSE(small.fits);
  EXPECT_EQ(small.oom->op, -1);
  EXPECT_EQ(small.oom->op_name, "initial placement");
  EXPECT_EQ(small.oom->device, "gpu");
  EXPECT_EQ(small.oom->shortfall, 100u);
  const PlacementResult big = MakeCudaPolicy()->Run(Sequence(kABCABC, 3), {300, 0});
  ASSERT_TRUE(big.fits);
  EXPECT_EQ(big.h2d_bytes + big.d2h_bytes, 0u);
}

TEST(PlacementTest, StaticVariantOffloadsAFractionOfParams) {
  // offload_param_frac 1/3 (honoured: shard 1, optim 1): chunk A lives on the host and moves
  // in and out for each of its 2 uses; B and C stay on the GPU.
  auto policy = std::move(MakeStaticPolicy({1.0, 1.0, 0.3, true})).value();
  EXPECT_EQ(policy->Name(), "static(1,1,0.3)+gpu-adam");
  const PlacementResult r = policy->Run(Sequence(kABCABC, 3), {300, 1000});
  ASSERT_TRUE(r.fits);
  EXPECT_EQ(r.h2d_bytes, 200u);
  EXPECT_EQ(r.d2h_bytes, 200u);
  // On 200 B, B and C fill the GPU and A cannot come in.
  const PlacementResult tight = policy->Run(Sequence(kABCABC, 3), {200, 1000});
  ASSERT_FALSE(tight.fits);
  EXPECT_EQ(tight.oom->op, 0);
  EXPECT_EQ(tight.oom->device, "gpu");
  // offload_param_frac is ignored unless shard 1 and optim 1: everything stays on the GPU.
  auto ignored = std::move(MakeStaticPolicy({1.0, 0.0, 0.3, true})).value();
  EXPECT_EQ(ignored->Run(Sequence(kABCABC, 3), {300, 1000}).h2d_bytes, 0u);
}

TEST(PlacementTest, StaticVariantKeepsGatheredChunksResident) {
  // Gather extras of 100 B per chunk; shard_param_frac 1/3 keeps 2 chunks gathered (walk while
  // kept < 2/3 of 300 = 200): 200 B pinned, and only C gathers per use.
  Workload w = Sequence(kABCABC, 3);
  w.chunk_gather_bytes = {100, 100, 100};
  auto policy = std::move(MakeStaticPolicy({1.0 / 3, 0.0, 0.0, true})).value();
  const PlacementResult r = policy->Run(w, {600, 0});
  ASSERT_TRUE(r.fits);
  EXPECT_EQ(r.gathered_bytes, 200u);
  EXPECT_EQ(r.peak_gpu_bytes, 600u);  // 300 model + 200 kept + 100 gathering C
  EXPECT_FALSE(policy->Run(w, {599, 0}).fits);
}

TEST(PlacementTest, AutoVariantReportsCannotFitWithTheShortfall) {
  // op 1 needs chunk B (100 B) beside 150 B of activations on a 200 B GPU: short by 50.
  const PlacementResult r = Auto(0.8, 0.9)->Run(Sequence({0, 1, 2}, 3, {0, 150, 0}), {200, 1000});
  ASSERT_FALSE(r.fits);
  EXPECT_EQ(r.oom->op, 1);
  EXPECT_EQ(r.oom->op_name, "op 1");
  EXPECT_EQ(r.oom->device, "gpu");
  EXPECT_EQ(r.oom->shortfall, 50u);
  // optimal agrees that nothing can run it.
  const PlacementResult opt =
      MakeOptimalPolicy()->Run(Sequence({0, 1, 2}, 3, {0, 150, 0}), {200, 1000});
  ASSERT_FALSE(opt.fits);
  EXPECT_EQ(opt.oom->shortfall, 50u);
}

TEST(PlacementTest, HostMemoryIsChecked) {
  // cpu keeps all 300 B on the host: 250 B of host memory is not enough.
  const PlacementResult r = MakeCpuPolicy()->Run(Sequence(kABCABC, 3), {200, 250});
  const PlacementResult v = MakeCpuPolicy(true)->Run(Sequence(kABCABC, 3), {200, 250});
  ASSERT_FALSE(v.fits);
  EXPECT_EQ(v.oom->device, "host");
  ASSERT_FALSE(r.fits);
  EXPECT_EQ(r.oom->device, "host");
  EXPECT_EQ(r.oom->op, -1);
  // A swap needs room for the unit in flight: with 200 B of GPU and 100 B of host for 300 B,
  // C cannot come in before A leaves, nor A leave before C does.
  const PlacementResult stuck = Auto(0.8, 0.9)->Run(Sequence(kABCABC, 3), {200, 100});
  ASSERT_FALSE(stuck.fits);
  EXPECT_EQ(stuck.oom->device, "host");
  // auto keeps what the host cannot take on the GPU.
  const PlacementResult a = Auto(0.8, 0.9)->Run(Sequence(kABCABC, 3), {200, 200});
  EXPECT_TRUE(a.fits) << a.oom->message;
  EXPECT_LE(a.peak_host_bytes, 200u);
}

TEST(PlacementTest, RunPoliciesReportsTheRatioToOptimal) {
  auto cpu = MakeCpuPolicy();
  auto cuda = MakeCudaPolicy();
  const PlacementPolicy* policies[] = {cpu.get(), cuda.get()};
  const std::vector<PlacementResult> r = RunPolicies(policies, Sequence(kABCABC, 3), {200, 1000});
  ASSERT_EQ(r.size(), 2u);
  // cpu's reported step is its second (Note [Gemini placement]): it starts with C resident
  // from the first, not accessed and so never evicted; A and B load twice each: 500 / 200.
  EXPECT_DOUBLE_EQ(r[0].ratio_to_optimal, 2.5);
  EXPECT_EQ(r[1].policy, "cuda");
  const std::vector<PlacementResult> roomy =
      RunPolicies(policies, Sequence(kABCABC, 3), {300, 1000});
  EXPECT_TRUE(std::isinf(roomy[0].ratio_to_optimal));
  EXPECT_DOUBLE_EQ(roomy[1].ratio_to_optimal, 1.0);
}

TEST(PlacementTest, FeasibilityNeedsTheLargestOpAndRoomForAllModelData) {
  const Workload w = Sequence(kABCABC, 3, {0, 150});
  EXPECT_FALSE(FeasiblePlacementExists(w, {249, 1000}));  // op 1: 100 + 150
  EXPECT_TRUE(FeasiblePlacementExists(w, {250, 1000}));
  // 300 + 2 * 100 (two units) <= host + (250 - 150).
  EXPECT_FALSE(FeasiblePlacementExists(w, {250, 399}));
  EXPECT_TRUE(FeasiblePlacementExists(w, {250, 400}));
}

// ---- Gemini as coded (Note [Gemini placement]) -------------------------------------------

// Note [CPU Adam]. ColossalAI 4f9953be zero/gemini/placement_policy.py:224-234 (auto) and
// static(1,1,1): every optimizer unit on the host; gemini_ddp.py:429-431: after its last
// backward op a chunk's fp16 shard goes to its gradient device (the host); HybridAdam updates
// the host state there, so no optimizer unit ever crosses PCIe.
TEST(GeminiPlacementTest, CpuAdamKeepsOptimizerStateOffPcie) {
  const Workload w = Training(2, {{0}, {1}}, {{1}, {0}}, /*optim=*/300);
  const PlacementResult r = MakeCpuPolicy()->Run(w, {1000, 10000});
  ASSERT_TRUE(r.fits) << r.oom->message;
  EXPECT_EQ(r.policy, "cpu");
  // gemini_ddp.py:186: cpu_offload, so both fp16 shards start on the host.
  EXPECT_EQ(r.initial_location, std::vector<Where>(4, Where::kHost));
  // fwd 0 loads 0; fwd 1 evicts 0 (static(1,1,1): keep_cuda_chunk_mem 0) and loads 1;
  // bwd 1 sends 1 home; bwd 0 loads 0 and sends it home.
  EXPECT_EQ(r.h2d_bytes, 300u);
  EXPECT_EQ(r.d2h_bytes, 300u);
  EXPECT_TRUE(MovesOf(r, OptimUnit(0)).empty());
  EXPECT_TRUE(MovesOf(r, OptimUnit(1)).empty());
  EXPECT_EQ(r.op_on_cpu, (std::vector<bool>{false, false, false, false, true, true}));
  EXPECT_EQ(r.final_location, std::vector<Where>(4, Where::kHost));
  // The GPU-Adam variant loads both units for every Adam op and writes them back.
  const PlacementResult v = MakeCpuPolicy(/*gpu_adam=*/true)->Run(w, {1000, 10000});
  ASSERT_TRUE(v.fits);
  EXPECT_EQ(v.h2d_bytes, 1200u);
  EXPECT_EQ(MovesOf(v, OptimUnit(0)).size(), 2u);
}

// ColossalAI 4f9953be zero/gemini/placement_policy.py:89: total_chunk_mem sums chunk_mem over
// parameters; :93-105: the walk offloads while below offload_optim_frac of it; :106-107: the
// keep budgets from the same total; :59-61: offload_param_frac ignored unless (1, 1, P);
// gemini_ddp.py:186: cpu_offload from the argument.
TEST(GeminiPlacementTest, StaticAsCodedSumsChunkMemPerParameter) {
  Workload w = Training(3, {{0}, {1}, {2}}, {{2}, {1}, {0}}, 300);
  w.chunk_num_tensors = {4, 4, 4};
  const StaticPlan coded = PlanStatic(w, {1, 0.1, 0});
  EXPECT_DOUBLE_EQ(coded.true_chunk_mem, 300);
  EXPECT_DOUBLE_EQ(coded.total_chunk_mem, 1200);  // 4 tensors x 100 B, per chunk
  // Target 120: chunk 0 (0 < 120), chunk 1 (100 < 120), not chunk 2 (200 >= 120).
  EXPECT_EQ(coded.optim_on_host, (std::vector<bool>{true, true, false}));
  EXPECT_EQ(coded.offloaded_optim_chunks, 2);
  EXPECT_EQ(coded.offloaded_optim_bytes, 600u);
  EXPECT_FALSE(coded.cpu_offload);
  const StaticPlan documented = PlanStatic(w, {1, 0.1, 0, false, true});
  EXPECT_DOUBLE_EQ(documented.total_chunk_mem, 300);  // target 30: chunk 0 only
  EXPECT_EQ(documented.optim_on_host, (std::vector<bool>{true, false, false}));
  // offload_param_frac 0.3 without (1, 1): ignored, but cpu_offload reads the argument.
  const StaticPlan ignored = PlanStatic(w, {1, 0.5, 0.3});
  EXPECT_TRUE(ignored.param_frac_ignored);
  EXPECT_TRUE(ignored.cpu_offload);
  EXPECT_DOUBLE_EQ(ignored.keep_cuda_chunk_mem, 1200);
  EXPECT_FALSE(PlanStatic(w, {1, 0.5, 0.3, false, true}).cpu_offload);
  // (1, 1, 0.5): keep_cuda_chunk_mem is 600 coded (more than all 300 B of chunks: no fp16
  // chunk is ever offloaded) and 150 documented.
  EXPECT_DOUBLE_EQ(PlanStatic(w, {1, 1, 0.5}).keep_cuda_chunk_mem, 600);
  EXPECT_DOUBLE_EQ(PlanStatic(w, {1, 1, 0.5, false, true}).keep_cuda_chunk_mem, 150);
}

// placement_policy.py:69-84: evict_tensors moves chunks from the front of the evictable list
// (count_id order) while their chunk_mem is above keep_cuda_chunk_mem.
TEST(GeminiPlacementTest, StaticEvictsFromTheFrontOfTheEvictableList) {
  Workload w = Training(3, {{0, 1}, {2}}, {{2}, {0, 1}}, 300);
  w.chunk_num_tensors = {4, 4, 4};
  auto coded = MakeStaticPolicy({1, 1, 0.5}).value();
  auto documented = MakeStaticPolicy({1, 1, 0.5, false, true}).value();
  EXPECT_EQ(documented->Name(), "static-documented(1,1,0.5)");
  // Coded: before fwd 2 chunks 0 and 1 are released but 200 B <= keep_cuda_chunk_mem 600:
  // nothing moves, and all 300 B of fp16 chunks are on the GPU.
  const PlacementResult c = coded->Run(w, {1000, 10000});
  ASSERT_TRUE(c.fits);
  EXPECT_EQ(c.peak_gpu_bytes, 300u);
  EXPECT_EQ(c.h2d_bytes, 300u);
  // Documented: 200 B > 150: chunk 0, the front, goes (100 B left <= 150); bwd {0, 1} loads
  // it again.
  const PlacementResult d = documented->Run(w, {1000, 10000});
  ASSERT_TRUE(d.fits);
  EXPECT_EQ(d.peak_gpu_bytes, 200u);
  EXPECT_EQ(d.h2d_bytes, 400u);
  EXPECT_EQ(d.d2h_bytes, 400u);
  const std::vector<const Transfer*> moves = MovesOf(d, Fp16Unit(0));
  ASSERT_EQ(moves.size(), 4u);
  EXPECT_EQ(moves[1]->op, 1);
  EXPECT_EQ(moves[1]->to, Where::kHost);
  EXPECT_TRUE(MovesOf(d, Fp16Unit(1)).size() == 2u);  // loaded, then home after its backward
  // On 250 B of GPU the code runs out where its docs would not.
  EXPECT_FALSE(coded->Run(w, {250, 10000}).fits);
  EXPECT_TRUE(documented->Run(w, {250, 10000}).fits);
}

// chunk.py:228-236: can_release needs every tensor HOLD or HOLD_AFTER_BWD. A chunk whose
// backward has started (gradients READY_FOR_REDUCE) and not ended cannot be evicted.
TEST(GeminiPlacementTest, AChunkPartWayThroughBackwardIsNotEvictable) {
  // bwd {0, 2} produces chunk 0's first gradients; bwd {0} its last.
  const Workload w = Training(3, {{0}, {1}, {2}}, {{0, 2}, {1}, {0}});
  const PlacementResult r = MakeCpuPolicy()->Run(w, {1000, 10000});
  ASSERT_TRUE(r.fits) << r.oom->message;
  // cpu evicts every evictable chunk before each op, but chunk 0 stays through op 4 (bwd 1).
  const std::vector<const Transfer*> moves = MovesOf(r, Fp16Unit(0));
  ASSERT_EQ(moves.size(), 4u);
  EXPECT_EQ(moves[0]->op, 0);  // fwd 0 loads it
  EXPECT_EQ(moves[1]->op, 1);  // fwd 1 evicts it
  EXPECT_EQ(moves[2]->op, 3);  // bwd {0, 2} loads it
  EXPECT_EQ(moves[3]->op, 5);  // after bwd {0}: reduced, to the host
  EXPECT_TRUE(moves[3]->after_op);
}

// placement_policy.py:215-222: sorted(next_compute_idx.items(), key=..., reverse=True) is
// stable over the count_id order of get_cuda_movable_chunks (manager.py:199), so of two chunks
// with the same next use the lower goes first.
TEST(GeminiPlacementTest, AutoEvictsTheLowerChunkOnTies) {
  // Model data may use the whole 250 B (warmup ratio 0, cap ratio 1): before fwd 2, chunks 0
  // and 1 (both next used by bwd {0, 1}) are resident and one must go.
  const Workload w = Training(3, {{0}, {1}, {2}}, {{0, 1}, {2}});
  const PlacementResult r = GeminiAuto(0.0, 1.0)->Run(w, {250, 10000});
  ASSERT_TRUE(r.fits) << r.oom->message;
  EXPECT_EQ(r.policy, "auto(0,1)");
  bool evicted_before_fwd2 = false;
  for (const Transfer& t : r.transfers) {
    if (t.op == 2 && t.to == Where::kHost) {
      EXPECT_EQ(t.unit, Fp16Unit(0));
      evicted_before_fwd2 = true;
    }
  }
  EXPECT_TRUE(evicted_before_fwd2);
  EXPECT_EQ(r.h2d_bytes, 500u);
  EXPECT_EQ(r.d2h_bytes, 500u);
}

// placement_policy.py:179-209: in warmup model data may use (1 - 0.8) of the GPU; when
// evicting every evictable chunk does not make room, Gemini raises "Adjust layout failed".
TEST(GeminiPlacementTest, AutoWarmupFailsWhereAnOpExceedsItsModelDataShare) {
  const Workload w = Training(1, {{0}}, {{0}});
  const PlacementResult r = GeminiAuto(0.8, 0.9)->Run(w, {400, 10000});  // 80 B < 100 B
  ASSERT_FALSE(r.fits);
  EXPECT_EQ(r.oom->op, 0);
  EXPECT_NE(r.oom->message.find("Adjust layout failed"), std::string::npos);
  // 100 B of model data beside the 320 B reserved for non-model data, in 400 B.
  EXPECT_EQ(r.oom->shortfall, 20u);
  EXPECT_TRUE(r.oom->policy_limit);
  EXPECT_TRUE(GeminiAuto(0.8, 0.9)->Run(w, {500, 10000}).fits);  // 100 B
}

// gemini_optimizer.py:313-343: fp32 chunks move to the GPU while the used margin plus the
// chunk's fp32 shard stays below (capacity - warmup peak) * gpu_margin_mem_ratio / 4; their
// fp16 chunks' gradient device becomes the GPU and Adam runs there.
TEST(GeminiPlacementTest, GpuMarginMovesFp32ChunksWithinTheRatio) {
  const Workload w = Training(2, {{0}, {1}}, {{1}, {0}}, 300);
  // Warmup peak 200 B (both fp16 chunks): margin 1800 B; * 0.5 / 4 = 225 B: chunk 0's 200 B
  // fp32 shard fits, chunk 1's would make 400.
  const PlacementResult m = GeminiAuto(0.8, 0.9, 0.5)->Run(w, {2000, 10000});
  ASSERT_TRUE(m.fits) << m.oom->message;
  EXPECT_EQ(m.policy, "auto(0.8,0.9,margin=0.5)");
  EXPECT_EQ(m.initial_location[OptimUnit(0)], Where::kGpu);
  EXPECT_EQ(m.initial_location[OptimUnit(1)], Where::kHost);
  EXPECT_EQ(m.op_on_cpu, (std::vector<bool>{false, false, false, false, false, true}));
  EXPECT_EQ(m.h2d_bytes, 100u);  // only chunk 1 goes round the host
  EXPECT_EQ(m.d2h_bytes, 100u);
  // gemini_plugin.py:463: the default ratio 0 keeps all fp32 state on the host.
  const PlacementResult none = GeminiAuto(0.8, 0.9)->Run(w, {2000, 10000});
  ASSERT_TRUE(none.fits);
  EXPECT_EQ(none.h2d_bytes, 200u);
  EXPECT_EQ(none.d2h_bytes, 200u);
}

// Each policy cites the code it follows (core/provenance.h); optimal and the GPU-Adam
// variants are twinsim's own.
TEST(GeminiPlacementTest, EveryPolicyHasItsProvenance) {
  std::vector<std::unique_ptr<PlacementPolicy>> gemini;
  gemini.push_back(MakeCudaPolicy());
  gemini.push_back(MakeCpuPolicy());
  gemini.push_back(MakeStaticPolicy({}).value());
  gemini.push_back(MakeStaticPolicy({1, 0.5, 0, false, true}).value());
  gemini.push_back(MakeAutoPolicy().value());
  for (const auto& p : gemini) {
    const core::Provenance v = p->provenance();
    EXPECT_FALSE(v.twinsim_own) << p->Name();
    ASSERT_FALSE(v.sources.empty()) << p->Name();
    for (const core::SourceRef& s : v.sources) {
      EXPECT_EQ(s.repository, "hpcaitech/ColossalAI");
      EXPECT_EQ(s.release, "4f9953be");
      EXPECT_GT(s.first_line, 0);
    }
    EXPECT_FALSE(v.deviations.empty()) << p->Name();
  }
  EXPECT_TRUE(MakeOptimalPolicy()->provenance().twinsim_own);
  EXPECT_TRUE(MakeCpuPolicy(true)->provenance().twinsim_own);
  EXPECT_TRUE(MakeAutoPolicy({0.8, 0.9, 0, true}).value()->provenance().twinsim_own);
}

// Found by PlacementProperty.AutoFitsWheneverAFeasiblePlacementExists: with
// warmup_non_model_ratio 0 the warmup's model-data cap (the whole GPU, 242 B) exceeded what
// "fwd embed" leaves free (226 B), so eviction stopped at 240 B and auto reported "cannot fit"
// on a feasible budget. The warmup cap is now clamped to the op's room.
TEST(PlacementTest, AutoVariantWarmupCapNeverExceedsTheOpsRoom) {
  core::LayoutConfig lc;
  lc.vocab_divisible_by = 1;
  lc.tp = 2;
  lc.dp = 2;
  WorkloadConfig wc;
  wc.seq_len = 2;
  wc.heads = 1;
  StatusOr<Workload> w = RankZeroStep("gpt2:n_layer=1,n_embd=2,n_head=1,vocab_size=4,n_positions=2",
                                      lc, {8, 2, false}, wc);
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  const MemoryBudget budget{242, 1000};
  ASSERT_TRUE(FeasiblePlacementExists(*w, budget));
  const PlacementResult r = Auto(0.0, 0.9)->Run(*w, budget);
  EXPECT_TRUE(r.fits) << r.oom->message;
}

TEST(PlacementTest, RejectsFractionsOutsideTheUnitInterval) {
  EXPECT_FALSE(MakeStaticPolicy({1.5, 0, 0}).ok());
  EXPECT_FALSE(MakeAutoPolicy({0.8, -0.1}).ok());
  // ColossalAI 4f9953be zero/gemini/gemini_optimizer.py:185: 0 <= gpu_margin_mem_ratio <= 1.
  EXPECT_FALSE(MakeAutoPolicy({0.8, 0.9, 1.5}).ok());
  EXPECT_TRUE(MakeAutoPolicy({0.8, 0.9, 1.0}).ok());
  // The margin moves HybridAdam's host state; the GPU-Adam variant has none.
  EXPECT_FALSE(MakeAutoPolicy({0.8, 0.9, 0.5, true}).ok());
  EXPECT_FALSE(MakeStaticPolicy({1, 0.5, 0, true, true}).ok());
}

// Note [Peak breakdown], by hand: cuda holds both chunks' fp16 units (100 B: 60 B of
// parameters and, with separate gradient chunks, 40 B of gradients each) and optimizer units
// (300 B each) from the start; its peak is the second backward op, whose 50 non-model bytes
// are 20 B of stored activations and 30 B of temporaries.
TEST(PeakBreakdownTest, CudaSplitsItsPeakByPartAtTheOpThatReachedIt) {
  Workload w = Training(2, {{0}, {1}}, {{1}, {0}}, 300);
  w.chunk_param_bytes = {60, 60};
  w.ops[3].non_model_bytes = 50;
  w.ops[3].stored_activation_bytes = 20;
  w.ops[2].non_model_bytes = 40;
  const PlacementResult r = MakeCudaPolicy()->Run(w, {1000, 1000});
  ASSERT_TRUE(r.fits);
  EXPECT_EQ(r.peak_gpu_bytes, 850u);
  EXPECT_EQ(r.peak_breakdown.op, 3);
  EXPECT_EQ(r.peak_breakdown.op_name, "bwd");
  EXPECT_EQ(r.peak_breakdown.params, 120u);
  EXPECT_EQ(r.peak_breakdown.grads, 80u);
  EXPECT_EQ(r.peak_breakdown.optimizer, 600u);
  EXPECT_EQ(r.peak_breakdown.activations, 20u);
  EXPECT_EQ(r.peak_breakdown.other, 30u);
  EXPECT_EQ(r.peak_breakdown.buffers, 0u);
  EXPECT_EQ(r.peak_breakdown.total(), r.peak_gpu_bytes);
  // Optimal at the same op: everything fits, so the same parts.
  const PlacementResult o = MakeOptimalPolicy()->Run(w, {1000, 1000});
  EXPECT_EQ(o.peak_breakdown.op, 3);
  EXPECT_EQ(o.peak_breakdown.total(), o.peak_gpu_bytes);
}

// Without separate gradient chunks Gemini's gradients live in the fp16 chunk (Note [Peak
// breakdown]): grads 0. An empty step's peak is the initial placement.
TEST(PeakBreakdownTest, GradientsInsideTheFp16ChunkAndEmptySteps) {
  const Workload w = Training(2, {{0}, {1}}, {{1}, {0}}, 300);
  const PlacementResult r = MakeCudaPolicy()->Run(w, {1000, 1000});
  EXPECT_EQ(r.peak_breakdown.grads, 0u);
  EXPECT_EQ(r.peak_breakdown.params, 200u);
  // No op adds non-model bytes: the peak is reached placing the units.
  EXPECT_EQ(r.peak_breakdown.op, -1);
  const PlacementResult e = MakeCudaPolicy()->Run(Workload{}, {1000, 1000});
  EXPECT_EQ(e.peak_breakdown.op, -1);
  EXPECT_EQ(e.peak_breakdown.op_name, "initial placement");
  EXPECT_EQ(e.peak_breakdown.total(), 0u);
}

}  // namespace
}  // namespace twinsim::placement
