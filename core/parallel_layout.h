// ParallelLayout: where every parameter of a model lives when it is trained with data, pipeline,
// tensor and expert parallelism — which (dp, pp, tp, ep) coordinates a global rank has, which
// transformer blocks each pipeline stage holds, and which slice of each parameter a rank stores.
//
// Seed policies, the parity / replica properties and placement all ask these questions; one pure
// answer, following Megatron-LM's conventions (see the Notes at the end of this file), keeps every
// policy and backend in agreement. Building one is cheap: no per-rank state is stored.
#ifndef TWINSIM_CORE_PARALLEL_LAYOUT_H_
#define TWINSIM_CORE_PARALLEL_LAYOUT_H_

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "core/block2d.h"
#include "core/model_spec.h"
#include "core/status.h"

namespace twinsim::core {

// How transformer blocks are split over the pipeline's model chunks (Note [Pipeline partition]).
enum class PipelinePartition : uint8_t {
  kByLayers,  // contiguous, as even as possible in block count
  kByParams,  // contiguous, minimizing the largest chunk's parameter count
};

// Whose conventions place the sharded-data-parallel and expert axes (Note [Sharded data
// parallelism]). The dense rank order is the same for both (Note [Megatron rank order]).
enum class MeshConvention : uint8_t {
  kMegatron,    // Megatron-LM: parameters replicated over cp; experts over dp x cp
  kTorchtitan,  // torchtitan's ParallelDims: FSDP shards over dp_shard x cp (its "fsdp" mesh)
};

// "megatron", "torchtitan".
std::string_view MeshName(MeshConvention mesh);

struct LayoutConfig {
  int dp = 1;   // data-parallel size: dp_replicate * dp_shard ranks
  int pp = 1;   // pipeline-parallel size
  int tp = 1;   // tensor-parallel size
  int cp = 1;   // context-parallel size (the sequence is split; see Note [Context parallelism])
  // Sharded data parallelism (FSDP2 fully_shard, ZeRO-3): the dp ranks form dp / dp_shard
  // replicas (HSDP's dp_replicate) of dp_shard ranks each, which split every parameter on
  // dim 0 as torch.chunk does (Note [Sharded data parallelism]). 1: no sharding. Divides dp.
  int dp_shard = 1;
  MeshConvention mesh = MeshConvention::kMegatron;
  int ep = 1;   // expert-parallel size; splits the dp x cp ranks for expert params
  // Expert tensor-parallel size (Megatron's --expert-tensor-parallel-size): expert parameters
  // split over etp ranks instead of tp (Note [Expert parallelism]). 0: equal to tp, Megatron's
  // default.
  int etp = 0;
  int vpp = 1;  // virtual stages (model chunks) per pipeline rank; Megatron's interleaved schedule
  PipelinePartition partition = PipelinePartition::kByLayers;
  // Megatron's --make-vocab-size-divisible-by: vocab-parallel params are padded to a multiple of
  // vocab_divisible_by * tp rows (Note [Vocab padding]). 1 pads only to a multiple of tp.
  int vocab_divisible_by = 128;
  // False: the vocabulary is not padded and kVocab splits it as kColumn / kRow split theirs
  // (Note [Uneven TP shards]), as every framework but Megatron does; vocab_divisible_by is then
  // unused. Seed policies choose it (SeedPolicy::vocab_rule, policies/seed/policy.h).
  bool pad_vocab = true;
};

// A rank's position in the parallel grid. `dp_shard` and `dp_replicate` are derived from `dp`
// (dp = dp_replicate * dp_shard_size + dp_shard), `etp`, `ep` and `expert_dp` from the rank's
// place in its stage (Note [Expert parallelism]: with etp == tp, dp * cp_size + cp =
// expert_dp * ep_size + ep and etp = tp).
struct ParallelCoords {
  int dp = 0;
  int pp = 0;
  int tp = 0;
  int cp = 0;
  int dp_shard = 0;      // rank within its replica's sharding group
  int dp_replicate = 0;  // which replica (HSDP's replicate dimension)
  int ep = 0;            // rank within its expert-parallel group
  int expert_dp = 0;     // which expert replica (expert-data-parallel rank)
  int etp = 0;           // rank within its expert-tensor-parallel group
  bool operator==(const ParallelCoords&) const = default;
};

// A half-open index range [begin, end).
struct IndexRange {
  int64_t begin = 0;
  int64_t end = 0;
  int64_t size() const { return end - begin; }
  bool empty() const { return end <= begin; }
  bool operator==(const IndexRange&) const = default;
};

// Shards of 2-D views are described with core::Block2D (core/block2d.h): the [shape[0],
// prod(shape[1:])] view of the tensor (a 1-D tensor is [n, 1], a scalar [1, 1]).

// One TP rank's slice of one parameter: a range along one dimension, or the whole tensor (then
// range, padded_range and padded_extent are unused). Cheap to copy; the methods take the shape
// of the parameter ShardOf was asked about (`model().params[i].shape`). REQUIRES of every method:
// `shape` is that shape.
struct TpShard {
  int dim = -1;               // the split dimension; -1 when this rank holds the whole tensor
  IndexRange range;           // along `dim`, inside the parameter (may be empty for padded vocab)
  IndexRange padded_range;    // along `dim`, inside the padded extent (== range unless kVocab)
  int64_t padded_extent = 0;  // size of `dim` after vocab padding (== shape[dim] unless kVocab)

