// ParallelLayout: validation, the pipeline partition, placements and TP shards. The rationale
// lives in the Notes of parallel_layout.h.
#include "core/parallel_layout.h"

#include <algorithm>
#include <cassert>
#include <climits>
#include <cstdlib>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

namespace twinsim::core {
namespace {

std::string Str(int64_t v) { return std::to_string(v); }

std::string ShapeString(std::span<const int64_t> shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i > 0) s += ", ";
    s += Str(shape[i]);
  }
  return s + "]";
}

std::string_view SplitName(TpSplit split) {
  switch (split) {
    case TpSplit::kReplicated:
      return "replicated";
    case TpSplit::kColumn:
      return "column-split";
    case TpSplit::kRow:
      return "row-split";
    case TpSplit::kVocab:
      return "vocab-split";
  }
  return "?";
}

Status Invalid(std::string msg) { return Status::InvalidArgument(std::move(msg)); }

// Product of `dims`, or -1 on overflow.
int64_t CheckedProduct(std::span<const int64_t> dims) {
  int64_t p = 1;
  for (int64_t d : dims) {
    if (__builtin_mul_overflow(p, d, &p)) return -1;
  }
  return p;
}

int64_t Product(std::span<const int64_t> dims) {
  int64_t p = 1;
  for (int64_t d : dims) p *= d;
  return p;
}

bool SameStageForSure(const ParamSpec& a, const ParamSpec& b) {
  if (a.role != b.role) return false;
  return a.role != ParamRole::kLayer || a.layer == b.layer;
}

