// The placement backends against the accounting layer: the host backend, with real bytes,
// reaches the same fits/OOM verdict and keeps every unit intact (RapidCheck, random steps and
// budgets), and catches a corrupted move; the sim backend gives a step a duration that grows
// with what moves over PCIe and accounts those bytes on the PCIe links.
#include "properties/placement_run.h"

#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "core/model_presets.h"
#include "core/parallel_layout.h"
#include "core/topology_presets.h"
#include "policies/placement/chunk.h"
#include "policies/placement/placement.h"
#include "policies/placement/placement_generators.h"
#include "policies/placement/workload.h"

namespace twinsim::properties {
namespace {

using placement::MemoryBudget;
using placement::PlacementResult;
using placement::Workload;

RC_GTEST_PROP(PlacementRunProperty, HostBackendAgreesWithTheAccountingAndKeepsBytesIntact, ()) {
  const Workload w = placement::GenWorkload();
  const MemoryBudget b = placement::GenBudget(w);
  for (const auto& policy : placement::GenPolicies()) {
    const PlacementResult r = policy->Run(w, b);
    if (!r.fits) continue;  // the move log stops at the OOM; nothing to compare past it
    StatusOr<HostReplayResult> replay = ReplayPlacementWithBytes(w, r, b);
    RC_ASSERT(replay.ok());
    if (!replay->fits) RC_LOG() << r.policy << ": " << replay->oom << "\n";
    RC_ASSERT(replay->fits);
    RC_ASSERT(replay->intact);
    RC_ASSERT(replay->moves == r.transfers.size());
    RC_ASSERT(replay->bytes_moved == r.h2d_bytes + r.d2h_bytes);
    RC_ASSERT(replay->checksums == replay->moves + w.unit_bytes.size());
    RC_ASSERT(replay->peak_device_bytes <= b.gpu_bytes);
    RC_CLASSIFY(replay->moves > 0, "moves");
  }
}

struct Step {
  core::ParallelLayout layout;
  std::vector<Workload> workloads;  // per rank
  MemoryBudget budget;
};

// gpt2 with 4 layers of width 256 on `dp` ranks, optionally sharded over them.
Step MakeStep(int dp, bool shard, uint64_t gpu_bytes) {
  StatusOr<core::ModelSpec> model =
      core::MakeModel("gpt2:n_layer=4,n_embd=256,n_head=4,vocab_size=1024,n_positions=128");
  EXPECT_TRUE(model.ok());
  core::LayoutConfig lc;
  lc.dp = dp;
  StatusOr<core::ParallelLayout> layout = core::ParallelLayout::Make(lc, *model);
  EXPECT_TRUE(layout.ok());
  Step step{*layout, {}, {gpu_bytes, uint64_t{1} << 30}};
  for (int r = 0; r < dp; ++r) {
    placement::ChunkOptions co;
    co.chunk_size = 1 << 16;
    co.dp_shards = shard ? dp : 1;
    StatusOr<placement::ChunkManager> chunks =
        placement::ChunkManager::Make(placement::RankTensors(*layout, r), co);
    EXPECT_TRUE(chunks.ok());
    placement::WorkloadConfig wc;
    wc.rank = r;
    wc.seq_len = 128;
    wc.heads = 4;
    StatusOr<Workload> w = placement::BuildWorkload(*layout, *chunks, wc);
    EXPECT_TRUE(w.ok());
    step.workloads.push_back(std::move(*w));
  }
  return step;
}

TEST(PlacementRunTest, HostBackendCatchesACorruptedMove) {
  Step step = MakeStep(1, false, uint64_t{1} << 30);
  const PlacementResult r = placement::MakeCpuPolicy()->Run(step.workloads[0], step.budget);
  ASSERT_TRUE(r.fits);
  ASSERT_GT(r.transfers.size(), 3u);
  StatusOr<HostReplayResult> clean = ReplayPlacementWithBytes(step.workloads[0], r, step.budget);
  ASSERT_TRUE(clean.ok()) << clean.status().ToString();
  EXPECT_TRUE(clean->intact);
  for (int64_t move : {0, 3}) {
    StatusOr<HostReplayResult> bad =
        ReplayPlacementWithBytes(step.workloads[0], r, step.budget, move);
    ASSERT_TRUE(bad.ok()) << bad.status().ToString();
    EXPECT_FALSE(bad->intact);
    EXPECT_NE(bad->corruption.find("move " + std::to_string(move) + " "), std::string::npos)
        << bad->corruption;
  }
}

TEST(PlacementRunTest, HostBackendRefusesOptimalAndHugeModels) {
  Step step = MakeStep(1, false, uint64_t{1} << 30);
  const PlacementResult r = placement::MakeOptimalPolicy()->Run(step.workloads[0], step.budget);
  StatusOr<HostReplayResult> replay = ReplayPlacementWithBytes(step.workloads[0], r, step.budget);
  EXPECT_EQ(replay.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(replay.status().message().find("optimal is a bound"), std::string::npos);
  Workload huge = step.workloads[0];
  huge.total_model_bytes = kHostReplayMaxBytes + 1;
  const PlacementResult cuda = placement::MakeCudaPolicy()->Run(step.workloads[0], step.budget);
  EXPECT_EQ(ReplayPlacementWithBytes(huge, cuda, step.budget).status().code(),
            StatusCode::kInvalidArgument);
}

StatusOr<SimStepResult> Simulate(const Step& step, const placement::PlacementPolicy& policy,
                                 std::vector<PlacementResult>* results) {
  std::vector<const Workload*> w;
  std::vector<const PlacementResult*> r;
  results->clear();
  for (const Workload& x : step.workloads) results->push_back(policy.Run(x, step.budget));
  for (size_t i = 0; i < step.workloads.size(); ++i) {
    if (!(*results)[i].fits) return Status::FailedPrecondition((*results)[i].oom->message);
    w.push_back(&step.workloads[i]);
    r.push_back(&(*results)[i]);
  }
  SimStepOptions options;
  options.topology = core::MakeTopology("dgx-a100-80g").value();
  return SimulatePlacementStep(options, step.layout, w, r);
}

TEST(PlacementRunTest, SimStepTimeIsComputeWhenNothingMovesAndGrowsWithPcieTraffic) {
  const Step step = MakeStep(1, false, uint64_t{1} << 30);
  std::vector<PlacementResult> cuda_r, cpu_r;
  StatusOr<SimStepResult> cuda = Simulate(step, *placement::MakeCudaPolicy(), &cuda_r);
  StatusOr<SimStepResult> cpu = Simulate(step, *placement::MakeCpuPolicy(), &cpu_r);
  ASSERT_TRUE(cuda.ok()) << cuda.status().ToString();
  ASSERT_TRUE(cpu.ok()) << cpu.status().ToString();
  EXPECT_GT(cuda->compute_time_s, 0);
  // Nothing moves: the step is its compute (plus nothing else modelled at dp = 1).
  EXPECT_NEAR(cuda->step_time_s, cuda->compute_time_s, 1e-9 + 1e-6 * cuda->compute_time_s);
  const auto pcie = static_cast<size_t>(sim::LinkClass::kPcieGpu);
  EXPECT_EQ(cuda->link_bytes[pcie], 0u);
  // cpu moves every unit in and out: PCIe bytes as logged, and more time.
  EXPECT_EQ(cpu->link_bytes[pcie], cpu_r[0].h2d_bytes + cpu_r[0].d2h_bytes);
  EXPECT_GT(cpu->step_time_s, cuda->step_time_s);
  // At least the PCIe time of its bytes at the slot's bandwidth (A100: Gen4 x16).
  const core::Topology t = core::MakeTopology("dgx-a100-80g").value();
  const double bw = t.nodes[0].gpus[0].pcie.bandwidth_bytes_per_s;
  EXPECT_GE(cpu->step_time_s,
            cuda->compute_time_s + static_cast<double>(cpu_r[0].h2d_bytes) / bw * 0.99);
}

TEST(PlacementRunTest, SimDpShardingGathersOverNvlink) {
  const Step step = MakeStep(4, true, uint64_t{1} << 30);
  std::vector<PlacementResult> results;
  StatusOr<SimStepResult> sim = Simulate(step, *placement::MakeCudaPolicy(), &results);
  ASSERT_TRUE(sim.ok()) << sim.status().ToString();
  ASSERT_EQ(sim->rank_time_s.size(), 4u);
  const auto nvlink = static_cast<size_t>(sim::LinkClass::kNvlink);
  EXPECT_GT(sim->link_bytes[nvlink], 0u);
  EXPECT_GT(sim->step_time_s, sim->compute_time_s);  // the gathers and reductions take time
  // Every rank of the DP group does the same work up to Adam's m and v, which cover only the
  // valid elements of each rank's shard (workload.h Note [Placement units]; a chunk's padding
  // sits in its last shards): end times within 1%, the slowest the step's.
  for (double t : sim->rank_time_s) {
    EXPECT_NEAR(t, sim->step_time_s, 1e-2 * sim->step_time_s);
    EXPECT_LE(t, sim->step_time_s);
  }
}

TEST(PlacementRunTest, SimRejectsAStepThatDoesNotFit) {
  const Step step = MakeStep(1, false, 1024);
  const PlacementResult r = placement::MakeCudaPolicy()->Run(step.workloads[0], step.budget);
  ASSERT_FALSE(r.fits);
  SimStepOptions options;
  options.topology = core::MakeTopology("dgx-a100-80g").value();
  StatusOr<SimStepResult> sim =
      SimulatePlacementStep(options, step.layout, {&step.workloads[0]}, {&r});
  EXPECT_EQ(sim.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(sim.status().message().find("does not fit"), std::string::npos);
}

}  // namespace
}  // namespace twinsim::properties
