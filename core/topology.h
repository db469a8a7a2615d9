// Topology: a GPU cluster as plain data — nodes, their GPUs, PCIe switches, NVLink/NVSwitch,
// host memory, NICs and the inter-node fabric, each link with its bandwidth in explicit units.
//
// Topology is data, not code paths (as NCCL's src/graph/topo.h): the SimGrid platform builder
// (sim/), the placement policies and the CLI all read this one structure, built from a preset
// (core/topology_presets.h) or loaded from JSON (TopologyFromJson). See Note [Topology model].
#ifndef TWINSIM_CORE_TOPOLOGY_H_
#define TWINSIM_CORE_TOPOLOGY_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace twinsim::core {

// Note [Topology model]
// A cluster is `nodes` joined by one fabric. Inside a node:
//
//            CPU root complex  (host memory: pageable / pinned limits)
//            /        |                \    .
//     switch uplink  switch uplink    (root port: pcie_switch = -1)
//        |              |                  |
//   PCIe switch 0   PCIe switch 1 ...    GPU (single-card hosts)
//    /   |   \        /   |   \     .
//  GPU  GPU  NIC    GPU  GPU  NIC   ── NIC ports ── fabric (bandwidth per link, latency)
//    \____\_____________/____/
//        NVLink / NVSwitch (per-GPU bandwidth, per direction), or none
//
// Every bandwidth is per direction (full duplex links carry it both ways at once) in bytes per
// second; every latency is in seconds. A GPU's `pcie` is its own slot link; a switch's
// `uplink` is the shared link from the switch to the CPU, which all GPUs and NICs below it
// share. A NIC is "near" the GPUs that reach it without crossing the CPU (same switch).

// A PCIe link: generation (3, 4, 5), lane count and per-direction bandwidth.
struct PcieLink {
  int generation = 0;
  int lanes = 0;
  double bandwidth_bytes_per_s = 0;  // per direction
  bool operator==(const PcieLink&) const = default;
};

// Theoretical per-direction bandwidth of PCIe `generation` x `lanes`: the transfer rate
// (8, 16, 32 GT/s for Gen3, 4, 5) times 128b/130b encoding, one bit per lane per transfer.
// Gen3 x16 = 15.75e9, Gen4 x16 = 31.5e9, Gen5 x16 = 63.0e9 bytes/s. Returns 0 for an
// unknown generation or a non-positive lane count. Pure.
double PcieBandwidthBytesPerS(int generation, int lanes);

// One GPU. `pcie_switch` indexes NodeSpec::pcie_switches, or is -1 when the GPU sits directly
// on a CPU root port.
struct GpuSpec {
  std::string model;                     // e.g. "H100-SXM5-80GB"
  int64_t memory_capacity_bytes = 0;     // device memory the pools may hand out
  double hbm_bandwidth_bytes_per_s = 0;  // device memory bandwidth (datasheet peak)
  // fp32 normal-fill init kernel throughput in elements per second. Preset values are
  // estimates (see Note [Init throughput estimate] in topology_presets.cc) to be replaced by
  // measured figures from `twinsim calibrate`.
  double init_elements_per_s = 0;
  // Dense fp16/bf16 tensor-core peak in FLOP/s (datasheet, without sparsity); 0 when unknown,
  // and then a simulated training step charges no compute time (Note [Op cost] in
  // policies/placement/workload.h).
  double matmul_flops_per_s = 0;
  int sm_count = 0;
  int max_threads_per_sm = 0;
  PcieLink pcie;         // the GPU's own link to its switch or root port
  int pcie_switch = -1;  // index into NodeSpec::pcie_switches; -1 = CPU root port
  bool operator==(const GpuSpec&) const = default;
};

// A PCIe switch and its uplink to the CPU, shared by everything below it.
struct PcieSwitchSpec {
  PcieLink uplink;
  bool operator==(const PcieSwitchSpec&) const = default;
};

enum class NvlinkKind {
  kNone,      // GPUs talk only through PCIe and the host
  kNvSwitch,  // every GPU reaches every other GPU of its node at the full per-GPU bandwidth
};
std::string_view NvlinkKindName(NvlinkKind kind);  // "none", "nvswitch"

// NVLink within a node. `per_gpu_bandwidth_bytes_per_s` is what one GPU can send (and, at the
// same time, receive) over all its NVLinks together; 0 when kind is kNone.
struct NvlinkSpec {
  NvlinkKind kind = NvlinkKind::kNone;
  int generation = 0;  // NVLink generation (3 = A100, 4 = H100/H200); 0 when none
  int num_nvswitches = 0;
  double per_gpu_bandwidth_bytes_per_s = 0;  // per direction
  bool operator==(const NvlinkSpec&) const = default;
};

