#include "policies/placement/chunk.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <unordered_set>
#include <utility>

namespace twinsim::placement {
namespace {

Status CheckPackArgs(int64_t chunk_size, int dp_shards) {
  if (chunk_size < 1 || chunk_size > kMaxChunkElements) {
    return Status::InvalidArgument(
        fmt::format("chunk size {} is outside [1, {}] elements", chunk_size, kMaxChunkElements));
  }
  if (dp_shards < 1 || dp_shards > kMaxShards) {
    return Status::InvalidArgument(
        fmt::format("shard count {} is outside [1, {}]", dp_shards, kMaxShards));
  }
  return Status::Ok();
}

}  // namespace

std::vector<TensorSpec> RankTensors(const core::ParallelLayout& layout, int rank) {
  const core::ModelSpec& model = layout.model();
  std::vector<TensorSpec> tensors;
  for (const core::OwnedShard& owned : layout.OwnedBy(rank)) {
    const core::ParamSpec& p = model.params[owned.param];
    const std::string& name = owned.tied_from >= 0 ? model.params[owned.tied_from].name : p.name;
    tensors.push_back({name, owned.shard.PaddedNumel(p.shape), p.dtype});
  }
  return tensors;
}

std::vector<TensorSpec> ModelTensors(const core::ModelSpec& model) {
  std::vector<TensorSpec> tensors;
  for (const core::ParamSpec& p : model.params) {
    if (!p.tied_to.empty()) continue;
    tensors.push_back({p.name, p.Numel(), p.dtype});
  }
  return tensors;
}

Status ValidateTensors(std::span<const TensorSpec> tensors) {
  if (static_cast<int64_t>(tensors.size()) > kMaxTensors) {
    return Status::InvalidArgument(
        fmt::format("{} tensors exceed the limit of {}", tensors.size(), kMaxTensors));
  }
  std::unordered_set<std::string_view> names;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const TensorSpec& t = tensors[i];
    if (t.name.empty()) return Status::InvalidArgument(fmt::format("tensor {}: empty name", i));
    if (!names.insert(t.name).second) {
      return Status::InvalidArgument(fmt::format("tensor '{}': duplicate name", t.name));
    }
    if (t.numel < 1 || t.numel > kMaxChunkElements) {
      return Status::InvalidArgument(fmt::format("tensor '{}': numel {} is outside [1, {}]", t.name,
                                                 t.numel, kMaxChunkElements));
    }
    if (!core::IsValidDType(t.dtype)) {
      return Status::InvalidArgument(fmt::format("tensor '{}': invalid dtype", t.name));
    }
  }
  return Status::Ok();
}

StatusOr<std::vector<Chunk>> PackChunks(std::span<const TensorSpec> tensors, int64_t chunk_size,
                                        int dp_shards) {
  TWINSIM_RETURN_IF_ERROR(ValidateTensors(tensors));
  TWINSIM_RETURN_IF_ERROR(CheckPackArgs(chunk_size, dp_shards));
  const int64_t size = RoundUp(chunk_size, dp_shards);
  std::vector<Chunk> chunks;
  bool open = false;  // whether chunks.back() may take more tensors
  for (size_t i = 0; i < tensors.size(); ++i) {
    const int64_t n = tensors[i].numel;
    const int index = static_cast<int>(i);
    if (n > size) {  // Note [Chunk packing]: a chunk of its own, closed at once
      chunks.push_back({RoundUp(n, dp_shards), index, 1, n, true});
      open = false;
    } else if (open && chunks.back().used + n <= chunks.back().capacity) {
      ++chunks.back().num_tensors;
      chunks.back().used += n;
    } else {
      chunks.push_back({size, index, 1, n, false});
      open = true;
    }
  }
  return chunks;
}

