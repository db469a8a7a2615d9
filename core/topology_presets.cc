#include "core/topology_presets.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdint>
#include <string>
#include <utility>

#include "core/text.h"

namespace twinsim::core {

// Note [Where the preset figures come from]
// Each figure below carries its source. "Confirmed" sources were read while writing this file
// (pages found with the project's search tool, which quote NVIDIA's datasheets, user guides
// and reference architectures); "from memory, unverified" marks a figure recalled from the
// named document but not re-read; "assumption" marks a twinsim modelling choice that no
// vendor states. Capacities are the datasheet's "N GB" taken as N GiB (HBM and DIMMs come in
// power-of-two sizes); CUDA reports slightly less as total memory (an A100 40GB shows
// 42,405,855,232 bytes in deviceQuery, quoted on Paderborn PC2's "NVIDIA A100 40GB with
// NVLINK" page), which `twinsim calibrate` can record.
//
// Note [Init throughput estimate]
// init_elements_per_s is an estimate, not a measurement: an fp32 normal fill writes 4 bytes per
// element and reads nothing, and a counter-based (Philox) Box-Muller costs a few dozen integer
// and transcendental operations per 4 elements, which these GPUs' ALUs cover, so the kernel is
// taken to be write-bandwidth bound at half the HBM roofline:
//   init_elements_per_s = 0.5 * hbm_bandwidth_bytes_per_s / 4.
// The factor 0.5 is an assumption. `twinsim calibrate` replaces it with a measured figure;
// where a GPU run measured one, the preset carries it (GpuModel::measured_init_elements_per_s).

namespace {

constexpr int64_t kGiB = int64_t{1} << 30;
constexpr double kGB = 1e9;        // datasheet bandwidths are decimal: 1 GB/s = 1e9 bytes/s
constexpr double kGbps = 1e9 / 8;  // network rates: 1 Gb/s = 1.25e8 bytes/s
constexpr int kMaxNodes = 65536;
constexpr int kMaxGpusPerNode = 8;

double InitEstimate(double hbm_bytes_per_s) { return 0.5 * hbm_bytes_per_s / 4.0; }

// One GPU model as its datasheet gives it.
struct GpuModel {
  std::string_view model;
  int64_t memory_gib;
  double hbm_bytes_per_s;
  int sm_count;
  int max_threads_per_sm;
  int pcie_generation;
  int pcie_lanes;
  // Dense fp16/bf16 tensor-core peak, FLOP/s (GpuSpec::matmul_flops_per_s).
  double matmul_flops_per_s;
  // Measured init throughput (elements/s) where a GPU run gave one; 0: InitEstimate.
  double measured_init_elements_per_s = 0;
};

// One machine: the GPU, how GPUs and NICs hang off PCIe switches, NVLink, host memory, NICs
// and the fabric they join.
struct NodeTemplate {
  GpuModel gpu;
  int gpus_per_node;
  // GPUs per PCIe switch; 0 means every GPU sits on its own CPU root port (no switch).
  int gpus_per_switch;
  int nics_per_switch;  // with gpus_per_switch == 0: NICs per node, on root ports
  int uplink_generation;
  int uplink_lanes;
  NvlinkSpec nvlink;
  int64_t host_memory_gib;
  int64_t pinned_memory_gib;
  double nic_bytes_per_s;
  std::string_view fabric_kind;
  double fabric_latency_s;
  double storage_read_bytes_per_s;  // NodeSpec::storage_read_bytes_per_s
};

// --- GPUs -------------------------------------------------------------------------------------
// Dense fp16/bf16 tensor-core peaks (no sparsity), NVIDIA datasheets, from memory, unverified:
// V100 PCIe 112 TFLOP/s, A100 312, H100 SXM5 and H200 SXM 989, RTX 3090 71 (fp32 accumulate).

// A100 SXM4 40GB. 40 GB HBM2, 1,555 GB/s, 108 SMs: NVIDIA A100 datasheet (confirmed via the
// PC2 page and glennklockwood.com/garden/processors/A100, which cite it). PCIe Gen4 x16:
// "32+32 GB/s PCIe Gen4" (same glennklockwood page, confirmed). 2,048 resident threads per SM
// for compute capability 8.0: CUDA C++ Programming Guide, "Technical Specifications per
// Compute Capability" (from memory, unverified).
constexpr GpuModel kA100Sxm40 = {"A100-SXM4-40GB", 40, 1555 * kGB, 108, 2048, 4, 16, 312e12};

// A100 SXM4 80GB. 80 GB HBM2e, 2,039 GB/s: NVIDIA A100 datasheet (confirmed via
// glennklockwood.com A100 page and svethardware.cz's launch report: 2039 vs 1555 GB/s).
// SMs, PCIe and threads as the 40GB part ("everything else was the same", same page).
constexpr GpuModel kA100Sxm80 = {"A100-SXM4-80GB", 80, 2039 * kGB, 108, 2048, 4, 16, 312e12};

// H100 SXM5 80GB. 80 GB HBM3, 3,350 GB/s, 132 SMs, PCIe Gen5 (128 GB/s both directions):
// NVIDIA H100 datasheet (confirmed via HPC Tech's H100 spec table and
// glennklockwood.com/garden/processors/h100). 2,048 threads per SM for compute capability
// 9.0: CUDA C++ Programming Guide (from memory, unverified).
// Init throughput measured, not estimated: PyTorch 2.11's CUDA normal_ on 2^28 fp32 elements
// ran at 4.403e11 elements/s on an "NVIDIA H100 80GB HBM3" (best of 10, CUDA events;
// tools/gpu-check, reports/validation/2026-11-26-nvidia-h100-80gb-hbm3/torch.json). The
// estimate of Note [Init throughput estimate] gives 4.19e11. twinsim's own counter fill ran at
// 3.775e11 there (fill_cuda_bench.json); one figure serves both, the PyTorch one, since most
// seed policies model PyTorch's kernels.
constexpr GpuModel kH100Sxm = {"H100-SXM5-80GB", 80, 3350 * kGB, 132, 2048, 5, 16, 989e12,
                               4.403e11};

// H200 SXM 141GB. 141 GB HBM3e, 4.8 TB/s: NVIDIA H200 datasheet (confirmed via several pages
// quoting it, e.g. acecloud.ai "As per NVIDIA's spec sheet"). Same GH100 die as H100 SXM5,
// so 132 SMs (confirmed: saulelectric.com H200 spec list; openmetal.io "same Hopper GH100
// die"). PCIe Gen5 x16: MLCommons inference v4.1 NVIDIA H200-SXM-141GBx8 system description
// ("accelerator_host_interconnect": "PCIe Gen5 x16", confirmed).
constexpr GpuModel kH200Sxm = {"H200-SXM-141GB", 141, 4800 * kGB, 132, 2048, 5, 16, 989e12};

// Tesla V100 PCIe 32GB. 80 SMs, 4096-bit HBM2 at 900 GB/s: NVIDIA Tesla V100 PCIe product
// brief / Volta announcement (SMs confirmed via techrival.com's table, 900 GB/s confirmed for
// the V100 PCIe via io-tech.fi; the 32GB part keeping 900 GB/s is from the V100 datasheet,
// from memory, unverified). PCIe Gen3 x16 (datasheet; as the brief asks). 2,048 threads per
// SM for compute capability 7.0: CUDA C++ Programming Guide (from memory, unverified).
constexpr GpuModel kV100Pcie32 = {"V100-PCIE-32GB", 32, 900 * kGB, 80, 2048, 3, 16, 112e12};

// GeForce RTX 3090. 24 GB GDDR6X on 384 bits at 936 GB/s, 82 SMs (10,496 CUDA cores):
// NVIDIA's RTX 3090 specifications (confirmed via Tom's Hardware's spec table and
// szpamela.com's product page, both quoting NVIDIA). PCIe Gen4 x16: NVIDIA RTX 30-series
// specifications (from memory, unverified). 1,536 threads per SM for compute capability 8.6:
// CUDA C++ Programming Guide (from memory, unverified).
constexpr GpuModel kRtx3090 = {"RTX-3090", 24, 936 * kGB, 82, 1536, 4, 16, 71e12};

// --- Machines ---------------------------------------------------------------------------------

// DGX A100: 8 A100 SXM4, six NVSwitches, 600 GB/s NVLink per GPU (300 per direction), third
// NVLink generation (confirmed: A100 whitepaper notes at jingchaozhang.github.io, "six
// second-generation NVSwitch", "GPU to GPU communication to peak at 600 GB/s"; xynio.com
// quoting NVIDIA's A100 page). Eight single-port Mellanox ConnectX-6 200 Gb/s HDR InfiniBand
// for the compute fabric (eight NICs confirmed by geektopia.es's launch report; 200 Gb/s HDR
// ConnectX-6 from the DGX A100 user guide, from memory, unverified). Four PCIe Gen4
// switches, each with two GPUs and two NICs, x16 Gen4 uplink to the CPU: DGX A100 user guide
// / system architecture whitepaper (from memory, unverified). Host memory 1 TB for the
// 320 GB (40GB-GPU) system, 2 TB for the 640 GB system: DGX A100 user guide (from memory,
// unverified; pcnews.ru confirms "up to 2 TB").
NvlinkSpec A100NvSwitch() { return NvlinkSpec{NvlinkKind::kNvSwitch, 3, 6, 300 * kGB}; }

// DGX H100 / DGX H200 / HGX H200: 8 GPUs, four NVSwitch chips, 2 TB DDR5, eight single-port
// ConnectX-7 up to 400 Gb/s (confirmed: NVIDIA DGX BasePOD reference architecture, "Core
// Components", docs.nvidia.com). 900 GB/s NVLink per GPU (450 per direction) over 18
// fourth-generation links (confirmed: MLCommons H200-SXM-141GBx8 system description, "18x
// 4th Gen NVLink, 900GB/s"; HPC Tech H100 table). One ConnectX-7 per GPU (confirmed: DGX H100
// user guide, Table 6 "Network Modules", maps each OSFP port to one GPU). Four PCIe Gen5
// switches with two GPUs and two NICs each, x16 Gen5 uplinks: from memory, unverified.
NvlinkSpec H100NvSwitch() { return NvlinkSpec{NvlinkKind::kNvSwitch, 4, 4, 450 * kGB}; }

// InfiniBand one-way NIC-to-NIC latency through a two- or three-level fat tree: an estimate
// (switch hops of ~100-200 ns plus NIC and PCIe), from memory, unverified.
constexpr double kInfinibandLatencyS = 2e-6;

// Checkpoint storage read bandwidth per node (NodeSpec::storage_read_bytes_per_s):
// - DGX H100 / H200: 40 GB/s. The DGX SuperPOD reference architecture for DGX H100 says a
//   GPUDirect Storage application "should be able to read data at over 40 GBps" over the
//   storage fabric (confirmed via a mirror of that page found with the project's search tool,
//   whose excerpt breaks off at "40 GBp"). A plain DCP load reads through host memory, not
//   GDS, so this is an upper figure.
// - DGX A100: 20 GB/s. Assumption: half the H100 figure, since NVIDIA's DGX H100 page gives
//   "2X faster networking and storage @ 400 Gbps" over DGX A100 (confirmed, same reference
//   architecture, "Key Components").
// - PCIe hosts: 7 GB/s, one PCIe Gen4 NVMe SSD's sequential read (vendor datasheets, from
//   memory, unverified); assumption that the checkpoint sits on a local SSD.
constexpr double kDgxHStorageReadBytesPerS = 40 * kGB;
constexpr double kDgxA100StorageReadBytesPerS = 20 * kGB;
constexpr double kLocalNvmeReadBytesPerS = 7 * kGB;

// Pinned host memory: assumption — half of host memory. The real limit is the OS's
// (RLIMIT_MEMLOCK, kernel overcommit), not a hardware figure.
constexpr int64_t Half(int64_t gib) { return gib / 2; }

NodeTemplate DgxA100(const GpuModel& gpu, int64_t host_gib) {
  return NodeTemplate{.gpu = gpu,
                      .gpus_per_node = 8,
                      .gpus_per_switch = 2,
                      .nics_per_switch = 2,
                      .uplink_generation = 4,
                      .uplink_lanes = 16,
                      .nvlink = A100NvSwitch(),
                      .host_memory_gib = host_gib,
                      .pinned_memory_gib = Half(host_gib),
                      .nic_bytes_per_s = 200 * kGbps,  // HDR InfiniBand per port (see above)
                      .fabric_kind = "infiniband-hdr",
                      .fabric_latency_s = kInfinibandLatencyS,
                      .storage_read_bytes_per_s = kDgxA100StorageReadBytesPerS};
}

NodeTemplate DgxH(const GpuModel& gpu) {
  return NodeTemplate{.gpu = gpu,
                      .gpus_per_node = 8,
                      .gpus_per_switch = 2,
                      .nics_per_switch = 2,
                      .uplink_generation = 5,
                      .uplink_lanes = 16,
                      .nvlink = H100NvSwitch(),
                      .host_memory_gib = 2048,  // 2 TB DDR5 (BasePOD, confirmed)
                      .pinned_memory_gib = Half(2048),
                      .nic_bytes_per_s = 400 * kGbps,  // NDR, per port (BasePOD, confirmed)
                      .fabric_kind = "infiniband-ndr",
                      .fabric_latency_s = kInfinibandLatencyS,
                      .storage_read_bytes_per_s = kDgxHStorageReadBytesPerS};
}

// A PCIe host: the GPU on a CPU root port, no NVLink, one 100 Gb/s Ethernet NIC with 10 us
// latency between hosts. Host memory, the NIC and the latency are assumptions for a typical
// workstation or small server, not vendor figures.
NodeTemplate PcieHost(const GpuModel& gpu, int64_t host_gib) {
  return NodeTemplate{.gpu = gpu,
                      .gpus_per_node = 1,
                      .gpus_per_switch = 0,
                      .nics_per_switch = 1,
                      .uplink_generation = gpu.pcie_generation,
                      .uplink_lanes = gpu.pcie_lanes,
                      .nvlink = NvlinkSpec{},
                      .host_memory_gib = host_gib,
                      .pinned_memory_gib = Half(host_gib),
                      .nic_bytes_per_s = 100 * kGbps,
                      .fabric_kind = "ethernet",
                      .fabric_latency_s = 10e-6,
                      .storage_read_bytes_per_s = kLocalNvmeReadBytesPerS};
}

struct Preset {
  std::string_view name;
  NodeTemplate node;
};

const std::vector<Preset>& Presets() {
  static const std::vector<Preset> presets = {
      {"dgx-a100-40g", DgxA100(kA100Sxm40, 1024)},
      {"dgx-a100-80g", DgxA100(kA100Sxm80, 2048)},
      {"dgx-h100", DgxH(kH100Sxm)},
      // HGX H200 is a baseboard; its host is the OEM's. Modelled on DGX H200, which the
      // BasePOD reference architecture gives the same host, NVSwitch and NIC figures as DGX
      // H100 (confirmed).
      {"hgx-h200", DgxH(kH200Sxm)},
      // Host memory: assumption (a V100 server with 192 GiB; an RTX 3090 workstation with 64).
      {"v100-32g", PcieHost(kV100Pcie32, 192)},
      {"rtx3090", PcieHost(kRtx3090, 64)},
  };
  return presets;
}

// Builds one node from `t`. GPUs fill switches in order, `gpus_per_switch` each; each switch
// that has a GPU gets `nics_per_switch` NICs near its GPUs.
NodeSpec BuildNode(const NodeTemplate& t) {
  NodeSpec node;
  GpuSpec gpu;
  gpu.model = std::string(t.gpu.model);
  gpu.memory_capacity_bytes = t.gpu.memory_gib * kGiB;
  gpu.hbm_bandwidth_bytes_per_s = t.gpu.hbm_bytes_per_s;
  gpu.init_elements_per_s = t.gpu.measured_init_elements_per_s > 0
                               ? t.gpu.measured_init_elements_per_s
                               : InitEstimate(t.gpu.hbm_bytes_per_s);
  gpu.matmul_flops_per_s = t.gpu.matmul_flops_per_s;
  gpu.sm_count = t.gpu.sm_count;
  gpu.max_threads_per_sm = t.gpu.max_threads_per_sm;
  gpu.pcie = PcieLink{t.gpu.pcie_generation, t.gpu.pcie_lanes,
                      PcieBandwidthBytesPerS(t.gpu.pcie_generation, t.gpu.pcie_lanes)};
  const PcieLink uplink{t.uplink_generation, t.uplink_lanes,
                        PcieBandwidthBytesPerS(t.uplink_generation, t.uplink_lanes)};
  if (t.gpus_per_switch == 0) {
    node.gpus.assign(t.gpus_per_node, gpu);  // pcie_switch = -1: root ports
    NicSpec nic;
    nic.bandwidth_bytes_per_s = t.nic_bytes_per_s;
    for (int g = 0; g < t.gpus_per_node; ++g) nic.near_gpus.push_back(g);
    node.nics.assign(t.nics_per_switch, nic);
  } else {
    const int switches = (t.gpus_per_node + t.gpus_per_switch - 1) / t.gpus_per_switch;
    node.pcie_switches.assign(switches, PcieSwitchSpec{uplink});
    for (int g = 0; g < t.gpus_per_node; ++g) {
      gpu.pcie_switch = g / t.gpus_per_switch;
      node.gpus.push_back(gpu);
    }
    for (int s = 0; s < switches; ++s) {
      NicSpec nic;
      nic.bandwidth_bytes_per_s = t.nic_bytes_per_s;
      nic.pcie_switch = s;
      for (int g = s * t.gpus_per_switch;
           g < std::min(t.gpus_per_node, (s + 1) * t.gpus_per_switch); ++g) {
        nic.near_gpus.push_back(g);
      }
      for (int k = 0; k < t.nics_per_switch; ++k) node.nics.push_back(nic);
    }
  }
  node.nvlink = t.nvlink;
  if (t.gpus_per_node == 1) node.nvlink = NvlinkSpec{};  // one GPU: nothing to link
  node.host_memory = HostMemorySpec{t.host_memory_gib * kGiB, t.pinned_memory_gib * kGiB};
  node.storage_read_bytes_per_s = t.storage_read_bytes_per_s;
  return node;
}

// ---------------------------------------------------------------------------------------------
// Overrides.

struct Overrides {
  int nodes = 1;
  bool pinned_set = false;
};

using Setter = Status (*)(int64_t value, NodeTemplate& t, Overrides& o);

struct Key {
  std::string_view name;
  int64_t max;
  Setter set;
};

const std::vector<Key>& Keys() {
  static const std::vector<Key> keys = {
      {"nodes", kMaxNodes,
       [](int64_t v, NodeTemplate&, Overrides& o) {
         o.nodes = static_cast<int>(v);
         return Status::Ok();
       }},
      {"gpus_per_node", kMaxGpusPerNode,
       [](int64_t v, NodeTemplate& t, Overrides&) {
         t.gpus_per_node = static_cast<int>(v);
         return Status::Ok();
       }},
      {"gpu_memory_gb", 1 << 20,
       [](int64_t v, NodeTemplate& t, Overrides&) {
         t.gpu.memory_gib = v;
         return Status::Ok();
       }},
      {"host_memory_gb", 1 << 24,
       [](int64_t v, NodeTemplate& t, Overrides& o) {
         t.host_memory_gib = v;
         if (!o.pinned_set) t.pinned_memory_gib = std::min(t.pinned_memory_gib, v);
         return Status::Ok();
       }},
      {"pinned_memory_gb", 1 << 24,
       [](int64_t v, NodeTemplate& t, Overrides& o) {
         t.pinned_memory_gib = v;
         o.pinned_set = true;
         return Status::Ok();
       }},
      {"nic_gbps", 1 << 20,
       [](int64_t v, NodeTemplate& t, Overrides&) {
         t.nic_bytes_per_s = static_cast<double>(v) * kGbps;
         return Status::Ok();
       }},
      {"fabric_latency_ns", 1'000'000'000,
       [](int64_t v, NodeTemplate& t, Overrides&) {
         t.fabric_latency_s = static_cast<double>(v) * 1e-9;
         return Status::Ok();
       }},
      {"storage_read_gb_per_s", 1 << 20,
       [](int64_t v, NodeTemplate& t, Overrides&) {
         t.storage_read_bytes_per_s = static_cast<double>(v) * kGB;
         return Status::Ok();
       }},
  };
  return keys;
}

std::vector<std::string_view> KeyNames() {
  std::vector<std::string_view> names;
  for (const Key& k : Keys()) names.push_back(k.name);
  return names;
}

std::vector<std::string_view> PresetNameViews() {
  std::vector<std::string_view> names;
  for (const Preset& p : Presets()) names.push_back(p.name);
  return names;
}

StatusOr<int64_t> ParseInt(std::string_view head, std::string_view key, std::string_view value,
                           int64_t max) {
  int64_t v = 0;
  const auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
  if (value.empty() || ec != std::errc() || ptr != value.data() + value.size() || v < 1 ||
      v > max) {
    return Status::InvalidArgument(std::string(head) + ": " + Quote(key) +
                                   ": expected an integer in [1, " + std::to_string(max) +
                                   "], got " + Quote(value));
  }
  return v;
}

}  // namespace

StatusOr<Topology> MakeTopology(std::string_view text) {
  const std::string expected =
      "expected one of " + Join(PresetNameViews()) + ", optionally " + "followed by :key=value,...";
  const size_t colon = text.find(':');
  const std::string_view head = text.substr(0, colon);
  if (head.empty()) {
    return Status::InvalidArgument("empty cluster preset in " + Quote(text) + "; " + expected);
  }
  const auto preset = std::find_if(Presets().begin(), Presets().end(),
                                   [&](const Preset& p) { return p.name == head; });
  if (preset == Presets().end()) {
    return Status::InvalidArgument("unknown cluster preset " + Quote(head) +
                                   DidYouMean(head, PresetNameViews()) + "; " + expected);
  }
  NodeTemplate node = preset->node;
  Overrides overrides;
  const std::string prefix(head);
  if (colon != std::string_view::npos) {
    StatusOr<std::vector<KeyValue>> items =
        SplitKeyValues(text.substr(colon + 1), prefix, text, KeyNames());
    if (!items.ok()) return items.status();
    for (const KeyValue& item : *items) {
      // Not structured bindings: the lambda captures `key` (clang before 16 rejects that).
      const std::string_view key = item.key, value = item.value;
      const auto known =
          std::find_if(Keys().begin(), Keys().end(), [&](const Key& k) { return k.name == key; });
      if (known == Keys().end()) {
        return Status::InvalidArgument(prefix + ": unknown key " + Quote(key) +
                                       DidYouMean(key, KeyNames()) + "; expected one of " +
                                       Join(KeyNames()));
      }
      StatusOr<int64_t> v = ParseInt(head, key, value, known->max);
      if (!v.ok()) return v.status();
      TWINSIM_RETURN_IF_ERROR(known->set(*v, node, overrides));
    }
  }
  if (node.pinned_memory_gib > node.host_memory_gib) {
    return Status::InvalidArgument(
        prefix + ": pinned_memory_gb=" + std::to_string(node.pinned_memory_gib) +
        " exceeds host_memory_gb=" + std::to_string(node.host_memory_gib));
  }
  Topology topology;
  topology.name = std::string(text);
  topology.nodes.assign(overrides.nodes, BuildNode(node));
  topology.fabric =
      FabricSpec{std::string(node.fabric_kind), node.nic_bytes_per_s, node.fabric_latency_s};
  TWINSIM_RETURN_IF_ERROR(ValidateTopology(topology));
  return topology;
}

std::vector<std::string> TopologyPresetNames() {
  std::vector<std::string> names;
  for (const Preset& p : Presets()) names.emplace_back(p.name);
  return names;
}

// ---- Calibration ------------------------------------------------------------------------------

namespace {

constexpr const char* kCalibrationFormat = "twinsim-calibration";

struct CalibrationRate {
  const char* key;
  double Calibration::*field;
};
constexpr CalibrationRate kCalibrationRates[] = {
    {"h2d_pinned_bytes_per_s", &Calibration::h2d_pinned_bytes_per_s},
    {"d2h_pinned_bytes_per_s", &Calibration::d2h_pinned_bytes_per_s},
    {"h2d_pageable_bytes_per_s", &Calibration::h2d_pageable_bytes_per_s},
    {"d2h_pageable_bytes_per_s", &Calibration::d2h_pageable_bytes_per_s},
    {"d2d_copy_bytes_per_s", &Calibration::d2d_copy_bytes_per_s},
    {"init_elements_per_s", &Calibration::init_elements_per_s},
    {"copy_latency_s", &Calibration::copy_latency_s},
};

}  // namespace

std::string CalibrationToJson(const Calibration& c) {
  nlohmann::ordered_json j;
  j["format"] = kCalibrationFormat;
  j["version"] = 1;
  j["device"] = c.device;
  j["driver"] = c.driver;
  j["date"] = c.date;
  for (const CalibrationRate& r : kCalibrationRates) j[r.key] = c.*r.field;
  return j.dump(2) + "\n";
}

StatusOr<Calibration> CalibrationFromJson(std::string_view text) {
  const nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return Status::InvalidArgument("calibration: not a JSON object");
  }
  if (!j.contains("format") || j["format"] != kCalibrationFormat) {
    return Status::InvalidArgument(
        std::string("calibration: /format: expected \"") + kCalibrationFormat + "\"");
  }
  if (!j.contains("version") || j["version"] != 1) {
    return Status::InvalidArgument("calibration: /version: expected 1");
  }
  Calibration c;
  for (auto [key, field] : {std::pair{"device", &Calibration::device},
                            std::pair{"driver", &Calibration::driver},
                            std::pair{"date", &Calibration::date}}) {
    if (!j.contains(key) || !j[key].is_string()) {
      return Status::InvalidArgument(std::string("calibration: /") + key + ": expected a string");
    }
    c.*field = j[key].get<std::string>();
  }
  for (const CalibrationRate& r : kCalibrationRates) {
    if (!j.contains(r.key) || !j[r.key].is_number() || !(j[r.key].get<double>() > 0)) {
      return Status::InvalidArgument(std::string("calibration: /") + r.key +
                                     ": expected a positive number");
    }
    c.*r.field = j[r.key].get<double>();
  }
  for (const auto& [key, value] : j.items()) {
    bool known = key == "format" || key == "version" || key == "device" || key == "driver" ||
                 key == "date";
    for (const CalibrationRate& r : kCalibrationRates) known = known || key == r.key;
    if (!known) return Status::InvalidArgument("calibration: /" + key + ": unknown key");
  }
  return c;
}

Status ApplyCalibration(const Calibration& c, Topology& topology) {
  const double pcie = (c.h2d_pinned_bytes_per_s + c.d2h_pinned_bytes_per_s) / 2;
  if (!(pcie > 0) || !(c.d2d_copy_bytes_per_s > 0) || !(c.init_elements_per_s > 0)) {
    return Status::InvalidArgument(
        "calibration: pinned PCIe, D2D copy and init rates must be positive");
  }
  for (NodeSpec& node : topology.nodes) {
    for (GpuSpec& gpu : node.gpus) {
      gpu.pcie.bandwidth_bytes_per_s = pcie;
      gpu.hbm_bandwidth_bytes_per_s = 2 * c.d2d_copy_bytes_per_s;
      gpu.init_elements_per_s = c.init_elements_per_s;
    }
    for (PcieSwitchSpec& s : node.pcie_switches) {
      s.uplink.bandwidth_bytes_per_s = std::max(s.uplink.bandwidth_bytes_per_s, pcie);
    }
  }
  topology.name += " (calibrated: " + c.device + ")";
  return Status::Ok();
}

}  // namespace twinsim::core
