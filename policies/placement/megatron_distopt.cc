#include "policies/placement/megatron_distopt.h"

#include <fmt/format.h>

#include <algorithm>
#include <numeric>

namespace twinsim::placement {
namespace {

uint64_t PadTo(uint64_t value, uint64_t divisor) { return (value + divisor - 1) / divisor * divisor; }

class MegatronDistOptPolicy : public PlacementPolicy {
 public:
  explicit MegatronDistOptPolicy(MegatronDistOptOptions options) : o_(options) {}

  std::string Name() const override {
    std::string name = "megatron-distopt";
    if (!o_.grad_reduce_in_fp32) name += "(bf16-grads)";
    if (o_.overlap_grad_reduce) name += "(overlap-grad-reduce)";
    if (o_.bucket_size) name += fmt::format("(bucket={})", *o_.bucket_size);
    return name;
  }

  core::Provenance provenance() const override {
    core::Provenance p;
    const std::string m = "NVIDIA/Megatron-LM", c = "d98e8a64";
    p.sources = {
        {m, c, "megatron/core/optimizer/distrib_optimizer.py", "_compute_per_buffer_param_layout",
         506, 588,
         "parameters in reverse order, 64-element aligned; a bucket closes at bucket_size elements "
         "and its end is padded for DP divisibility"},
        {m, c, "megatron/core/optimizer/param_layout.py", "pad_param_start, pad_bucket_end", 24, 42,
         "param starts padded to 64 elements, bucket ends to lcm(dp, 128)"},
        {m, c, "megatron/core/optimizer/distrib_optimizer.py", "_build_model_gbuf_range", 200, 240,
         "each bucket is split into dp equal ranges; rank r owns the r-th"},
        {m, c, "megatron/core/distributed/distributed_data_parallel.py", "__init__", 131, 214,
         "bucket_size max(40e6, 1e6 x dp) with overlap_grad_reduce, else one bucket; no bucketing "
         "after the first stage; the distributed optimizer's group is dp x cp"},
        {m, c, "megatron/training/arguments.py", "validate_args", 1204, 1217,
         "bf16 training accumulates and reduces gradients in fp32"},
        {m, c, "megatron/training/theoretical_memory_usage.py", "num_bytes_per_parameter", 293,
         296, "6 + 12 / data_parallel_size bytes per parameter with the distributed optimizer"},
    };
    p.deviations = {
        "theoretical_memory_usage.py divides by data_parallel_size; the optimizer shards over "
        "dp x cp (intra_dp_cp_group), which twinsim follows",
    };
    return p;
  }

  PlacementResult Run(const Workload& w, const MemoryBudget& budget) const override {
    PlacementResult r;
    r.policy = Name();
    const MegatronBufferLayout layout = LayoutMegatronBuffer(w, o_);
    const uint64_t grad_bytes = o_.grad_reduce_in_fp32 ? 4 : 2;
    const uint64_t padding = layout.numel - layout.numel_unpadded;
    const uint64_t params = 2 * layout.numel_unpadded;
    const uint64_t grads = grad_bytes * layout.numel_unpadded;
    const uint64_t buffers = (2 + grad_bytes) * padding;
    const uint64_t optimizer = 12 * layout.shard_param_elements;
    const uint64_t state = params + grads + buffers + optimizer;
    r.fits = true;
    for (int i = 0; i < static_cast<int>(w.ops.size()); ++i) {
      const Op& op = w.ops[i];
      const uint64_t other = op.transient_bytes();
      const uint64_t activations = op.non_model_bytes - other;
      const uint64_t gpu = state + op.non_model_bytes;
      r.timeline.push_back({gpu, 0});
      r.op_on_cpu.push_back(false);
      if (gpu > r.peak_gpu_bytes || i == 0) {
        r.peak_gpu_bytes = gpu;
        r.peak_breakdown = {i, op.name, params, grads, optimizer, activations, buffers, other};
      }
      if (gpu > budget.gpu_bytes) {
        r.fits = false;
        r.oom = PlacementOom{i,
                             op.name,
                             "gpu",
                             gpu,
                             budget.gpu_bytes,
                             gpu - budget.gpu_bytes,
                             fmt::format("{}: the distributed optimizer needs {} B on the GPU, {} B",
                                         op.name, gpu, budget.gpu_bytes)};
        break;
      }
    }
    r.final_gpu_bytes = state;
    return r;
  }

 private:
  MegatronDistOptOptions o_;
};

}  // namespace

MegatronBufferLayout LayoutMegatronBuffer(const Workload& w, const MegatronDistOptOptions& o) {
  MegatronBufferLayout out;
  out.dp_cp = std::max(1, w.layout.dp) * std::max(1, w.layout.cp);
  const uint64_t dp_cp = static_cast<uint64_t>(out.dp_cp);
  if (o.overlap_grad_reduce && w.coords.pp == 0) {
    out.bucket_size = o.bucket_size ? *o.bucket_size
                                    : std::max<uint64_t>(40000000, 1000000 * w.layout.dp);
  }
  const uint64_t end_divisor = std::lcm(dp_cp, uint64_t{128});
  // Parameter ranges [start, end) in the buffer, in reverse tensor order.
  std::vector<std::pair<uint64_t, uint64_t>> ranges;
  uint64_t start = 0, bucket_start = 0, end = 0;
  bool open = false;
  for (auto it = w.tensor_elements.rbegin(); it != w.tensor_elements.rend(); ++it) {
    start = PadTo(start, 64);
    end = start + *it;
    ranges.emplace_back(start, end);
    out.numel_unpadded += *it;
    open = true;
    if (out.bucket_size > 0 && end - bucket_start >= out.bucket_size) {
      bucket_start = PadTo(end, end_divisor);
      out.bucket_end.push_back(bucket_start);
      start = bucket_start;
      open = false;
    } else {
      start = end;
    }
  }
  if (open) out.bucket_end.push_back(PadTo(end, end_divisor));
  out.numel = out.bucket_end.empty() ? 0 : out.bucket_end.back();
  // This rank's slice of each bucket (_build_model_gbuf_range).
  const uint64_t r = static_cast<uint64_t>(w.coords.dp) * w.layout.cp + w.coords.cp;
  uint64_t b_start = 0;
  for (uint64_t b_end : out.bucket_end) {
    const uint64_t slice = (b_end - b_start) / dp_cp;
    const uint64_t lo = b_start + r * slice, hi = lo + slice;
    for (const auto& [ps, pe] : ranges) {
      const uint64_t a = std::max(ps, lo), b = std::min(pe, hi);
      if (a < b) out.shard_param_elements += b - a;
    }
    b_start = b_end;
  }
  return out;
}

StatusOr<std::unique_ptr<PlacementPolicy>> MakeMegatronDistOptPolicy(
    const MegatronDistOptOptions& options) {
  if (options.bucket_size && *options.bucket_size == 0) {
    return Status::InvalidArgument("megatron-distopt: bucket_size must be >= 1 element");
  }
  return std::unique_ptr<PlacementPolicy>(new MegatronDistOptPolicy(options));
}

}  // namespace twinsim::placement
