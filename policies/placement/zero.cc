#include "policies/placement/zero.h"

#include <fmt/format.h>

#include <algorithm>
#include <set>
#include <string>
#include <utility>

#include "core/memory_ledger.h"

namespace twinsim::placement {
namespace {

constexpr char kDeepSpeed[] = "deepspeedai/DeepSpeed";
constexpr char kDeepSpeedCommit[] = "edaa72212";

core::SourceRef DeepSpeed(std::string file, std::string function, int first, int last,
                          std::string fact) {
  return core::SourceRef{kDeepSpeed,
                         kDeepSpeedCommit,
                         "deepspeed/runtime/" + std::move(file),
                         std::move(function),
                         first,
                         last,
                         std::move(fact)};
}

uint64_t CeilDiv(uint64_t a, uint64_t b) { return (a + b - 1) / b; }

// The ZeRO group and the rank's parameters (Note [ZeRO placement]).
struct Sizes {
  uint64_t n = 1;             // N
  uint64_t p = 0;             // P
  uint64_t part = 0;          // stages 1, 2: elements of the rank's flat partition
  uint64_t part3 = 0;         // stage 3: sum of ceil(numel / N)
  uint64_t persistent = 0;    // stage 3: elements of persistent parameters
  uint64_t largest = 0;       // the largest parameter's elements
  std::vector<bool> persist;  // per tensor
};

Sizes SizesOf(const Workload& w, const ZeroOptions& o) {
  Sizes s;
  s.n = static_cast<uint64_t>(std::max(1, w.layout.dp));
  s.persist.assign(w.tensor_elements.size(), false);
  for (size_t t = 0; t < w.tensor_elements.size(); ++t) {
    const uint64_t numel = w.tensor_elements[t];
    s.p += numel;
    s.largest = std::max(s.largest, numel);
    s.part3 += CeilDiv(numel, s.n);
    if (numel <= o.param_persistence_threshold) {
      s.persist[t] = true;
      s.persistent += numel;
    }
  }
  // stage_1_and_2.py:391-393: padded to a multiple of 2 N.
  s.part = CeilDiv(s.p, 2 * s.n) * 2;
  return s;
}

uint64_t OpElements(const Workload& w, const Op& op) {
  uint64_t e = 0;
  for (int t : op.tensors) e += w.tensor_elements[t];
  return e;
}

// The accounting of one ZeRO step: live GPU bytes by part, the host, moves, the timeline.
class Account {
 public:
  Account(const Workload& w, const MemoryBudget& budget, std::string name)
      : w_(w), budget_(budget) {
    r_.policy = std::move(name);
    r_.fits = true;
    r_.peak_breakdown.op_name = "initial placement";
  }

  std::optional<PlacementOom> Gpu(int op, const PeakBreakdown& parts, std::string_view what) {
    const uint64_t bytes = parts.total();
    const uint64_t in_use = live_.total();
    if (in_use + bytes > budget_.gpu_bytes) {
      return Oom(op, "gpu", bytes, budget_.gpu_bytes - std::min(in_use, budget_.gpu_bytes), what);
    }
    AddTo(live_, parts);
    if (live_.total() > r_.peak_gpu_bytes || !seen_) {
      seen_ = true;
      r_.peak_gpu_bytes = live_.total();
      r_.peak_breakdown = live_;
      r_.peak_breakdown.op = op;
      r_.peak_breakdown.op_name = op < 0 ? "initial placement" : w_.ops[op].name;
    }
    return std::nullopt;
  }
  void GpuFree(const PeakBreakdown& parts) { SubFrom(live_, parts); }

  std::optional<PlacementOom> Host(int op, uint64_t bytes, std::string_view what) {
    if (host_ + bytes > budget_.host_bytes) {
      return Oom(op, "host", bytes, budget_.host_bytes - std::min(host_, budget_.host_bytes), what);
    }
    host_ += bytes;
    r_.peak_host_bytes = std::max(r_.peak_host_bytes, host_);
    return std::nullopt;
  }
  void HostFree(uint64_t bytes) { host_ -= bytes; }

  // A PCIe move of the step (the unit is nominal: ZeRO has no chunk units; the sim's replay
  // uses the bytes).
  void Move(int op, bool after_op, Where to, uint64_t bytes) {
    if (bytes == 0 || w_.num_units() == 0) return;
    r_.transfers.push_back({op, after_op, 0, to, bytes});
    (to == Where::kGpu ? r_.h2d_bytes : r_.d2h_bytes) += bytes;
  }

