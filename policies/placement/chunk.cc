#include "policies/placement/chunk.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
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
  return static_cast<int64_t>(std::llround(m * kMebi));
}

StatusOr<ChunkSearchResult> SearchChunkSize(std::span<const TensorSpec> tensors,
                                            const ChunkSearchOptions& options) {
  TWINSIM_RETURN_IF_ERROR(ValidateTensors(tensors));
  if (options.min_chunk_size < 1 || options.min_chunk_size > kMaxChunkElements) {
    return Status::InvalidArgument(fmt::format("min chunk size {} is outside [1, {}] elements",
                                               options.min_chunk_size, kMaxChunkElements));
  }
  if (options.search_interval < 1) {
    return Status::InvalidArgument(
        fmt::format("search interval {} is not positive", options.search_interval));
  }
  if (options.search_range < 0 || options.search_range > kMaxChunkElements) {
    return Status::InvalidArgument(fmt::format("search range {} is outside [0, {}] elements",
                                               options.search_range, kMaxChunkElements));
  }
  if (options.dp_shards < 1 || options.dp_shards > kMaxShards) {
    return Status::InvalidArgument(
        fmt::format("shard count {} is outside [1, {}]", options.dp_shards, kMaxShards));
  }
  const int64_t steps = options.search_range / options.search_interval;
  const int64_t num_candidates = steps + 1;
  if (num_candidates > kMaxSearchCandidates) {
    return Status::InvalidArgument(fmt::format(
        "search range {} in steps of {} gives {} candidates; at most {} are searched",
        options.search_range, options.search_interval, num_candidates, kMaxSearchCandidates));
  }
  const int64_t last = options.min_chunk_size + steps * options.search_interval;
  if (last > kMaxChunkElements) {
    return Status::InvalidArgument(
        fmt::format("largest candidate {} exceeds {} elements", last, kMaxChunkElements));
  }

  std::vector<int64_t> numels;
  numels.reserve(tensors.size());
  for (const TensorSpec& t : tensors) numels.push_back(t.numel);

  ChunkSearchResult result;
  result.num_candidates = num_candidates;
  result.max_candidate = RoundUp(last, options.dp_shards);
  int64_t best_waste = std::numeric_limits<int64_t>::max();
  for (int64_t k = 0; k < num_candidates; ++k) {
    const int64_t size =
        RoundUp(options.min_chunk_size + k * options.search_interval, options.dp_shards);
    const int64_t waste = PaddingWaste(numels, size, options.dp_shards);
    if (waste < best_waste) {  // strict: ties keep the smaller size
      best_waste = waste;
      result.chunk_size = size;
    }
  }
  result.waste = best_waste;
  for (size_t i = 0; i < tensors.size(); ++i) {
    result.total_elements += tensors[i].numel;
    if (tensors[i].numel > result.max_candidate) result.outliers.push_back(static_cast<int>(i));
  }
  TWINSIM_ASSIGN_OR_RETURN(result.chunks,
                           PackChunks(tensors, result.chunk_size, options.dp_shards));
  return result;
}

}  // namespace twinsim::placement
