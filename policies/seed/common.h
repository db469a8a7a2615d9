// What the seed policies share: PyTorch's stateful generators as a framework uses them, one
// rank's shard buffers, and the tied-embedding copy that every framework makes the same way.
// Internal to policies/seed.
#ifndef TWINSIM_POLICIES_SEED_COMMON_H_
#define TWINSIM_POLICIES_SEED_COMMON_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/device.h"
#include "core/host_memory.h"
#include "core/init_spec.h"
#include "core/parallel_layout.h"
#include "core/status.h"
#include "kernels/torch/cpu_generator.h"
#include "kernels/torch/cuda_layout.h"
#include "policies/seed/policy.h"

namespace twinsim::policies::seed {

// Note [Modelled PyTorch init]
// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~
// A framework initializes a tensor with torch.nn.init, which reduces every initializer to one
// uniform_ or normal_ call on the generator of the tensor's device (trunc_normal_ to uniform_
// followed by erfinv_, mul_, add_, clamp_; constant_ draws nothing). TorchGenerator does the
// same with twinsim's bit-exact models of those generators (kernels/torch): on the CPU the
// mt19937 stream (uniform_ under the AVX2 capability, normal_ under DEFAULT: see
// kernels/torch/cpu_generator.h), on CUDA the Philox stream with PyTorch's launch layout for the
// rank's GPU (kernels/torch/cuda_layout.h). Which stream positions each tensor consumes, and so
// which tensors share draws, is exact; CUDA normal_ and trunc_normal_'s erfinv use twinsim's
// portable math where PyTorch uses libm / CUDA intrinsics, so those values may differ from a
// real run in the last bits. The properties compare a policy with itself (across layouts, runs
// and ranks), never with a live PyTorch, so this does not affect any verdict.
struct GeneratedTensor;  // Note [Generation cache], below

class TorchGenerator {
 public:
  // torch.manual_seed(seed) as the CPU generator sees it.
  static TorchGenerator Cpu(uint64_t seed);
  // torch.cuda.manual_seed(seed) on a GPU with `gpu`'s launch shape; offset 0.
  static TorchGenerator Cuda(uint64_t seed, const kernels::torch::CudaDeviceProfile& gpu);
  // Cpu(seed) or Cuda(seed, gpu) by `device`.
  static TorchGenerator For(InitDevice device, uint64_t seed,
                            const kernels::torch::CudaDeviceProfile& gpu);

  InitDevice device() const { return device_; }
  StreamId stream() const;
  // Words drawn (CPU) or the Philox offset (CUDA).
  uint64_t position() const;
  // DTensor's OffsetBasedRNGTracker sets the CUDA offset directly. REQUIRES: a CUDA generator.
  void set_offset(uint64_t offset);
  // The bytes of one element of the tensor the following CUDA draws fill (PyTorch draws into
  // the tensor's own dtype, Megatron's params_dtype): only the 32-bit split of huge tensors
  // depends on it (kernels/torch/cuda_layout.h). 4 (float32) until set.
  void set_element_size(int bytes) { element_size_ = bytes; }

  // torch.nn.init `spec` on a fresh float32 tensor of out.size() elements (Note [Modelled
  // PyTorch init]). Returns the positions consumed, [begin, end); begin == end for constant.
  // REQUIRES: ValidateInitSpec(spec).ok().
  std::pair<uint64_t, uint64_t> Init(const core::InitSpec& spec, std::span<float> out);
  // Init on the whole [block.rows, block.cols] tensor, keeping only `block` (densely, in `out`):
  // what a framework does when it builds a full master weight and keeps its slice, without
  // the host holding the full tensor for every rank at once.
  std::pair<uint64_t, uint64_t> InitBlock(const core::InitSpec& spec, const core::Block2D& block,
                                          std::vector<float>& out);

  // The state as bytes (torch.get_rng_state / torch.cuda.get_rng_state) and back.
  std::vector<std::byte> Save() const;
  // InvalidArgument when `state` is not a Save() of a generator of the same device.
  Status Load(std::span<const std::byte> state);

 private:
  struct TorchOpView {
    const void* op;  // the TorchOp of common.cc
  };

  TorchGenerator(InitDevice device, uint64_t seed, const kernels::torch::CudaDeviceProfile& gpu);
  // Draws `op` into `out` and advances the state: the work Init shares through the cache.
  void Generate(const TorchOpView& op, std::span<float> out);
  // Generate on `numel` elements through the cache (Note [Generation cache]); advances the
  // state as Generate does.
  std::shared_ptr<const GeneratedTensor> Draw(const TorchOpView& op, uint64_t numel);