int64_t PaddingWaste(std::span<const int64_t> numels, int64_t chunk_size, int dp_shards) {
  const int64_t size = RoundUp(chunk_size, dp_shards);
  int64_t waste = 0;
  int64_t left = 0;  // free elements of the open chunk; 0 when none is open
  for (const int64_t n : numels) {
    if (n > size) {
      waste += left + (RoundUp(n, dp_shards) - n);
      left = 0;
    } else if (n <= left) {
      left -= n;
    } else {
      waste += left;
      left = size - n;
    }
  }
  return waste + left;
}

std::string_view ChunkKindName(ChunkKind kind) {
  switch (kind) {
    case ChunkKind::kParamFp16:
      return "param-fp16";
    case ChunkKind::kGradFp16:
      return "grad-fp16";
    case ChunkKind::kMasterFp32:
      return "master-fp32";
    case ChunkKind::kAdamM:
      return "adam-m";
    case ChunkKind::kAdamV:
      return "adam-v";
  }
  return "?";
}

std::string_view TensorStateName(TensorState state) {
  switch (state) {
    case TensorState::kFree:
      return "FREE";
    case TensorState::kCompute:
      return "COMPUTE";
    case TensorState::kHold:
      return "HOLD";
    case TensorState::kHoldAfterFwd:
      return "HOLD_AFTER_FWD";
    case TensorState::kHoldAfterBwd:
      return "HOLD_AFTER_BWD";
    case TensorState::kReadyForReduce:
      return "READY_FOR_REDUCE";
  }
  return "?";
}

bool IsAllowedTransition(TensorState from, TensorState to) {
  using S = TensorState;
  switch (from) {
    case S::kFree:
      return to == S::kHold || to == S::kCompute;
    case S::kHold:
      return to == S::kFree || to == S::kCompute;
    case S::kCompute:
      return to == S::kHold || to == S::kHoldAfterFwd || to == S::kHoldAfterBwd;
    case S::kHoldAfterFwd:
      return to == S::kCompute || to == S::kHold;
    case S::kHoldAfterBwd:
      return to == S::kCompute || to == S::kReadyForReduce;
    case S::kReadyForReduce:
      return to == S::kHold;
  }
  return false;
}

// ---- ChunkManager --------------------------------------------------------------------------

StatusOr<ChunkManager> ChunkManager::Make(std::vector<TensorSpec> tensors,
                                          const ChunkOptions& options) {
  if (options.keep_gathered && options.dp_shards != 1) {
    return Status::InvalidArgument(
        fmt::format("a kept-gathered chunk is never sharded, got {} shards", options.dp_shards));
  }
  TWINSIM_ASSIGN_OR_RETURN(std::vector<Chunk> chunks,
                           PackChunks(tensors, options.chunk_size, options.dp_shards));
  ChunkManager m;
  m.options_ = options;
  m.chunk_size_ = RoundUp(options.chunk_size, options.dp_shards);
  m.tensors_ = std::move(tensors);
  m.chunks_ = std::move(chunks);
  m.chunk_of_.resize(m.tensors_.size());
  m.offset_.resize(m.tensors_.size());
  m.state_.assign(m.tensors_.size(), TensorState::kHold);
  m.state_count_.assign(m.chunks_.size(), {});
  for (size_t c = 0; c < m.chunks_.size(); ++c) {
    const Chunk& chunk = m.chunks_[c];
    int64_t offset = 0;
    for (int t = chunk.first_tensor; t < chunk.first_tensor + chunk.num_tensors; ++t) {
      m.chunk_of_[t] = static_cast<int>(c);
      m.offset_[t] = offset;
      offset += m.tensors_[t].numel;
    }
    m.state_count_[c][static_cast<int>(TensorState::kHold)] = chunk.num_tensors;
  }
  for (size_t t = 0; t < m.tensors_.size(); ++t) m.by_name_.emplace(m.tensors_[t].name, t);
  return m;
}

int ChunkManager::FindTensor(std::string_view name) const {
  const auto it = by_name_.find(std::string(name));
  return it == by_name_.end() ? -1 : it->second;
}