// Host memory limits. `pinned_bytes` (page-locked, for cudaHostAlloc / pin_memory) is at most
// `pageable_bytes`, the memory processes can allocate.
struct HostMemorySpec {
  int64_t pageable_bytes = 0;
  int64_t pinned_bytes = 0;
  bool operator==(const HostMemorySpec&) const = default;
};

// One NIC port on the fabric. `near_gpus` are local GPU indices that reach it without crossing
// the CPU; `pcie_switch` as for GpuSpec.
struct NicSpec {
  double bandwidth_bytes_per_s = 0;  // per direction
  int pcie_switch = -1;
  std::vector<int> near_gpus;
  bool operator==(const NicSpec&) const = default;
};

struct NodeSpec {
  std::vector<GpuSpec> gpus;
  std::vector<PcieSwitchSpec> pcie_switches;
  NvlinkSpec nvlink;
  HostMemorySpec host_memory;
  std::vector<NicSpec> nics;
  // Checkpoint storage as this node sees it: the read bandwidth (bytes per second) that all of
  // its ranks share when they load a checkpoint (a parallel file system over the storage
  // fabric, or local NVMe), into host memory. 0 when unknown: reads are then timed from host
  // memory only. Preset figures and their sources: core/topology_presets.cc.
  double storage_read_bytes_per_s = 0;
  bool operator==(const NodeSpec&) const = default;
};

// The network between nodes: every NIC port attaches to it by one link of
// `link_bandwidth_bytes_per_s` (per direction); `latency_s` is the one-way latency between
// two nodes (NIC to NIC through the switches).
struct FabricSpec {
  std::string kind;  // e.g. "infiniband-ndr", "ethernet"
  double link_bandwidth_bytes_per_s = 0;
  double latency_s = 0;
  bool operator==(const FabricSpec&) const = default;
};

struct Topology {
  std::string name;  // the preset text it was built from, or a file's own name
  std::vector<NodeSpec> nodes;
  FabricSpec fabric;
  bool operator==(const Topology&) const = default;
};

// Total GPUs over all nodes. O(nodes). Thread-safe; pure.
int64_t NumGpus(const Topology& topology);

// What one rank gets of its cluster: ranks fill the nodes' GPUs in order (node by node, local
// GPUs in order), and a node's host memory is shared evenly by its GPUs. The default budgets of
// `place` (gpu_bytes, host_bytes; pinned_bytes with --pin-memory), of `validate --placement`
// (rank 0) and of the simulated placement step.
struct RankResources {
  std::string gpu_model;         // "V100-SXM2-32GB"
  uint64_t gpu_bytes = 0;        // the rank's GPU's memory
  uint64_t host_bytes = 0;       // the node's pageable host memory / its GPUs
  uint64_t pinned_bytes = 0;     // the node's pinned limit / its GPUs
  uint64_t node_host_bytes = 0;  // the node's pageable host memory
  int64_t gpus_per_node = 1;     // GPUs on the rank's node
};
// REQUIRES: 0 <= rank < NumGpus(topology). O(nodes). Thread-safe; pure.
RankResources ResourcesOfRank(const Topology& topology, int64_t rank);
// The GPU rank `rank` runs on. REQUIRES: 0 <= rank < NumGpus(topology). O(nodes).
const GpuSpec& GpuOfRank(const Topology& topology, int64_t rank);

// The cluster-wide index (rank order: node by node, local GPUs in order) of GPU `local` on
// `node`. Returns OutOfRange naming the bad index when `node` or `local` is out of range.
// O(node). Thread-safe; pure.
StatusOr<int64_t> GpuGlobalIndex(const Topology& topology, int node, int local);

// Checks that `topology` is consistent: at least one node, every node with at least one GPU;
// positive capacities, bandwidths, SM counts and thread limits; PCIe generations 1..6 and
// lane counts 1, 2, 4, 8 or 16; switch indices in range; NIC near_gpus in range; NVLink
// bandwidth positive exactly when kind is not kNone; pinned <= pageable; a finite, non-negative
// fabric latency. Returns InvalidArgument naming the first bad field by its path, e.g.
// "nodes[3].gpus[2].pcie_switch: 7 is not an index into nodes[3].pcie_switches (size 4)".
// Thread-safe; pure.
Status ValidateTopology(const Topology& topology);

// The JSON form of `topology` (an object with "name", "nodes", "fabric"; field names as in
// the structs above), pretty-printed with `indent` spaces, or on one line when indent < 0.
// Thread-safe; pure.
std::string ToJson(const Topology& topology, int indent = 2);

// Parses the JSON form written by ToJson and validates it (ValidateTopology). Every key is
// required and unknown keys are rejected. On failure returns InvalidArgument naming the JSON
// path, e.g. "/nodes/0/gpus/3/sm_count: expected an integer, got string". Never throws.
// Thread-safe; pure.
StatusOr<Topology> TopologyFromJson(std::string_view text);

}  // namespace twinsim::core

#endif  // TWINSIM_CORE_TOPOLOGY_H_
