#include "core/topology.h"

#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

namespace twinsim::core {
namespace {

// Two nodes; each has two GPUs on one PCIe switch, one NIC near both, NVSwitch.
Topology Small() {
  GpuSpec gpu;
  gpu.model = "test-gpu";
  gpu.memory_capacity_bytes = int64_t{16} << 30;
  gpu.hbm_bandwidth_bytes_per_s = 1e12;
  gpu.init_elements_per_s = 1e11;
  gpu.sm_count = 10;
  gpu.max_threads_per_sm = 2048;
  gpu.pcie = PcieLink{4, 16, PcieBandwidthBytesPerS(4, 16)};
  gpu.pcie_switch = 0;
  NodeSpec node;
  node.gpus = {gpu, gpu};
  node.pcie_switches = {PcieSwitchSpec{PcieLink{4, 16, PcieBandwidthBytesPerS(4, 16)}}};
  node.nvlink = NvlinkSpec{NvlinkKind::kNvSwitch, 3, 1, 3e11};
  node.host_memory = HostMemorySpec{int64_t{64} << 30, int64_t{32} << 30};
  node.nics = {NicSpec{25e9, 0, {0, 1}}};
  Topology t;
  t.name = "small";
  t.nodes = {node, node};
  t.fabric = FabricSpec{"infiniband-hdr", 25e9, 2e-6};
  return t;
}

TEST(TopologyTest, PcieBandwidthFollowsGenerationAndLanes) {
  EXPECT_NEAR(PcieBandwidthBytesPerS(3, 16), 15.75e9, 0.01e9);
  EXPECT_NEAR(PcieBandwidthBytesPerS(4, 16), 31.5e9, 0.01e9);
  EXPECT_NEAR(PcieBandwidthBytesPerS(5, 16), 63.0e9, 0.02e9);
  EXPECT_DOUBLE_EQ(PcieBandwidthBytesPerS(4, 8), PcieBandwidthBytesPerS(4, 16) / 2);
  EXPECT_EQ(PcieBandwidthBytesPerS(2, 16), 0);
  EXPECT_EQ(PcieBandwidthBytesPerS(4, 0), 0);
}

TEST(TopologyTest, CountsAndGlobalIndices) {
  Topology t = Small();
  t.nodes[1].gpus.push_back(t.nodes[1].gpus[0]);  // uneven: 2 + 3
  EXPECT_EQ(NumGpus(t), 5);
  EXPECT_EQ(*GpuGlobalIndex(t, 0, 0), 0);
  EXPECT_EQ(*GpuGlobalIndex(t, 0, 1), 1);
  EXPECT_EQ(*GpuGlobalIndex(t, 1, 0), 2);
  EXPECT_EQ(*GpuGlobalIndex(t, 1, 2), 4);
  EXPECT_EQ(GpuGlobalIndex(t, 2, 0).status().message(), "node 2 is out of range [0, 2)");
  EXPECT_EQ(GpuGlobalIndex(t, -1, 0).status().code(), StatusCode::kOutOfRange);
  EXPECT_EQ(GpuGlobalIndex(t, 0, 2).status().message(),
            "local GPU 2 is out of range [0, 2) on node 0");
  EXPECT_EQ(NumGpus(Topology{}), 0);
}

TEST(TopologyTest, SmallIsValid) { EXPECT_TRUE(ValidateTopology(Small()).ok()); }

struct BadCase {
  std::string what;
  std::function<void(Topology&)> mutate;
  std::string message;
};

TEST(TopologyTest, ValidateNamesTheBadField) {
  const std::vector<BadCase> cases = {
      {"no nodes", [](Topology& t) { t.nodes.clear(); },
       "nodes: a topology needs at least one node"},
      {"no GPUs", [](Topology& t) { t.nodes[1].gpus.clear(); },
       "nodes[1].gpus: a node needs at least one GPU"},
      {"missing switch", [](Topology& t) { t.nodes[1].gpus[1].pcie_switch = 3; },
       "nodes[1].gpus[1].pcie_switch: 3 is not an index into nodes[1].pcie_switches (size 1) "
       "nor -1 (CPU root port)"},
      {"switches removed", [](Topology& t) { t.nodes[0].pcie_switches.clear(); },
       "nodes[0].gpus[0].pcie_switch: 0 is not an index into nodes[0].pcie_switches (size 0) "
       "nor -1 (CPU root port)"},
      {"zero HBM bandwidth", [](Topology& t) { t.nodes[0].gpus[1].hbm_bandwidth_bytes_per_s = 0; },
       "nodes[0].gpus[1].hbm_bandwidth_bytes_per_s: must be a positive finite number, got 0"},
      {"zero memory", [](Topology& t) { t.nodes[0].gpus[0].memory_capacity_bytes = 0; },
       "nodes[0].gpus[0].memory_capacity_bytes: must be positive, got 0"},
      {"zero init throughput", [](Topology& t) { t.nodes[0].gpus[0].init_elements_per_s = 0; },
       "nodes[0].gpus[0].init_elements_per_s: must be a positive finite number, got 0"},
      {"zero SMs", [](Topology& t) { t.nodes[0].gpus[0].sm_count = 0; },
       "nodes[0].gpus[0].sm_count: must be positive, got 0"},
      {"zero threads", [](Topology& t) { t.nodes[0].gpus[0].max_threads_per_sm = 0; },
       "nodes[0].gpus[0].max_threads_per_sm: must be positive, got 0"},
      {"empty model", [](Topology& t) { t.nodes[0].gpus[0].model.clear(); },
       "nodes[0].gpus[0].model: must not be empty"},
      {"bad lanes", [](Topology& t) { t.nodes[0].gpus[0].pcie.lanes = 3; },
       "nodes[0].gpus[0].pcie.lanes: expected 1, 2, 4, 8 or 16, got 3"},
      {"bad generation", [](Topology& t) { t.nodes[0].pcie_switches[0].uplink.generation = 0; },
       "nodes[0].pcie_switches[0].uplink.generation: expected 1..6, got 0"},
      {"zero uplink",
       [](Topology& t) { t.nodes[0].pcie_switches[0].uplink.bandwidth_bytes_per_s = 0; },
       "nodes[0].pcie_switches[0].uplink.bandwidth_bytes_per_s: must be a positive finite "
       "number, got 0"},
      {"nvswitch without bandwidth",
       [](Topology& t) { t.nodes[1].nvlink.per_gpu_bandwidth_bytes_per_s = 0; },
       "nodes[1].nvlink.per_gpu_bandwidth_bytes_per_s: must be a positive finite number when "
       "kind is nvswitch, got 0"},
      {"none with bandwidth", [](Topology& t) { t.nodes[1].nvlink.kind = NvlinkKind::kNone; },
       "nodes[1].nvlink: kind is none but generation, num_nvswitches or "
       "per_gpu_bandwidth_bytes_per_s is non-zero"},
      {"pinned above pageable",
       [](Topology& t) { t.nodes[0].host_memory.pinned_bytes = (int64_t{64} << 30) + 1; },
       "nodes[0].host_memory.pinned_bytes: must be in [0, pageable_bytes = 68719476736], got "
       "68719476737"},
      {"no host memory", [](Topology& t) { t.nodes[0].host_memory.pageable_bytes = 0; },
       "nodes[0].host_memory.pageable_bytes: must be positive, got 0"},
      {"NIC near a missing GPU",
       [](Topology& t) {
         t.nodes[1].nics[0].near_gpus = {0, 5};
       },
       "nodes[1].nics[0].near_gpus[1]: 5 is not an index into nodes[1].gpus (size 2)"},
      {"NIC on a missing switch", [](Topology& t) { t.nodes[1].nics[0].pcie_switch = -2; },
       "nodes[1].nics[0].pcie_switch: -2 is not an index into nodes[1].pcie_switches (size 1) "
       "nor -1 (CPU root port)"},
      {"zero NIC bandwidth", [](Topology& t) { t.nodes[0].nics[0].bandwidth_bytes_per_s = 0; },
       "nodes[0].nics[0].bandwidth_bytes_per_s: must be a positive finite number, got 0"},
      {"zero fabric", [](Topology& t) { t.fabric.link_bandwidth_bytes_per_s = 0; },
       "fabric.link_bandwidth_bytes_per_s: must be a positive finite number, got 0"},
      {"negative latency", [](Topology& t) { t.fabric.latency_s = -1; },
       "fabric.latency_s: must be finite and non-negative, got -1"},
      {"no fabric kind", [](Topology& t) { t.fabric.kind.clear(); },
       "fabric.kind: must not be empty"},
  };
  for (const BadCase& c : cases) {
    Topology t = Small();
    c.mutate(t);
    const Status s = ValidateTopology(t);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << c.what;
    EXPECT_EQ(s.message(), c.message) << c.what;
  }
}

TEST(TopologyTest, RootPortGpuIsValid) {
  Topology t = Small();
  t.nodes[0].pcie_switches.clear();
  for (GpuSpec& g : t.nodes[0].gpus) g.pcie_switch = -1;
  t.nodes[0].nics[0].pcie_switch = -1;
  t.nodes[0].nvlink = NvlinkSpec{};
  EXPECT_TRUE(ValidateTopology(t).ok()) << ValidateTopology(t).ToString();
}

TEST(TopologyTest, JsonRoundTripIsExact) {
  Topology t = Small();
  t.nodes[1].nvlink = NvlinkSpec{};
  t.nodes[1].gpus[0].init_elements_per_s = 1.0 / 3.0 * 1e11;  // not a short decimal
  t.fabric.latency_s = 1.3e-6;
  for (int indent : {2, -1}) {
    const std::string text = ToJson(t, indent);
    StatusOr<Topology> back = TopologyFromJson(text);
    ASSERT_TRUE(back.ok()) << back.status().ToString();
    EXPECT_EQ(*back, t);
    EXPECT_EQ(ToJson(*back, indent), text);
  }
}

// storage_read_bytes_per_s is optional on read: files written before it existed still load
// (with 0, unknown), and a present value round-trips.
TEST(TopologyTest, StorageBandwidthIsOptionalInJson) {
  Topology t = Small();
  t.nodes[0].storage_read_bytes_per_s = 40e9;
  StatusOr<Topology> back = TopologyFromJson(ToJson(t, -1));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_DOUBLE_EQ(back->nodes[0].storage_read_bytes_per_s, 40e9);
  std::string old = ToJson(Small(), -1);
  // Drop the key and its value (",\"storage_read_bytes_per_s\":0.0" before a ',' or '}').
  const size_t at = old.find(",\"storage_read_bytes_per_s\":");
  ASSERT_NE(at, std::string::npos) << old;
  old.erase(at, old.find_first_of(",}", at + 1) - at);
  StatusOr<Topology> legacy = TopologyFromJson(old);
  ASSERT_TRUE(legacy.ok()) << legacy.status().ToString();
  EXPECT_EQ(legacy->nodes[0].storage_read_bytes_per_s, 0.0);
  t.nodes[0].storage_read_bytes_per_s = -1;
  EXPECT_EQ(ValidateTopology(t).message(),
            "nodes[0].storage_read_bytes_per_s: must be 0 (unknown) or a positive finite "
            "number, got -1");
}

TEST(TopologyTest, JsonErrorsNameThePath) {
  const std::string good = ToJson(Small(), -1);
  auto replace = [&](const std::string& from, const std::string& to) {
    std::string s = good;
    const size_t at = s.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    return at == std::string::npos ? s : s.replace(at, from.size(), to);
  };
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"{", "topology JSON: not valid JSON"},
      {"[]", "/: expected an object, got array"},
      {replace("\"sm_count\":10", "\"sm_count\":\"10\""),
       "/nodes/0/gpus/0/sm_count: expected an integer, got string"},
      {replace("\"sm_count\":10", "\"sm_count\":10.5"),
       "/nodes/0/gpus/0/sm_count: expected an integer, got number"},
      {replace(",\"sm_count\":10", ""), "/nodes/0/gpus/0/sm_count: missing"},
      {replace("\"matmul_flops_per_s\":0.0", "\"matmul_flops_per_s\":-1.0"),
       "nodes[0].gpus[0].matmul_flops_per_s: must be a non-negative finite number, got -1"},
      {replace("\"sm_count\":10", "\"sm_count\":10,\"sm_cuont\":1"),
       "/nodes/0/gpus/0/sm_cuont: unknown key; expected one of model, memory_capacity_bytes, "
       "hbm_bandwidth_bytes_per_s, init_elements_per_s, matmul_flops_per_s, sm_count, "
       "max_threads_per_sm, pcie, pcie_switch"},
      {replace("\"kind\":\"nvswitch\"", "\"kind\":\"nvlink\""),
       "/nodes/0/nvlink/kind: expected \"none\" or \"nvswitch\", got \"nvlink\""},
      {replace("\"near_gpus\":[0,1]", "\"near_gpus\":[0,true]"),
       "/nodes/0/nics/0/near_gpus/1: expected an integer, got boolean"},
      {replace("\"latency_s\":2e-06", "\"latency_s\":\"fast\""),
       "/fabric/latency_s: expected a number, got string"},
      {replace("\"lanes\":16", "\"lanes\":99999999999"),
       "/nodes/0/gpus/0/pcie/lanes: integer out of range: 99999999999"},
      // Well-formed JSON with inconsistent data: ValidateTopology's message.
      {replace("\"pcie_switch\":0", "\"pcie_switch\":4"),
       "nodes[0].gpus[0].pcie_switch: 4 is not an index into nodes[0].pcie_switches (size 1) "
       "nor -1 (CPU root port)"},
  };
  for (const auto& [text, message] : cases) {
    StatusOr<Topology> t = TopologyFromJson(text);
    ASSERT_FALSE(t.ok()) << text;
    EXPECT_EQ(t.status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(t.status().message(), message) << text;
  }
}

}  // namespace
}  // namespace twinsim::core
