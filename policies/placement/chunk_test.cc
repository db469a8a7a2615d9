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
// Upstream facts cite hpcaitech/ColossalAI@4f9953be; "search_utils.py" is
// colossalai/zero/gemini/chunk/search_utils.py there.

ChunkSearchOptions Colossal(int64_t min_chunk_size, int64_t search_range, int64_t interval,
                            int dp = 1) {
  return {.min_chunk_size = min_chunk_size,
          .search_range = search_range,
          .search_interval = interval,
          .dp_shards = dp};
}

ChunkSearchOptions Packed(int64_t min_chunk_size, int64_t search_range, int64_t interval,
                          int dp = 1) {
  ChunkSearchOptions o = Colossal(min_chunk_size, search_range, interval, dp);
  o.method = ChunkSearchMethod::kPackedPadding;
  return o;
}

// ColossalAI's own test pins the search for a 2-layer, 128-wide GPT-2 with a 50,258-token tied
// vocabulary: search_range_m=1, search_interval=128, min_chunk_size_m=0 -> 527,872 at world
// sizes 1 and 4 (tests/test_zero/test_gemini/test_search.py:10-37). The word embedding
// (6,433,024) is the outlier; the rest (527,872 elements) fills one chunk exactly.
TEST(SearchChunkSizeTest, ColossalAIsOwnTestGpt2TwoLayers) {
  StatusOr<core::ModelSpec> model =
      core::MakeModel("gpt2:n_layer=2,n_embd=128,n_head=4,vocab_size=50258,n_positions=1024");
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  for (int dp : {1, 4}) {
    StatusOr<ChunkSearchResult> r =
        SearchChunkSize(ModelTensors(*model), Colossal(0, *ElementsFromMebi(1, "range"), 128, dp));
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->chunk_size, 527872) << dp;
    EXPECT_EQ(r->search_waste, 0) << dp;
    EXPECT_EQ(r->total_elements, 6960896) << dp;
    EXPECT_EQ(r->first_candidate, 131072) << dp;  // wpe, the largest kept size
    EXPECT_EQ(r->num_candidates, 8193) << dp;     // 2^20 / 128 + 1
    ASSERT_EQ(r->outliers.size(), 1u) << dp;
    EXPECT_EQ(ModelTensors(*model)[r->outliers[0]].name, "transformer.wte.weight") << dp;
  }
}

// Ten 3s and a 50 in the middle, min_chunk_size 0, candidates every 4 over a range of 8.
//   mean 80/11, population std 13.51: 50 > 47.81 = mean + 3 std is dropped (:30-38).
//   max_size = max(0, 3) = 3, start = ceil(3/4)*4 = 4 (:168-171); candidates 4, 8, 12 (:176).
//   _get_unused_byte over the ten 3s (:41-60): 4 -> 10 * 1 = 10; 8 -> 5 * 2 = 10;
//   12 -> [3333][3333][33|6] = 6. Winner 12, waste 6.
// The chunks really built at 12: [3333] [3|9] (closed by 50) [50] [3333] [3|9]: padding 18.
// twinsim's packed variant over the same candidates scores the real packing and keeps 4
// (padding 10).
TEST(SearchChunkSizeTest, OutliersLeaveTheSearchAndWasteCountsKeptSizesOnly) {
  const std::vector<TensorSpec> t = Tensors({3, 3, 3, 3, 3, 50, 3, 3, 3, 3, 3});
  StatusOr<ChunkSearchResult> r = SearchChunkSize(t, Colossal(0, 8, 4));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->method, ChunkSearchMethod::kColossalAI);
  EXPECT_EQ(r->outliers, std::vector<int>{5});
  EXPECT_NEAR(static_cast<double>(r->outlier_limit), 47.80738, 1e-5);
  EXPECT_EQ(r->first_candidate, 4);
  EXPECT_EQ(r->num_candidates, 3);
  EXPECT_EQ(r->max_candidate, 12);
  EXPECT_EQ(r->chunk_size, 12);
  EXPECT_EQ(r->search_waste, 6);
  EXPECT_EQ(r->padding, 18);
  ASSERT_EQ(r->chunks.size(), 5u);
  EXPECT_EQ(r->chunks[2], (Chunk{50, 5, 1, 50, true}));

  StatusOr<ChunkSearchResult> packed = SearchChunkSize(t, Packed(4, 8, 4));
  ASSERT_TRUE(packed.ok());
  EXPECT_EQ(packed->chunk_size, 4);
  EXPECT_EQ(packed->padding, 10);
  EXPECT_EQ(packed->search_waste, 10);
}

