// Unit tests of policies/placement/chunk.h with hand-computed packings, byte counts, state
// transitions and search results. Properties over random inputs are in chunk_property_test.cc.
#include "policies/placement/chunk.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "core/model_presets.h"
#include "core/parallel_layout.h"

namespace twinsim::placement {
namespace {

std::vector<TensorSpec> Tensors(const std::vector<int64_t>& numels) {
  std::vector<TensorSpec> tensors;
  for (size_t i = 0; i < numels.size(); ++i) {
    tensors.push_back({"t" + std::to_string(i), numels[i], core::DType::kFp32});
  }
  return tensors;
}

ChunkManager MakeManager(const std::vector<int64_t>& numels, int64_t chunk_size, int dp = 1,
                         bool separate_grad = false) {
  StatusOr<ChunkManager> m = ChunkManager::Make(Tensors(numels), {chunk_size, dp, separate_grad});
  EXPECT_TRUE(m.ok()) << m.status().ToString();
  return std::move(m).value();
}

// ---- packing ---------------------------------------------------------------------------------

// sizes 3 4 2 10 1 5, chunk size 8:
//   chunk 0: t0 t1       7 of 8   (t2 does not fit in the last 1)
//   chunk 1: t2          2 of 8   (t3 is larger than 8: closes it)
//   chunk 2: t3         10 of 10  (oversize, its own chunk)
//   chunk 3: t4 t5       6 of 8
TEST(PackChunksTest, HandComputedPacking) {
  StatusOr<std::vector<Chunk>> chunks = PackChunks(Tensors({3, 4, 2, 10, 1, 5}), 8);
  ASSERT_TRUE(chunks.ok()) << chunks.status().ToString();
  const std::vector<Chunk> expected = {
      {8, 0, 2, 7, false}, {8, 2, 1, 2, false}, {10, 3, 1, 10, true}, {8, 4, 2, 6, false}};
  EXPECT_EQ(*chunks, expected);
  EXPECT_EQ(PaddingWaste(std::vector<int64_t>{3, 4, 2, 10, 1, 5}, 8), 1 + 6 + 0 + 2);
}

// The same with 4 DP shards: the oversize chunk is rounded up to 12 (2 padding); with 3
// shards the chunk size itself becomes 9, so t0..t2 fill chunk 0 exactly.
TEST(PackChunksTest, ShardingRoundsCapacitiesToTheShardCount) {
  StatusOr<std::vector<Chunk>> four = PackChunks(Tensors({3, 4, 2, 10, 1, 5}), 8, 4);
  ASSERT_TRUE(four.ok());
  EXPECT_EQ((*four)[2], (Chunk{12, 3, 1, 10, true}));
  EXPECT_EQ(PaddingWaste(std::vector<int64_t>{3, 4, 2, 10, 1, 5}, 8, 4), 1 + 6 + 2 + 2);

  StatusOr<std::vector<Chunk>> three = PackChunks(Tensors({3, 4, 2, 10, 1, 5}), 8, 3);
  ASSERT_TRUE(three.ok());
  const std::vector<Chunk> expected = {
      {9, 0, 3, 9, false}, {12, 3, 1, 10, true}, {9, 4, 2, 6, false}};
  EXPECT_EQ(*three, expected);
  EXPECT_EQ(PaddingWaste(std::vector<int64_t>{3, 4, 2, 10, 1, 5}, 8, 3), 0 + 2 + 3);
}

TEST(PackChunksTest, AnOversizeChunkNeverTakesASecondTensor) {
  // 9 rounded to 12 by 4 shards leaves 3 slack; Gemini would append t1 there, twinsim does not.
  StatusOr<std::vector<Chunk>> chunks = PackChunks(Tensors({9, 3}), 8, 4);
  ASSERT_TRUE(chunks.ok());
  const std::vector<Chunk> expected = {{12, 0, 1, 9, true}, {8, 1, 1, 3, false}};
  EXPECT_EQ(*chunks, expected);
}

TEST(PackChunksTest, EmptyListGivesNoChunks) {
  StatusOr<std::vector<Chunk>> chunks = PackChunks({}, 8);
  ASSERT_TRUE(chunks.ok());
  EXPECT_TRUE(chunks->empty());
}

TEST(PackChunksTest, RejectsBadInput) {
  EXPECT_EQ(PackChunks(Tensors({1}), 0).status().message(),
            "chunk size 0 is outside [1, 68719476736] elements");
  EXPECT_EQ(PackChunks(Tensors({1}), 4, 0).status().message(),
            "shard count 0 is outside [1, 1048576]");
  EXPECT_EQ(PackChunks(Tensors({1, 0}), 4).status().message(),
            "tensor 't1': numel 0 is outside [1, 68719476736]");
  std::vector<TensorSpec> dup = Tensors({1, 2});
  dup[1].name = "t0";
  EXPECT_EQ(PackChunks(dup, 4).status().message(), "tensor 't0': duplicate name");
  dup[1].name = "";
  EXPECT_EQ(PackChunks(dup, 4).status().message(), "tensor 1: empty name");
}

// ---- byte accounting -------------------------------------------------------------------------

// Capacities 8 + 8 + 10 + 8 = 34 elements: 34 * (2 + 4 + 4 + 4) = 476 bytes, and with a
// separate grad chunk 34 * 16 = 544.
TEST(ChunkBytesTest, FourteenBytesPerElementSixteenWithGradientAccumulation) {
  const ChunkManager m = MakeManager({3, 4, 2, 10, 1, 5}, 8);
  EXPECT_EQ(m.BytesPerElement(), 14u);
  EXPECT_EQ(m.Kinds(), (std::vector<ChunkKind>{ChunkKind::kParamFp16, ChunkKind::kMasterFp32,
                                               ChunkKind::kAdamM, ChunkKind::kAdamV}));
  EXPECT_EQ(m.ChunkBytes(0, ChunkKind::kParamFp16), 16u);
  EXPECT_EQ(m.ChunkBytes(0, ChunkKind::kGradFp16), 0u);
  EXPECT_EQ(m.ChunkBytes(0, ChunkKind::kMasterFp32), 32u);
  EXPECT_EQ(m.ChunkBytes(2, ChunkKind::kAdamM), 40u);
  EXPECT_EQ(m.ChunkBytes(2, ChunkKind::kAdamV), 40u);
  EXPECT_EQ(m.RankBytes(ChunkKind::kParamFp16), 68u);
  EXPECT_EQ(m.RankBytes(ChunkKind::kMasterFp32), 136u);
  EXPECT_EQ(m.RankBytes(), 476u);
  EXPECT_EQ(m.GatherBytes(2), 20u);
  EXPECT_EQ(m.TotalElements(), 25);
  EXPECT_EQ(m.TotalPadding(), 9);

  const ChunkManager acc = MakeManager({3, 4, 2, 10, 1, 5}, 8, 1, /*separate_grad=*/true);
  EXPECT_EQ(acc.BytesPerElement(), 16u);
  EXPECT_EQ(acc.ChunkBytes(0, ChunkKind::kGradFp16), 16u);
  EXPECT_EQ(acc.RankBytes(ChunkKind::kGradFp16), 68u);
  EXPECT_EQ(acc.RankBytes(), 544u);
}

// 4 shards: capacities 8 + 8 + 12 + 8 = 36, 9 elements per rank: 9 * 14 = 126 bytes per rank.
// Chunk 2 (t3, 10 elements in 12): shards [0,3) [3,6) [6,9) [9,12) hold 3, 3, 3, 1 real elements.
TEST(ChunkBytesTest, ShardedChunksKeepOneQuarterPerRank) {
  const ChunkManager m = MakeManager({3, 4, 2, 10, 1, 5}, 8, 4);
  EXPECT_EQ(m.RankBytes(), 126u);
  EXPECT_EQ(m.ShardBytes(2, ChunkKind::kParamFp16), 6u);
  EXPECT_EQ(m.ShardBytes(2, ChunkKind::kMasterFp32), 12u);
  EXPECT_EQ(m.GatherBytes(2), 24u);
  EXPECT_EQ(m.ShardRange(2, 3), (core::IndexRange{9, 12}));
  EXPECT_EQ(m.ShardValidElements(2, 0), 3);
  EXPECT_EQ(m.ShardValidElements(2, 3), 1);
  // Chunk 1 holds only t2 (2 elements): rank 0 keeps both, ranks 1..3 only padding.
  EXPECT_EQ(m.ShardValidElements(1, 0), 2);
  EXPECT_EQ(m.ShardValidElements(1, 1), 0);
}

TEST(ChunkManagerTest, OffsetsAndLookup) {
  const ChunkManager m = MakeManager({3, 4, 2, 10, 1, 5}, 8);
  EXPECT_EQ(m.ChunkOf(1), 0);
  EXPECT_EQ(m.OffsetOf(1), 3);
  EXPECT_EQ(m.ChunkOf(5), 3);
  EXPECT_EQ(m.OffsetOf(5), 1);
  EXPECT_EQ(m.FindTensor("t3"), 3);
  EXPECT_EQ(m.FindTensor("nope"), -1);
}

// GPT-2 small on one rank: every parameter once (the tied head shares wte), the vocabulary
// padded to 50304 rows as Megatron allocates it.
TEST(ChunkManagerTest, Gpt2SmallOnOneRankHoldsTheWholeModel) {
  StatusOr<core::ModelSpec> model = core::MakeModel("gpt2-small");
  ASSERT_TRUE(model.ok());
  StatusOr<core::ParallelLayout> layout = core::ParallelLayout::Make({}, *model);
  ASSERT_TRUE(layout.ok());
  const std::vector<TensorSpec> tensors = RankTensors(*layout, 0);
  int64_t total = 0;
  for (const TensorSpec& t : tensors) total += t.numel;
  EXPECT_EQ(total, 124439808 + (50304 - 50257) * 768);
  EXPECT_EQ(tensors.size(), ModelTensors(*model).size());
  int64_t whole = 0;
  for (const TensorSpec& t : ModelTensors(*model)) whole += t.numel;
  EXPECT_EQ(whole, 124439808);

  StatusOr<ChunkManager> m = ChunkManager::Make(tensors, {int64_t{32} << 20});
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->TotalElements(), total);
  EXPECT_EQ(m->RankBytes(), 14u * static_cast<uint64_t>(m->TotalElements() + m->TotalPadding()));
}

// With pp = 2 the last stage keeps its own copy of the tied embedding, named after lm_head.
TEST(RankTensorsTest, TiedCopyIsNamedAfterTheTiedParameter) {
  StatusOr<core::ModelSpec> model =
      core::MakeModel("gpt2:n_layer=2,n_embd=16,n_head=2,vocab_size=64");
  ASSERT_TRUE(model.ok());
  core::LayoutConfig config;
  config.pp = 2;
  StatusOr<core::ParallelLayout> layout = core::ParallelLayout::Make(config, *model);
  ASSERT_TRUE(layout.ok());
  const std::vector<TensorSpec> last = RankTensors(*layout, 1);
  ASSERT_FALSE(last.empty());
  EXPECT_EQ(last.back().name, "lm_head.weight");
  EXPECT_EQ(last.back().numel, 128 * 16);  // 64 rows padded to 128
}

// ---- states ----------------------------------------------------------------------------------

TEST(TensorStateTest, ATrainingStepWalksTheAllowedTransitions) {
  ChunkManager m = MakeManager({3, 4}, 8);
  using S = TensorState;
  EXPECT_EQ(m.StateOf(0), S::kHold);
  EXPECT_TRUE(m.CanMove(0));
  ASSERT_TRUE(m.TransitionTensor(0, S::kCompute).ok());  // forward
  EXPECT_FALSE(m.CanMove(0));
  EXPECT_FALSE(m.CanRelease(0));
  ASSERT_TRUE(m.TransitionTensor(0, S::kHoldAfterFwd).ok());
  EXPECT_TRUE(m.CanRelease(0));
  ASSERT_TRUE(m.TransitionTensor(0, S::kCompute).ok());  // backward
  ASSERT_TRUE(m.TransitionTensor(1, S::kCompute).ok());
  for (int t : {0, 1}) {
    ASSERT_TRUE(m.TransitionTensor(t, S::kHoldAfterBwd).ok());
    ASSERT_TRUE(m.TransitionTensor(t, S::kReadyForReduce).ok());
  }
  EXPECT_TRUE(m.CanReduce(0));
  EXPECT_TRUE(m.CanMove(0));
  EXPECT_FALSE(m.CanRelease(0));  // gradients await their reduce
  EXPECT_EQ(m.CountInState(0, S::kReadyForReduce), 2);
  ASSERT_TRUE(m.TransitionTensor(0, S::kHold).ok());
  EXPECT_FALSE(m.CanReduce(0));
  EXPECT_EQ(m.CountInState(0, S::kHold), 1);
}

TEST(TensorStateTest, AForbiddenTransitionNamesTensorFromAndToAndChangesNothing) {
  ChunkManager m = MakeManager({3, 4, 9}, 8);
  const Status s = m.TransitionTensor(1, TensorState::kReadyForReduce);
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(s.message(),
            "tensor 't1' (chunk 0): HOLD -> READY_FOR_REDUCE is not an allowed "
            "transition");
  EXPECT_EQ(m.StateOf(1), TensorState::kHold);
  EXPECT_EQ(m.CountInState(0, TensorState::kHold), 2);
  EXPECT_EQ(m.TransitionTensor(2, TensorState::kHold).message(),
            "tensor 't2' (chunk 1): HOLD -> HOLD is not an allowed transition");
}

TEST(TensorStateTest, TransitionTableHasTwelveEdges) {
  int allowed = 0;
  for (int from = 0; from < kNumTensorStates; ++from) {
    for (int to = 0; to < kNumTensorStates; ++to) {
      allowed += IsAllowedTransition(static_cast<TensorState>(from), static_cast<TensorState>(to));
    }
    EXPECT_FALSE(
        IsAllowedTransition(static_cast<TensorState>(from), static_cast<TensorState>(from)));
  }
  EXPECT_EQ(allowed, 12);
}

// ---- search ----------------------------------------------------------------------------------

// sizes 5 5 5 7, candidates 8, 10, 12:
//   8:  [5|3] [5|3] [5|3] [7|1]  waste 10
//   10: [5 5] [5|5] [7|3]        waste 8
//   12: [5 5|2] [5 7]            waste 2
TEST(SearchChunkSizeTest, PicksTheLeastWaste) {
  StatusOr<ChunkSearchResult> r = SearchChunkSize(
      Tensors({5, 5, 5, 7}), {.min_chunk_size = 8, .search_range = 4, .search_interval = 2});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->chunk_size, 12);
  EXPECT_EQ(r->waste, 2);
  EXPECT_EQ(r->num_candidates, 3);
  EXPECT_EQ(r->max_candidate, 12);
  EXPECT_EQ(r->total_elements, 22);
  EXPECT_TRUE(r->outliers.empty());
  EXPECT_EQ(r->chunks.size(), 2u);
  EXPECT_EQ(PaddingWaste(std::vector<int64_t>{5, 5, 5, 7}, 8), 10);
  EXPECT_EQ(PaddingWaste(std::vector<int64_t>{5, 5, 5, 7}, 10), 8);
}

