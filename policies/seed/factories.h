// Constructors of the eight seed policies; MakePolicy (policy.h) is the public way in.
// Internal to policies/seed.
#ifndef TWINSIM_POLICIES_SEED_FACTORIES_H_
#define TWINSIM_POLICIES_SEED_FACTORIES_H_

#include <memory>

#include "policies/seed/policy.h"

namespace twinsim::policies::seed {

std::unique_ptr<SeedPolicy> NewTorchSerialPolicy();    // torch_policies.cc
std::unique_ptr<SeedPolicy> NewTorchParallelPolicy();  // torch_policies.cc
std::unique_ptr<SeedPolicy> NewDTensorPolicy();        // torch_policies.cc
std::unique_ptr<SeedPolicy> NewDTensor25Policy();      // torch_policies.cc (dtensor@2.5)
std::unique_ptr<SeedPolicy> NewMegatronPolicy();       // megatron.cc
std::unique_ptr<SeedPolicy> NewMegatronCpuPolicy();    // megatron.cc
std::unique_ptr<SeedPolicy> NewMegatronDpRandomInitPolicy();  // megatron.cc
std::unique_ptr<SeedPolicy> NewColossalLegacyPolicy(); // colossal.cc
std::unique_ptr<SeedPolicy> NewColossalLegacyCpuInitPolicy();  // colossal.cc
std::unique_ptr<SeedPolicy> NewColossalPolicy();       // colossal.cc
std::unique_ptr<SeedPolicy> NewSeedCheckpointPolicy(); // seed_checkpoint.cc
std::unique_ptr<SeedPolicy> NewZeroInitPolicy();       // zero_init.cc
std::unique_ptr<SeedPolicy> NewCounterPolicy();        // counter.cc
std::unique_ptr<SeedPolicy> NewShardLocalPolicy();     // shard_local.cc

}  // namespace twinsim::policies::seed

#endif  // TWINSIM_POLICIES_SEED_FACTORIES_H_