  InitDevice device_;
  kernels::torch::CpuGenerator cpu_;
  uint64_t cuda_seed_ = 0;
  uint64_t cuda_offset_ = 0;
  kernels::torch::CudaDeviceProfile gpu_;
  int element_size_ = 4;
};

// Note [Generation cache]
// ~~~~~~~~~~~~~~~~~~~~~~~~
// A modelled PyTorch draw is a pure function of (generator state, op, size). Many ranks repeat
// the same draw: TP ranks seeded alike (torch-serial, megatron-cpu's full master weights), DP
// replicas, the determinism rerun. TorchGenerator::Init (for tensors of at least
// kGenerationCacheMinElements) looks the draw up here first; the first rank to ask computes it
// while the others wait, and later ranks copy the result and the state after it. Oldest
// entries are dropped past a byte budget. Results are the same bits with or without the cache
// (the key is the complete input), so it changes only how long a check takes.
inline constexpr size_t kGenerationCacheMinElements = size_t{1} << 14;

struct GeneratedTensor {
  std::vector<float> values;
  kernels::torch::CpuGenerator cpu_after{0};
  uint64_t cuda_offset_after = 0;
};

class GenerationCache {
 public:
  static constexpr uint64_t kDefaultCapacityBytes = uint64_t{256} << 20;
  explicit GenerationCache(uint64_t capacity_bytes) : capacity_(capacity_bytes) {}

  // The process-wide cache TorchGenerator uses. Thread-safe.
  static GenerationCache& Global();

  // The tensor stored under `key`, computed by `compute` on a fresh GeneratedTensor when
  // absent; a caller that finds the key being computed waits for it. Thread-safe.
  std::shared_ptr<const GeneratedTensor> GetOrCompute(
      std::string key, const std::function<void(GeneratedTensor&)>& compute);

  struct Stats {
    uint64_t hits = 0, misses = 0, bytes = 0;
  };
  Stats stats() const;
  // Drops every entry and zeroes the counters.
  void Clear();

 private:
  struct Slot {
    std::promise<void> done;
    std::shared_future<void> ready;
    GeneratedTensor tensor;
    uint64_t bytes = 0;
  };
  const uint64_t capacity_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, std::shared_ptr<Slot>> slots_;  // guarded by mu_
  std::deque<std::string> order_;                                 // insertion order
  uint64_t bytes_ = 0, hits_ = 0, misses_ = 0;
};

// One rank's owned shards (layout->OwnedBy(rank)) and their device buffers.
class RankShards {
 public:
  explicit RankShards(const InitContext& ctx);

  const std::vector<core::OwnedShard>& owned() const { return owned_; }
  int size() const { return static_cast<int>(owned_.size()); }
  const core::ParamSpec& spec(int i) const;
  // Entry i in the [rows, cols] view of the parameter's padded storage.
  const core::Block2D& block(int i) const { return blocks_[i]; }
  int64_t numel(int i) const;
  uint64_t bytes(int i) const;  // in the parameter's dtype
  // Sum of bytes(i) over all entries.
  uint64_t total_bytes() const;

  // Allocates every entry's buffer (tag "param") into init.buffers. Returns false, with
  // init.oom set, when one does not fit. InvalidArgument when a shard is not a 2-D block.
  StatusOr<bool> AllocateAll(RankInit& init);
  // Writes fp32 `values` (numel(i) of them) into entry i's buffer, rounded to its dtype:
  // produced_on kCuda = the output of an init kernel on the GPU (Device::WriteKernelOutput),
  // kCpu = a host-to-device copy (Note [Modelled init kernels]). Empty `values` on a device
  // without bytes: the bits were not computed, only the cost is charged.
  Status Write(int i, const RankInit& init, std::span<const float> values,
               InitDevice produced_on);

