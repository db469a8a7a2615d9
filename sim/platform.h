// The SimGrid platform of a GPU cluster, built from core::Topology data: one SimGrid host per
// GPU and per node CPU, NVLink/NVSwitch ports, PCIe slot links and switch uplinks, NIC ports
// and the inter-node fabric, with routes for every GPU/CPU pair (see Note [Platform shape]).
//
// BuildPlatform returns lookup tables (GPU -> host, node -> CPU host, link -> LinkClass) so
// the sim backend can place actors and report traffic per link class.
#ifndef TWINSIM_SIM_PLATFORM_H_
#define TWINSIM_SIM_PLATFORM_H_

#include <simgrid/s4u.hpp>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/status.h"
#include "core/topology.h"

namespace twinsim::sim {

// What kind of hardware a SimGrid link stands for.
enum class LinkClass {
  kNvlink,      // a GPU's NVLink port to the node's NVSwitch fabric
  kPcieGpu,     // a GPU's own PCIe slot link to its switch (or CPU root port)
  kPcieUplink,  // a PCIe switch's uplink to the CPU, shared by everything below it
  kNic,         // a NIC port between the node and the fabric
  kFabric,      // a node's share of the inter-node fabric (see Note [Fabric model])
  kStorage,     // a node's path to checkpoint storage (NodeSpec::storage_read_bytes_per_s)
};
inline constexpr int kNumLinkClasses = 6;

// "nvlink", "pcie-gpu", "pcie-uplink", "nic", "fabric", "storage". Pure.
std::string_view LinkClassName(LinkClass link_class);

// Latencies the Topology does not carry. Estimates (from memory, unverified): a hop through
// NVLink + NVSwitch or through one PCIe link is well under a microsecond.
inline constexpr double kNvlinkPortLatencyS = 0.5e-6;  // per GPU port (a route crosses two)
inline constexpr double kPcieLinkLatencyS = 0.5e-6;    // per PCIe link (slot or uplink)
// Speed of a node's CPU host in flop/s. Assumed, not measured: 1e11, about what a few dozen
// cores reach on simple element-wise arithmetic. The Topology has no CPU figure yet; today the
// CPU host is only a route endpoint (PCIe copies), and CPU-side init will need a measured
// figure in core::Topology (from `twinsim calibrate`, issue 7) before it relies on this.
inline constexpr double kCpuFlopsPerS = 1e11;
// The storage link of a node whose storage bandwidth is unknown (0): fast enough never to
// limit a transfer.
inline constexpr double kUnlimitedStorageBytesPerS = 1e15;

// What BuildPlatform made. Pointers are owned by the Engine and live as long as it does.
struct Platform {
  std::vector<simgrid::s4u::Host*> gpu_hosts;  // by global GPU index (core::GpuGlobalIndex)
  std::vector<int> gpu_node;                   // by global GPU index: its node
  std::vector<simgrid::s4u::Host*> cpu_hosts;  // by node
  // By node: where checkpoints are read from, "node<n>-storage", one link from the node's CPU.
  std::vector<simgrid::s4u::Host*> storage_hosts;
  // Every directional link a route can contain (both halves of each split-duplex link).
  std::unordered_map<const simgrid::s4u::Link*, LinkClass> link_class;
};

// Sets the CM02 network model without TCP window or cross-traffic effects, so a transfer of
// B bytes alone on a route takes latency + B / min(bandwidth) (see build-facts.md).
// REQUIRES: called before BuildPlatform (before any zone exists). Returns Internal when
// SimGrid refuses the configuration.
Status UsePlainNetworkModel(simgrid::s4u::Engine& engine);

// Creates the platform of `topology` in `engine` and seals it. GPU hosts are named
// "gpu<global index>" and run at the GPU's init_elements_per_s (one flop = one element
// initialized, so an init kernel of N elements is an exec of N flops); CPU hosts are
// "node<n>-cpu" at kCpuFlopsPerS. Routes: see Note [Platform shape].
// REQUIRES: called at most once per engine (SimGrid names must be unique).
// Returns InvalidArgument when the topology fails core::ValidateTopology, FailedPrecondition
// when a node of a multi-node topology has no NIC, Internal when SimGrid throws.
// O(nodes * gpus_per_node^2) time and memory: linear in the node count.
StatusOr<Platform> BuildPlatform(simgrid::s4u::Engine& engine, const core::Topology& topology);

// The distinct link classes on the route from `src` to `dst`, in LinkClass order.
// Returns Internal when SimGrid cannot route, or NotFound when the route holds a link that
// `platform` does not know. O(route length).
StatusOr<std::vector<LinkClass>> RouteLinkClasses(const Platform& platform,
                                                  const simgrid::s4u::Host* src,
                                                  const simgrid::s4u::Host* dst);

}  // namespace twinsim::sim

#endif  // TWINSIM_SIM_PLATFORM_H_