// A size equal to mean + 3 std stays: the filter keeps x <= upper_limit (search_utils.py:38).
// Nine 10s and a 1000: mean 109, std 297 exactly, limit 1000.
TEST(SearchChunkSizeTest, ASizeAtTheLimitIsKept) {
  std::vector<int64_t> sizes(9, 10);
  sizes.push_back(1000);
  StatusOr<ChunkSearchResult> r = SearchChunkSize(Tensors(sizes), Colossal(0, 0, 1000));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(static_cast<double>(r->outlier_limit), 1000.0);
  EXPECT_TRUE(r->outliers.empty());
  EXPECT_EQ(r->chunk_size, 1000);
  // filter_exlarge_params=False keeps everything too (search_utils.py:165).
  ChunkSearchOptions o = Colossal(0, 0, 1000);
  o.filter_exlarge_params = false;
  sizes.push_back(100000);
  StatusOr<ChunkSearchResult> unfiltered = SearchChunkSize(Tensors(sizes), o);
  ASSERT_TRUE(unfiltered.ok());
  EXPECT_TRUE(unfiltered->outliers.empty());
  EXPECT_EQ(unfiltered->chunk_size, 100000);
  EXPECT_TRUE(std::isinf(unfiltered->outlier_limit));
}

// The limit is numpy's float64 result, not the exact one (search_utils.py:30-34 use np.mean
// and np.std). Nine 1s and 926,756,584: exactly, mean + 3 std is 926,756,584 itself, so exact
// arithmetic keeps it; numpy 1.24 computes 926756583.9999999 (0x1.b9e9773ffffffp+29) and
// ColossalAI drops it. With min_chunk_size 0 the search then starts at 1.
TEST(SearchChunkSizeTest, ASizeNumpyRoundsAboveTheLimitIsDropped) {
  std::vector<int64_t> sizes(9, 1);
  sizes.push_back(926756584);
  EXPECT_EQ(NumpyOutlierLimit(sizes), 0x1.b9e9773ffffffp+29);
  StatusOr<ChunkSearchResult> r = SearchChunkSize(Tensors(sizes), Colossal(0, 0, 1));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->outliers, std::vector<int>{9});
  EXPECT_EQ(r->first_candidate, 1);
  EXPECT_EQ(r->chunk_size, 1);
}

// np.mean(a) + 3 * np.std(a) bit for bit, pinned from numpy 1.24.2 (Debian 12's python3-numpy)
// over a[i] = (i * 2654435761 % mod) * mul + 1: lengths below 8, within one pairwise block
// (<= 128), above it, and above numpy's 8192-element buffer (20,000 sizes up to 2^36).
// NumpyOutlierLimit also matched numpy on 3,000 random lists of 1 to 20,000 sizes (a one-off
// check, 2026-12-07).
TEST(NumpyOutlierLimitTest, MatchesNumpyBitForBit) {
  struct Case {
    int64_t n, mul, mod;
    double limit;
  };
  for (const Case& c : {
           Case{5, 1, 1000003, 0x1.4e2f9ee3ce6eep+20},
           Case{100, 768, 1000003, 0x1.fdd88362ff66bp+29},
           Case{1000, 4096, 16411, 0x1.58c91153b0138p+26},
           Case{20000, 1, (int64_t{1} << 36) - 5, 0x1.5d98cc5010434p+36},
       }) {
    std::vector<int64_t> a;
    for (int64_t i = 0; i < c.n; ++i) a.push_back(i * 2654435761 % c.mod * c.mul + 1);
    EXPECT_EQ(NumpyOutlierLimit(a), c.limit) << c.n;
  }
}

