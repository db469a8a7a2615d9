// Megatron-LM's seeding: model_parallel_cuda_manual_seed with its CUDA RNG tracker, and
// --use-cpu-initialization.
#include <memory>
#include <set>

#include "policies/seed/common.h"
#include "policies/seed/factories.h"

namespace twinsim::policies::seed {
namespace {

bool IsRandom(const core::ParamSpec& spec) { return spec.init.kind != core::InitKind::kConstant; }

// Note [megatron]
// ~~~~~~~~~~~~~~~
// megatron/training/initialize.py _set_random_seed(seed): seed += 100 * pp_rank, then
// torch.manual_seed(seed) and model_parallel_cuda_manual_seed(seed)
// (megatron/core/tensor_parallel/random.py), which seeds
//   the default CUDA generator          seed               (replicated parameters)
//   tracker 'model-parallel-rng'        seed + 2718 + tp_rank   (TP-split parameters, drawn
//                                                           under get_cuda_rng_tracker().fork())
//   tracker 'expert-parallel-rng'       seed + 1024 + 100 * ep_rank + etp_rank   (experts)
// Every rank draws its local shard on the GPU (_initialize_affine_weight_gpu). Seeds are offsets
// from one root, so two roles can land on the same seed; AdditiveSeedsDistinct tells when they
// cannot (the claim's condition).
bool AdditiveSeedsDistinct(const core::ParallelLayout& layout, InitDevice) {
  const core::ModelSpec& model = layout.model();
  bool replicated = false, split = false, expert = false;
  for (const core::ParamSpec& p : model.params) {
    if (!IsRandom(p) || !p.tied_to.empty()) continue;
    if (p.expert >= 0) {
      expert = true;
    } else if (p.tp_split == core::TpSplit::kReplicated) {
      replicated = true;
    } else {
      split = true;
    }
  }
  const core::LayoutConfig& c = layout.config();
  std::set<uint64_t> seen;
  auto add = [&](uint64_t offset) { return seen.insert(offset).second; };
  for (int p = 0; p < c.pp; ++p) {
    const uint64_t base = 100ull * p;
    if (replicated && !add(base)) return false;
    for (int t = 0; t < c.tp; ++t) {
      if (split && !add(base + 2718 + t)) return false;
      for (int e = 0; expert && e < c.ep; ++e) {
        if (!add(base + 1024 + 100ull * e + t)) return false;
      }
    }
  }
  return true;
}

class MegatronPolicy final : public SeedPolicy {
 public:
  std::string_view name() const override { return "megatron"; }
  std::string_view version() const override { return "1"; }
  std::string_view models() const override {
    return "Megatron-LM model_parallel_cuda_manual_seed: TP seed = seed+2718+tp_rank, "
           "seed+100*pp_rank per stage, expert seeds; GPU init of local shards";
  }
  const std::vector<Claim>& claims() const override {
    static const std::vector<Claim> kClaims = {
        Always(Property::kDistribution),
        Always(Property::kReplica),
        When(Property::kDistinct, "no two of its additive seeds coincide",
             AdditiveSeedsDistinct),
        Always(Property::kDeterminism), Always(Property::kInitFits)};
    return kClaims;
  }
  bool Supports(InitDevice device) const override { return device == InitDevice::kCuda; }
  InitDevice default_init_device() const override { return InitDevice::kCuda; }

