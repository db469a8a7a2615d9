// The property checks themselves can fail: each predicate is run on a policy broken on purpose
// in exactly the way it should catch, and on the counter policy, which must pass, on the same
// layout. Also pins megatron's additive-seed collision, which lies outside the generators' range.
#include "properties/init_check.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <memory>
#include <string>

#include "core/model_presets.h"
#include "core/parallel_layout.h"
#include "policies/seed/policy.h"

namespace twinsim::properties {
namespace {

using policies::seed::InitContext;
using policies::seed::RankInit;

core::ParallelLayout Layout(const std::string& model_text, int tp, int pp, int dp) {
  StatusOr<core::ModelSpec> model = core::MakeModel(model_text);
  EXPECT_TRUE(model.ok()) << model.status().message();
  core::LayoutConfig config;
  config.tp = tp;
  config.pp = pp;
  config.dp = dp;
  StatusOr<core::ParallelLayout> layout = core::ParallelLayout::Make(config, *model);
  EXPECT_TRUE(layout.ok()) << layout.status().message();
  return std::move(layout).value();
}

std::unique_ptr<SeedPolicy> Policy(const std::string& name) {
  return std::move(policies::seed::MakePolicy(name)).value();
}

// The counter policy, then one deliberate defect.
enum class Defect { kNone, kWrongElement, kDpRankDiffers, kSharedStream, kRunCounterInSeed, kHog };

class BrokenPolicy final : public SeedPolicy {
 public:
  explicit BrokenPolicy(Defect defect) : defect_(defect), counter_(Policy("counter")) {}
  std::string_view name() const override { return "broken"; }
  std::string_view version() const override { return "0"; }
  std::string_view models() const override { return "a policy broken on purpose"; }
  const std::vector<policies::seed::Claim>& claims() const override { return counter_->claims(); }
  bool Supports(InitDevice) const override { return true; }
  InitDevice default_init_device() const override { return InitDevice::kCuda; }

  StatusOr<RankInit> InitRank(const InitContext& ctx) const override {
    InitContext c = ctx;
    const core::ParallelCoords me = ctx.layout->RankCoords(ctx.rank);
    if (defect_ == Defect::kRunCounterInSeed) c.seed += runs_.fetch_add(1);
    if (defect_ == Defect::kHog) {
      // Keeps a whole-model scratch copy alive through init.
      StatusOr<core::Allocation> a =
          ctx.device->Allocate(ctx.layout->model().NumParams() * 4, core::kTagInitTemp);
      if (!a.ok()) return a.status();
      if (!a->fits()) return RankInit{{}, {}, a->oom, "a whole-model scratch copy"};
    }
    StatusOr<RankInit> init = counter_->InitRank(c);
    if (!init.ok() || init->oom) return init;
    if (defect_ == Defect::kSharedStream) {
      // Report every shard as drawn from positions [0, n) of one stateful stream.
      for (policies::seed::DrawSpan& d : init->draws) {
        const uint64_t n = (d.block.row_end - d.block.row_begin) * (d.block.col_end - d.block.col_begin);
        d.stream = {policies::seed::StreamKind::kTorchCpu, ctx.seed, 0};
        d.begin = 0;
        d.end = n;
      }
    }
    const bool corrupt = (defect_ == Defect::kWrongElement && me.tp == 0) ||
                         (defect_ == Defect::kDpRankDiffers && me.dp == 1);
    if (corrupt && !init->buffers.empty()) {
      const float junk = 12345.0f;
      std::byte bytes[4];
      std::memcpy(bytes, &junk, 4);
      const core::Buffer& b = init->buffers[0];
      const uint64_t size = std::min<uint64_t>(b.bytes, 2);
      TWINSIM_RETURN_IF_ERROR(ctx.device->CopyFromHost(core::BufferRegion::Slice(b, 0, size),
                                                       std::span(bytes, size)));
    }
    return init;
  }