// The range starts at the largest kept size rounded up to the interval, not at min_chunk_size
// (search_utils.py:168-171): sizes 7 7 1 1, min 4, interval 2, range 4. No outlier (mean 4,
// std 3). max_size 7, start 8; candidates 8, 10, 12:
//   8: [7|1] [7 1|0] [1|7] = 8;  10: [7|3] [7 1 1|1] = 4;  12: [7|5] [7 1 1|3] = 8.
// The packed variant tries 4, 6, 8 and keeps 4: both 7s get chunks of their own, [1 1|2].
TEST(SearchChunkSizeTest, CandidatesStartAtTheLargestKeptSize) {
  const std::vector<TensorSpec> t = Tensors({7, 7, 1, 1});
  StatusOr<ChunkSearchResult> r = SearchChunkSize(t, Colossal(4, 4, 2));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->first_candidate, 8);
  EXPECT_EQ(r->chunk_size, 10);
  EXPECT_EQ(r->search_waste, 4);
  EXPECT_EQ(r->padding, 4);
  StatusOr<ChunkSearchResult> packed = SearchChunkSize(t, Packed(4, 4, 2));
  ASSERT_TRUE(packed.ok());
  EXPECT_EQ(packed->first_candidate, 4);
  EXPECT_EQ(packed->max_candidate, 8);
  EXPECT_EQ(packed->chunk_size, 4);
  EXPECT_EQ(packed->padding, 2);
  EXPECT_TRUE(packed->outliers.empty());  // 7 is not larger than the last candidate, 8
}

// Ties keep the first candidate (strict <, search_utils.py:180).
TEST(SearchChunkSizeTest, TiesGoToTheSmallerSize) {
  StatusOr<ChunkSearchResult> r = SearchChunkSize(Tensors({4, 4}), Colossal(4, 4, 4));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->chunk_size, 4);
  EXPECT_EQ(r->search_waste, 0);
}

// Only the winner is rounded to the DP degree (search_utils.py:184-185): sizes 5 5, interval 5,
// range 5, dp 2. Candidates 5 and 10 both waste 0: 5 wins and becomes 6 (padding 1 + 1). The
// packed variant rounds each candidate first (6 -> padding 2, 10 -> 0) and keeps 10.
TEST(SearchChunkSizeTest, OnlyTheWinnerIsRoundedToTheDpDegree) {
  const std::vector<TensorSpec> t = Tensors({5, 5});
  StatusOr<ChunkSearchResult> r = SearchChunkSize(t, Colossal(0, 5, 5, 2));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->chunk_size, 6);
  EXPECT_EQ(r->search_waste, 0);
  EXPECT_EQ(r->padding, 2);
  EXPECT_EQ(r->dp_shards, 2);
  StatusOr<ChunkSearchResult> packed = SearchChunkSize(t, Packed(5, 5, 5, 2));
  ASSERT_TRUE(packed.ok());
  EXPECT_EQ(packed->chunk_size, 10);
  EXPECT_EQ(packed->padding, 0);
}

// A model whose total is below min_chunk_size is one chunk of exactly its size, kept gathered
// and so never sharded (search_utils.py:159-161; chunk/chunk.py:101-104).
TEST(SearchChunkSizeTest, ASmallModelIsOneKeptGatheredChunk) {
  StatusOr<ChunkSearchResult> r = SearchChunkSize(Tensors({3, 4, 5}), Colossal(13, 8, 4, 4));
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->keep_gathered);
  EXPECT_EQ(r->chunk_size, 12);
  EXPECT_EQ(r->dp_shards, 1);
  EXPECT_EQ(r->padding, 0);
  EXPECT_EQ(r->search_waste, 0);
  ASSERT_EQ(r->chunks.size(), 1u);
  StatusOr<ChunkManager> m = ChunkManager::Make(Tensors({3, 4, 5}), r->ChunkOptionsFor(false));
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_TRUE(m->keep_gathered());
  EXPECT_EQ(m->dp_shards(), 1);
  // At exactly min_chunk_size the group is searched (group_acc_size < min_chunk_size, :160).
  StatusOr<ChunkSearchResult> at = SearchChunkSize(Tensors({3, 4, 5}), Colossal(12, 8, 4, 4));
  ASSERT_TRUE(at.ok());
  EXPECT_FALSE(at->keep_gathered);
  EXPECT_EQ(at->chunk_size, 12);
  EXPECT_EQ(at->dp_shards, 4);
  // With nothing searched no candidate is evaluated, so a tiny interval over the default range
  // (4 Mi candidates, above kMaxSearchCandidates) is no error: Python's loop would find waste
  // 0 everywhere and keep the first.
  StatusOr<ChunkSearchResult> tiny = SearchChunkSize(Tensors({3, 4, 5}), {.search_interval = 8});
  ASSERT_TRUE(tiny.ok()) << tiny.status().ToString();
  EXPECT_TRUE(tiny->keep_gathered);
  EXPECT_EQ(tiny->num_candidates, (int64_t{32} << 20) / 8 + 1);
  // A kept-gathered chunk is never sharded.
  EXPECT_FALSE(ChunkManager::Make(Tensors({3}), {3, 2, false, true}).ok());
}

