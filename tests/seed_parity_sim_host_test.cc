// Determinism across backends: a seed policy run on the sim backend in data mode leaves every
// rank with the same shard bytes, bit for bit, as on the host backend (properties::RunInit),
// with the same device peak and bytes sent; and the same policy code runs in timing-only mode.
//
// In timing-only mode parity is checked on sampled elements (Note [Sampled parity] in
// properties/init_check.h): it holds for counter, can fail, and is n/a for the other policies.
//
// The sim runs go through properties::RunInit with Backend::kSim, the path `twinsim init
// --backend sim` takes (each simulation in a forked child, Note [One engine per process]).
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "core/host_memory.h"
#include "core/model_presets.h"
#include "core/parallel_layout.h"
#include "core/topology_presets.h"
#include "kernels/device_fill.h"
#include "policies/seed/policy.h"
#include "properties/init_check.h"
#include "core/topology.h"
#include "sim/sim_device.h"

namespace twinsim::sim {
namespace {

using policies::seed::InitContext;
using policies::seed::InitDevice;
using policies::seed::SeedPolicy;

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

// properties::RunInit on the sim backend (Backend::kSim) of `cluster`.
StatusOr<properties::InitRun> SimInit(const SeedPolicy& policy,
                                      const core::ParallelLayout& layout,
                                      properties::InitRunOptions options,
                                      const std::string& cluster, bool holds_bytes) {
  StatusOr<core::Topology> topology = core::MakeTopology(cluster);
  if (!topology.ok()) return topology.status();
  options.backend = properties::Backend::kSim;
  options.sim.topology = *topology;
  options.sim.holds_bytes = holds_bytes;
  return properties::RunInit(policy, layout, options);
}

struct Case {
  std::string policy;
  std::string model;
  int tp, pp, dp;
  std::string cluster;
};

class SeedParityTest : public ::testing::TestWithParam<Case> {};

TEST_P(SeedParityTest, DataModeShardsAreBitIdenticalToTheHostBackend) {
  const Case& c = GetParam();
  std::unique_ptr<SeedPolicy> policy = std::move(policies::seed::MakePolicy(c.policy)).value();
  const core::ParallelLayout layout = Layout(c.model, c.tp, c.pp, c.dp);
  properties::InitRunOptions options;
  options.seed = 1234;
  options.init_device = policy->default_init_device();
  StatusOr<properties::InitRun> host = properties::RunInit(*policy, layout, options);
  ASSERT_TRUE(host.ok()) << host.status().ToString();
  StatusOr<properties::InitRun> sim = SimInit(*policy, layout, options, c.cluster, true);
  ASSERT_TRUE(sim.ok()) << sim.status().ToString();
  ASSERT_EQ(sim->ranks.size(), host->ranks.size());
  ASSERT_TRUE(sim->sim.has_value());
  EXPECT_GT(sim->sim->end_time_s, 0.0);
  uint64_t compared = 0;
  for (size_t r = 0; r < sim->ranks.size(); ++r) {
    const properties::RankOutcome& s = sim->ranks[r];
    const properties::RankOutcome& h = host->ranks[r];
    ASSERT_TRUE(s.status.ok()) << "rank " << r << ": " << s.status.ToString();
    ASSERT_FALSE(s.oom);
    ASSERT_EQ(s.bytes.size(), h.bytes.size()) << "rank " << r;
    for (size_t i = 0; i < s.bytes.size(); ++i) {
      EXPECT_EQ(s.bytes[i], h.bytes[i]) << "rank " << r << " shard " << i << " (param "
                                        << layout.model().params[h.owned[i].param].name << ")";
      compared += s.bytes[i].size();
    }
    EXPECT_EQ(s.draws.size(), h.draws.size()) << "rank " << r;
    EXPECT_EQ(s.peak_device_bytes, h.peak_device_bytes) << "rank " << r;
    EXPECT_EQ(s.bytes_sent, h.bytes_sent) << "rank " << r;
    EXPECT_GE(s.end_time_s, 0.0) << "rank " << r;
  }
  EXPECT_GT(compared, 0u);
}

TEST_P(SeedParityTest, TheComparisonSeesADifferentSeed) {
  // The check above can fail: another seed on the sim gives other bytes.
  const Case& c = GetParam();
  std::unique_ptr<SeedPolicy> policy = std::move(policies::seed::MakePolicy(c.policy)).value();
  const core::ParallelLayout layout = Layout(c.model, c.tp, c.pp, c.dp);
  properties::InitRunOptions options;
  options.seed = 1234;
  options.init_device = policy->default_init_device();
  StatusOr<properties::InitRun> host = properties::RunInit(*policy, layout, options);
  ASSERT_TRUE(host.ok()) << host.status().ToString();
  options.seed = 1235;
  StatusOr<properties::InitRun> sim = SimInit(*policy, layout, options, c.cluster, true);
  ASSERT_TRUE(sim.ok()) << sim.status().ToString();
  int differing = 0;
  for (size_t r = 0; r < sim->ranks.size(); ++r) {
    for (size_t i = 0; i < sim->ranks[r].bytes.size(); ++i) {
      differing += sim->ranks[r].bytes[i] != host->ranks[r].bytes[i];
    }
  }
  EXPECT_GT(differing, 0);
}

TEST_P(SeedParityTest, TimingOnlyModeRunsTheSamePolicyWithTheSameMemoryAndTraffic) {
  const Case& c = GetParam();
  std::unique_ptr<SeedPolicy> policy = std::move(policies::seed::MakePolicy(c.policy)).value();
  const core::ParallelLayout layout = Layout(c.model, c.tp, c.pp, c.dp);
  properties::InitRunOptions options;
  options.seed = 1234;
  options.init_device = policy->default_init_device();
  StatusOr<properties::InitRun> data = SimInit(*policy, layout, options, c.cluster, true);
  StatusOr<properties::InitRun> timing = SimInit(*policy, layout, options, c.cluster, false);
  ASSERT_TRUE(data.ok()) << data.status().ToString();
  ASSERT_TRUE(timing.ok()) << timing.status().ToString();
  // Same simulated time: the device charges the same work whether or not it holds the bits.
  EXPECT_DOUBLE_EQ(timing->sim->end_time_s, data->sim->end_time_s);
  for (size_t r = 0; r < data->ranks.size(); ++r) {
    const properties::RankOutcome& d = data->ranks[r];
    const properties::RankOutcome& t = timing->ranks[r];
    ASSERT_TRUE(t.status.ok()) << "rank " << r << ": " << t.status.ToString();
    EXPECT_FALSE(t.holds_bytes);
    EXPECT_EQ(t.peak_device_bytes, d.peak_device_bytes) << "rank " << r;
    EXPECT_EQ(t.peak_host_bytes, d.peak_host_bytes) << "rank " << r;
    EXPECT_EQ(t.bytes_sent, d.bytes_sent) << "rank " << r;
    for (const std::vector<std::byte>& shard : t.bytes) EXPECT_TRUE(shard.empty());
  }
}

std::string CaseName(const ::testing::TestParamInfo<Case>& info) {
  std::string name = fmt::format("{}_tp{}pp{}dp{}_{}", info.param.policy, info.param.tp,
                                 info.param.pp, info.param.dp, info.index);
  for (char& ch : name) {
    if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
  }
  return name;
}

constexpr char kGpt2[] = "gpt2:n_layer=2,n_embd=64,n_head=4,vocab_size=1000";

// Every policy on one node and on two.
std::vector<Case> AllCases() {
  std::vector<Case> cases;
  for (const std::string& policy : policies::seed::PolicyNames()) {
    cases.push_back({policy, "tiny-mlp", 2, 2, 2, "dgx-h100"});
    cases.push_back({policy, kGpt2, 2, 2, 4, "dgx-h100:nodes=2"});
  }
  return cases;
}

INSTANTIATE_TEST_SUITE_P(Policies, SeedParityTest,
                         ::testing::ValuesIn(AllCases()),
                         CaseName);

// ---- parity in timing-only mode, on sampled elements (Note [Sampled parity]) ----

// properties::CheckPolicy of `properties` on a timing-only simulation of `cluster`.
StatusOr<properties::PolicyCheck> TimingOnlyCheck(const SeedPolicy& policy,
                                                  const core::ParallelLayout& layout,
                                                  const std::string& cluster,
                                                  std::vector<policies::seed::Property> properties) {
  StatusOr<core::Topology> topology = core::MakeTopology(cluster);
  if (!topology.ok()) return topology.status();
  properties::InitRunOptions options;
  options.seed = 1234;
  options.init_device = policy.default_init_device();
  options.backend = properties::Backend::kSim;
  options.sim.topology = *topology;
  options.sim.holds_bytes = false;
  return properties::CheckPolicy(policy, layout, options, properties);
}

uint64_t SampleCount(const properties::InitRun& run) {
  uint64_t n = 0;
  for (const properties::RankOutcome& r : run.ranks) {
    for (const properties::ShardSamples& s : r.samples) n += s.size();
  }
  return n;
}

class SampledParityTest : public ::testing::TestWithParam<Case> {};

TEST_P(SampledParityTest, CounterParityHoldsOnSampledElements) {
  const Case& c = GetParam();
  std::unique_ptr<SeedPolicy> policy = std::move(policies::seed::MakePolicy(c.policy)).value();
  const core::ParallelLayout layout = Layout(c.model, c.tp, c.pp, c.dp);
  StatusOr<properties::PolicyCheck> check =
      TimingOnlyCheck(*policy, layout, c.cluster, {policies::seed::Property::kParity});
  ASSERT_TRUE(check.ok()) << check.status().ToString();
  ASSERT_EQ(check->rows.size(), 1u);
  const properties::PropertyResult& parity = check->rows[0].result;
  EXPECT_EQ(parity.verdict, properties::Verdict::kHolds) << parity.detail;
  EXPECT_NE(parity.detail.find("sampled elements"), std::string::npos) << parity.detail;
  EXPECT_GT(SampleCount(check->run), 0u);
  for (const properties::RankOutcome& r : check->run.ranks) {
    EXPECT_FALSE(r.holds_bytes);
    ASSERT_EQ(r.samples.size(), r.owned.size()) << "rank " << r.rank;
    for (size_t i = 0; i < r.samples.size(); ++i) {
      // Every shard is one Fill: at most kSamplesPerFill elements, at least one.
      EXPECT_GT(r.samples[i].size(), 0u) << "rank " << r.rank << " shard " << i;
      EXPECT_LE(r.samples[i].size(), static_cast<size_t>(kSamplesPerFill));
    }
  }
}

// The check can fail: against another seed's stream, and with one sample corrupted.
TEST_P(SampledParityTest, TheSampledCheckSeesAWrongReferenceAndACorruptSample) {
  const Case& c = GetParam();
  std::unique_ptr<SeedPolicy> policy = std::move(policies::seed::MakePolicy(c.policy)).value();
  const core::ParallelLayout layout = Layout(c.model, c.tp, c.pp, c.dp);
  StatusOr<properties::PolicyCheck> check =
      TimingOnlyCheck(*policy, layout, c.cluster, {policies::seed::Property::kInitFits});
  ASSERT_TRUE(check.ok()) << check.status().ToString();
  properties::InitRun run = check->run;
  ASSERT_EQ(properties::CheckSampledParity(layout, run, 1234).verdict,
            properties::Verdict::kHolds);

  const properties::PropertyResult other_seed = properties::CheckSampledParity(layout, run, 1235);
  EXPECT_EQ(other_seed.verdict, properties::Verdict::kFails);
  EXPECT_NE(other_seed.detail.find("single-device init gives"), std::string::npos)
      << other_seed.detail;

  // The last rank's last non-constant shard, its first sample (on the block's first row, never
  // padding), one bit flipped.
  properties::RankOutcome& r = run.ranks.back();
  int shard = -1;
  for (size_t i = 0; i < r.owned.size(); ++i) {
    if (layout.model().params[r.owned[i].param].init.kind != core::InitKind::kConstant &&
        r.samples[i].size() > 2) {
      shard = static_cast<int>(i);
    }
  }
  ASSERT_GE(shard, 0);
  properties::ShardSamples& s = r.samples[shard];
  const uint64_t esz = core::DTypeSize(layout.model().params[r.owned[shard].param].dtype);
  ASSERT_EQ(s.elements[0], 0u);
  s.bytes[esz - 1] ^= std::byte{1};
  const properties::PropertyResult corrupt = properties::CheckParity(layout, run, run);
  EXPECT_EQ(corrupt.verdict, properties::Verdict::kFails);
  const std::string& name = layout.model().params[r.owned[shard].param].name;
  EXPECT_NE(corrupt.detail.find("param '" + name + "'"), std::string::npos) << corrupt.detail;
  EXPECT_NE(corrupt.detail.find(properties::DescribeRank(layout, r.rank)), std::string::npos)
      << corrupt.detail;
}

// counter with Megatron's mistake: the seed offset by the TP rank (STYLE.md's counter-example).
class TpOffsetCounter final : public SeedPolicy {
 public:
  TpOffsetCounter() : counter_(std::move(policies::seed::MakePolicy("counter")).value()) {}
  std::string_view name() const override { return "counter-seed-plus-tp-rank"; }
  std::string_view version() const override { return "0"; }
  std::string_view models() const override { return "counter broken on purpose"; }
  const std::vector<policies::seed::Claim>& claims() const override { return counter_->claims(); }
  bool Supports(InitDevice) const override { return true; }
  InitDevice default_init_device() const override { return InitDevice::kCuda; }
  StatusOr<policies::seed::RankInit> InitRank(const InitContext& ctx) const override {
    InitContext c = ctx;
    c.seed += ctx.layout->RankCoords(ctx.rank).tp;
    return counter_->InitRank(c);
  }