int64_t ChunkManager::TotalElements() const {
  int64_t total = 0;
  for (const Chunk& c : chunks_) total += c.used;
  return total;
}

int64_t ChunkManager::TotalPadding() const {
  int64_t total = 0;
  for (const Chunk& c : chunks_) total += c.padding();
  return total;
}

std::vector<ChunkKind> ChunkManager::Kinds() const {
  std::vector<ChunkKind> kinds;
  for (ChunkKind kind : kAllChunkKinds) {
    if (HasKind(kind)) kinds.push_back(kind);
  }
  return kinds;
}

uint64_t ChunkManager::BytesPerElement() const {
  uint64_t bytes = 0;
  for (ChunkKind kind : Kinds()) bytes += ChunkKindElementBytes(kind);
  return bytes;
}

uint64_t ChunkManager::ChunkBytes(int chunk, ChunkKind kind) const {
  if (!HasKind(kind)) return 0;
  return static_cast<uint64_t>(chunks_[chunk].capacity) * ChunkKindElementBytes(kind);
}

uint64_t ChunkManager::ShardBytes(int chunk, ChunkKind kind) const {
  return ChunkBytes(chunk, kind) / static_cast<uint64_t>(options_.dp_shards);
}

uint64_t ChunkManager::RankBytes(ChunkKind kind) const {
  uint64_t bytes = 0;
  for (size_t c = 0; c < chunks_.size(); ++c) bytes += ShardBytes(static_cast<int>(c), kind);
  return bytes;
}

uint64_t ChunkManager::RankBytes() const {
  uint64_t bytes = 0;
  for (ChunkKind kind : Kinds()) bytes += RankBytes(kind);
  return bytes;
}

core::IndexRange ChunkManager::ShardRange(int chunk, int shard) const {
  const int64_t size = chunks_[chunk].capacity / options_.dp_shards;
  return {shard * size, (shard + 1) * size};
}

int64_t ChunkManager::ShardValidElements(int chunk, int shard) const {
  const core::IndexRange range = ShardRange(chunk, shard);
  return std::clamp<int64_t>(chunks_[chunk].used - range.begin, 0, range.size());
}

Status ChunkManager::TransitionTensor(int tensor, TensorState to) {
  const TensorState from = state_[tensor];
  if (!IsAllowedTransition(from, to)) {
    return Status::FailedPrecondition(fmt::format(
        "tensor '{}' (chunk {}): {} -> {} is not an allowed transition", tensors_[tensor].name,
        chunk_of_[tensor], TensorStateName(from), TensorStateName(to)));
  }
  std::array<int, kNumTensorStates>& count = state_count_[chunk_of_[tensor]];
  --count[static_cast<int>(from)];
  ++count[static_cast<int>(to)];
  state_[tensor] = to;
  return Status::Ok();
}

int ChunkManager::CountInState(int chunk, TensorState state) const {
  return state_count_[chunk][static_cast<int>(state)];
}

bool ChunkManager::CanMove(int chunk) const {
  return CountInState(chunk, TensorState::kCompute) == 0;
}

bool ChunkManager::CanRelease(int chunk) const {
  return CanMove(chunk) && CountInState(chunk, TensorState::kReadyForReduce) == 0;
}

bool ChunkManager::CanReduce(int chunk) const {
  return CountInState(chunk, TensorState::kReadyForReduce) == chunks_[chunk].num_tensors;
}

// ---- Search --------------------------------------------------------------------------------