  void Ran(int op, bool on_cpu) {
    r_.timeline.push_back({live_.total(), host_});
    r_.op_on_cpu.resize(op + 1, false);
    r_.op_on_cpu[op] = on_cpu;
  }

  PlacementResult Finish(std::optional<PlacementOom> oom) {
    r_.fits = !oom.has_value();
    r_.oom = std::move(oom);
    r_.op_on_cpu.resize(r_.timeline.size(), false);
    r_.final_gpu_bytes = live_.total();
    r_.final_host_bytes = host_;
    return std::move(r_);
  }

 private:
  static void AddTo(PeakBreakdown& a, const PeakBreakdown& b) {
    a.params += b.params;
    a.grads += b.grads;
    a.optimizer += b.optimizer;
    a.activations += b.activations;
    a.buffers += b.buffers;
    a.other += b.other;
  }
  static void SubFrom(PeakBreakdown& a, const PeakBreakdown& b) {
    a.params -= b.params;
    a.grads -= b.grads;
    a.optimizer -= b.optimizer;
    a.activations -= b.activations;
    a.buffers -= b.buffers;
    a.other -= b.other;
  }

  PlacementOom Oom(int op, std::string device, uint64_t requested, uint64_t available,
                   std::string_view what) const {
    PlacementOom oom;
    oom.op = op;
    oom.op_name = op < 0 ? "initial placement" : w_.ops[op].name;
    oom.device = std::move(device);
    oom.requested = requested;
    oom.available = available;
    oom.shortfall = requested > available ? requested - available : 0;
    oom.message = fmt::format("{}: {} {} needs {}, {} free: short by {}", oom.op_name, oom.device,
                              what, core::FormatByteSize(requested),
                              core::FormatByteSize(available), core::FormatByteSize(oom.shortfall));
    return oom;
  }

  const Workload& w_;
  MemoryBudget budget_;
  PlacementResult r_;
  PeakBreakdown live_;
  uint64_t host_ = 0;
  bool seen_ = false;
};

PeakBreakdown Part(uint64_t PeakBreakdown::*field, uint64_t bytes) {
  PeakBreakdown p;
  p.*field = bytes;
  return p;
}

// Stage 3's parameter coordinator over the step's forward and backward ops (Note [ZeRO
// placement], Gathers): which parameters are gathered while each op runs.
class Coordinator {
 public:
  Coordinator(const Workload& w, const ZeroOptions& o, const Sizes& s) : w_(w), o_(o), s_(s) {
    available_.assign(w.tensor_elements.size(), false);
    fetched_for_.assign(w.tensor_elements.size(), -1000000000);
    for (size_t i = 0; i < w.ops.size(); ++i) {
      if (w.ops[i].phase == OpPhase::kOptimizer) continue;
      for (int t : Partitioned(w.ops[i])) queue_.push_back({static_cast<int>(i), t});
    }
  }

  // The op's own non-persistent tensors, each once.
  std::vector<int> Partitioned(const Op& op) const {
    std::set<int> set;
    for (int t : op.tensors) {
      if (!s_.persist[t]) set.insert(t);
    }
    return {set.begin(), set.end()};
  }

  // fetch_sub_module for op i (:353-490): the elements newly gathered, whole.
  uint64_t Fetch(int i) {
    const std::vector<int> own = Partitioned(w_.ops[i]);
    uint64_t fetched = 0;
    std::set<int> not_fetched_before;
    for (int t : own) {
      if (fetched_for_[t] < i) not_fetched_before.insert(t);
      if (!available_[t]) fetched += Gather(t);
    }
    // Pop the op's own entries off the prefetch queue.
    std::set<int> discarded;
    while (next_ < queue_.size() && discarded.size() < not_fetched_before.size()) {
      const auto [j, t] = queue_[next_++];
      fetched_for_[t] = j;
      discarded.insert(t);
    }
    // Prefetch (:452-476): signed, as Python computes min().
    const int64_t room = static_cast<int64_t>(o_.max_live_parameters) - static_cast<int64_t>(live_);
    const int64_t max = std::min(room, static_cast<int64_t>(o_.prefetch_bucket_size));
    int64_t prefetching = 0;
    while (next_ < queue_.size() && prefetching < max) {
      const auto [j, t] = queue_[next_++];
      fetched_for_[t] = std::max(fetched_for_[t], j);
      if (!available_[t]) {
        const uint64_t e = Gather(t);
        fetched += e;
        prefetching += static_cast<int64_t>(e);
      }
    }
    return fetched;
  }