  bool whole() const { return dim < 0; }
  // Per-dimension ranges of this shard inside the parameter (every dimension but `dim` whole).
  std::vector<IndexRange> Ranges(std::span<const int64_t> shape) const;
  // As Ranges, inside the padded tensor (the one Megatron allocates and initializes).
  std::vector<IndexRange> PaddedRanges(std::span<const int64_t> shape) const;
  // The parameter's shape with `dim` padded; `shape` itself when nothing is padded.
  std::vector<int64_t> PaddedShape(std::span<const int64_t> shape) const;
  // Elements of the parameter (unpadded) this shard holds / elements of the padded shard.
  int64_t Numel(std::span<const int64_t> shape) const;
  int64_t PaddedNumel(std::span<const int64_t> shape) const;
  // The shard as a block of the [shape[0], prod(rest)] view, or nullopt when it is not one
  // rectangle of that view (a split along dim k >= 2 with some of dims 1..k-1 larger than 1).
  std::optional<Block2D> AsBlock2D(std::span<const int64_t> shape) const;
  // As AsBlock2D, of the padded tensor ([padded_extent, rest] for vocab-parallel params).
  std::optional<Block2D> AsPaddedBlock2D(std::span<const int64_t> shape) const;
};

// A parameter's storage on one pipeline stage. A parameter appears once, except that a tied
// parameter on another stage than its target gives the target a second placement there
// (Note [Tied embeddings]); `param` is then the target and `tied_from` the tied parameter.
struct Placement {
  int param = -1;      // index into ModelSpec::params of the stored tensor
  int stage = -1;      // model chunk, 0 .. num_stages() - 1 (Note [Pipeline partition])
  int tied_from = -1;  // the tied parameter that put a copy of `param` here, or -1
  bool tied_copy() const { return tied_from >= 0; }
  bool operator==(const Placement&) const = default;
};

// What one rank stores: a placement on one of its virtual stages, and its TP slice of it.
struct OwnedShard {
  int param = -1;          // index into ModelSpec::params of the stored tensor
  int stage = -1;          // model chunk (global stage order)
  int virtual_stage = -1;  // 0 .. vpp - 1 on this pipeline rank
  int tied_from = -1;      // as Placement::tied_from
  TpShard shard;           // of params[param]
  // The rows (dim 0 of the TP shard, counted inside it) that this rank keeps once parameters
  // are sharded over its ShardGroup (Note [Sharded data parallelism]): [0, rows) of the TP
  // shard when nothing is sharded, possibly empty. Seed policies initialize the whole TP
  // shard (init, then shard); memory and storage follow `rows`.
  IndexRange rows;
};

// An immutable, validated layout of one model over dp * pp * tp ranks. Copyable; every method is
// const, pure and thread-safe. Per-rank queries cost O(parameters on that rank's stages).
class ParallelLayout {
 public:
  // Validates `config` against `model` and builds the layout (a copy of `model` is kept).
  // Returns InvalidArgument naming the field and the values when the layout is impossible:
  // non-positive sizes, dp_shard not dividing dp, vpp > 1 with pp == 1, ep not dividing dp * cp
  // (etp == tp) or ep * etp not dividing tp * cp * dp, ep not dividing the expert count, ep > 1
  // or etp != tp under the torchtitan convention (not modelled), an expert split dimension
  // smaller than etp,
  // pp * vpp > num_layers, a column / row split dimension smaller than tp (empty shards are not
  // allowed, Note [Uneven TP shards]), or a malformed model (layer out of range, tp_dim outside
  // the shape, kVocab with tp_dim != 0, tied_to naming no parameter or a tied one or another
  // shape, duplicate names, a negative size). Costs O(params + num_layers^2) at worst.
  static StatusOr<ParallelLayout> Make(const LayoutConfig& config, const ModelSpec& model);

