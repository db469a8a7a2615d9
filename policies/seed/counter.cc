// twinsim's own policy: element-wise counter-based streams (kernels/fill.h).
#include <memory>

#include "kernels/device_fill.h"
#include "kernels/fill.h"
#include "policies/seed/common.h"
#include "policies/seed/factories.h"

namespace twinsim::policies::seed {
namespace {

// Note [counter]
// ~~~~~~~~~~~~~~
// Element e of parameter p is a pure function of (seed, p's name, e) (Note [Element-wise
// streams] in kernels/fill.h), so every rank fills exactly its own elements with Device::Fill,
// one request per contiguous row range of its block, and gets the bits a single device would
// have. Tied copies are filled from their target's stream directly: no communication at all,
// and the same bits on the CPU, on any GPU and in any launch shape.
class CounterPolicy final : public SeedPolicy {
 public:
  std::string_view name() const override { return "counter"; }
  std::string_view version() const override { return "1"; }
  std::string_view models() const override {
    return "twinsim: element-wise counter-based Philox streams keyed by hash(seed, name); no "
           "communication";
  }
  core::Provenance provenance() const override {
    core::Provenance p;
    p.twinsim_own = true;
    return p;
  }
  const std::vector<Claim>& claims() const override {
    static const std::vector<Claim> kClaims = {
        Always(Property::kDistribution),
        Always(Property::kParity), Always(Property::kReplica), Always(Property::kDistinct),
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
    init.draws.reserve(shards.size());
    for (int i = 0; i < shards.size(); ++i) {
      const core::ParamSpec& spec = shards.spec(i);
      const core::Block2D& b = shards.block(i);
      // One request for the whole block: a row range when whole rows, else one run per row.
      const bool whole_rows = b.col_begin == 0 && b.col_end == b.cols;
      const uint64_t begin = b.row_begin * b.cols + b.col_begin;
      const uint64_t width = whole_rows ? (b.row_end - b.row_begin) * b.cols
                                        : b.col_end - b.col_begin;
      TWINSIM_ASSIGN_OR_RETURN(core::FillRequest request,
                               kernels::MakeFillRequest(ctx.seed, spec.name, spec.init,
                                                        spec.dtype, begin, begin + width));
      if (!whole_rows) {
        request.rows = b.row_end - b.row_begin;
        request.row_stride = b.cols;
      }
      if (request.elements() > 0) {
        TWINSIM_RETURN_IF_ERROR(
            ctx.device->Fill(core::BufferRegion::Whole(init.buffers[i]), request));
      }
      if (spec.init.kind != core::InitKind::kConstant) {
        // The request's key is DeriveParamKey(ctx.seed, spec.name) (MakeFillRequest).
        const uint64_t key64 = (uint64_t{request.key[1]} << 32) | request.key[0];
        init.draws.push_back(
            {StreamId{StreamKind::kCounter, key64, 0}, 0, 0, shards.owned()[i].param, b});
      }
    }
    return init;
  }
};

}  // namespace

std::unique_ptr<SeedPolicy> NewCounterPolicy() { return std::make_unique<CounterPolicy>(); }

}  // namespace twinsim::policies::seed
