// DeepSpeed's zero.Init: every rank builds each module with its parameters at full size on its
// GPU, then each parameter is broadcast from the data-parallel group's first rank and
// partitioned, module after module.
//
// Sources read (facts asserted in properties/seed_upstream_facts_test.cc), deepspeedai/DeepSpeed
// @edaa72212 deepspeed/runtime/zero/partition_parameters.py:
//   :631-645   Init._add_tensor_creation_wrappers: tensors are created on local_device (the
//              accelerator) in the configured dtype;
//   :1080-1083 Init.__init__: ds_process_group = data_parallel_group (the world group when
//              none is given);
//   :1186-1193 Init._zero_init_param: broadcast param.data from the group's first rank over
//              the partition group, then param.partition();
//   :1218-1240 Init._post_init_method: after a module's __init__, each of its own parameters
//              (named_parameters(recurse=False)) goes through _zero_init_param in turn.
// and deepspeed/runtime/engine.py (experts split over EP ranks, refused):
//   :1872-1891 DeepSpeedEngine._validate_zero3_moe_compatibility (called at :2435 for stage 3):
//              "Native DeepSpeed MoE is not supported with ZeRO Stage 3. Use AutoEP or choose
//              ZeRO stage 1/2."
//   :1940-1952 DeepSpeedEngine._resolve_zero3_param_placement: an AutoEP expert parameter
//              already partitioned (by zero.Init) over a non-expert group is an AssertionError:
//              AutoEP's experts must be created by the engine, not under zero.Init.
#include <algorithm>
#include <memory>

#include "fmt/format.h"
#include "kernels/dtype.h"
#include "policies/seed/common.h"
#include "policies/seed/factories.h"

