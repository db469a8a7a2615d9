// The PyTorch-native schemes: the serial seeded init proposed for PyTorch pipelining (PR
// #139445, closed unmerged), torchtitan's set_determinism (seed + pp_rank), and DTensor's RNG
// trackers by PyTorch release as torchtitan uses them.
//
// Sources read (facts asserted in properties/seed_upstream_facts_test.cc):
//   pytorch/torchtitan@b5bcd76c torchtitan/distributed/utils.py:172-307 (set_determinism);
//   torchtitan/trainer.py:330-335 (distinct_seed_mesh_dims=["pp"]);
//   torchtitan/config/configs.py:356 (DebugConfig.seed defaults to None).
//   pytorch/pytorch@0175565d torch/distributed/tensor/_random.py (manual_seed,
//   OffsetBasedRNGTracker._compute_rng_offsets); a 2.5-era copy of
//   torch/distributed/tensor/parallel/api.py (parallelize_module installs
//   TensorParallelRNGTracker, base_seed 1234, distribute_region_enabled = False) and of the
//   tracker file (TensorParallelRNGTracker._manual_seed: 1234 + 2718 + tp_rank;
//   OffsetBasedRNGTracker.__init__ broadcasts rank 0's CUDA state), read as stored text
//   (the tag's commit could not be named).
//   FSDP2 under dtensor (Note [dtensor]): pytorch/pytorch@0175565d _random.py
//   (_calc_shard_info, _calc_shard_linear_idx, _calc_first_shard_size);
//   pytorch/pytorch@010ae4a8 torch/distributed/fsdp/_fully_shard/_fsdp_param.py
//   (FSDPParam._init_sharded_param, _init_sharding_spec_spmd, _init_sharding_spec_tp);
//   pytorch/torchtitan@b5bcd76c torchtitan/trainer.py:479-493, models/llama3/parallelize.py:57-78,
//   config/configs.py:172, distributed/fsdp.py:28-62.
#include <cstdint>
#include <memory>
#include <vector>

#include "fmt/format.h"
#include "policies/seed/common.h"
#include "policies/seed/factories.h"

namespace twinsim::policies::seed {
namespace {

// tp == 1 (and etp, which defaults to tp) and no experts split over EP ranks (Note [Experts over
// EP] in common.h).
bool TpOneNoSplitExperts(const core::ParallelLayout& layout, InitDevice) {
  return layout.config().tp == 1 && layout.expert_tp() == 1 && !ExpertsSplitOverEp(layout);
}
constexpr const char* kTpOneNoSplitExperts = "tp == 1, no experts split over ep or etp";

// Note [torch-serial]
// ~~~~~~~~~~~~~~~~~~~
// torch.manual_seed(seed) once, then the stages initialize in stage order, each receiving the
// CPU and CUDA generator states from the stage before it and sending them on when done, so the
// model draws exactly what one device would. This is the "serial" mode of seeded_module_init
// *proposed* for torch.distributed.pipelining in PR #139445, which was closed without being
// merged (the RFC, #139304, is still open): no PyTorch release has it. Every rank of a stage's TP group draws its *local* shard from the same state, so with
// tp > 1 the shards repeat each other's draws, and the stream no longer advances as on one
// device: parity and distinct hold only when tp == 1. Stage c lives on pipeline rank c % pp
// (interleaved stages hop back and forth); the state goes to the same (dp, tp) on the next stage.
class TorchSerialPolicy final : public SeedPolicy {
 public:
  std::string_view name() const override { return "torch-serial"; }
  std::string_view version() const override { return "2"; }
  std::string_view models() const override {
    return "the serial pipeline init proposed in PyTorch PR #139445 (closed, unmerged; RFC "
           "#139304 open): one torch.manual_seed, generator states passed stage to stage";
  }
  core::Provenance provenance() const override {
    return core::Provenance{
        .sources = {{"pytorch/pytorch", "PR #139445 (closed, unmerged)",
                     "torch/distributed/pipelining (proposed)", "seeded_module_init", 0, 0,
                     "mode=\"serial\": stages initialize in order, each handing its CPU and CUDA "
                     "generator states to the next"}},
        .deviations = {"Not in any PyTorch release: PR #139445 was closed unmerged and RFC "
                       "#139304 is open; twinsim models the proposal as described there.",
                       "The proposal knows nothing of expert parallelism: with experts split over "
                       "ep > 1 each EP rank builds its own experts from the handed-on state, so EP "
                       "ranks repeat draws and parity and distinct are not claimed (Note [Experts "
                       "over EP])."}};
  }
  const std::vector<Claim>& claims() const override {
    static const std::vector<Claim> kClaims = {
        Always(Property::kDistribution),
        When(Property::kParity, kTpOneNoSplitExperts, TpOneNoSplitExperts),
        ReplicaWhenExpertsSplitLikeDense(),
        When(Property::kDistinct, kTpOneNoSplitExperts, TpOneNoSplitExperts),
        Always(Property::kDeterminism),
        Always(Property::kInitFits)};
    return kClaims;
  }
  bool Supports(InitDevice) const override { return true; }
  InitDevice default_init_device() const override { return InitDevice::kCuda; }