StatusOr<int64_t> ElementsFromMebi(double m, std::string_view what) {
  constexpr double kMebi = 1024.0 * 1024.0;
  const double max_m = static_cast<double>(kMaxChunkElements) / kMebi;
  if (!std::isfinite(m) || m < 0 || m > max_m) {
    return Status::InvalidArgument(
        fmt::format("{}: expected a number of 2^20 elements in [0, {}], got {}", what, max_m, m));
  }
  // round() in Python 3 rounds a half to the even neighbour; m * 2^20 is exact (a power of two
  // times a double in range), so only the halfway case differs from std::llround.
  const double v = m * kMebi;
  const double floor = std::floor(v);
  const double frac = v - floor;  // exact: dropping the integer part of a double
  int64_t n = static_cast<int64_t>(floor);
  if (frac > 0.5 || (frac == 0.5 && n % 2 != 0)) ++n;
  return n;
}

std::string_view ChunkSearchMethodName(ChunkSearchMethod method) {
  switch (method) {
    case ChunkSearchMethod::kColossalAI:
      return "colossalai";
    case ChunkSearchMethod::kPackedPadding:
      return "packed";
  }
  return "?";
}

StatusOr<ChunkSearchMethod> ParseChunkSearchMethod(std::string_view name) {
  for (ChunkSearchMethod m : {ChunkSearchMethod::kColossalAI, ChunkSearchMethod::kPackedPadding}) {
    if (name == ChunkSearchMethodName(m)) return m;
  }
  return Status::InvalidArgument(fmt::format("expected colossalai or packed, got '{}'", name));
}

int64_t DefaultSearchInterval(const core::ModelSpec& model) {
  for (const core::ParamSpec& p : model.params) {
    if (p.role == core::ParamRole::kFinalNorm && p.shape.size() == 1) return p.shape[0];
  }
  return kDefaultSearchInterval;
}

ChunkSearchOptions WithModelDefaults(ChunkSearchOptions options, const core::ModelSpec& model) {
  if (options.search_interval == 0) options.search_interval = DefaultSearchInterval(model);
  return options;
}

namespace {

// _get_unused_byte (search_utils.py:41-60): chunks of `chunk_size` filled in order, a new one
// opened when a size does not fit in what is left; what is left over. REQUIRES every size
// <= chunk_size (true for kept sizes: the first candidate is at least the largest).
int64_t UnusedElements(std::span<const int64_t> sizes, int64_t chunk_size) {
  int64_t acc = 0, left = 0;
  for (const int64_t s : sizes) {
    if (s > left) {
      acc += left;
      left = chunk_size;
    }
    left -= s;
  }
  return left + acc;
}

int64_t Lcm(int64_t a, int64_t b) { return a / std::gcd(a, b) * b; }

// numpy's pairwise summation of float64 (pairwise_sum in numpy/core/src/umath/
// loops_utils.h.src, numpy 1.24): below 8 terms a plain loop; up to 128, eight running sums
// combined as ((r0+r1)+(r2+r3))+((r4+r5)+(r6+r7)), then the rest one by one; above, the two
// halves (the first a multiple of 8 long) summed apart.
double NumpyPairwiseSum(const double* a, int64_t n) {
  if (n < 8) {
    double sum = 0.;
    for (int64_t i = 0; i < n; ++i) sum += a[i];
    return sum;
  }
  if (n <= 128) {
    double r[8];
    for (int k = 0; k < 8; ++k) r[k] = a[k];
    int64_t i = 8;
    for (; i < n - (n % 8); i += 8) {
      for (int k = 0; k < 8; ++k) r[k] += a[i + k];
    }
    double sum = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
    for (; i < n; ++i) sum += a[i];
    return sum;
  }
  int64_t half = n / 2;
  half -= half % 8;
  return NumpyPairwiseSum(a, half) + NumpyPairwiseSum(a + half, n - half);
}

}  // namespace