// Several DP-degree groups, as search_chunk_configuration accepts them: the group below
// min_chunk_size is kept gathered; the outlier filter runs over all searched groups together;
// the winner is rounded to the lcm of every group's degree, the kept-gathered one's included
// (np.lcm.reduce over params_dict's keys, search_utils.py:148).
//   degree 2: 4 4 4 (searched), degree 3: 1 1 (total 2 < 3: kept gathered).
//   start max(3, 4) = 4 -> candidates 4, 8: 4 wastes 0 -> lcm(2, 3) = 6.
TEST(SearchChunkConfigurationTest, GroupsByDpDegree) {
  const std::vector<ChunkSearchGroup> groups = {{2, {4, 4, 4}}, {3, {1, 1}}};
  StatusOr<ChunkConfiguration> c = SearchChunkConfiguration(groups, Colossal(3, 4, 4));
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  const std::vector<ChunkGroupConfig> expected = {{2, 6, false}, {3, 2, true}};
  EXPECT_EQ(c->groups, expected);
  EXPECT_EQ(c->best_unrounded, 4);
  EXPECT_EQ(c->waste, 0);
  EXPECT_EQ(c->total_elements, 14);
}

// The filter pools the searched groups: ten 1s in one group make the other group's only size
// (100) an outlier, and max() of its now empty list fails in Python (search_utils.py:170).
TEST(SearchChunkConfigurationTest, AGroupFilteredEmptyFailsAsInPython) {
  const std::vector<ChunkSearchGroup> groups = {{1, std::vector<int64_t>(10, 1)}, {2, {100}}};
  StatusOr<ChunkConfiguration> c = SearchChunkConfiguration(groups, Colossal(0, 4, 4));
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("max() of an empty list"), std::string::npos);
}

// Defaults: search_range_m = 32, min_chunk_size_m = 32 (booster/plugin/gemini_plugin.py:
// 459-461); interval 1024 without a hidden_dim (chunk/utils.py:27-30); the filter on
// (search_utils.py:113); the ColossalAI search is the default method.
TEST(SearchChunkSizeTest, DefaultsAreColossalAIs) {
  const ChunkSearchOptions o;
  EXPECT_EQ(o.method, ChunkSearchMethod::kColossalAI);
  EXPECT_EQ(o.search_range, 32 << 20);
  EXPECT_EQ(o.min_chunk_size, 32 << 20);
  EXPECT_EQ(o.search_interval, 0);
  EXPECT_TRUE(o.filter_exlarge_params);
  StatusOr<ChunkSearchResult> r = SearchChunkSize(Tensors({1}), Colossal(0, 0, 0));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->search_interval, 1024);
  EXPECT_EQ(r->chunk_size, 1024);
  // twinsim's callers default the interval to the hidden size (train_gpt_demo.py:170 passes
  // n_embd); a model without a final norm gets 1024.
  StatusOr<core::ModelSpec> gpt2 = core::MakeModel("gpt2-xl");
  ASSERT_TRUE(gpt2.ok());
  EXPECT_EQ(WithModelDefaults({}, *gpt2).search_interval, 1600);
  EXPECT_EQ(WithModelDefaults({.search_interval = 7}, *gpt2).search_interval, 7);
}

// strict_ddp_flag is accepted and never read (search_utils.py:114, :128-129 document it;
// GeminiDDP passes strict_ddp_mode on to _init_chunks, gemini_ddp.py:183-186, which does not read
// it either, :819-875).
TEST(SearchChunkSizeTest, StrictDdpHasNoEffect) {
  const std::vector<TensorSpec> t = Tensors({3, 3, 3, 3, 3, 50, 3, 3, 3, 3, 3});
  ChunkSearchOptions strict = Colossal(0, 8, 4, 2);
  strict.strict_ddp = true;
  StatusOr<ChunkSearchResult> a = SearchChunkSize(t, strict);
  StatusOr<ChunkSearchResult> b = SearchChunkSize(t, Colossal(0, 8, 4, 2));
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->chunk_size, b->chunk_size);
  EXPECT_EQ(a->chunks, b->chunks);
}

