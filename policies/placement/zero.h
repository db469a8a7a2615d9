// DeepSpeed ZeRO stages 1, 2 and 3 as placement policies over one rank's step (workload.h):
// where the rank's bf16/fp16 parameters, gradients, fp32 master copy and Adam moments live,
// which buffers DeepSpeed allocates for its reductions and gathers, and what crosses PCIe with
// offload_optimizer / offload_param = cpu. The model of DeepSpeed's code at edaa72212
// (Note [ZeRO placement]); accounting like the chunk policies (placement.h), an OOM a result.
#ifndef TWINSIM_POLICIES_PLACEMENT_ZERO_H_
#define TWINSIM_POLICIES_PLACEMENT_ZERO_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "core/provenance.h"
#include "core/status.h"
#include "policies/placement/placement.h"
#include "policies/placement/workload.h"

namespace twinsim::placement {

// Note [ZeRO placement]
// ~~~~~~~~~~~~~~~~~~~~~
// DeepSpeed at edaa7221267243c7be7fb49c5d5f5c4fb97b4641 (2026-08-22), files under
// deepspeed/runtime/zero/ unless named. P: the rank's parameter elements (its TP shard of its
// pipeline stage, each tensor once), N: the ZeRO data-parallel group. twinsim takes N = the
// layout's dp = dp_replicate x dp_shard: DeepSpeed partitions over its whole DP process group
// (no HSDP split unless MiCS / hpZ, which are not modelled), so dp_shard and dp_replicate only
// matter through their product; cp ranks are outside the group (Megatron's convention; not
// DeepSpeed-Ulysses' sequence-data-parallel group). 16-bit parameters and gradients are 2 bytes.
// Stages 1 and 2 (stage_1_and_2.py, DeepSpeedZeroOptimizer):
// - The flat 16-bit group is padded to a multiple of nccl_start_alignment_factor (2) x N
//   (:347, :391-393) and split into N equal partitions: part = ceil(P / 2N) * 2N / N. Every rank
//   keeps the whole 16-bit parameters (2P, bit16_groups_flat) and its partition's fp32 master,
//   Adam m and v (12 part) on the GPU, or on the host with offload_optimizer (the device is 'cpu',
//   :238).
// - Backward: setup_buckets (:2493-2516) allocates the IPG bucket, reduce_bucket_size elements
//   of the 16-bit dtype, when contiguous_gradients (default True, config.py:102; forced on with
//   offload, :260), and a second one with overlap_comm (default: only for stage 3,
//   config.py:383-386); they are released after backward (_release_ipg_buffers, :828-835, from
//   independent_gradient_partition_epilogue :960). Each op's autograd gradients (2 x its
//   elements) exist while it runs. Stage 2 copies them into the bucket and reduces a full
//   bucket before the next gradients go in (:1201-1204); a reduction copies the partition's
//   gradients into grads_in_partition (2 part, allocated at the first, copy_grads_in_partition
//   :1650-1690) and clears the others (reduce_ipg_grads :1742-1756). Stage 1 reduces nothing
//   during backward (process_gradients :1758-1765 reduces only with partition_gradients or
//   overlap_comm): the whole 16-bit gradients, 2P, are held when backward ends, and
//   reduce_gradients (:861-884) then allocates grads_in_partition beside them before the
//   others become views of the bucket (:1229-1235).
// - step (:2279-2400), no offload: the gradients outside the partition are freed
//   (:2346), the partition's are flattened (a 16-bit copy, 2 part: flat_partition is never set,
//   :2198-2203) and cast to fp32 (4 part, :2361), then the 16-bit ones and the copy are freed;
//   after Adam the fp32 gradient is dropped (:2382) and all_gather_dp_groups refills the flat
//   16-bit group in place (runtime/utils.py:1016-1019, all_gather_into_tensor). So the step's
//   peak holds 2P + 12 part + 2 part + 2 part + 4 part.
// - offload_optimizer=cpu: the fp32 gradient partition (4 part, initialize_optimizer_states
//   :837-850) and a 16-bit partition buffer (2 part, :495-507) are on the host, plus a GPU
//   temp_grad_buffer_for_gpu_offload of the largest parameter's elements (:585-595, kept for the
//   run). The partition's gradients go D2H in backward, Adam runs on the CPU (DeepSpeedCPUAdam,
//   :291-302), and the updated 16-bit partition goes H2D (:2338-2341) before the all-gather.
// Stage 3 (stage3.py DeepSpeedZeroOptimizer_Stage3; parameter_offload.py;
// partitioned_param_coordinator.py; partition_parameters.py):
// - Every parameter is partitioned on its own: ceil(numel / N) elements (_aligned_size /
//   _padding_size, partition_parameters.py:1662-1668; _partition_param :1788-1789), so a rank
//   holds 2 x sum ceil(numel / N) of 16-bit partitions (on the host with offload_param) and
//   12 x that of fp32 master, m and v (host with offload_optimizer). A parameter of at most
//   param_persistence_threshold elements (1e5, config.py:221) is persistent
//   (mark_persistent_parameters, parameter_offload.py:311-329): gathered once, never released.
// - Gradients: grad_partitions_flat_buffer, one partition per parameter in
//   gradient_accumulation_dtype (fp32: the constructor default, stage3.py:189), on the GPU or
//   with offload_optimizer the host (_setup_for_real_optimizer :741-746); the IPG bucket,
//   reduce_bucket_size elements, allocated once for the run (:731-735).
// - Gathers (PartitionedParameterCoordinator._fetch_sub_module_impl, :353-490): before an op its
//   parameters are all-gathered whole (2 x numel each); with a complete trace (every step after
//   the first: the one twinsim reports), the parameters of the next ops in trace order are
//   prefetched while fewer than min(max_live_parameters - available, prefetch_bucket_size)
//   elements are in flight (:452-476; defaults 1e9 and 5e7, config.py:238, :215). After an op
//   (release_sub_module :494-536, __params_to_release :634-665) its parameters are released
//   unless persistent, prefetched for a later use, or used again within max_reuse_distance
//   elements of the ops that follow (1e9, config.py:244). With offload_param a gather first
//   copies the partition H2D. prefetch_bucket_size bounds each fetch's new prefetches, not
//   what is in flight: every fetch adds up to that many more, so the prefetch runs ahead
//   until max_live_parameters are available (1e9 elements, 2 GB of 16-bit parameters, at the
//   defaults), and the last layers of the forward stay gathered into the backward (reuse).
// - step: per sub group (sub_group_size 1e9, config.py:175) the fp32 gradients are flattened
//   into a new fp32 tensor (_prepare_fp32_grad_for_sub_group :2398-2418), 4 x min(sub group,
//   partition) beside the state. With offload_optimizer, Adam runs on the CPU and the updated
//   16-bit partitions go H2D unless offload_param keeps them on the host.
// Granularity: twinsim's ops are layers (plus embed, head); DeepSpeed fetches and releases per
// submodule (each Linear, each norm), so the live parameters here are a layer's, and a gather
// sees the op's tensors at once. Activations are the workload's (Note [Activation memory]).
// Not modelled: loss-scaler and norm temporaries, NCCL's own buffers, the CUDA context,
// allocator fragmentation (unless --allocator caching, not applied to ZeRO), the first step's
// trace recording (no prefetch), nvme offload, MiCS/hpZ, ZeRO++ quantization.
// D2H and H2D bytes count 16-bit elements (a gradient is copied to the host's fp32 buffer with
// copy_, which twinsim assumes converts after the transfer).

// DeepSpeed's zero_optimization options twinsim models, with DeepSpeed's defaults
// (config.py, cited in Note [ZeRO placement]).
struct ZeroOptions {
  int stage = 1;                                  // 1, 2 or 3; the factory sets it from the name
  bool offload_optimizer = false;                 // offload_optimizer.device = "cpu"
  bool offload_param = false;                     // offload_param.device = "cpu" (stage 3 only)
  uint64_t reduce_bucket_size = 500000000;        // elements (config.py:113)
  uint64_t allgather_bucket_size = 500000000;     // elements (config.py:132); in place
  bool contiguous_gradients = true;               // (config.py:102)
  std::optional<bool> overlap_comm;               // none: stage == 3 (config.py:383-386)
  uint64_t prefetch_bucket_size = 50000000;       // stage3_prefetch_bucket_size (config.py:215)
  uint64_t max_live_parameters = 1000000000;      // stage3_max_live_parameters (config.py:238)
  uint64_t max_reuse_distance = 1000000000;       // stage3_max_reuse_distance (config.py:244)
  uint64_t param_persistence_threshold = 100000;  // stage3_... (config.py:221)
  uint64_t sub_group_size = 1000000000;           // (config.py:175)
};

// What a ZeRO rank holds for the whole run, in bytes: the model states of Note [ZeRO
// placement] without buffers, activations or the step's temporaries.
struct ZeroModelStates {
  uint64_t params_gpu = 0, params_host = 0;  // 16-bit parameters (partitions, persistent ones)
  uint64_t optimizer_gpu = 0, optimizer_host = 0;  // fp32 master, m, v
  uint64_t grads_gpu = 0, grads_host = 0;          // gradients held when backward ends
  uint64_t gpu() const { return params_gpu + optimizer_gpu + grads_gpu; }
};
// REQUIRES options.stage in 1..3.
ZeroModelStates ZeroModelStatesOf(const Workload& workload, const ZeroOptions& options);

// InvalidArgument for a stage outside 1..3, offload_param below stage 3, or a bucket size of 0
// (reduce_bucket_size with contiguous_gradients, prefetch_bucket_size may be 0).
StatusOr<std::unique_ptr<PlacementPolicy>> MakeZeroPolicy(const ZeroOptions& options);

}  // namespace twinsim::placement

#endif  // TWINSIM_POLICIES_PLACEMENT_ZERO_H_
