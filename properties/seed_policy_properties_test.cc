// Every seed policy against every init property, over random models, TP x PP x DP layouts,
// seeds and init devices (properties/generators.h):
//   - a property the policy claims holds on at least 1,000 random cases where the claim applies;
//   - a property it does not claim (or claims only under a condition) is refuted: RapidCheck
//     finds a case by itself and shrinks it, and the test prints the shrunk counterexample.
// Nothing here lists the frameworks' weaknesses: the test knows only each policy's claims.
// Replay a run with RC_PARAMS="seed=N" (the seed is printed at start).
#include <gtest/gtest.h>
#include <rapidcheck.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "core/parallel_layout.h"
#include "policies/seed/policy.h"
#include "properties/generators.h"
#include "properties/init_check.h"

namespace twinsim::policies::seed {
// Counterexamples print the init device by name.
void showValue(InitDevice device, std::ostream& os) { os << InitDeviceName(device); }
}  // namespace twinsim::policies::seed

namespace twinsim::properties {
namespace {

using policies::seed::MakePolicy;
using policies::seed::PolicyNames;
using policies::seed::PropertyName;

// Random cases a claim must hold on: 1,000, or TWINSIM_PROPERTY_CASES when set (CI's
// sanitizer run sets 200 in .bazelrc: the sanitizers look for memory errors, which do not
// need as many layouts, and a case costs ~3x there). Refutations always search up to 1,000.
constexpr int kCasesPerClaimDefault = 1000;
constexpr int kRefutationSearch = 1000;

int CasesPerClaim() {
  static const int cases = [] {
    const char* text = std::getenv("TWINSIM_PROPERTY_CASES");
    const int n = text == nullptr ? 0 : std::atoi(text);
    return n > 0 ? n : kCasesPerClaimDefault;
  }();
  return cases;
}

// Cases of the current search whose layout fell outside the claim's condition.
int g_outside_condition = 0;

uint64_t RcSeed() { return rc::detail::configuration().testParams.seed; }

// The tight budget init-fits is checked under: what the largest rank's own shards need, plus
// half again and 64 KiB for generator states and staging. A policy that materializes more than
// its shards (a full master weight, a whole-model checkpoint) does not fit.
uint64_t TightBudget(const core::ParallelLayout& layout) {
  uint64_t most = 0;
  for (int r = 0; r < layout.world_size(); ++r) {
    uint64_t bytes = 0;
    for (const core::OwnedShard& o : layout.OwnedBy(r)) {
      const core::ParamSpec& spec = layout.model().params[o.param];
      bytes += static_cast<uint64_t>(o.shard.PaddedNumel(spec.shape)) * core::DTypeSize(spec.dtype);
    }
    most = std::max(most, bytes);
  }
  return most + most / 2 + (64 << 10);
}

// One random case: checks `property` of `policy`; RC_PRE on the claim's condition when
// `only_where_claimed`. Fails (RC_FAIL) with the counterexample when the property fails.
void CheckOneCase(const policies::seed::SeedPolicy& policy, Property property,
                  bool only_where_claimed) {
  const core::ModelSpec model = *GenModel();
  const core::LayoutConfig config = *GenLayoutAllAxes(model);
  const uint64_t seed = *GenSeed();
  std::vector<InitDevice> devices;
  for (InitDevice d : {InitDevice::kCuda, InitDevice::kCpu}) {
    if (policy.Supports(d)) devices.push_back(d);
  }
  const InitDevice device = *rc::gen::elementOf(devices);
  StatusOr<core::ParallelLayout> generated = core::ParallelLayout::Make(config, model);
  RC_ASSERT(generated.ok());
  // The framework's own layout and seed (LayoutFor, SeedPolicy::CheckSeed): a case its code
  // rejects (Megatron's seed 0, ColossalAI legacy's indivisible vocabulary) is no case at all.
  RC_PRE(policy.CheckSeed(seed).ok());
  StatusOr<core::ParallelLayout> layout = policies::seed::LayoutFor(policy, *generated);
  RC_PRE(layout.ok());
  if (const policies::seed::Claim* claim = policy.FindClaim(property);
      claim != nullptr && !claim->AppliesTo(*layout, device)) {
    ++g_outside_condition;
  }
  if (only_where_claimed) {
    const policies::seed::Claim* claim = policy.FindClaim(property);
    const bool applies = claim != nullptr && claim->AppliesTo(*layout, device);
    RC_PRE(applies);
  }
  InitRunOptions options;
  options.seed = seed;
  options.init_device = device;
  if (property == Property::kInitFits) {
    options.device_capacity = options.host_capacity = TightBudget(*layout);
  }
  StatusOr<PolicyCheck> check = CheckPolicy(policy, *layout, options, {property});
  if (!check.ok()) RC_FAIL("harness error: " + check.status().message());
  const PropertyResult& result = check->rows.at(0).result;
  RC_TAG(std::string(InitDeviceName(device)));
  if (result.verdict == Verdict::kFails) {
    RC_FAIL(std::string(PropertyName(property)) + " fails (init on " +
            std::string(InitDeviceName(device)) + ", seed " + std::to_string(seed) +
            "): " + result.detail);
  }
}

// Note [Refuted outside the generators' range]
// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
// zero-init holds one module's parameters at full size beside the rank's shards; the
// generators' models are small enough that this exceeds TightBudget's 64 KiB of slack only
// rarely (one seed refuted it after 193 cases, another found nothing in 1,000), so a run may
// not refute init-fits by itself. The pinned test runs the same check on a model whose
// embedding is large enough. Likewise replica outside "etp == tp": it breaks only for CPU init
// on MoE models with uneven expert shards at etp != tp, about one case in several hundred
// (found after 73 and 302 cases in two runs, not in 1,000 in a third). Only properties that are
// unclaimed, or claimed under a condition, may be listed here.
struct OutsideRange {
  const char* policy;
  Property property;
  const char* pinned_test;
};
constexpr OutsideRange kRefutedOutsideRange[] = {
    {"zero-init", Property::kInitFits,
     "SeedUpstreamFacts.ZeroInitRunsOutOfMemoryOnAFullEmbedding (seed_upstream_facts_test)"},
    {"torch-serial", Property::kReplica,
     "SeedUpstreamFacts.ReplicasDivergeWhenExpertShardsAreUneven (seed_upstream_facts_test)"},
    {"torch-parallel", Property::kReplica,
     "SeedUpstreamFacts.ReplicasDivergeWhenExpertShardsAreUneven (seed_upstream_facts_test)"},
    {"shard-local", Property::kReplica,
     "SeedUpstreamFacts.ReplicasDivergeWhenExpertShardsAreUneven (seed_upstream_facts_test)"},
    {"colossal-legacy+cpu-init", Property::kReplica,
     "SeedUpstreamFacts.ReplicasDivergeWhenExpertShardsAreUneven (seed_upstream_facts_test)"},
};

struct Combo {
  std::string policy;
  Property property;
};

std::vector<Combo> AllCombos() {
  std::vector<Combo> combos;
  for (const std::string& name : PolicyNames()) {
    for (Property p : policies::seed::AllProperties()) combos.push_back({name, p});
  }
  return combos;
}

class SeedPolicyPropertyTest : public ::testing::TestWithParam<Combo> {};

TEST_P(SeedPolicyPropertyTest, ClaimHoldsOrUnclaimedIsRefuted) {
  const Combo& combo = GetParam();
  std::unique_ptr<policies::seed::SeedPolicy> policy = std::move(MakePolicy(combo.policy)).value();
  const policies::seed::Claim* claim = policy->FindClaim(combo.property);
  const std::string what = combo.policy + " / " + std::string(PropertyName(combo.property));

  rc::detail::TestParams params = rc::detail::configuration().testParams;
  rc::detail::TestMetadata metadata{what, what};
  if (claim != nullptr) {
    // The claim holds wherever it applies, on at least CasesPerClaim() cases.
    params.maxSuccess = std::max(params.maxSuccess, CasesPerClaim());
    params.maxDiscardRatio = 100;
    const rc::detail::TestResult result = rc::detail::checkProperty(
        rc::detail::toProperty([&] { CheckOneCase(*policy, combo.property, true); }), metadata,
        params);
    rc::detail::SuccessResult success;
    std::ostringstream message;
    rc::detail::printResultMessage(result, message);
    ASSERT_TRUE(result.match(success)) << what << " (claimed"
                                       << (claim->condition.empty() ? "" : " when " + claim->condition)
                                       << ") did not hold:\n" << message.str();
    EXPECT_GE(success.numSuccess, CasesPerClaim());
    std::printf("%s: claimed%s; holds on %d random cases (RC seed %llu)\n", what.c_str(),
                claim->condition.empty() ? "" : (" when " + claim->condition).c_str(),
                success.numSuccess, static_cast<unsigned long long>(RcSeed()));
    if (claim->condition.empty()) return;
  }
  // Not claimed, or claimed only under a condition: without the condition, RapidCheck must
  // find a counterexample by itself and shrink it.
  params.maxSuccess = std::max(params.maxSuccess, kRefutationSearch);
  g_outside_condition = 0;
  const rc::detail::TestResult result = rc::detail::checkProperty(
      rc::detail::toProperty([&] { CheckOneCase(*policy, combo.property, false); }), metadata,
      params);
  rc::detail::FailureResult failure;
  if (claim != nullptr && g_outside_condition == 0 && result.is<rc::detail::SuccessResult>()) {
    // The generators never left the condition (megatron's seeds collide only at tp >= 83 or
    // pp >= 29): nothing to refute in this range. A plain test covers the case outside it.
    std::printf("%s: claimed when %s; the condition held on every generated case, so the "
                "refutation is a separate test\n",
                what.c_str(), claim->condition.c_str());
    return;
  }
  if (result.is<rc::detail::SuccessResult>()) {
    // Some weaknesses need tensors larger than the generators make, or are rare in their range
    // (Note [Refuted outside the generators' range]); a pinned plain test shows each of them.
    for (const OutsideRange& o : kRefutedOutsideRange) {
      if (combo.policy == o.policy && combo.property == o.property) {
        std::printf("%s: %s; not refuted in this run's cases; refuted by %s\n", what.c_str(),
                    claim ? ("claimed only when " + claim->condition).c_str() : "not claimed",
                    o.pinned_test);
        return;
      }
    }
  }
  ASSERT_TRUE(result.match(failure))
      << what << ": expected a counterexample (the property is not claimed"
      << (claim ? " unconditionally" : "") << "), but none was found in " << params.maxSuccess
      << " cases";
  EXPECT_NE(failure.description.find(std::string(PropertyName(combo.property)) + " fails"),
            std::string::npos)
      << failure.description;
  std::string example;
  for (const auto& [type, value] : failure.counterExample) example += "    " + value + "\n";
  std::printf("%s: %s; refuted after %d cases, shrunk to:\n%s    -> %s\n", what.c_str(),
              claim ? ("claimed only when " + claim->condition).c_str() : "not claimed",
              failure.numSuccess, example.c_str(), failure.description.c_str());
}

INSTANTIATE_TEST_SUITE_P(
    AllPolicies, SeedPolicyPropertyTest, ::testing::ValuesIn(AllCombos()),
    [](const ::testing::TestParamInfo<Combo>& info) {
      std::string name = info.param.policy + "_" + std::string(PropertyName(info.param.property));
      for (char& c : name) {
        if (c == '-' || c == '+' || c == '@' || c == '.') c = '_';  // dtensor@2.5: dtensor_2_5
      }
      return name;
    });

}  // namespace
}  // namespace twinsim::properties
