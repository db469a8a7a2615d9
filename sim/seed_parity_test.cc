// Determinism across backends: a seed policy run on the sim backend in data mode leaves every
// rank with the same shard bytes, bit for bit, as on the host backend (properties::RunInit),
// with the same device peak and bytes sent; and the same policy code runs in timing-only mode.
//
// SimInit below is a small runner that mirrors properties::RunInit on RunRanksOnSim: each rank
// runs policy.InitRank and hands its shards back through its output (the simulation runs in a
// child process, Note [One engine per process]).
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
#include "sim/sim_run.h"

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

// What one rank ended up with on the sim backend.
struct SimRankInit {
  std::vector<std::vector<std::byte>> shards;  // by layout.OwnedBy(rank) entry
  bool oom = false;
  double end_time_s = 0;
  uint64_t peak_device_bytes = 0;
  uint64_t bytes_sent = 0;
  Status status;
};

void PutU64(std::vector<std::byte>& out, uint64_t v) {
  const size_t at = out.size();
  out.resize(at + 8);
  std::memcpy(out.data() + at, &v, 8);
}

uint64_t GetU64(const std::vector<std::byte>& in, size_t& pos) {
  uint64_t v = 0;
  if (pos + 8 <= in.size()) std::memcpy(&v, in.data() + pos, 8);
  pos += 8;
  return v;
}

