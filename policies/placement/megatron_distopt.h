// megatron-distopt: Megatron-LM's distributed optimizer (DistributedDataParallel with
// use_distributed_optimizer, DistributedOptimizer) accounted op by op over one rank's training
// step (workload.h): bf16 parameters and a contiguous gradient buffer, both whole on every
// data-parallel rank and padded as Megatron lays them out, and the fp32 main parameters and Adam
// moments of this rank's shard of every bucket (Note [Megatron distributed optimizer]).
//
// Accounting only: no bytes, no time, no host memory. The result has no whole-unit placement
// (initial_location is empty), so `place --backend host` does not replay it.
#ifndef TWINSIM_POLICIES_PLACEMENT_MEGATRON_DISTOPT_H_
#define TWINSIM_POLICIES_PLACEMENT_MEGATRON_DISTOPT_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "core/status.h"
#include "policies/placement/placement.h"
#include "policies/placement/workload.h"

namespace twinsim::placement {

// Note [Megatron distributed optimizer]
// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
// NVIDIA/Megatron-LM @d98e8a64, bf16 training:
// - Buffer layout (megatron/core/optimizer/distrib_optimizer.py:506-588,
//   _compute_per_buffer_param_layout): the rank's parameters in reverse order (backprop order),
//   each start aligned to 64 elements (optimizer/param_layout.py:24-26, pad_param_start); a
//   bucket closes once it holds >= bucket_size elements, and its end is padded to a multiple of
//   lcm(dp_cp, 128) (param_layout.py:29-42, pad_bucket_end; without
//   pad_buckets_for_high_nccl_busbw), so that every one of the dp_cp ranks owns an equal shard.
//   bucket_size (distributed/distributed_data_parallel.py:131-137): max(40e6, 1e6 x dp) elements
//   when overlap_grad_reduce, else one bucket (None); stages after the first do not bucket
//   (:160-171). The data-parallel group is dp x cp (intra_dp_cp_group, :208-214).
// - The bf16 parameters live in the param buffer and the gradients in the grad buffer, both of
//   that padded size, on every DP rank; the grad buffer is fp32 for bf16 training
//   (training/arguments.py:1204-1217: accumulate_allreduce_grads_in_fp32 is set unless
//   --grad-reduce-in-bf16). Reduce-scatter and the parameter all-gather work in place in the
//   buffers, so overlap_grad_reduce and overlap_param_gather add no memory.
// - Rank r of the dp_cp group (index dp x cp + cp) keeps, for each bucket, the parameter
//   elements of its 1/dp_cp slice: fp32 main parameters and Adam exp_avg, exp_avg_sq, 12 bytes
//   per element (the padding has none).
// So bytes per parameter are 2 + 4 + 12 / dp_cp, training/theoretical_memory_usage.py:293-296's
// 6 + 12 / d (which divides by data_parallel_size alone), plus the padding.
// Not modelled: gradient_accumulation_fusion off (a bf16 param.grad beside main_grad), the
// shared-embedding bucket split (:530-531, tied embeddings across pipeline stages),
// num_distributed_optimizer_instances > 1, expert buffers, optimizer CPU offload.
struct MegatronDistOptOptions {
  bool grad_reduce_in_fp32 = true;      // bf16 training's default (arguments.py:1204-1217)
  bool overlap_grad_reduce = false;     // DistributedDataParallelConfig's default (:18)
  std::optional<uint64_t> bucket_size;  // elements; none: Megatron's default above
};

// The padded buffer of the rank's parameters and its shard (Note [Megatron distributed
// optimizer]).
struct MegatronBufferLayout {
  int dp_cp = 1;                     // the distributed optimizer's group
  uint64_t bucket_size = 0;          // 0: one bucket
  std::vector<uint64_t> bucket_end;  // padded end of each bucket, ascending
  uint64_t numel = 0;                // the padded buffer's elements
  uint64_t numel_unpadded = 0;       // the parameters' elements
  uint64_t shard_param_elements = 0;  // this rank's slices' parameter elements
};
MegatronBufferLayout LayoutMegatronBuffer(const Workload& workload,
                                          const MegatronDistOptOptions& options);

// InvalidArgument for a bucket_size of 0.
StatusOr<std::unique_ptr<PlacementPolicy>> MakeMegatronDistOptPolicy(
    const MegatronDistOptOptions& options = {});

}  // namespace twinsim::placement

#endif  // TWINSIM_POLICIES_PLACEMENT_MEGATRON_DISTOPT_H_