  StatusOr<RankInit> InitRank(const InitContext& ctx) const override {
    const core::ParallelLayout& layout = *ctx.layout;
    RankShards shards(ctx);
    RankInit init;
    TWINSIM_ASSIGN_OR_RETURN(bool fits, shards.AllocateAll(init));
    if (!fits) return init;
    TorchGenerator cpu = TorchGenerator::Cpu(ctx.seed);
    TorchGenerator cuda = TorchGenerator::Cuda(ctx.seed, ctx.gpu);
    TorchGenerator& gen = ctx.init_device == InitDevice::kCpu ? cpu : cuda;
    const core::ParallelCoords me = layout.RankCoords(ctx.rank);
    const uint64_t cpu_bytes = cpu.Save().size(), cuda_bytes = cuda.Save().size();
    for (int v = 0; v < layout.config().vpp; ++v) {
      const int stage = layout.StageAt(me.pp, v);
      if (stage > 0) {
        core::ParallelCoords prev = me;
        prev.pp = layout.PipelineRankOf(stage - 1);
        std::vector<std::byte> state;
        TWINSIM_ASSIGN_OR_RETURN(fits, RecvBytes(ctx, layout.RankOf(prev), cpu_bytes + cuda_bytes,
                                                 stage, init, &state));
        if (!fits) return init;
        if (ctx.device->Info().holds_bytes) {
          TWINSIM_RETURN_IF_ERROR(cpu.Load(std::span(state).first(cpu_bytes)));
          TWINSIM_RETURN_IF_ERROR(cuda.Load(std::span(state).subspan(cpu_bytes)));
        }
      }
      TWINSIM_ASSIGN_OR_RETURN(fits, DrawShards(ctx, shards, init, [&](int i) {
                                 return DrawChoice{
                                     shards.owned()[i].stage == stage ? &gen : nullptr, false};
                               }));
      if (!fits) return init;
      if (stage + 1 < layout.num_stages()) {
        core::ParallelCoords next = me;
        next.pp = layout.PipelineRankOf(stage + 1);
        std::vector<std::byte> state = cpu.Save();
        const std::vector<std::byte> cuda_state = cuda.Save();
        state.insert(state.end(), cuda_state.begin(), cuda_state.end());
        TWINSIM_ASSIGN_OR_RETURN(fits, SendBytes(ctx, layout.RankOf(next), state, stage + 1, init));
        if (!fits) return init;
      }
    }
    TWINSIM_RETURN_IF_ERROR(SyncTiedCopies(ctx, shards, init));
    return init;
  }
};

// Note [torch-parallel]
// ~~~~~~~~~~~~~~~~~~~~~
// torchtitan's set_determinism (distributed/utils.py:172-307, called with
// distinct_seed_mesh_dims=["pp"], trainer.py:330-335): every rank seeds
// torch.manual_seed(seed + pp_rank) and initializes its own stages at once, with no generator
// state passed between stages. When world > pp it also calls DTensor's manual_seed(seed,
// world_mesh) (utils.py:304-307); today that is torch.manual_seed again, and parameters that
// are DTensors then draw through the `dtensor` policy's offsets. torch-parallel is the plain
// tensor path (the 1-D PP case). Stages draw different streams, so nothing matches
// single-device init once pp > 1; TP ranks of a stage share a state, so tp > 1 repeats draws
// across shards.
class TorchParallelPolicy final : public SeedPolicy {
 public:
  std::string_view name() const override { return "torch-parallel"; }
  std::string_view version() const override { return "2"; }
  std::string_view models() const override {
    return "torchtitan set_determinism: torch.manual_seed(seed + pp_rank) on every stage, no "
           "generator state passed between stages (tied embeddings still copied)";
  }
  core::Provenance provenance() const override {
    return core::Provenance{
        .sources = {{"pytorch/torchtitan", "b5bcd76c", "torchtitan/trainer.py", "Trainer.__init__",
                     330, 335, "set_determinism is called with distinct_seed_mesh_dims=[\"pp\"]"},
                    {"pytorch/torchtitan", "b5bcd76c", "torchtitan/distributed/utils.py",
                     "set_determinism", 266, 296,
                     "seed += pp local rank (times the sizes of earlier distinct dims); "
                     "torch.manual_seed(seed)"},
                    {"pytorch/torchtitan", "b5bcd76c", "torchtitan/distributed/utils.py",
                     "set_determinism", 304, 307,
                     "when world_size > pp: torch.distributed.tensor._random.manual_seed(seed, "
                     "world_mesh)"}},
        .deviations = {"torchtitan's DebugConfig.seed defaults to None (config/configs.py:356): "
                       "rank 0's random CPU state is broadcast as the seed (utils.py:254-259), so "
                       "runs are not reproducible unless a seed is given; twinsim always passes "
                       "--seed.",
                       "With world > pp torchtitan's parameters are DTensors and draw through "
                       "DTensor's offsets (the `dtensor` policy); torch-parallel models the plain "
                       "tensor path.",
                       "Experts split over ep > 1 are plain modules on their EP rank seeded alike, "
                       "so EP ranks repeat draws; distinct is not claimed there (Note [Experts over "
                       "EP])."}};
  }
  const std::vector<Claim>& claims() const override {
    static const std::vector<Claim> kClaims = {
        Always(Property::kDistribution),
        ReplicaWhenExpertsSplitLikeDense(),
        When(Property::kDistinct, kTpOneNoSplitExperts, TpOneNoSplitExperts),
        Always(Property::kDeterminism), Always(Property::kInitFits)};
    return kClaims;
  }
  bool Supports(InitDevice) const override { return true; }
  InitDevice default_init_device() const override { return InitDevice::kCuda; }

