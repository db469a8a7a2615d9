// The PyTorch-native schemes: pipelining's serial and parallel seeded init, and DTensor's
// OffsetBasedRNGTracker as torchtitan uses it.
#include <memory>

#include "fmt/format.h"
#include "policies/seed/common.h"
#include "policies/seed/factories.h"

namespace twinsim::policies::seed {
namespace {

bool TpIsOne(const core::ParallelLayout& layout, InitDevice) { return layout.config().tp == 1; }

// Note [torch-serial]
// ~~~~~~~~~~~~~~~~~~~
// torch.manual_seed(seed) once, then the stages initialize in stage order, each receiving the
// CPU and CUDA generator states from the stage before it and sending them on when done, so the
// model draws exactly what one device would (PyTorch pipelining's seeded init in "serial"
// mode). Every rank of a stage's TP group draws its *local* shard from the same state, so with
// tp > 1 the shards repeat each other's draws, and the stream no longer advances as on one
// device: parity and distinct hold only when tp == 1. Stage c lives on pipeline rank c % pp
// (interleaved stages hop back and forth); the state goes to the same (dp, tp) on the next stage.
class TorchSerialPolicy final : public SeedPolicy {
 public:
  std::string_view name() const override { return "torch-serial"; }
  std::string_view version() const override { return "1"; }
  std::string_view models() const override {
    return "PyTorch pipelining seeded init, mode=\"serial\": one torch.manual_seed, generator "
           "states passed stage to stage";
  }
  const std::vector<Claim>& claims() const override {
    static const std::vector<Claim> kClaims = {
        Always(Property::kDistribution),
        When(Property::kParity, "tp == 1", TpIsOne), Always(Property::kReplica),
        When(Property::kDistinct, "tp == 1", TpIsOne), Always(Property::kDeterminism),
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
// Every pipeline rank seeds torch.manual_seed(seed + pp_rank) and initializes its own stages at
// once, with no generator state passed between stages (pipelining's "parallel" mode; torchtitan adds pp_rank to the seed
// the same way). Stages draw different streams, so nothing matches single-device init once
// pp > 1; TP ranks of a stage still share a state, so tp > 1 repeats draws across shards.
class TorchParallelPolicy final : public SeedPolicy {
 public:
  std::string_view name() const override { return "torch-parallel"; }
  std::string_view version() const override { return "1"; }
  std::string_view models() const override {
    return "PyTorch pipelining seeded init, mode=\"parallel\" / torchtitan: "
           "torch.manual_seed(seed + pp_rank) on every stage, no generator state passed between "
           "stages (tied embeddings still copied)";
  }
  const std::vector<Claim>& claims() const override {
    static const std::vector<Claim> kClaims = {
        Always(Property::kDistribution),
        Always(Property::kReplica), When(Property::kDistinct, "tp == 1", TpIsOne),
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

// Note [dtensor]
// ~~~~~~~~~~~~~~
// torchtitan seeds every rank with seed + pp_rank and lets DTensor's OffsetBasedRNGTracker run
// random ops on parameters: all ranks of a stage share one CUDA generator state, and for each
// parameter (a DTensor over the TP mesh, replicated over DP)
//   pre-op:  offset = base + (shard_linear_idx * local_size_on_rank_0 + 3) // 4 * 4
//   op:      the ordinary CUDA kernel on the local shard (PyTorch's launch layout)
//   post-op: offset = base + (numel(full tensor) + 3) // 4 * 4
// (torch/distributed/tensor/_random.py, _set_pre_op_offset / _set_post_op_offset). A
// replicated parameter has shard_linear_idx 0 everywhere. Shards are drawn at different
// offsets, so they are not the slices single-device init would give; and when a shard holds
// fewer than 4 elements, the rounding puts several shards at the same offset.
class DTensorPolicy final : public SeedPolicy {
 public:
  std::string_view name() const override { return "dtensor"; }
  std::string_view version() const override { return "1"; }
  std::string_view models() const override {
    return "DTensor OffsetBasedRNGTracker (torchtitan): seed + pp_rank, per-shard Philox "
           "offsets over PyTorch's CUDA layout";
  }
  const std::vector<Claim>& claims() const override {
    static const std::vector<Claim> kClaims = {
        Always(Property::kDistribution),
        Always(Property::kReplica),
        When(Property::kDistinct,
             "every TP-split random parameter splits evenly, >= 4 elements per shard",
             EvenShardsOfAtLeastFour),
        Always(Property::kDeterminism), Always(Property::kInitFits)};
    return kClaims;
  }
  bool Supports(InitDevice device) const override { return device == InitDevice::kCuda; }
  InitDevice default_init_device() const override { return InitDevice::kCuda; }

  StatusOr<RankInit> InitRank(const InitContext& ctx) const override {
    if (ctx.init_device != InitDevice::kCuda) {
      return Status::InvalidArgument("dtensor initializes on cuda only");
    }
    const core::ParallelLayout& layout = *ctx.layout;
    RankShards shards(ctx);
    RankInit init;
    TWINSIM_ASSIGN_OR_RETURN(bool fits, shards.AllocateAll(init));
    if (!fits) return init;
    const int pp_rank = layout.RankCoords(ctx.rank).pp;
    const int tp_rank = layout.RankCoords(ctx.rank).tp;
    TorchGenerator gen = TorchGenerator::Cuda(ctx.seed + pp_rank, ctx.gpu);
    uint64_t base = 0;
    TWINSIM_ASSIGN_OR_RETURN(fits, DrawShards(ctx, shards, init, [&](int i) {
                               const core::Block2D& b = shards.block(i);
                               const core::ParamSpec& spec = shards.spec(i);
                               uint64_t incr = 0;
                               if (!shards.owned()[i].shard.whole()) {
                                 const uint64_t local0 = static_cast<uint64_t>(
                                     layout.ShardOf(shards.owned()[i].param, 0)
                                         .PaddedNumel(spec.shape));
                                 incr = RoundUp4(static_cast<uint64_t>(tp_rank) * local0);
                               }
                               gen.set_offset(base + incr);
                               base += RoundUp4(b.rows * b.cols);
                               return DrawChoice{&gen, false};
                             }));
    if (!fits) return init;
    TWINSIM_RETURN_IF_ERROR(SyncTiedCopies(ctx, shards, init));
    return init;
  }

 private:
  // Where the offset formula is safe. Uneven splits are twinsim's (numpy.array_split: the
  // first shards one larger), not DTensor's (torch.chunk: ceil-sized, trailing shards smaller
  // or empty); with them shard_linear_idx * local_size_on_rank_0 can run past the tensor's
  // numel into the next parameter's offsets, so no claim is made there.
  static bool EvenShardsOfAtLeastFour(const core::ParallelLayout& layout, InitDevice) {
    const core::ModelSpec& model = layout.model();
    for (int p = 0; p < static_cast<int>(model.params.size()); ++p) {
      const core::ParamSpec& spec = model.params[p];
      if (spec.tp_split == core::TpSplit::kReplicated ||
          spec.init.kind == core::InitKind::kConstant) {
        continue;
      }
      const int64_t first = layout.ShardOf(p, 0).PaddedNumel(spec.shape);
      if (first < 4) return false;
      for (int t = 1; t < layout.config().tp; ++t) {
        if (layout.ShardOf(p, t).PaddedNumel(spec.shape) != first) return false;
      }
    }
    return true;
  }
};

}  // namespace

std::unique_ptr<SeedPolicy> NewTorchSerialPolicy() {
  return std::make_unique<TorchSerialPolicy>();
}
std::unique_ptr<SeedPolicy> NewTorchParallelPolicy() {
  return std::make_unique<TorchParallelPolicy>();
}
std::unique_ptr<SeedPolicy> NewDTensorPolicy() { return std::make_unique<DTensorPolicy>(); }

}  // namespace twinsim::policies::seed