 private:
  std::unique_ptr<SeedPolicy> counter_;
};

TEST_P(SampledParityTest, ABrokenPolicyFailsSampledParity) {
  const Case& c = GetParam();
  const TpOffsetCounter broken;
  const core::ParallelLayout layout = Layout(c.model, c.tp, c.pp, c.dp);
  StatusOr<properties::PolicyCheck> check =
      TimingOnlyCheck(broken, layout, c.cluster, {policies::seed::Property::kParity});
  ASSERT_TRUE(check.ok()) << check.status().ToString();
  const properties::PropertyResult& parity = check->rows[0].result;
  EXPECT_EQ(parity.verdict, properties::Verdict::kFails) << parity.detail;
  EXPECT_NE(parity.detail.find(", tp 1)"), std::string::npos) << parity.detail;
}

INSTANTIATE_TEST_SUITE_P(Counter, SampledParityTest,
                         ::testing::Values(Case{"counter", "tiny-mlp", 2, 2, 2, "dgx-h100"},
                                           Case{"counter", kGpt2, 2, 2, 1, "dgx-h100:nodes=2"},
                                           Case{"counter", kGpt2, 2, 2, 4, "dgx-h100:nodes=2"}),
                         CaseName);

// Policies that write through WriteKernelOutput leave nothing to sample: parity stays n/a.
TEST(SampledParityTest, PoliciesWithoutCounterFillsKeepParityNotApplicable) {
  const core::ParallelLayout layout = Layout("tiny-mlp", 2, 2, 2);
  for (const std::string& name : policies::seed::PolicyNames()) {
    if (name == "counter") continue;
    std::unique_ptr<SeedPolicy> policy = std::move(policies::seed::MakePolicy(name)).value();
    StatusOr<properties::PolicyCheck> check =
        TimingOnlyCheck(*policy, layout, "dgx-h100", {policies::seed::Property::kParity});
    ASSERT_TRUE(check.ok()) << name << ": " << check.status().ToString();
    const properties::PropertyResult& parity = check->rows[0].result;
    EXPECT_EQ(parity.verdict, properties::Verdict::kNotApplicable) << name << ": " << parity.detail;
    EXPECT_NE(parity.detail.find("only counter-stream fills are sampled"), std::string::npos)
        << name << ": " << parity.detail;
    EXPECT_EQ(SampleCount(check->run), 0u) << name;
  }
}

}  // namespace
}  // namespace twinsim::sim