  StatusOr<RankInit> InitRank(const InitContext& ctx) const override {
    RankShards shards(ctx);
    RankInit init;
    TWINSIM_ASSIGN_OR_RETURN(bool fits, shards.AllocateAll(init));
    if (!fits) return init;
    const int pp_rank = ctx.layout->RankCoords(ctx.rank).pp;
    TorchGenerator gen = TorchGenerator::For(ctx.init_device, ctx.seed + pp_rank, ctx.gpu);
    TWINSIM_ASSIGN_OR_RETURN(fits, DrawShards(ctx, shards, init,
                                              [&](int) { return DrawChoice{&gen, false}; }));
    if (!fits) return init;
    TWINSIM_RETURN_IF_ERROR(SyncTiedCopies(ctx, shards, init));
    return init;
  }
};

uint64_t RoundUp4(uint64_t n) { return (n + 3) / 4 * 4; }

// tp == 1, one pipeline stage, and no experts split over EP ranks: every rank then walks the
// whole model in registration order from one state, as one device does.
bool TpOneSingleStage(const core::ParallelLayout& layout, InitDevice) {
  return layout.config().tp == 1 && layout.expert_tp() == 1 && layout.num_stages() == 1 &&
         !ExpertsSplitOverEp(layout);
}

// Whether DTensor shards dense parameter `spec` over the TP mesh dim (a Shard placement there).
bool TpShardsDense(const core::ParamSpec& spec, const core::LayoutConfig& config) {
  return spec.expert < 0 && config.tp > 1 && spec.tp_split != core::TpSplit::kReplicated;
}

// prod(_calc_first_shard_size(spec)) of dense parameter `param` on the mesh FSDP2 and TP give
// it (Note [dtensor]): each Shard placement, in mesh order (dp_shard, cp, tp), sets its tensor
// dim to torch.chunk's first piece of the *global* size over that mesh dim alone, so when
// several mesh dims shard dim 0 the last one decides its size. A scalar is 1.
uint64_t DTensorFirstShardNumel(const core::ParallelLayout& layout, int param) {
  const core::ParamSpec& spec = layout.model().params[param];
  const core::LayoutConfig& config = layout.config();
  std::vector<int64_t> size = spec.shape;
  const auto first_chunk = [](int64_t n, int64_t ways) { return (n + ways - 1) / ways; };
  if (!size.empty() && layout.shard_group_size() > 1) {
    // torchtitan's spmd_types mesh keeps cp as its own dim after dp_shard.
    const int last = config.mesh == core::MeshConvention::kTorchtitan && config.cp > 1
                         ? config.cp
                         : config.dp_shard;
    size[0] = first_chunk(spec.shape[0], last);
  }
  if (TpShardsDense(spec, config)) {
    size[spec.tp_dim] = first_chunk(spec.shape[spec.tp_dim], config.tp);
  }
  uint64_t numel = 1;
  for (int64_t d : size) numel *= static_cast<uint64_t>(d);
  return numel;
}

// Note [dtensor]
// ~~~~~~~~~~~~~~
// DTensor's random ops by PyTorch release, as torchtitan uses them (every rank seeded
// seed + pp_rank by set_determinism, Note [torch-parallel]).
//
// Current (`dtensor`, pytorch/pytorch@0175565d torch/distributed/tensor/_random.py):
// manual_seed(seed, mesh) is torch.manual_seed(seed) on the calling rank, with no broadcast
// (the tracker is built with run_state_sync=False). All ranks of a stage share one CUDA
// generator state, and OffsetBasedRNGTracker runs each random op on a parameter (a DTensor
// over the TP mesh, replicated over DP) as
//   pre-op:  offset = base + (shard_linear_idx * prod(first shard size) + 3) // 4 * 4
//   op:      the ordinary CUDA kernel on the local shard (PyTorch's launch layout)
//   post-op: offset = base + (numel(full tensor) + 3) // 4 * 4
// (_compute_rng_offsets). A constant init (ones_, zeros_) is no random op and leaves the
// offset alone. A replicated parameter has shard_linear_idx 0 everywhere. Shards are
// drawn at different offsets, so they are not the slices single-device init would give; and
// when a shard holds fewer than 4 elements, the rounding puts several shards at one offset.
//
// Under FSDP2 (`dtensor`, the layout's dp_shard > 1, or torchtitan's fsdp = dp_shard * cp > 1).
// torchtitan applies fully_shard inside parallelize_fn before to_empty and init_weights
// (torchtitan/trainer.py:479-493 @b5bcd76c; llama3/parallelize.py:57-78 applies FSDP always,
// and with the default spmd_backend "spmd_types", config/configs.py:172, on the full storage
// mesh ("dp_replicate", "dp_shard", "cp", "tp"), distributed/fsdp.py:28-62). So init_weights
// draws into FSDP2's sharded DTensors: FSDPParam._init_sharded_param chunks the rank's TP-local
// tensor on dim 0 with torch.chunk over the fsdp ranks (the last chunks shorter or empty; the
// local tensor is the unpadded narrow of the ceil-sized padded chunk), and
// _init_sharding_spec_spmd / _init_sharding_spec_tp put Shard(0) on each DP shard mesh dim, or
// _StridedShard(0, split_factor=tp) when TP also shards dim 0 (pytorch/pytorch@010ae4a8
// torch/distributed/fsdp/_fully_shard/_fsdp_param.py). _compute_rng_offsets then sees:
//   shard_linear_idx = fsdp_idx * tp + tp_rank (fsdp_idx alone where TP replicates the
//     parameter): _calc_shard_info flattens the mesh dims sharding one tensor dim in mesh
//     order, and _calc_shard_linear_idx makes the last tensor dim fastest;
//   first shard size: _calc_first_shard_size chunks the *global* size of a dim over each mesh
//     dim that shards it, in turn, so the last one wins: dim 0 is ceil(rows / tp) when TP
//     shards dim 0 (the _StridedShard case: not the fsdp piece), ceil(rows / cp) under
//     torchtitan with cp > 1, else ceil(rows / dp_shard).
// Each fsdp piece is its own op on its own local tensor: PyTorch's launch layout for the
// piece's numel, from base + RoundUp4(shard_linear_idx * first), and the post-op offset is
// base + RoundUp4(numel of the whole tensor) on every rank. twinsim keeps whole TP shards per
// rank (ParallelLayout::OwnedBy, Note [Sharded data parallelism]), so each rank draws every
// fsdp piece of its TP shard exactly as the fsdp rank owning it would, at that rank's offset,
// and writes it at its rows: the values are FSDP2's "as gathered"; the memory and kernel time
// charged are those of the whole TP shard. Consequences the claims follow: with TP on dim 0
// the offsets of a parameter run to about fsdp times its numel, into the next parameters'
// ranges (distinct fails); likewise under torchtitan with cp > 1 and dp_shard > 1. Expert
// parameters keep the layout's rule (not sharded over fsdp).
//
// PyTorch <= 2.5 (`dtensor@2.5`): parallelize_module (tp > 1) installs a
// TensorParallelRNGTracker seeded 1234 + 2718 + tp_rank, but leaves distribute_region_enabled
// False, so random ops on TP-sharded parameters run on each rank's default CUDA generator
// (seed + pp_rank), drawing local shards one after another: TP ranks repeat each other's
// draws. Without parallelize_module (tp == 1) the first random op on a DTensor builds an
// OffsetBasedRNGTracker, whose constructor broadcasts rank 0's CUDA state over WORLD: every
// stage then draws from rank 0's seed (seed + 0) from offset 0, overriding the per-stage
// seeds, and the stages repeat each other's stream.
enum class DTensorRelease : uint8_t { kTorch25, kCurrent };

class DTensorPolicy final : public SeedPolicy {
 public:
  explicit DTensorPolicy(DTensorRelease release) : release_(release) {}

