// The `distribution` property (Note [Distribution check]): it holds for every policy that
// draws each shard from the specified init, whatever stream it uses, and fails, with the
// parameter, the expected std (full fan) and what the shards show, when the std is wrong — a
// fan read from the shard (shard-local, Megatron-Bridge #5840) or a policy broken on purpose.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "core/model_presets.h"
#include "core/parallel_layout.h"
#include "kernels/dtype.h"
#include "policies/seed/policy.h"
#include "properties/init_check.h"

namespace twinsim::properties {
namespace {

using policies::seed::InitContext;
using policies::seed::RankInit;

core::ParallelLayout Layout(const core::ModelSpec& model, int tp, int pp, int dp) {
  core::LayoutConfig config;
  config.tp = tp;
  config.pp = pp;
  config.dp = dp;
  StatusOr<core::ParallelLayout> layout = core::ParallelLayout::Make(config, model);
  EXPECT_TRUE(layout.ok()) << layout.status().message();
  return std::move(layout).value();
}

core::ParallelLayout Layout(const std::string& model_text, int tp, int pp, int dp) {
  StatusOr<core::ModelSpec> model = core::MakeModel(model_text);
  EXPECT_TRUE(model.ok()) << model.status().message();
  return Layout(*model, tp, pp, dp);
}

std::unique_ptr<SeedPolicy> Policy(const std::string& name) {
  return std::move(policies::seed::MakePolicy(name)).value();
}

PropertyResult Distribution(const SeedPolicy& policy, const core::ParallelLayout& layout,
                            InitDevice device = InitDevice::kCuda) {
  InitRunOptions options;
  options.seed = 11;
  options.init_device = device;
  StatusOr<PolicyCheck> check = CheckPolicy(policy, layout, options, {Property::kDistribution});
  EXPECT_TRUE(check.ok()) << check.status().message();
  return check->rows.at(0).result;
}

// Every policy that claims `distribution` keeps it on models whose tensors are large enough
// for the Kolmogorov-Smirnov test, with TP, PP and DP, on each init device it supports.
TEST(DistributionTest, HoldsForEveryPolicyThatClaimsIt) {
  for (const std::string& model : {std::string("gpt2:n_layer=2,n_embd=64,n_head=4,vocab_size=256"),
                                   std::string("linear-stack:layers=4,width=64,bias=1")}) {
    const core::ParallelLayout layout = Layout(model, 2, 2, 2);
    for (const std::string& name : policies::seed::PolicyNames()) {
      std::unique_ptr<SeedPolicy> policy = Policy(name);
      if (policy->FindClaim(Property::kDistribution) == nullptr) continue;
      for (InitDevice device : {InitDevice::kCuda, InitDevice::kCpu}) {
        if (!policy->Supports(device)) continue;
        const PropertyResult r = Distribution(*policy, layout, device);
        EXPECT_EQ(r.verdict, Verdict::kHolds)
            << name << " on " << model << " (" << InitDeviceName(device) << "): " << r.detail;
      }
    }
  }
}

// The same run checked twice gets the same verdict and text (a pure function of the bytes).
TEST(DistributionTest, VerdictIsAPureFunctionOfTheRun) {
  const core::ParallelLayout layout = Layout("linear-stack:layers=2,width=64,bias=1", 2, 1, 1);
  InitRunOptions options;
  options.seed = 3;
  StatusOr<InitRun> run = RunInit(*Policy("shard-local"), layout, options);
  ASSERT_TRUE(run.ok());
  const PropertyResult a = CheckDistribution(layout, *run);
  const PropertyResult b = CheckDistribution(layout, *run);
  EXPECT_EQ(a.verdict, Verdict::kFails);
  EXPECT_EQ(a.verdict, b.verdict);
  EXPECT_EQ(a.detail, b.detail);
}

// Note [shard-local]: a row-parallel nn.Linear built at in / tp reads fan_in / tp, so its
// kaiming_uniform bound is sqrt(tp) too wide: on 4,096 elements the second moment shows it.
TEST(DistributionTest, ShardLocalFanFailsOnARowParallelLinear) {
  const core::ParallelLayout layout = Layout("linear-stack:layers=2,width=64,bias=1", 2, 1, 1);
  const PropertyResult r = Distribution(*Policy("shard-local"), layout);
  ASSERT_EQ(r.verdict, Verdict::kFails) << r.detail;
  EXPECT_NE(r.detail.find("param 'layers.1.weight'"), std::string::npos) << r.detail;
  EXPECT_NE(r.detail.find("kaiming_uniform with fan_in=64 of the full tensor"), std::string::npos)
      << r.detail;
  EXPECT_NE(r.detail.find("U(-0.125, 0.125)"), std::string::npos) << r.detail;
  EXPECT_NE(r.detail.find("where std 0.07217 is expected"), std::string::npos) << r.detail;
  // At tp = 1 the shard is the tensor: nothing to see.
  EXPECT_EQ(
      Distribution(*Policy("shard-local"), Layout("linear-stack:layers=2,width=64,bias=1", 1, 1, 2))
          .verdict,
      Verdict::kHolds);
}

// Found by //properties:seed_policy_properties_test (shard-local / distribution, refuted after 28
// cases, RC seed 17837029505205021876) and shrunk to this case.
TEST(DistributionTest, ShardLocalShrunkCounterexample) {
  const core::ParallelLayout layout = Layout("linear-stack:layers=2,width=7,bias=1", 2, 1, 1);
  InitRunOptions options;
  options.seed = 0;
  options.init_device = InitDevice::kCpu;
  StatusOr<PolicyCheck> check =
      CheckPolicy(*Policy("shard-local"), layout, options, {Property::kDistribution});
  ASSERT_TRUE(check.ok());
  const PropertyResult& r = check->rows.at(0).result;
  ASSERT_EQ(r.verdict, Verdict::kFails);
  EXPECT_NE(r.detail.find("param 'layers.1.weight' [7, 7] (49 elements in 2 shards) should follow "
                          "U(-0.378, 0.378)"),
            std::string::npos)
      << r.detail;
  EXPECT_NE(r.detail.find("element [0, 3] on rank 0 (dp 0, pp 0, tp 0) is -0.4683, outside the "
                          "support"),
            std::string::npos)
      << r.detail;
}

// Megatron-Bridge #5840: a LoRA adapter's linear_in ([rank 32, hidden 4096], xavier_normal,
// split along its input features under TP) has std 0.0220 at TP 1 and 0.0435 at TP 4:
// sqrt(2 / (4096 + 32)) = 0.02201 and sqrt(2 / (1024 + 32)) = 0.04352.
core::ModelSpec LoraModel() {
  core::ModelSpec model;
  model.name = "lora-linear-in";
  model.num_layers = 1;
  core::ParamSpec p;
  p.name = "adapter.linear_in.weight";
  p.shape = {32, 4096};
  p.init.kind = core::InitKind::kXavierNormal;
  p.init.fan_in = 4096;
  p.init.fan_out = 32;
  p.tp_split = core::TpSplit::kRow;
  p.tp_dim = 1;
  p.role = core::ParamRole::kLayer;
  p.layer = 0;
  model.params.push_back(p);
  EXPECT_TRUE(core::ValidateModelSpec(model).ok());
  return model;
}

TEST(DistributionTest, MegatronBridge5840LoraXavierStdAtTp4) {
  const core::ModelSpec model = LoraModel();
  EXPECT_EQ(Distribution(*Policy("shard-local"), Layout(model, 1, 1, 1)).verdict, Verdict::kHolds);
  const PropertyResult r = Distribution(*Policy("shard-local"), Layout(model, 4, 1, 1));
  ASSERT_EQ(r.verdict, Verdict::kFails) << r.detail;
  EXPECT_NE(r.detail.find("std 0.02201 (xavier_normal with fan_in=4096, fan_out=32 of the full "
                          "tensor)"),
            std::string::npos)
      << r.detail;
  // What the shards show: about 0.0435, within the sampling error of 131,072 draws.
  const size_t at = r.detail.find("the shards show mean ");
  ASSERT_NE(at, std::string::npos) << r.detail;
  const size_t std_at = r.detail.find("std ", at + 21);
  const double shown = std::stod(r.detail.substr(std_at + 4));
  EXPECT_NEAR(shown, 0.04352, 0.0005) << r.detail;
  // Megatron draws the same adapter from the full fan on every TP rank: the property holds.
  EXPECT_EQ(Distribution(*Policy("megatron"), Layout(model, 4, 1, 1)).verdict, Verdict::kHolds);
}

// A policy broken on purpose: the counter policy with every value of its first shard scaled by
// 1.25 (a std 25% too wide, a wrong gain).
class WideStdPolicy final : public SeedPolicy {
 public:
  std::string_view name() const override { return "wide-std"; }
  std::string_view version() const override { return "0"; }
  std::string_view models() const override { return "counter, std 25% too wide (broken)"; }
  const std::vector<policies::seed::Claim>& claims() const override { return counter_->claims(); }
  bool Supports(InitDevice) const override { return true; }
  InitDevice default_init_device() const override { return InitDevice::kCuda; }
  StatusOr<RankInit> InitRank(const InitContext& ctx) const override {
    StatusOr<RankInit> init = counter_->InitRank(ctx);
    if (!init.ok() || init->oom || init->buffers.empty()) return init;
    const std::vector<core::OwnedShard> owned = ctx.layout->OwnedBy(ctx.rank);
    const core::DType dtype = ctx.layout->model().params[owned[0].param].dtype;
    const core::Buffer& b = init->buffers[0];
    std::vector<std::byte> bytes(b.bytes);
    TWINSIM_RETURN_IF_ERROR(ctx.device->CopyToHost(core::BufferRegion::Whole(b), bytes));
    const uint64_t n = b.bytes / core::DTypeSize(dtype);
    for (uint64_t i = 0; i < n; ++i) {
      kernels::StoreAs(dtype, 1.25f * kernels::LoadAsFloat(dtype, bytes.data(), i), bytes.data(),
                       i);
    }
    TWINSIM_RETURN_IF_ERROR(ctx.device->CopyFromHost(core::BufferRegion::Whole(b), bytes));
    return init;
  }

