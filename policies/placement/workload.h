// Workload: one rank's transformer training step as the sequence of operators a placement
// policy sees — forward layer by layer over the rank's own pipeline stage and TP shards,
// backward in reverse, then Adam over every chunk — each with the chunk units it touches and
// its non-model (activation + temporary) memory.
//
// Placement policies (placement.h) replay this sequence against a GPU and a host budget; the
// activation figures come from the model's shape (Note [Activation memory]).
#ifndef TWINSIM_POLICIES_PLACEMENT_WORKLOAD_H_
#define TWINSIM_POLICIES_PLACEMENT_WORKLOAD_H_

#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/parallel_layout.h"
#include "core/status.h"
#include "policies/placement/chunk.h"

namespace twinsim::placement {

enum class PipelineSchedule : uint8_t { kGPipe = 0, k1F1B };
// "gpipe", "1f1b".
std::string_view PipelineScheduleName(PipelineSchedule schedule);

struct WorkloadConfig {
  int rank = 0;                  // global rank (core/parallel_layout.h Note [Megatron rank order])
  int64_t micro_batch_size = 1;  // b: sequences per microbatch
  int64_t seq_len = 1024;        // the whole sequence; each rank computes on s = seq_len / cp
  int64_t hidden = 0;            // h; 0: the final norm's width (HiddenSizeOf)
  int64_t heads = 0;             // a; REQUIRED >= 1
  PipelineSchedule schedule = PipelineSchedule::k1F1B;
  int num_microbatches = 1;  // M
  bool recompute = false;    // full activation recomputation (checkpoint every layer)
  // Megatron's --sequence-parallel: the layer norms' and dropouts' activations split over the
  // TP ranks too (Note [Activation memory]); Megatron turns it off at tp = 1
  // (megatron/training/arguments.py:1434-1439 @d98e8a64), where it changes nothing.
  bool sequence_parallel = false;
  // Megatron's --recompute-granularity selective: the attention core (scores, softmax, its
  // dropout) is rebuilt in backward, not stored. Exclusive with `recompute`.
  bool selective_recompute = false;
};

// Note [Activation memory]
// ~~~~~~~~~~~~~~~~~~~~~~~~
// Bytes of activations one transformer layer keeps for backward, per microbatch, fp16, from
// Korthikanti et al. 2022 "Reducing Activation Recomputation in Large Transformer Models",
// Table 2, with tensor parallelism t and no sequence parallelism:
//     A = s*b*h*(10 + 24/t + 5*a*s/(h*t))  =  10sbh + ceil((24sbh + 5as^2b) / t)
// (t = 1 gives the paper's sbh(34 + 5as/h)). The 10sbh are the layer norms' inputs and dropout
// masks that every TP rank keeps whole. With full recomputation a layer keeps only its fp16
// input, 2sbh, and rebuilds A during its backward.
// Table 2's other rows: sequence parallelism splits those 10sbh over t as well,
//     A_sp = sbh(34/t + 5as/(ht))  =  ceil((34sbh + 5as^2b) / t);
// selective recomputation stores A without the attention core's 5as^2b / t (sbh(10 + 24/t),
// or sbh(34/t) with sequence parallelism) and rebuilds that term during the layer's backward
// (a transient there, and its QK^T and AV matmuls again in Note [Op cost]). With sequence
// parallelism the hidden states between layers are [s/t, b, h], so full recomputation keeps
// ceil(2sbh / t). (Megatron-LM's estimate, training/theoretical_memory_usage.py:308-379,
// compute_activation_memory, uses sbh(18 + 4 ffn/h)/t for sequence parallelism with selective
// recomputation: Table 2's 34/t with the MLP's 16 written as 4 ffn/h.) The other terms below
// (embedding output, logits, gradients) are not split by sequence parallelism here.
// With context parallelism s is the rank's own s = seq_len / cp tokens in every term (Note
// [Context parallelism in the step]).
// Per op (n = the peak microbatch's stored bytes so far on this stage):
//   embed fwd   stores 0              transient 2sbh (its output)
//   layer fwd   stores A (2sbh)       transient 0 (A - 2sbh: the full layer before dropping)
//   head fwd    stores 4sbv           transient 0   (fp32 logits of the v = V/t local vocab)
//   head bwd    frees its 4sbv        transient 4sbv (logit gradients)
//   layer bwd   frees its A (2sbh)    transient 4sbh (input/output grads) (+ A - 2sbh rebuilt)
//   embed bwd   -                     transient 2sbh
//   adam        -                     0
// (the parenthesized figures are with recomputation). An op's non-model bytes are
//   (K - 1) * S  +  n (stored before it, its own stores included)  +  transient,
// where S is one microbatch's stored bytes over the stage and K the microbatches a stage holds
// at its peak: GPipe all M; 1F1B min(M, pp - pp_rank) (the warm-up depth of stage pp_rank). The
// op sequence is that peak microbatch's pass; the other K - 1 microbatches' activations stay
// resident throughout it. Activations are freed before the optimizer step.
// Interleaved (vpp > 1): a pipeline rank holds vpp model chunks; the op sequence is one
// microbatch through all of them in order (embed, chunk 0's layers, ..., chunk vpp-1's layers,
// head), and the others are K model-chunk microbatches of S / vpp each (HeldModelChunks), so
//   (K * S / vpp - S)  +  n  +  transient;
// held_microbatches reports ceil(K / vpp). Megatron requires M divisible by pp here.

// Note [Context parallelism in the step]
// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
// cp ranks split every sequence and keep whole parameters (core/parallel_layout.h Note
// [Context parallelism]): each rank's chunks are those of cp = 1, and its activations are
// those of its own seq_len / cp tokens. Megatron-LM @d98e8a64 cuts each sequence into 2 * cp
// pieces and gives cp rank r pieces r and 2 * cp - 1 - r
// (megatron/core/utils.py:2504-2562, _get_batch_on_this_cp_rank_per_sequence_balancing, the
// view at lines 2548-2556), and requires seq_length % (2 * cp) == 0
// (megatron/training/arguments.py:1335-1338); its guide says "the activation memory footprint
// per GPU is also smaller by the CP degree" (docs/user-guide/features/context_parallel.md:34).
// So the step is built with s = seq_len / cp in Note [Activation memory]: every sbh term, the
// logits, and the attention-score term 5as^2b, which becomes one (s/cp) x (s/cp) block per
// head, the block a ring step of context parallelism computes at a time. (Megatron's CP runs
// flash attention, which stores no scores at all; the formula, without flash attention,
// keeps its scores term at the block size.) A layer's attention matmuls take the rank's s
// queries against all seq_len keys (Note [Op cost]). Gradient reduction over the cp ranks and
// the KV exchange are not modelled.

// How the step's op is used.
enum class OpPhase : uint8_t { kForward = 0, kBackward, kOptimizer };
std::string_view OpPhaseName(OpPhase phase);

// Note [Placement units]
// ~~~~~~~~~~~~~~~~~~~~~~
// Policies move two units per chunk c (chunk.h Note [Chunk byte accounting]):
//   unit 2c     the fp16 part: this rank's shard of param-fp16 (+ grad-fp16 when separate)
//   unit 2c + 1 the optimizer part: its shard of master-fp32 (padding included: Gemini's fp32
//               chunk has the fp16 chunk's size) and Adam m and v over the shard's *valid*
//               elements only. GeminiOptimizer gives the inner optimizer one fake parameter
//               per tensor range of the shard (ColossalAI 4f9953be
//               zero/gemini/gemini_optimizer.py:353-385, get_range_pair), and HybridAdam's
//               state is zeros_like that range, so padding has no m or v.
// Forward and backward touch the fp16 unit; Adam for chunk c touches both. Where Adam runs is
// the policy's (placement.h Note [CPU Adam]). With DP sharding an op also needs the rest of
// each gathered fp16 chunk, GatherBytes - ShardBytes(param-fp16) per chunk, as a transient GPU
// buffer for the op's duration (the all-gather crosses NVLink/network, not PCIe); Adam works on
// the rank's shards and gathers nothing.
inline int Fp16Unit(int chunk) { return 2 * chunk; }
inline int OptimUnit(int chunk) { return 2 * chunk + 1; }
inline int ChunkOfUnit(int unit) { return unit / 2; }

// Note [Op cost]
// ~~~~~~~~~~~~~~
// What an op asks of the GPU, for a simulated step time (properties/placement_run.h):
//   fwd layer   2 * tokens * (its local params) + 4 * b * s * seq_len * h / t  (the matmuls,
//               plus attention's QK^T and AV), tokens = s * b, s = seq_len / cp
//   fwd head    2 * tokens * (its local params)   (the logits matmul)
//   fwd embed   0   (a lookup)
//   bwd X       2 * fwd X (input and weight gradients), plus fwd X again with recomputation
//   adam        0 flops; it streams its units through HBM: read and write both, 2 * bytes
// Tensor-parallel all-reduces and pipeline sends are not part of this model.
// What an op works on; with its phase and index it is what the op is. The name is for people.
enum class OpKind : uint8_t {
  kEmbed,  // the embedding lookup (first stage)
  kLayer,  // transformer block `index`
  kHead,   // the output layer and logits (last stage)
  kAdam,   // the optimizer step on chunk `index`
};
std::string_view OpKindName(OpKind kind);  // "embed", "layer", "head", "adam"

struct Op {
  std::string name;  // "fwd layer 3", "bwd head", "adam chunk 5"
  OpKind kind = OpKind::kLayer;
  int index = -1;  // the layer (kLayer) or chunk (kAdam); -1 otherwise
  OpPhase phase = OpPhase::kForward;
  std::vector<int> chunks;       // chunks it touches, ascending, unique
  std::vector<int> units;        // units it needs on the GPU, ascending, unique
  // The rank's tensors it computes with (indices into Workload::tensor_elements; the head's
  // tied embedding included), ascending, unique; empty for Adam, which works per chunk. Systems
  // that do not use chunks (ZeRO, FSDP2, Megatron) group by these.
  std::vector<int> tensors;
  uint64_t non_model_bytes = 0;  // activations held + temporaries (Note [Activation memory])
  // Of non_model_bytes, the stored activations: (K - 1) * S + n (Note [Activation memory]).
  // 0 in a workload built by hand: all of it transient.
  uint64_t stored_activation_bytes = 0;
  // The rest of non_model_bytes: the op's transient, only held while it runs.
  uint64_t transient_bytes() const {
    return non_model_bytes - std::min(stored_activation_bytes, non_model_bytes);
  }
  double flops = 0;              // Note [Op cost]
  uint64_t hbm_bytes = 0;        // Note [Op cost]
};

struct Workload {
  std::vector<Op> ops;
  std::vector<uint64_t> unit_bytes;            // per unit (Note [Placement units])
  std::vector<uint64_t> chunk_gather_bytes;    // per chunk: the transient gather extra (0 if dp=1)
  std::vector<uint64_t> chunk_param_bytes;     // per chunk: this rank's shard of param-fp16
  std::vector<uint64_t> chunk_elements;        // per chunk: elements of that shard
  std::vector<uint64_t> chunk_valid_elements;  // per chunk: of those, tensor (not padding) ones
  std::vector<int> chunk_num_tensors;          // per chunk: tensors in the whole chunk
  // Per tensor of the rank (ChunkManager::tensors() order: stage, then registration): its
  // elements, whole (the TP shard, not split over DP). For policies without chunks.
  std::vector<uint64_t> tensor_elements;
  // The layout's degrees (layout.dp = dp_replicate x dp_shard: ZeRO's DP group) and this rank's
  // coordinates, for policies that shard without chunks.
  core::LayoutConfig layout;
  core::ParallelCoords coords;
  int dp_shards = 1;  // ranks the chunks are sharded over (ChunkManager::dp_shards)
  int stage = 0;
  int held_microbatches = 0;      // K
  uint64_t layer_activation = 0;  // A, per layer per microbatch, without recomputation
  uint64_t stage_activation = 0;  // S
  // sum of unit_bytes: ChunkManager::RankBytes() less m and v of the shards' padding.
  uint64_t total_model_bytes = 0;

