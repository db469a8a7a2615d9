// SeedPolicy: how one rank obtains the random numbers of the parameter shards it owns, the way
// a given framework does it (PyTorch pipelining, Megatron-LM, ColossalAI, DTensor, a seed
// checkpoint) or the way twinsim proposes (element-wise counter streams).
//
// A policy sees only core/ interfaces — the layout, its Device and its Comm — so the same code
// runs on the host, sim and cuda backends. It writes each owned shard into a device buffer and
// reports every random draw it made (DrawSpan), so that the harness in properties/ can check
// parity, replica, distinct, determinism and init-fits without knowing how the policy works.
#ifndef TWINSIM_POLICIES_SEED_POLICY_H_
#define TWINSIM_POLICIES_SEED_POLICY_H_

#include <compare>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/block2d.h"
#include "core/comm.h"
#include "core/device.h"
#include "core/host_memory.h"
#include "core/memory_ledger.h"
#include "core/parallel_layout.h"
#include "core/provenance.h"
#include "core/status.h"
#include "kernels/torch/cuda_layout.h"

namespace twinsim::policies::seed {

// Where a framework runs its init kernels: torch.device("cpu") or "cuda". Frameworks that allow
// both take it as a parameter; the others support one.
enum class InitDevice : uint8_t { kCpu, kCuda };
std::string_view InitDeviceName(InitDevice device);  // "cpu", "cuda"
// "cpu" or "cuda"; InvalidArgument otherwise.
StatusOr<InitDevice> ParseInitDevice(std::string_view text);

// The init properties of DESIGN.md ("Properties") that a seed policy can claim.
enum class Property : uint8_t {
  kParity,
  kReplica,
  kDistinct,
  kDeterminism,
  kInitFits,
  kDistribution,  // the union of the shards follows the init spec (fans of the full tensor)
};
std::string_view PropertyName(Property property);  // "parity", ..., "distribution"
StatusOr<Property> ParseProperty(std::string_view text);
// All six, in the order above.
const std::vector<Property>& AllProperties();

// Which random stream a draw came from.
enum class StreamKind : uint8_t {
  kTorchCpu,   // PyTorch's CPU mt19937 generator; positions are 32-bit words drawn
  kTorchCuda,  // PyTorch's CUDA Philox generator; positions are Philox offsets (per thread)
  kCounter,    // twinsim's element-wise stream; positions are the logical elements themselves
};
std::string_view StreamKindName(StreamKind kind);  // "CPU mt19937", "CUDA Philox", "counter"

struct StreamId {
  StreamKind kind = StreamKind::kTorchCpu;
  uint64_t seed = 0;  // the generator's seed (as mt19937 sees it for kTorchCpu); counter: key
  uint32_t draw = 0;  // counter streams: the draw index; 0 otherwise
  auto operator<=>(const StreamId&) const = default;
};
// "the CPU mt19937 stream seeded 2" / "the CUDA Philox stream seeded 2720" /
// "the counter stream key 0x1234abcd5678ef01 draw 0".
std::string DescribeStream(const StreamId& stream);

// One random draw a policy made: the elements it produced and the stream positions it
// consumed. Elements are those of `block` in the [rows, cols] view of the parameter's padded
// storage (ParallelLayout's TpShard::AsPaddedBlock2D), whichever rank keeps them afterwards.
// For kTorchCpu / kTorchCuda streams the draw consumed positions [begin, end); for kCounter
// streams each element of `block` consumed the position of its own logical index (begin and
// end unused). Two draws of different elements must never share a position of one stream
// (Property::kDistinct); draws of the same elements (replicas) may.
struct DrawSpan {
  StreamId stream;
  uint64_t begin = 0;
  uint64_t end = 0;
  int param = -1;  // index into ModelSpec::params: the tensor whose elements were drawn
  core::Block2D block;
};

// Everything a policy needs to initialize one rank.
struct InitContext {
  const core::ParallelLayout* layout = nullptr;
  int rank = 0;       // global rank (layout order); comm->rank() == rank
  uint64_t seed = 0;  // the run's root seed (--seed)
  InitDevice init_device = InitDevice::kCuda;
  // The GPU whose SM count decides PyTorch's CUDA launch layout (kernels/torch/cuda_layout.h).
  kernels::torch::CudaDeviceProfile gpu;
  core::Device* device = nullptr;    // this rank's accelerator
  core::Comm* comm = nullptr;        // over all ranks of the layout
  core::HostMemory* host = nullptr;  // the CPU memory this rank may use
};

// What a policy leaves behind on one rank.
struct RankInit {
  // One buffer per layout->OwnedBy(rank) entry, in that order, holding the shard densely
  // (row-major over the shard's padded block) in the parameter's dtype. Left allocated on the
  // device for the caller to read and free. Null handles where init stopped early (oom).
  std::vector<core::Buffer> buffers;
  std::vector<DrawSpan> draws;  // in the order drawn
  // Set when an allocation did not fit (Note [OOM is a result, not an error]): init stopped
  // there. `oom_during` says what was being allocated ("the full master weight of 'w'").
  std::optional<core::OomReport> oom;
  std::string oom_during;
};

// How a framework sizes a vocabulary-parallel parameter (Note [Vocab padding] in
// core/parallel_layout.h). Only Megatron pads; ColossalAI's legacy VocabParallelEmbedding1D
// asserts that tp divides the vocabulary.
struct VocabRule {
  bool pads = false;               // pad to a multiple of divisible_by * tp
  // The framework's own multiple (today's ColossalAI: 64); 0: the layout's vocab_divisible_by
  // (Megatron's --make-vocab-size-divisible-by, twinsim's --vocab-divisible-by).
  int divisible_by = 0;
  bool requires_divisible = false; // reject a vocabulary that tp does not divide
  // Where the framework's code says so, for the rejection ("ColossalAI ... layers.py:912").
  std::string source;
};

// Note [Offline work]
// ~~~~~~~~~~~~~~~~~~~
// Some schemes do part of their init in a separate job before training starts: torchtitan's
// seed checkpoint is created by a WORLD_SIZE=1 run that holds the whole model in one host's
// memory and writes it to storage. That job is no rank of the layout, so its memory and time
// are reported apart from the ranks' (init-fits is about the ranks), never added to them.
struct OfflineWork {
  std::string what;                  // "seed checkpoint creation (...)"
  uint64_t host_bytes = 0;           // peak host memory of that job
  uint64_t elements_initialized = 0; // values it draws, on one CPU
  uint64_t storage_write_bytes = 0;  // what it saves
};

// A property a policy promises, possibly only for some layouts.
struct Claim {
  Property property = Property::kParity;
  // When the promise applies, in words ("tp == 1"); empty: always.
  std::string condition;
  // The same condition as code; unset: always.
  std::function<bool(const core::ParallelLayout&, InitDevice)> applies;

