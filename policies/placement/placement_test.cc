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

std::unique_ptr<PlacementPolicy> Auto(double warmup, double steady) {
  return std::move(MakeAutoPolicy({warmup, steady})).value();
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

TEST(PlacementTest, CpuMovesEveryUseBothWays) {
  const PlacementResult r = MakeCpuPolicy()->Run(Sequence(kABCABC, 3), {200, 1000});
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

TEST(PlacementTest, AutoWithGeminiMarginsKeepsOneChunk) {
  // steady budget 0.9 * 200 = 180 B: one chunk at a time. The warmup ends with C resident;
  // every op then loads its chunk: 6 loads.
  const PlacementResult r = Auto(0.8, 0.9)->Run(Sequence(kABCABC, 3), {200, 1000});
  ASSERT_TRUE(r.fits) << r.oom->message;
  EXPECT_EQ(r.h2d_bytes, 600u);
  EXPECT_EQ(r.d2h_bytes, 600u);
}

TEST(PlacementTest, AutoWithoutMarginEvictsFurthest) {
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

TEST(PlacementTest, StaticOffloadsAFractionOfParams) {
  // offload_param_frac 1/3 (honoured: shard 1, optim 1): chunk A lives on the host and moves
  // in and out for each of its 2 uses; B and C stay on the GPU.
  auto policy = std::move(MakeStaticPolicy({1.0, 1.0, 0.3})).value();
  EXPECT_EQ(policy->Name(), "static(1,1,0.3)");
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
  auto ignored = std::move(MakeStaticPolicy({1.0, 0.0, 0.3})).value();
  EXPECT_EQ(ignored->Run(Sequence(kABCABC, 3), {300, 1000}).h2d_bytes, 0u);
}

TEST(PlacementTest, StaticKeepsGatheredChunksResident) {
  // Gather extras of 100 B per chunk; shard_param_frac 1/3 keeps 2 chunks gathered (walk while
  // kept < 2/3 of 300 = 200): 200 B pinned, and only C gathers per use.
  Workload w = Sequence(kABCABC, 3);
  w.chunk_gather_bytes = {100, 100, 100};
  auto policy = std::move(MakeStaticPolicy({1.0 / 3, 0.0, 0.0})).value();
  const PlacementResult r = policy->Run(w, {600, 0});
  ASSERT_TRUE(r.fits);
  EXPECT_EQ(r.gathered_bytes, 200u);
  EXPECT_EQ(r.peak_gpu_bytes, 600u);  // 300 model + 200 kept + 100 gathering C
  EXPECT_FALSE(policy->Run(w, {599, 0}).fits);
}

TEST(PlacementTest, AutoReportsCannotFitWithTheShortfall) {
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
  EXPECT_DOUBLE_EQ(r[0].ratio_to_optimal, 3.0);  // 600 / 200
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

// Note [CPU Adam]: Adam where the optimizer state lives.
TEST(PlacementTest, CpuAdamKeepsOptimizerStateOffPcie) {
  WorkloadConfig wc;
  wc.seq_len = 64;
  wc.heads = 2;
  StatusOr<Workload> w = RankZeroStep(
      "gpt2:n_layer=2,n_embd=64,n_head=2,vocab_size=256,n_positions=64", {}, {4096, 1, false}, wc);
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  const MemoryBudget budget{uint64_t{1} << 30, uint64_t{1} << 30};
  // cpu: Adam loads both units of every chunk and evicts them again. With CPU Adam both stay
  // on the host: the step moves exactly the model data less, each way.
  const PlacementResult gpu_adam = MakeCpuPolicy()->Run(*w, budget);
  const PlacementResult cpu_adam = MakeCpuPolicy(true)->Run(*w, budget);
  ASSERT_TRUE(gpu_adam.fits && cpu_adam.fits);
  EXPECT_EQ(cpu_adam.policy, "cpu+cpu-adam");
  EXPECT_EQ(gpu_adam.h2d_bytes - cpu_adam.h2d_bytes, w->total_model_bytes);
  EXPECT_EQ(gpu_adam.d2h_bytes - cpu_adam.d2h_bytes, w->total_model_bytes);
  int cpu_ops = 0;
  for (bool on_cpu : cpu_adam.op_on_cpu) cpu_ops += on_cpu;
  EXPECT_EQ(cpu_ops, static_cast<int>(w->chunk_param_bytes.size()));
  // static(1,1,0): fp16 on the GPU, optimizer state on the host. GPU Adam brings the state in
  // and out; CPU Adam copies gradients out and parameters back instead.
  const PlacementResult s_gpu = MakeStaticPolicy({1, 1, 0}).value()->Run(*w, budget);
  const PlacementResult s_cpu = MakeStaticPolicy({1, 1, 0, true}).value()->Run(*w, budget);
  ASSERT_TRUE(s_gpu.fits && s_cpu.fits);
  uint64_t optim = 0, fp16 = 0, params = 0;
  for (size_t c = 0; c < w->chunk_param_bytes.size(); ++c) {
    optim += w->unit_bytes[OptimUnit(static_cast<int>(c))];
    fp16 += w->unit_bytes[Fp16Unit(static_cast<int>(c))];
    params += w->chunk_param_bytes[c];
  }
  EXPECT_EQ(s_gpu.h2d_bytes, optim);
  EXPECT_EQ(s_gpu.d2h_bytes, optim);
  EXPECT_EQ(s_cpu.h2d_bytes, params);
  EXPECT_EQ(s_cpu.d2h_bytes, fp16);
  for (const Transfer& t : s_cpu.transfers) EXPECT_TRUE(t.copy);
}

// Found by PlacementProperty.AutoFitsWheneverAFeasiblePlacementExists: with
// warmup_non_model_ratio 0 the warmup's model-data cap (the whole GPU, 242 B) exceeded what
// "fwd embed" leaves free (226 B), so eviction stopped at 240 B and auto reported "cannot fit"
// on a feasible budget. The warmup cap is now clamped to the op's room.
TEST(PlacementTest, AutoWarmupCapNeverExceedsTheOpsRoom) {
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
}

}  // namespace
}  // namespace twinsim::placement
