// Cluster presets and the --cluster syntax: Topologies of real machines (DGX A100, DGX H100,
// HGX H200, a V100 or RTX 3090 host), one node or many, built from a short string.
//
// `MakeTopology("dgx-h100")`, `MakeTopology("dgx-h100:nodes=2048")` or
// `MakeTopology("rtx3090:gpus_per_node=4,host_memory_gb=256")`. Every figure a preset uses
// carries its source (or "unverified" / "estimate") in topology_presets.cc. Building the
// 2,048-node, 16,384-GPU dgx-h100 cluster takes a few milliseconds.
#ifndef TWINSIM_CORE_TOPOLOGY_PRESETS_H_
#define TWINSIM_CORE_TOPOLOGY_PRESETS_H_

#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "core/topology.h"

namespace twinsim::core {

// Builds the cluster that `text` names:
//   PRESET                    a name from TopologyPresetNames(): one node
//   PRESET:key=value,...      the same with fields overridden
// Keys (all integers):
//   nodes             number of identical nodes, 1..65536
//   gpus_per_node     1..8; GPUs fill PCIe switches in order, NICs follow their switches
//   gpu_memory_gb     per-GPU memory capacity in GiB (2^30 bytes)
//   host_memory_gb    per-node pageable host memory in GiB; pinned is capped to it
//   pinned_memory_gb  per-node pinned host memory limit in GiB
//   nic_gbps          per-NIC bandwidth in Gb/s (10^9 bits/s); also the fabric link bandwidth
//   fabric_latency_ns one-way node-to-node latency in nanoseconds
// Topology::name is `text`. The result satisfies ValidateTopology.
// On failure returns InvalidArgument with one line naming the preset or key and what was
// expected, with a did-you-mean for near misses ("dgx-h100: unknown key 'node' (did you mean
// 'nodes'?); expected one of ..."). Thread-safe; pure.
StatusOr<Topology> MakeTopology(std::string_view text);

// The preset names MakeTopology accepts, in a stable order.
std::vector<std::string> TopologyPresetNames();

}  // namespace twinsim::core

#endif  // TWINSIM_CORE_TOPOLOGY_PRESETS_H_
