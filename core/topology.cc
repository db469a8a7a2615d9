#include "core/topology.h"

#include <cmath>
#include <cstdio>
#include <initializer_list>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>

namespace twinsim::core {

namespace {

using nlohmann::json;

std::string Index(std::string_view base, std::string_view field, size_t i) {
  return std::string(base) + std::string(field) + "[" + std::to_string(i) + "]";
}

bool Positive(double v) { return std::isfinite(v) && v > 0; }

Status Bad(const std::string& path, const std::string& what) {
  return Status::InvalidArgument(path + ": " + what);
}

std::string Num(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

Status CheckPcie(const PcieLink& link, const std::string& path) {
  if (link.generation < 1 || link.generation > 6) {
    return Bad(path + ".generation", "expected 1..6, got " + std::to_string(link.generation));
  }
  if (link.lanes != 1 && link.lanes != 2 && link.lanes != 4 && link.lanes != 8 &&
      link.lanes != 16) {
    return Bad(path + ".lanes", "expected 1, 2, 4, 8 or 16, got " + std::to_string(link.lanes));
  }
  if (!Positive(link.bandwidth_bytes_per_s)) {
    return Bad(path + ".bandwidth_bytes_per_s",
               "must be a positive finite number, got " + Num(link.bandwidth_bytes_per_s));
  }
  return Status::Ok();
}

Status CheckSwitchIndex(int index, const NodeSpec& node, const std::string& path,
                        const std::string& node_path) {
  if (index < -1 || index >= static_cast<int>(node.pcie_switches.size())) {
    return Bad(path, std::to_string(index) + " is not an index into " + node_path +
                         ".pcie_switches (size " + std::to_string(node.pcie_switches.size()) +
                         ") nor -1 (CPU root port)");
  }
  return Status::Ok();
}

bool PcieOk(const PcieLink& l) {
  return l.generation >= 1 && l.generation <= 6 &&
         (l.lanes == 1 || l.lanes == 2 || l.lanes == 4 || l.lanes == 8 || l.lanes == 16) &&
         Positive(l.bandwidth_bytes_per_s);
}

bool GpuOk(const GpuSpec& g, const NodeSpec& node) {
  return !g.model.empty() && g.memory_capacity_bytes > 0 && Positive(g.hbm_bandwidth_bytes_per_s) &&
         Positive(g.init_elements_per_s) && std::isfinite(g.matmul_flops_per_s) &&
         g.matmul_flops_per_s >= 0 && g.sm_count > 0 && g.max_threads_per_sm > 0 &&
         PcieOk(g.pcie) && g.pcie_switch >= -1 &&
         g.pcie_switch < static_cast<int>(node.pcie_switches.size());
}

// Returns the first problem of a GPU that GpuOk rejected, naming its field under `gp`.
Status CheckGpu(const GpuSpec& gpu, const NodeSpec& node, const std::string& gp,
                const std::string& np) {
  if (gpu.model.empty()) return Bad(gp + ".model", "must not be empty");
  if (gpu.memory_capacity_bytes <= 0) {
    return Bad(gp + ".memory_capacity_bytes",
               "must be positive, got " + std::to_string(gpu.memory_capacity_bytes));
  }
  if (!Positive(gpu.hbm_bandwidth_bytes_per_s)) {
    return Bad(gp + ".hbm_bandwidth_bytes_per_s",
               "must be a positive finite number, got " + Num(gpu.hbm_bandwidth_bytes_per_s));
  }
  if (!Positive(gpu.init_elements_per_s)) {
    return Bad(gp + ".init_elements_per_s",
               "must be a positive finite number, got " + Num(gpu.init_elements_per_s));
  }
  if (!std::isfinite(gpu.matmul_flops_per_s) || gpu.matmul_flops_per_s < 0) {
    return Bad(gp + ".matmul_flops_per_s",
               "must be a non-negative finite number, got " + Num(gpu.matmul_flops_per_s));
  }
  if (gpu.sm_count <= 0) {
    return Bad(gp + ".sm_count", "must be positive, got " + std::to_string(gpu.sm_count));
  }
  if (gpu.max_threads_per_sm <= 0) {
    return Bad(gp + ".max_threads_per_sm",
               "must be positive, got " + std::to_string(gpu.max_threads_per_sm));
  }
  TWINSIM_RETURN_IF_ERROR(CheckPcie(gpu.pcie, gp + ".pcie"));
  return CheckSwitchIndex(gpu.pcie_switch, node, gp + ".pcie_switch", np);
}

// Path strings are built only for the element that fails, so validating 16,384 GPUs stays
// cheap.
Status CheckNode(const NodeSpec& node, const std::string& np) {
  if (node.gpus.empty()) return Bad(np + ".gpus", "a node needs at least one GPU");
  for (size_t s = 0; s < node.pcie_switches.size(); ++s) {
    if (PcieOk(node.pcie_switches[s].uplink)) continue;
    return CheckPcie(node.pcie_switches[s].uplink, Index(np, ".pcie_switches", s) + ".uplink");
  }
  for (size_t g = 0; g < node.gpus.size(); ++g) {
    if (GpuOk(node.gpus[g], node)) continue;
    return CheckGpu(node.gpus[g], node, Index(np, ".gpus", g), np);
  }
  const NvlinkSpec& nv = node.nvlink;
  if (nv.kind == NvlinkKind::kNone) {
    if (nv.per_gpu_bandwidth_bytes_per_s != 0 || nv.num_nvswitches != 0 || nv.generation != 0) {
      return Bad(np + ".nvlink",
                 "kind is none but generation, num_nvswitches or "
                 "per_gpu_bandwidth_bytes_per_s is non-zero");
    }
  } else {
    if (!Positive(nv.per_gpu_bandwidth_bytes_per_s)) {
      return Bad(np + ".nvlink.per_gpu_bandwidth_bytes_per_s",
                 "must be a positive finite number when kind is " +
                     std::string(NvlinkKindName(nv.kind)) + ", got " +
                     Num(nv.per_gpu_bandwidth_bytes_per_s));
    }
    if (nv.generation < 1) {
      return Bad(np + ".nvlink.generation",
                 "must be positive, got " + std::to_string(nv.generation));
    }
    if (nv.num_nvswitches < 1) {
      return Bad(np + ".nvlink.num_nvswitches", "must be positive when kind is nvswitch, got " +
                                                    std::to_string(nv.num_nvswitches));
    }
  }
  const HostMemorySpec& host = node.host_memory;
  if (host.pageable_bytes <= 0) {
    return Bad(np + ".host_memory.pageable_bytes",
               "must be positive, got " + std::to_string(host.pageable_bytes));
  }
  if (host.pinned_bytes < 0 || host.pinned_bytes > host.pageable_bytes) {
    return Bad(np + ".host_memory.pinned_bytes",
               "must be in [0, pageable_bytes = " + std::to_string(host.pageable_bytes) +
                   "], got " + std::to_string(host.pinned_bytes));
  }
  if (!(node.storage_read_bytes_per_s == 0 || Positive(node.storage_read_bytes_per_s))) {
    return Bad(np + ".storage_read_bytes_per_s",
               "must be 0 (unknown) or a positive finite number, got " +
                   Num(node.storage_read_bytes_per_s));
  }
  const int num_switches = static_cast<int>(node.pcie_switches.size());
  const int num_gpus = static_cast<int>(node.gpus.size());
  for (size_t n = 0; n < node.nics.size(); ++n) {
    const NicSpec& nic = node.nics[n];
    bool ok = Positive(nic.bandwidth_bytes_per_s) && nic.pcie_switch >= -1 &&
              nic.pcie_switch < num_switches;
    for (int g : nic.near_gpus) ok = ok && g >= 0 && g < num_gpus;
    if (ok) continue;
    const std::string nicp = Index(np, ".nics", n);
    if (!Positive(nic.bandwidth_bytes_per_s)) {
      return Bad(nicp + ".bandwidth_bytes_per_s",
                 "must be a positive finite number, got " + Num(nic.bandwidth_bytes_per_s));
    }
    TWINSIM_RETURN_IF_ERROR(CheckSwitchIndex(nic.pcie_switch, node, nicp + ".pcie_switch", np));
    for (size_t k = 0; k < nic.near_gpus.size(); ++k) {
      const int g = nic.near_gpus[k];
      if (g < 0 || g >= num_gpus) {
        return Bad(Index(nicp, ".near_gpus", k), std::to_string(g) + " is not an index into " + np +
                                                     ".gpus (size " +
                                                     std::to_string(node.gpus.size()) + ")");
      }
    }
  }
  return Status::Ok();
}

// ---------------------------------------------------------------------------------------------
// JSON writing.

json PcieToJson(const PcieLink& l) {
  return {{"generation", l.generation},
          {"lanes", l.lanes},
          {"bandwidth_bytes_per_s", l.bandwidth_bytes_per_s}};
}

json NodeToJson(const NodeSpec& node) {
  json gpus = json::array();
  for (const GpuSpec& g : node.gpus) {
    gpus.push_back({{"model", g.model},
                    {"memory_capacity_bytes", g.memory_capacity_bytes},
                    {"hbm_bandwidth_bytes_per_s", g.hbm_bandwidth_bytes_per_s},
                    {"init_elements_per_s", g.init_elements_per_s},
                    {"matmul_flops_per_s", g.matmul_flops_per_s},
                    {"sm_count", g.sm_count},
                    {"max_threads_per_sm", g.max_threads_per_sm},
                    {"pcie", PcieToJson(g.pcie)},
                    {"pcie_switch", g.pcie_switch}});
  }
  json switches = json::array();
  for (const PcieSwitchSpec& s : node.pcie_switches) {
    switches.push_back({{"uplink", PcieToJson(s.uplink)}});
  }
  json nics = json::array();
  for (const NicSpec& n : node.nics) {
    nics.push_back({{"bandwidth_bytes_per_s", n.bandwidth_bytes_per_s},
                    {"pcie_switch", n.pcie_switch},
                    {"near_gpus", n.near_gpus}});
  }
  return {{"gpus", std::move(gpus)},
          {"pcie_switches", std::move(switches)},
          {"nvlink",
           {{"kind", NvlinkKindName(node.nvlink.kind)},
            {"generation", node.nvlink.generation},
            {"num_nvswitches", node.nvlink.num_nvswitches},
            {"per_gpu_bandwidth_bytes_per_s", node.nvlink.per_gpu_bandwidth_bytes_per_s}}},
          {"host_memory",
           {{"pageable_bytes", node.host_memory.pageable_bytes},
            {"pinned_bytes", node.host_memory.pinned_bytes}}},
          {"nics", std::move(nics)},
          {"storage_read_bytes_per_s", node.storage_read_bytes_per_s}};
}

// ---------------------------------------------------------------------------------------------
// JSON reading: every accessor checks the type first, so nlohmann never throws here.

// Returns InvalidArgument unless `j` is an object whose keys are exactly `keys`.
Status ExpectObject(const json& j, const std::string& path,
                    std::initializer_list<std::string_view> keys) {
  if (!j.is_object()) {
    return Bad(path.empty() ? "/" : path, std::string("expected an object, got ") + j.type_name());
  }
  for (std::string_view k : keys) {
    if (!j.contains(std::string(k))) {
      return Bad(path + "/" + std::string(k), "missing");
    }
  }
  for (auto it = j.begin(); it != j.end(); ++it) {
    bool known = false;
    for (std::string_view k : keys) known = known || it.key() == k;
    if (!known) {
      std::string expected;
      for (std::string_view k : keys) expected += (expected.empty() ? "" : ", ") + std::string(k);
      return Bad(path + "/" + it.key(), "unknown key; expected one of " + expected);
    }
  }
  return Status::Ok();
}

template <typename Int>
Status ReadInt(const json& obj, const std::string& path, const char* key, Int* out) {
  const json& v = obj[key];
  if (!v.is_number_integer()) {
    return Bad(path + "/" + key, std::string("expected an integer, got ") + v.type_name());
  }
  const int64_t x = v.get<int64_t>();
  if (x < static_cast<int64_t>(std::numeric_limits<Int>::min()) ||
      x > static_cast<int64_t>(std::numeric_limits<Int>::max())) {
    return Bad(path + "/" + key, "integer out of range: " + std::to_string(x));
  }
  *out = static_cast<Int>(x);
  return Status::Ok();
}

Status ReadDouble(const json& obj, const std::string& path, const char* key, double* out) {
  const json& v = obj[key];
  if (!v.is_number()) {
    return Bad(path + "/" + key, std::string("expected a number, got ") + v.type_name());
  }
  *out = v.get<double>();
  return Status::Ok();
}

Status ReadString(const json& obj, const std::string& path, const char* key, std::string* out) {
  const json& v = obj[key];
  if (!v.is_string()) {
    return Bad(path + "/" + key, std::string("expected a string, got ") + v.type_name());
  }
  *out = v.get<std::string>();
  return Status::Ok();
}

Status ReadArray(const json& obj, const std::string& path, const char* key) {
  if (!obj[key].is_array()) {
    return Bad(path + "/" + key, std::string("expected an array, got ") + obj[key].type_name());
  }
  return Status::Ok();
}

Status ReadPcie(const json& obj, const std::string& path, const char* key, PcieLink* out) {
  const json& j = obj[key];
  const std::string p = path + "/" + key;
  TWINSIM_RETURN_IF_ERROR(ExpectObject(j, p, {"generation", "lanes", "bandwidth_bytes_per_s"}));
  TWINSIM_RETURN_IF_ERROR(ReadInt(j, p, "generation", &out->generation));
  TWINSIM_RETURN_IF_ERROR(ReadInt(j, p, "lanes", &out->lanes));
  return ReadDouble(j, p, "bandwidth_bytes_per_s", &out->bandwidth_bytes_per_s);
}

Status ReadGpu(const json& j, const std::string& p, GpuSpec* g) {
  TWINSIM_RETURN_IF_ERROR(ExpectObject(
      j, p,
      {"model", "memory_capacity_bytes", "hbm_bandwidth_bytes_per_s", "init_elements_per_s",
       "matmul_flops_per_s", "sm_count", "max_threads_per_sm", "pcie", "pcie_switch"}));
  TWINSIM_RETURN_IF_ERROR(ReadString(j, p, "model", &g->model));
  TWINSIM_RETURN_IF_ERROR(ReadInt(j, p, "memory_capacity_bytes", &g->memory_capacity_bytes));
  TWINSIM_RETURN_IF_ERROR(
      ReadDouble(j, p, "hbm_bandwidth_bytes_per_s", &g->hbm_bandwidth_bytes_per_s));
  TWINSIM_RETURN_IF_ERROR(ReadDouble(j, p, "init_elements_per_s", &g->init_elements_per_s));
  TWINSIM_RETURN_IF_ERROR(ReadDouble(j, p, "matmul_flops_per_s", &g->matmul_flops_per_s));
  TWINSIM_RETURN_IF_ERROR(ReadInt(j, p, "sm_count", &g->sm_count));
  TWINSIM_RETURN_IF_ERROR(ReadInt(j, p, "max_threads_per_sm", &g->max_threads_per_sm));
  TWINSIM_RETURN_IF_ERROR(ReadPcie(j, p, "pcie", &g->pcie));
  return ReadInt(j, p, "pcie_switch", &g->pcie_switch);
}

Status ReadNic(const json& j, const std::string& p, NicSpec* n) {
  TWINSIM_RETURN_IF_ERROR(
      ExpectObject(j, p, {"bandwidth_bytes_per_s", "pcie_switch", "near_gpus"}));
  TWINSIM_RETURN_IF_ERROR(ReadDouble(j, p, "bandwidth_bytes_per_s", &n->bandwidth_bytes_per_s));
  TWINSIM_RETURN_IF_ERROR(ReadInt(j, p, "pcie_switch", &n->pcie_switch));
  TWINSIM_RETURN_IF_ERROR(ReadArray(j, p, "near_gpus"));
  const json& near = j["near_gpus"];
  n->near_gpus.resize(near.size());
  for (size_t k = 0; k < near.size(); ++k) {
    if (!near[k].is_number_integer()) {
      return Bad(p + "/near_gpus/" + std::to_string(k),
                 std::string("expected an integer, got ") + near[k].type_name());
    }
    n->near_gpus[k] = near[k].get<int>();
  }
  return Status::Ok();
}

Status ReadNode(const json& j, const std::string& p, NodeSpec* node) {
  // "storage_read_bytes_per_s" is optional (files written before it existed load with 0).
  if (j.is_object() && j.contains("storage_read_bytes_per_s")) {
    TWINSIM_RETURN_IF_ERROR(ExpectObject(j, p,
                                         {"gpus", "pcie_switches", "nvlink", "host_memory",
                                          "nics", "storage_read_bytes_per_s"}));
    TWINSIM_RETURN_IF_ERROR(
        ReadDouble(j, p, "storage_read_bytes_per_s", &node->storage_read_bytes_per_s));
  } else {
    TWINSIM_RETURN_IF_ERROR(
        ExpectObject(j, p, {"gpus", "pcie_switches", "nvlink", "host_memory", "nics"}));
  }
  TWINSIM_RETURN_IF_ERROR(ReadArray(j, p, "gpus"));
  node->gpus.resize(j["gpus"].size());
  for (size_t g = 0; g < node->gpus.size(); ++g) {
    TWINSIM_RETURN_IF_ERROR(
        ReadGpu(j["gpus"][g], p + "/gpus/" + std::to_string(g), &node->gpus[g]));
  }
  TWINSIM_RETURN_IF_ERROR(ReadArray(j, p, "pcie_switches"));
  node->pcie_switches.resize(j["pcie_switches"].size());
  for (size_t s = 0; s < node->pcie_switches.size(); ++s) {
    const std::string sp = p + "/pcie_switches/" + std::to_string(s);
    TWINSIM_RETURN_IF_ERROR(ExpectObject(j["pcie_switches"][s], sp, {"uplink"}));
    TWINSIM_RETURN_IF_ERROR(
        ReadPcie(j["pcie_switches"][s], sp, "uplink", &node->pcie_switches[s].uplink));
  }
  {
    const json& nv = j["nvlink"];
    const std::string nvp = p + "/nvlink";
    TWINSIM_RETURN_IF_ERROR(ExpectObject(
        nv, nvp, {"kind", "generation", "num_nvswitches", "per_gpu_bandwidth_bytes_per_s"}));
    std::string kind;
    TWINSIM_RETURN_IF_ERROR(ReadString(nv, nvp, "kind", &kind));
    if (kind == NvlinkKindName(NvlinkKind::kNone)) {
      node->nvlink.kind = NvlinkKind::kNone;
    } else if (kind == NvlinkKindName(NvlinkKind::kNvSwitch)) {
      node->nvlink.kind = NvlinkKind::kNvSwitch;
    } else {
      return Bad(nvp + "/kind", "expected \"none\" or \"nvswitch\", got \"" + kind + "\"");
    }
    TWINSIM_RETURN_IF_ERROR(ReadInt(nv, nvp, "generation", &node->nvlink.generation));
    TWINSIM_RETURN_IF_ERROR(ReadInt(nv, nvp, "num_nvswitches", &node->nvlink.num_nvswitches));
    TWINSIM_RETURN_IF_ERROR(ReadDouble(nv, nvp, "per_gpu_bandwidth_bytes_per_s",
                                       &node->nvlink.per_gpu_bandwidth_bytes_per_s));
  }
  {
    const json& h = j["host_memory"];
    const std::string hp = p + "/host_memory";
    TWINSIM_RETURN_IF_ERROR(ExpectObject(h, hp, {"pageable_bytes", "pinned_bytes"}));
    TWINSIM_RETURN_IF_ERROR(ReadInt(h, hp, "pageable_bytes", &node->host_memory.pageable_bytes));
    TWINSIM_RETURN_IF_ERROR(ReadInt(h, hp, "pinned_bytes", &node->host_memory.pinned_bytes));
  }
  TWINSIM_RETURN_IF_ERROR(ReadArray(j, p, "nics"));
  node->nics.resize(j["nics"].size());
  for (size_t n = 0; n < node->nics.size(); ++n) {
    TWINSIM_RETURN_IF_ERROR(
        ReadNic(j["nics"][n], p + "/nics/" + std::to_string(n), &node->nics[n]));
  }
  return Status::Ok();
}

StatusOr<Topology> ReadTopology(const json& j) {
  Topology t;
  TWINSIM_RETURN_IF_ERROR(ExpectObject(j, "", {"name", "nodes", "fabric"}));
  TWINSIM_RETURN_IF_ERROR(ReadString(j, "", "name", &t.name));
  TWINSIM_RETURN_IF_ERROR(ReadArray(j, "", "nodes"));
  t.nodes.resize(j["nodes"].size());
  for (size_t i = 0; i < t.nodes.size(); ++i) {
    TWINSIM_RETURN_IF_ERROR(ReadNode(j["nodes"][i], "/nodes/" + std::to_string(i), &t.nodes[i]));
  }
  const json& f = j["fabric"];
  TWINSIM_RETURN_IF_ERROR(
      ExpectObject(f, "/fabric", {"kind", "link_bandwidth_bytes_per_s", "latency_s"}));
  TWINSIM_RETURN_IF_ERROR(ReadString(f, "/fabric", "kind", &t.fabric.kind));
  TWINSIM_RETURN_IF_ERROR(
      ReadDouble(f, "/fabric", "link_bandwidth_bytes_per_s", &t.fabric.link_bandwidth_bytes_per_s));
  TWINSIM_RETURN_IF_ERROR(ReadDouble(f, "/fabric", "latency_s", &t.fabric.latency_s));
  TWINSIM_RETURN_IF_ERROR(ValidateTopology(t));
  return t;
}

}  // namespace

double PcieBandwidthBytesPerS(int generation, int lanes) {
  double gt_per_s = 0;  // transfers per second per lane
  switch (generation) {
    case 3:
      gt_per_s = 8e9;
      break;
    case 4:
      gt_per_s = 16e9;
      break;
    case 5:
      gt_per_s = 32e9;
      break;
    default:
      return 0;
  }
  if (lanes <= 0) return 0;
  // 128b/130b line code; one bit per transfer per lane; 8 bits per byte.
  return gt_per_s * (128.0 / 130.0) * lanes / 8.0;
}

std::string_view NvlinkKindName(NvlinkKind kind) {
  switch (kind) {
    case NvlinkKind::kNone:
      return "none";
    case NvlinkKind::kNvSwitch:
      return "nvswitch";
  }
  return "unknown";
}

int64_t NumGpus(const Topology& topology) {
  int64_t n = 0;
  for (const NodeSpec& node : topology.nodes) n += static_cast<int64_t>(node.gpus.size());
  return n;
}

namespace {
// The node of rank `rank` and the rank's index on it.
std::pair<const NodeSpec*, int64_t> NodeOfRank(const Topology& topology, int64_t rank) {
  int64_t local = rank;
  for (const NodeSpec& node : topology.nodes) {
    const int64_t n = static_cast<int64_t>(node.gpus.size());
    if (local < n) return {&node, local};
    local -= n;
  }
  return {nullptr, 0};
}
}  // namespace

RankResources ResourcesOfRank(const Topology& topology, int64_t rank) {
  RankResources r;
  const auto [node, local] = NodeOfRank(topology, rank);
  if (node == nullptr) return r;
  const int64_t n = static_cast<int64_t>(node->gpus.size());
  r.gpu_bytes = static_cast<uint64_t>(node->gpus[local].memory_capacity_bytes);
  r.gpu_model = node->gpus[local].model;
  r.host_bytes = static_cast<uint64_t>(node->host_memory.pageable_bytes) / n;
  r.gpus_per_node = n;
  r.node_host_bytes = static_cast<uint64_t>(node->host_memory.pageable_bytes);
  r.pinned_bytes = static_cast<uint64_t>(node->host_memory.pinned_bytes) / n;
  return r;
}

const GpuSpec& GpuOfRank(const Topology& topology, int64_t rank) {
  const auto [node, local] = NodeOfRank(topology, rank);
  return node->gpus[local];
}

StatusOr<int64_t> GpuGlobalIndex(const Topology& topology, int node, int local) {
  if (node < 0 || node >= static_cast<int>(topology.nodes.size())) {
    return Status::OutOfRange("node " + std::to_string(node) + " is out of range [0, " +
                              std::to_string(topology.nodes.size()) + ")");
  }
  const size_t gpus = topology.nodes[node].gpus.size();
  if (local < 0 || local >= static_cast<int>(gpus)) {
    return Status::OutOfRange("local GPU " + std::to_string(local) + " is out of range [0, " +
                              std::to_string(gpus) + ") on node " + std::to_string(node));
  }
  int64_t index = local;
  for (int i = 0; i < node; ++i) index += static_cast<int64_t>(topology.nodes[i].gpus.size());
  return index;
}

Status ValidateTopology(const Topology& topology) {
  if (topology.nodes.empty()) return Bad("nodes", "a topology needs at least one node");
  for (size_t i = 0; i < topology.nodes.size(); ++i) {
    TWINSIM_RETURN_IF_ERROR(CheckNode(topology.nodes[i], Index("", "nodes", i)));
  }
  const FabricSpec& f = topology.fabric;
  if (f.kind.empty()) return Bad("fabric.kind", "must not be empty");
  if (!Positive(f.link_bandwidth_bytes_per_s)) {
    return Bad("fabric.link_bandwidth_bytes_per_s",
               "must be a positive finite number, got " + Num(f.link_bandwidth_bytes_per_s));
  }
  if (!std::isfinite(f.latency_s) || f.latency_s < 0) {
    return Bad("fabric.latency_s", "must be finite and non-negative, got " + Num(f.latency_s));
  }
  return Status::Ok();
}

std::string ToJson(const Topology& topology, int indent) {
  json nodes = json::array();
  for (const NodeSpec& node : topology.nodes) nodes.push_back(NodeToJson(node));
  const json j = {{"name", topology.name},
                  {"nodes", std::move(nodes)},
                  {"fabric",
                   {{"kind", topology.fabric.kind},
                    {"link_bandwidth_bytes_per_s", topology.fabric.link_bandwidth_bytes_per_s},
                    {"latency_s", topology.fabric.latency_s}}}};
  // Replace invalid UTF-8 in names rather than throw.
  return j.dump(indent, ' ', false, json::error_handler_t::replace);
}

StatusOr<Topology> TopologyFromJson(std::string_view text) {
  try {
    const json j = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) return Status::InvalidArgument("topology JSON: not valid JSON");
    return ReadTopology(j);
  } catch (const std::exception& e) {  // not expected: every access above checks its type
    return Status::InvalidArgument(std::string("topology JSON: ") + e.what());
  }
}

}  // namespace twinsim::core
