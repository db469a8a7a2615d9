#include "policies/placement/registry.h"

#include <array>

#include "core/text.h"

namespace twinsim::placement {
namespace {

struct Entry {
  std::string_view name;
  std::string_view description;
  bool in_all;
};

// The one table of placement policies; its order is PlacementPolicyNames()'s.
constexpr std::array<Entry, 9> kEntries = {{
    {"cuda", "static(1,0,0): every chunk on the GPU; nothing moves; GPU Adam", true},
    {"cpu", "static(1,1,1): every evictable chunk is evicted before each op; HybridAdam's CPU Adam",
     true},
    {"static", "StaticPlacementPolicy(fractions) as coded: fractions of an inflated total", true},
    {"static-documented", "the same fractions of the chunks' true total, as the docs say", false},
    {"auto",
     "AutoPlacementPolicy: a warmup traces non-model memory, then furthest next use is evicted "
     "first",
     true},
    {"optimal", "offline Belady over the step: the least PCIe traffic any GPU-Adam policy moves",
     true},
    // ---- DeepSpeed ZeRO (zero.h), not in "all"
    {"zero1", "DeepSpeed ZeRO-1: fp32 master and Adam m, v partitioned over DP", false},
    {"zero2", "DeepSpeed ZeRO-2: optimizer state and 16-bit gradients partitioned over DP", false},
    {"zero3",
     "DeepSpeed ZeRO-3: parameters partitioned too, gathered per op with prefetch and release",
     false},
}};

}  // namespace

const std::vector<std::string>& PlacementPolicyNames() {
  static const std::vector<std::string> kNames = [] {
    std::vector<std::string> names;
    for (const Entry& e : kEntries) names.emplace_back(e.name);
    return names;
  }();
  return kNames;
}

const std::vector<std::string>& AllPlacementPolicyNames() {
  static const std::vector<std::string> kNames = [] {
    std::vector<std::string> names;
    for (const Entry& e : kEntries) {
      if (e.in_all) names.emplace_back(e.name);
    }
    return names;
  }();
  return kNames;
}

bool IsPlacementPolicyName(std::string_view name) {
  for (const Entry& e : kEntries) {
    if (e.name == name) return true;
  }
  return false;
}

std::string ExpectedPlacementPolicies() {
  std::string s;
  for (const Entry& e : kEntries) {
    s += e.name;
    s += ", ";
  }
  s.resize(s.size() - 2);
  return s + " or all";
}

std::string_view PlacementPolicyDescription(std::string_view name) {
  for (const Entry& e : kEntries) {
    if (e.name == name) return e.description;
  }
  return {};
}

StatusOr<std::unique_ptr<PlacementPolicy>> MakePlacementPolicy(
    std::string_view name, const PlacementPolicyOptions& options) {
  if (name == "cuda") return MakeCudaPolicy();
  if (name == "cpu") return MakeCpuPolicy(options.gpu_adam);
  if (name == "static" || name == "static-documented") {
    StaticFractions f = options.fractions;
    f.documented = name == "static-documented";
    f.gpu_adam = options.gpu_adam && !f.documented;
    return MakeStaticPolicy(f);
  }
  if (name == "auto") {
    AutoOptions a = options.auto_options;
    a.gpu_adam = options.gpu_adam;
    return MakeAutoPolicy(a);
  }
  if (name == "optimal") return MakeOptimalPolicy();
  // ---- DeepSpeed ZeRO
  if (name == "zero1" || name == "zero2" || name == "zero3") {
    ZeroOptions z = options.zero;
    z.stage = name.back() - '0';
    return MakeZeroPolicy(z);
  }
  return Status::InvalidArgument("unknown placement policy " + core::Quote(name) + "; expected " +
                                 ExpectedPlacementPolicies());
}

}  // namespace twinsim::placement