  // release_sub_module after op i (:494-536, __params_to_release :634-665, step_id = i + 1):
  // the elements released.
  uint64_t Release(int i) {
    std::set<int> release;
    for (int t : Partitioned(w_.ops[i])) {
      if (fetched_for_[t] <= i + 1) release.insert(t);
    }
    uint64_t traversed = 0;
    for (size_t k = i + 1; k < w_.ops.size() && !release.empty(); ++k) {
      if (traversed >= o_.max_reuse_distance) break;
      if (w_.ops[k].phase == OpPhase::kOptimizer) break;
      for (int t : w_.ops[k].tensors) {
        release.erase(t);
        traversed += w_.tensor_elements[t];
      }
    }
    uint64_t freed = 0;
    for (int t : release) freed += Drop(t);
    return freed;
  }

  // release_and_reset_all after backward: every non-persistent parameter.
  uint64_t ReleaseAll() {
    uint64_t freed = 0;
    for (size_t t = 0; t < available_.size(); ++t) {
      if (available_[t]) freed += Drop(static_cast<int>(t));
    }
    return freed;
  }

  uint64_t live() const { return live_; }

 private:
  uint64_t Gather(int t) {
    available_[t] = true;
    live_ += w_.tensor_elements[t];
    return w_.tensor_elements[t];
  }
  uint64_t Drop(int t) {
    available_[t] = false;
    live_ -= w_.tensor_elements[t];
    return w_.tensor_elements[t];
  }

  const Workload& w_;
  const ZeroOptions& o_;
  const Sizes& s_;
  std::vector<std::pair<int, int>> queue_;  // (op, tensor) in trace order
  size_t next_ = 0;
  std::vector<bool> available_;
  std::vector<int> fetched_for_;
  uint64_t live_ = 0;  // gathered elements of non-persistent parameters
};

class ZeroPolicy : public PlacementPolicy {
 public:
  explicit ZeroPolicy(ZeroOptions options) : o_(options) {}

  std::string Name() const override {
    std::string name = fmt::format("zero{}", o_.stage);
    if (o_.offload_optimizer) name += "+offload-optimizer";
    if (o_.offload_param) name += "+offload-param";
    return name;
  }