  std::string_view name() const override {
    return release_ == DTensorRelease::kTorch25 ? "dtensor@2.5" : "dtensor";
  }
  // 4: the current release draws FSDP2's pieces at their owners' offsets (issue 14).
  std::string_view version() const override {
    return release_ == DTensorRelease::kTorch25 ? "3" : "4";
  }
  std::string_view models() const override {
    if (release_ == DTensorRelease::kTorch25) {
      return "DTensor random ops in PyTorch <= 2.5 (torchtitan): TensorParallelRNGTracker with "
             "regions disabled under TP, else rank 0's CUDA state broadcast over WORLD";
    }
    return "DTensor OffsetBasedRNGTracker (PyTorch main @0175565d, torchtitan): seed + "
           "pp_rank, per-shard Philox offsets over the (fsdp, tp) mesh FSDP2 gives parameters, "
           "PyTorch's CUDA layout";
  }
  core::Provenance provenance() const override {
    core::Provenance p;
    if (release_ == DTensorRelease::kCurrent) {
      p.sources = {
          {"pytorch/pytorch", "0175565d", "torch/distributed/tensor/_random.py", "manual_seed", 0,
           0, "torch.manual_seed(seed) on the calling rank; the tracker is created with "
              "run_state_sync=False (no broadcast)"},
          {"pytorch/pytorch", "0175565d", "torch/distributed/tensor/_random.py",
           "OffsetBasedRNGTracker._compute_rng_offsets", 0, 0,
           "start increment (shard_linear_idx * prod(first shard size) + 3) // 4 * 4, end "
           "increment (numel + 3) // 4 * 4"},
          {"pytorch/pytorch", "0175565d", "torch/distributed/tensor/_random.py",
           "_calc_shard_info", 0, 0,
           "the mesh dims sharding one tensor dim are flattened in mesh order: shard index "
           "fsdp_idx * tp + tp_rank when FSDP and TP both shard dim 0"},
          {"pytorch/pytorch", "0175565d", "torch/distributed/tensor/_random.py",
           "_calc_shard_linear_idx", 0, 0,
           "shard_linear_idx over the tensor dims with the last dim fastest: fsdp_idx * tp + "
           "tp_rank when TP shards another dim"},
          {"pytorch/pytorch", "0175565d", "torch/distributed/tensor/_random.py",
           "_calc_first_shard_size", 0, 0,
           "each Shard placement, in mesh order, sets its dim to the first torch.chunk piece of "
           "the global size over that mesh dim alone: the last mesh dim sharding a dim wins"},
          {"pytorch/pytorch", "010ae4a8", "torch/distributed/fsdp/_fully_shard/_fsdp_param.py",
           "FSDPParam._init_sharded_param", 0, 0,
           "the TP-local tensor is chunked on dim 0 over the fsdp ranks (torch.chunk, empty "
           "chunks appended); the sharded DTensor's local tensor is the unpadded narrow of the "
           "ceil-sized padded chunk"},
          {"pytorch/pytorch", "010ae4a8", "torch/distributed/fsdp/_fully_shard/_fsdp_param.py",
           "FSDPParam._init_sharding_spec_spmd", 0, 0,
           "Shard(0) on each DP shard mesh dim, or _StridedShard(0, split_factor) with the "
           "product of the later mesh dims sharding dim 0 (tp)"},
          {"pytorch/pytorch", "010ae4a8", "torch/distributed/fsdp/_fully_shard/_fsdp_param.py",
           "FSDPParam._init_sharding_spec_tp", 0, 0,
           "(Shard(0) or _StridedShard(0, split_factor=tp), *tp placements) on the "
           "concatenated (fsdp, tp) mesh"},
          {"pytorch/torchtitan", "b5bcd76c", "torchtitan/trainer.py", "Trainer.__init__", 479,
           493, "parallelize_fn (TP, then fully_shard) before model.to_empty and init_weights"},
          {"pytorch/torchtitan", "b5bcd76c", "torchtitan/models/llama3/parallelize.py",
           "parallelize_llama", 57, 78,
           "apply_fsdp_to_decoder always runs; under spmd_types its mesh comes from "
           "resolve_fsdp_mesh"},
          {"pytorch/torchtitan", "b5bcd76c", "torchtitan/config/configs.py",
           "ParallelismConfig", 172, 172, "spmd_backend defaults to \"spmd_types\""},
          {"pytorch/torchtitan", "b5bcd76c", "torchtitan/distributed/fsdp.py", "resolve_fsdp_mesh",
           28, 62,
           "storage mesh (dp_replicate, dp_shard, cp, tp), FSDP shard dims dp_shard and cp "
           "when cp is enabled"},
          {"pytorch/torchtitan", "b5bcd76c", "torchtitan/distributed/utils.py", "set_determinism",
           285, 307, "seed + pp_rank, then DTensor manual_seed(seed, world_mesh) when world > pp"}};
      p.deviations = {
          "FSDP2 (the layout's dp_shard, or torchtitan's fsdp = dp_shard * cp) is modelled as "
          "gathered: every rank of an fsdp group draws all fsdp pieces of its TP shard, each at "
          "the offset its owning rank computes, and keeps the whole TP shard (Note [dtensor]). "
          "The values are FSDP2+DTensor's; the memory and kernel time charged are those of the "
          "whole TP shard, not of the rank's piece.",
          "torchtitan's default spmd_backend \"spmd_types\" is modelled: cp is its own mesh dim "
          "after dp_shard, so with cp > 1 dim 0's first shard size is ceil(rows / cp). Under "
          "\"partial_dtensor\" the fsdp mesh is one flattened dim (ceil(rows / (dp_shard * "
          "cp))); the two differ only with cp > 1 and dp_shard > 1. Under the Megatron mesh "
          "convention dp_shard is taken as the one fsdp mesh dim before tp.",
          "Expert parameters are not sharded over fsdp (the layout's rule; torchtitan's efsdp "
          "mesh is not modelled); their offsets are the TP-only ones.",
          "FSDP2's _fsdp_param.py was read at pytorch/pytorch@010ae4a8, the only stored copy, "
          "not at 0175565d.",
          "Experts split over ep > 1 are plain modules on their EP rank drawn from the default "
          "generator, not DTensors on an expert mesh; distinct is not claimed there (Note "
          "[Experts over EP]).",
          "Uneven TP splits are numpy.array_split's here, torch.chunk's in DTensor; no claim "
          "is made where they differ.",
          "Line numbers of pytorch/pytorch files were not available to the reader (stored "
          "text); functions are cited by name."};
    } else {
      p.sources = {
          {"pytorch/pytorch", "2.5 (stored copy; commit not named)",
           "torch/distributed/tensor/parallel/api.py", "parallelize_module", 0, 0,
           "installs TensorParallelRNGTracker, _manual_seed(device_mesh, base_seed=1234), "
           "distribute_region_enabled = False"},
          {"pytorch/pytorch", "2.5 (stored copy; commit not named)",
           "torch/distributed/tensor/_random.py", "TensorParallelRNGTracker._manual_seed", 0, 0,
           "tensor-parallel seed = base_seed + 2718 + tp_rank"},
          {"pytorch/pytorch", "2.5 (stored copy; commit not named)",
           "torch/distributed/tensor/_random.py", "OffsetBasedRNGTracker.__init__", 0, 0,
           "broadcasts rank 0's CUDA RNG state over the default (WORLD) group"}};
      p.deviations = {
          "TensorParallelRNGTracker's seed 1234 + 2718 + tp_rank is used only when the user "
          "sets distribute_region_enabled = True after parallelize_module; the code's default "
          "(False) is modelled, so TP shards draw from the default CUDA generator.",
          "The 2.5 files were read as stored copies whose tag commit could not be named; "
          "PRs #141220 and #141223 (2.6) removed the TP tracker and the broadcast.",
          "FSDP2's dp_shard offsets are not modelled for PyTorch <= 2.5 (the current release "
          "models them, issue 14): DP ranks draw whole TP shards as replicas whatever the "
          "layout's dp_shard."};
    }
    return p;
  }
  const std::vector<Claim>& claims() const override {
    if (release_ == DTensorRelease::kTorch25) {
      static const std::vector<Claim> kClaims25 = {
          Always(Property::kDistribution),
          When(Property::kParity, "tp == 1, one pipeline stage, no experts split over ep or etp",
               TpOneSingleStage),
          Always(Property::kReplica),
          When(Property::kDistinct, "tp == 1, one pipeline stage, no experts split over ep or etp",
               TpOneSingleStage),
          Always(Property::kDeterminism), Always(Property::kInitFits)};
      return kClaims25;
    }
    static const std::vector<Claim> kClaims = {
        Always(Property::kDistribution),
        Always(Property::kReplica),
        When(Property::kDistinct,
             "every TP-split random parameter splits evenly, >= 4 elements per shard; no "
             "experts split over ep; with fsdp > 1 every random dense parameter's dim 0 "
             "divides by fsdp, TP does not shard its dim 0, and not cp > 1 with dp_shard > 1 "
             "under the torchtitan mesh",
             EvenShardsOfAtLeastFour),
        Always(Property::kDeterminism), Always(Property::kInitFits)};
    return kClaims;
  }
  bool Supports(InitDevice device) const override { return device == InitDevice::kCuda; }
  InitDevice default_init_device() const override { return InitDevice::kCuda; }

