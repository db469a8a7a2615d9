#include "policies/placement/fsdp2.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <set>
#include <utility>

namespace twinsim::placement {
namespace {

uint64_t CeilDiv(uint64_t a, uint64_t b) { return (a + b - 1) / b; }

// GPU bytes at one moment of an op, by what they are for (PeakBreakdown's parts).
struct Moment {
  uint64_t params = 0, grads = 0, optimizer = 0, activations = 0, buffers = 0, other = 0;
  uint64_t total() const { return params + grads + optimizer + activations + buffers + other; }
};

class Fsdp2Policy : public PlacementPolicy {
 public:
  explicit Fsdp2Policy(Fsdp2Options options) : o_(options) {}

  std::string Name() const override {
    std::string name = "fsdp2";
    if (o_.reshard_after_forward == Fsdp2Options::Reshard::kAlways) name += "-always-reshard";
    if (o_.reshard_after_forward == Fsdp2Options::Reshard::kNever) name += "-no-reshard";
    if (o_.cpu_offload) name += "-cpu-offload";
    if (o_.param_dtype_bytes != 2 || o_.reduce_dtype_bytes != 4) {
      name += fmt::format("(param {} B, reduce {} B)", o_.param_dtype_bytes, o_.reduce_dtype_bytes);
    }
    return name;
  }

  core::Provenance provenance() const override {
    core::Provenance p;
    const std::string tt = "pytorch/torchtitan", tc = "b5bcd76c";
    const std::string pt = "pytorch/pytorch";
    p.sources = {
        {tt, tc, "torchtitan/distributed/fsdp.py", "apply_fsdp_to_decoder", 168, 368,
         "one FSDP unit per transformer block, tok_embeddings alone, [norm, lm_head] (or the tied "
         "three) resharded after forward only under 'always', then the root"},
        {tt, tc, "torchtitan/distributed/fsdp.py", "get_fsdp_reshard_after_forward_policy", 112,
         136, "'default' reshards after forward unless pipeline parallelism is on"},
        {tt, tc, "torchtitan/config/configs.py", "TrainingConfig", 94, 106,
         "param dtype bfloat16, reduce dtype float32"},
        {pt, "002a76fb", "torch/distributed/fsdp/_fully_shard/_fsdp_param_group.py",
         "FSDPParamGroup.wait_for_unshard", 0, 0,
         "in forward a unit's all-gather output is held until the next unit's wait_for_unshard; "
         "in backward it is freed after the copy-out"},
        {pt, "002a76fb", "torch/distributed/fsdp/_fully_shard/_fsdp_param_group.py",
         "FSDPParamGroup._backward_prefetch", 0, 0,
         "backward prefetches the previous unit in post-forward order"},
        {pt, "002a76fb", "torch/distributed/fsdp/_fully_shard/_fsdp_param_group.py",
         "FSDPParamGroup.post_backward", 0, 0,
         "reshard, free the previous reduce-scatter input, reduce-scatter this unit's grads in "
         "reduce dtype and hold its input"},
        {pt, "010ae4a8", "torch/distributed/fsdp/_fully_shard/_fsdp_param.py",
         "FSDPParam.init_all_gather_outputs", 0, 0,
         "the unsharded parameter is a view of a numel x world_size all-gather output"},
        {pt, "010ae4a8", "torch/distributed/fsdp/_fully_shard/_fsdp_param.py",
         "FSDPParam.all_gather_inputs", 0, 0,
         "with CPU offload the fp32 shard is copied to the GPU and cast to param dtype"},
    };
    p.deviations = {
        "dim-0 padding to a multiple of the shard count is approximated by padding numel",
        "freed bytes are free at once: the caching allocator's per-stream pools are not modelled",
        "pytorch/pytorch was read through a file reader without line numbers: functions cited",
    };
    return p;
  }

  PlacementResult Run(const Workload& w, const MemoryBudget& budget) const override;