  core::Provenance provenance() const override {
    core::Provenance p;
    p.sources = {
        DeepSpeed("zero/config.py", "DeepSpeedZeroConfig", 102, 244,
                  "defaults: contiguous_gradients True, reduce_bucket_size and "
                  "allgather_bucket_size 5e8, sub_group_size 1e9, stage3_prefetch_bucket_size "
                  "5e7, stage3_param_persistence_threshold 1e5, stage3_max_live_parameters and "
                  "stage3_max_reuse_distance 1e9"),
        DeepSpeed("zero/config.py", "DeepSpeedZeroConfig.overlap_comm_valid", 383, 386,
                  "overlap_comm defaults to True for stage 3 only"),
    };
    if (o_.stage < 3) {
      p.sources.push_back(DeepSpeed(
          "zero/stage_1_and_2.py", "DeepSpeedZeroOptimizer.__init__", 386, 393,
          "the flat 16-bit group is padded to a multiple of nccl_start_alignment_factor (2) x "
          "the DP size and split into equal partitions"));
      p.sources.push_back(
          DeepSpeed("zero/stage_1_and_2.py", "DeepSpeedZeroOptimizer.setup_buckets", 2493, 2516,
                    "contiguous_gradients: an IPG bucket of reduce_bucket_size elements for "
                    "backward, two with overlap_comm"));
      p.sources.push_back(DeepSpeed(
          "zero/stage_1_and_2.py", "DeepSpeedZeroOptimizer.reduce_ipg_grads", 1742, 1756,
          "stage 2 clears gradients outside the partition and copies the partition's into "
          "grads_in_partition; stage 1 clears none"));
      p.sources.push_back(DeepSpeed(
          "zero/stage_1_and_2.py", "DeepSpeedZeroOptimizer.copy_grads_in_partition", 1650, 1690,
          "grads_in_partition: the partition's gradients in the 16-bit dtype on the GPU; with "
          "offload they are copied to the host instead"));
      p.sources.push_back(DeepSpeed(
          "zero/stage_1_and_2.py", "DeepSpeedZeroOptimizer.step", 2279, 2400,
          "the partition's gradients are flattened and cast to fp32 before Adam; with offload "
          "Adam runs on the CPU and the 16-bit partition is copied back; then all-gather"));
      p.sources.push_back(DeepSpeed(
          "zero/stage_1_and_2.py", "DeepSpeedZeroOptimizer.__init__", 578, 595,
          "offload: temp_grad_buffer_for_gpu_offload, the largest parameter's elements, on the "
          "GPU"));
      p.sources.push_back(DeepSpeed(
          "zero/stage_1_and_2.py", "DeepSpeedZeroOptimizer.initialize_optimizer_states", 837, 858,
          "offload: the fp32 gradient partition lives on the host (device 'cpu', :238)"));
      p.sources.push_back(DeepSpeed("utils.py", "all_gather_dp_groups", 1016, 1019,
                                    "the updated partitions are all-gathered into the flat "
                                    "group in place"));
    } else {
      p.sources.push_back(DeepSpeed("zero/partition_parameters.py", "Init._padding_size", 1662,
                                    1668,
                                    "each parameter is padded to a multiple of the DP size and "
                                    "split: ceil(numel / N) elements per rank"));
      p.sources.push_back(DeepSpeed(
          "zero/parameter_offload.py", "DeepSpeedZeRoOffload.mark_persistent_parameters", 311, 329,
          "parameters of at most param_persistence_threshold elements stay gathered"));
      p.sources.push_back(
          DeepSpeed("zero/partitioned_param_coordinator.py",
                    "PartitionedParameterCoordinator._fetch_sub_module_impl", 353, 490,
                    "gather the module's parameters, then prefetch up to min(max_live - available, "
                    "prefetch_bucket_size) elements of the trace's next parameters"));
      p.sources.push_back(DeepSpeed(
          "zero/partitioned_param_coordinator.py",
          "PartitionedParameterCoordinator.__params_to_release", 634, 665,
          "release a module's non-persistent parameters unless prefetched for a later use or "
          "reused within max_reuse_distance elements"));
      p.sources.push_back(DeepSpeed(
          "zero/stage3.py", "DeepSpeedZeroOptimizer_Stage3._setup_for_real_optimizer", 712, 755,
          "the IPG bucket (reduce_bucket_size elements) is allocated once; gradient partitions "
          "in one flat buffer of gradient_accumulation_dtype on the optimizer's device"));
      p.sources.push_back(DeepSpeed("zero/stage3.py", "DeepSpeedZeroOptimizer_Stage3.__init__", 161,
                                    189, "gradient_accumulation_dtype defaults to torch.float32"));
      p.sources.push_back(DeepSpeed(
          "zero/stage3.py", "DeepSpeedZeroOptimizer_Stage3._prepare_fp32_grad_for_sub_group", 2398,
          2418, "the sub group's fp32 gradients are flattened into a new tensor for Adam"));
    }
    p.deviations = {
        "DP group = the layout's dp (dp_replicate x dp_shard); cp ranks are outside it "
        "(not DeepSpeed-Ulysses' sequence-data-parallel group)",
        "layer-granular: DeepSpeed gathers and releases per submodule, twinsim per op",
        "not modelled: loss-scaler and gradient-norm temporaries, NCCL buffers, the first "
        "step's trace recording, nvme offload, MiCS/hpZ, ZeRO++",
        "PCIe bytes count 16-bit elements for gradients copied into the host's fp32 buffers",
        "no whole-unit placement: the host backend cannot replay it (the sim replays its "
        "moves)",
    };
    return p;
  }

