// One rank initializes the whole model; the others receive their shards.
#include <memory>

#include "fmt/format.h"
#include "kernels/dtype.h"
#include "policies/seed/common.h"
#include "policies/seed/factories.h"

namespace twinsim::policies::seed {
namespace {

constexpr int kRoot = 0;

// Note [seed-checkpoint]
// ~~~~~~~~~~~~~~~~~~~~~~
// torchtitan's --checkpoint.create_seed_checkpoint (and DeepSpeed's zero.Init, which broadcasts
// each parameter from rank 0): rank 0 initializes the whole, unsharded model as one device
// would (torch.manual_seed(seed), parameters in registration order, unpadded), then every rank
// gets its shards from it — here sent by rank 0, owner after owner, in each owner's OwnedBy
// order. Padded vocabulary rows, which a checkpoint does not have, are zero. Parity by
// construction; the price is the full model in rank 0's memory and every shard sent once.
class SeedCheckpointPolicy final : public SeedPolicy {
 public:
  std::string_view name() const override { return "seed-checkpoint"; }
  std::string_view version() const override { return "1"; }
  std::string_view models() const override {
    return "torchtitan seed checkpoint / DeepSpeed zero.Init broadcast: rank 0 initializes the "
           "full model, the others receive their shards";
  }
  const std::vector<Claim>& claims() const override {
    static const std::vector<Claim> kClaims = {
        Always(Property::kDistribution),
        Always(Property::kParity), Always(Property::kReplica), Always(Property::kDistinct),
        Always(Property::kDeterminism)};
    return kClaims;
  }
  bool Supports(InitDevice) const override { return true; }
  InitDevice default_init_device() const override { return InitDevice::kCpu; }

  StatusOr<RankInit> InitRank(const InitContext& ctx) const override {
    const core::ParallelLayout& layout = *ctx.layout;
    RankShards shards(ctx);
    RankInit init;
    TWINSIM_ASSIGN_OR_RETURN(bool fits, shards.AllocateAll(init));
    if (!fits) return init;
    if (ctx.rank != kRoot) {
      for (int i = 0; i < shards.size(); ++i) {
        TWINSIM_RETURN_IF_ERROR(
            ctx.comm->Recv(kRoot, core::BufferRegion::Whole(init.buffers[i]), i));
      }
      return init;
    }
    // Rank 0: the full model, charged where it is built.
    const core::ModelSpec& model = layout.model();
    uint64_t full_bytes = 0;
    for (const core::ParamSpec& p : model.params) {
      if (p.tied_to.empty()) full_bytes += static_cast<uint64_t>(p.Numel()) * core::DTypeSize(p.dtype);
    }
    const std::string during = "the full model (seed checkpoint)";
    core::HostReservation host_full;
    core::Buffer device_full;
    if (ctx.init_device == InitDevice::kCpu) {
      TWINSIM_ASSIGN_OR_RETURN(fits, ReserveOrRecord(ctx.host, ctx.rank, full_bytes, "init-temp",
                                                     during, init, &host_full));
    } else {
      TWINSIM_ASSIGN_OR_RETURN(fits, AllocateOrRecord(*ctx.device, full_bytes, core::kTagInitTemp,
                                                      during, init, &device_full));
    }
    if (!fits) return init;
    TorchGenerator gen = TorchGenerator::For(ctx.init_device, ctx.seed, ctx.gpu);
    // Timing-only device (Note [Devices without bytes]): charge the work, compute no bits.
    const bool compute_bits = ctx.device->Info().holds_bytes;
    std::vector<std::vector<float>> full(model.params.size());
    uint64_t device_offset = 0;  // where each parameter lies in device_full (init on cuda)
    for (int p = 0; p < static_cast<int>(model.params.size()); ++p) {
      const core::ParamSpec& spec = model.params[p];
      if (!spec.tied_to.empty()) continue;
      const uint64_t numel = static_cast<uint64_t>(spec.Numel());
      const uint64_t bytes = numel * core::DTypeSize(spec.dtype);
      if (compute_bits) {
        full[p].resize(static_cast<size_t>(numel));
        const auto [begin, end] = gen.Init(spec.init, full[p]);
        if (begin != end) {
          const core::Block2D view = *layout.ShardOf(p, 0).AsPaddedBlock2D(spec.shape);
          const uint64_t rows = static_cast<uint64_t>(spec.shape[0]);
          init.draws.push_back({gen.stream(), begin, end, p,
                                core::Block2D{view.rows, view.cols, 0, rows, 0, view.cols}});
        }
      }
      // Note [Modelled init kernels]: the CPU's work, or a kernel writing the GPU copy.
      if (ctx.init_device == InitDevice::kCpu) {
        TWINSIM_RETURN_IF_ERROR(ctx.device->HostInitWork(numel));
      } else {
        std::vector<std::byte> stored;
        if (compute_bits) {
          stored.resize(bytes);
          for (uint64_t e = 0; e < numel; ++e) {
            kernels::StoreAs(spec.dtype, full[p][e], stored.data(), e);
          }
        }
        TWINSIM_RETURN_IF_ERROR(ctx.device->WriteKernelOutput(
            core::BufferRegion::Slice(device_full, device_offset, bytes), stored, numel));
      }
      device_offset += bytes;
    }
    // Shards in each owner's order; rows past the real vocabulary are zero.
    std::vector<std::byte> bytes;
    for (int r = 0; r < layout.world_size(); ++r) {
      const std::vector<core::OwnedShard> owned = layout.OwnedBy(r);
      for (int i = 0; i < static_cast<int>(owned.size()); ++i) {
        const core::ParamSpec& spec = model.params[owned[i].param];
        const core::Block2D b = *owned[i].shard.AsPaddedBlock2D(spec.shape);
        const uint64_t real_rows = static_cast<uint64_t>(spec.shape[0]);
        const uint64_t size = (b.row_end - b.row_begin) * (b.col_end - b.col_begin) *
                              core::DTypeSize(spec.dtype);
        bytes.clear();
        if (compute_bits) {
          bytes.resize(size);
          uint64_t e = 0;
          for (uint64_t row = b.row_begin; row < b.row_end; ++row) {
            for (uint64_t col = b.col_begin; col < b.col_end; ++col, ++e) {
              const float v = row < real_rows ? full[owned[i].param][row * b.cols + col] : 0.0f;
              kernels::StoreAs(spec.dtype, v, bytes.data(), e);
            }
          }
        }
        if (r == kRoot) {
          TWINSIM_RETURN_IF_ERROR(
              ctx.device->CopyFromHost(core::BufferRegion::Whole(init.buffers[i]), bytes));
        } else {
          TWINSIM_ASSIGN_OR_RETURN(fits, SendBytes(ctx, r, size, bytes, i, init));
          if (!fits) return init;
        }
      }
    }
    if (ctx.init_device == InitDevice::kCpu) {
      if (ctx.host != nullptr) TWINSIM_RETURN_IF_ERROR(ctx.host->Release(host_full));
    } else {
      TWINSIM_RETURN_IF_ERROR(ctx.device->Free(device_full));
    }
    return init;
  }
};

}  // namespace

std::unique_ptr<SeedPolicy> NewSeedCheckpointPolicy() {
  return std::make_unique<SeedCheckpointPolicy>();
}

}  // namespace twinsim::policies::seed
