#include "policies/placement/registry.h"

#include <gtest/gtest.h>

namespace twinsim::placement {
namespace {

TEST(RegistryTest, EveryNameMakesThePolicyOfThatName) {
  for (const std::string& name : PlacementPolicyNames()) {
    StatusOr<std::unique_ptr<PlacementPolicy>> p = MakePlacementPolicy(name);
    ASSERT_TRUE(p.ok()) << name << ": " << p.status().message();
    EXPECT_FALSE(PlacementPolicyDescription(name).empty()) << name;
    EXPECT_TRUE(IsPlacementPolicyName(name));
  }
}

TEST(RegistryTest, AllIsEveryPolicyButStaticDocumentedInOrder) {
  EXPECT_EQ(AllPlacementPolicyNames(),
            (std::vector<std::string>{"cuda", "cpu", "static", "auto", "optimal"}));
  EXPECT_EQ(ExpectedPlacementPolicies(),
            "cuda, cpu, static, static-documented, auto, optimal, zero1, zero2, zero3, fsdp2, "
            "fsdp2-no-reshard, fsdp2-cpu-offload, megatron-distopt or all");
}

TEST(RegistryTest, UnknownNameIsInvalidArgumentListingTheNames) {
  StatusOr<std::unique_ptr<PlacementPolicy>> p = MakePlacementPolicy("gemini");
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().message(),
            "unknown placement policy 'gemini'; expected cuda, cpu, static, static-documented, "
            "auto, optimal, zero1, zero2, zero3, fsdp2, fsdp2-no-reshard, fsdp2-cpu-offload, "
            "megatron-distopt or all");
  EXPECT_FALSE(IsPlacementPolicyName("all"));
}

TEST(RegistryTest, OptionsReachThePolicy) {
  PlacementPolicyOptions o;
  o.fractions.offload_optim_frac = 2;  // outside [0, 1]
  EXPECT_FALSE(MakePlacementPolicy("static", o).ok());
  EXPECT_TRUE(MakePlacementPolicy("cuda", o).ok());
  PlacementPolicyOptions g;
  g.gpu_adam = true;
  g.auto_options.gpu_margin_mem_ratio = 0.5;  // refused with gpu_adam
  EXPECT_FALSE(MakePlacementPolicy("auto", g).ok());
  // static-documented keeps HybridAdam under gpu_adam, so it is made.
  EXPECT_TRUE(MakePlacementPolicy("static-documented", g).ok());
  EXPECT_NE(MakePlacementPolicy("cpu", g).value()->Name(),
            MakePlacementPolicy("cpu").value()->Name());
  // The fsdp2 names set their variant over the options' other fields.
  EXPECT_EQ(MakePlacementPolicy("fsdp2-no-reshard").value()->Name(), "fsdp2-no-reshard");
  EXPECT_EQ(MakePlacementPolicy("fsdp2-cpu-offload").value()->Name(), "fsdp2-cpu-offload");
  PlacementPolicyOptions f;
  f.fsdp2.param_dtype_bytes = 3;
  EXPECT_FALSE(MakePlacementPolicy("fsdp2", f).ok());
  f.megatron_distopt.bucket_size = 0;
  EXPECT_FALSE(MakePlacementPolicy("megatron-distopt", f).ok());
}

}  // namespace
}  // namespace twinsim::placement