double NumpyOutlierLimit(std::span<const int64_t> sizes) {
  const int64_t n = static_cast<int64_t>(sizes.size());
  std::vector<double> x(sizes.begin(), sizes.end());  // int64 -> float64, exact below 2^53
  // np.add.reduce hands its inner loop at most 8192 elements (numpy's buffer size) at a time;
  // each block is summed pairwise into the running total.
  const auto reduce = [n](const std::vector<double>& values) {
    constexpr int64_t kNumpyBufferSize = 8192;
    double sum = 0.;
    for (int64_t begin = 0; begin < n; begin += kNumpyBufferSize) {
      sum += NumpyPairwiseSum(values.data() + begin, std::min(kNumpyBufferSize, n - begin));
    }
    return sum;
  };
  // np.mean of an int64 array: the sum in float64 (exact while it stays below 2^53, as every
  // real model's does), then one true division.
  const double mean = reduce(x) / static_cast<double>(n);
  // np.std (_var in numpy/core/_methods.py): the same mean; x - mean and its square element by
  // element in float64; the squares summed; divided by n; the square root.
  for (double& v : x) {
    v -= mean;
    v *= v;
  }
  const double std = std::sqrt(reduce(x) / static_cast<double>(n));
  return mean + 3 * std;  // upper_limit = mean + 3 * std (search_utils.py:34)
}

namespace {

Status CheckSearchRange(const ChunkSearchOptions& options, int64_t interval, int64_t first) {
  if (options.search_range < 0 || options.search_range > kMaxChunkElements) {
    return Status::InvalidArgument(fmt::format("search range {} is outside [0, {}] elements",
                                               options.search_range, kMaxChunkElements));
  }
  const int64_t num_candidates = options.search_range / interval + 1;
  if (num_candidates > kMaxSearchCandidates) {
    return Status::InvalidArgument(
        fmt::format("search range {} in steps of {} gives {} candidates; at most {} are searched",
                    options.search_range, interval, num_candidates, kMaxSearchCandidates));
  }
  const int64_t last = first + (num_candidates - 1) * interval;
  if (last > kMaxChunkElements) {
    return Status::InvalidArgument(
        fmt::format("largest candidate {} exceeds {} elements", last, kMaxChunkElements));
  }
  return Status::Ok();
}

}  // namespace