 private:
  std::unique_ptr<SeedPolicy> counter_ = Policy("counter");
};

TEST(DistributionTest, CatchesAStdTwentyFivePercentTooWide) {
  // gpt2's first parameter, the token embedding [256, 64] N(0, 0.02^2), is rank 0's first shard.
  const core::ParallelLayout layout =
      Layout("gpt2:n_layer=1,n_embd=64,n_head=4,vocab_size=256", 1, 1, 1);
  EXPECT_EQ(Distribution(*Policy("counter"), layout).verdict, Verdict::kHolds);
  const PropertyResult r = Distribution(WideStdPolicy(), layout);
  ASSERT_EQ(r.verdict, Verdict::kFails) << r.detail;
  EXPECT_NE(r.detail.find("param 'transformer.wte.weight'"), std::string::npos) << r.detail;
  EXPECT_NE(r.detail.find("the second moment"), std::string::npos) << r.detail;
}

// Same mean, same std, wrong shape: a uniform sample checked against a normal spec of equal
// std passes the bounds and the moments, and only the Kolmogorov-Smirnov distance sees it.
TEST(DistributionTest, KolmogorovSmirnovSeesTheShapeWhenMomentsAgree) {
  StatusOr<core::ModelSpec> uniform = core::MakeModel("linear-stack:layers=1,width=256,bias=0");
  ASSERT_TRUE(uniform.ok());
  const core::ParallelLayout drawn = Layout(*uniform, 1, 1, 1);
  InitRunOptions options;
  options.seed = 5;
  StatusOr<InitRun> run = RunInit(*Policy("counter"), drawn, options);
  ASSERT_TRUE(run.ok());
  core::ModelSpec as_normal = *uniform;
  as_normal.params[0].init.kind = core::InitKind::kKaimingNormal;  // same gain and fan: same std
  const core::ParallelLayout claimed = Layout(as_normal, 1, 1, 1);
  EXPECT_EQ(CheckDistribution(drawn, *run).verdict, Verdict::kHolds);
  const PropertyResult r = CheckDistribution(claimed, *run);
  ASSERT_EQ(r.verdict, Verdict::kFails) << r.detail;
  EXPECT_NE(r.detail.find("Kolmogorov-Smirnov distance"), std::string::npos) << r.detail;
}

// Constant inits are exact: one element off by one ulp fails.
TEST(DistributionTest, ConstantsAreExact) {
  const core::ParallelLayout layout =
      Layout("gpt2:n_layer=1,n_embd=8,n_head=2,vocab_size=32", 1, 1, 1);
  InitRunOptions options;
  StatusOr<InitRun> run = RunInit(*Policy("counter"), layout, options);
  ASSERT_TRUE(run.ok());
  EXPECT_EQ(CheckDistribution(layout, *run).verdict, Verdict::kHolds);
  RankOutcome& r = run->ranks[0];
  for (size_t i = 0; i < r.owned.size(); ++i) {
    const core::ParamSpec& spec = layout.model().params[r.owned[i].param];
    if (spec.init.kind != core::InitKind::kConstant || spec.init.value != 0) continue;
    const float tiny = 1e-30f;
    std::memcpy(r.bytes[i].data(), &tiny, sizeof tiny);
    const PropertyResult result = CheckDistribution(layout, *run);
    ASSERT_EQ(result.verdict, Verdict::kFails);
    EXPECT_NE(result.detail.find("should follow the constant 0"), std::string::npos)
        << result.detail;
    return;
  }
  FAIL() << "gpt2 has no zero-initialized parameter";
}

}  // namespace
}  // namespace twinsim::properties