  StatusOr<RankInit> InitRank(const InitContext& ctx) const override {
    if (ctx.init_device != InitDevice::kCuda) {
      return Status::InvalidArgument(fmt::format("{} initializes on cuda only", name()));
    }
    const core::ParallelLayout& layout = *ctx.layout;
    RankShards shards(ctx);
    RankInit init;
    TWINSIM_ASSIGN_OR_RETURN(bool fits, shards.AllocateAll(init));
    if (!fits) return init;
    const int pp_rank = layout.RankCoords(ctx.rank).pp;
    const int tp_rank = layout.RankCoords(ctx.rank).tp;
    const int etp_rank = layout.RankCoords(ctx.rank).etp;  // an expert shard's index
    if (release_ == DTensorRelease::kTorch25 && layout.config().tp > 1) {
      // parallelize_module's tracker with regions disabled: the default generator, local
      // shards in order.
      TorchGenerator gen = TorchGenerator::Cuda(ctx.seed + pp_rank, ctx.gpu);
      TWINSIM_ASSIGN_OR_RETURN(fits, DrawShards(ctx, shards, init,
                                                [&](int) { return DrawChoice{&gen, false}; }));
      if (!fits) return init;
      TWINSIM_RETURN_IF_ERROR(SyncTiedCopies(ctx, shards, init));
      return init;
    }
    // <= 2.5 without TP: rank 0's state (seed + 0, offset 0) broadcast over WORLD.
    const uint64_t seed = release_ == DTensorRelease::kTorch25 ? ctx.seed : ctx.seed + pp_rank;
    TorchGenerator gen = TorchGenerator::Cuda(seed, ctx.gpu);
    if (release_ == DTensorRelease::kTorch25) {
      TWINSIM_ASSIGN_OR_RETURN(fits, BroadcastCudaState(ctx, gen, init));
      if (!fits) return init;
    }
    // Note [dtensor]: the fsdp group of the current release (1 for dtensor@2.5, whose FSDP2
    // offsets are not modelled).
    const int fsdp = release_ == DTensorRelease::kCurrent ? layout.shard_group_size() : 1;
    const int tp = layout.config().tp;
    uint64_t base = 0;
    TWINSIM_ASSIGN_OR_RETURN(fits, DrawShards(ctx, shards, init, [&](int i) {
                               const core::Block2D& b = shards.block(i);
                               const core::ParamSpec& spec = shards.spec(i);
                               const core::OwnedShard& o = shards.owned()[i];
                               // A constant init (ones_, zeros_) is no random op: DTensor
                               // enters no distribute region and the offset stays.
                               if (spec.init.kind == core::InitKind::kConstant) {
                                 return DrawChoice{&gen, false};
                               }
                               DrawChoice choice{&gen, false};
                               if (spec.expert >= 0 || fsdp == 1) {
                                 uint64_t incr = 0;
                                 if (!o.shard.whole()) {
                                   const uint64_t local0 = static_cast<uint64_t>(
                                       layout.ShardOf(o.param, 0).PaddedNumel(spec.shape));
                                   const int index = spec.expert >= 0 ? etp_rank : tp_rank;
                                   incr = RoundUp4(static_cast<uint64_t>(index) * local0);
                                 }
                                 gen.set_offset(base + incr);
                               } else {
                                 // Every fsdp piece of this TP shard, at its owner's offset.
                                 const uint64_t first = DTensorFirstShardNumel(layout, o.param);
                                 const bool tp_split = TpShardsDense(spec, layout.config());
                                 const int64_t rows =
                                     static_cast<int64_t>(b.row_end - b.row_begin);
                                 for (int f = 0; f < fsdp; ++f) {
                                   const uint64_t linear =
                                       tp_split ? static_cast<uint64_t>(f) * tp + tp_rank
                                                : static_cast<uint64_t>(f);
                                   choice.pieces.push_back(
                                       {core::ParallelLayout::ChunkRows(rows, fsdp, f),
                                        base + RoundUp4(linear * first)});
                                 }
                               }
                               base += RoundUp4(b.rows * b.cols);
                               return choice;
                             }));
    if (!fits) return init;
    TWINSIM_RETURN_IF_ERROR(SyncTiedCopies(ctx, shards, init));
    return init;
  }