namespace twinsim::policies::seed {
namespace {

// Note [zero-init]
// ~~~~~~~~~~~~~~~~
// Under deepspeed.zero.Init every rank runs the model's constructors. A module's __init__
// draws its parameters at full size on the GPU from the rank's default CUDA generator (twinsim
// seeds it torch.manual_seed(seed) on every rank, as training scripts do); when the __init__
// returns, _post_init_method takes the module's own parameters one at a time: broadcast from
// the first rank of the data-parallel group (DP rank 0), then partition (keep this rank's
// part, free the full tensor). So the draws of DP ranks other than 0 are overwritten, and the
// peak is the largest module's own parameters at full size, on top of the partitions kept.
//
// "Partition" keeps this rank's whole TP shard, which DP replicas share, whatever the layout's
// dp_shard: the kept partitions are dp times ZeRO-3's (`place` models the partitioned
// memory; seed policies compare whole TP shards, Note [Sharded data parallelism]). zero.Init has
// no TP or pipeline of its own: with tp > 1 twinsim slices the TP shard from the broadcast full
// tensor (parity holds), and with more than one pipeline stage each stage's ranks build only
// their stage from the same seed, so stages repeat each other's draws (no parity, no
// distinct). Modules are runs of consecutive parameters whose names share everything before
// the last '.'.

// One pipeline stage, and every rank holds every parameter (no experts split over EP ranks):
// then each rank walks the whole model in registration order, as one device does.
bool SingleStage(const core::ParallelLayout& layout, InitDevice) {
  return layout.num_stages() == 1 && !ExpertsSplitOverEp(layout);
}

// "transformer.h.0.attn.c_attn" for "transformer.h.0.attn.c_attn.weight".
std::string_view ModuleOf(std::string_view name) {
  const size_t dot = name.rfind('.');
  return dot == std::string_view::npos ? std::string_view() : name.substr(0, dot);
}

constexpr const char* kSingleStage = "one pipeline stage, no experts split over ep";
constexpr int kBroadcastTagBase = 1 << 22;  // apart from the tied copies' tags (1 << 20)
constexpr uint64_t kBroadcastPieces = 8;    // a broadcast is pipelined in this many pieces

class ZeroInitPolicy final : public SeedPolicy {
 public:
  std::string_view name() const override { return "zero-init"; }
  std::string_view version() const override { return "2"; }
  std::string_view models() const override {
    return "DeepSpeed zero.Init: every DP rank draws each full parameter on its GPU, DP rank 0's "
           "is broadcast over the DP group, then partitioned, module after module";
  }
  core::Provenance provenance() const override {
    const std::string file = "deepspeed/runtime/zero/partition_parameters.py";
    return core::Provenance{
        .sources =
            {{"deepspeedai/DeepSpeed", "edaa72212", file, "Init._add_tensor_creation_wrappers",
              631, 645, "parameters are created on local_device (the accelerator)"},
             {"deepspeedai/DeepSpeed", "edaa72212", file, "Init.__init__", 1080, 1083,
              "the partition group is data_parallel_group (the world group when none is given)"},
             {"deepspeedai/DeepSpeed", "edaa72212", file, "Init._zero_init_param", 1186, 1193,
              "broadcast the full param.data from the group's first rank, then partition"},
             {"deepspeedai/DeepSpeed", "edaa72212", file, "Init._post_init_method", 1218, 1240,
              "after each module's __init__, its own parameters one at a time"}},
        .deviations = {
            "The partition group is the DP group (Megatron-DeepSpeed passes mpu's); zero.Init's "
            "default, data_parallel_group=None, is the world group.",
            "Each rank keeps its whole TP shard whatever the layout's dp_shard: dp times the "
            "partition ZeRO-3 keeps (place models the partitioned memory).",
            "zero.Init has no TP or PP: with tp > 1 twinsim slices the TP shard from the full "
            "broadcast tensor; with several pipeline stages every stage draws from the same "
            "seed.",
            "Experts split over ep > 1 are refused, as DeepSpeed's engine refuses them under "
            "ZeRO-3 (engine.py:1872-1891, 1940-1952); twinsim says so before any rank runs.",
            "The broadcast is modelled as a chain over the DP group in 8 pipelined pieces "
            "(NCCL picks a ring or tree); its bytes are (dp - 1) times the parameter."}};
  }
  const std::vector<Claim>& claims() const override {
    static const std::vector<Claim> kClaims = {
        Always(Property::kDistribution),
        When(Property::kParity, kSingleStage, SingleStage), Always(Property::kReplica),
        When(Property::kDistinct, kSingleStage, SingleStage),
        Always(Property::kDeterminism)};
    return kClaims;
  }
  bool Supports(InitDevice device) const override { return device == InitDevice::kCuda; }
  InitDevice default_init_device() const override { return InitDevice::kCuda; }
  // Experts on several EP ranks need DeepSpeed's expert parallelism, whose two forms ZeRO-3
  // refuses to have built under zero.Init (see the sources above). Experts with ep == 1 are
  // plain modules to zero.Init (a Hugging Face MoE block): every rank builds them all.
  Status CheckLayout(const core::ParallelLayout& layout) const override {
    if (!ExpertsSplitOverEp(layout)) return Status::Ok();
    return Status::InvalidArgument(fmt::format(
        "zero-init: DeepSpeed cannot build {} experts split over ep = {} under zero.Init: ZeRO "
        "stage 3 refuses native MoE layers (\"Native DeepSpeed MoE is not supported with ZeRO "
        "Stage 3. Use AutoEP or choose ZeRO stage 1/2.\") and AutoEP experts partitioned by "
        "zero.Init (DeepSpeed edaa72212 deepspeed/runtime/engine.py:1872-1891, 1940-1952)",
        layout.num_experts(), layout.config().ep));
  }