StatusOr<ChunkConfiguration> SearchChunkConfiguration(std::span<const ChunkSearchGroup> groups,
                                                      const ChunkSearchOptions& options) {
  if (groups.empty()) return Status::InvalidArgument("no parameter group to search");
  if (options.min_chunk_size < 0 || options.min_chunk_size > kMaxChunkElements) {
    return Status::InvalidArgument(fmt::format("min chunk size {} is outside [0, {}] elements",
                                               options.min_chunk_size, kMaxChunkElements));
  }
  if (options.search_interval < 0) {
    return Status::InvalidArgument(
        fmt::format("search interval {} is negative", options.search_interval));
  }
  if (options.search_range < 0 || options.search_range > kMaxChunkElements) {  // asserted, :145
    return Status::InvalidArgument(fmt::format("search range {} is outside [0, {}] elements",
                                               options.search_range, kMaxChunkElements));
  }
  const int64_t interval =
      options.search_interval > 0 ? options.search_interval : kDefaultSearchInterval;
  ChunkConfiguration config;
  config.groups.resize(groups.size());
  config.outliers.resize(groups.size());
  // Steps 3-4: the lcm of the degrees; small groups kept gathered, the others searched.
  int64_t lcm = 1;
  std::vector<bool> searched(groups.size(), false);
  for (size_t g = 0; g < groups.size(); ++g) {
    const ChunkSearchGroup& group = groups[g];
    if (group.dp_degree < 1 || group.dp_degree > kMaxShards) {
      return Status::InvalidArgument(
          fmt::format("DP degree {} is outside [1, {}]", group.dp_degree, kMaxShards));
    }
    if (group.numels.empty()) {
      return Status::InvalidArgument(fmt::format("group {} has no parameters", g));
    }
    lcm = Lcm(lcm, group.dp_degree);
    if (lcm > kMaxChunkElements) {
      return Status::InvalidArgument(
          fmt::format("the lcm of the DP degrees exceeds {} elements", kMaxChunkElements));
    }
    int64_t total = 0;
    for (const int64_t n : group.numels) {
      if (n < 1 || n > kMaxChunkElements) {
        return Status::InvalidArgument(
            fmt::format("group {}: size {} is outside [1, {}]", g, n, kMaxChunkElements));
      }
      total += n;  // <= 2^20 * 2^36 per group
    }
    config.total_elements += total;
    config.groups[g].dp_degree = group.dp_degree;
    if (total < options.min_chunk_size) {
      config.groups[g].chunk_size = total;
      config.groups[g].keep_gathered = true;
    } else {
      searched[g] = true;
    }
  }
  // Step 5: drop sizes above mean + 3 std of all searched sizes, in numpy's float64
  // arithmetic (NumpyOutlierLimit).
  config.outlier_limit = std::numeric_limits<double>::infinity();
  if (options.filter_exlarge_params) {
    std::vector<int64_t> all;
    for (size_t g = 0; g < groups.size(); ++g) {
      if (searched[g]) all.insert(all.end(), groups[g].numels.begin(), groups[g].numels.end());
    }
    if (!all.empty()) config.outlier_limit = NumpyOutlierLimit(all);  // none: no filter, :27-28
  }
  std::vector<std::vector<int64_t>> kept(groups.size());
  int64_t max_size = options.min_chunk_size;
  for (size_t g = 0; g < groups.size(); ++g) {
    if (!searched[g]) continue;
    for (size_t i = 0; i < groups[g].numels.size(); ++i) {
      const int64_t n = groups[g].numels[i];
      if (static_cast<double>(n) <= config.outlier_limit) {  // exact: n < 2^53
        kept[g].push_back(n);
        max_size = std::max(max_size, n);
      } else {
        config.outliers[g].push_back(static_cast<int>(i));
      }
    }
    if (kept[g].empty()) {  // max(size_dict[key]) raises ValueError (search_utils.py:170)
      return Status::InvalidArgument(fmt::format(
          "group {}: the outlier filter drops every size (ColossalAI's search fails here: max() "
          "of an empty list)",
          g));
    }
  }
  // Step 6: candidates from the largest kept size rounded up to the interval.
  const int64_t start = (max_size + interval - 1) / interval * interval;
  config.first_candidate = start;
  config.num_candidates = options.search_range / interval + 1;
  config.last_candidate = start + (config.num_candidates - 1) * interval;
  if (std::find(searched.begin(), searched.end(), true) == searched.end()) {
    // Every group is kept gathered: each candidate wastes 0, the first wins, and no group
    // takes it. The result needs no evaluation (nor the candidate limit).
    config.best_unrounded = start;
    return config;
  }
  TWINSIM_RETURN_IF_ERROR(CheckSearchRange(options, interval, start));
  // Step 7: the first least waste over the kept sizes.
  int64_t best_waste = std::numeric_limits<int64_t>::max();
  int64_t best = start;
  for (int64_t size = start; size <= config.last_candidate; size += interval) {
    int64_t waste = 0;
    for (const std::vector<int64_t>& sizes : kept) waste += UnusedElements(sizes, size);
    if (waste < best_waste) {
      best_waste = waste;
      best = size;
    }
  }
  // Step 8: only the winner is rounded, to the lcm of the degrees.
  config.waste = best_waste;
  config.best_unrounded = best;
  const int64_t rounded = RoundUp(best, lcm);
  if (rounded > kMaxChunkElements) {
    return Status::InvalidArgument(
        fmt::format("chunk size {} exceeds {} elements", rounded, kMaxChunkElements));
  }
  for (size_t g = 0; g < groups.size(); ++g) {
    if (searched[g]) config.groups[g].chunk_size = rounded;
  }
  return config;
}