// Pinned from a local re-implementation of search_chunk_configuration (python3 with numpy
// 1.24, not committed; re-checked 2026-12-07) over the presets' parameter lists at the
// defaults (range 32 Mi, min 32 Mi, interval = hidden size). GPT-2 small and XL: wte is the
// only outlier, start 32 Mi rounded up to a multiple of 768 / 1600. GPT-2 6B (d = 4096, MLP
// weights of exactly 64 Mi elements): the search starts at 64 Mi and keeps 64 Mi + 20,480 with
// 1.00% waste (63,172,608 of 6,251,450,368 + waste, init_chunk_manager's percentage,
// chunk/utils.py:49). Llama 3: embed_tokens and lm_head are outliers; the MLP weights (8B:
// 56 Mi, 70B: 224 Mi elements) are the largest kept sizes, so the search starts there.
TEST(SearchChunkSizeTest, PresetsAtTheDefaults) {
  struct Case {
    const char* model;
    int64_t chunk_size, search_waste, first_candidate;
    size_t outliers;
  };
  for (const Case& c : {
           Case{"gpt2-small", 43312896, 783360, 33554688, 1},
           Case{"gpt2-xl", 51236800, 8667200, 33555200, 1},
           Case{"gpt2-6b", 67129344, 63172608, 67108864, 1},
           Case{"llama3-8b", 58732544, 538177536, 58720256, 2},
           Case{"llama3-70b", 234905600, 6717431808, 234881024, 2},
       }) {
    StatusOr<core::ModelSpec> model = core::MakeModel(c.model);
    ASSERT_TRUE(model.ok()) << c.model;
    StatusOr<ChunkSearchResult> r =
        SearchChunkSize(ModelTensors(*model), WithModelDefaults({}, *model));
    ASSERT_TRUE(r.ok()) << c.model << ": " << r.status().ToString();
    EXPECT_EQ(r->chunk_size, c.chunk_size) << c.model;
    EXPECT_EQ(r->search_waste, c.search_waste) << c.model;
    EXPECT_EQ(r->first_candidate, c.first_candidate) << c.model;
    EXPECT_EQ(r->outliers.size(), c.outliers) << c.model;
  }
}

// The figure upstream.md item 1 is about: at d = 4096 twinsim's old search (kept as
// --chunk-search packed) starts at min_chunk_size and stops at 64 Mi, so the 64 Mi MLP weights
// never share a chunk and it keeps 32 Mi chunks with 29% of the memory padding; ColossalAI's
// search starts at the 64 Mi weights (1.00% waste, above).
TEST(SearchChunkSizeTest, AtWidth4096ThePackedVariantPads29Percent) {
  StatusOr<core::ModelSpec> model = core::MakeModel("gpt2-6b");
  ASSERT_TRUE(model.ok());
  ChunkSearchOptions packed = WithModelDefaults({}, *model);
  packed.method = ChunkSearchMethod::kPackedPadding;
  StatusOr<ChunkSearchResult> r = SearchChunkSize(ModelTensors(*model), packed);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->chunk_size, int64_t{32} << 20);
  const double padded =
      static_cast<double>(r->padding) / static_cast<double>(r->total_elements + r->padding);
  EXPECT_NEAR(padded, 0.29, 0.005);
}

// min_chunk_size_m = 0 is allowed (only search_range >= 0 is asserted, search_utils.py:145):
// no group is below it, so nothing is kept gathered however small, and max_size is just the
// largest kept size (:168-170). Sizes 3 2: start ceil(3 / 2) * 2 = 4, candidates 4 and 6:
// [3|1] [2|2] = 3 and [3 2|1] = 1, so 6 wins.
TEST(SearchChunkSizeTest, MinChunkSizeZeroSearchesEvenATinyModel) {
  StatusOr<ChunkSearchResult> r = SearchChunkSize(Tensors({3, 2}), Colossal(0, 2, 2, 2));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_FALSE(r->keep_gathered);
  EXPECT_EQ(r->dp_shards, 2);
  EXPECT_EQ(r->first_candidate, 4);
  EXPECT_EQ(r->chunk_size, 6);
  EXPECT_EQ(r->search_waste, 1);
  // The same with min_chunk_size 6 (the total is 5): one chunk of 5, kept gathered.
  StatusOr<ChunkSearchResult> kept = SearchChunkSize(Tensors({3, 2}), Colossal(6, 2, 2, 2));
  ASSERT_TRUE(kept.ok());
  EXPECT_TRUE(kept->keep_gathered);
  EXPECT_EQ(kept->chunk_size, 5);
}

