#include "properties/memory_need.h"

#include <map>
#include <tuple>
#include <vector>

#include "core/dtype.h"

namespace twinsim::properties {

uint64_t InitHeldBytesLowerBound(const core::ParallelLayout& layout) {
  const core::ModelSpec& model = layout.model();
  // What a rank owns depends on its stage, its TP rank and its EP rank only (OwnedBy).
  std::map<std::tuple<int, int, int>, uint64_t> bytes_by_coords;
  uint64_t total = 0;
  for (int rank = 0; rank < layout.world_size(); ++rank) {
    const core::ParallelCoords c = layout.RankCoords(rank);
    const auto key = std::make_tuple(c.pp, c.tp, c.ep);
    auto it = bytes_by_coords.find(key);
    if (it == bytes_by_coords.end()) {
      uint64_t bytes = 0;
      for (const core::OwnedShard& owned : layout.OwnedBy(rank)) {
        const core::ParamSpec& spec = model.params[owned.param];
        bytes += static_cast<uint64_t>(owned.shard.PaddedNumel(spec.shape)) *
                 core::DTypeSize(spec.dtype);
      }
      it = bytes_by_coords.emplace(key, bytes).first;
    }
    total += it->second;
  }
  return total;
}

}  // namespace twinsim::properties
