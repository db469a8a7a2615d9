// The fan arithmetic of the `shard-local` seed policy (Note [shard-local] in shard_local.cc):
// what a parameter's init becomes when its layer is built at the shard's size. Public so that
// tests can pin the numbers of Megatron-Bridge #5840 without running a policy.
#ifndef TWINSIM_POLICIES_SEED_SHARD_LOCAL_H_
#define TWINSIM_POLICIES_SEED_SHARD_LOCAL_H_

#include "core/block2d.h"
#include "core/init_spec.h"
#include "core/model_spec.h"

namespace twinsim::policies::seed {

// `spec.init` with fan_in (tp_dim 1) or fan_out (tp_dim 0) scaled to the real rows or columns
// of `block` (a TP shard in the [rows, cols] view of a 2-D weight stored [out, in]), for
// kaiming and xavier inits of TP-split 2-D parameters; spec.init unchanged otherwise. A fan is
// never below 1. Pure.
core::InitSpec ShardLocalInit(const core::ParamSpec& spec, const core::Block2D& block);

}  // namespace twinsim::policies::seed

#endif  // TWINSIM_POLICIES_SEED_SHARD_LOCAL_H_
