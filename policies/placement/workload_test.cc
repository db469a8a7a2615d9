// Hand-computed figures for workload.h: Korthikanti's activation formula, the schedules' held
// microbatches, and the op sequence of a 2-layer GPT-2 with every op's non-model bytes.
#include "policies/placement/workload.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "core/model_presets.h"
#include "core/parallel_layout.h"
#include "fmt/format.h"

namespace twinsim::placement {
namespace {

TEST(LayerActivationBytesTest, MatchesKorthikantiTable2) {
  // s=4, b=2, h=8, a=2: sbh = 64; t=1: 34*64 + 5*2*16*2 = 2176 + 320.
  EXPECT_EQ(LayerActivationBytes(4, 2, 8, 2, 1), 2496u);
  // t=2: 10*64 + (24*64 + 320) / 2 = 640 + 928.
  EXPECT_EQ(LayerActivationBytes(4, 2, 8, 2, 2), 1568u);
  // GPT-2 small, s=1024, b=1: 34*786432 + 5*12*1024^2 = 26738688 + 62914560 (85.5 MiB).
  EXPECT_EQ(LayerActivationBytes(1024, 1, 768, 12, 1), 89653248u);
}

TEST(HeldMicrobatchesTest, GPipeHoldsAllOneFOneBHoldsWarmupDepth) {
  EXPECT_EQ(HeldMicrobatches(PipelineSchedule::kGPipe, 8, 4, 0), 8);
  EXPECT_EQ(HeldMicrobatches(PipelineSchedule::kGPipe, 8, 4, 3), 8);
  EXPECT_EQ(HeldMicrobatches(PipelineSchedule::k1F1B, 8, 4, 0), 4);
  EXPECT_EQ(HeldMicrobatches(PipelineSchedule::k1F1B, 8, 4, 1), 3);
  EXPECT_EQ(HeldMicrobatches(PipelineSchedule::k1F1B, 8, 4, 3), 1);
  EXPECT_EQ(HeldMicrobatches(PipelineSchedule::k1F1B, 2, 4, 0), 2);
}

struct Built {
  core::ParallelLayout layout;
  ChunkManager chunks;
  Workload workload;
};

// gpt2 with 2 layers, h = 8, 2 heads, vocab 16 (tied head), s = 4, b = 2.
StatusOr<Built> Build(const core::LayoutConfig& lc, WorkloadConfig wc, int64_t chunk_size,
                      int dp_shards = 1, int n_layer = 2) {
  TWINSIM_ASSIGN_OR_RETURN(core::ModelSpec model,
                           core::MakeModel("gpt2:n_layer=" + std::to_string(n_layer) +
                                           ",n_embd=8,n_head=2,vocab_size=16,n_positions=4"));
  TWINSIM_ASSIGN_OR_RETURN(core::ParallelLayout layout, core::ParallelLayout::Make(lc, model));
  TWINSIM_ASSIGN_OR_RETURN(
      ChunkManager chunks,
      ChunkManager::Make(RankTensors(layout, wc.rank < layout.world_size() ? wc.rank : 0),
                         {chunk_size, dp_shards, false}));
  TWINSIM_ASSIGN_OR_RETURN(Workload w, BuildWorkload(layout, chunks, wc));
  return Built{std::move(layout), std::move(chunks), std::move(w)};
}

core::LayoutConfig Plain() {
  core::LayoutConfig lc;
  lc.vocab_divisible_by = 1;
  return lc;
}

WorkloadConfig Small() {
  WorkloadConfig wc;
  wc.micro_batch_size = 2;
  wc.seq_len = 4;
  wc.heads = 2;
  return wc;
}

std::vector<std::string> Names(const Workload& w) {
  std::vector<std::string> names;
  for (const Op& op : w.ops) names.push_back(op.name);
  return names;
}

std::vector<uint64_t> NonModel(const Workload& w) {
  std::vector<uint64_t> bytes;
  for (const Op& op : w.ops) bytes.push_back(op.non_model_bytes);
  return bytes;
}

TEST(BuildWorkloadTest, OneChunkSequenceAndActivations) {
  StatusOr<Built> b = Build(Plain(), Small(), 1 << 20);
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  const Workload& w = b->workload;
  EXPECT_EQ(Names(w), (std::vector<std::string>{"fwd embed", "fwd layer 0", "fwd layer 1",
                                                "fwd head", "bwd head", "bwd layer 1",
                                                "bwd layer 0", "bwd embed", "adam chunk 0"}));
  // A = 2496, sbh = 64, logits = 4*s*b*16 = 512 (the tied head uses wte's 16 rows).
  // fwd: 2sbh; A; 2A; 2A + 512. bwd: 2A + 1024; 2A + 4sbh; A + 4sbh; 2sbh. adam: 0.
  EXPECT_EQ(NonModel(w), (std::vector<uint64_t>{128, 2496, 4992, 5504, 6016, 5248, 2752, 128, 0}));
  EXPECT_EQ(w.held_microbatches, 1);
  EXPECT_EQ(w.stage_activation, 5504u);
  // One chunk of capacity 2^20: the fp16 unit 2 B per element; the optimizer unit the fp32
  // master's 4 B per element and Adam m and v, 4 B each, on the valid elements only
  // (ColossalAI 4f9953be zero/gemini/gemini_optimizer.py:353-385: one fake parameter per
  // tensor range; HybridAdam's state is zeros_like it).
  ASSERT_EQ(w.unit_bytes.size(), 2u);
  const uint64_t valid = static_cast<uint64_t>(b->chunks.TotalElements());
  EXPECT_EQ(w.unit_bytes[0], 2u << 20);
  EXPECT_EQ(w.unit_bytes[1], (4u << 20) + 8 * valid);
  EXPECT_EQ(w.chunk_valid_elements, std::vector<uint64_t>{valid});
  EXPECT_EQ(w.chunk_num_tensors, std::vector<int>{static_cast<int>(b->chunks.tensors().size())});
  EXPECT_EQ(w.total_model_bytes,
            b->chunks.RankBytes() - 8 * static_cast<uint64_t>(b->chunks.TotalPadding()));
  for (size_t i = 0; i + 1 < w.ops.size(); ++i) {
    EXPECT_EQ(w.ops[i].units, std::vector<int>{0}) << w.ops[i].name;
  }
  EXPECT_EQ(w.ops.back().units, (std::vector<int>{0, 1}));
}

TEST(BuildWorkloadTest, RecomputationKeepsOnlyLayerInputs) {
  WorkloadConfig wc = Small();
  wc.recompute = true;
  StatusOr<Built> b = Build(Plain(), wc, 1 << 20);
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  // Stored 2sbh = 128 per layer; rebuild A - 128 = 2368 in fwd and bwd of each layer.
  EXPECT_EQ(NonModel(b->workload),
            (std::vector<uint64_t>{128, 2496, 2624, 768, 1280, 2880, 2752, 128, 0}));
}

// Memory and FLOPs follow an op's kind and index, not its name: the name is only spelled
// from them.
TEST(BuildWorkloadTest, OpsCarryTheirKindAndIndex) {
  WorkloadConfig wc = Small();
  wc.recompute = true;
  StatusOr<Built> b = Build(Plain(), wc, 1 << 20);
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  for (const Op& op : b->workload.ops) {
    std::string want;
    switch (op.kind) {
      case OpKind::kLayer:
        want = fmt::format("{} layer {}", op.phase == OpPhase::kForward ? "fwd" : "bwd", op.index);
        break;
      case OpKind::kAdam:
        EXPECT_EQ(op.phase, OpPhase::kOptimizer);
        want = fmt::format("adam chunk {}", op.index);
        break;
      default:
        EXPECT_EQ(op.index, -1) << op.name;
        want = fmt::format("{} {}", op.phase == OpPhase::kForward ? "fwd" : "bwd",
                           OpKindName(op.kind));
    }
    EXPECT_EQ(op.name, want);
  }
  // With recomputation a layer's backward costs 3x its forward; embed and head 2x.
  const std::vector<Op>& ops = b->workload.ops;
  for (const Op& bwd : ops) {
    if (bwd.phase != OpPhase::kBackward) continue;
    for (const Op& fwd : ops) {
      if (fwd.phase != OpPhase::kForward || fwd.kind != bwd.kind || fwd.index != bwd.index) {
        continue;
      }
      EXPECT_EQ(bwd.flops, (bwd.kind == OpKind::kLayer ? 3.0 : 2.0) * fwd.flops) << bwd.name;
    }
  }
}

TEST(BuildWorkloadTest, GPipeKeepsOtherMicrobatchesResident) {
  WorkloadConfig wc = Small();
  wc.schedule = PipelineSchedule::kGPipe;
  wc.num_microbatches = 3;
  StatusOr<Built> b = Build(Plain(), wc, 1 << 20);
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_EQ(b->workload.held_microbatches, 3);
  EXPECT_EQ(b->workload.ops[0].non_model_bytes, 2 * 5504u + 128);
  EXPECT_EQ(b->workload.ops[4].non_model_bytes, 2 * 5504u + 6016);
}

TEST(BuildWorkloadTest, PipelineStagesSplitLayersAndTheTiedHead) {
  core::LayoutConfig lc = Plain();
  lc.pp = 2;
  WorkloadConfig wc = Small();
  wc.num_microbatches = 4;
  wc.rank = 0;
  StatusOr<Built> first = Build(lc, wc, 1 << 20);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(Names(first->workload),
            (std::vector<std::string>{"fwd embed", "fwd layer 0", "bwd layer 0", "bwd embed",
                                      "adam chunk 0"}));
  // 1F1B: stage 0 of 2 holds min(4, 2) = 2 microbatches; S = A.
  EXPECT_EQ(first->workload.held_microbatches, 2);
  EXPECT_EQ(first->workload.ops[0].non_model_bytes, 2496u + 128);
  wc.rank = 1;
  StatusOr<Built> last = Build(lc, wc, 1 << 20);
  ASSERT_TRUE(last.ok()) << last.status().ToString();
  EXPECT_EQ(Names(last->workload), (std::vector<std::string>{"fwd layer 1", "fwd head", "bwd head",
                                                             "bwd layer 1", "adam chunk 0"}));
  EXPECT_EQ(last->workload.held_microbatches, 1);
  // The last stage holds its own copy of wte (16 x 8) for the head: logits 512.
  EXPECT_EQ(last->workload.ops[1].non_model_bytes, 2496u + 512);
}

TEST(BuildWorkloadTest, TensorParallelDividesTheSplitPart) {
  core::LayoutConfig lc = Plain();
  lc.tp = 2;
  StatusOr<Built> b = Build(lc, Small(), 1 << 20);
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_EQ(b->workload.layer_activation, 1568u);
  // Head: 8 local vocab rows: logits 4*4*2*8 = 256.
  EXPECT_EQ(b->workload.ops[3].non_model_bytes, 2 * 1568u + 256);
}

// Korthikanti et al. 2022 Table 2, the rows with sequence parallelism and selective
// recomputation: s=4, b=2, h=8, a=2 (sbh = 64, 5as^2b = 320), t=2.
TEST(LayerActivationBytesTest, SequenceParallelAndSelectiveRowsOfTable2) {
  // sbh(34/t + 5as/(ht)) = 64 * (17 + 2.5).
  EXPECT_EQ(LayerActivationBytes(4, 2, 8, 2, 2, /*sequence_parallel=*/true, true), 1248u);
  // Selective: sbh(10 + 24/t) = 64 * 22; with sequence parallelism sbh(34/t) = 64 * 17.
  EXPECT_EQ(LayerActivationBytes(4, 2, 8, 2, 2, false, /*attention_core=*/false), 1408u);
  EXPECT_EQ(LayerActivationBytes(4, 2, 8, 2, 2, true, false), 1088u);
  // Megatron-LM @d98e8a64 theoretical_memory_usage.py:317-319 (compute_activation_memory):
  // sbh(18 + 4 ffn/h) / t with ffn = 4h is Table 2's 34/t row without the attention core.
  EXPECT_EQ(LayerActivationBytes(4, 2, 8, 2, 2, true, false), 64u * (18 + 4 * 4) / 2);
  // At t = 1 sequence parallelism changes nothing.
  EXPECT_EQ(LayerActivationBytes(4, 2, 8, 2, 1, true, true), LayerActivationBytes(4, 2, 8, 2, 1));
}

TEST(BuildWorkloadTest, SelectiveRecomputationStoresAllButTheAttentionCore) {
  core::LayoutConfig lc = Plain();
  lc.tp = 2;
  WorkloadConfig wc = Small();
  wc.selective_recompute = true;
  StatusOr<Built> b = Build(lc, wc, 1 << 20);
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  const Workload& w = b->workload;
  EXPECT_EQ(w.layer_activation, 1568u);
  EXPECT_EQ(w.ops[3].non_model_bytes, 2 * 1408u + 256);  // fwd head
  // bwd layer 1: two layers stored; 4sbh of gradients and the 160 rebuilt as its transient.
  ASSERT_EQ(w.ops[5].name, "bwd layer 1");
  EXPECT_EQ(w.ops[5].transient_bytes(), 256u + 160);
  EXPECT_EQ(w.ops[5].non_model_bytes, 2 * 1408u + 256 + 160);
  wc.sequence_parallel = true;
  StatusOr<Built> sp = Build(lc, wc, 1 << 20);
  ASSERT_TRUE(sp.ok()) << sp.status().ToString();
  EXPECT_EQ(sp->workload.ops[3].non_model_bytes, 2 * 1088u + 256);
  // Full recomputation with sequence parallelism keeps the [s/t, b, h] input: 64 bytes.
  wc.selective_recompute = false;
  wc.recompute = true;
  StatusOr<Built> full = Build(lc, wc, 1 << 20);
  ASSERT_TRUE(full.ok()) << full.status().ToString();
  EXPECT_EQ(full->workload.ops[3].non_model_bytes, 2 * 64u + 256);
  EXPECT_EQ(full->workload.ops[5].transient_bytes(), 256u + (1248 - 64));
  wc.selective_recompute = true;
  EXPECT_FALSE(Build(lc, wc, 1 << 20).ok());
}

TEST(BuildWorkloadTest, SmallChunksSpreadOpsOverSeveralChunks) {
  // Tiny chunks: each op touches its own chunks; Adam touches every chunk once.
  StatusOr<Built> b = Build(Plain(), Small(), 64);
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  const Workload& w = b->workload;
  const int num_chunks = static_cast<int>(b->chunks.chunks().size());
  int adam = 0;
  for (const Op& op : w.ops) {
    if (op.phase == OpPhase::kOptimizer) {
      ASSERT_EQ(op.chunks.size(), 1u);
      EXPECT_EQ(op.chunks[0], adam++);
    }
  }
  EXPECT_EQ(adam, num_chunks);
  // wte (128 elements) is oversize and shared by the embed and head ops.
  const int wte = b->chunks.ChunkOf(b->chunks.FindTensor("transformer.wte.weight"));
  EXPECT_NE(std::find(w.ops[0].chunks.begin(), w.ops[0].chunks.end(), wte), w.ops[0].chunks.end());
  EXPECT_NE(std::find(w.ops[3].chunks.begin(), w.ops[3].chunks.end(), wte), w.ops[3].chunks.end());
}

TEST(BuildWorkloadTest, DpShardingChargesTheGatherBuffer) {
  core::LayoutConfig lc = Plain();
  lc.dp = 2;
  StatusOr<Built> b = Build(lc, Small(), 1000, /*dp_shards=*/2);
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  const Workload& w = b->workload;
  // Capacity 1000 per chunk (or its oversize tensor's size): the rank keeps half of each kind
  // and gathers the other half of the fp16 chunk per use.
  for (int c = 0; c < static_cast<int>(b->chunks.chunks().size()); ++c) {
    const uint64_t cap = b->chunks.chunks()[c].capacity;
    EXPECT_EQ(w.unit_bytes[Fp16Unit(c)], cap);  // 2 B * cap / 2
    // Master 4 B * cap / 2; m and v on this shard's valid elements (gemini_optimizer.py:353-385).
    const uint64_t valid = static_cast<uint64_t>(b->chunks.ShardValidElements(c, 0));
    EXPECT_EQ(w.unit_bytes[OptimUnit(c)], 2 * cap + 8 * valid);
    EXPECT_EQ(w.chunk_valid_elements[c], valid);
    EXPECT_EQ(w.ChunkMem(c), 2 * cap);  // Gemini's chunk_mem: the whole fp16 chunk
    EXPECT_EQ(w.chunk_gather_bytes[c], cap);
  }
}

TEST(HeldModelChunksTest, InterleavedOneFOneBHoldsMegatronsWarmup) {
  // pp 4, vpp 2, M 8: rank 0 warms up (4-0-1)*2 + (2-1)*4 = 10 chunks, plus one in flight.
  EXPECT_EQ(HeldModelChunks(PipelineSchedule::k1F1B, 8, 4, 2, 0), 11);
  EXPECT_EQ(HeldModelChunks(PipelineSchedule::k1F1B, 8, 4, 2, 3), 5);
  EXPECT_EQ(HeldModelChunks(PipelineSchedule::k1F1B, 4, 4, 2, 0), 8);  // capped at M * vpp
  EXPECT_EQ(HeldModelChunks(PipelineSchedule::kGPipe, 8, 4, 2, 3), 16);
}

TEST(BuildWorkloadTest, InterleavedStagesRunAllTheRanksModelChunks) {
  core::LayoutConfig lc = Plain();
  lc.pp = 2;
  lc.vpp = 2;
  WorkloadConfig wc = Small();
  wc.num_microbatches = 2;
  // 4 layers over 4 model chunks: pp rank 0 holds chunks 0 and 2 (layers 0 and 2 and the
  // embedding), pp rank 1 chunks 1 and 3 (layers 1 and 3 and the head).
  StatusOr<Built> r0 = Build(lc, wc, 1 << 20, 1, 4);
  ASSERT_TRUE(r0.ok()) << r0.status().ToString();
  std::vector<std::string> names;
  for (const Op& op : r0->workload.ops) names.push_back(op.name);
  const std::vector<std::string> want0 = {"fwd embed",   "fwd layer 0", "fwd layer 2",
                                          "bwd layer 2", "bwd layer 0", "bwd embed",
                                          "adam chunk 0"};
  EXPECT_EQ(names, want0);
  // 1F1B: min(M * vpp, (pp - 0 - 1) * 2 + (vpp - 1) * pp + 1) = min(4, 5) = 4 model-chunk
  // microbatches of S / 2: the others hold 4 * S / 2 - S = S.
  const Workload& w0 = r0->workload;
  EXPECT_EQ(w0.held_microbatches, 2);
  const uint64_t s0 = w0.stage_activation;
  EXPECT_EQ(w0.ops[1].non_model_bytes, s0 + w0.layer_activation);  // others + layer 0's store
  wc.rank = 1;
  StatusOr<Built> r1 = Build(lc, wc, 1 << 20, 1, 4);
  ASSERT_TRUE(r1.ok()) << r1.status().ToString();
  // Rank 1: min(4, 0 + 2 + 1) = 3 chunks: the others hold 3 * S / 2 - S = S / 2.
  const Workload& w1 = r1->workload;
  EXPECT_EQ(w1.ops[0].name, "fwd layer 1");
  EXPECT_EQ(w1.ops[0].non_model_bytes, w1.stage_activation / 2 + w1.layer_activation);
}

TEST(BuildWorkloadTest, RejectsBadConfigs) {
  WorkloadConfig wc = Small();
  wc.heads = 0;
  EXPECT_FALSE(Build(Plain(), wc, 1 << 20).ok());
  wc = Small();
  wc.heads = 3;  // 8 % 3 != 0
  EXPECT_FALSE(Build(Plain(), wc, 1 << 20).ok());
  wc = Small();
  wc.rank = 1;
  EXPECT_FALSE(Build(Plain(), wc, 1 << 20).ok());
  core::LayoutConfig lc = Plain();
  lc.pp = 2;
  lc.vpp = 2;
  EXPECT_FALSE(Build(lc, Small(), 1 << 20, 1, 4).ok());  // interleaved 1F1B: M % pp != 0
}

}  // namespace
}  // namespace twinsim::placement
