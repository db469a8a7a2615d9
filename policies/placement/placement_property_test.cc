// Properties of the placement policies (DESIGN.md "Properties") over random small GPT-2
// shaped models, TP x PP x DP layouts, chunk sizes, schedules and budgets:
//   no-oom        auto finishes whenever FeasiblePlacementExists;
//   monotone      more GPU or host memory never turns auto's pass into an OOM;
//   traffic       every policy that finishes moves at least optimal's H2D bytes;
//   conservation  after a step every unit is in exactly one place, the ledgers hold exactly
//                 the units placed there, and no transient is left charged.
// Replay any run with RC_PARAMS="seed=N" (the seed is printed at start).
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/model_presets.h"
#include "core/parallel_layout.h"
#include "policies/placement/chunk.h"
#include "policies/placement/placement.h"
#include "policies/placement/workload.h"

namespace twinsim::placement {
namespace {

class SeedPrinter : public ::testing::Environment {
 public:
  void SetUp() override {
    std::printf("RapidCheck seed=%llu max_success=%d (replay: RC_PARAMS=\"seed=%llu\")\n",
                static_cast<unsigned long long>(rc::detail::configuration().testParams.seed),
                rc::detail::configuration().testParams.maxSuccess,
                static_cast<unsigned long long>(rc::detail::configuration().testParams.seed));
  }
};
[[maybe_unused]] ::testing::Environment* const kSeedPrinter =
    ::testing::AddGlobalTestEnvironment(new SeedPrinter);

// ---- generators ------------------------------------------------------------------------------

// A valid small step: a GPT-2 shaped model, a layout, one of its ranks, chunks and a workload.
// Everything shrinks toward 1 layer, h = 4, one rank, one microbatch.
Workload GenWorkload() {
  const int n_layer = *rc::gen::inRange(1, 5);
  const int head_pow = *rc::gen::inRange(0, 3);  // 1, 2, 4 heads
  const int n_head = 1 << head_pow;
  const int64_t n_embd = n_head * *rc::gen::inRange<int64_t>(2, 5);
  const int64_t vocab = *rc::gen::inRange<int64_t>(4, 41);
  const int64_t seq = *rc::gen::inRange<int64_t>(1, 9);
  StatusOr<core::ModelSpec> model = core::MakeModel(
      "gpt2:n_layer=" + std::to_string(n_layer) + ",n_embd=" + std::to_string(n_embd) +
      ",n_head=" + std::to_string(n_head) + ",vocab_size=" + std::to_string(vocab) +
      ",n_positions=" + std::to_string(seq));
  RC_ASSERT(model.ok());
  core::LayoutConfig lc;
  lc.vocab_divisible_by = 1;
  lc.tp = *rc::gen::element(1, 2);
  lc.pp = *rc::gen::inRange(1, std::min(2, n_layer) + 1);
  lc.dp = *rc::gen::element(1, 2);
  StatusOr<core::ParallelLayout> layout = core::ParallelLayout::Make(lc, *model);
  RC_ASSERT(layout.ok());
  WorkloadConfig wc;
  wc.rank = *rc::gen::inRange(0, layout->world_size());
  wc.seq_len = seq;
  wc.micro_batch_size = *rc::gen::inRange<int64_t>(1, 4);
  wc.heads = n_head;
  wc.schedule = *rc::gen::element(PipelineSchedule::k1F1B, PipelineSchedule::kGPipe);
  wc.num_microbatches = *rc::gen::inRange(1, 5);
  wc.recompute = *rc::gen::arbitrary<bool>();
  ChunkOptions co;
  co.chunk_size = *rc::gen::inRange<int64_t>(8, 600);
  co.dp_shards = *rc::gen::element(1, lc.dp);
  co.separate_grad = *rc::gen::arbitrary<bool>();
  StatusOr<ChunkManager> chunks = ChunkManager::Make(RankTensors(*layout, wc.rank), co);
  RC_ASSERT(chunks.ok());
  StatusOr<Workload> w = BuildWorkload(*layout, *chunks, wc);
  RC_ASSERT(w.ok());
  RC_CLASSIFY(lc.pp > 1, "pp");
  RC_CLASSIFY(lc.tp > 1, "tp");
  RC_CLASSIFY(co.dp_shards > 1, "dp-sharded");
  RC_CLASSIFY(chunks->chunks().size() > 2, "3+ chunks");
  return std::move(w).value();
}

uint64_t MaxOpDemand(const Workload& w) {
  uint64_t d = 0;
  for (const Op& op : w.ops) {
    d = std::max(d, w.OpUnitBytes(op) + op.non_model_bytes + w.OpGatherBytes(op));
  }
  return d;
}

uint64_t MaxTransient(const Workload& w) {
  uint64_t t = 0;
  for (const Op& op : w.ops) t = std::max(t, op.non_model_bytes + w.OpGatherBytes(op));
  return t;
}

uint64_t MaxUnit(const Workload& w) {
  return *std::max_element(w.unit_bytes.begin(), w.unit_bytes.end());
}

// Budgets around the interesting thresholds: the GPU near the largest op's demand, the host
// near what the GPU cannot hold. Mostly feasible, sometimes just short.
MemoryBudget GenBudget(const Workload& w) {
  const uint64_t demand = MaxOpDemand(w);
  MemoryBudget b;
  const uint64_t gpu_extra = *rc::gen::inRange<uint64_t>(0, w.total_model_bytes + 2);
  b.gpu_bytes = *rc::gen::weightedElement<bool>({{6, true}, {1, false}})
                    ? demand + gpu_extra
                    : demand - std::min(demand, gpu_extra % 64 + 1);
  const uint64_t room = b.gpu_bytes - std::min(b.gpu_bytes, MaxTransient(w));
  const uint64_t host_need =
      w.total_model_bytes + MaxUnit(w) - std::min(w.total_model_bytes + MaxUnit(w), room);
  const uint64_t host_extra = *rc::gen::inRange<uint64_t>(0, w.total_model_bytes + 2);
  b.host_bytes = *rc::gen::weightedElement<bool>({{6, true}, {1, false}})
                     ? host_need + host_extra
                     : host_need - std::min(host_need, host_extra % 64 + 1);
  return b;
}

std::unique_ptr<PlacementPolicy> GenAuto() {
  const double warmup = *rc::gen::element(0.0, 0.5, 0.8, 0.95);
  const double steady = *rc::gen::element(0.5, 0.9, 1.0);
  return std::move(MakeAutoPolicy({warmup, steady})).value();
}

std::vector<std::unique_ptr<PlacementPolicy>> GenPolicies() {
  std::vector<std::unique_ptr<PlacementPolicy>> p;
  p.push_back(MakeCudaPolicy());
  p.push_back(MakeCpuPolicy());
  const std::vector<double> fracs = {0.0, 0.25, 0.5, 1.0};
  const StaticFractions f{*rc::gen::elementOf(fracs), *rc::gen::elementOf(fracs),
                          *rc::gen::elementOf(fracs)};
  p.push_back(std::move(MakeStaticPolicy(f)).value());
  p.push_back(std::move(MakeStaticPolicy({1.0, 1.0, *rc::gen::elementOf(fracs)})).value());
  p.push_back(GenAuto());
  return p;
}

// ---- properties ------------------------------------------------------------------------------

RC_GTEST_PROP(PlacementProperty, AutoFitsWheneverAFeasiblePlacementExists, ()) {
  const Workload w = GenWorkload();
  const MemoryBudget b = GenBudget(w);
  const bool feasible = FeasiblePlacementExists(w, b);
  RC_CLASSIFY(feasible, "feasible");
  const PlacementResult r = GenAuto()->Run(w, b);
  RC_CLASSIFY(r.h2d_bytes > 0, "moves chunks");
  if (!r.fits) {
    RC_LOG() << r.policy << ": " << r.oom->message << " (gpu " << b.gpu_bytes << ", host "
             << b.host_bytes << ", model " << w.total_model_bytes << ")\n";
  }
  if (feasible) {
    RC_ASSERT(r.fits);
  }
  if (!r.fits) {
    RC_ASSERT(r.oom->shortfall > 0);
  }
}

RC_GTEST_PROP(PlacementProperty, MoreMemoryNeverTurnsAutoIntoAnOom, ()) {
  const Workload w = GenWorkload();
  const MemoryBudget b = GenBudget(w);
  const auto policy = GenAuto();
  const PlacementResult small = policy->Run(w, b);
  RC_CLASSIFY(small.fits, "fits");
  if (!small.fits) return;
  MemoryBudget more = b;
  more.gpu_bytes += *rc::gen::inRange<uint64_t>(0, w.total_model_bytes + 2);
  more.host_bytes += *rc::gen::inRange<uint64_t>(0, w.total_model_bytes + 2);
  const PlacementResult big = policy->Run(w, more);
  if (!big.fits) {
    RC_LOG() << big.policy << ": " << big.oom->message << " (gpu " << more.gpu_bytes << ", host "
             << more.host_bytes << ", model " << w.total_model_bytes << ")\n";
  }
  RC_ASSERT(big.fits);
}

RC_GTEST_PROP(PlacementProperty, EveryPolicyMovesAtLeastOptimalBytes, ()) {
  const Workload w = GenWorkload();
  const MemoryBudget b = GenBudget(w);
  const PlacementResult optimal = MakeOptimalPolicy()->Run(w, b);
  int fitting = 0, above = 0;
  for (const auto& policy : GenPolicies()) {
    const PlacementResult r = policy->Run(w, b);
    if (!r.fits) continue;
    ++fitting;
    above += r.h2d_bytes > optimal.h2d_bytes;
    RC_ASSERT(optimal.fits);
    RC_ASSERT(r.h2d_bytes >= optimal.h2d_bytes);
  }
  RC_CLASSIFY(optimal.h2d_bytes > 0, "optimal moves");
  RC_TAG(fitting, above);
}

RC_GTEST_PROP(PlacementProperty, EveryUnitEndsInOnePlaceAndAccountingReturnsToBaseline, ()) {
  const Workload w = GenWorkload();
  const MemoryBudget b = GenBudget(w);
  for (const auto& policy : GenPolicies()) {
    const PlacementResult r = policy->Run(w, b);
    if (!r.fits) continue;
    RC_ASSERT(r.final_location.size() == w.unit_bytes.size());
    uint64_t on_gpu = 0, on_host = 0;
    for (size_t u = 0; u < w.unit_bytes.size(); ++u) {
      (r.final_location[u] == Where::kGpu ? on_gpu : on_host) += w.unit_bytes[u];
    }
    RC_ASSERT(r.final_transient_bytes == 0u);
    RC_ASSERT(r.final_gpu_bytes == on_gpu + r.gathered_bytes);
    RC_ASSERT(r.final_host_bytes == on_host);
    RC_ASSERT(on_gpu + on_host == w.total_model_bytes);
    RC_ASSERT(r.peak_gpu_bytes <= b.gpu_bytes);
    RC_ASSERT(r.peak_host_bytes <= b.host_bytes);
  }
}

// The move log is the step: replaying `transfers` from initial_location moves only units that
// are where the move starts, has every op's units on the GPU when it runs, ends at
// final_location, and its bytes are the step's PCIe bytes (optimal: bytes only).
RC_GTEST_PROP(PlacementProperty, TransfersReplayTheStep, ()) {
  const Workload w = GenWorkload();
  const MemoryBudget b = GenBudget(w);
  std::vector<std::unique_ptr<PlacementPolicy>> policies = GenPolicies();
  policies.push_back(MakeOptimalPolicy());
  for (const auto& policy : policies) {
    const PlacementResult r = policy->Run(w, b);
    uint64_t h2d = 0, d2h = 0;
    for (const Transfer& t : r.transfers) (t.to == Where::kGpu ? h2d : d2h) += t.bytes;
    RC_ASSERT(h2d == r.h2d_bytes);
    RC_ASSERT(d2h == r.d2h_bytes);
    if (r.initial_location.empty() || !r.fits) continue;  // optimal's units may be split
    std::vector<Where> where = r.initial_location;
    size_t next = 0;
    for (int op = 0; op < static_cast<int>(w.ops.size()); ++op) {
      for (; next < r.transfers.size() && r.transfers[next].op == op && !r.transfers[next].after_op;
           ++next) {
        const Transfer& t = r.transfers[next];
        RC_ASSERT(where[t.unit] != t.to);
        RC_ASSERT(t.bytes == w.unit_bytes[t.unit]);
        where[t.unit] = t.to;
      }
      for (int u : w.ops[op].units) RC_ASSERT(where[u] == Where::kGpu);
      for (; next < r.transfers.size() && r.transfers[next].op == op; ++next) {
        const Transfer& t = r.transfers[next];
        RC_ASSERT(t.after_op && t.to == Where::kHost && where[t.unit] == Where::kGpu);
        where[t.unit] = t.to;
      }
    }
    RC_ASSERT(next == r.transfers.size());
    RC_ASSERT(where == r.final_location);
  }
}

}  // namespace
}  // namespace twinsim::placement
