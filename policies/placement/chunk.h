// ChunkManager: a rank's parameters packed into fixed-size chunks, as ColossalAI Gemini and
// PatrickStar manage them — fp16 parameter chunks with paired fp32 master / Adam m / Adam v
// chunks, optional sharding of every chunk over the DP group, per-tensor states, and the
// chunk-size search that minimizes padding.
//
// Placement policies (cuda, cpu, static, auto, optimal) move whole chunks, so this is the unit
// of every byte they account for. Everything here is pure bookkeeping: no device, no bytes.
#ifndef TWINSIM_POLICIES_PLACEMENT_CHUNK_H_
#define TWINSIM_POLICIES_PLACEMENT_CHUNK_H_

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/dtype.h"
#include "core/model_spec.h"
#include "core/parallel_layout.h"
#include "core/status.h"

namespace twinsim::placement {

// One tensor to be placed in a chunk, in registration order.
struct TensorSpec {
  std::string name;                        // unique among the tensors given to one ChunkManager
  int64_t numel = 0;                       // elements; >= 1
  core::DType dtype = core::DType::kFp32;  // as the framework allocated it (for reports only:
                                           // see Note [Chunk byte accounting])
};

// The tensors `rank` stores under `layout`, in the layout's order (stage order, then
// registration order): each TP shard with its padded size (what Megatron allocates, Note [Vocab
// padding] in core/parallel_layout.h); a tied copy on another stage (Note [Tied embeddings]) is
// named after the tied parameter ("lm_head.weight"). REQUIRES: 0 <= rank < world_size().
std::vector<TensorSpec> RankTensors(const core::ParallelLayout& layout, int rank);

// Every parameter of `model` in registration order, whole; a tied parameter shares its target's
// storage and is left out (as torch's model.parameters() yields shared storage once).
std::vector<TensorSpec> ModelTensors(const core::ModelSpec& model);

// ---- Packing ---------------------------------------------------------------------------------

// Note [Chunk packing]
// ~~~~~~~~~~~~~~~~~~~~
// Tensors are appended in registration order to the last chunk while they fit (ColossalAI's
// ChunkManager.register_tensor): a tensor that does not fit in what is left closes the chunk,
// whose unused tail is padding, and opens a new one. A tensor larger than the chunk size gets a
// chunk of its own, exactly its size; that chunk is closed at once, so a chunk larger than the
// chunk size always holds exactly one tensor. (Gemini rounds such a chunk up to a multiple of
// the DP size and may then append a small tensor into the rounding slack; twinsim does not,
// which keeps "one oversize tensor per oversize chunk" an invariant.)
// With DP sharding over `dp_shards` ranks every chunk's capacity is a multiple of dp_shards, so
// each rank keeps capacity / dp_shards contiguous elements of it (Gemini's shard_begin /
// shard_end); the chunk size itself is rounded up to a multiple of dp_shards and an oversize
// chunk to the next multiple above its tensor. Rounding slack counts as padding.

struct Chunk {
  int64_t capacity = 0;  // elements, padding included; a multiple of the shard count
  int first_tensor = 0;  // holds tensors [first_tensor, first_tensor + num_tensors)
  int num_tensors = 0;
  int64_t used = 0;       // elements of its tensors
  bool oversize = false;  // one tensor larger than the chunk size