  StatusOr<RankInit> InitRank(const InitContext& ctx) const override {
    if (ctx.init_device != InitDevice::kCuda) {
      return Status::InvalidArgument(
          "megatron initializes on cuda (use megatron-cpu for --use-cpu-initialization)");
    }
    const core::ParallelCoords me = ctx.layout->RankCoords(ctx.rank);
    RankShards shards(ctx);
    RankInit init;
    TWINSIM_ASSIGN_OR_RETURN(bool fits, shards.AllocateAll(init));
    if (!fits) return init;
    const uint64_t seed = ctx.seed + 100ull * me.pp;
    TorchGenerator data = TorchGenerator::Cuda(seed, ctx.gpu);
    TorchGenerator tensor = TorchGenerator::Cuda(seed + 2718 + me.tp, ctx.gpu);
    TorchGenerator expert = TorchGenerator::Cuda(seed + 1024 + 100ull * me.ep + me.tp, ctx.gpu);
    TWINSIM_ASSIGN_OR_RETURN(fits, DrawShards(ctx, shards, init, [&](int i) {
                               const core::ParamSpec& spec = shards.spec(i);
                               if (spec.expert >= 0) return DrawChoice{&expert, false};
                               if (spec.tp_split != core::TpSplit::kReplicated) {
                                 return DrawChoice{&tensor, false};
                               }
                               return DrawChoice{&data, false};
                             }));
    if (!fits) return init;
    TWINSIM_RETURN_IF_ERROR(SyncTiedCopies(ctx, shards, init));
    return init;
  }
};

// The rows Megatron pads a vocab-parallel dimension of `rows` to at this TP size and at tp = 1.
bool VocabPaddingIndependentOfTp(const core::ParallelLayout& layout) {
  const core::ModelSpec& model = layout.model();
  const int64_t multiple = layout.config().vocab_divisible_by;
  for (int p = 0; p < static_cast<int>(model.params.size()); ++p) {
    const core::ParamSpec& spec = model.params[p];
    if (spec.tp_split != core::TpSplit::kVocab) continue;
    const int64_t rows = spec.shape[0];
    const int64_t at_tp1 = (rows + multiple - 1) / multiple * multiple;
    if (layout.ShardOf(p, 0).padded_extent != at_tp1) return false;
  }
  return true;
}

// Note [megatron-cpu]
// ~~~~~~~~~~~~~~~~~~~
// --use-cpu-initialization: _initialize_affine_weight_cpu builds each TP-split parameter's full
// master weight (vocab rows padded to a multiple of make_vocab_size_divisible_by * tp) in fp32
// on the CPU from the CPU generator (seeded seed + 100 * pp_rank by _set_random_seed), and keeps
// this rank's slice; replicated parameters are drawn whole from the same generator. Every TP
// rank of a stage therefore draws the same stream and the union of the slices is the stage's
// single-device init — as long as the padded vocabulary is the same as on one device, because
// the padded rows are drawn too and shift everything drawn after them. Costs a full master
// weight of host memory per rank while it is sliced.
class MegatronCpuPolicy final : public SeedPolicy {
 public:
  std::string_view name() const override { return "megatron-cpu"; }
  std::string_view version() const override { return "1"; }
  std::string_view models() const override {
    return "Megatron-LM --use-cpu-initialization: full fp32 master weight on the CPU, then "
           "each TP rank keeps its slice";
  }
  const std::vector<Claim>& claims() const override {
    static const std::vector<Claim> kClaims = {
        Always(Property::kDistribution),
        When(Property::kParity,
             "pp == 1 and the padded vocabulary is the same as at tp == 1",
             [](const core::ParallelLayout& layout, InitDevice) {
               return layout.num_stages() == 1 && VocabPaddingIndependentOfTp(layout);
             }),
        Always(Property::kReplica), Always(Property::kDistinct), Always(Property::kDeterminism)};
    return kClaims;
  }
  bool Supports(InitDevice device) const override { return device == InitDevice::kCpu; }
  InitDevice default_init_device() const override { return InitDevice::kCpu; }

  StatusOr<RankInit> InitRank(const InitContext& ctx) const override {
    if (ctx.init_device != InitDevice::kCpu) {
      return Status::InvalidArgument("megatron-cpu initializes on the cpu");
    }
    const core::ParallelCoords me = ctx.layout->RankCoords(ctx.rank);
    RankShards shards(ctx);
    RankInit init;
    TWINSIM_ASSIGN_OR_RETURN(bool fits, shards.AllocateAll(init));
    if (!fits) return init;
    TorchGenerator cpu = TorchGenerator::Cpu(ctx.seed + 100ull * me.pp);
    TWINSIM_ASSIGN_OR_RETURN(fits, DrawShards(ctx, shards, init, [&](int i) {
                               return DrawChoice{&cpu, !shards.owned()[i].shard.whole()};
                             }));
    if (!fits) return init;
    TWINSIM_RETURN_IF_ERROR(SyncTiedCopies(ctx, shards, init));
    return init;
  }
};

}  // namespace

std::unique_ptr<SeedPolicy> NewMegatronPolicy() { return std::make_unique<MegatronPolicy>(); }
std::unique_ptr<SeedPolicy> NewMegatronCpuPolicy() {
  return std::make_unique<MegatronCpuPolicy>();
}

}  // namespace twinsim::policies::seed
