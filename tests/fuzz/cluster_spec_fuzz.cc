// libFuzzer target for cluster spec strings (core/topology_presets.h MakeTopology:
// "dgx-h100", "dgx-h100:nodes=16", "rtx3090:gpus_per_node=4,..."): any bytes give a topology
// or one error line; a topology has GPUs with positive memory.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/topology_presets.h"
#include "tests/fuzz/spec_fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  twinsim::StatusOr<twinsim::core::Topology> topology = twinsim::core::MakeTopology(text);
  if (!topology.ok()) {
    twinsim::fuzz::ExpectOneLineError(topology.status());
    return 0;
  }
  if (topology->nodes.empty()) __builtin_trap();
  for (const auto& node : topology->nodes) {
    if (node.gpus.empty()) __builtin_trap();
    for (const auto& gpu : node.gpus) {
      if (!(gpu.memory_capacity_bytes > 0)) __builtin_trap();
    }
  }
  return 0;
}