 private:
  // OffsetBasedRNGTracker.__init__ (<= 2.5): torch.distributed.broadcast(rng_state, 0) over the
  // default group. Modelled as rank 0 sending its state to every other rank (the bytes and
  // their route; a real broadcast is a tree or ring, NCCL's choice). On return every rank's
  // `gen` holds rank 0's state.
  static StatusOr<bool> BroadcastCudaState(const InitContext& ctx, TorchGenerator& gen,
                                           RankInit& init) {
    constexpr int kStateTag = 1 << 21;  // apart from the tied copies' tags
    const std::vector<std::byte> state = gen.Save();
    const int world = ctx.layout->world_size();
    if (ctx.rank == 0) {
      for (int r = 1; r < world; ++r) {
        TWINSIM_ASSIGN_OR_RETURN(bool fits, SendBytes(ctx, r, state, kStateTag, init));
        if (!fits) return false;
      }
      return true;
    }
    std::vector<std::byte> received;
    TWINSIM_ASSIGN_OR_RETURN(bool fits,
                             RecvBytes(ctx, 0, state.size(), kStateTag, init, &received));
    if (!fits) return false;
    if (ctx.device->Info().holds_bytes) TWINSIM_RETURN_IF_ERROR(gen.Load(received));
    return true;
  }

