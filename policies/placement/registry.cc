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
constexpr std::array<Entry, 13> kEntries = {{
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
    // Not in "all", which stays Gemini's family and its bound.
    // ---- DeepSpeed ZeRO (zero.h)
    {"zero1", "DeepSpeed ZeRO-1: fp32 master and Adam m, v partitioned over DP", false},
    {"zero2", "DeepSpeed ZeRO-2: optimizer state and 16-bit gradients partitioned over DP", false},
    {"zero3",
     "DeepSpeed ZeRO-3: parameters partitioned too, gathered per op with prefetch and release",
     false},
    {"fsdp2",
     "PyTorch fully_shard as torchtitan applies it: sharded fp32 state, a unit's bf16 copy "
     "gathered while it computes, resharded after forward unless pp",
     false},
    {"fsdp2-no-reshard", "fsdp2 with reshard_after_forward never: units stay gathered until backward",
     false},
    {"fsdp2-cpu-offload",
     "fsdp2 with CPUOffloadPolicy: sharded params, grads and Adam state on the host, CPU step",
     false},
    {"megatron-distopt",
     "Megatron-LM's distributed optimizer: bf16 params and fp32 grad buffer whole, fp32 main "
     "params and Adam sharded over dp x cp",
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
  if (name == "fsdp2" || name == "fsdp2-no-reshard" || name == "fsdp2-cpu-offload") {
    Fsdp2Options f = options.fsdp2;
    if (name == "fsdp2-no-reshard") f.reshard_after_forward = Fsdp2Options::Reshard::kNever;
    if (name == "fsdp2-cpu-offload") f.cpu_offload = true;
    return MakeFsdp2Policy(f);
  }
  if (name == "megatron-distopt") return MakeMegatronDistOptPolicy(options.megatron_distopt);
  return Status::InvalidArgument("unknown placement policy " + core::Quote(name) + "; expected " +
                                 ExpectedPlacementPolicies());
}

}  // namespace twinsim::placement
