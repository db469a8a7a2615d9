#include "core/topology_presets.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "core/topology.h"

namespace twinsim::core {
namespace {

constexpr int64_t kGiB = int64_t{1} << 30;

Topology Make(const std::string& text) {
  StatusOr<Topology> t = MakeTopology(text);
  EXPECT_TRUE(t.ok()) << text << ": " << t.status().ToString();
  return t.ok() ? *t : Topology{};
}

TEST(TopologyPresetsTest, EveryPresetValidatesAndRoundTrips) {
  const std::vector<std::string> names = TopologyPresetNames();
  EXPECT_EQ(names, (std::vector<std::string>{"dgx-a100-40g", "dgx-a100-80g", "dgx-h100", "hgx-h200",
                                             "v100-32g", "rtx3090"}));
  for (const std::string& name : names) {
    for (const std::string& text : {name, name + ":nodes=3"}) {
      const Topology t = Make(text);
      EXPECT_EQ(t.name, text);
      EXPECT_TRUE(ValidateTopology(t).ok()) << text;
      StatusOr<Topology> back = TopologyFromJson(ToJson(t));
      ASSERT_TRUE(back.ok()) << text << ": " << back.status().ToString();
      EXPECT_EQ(*back, t) << text;
    }
  }
}

TEST(TopologyPresetsTest, GpuCountsAndCapacities) {
  struct Row {
    std::string preset;
    int64_t gpus;
    int64_t memory_gib;
    int sms;
    double hbm_bytes_per_s;
    int pcie_generation;
  };
  const std::vector<Row> rows = {
      {"dgx-a100-40g", 8, 40, 108, 1555e9, 4}, {"dgx-a100-80g", 8, 80, 108, 2039e9, 4},
      {"dgx-h100", 8, 80, 132, 3350e9, 5},     {"hgx-h200", 8, 141, 132, 4800e9, 5},
      {"v100-32g", 1, 32, 80, 900e9, 3},       {"rtx3090", 1, 24, 82, 936e9, 4},
  };
  for (const Row& r : rows) {
    const Topology t = Make(r.preset);
    ASSERT_EQ(t.nodes.size(), 1u) << r.preset;
    EXPECT_EQ(NumGpus(t), r.gpus) << r.preset;
    for (const GpuSpec& g : t.nodes[0].gpus) {
      EXPECT_EQ(g.memory_capacity_bytes, r.memory_gib * kGiB) << r.preset;
      EXPECT_EQ(g.sm_count, r.sms) << r.preset;
      EXPECT_DOUBLE_EQ(g.hbm_bandwidth_bytes_per_s, r.hbm_bytes_per_s) << r.preset;
      EXPECT_EQ(g.pcie.generation, r.pcie_generation) << r.preset;
      EXPECT_EQ(g.pcie.lanes, 16) << r.preset;
      EXPECT_GT(g.init_elements_per_s, 0) << r.preset;
    }
  }
}

TEST(TopologyPresetsTest, DgxH100Structure) {
  const Topology t = Make("dgx-h100");
  const NodeSpec& n = t.nodes[0];
  EXPECT_EQ(n.nvlink.kind, NvlinkKind::kNvSwitch);
  EXPECT_EQ(n.nvlink.num_nvswitches, 4);
  EXPECT_DOUBLE_EQ(n.nvlink.per_gpu_bandwidth_bytes_per_s, 450e9);
  EXPECT_EQ(n.pcie_switches.size(), 4u);
  ASSERT_EQ(n.nics.size(), 8u);
  for (const NicSpec& nic : n.nics) EXPECT_DOUBLE_EQ(nic.bandwidth_bytes_per_s, 50e9);
  EXPECT_EQ(n.nics[0].near_gpus, (std::vector<int>{0, 1}));
  EXPECT_EQ(n.nics[7].near_gpus, (std::vector<int>{6, 7}));
  EXPECT_EQ(n.gpus[5].pcie_switch, 2);
  EXPECT_EQ(n.host_memory.pageable_bytes, 2048 * kGiB);
  EXPECT_EQ(t.fabric.kind, "infiniband-ndr");
  EXPECT_DOUBLE_EQ(t.fabric.link_bandwidth_bytes_per_s, 50e9);

  const Topology v = Make("v100-32g");
  EXPECT_EQ(v.nodes[0].nvlink.kind, NvlinkKind::kNone);
  EXPECT_TRUE(v.nodes[0].pcie_switches.empty());
  EXPECT_EQ(v.nodes[0].gpus[0].pcie_switch, -1);
  EXPECT_NEAR(v.nodes[0].gpus[0].pcie.bandwidth_bytes_per_s, 15.75e9, 0.01e9);
  EXPECT_NEAR(Make("rtx3090").nodes[0].gpus[0].pcie.bandwidth_bytes_per_s, 31.5e9, 0.01e9);
}

TEST(TopologyPresetsTest, LargeClusterBuildsInMilliseconds) {
  const auto start = std::chrono::steady_clock::now();
  const Topology t = Make("dgx-h100:nodes=2048");
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(t.nodes.size(), 2048u);
  EXPECT_EQ(NumGpus(t), 16384);
  EXPECT_EQ(*GpuGlobalIndex(t, 2047, 7), 16383);
  std::printf("dgx-h100:nodes=2048 built and validated in %.2f ms\n", seconds * 1e3);
  EXPECT_LT(seconds, 1.0);  // ~ms plain; generous for sanitizers and loaded machines
}

TEST(TopologyPresetsTest, Overrides) {
  const Topology t = Make("dgx-a100-80g:gpus_per_node=4,nodes=2,host_memory_gb=512");
  EXPECT_EQ(NumGpus(t), 8);
  EXPECT_EQ(t.nodes[1].gpus.size(), 4u);
  EXPECT_EQ(t.nodes[1].pcie_switches.size(), 2u);
  EXPECT_EQ(t.nodes[1].nics.size(), 4u);
  EXPECT_EQ(t.nodes[1].host_memory.pageable_bytes, 512 * kGiB);
  EXPECT_EQ(t.nodes[1].host_memory.pinned_bytes, 512 * kGiB);  // capped to host memory

  const Topology odd = Make("dgx-h100:gpus_per_node=3");
  EXPECT_EQ(odd.nodes[0].pcie_switches.size(), 2u);
  EXPECT_EQ(odd.nodes[0].nics[3].near_gpus, (std::vector<int>{2}));

  const Topology r = Make(
      "rtx3090:gpus_per_node=4,gpu_memory_gb=20,pinned_memory_gb=8,nic_gbps=10,"
      "fabric_latency_ns=50000");
  EXPECT_EQ(r.nodes[0].gpus.size(), 4u);
  EXPECT_EQ(r.nodes[0].nics[0].near_gpus, (std::vector<int>{0, 1, 2, 3}));
  EXPECT_EQ(r.nodes[0].gpus[3].memory_capacity_bytes, 20 * kGiB);
  EXPECT_EQ(r.nodes[0].host_memory.pinned_bytes, 8 * kGiB);
  EXPECT_DOUBLE_EQ(r.fabric.link_bandwidth_bytes_per_s, 1.25e9);
  EXPECT_DOUBLE_EQ(r.nodes[0].nics[0].bandwidth_bytes_per_s, 1.25e9);
  EXPECT_DOUBLE_EQ(r.fabric.latency_s, 50e-6);

  // Checkpoint storage: the DGX SuperPOD reference architecture's "over 40 GBps" per node
  // (topology_presets.cc), overridable.
  EXPECT_DOUBLE_EQ(Make("dgx-h100").nodes[0].storage_read_bytes_per_s, 40e9);
  EXPECT_DOUBLE_EQ(Make("dgx-h100:storage_read_gb_per_s=5").nodes[0].storage_read_bytes_per_s,
                   5e9);

  const Topology one = Make("hgx-h200:gpus_per_node=1");
  EXPECT_EQ(one.nodes[0].nvlink.kind, NvlinkKind::kNone);
}

TEST(TopologyPresetsTest, BadStringsGiveExactMessages) {
  const std::string presets =
      "expected one of dgx-a100-40g, dgx-a100-80g, dgx-h100, hgx-h200, v100-32g, rtx3090, "
      "optionally followed by :key=value,...";
  const std::string keys =
      "nodes, gpus_per_node, gpu_memory_gb, host_memory_gb, pinned_memory_gb, nic_gbps, "
      "fabric_latency_ns, storage_read_gb_per_s";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"", "empty cluster preset in ''; " + presets},
      {":nodes=2", "empty cluster preset in ':nodes=2'; " + presets},
      {"dgx-h10", "unknown cluster preset 'dgx-h10' (did you mean 'dgx-h100'?); " + presets},
      {"DGX-H100", "unknown cluster preset 'DGX-H100' (did you mean 'dgx-h100'?); " + presets},
      {"rtx-3090", "unknown cluster preset 'rtx-3090' (did you mean 'rtx3090'?); " + presets},
      {"tpu-v4", "unknown cluster preset 'tpu-v4'; " + presets},
      {"dgx-h100:", "dgx-h100: expected key=value after ':' (keys: " + keys + ")"},
      {"dgx-h100:nodes=0", "dgx-h100: 'nodes': expected an integer in [1, 65536], got '0'"},
      {"dgx-h100:nodes=-4", "dgx-h100: 'nodes': expected an integer in [1, 65536], got '-4'"},
      {"dgx-h100:nodes=two", "dgx-h100: 'nodes': expected an integer in [1, 65536], got 'two'"},
      {"dgx-h100:nodes=2.5", "dgx-h100: 'nodes': expected an integer in [1, 65536], got '2.5'"},
      {"dgx-h100:nodes=", "dgx-h100: 'nodes': expected an integer in [1, 65536], got ''"},
      {"dgx-h100:nodes=65537", "dgx-h100: 'nodes': expected an integer in [1, 65536], got '65537'"},
      {"dgx-h100:gpus_per_node=9",
       "dgx-h100: 'gpus_per_node': expected an integer in [1, 8], got '9'"},
      {"dgx-h100:node=2",
       "dgx-h100: unknown key 'node' (did you mean 'nodes'?); expected one of " + keys},
      {"dgx-h100:host_mem_gb=2",
       "dgx-h100: unknown key 'host_mem_gb' (did you mean 'host_memory_gb'?); expected one of " +
           keys},
      {"dgx-h100:color=red", "dgx-h100: unknown key 'color'; expected one of " + keys},
      {"dgx-h100:nodes", "dgx-h100: expected key=value, got 'nodes'"},
      {"dgx-h100:nodes=2,", "dgx-h100: trailing ',' in 'dgx-h100:nodes=2,'"},
      {"dgx-h100:nodes=2,nodes=3", "dgx-h100: key 'nodes' given twice"},
      {"dgx-h100:pinned_memory_gb=4096",
       "dgx-h100: pinned_memory_gb=4096 exceeds host_memory_gb=2048"},
  };
  for (const auto& [text, message] : cases) {
    StatusOr<Topology> t = MakeTopology(text);
    ASSERT_FALSE(t.ok()) << text;
    EXPECT_EQ(t.status().code(), StatusCode::kInvalidArgument) << text;
    EXPECT_EQ(t.status().message(), message) << text;
  }
}

