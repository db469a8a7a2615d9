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
//   storage_read_gb_per_s  per-node checkpoint storage read bandwidth in GB/s (10^9 bytes/s)
// Topology::name is `text`. The result satisfies ValidateTopology.
// On failure returns InvalidArgument with one line naming the preset or key and what was
// expected, with a did-you-mean for near misses ("dgx-h100: unknown key 'node' (did you mean
// 'nodes'?); expected one of ..."). Thread-safe; pure.
StatusOr<Topology> MakeTopology(std::string_view text);

// The preset names MakeTopology accepts, in a stable order.
std::vector<std::string> TopologyPresetNames();

// What `twinsim calibrate` measured on one GPU (gpu/calibrate.h), as the sim's presets use it.
// Rates are per second; bandwidths in bytes, per direction.
struct Calibration {
  std::string device;  // e.g. "NVIDIA H100 80GB HBM3"
  std::string driver;  // the CUDA driver version, e.g. "13.0"
  std::string date;    // when it was measured, ISO 8601 UTC
  double h2d_pinned_bytes_per_s = 0;
  double d2h_pinned_bytes_per_s = 0;
  double h2d_pageable_bytes_per_s = 0;
  double d2h_pageable_bytes_per_s = 0;
  double d2d_copy_bytes_per_s = 0;  // cudaMemcpy device-to-device: bytes copied per second
  double init_elements_per_s = 0;   // fp32 normal-fill init kernel
  double copy_latency_s = 0;        // a 4 KiB pinned host-to-device copy (reported, not applied)
  bool operator==(const Calibration&) const = default;
};

// The calibration file: a JSON object {"format": "twinsim-calibration", "version": 1, and the
// fields above by name}. CalibrationFromJson rejects unknown keys, a missing rate or one <= 0
// with InvalidArgument naming the key. Pure.
std::string CalibrationToJson(const Calibration& calibration);
StatusOr<Calibration> CalibrationFromJson(std::string_view text);

// Puts measured figures into every GPU of `topology`: PCIe bandwidth = the mean of pinned H2D
// and D2H (the topology has one figure per direction-symmetric link; the validation report
// shows each direction's error), switch uplinks raised to at least that, HBM bandwidth =
// 2 x the D2D copy rate (the sim charges a copy 2 x bytes / HBM bandwidth), init throughput =
// the measured one. Appends " (calibrated: <device>)" to the name. InvalidArgument when a
// figure it uses is not positive.
Status ApplyCalibration(const Calibration& calibration, Topology& topology);

}  // namespace twinsim::core

#endif  // TWINSIM_CORE_TOPOLOGY_PRESETS_H_