TEST(SearchChunkSizeTest, FixedChunkSize) {
  StatusOr<ChunkSearchResult> r =
      SearchChunkSize(Tensors({3, 4, 5}), {.fixed_chunk_size = 8, .dp_shards = 2});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->fixed);
  EXPECT_EQ(r->chunk_size, 8);
  EXPECT_EQ(r->num_candidates, 0);
  EXPECT_EQ(r->padding, 1 + 3);  // [3 4|1] [5|3]
  // Gemini asserts chunk_size % dp == 0 (chunk/chunk.py:102-103).
  EXPECT_EQ(
      SearchChunkSize(Tensors({3}), {.fixed_chunk_size = 9, .dp_shards = 2}).status().message(),
      "chunk size 9 is not a multiple of the 2 DP shards (Gemini asserts it)");
}

TEST(SearchChunkSizeTest, RejectsBadOptions) {
  const std::vector<TensorSpec> t = Tensors({1});
  EXPECT_FALSE(SearchChunkSize(t, {.min_chunk_size = -1}).ok());
  EXPECT_FALSE(SearchChunkSize(t, {.search_interval = -1}).ok());
  EXPECT_FALSE(SearchChunkSize(t, {.search_range = -1}).ok());  // asserted, search_utils.py:145
  EXPECT_FALSE(SearchChunkSize(t, Packed(0, 4, 4)).ok());
  EXPECT_FALSE(SearchChunkSize({}, {}).ok());
  EXPECT_EQ(SearchChunkSize(t, {.min_chunk_size = 1, .search_range = 1 << 21, .search_interval = 1})
                .status()
                .message(),
            "search range 2097152 in steps of 1 gives 2097153 candidates; at most 1048576 are "
            "searched");
}

TEST(ChunkSearchMethodTest, NamesRoundTrip) {
  for (ChunkSearchMethod m : {ChunkSearchMethod::kColossalAI, ChunkSearchMethod::kPackedPadding}) {
    EXPECT_EQ(*ParseChunkSearchMethod(ChunkSearchMethodName(m)), m);
  }
  EXPECT_EQ(ParseChunkSearchMethod("gemini").status().message(),
            "expected colossalai or packed, got 'gemini'");
}

// The provenance names search_chunk_configuration's file, lines and commit; packed is
// twinsim's own.
TEST(ChunkSearchProvenanceTest, CitesColossalAI) {
  const core::Provenance p = ChunkSearchProvenance(ChunkSearchMethod::kColossalAI);
  ASSERT_FALSE(p.sources.empty());
  EXPECT_EQ(core::FormatSourceRef(p.sources[0]),
            "hpcaitech/ColossalAI@4f9953be colossalai/zero/gemini/chunk/search_utils.py:108-191 "
            "(search_chunk_configuration)");
  EXPECT_FALSE(p.twinsim_own);
  EXPECT_FALSE(p.deviations.empty());
  EXPECT_TRUE(ChunkSearchProvenance(ChunkSearchMethod::kPackedPadding).twinsim_own);
}

TEST(ElementsFromMebiTest, CountsUnitsOfTwoToTheTwenty) {
  EXPECT_EQ(*ElementsFromMebi(32, "x"), 33554432);
  EXPECT_EQ(*ElementsFromMebi(0.5, "x"), 524288);
  EXPECT_EQ(*ElementsFromMebi(0, "x"), 0);
  // Python 3's round() takes a half to the even neighbour (search_utils.py:143-144):
  // round(0.5) == 0, round(1.5) == 2, round(2.5) == 2, round(3.5) == 4.
  constexpr double kUnit = 1.0 / 1048576;
  EXPECT_EQ(*ElementsFromMebi(0.5 * kUnit, "x"), 0);
  EXPECT_EQ(*ElementsFromMebi(1.5 * kUnit, "x"), 2);
  EXPECT_EQ(*ElementsFromMebi(2.5 * kUnit, "x"), 2);
  EXPECT_EQ(*ElementsFromMebi(3.5 * kUnit, "x"), 4);
  EXPECT_EQ(*ElementsFromMebi(2.4999 * kUnit, "x"), 2);
  EXPECT_EQ(*ElementsFromMebi(2.5001 * kUnit, "x"), 3);
  EXPECT_FALSE(ElementsFromMebi(-1, "x").ok());
  EXPECT_FALSE(ElementsFromMebi(1e9, "x").ok());
  EXPECT_FALSE(ElementsFromMebi(std::nan(""), "x").ok());
}

}  // namespace
}  // namespace twinsim::placement
