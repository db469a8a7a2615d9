// RapidCheck generators of placement steps, shared by the placement property tests
// (policies/placement/placement_property_test.cc, properties/placement_run_test.cc): small
// GPT-2 shaped models, TP x PP x DP layouts, chunk sizes, schedules, budgets and policies.
// Everything shrinks toward 1 layer, h = 4, one rank, one microbatch.
#ifndef TWINSIM_POLICIES_PLACEMENT_PLACEMENT_GENERATORS_H_
#define TWINSIM_POLICIES_PLACEMENT_PLACEMENT_GENERATORS_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "policies/placement/placement.h"
#include "policies/placement/workload.h"

namespace twinsim::placement {

// A valid small step: a GPT-2 shaped model, a layout, one of its ranks, chunks and a workload.
Workload GenWorkload();
// The largest op's units + transient; the largest transient; the largest unit.
uint64_t MaxOpDemand(const Workload& w);
uint64_t MaxTransient(const Workload& w);
uint64_t MaxUnit(const Workload& w);
// Budgets around the interesting thresholds: the GPU near the largest op's demand, the host
// near what the GPU cannot hold. Mostly feasible, sometimes just short.
MemoryBudget GenBudget(const Workload& w);
// twinsim's GPU-Adam variant of auto (placement.h Note [GPU-Adam variant]), with
// warmup/steady ratios from a few values: the policy no-oom and monotone hold for.
std::unique_ptr<PlacementPolicy> GenAuto();
// Gemini's auto as coded, with generated ratios and gpu_margin_mem_ratio.
std::unique_ptr<PlacementPolicy> GenGeminiAuto();
// cuda, cpu (Gemini's or the variant), two static policies with generated fractions (as
// coded, as documented or the variant), the variant auto and Gemini's auto.
std::vector<std::unique_ptr<PlacementPolicy>> GenPolicies();

}  // namespace twinsim::placement

#endif  // TWINSIM_POLICIES_PLACEMENT_PLACEMENT_GENERATORS_H_