  int num_units() const { return static_cast<int>(unit_bytes.size()); }
  int num_chunks() const { return static_cast<int>(chunk_gather_bytes.size()); }
  // Gemini's chunk_mem of chunk c: the whole fp16 chunk's bytes (chunk_size * 2), whatever the
  // sharding (ColossalAI 4f9953be zero/gemini/chunk/chunk.py:130).
  uint64_t ChunkMem(int chunk) const {
    return chunk_gather_bytes[chunk] + chunk_param_bytes[chunk];
  }
  // Sum of unit_bytes over op.units.
  uint64_t OpUnitBytes(const Op& op) const;
  // Sum of chunk_gather_bytes over op.chunks; 0 for Adam, which updates the rank's own shards.
  // `kept` (per chunk, or empty): chunks kept gathered for the whole step, which gather nothing
  // (PlacementResult::kept_gathered_chunks).
  uint64_t OpGatherBytes(const Op& op, const std::vector<bool>& kept = {}) const;
};

// A per layer, per microbatch (Note [Activation memory]). REQUIRES all >= 1; no overflow
// (inputs from validated configs stay far below 2^63).
uint64_t LayerActivationBytes(int64_t s, int64_t b, int64_t h, int64_t a, int64_t t);
// Table 2's row with or without sequence parallelism, with or without the attention core's
// 5as^2b / t (what selective recomputation does not store).
uint64_t LayerActivationBytes(int64_t s, int64_t b, int64_t h, int64_t a, int64_t t,
                              bool sequence_parallel, bool attention_core);
// K: microbatches of activations stage `pp_rank` holds at its peak.
int HeldMicrobatches(PipelineSchedule schedule, int num_microbatches, int pp, int pp_rank);
// With vpp > 1 model chunks per pipeline rank: the model-chunk microbatches pipeline rank
// `pp_rank` holds at its peak. Interleaved 1F1B (Megatron-LM's schedule): its warm-up,
// (pp - pp_rank - 1) * 2 + (vpp - 1) * pp, plus the one in flight, at most M * vpp; GPipe: all
// M * vpp.
int HeldModelChunks(PipelineSchedule schedule, int num_microbatches, int pp, int vpp, int pp_rank);
// The model's hidden size: the width of its final norm weight; 0 when it has none.
int64_t HiddenSizeOf(const core::ModelSpec& model);

// Builds config.rank's step. `chunks` must have been made from RankTensors(layout, rank) (same
// names, same order); when they are sharded over layout.shard_group_size() ranks the rank keeps
// shard ShardIndex of each chunk. InvalidArgument, naming the field, for: rank out of range,
// vpp > 1 with 1F1B and M not a multiple of pp, b, s, heads or M < 1, seq_len not a multiple
// of 2 * cp when cp > 1, no hidden size, hidden not a multiple of heads, recompute with
// selective_recompute, or chunks not matching the rank's tensors. Pure; O(tensors + chunks).
StatusOr<Workload> BuildWorkload(const core::ParallelLayout& layout, const ChunkManager& chunks,
                                 const WorkloadConfig& config);

// One rank's chunks and step, as `twinsim place` builds them: the chunk-size search over the
// rank's tensors (search.dp_shards is the sharding), the chunk manager, the workload.
struct RankStep {
  int64_t chunk_size = 0;
  ChunkManager chunks;
  Workload workload;
};
// `separate_grad`: fp16 gradient chunks apart from the weights (Note [Chunk byte accounting]).
// Errors as SearchChunkSize, ChunkManager::Make and BuildWorkload.
StatusOr<RankStep> BuildRankStep(const core::ParallelLayout& layout, const WorkloadConfig& config,
                                 const ChunkSearchOptions& search, bool separate_grad);

}  // namespace twinsim::placement

#endif  // TWINSIM_POLICIES_PLACEMENT_WORKLOAD_H_
