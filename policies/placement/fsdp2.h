// fsdp2: PyTorch's fully_shard (FSDP2) as torchtitan applies it to a decoder, accounted op by
// op over one rank's training step (workload.h): sharded fp32 parameters, gradients and Adam
// state, the unsharded param_dtype copy of each FSDP unit while it computes, the all-gather and
// reduce-scatter buffers FSDP2 keeps in flight, and CPUOffloadPolicy (Note [FSDP2 step]).
//
// Accounting only, as placement.h's policies: no bytes, no time. The result has no whole-unit
// placement (initial_location is empty), so `place --backend host` does not replay it.
#ifndef TWINSIM_POLICIES_PLACEMENT_FSDP2_H_
#define TWINSIM_POLICIES_PLACEMENT_FSDP2_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"
#include "policies/placement/placement.h"
#include "policies/placement/workload.h"

namespace twinsim::placement {

// Note [FSDP2 step]
// ~~~~~~~~~~~~~~~~~
// Sources: pytorch/pytorch torch/distributed/fsdp/_fully_shard/ (_fsdp_param_group.py read at
// 002a76fb, _fsdp_param.py at 010ae4a8; read through the library's read_file, which gives no
// line numbers, so functions are cited) and pytorch/torchtitan @b5bcd76c.
// Units (torchtitan/distributed/fsdp.py:168-368, apply_fsdp_to_decoder): one FSDP unit per
// transformer block; tok_embeddings its own unit; [norm, lm_head] one unit with
// reshard_after_forward only under the "always" policy (:258-265, "do not reshard_after_forward
// the last layers by default since FSDP would prefetch them immediately"); with tied weights
// one unit of [tok_embeddings, norm, lm_head], also resharded only under "always" (:238-250);
// fully_shard(model) last, the root, which holds no parameters of a Llama decoder.
// reshard_after_forward (fsdp.py:112-136, get_fsdp_reshard_after_forward_policy): "always"
// true, "never" false, "default" not pp_enabled. MixedPrecisionPolicy (fsdp.py:223-227):
// param_dtype and reduce_dtype from config/configs.py:94-106, bfloat16 and float32.
// Per unit u of E_u elements over d = Workload::dp_shards ranks (the layout's shard group:
// dp_shard, or dp_shard x cp under torchtitan's mesh; the dp_replicate replicas of HSDP hold the
// same shards and all-reduce the reduce-scatter output; tensors are the TP-local shards, so TP
// composes by shrinking E_u), with s_u = sum over its tensors of ceil(numel / d):
//   sharded parameter   4 s_u (fp32, orig dtype), always resident (host with CPU offload)
//   sharded gradient    4 s_u, from the unit's reduce-scatter on (torch's zero_grad sets grads
//                       to None, so a step starts with none)
//   Adam m, v           8 s_u
//   unsharded params    p * d * s_u (FSDPParam.init_all_gather_outputs: numel * world_size per
//                       parameter; the unsharded parameter is a view of it, init_unsharded_param)
//   all-gather output   p * d * s_u (foreach_all_gather's one buffer, copied out per parameter)
//   unsharded grads     p * E_u (autograd's grads of the unsharded parameters)
//   reduce-scatter in   r * d * s_u, and its output r * s_u
//   all-gather inputs   p * s_u when d > 1 and the shard must be cast (p != 4) or copied from
//                       the host: foreach_all_gather copies them into the output
// with p, r the param and reduce dtypes' bytes. In flight (FSDPParamGroup):
// - forward (wait_for_unshard, [Note: Overlapping all-gather copy-in and all-gather]): a unit's
//   all-gather output is kept in comm_ctx.all_gather_state until the next unit's
//   wait_for_unshard, so the next all-gather is issued beside it; that wait frees it before the
//   copy-out. While u computes: its unsharded params and its all-gather output. Moments before
//   an op's compute (gathers, copy-outs, prefetches, post_backward) do not count its transient.
// - backward (pre_backward, _backward_prefetch): u's all-gather output is freed right after its
//   copy-out; then the next unit in reverse post-forward order is all-gathered (its output held
//   until its own pre_backward). post_backward reshards u, waits for (frees) the previous
//   reduce_scatter_state, and runs foreach_reduce, whose input is kept as the new
//   reduce_scatter_state; finalize_backward ends the last.
// - CPUOffloadPolicy (FSDPParam.all_gather_inputs): the fp32 shard is copied to the GPU
//   (sharded_param_data.to(device)) and cast to p before the all-gather; the sharded gradient
//   goes back to the host (grad_offload_event); the optimizer steps on the CPU.
// Not modelled: dim-0 padding (FSDP2 pads dim 0 to a multiple of d; twinsim pads numel),
// the caching allocator's per-stream pools (freed bytes count as free at once), foreach or
// fused Adam temporaries, the root's buffers, one FSDP unit per MoE expert mesh, and gradient
// accumulation: with several microbatches (and under pipelining) FSDP2 skips the
// reduce-scatter of all but the last and keeps unsharded accumulated gradients
// (FSDPParam.to_accumulated_grad_if_needed, in reduce dtype); the step here reduces every unit
// once, as with one microbatch.
struct Fsdp2Options {
  // torchtitan's fsdp_reshard_after_forward (config/configs.py:145).
  enum class Reshard : uint8_t { kDefault = 0, kAlways, kNever };
  Reshard reshard_after_forward = Reshard::kDefault;
  int param_dtype_bytes = 2;   // MixedPrecisionPolicy.param_dtype: bfloat16
  int reduce_dtype_bytes = 4;  // MixedPrecisionPolicy.reduce_dtype: float32
  bool cpu_offload = false;    // CPUOffloadPolicy (torchtitan's enable_cpu_offload)
};

// One FSDP unit of the rank's step (Note [FSDP2 step]).
struct Fsdp2Unit {
  std::string name;          // "tok_embeddings", "layers.3", "norm+lm_head", "tied"
  std::vector<int> tensors;  // indices into Workload::tensor_elements
  uint64_t elements = 0;     // E_u
  uint64_t shard_elements = 0;  // s_u
  bool reshard_after_forward = true;
};
// The units in forward order, and per op of the step the unit it computes with (-1: Adam).
struct Fsdp2Plan {
  std::vector<Fsdp2Unit> units;
  std::vector<int> op_unit;
  uint64_t shard_elements = 0;  // over all the rank's tensors
};
Fsdp2Plan PlanFsdp2(const Workload& workload, const Fsdp2Options& options);

// InvalidArgument for dtype bytes other than 2 or 4.
StatusOr<std::unique_ptr<PlacementPolicy>> MakeFsdp2Policy(const Fsdp2Options& options = {});

}  // namespace twinsim::placement

#endif  // TWINSIM_POLICIES_PLACEMENT_FSDP2_H_