Calibration SomeCalibration() {
  Calibration c;
  c.device = "NVIDIA H100 80GB HBM3";
  c.driver = "13.0";
  c.date = "2026-11-27T10:00Z";
  c.h2d_pinned_bytes_per_s = 50e9;
  c.d2h_pinned_bytes_per_s = 54e9;
  c.h2d_pageable_bytes_per_s = 20e9;
  c.d2h_pageable_bytes_per_s = 18e9;
  c.d2d_copy_bytes_per_s = 1.3e12;
  c.init_elements_per_s = 3.7e11;
  c.copy_latency_s = 8e-6;
  return c;
}

TEST(CalibrationTest, RoundTripsThroughJsonAndRejectsBadFiles) {
  const Calibration c = SomeCalibration();
  StatusOr<Calibration> back = CalibrationFromJson(CalibrationToJson(c));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, c);
  EXPECT_EQ(CalibrationFromJson("[]").status().code(), StatusCode::kInvalidArgument);
  std::string bad = CalibrationToJson(c);
  bad.insert(bad.find('{') + 1, "\"extra\": 1,");
  EXPECT_NE(CalibrationFromJson(bad).status().message().find("/extra: unknown key"),
            std::string::npos);
  Calibration zero = c;
  zero.init_elements_per_s = 0;
  EXPECT_NE(CalibrationFromJson(CalibrationToJson(zero)).status().message().find(
                "init_elements_per_s"),
            std::string::npos);
}

TEST(CalibrationTest, AppliesMeasuredFiguresToEveryGpu) {
  StatusOr<Topology> t = MakeTopology("dgx-h100:nodes=2");
  ASSERT_TRUE(t.ok());
  ASSERT_TRUE(ApplyCalibration(SomeCalibration(), *t).ok());
  EXPECT_TRUE(ValidateTopology(*t).ok());
  for (const NodeSpec& node : t->nodes) {
    for (const GpuSpec& gpu : node.gpus) {
      EXPECT_DOUBLE_EQ(gpu.pcie.bandwidth_bytes_per_s, 52e9);
      EXPECT_DOUBLE_EQ(gpu.hbm_bandwidth_bytes_per_s, 2.6e12);
      EXPECT_DOUBLE_EQ(gpu.init_elements_per_s, 3.7e11);
    }
    for (const PcieSwitchSpec& s : node.pcie_switches) {
      EXPECT_GE(s.uplink.bandwidth_bytes_per_s, 52e9);
    }
  }
  EXPECT_NE(t->name.find("calibrated"), std::string::npos);
}

}  // namespace
}  // namespace twinsim::core
