// The placement-policy registry: every policy's name, a one-line description, which ones
// "all" runs, and one factory from a typed options struct. `place`, `validate --placement`
// and `show policy` build their policies here, so a name means the same policy with the same
// defaults everywhere (the seed policies' MakePolicy in policies/seed is the model).
#ifndef TWINSIM_POLICIES_PLACEMENT_REGISTRY_H_
#define TWINSIM_POLICIES_PLACEMENT_REGISTRY_H_

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "policies/placement/fsdp2.h"
#include "policies/placement/megatron_distopt.h"
#include "policies/placement/placement.h"
#include "policies/placement/zero.h"

namespace twinsim::placement {

// What a policy may be tuned by. The defaults are ColossalAI's (StaticFractions 1,0,0;
// AutoOptions 0.8/0.9/0.0) with Gemini's HybridAdam, the defaults of every command.
struct PlacementPolicyOptions {
  // static and static-documented; the factory sets `documented` and `gpu_adam` by name.
  StaticFractions fractions;
  // auto; the factory sets `gpu_adam`.
  AutoOptions auto_options;
  // twinsim's GPU-Adam variant of cpu, static and auto (Note [GPU-Adam variant]); not a
  // variant of static-documented, which keeps HybridAdam.
  bool gpu_adam = false;
  // ---- DeepSpeed ZeRO (zero.h): zero1, zero2, zero3; the factory sets `stage` by name.
  ZeroOptions zero;
  // fsdp2 and its named variants (fsdp2.h Note [FSDP2 step]); the factory sets
  // reshard_after_forward to "never" for fsdp2-no-reshard and cpu_offload for fsdp2-cpu-offload.
  Fsdp2Options fsdp2;
  // megatron-distopt (megatron_distopt.h Note [Megatron distributed optimizer]).
  MegatronDistOptOptions megatron_distopt;
};

// Every policy, in a stable order: cuda, cpu, static, static-documented, auto, optimal, zero1,
// zero2, zero3, fsdp2, fsdp2-no-reshard, fsdp2-cpu-offload, megatron-distopt.
const std::vector<std::string>& PlacementPolicyNames();
// What "all" runs, in this order: cuda, cpu, static, auto, optimal (static-documented, the
// docs' intent, and the ZeRO stages, another system than Gemini, are asked for by name).
const std::vector<std::string>& AllPlacementPolicyNames();
// Whether `name` is one of PlacementPolicyNames().
bool IsPlacementPolicyName(std::string_view name);
// "cuda, cpu, static, static-documented, auto, optimal or all": for messages.
std::string ExpectedPlacementPolicies();
// One line saying what the policy named `name` does; empty for an unknown name.
std::string_view PlacementPolicyDescription(std::string_view name);

// The policy named `name` with `options`. InvalidArgument "unknown placement policy 'x';
// expected ..." for an unknown name, or the policy's own message for options it refuses
// (fractions or ratios outside [0, 1], gpu_margin_mem_ratio > 0 with gpu_adam).
StatusOr<std::unique_ptr<PlacementPolicy>> MakePlacementPolicy(
    std::string_view name, const PlacementPolicyOptions& options = {});

}  // namespace twinsim::placement

#endif  // TWINSIM_POLICIES_PLACEMENT_REGISTRY_H_