  int64_t padding() const { return capacity - used; }
  friend bool operator==(const Chunk&, const Chunk&) = default;
};

// Limits that keep every element and byte count of a rank within int64_t / uint64_t: at most
// 2^20 tensors and shards, tensors and chunk sizes of at most 2^36 elements (llama3-405b's
// largest tensor has 2.1e9). Then padding stays below 2^56 elements and bytes below 2^62.
inline constexpr int64_t kMaxChunkElements = int64_t{1} << 36;
inline constexpr int64_t kMaxTensors = int64_t{1} << 20;
inline constexpr int kMaxShards = 1 << 20;

// `value` rounded up to a multiple of `multiple`. REQUIRES: value >= 0, multiple >= 1, no
// overflow (values <= kMaxChunkElements and multiples <= kMaxShards never overflow).
constexpr int64_t RoundUp(int64_t value, int64_t multiple) {
  return (value + multiple - 1) / multiple * multiple;
}

// Checks a tensor list: at most kMaxTensors, non-empty unique names, 1 <= numel <=
// kMaxChunkElements, a valid dtype. InvalidArgument naming the tensor and the rule otherwise.
Status ValidateTensors(std::span<const TensorSpec> tensors);

// Packs `tensors` as Note [Chunk packing] describes. REQUIRES (else InvalidArgument):
// ValidateTensors(tensors).ok(), 1 <= chunk_size <= kMaxChunkElements,
// 1 <= dp_shards <= kMaxShards. Thread-safe; pure; O(tensors).
StatusOr<std::vector<Chunk>> PackChunks(std::span<const TensorSpec> tensors, int64_t chunk_size,
                                        int dp_shards = 1);

// The total padding (elements) PackChunks would produce, without building the chunks: what
// the search evaluates per candidate. REQUIRES: as PackChunks, unchecked (numels >= 1).
int64_t PaddingWaste(std::span<const int64_t> numels, int64_t chunk_size, int dp_shards = 1);

// ---- Byte accounting -------------------------------------------------------------------------

// Note [Chunk byte accounting]
// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~
// Mixed-precision Adam, as Gemini trains: each parameter chunk has one fp16 chunk (2 B per
// element) used in forward and backward, and three fp32 chunks of identical layout for the
// optimizer: the master weights (4 B), Adam's first moment m (4 B) and second moment v (4 B).
// Backward writes the fp16 gradient into the fp16 parameter chunk itself (Gemini's
// reuse_fp16_chunk: the fp16 weights are stale once the fp32 master holds the truth), so a
// parameter costs 2 + 4 + 4 + 4 = 14 bytes. With gradient accumulation over micro-batches the
// gradient must outlive the next forward, so it gets a separate fp16 grad chunk: 16 bytes.
// Every kind has the capacity of its parameter chunk, padding included (padding is allocated
// memory). The framework's own storage dtype (TensorSpec::dtype) does not enter: the chunks
// hold the mixed-precision copies. bf16 costs the same as fp16.
// Sharded over dp_shards ranks, each rank keeps capacity / dp_shards elements of every kind;
// using a parameter chunk gathers the full fp16 chunk (an all-gather of capacity * 2 bytes, of
// which the rank receives (dp_shards - 1) / dp_shards), released after use.

enum class ChunkKind : uint8_t { kParamFp16 = 0, kGradFp16, kMasterFp32, kAdamM, kAdamV };
inline constexpr std::array<ChunkKind, 5> kAllChunkKinds = {
    ChunkKind::kParamFp16, ChunkKind::kGradFp16, ChunkKind::kMasterFp32, ChunkKind::kAdamM,
    ChunkKind::kAdamV};
// "param-fp16", "grad-fp16", "master-fp32", "adam-m", "adam-v".
std::string_view ChunkKindName(ChunkKind kind);
// 2 for the fp16 kinds, 4 for the fp32 ones.
constexpr uint64_t ChunkKindElementBytes(ChunkKind kind) {
  return kind == ChunkKind::kParamFp16 || kind == ChunkKind::kGradFp16 ? 2 : 4;
}

// ---- Tensor states ---------------------------------------------------------------------------

// Note [Tensor states]
// ~~~~~~~~~~~~~~~~~~~~
// A tensor's state says what the training step is doing with it, and so what its chunk may
// do (ColossalAI Gemini's TensorState, with PatrickStar's HOLD_AFTER_FWD):
//   FREE              payload not needed (may be dropped)
//   COMPUTE           an operator is using it: its chunk must stay gathered where it is
//   HOLD              holds data, not in use
//   HOLD_AFTER_FWD    used in forward, will be used again in backward
//   HOLD_AFTER_BWD    its gradient was produced in backward
//   READY_FOR_REDUCE  its gradient waits for the chunk's reduce(-scatter)
// Allowed transitions (every other one, self-transitions included, is an error):
//   FREE -> HOLD | COMPUTE          HOLD -> FREE | COMPUTE
//   COMPUTE -> HOLD | HOLD_AFTER_FWD | HOLD_AFTER_BWD
//   HOLD_AFTER_FWD -> COMPUTE | HOLD
//   HOLD_AFTER_BWD -> COMPUTE | READY_FOR_REDUCE
//   READY_FOR_REDUCE -> HOLD
// Gemini's table is the same without HOLD_AFTER_FWD; it silently ignores a forbidden
// transition, twinsim reports it. New tensors start in HOLD.
// A chunk can move (between GPU and host) and be released (its gathered copy dropped) only
// when none of its tensors is in COMPUTE; releasing also needs no gradient waiting for its
// reduce (no READY_FOR_REDUCE), which would be lost. A chunk can be reduced when all of its
// tensors are READY_FOR_REDUCE (Gemini's can_reduce).

enum class TensorState : uint8_t {
  kFree = 0,
  kCompute,
  kHold,
  kHoldAfterFwd,
  kHoldAfterBwd,
  kReadyForReduce,
};
inline constexpr int kNumTensorStates = 6;
// "FREE", "COMPUTE", "HOLD", "HOLD_AFTER_FWD", "HOLD_AFTER_BWD", "READY_FOR_REDUCE".
std::string_view TensorStateName(TensorState state);
// Whether Note [Tensor states] allows from -> to. Pure.
bool IsAllowedTransition(TensorState from, TensorState to);

// ---- ChunkManager ----------------------------------------------------------------------------

struct ChunkOptions {
  int64_t chunk_size = 0;      // elements; rounded up to a multiple of dp_shards
  int dp_shards = 1;           // ranks every chunk is sharded over; 1: not sharded
  bool separate_grad = false;  // gradient accumulation: a separate fp16 grad chunk
};

// One rank's chunks and the state of every tensor in them. Copyable; const methods are
// thread-safe, TransitionTensor is not (callers serialize, as one rank's step does).
// Chunk and tensor indices are positions in chunks() and tensors(); methods taking one
// REQUIRE it in range.
class ChunkManager {
 public:
  // Packs `tensors` (PackChunks) and puts every tensor in HOLD. InvalidArgument when the
  // tensors or options are invalid (as PackChunks).
  static StatusOr<ChunkManager> Make(std::vector<TensorSpec> tensors, const ChunkOptions& options);