  bool AppliesTo(const core::ParallelLayout& layout, InitDevice device) const {
    return !applies || applies(layout, device);
  }
};

class SeedPolicy {
 public:
  virtual ~SeedPolicy();

  virtual std::string_view name() const = 0;     // "torch-serial"
  virtual std::string_view version() const = 0;  // bumped whenever results change
  // What real system it models, one line, for `twinsim init --help` and reports.
  virtual std::string_view models() const = 0;
  // The upstream code it follows, cited (core/provenance.h); twinsim_own for twinsim's schemes.
  virtual core::Provenance provenance() const { return {}; }
  // How the framework sizes vocabulary-parallel parameters; LayoutFor builds its layout with it.
  // Default: no padding (every framework but Megatron).
  virtual VocabRule vocab_rule() const { return {}; }
  // InvalidArgument, with the framework's own message, for a root seed its code rejects
  // (Megatron: seed 0). Default: every seed is accepted.
  virtual Status CheckSeed(uint64_t seed) const;
  // InvalidArgument, with the framework's own reason, for a layout its code refuses to train
  // (zero-init: experts split over ep > 1). Called by LayoutFor. Default: every layout.
  virtual Status CheckLayout(const core::ParallelLayout& layout) const;
  // The job it needs before training starts, outside the layout's ranks (Note [Offline
  // work]); nullopt for the schemes that need none.
  virtual std::optional<OfflineWork> Offline(const core::ModelSpec& model) const {
    (void)model;
    return std::nullopt;
  }
  // The properties it promises; every other property has a counterexample.
  virtual const std::vector<Claim>& claims() const = 0;
  virtual bool Supports(InitDevice device) const = 0;
  // The init device the framework uses unless told otherwise.
  virtual InitDevice default_init_device() const = 0;

  // Initializes ctx.rank's shards. Called on every rank of the layout concurrently, each with
  // its own context. Out of memory is a result (RankInit::oom), not an error; a non-OK status
  // means the policy or a backend failed (or ctx is malformed: unsupported init device).
  virtual StatusOr<RankInit> InitRank(const InitContext& ctx) const = 0;

  // The claim for `property`, or null when the policy does not claim it.
  const Claim* FindClaim(Property property) const;
};

// The layout `policy` trains `layout`'s model on: `layout` with the policy's vocab rule applied
// (pad_vocab set to rule.pads; vocab_divisible_by replaced by rule.divisible_by when that is
// set, kept otherwise). `layout` itself
// when it already follows the rule. InvalidArgument, naming the policy, the parameter, the
// vocabulary, tp and the upstream source, when the rule rejects the vocabulary
// (requires_divisible and tp does not divide it), or with policy.CheckLayout's message when
// the framework refuses the layout.
StatusOr<core::ParallelLayout> LayoutFor(const SeedPolicy& policy,
                                         const core::ParallelLayout& layout);

// The policies, in a stable order: torch-serial, torch-parallel, megatron, megatron-cpu,
// megatron+dp-random-init, colossal-legacy, colossal, dtensor, dtensor@2.5, seed-checkpoint,
// zero-init, counter, shard-local.
const std::vector<std::string>& PolicyNames();
// The policy named `name`; InvalidArgument naming the known ones (and the nearest) otherwise.
// A release-dependent policy takes a suffix: "dtensor@2.5" (PyTorch <= 2.5) or
// "dtensor@0175565d" (= "dtensor", the main-branch commit read); an unknown suffix is
// InvalidArgument listing the known ones, and a suffix on any other policy is InvalidArgument.
StatusOr<std::unique_ptr<SeedPolicy>> MakePolicy(std::string_view name);

}  // namespace twinsim::policies::seed

#endif  // TWINSIM_POLICIES_SEED_POLICY_H_
