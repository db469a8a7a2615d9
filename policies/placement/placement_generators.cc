#include "policies/placement/placement_generators.h"

#include <rapidcheck.h>

#include <algorithm>
#include <string>
#include <utility>

#include "core/model_presets.h"
#include "core/parallel_layout.h"
#include "policies/placement/chunk.h"

namespace twinsim::placement {

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
  // Interleaved stages where the model has the layers for them.
  lc.vpp = lc.pp > 1 && n_layer >= 2 * lc.pp && *rc::gen::arbitrary<bool>() ? 2 : 1;
  StatusOr<core::ParallelLayout> layout = core::ParallelLayout::Make(lc, *model);
  RC_ASSERT(layout.ok());
  WorkloadConfig wc;
  wc.rank = *rc::gen::inRange(0, layout->world_size());
  wc.seq_len = seq;
  wc.micro_batch_size = *rc::gen::inRange<int64_t>(1, 4);
  wc.heads = n_head;
  wc.schedule = *rc::gen::element(PipelineSchedule::k1F1B, PipelineSchedule::kGPipe);
  wc.num_microbatches = *rc::gen::inRange(1, 5);
  if (lc.vpp > 1 && wc.schedule == PipelineSchedule::k1F1B) {
    wc.num_microbatches = lc.pp * *rc::gen::inRange(1, 3);  // Megatron: M % pp == 0
  }
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
  RC_CLASSIFY(lc.vpp > 1, "interleaved");
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
  return std::move(MakeAutoPolicy({warmup, steady, 0.0, /*gpu_adam=*/true})).value();
}

std::unique_ptr<PlacementPolicy> GenGeminiAuto() {
  const double warmup = *rc::gen::element(0.0, 0.5, 0.8, 0.95);
  const double steady = *rc::gen::element(0.5, 0.9, 1.0);
  const double margin = *rc::gen::element(0.0, 0.0, 0.5, 1.0);
  return std::move(MakeAutoPolicy({warmup, steady, margin})).value();
}

std::vector<std::unique_ptr<PlacementPolicy>> GenPolicies() {
  std::vector<std::unique_ptr<PlacementPolicy>> p;
  p.push_back(MakeCudaPolicy());
  p.push_back(MakeCpuPolicy(*rc::gen::arbitrary<bool>()));
  const std::vector<double> fracs = {0.0, 0.25, 0.5, 1.0};
  // Gemini's static as coded or as documented, or twinsim's GPU-Adam variant.
  const int kind = *rc::gen::inRange(0, 3);
  const StaticFractions f{*rc::gen::elementOf(fracs), *rc::gen::elementOf(fracs),
                          *rc::gen::elementOf(fracs), kind == 2, kind == 1};
  p.push_back(std::move(MakeStaticPolicy(f)).value());
  const int kind1 = *rc::gen::inRange(0, 3);
  p.push_back(
      std::move(MakeStaticPolicy({1.0, 1.0, *rc::gen::elementOf(fracs), kind1 == 2, kind1 == 1}))
          .value());
  p.push_back(GenAuto());
  p.push_back(GenGeminiAuto());
  return p;
}

}  // namespace twinsim::placement