// Chooses chunk boundaries (size num_chunks + 1) for Note [Pipeline partition], kByParams.
// weights[l] is block l's parameter count; first_extra / last_extra are the fixed loads of chunk
// 0 and chunk num_chunks - 1. REQUIRES: 1 <= num_chunks <= max(weights.size(), 1), weights >= 0.
std::vector<int> BalanceByParams(const std::vector<int64_t>& weights, int num_chunks,
                                 int64_t first_extra, int64_t last_extra) {
  const int n = static_cast<int>(weights.size());
  std::vector<int> bounds(num_chunks + 1, 0);
  bounds[num_chunks] = n;
  if (num_chunks == 1) return bounds;

  std::vector<int64_t> prefix(n + 1, 0);
  for (int i = 0; i < n; ++i) prefix[i + 1] = prefix[i] + weights[i];
  // Load of chunk `c` if it held blocks [b, e).
  auto load = [&](int c, int b, int e) {
    int64_t l = prefix[e] - prefix[b];
    if (c == 0) l += first_extra;
    if (c == num_chunks - 1) l += last_extra;
    return l;
  };
  // Greedy: each chunk but the last takes as many blocks as fit under `cap`, leaving one block
  // per later chunk. Taking the longest feasible prefix is optimal for contiguous splits.
  auto feasible = [&](int64_t cap) {
    int pos = 0;
    for (int c = 0; c + 1 < num_chunks; ++c) {
      const int max_end = n - (num_chunks - 1 - c);
      if (load(c, pos, pos + 1) > cap) return false;
      int e = pos + 1;
      while (e < max_end && load(c, pos, e + 1) <= cap) ++e;
      pos = e;
    }
    return load(num_chunks - 1, pos, n) <= cap;
  };
  int64_t lo = 0;
  int64_t hi = prefix[n] + first_extra + last_extra;  // always feasible
  while (lo < hi) {
    const int64_t mid = lo + (hi - lo) / 2;
    if (feasible(mid)) {
      hi = mid;
    } else {
      lo = mid + 1;
    }
  }
  const int64_t cap = lo;

  // min_chunks[i]: fewest chunks (each <= cap, the last carrying last_extra) covering blocks
  // [i, n); INT_MAX when impossible. Splitting a chunk never raises a load, so any count between
  // min_chunks[i] and n - i chunks also works.
  std::vector<int> min_chunks(n + 1, INT_MAX);
  min_chunks[n] = 0;
  for (int i = n - 1; i >= 0; --i) {
    for (int e = i + 1; e <= n; ++e) {
      const int64_t l = prefix[e] - prefix[i] + (e == n ? last_extra : 0);
      if (l > cap) break;
      if (min_chunks[e] != INT_MAX) min_chunks[i] = std::min(min_chunks[i], 1 + min_chunks[e]);
    }
  }

  int pos = 0;
  for (int c = 0; c + 1 < num_chunks; ++c) {
    const int later = num_chunks - 1 - c;                    // chunks after this one
    const int64_t remaining = load(c, pos, n) + last_extra;  // c is never the last chunk here
    const int chunks_left = later + 1;
    int best = -1;
    int64_t best_err = 0;
    for (int e = pos + 1; e <= n - later; ++e) {
      const int64_t l = load(c, pos, e);
      if (l > cap) break;
      if (min_chunks[e] > later) continue;
      // |l - remaining / chunks_left|, scaled by chunks_left to stay in integers.
      const int64_t err = std::llabs(l * chunks_left - remaining);
      if (best < 0 || err < best_err) {
        best = e;
        best_err = err;
      }
    }
    assert(best > 0);  // the greedy split at `cap` is always a candidate
    pos = best;
    bounds[c + 1] = pos;
  }
  return bounds;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// TpShard

std::vector<IndexRange> TpShard::Ranges(std::span<const int64_t> shape) const {
  std::vector<IndexRange> r(shape.size());
  for (size_t d = 0; d < shape.size(); ++d) r[d] = {0, shape[d]};
  if (dim >= 0) r[dim] = range;
  return r;
}

std::vector<IndexRange> TpShard::PaddedRanges(std::span<const int64_t> shape) const {
  std::vector<IndexRange> r(shape.size());
  for (size_t d = 0; d < shape.size(); ++d) r[d] = {0, shape[d]};
  if (dim >= 0) r[dim] = padded_range;
  return r;
}

std::vector<int64_t> TpShard::PaddedShape(std::span<const int64_t> shape) const {
  std::vector<int64_t> s(shape.begin(), shape.end());
  if (dim >= 0) s[dim] = padded_extent;
  return s;
}

int64_t TpShard::Numel(std::span<const int64_t> shape) const {
  int64_t n = 1;
  for (const IndexRange& r : Ranges(shape)) n *= r.size();
  return n;
}

int64_t TpShard::PaddedNumel(std::span<const int64_t> shape) const {
  int64_t n = 1;
  for (const IndexRange& r : PaddedRanges(shape)) n *= r.size();
  return n;
}

namespace {

// The [shape[0], prod(rest)] view of `shape` with `dim` resized to `extent`, and the block that
// `along` along `dim` covers; nullopt when that is not one rectangle.
std::optional<Block2D> BlockOf(std::span<const int64_t> shape, int dim, IndexRange along,
                               int64_t extent) {
  const uint64_t rows = shape.empty() ? 1 : static_cast<uint64_t>(dim == 0 ? extent : shape[0]);
  uint64_t cols = 1;
  for (size_t d = 1; d < shape.size(); ++d) {
    cols *= static_cast<uint64_t>(static_cast<int>(d) == dim ? extent : shape[d]);
  }
  Block2D b{rows, cols, 0, rows, 0, cols};
  if (dim < 0) return b;
  if (dim == 0) {
    b.row_begin = static_cast<uint64_t>(along.begin);
    b.row_end = static_cast<uint64_t>(along.end);
    return b;
  }
  // A split along dim k >= 1 is a column range only if dims 1 .. k-1 are all 1.
  for (int d = 1; d < dim; ++d) {
    if (shape[d] != 1) return std::nullopt;
  }
  const uint64_t inner = static_cast<uint64_t>(Product(shape.subspan(dim + 1)));
  b.col_begin = static_cast<uint64_t>(along.begin) * inner;
  b.col_end = static_cast<uint64_t>(along.end) * inner;
  return b;
}

}  // namespace

std::optional<Block2D> TpShard::AsBlock2D(std::span<const int64_t> shape) const {
  return BlockOf(shape, dim, range, dim >= 0 ? shape[dim] : 0);
}

std::optional<Block2D> TpShard::AsPaddedBlock2D(std::span<const int64_t> shape) const {
  return BlockOf(shape, dim, padded_range, padded_extent);
}

// ---------------------------------------------------------------------------------------------
// Make

StatusOr<ParallelLayout> ParallelLayout::Make(const LayoutConfig& config, const ModelSpec& model) {
  // Sizes.
  const std::pair<const char*, int> sizes[] = {
      {"dp", config.dp}, {"pp", config.pp}, {"tp", config.tp},
      {"cp", config.cp}, {"dp_shard", config.dp_shard}, {"ep", config.ep},
      {"vpp", config.vpp}, {"vocab_divisible_by", config.vocab_divisible_by}};
  for (const auto& [field, value] : sizes) {
    if (value < 1) {
      return Invalid(std::string("LayoutConfig.") + field + " = " + Str(value) + ": must be >= 1");
    }
  }
  int64_t world = int64_t{config.dp} * config.pp;  // each factor is below 2^31: no overflow
  const bool overflow = __builtin_mul_overflow(world, int64_t{config.tp}, &world) ||
                        __builtin_mul_overflow(world, int64_t{config.cp}, &world);
  if (overflow || world > INT_MAX) {
    return Invalid("LayoutConfig: world = dp * pp * tp * cp = " + Str(config.dp) + " * " +
                   Str(config.pp) + " * " + Str(config.tp) + " * " + Str(config.cp) +
                   " exceeds 2^31 - 1 ranks");
  }
  if (config.dp % config.dp_shard != 0) {
    return Invalid("LayoutConfig.dp_shard = " + Str(config.dp_shard) + " does not divide dp = " +
                   Str(config.dp) + " (dp = dp_replicate * dp_shard)");
  }
  if (config.mesh != MeshConvention::kMegatron && config.mesh != MeshConvention::kTorchtitan) {
    return Invalid("LayoutConfig.mesh = " + Str(static_cast<int>(config.mesh)) +
                   " is not a convention");
  }
  if (config.etp < 0) {
    return Invalid("LayoutConfig.etp = " + Str(config.etp) +
                   " is negative (0: the expert tensor-parallel size equals tp)");
  }
  const int etp = config.etp > 0 ? config.etp : config.tp;
  if (etp != config.tp && config.mesh == MeshConvention::kTorchtitan) {
    return Invalid("LayoutConfig.etp = " + Str(etp) + " differs from tp = " + Str(config.tp) +
                   " under the torchtitan convention, whose expert mesh twinsim does not model; "
                   "use the megatron convention");
  }
  if (config.ep > 1 && config.mesh == MeshConvention::kTorchtitan) {
    return Invalid("LayoutConfig.ep = " + Str(config.ep) +
                   " under the torchtitan convention: its expert mesh borrows dp_shard * cp * tp "
                   "ranks, which twinsim does not model; use the megatron convention");
  }
  if (config.vpp > 1 && config.pp == 1) {
    return Invalid("LayoutConfig.vpp = " + Str(config.vpp) +
                   " needs pp > 1 (the interleaved schedule splits a pipeline), but pp = 1");
  }
  if (etp == config.tp && (int64_t{config.dp} * config.cp) % config.ep != 0) {
    return Invalid("LayoutConfig.ep = " + Str(config.ep) + " does not divide dp * cp = " +
                   Str(int64_t{config.dp} * config.cp) +
                   " (expert parallelism splits the data- and context-parallel ranks)");
  }
  if (etp != config.tp &&
      (int64_t{config.tp} * config.cp * config.dp) % (int64_t{config.ep} * etp) != 0) {
    return Invalid("LayoutConfig.etp = " + Str(etp) + ": ep * etp = " + Str(config.ep) + " * " +
                   Str(etp) +
                   " does not divide the tp * cp * dp = " +
                   Str(int64_t{config.tp} * config.cp * config.dp) +
                   " ranks of a pipeline stage (Megatron's expert mesh tp-ep-dp-pp)");
  }
  const int64_t num_stages = int64_t{config.pp} * config.vpp;
  if (model.num_layers < 0) {
    return Invalid("model '" + model.name + "': num_layers = " + Str(model.num_layers) +
                   " is negative");
  }
  if (num_stages > std::max(model.num_layers, 1)) {
    return Invalid("LayoutConfig: pp * vpp = " + Str(config.pp) + " * " + Str(config.vpp) + " = " +
                   Str(num_stages) + " model chunks exceeds num_layers = " + Str(model.num_layers) +
                   " of model '" + model.name +
                   "' (every chunk needs at least one transformer block)");
  }
  if (int64_t{config.vocab_divisible_by} * config.tp > INT_MAX) {
    return Invalid("LayoutConfig: vocab_divisible_by * tp = " + Str(config.vocab_divisible_by) +
                   " * " + Str(config.tp) + " overflows");
  }

  // Parameters.
  const int num_params = static_cast<int>(model.params.size());
  std::unordered_map<std::string_view, int> by_name;
  by_name.reserve(model.params.size());
  std::vector<int64_t> numel(num_params);
  std::vector<int64_t> padded_extent(num_params, 0);
  int max_expert = -1;
  for (int i = 0; i < num_params; ++i) {
    const ParamSpec& p = model.params[i];
    const std::string where = "model '" + model.name + "' parameter '" + p.name + "'";
    if (!by_name.emplace(p.name, i).second) {
      return Invalid(where + ": the name appears twice (parameters " + Str(by_name[p.name]) +
                     " and " + Str(i) + ")");
    }
    for (int64_t d : p.shape) {
      if (d < 0) return Invalid(where + ": shape " + ShapeString(p.shape) + " has a negative size");
    }
    numel[i] = CheckedProduct(p.shape);
    if (numel[i] < 0) {
      return Invalid(where + ": shape " + ShapeString(p.shape) + " overflows 64-bit numel");
    }
    if (p.role == ParamRole::kLayer && (p.layer < 0 || p.layer >= model.num_layers)) {
      return Invalid(where + ": layer = " + Str(p.layer) +
                     " is outside [0, num_layers = " + Str(model.num_layers) + ")");
    }
    if (p.expert >= 0) max_expert = std::max(max_expert, p.expert);
    if (p.tp_split == TpSplit::kReplicated) continue;

    const int rank = static_cast<int>(p.shape.size());
    if (p.tp_dim < 0 || p.tp_dim >= rank) {
      return Invalid(where + ": " + std::string(SplitName(p.tp_split)) + " with tp_dim = " +
                     Str(p.tp_dim) + " outside its shape " + ShapeString(p.shape));
    }
    if (p.tp_split == TpSplit::kVocab && p.tp_dim != 0) {
      return Invalid(where + ": vocab-split with tp_dim = " + Str(p.tp_dim) +
                     " (the vocabulary must be dimension 0)");
    }
    const int64_t n = p.shape[p.tp_dim];
    if (p.tp_split == TpSplit::kVocab && n == 0) {
      return Invalid(where + ": vocab-split with an empty vocabulary (shape " +
                     ShapeString(p.shape) + ")");
    }
    // Padded vocab shards are never empty (Note [Vocab padding]); other splits must not be.
    const bool padded_vocab = p.tp_split == TpSplit::kVocab && config.pad_vocab;
    const bool expert_split = p.expert >= 0 && etp != config.tp;
    const int ways = p.expert >= 0 ? etp : config.tp;
    const std::string field = expert_split ? "etp" : "tp";
    if (!padded_vocab && n < ways) {
      return Invalid("LayoutConfig." + field + " = " + Str(ways) + " leaves empty " +
                     (expert_split ? "expert TP" : "TP") + " shards of " + where + " (shape " +
                     ShapeString(p.shape) + ", " + std::string(SplitName(p.tp_split)) +
                     " along dim " + Str(p.tp_dim) + " of size " + Str(n) + "); " + field +
                     " must be <= " + Str(n));
    }
    if (padded_vocab) {
      const int64_t m = int64_t{config.vocab_divisible_by} * config.tp;
      const int64_t padded = (n + m - 1) / m * m;
      padded_extent[i] = padded;
      int64_t padded_numel = 0;
      if (__builtin_mul_overflow(numel[i] / n, padded, &padded_numel)) {
        return Invalid(where + ": padded vocab " + Str(padded) + " overflows 64-bit numel");
      }
    } else {
      padded_extent[i] = n;
    }
  }

  // Ties.
  std::vector<int> tie_target(num_params, -1);
  for (int i = 0; i < num_params; ++i) {
    const ParamSpec& p = model.params[i];
    if (p.tied_to.empty()) continue;
    const std::string where = "model '" + model.name + "' parameter '" + p.name + "'";
    auto it = by_name.find(p.tied_to);
    if (it == by_name.end()) {
      return Invalid(where + ": tied_to = '" + p.tied_to + "' names no parameter");
    }
    const ParamSpec& t = model.params[it->second];
    if (it->second == i || !t.tied_to.empty()) {
      return Invalid(where + ": tied_to = '" + p.tied_to +
                     "' is itself tied (ties must point at a parameter that owns storage)");
    }
    if (t.shape != p.shape) {
      return Invalid(where + ": shape " + ShapeString(p.shape) + " differs from its tied_to '" +
                     t.name + "' shape " + ShapeString(t.shape));
    }
    tie_target[i] = it->second;
  }

  // Experts.
  const int num_experts = max_expert + 1;
  if (num_experts > 0 && num_experts % config.ep != 0) {
    return Invalid("LayoutConfig.ep = " + Str(config.ep) + " does not divide the " +
                   Str(num_experts) + " experts of model '" + model.name + "'");
  }

  ParallelLayout layout;
  layout.config_ = config;
  layout.model_ = model;
  layout.world_ = static_cast<int>(world);
  layout.num_stages_ = static_cast<int>(num_stages);
  layout.num_experts_ = num_experts;
  layout.param_numel_ = std::move(numel);
  layout.padded_extent_ = std::move(padded_extent);
  const int S = layout.num_stages_;
  const int L = model.num_layers;

  // Partition (Note [Pipeline partition]).
  std::vector<int>& bounds = layout.stage_layer_begin_;
  if (config.partition == PipelinePartition::kByLayers || L == 0) {
    bounds.assign(S + 1, 0);
    const int base = L / S, extra = L % S;
    for (int c = 0; c < S; ++c) bounds[c + 1] = bounds[c] + base + (c < extra ? 1 : 0);
  } else {
    std::vector<int64_t> weights(L, 0);
    int64_t first_extra = 0, last_extra = 0, total = 0;
    for (int i = 0; i < num_params; ++i) {
      const ParamSpec& p = model.params[i];
      // A tied parameter is a real copy unless it certainly shares its target's stage.
      if (tie_target[i] >= 0 && SameStageForSure(p, model.params[tie_target[i]])) continue;
      int64_t* slot = p.role == ParamRole::kLayer       ? &weights[p.layer]
                      : p.role == ParamRole::kEmbedding ? &first_extra
                                                        : &last_extra;
      if (__builtin_add_overflow(*slot, layout.param_numel_[i], slot) ||
          __builtin_add_overflow(total, layout.param_numel_[i], &total)) {
        return Invalid("model '" + model.name + "': total parameter count overflows 64 bits");
      }
    }
    bounds = BalanceByParams(weights, S, first_extra, last_extra);
  }
  layout.layer_stage_.assign(L, 0);
  for (int c = 0; c < S; ++c) {
    for (int l = bounds[c]; l < bounds[c + 1]; ++l) layout.layer_stage_[l] = c;
  }

  // Placements (Note [Tied embeddings]), bucketed by stage in registration order.
  layout.param_stage_.assign(num_params, 0);
  for (int i = 0; i < num_params; ++i) {
    const ParamSpec& p = model.params[i];
    switch (p.role) {
      case ParamRole::kEmbedding:
        layout.param_stage_[i] = 0;
        break;
      case ParamRole::kLayer:
        layout.param_stage_[i] = layout.layer_stage_[p.layer];
        break;
      case ParamRole::kFinalNorm:
      case ParamRole::kHead:
        layout.param_stage_[i] = S - 1;
        break;
    }
  }
  std::vector<Placement> unsorted;
  unsorted.reserve(num_params);
  for (int i = 0; i < num_params; ++i) {
    const int t = tie_target[i];
    if (t < 0) {
      unsorted.push_back({i, layout.param_stage_[i], -1});
    } else if (layout.param_stage_[t] != layout.param_stage_[i]) {
      unsorted.push_back({t, layout.param_stage_[i], i});
    }
  }
  layout.stage_offset_.assign(S + 1, 0);
  for (const Placement& pl : unsorted) ++layout.stage_offset_[pl.stage + 1];
  for (int c = 0; c < S; ++c) layout.stage_offset_[c + 1] += layout.stage_offset_[c];
  layout.placements_.resize(unsorted.size());
  std::vector<int> fill(layout.stage_offset_.begin(), layout.stage_offset_.end() - 1);
  for (const Placement& pl : unsorted) layout.placements_[fill[pl.stage]++] = pl;

  // Note [Owned-shard index]
  // OwnedBy keeps, of a stage's placements, the dense ones and the experts of the rank's EP
  // rank, in placement order. Scanning every placement of the stage costs O(stage) per rank,
  // and MoE stages are mostly other ranks' experts (deepseek-v3 at ep 64: ~2,800 placements a
  // stage, ~100 kept): 16,384 ranks asked three times each made it a visible share of a
  // timing-only init. So the placements are indexed once here, dense ones by stage and expert
  // ones by (stage, EP rank), and OwnedBy merges the two ascending lists it needs: O(kept).
  const int ep = config.ep;
  layout.dense_offset_.assign(S + 1, 0);
  layout.expert_offset_.assign(static_cast<size_t>(S) * ep + 1, 0);
  for (const Placement& pl : layout.placements_) {
    const int owner = layout.ExpertOwner(pl.param);
    if (owner < 0) {
      ++layout.dense_offset_[pl.stage + 1];
    } else {
      ++layout.expert_offset_[static_cast<size_t>(pl.stage) * ep + owner + 1];
    }
  }
  for (int c = 0; c < S; ++c) layout.dense_offset_[c + 1] += layout.dense_offset_[c];
  for (size_t k = 0; k + 1 < layout.expert_offset_.size(); ++k) {
    layout.expert_offset_[k + 1] += layout.expert_offset_[k];
  }
  layout.dense_.resize(layout.dense_offset_[S]);
  layout.expert_.resize(layout.expert_offset_.back());
  std::vector<int> dense_fill(layout.dense_offset_.begin(), layout.dense_offset_.end() - 1);
  std::vector<int> expert_fill(layout.expert_offset_.begin(), layout.expert_offset_.end() - 1);
  for (int k = 0; k < static_cast<int>(layout.placements_.size()); ++k) {
    const Placement& pl = layout.placements_[k];
    const int owner = layout.ExpertOwner(pl.param);
    if (owner < 0) {
      layout.dense_[dense_fill[pl.stage]++] = k;
    } else {
      layout.expert_[expert_fill[static_cast<size_t>(pl.stage) * ep + owner]++] = k;
    }
  }
  return layout;
}

std::string_view MeshName(MeshConvention mesh) {
  return mesh == MeshConvention::kTorchtitan ? "torchtitan" : "megatron";
}

// ---------------------------------------------------------------------------------------------
// Ranks

ParallelCoords ParallelLayout::RankCoords(int rank) const {
  assert(rank >= 0 && rank < world_);
  const LayoutConfig& k = config_;
  ParallelCoords c;
  c.tp = rank % k.tp;
  c.cp = (rank / k.tp) % k.cp;
  c.dp = (rank / (k.tp * k.cp)) % k.dp;
  c.pp = rank / (k.tp * k.cp * k.dp);
  c.dp_shard = c.dp % k.dp_shard;
  c.dp_replicate = c.dp / k.dp_shard;
  // Note [Expert parallelism]: y = (expert_dp * ep + ep_rank) * etp + etp_rank.
  const int etp = expert_tp();
  const int y = rank % (k.tp * k.cp * k.dp);
  c.etp = y % etp;
  c.ep = (y / etp) % k.ep;
  c.expert_dp = y / (etp * k.ep);
  return c;
}

int ParallelLayout::RankOf(const ParallelCoords& c) const {
  const LayoutConfig& k = config_;
  if (c.dp < 0 || c.dp >= k.dp || c.pp < 0 || c.pp >= k.pp || c.tp < 0 || c.tp >= k.tp ||
      c.cp < 0 || c.cp >= k.cp) {
    return -1;
  }
  return ((c.pp * k.dp + c.dp) * k.cp + c.cp) * k.tp + c.tp;
}

namespace {

// The ranks of `layout` whose coordinates are `base` with one value of `vary` changed: `count`
// ranks, the k-th from set(c, k).
template <typename Set>
std::vector<int> GroupOf(const ParallelLayout& layout, int rank, int count, Set set) {
  const ParallelCoords base = layout.RankCoords(rank);
  std::vector<int> g(count);
  for (int k = 0; k < count; ++k) {
    ParallelCoords c = base;
    set(c, k);
    g[k] = layout.RankOf(c);
  }
  return g;
}

}  // namespace

std::vector<int> ParallelLayout::TpGroup(int rank) const {
  return GroupOf(*this, rank, config_.tp, [](ParallelCoords& c, int k) { c.tp = k; });
}

std::vector<int> ParallelLayout::DpGroup(int rank) const {
  return GroupOf(*this, rank, config_.dp, [](ParallelCoords& c, int k) { c.dp = k; });
}

std::vector<int> ParallelLayout::PpGroup(int rank) const {
  return GroupOf(*this, rank, config_.pp, [](ParallelCoords& c, int k) { c.pp = k; });
}

std::vector<int> ParallelLayout::CpGroup(int rank) const {
  return GroupOf(*this, rank, config_.cp, [](ParallelCoords& c, int k) { c.cp = k; });
}

// Note [Expert parallelism]: in-stage index y = (expert_dp * ep + ep_rank) * etp + etp_rank.
std::vector<int> ParallelLayout::EpGroup(int rank) const {
  const int ep = config_.ep, etp = expert_tp();
  const int stage_size = config_.tp * config_.cp * config_.dp;
  const ParallelCoords c = RankCoords(rank);
  std::vector<int> g(ep);
  for (int k = 0; k < ep; ++k) {
    g[k] = c.pp * stage_size + (c.expert_dp * ep + k) * etp + c.etp;
  }
  return g;
}

std::vector<int> ParallelLayout::ExpertDpGroup(int rank) const {
  const int ep = config_.ep, etp = expert_tp();
  const int stage_size = config_.tp * config_.cp * config_.dp;
  const ParallelCoords c = RankCoords(rank);
  std::vector<int> g(stage_size / (ep * etp));
  for (int k = 0; k < static_cast<int>(g.size()); ++k) {
    g[k] = c.pp * stage_size + (k * ep + c.ep) * etp + c.etp;
  }
  return g;
}

int ParallelLayout::shard_group_size() const {
  return config_.mesh == MeshConvention::kTorchtitan ? config_.dp_shard * config_.cp
                                                     : config_.dp_shard;
}

int ParallelLayout::ShardIndex(const ParallelCoords& c) const {
  return config_.mesh == MeshConvention::kTorchtitan ? c.dp_shard * config_.cp + c.cp
                                                     : c.dp_shard;
}

std::vector<int> ParallelLayout::ShardGroup(int rank) const {
  const int dp_shard = config_.dp_shard;
  const bool with_cp = config_.mesh == MeshConvention::kTorchtitan;
  const int replicate = RankCoords(rank).dp_replicate;
  return GroupOf(*this, rank, shard_group_size(), [&](ParallelCoords& c, int k) {
    if (with_cp) {
      c.dp = replicate * dp_shard + k / config_.cp;
      c.cp = k % config_.cp;
    } else {
      c.dp = replicate * dp_shard + k;
    }
  });
}

std::vector<int> ParallelLayout::ReplicateGroup(int rank) const {
  const int dp_shard = config_.dp_shard;
  const int shard = RankCoords(rank).dp_shard;
  return GroupOf(*this, rank, config_.dp / dp_shard,
                 [&](ParallelCoords& c, int k) { c.dp = k * dp_shard + shard; });
}

std::vector<int> ParallelLayout::EmbeddingGroup(int rank) const {
  std::vector<int> pipeline = PpGroup(rank);
  if (pipeline.size() == 1) return pipeline;
  return {pipeline.front(), pipeline.back()};
}

// ---------------------------------------------------------------------------------------------
// Stages

int ParallelLayout::StageAt(int pp_rank, int virtual_stage) const {
  assert(pp_rank >= 0 && pp_rank < config_.pp);
  assert(virtual_stage >= 0 && virtual_stage < config_.vpp);
  return virtual_stage * config_.pp + pp_rank;
}

IndexRange ParallelLayout::StageLayers(int stage) const {
  assert(stage >= 0 && stage < num_stages_);
  return {stage_layer_begin_[stage], stage_layer_begin_[stage + 1]};
}

std::span<const Placement> ParallelLayout::StagePlacements(int stage) const {
  assert(stage >= 0 && stage < num_stages_);
  return std::span<const Placement>(placements_)
      .subspan(stage_offset_[stage], stage_offset_[stage + 1] - stage_offset_[stage]);
}

int64_t ParallelLayout::StageNumel(int stage) const {
  int64_t n = 0;
  for (const Placement& pl : StagePlacements(stage)) n += param_numel_[pl.param];
  return n;
}

// ---------------------------------------------------------------------------------------------
// TP and EP

TpShard ParallelLayout::ShardOf(int param, int tp_rank) const {
  assert(param >= 0 && param < static_cast<int>(model_.params.size()));
  assert(tp_rank >= 0 && tp_rank < SplitWays(param));
  const ParamSpec& p = model_.params[param];
  TpShard s;
  if (p.tp_split == TpSplit::kReplicated) return s;
  s.dim = p.tp_dim;
  const int64_t n = p.shape[p.tp_dim];
  const int64_t tp = SplitWays(param);
  s.padded_extent = padded_extent_[param];
  if (p.tp_split == TpSplit::kVocab && config_.pad_vocab) {
    const int64_t per = s.padded_extent / tp;  // the padding makes this exact
    s.padded_range = {tp_rank * per, (tp_rank + 1) * per};
    s.range = {std::min(s.padded_range.begin, n), std::min(s.padded_range.end, n)};
  } else {
    const int64_t base = n / tp, extra = n % tp;
    const int64_t begin = tp_rank * base + std::min<int64_t>(tp_rank, extra);
    s.range = {begin, begin + base + (tp_rank < extra ? 1 : 0)};
    s.padded_range = s.range;
  }
  return s;
}

IndexRange ParallelLayout::ChunkRows(int64_t rows, int count, int index) {
  assert(rows >= 0 && count >= 1 && index >= 0 && index < count);
  const int64_t piece = (rows + count - 1) / count;
  const int64_t begin = std::min(rows, piece * index);
  return {begin, std::min(rows, begin + piece)};
}

int ParallelLayout::ExpertOwner(int param) const {
  const int e = model_.params[param].expert;
  if (e < 0) return -1;
  return e / (num_experts_ / config_.ep);
}

std::vector<OwnedShard> ParallelLayout::OwnedBy(int rank) const {
  const ParallelCoords c = RankCoords(rank);
  const int group = shard_group_size();
  const int index = ShardIndex(c);
  std::vector<OwnedShard> owned;
  // Note [Owned-shard index]: the stage's dense placements and its experts on c.ep, merged
  // in placement order.
  auto add = [&](int stage, int v, int k) {
    const Placement& pl = placements_[k];
    const int owner = ExpertOwner(pl.param);
    const TpShard shard = ShardOf(pl.param, owner >= 0 ? c.etp : c.tp);
    const std::vector<int64_t>& shape = model_.params[pl.param].shape;
    // Dim 0 of the TP shard (a scalar is one row).
    const int64_t rows = shape.empty() ? 1 : shard.dim == 0 ? shard.range.size() : shape[0];
    const IndexRange kept =
        owner >= 0 || group == 1 ? IndexRange{0, rows} : ChunkRows(rows, group, index);
    owned.push_back({pl.param, stage, v, pl.tied_from, shard, kept});
  };
  for (int v = 0; v < config_.vpp; ++v) {
    const int stage = StageAt(c.pp, v);
    const int* d = dense_.data() + dense_offset_[stage];
    const int* d_end = dense_.data() + dense_offset_[stage + 1];
    const size_t slot = static_cast<size_t>(stage) * config_.ep + c.ep;
    const int* e = expert_.data() + expert_offset_[slot];
    const int* e_end = expert_.data() + expert_offset_[slot + 1];
    owned.reserve(owned.size() + (d_end - d) + (e_end - e));
    while (d != d_end || e != e_end) {
      if (e == e_end || (d != d_end && *d < *e)) {
        add(stage, v, *d++);
      } else {
        add(stage, v, *e++);
      }
    }
  }
  return owned;
}

}  // namespace twinsim::core
