// BuildPlatform: Topology -> SimGrid zones, hosts, links and routes. See sim/platform.h.
#include "sim/platform.h"

#include <algorithm>
#include <exception>
#include <string>
#include <utility>
#include <vector>

#include <simgrid/kernel/routing/NetZoneImpl.hpp>

namespace twinsim::sim {

namespace sg4 = simgrid::s4u;
using Direction = sg4::LinkInRoute::Direction;

// Note [Platform shape]
// One star zone for the cluster, one small full zone per node inside it:
//
//                        cluster (StarZone): route A -> B = A's fabric UP + B's fabric DOWN
//            ______________________|_____________________________
//           |                                                    |
//     node0-fabric (split duplex, NICs x fabric bw)        node1-fabric ...
//           |
//   node0 (FullZone) ----- gateway router "node0-gw" --------------------------------
//   |        ___________________|___________________                                 |
//   |      nic0    nic1      nic2    nic3  ...            NIC ports (split duplex)   |
//   |       |       |         |       |                                              |
//   |   [PCIe switch 0]   [PCIe switch 1]   ...  --uplink0, uplink1..-->  node0-cpu  |
//   |    pcie0  pcie1      pcie2  pcie3           (shared by a switch's GPUs/NICs)   |
//   |      |      |          |      |                                                |
//   |    gpu0   gpu1       gpu2   gpu3  ...                                          |
//   |      \______\__________/______/                                                |
//   |       nvlink0..7 ports into the NVSwitch (no link of its own: non-blocking)    |
//    --------------------------------------------------------------------------------
//
// Routes inside a node (all listed explicitly, both directions, split-duplex halves):
//   gpu a -> gpu b   NVSwitch: nvlink_a UP, nvlink_b DOWN. No NVLink: pcie_a UP,
//                    [uplink_a UP, uplink_b DOWN when the switches differ], pcie_b DOWN.
//   gpu g -> cpu     pcie_g UP, uplink_{switch(g)} UP (no uplink on a root port).
//   gpu g -> gw      GPUDirect RDMA: pcie_g UP, [uplinks when g's NIC sits on another
//                    switch], nic_k UP, where k is g's NIC (Note [NIC choice]).
//   cpu -> gw        uplink_{switch(nic0)} DOWN, nic0 UP.
// Across nodes SimGrid joins: (src -> its gw) + (src fabric UP, dst fabric DOWN) +
// (dst gw -> dst).
// Construction is O(gpus_per_node^2) per node and O(1) per node in the star zone, so linear
// in the node count: the star zone never holds a node-to-node table (a FullZone of node
// zones would, and that is quadratic; build-facts.md).
//
// Note [Construction cost]
// SimGrid 3.32 does work proportional to the whole platform in three places, measured with
// perf on sim/platform_bench:
//   - every new link's name is checked by a recursive search of the zone tree
//     (StandardLinkImpl's constructor -> Engine::link_by_name_or_null): O(zones) per link;
//   - every new host's name likewise (create_host -> host_by_name_or_null): O(zones);
//   - sealing a zone lists its hosts by filtering every host of the engine
//     (NetZoneImpl::seal -> get_all_hosts -> Engine::get_filtered_hosts): O(hosts) per zone.
// With a zone per node, the first made ~29 links per node quadratic (2,048 nodes: 28 s). So
// every link is created in the cluster zone before any node zone exists (each search is then
// one map lookup) and the node routes refer to those links. The host-name search only walks
// zones attached to the cluster, so each node zone is filled while detached (given the
// cluster's models, as set_parent would give them) and all are attached afterwards, in node
// order: each search then meets the cluster zone alone. Hosts, routers, links and routes are
// created in the same order as before and every zone ends with the same parent, models and
// routes, so the platform and its simulated times are the same (init JSON compared). The
// third, sealing, remains: O(hosts x nodes) with small constants. Removing it needs fewer
// zones (several nodes per zone) or a newer SimGrid.
//
// Note [Fabric model]
// A non-blocking fat tree gives every NIC port its full bandwidth to any other port. It is
// approximated by one split-duplex link per node whose bandwidth is the fabric link
// bandwidth times the node's NIC count: a node's NICs together never exceed it, and the core
// is never the bottleneck (full bisection). Oversubscription and per-switch contention are
// not modelled. The NIC-to-NIC fabric latency is split half on each node's link.
//
// Note [NIC choice]
// GPU g uses a NIC whose near_gpus holds g, spreading the GPUs that share a set of near NICs
// over those NICs in order (dgx-h100: GPU i -> NIC i). A GPU with no near NIC uses
// NIC (g mod NICs) through the CPU.

std::string_view LinkClassName(LinkClass link_class) {
  switch (link_class) {
    case LinkClass::kNvlink:
      return "nvlink";
    case LinkClass::kPcieGpu:
      return "pcie-gpu";
    case LinkClass::kPcieUplink:
      return "pcie-uplink";
    case LinkClass::kNic:
      return "nic";
    case LinkClass::kFabric:
      return "fabric";
    case LinkClass::kStorage:
      return "storage";
  }
  return "unknown";
}

Status UsePlainNetworkModel(sg4::Engine& engine) {
  try {
    engine.set_config("network/model:CM02");
    engine.set_config("network/crosstraffic:0");
    engine.set_config("network/TCP-gamma:0");
  } catch (const std::exception& e) {
    return Status::Internal(std::string("SimGrid refused the network configuration: ") + e.what());
  }
  return Status::Ok();
}

namespace {

// The links of one node, by their index in the NodeSpec.
struct NodeLinks {
  std::vector<sg4::SplitDuplexLink*> nvlink;  // by GPU; empty without NVLink
  std::vector<sg4::SplitDuplexLink*> pcie;    // by GPU
  std::vector<sg4::SplitDuplexLink*> uplink;  // by PCIe switch
  std::vector<sg4::SplitDuplexLink*> nic;     // by NIC
  sg4::SplitDuplexLink* storage = nullptr;    // the node's checkpoint storage path
};

sg4::SplitDuplexLink* AddLink(sg4::NetZone* zone, const std::string& name, double bandwidth,
                              double latency, LinkClass link_class, Platform& platform) {
  sg4::SplitDuplexLink* link = zone->create_split_duplex_link(name, bandwidth);
  link->set_latency(latency);
  link->seal();
  platform.link_class[link->get_link_up()] = link_class;
  platform.link_class[link->get_link_down()] = link_class;
  return link;
}

// Note [NIC choice].
std::vector<int> ChooseNics(const core::NodeSpec& node) {
  const int num_gpus = static_cast<int>(node.gpus.size());
  const int num_nics = static_cast<int>(node.nics.size());
  std::vector<std::vector<int>> candidates(num_gpus);
  for (int k = 0; k < num_nics; ++k) {
    for (int g : node.nics[k].near_gpus) candidates[g].push_back(k);
  }
  std::vector<int> chosen(num_gpus, num_nics > 0 ? 0 : -1);
  for (int g = 0; g < num_gpus && num_nics > 0; ++g) {
    if (candidates[g].empty()) {
      chosen[g] = g % num_nics;
      continue;
    }
    // g's rank among the GPUs near its first candidate NIC.
    const std::vector<int>& peers = node.nics[candidates[g][0]].near_gpus;
    const int rank = static_cast<int>(std::find(peers.begin(), peers.end(), g) - peers.begin());
    chosen[g] = candidates[g][rank % candidates[g].size()];
  }
  return chosen;
}

// Links from a device on switch `from` up to the CPU and down to switch `to` (-1 = root
// port), empty when both sit on the same switch.
void AppendCrossing(const NodeLinks& links, int from, int to,
                    std::vector<sg4::LinkInRoute>& route) {
  if (from == to && from >= 0) return;
  if (from >= 0) route.emplace_back(links.uplink[from], Direction::UP);
  if (to >= 0) route.emplace_back(links.uplink[to], Direction::DOWN);
}

// Reverses a route: opposite order, opposite directions.
std::vector<sg4::LinkInRoute> Reversed(const std::vector<sg4::LinkInRoute>& route) {
  std::vector<sg4::LinkInRoute> back;
  back.reserve(route.size());
  for (auto it = route.rbegin(); it != route.rend(); ++it) {
    back.emplace_back(it->get_link(),
                      it->get_direction() == Direction::UP ? Direction::DOWN : Direction::UP);
  }
  return back;
}

void AddBothWays(sg4::NetZone* zone, simgrid::kernel::routing::NetPoint* a,
                 simgrid::kernel::routing::NetPoint* b,
                 const std::vector<sg4::LinkInRoute>& route) {
  zone->add_route(a, b, nullptr, nullptr, route, false);
  zone->add_route(b, a, nullptr, nullptr, Reversed(route), false);
}

// Creates node `n`'s links in `owner` (Note [Construction cost]).
NodeLinks CreateNodeLinks(sg4::NetZone* owner, const core::NodeSpec& node, int n,
                          Platform& platform) {
  const std::string prefix = "node" + std::to_string(n);
  const bool nvswitch = node.nvlink.kind == core::NvlinkKind::kNvSwitch;
  NodeLinks links;
  for (size_t g = 0; g < node.gpus.size(); ++g) {
    const std::string gpu = prefix + "-gpu" + std::to_string(g);
    if (nvswitch) {
      links.nvlink.push_back(AddLink(owner, gpu + "-nvlink",
                                     node.nvlink.per_gpu_bandwidth_bytes_per_s, kNvlinkPortLatencyS,
                                     LinkClass::kNvlink, platform));
    }
    links.pcie.push_back(AddLink(owner, gpu + "-pcie", node.gpus[g].pcie.bandwidth_bytes_per_s,
                                 kPcieLinkLatencyS, LinkClass::kPcieGpu, platform));
  }
  for (size_t s = 0; s < node.pcie_switches.size(); ++s) {
    links.uplink.push_back(AddLink(owner, prefix + "-switch" + std::to_string(s) + "-uplink",
                                   node.pcie_switches[s].uplink.bandwidth_bytes_per_s,
                                   kPcieLinkLatencyS, LinkClass::kPcieUplink, platform));
  }
  for (size_t k = 0; k < node.nics.size(); ++k) {
    links.nic.push_back(AddLink(owner, prefix + "-nic" + std::to_string(k),
                                node.nics[k].bandwidth_bytes_per_s, 0.0, LinkClass::kNic,
                                platform));
  }
  // Unknown storage bandwidth (0): a link that never limits (reads then cost only PCIe).
  links.storage = AddLink(owner, prefix + "-storage",
                          node.storage_read_bytes_per_s > 0 ? node.storage_read_bytes_per_s
                                                            : kUnlimitedStorageBytesPerS,
                          0.0, LinkClass::kStorage, platform);
  return links;
}

// A node zone (its netpoint is what the cluster zone routes to) and its gateway router.
struct NodeZone {
  sg4::NetZone* zone;
  simgrid::kernel::routing::NetPoint* gateway;
};

// Builds node `n` as a full zone with its hosts and routes over `links` (Note [Platform
// shape]), not yet attached to `cluster` nor sealed: the caller attaches every node zone and
// then seals the cluster (Note [Construction cost]). It is given the cluster's models, as
// set_parent gives them, so that hosts can be created in it.
NodeZone BuildNode(sg4::NetZone* cluster, const core::NodeSpec& node, int n, int64_t first_gpu,
                   const NodeLinks& links, Platform& platform) {
  const std::string prefix = "node" + std::to_string(n);
  sg4::NetZone* zone = sg4::create_full_zone(prefix);
  simgrid::kernel::routing::NetZoneImpl* impl = zone->get_impl();
  const simgrid::kernel::routing::NetZoneImpl* parent = cluster->get_impl();
  impl->set_network_model(parent->get_network_model());
  impl->set_cpu_pm_model(parent->get_cpu_pm_model());
  impl->set_cpu_vm_model(parent->get_cpu_vm_model());
  impl->set_disk_model(parent->get_disk_model());
  impl->set_host_model(parent->get_host_model());
  const int num_gpus = static_cast<int>(node.gpus.size());
  const bool nvswitch = node.nvlink.kind == core::NvlinkKind::kNvSwitch;

  std::vector<sg4::Host*> gpus(num_gpus);
  for (int g = 0; g < num_gpus; ++g) {
    gpus[g] =
        zone->create_host("gpu" + std::to_string(first_gpu + g), node.gpus[g].init_elements_per_s);
    gpus[g]->seal();
    platform.gpu_hosts.push_back(gpus[g]);
    platform.gpu_node.push_back(n);
  }
  sg4::Host* cpu = zone->create_host(prefix + "-cpu", kCpuFlopsPerS);
  cpu->seal();
  platform.cpu_hosts.push_back(cpu);
  sg4::Host* storage = zone->create_host(prefix + "-storage", kCpuFlopsPerS);
  storage->seal();
  platform.storage_hosts.push_back(storage);
  AddBothWays(zone, storage->get_netpoint(), cpu->get_netpoint(),
              {{links.storage, Direction::UP}});
  simgrid::kernel::routing::NetPoint* gw = zone->create_router(prefix + "-gw");

  for (int a = 0; a < num_gpus; ++a) {
    const int switch_a = node.gpus[a].pcie_switch;
    for (int b = a + 1; b < num_gpus; ++b) {
      std::vector<sg4::LinkInRoute> route;
      if (nvswitch) {
        route = {{links.nvlink[a], Direction::UP}, {links.nvlink[b], Direction::DOWN}};
      } else {
        route.emplace_back(links.pcie[a], Direction::UP);
        AppendCrossing(links, switch_a, node.gpus[b].pcie_switch, route);
        route.emplace_back(links.pcie[b], Direction::DOWN);
      }
      AddBothWays(zone, gpus[a]->get_netpoint(), gpus[b]->get_netpoint(), route);
    }
    std::vector<sg4::LinkInRoute> to_cpu = {{links.pcie[a], Direction::UP}};
    if (switch_a >= 0) to_cpu.emplace_back(links.uplink[switch_a], Direction::UP);
    AddBothWays(zone, gpus[a]->get_netpoint(), cpu->get_netpoint(), to_cpu);
  }

  const std::vector<int> nic_of = ChooseNics(node);
  if (!node.nics.empty()) {
    for (int g = 0; g < num_gpus; ++g) {
      const int k = nic_of[g];
      std::vector<sg4::LinkInRoute> to_gw = {{links.pcie[g], Direction::UP}};
      AppendCrossing(links, node.gpus[g].pcie_switch, node.nics[k].pcie_switch, to_gw);
      to_gw.emplace_back(links.nic[k], Direction::UP);
      AddBothWays(zone, gpus[g]->get_netpoint(), gw, to_gw);
    }
    std::vector<sg4::LinkInRoute> cpu_to_gw;
    if (node.nics[0].pcie_switch >= 0) {
      cpu_to_gw.emplace_back(links.uplink[node.nics[0].pcie_switch], Direction::DOWN);
    }
    cpu_to_gw.emplace_back(links.nic[0], Direction::UP);
    AddBothWays(zone, cpu->get_netpoint(), gw, cpu_to_gw);
  }
  return NodeZone{zone, gw};
}

}  // namespace

StatusOr<Platform> BuildPlatform(sg4::Engine& engine, const core::Topology& topology) {
  (void)engine;  // SimGrid's zone creation uses the process-wide engine instance.
  TWINSIM_RETURN_IF_ERROR(core::ValidateTopology(topology));
  const int num_nodes = static_cast<int>(topology.nodes.size());
  if (num_nodes > 1) {
    for (int n = 0; n < num_nodes; ++n) {
      if (topology.nodes[n].nics.empty()) {
        return Status::FailedPrecondition("nodes[" + std::to_string(n) +
                                          "].nics: a multi-node cluster needs a NIC per node");
      }
    }
  }
  Platform platform;
  const int64_t num_gpus = core::NumGpus(topology);
  platform.gpu_hosts.reserve(num_gpus);
  platform.gpu_node.reserve(num_gpus);
  platform.cpu_hosts.reserve(num_nodes);
  try {
    sg4::NetZone* cluster = sg4::create_star_zone("cluster");
    // Every link first, while `cluster` has no child zone (Note [Construction cost]).
    std::vector<NodeLinks> links;
    std::vector<sg4::SplitDuplexLink*> fabric_links;
    links.reserve(num_nodes);
    for (int n = 0; n < num_nodes; ++n) {
      const core::NodeSpec& node = topology.nodes[n];
      links.push_back(CreateNodeLinks(cluster, node, n, platform));
      // Note [Fabric model]; nullptr for a single node without NICs: nothing leaves it.
      fabric_links.push_back(
          node.nics.empty() ? nullptr
                            : AddLink(cluster, "node" + std::to_string(n) + "-fabric",
                                      topology.fabric.link_bandwidth_bytes_per_s *
                                          static_cast<double>(node.nics.size()),
                                      topology.fabric.latency_s / 2, LinkClass::kFabric, platform));
    }
    // Every node zone filled while detached, then attached in node order (Note [Construction
    // cost]); sealing the cluster seals them.
    std::vector<NodeZone> node_zones;
    node_zones.reserve(num_nodes);
    int64_t first_gpu = 0;
    for (int n = 0; n < num_nodes; ++n) {
      const core::NodeSpec& node = topology.nodes[n];
      node_zones.push_back(BuildNode(cluster, node, n, first_gpu, links[n], platform));
      first_gpu += static_cast<int64_t>(node.gpus.size());
    }
    for (int n = 0; n < num_nodes; ++n) {
      const NodeZone& node_zone = node_zones[n];
      node_zone.zone->set_parent(cluster);
      sg4::SplitDuplexLink* fabric = fabric_links[n];
      if (fabric == nullptr) continue;
      cluster->add_route(node_zone.zone->get_netpoint(), nullptr, node_zone.gateway, nullptr,
                         {{fabric, Direction::UP}}, false);
      cluster->add_route(nullptr, node_zone.zone->get_netpoint(), nullptr, node_zone.gateway,
                         {{fabric, Direction::DOWN}}, false);
    }
    cluster->seal();
  } catch (const std::exception& e) {
    return Status::Internal(std::string("SimGrid failed to build the platform: ") + e.what());
  }
  return platform;
}

StatusOr<std::vector<LinkClass>> RouteLinkClasses(const Platform& platform, const sg4::Host* src,
                                                  const sg4::Host* dst) {
  std::vector<sg4::Link*> links;
  double latency = 0;
  try {
    src->route_to(dst, links, &latency);
  } catch (const std::exception& e) {
    return Status::Internal(std::string("SimGrid cannot route ") + src->get_name() + " -> " +
                            dst->get_name() + ": " + e.what());
  }
  std::vector<bool> seen(kNumLinkClasses, false);
  for (const sg4::Link* link : links) {
    auto it = platform.link_class.find(link);
    if (it == platform.link_class.end()) {
      return Status::NotFound("link " + link->get_name() + " is not part of the platform");
    }
    seen[static_cast<int>(it->second)] = true;
  }
  std::vector<LinkClass> classes;
  for (int c = 0; c < kNumLinkClasses; ++c) {
    if (seen[c]) classes.push_back(static_cast<LinkClass>(c));
  }
  return classes;
}

}  // namespace twinsim::sim
