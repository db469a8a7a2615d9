// Properties of the chunk manager (policies/placement/chunk.h) over random tensor lists, chunk
// sizes and shard counts: every tensor sits in exactly one chunk, in registration order; no
// chunk exceeds the chunk size unless it holds one tensor; packing is greedy; shards add back
// up to their chunk; the waste count matches the packing; both chunk-size searches agree with
// a brute force over their candidates; and an rc::state model of the tensor state machine. Replay
// any run with RC_PARAMS="seed=N" (the seed is printed at start).
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>
#include <rapidcheck/state.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "policies/placement/chunk.h"

namespace twinsim::placement {
namespace {

// Prints the RapidCheck seed so that every run is replayable.
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

// Tensor sizes in registration order: mostly small (so chunks hold several), sometimes large
// (so some are oversize); shrinks toward short lists of 1-element tensors.
rc::Gen<std::vector<int64_t>> GenNumels() {
  return rc::gen::container<std::vector<int64_t>>(rc::gen::weightedOneOf<int64_t>({
      {4, rc::gen::inRange<int64_t>(1, 33)},
      {1, rc::gen::inRange<int64_t>(1, 257)},
  }));
}

std::vector<TensorSpec> Tensors(const std::vector<int64_t>& numels) {
  std::vector<TensorSpec> tensors;
  for (size_t i = 0; i < numels.size(); ++i) {
    tensors.push_back({"t" + std::to_string(i), numels[i], core::DType::kFp32});
  }
  return tensors;
}

struct Case {
  std::vector<int64_t> numels;
  int64_t chunk_size;
  int dp;
};

Case GenCase() {
  Case c;
  c.numels = *GenNumels();
  c.chunk_size = *rc::gen::inRange<int64_t>(1, 65);
  c.dp = *rc::gen::inRange(1, 9);
  RC_CLASSIFY(c.dp > 1, "sharded");
  RC_CLASSIFY(std::any_of(c.numels.begin(), c.numels.end(),
                          [&](int64_t n) { return n > RoundUp(c.chunk_size, c.dp); }),
              "has oversize");
  return c;
}

ChunkManager Manage(const Case& c, bool separate_grad = false) {
  StatusOr<ChunkManager> m =
      ChunkManager::Make(Tensors(c.numels), {c.chunk_size, c.dp, separate_grad});
  RC_ASSERT(m.ok());
  return std::move(m).value();
}

// ---- packing ---------------------------------------------------------------------------------

RC_GTEST_PROP(ChunkProperty, EveryTensorIsInExactlyOneChunk, ()) {
  const Case c = GenCase();
  const ChunkManager m = Manage(c);
  std::vector<int> holders(c.numels.size(), 0);
  for (const Chunk& chunk : m.chunks()) {
    RC_ASSERT(chunk.num_tensors >= 1);
    int64_t used = 0;
    for (int t = chunk.first_tensor; t < chunk.first_tensor + chunk.num_tensors; ++t) {
      RC_ASSERT(t >= 0 && t < static_cast<int>(c.numels.size()));
      ++holders[t];
      used += c.numels[t];
    }
    RC_ASSERT(chunk.used == used);
  }
  for (int h : holders) RC_ASSERT(h == 1);
}

RC_GTEST_PROP(ChunkProperty, ChunksHoldTensorsInRegistrationOrder, ()) {
  const Case c = GenCase();
  const ChunkManager m = Manage(c);
  int next = 0;
  for (size_t ci = 0; ci < m.chunks().size(); ++ci) {
    const Chunk& chunk = m.chunks()[ci];
    RC_ASSERT(chunk.first_tensor == next);
    int64_t offset = 0;
    for (int t = chunk.first_tensor; t < chunk.first_tensor + chunk.num_tensors; ++t) {
      RC_ASSERT(m.ChunkOf(t) == static_cast<int>(ci));
      RC_ASSERT(m.OffsetOf(t) == offset);
      offset += c.numels[t];
    }
    RC_ASSERT(offset <= chunk.capacity);
    next += chunk.num_tensors;
  }
  RC_ASSERT(next == static_cast<int>(c.numels.size()));
}

RC_GTEST_PROP(ChunkProperty, NoChunkExceedsTheChunkSizeUnlessItHoldsExactlyOneTensor, ()) {
  const Case c = GenCase();
  const ChunkManager m = Manage(c);
  const int64_t size = RoundUp(c.chunk_size, c.dp);
  RC_ASSERT(m.chunk_size() == size);
  for (const Chunk& chunk : m.chunks()) {
    RC_ASSERT(chunk.used <= chunk.capacity);
    RC_ASSERT(chunk.capacity % c.dp == 0);
    if (chunk.used > size || chunk.capacity > size) {
      RC_ASSERT(chunk.num_tensors == 1);
      RC_ASSERT(chunk.oversize);
      RC_ASSERT(chunk.capacity == RoundUp(chunk.used, c.dp));
    } else {
      RC_ASSERT(!chunk.oversize);
      RC_ASSERT(chunk.capacity == size);
    }
  }
}

// A chunk is closed only when the next tensor does not fit in it (or one of them is oversize).
RC_GTEST_PROP(ChunkProperty, PackingIsGreedy, ()) {
  const Case c = GenCase();
  const ChunkManager m = Manage(c);
  const auto chunks = m.chunks();
  for (size_t i = 0; i + 1 < chunks.size(); ++i) {
    if (chunks[i].oversize || chunks[i + 1].oversize) continue;
    RC_ASSERT(chunks[i].used + c.numels[chunks[i + 1].first_tensor] > chunks[i].capacity);
  }
}

RC_GTEST_PROP(ChunkProperty, ShardedSizesSumBackToTheChunkSize, ()) {
  const Case c = GenCase();
  const bool separate_grad = *rc::gen::arbitrary<bool>();
  const ChunkManager m = Manage(c, separate_grad);
  RC_ASSERT(m.BytesPerElement() == (separate_grad ? 16u : 14u));
  uint64_t rank_bytes = 0;
  for (int ci = 0; ci < static_cast<int>(m.chunks().size()); ++ci) {
    const Chunk& chunk = m.chunks()[ci];
    int64_t covered = 0, valid = 0;
    for (int r = 0; r < c.dp; ++r) {
      const core::IndexRange range = m.ShardRange(ci, r);
      RC_ASSERT(range.begin == covered);
      covered = range.end;
      valid += m.ShardValidElements(ci, r);
    }
    RC_ASSERT(covered == chunk.capacity);
    RC_ASSERT(valid == chunk.used);
    for (ChunkKind kind : kAllChunkKinds) {
      RC_ASSERT(m.ShardBytes(ci, kind) * static_cast<uint64_t>(c.dp) == m.ChunkBytes(ci, kind));
      if (m.HasKind(kind)) {
        RC_ASSERT(m.ChunkBytes(ci, kind) ==
                  static_cast<uint64_t>(chunk.capacity) * ChunkKindElementBytes(kind));
      }
    }
    rank_bytes +=
        static_cast<uint64_t>(chunk.capacity) * m.BytesPerElement() / static_cast<uint64_t>(c.dp);
  }
  RC_ASSERT(m.RankBytes() == rank_bytes);
}

RC_GTEST_PROP(ChunkProperty, PaddingWasteCountsThePaddingOfThePacking, ()) {
  const Case c = GenCase();
  const ChunkManager m = Manage(c);
  RC_ASSERT(PaddingWaste(c.numels, c.chunk_size, c.dp) == m.TotalPadding());
}

// ---- search ----------------------------------------------------------------------------------

// search_chunk_configuration (Note [Chunk-size search]) against an independent brute force:
// the outlier split recomputed in double, the first candidate, and every candidate scored by
// PackChunks over the kept sizes alone (all at most the candidate, so its padding is
// _get_unused_byte's count); the first least wins and only it is rounded to the DP size.
RC_GTEST_PROP(ChunkSearchProperty, ColossalAIPicksTheFirstLeastUnusedSpaceOverKeptSizes, ()) {
  const std::vector<int64_t> numels = *rc::gen::nonEmpty(GenNumels());
  ChunkSearchOptions options;
  options.min_chunk_size = *rc::gen::inRange<int64_t>(0, 65);
  options.search_interval = *rc::gen::inRange<int64_t>(1, 17);
  options.search_range = *rc::gen::inRange<int64_t>(0, 129);
  options.dp_shards = *rc::gen::inRange(1, 5);
  options.filter_exlarge_params = *rc::gen::weightedElement<bool>({{4, true}, {1, false}});
  const std::vector<TensorSpec> tensors = Tensors(numels);
  const StatusOr<ChunkSearchResult> r = SearchChunkSize(tensors, options);
  RC_ASSERT(r.ok());
  int64_t total = 0;
  for (int64_t n : numels) total += n;
  RC_ASSERT(r->total_elements == total);
  if (total < options.min_chunk_size) {  // one chunk kept gathered, never sharded
    RC_CLASSIFY(true, "kept gathered");
    RC_ASSERT(r->keep_gathered);
    RC_ASSERT(r->chunk_size == total);
    RC_ASSERT(r->dp_shards == 1);
    RC_ASSERT(r->chunks.size() == 1u);
    RC_ASSERT(r->padding == 0);
    return;
  }
  RC_ASSERT(!r->keep_gathered);
  // Outliers: above mean + 3 * population std. The split uses numpy's float64 rounding
  // (NumpyOutlierLimit, pinned against numpy in chunk_test); a plain two-pass computation must
  // agree with it to within rounding.
  double mean = 0, var = 0;
  for (int64_t n : numels) mean += static_cast<double>(n);
  mean /= static_cast<double>(numels.size());
  for (int64_t n : numels) var += (static_cast<double>(n) - mean) * (static_cast<double>(n) - mean);
  const double plain = mean + 3 * std::sqrt(var / static_cast<double>(numels.size()));
  const double numpy = NumpyOutlierLimit(numels);
  RC_ASSERT(std::abs(numpy - plain) <= 1e-9 * plain);
  const double limit =
      options.filter_exlarge_params ? numpy : std::numeric_limits<double>::infinity();
  std::vector<TensorSpec> kept;
  std::vector<int> outliers;
  int64_t max_size = options.min_chunk_size;
  for (size_t i = 0; i < numels.size(); ++i) {
    if (static_cast<double>(numels[i]) > limit) {
      outliers.push_back(static_cast<int>(i));
    } else {
      kept.push_back(tensors[i]);
      max_size = std::max(max_size, numels[i]);
    }
  }
  RC_CLASSIFY(!outliers.empty(), "outliers");
  RC_ASSERT(r->outliers == outliers);
  RC_ASSERT(r->outlier_limit == limit);
  const int64_t first =
      (max_size + options.search_interval - 1) / options.search_interval * options.search_interval;
  RC_ASSERT(r->first_candidate == first);
  int64_t best = std::numeric_limits<int64_t>::max(), best_size = 0, count = 0;
  for (int64_t c = first; c <= first + options.search_range; c += options.search_interval) {
    ++count;
    const StatusOr<std::vector<Chunk>> chunks = PackChunks(kept, c, 1);
    RC_ASSERT(chunks.ok());
    int64_t waste = 0;
    for (const Chunk& chunk : *chunks) {
      RC_ASSERT(!chunk.oversize);
      waste += chunk.padding();
    }
    if (waste < best) {
      best = waste;
      best_size = c;
    }
  }
  RC_CLASSIFY(count > 1, "several candidates");
  RC_ASSERT(r->num_candidates == count);
  RC_ASSERT(r->search_waste == best);
  RC_ASSERT(r->chunk_size == RoundUp(best_size, options.dp_shards));
  RC_ASSERT(r->dp_shards == options.dp_shards);
  const StatusOr<std::vector<Chunk>> built = PackChunks(tensors, r->chunk_size, options.dp_shards);
  RC_ASSERT(r->chunks == *built);
}

// twinsim's packed variant: the least padding of the packing really built over the candidates
// min_chunk_size + k * interval, each rounded to the DP size.
RC_GTEST_PROP(ChunkSearchProperty, PackedWasteIsTheLeastOverTheCandidatesTiesToTheSmaller, ()) {
  const std::vector<int64_t> numels = *rc::gen::nonEmpty(GenNumels());
  ChunkSearchOptions options;
  options.method = ChunkSearchMethod::kPackedPadding;
  options.min_chunk_size = *rc::gen::inRange<int64_t>(1, 65);
  options.search_interval = *rc::gen::inRange<int64_t>(1, 17);
  options.search_range = *rc::gen::inRange<int64_t>(0, 129);
  options.dp_shards = *rc::gen::inRange(1, 5);
  const std::vector<TensorSpec> tensors = Tensors(numels);
  const StatusOr<ChunkSearchResult> r = SearchChunkSize(tensors, options);
  RC_ASSERT(r.ok());

  // Brute force: build every candidate's packing and add up its padding.
  int64_t best = std::numeric_limits<int64_t>::max(), best_size = 0, last = 0;
  for (int64_t c = options.min_chunk_size; c <= options.min_chunk_size + options.search_range;
       c += options.search_interval) {
    const int64_t size = RoundUp(c, options.dp_shards);
    const StatusOr<std::vector<Chunk>> chunks = PackChunks(tensors, size, options.dp_shards);
    RC_ASSERT(chunks.ok());
    int64_t waste = 0;
    for (const Chunk& chunk : *chunks) waste += chunk.padding();
    if (waste < best || (waste == best && size < best_size)) {
      best = waste;
      best_size = size;
    }
    last = size;
  }
  RC_CLASSIFY(r->num_candidates > 1, "several candidates");
  RC_ASSERT(r->padding == best);
  RC_ASSERT(r->search_waste == best);
  RC_ASSERT(r->chunk_size == best_size);
  RC_ASSERT(r->max_candidate == last);
  const StatusOr<std::vector<Chunk>> chosen = PackChunks(tensors, best_size, options.dp_shards);
  RC_ASSERT(r->chunks == *chosen);
  for (size_t i = 0, o = 0; i < numels.size(); ++i) {
    const bool outlier = numels[i] > last;
    RC_ASSERT(outlier == (o < r->outliers.size() && r->outliers[o] == static_cast<int>(i)));
    if (outlier) ++o;
  }
}

// ---- tensor state machine (rc::state) --------------------------------------------------------

using S = TensorState;

// The allowed transitions, written out as a list (Gemini's STATE_TRANS plus HOLD_AFTER_FWD);
// the implementation's switch must agree with it.
constexpr std::pair<S, S> kAllowed[] = {
    {S::kFree, S::kHold},
    {S::kFree, S::kCompute},
    {S::kHold, S::kFree},
    {S::kHold, S::kCompute},
    {S::kCompute, S::kHold},
    {S::kCompute, S::kHoldAfterFwd},
    {S::kCompute, S::kHoldAfterBwd},
    {S::kHoldAfterFwd, S::kCompute},
    {S::kHoldAfterFwd, S::kHold},
    {S::kHoldAfterBwd, S::kCompute},
    {S::kHoldAfterBwd, S::kReadyForReduce},
    {S::kReadyForReduce, S::kHold},
};

bool ModelAllows(S from, S to) {
  return std::find(std::begin(kAllowed), std::end(kAllowed), std::pair{from, to}) !=
         std::end(kAllowed);
}

struct StateModel {
  std::vector<S> state;       // per tensor
  std::vector<int> chunk_of;  // per tensor, fixed
  int num_chunks = 0;
};

struct Transition : rc::state::Command<StateModel, ChunkManager> {
  int tensor;
  S to;