// properties::RunInit, on RunRanksOnSim.
StatusOr<std::vector<SimRankInit>> SimInit(const SeedPolicy& policy,
                                           const core::ParallelLayout& layout,
                                           const properties::InitRunOptions& options,
                                           const std::string& cluster, bool holds_bytes) {
  StatusOr<core::Topology> topology = core::MakeTopology(cluster);
  if (!topology.ok()) return topology.status();
  SimRunOptions sim;
  sim.topology = *topology;
  sim.world_size = layout.world_size();
  sim.holds_bytes = holds_bytes;
  sim.fill = kernels::FillOnHost;
  sim.device_capacity = options.device_capacity;
  StatusOr<SimRun> run = RunRanksOnSim(
      sim,
      [&](int rank, core::Comm& comm, core::Device& device, std::vector<std::byte>& out) -> Status {
        core::HostMemory host(core::HostMemoryOptions{
            fmt::format("host:{}", rank), options.host_capacity, options.host_capacity});
        InitContext ctx;
        ctx.layout = &layout;
        ctx.rank = rank;
        ctx.seed = options.seed;
        ctx.init_device = options.init_device;
        ctx.gpu = options.gpu;
        ctx.device = &device;
        ctx.comm = &comm;
        ctx.host = &host;
        TWINSIM_ASSIGN_OR_RETURN(policies::seed::RankInit init, policy.InitRank(ctx));
        PutU64(out, init.oom.has_value() ? 1 : 0);
        PutU64(out, init.buffers.size());
        for (const core::Buffer& b : init.buffers) {
          std::vector<std::byte> bytes;
          if (!b.is_null() && !init.oom && device.Info().holds_bytes) {
            bytes.resize(b.bytes);
            TWINSIM_RETURN_IF_ERROR(device.CopyToHost(core::BufferRegion::Whole(b), bytes));
          }
          PutU64(out, bytes.size());
          out.insert(out.end(), bytes.begin(), bytes.end());
          if (!b.is_null()) TWINSIM_RETURN_IF_ERROR(device.Free(b));
        }
        return Status::Ok();
      });
  if (!run.ok()) return run.status();
  std::vector<SimRankInit> ranks(run->ranks.size());
  for (size_t r = 0; r < ranks.size(); ++r) {
    const SimRankResult& result = run->ranks[r];
    SimRankInit& rank = ranks[r];
    rank.status = result.status;
    rank.end_time_s = result.end_time_s;
    rank.peak_device_bytes = result.memory.peak;
    rank.bytes_sent = result.traffic.bytes_sent();
    size_t pos = 0;
    rank.oom = GetU64(result.output, pos) != 0;
    rank.shards.resize(GetU64(result.output, pos));
    for (std::vector<std::byte>& shard : rank.shards) {
      const uint64_t n = GetU64(result.output, pos);
      if (pos + n > result.output.size()) return Status::Internal("truncated output");
      shard.assign(result.output.begin() + pos, result.output.begin() + pos + n);
      pos += n;
    }
  }
  return ranks;
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
  StatusOr<std::vector<SimRankInit>> sim = SimInit(*policy, layout, options, c.cluster, true);
  ASSERT_TRUE(sim.ok()) << sim.status().ToString();
  ASSERT_EQ(sim->size(), host->ranks.size());
  uint64_t compared = 0;
  for (size_t r = 0; r < sim->size(); ++r) {
    const SimRankInit& s = (*sim)[r];
    const properties::RankOutcome& h = host->ranks[r];
    ASSERT_TRUE(s.status.ok()) << "rank " << r << ": " << s.status.ToString();
    ASSERT_FALSE(s.oom);
    ASSERT_EQ(s.shards.size(), h.bytes.size()) << "rank " << r;
    for (size_t i = 0; i < s.shards.size(); ++i) {
      EXPECT_EQ(s.shards[i], h.bytes[i]) << "rank " << r << " shard " << i << " (param "
                                         << layout.model().params[h.owned[i].param].name << ")";
      compared += s.shards[i].size();
    }
    EXPECT_EQ(s.peak_device_bytes, h.peak_device_bytes) << "rank " << r;
    EXPECT_EQ(s.bytes_sent, h.bytes_sent) << "rank " << r;
    EXPECT_GT(s.end_time_s, 0.0) << "rank " << r << " took no simulated time";
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
  StatusOr<std::vector<SimRankInit>> sim = SimInit(*policy, layout, options, c.cluster, true);
  ASSERT_TRUE(sim.ok()) << sim.status().ToString();
  int differing = 0;
  for (size_t r = 0; r < sim->size(); ++r) {
    for (size_t i = 0; i < (*sim)[r].shards.size(); ++i) {
      differing += (*sim)[r].shards[i] != host->ranks[r].bytes[i];
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
  StatusOr<std::vector<SimRankInit>> data = SimInit(*policy, layout, options, c.cluster, true);
  StatusOr<std::vector<SimRankInit>> timing = SimInit(*policy, layout, options, c.cluster, false);
  ASSERT_TRUE(data.ok()) << data.status().ToString();
  ASSERT_TRUE(timing.ok()) << timing.status().ToString();
  for (size_t r = 0; r < data->size(); ++r) {
    const SimRankInit& d = (*data)[r];
    const SimRankInit& t = (*timing)[r];
    ASSERT_TRUE(t.status.ok()) << "rank " << r << ": " << t.status.ToString();
    EXPECT_EQ(t.peak_device_bytes, d.peak_device_bytes) << "rank " << r;
    EXPECT_EQ(t.bytes_sent, d.bytes_sent) << "rank " << r;
    EXPECT_GT(t.end_time_s, 0.0);
    for (const std::vector<std::byte>& shard : t.shards) EXPECT_TRUE(shard.empty());
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

INSTANTIATE_TEST_SUITE_P(Policies, SeedParityTest,
                         ::testing::Values(Case{"counter", "tiny-mlp", 2, 2, 2, "dgx-h100"},
                                           Case{"torch-serial", "tiny-mlp", 2, 2, 2, "dgx-h100"},
                                           Case{"seed-checkpoint", "tiny-mlp", 2, 2, 2, "dgx-h100"},
                                           Case{"counter", kGpt2, 2, 2, 4, "dgx-h100:nodes=2"},
                                           Case{"torch-serial", kGpt2, 2, 2, 4, "dgx-h100:nodes=2"},
                                           Case{"seed-checkpoint", kGpt2, 2, 2, 4,
                                                "dgx-h100:nodes=2"}),
                         CaseName);

}  // namespace
}  // namespace twinsim::sim