core::Provenance ChunkSearchProvenance(ChunkSearchMethod method) {
  core::Provenance p;
  if (method == ChunkSearchMethod::kPackedPadding) {
    p.twinsim_own = true;
    return p;
  }
  const std::string repo = "hpcaitech/ColossalAI";
  const std::string release = "4f9953be";
  const std::string search = "colossalai/zero/gemini/chunk/search_utils.py";
  p.sources = {
      {repo, release, search, "search_chunk_configuration", 108, 191,
       "sizes in model.parameters() order, one group per DP degree; a group below "
       "min_chunk_size kept gathered; candidates from the largest kept size rounded up to the "
       "interval, search_range further; first least unused space; only the winner rounded to "
       "the lcm of the DP degrees"},
      {repo, release, search, "_filter_exlarge_params", 14, 38,
       "sizes above mean + 3 * std (numpy population std over all searched groups) are left "
       "out of the search"},
      {repo, release, search, "_get_unused_byte", 41, 60,
       "a candidate's waste: fill chunks in order, open one when a size does not fit"},
      {repo, release, search, "classify_params_by_dp_degree", 79, 105,
       "every parameter is keyed by the zero group's world size: one group"},
      {repo, release, "colossalai/zero/gemini/chunk/utils.py", "init_chunk_manager", 27, 30,
       "search_interval = hidden_dim when given, else 1024"},
      {repo, release, "colossalai/booster/plugin/gemini_plugin.py", "GeminiPlugin.__init__", 459,
       461, "defaults search_range_m = 32, hidden_dim = None, min_chunk_size_m = 32"},
      {repo, release, "colossalai/zero/gemini/chunk/manager.py", "ChunkManager.register_tensor", 92,
       95,
       "a tensor larger than the chunk size gets a chunk of its own, rounded to the DP "
       "size"},
      {repo, release, "colossalai/zero/gemini/chunk/chunk.py", "Chunk.__init__", 101, 104,
       "a kept-gathered chunk is not sharded; any other must be a multiple of the DP size"},
  };
  p.deviations = {
      "strict_ddp_flag is documented as keeping all parameters replicated "
      "(search_utils.py:128-129; strict_ddp_mode, gemini_ddp.py:69) but neither the search nor "
      "GeminiDDP._init_chunks (gemini_ddp.py:819-875) reads it: twinsim accepts it with no "
      "effect",
      "the plugin's hidden_dim defaults to None (interval 1024); twinsim defaults the interval "
      "to the model's hidden size, as ColossalAI's GPT example passes it "
      "(examples/language/gpt/gemini/train_gpt_demo.py:170); --search-interval 1024 gives the "
      "plugin's default",
      "the MemStats (trace order) branch is not modelled: GeminiDDP never passes memstats to the "
      "search (gemini_ddp.py:114-127)",
      "mean + 3 * std follows numpy 1.24's float64 summation order (Debian 12's numpy, checked "
      "against it); another numpy release that changed pairwise_sum or np.std could round a "
      "size at the limit differently",
      "twinsim never appends a tensor into an oversize chunk's rounding slack (Note [Chunk "
      "packing])",
  };
  return p;
}

