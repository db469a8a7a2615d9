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
#include "core/provenance.h"
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
  // Gemini's keep_gathered chunk (Note [Chunk-size search], step 4): the whole model in one
  // chunk, never sharded (dp_shards must be 1), never released. Bookkeeping only here:
  // placement policies read it.
  bool keep_gathered = false;
};

// One rank's chunks and the state of every tensor in them. Copyable; const methods are
// thread-safe, TransitionTensor is not (callers serialize, as one rank's step does).
// Chunk and tensor indices are positions in chunks() and tensors(); methods taking one
// REQUIRE it in range.
class ChunkManager {
 public:
  // Packs `tensors` (PackChunks) and puts every tensor in HOLD. InvalidArgument when the
  // tensors or options are invalid (as PackChunks), or keep_gathered with dp_shards != 1.
  static StatusOr<ChunkManager> Make(std::vector<TensorSpec> tensors, const ChunkOptions& options);

  const ChunkOptions& options() const { return options_; }
  // The chunk size after rounding to the shard count.
  int64_t chunk_size() const { return chunk_size_; }
  int dp_shards() const { return options_.dp_shards; }
  bool keep_gathered() const { return options_.keep_gathered; }
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
// The default search (ChunkSearchMethod::kColossalAI) is ColossalAI's
// search_chunk_configuration as coded at hpcaitech/ColossalAI@4f9953be, in
// colossalai/zero/gemini/chunk/search_utils.py (lines below are that file's unless named):
//  1. Parameters in model.parameters() order, a tied tensor once (:135-141). With a MemStats
//     the trace order would be used, but GeminiDDP never passes one to the search
//     (zero/gemini/gemini_ddp.py:114-127), so twinsim does not model that branch.
//  2. Sizes in elements: search_range = round(search_range_m * 2^20), min_chunk_size likewise
//     (:143-144; ElementsFromMebi); search_range >= 0 is asserted (:145); min_chunk_size_m = 0
//     is allowed.
//  3. Parameters classified by DP degree (classify_params_by_dp_degree, :79-105): every
//     parameter is keyed by the world size of the zero group (:99), so a model is one group.
//     SearchChunkConfiguration takes several groups anyway, as the code does.
//  4. A group whose total is below min_chunk_size becomes one chunk of exactly its total,
//     kept gathered: never sharded, never released, gradients all-reduced (:159-161;
//     chunk/chunk.py:101-104, :228-231). Other groups enter the search.
//  5. With filter_exlarge_params (default true), sizes above mean + 3 * std (numpy's
//     population std, over the sizes of all searched groups together) are dropped from the
//     search (_filter_exlarge_params, :14-38, :165-166). They are still registered later, and
//     one larger than the chunk size gets a chunk of its own (chunk/manager.py:92-95).
//  6. max_size = max(min_chunk_size, largest kept size); the first candidate is
//     ceil(max_size / search_interval) * search_interval (:168-171), so no kept tensor is ever
//     larger than a candidate. Candidates: range(start, start + search_range + 1,
//     search_interval) (:176), i.e. search_range / search_interval + 1 of them.
//  7. A candidate's waste is _get_unused_byte (:41-60) over each group's kept sizes, summed over
//     the groups (:177-179): fill a chunk in order, open a new one when a size does not fit,
//     count what is left; the dropped outliers do not close a chunk there. The first minimum
//     wins (strict <, :180): ties go to the smaller size.
//  8. Only the winner is rounded up to the lcm of the groups' DP degrees (:184-185); its waste
//     (min_chunk_waste, the third value returned, :191) is that of the unrounded winner.
// Defaults: search_range_m = 32 and min_chunk_size_m = 32 (booster/plugin/gemini_plugin.py:
// 459-461; gemini_ddp.py:88-90); search_interval = hidden_dim when given, else 1024
// (chunk/utils.py:27-30). The plugin's hidden_dim defaults to None; ColossalAI's own GPT example
// passes the model's width (examples/language/gpt/gemini/train_gpt_demo.py:170) and the search
// calls the hidden size the best interval (:111). twinsim's callers default search_interval to
// the model's hidden size (WithModelDefaults), else 1024; `--search-interval 1024` gives the
// plugin's own default.
// strict_ddp_flag is accepted and documented ("all parameters keep replicated in this mode",
// :128-129) but never read; GeminiDDP documents strict_ddp_mode the same way ("there is no
// tensor sharding", gemini_ddp.py:69) and passes it to _init_chunks (:183-186, :819-875),
// which never reads it either: chunks are sharded all the same. twinsim accepts it with no
// effect (a finding: the code and its docs disagree).
// Arithmetic: ceil of max_size / search_interval is exact in integers (Python's float division
// rounds correctly and sizes stay below 2^37); mean + 3 * std is computed in float64 with
// numpy's own summation order (NumpyOutlierLimit), so a size within rounding of the limit is
// kept or dropped as numpy decides, not as exact arithmetic would; round(m * 1024**2) rounds
// a half to even (ElementsFromMebi).
// The search's waste and the padding of the chunks really built differ: an outlier closes the
// open chunk, an oversize chunk is rounded to the DP size, a kept-gathered group has none.
// ChunkSearchResult reports both.
//
// ChunkSearchMethod::kPackedPadding is twinsim's own variant (what twinsim did before it
// followed ColossalAI): candidates from min_chunk_size to min_chunk_size + search_range in steps
// of search_interval, each rounded up to the DP size, scored by the padding of the packing
// really built (Note [Chunk packing]: outliers and shard rounding included), ties to the
// smaller; no outlier filter and no kept-gathered group. It minimizes the memory really
// allocated, but never tries a size above min_chunk_size + search_range: for d = 4096 models,
// whose MLP weights are 56 to 64 Mi elements, it keeps 32 Mi chunks and their padding.

enum class ChunkSearchMethod : uint8_t {
  kColossalAI = 0,  // search_chunk_configuration as coded (the default)
  kPackedPadding,   // twinsim's own: least padding of the packing really built
};
// "colossalai", "packed".
std::string_view ChunkSearchMethodName(ChunkSearchMethod method);
// The method named `name`; InvalidArgument listing the names otherwise.
StatusOr<ChunkSearchMethod> ParseChunkSearchMethod(std::string_view name);

struct ChunkSearchOptions {
  ChunkSearchMethod method = ChunkSearchMethod::kColossalAI;
  // Elements; ColossalAI's min_chunk_size_m = 32 (2^20 elements each). 0 is allowed for
  // kColossalAI; kPackedPadding needs >= 1.
  int64_t min_chunk_size = int64_t{32} << 20;
  int64_t search_range = int64_t{32} << 20;  // elements (search_range_m = 32)
  // Elements between candidates; 0: 1024, as init_chunk_manager without a hidden_dim.
  // WithModelDefaults replaces 0 by the model's hidden size.
  int64_t search_interval = 0;
  bool filter_exlarge_params = true;  // drop sizes above mean + 3 std (kColossalAI only)
  bool strict_ddp = false;            // accepted as ColossalAI's strict_ddp_flag; no effect
  // > 0: no search, this chunk size (ColossalAI's chunk_config_dict); must be a multiple of
  // dp_shards (chunk/chunk.py:102-103 asserts it).
  int64_t fixed_chunk_size = 0;
  int dp_shards = 1;  // the DP degree of the (single) group: chunks are sharded over it
};

// Most candidates one search evaluates (each costs O(tensors)).
inline constexpr int64_t kMaxSearchCandidates = int64_t{1} << 20;
// The interval used when neither the options nor the model give one (chunk/utils.py:30).
inline constexpr int64_t kDefaultSearchInterval = 1024;

// `m` * 2^20 rounded to the nearest integer, a half to the even one, as ColossalAI's
// round(m * 1024**2) in Python 3 (search_utils.py:143-144); InvalidArgument
// for a negative, non-finite or too large (> kMaxChunkElements) value, naming `what`.
StatusOr<int64_t> ElementsFromMebi(double m, std::string_view what);

// The model's hidden size as the search interval: the width of its final norm weight, or
// kDefaultSearchInterval when it has none. Pure.
int64_t DefaultSearchInterval(const core::ModelSpec& model);
// `options` with search_interval 0 replaced by DefaultSearchInterval(model).
ChunkSearchOptions WithModelDefaults(ChunkSearchOptions options, const core::ModelSpec& model);

// One DP-degree group of search_chunk_configuration: its parameters' sizes in order.
struct ChunkSearchGroup {
  int dp_degree = 1;
  std::vector<int64_t> numels;
};
// What search_chunk_configuration returns for one group (its config_dict entry).
struct ChunkGroupConfig {
  int dp_degree = 1;
  int64_t chunk_size = 0;      // the group's total when keep_gathered
  bool keep_gathered = false;  // the group is smaller than min_chunk_size
  friend bool operator==(const ChunkGroupConfig&, const ChunkGroupConfig&) = default;
};
struct ChunkConfiguration {
  std::vector<ChunkGroupConfig> groups;  // one per input group, in input order
  int64_t total_elements = 0;            // total_param_size: every parameter, outliers included
  int64_t waste = 0;                     // min_chunk_waste (elements)
  int64_t best_unrounded = 0;            // the winner before the lcm rounding
  int64_t first_candidate = 0;
  int64_t last_candidate = 0;
  int64_t num_candidates = 0;
  // mean + 3 std of the searched sizes (NumpyOutlierLimit); +infinity without the filter or
  // with nothing searched.
  double outlier_limit = 0;
  // Per group, the positions (in its numels) the filter dropped.
  std::vector<std::vector<int>> outliers;
};

// _filter_exlarge_params's upper_limit (search_utils.py:30-34) computed as numpy 1.24 computes
// np.mean(a) + 3 * np.std(a) of an int64 array in float64: the same sums in the same order
// (pairwise, in 8192-element buffers for the cast mean), so that a size near the limit is kept
// or dropped as ColossalAI keeps or drops it. REQUIRES: sizes non-empty, each in [0, 2^53).
// Pure.
double NumpyOutlierLimit(std::span<const int64_t> sizes);

// search_chunk_configuration over `groups` (Note [Chunk-size search], steps 2-8); uses
// options.min_chunk_size, search_range, search_interval (0: 1024) and filter_exlarge_params.
// InvalidArgument for: no group or an empty group, a DP degree outside [1, kMaxShards], sizes
// outside [1, kMaxChunkElements], min_chunk_size or search_range outside [0,
// kMaxChunkElements], search_interval < 0, more than kMaxSearchCandidates candidates, a
// candidate or the lcm of the DP degrees above kMaxChunkElements, and where the Python code
// itself fails (a searched group all of whose sizes the filter drops: max() of an empty list).
// Pure; O(candidates * sizes).
StatusOr<ChunkConfiguration> SearchChunkConfiguration(std::span<const ChunkSearchGroup> groups,
                                                      const ChunkSearchOptions& options);

struct ChunkSearchResult {
  ChunkSearchMethod method = ChunkSearchMethod::kColossalAI;
  int64_t chunk_size = 0;       // what the chunks are built with: a multiple of dp_shards, or
                                // the group's total when keep_gathered
  bool keep_gathered = false;   // one unsharded chunk holding everything (kColossalAI step 4)
  bool fixed = false;           // options.fixed_chunk_size: no search ran
  int dp_shards = 1;            // shards of the built chunks: 1 when keep_gathered
  int64_t search_interval = 0;  // the interval used
  // The winner's waste as the method measures it: ColossalAI's min_chunk_waste (kept sizes
  // only, before rounding), or the packing's padding (kPackedPadding). 0 when fixed.
  int64_t search_waste = 0;
  int64_t padding = 0;         // sum of Chunk::padding() over `chunks`
  int64_t total_elements = 0;  // elements of all tensors
  int64_t first_candidate = 0;
  int64_t num_candidates = 0;  // 0 when fixed
  int64_t max_candidate = 0;   // the last candidate (kPackedPadding: rounded to dp_shards)
  double outlier_limit = 0;    // kColossalAI: mean + 3 std (+infinity when not filtering)
  // kColossalAI: tensors the filter dropped from the search; kPackedPadding: tensors larger
  // than every candidate. In registration order.
  std::vector<int> outliers;
  std::vector<Chunk> chunks;  // PackChunks(tensors, chunk_size, dp_shards)