 private:
  Defect defect_;
  std::unique_ptr<SeedPolicy> counter_;
  mutable std::atomic<uint64_t> runs_{0};
};

Verdict Check(const SeedPolicy& policy, const core::ParallelLayout& layout, Property property,
              std::string* detail, uint64_t capacity = uint64_t{1} << 30) {
  InitRunOptions options;
  options.seed = 7;
  options.device_capacity = capacity;
  StatusOr<PolicyCheck> check = CheckPolicy(policy, layout, options, {property});
  EXPECT_TRUE(check.ok()) << check.status().message();
  *detail = check->rows.at(0).result.detail;
  return check->rows.at(0).result.verdict;
}

struct Case {
  Defect defect;
  Property property;
  const char* expected;  // a phrase the counterexample must contain
};

class BrokenPolicyTest : public ::testing::TestWithParam<Case> {};

TEST_P(BrokenPolicyTest, PredicateCatchesTheDefectAndPassesTheCounterPolicy) {
  const Case& c = GetParam();
  const core::ParallelLayout layout = Layout("gpt2:n_layer=2,n_embd=16,n_head=2,vocab_size=64", 2, 2, 2);
  // For init-fits: twice what the largest rank's own shards need.
  uint64_t most = 0;
  for (int r = 0; r < layout.world_size(); ++r) {
    uint64_t bytes = 0;
    for (const core::OwnedShard& o : layout.OwnedBy(r)) {
      bytes += o.shard.PaddedNumel(layout.model().params[o.param].shape) * 4;
    }
    most = std::max(most, bytes);
  }
  const uint64_t capacity = c.defect == Defect::kHog ? 2 * most : uint64_t{1} << 30;
  std::string detail;
  EXPECT_EQ(Check(*Policy("counter"), layout, c.property, &detail, capacity), Verdict::kHolds)
      << detail;
  BrokenPolicy broken(c.defect);
  EXPECT_EQ(Check(broken, layout, c.property, &detail, capacity), Verdict::kFails);
  EXPECT_NE(detail.find(c.expected), std::string::npos) << detail;
}

INSTANTIATE_TEST_SUITE_P(
    Defects, BrokenPolicyTest,
    ::testing::Values(
        Case{Defect::kWrongElement, Property::kParity, "but single-device init gives"},
        Case{Defect::kDpRankDiffers, Property::kReplica, "its DP replica rank"},
        Case{Defect::kSharedStream, Property::kDistinct,
             "tp_rank 0 and tp_rank 1 drew from the same CPU stream"},
        Case{Defect::kRunCounterInSeed, Property::kDeterminism, "in a rerun"},
        Case{Defect::kHog, Property::kInitFits, "ran out of memory allocating"}));

// Megatron's TP seed seed + 2718 + tp_rank on pipeline rank 1 equals the default seed
// seed + 100 * pp_rank of pipeline rank 29 when tp_rank = 82: 100 + 2718 + 82 = 2900. The random
// layouts of the property test never reach tp = 83 (its claim is conditional on this not
// happening), so the collision is pinned here: found by `CheckDistinct`, not asserted by hand.
TEST(MegatronTest, AdditiveSeedsCollideAtTp83Pp30) {
  const core::ParallelLayout layout = Layout("linear-stack:layers=30,width=83", 83, 30, 1);
  std::unique_ptr<SeedPolicy> megatron = Policy("megatron");
  ASSERT_FALSE(megatron->FindClaim(Property::kDistinct)->AppliesTo(layout, InitDevice::kCuda));
  std::string detail;
  EXPECT_EQ(Check(*megatron, layout, Property::kDistinct, &detail), Verdict::kFails);
  EXPECT_NE(detail.find("of the CUDA Philox stream seeded 2907"), std::string::npos) << detail;
  EXPECT_NE(detail.find("pp_rank 1 and pp_rank 29"), std::string::npos) << detail;
}

TEST(InitCheckTest, UnsupportedInitDeviceIsNotApplicable) {
  const core::ParallelLayout layout = Layout("tiny-mlp", 1, 1, 1);
  InitRunOptions options;
  options.init_device = InitDevice::kCpu;
  StatusOr<PolicyCheck> check =
      CheckPolicy(*Policy("megatron"), layout, options, policies::seed::AllProperties());
  ASSERT_TRUE(check.ok());
  for (const PolicyCheck::Row& row : check->rows) {
    EXPECT_EQ(row.result.verdict, Verdict::kNotApplicable);
    EXPECT_FALSE(row.claimed);
  }
}

}  // namespace
}  // namespace twinsim::properties