  // Where the offset formula is safe. Uneven splits are twinsim's (numpy.array_split: the
  // first shards one larger), not DTensor's (torch.chunk: ceil-sized, trailing shards smaller
  // or empty); with them shard_linear_idx * local_size_on_rank_0 can run past the tensor's
  // numel into the next parameter's offsets, so no claim is made there. Nor with experts split
  // over ep: twinsim's experts are plain modules on their EP rank, drawn from the default
  // generator (Note [Experts over EP] in common.h), not DTensors on an expert mesh.
  //
  // Under FSDP2 (fsdp > 1, Note [dtensor]) the fsdp pieces of a dense parameter tile it at
  // shard_linear_idx * first only when its dim 0 divides by fsdp and the first shard size is
  // the piece's: not when TP also shards dim 0 (_StridedShard: the first size is the TP
  // shard's, so offsets run to about fsdp x numel, into the next parameters) nor under
  // torchtitan's mesh with cp > 1 and dp_shard > 1 (dim 0 sized by cp alone).
  static bool EvenShardsOfAtLeastFour(const core::ParallelLayout& layout, InitDevice) {
    if (ExpertsSplitOverEp(layout)) return false;
    const core::ModelSpec& model = layout.model();
    const core::LayoutConfig& config = layout.config();
    const int fsdp = layout.shard_group_size();
    for (int p = 0; p < static_cast<int>(model.params.size()); ++p) {
      const core::ParamSpec& spec = model.params[p];
      if (spec.init.kind == core::InitKind::kConstant) continue;
      if (fsdp > 1 && spec.expert < 0) {
        const bool tp_split = TpShardsDense(spec, config);
        if (tp_split && spec.tp_dim == 0) return false;
        if (config.mesh == core::MeshConvention::kTorchtitan && config.cp > 1 &&
            config.dp_shard > 1) {
          return false;
        }
        const int64_t rows = spec.shape.empty() ? 1 : spec.shape[0];
        if (rows % fsdp != 0) return false;
        if (tp_split && spec.shape[spec.tp_dim] % config.tp != 0) return false;
        if (DTensorFirstShardNumel(layout, p) < 4) return false;
        continue;
      }
      if (spec.tp_split == core::TpSplit::kReplicated) continue;
      const int64_t first = layout.ShardOf(p, 0).PaddedNumel(spec.shape);
      if (first < 4) return false;
      for (int t = 1; t < layout.SplitWays(p); ++t) {
        if (layout.ShardOf(p, t).PaddedNumel(spec.shape) != first) return false;
      }
    }
    return true;
  }

  DTensorRelease release_;
};

}  // namespace

std::unique_ptr<SeedPolicy> NewTorchSerialPolicy() {
  return std::make_unique<TorchSerialPolicy>();
}
std::unique_ptr<SeedPolicy> NewTorchParallelPolicy() {
  return std::make_unique<TorchParallelPolicy>();
}
std::unique_ptr<SeedPolicy> NewDTensorPolicy() {
  return std::make_unique<DTensorPolicy>(DTensorRelease::kCurrent);
}
std::unique_ptr<SeedPolicy> NewDTensor25Policy() {
  return std::make_unique<DTensorPolicy>(DTensorRelease::kTorch25);
}

}  // namespace twinsim::policies::seed