  explicit Transition(const StateModel& model) {
    tensor = *rc::gen::inRange<int>(0, static_cast<int>(model.state.size()));
    // Mostly an allowed successor, so that runs reach every state; sometimes anything.
    std::vector<S> successors;
    for (const auto& [from, next] : kAllowed) {
      if (from == model.state[tensor]) successors.push_back(next);
    }
    to = *rc::gen::weightedOneOf<S>({
        {3, rc::gen::elementOf(successors)},
        {1, rc::gen::map(rc::gen::inRange(0, kNumTensorStates),
                         [](int s) { return static_cast<S>(s); })},
    });
  }

  void apply(StateModel& model) const override {
    if (ModelAllows(model.state[tensor], to)) model.state[tensor] = to;
  }

  void run(const StateModel& model, ChunkManager& sut) const override {
    const S from = model.state[tensor];
    const Status status = sut.TransitionTensor(tensor, to);
    RC_ASSERT(status.ok() == ModelAllows(from, to));
    if (!status.ok()) {
      const std::string& msg = status.message();
      RC_ASSERT(msg.find("'" + sut.tensors()[tensor].name + "'") != std::string::npos);
      RC_ASSERT(msg.find(std::string(TensorStateName(from)) + " -> " +
                         std::string(TensorStateName(to))) != std::string::npos);
    }
    StateModel next = model;
    apply(next);
    std::vector<std::vector<int>> count(next.num_chunks, std::vector<int>(kNumTensorStates));
    std::vector<int> size(next.num_chunks);
    for (size_t t = 0; t < next.state.size(); ++t) {
      RC_ASSERT(sut.StateOf(static_cast<int>(t)) == next.state[t]);
      ++count[next.chunk_of[t]][static_cast<int>(next.state[t])];
      ++size[next.chunk_of[t]];
    }
    for (int c = 0; c < next.num_chunks; ++c) {
      for (int s = 0; s < kNumTensorStates; ++s) {
        RC_ASSERT(sut.CountInState(c, static_cast<S>(s)) == count[c][s]);
      }
      const int compute = count[c][static_cast<int>(S::kCompute)];
      const int ready = count[c][static_cast<int>(S::kReadyForReduce)];
      RC_ASSERT(sut.CanMove(c) == (compute == 0));
      RC_ASSERT(sut.CanRelease(c) == (compute == 0 && ready == 0));
      RC_ASSERT(sut.CanReduce(c) == (ready == size[c]));
    }
  }

  void show(std::ostream& os) const override {
    os << "Transition(t" << tensor << " -> " << TensorStateName(to) << ")";
  }
};

RC_GTEST_PROP(ChunkStateProperty, TransitionsFollowTheStateTableAndChunkQueriesFollowStates, ()) {
  Case c = GenCase();
  if (c.numels.empty()) c.numels.push_back(1);
  ChunkManager sut = Manage(c);
  StateModel model;
  model.state.assign(c.numels.size(), S::kHold);
  for (size_t t = 0; t < c.numels.size(); ++t) model.chunk_of.push_back(sut.ChunkOf(t));
  model.num_chunks = static_cast<int>(sut.chunks().size());
  rc::state::check(model, sut, rc::state::gen::execOneOfWithArgs<Transition>());
}

}  // namespace
}  // namespace twinsim::placement
