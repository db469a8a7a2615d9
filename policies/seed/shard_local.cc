// A framework that builds each rank's layers at its shard's size, so that default inits read the
// shard's fan (Megatron-Bridge #5840; ORBIT-2's nn.Linear under TP). A counter-model: the
// `distribution` property exists to catch it.
#include "policies/seed/shard_local.h"

#include <algorithm>
#include <memory>

#include "fmt/format.h"
#include "policies/seed/common.h"
#include "policies/seed/factories.h"

namespace twinsim::policies::seed {

// Note [shard-local]
// ~~~~~~~~~~~~~~~~~~
// Code that tensor-parallelizes a layer by constructing it at its local size — nn.Linear(in / tp,
// out) on each rank of a row-parallel layer, or a LoRA adapter built from the local shapes —
// runs the layer's default init on the local tensor, and torch.nn.init computes fan_in and
// fan_out from the tensor it is given (_calculate_fan_in_and_fan_out: size(1) and size(0) of a
// 2-D weight). The shard's fan is smaller than the full tensor's along the split dimension,
// so kaiming and xavier inits come out too wide: Megatron-Bridge #5840 reports a LoRA adapter
// (linear_in, [32, 4096], xavier_normal) with std 0.0220 at TP 1 and 0.0435 at TP 4, which is
// sqrt(2 / (4096 + 32)) against sqrt(2 / (1024 + 32)). Values are drawn as torchtitan does
// (torch.manual_seed(seed + pp_rank) on every rank, each rank drawing its local shard), so TP
// ranks also repeat each other's draws; what this policy adds is the fan. Only kaiming and
// xavier specs carry a fan; a bias whose uniform bound was computed from the weight's fan
// (nn.Linear's) is stated as plain bounds in the spec and is left as it is.
core::InitSpec ShardLocalInit(const core::ParamSpec& spec, const core::Block2D& block) {
  core::InitSpec init = spec.init;
  const bool has_fan =
      init.kind == core::InitKind::kKaimingUniform || init.kind == core::InitKind::kKaimingNormal ||
      init.kind == core::InitKind::kXavierUniform || init.kind == core::InitKind::kXavierNormal;
  if (!has_fan || spec.tp_split == core::TpSplit::kReplicated || spec.shape.size() != 2) {
    return init;
  }
  // A 2-D weight stored [out, in]: dim 1 is fan_in, dim 0 fan_out (torch's convention).
  auto scale = [](int64_t fan, uint64_t local, int64_t full) {
    const int64_t scaled = static_cast<int64_t>(static_cast<uint64_t>(fan) * local /
                                                static_cast<uint64_t>(std::max<int64_t>(full, 1)));
    return std::max<int64_t>(scaled, 1);
  };
  if (spec.tp_dim == 1) {
    init.fan_in = scale(init.fan_in, block.col_end - block.col_begin, spec.shape[1]);
  } else if (spec.tp_dim == 0) {
    const uint64_t rows = std::min<uint64_t>(block.row_end, spec.shape[0]) -
                          std::min<uint64_t>(block.row_begin, spec.shape[0]);
    init.fan_out = scale(init.fan_out, rows, spec.shape[0]);
  }
  return init;
}

namespace {

class ShardLocalPolicy final : public SeedPolicy {
 public:
  std::string_view name() const override { return "shard-local"; }
  std::string_view version() const override { return "2"; }
  std::string_view models() const override {
    return "layers built at the shard's size (Megatron-Bridge #5840, ORBIT-2 nn.Linear under "
           "TP): default kaiming/xavier inits read the shard's fan; seed + pp_rank";
  }
  core::Provenance provenance() const override {
    core::Provenance p;
    p.sources = {
        {"pytorch/pytorch", "b28030f3", "torch/nn/init.py",
         "xavier_normal_, kaiming_uniform_, _calculate_correct_fan", 0, 0,
         "the std or bound comes from _calculate_fan_in_and_fan_out(tensor): size(1) and size(0) "
         "of the tensor being initialized, here the local shard"},
        {"NVIDIA-NeMo/Megatron-Bridge", "issue #5840 (2026-08-27)", "",
         "ParallelLinearAdapter: linear_in as a RowParallelLinear", 0, 0,
         "Qwen3-8B, LoRA rank 32: A std 0.0220 at TP 1 and 0.0435 at TP 4 on linear_proj, "
         "0.0127 and 0.0254 on linear_fc2; column-parallel targets unchanged"},
    };
    p.deviations = {
        "twinsim's counter-model of a class of bugs, not one framework's code: seeds as "
        "torchtitan's (seed + pp_rank), fans from the local shard",
        "Megatron-Bridge fixed #5840 in PR #5843 (merged): xavier and kaiming are resolved from "
        "the full weight's dims; shard-local models the code before that fix"};
    return p;
  }
  const std::vector<Claim>& claims() const override {
    static const std::vector<Claim> kClaims = {
        ReplicaWhenExpertsSplitLikeDense(), Always(Property::kDeterminism),
        Always(Property::kInitFits)};
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
    const bool on_cpu = ctx.init_device == InitDevice::kCpu;
    const bool compute_bits = ctx.device->Info().holds_bytes;
    std::vector<core::HostReservation> staged;
    std::vector<float> values;
    for (int i = 0; i < shards.size(); ++i) {
      const core::OwnedShard& o = shards.owned()[i];
      if (o.tied_from >= 0) continue;  // Note [Tied copies]
      const core::ParamSpec& spec = shards.spec(i);
      if (on_cpu) {
        // The layer is built on the CPU and moved with .cuda() once the model is complete.
        core::HostReservation r;
        TWINSIM_ASSIGN_OR_RETURN(
            fits, ReserveOrRecord(ctx.host, ctx.rank, shards.bytes(i), "cpu-model",
                                  fmt::format("'{}' on the CPU", spec.name), init, &r));
        if (!fits) return init;
        staged.push_back(r);
      }
      values.clear();
      if (compute_bits) {
        values.resize(static_cast<size_t>(shards.numel(i)));
        const auto [begin, end] = gen.Init(ShardLocalInit(spec, shards.block(i)), values);
        if (begin != end)
          init.draws.push_back({gen.stream(), begin, end, o.param, shards.block(i)});
      }
      if (on_cpu) {
        TWINSIM_RETURN_IF_ERROR(ctx.device->HostInitWork(static_cast<uint64_t>(shards.numel(i))));
      }
      TWINSIM_RETURN_IF_ERROR(shards.Write(i, init, values, gen.device()));
    }
    for (const core::HostReservation& r : staged) TWINSIM_RETURN_IF_ERROR(ctx.host->Release(r));
    TWINSIM_RETURN_IF_ERROR(SyncTiedCopies(ctx, shards, init));
    return init;
  }
};

}  // namespace

std::unique_ptr<SeedPolicy> NewShardLocalPolicy() { return std::make_unique<ShardLocalPolicy>(); }

}  // namespace twinsim::policies::seed