  PlacementResult Run(const Workload& w, const MemoryBudget& budget) const override {
    const Sizes s = SizesOf(w, o_);
    const ZeroModelStates ms = ZeroModelStatesOf(w, o_);
    const bool overlap = o_.overlap_comm.value_or(o_.stage == 3);
    const bool offload = o_.offload_optimizer;
    Account a(w, budget, Name());
    using PB = PeakBreakdown;

    // Held for the run (op -1).
    const PB params = Part(&PB::params, ms.params_gpu);
    const PB optim = Part(&PB::optimizer, ms.optimizer_gpu);
    const uint64_t grads_run = o_.stage == 3 ? ms.grads_gpu : 0;  // stage 3's flat buffer
    PB run_buffers;
    if (o_.stage == 3 && o_.contiguous_gradients) run_buffers.buffers += 2 * o_.reduce_bucket_size;
    if (o_.stage < 3 && offload) run_buffers.buffers += 2 * s.largest;
    if (auto oom = a.Gpu(-1, params, "16-bit parameters")) return a.Finish(oom);
    if (auto oom = a.Gpu(-1, optim, "fp32 master and Adam m, v")) return a.Finish(oom);
    if (auto oom = a.Gpu(-1, Part(&PB::grads, grads_run), "gradient partitions")) {
      return a.Finish(oom);
    }
    if (auto oom = a.Gpu(-1, run_buffers, "communication buffers")) return a.Finish(oom);
    const uint64_t host_extra = o_.stage < 3 && offload ? 2 * s.part : 0;  // :495-507
    if (auto oom = a.Host(-1, ms.params_host + ms.optimizer_host + ms.grads_host + host_extra,
                          "offloaded model states")) {
      return a.Finish(oom);
    }

    int first_bwd = -1, last_bwd = -1, first_adam = -1;
    for (size_t i = 0; i < w.ops.size(); ++i) {
      const int op = static_cast<int>(i);
      if (w.ops[i].phase == OpPhase::kBackward) {
        if (first_bwd < 0) first_bwd = op;
        last_bwd = op;
      }
      if (w.ops[i].phase == OpPhase::kOptimizer && first_adam < 0) first_adam = op;
    }

    Coordinator coord(w, o_, s);
    PB backward_buffers;  // stages 1, 2: the IPG buckets, during backward
    if (o_.stage < 3 && (o_.contiguous_gradients || offload)) {
      backward_buffers.buffers = 2 * o_.reduce_bucket_size * (overlap ? 2 : 1);
    }
    PB grads_held;  // stages 1, 2: 16-bit gradients held until the step
    std::vector<bool> sent(w.tensor_elements.size(), false);  // stage 3 offload: grads D2H
    uint64_t bucket_elements = 0;  // stages 1, 2: gradients in the IPG bucket
    // grads_in_partition (stages 1, 2 without offload: with offload they go to the host).
    const PB partition_grads = Part(&PB::grads, offload ? 0 : 2 * std::min(s.part, s.p));
    bool partition_allocated = false;
    auto allocate_partition_grads = [&](int op) -> std::optional<PlacementOom> {
      if (partition_allocated) return std::nullopt;
      partition_allocated = true;
      if (auto oom = a.Gpu(op, partition_grads, "grads_in_partition")) return oom;
      if (o_.stage == 2) grads_held = partition_grads;
      return std::nullopt;
    };
    for (size_t i = 0; i < w.ops.size(); ++i) {
      const int op = static_cast<int>(i);
      const Op& o = w.ops[i];
      if (o.phase == OpPhase::kOptimizer) {
        if (offload) {
          a.Ran(op, /*on_cpu=*/true);
          if (op == first_adam) {
            // The updated 16-bit partition goes back to the GPU (stage 3 with offload_param
            // keeps it on the host).
            if (o_.stage < 3) a.Move(op, true, Where::kGpu, 2 * s.part);
            if (o_.stage == 3 && !o_.offload_param) a.Move(op, true, Where::kGpu, 2 * s.part3);
            if (o_.stage < 3) {
              a.GpuFree(grads_held);
              grads_held = {};
            }
          }
          continue;
        }
        if (op != first_adam) {
          a.Ran(op, false);
          continue;
        }
        PB step;
        if (o_.stage < 3) {
          // grads_held is grads_in_partition: the others are freed or bucket views (:2346).
          step.grads = 2 * s.part + 4 * s.part;  // the flat 16-bit copy, its fp32 cast
        } else {
          step.grads = 4 * std::min(o_.sub_group_size, s.part3);
        }
        if (auto oom = a.Gpu(op, step, "the step's fp32 gradients")) return a.Finish(oom);
        a.Ran(op, false);
        a.GpuFree(step);
        a.GpuFree(grads_held);
        grads_held = {};
        continue;
      }
      const bool bwd = o.phase == OpPhase::kBackward;
      if (bwd && op == first_bwd) {
        if (auto oom = a.Gpu(op, backward_buffers, "IPG buckets")) return a.Finish(oom);
      }
      // Stage 2 reduces a full bucket before the next gradients go in
      // (reduce_independent_p_g_buckets_and_remove_grads :1201-1204); the first reduction
      // allocates grads_in_partition (:1650-1690).
      if (bwd && o_.stage == 2 && bucket_elements > 0 &&
          bucket_elements + OpElements(w, o) > o_.reduce_bucket_size) {
        if (auto oom = allocate_partition_grads(op)) return a.Finish(oom);
        bucket_elements = 0;
      }
      if (bwd) bucket_elements += OpElements(w, o);
      PB gathered;
      if (o_.stage == 3) {
        const uint64_t before = coord.live();
        const uint64_t fetched = coord.Fetch(op);
        gathered.params = 2 * (coord.live() - before);
        if (o_.offload_param) a.Move(op, false, Where::kGpu, 2 * CeilDiv(fetched, s.n));
        if (auto oom = a.Gpu(op, gathered, "gathered parameters")) return a.Finish(oom);
      }
      PB transient;
      transient.activations = std::min(o.stored_activation_bytes, o.non_model_bytes);
      transient.other = o.non_model_bytes - transient.activations;
      if (bwd) transient.grads = 2 * OpElements(w, o);  // autograd's 16-bit gradients
      if (auto oom = a.Gpu(op, transient, "activations and gradients")) return a.Finish(oom);
      a.Ran(op, false);
      a.GpuFree(transient);
      if (bwd && o_.stage == 1) {
        const PB kept = Part(&PB::grads, 2 * OpElements(w, o));
        if (auto oom = a.Gpu(op, kept, "16-bit gradients (stage 1 keeps them)")) {
          return a.Finish(oom);
        }
        grads_held.grads += kept.grads;
      }
      if (o_.stage == 3) {
        a.GpuFree(Part(&PB::params, 2 * coord.Release(op)));
        if (bwd && offload) {
          // Each parameter's gradient partition goes to the host's buffer once.
          uint64_t partition = 0;
          for (int t : o.tensors) {
            if (!sent[t]) partition += CeilDiv(w.tensor_elements[t], s.n);
            sent[t] = true;
          }
          a.Move(op, true, Where::kHost, 2 * partition);
        }
      }
      if (op == last_bwd) {
        if (o_.stage == 1) {
          // reduce_gradients after backward (:861-884): the partition's gradients are copied
          // into grads_in_partition while every other gradient is still held, then those are
          // views of the bucket.
          if (auto oom = allocate_partition_grads(op)) return a.Finish(oom);
          a.GpuFree(grads_held);
          grads_held = partition_grads;
        }
        if (o_.stage == 2) {
          if (auto oom = allocate_partition_grads(op)) return a.Finish(oom);
        }
        a.GpuFree(backward_buffers);
        if (o_.stage == 3) a.GpuFree(Part(&PB::params, 2 * coord.ReleaseAll()));
        if (o_.stage < 3 && offload) a.Move(op, true, Where::kHost, 2 * s.part);
      }
    }
    return a.Finish(std::nullopt);
  }