  const ChunkOptions& options() const { return options_; }
  // The chunk size after rounding to the shard count.
  int64_t chunk_size() const { return chunk_size_; }
  int dp_shards() const { return options_.dp_shards; }
  std::span<const TensorSpec> tensors() const { return tensors_; }
  std::span<const Chunk> chunks() const { return chunks_; }
  int ChunkOf(int tensor) const { return chunk_of_[tensor]; }
  // Element offset of `tensor` inside its chunk.
  int64_t OffsetOf(int tensor) const { return offset_[tensor]; }
  // Index of the tensor named `name`, or -1.
  int FindTensor(std::string_view name) const;

  // Elements of all tensors; padding elements of all chunks.
  int64_t TotalElements() const;
  int64_t TotalPadding() const;

  // ---- bytes (Note [Chunk byte accounting]) ----
  // The kinds this manager keeps: param-fp16, master-fp32, adam-m, adam-v, and grad-fp16 when
  // separate_grad.
  std::vector<ChunkKind> Kinds() const;
  bool HasKind(ChunkKind kind) const {
    return kind != ChunkKind::kGradFp16 || options_.separate_grad;
  }
  // Bytes per parameter element over all kept kinds: 14, or 16 with separate_grad.
  uint64_t BytesPerElement() const;
  // Bytes of the whole chunk of `kind` (capacity * element bytes); 0 for a kind not kept.
  uint64_t ChunkBytes(int chunk, ChunkKind kind) const;
  // Bytes of one rank's shard of it: ChunkBytes / dp_shards.
  uint64_t ShardBytes(int chunk, ChunkKind kind) const;
  // Bytes one rank keeps for all chunks of `kind` / of every kind (shards when sharded).
  uint64_t RankBytes(ChunkKind kind) const;
  uint64_t RankBytes() const;
  // Bytes of the gathered fp16 parameter chunk while it is in use (ChunkBytes(kParamFp16)).
  uint64_t GatherBytes(int chunk) const { return ChunkBytes(chunk, ChunkKind::kParamFp16); }
  // Elements [begin, end) of `chunk` that DP rank `shard` keeps. REQUIRES 0 <= shard < dp_shards.
  core::IndexRange ShardRange(int chunk, int shard) const;
  // Elements of ShardRange(chunk, shard) that belong to tensors (not padding).
  int64_t ShardValidElements(int chunk, int shard) const;