  StatusOr<RankInit> InitRank(const InitContext& ctx) const override {
    if (ctx.init_device != InitDevice::kCuda) {
      return Status::InvalidArgument("zero-init initializes on cuda only (local_device)");
    }
    const core::ParallelLayout& layout = *ctx.layout;
    const core::ModelSpec& model = layout.model();
    RankShards shards(ctx);
    RankInit init;
    TWINSIM_ASSIGN_OR_RETURN(bool fits, shards.AllocateAll(init));
    if (!fits) return init;
    const bool compute_bits = ctx.device->Info().holds_bytes;
    const std::vector<int> group = layout.DpGroup(ctx.rank);  // ascending: dp 0 first
    const int me = static_cast<int>(std::find(group.begin(), group.end(), ctx.rank) - group.begin());
    TorchGenerator gen = TorchGenerator::Cuda(ctx.seed, ctx.gpu);

    struct Full {
      int entry = -1;
      core::Buffer buffer;
      std::vector<float> values;  // the rank's own draw (data mode)
    };
    std::vector<float> slice;
    std::vector<std::byte> bytes;
    int i = 0;
    while (i < shards.size()) {
      // One module: consecutive entries of one stage sharing the name before the last '.'.
      int end = i;
      std::vector<Full> module;
      const std::string_view mod = ModuleOf(shards.spec(i).name);
      while (end < shards.size() && shards.owned()[end].stage == shards.owned()[i].stage &&
             ModuleOf(shards.spec(end).name) == mod) {
        ++end;
      }
      // The module's __init__: every own parameter at full size, drawn on the GPU.
      for (int k = i; k < end; ++k) {
        const core::OwnedShard& o = shards.owned()[k];
        if (o.tied_from >= 0) continue;  // Note [Tied copies]
        const core::ParamSpec& spec = model.params[o.param];
        Full f;
        f.entry = k;
        const uint64_t numel = static_cast<uint64_t>(spec.Numel());
        TWINSIM_ASSIGN_OR_RETURN(
            fits, AllocateOrRecord(*ctx.device, numel * core::DTypeSize(spec.dtype),
                                   core::kTagInitTemp,
                                   fmt::format("the full parameter '{}' (zero.Init)", spec.name),
                                   init, &f.buffer));
        if (!fits) return init;
        if (compute_bits) {
          f.values.resize(static_cast<size_t>(numel));
          const auto [begin, stop] = gen.Init(spec.init, f.values);
          if (begin != stop) {
            const core::Block2D view = *layout.ShardOf(o.param, 0).AsPaddedBlock2D(spec.shape);
            const uint64_t rows = static_cast<uint64_t>(spec.shape.empty() ? 1 : spec.shape[0]);
            init.draws.push_back({gen.stream(), begin, stop, o.param,
                                  core::Block2D{view.rows, view.cols, 0, rows, 0, view.cols}});
          }
          bytes.resize(numel * core::DTypeSize(spec.dtype));
          for (uint64_t e = 0; e < numel; ++e) {
            kernels::StoreAs(spec.dtype, f.values[e], bytes.data(), e);
          }
        } else {
          bytes.clear();
        }
        TWINSIM_RETURN_IF_ERROR(ctx.device->WriteKernelOutput(
            core::BufferRegion::Whole(f.buffer), bytes, numel));
        module.push_back(std::move(f));
      }
      // _post_init_method: each parameter broadcast from DP rank 0, then partitioned.
      for (Full& f : module) {
        const core::OwnedShard& o = shards.owned()[f.entry];
        const core::ParamSpec& spec = model.params[o.param];
        TWINSIM_RETURN_IF_ERROR(ChainBroadcast(ctx, group, me, f.buffer,
                                               kBroadcastTagBase + o.param));
        slice.clear();
        if (compute_bits) {
          // The broadcast has made the buffer DP rank 0's draw, which every DP rank also drew
          // itself (same seed, same order): the partition slices the rank's own copy of those
          // values, so data and timing-only runs charge the same work (no read-back).
          const core::Block2D& b = shards.block(f.entry);
          const uint64_t real_rows = static_cast<uint64_t>(spec.shape.empty() ? 1 : spec.shape[0]);
          for (uint64_t row = b.row_begin; row < b.row_end; ++row) {
            for (uint64_t col = b.col_begin; col < b.col_end; ++col) {
              slice.push_back(row < real_rows ? f.values[row * b.cols + col] : 0.0f);
            }
          }
        }
        // The partition is a device-side copy out of the full tensor.
        TWINSIM_RETURN_IF_ERROR(shards.Write(f.entry, init, slice, InitDevice::kCuda));
        TWINSIM_RETURN_IF_ERROR(ctx.device->Free(f.buffer));
      }
      i = end;
    }
    TWINSIM_RETURN_IF_ERROR(SyncTiedCopies(ctx, shards, init));
    return init;
  }

 private:
  // dist.broadcast(buffer, DP rank 0, DP group): a chain dp0 -> dp1 -> ... in pieces, so a
  // rank forwards a piece while the next arrives.
  static Status ChainBroadcast(const InitContext& ctx, const std::vector<int>& group, int me,
                               const core::Buffer& buffer, int tag) {
    if (group.size() < 2 || buffer.bytes == 0) return Status::Ok();
    const uint64_t piece = (buffer.bytes + kBroadcastPieces - 1) / kBroadcastPieces;
    for (uint64_t offset = 0; offset < buffer.bytes; offset += piece) {
      const core::BufferRegion region =
          core::BufferRegion::Slice(buffer, offset, std::min(piece, buffer.bytes - offset));
      if (me > 0) TWINSIM_RETURN_IF_ERROR(ctx.comm->Recv(group[me - 1], region, tag));
      if (me + 1 < static_cast<int>(group.size())) {
        TWINSIM_RETURN_IF_ERROR(ctx.comm->Send(group[me + 1], region, tag));
      }
    }
    return Status::Ok();
  }
};

}  // namespace

std::unique_ptr<SeedPolicy> NewZeroInitPolicy() { return std::make_unique<ZeroInitPolicy>(); }

}  // namespace twinsim::policies::seed