 private:
  ZeroOptions o_;
};

}  // namespace

ZeroModelStates ZeroModelStatesOf(const Workload& w, const ZeroOptions& o) {
  const Sizes s = SizesOf(w, o);
  ZeroModelStates m;
  if (o.stage < 3) {
    m.params_gpu = 2 * s.p;
    (o.offload_optimizer ? m.optimizer_host : m.optimizer_gpu) = 12 * s.part;
    if (o.offload_optimizer) {
      m.grads_host = 4 * s.part;  // the fp32 gradient partition
      if (o.stage == 1) m.grads_gpu = 2 * s.p;
    } else {
      // grads_in_partition holds the partition's parameters' elements, unpadded (:1674-1681).
      m.grads_gpu = o.stage == 1 ? 2 * s.p : 2 * std::min(s.part, s.p);
    }
    return m;
  }
  // Persistent parameters: gathered whole, beside their partition.
  (o.offload_param ? m.params_host : m.params_gpu) = 2 * s.part3;
  m.params_gpu += 2 * s.persistent;
  (o.offload_optimizer ? m.optimizer_host : m.optimizer_gpu) = 12 * s.part3;
  (o.offload_optimizer ? m.grads_host : m.grads_gpu) = 4 * s.part3;
  return m;
}

StatusOr<std::unique_ptr<PlacementPolicy>> MakeZeroPolicy(const ZeroOptions& options) {
  if (options.stage < 1 || options.stage > 3) {
    return Status::InvalidArgument(
        fmt::format("zero placement: stage {} is not 1, 2 or 3", options.stage));
  }
  if (options.offload_param && options.stage != 3) {
    return Status::InvalidArgument(
        fmt::format("zero placement: offload_param needs stage 3 (DeepSpeed offloads parameters "
                    "only in ZeRO-3), got stage {}",
                    options.stage));
  }
  if (options.contiguous_gradients && options.reduce_bucket_size == 0) {
    return Status::InvalidArgument("zero placement: reduce_bucket_size must be > 0");
  }
  return std::unique_ptr<PlacementPolicy>(std::make_unique<ZeroPolicy>(options));
}

}  // namespace twinsim::placement