  // ---- tensor states (Note [Tensor states]) ----
  TensorState StateOf(int tensor) const { return state_[tensor]; }
  // Moves `tensor` to `to` if Note [Tensor states] allows it. Otherwise FailedPrecondition
  // naming the tensor, both states and the chunk ("tensor 'h.0.w' (chunk 3): HOLD -> HOLD is
  // not an allowed transition"), and nothing changes.
  Status TransitionTensor(int tensor, TensorState to);
  // Tensors of `chunk` currently in `state`.
  int CountInState(int chunk, TensorState state) const;
  bool CanMove(int chunk) const;
  bool CanRelease(int chunk) const;
  bool CanReduce(int chunk) const;

 private:
  ChunkManager() = default;

  ChunkOptions options_;
  int64_t chunk_size_ = 0;
  std::vector<TensorSpec> tensors_;
  std::vector<Chunk> chunks_;
  std::vector<int> chunk_of_;
  std::vector<int64_t> offset_;
  std::vector<TensorState> state_;
  // Per chunk, tensors in each state.
  std::vector<std::array<int, kNumTensorStates>> state_count_;
  std::unordered_map<std::string, int> by_name_;
};

// ---- Chunk-size search -----------------------------------------------------------------------

// Note [Chunk-size search]
// ~~~~~~~~~~~~~~~~~~~~~~~~
// ColossalAI's search_chunk_configuration picks the chunk size by trying every candidate in
// [min_chunk_size, min_chunk_size + search_range] in steps of search_interval (all in
// elements; its arguments search_range_m and min_chunk_size_m count 2^20 elements, and
// search_interval defaults to 1024 or the hidden size) and keeping the one with the least
// padding waste, the smaller on ties. twinsim does the same with two differences:
// - Outliers. ColossalAI drops tensors above mean + 3 std from the sizes it evaluates and
//   starts the range at the largest remaining tensor. twinsim starts at min_chunk_size as asked
//   and calls a tensor an outlier when it is larger than every candidate: it gets its own chunk
//   under every candidate (Note [Chunk packing]), so it cannot be packed better.
// - Waste. ColossalAI measures the padding of the filtered size list; twinsim measures the
//   padding of the packing it will really build, outliers and shard rounding included, so an
//   outlier that closes a half-full chunk counts. The reported waste is exactly
//   sum(Chunk::padding()) of the returned chunks.
// Each candidate is rounded up to a multiple of dp_shards before it is evaluated (Gemini rounds
// its result to the DP size too); the chosen size is that rounded value.
// ColossalAI keeps a model smaller than min_chunk_size in one always-gathered chunk; that
// special case is not modelled here.

struct ChunkSearchOptions {
  int64_t min_chunk_size = int64_t{32} << 20;  // elements (ColossalAI min_chunk_size_m = 32)
  int64_t search_range = int64_t{32} << 20;    // elements (search_range_m = 32)
  int64_t search_interval = 1024;              // elements
  int dp_shards = 1;
};

// Most candidates one search evaluates (each costs O(tensors)).
inline constexpr int64_t kMaxSearchCandidates = int64_t{1} << 20;

// `m` * 2^20 rounded to the nearest integer, as ColossalAI's round(m * 1024**2); InvalidArgument
// for a negative, non-finite or too large (> kMaxChunkElements) value, naming `what`.
StatusOr<int64_t> ElementsFromMebi(double m, std::string_view what);

struct ChunkSearchResult {
  int64_t chunk_size = 0;      // chosen, a multiple of dp_shards
  int64_t waste = 0;           // padding elements of `chunks`, the least over the candidates
  int64_t total_elements = 0;  // elements of all tensors
  int64_t num_candidates = 0;
  int64_t max_candidate = 0;  // the largest candidate, rounded to dp_shards
  std::vector<int> outliers;  // tensors larger than max_candidate, in registration order
  std::vector<Chunk> chunks;  // PackChunks(tensors, chunk_size, dp_shards)
};

// Runs the search (Note [Chunk-size search]). InvalidArgument when the tensors are invalid,
// min_chunk_size < 1, search_interval < 1, search_range < 0, the largest candidate above
// kMaxChunkElements, more than kMaxSearchCandidates candidates, or dp_shards out of range.
// Thread-safe; pure; O(candidates * tensors).
StatusOr<ChunkSearchResult> SearchChunkSize(std::span<const TensorSpec> tensors,
                                            const ChunkSearchOptions& options);

}  // namespace twinsim::placement

#endif  // TWINSIM_POLICIES_PLACEMENT_CHUNK_H_