  const LayoutConfig& config() const { return config_; }
  const ModelSpec& model() const { return model_; }
  int world_size() const { return world_; }
  int num_stages() const { return num_stages_; }    // pp * vpp model chunks
  int num_experts() const { return num_experts_; }  // 1 + the largest expert index, or 0
  // The expert tensor-parallel size: config().etp, or tp when that is 0.
  int expert_tp() const { return config_.etp > 0 ? config_.etp : config_.tp; }
  // How many ranks split params[param]: expert_tp() for an expert parameter, else tp.
  int SplitWays(int param) const {
    return model_.params[param].expert >= 0 ? expert_tp() : config_.tp;
  }

  // ---- Ranks (Note [Megatron rank order]) ----

  // REQUIRES: 0 <= rank < world_size().
  ParallelCoords RankCoords(int rank) const;
  // The rank at coords.dp / pp / tp (coords.ep and expert_dp are ignored: they follow from dp),
  // or -1 when one of them is out of range.
  int RankOf(const ParallelCoords& coords) const;
  // Members of `rank`'s groups, ascending, `rank` included. REQUIRES: 0 <= rank < world_size().
  std::vector<int> TpGroup(int rank) const;         // same dp, pp, cp
  std::vector<int> DpGroup(int rank) const;         // same pp, tp, cp
  std::vector<int> PpGroup(int rank) const;         // same dp, tp, cp
  std::vector<int> CpGroup(int rank) const;         // same dp, pp, tp
  std::vector<int> EpGroup(int rank) const;         // same pp, etp, expert_dp
  std::vector<int> ExpertDpGroup(int rank) const;   // same pp, etp, ep
  // The ranks that split each parameter between them (Note [Sharded data parallelism]), in
  // shard order: same pp, tp and dp_replicate, and same cp unless the torchtitan convention
  // folds cp in. One rank when nothing is sharded.
  std::vector<int> ShardGroup(int rank) const;
  // The replicas of `rank`'s shards: same pp, tp, cp and dp_shard (HSDP's replicate group).
  std::vector<int> ReplicateGroup(int rank) const;
  // The size of ShardGroup and `rank`'s index in it.
  int shard_group_size() const;
  int ShardIndex(const ParallelCoords& coords) const;
  // The first and last ranks of rank's pipeline group (one rank when pp == 1): the ranks that
  // hold word embeddings and all-reduce a tied embedding's gradient (Note [Tied embeddings]).
  std::vector<int> EmbeddingGroup(int rank) const;

  // ---- Pipeline stages (Note [Pipeline partition]) ----

  // Model chunk `virtual_stage * pp + pp_rank`. REQUIRES: both in range.
  int StageAt(int pp_rank, int virtual_stage) const;
  // REQUIRES: 0 <= stage < num_stages().
  int PipelineRankOf(int stage) const { return stage % config_.pp; }
  int VirtualStageOf(int stage) const { return stage / config_.pp; }
  // Transformer blocks [begin, end) of `stage`; never empty. REQUIRES: stage in range.
  IndexRange StageLayers(int stage) const;
  // The stage holding block `layer`. REQUIRES: 0 <= layer < model().num_layers.
  int StageOfLayer(int layer) const { return layer_stage_[layer]; }
  // The stage where parameter `param` is used: its block's stage, the first stage for
  // embeddings, the last for the final norm and head (tied or not). REQUIRES: param in range.
  int StageOfParam(int param) const { return param_stage_[param]; }
  // Every placement, stage-major; within a stage in registration order (a tied copy sits at
  // its tied parameter's position).
  std::span<const Placement> Placements() const { return placements_; }
  // The placements of one stage. REQUIRES: 0 <= stage < num_stages().
  std::span<const Placement> StagePlacements(int stage) const;
  // Sum of Numel over the placements of `stage` (tied copies included, before any sharding).
  int64_t StageNumel(int stage) const;