TEST(SearchChunkSizeTest, TiesGoToTheSmallerSize) {
  StatusOr<ChunkSearchResult> r = SearchChunkSize(
      Tensors({4, 4}), {.min_chunk_size = 4, .search_range = 4, .search_interval = 4});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->chunk_size, 4);
  EXPECT_EQ(r->waste, 0);
}

// 100 is larger than every candidate (4, 6, 8): an outlier in a chunk of its own.
TEST(SearchChunkSizeTest, TensorsLargerThanEveryCandidateAreOutliers) {
  StatusOr<ChunkSearchResult> r = SearchChunkSize(
      Tensors({100, 3}), {.min_chunk_size = 4, .search_range = 4, .search_interval = 2});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->outliers, std::vector<int>{0});
  EXPECT_EQ(r->chunk_size, 4);
  EXPECT_EQ(r->waste, 1);
  EXPECT_TRUE(r->chunks[0].oversize);
}

TEST(SearchChunkSizeTest, CandidatesAreRoundedToTheShardCount) {
  // Candidates 5, 7 -> 6, 8 with 2 shards; sizes 3 3 2: 6 wastes 4, 8 wastes 0.
  StatusOr<ChunkSearchResult> r = SearchChunkSize(
      Tensors({3, 3, 2}),
      {.min_chunk_size = 5, .search_range = 2, .search_interval = 2, .dp_shards = 2});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->chunk_size, 8);
  EXPECT_EQ(r->waste, 0);
  EXPECT_EQ(r->max_candidate, 8);
}

