// Tests of BuildPlatform on dgx-h100:nodes=2 under CM02: routes use the right link classes,
// and 1 GB transfers take bytes / bottleneck bandwidth + latency over NVLink, PCIe and the
// fabric, with two GPUs behind one PCIe switch sharing its uplink.
//
// SimGrid allows one Engine per process: every test here shares one engine and one platform
// (Shared()), and the engine runs once (in Transfers).
#include "sim/platform.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <simgrid/s4u.hpp>
#include <string>
#include <utility>
#include <vector>

#include "core/topology.h"
#include "core/topology_presets.h"

namespace twinsim::sim {
namespace {

namespace sg4 = simgrid::s4u;

constexpr double kBytes = 1e9;

struct Fixture {
  sg4::Engine* engine = nullptr;
  core::Topology topology;
  Platform platform;
};

// The process's engine with the plain network model and the dgx-h100:nodes=2 platform.
Fixture& Shared() {
  static Fixture* fixture = [] {
    static int argc = 1;
    static char name[] = "platform_test";
    static char* argv[] = {name, nullptr};
    auto* f = new Fixture;
    f->engine = new sg4::Engine(&argc, argv);
    Status configured = UsePlainNetworkModel(*f->engine);
    EXPECT_TRUE(configured.ok()) << configured.message();
    StatusOr<core::Topology> topology = core::MakeTopology("dgx-h100:nodes=2");
    EXPECT_TRUE(topology.ok()) << topology.status().message();
    f->topology = *topology;
    StatusOr<Platform> platform = BuildPlatform(*f->engine, f->topology);
    EXPECT_TRUE(platform.ok()) << platform.status().message();
    if (platform.ok()) f->platform = *std::move(platform);
    return f;
  }();
  return *fixture;
}

TEST(PlatformTest, RejectsAnInvalidTopology) {
  Fixture& f = Shared();
  const StatusOr<Platform> built = BuildPlatform(*f.engine, core::Topology{});
  ASSERT_FALSE(built.ok());
  EXPECT_EQ(built.status().code(), StatusCode::kInvalidArgument);
}

TEST(PlatformTest, HasAHostPerGpuAndPerNode) {
  const Fixture& f = Shared();
  ASSERT_EQ(f.platform.gpu_hosts.size(), 16u);
  ASSERT_EQ(f.platform.cpu_hosts.size(), 2u);
  EXPECT_EQ(f.platform.gpu_hosts[9]->get_name(), "gpu9");
  EXPECT_EQ(f.platform.gpu_node[9], 1);
  EXPECT_EQ(f.platform.cpu_hosts[1]->get_name(), "node1-cpu");
  EXPECT_DOUBLE_EQ(f.platform.gpu_hosts[0]->get_speed(),
                   f.topology.nodes[0].gpus[0].init_elements_per_s);
}

TEST(PlatformTest, RoutesUseTheExpectedLinkClasses) {
  const Fixture& f = Shared();
  const auto& gpu = f.platform.gpu_hosts;
  const auto& cpu = f.platform.cpu_hosts;
  using C = LinkClass;
  const std::vector<std::pair<std::pair<sg4::Host*, sg4::Host*>, std::vector<C>>> cases = {
      {{gpu[0], gpu[1]}, {C::kNvlink}},
      {{gpu[7], gpu[2]}, {C::kNvlink}},
      {{gpu[0], cpu[0]}, {C::kPcieGpu, C::kPcieUplink}},
      {{cpu[0], gpu[5]}, {C::kPcieGpu, C::kPcieUplink}},
      {{gpu[0], gpu[8]}, {C::kPcieGpu, C::kNic, C::kFabric}},
      {{gpu[15], gpu[3]}, {C::kPcieGpu, C::kNic, C::kFabric}},
      {{gpu[0], cpu[1]}, {C::kPcieGpu, C::kPcieUplink, C::kNic, C::kFabric}},
  };
  for (const auto& [hosts, want] : cases) {
    const StatusOr<std::vector<LinkClass>> got =
        RouteLinkClasses(f.platform, hosts.first, hosts.second);
    ASSERT_TRUE(got.ok()) << got.status().message();
    EXPECT_EQ(*got, want) << hosts.first->get_name() << " -> " << hosts.second->get_name();
  }
}

// Runs inside an actor: sends kBytes over every (src, dst) flow at once, one sender actor on
// src and one receiver on dst each, and returns each flow's duration in simulated seconds.
std::vector<double> RunFlows(const std::vector<std::pair<sg4::Host*, sg4::Host*>>& flows) {
  static int next_mailbox = 0;
  static int payload = 0;
  const double start = sg4::Engine::get_clock();
  std::vector<double> took(flows.size(), -1);
  std::vector<sg4::ActorPtr> actors;
  for (size_t i = 0; i < flows.size(); ++i) {
    sg4::Mailbox* box = sg4::Mailbox::by_name("flow" + std::to_string(next_mailbox++));
    actors.push_back(sg4::Actor::create(
        "sender", flows[i].first, [box] { box->put(&payload, static_cast<uint64_t>(kBytes)); }));
    actors.push_back(sg4::Actor::create("receiver", flows[i].second, [box, &took, i, start] {
      box->get<int>();
      took[i] = sg4::Engine::get_clock() - start;
    }));
  }
  for (const sg4::ActorPtr& actor : actors) actor->join();
  return took;
}

TEST(PlatformTest, TransfersTakeBytesOverTheBottleneckPlusLatency) {
  const Fixture& f = Shared();
  const core::NodeSpec& node = f.topology.nodes[0];
  const double nvlink_bw = node.nvlink.per_gpu_bandwidth_bytes_per_s;
  const double pcie_bw = std::min(node.gpus[0].pcie.bandwidth_bytes_per_s,
                                  node.pcie_switches[0].uplink.bandwidth_bytes_per_s);
  const double inter_bw =
      std::min({node.gpus[0].pcie.bandwidth_bytes_per_s, node.nics[0].bandwidth_bytes_per_s,
                f.topology.fabric.link_bandwidth_bytes_per_s * node.nics.size()});

  const auto& gpu = f.platform.gpu_hosts;
  sg4::Host* cpu0 = f.platform.cpu_hosts[0];
  std::vector<double> nvlink, to_cpu, across, alone, shared;
  // One scenario after another, so they never share a link.
  sg4::Actor::create("driver", cpu0, [&] {
    nvlink = RunFlows({{gpu[0], gpu[1]}});
    to_cpu = RunFlows({{gpu[0], cpu0}});
    across = RunFlows({{gpu[0], gpu[8]}});
    alone = RunFlows({{gpu[2], cpu0}});
    shared = RunFlows({{gpu[2], cpu0}, {gpu[3], cpu0}});
  });
  f.engine->run();

  const double nvlink_want = kBytes / nvlink_bw + 2 * kNvlinkPortLatencyS;
  const double to_cpu_want = kBytes / pcie_bw + 2 * kPcieLinkLatencyS;
  const double across_want =
      kBytes / inter_bw + 2 * kPcieLinkLatencyS + f.topology.fabric.latency_s;
  const double shared_want = 2 * kBytes / pcie_bw + 2 * kPcieLinkLatencyS;
  ASSERT_EQ(shared.size(), 2u);
  EXPECT_NEAR(nvlink[0], nvlink_want, 0.02 * nvlink_want);
  EXPECT_NEAR(to_cpu[0], to_cpu_want, 0.02 * to_cpu_want);
  EXPECT_NEAR(across[0], across_want, 0.02 * across_want);
  EXPECT_NEAR(alone[0], to_cpu_want, 0.02 * to_cpu_want);
  EXPECT_NEAR(shared[0], shared_want, 0.02 * shared_want);
  EXPECT_NEAR(shared[1], shared_want, 0.02 * shared_want);
  EXPECT_NEAR(shared[0] / alone[0], 2.0, 0.04);
  std::printf(
      "{\"nvlink_s\": %.9g, \"nvlink_want_s\": %.9g, \"to_cpu_s\": %.9g, "
      "\"to_cpu_want_s\": %.9g, \"across_s\": %.9g, \"across_want_s\": %.9g, "
      "\"alone_s\": %.9g, \"shared_s\": [%.9g, %.9g], \"shared_want_s\": %.9g}\n",
      nvlink[0], nvlink_want, to_cpu[0], to_cpu_want, across[0], across_want, alone[0], shared[0],
      shared[1], shared_want);
}

}  // namespace
}  // namespace twinsim::sim