namespace {

// kPackedPadding (Note [Chunk-size search], last paragraph): fills chunk_size, search_waste,
// first/num/max_candidate and outliers of `result`.
Status SearchPackedPadding(std::span<const TensorSpec> tensors, const ChunkSearchOptions& options,
                           ChunkSearchResult& result) {
  if (options.min_chunk_size < 1 || options.min_chunk_size > kMaxChunkElements) {
    return Status::InvalidArgument(fmt::format(
        "min chunk size {} is outside [1, {}] elements (the packed search starts there)",
        options.min_chunk_size, kMaxChunkElements));
  }
  const int64_t interval = result.search_interval;
  TWINSIM_RETURN_IF_ERROR(CheckSearchRange(options, interval, options.min_chunk_size));
  std::vector<int64_t> numels;
  numels.reserve(tensors.size());
  for (const TensorSpec& t : tensors) numels.push_back(t.numel);
  const int64_t num_candidates = options.search_range / interval + 1;
  result.first_candidate = RoundUp(options.min_chunk_size, options.dp_shards);
  result.num_candidates = num_candidates;
  result.max_candidate =
      RoundUp(options.min_chunk_size + (num_candidates - 1) * interval, options.dp_shards);
  int64_t best_waste = std::numeric_limits<int64_t>::max();
  for (int64_t k = 0; k < num_candidates; ++k) {
    const int64_t size = RoundUp(options.min_chunk_size + k * interval, options.dp_shards);
    const int64_t waste = PaddingWaste(numels, size, options.dp_shards);
    if (waste < best_waste) {  // strict: ties keep the smaller size
      best_waste = waste;
      result.chunk_size = size;
    }
  }
  result.search_waste = best_waste;
  for (size_t i = 0; i < tensors.size(); ++i) {
    if (tensors[i].numel > result.max_candidate) result.outliers.push_back(static_cast<int>(i));
  }
  return Status::Ok();
}

}  // namespace

StatusOr<ChunkSearchResult> SearchChunkSize(std::span<const TensorSpec> tensors,
                                            const ChunkSearchOptions& options) {
  TWINSIM_RETURN_IF_ERROR(ValidateTensors(tensors));
  if (tensors.empty()) return Status::InvalidArgument("no tensors to put in chunks");
  if (options.dp_shards < 1 || options.dp_shards > kMaxShards) {
    return Status::InvalidArgument(
        fmt::format("shard count {} is outside [1, {}]", options.dp_shards, kMaxShards));
  }
  if (options.search_interval < 0) {
    return Status::InvalidArgument(
        fmt::format("search interval {} is negative", options.search_interval));
  }
  ChunkSearchResult result;
  result.method = options.method;
  result.dp_shards = options.dp_shards;
  result.search_interval =
      options.search_interval > 0 ? options.search_interval : kDefaultSearchInterval;
  for (const TensorSpec& t : tensors) result.total_elements += t.numel;
  if (options.fixed_chunk_size != 0) {
    if (options.fixed_chunk_size < 1 || options.fixed_chunk_size > kMaxChunkElements) {
      return Status::InvalidArgument(fmt::format("chunk size {} is outside [1, {}] elements",
                                                 options.fixed_chunk_size, kMaxChunkElements));
    }
    if (options.fixed_chunk_size % options.dp_shards != 0) {
      return Status::InvalidArgument(
          fmt::format("chunk size {} is not a multiple of the {} DP shards (Gemini asserts it)",
                      options.fixed_chunk_size, options.dp_shards));
    }
    result.fixed = true;
    result.chunk_size = options.fixed_chunk_size;
  } else if (options.method == ChunkSearchMethod::kPackedPadding) {
    TWINSIM_RETURN_IF_ERROR(SearchPackedPadding(tensors, options, result));
  } else {
    ChunkSearchGroup group{options.dp_shards, {}};
    group.numels.reserve(tensors.size());
    for (const TensorSpec& t : tensors) group.numels.push_back(t.numel);
    TWINSIM_ASSIGN_OR_RETURN(ChunkConfiguration config,
                             SearchChunkConfiguration(std::span(&group, 1), options));
    result.chunk_size = config.groups[0].chunk_size;
    result.keep_gathered = config.groups[0].keep_gathered;
    if (result.keep_gathered) result.dp_shards = 1;
    result.search_waste = config.waste;
    result.first_candidate = config.first_candidate;
    result.num_candidates = config.num_candidates;
    result.max_candidate = config.last_candidate;
    result.outlier_limit = config.outlier_limit;
    result.outliers = std::move(config.outliers[0]);
  }
  TWINSIM_ASSIGN_OR_RETURN(result.chunks, PackChunks(tensors, result.chunk_size, result.dp_shards));
  for (const Chunk& c : result.chunks) result.padding += c.padding();
  return result;
}

}  // namespace twinsim::placement