 private:
  Fsdp2Options o_;
};

PlacementResult Fsdp2Policy::Run(const Workload& w, const MemoryBudget& budget) const {
  PlacementResult r;
  r.policy = Name();
  const Fsdp2Plan plan = PlanFsdp2(w, o_);
  const uint64_t d = static_cast<uint64_t>(std::max(1, w.dp_shards));
  const uint64_t pb = o_.param_dtype_bytes, rb = o_.reduce_dtype_bytes;
  const size_t n = plan.units.size();
  std::vector<uint64_t> unsharded(n), ag(n), grad(n), rs(n), rso(n), staging(n), shard_grad(n);
  for (size_t u = 0; u < n; ++u) {
    const uint64_t s = plan.units[u].shard_elements;
    unsharded[u] = pb * d * s;
    ag[u] = d > 1 ? pb * d * s : 0;
    grad[u] = pb * plan.units[u].elements;
    rs[u] = rb * d * s;
    rso[u] = rb * s;
    // The all-gather inputs, copied into the output: the shard cast to param dtype (with
    // offload, from its fp32 copy on the GPU, freed before the output is allocated). None when
    // the sharded parameter itself is the input, or without an all-gather (d = 1).
    staging[u] = d > 1 && (pb != 4 || o_.cpu_offload) ? pb * s : 0;
    shard_grad[u] = 4 * s;
  }
  const uint64_t params_sharded = 4 * plan.shard_elements;
  const uint64_t optim = 8 * plan.shard_elements;
  // State. gpu_resident: the sharded state on the GPU (none with CPU offload).
  const uint64_t gpu_params = o_.cpu_offload ? 0 : params_sharded;
  const uint64_t gpu_optim = o_.cpu_offload ? 0 : optim;
  uint64_t grads_done = 0;  // sharded grads reduced so far (GPU, or host with offload)
  std::vector<bool> is_unsharded(n, false), grad_live(n, false);
  uint64_t live_unsharded = 0, live_grads = 0;
  uint64_t held_fwd_ag = 0;  // comm_ctx.all_gather_state
  int prefetched = -1;       // the unit whose all-gather output the backward prefetch holds
  uint64_t held_rs = 0;      // comm_ctx.reduce_scatter_state
  uint64_t host = o_.cpu_offload ? params_sharded + optim : 0;
  r.peak_host_bytes = host;
  if (host > budget.host_bytes) {
    PlacementOom oom;
    oom.op_name = "initial placement";
    oom.device = "host";
    oom.requested = host;
    oom.available = budget.host_bytes;
    oom.shortfall = host - budget.host_bytes;
    oom.message = fmt::format("the sharded fp32 parameters and Adam state need {} B of host, {} B",
                              host, budget.host_bytes);
    r.oom = oom;
    return r;
  }
  // The last op of each phase that uses each unit.
  std::vector<int> last_bwd(n, -1), first_bwd(n, -1);
  int last_fwd_op = -1, last_bwd_op = -1;
  for (int i = 0; i < static_cast<int>(w.ops.size()); ++i) {
    const int u = plan.op_unit[i];
    if (w.ops[i].phase == OpPhase::kForward) last_fwd_op = i;
    if (w.ops[i].phase == OpPhase::kBackward) last_bwd_op = i;
    if (u < 0 || w.ops[i].phase != OpPhase::kBackward) continue;
    if (first_bwd[u] < 0) first_bwd[u] = i;
    last_bwd[u] = i;
  }
  r.fits = true;
  for (int i = 0; i < static_cast<int>(w.ops.size()); ++i) {
    const Op& op = w.ops[i];
    const int u = plan.op_unit[i];
    Moment base;
    base.params = gpu_params;
    base.optimizer = gpu_optim;
    base.grads = (o_.cpu_offload ? 0 : grads_done);
    base.other = op.transient_bytes();
    base.activations = op.non_model_bytes - base.other;
    Moment best = base;
    // A moment of the op: before its compute (`transient` false: the op's temporaries are not
    // yet allocated) or during it.
    auto consider = [&](uint64_t params, uint64_t grads, uint64_t buffers, bool transient) {
      Moment m = base;
      if (!transient) m.other = 0;
      m.params += params;
      m.grads += grads;
      m.buffers += buffers;
      if (m.total() > best.total()) best = m;
    };
    bool on_cpu = false;
    if (op.phase == OpPhase::kForward && u >= 0) {
      if (!is_unsharded[u]) {
        // The all-gather is issued beside the previous unit's held output; the copy-out comes
        // after that output is freed.
        consider(live_unsharded, 0, held_fwd_ag + ag[u] + staging[u], false);
        consider(live_unsharded + unsharded[u], 0, ag[u], false);
        is_unsharded[u] = true;
        live_unsharded += unsharded[u];
        held_fwd_ag = ag[u];
        if (o_.cpu_offload) r.h2d_bytes += 4 * plan.units[u].shard_elements;
      }
      consider(live_unsharded, 0, held_fwd_ag, true);
      if (plan.units[u].reshard_after_forward) {
        is_unsharded[u] = false;
        live_unsharded -= unsharded[u];
      }
      if (i == last_fwd_op) held_fwd_ag = 0;  // the root flushes all_gather_state
    } else if (op.phase == OpPhase::kBackward && u >= 0) {
      if (!is_unsharded[u]) {
        // Gathered now, or by the previous backward op's prefetch (its H2D counted there).
        const bool was_prefetched = prefetched == u;
        if (was_prefetched) prefetched = -1;
        consider(live_unsharded, live_grads, ag[u] + (was_prefetched ? 0 : staging[u]) + held_rs,
                 false);
        consider(live_unsharded + unsharded[u], live_grads, ag[u] + held_rs, false);
        is_unsharded[u] = true;
        live_unsharded += unsharded[u];
        if (o_.cpu_offload && !was_prefetched) r.h2d_bytes += 4 * plan.units[u].shard_elements;
      }
      // Prefetch the unit of the next backward op (reverse post-forward order).
      uint64_t held_pf = 0;
      if (prefetched < 0) {
        for (int j = i + 1; j <= last_bwd_op; ++j) {
          const int v = plan.op_unit[j];
          if (v < 0 || v == u) continue;
          if (!is_unsharded[v]) {
            prefetched = v;
            consider(live_unsharded, live_grads, held_rs + ag[v] + staging[v], false);
            if (o_.cpu_offload) r.h2d_bytes += 4 * plan.units[v].shard_elements;
          }
          break;
        }
      }
      if (prefetched >= 0) held_pf = ag[prefetched];
      // Compute: autograd's unsharded grads appear.
      if (!grad_live[u]) {
        grad_live[u] = true;
        live_grads += grad[u];
      }
      consider(live_unsharded, live_grads, held_pf + held_rs, true);
      if (i == last_bwd[u]) {
        // post_backward: reshard, free the previous reduce-scatter input, reduce this unit.
        is_unsharded[u] = false;
        live_unsharded -= unsharded[u];
        consider(live_unsharded, live_grads + (o_.cpu_offload ? 0 : shard_grad[u]),
                 held_pf + rs[u] + rso[u], false);
        live_grads -= grad[u];
        grad_live[u] = false;
        held_rs = rs[u];
        grads_done += shard_grad[u];
        if (o_.cpu_offload) {
          r.d2h_bytes += shard_grad[u];
          host += shard_grad[u];
        }
      }
      if (i == last_bwd_op) {
        held_rs = 0;  // finalize_backward
        prefetched = -1;
      }
    } else if (op.phase == OpPhase::kOptimizer) {
      on_cpu = o_.cpu_offload;
      base.grads = o_.cpu_offload ? 0 : grads_done;
      best = base;
    }
    r.op_on_cpu.push_back(on_cpu);
    r.timeline.push_back({best.total(), host});
    r.peak_host_bytes = std::max(r.peak_host_bytes, host);
    if (best.total() > r.peak_gpu_bytes || r.timeline.size() == 1) {
      r.peak_gpu_bytes = best.total();
      r.peak_breakdown = {i,          op.name,          best.params,  best.grads, best.optimizer,
                          best.activations, best.buffers, best.other};
    }
    if (host > budget.host_bytes) {
      r.fits = false;
      r.oom = PlacementOom{i, op.name, "host", host, budget.host_bytes, host - budget.host_bytes,
                           fmt::format("{}: the host holds {} B of sharded state, {} B", op.name,
                                       host, budget.host_bytes)};
      break;
    }
    if (best.total() > budget.gpu_bytes) {
      r.fits = false;
      r.oom = PlacementOom{i,
                           op.name,
                           "gpu",
                           best.total(),
                           budget.gpu_bytes,
                           best.total() - budget.gpu_bytes,
                           fmt::format("{}: FSDP2 needs {} B on the GPU, {} B", op.name,
                                       best.total(), budget.gpu_bytes)};
      break;
    }
  }
  r.final_gpu_bytes = gpu_params + gpu_optim + (o_.cpu_offload ? 0 : grads_done);
  r.final_host_bytes = host;
  return r;
}

}  // namespace

Fsdp2Plan PlanFsdp2(const Workload& w, const Fsdp2Options& o) {
  Fsdp2Plan plan;
  const uint64_t d = static_cast<uint64_t>(std::max(1, w.dp_shards));
  const bool pp_enabled = w.layout.pp > 1;
  const bool raf = o.reshard_after_forward == Fsdp2Options::Reshard::kAlways ||
                   (o.reshard_after_forward == Fsdp2Options::Reshard::kDefault && !pp_enabled);
  const bool always = o.reshard_after_forward == Fsdp2Options::Reshard::kAlways;
  plan.op_unit.assign(w.ops.size(), -1);
  // The forward ops' tensor sets; embed and head share a unit when they share a tensor (tied).
  std::vector<int> embed, head;
  for (const Op& op : w.ops) {
    if (op.phase != OpPhase::kForward) continue;
    if (op.kind == OpKind::kEmbed) embed = op.tensors;
    if (op.kind == OpKind::kHead) head = op.tensors;
  }
  bool tied = false;
  for (int t : head) tied = tied || std::find(embed.begin(), embed.end(), t) != embed.end();
  std::map<std::string, int> by_name;
  auto unit_of = [&](const Op& op) -> int {
    std::string name;
    std::vector<int> tensors = op.tensors;
    bool reshard = raf;
    if (op.kind == OpKind::kLayer) {
      name = fmt::format("layers.{}", op.index);
    } else if (tied && (op.kind == OpKind::kEmbed || op.kind == OpKind::kHead)) {
      name = "tok_embeddings+norm+lm_head";
      std::set<int> all(embed.begin(), embed.end());
      all.insert(head.begin(), head.end());
      tensors.assign(all.begin(), all.end());
      reshard = always;
    } else if (op.kind == OpKind::kEmbed) {
      name = "tok_embeddings";
    } else {
      name = "norm+lm_head";
      reshard = always;
    }
    auto it = by_name.find(name);
    if (it != by_name.end()) return it->second;
    Fsdp2Unit unit;
    unit.name = name;
    unit.tensors = tensors;
    unit.reshard_after_forward = reshard;
    for (int t : tensors) {
      unit.elements += w.tensor_elements[t];
      unit.shard_elements += CeilDiv(w.tensor_elements[t], d);
    }
    plan.units.push_back(std::move(unit));
    by_name.emplace(name, static_cast<int>(plan.units.size()) - 1);
    return static_cast<int>(plan.units.size()) - 1;
  };
  for (size_t i = 0; i < w.ops.size(); ++i) {
    const Op& op = w.ops[i];
    if (op.phase == OpPhase::kOptimizer || op.tensors.empty()) continue;
    plan.op_unit[i] = unit_of(op);
  }
  for (uint64_t e : w.tensor_elements) plan.shard_elements += CeilDiv(e, d);
  return plan;
}

StatusOr<std::unique_ptr<PlacementPolicy>> MakeFsdp2Policy(const Fsdp2Options& options) {
  for (int b : {options.param_dtype_bytes, options.reduce_dtype_bytes}) {
    if (b != 2 && b != 4) {
      return Status::InvalidArgument(fmt::format(
          "fsdp2: param and reduce dtypes are 2 (bfloat16) or 4 (float32) bytes, got {}", b));
    }
  }
  return std::unique_ptr<PlacementPolicy>(new Fsdp2Policy(options));
}

}  // namespace twinsim::placement