  // ---- Tensor, sharded-data and expert parallelism (Notes [Uneven TP shards], [Sharded data
  // parallelism], [Expert parallelism]) ----

  // Rows [begin, end) of `rows` that piece `index` of `count` keeps under torch.chunk(count,
  // dim=0): pieces of ceil(rows / count) rows, the last ones shorter or empty.
  // REQUIRES: rows >= 0, 0 <= index < count.
  static IndexRange ChunkRows(int64_t rows, int count, int index);

  // Slice `index` of params[param] (its own tp_split / tp_dim) among SplitWays(param) ranks:
  // the tp_rank's for a dense parameter, the etp rank's for an expert parameter.
  // REQUIRES: param in range, 0 <= index < SplitWays(param).
  TpShard ShardOf(int param, int index) const;
  // The expert-parallel rank holding expert parameter `param`, or -1 for a dense parameter.
  int ExpertOwner(int param) const;
  // What `rank` stores, in stage order then placement order; dense parameters of ranks that
  // differ only in dp are identical. REQUIRES: 0 <= rank < world_size().
  std::vector<OwnedShard> OwnedBy(int rank) const;

 private:
  ParallelLayout() = default;

  LayoutConfig config_;
  ModelSpec model_;
  int world_ = 0;
  int num_stages_ = 0;
  int num_experts_ = 0;
  std::vector<int> stage_layer_begin_;  // num_stages_ + 1 boundaries
  std::vector<int> layer_stage_;        // per layer
  std::vector<int> param_stage_;        // per param
  std::vector<int64_t> param_numel_;    // per param
  std::vector<int64_t> padded_extent_;  // per param: padded size of tp_dim (0 if replicated)
  std::vector<Placement> placements_;   // stage-major
  std::vector<int> stage_offset_;       // num_stages_ + 1 offsets into placements_
  // OwnedBy's index (Note [Owned-shard index] in parallel_layout.cc): indices into placements_
  // of the dense placements, by stage (num_stages_ + 1 offsets), and of the expert placements,
  // by (stage, EP rank) (num_stages_ * ep + 1 offsets); each list ascending.
  std::vector<int> dense_;
  std::vector<int> dense_offset_;
  std::vector<int> expert_;
  std::vector<int> expert_offset_;
};

// Note [Megatron rank order]
// ~~~~~~~~~~~~~~~~~~~~~~~~~~
// Global ranks enumerate the grid with tp fastest, then cp, then dp, then pp:
//     rank = ((pp_rank * dp + dp_rank) * cp + cp_rank) * tp + tp_rank,
// and within dp, dp_rank = dp_replicate * dp_shard_size + dp_shard (shard ranks adjacent).
// With cp = 1 this is the formula below. torchtitan builds the same order: ParallelDims
// (torchtitan/distributed/parallel_dims.py @b5bcd76c, lines 276-330) unflattens the world mesh
// into ("pp", "dp_replicate", "dp_shard", "cp", "tp") (its spmd_types storage mesh) or
// ("pp", "dp_replicate", "fsdp", "tp") with fsdp = dp_shard * cp unflattened from the same
// ranks, row-major, so tp is fastest and pp slowest in both frameworks. Where they differ is
// which ranks shard parameters and hold experts (Notes [Sharded data parallelism],
// [Expert parallelism]). With cp = 1:
//     rank = pp_rank * (dp * tp) + dp_rank * tp + tp_rank.
// This is Megatron-LM's default order "tp-cp-ep-dp-pp" (megatron/core/parallel_state.py:
// initialize_model_parallel builds a RankGenerator whose generate_masked_orthogonal_rank_groups
// gives global_rank = tp_rank + dp_rank * tp + pp_rank * tp * dp, with cp = 1 and, for dense
// parameters, ep = 1). With tp = 2, pp = 4 on 16 ranks, as in that function's docstring:
// TP groups [0,1] [2,3] ..., DP groups [0,2] [1,3] [4,6] ..., PP groups [0,4,8,12] [1,5,9,13] ...
// Adjacent ranks share a TP group, so TP traffic stays inside a node.
//
// Note [Context parallelism]
// ~~~~~~~~~~~~~~~~~~~~~~~~~~
// cp ranks split the sequence, not the weights: every cp rank of a (dp, pp, tp) position
// computes with the same parameters, so they hold the same TP shards, like dp replicas
// (Megatron's "dp-cp" gradient group; torchtitan's "loss" mesh includes cp). Only the
// torchtitan convention also shards storage over cp (Note [Sharded data parallelism]).
//
// Note [Sharded data parallelism]
// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
// FSDP2's fully_shard and ZeRO-3 store each parameter split on dim 0 over a group of ranks:
// torch.chunk(group_size, dim=0) of the tensor the rank would otherwise hold (its TP shard),
// ceil(rows / n)-row pieces with the last ones shorter or empty (FSDP2's
// _init_sharded_param pads them to equal size for its all-gather; the padding holds no
// parameter). The group (ShardGroup):
// - kMegatron: the dp_shard ranks of one replica (same pp, tp, cp, dp_replicate); cp ranks
//   keep whole copies. With dp_shard = dp this is ZeRO-3 over the whole DP group.
// - kTorchtitan: ParallelDims' "fsdp" mesh, dp_shard * cp ranks (parallel_dims.py @b5bcd76c:
//   "fsdp = dp_shard * cp"; its docstring: "we always assume that when cp is used, FSDP is
//   also applied ... even if there may be no data parallelism"), index dp_shard * cp + cp_rank.
// The dp / dp_shard replicas (HSDP's dp_replicate, ReplicateGroup) hold identical pieces.
// Expert parameters are not sharded over dp_shard here (torchtitan's "efsdp" mesh for experts
// borrows tp as well, which is not modelled): their `rows` are whole.
//
// Note [Expert parallelism]
// ~~~~~~~~~~~~~~~~~~~~~~~~~
// Megatron builds expert groups with a second RankGenerator over the same ranks, order
// "tp-ep-dp-pp" with expert-tensor size etp (--expert-tensor-parallel-size, default tp;
// Megatron-LM d98e8a64 megatron/core/parallel_state.py initialize_model_parallel builds
// expert_decoder_rank_generator with tp=expert_tensor_parallel_size, ep, dp=expert data
// parallel size, order "tp-ep-dp-pp"): the S = tp * cp * dp ranks of a pipeline stage, numbered
// y = rank % S in the dense order, are split as y = (expert_dp * ep + ep_rank) * etp + etp_rank.
// ep * etp must divide S. With etp == tp this is the dense numbering's x = dp_rank * cp + cp_rank
// split as x = expert_dp * ep + ep_rank with etp_rank = tp_rank, so ep | dp * cp; with cp = 1,
// dp_rank = expert_dp * ep + ep_rank. Expert parameters split over etp ranks (ShardOf with
// the etp rank, SplitWays); with etp < tp an expert shard is replicated over tp / etp of the
// dense TP ranks' positions, with etp > tp it spans several dp or cp positions. torchtitan's EP borrows dp_shard * cp * tp ranks
// ("efsdp", "ep" sparse mesh) and is not modelled: ep > 1 is refused under kTorchtitan.
// Expert e (ParamSpec::expert) lives on ep_rank e / (num_experts / ep), like Megatron's
// local_expert_indices; num_experts must divide by ep. One expert replica is the set of ranks
// with equal expert_dp; dense parameters replicate over all dp ranks. ep > 1 on a model without
// expert parameters is accepted and changes nothing.
//
// Note [Pipeline partition]
// ~~~~~~~~~~~~~~~~~~~~~~~~~
// The num_layers blocks are split into S = pp * vpp contiguous model chunks ("stages", numbered in
// model order). Chunk c lives on pipeline rank c % pp as its virtual stage c / pp, as in
// Megatron's interleaved schedule: with 16 blocks, pp = 4, vpp = 2, pipeline rank 0 holds blocks
// [0, 1] and [8, 9]. So stage order differs from rank order whenever vpp > 1. Every chunk holds at
// least one block (pp * vpp > num_layers is rejected; Megatron's standalone embedding stage with
// zero blocks is not modelled).
// - kByLayers: each chunk gets num_layers / S blocks and the first num_layers % S chunks (model
//   order) one more, as DeepSpeed's partition_uniform does. Megatron itself rejects a split that
//   does not divide (transformer_block.py get_num_layers_to_build asserts
//   num_layers % pp == 0 and (num_layers / pp) % vpp == 0) unless the first/last stage sizes are
//   given; where it divides, both agree.
// - kByParams: minimizes the largest chunk's parameter count, where embeddings count toward
//   chunk 0 and the final norm and head (a tied head too: its copy is real) toward chunk S - 1,
//   like DeepSpeed's partition_method="parameters". The bottleneck is found by binary search over
//   a greedy feasibility check (optimal for contiguous splits); among the optimal splits, each
//   chunk in turn takes the feasible end closest to an equal share of what remains.
// Embeddings (role kEmbedding) live on chunk 0; the final norm and head on chunk S - 1.
//
// Note [Tied embeddings]
// ~~~~~~~~~~~~~~~~~~~~~~
// A parameter with tied_to (GPT-2's lm_head.weight -> transformer.wte.weight) shares storage with
// its target. When both are on one stage (S == 1) there is one tensor. Otherwise the tied
// parameter's stage holds its own copy of the target, as Megatron keeps word embeddings on the
// first and last stage and all-reduces their gradients over the embedding group
// (parallel_state.py default_embedding_ranks): Placements() lists the target twice, the second
// time with tied_from = the tied parameter. The copy is sharded like the target. Coverage
// ("every element exactly once per replica") counts home placements; copies are checked apart.
//
// Note [Uneven TP shards]
// ~~~~~~~~~~~~~~~~~~~~~~~
// kColumn / kRow split shape[tp_dim] = n into tp contiguous ranges; the first n % tp ranks get
// n / tp + 1 indices, the rest n / tp (torch.tensor_split / numpy.array_split). Megatron does not
// define this case: its divide() asserts n % tp == 0; DTensor's Shard uses torch.chunk instead
// (ceil-sized pieces, the last ones smaller or empty), so a DTensor model must compute its own
// offsets where n % tp != 0. Empty shards are rejected (n < tp is an error): no framework builds
// a rank with a zero-width Linear, and every rank then holds something of every split parameter.
// kVocab is the exception that padding makes safe: its padded shards are never empty, though the
// real rows of the last ranks can be (Note [Vocab padding]).
//
// Note [Vocab padding]
// ~~~~~~~~~~~~~~~~~~~~
// kVocab splits dim 0 (tp_dim must be 0) as Megatron's VocabParallelEmbedding does: the vocab V
// is first padded to Vp = ceil(V / m) * m with m = vocab_divisible_by * tp
// (_vocab_size_with_padding), and each rank gets Vp / tp rows, [r * Vp / tp, (r + 1) * Vp / tp).
// padded_range / padded_extent give that view (what Megatron allocates and initializes,
// GPT-2's 50257 -> 50304 at tp = 1); range is its intersection with the real rows [0, V), which
// is shorter, or empty, on the last ranks. Padding applies even at tp = 1, as in Megatron
// (megatron/core/tokenizers/utils/build_tokenizer.py:133-147 vocab_size_with_padding @d98e8a64).
// Padding is Megatron's alone: Hugging Face, DTensor / torchtitan and ColossalAI allocate V rows.
// With pad_vocab = false, Vp = V and the rows are split as Note [Uneven TP shards] splits any
// dimension (V < tp is then rejected like any empty shard).

}  // namespace twinsim::core

#endif  // TWINSIM_CORE_PARALLEL_LAYOUT_H_