  // The ChunkManager options that build these chunks.
  ChunkOptions ChunkOptionsFor(bool separate_grad) const {
    return {chunk_size, dp_shards, separate_grad, keep_gathered};
  }
};

// Where options.method comes from (Note [Chunk-size search]): for kColossalAI the ColossalAI
// files and lines it follows and the deviations (strict_ddp_flag, the default interval,
// the memstats branch, the arithmetic); kPackedPadding is twinsim's own. Pure.
core::Provenance ChunkSearchProvenance(ChunkSearchMethod method);

// Runs options.method over one group of `tensors` with DP degree options.dp_shards (Note
// [Chunk-size search]), or takes options.fixed_chunk_size, and packs the chunks.
// InvalidArgument when the tensors are invalid or empty, dp_shards is outside [1, kMaxShards],
// a fixed size is not a multiple of dp_shards or above kMaxChunkElements, as
// SearchChunkConfiguration for kColossalAI, and for kPackedPadding when min_chunk_size < 1 or a
// candidate exceeds kMaxChunkElements. Thread-safe; pure; O(candidates * tensors).
StatusOr<ChunkSearchResult> SearchChunkSize(std::span<const TensorSpec> tensors,
                                            const ChunkSearchOptions& options);

}  // namespace twinsim::placement

#endif  // TWINSIM_POLICIES_PLACEMENT_CHUNK_H_
