#include "policies/placement/workload.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <set>
#include <utility>

namespace twinsim::placement {

std::string_view OpKindName(OpKind kind) {
  switch (kind) {
    case OpKind::kEmbed:
      return "embed";
    case OpKind::kLayer:
      return "layer";
    case OpKind::kHead:
      return "head";
    case OpKind::kAdam:
      return "adam";
  }
  return "?";
}

std::string_view PipelineScheduleName(PipelineSchedule schedule) {
  return schedule == PipelineSchedule::kGPipe ? "gpipe" : "1f1b";
}

std::string_view OpPhaseName(OpPhase phase) {
  switch (phase) {
    case OpPhase::kForward:
      return "forward";
    case OpPhase::kBackward:
      return "backward";
    case OpPhase::kOptimizer:
      return "optimizer";
  }
  return "?";
}

uint64_t Workload::OpUnitBytes(const Op& op) const {
  uint64_t bytes = 0;
  for (int u : op.units) bytes += unit_bytes[u];
  return bytes;
}

uint64_t Workload::OpGatherBytes(const Op& op, const std::vector<bool>& kept) const {
  if (op.phase == OpPhase::kOptimizer) return 0;  // Adam updates the rank's own shards
  uint64_t bytes = 0;
  for (int c : op.chunks) {
    if (kept.empty() || !kept[c]) bytes += chunk_gather_bytes[c];
  }
  return bytes;
}

uint64_t LayerActivationBytes(int64_t s, int64_t b, int64_t h, int64_t a, int64_t t) {
  return LayerActivationBytes(s, b, h, a, t, /*sequence_parallel=*/false,
                              /*attention_core=*/true);
}

uint64_t LayerActivationBytes(int64_t s, int64_t b, int64_t h, int64_t a, int64_t t,
                              bool sequence_parallel, bool attention_core) {
  const uint64_t sbh = static_cast<uint64_t>(s) * b * h;
  const uint64_t core = attention_core ? 5 * static_cast<uint64_t>(a) * s * s * b : 0;
  const uint64_t whole = sequence_parallel ? 0 : 10 * sbh;  // kept whole on every TP rank
  const uint64_t split = (sequence_parallel ? 34 : 24) * sbh + core;
  const uint64_t tt = static_cast<uint64_t>(t);
  return whole + (split + tt - 1) / tt;
}

int HeldMicrobatches(PipelineSchedule schedule, int num_microbatches, int pp, int pp_rank) {
  if (schedule == PipelineSchedule::kGPipe) return num_microbatches;
  return std::min(num_microbatches, pp - pp_rank);
}

int HeldModelChunks(PipelineSchedule schedule, int num_microbatches, int pp, int vpp, int pp_rank) {
  const int total = num_microbatches * vpp;
  if (schedule == PipelineSchedule::kGPipe) return total;
  return std::min(total, (pp - pp_rank - 1) * 2 + (vpp - 1) * pp + 1);
}

int64_t HiddenSizeOf(const core::ModelSpec& model) {
  for (const core::ParamSpec& p : model.params) {
    if (p.role == core::ParamRole::kFinalNorm && p.shape.size() == 1) return p.shape[0];
  }
  return 0;
}

namespace {

// One op before its non-model bytes are known: what it stores and its transient.
struct Draft {
  Op op;
  uint64_t stores = 0;     // forward: bytes it adds to the stored set
  uint64_t frees = 0;      // backward: bytes of the stored set it frees after it runs
  uint64_t transient = 0;  // extra bytes only while it runs
};

std::vector<int> ChunksOf(const ChunkManager& chunks, const std::vector<int>& tensors) {
  std::set<int> set;
  for (int t : tensors) set.insert(chunks.ChunkOf(t));
  return {set.begin(), set.end()};
}

std::vector<int> Fp16Units(const std::vector<int>& chunks) {
  std::vector<int> units;
  for (int c : chunks) units.push_back(Fp16Unit(c));
  return units;
}

}  // namespace

StatusOr<Workload> BuildWorkload(const core::ParallelLayout& layout, const ChunkManager& chunks,
                                 const WorkloadConfig& config) {
  const core::LayoutConfig& lc = layout.config();
  const core::ModelSpec& model = layout.model();
  if (config.rank < 0 || config.rank >= layout.world_size()) {
    return Status::InvalidArgument(
        fmt::format("workload: rank {} is outside [0, {})", config.rank, layout.world_size()));
  }
  if (lc.vpp > 1 && config.schedule == PipelineSchedule::k1F1B &&
      config.num_microbatches % lc.pp != 0) {
    return Status::InvalidArgument(fmt::format(
        "workload: the interleaved 1F1B schedule (vpp {}) needs microbatches divisible by pp {}, "
        "got {}",
        lc.vpp, lc.pp, config.num_microbatches));
  }
  if (config.recompute && config.selective_recompute) {
    return Status::InvalidArgument(
        "workload: recompute (full) and selective_recompute are exclusive, as Megatron's "
        "--recompute-granularity");
  }
  if (config.micro_batch_size < 1 || config.seq_len < 1 || config.heads < 1 ||
      config.num_microbatches < 1) {
    return Status::InvalidArgument(fmt::format(
        "workload: micro_batch_size {}, seq_len {}, heads {} and num_microbatches {} must be >= 1",
        config.micro_batch_size, config.seq_len, config.heads, config.num_microbatches));
  }
  const int64_t h = config.hidden > 0 ? config.hidden : HiddenSizeOf(model);
  if (h < 1) {
    return Status::InvalidArgument(
        fmt::format("workload: model '{}' has no final norm to take the hidden size from; "
                    "set hidden",
                    model.name));
  }
  if (h % config.heads != 0) {
    return Status::InvalidArgument(
        fmt::format("workload: hidden {} is not a multiple of heads {}", h, config.heads));
  }
  const std::vector<TensorSpec> expected = RankTensors(layout, config.rank);
  if (expected.size() != chunks.tensors().size()) {
    return Status::InvalidArgument(
        fmt::format("workload: the chunk manager holds {} tensors, rank {} owns {}",
                    chunks.tensors().size(), config.rank, expected.size()));
  }
  for (size_t i = 0; i < expected.size(); ++i) {
    if (expected[i].name != chunks.tensors()[i].name ||
        expected[i].numel != chunks.tensors()[i].numel) {
      return Status::InvalidArgument(
          fmt::format("workload: chunk tensor {} is '{}', rank {} owns '{}' there", i,
                      chunks.tensors()[i].name, config.rank, expected[i].name));
    }
  }

  const core::ParallelCoords coords = layout.RankCoords(config.rank);
  // The rank's model chunks: one stage, or vpp of them with an interleaved schedule.
  std::vector<int> stages;
  for (int v = 0; v < lc.vpp; ++v) stages.push_back(layout.StageAt(coords.pp, v));
  const int stage = stages.front();
  const bool first = stage == 0;
  const bool last = stages.back() == layout.num_stages() - 1;
  std::vector<int64_t> my_layers;  // in stage order
  for (int st : stages) {
    const core::IndexRange r = layout.StageLayers(st);
    for (int64_t l = r.begin; l < r.end; ++l) my_layers.push_back(l);
  }
  if (config.seq_len % (2 * lc.cp) != 0 && lc.cp > 1) {
    return Status::InvalidArgument(fmt::format(
        "workload: seq_len {} is not a multiple of 2 x cp = {} (Note [Context parallelism in the "
        "step])",
        config.seq_len, 2 * lc.cp));
  }
  // Note [Context parallelism in the step]: the rank's s / cp tokens.
  const int64_t s = config.seq_len / lc.cp, b = config.micro_batch_size, t = lc.tp;
  const uint64_t sbh = static_cast<uint64_t>(s) * b * h;
  // Note [Activation memory]: Table 2's row for the config; full or selective recomputation
  // rebuilds the rest in the layer's backward. Megatron has no sequence parallelism at tp = 1.
  const bool sp = config.sequence_parallel && t > 1;
  const uint64_t a_full = LayerActivationBytes(s, b, h, config.heads, t, sp, true);
  const uint64_t layer_store =
      config.recompute             ? (sp ? (2 * sbh + t - 1) / t : 2 * sbh)
      : config.selective_recompute ? LayerActivationBytes(s, b, h, config.heads, t, sp, false)
                                   : a_full;
  const uint64_t rebuild = a_full - layer_store;

  // Group the rank's tensors by the op that uses them.
  const std::vector<core::OwnedShard> owned = layout.OwnedBy(config.rank);
  std::vector<int> embed_tensors, head_tensors;
  std::map<int64_t, std::vector<int>> layer_tensors;
  int64_t head_rows = 0;  // local vocab v of the head's weight
  for (size_t i = 0; i < owned.size(); ++i) {
    const int role_param = owned[i].tied_from >= 0 ? owned[i].tied_from : owned[i].param;
    const core::ParamSpec& p = model.params[role_param];
    const int ti = static_cast<int>(i);
    switch (p.role) {
      case core::ParamRole::kEmbedding:
        embed_tensors.push_back(ti);
        break;
      case core::ParamRole::kLayer:
        layer_tensors[p.layer].push_back(ti);
        break;
      case core::ParamRole::kFinalNorm:
        head_tensors.push_back(ti);
        break;
      case core::ParamRole::kHead:
        head_tensors.push_back(ti);
        head_rows = chunks.tensors()[i].numel / h;
        break;
    }
  }
  // A head tied to an embedding on the same stage shares its tensor (Note [Tied embeddings]).
  if (last) {
    for (const core::ParamSpec& p : model.params) {
      if (p.role != core::ParamRole::kHead || p.tied_to.empty()) continue;
      const int target = chunks.FindTensor(p.tied_to);
      if (target >= 0 &&
          std::find(head_tensors.begin(), head_tensors.end(), target) == head_tensors.end()) {
        head_tensors.push_back(target);
        head_rows = chunks.tensors()[target].numel / h;
      }
    }
  }
  const uint64_t logits = 4 * static_cast<uint64_t>(s) * b * head_rows;

  std::vector<Draft> fwd;
  const double tokens = static_cast<double>(s) * static_cast<double>(b);
  auto add_fwd = [&](OpKind kind, int index, const std::vector<int>& tensors, uint64_t stores,
                     uint64_t transient, double extra_flops) {
    Draft d;
    const bool lookup = kind == OpKind::kEmbed;
    int64_t params = 0;
    for (int ti : tensors) params += chunks.tensors()[ti].numel;
    // Note [Op cost]: a lookup costs nothing; the rest are matmuls over their weights.
    d.op.flops = lookup ? 0.0 : 2.0 * tokens * static_cast<double>(params) + extra_flops;
    d.op.name = kind == OpKind::kLayer ? fmt::format("fwd layer {}", index)
                                       : fmt::format("fwd {}", OpKindName(kind));
    d.op.kind = kind;
    d.op.index = index;
    d.op.phase = OpPhase::kForward;
    d.op.chunks = ChunksOf(chunks, tensors);
    d.op.units = Fp16Units(d.op.chunks);
    d.op.tensors = tensors;
    std::sort(d.op.tensors.begin(), d.op.tensors.end());
    d.op.tensors.erase(std::unique(d.op.tensors.begin(), d.op.tensors.end()), d.op.tensors.end());
    d.stores = stores;
    d.transient = transient;
    fwd.push_back(std::move(d));
  };
  // The rank's s queries against all cp * s keys (Note [Op cost]).
  const double attention = 4.0 * static_cast<double>(b) * static_cast<double>(s) *
                           static_cast<double>(config.seq_len) * static_cast<double>(h) /
                           static_cast<double>(t);
  if (first) add_fwd(OpKind::kEmbed, -1, embed_tensors, 0, 2 * sbh, 0);
  for (int64_t l : my_layers) {
    add_fwd(OpKind::kLayer, static_cast<int>(l), layer_tensors[l], layer_store, rebuild,
            attention);
  }
  if (last) add_fwd(OpKind::kHead, -1, head_tensors, logits, 0, 0);

  Workload w;
  w.stage = stage;
  w.layout = lc;
  w.coords = coords;
  w.dp_shards = std::max(1, chunks.dp_shards());
  for (const TensorSpec& t : chunks.tensors()) {
    w.tensor_elements.push_back(static_cast<uint64_t>(t.numel));
  }
  w.layer_activation = a_full;
  for (const Draft& d : fwd) w.stage_activation += d.stores;
  uint64_t others;
  if (lc.vpp == 1) {
    w.held_microbatches =
        HeldMicrobatches(config.schedule, config.num_microbatches, lc.pp, coords.pp);
    others = static_cast<uint64_t>(w.held_microbatches - 1) * w.stage_activation;
  } else {
    // Note [Activation memory], interleaved: K model-chunk microbatches of S / vpp each.
    const int chunks_held =
        HeldModelChunks(config.schedule, config.num_microbatches, lc.pp, lc.vpp, coords.pp);
    w.held_microbatches = (chunks_held + lc.vpp - 1) / lc.vpp;
    const uint64_t held = static_cast<uint64_t>(chunks_held) * w.stage_activation / lc.vpp;
    others = held > w.stage_activation ? held - w.stage_activation : 0;
  }

  uint64_t stored = 0;
  for (Draft& d : fwd) {
    stored += d.stores;
    d.op.non_model_bytes = others + stored + d.transient;
    d.op.stored_activation_bytes = others + stored;
    w.ops.push_back(d.op);
  }
  for (auto it = fwd.rbegin(); it != fwd.rend(); ++it) {
    Op op = it->op;
    op.phase = OpPhase::kBackward;
    op.name.replace(0, 3, "bwd");
    uint64_t transient;
    switch (op.kind) {
      case OpKind::kEmbed:
        transient = 2 * sbh;
        break;
      case OpKind::kHead:
        transient = logits;
        break;
      default:
        transient = 4 * sbh + rebuild;
    }
    op.non_model_bytes = others + stored + transient;
    op.stored_activation_bytes = others + stored;
    // Recomputation re-runs a layer's forward in its backward (Note [Op cost]).
    op.flops = (config.recompute && op.kind == OpKind::kLayer ? 3.0 : 2.0) * it->op.flops;
    // Selective recomputation re-runs the attention core's QK^T and AV.
    if (config.selective_recompute && op.kind == OpKind::kLayer) op.flops += attention;
    stored -= it->stores;
    w.ops.push_back(std::move(op));
  }
  const int num_chunks = static_cast<int>(chunks.chunks().size());
  for (int c = 0; c < num_chunks; ++c) {
    Op op;
    op.name = fmt::format("adam chunk {}", c);
    op.kind = OpKind::kAdam;
    op.index = c;
    op.phase = OpPhase::kOptimizer;
    op.chunks = {c};
    op.units = {Fp16Unit(c), OptimUnit(c)};
    w.ops.push_back(std::move(op));
  }

  w.unit_bytes.resize(2 * num_chunks);
  w.chunk_gather_bytes.resize(num_chunks);
  w.chunk_param_bytes.resize(num_chunks);
  w.chunk_elements.resize(num_chunks);
  w.chunk_valid_elements.resize(num_chunks);
  w.chunk_num_tensors.resize(num_chunks);
  // The rank's shard of every chunk: its index in the layout's shard group when the chunks are
  // sharded over that group (as `chunks` and `place` shard them), else its DP coordinate modulo
  // the shard count (a caller sharding over dp_shards consecutive DP ranks).
  const int dp_shards = chunks.dp_shards();
  const int shard = dp_shards <= 1                           ? 0
                    : dp_shards == layout.shard_group_size() ? layout.ShardIndex(coords)
                                                             : coords.dp % dp_shards;
  for (int c = 0; c < num_chunks; ++c) {
    // Note [Placement units]: m and v cover the shard's valid elements only.
    const uint64_t valid = static_cast<uint64_t>(chunks.ShardValidElements(c, shard));
    w.chunk_valid_elements[c] = valid;
    w.chunk_num_tensors[c] = chunks.chunks()[c].num_tensors;
    w.unit_bytes[Fp16Unit(c)] =
        chunks.ShardBytes(c, ChunkKind::kParamFp16) + chunks.ShardBytes(c, ChunkKind::kGradFp16);
    w.unit_bytes[OptimUnit(c)] = chunks.ShardBytes(c, ChunkKind::kMasterFp32) +
                                 valid * (ChunkKindElementBytes(ChunkKind::kAdamM) +
                                          ChunkKindElementBytes(ChunkKind::kAdamV));
    w.chunk_gather_bytes[c] = chunks.GatherBytes(c) - chunks.ShardBytes(c, ChunkKind::kParamFp16);
    w.chunk_param_bytes[c] = chunks.ShardBytes(c, ChunkKind::kParamFp16);
    w.chunk_elements[c] = w.chunk_param_bytes[c] / 2;  // fp16
  }
  for (Op& op : w.ops) {
    if (op.phase == OpPhase::kOptimizer) op.hbm_bytes = 2 * w.OpUnitBytes(op);
  }
  for (uint64_t bytes : w.unit_bytes) w.total_model_bytes += bytes;
  return w;
}

StatusOr<RankStep> BuildRankStep(const core::ParallelLayout& layout, const WorkloadConfig& config,
                                 const ChunkSearchOptions& search, bool separate_grad) {
  if (config.rank < 0 || config.rank >= layout.world_size()) {
    return Status::InvalidArgument(fmt::format("workload: rank {} is outside the world of {}",
                                               config.rank, layout.world_size()));
  }
  std::vector<TensorSpec> tensors = RankTensors(layout, config.rank);
  StatusOr<ChunkSearchResult> found =
      SearchChunkSize(tensors, WithModelDefaults(search, layout.model()));
  if (!found.ok()) return found.status();
  StatusOr<ChunkManager> chunks =
      ChunkManager::Make(std::move(tensors), found->ChunkOptionsFor(separate_grad));
  if (!chunks.ok()) return chunks.status();
  StatusOr<Workload> workload = BuildWorkload(layout, *chunks, config);
  if (!workload.ok()) return workload.status();
  return RankStep{found->chunk_size, std::move(*chunks), std::move(*workload)};
}

}  // namespace twinsim::placement
