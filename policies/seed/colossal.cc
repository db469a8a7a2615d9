// ColossalAI's legacy seed manager (colossalai.legacy.context.random).
#include <memory>

#include "policies/seed/common.h"
#include "policies/seed/factories.h"

namespace twinsim::policies::seed {
namespace {

// Note [colossal-legacy]
// ~~~~~~~~~~~~~~~~~~~~~~
// ParallelContext.set_seed(seed): torch.manual_seed(seed) on every rank (the CPU generator is
// never forked), then one CUDA state per ParallelMode: DATA seeded `seed`, TENSOR seeded
// seed + tp_rank + 1024 * pp_rank. Tensor-parallel layers initialize under
// `with seed(ParallelMode.TENSOR)`, everything else in DATA mode. On CUDA, TP shards thus get
// different streams; on the CPU every rank draws from the same torch.manual_seed(seed) stream.
// Note that the TENSOR seed of tp_rank 0 on pp_rank 0 equals the DATA seed.
class ColossalLegacyPolicy final : public SeedPolicy {
 public:
  std::string_view name() const override { return "colossal-legacy"; }
  std::string_view version() const override { return "1"; }
  std::string_view models() const override {
    return "ColossalAI legacy seed manager: CUDA state forked per ParallelMode (TENSOR: "
           "seed+tp_rank+1024*pp_rank), CPU generator not forked";
  }
  const std::vector<Claim>& claims() const override {
    static const std::vector<Claim> kClaims = {Always(Property::kReplica),
                                               Always(Property::kDistribution),
                                               Always(Property::kDeterminism),
                                               Always(Property::kInitFits)};
    return kClaims;
  }
  bool Supports(InitDevice) const override { return true; }
  InitDevice default_init_device() const override { return InitDevice::kCuda; }

  StatusOr<RankInit> InitRank(const InitContext& ctx) const override {
    const core::ParallelCoords me = ctx.layout->RankCoords(ctx.rank);
    RankShards shards(ctx);
    RankInit init;
    TWINSIM_ASSIGN_OR_RETURN(bool fits, shards.AllocateAll(init));
    if (!fits) return init;
    TorchGenerator cpu = TorchGenerator::Cpu(ctx.seed);
    TorchGenerator data = TorchGenerator::Cuda(ctx.seed, ctx.gpu);
    TorchGenerator tensor =
        TorchGenerator::Cuda(ctx.seed + me.tp + 1024ull * me.pp, ctx.gpu);
    TWINSIM_ASSIGN_OR_RETURN(fits, DrawShards(ctx, shards, init, [&](int i) {
                               if (ctx.init_device == InitDevice::kCpu) {
                                 return DrawChoice{&cpu, false};
                               }
                               const bool split =
                                   shards.spec(i).tp_split != core::TpSplit::kReplicated;
                               return DrawChoice{split ? &tensor : &data, false};
                             }));
    if (!fits) return init;
    TWINSIM_RETURN_IF_ERROR(SyncTiedCopies(ctx, shards, init));
    return init;
  }
};

}  // namespace

std::unique_ptr<SeedPolicy> NewColossalLegacyPolicy() {
  return std::make_unique<ColossalLegacyPolicy>();
}

}  // namespace twinsim::policies::seed