TEST(SearchChunkSizeTest, RejectsBadOptions) {
  const std::vector<TensorSpec> t = Tensors({1});
  EXPECT_FALSE(SearchChunkSize(t, {.min_chunk_size = 0}).ok());
  EXPECT_FALSE(SearchChunkSize(t, {.search_interval = 0}).ok());
  EXPECT_FALSE(SearchChunkSize(t, {.search_range = -1}).ok());
  EXPECT_EQ(SearchChunkSize(t, {.min_chunk_size = 1, .search_range = 1 << 21, .search_interval = 1})
                .status()
                .message(),
            "search range 2097152 in steps of 1 gives 2097153 candidates; at most 1048576 are "
            "searched");
}

TEST(ElementsFromMebiTest, CountsUnitsOfTwoToTheTwenty) {
  EXPECT_EQ(*ElementsFromMebi(32, "x"), 33554432);
  EXPECT_EQ(*ElementsFromMebi(0.5, "x"), 524288);
  EXPECT_EQ(*ElementsFromMebi(0, "x"), 0);
  EXPECT_FALSE(ElementsFromMebi(-1, "x").ok());
  EXPECT_FALSE(ElementsFromMebi(1e9, "x").ok());
  EXPECT_FALSE(ElementsFromMebi(std::nan(""), "x").ok());
}

}  // namespace
}  // namespace twinsim::placement