 private:
  const InitContext& ctx_;
  std::vector<core::OwnedShard> owned_;
  std::vector<core::Block2D> blocks_;
};

// The shard [block] of a row-major [rows, cols] tensor `full`, densely.
std::vector<float> Slice(std::span<const float> full, const core::Block2D& block);
// The same into `out` (replacing its contents, reusing its capacity).
void SliceInto(std::span<const float> full, const core::Block2D& block, std::vector<float>& out);

// Allocates `bytes` on the device under `tag`; false (with init.oom / oom_during set) when it
// does not fit. `*buffer` receives the allocation.
StatusOr<bool> AllocateOrRecord(core::Device& device, uint64_t bytes, std::string_view tag,
                                std::string_view during, RankInit& init, core::Buffer* buffer);
// As AllocateOrRecord, for host memory (pageable). A null `host` always fits.
StatusOr<bool> ReserveOrRecord(core::HostMemory* host, int rank, uint64_t bytes,
                               std::string_view tag, std::string_view during, RankInit& init,
                               core::HostReservation* reservation);

// Note [Tied copies]
// ~~~~~~~~~~~~~~~~~~
// A tied parameter on another stage than its target holds a copy of the target (Note [Tied
// embeddings] in core/parallel_layout.h). Frameworks do not draw it: Megatron zeroes the last
// stage's word embeddings and all-reduces them over the embedding group, which makes them equal
// to the first stage's. Every stateful policy does the equivalent here: after its own init, the
// rank holding the home shard sends it to the rank holding the copy (same dp and tp). Sends go
// before receives and both follow placement order, so this never deadlocks.
Status SyncTiedCopies(const InitContext& ctx, const RankShards& shards, const RankInit& init);

// Runs the usual stateful init over `shards` in owned order (stage order, then registration
// order), skipping tied copies: `choose(i)` names the generator for entry i (null: skip it,
// another call draws it) and whether the
// framework draws the local shard (false) or the full padded tensor and keeps its slice (true).
// CPU-side init (`host_staging`) keeps the rank's shards in host memory until all are drawn, as
// a model built on the CPU and then moved with .cuda() does.
//
// A DrawChoice with `pieces` draws the entry piece by piece instead: each piece is rows
// [rows.begin, rows.end) of the entry's block (counted inside the block, every column), drawn
// as its own op on a tensor of the piece's size from `generator` set to `offset` first, and
// written at its rows; it records one DrawSpan per piece. This is how DTensor draws the FSDP2
// pieces of a TP shard (Note [dtensor] in torch_policies.cc). Empty pieces are skipped (PyTorch
// launches nothing for an empty tensor). REQUIRES with pieces: a CUDA generator, not
// full_then_slice, and pieces that tile the block's rows.
struct DrawPiece {
  core::IndexRange rows;
  uint64_t offset = 0;
};
struct DrawChoice {
  TorchGenerator* generator = nullptr;
  bool full_then_slice = false;
  std::vector<DrawPiece> pieces;
};
StatusOr<bool> DrawShards(const InitContext& ctx, RankShards& shards, RankInit& init,
                          const std::function<DrawChoice(int entry)>& choose);

// Sends and receives `bytes` host bytes through a device staging buffer (tag "comm"), as
// PyTorch sends RNG state tensors. False (init.oom set) when the staging buffer does not fit.
StatusOr<bool> SendBytes(const InitContext& ctx, int dst, std::span<const std::byte> bytes,
                         int tag, RankInit& init);
// The same for `size` bytes whose contents may be empty: on a device without bytes (timing-only
// sim) the caller did not compute them, and only the copy and the message are charged.
StatusOr<bool> SendBytes(const InitContext& ctx, int dst, uint64_t size,
                         std::span<const std::byte> bytes, int tag, RankInit& init);
// Fills `*out` with the received bytes. False (init.oom set) when staging does not fit.
StatusOr<bool> RecvBytes(const InitContext& ctx, int src, uint64_t bytes, int tag,
                         RankInit& init, std::vector<std::byte>* out);

// Note [Experts over EP]
// ~~~~~~~~~~~~~~~~~~~~~~
// With ep > 1 each EP rank builds only its own experts (Megatron's and DeepSpeed's expert
// parallelism, and twinsim's layouts: ParallelLayout::EpRankOf). A policy whose ranks draw from
// a generator seeded alike on every EP rank (plain torch.manual_seed, megatron-cpu's CPU
// generator, DTensor's default generator for non-DTensor experts) then draws the same stream
// positions for different experts on different EP ranks, and skips the draws of the experts it
// does not hold, so later parameters move against single-device init. Such policies claim
// parity and distinct only where no experts are split (ExpertsSplitOverEp false); the property
// matrix draws MoE models with ep > 1 (properties::GenModel) and the init check shows the
// repeated draws.
bool ExpertsSplitOverEp(const core::ParallelLayout& layout);
// With etp != tp, DP replicas hold expert shards of different sizes (Note [Expert parallelism]
// in core/parallel_layout.h); a policy that draws its local shards one after another from one
// stream then consumes a different count on each, and the dense parameters after the experts
// differ between replicas (shown on the CPU generator, whose position moves by the count).
// Such policies claim replica only with ExpertsSplitLikeDense.
bool ExpertsSplitLikeDense(const core::ParallelLayout& layout);
Claim ReplicaWhenExpertsSplitLikeDense();

// The claims every policy shares the shape of.
Claim Always(Property property);
Claim When(Property property, std::string condition,
           std::function<bool(const core::ParallelLayout&, InitDevice)> applies);

}  // namespace twinsim::policies::seed

#endif  // TWINSIM_POLICIES_SEED_COMMON_H_
