#include "policies/placement/placement.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <utility>

#include "core/caching_allocator.h"
#include "core/memory_ledger.h"

namespace twinsim::placement {
namespace {

constexpr uint64_t kNever = std::numeric_limits<uint64_t>::max();

uint64_t SatSub(uint64_t a, uint64_t b) { return a > b ? a - b : 0; }

uint64_t Scaled(uint64_t bytes, double ratio) {
  return static_cast<uint64_t>(std::floor(static_cast<double>(bytes) * ratio));
}

std::string_view UnitTag(int unit) { return unit % 2 == 0 ? "fp16" : "optim"; }

// "chunk 3 fp16" (Note [Placement units]).
std::string UnitName(int unit) {
  return fmt::format("chunk {} {}", ChunkOfUnit(unit), UnitTag(unit));
}

// What a unit's bytes are for (Note [Peak breakdown]): an fp16 unit is the parameters, plus
// the separate fp16 gradient shard when the chunks keep one (its bytes beyond the param shard);
// an optimizer unit is the optimizer's.
PeakBreakdown UnitParts(const Workload& w, int unit, uint64_t bytes) {
  PeakBreakdown p;
  if (unit % 2 == 1) {
    p.optimizer = bytes;
    return p;
  }
  const int c = ChunkOfUnit(unit);
  const uint64_t param =
      c < static_cast<int>(w.chunk_param_bytes.size()) ? w.chunk_param_bytes[c] : bytes;
  p.params = std::min(bytes, param);
  p.grads = bytes - p.params;
  return p;
}

// An op's non-model bytes: stored activations, and the rest (its temporaries).
PeakBreakdown NonModelParts(const Op& op) {
  PeakBreakdown p;
  p.activations = std::min(op.stored_activation_bytes, op.non_model_bytes);
  p.other = op.non_model_bytes - p.activations;
  return p;
}

void AddParts(PeakBreakdown& into, const PeakBreakdown& x) {
  into.params += x.params;
  into.grads += x.grads;
  into.optimizer += x.optimizer;
  into.activations += x.activations;
  into.buffers += x.buffers;
  into.other += x.other;
}
void SubParts(PeakBreakdown& from, const PeakBreakdown& x) {
  from.params -= x.params;
  from.grads -= x.grads;
  from.optimizer -= x.optimizer;
  from.activations -= x.activations;
  from.buffers -= x.buffers;
  from.other -= x.other;
}

// For each unit, the ascending op indices that use it: next use by binary search.
class NextUse {
 public:
  explicit NextUse(const Workload& w) : uses_(w.num_units()) {
    for (size_t i = 0; i < w.ops.size(); ++i) {
      for (int u : w.ops[i].units) uses_[u].push_back(static_cast<uint64_t>(i));
    }
  }
  // The first op after `op` that uses `unit`, or kNever.
  uint64_t After(int unit, int op) const {
    const std::vector<uint64_t>& v = uses_[unit];
    const auto it = std::upper_bound(v.begin(), v.end(), static_cast<uint64_t>(op));
    return it == v.end() ? kNever : *it;
  }
  uint64_t First(int unit) const { return uses_[unit].empty() ? kNever : uses_[unit].front(); }

 private:
  std::vector<std::vector<uint64_t>> uses_;
};

PlacementOom MakeOom(const Workload& w, int op, std::string device, uint64_t requested,
                     uint64_t available, std::string what) {
  PlacementOom oom;
  oom.op = op;
  oom.op_name = op < 0 ? "initial placement" : w.ops[op].name;
  oom.device = std::move(device);
  oom.requested = requested;
  oom.available = available;
  oom.shortfall = SatSub(requested, available);
  oom.message = fmt::format("{}: {} {} needs {}, {} free: short by {}", oom.op_name, oom.device,
                            what, core::FormatByteSize(requested), core::FormatByteSize(available),
                            core::FormatByteSize(oom.shortfall));
  return oom;
}

// The accounting-only GPU and host of one step (Note [Step accounting]).
class Step {
 public:
  Step(const Workload& w, const MemoryBudget& budget)
      : w_(w),
        gpu_(0, "gpu", budget.gpu_bytes),
        host_(-1, "host", budget.host_bytes),
        where_(w.num_units(), Where::kHost),
        initial_(w.num_units(), Where::kHost),
        unit_handle_(w.num_units(), 0) {
    if (budget.caching_allocator) alloc_.emplace(budget.gpu_bytes);
  }

  const Workload& workload() const { return w_; }
  Where where(int unit) const { return where_[unit]; }
  const core::MemoryLedger& gpu() const { return gpu_; }
  const core::MemoryLedger& host() const { return host_; }
  uint64_t gpu_model_bytes() const { return gpu_model_; }

  // Puts `unit` at `where` before the step (free of traffic).
  std::optional<PlacementOom> Place(int unit, Where where) {
    if (where == Where::kGpu) {
      if (auto oom = GpuTake(-1, w_.unit_bytes[unit], UnitTag(unit), UnitName(unit),
                             &unit_handle_[unit], UnitParts(w_, unit, w_.unit_bytes[unit]))) {
        return oom;
      }
    } else if (host_.TryCharge(w_.unit_bytes[unit], UnitTag(unit))) {
      return MakeOom(w_, -1, "host", w_.unit_bytes[unit], host_.available(), UnitName(unit));
    }
    where_[unit] = where;
    initial_[unit] = where;
    if (where == Where::kGpu) gpu_model_ += w_.unit_bytes[unit];
    return std::nullopt;
  }

  // Charges a buffer that stays on the GPU for the whole step (static's kept-gathered chunks).
  std::optional<PlacementOom> PlacePinned(uint64_t bytes) {
    uint64_t handle = 0;  // kept for the whole step
    PeakBreakdown parts;
    parts.params = bytes;  // gathered parameters
    return GpuTake(-1, bytes, "gathered", "kept-gathered buffers", &handle, parts);
  }

  // Charges `bytes` to the GPU ledger and, with the caching allocator, takes a block for them;
  // an OOM (the ledger's, or the allocator's "fragmentation") leaves nothing charged.
  // `parts`: what the bytes are for (their total is `bytes`), for the peak's breakdown.
  std::optional<PlacementOom> GpuTake(int op, uint64_t bytes, std::string_view tag,
                                      const std::string& what, uint64_t* handle,
                                      const PeakBreakdown& parts) {
    if (gpu_.TryCharge(bytes, tag)) {
      return MakeOom(w_, op, "gpu", bytes, gpu_.available(), what);
    }
    // The ledger's peak counts the charge even when the allocator then refuses it: so does
    // the breakdown.
    AddParts(live_, parts);
    NotePeak(op);
    if (alloc_) {
      const std::optional<uint64_t> h = alloc_->Allocate(bytes);
      if (!h) {
        gpu_.Release(bytes, tag);
        SubParts(live_, parts);
        const uint64_t room =
            std::max(alloc_->LargestFreeBlock(), alloc_->capacity() - alloc_->reserved());
        return MakeOom(w_, op, "gpu", bytes, std::min(room, bytes - 1),
                       fmt::format("{} (fragmentation: {} allocated, {} reserved, largest free "
                                   "block {})",
                                   what, core::FormatByteSize(alloc_->allocated()),
                                   core::FormatByteSize(alloc_->reserved()),
                                   core::FormatByteSize(alloc_->LargestFreeBlock())));
      }
      *handle = *h;
    }
    return std::nullopt;
  }

  void GpuGive(uint64_t bytes, std::string_view tag, uint64_t handle, const PeakBreakdown& parts) {
    gpu_.Release(bytes, tag);
    SubParts(live_, parts);
    if (alloc_) alloc_->Free(handle);
  }

  // Evicts `evict` (on the GPU) and loads `load` (on the host), one unit at a time, as real
  // copies go: an eviction needs host room before it frees the GPU, a load needs GPU room
  // before it frees the host. Greedy order: the next load (in order) whenever the GPU has room
  // for it; otherwise the first pending eviction the host has room for; what is left of `evict`
  // after the last load. When neither can go, the exchange is stuck: an OOM on the GPU (the
  // load's bytes) when evictions are still pending, else on the host.
  std::optional<PlacementOom> Exchange(int op, const std::vector<int>& evict,
                                       const std::vector<int>& load, bool after_op = false) {
    std::vector<int> pending = evict;
    auto evict_unit = [&](int u) {
      host_.TryCharge(w_.unit_bytes[u], UnitTag(u));  // REQUIRES: room (checked by the caller)
      GpuGive(w_.unit_bytes[u], UnitTag(u), unit_handle_[u], UnitParts(w_, u, w_.unit_bytes[u]));
      gpu_model_ -= w_.unit_bytes[u];
      where_[u] = Where::kHost;
      d2h_ += w_.unit_bytes[u];
      transfers_.push_back({op, after_op, u, Where::kHost, w_.unit_bytes[u]});
    };
    for (int u : load) {
      while (gpu_.available() < w_.unit_bytes[u] && !pending.empty()) {
        const auto fit = std::find_if(pending.begin(), pending.end(),
                                      [&](int x) { return host_.available() >= w_.unit_bytes[x]; });
        if (fit == pending.end()) {
          const int x = pending.front();
          return MakeOom(w_, op, "host", w_.unit_bytes[x], host_.available(),
                         "evicting " + UnitName(x));
        }
        evict_unit(*fit);
        pending.erase(fit);
      }
      if (auto oom = GpuTake(op, w_.unit_bytes[u], UnitTag(u), "loading " + UnitName(u),
                             &unit_handle_[u], UnitParts(w_, u, w_.unit_bytes[u]))) {
        return oom;
      }
      gpu_model_ += w_.unit_bytes[u];
      host_.Release(w_.unit_bytes[u], UnitTag(u));
      where_[u] = Where::kGpu;
      h2d_ += w_.unit_bytes[u];
      transfers_.push_back({op, after_op, u, Where::kGpu, w_.unit_bytes[u]});
    }
    for (int x : pending) {
      if (host_.available() < w_.unit_bytes[x]) {
        return MakeOom(w_, op, "host", w_.unit_bytes[x], host_.available(),
                       "evicting " + UnitName(x));
      }
      evict_unit(x);
    }
    return std::nullopt;
  }

  // Runs Adam op `op` on the CPU (Note [CPU Adam]): no GPU memory, no PCIe.
  void RunOnCpu(int op) {
    timeline_.push_back({gpu_.in_use(), host_.in_use()});
    on_cpu_.resize(op + 1, false);
    on_cpu_[op] = true;
  }

  // Runs op `op` with `gather` bytes of gather buffers: charges its transient for its duration.
  std::optional<PlacementOom> Run(int op, uint64_t gather) {
    const uint64_t non_model = w_.ops[op].non_model_bytes;
    uint64_t nh = 0, gh = 0;
    const PeakBreakdown nm = NonModelParts(w_.ops[op]);
    PeakBreakdown gp;
    gp.params = gather;  // the rest of each gathered chunk: parameters
    if (auto oom = GpuTake(op, non_model, "non-model", "non-model memory", &nh, nm)) return oom;
    if (auto oom = GpuTake(op, gather, "gather", "gather buffers", &gh, gp)) {
      GpuGive(non_model, "non-model", nh, nm);
      return oom;
    }
    timeline_.push_back({gpu_.in_use(), host_.in_use()});
    on_cpu_.resize(op + 1, false);
    GpuGive(gather, "gather", gh, gp);
    GpuGive(non_model, "non-model", nh, nm);
    return std::nullopt;
  }

  PlacementResult Finish(std::string name, std::optional<PlacementOom> oom) const {
    PlacementResult r;
    r.policy = std::move(name);
    r.fits = !oom.has_value();
    r.oom = std::move(oom);
    r.peak_gpu_bytes = gpu_.peak();
    r.peak_breakdown = peak_parts_;
    if (r.peak_breakdown.op == -2) {
      r.peak_breakdown.op = -1;
      r.peak_breakdown.op_name = "initial placement";
    }
    r.peak_reserved_bytes = alloc_ ? alloc_->peak_reserved() : 0;
    r.peak_host_bytes = host_.peak();
    r.h2d_bytes = h2d_;
    r.d2h_bytes = d2h_;
    r.final_location = where_;
    r.initial_location = initial_;
    r.final_gpu_bytes = gpu_.in_use();
    r.final_host_bytes = host_.in_use();
    const core::MemoryStats stats = gpu_.Stats();
    r.final_transient_bytes = stats.Tag("non-model").in_use + stats.Tag("gather").in_use;
    r.gathered_bytes = stats.Tag("gathered").in_use;
    r.transfers = transfers_;
    r.timeline = timeline_;
    r.op_on_cpu = on_cpu_;
    r.op_on_cpu.resize(timeline_.size(), false);
    return r;
  }

 private:
  // Keeps the breakdown of the first moment the GPU ledger reached its peak.
  void NotePeak(int op) {
    if (gpu_.in_use() <= peak_parts_.total() && peak_parts_.op != -2) return;
    peak_parts_ = live_;
    peak_parts_.op = op;
    peak_parts_.op_name = op < 0 ? "initial placement" : w_.ops[op].name;
  }

  const Workload& w_;
  core::MemoryLedger gpu_;
  core::MemoryLedger host_;
  PeakBreakdown live_;  // what the GPU ledger holds now, by part
  // At the peak; op -2 until the first charge (an empty step's peak is 0 at the initial
  // placement).
  PeakBreakdown peak_parts_{.op = -2};
  std::vector<Where> where_;
  std::vector<Where> initial_;
  std::vector<uint64_t> unit_handle_;  // the caching allocator's block of each GPU unit
  std::optional<core::CachingAllocator> alloc_;
  uint64_t gpu_model_ = 0;
  uint64_t h2d_ = 0;
  uint64_t d2h_ = 0;
  std::vector<Transfer> transfers_;
  std::vector<OpMemory> timeline_;
  std::vector<bool> on_cpu_;
};

// The op's units that are on the host.
std::vector<int> Missing(const Step& step, const Op& op) {
  std::vector<int> missing;
  for (int u : op.units) {
    if (step.where(u) == Where::kHost) missing.push_back(u);
  }
  return missing;
}

uint64_t SumBytes(const Workload& w, const std::vector<int>& units) {
  uint64_t bytes = 0;
  for (int u : units) bytes += w.unit_bytes[u];
  return bytes;
}

// Gemini's eviction: resident units not used by op `op`, in `order`, are evicted until the op's
// missing units fit `soft` (while the host can take them) and at least `hard` (Note [Auto
// placement]). Returns the units to evict, or a "cannot fit" result.
StatusOr<std::vector<int>> ChooseEvictions(const Step& step, int op, const std::vector<int>& order,
                                           uint64_t soft, uint64_t hard, PlacementOom* cannot_fit) {
  const Workload& w = step.workload();
  soft = std::min(soft, hard);  // the warmup's cap may exceed what this op leaves free
  const std::vector<int> missing = Missing(step, w.ops[op]);
  const uint64_t need = SumBytes(w, missing);
  uint64_t resident = step.gpu_model_bytes();
  uint64_t host_after = step.host().in_use() - need;
  std::vector<int> evict;
  for (int u : order) {
    if (resident + need <= soft) break;
    const uint64_t x = w.unit_bytes[u];
    if (host_after + x > step.host().capacity() && resident + need <= hard) break;
    evict.push_back(u);
    resident -= x;
    host_after += x;
  }
  if (resident + need > hard) {
    *cannot_fit = MakeOom(w, op, "gpu", resident + need, hard, "cannot fit: model data for the op");
    return Status::ResourceExhausted(cannot_fit->message);
  }
  return evict;
}

// Evictable units (on the GPU, not used by `op`), in unit order.
std::vector<int> Evictable(const Step& step, int op) {
  const Workload& w = step.workload();
  std::vector<int> units;
  for (int u = 0; u < w.num_units(); ++u) {
    if (step.where(u) == Where::kGpu &&
        !std::binary_search(w.ops[op].units.begin(), w.ops[op].units.end(), u)) {
      units.push_back(u);
    }
  }
  return units;
}

// ---- the GPU-Adam variants (Note [GPU-Adam variant]): cpu, static
// -----------------------------------------------------------------------

// A fixed home per unit: GPU-homed units never move; host-homed ones are loaded for each op
// that needs them and evicted right after (cpu: all host; static: fractions). GPU Adam.
class HomePolicy : public PlacementPolicy {
 public:
  HomePolicy(std::string name, StaticFractions fractions)
      : name_(std::move(name)), fractions_(fractions) {}

  std::string Name() const override { return name_; }

  core::Provenance provenance() const override {
    core::Provenance p;
    p.twinsim_own = true;
    p.deviations = {
        "twinsim's GPU-Adam variant, not Gemini (Note [GPU-Adam variant]): Adam on the GPU, "
        "host-homed units loaded for each op and written back after it; fractions of the true "
        "fp16 total, walked in chunk order",
    };
    return p;
  }

  PlacementResult Run(const Workload& w, const MemoryBudget& budget) const override {
    const int num_chunks = static_cast<int>(w.chunk_gather_bytes.size());
    std::vector<Where> home(w.num_units());
    std::vector<bool> kept(num_chunks, false);
    // Note [Static placement]: walk chunks in order against a byte target.
    uint64_t total_chunk = 0;  // one chunk's "chunk memory": its fp16 unit
    for (int c = 0; c < num_chunks; ++c) total_chunk += w.unit_bytes[Fp16Unit(c)];
    const uint64_t optim_target = Scaled(total_chunk, fractions_.offload_optim_frac);
    const uint64_t param_target = Scaled(total_chunk, fractions_.offload_param_frac);
    const uint64_t keep_target = Scaled(total_chunk, 1.0 - fractions_.shard_param_frac);
    const bool param_honoured =
        fractions_.shard_param_frac == 1.0 && fractions_.offload_optim_frac == 1.0;
    uint64_t optim_off = 0, param_off = 0, kept_bytes = 0, gathered = 0;
    for (int c = 0; c < num_chunks; ++c) {
      const uint64_t mem = w.unit_bytes[Fp16Unit(c)];
      home[OptimUnit(c)] = optim_off < optim_target ? Where::kHost : Where::kGpu;
      if (home[OptimUnit(c)] == Where::kHost) optim_off += mem;
      home[Fp16Unit(c)] = param_honoured && param_off < param_target ? Where::kHost : Where::kGpu;
      if (home[Fp16Unit(c)] == Where::kHost) param_off += mem;
      if (w.chunk_gather_bytes[c] > 0 && kept_bytes < keep_target) {
        kept[c] = true;
        kept_bytes += mem;
        gathered += w.chunk_gather_bytes[c];
      }
    }

    Step step(w, budget);
    // Every result, an OOM's too, lists the chunks kept gathered.
    auto finish = [&](std::optional<PlacementOom> oom) {
      PlacementResult r = step.Finish(name_, std::move(oom));
      r.kept_gathered_chunks = kept;
      return r;
    };
    for (int u = 0; u < w.num_units(); ++u) {
      if (auto oom = step.Place(u, home[u])) return finish(oom);
    }
    if (auto oom = step.PlacePinned(gathered)) return finish(oom);
    for (size_t i = 0; i < w.ops.size(); ++i) {
      const int op = static_cast<int>(i);
      const Op& o = w.ops[i];
      if (auto oom = step.Exchange(op, {}, Missing(step, o))) return finish(oom);
      if (auto oom = step.Run(op, w.OpGatherBytes(o, kept))) return finish(oom);
      std::vector<int> after;
      for (int u : o.units) {
        if (home[u] == Where::kHost) after.push_back(u);
      }
      if (auto oom = step.Exchange(op, after, {}, /*after_op=*/true)) return finish(oom);
    }
    return finish(std::nullopt);
  }

 private:
  std::string name_;
  StaticFractions fractions_;
};

// ---- the GPU-Adam variant of auto
// ------------------------------------------------------------------------------------

class AutoPolicy : public PlacementPolicy {
 public:
  explicit AutoPolicy(AutoOptions options) : options_(options) {}

  std::string Name() const override {
    return fmt::format("auto({:g},{:g})+gpu-adam", options_.warmup_non_model_ratio,
                       options_.steady_cap_ratio);
  }

  core::Provenance provenance() const override {
    core::Provenance p;
    p.twinsim_own = true;
    p.deviations = {
        "twinsim's GPU-Adam variant of Gemini's auto, not Gemini (Note [GPU-Adam variant]): "
        "units start on the GPU up to the warmup budget, optimizer units move over PCIe for GPU "
        "Adam, soft budgets yield when the host is full, ties evict the higher unit",
    };
    return p;
  }

  PlacementResult Run(const Workload& w, const MemoryBudget& budget) const override {
    if (w.ops.empty()) return Step(w, budget).Finish(Name(), std::nullopt);
    const uint64_t cap = budget.gpu_bytes;
    // 1. Warmup (Note [Auto placement]).
    Step warm(w, budget);
    const uint64_t warm_soft = Scaled(cap, 1.0 - options_.warmup_non_model_ratio);
    const uint64_t hard0 = SatSub(cap, w.ops[0].non_model_bytes + w.OpGatherBytes(w.ops[0]));
    uint64_t rest = w.total_model_bytes;
    uint64_t on_gpu = 0;
    for (int u = 0; u < w.num_units(); ++u) {
      const uint64_t x = w.unit_bytes[u];
      const bool gpu = on_gpu + x <= warm_soft || (rest > budget.host_bytes && on_gpu + x <= hard0);
      if (gpu) on_gpu += x;
      // Units left for the host after this one.
      if (auto oom = warm.Place(u, gpu ? Where::kGpu : Where::kHost)) {
        return warm.Finish(Name(), oom);
      }
      if (gpu) rest -= x;
    }
    std::vector<uint64_t> trace(w.ops.size());
    for (size_t i = 0; i < w.ops.size(); ++i) {
      const int op = static_cast<int>(i);
      const uint64_t gather = w.OpGatherBytes(w.ops[i]);
      const uint64_t hard = SatSub(cap, w.ops[i].non_model_bytes + gather);
      PlacementOom cannot_fit;
      StatusOr<std::vector<int>> evict =
          ChooseEvictions(warm, op, Evictable(warm, op), warm_soft, hard, &cannot_fit);
      if (!evict.ok()) return warm.Finish(Name(), cannot_fit);
      if (auto oom = warm.Exchange(op, *evict, Missing(warm, w.ops[i]))) {
        return warm.Finish(Name(), oom);
      }
      if (auto oom = warm.Run(op, gather)) return warm.Finish(Name(), oom);
      // The tracer's sample: the ledger's non-model + gather charge while the op ran.
      trace[i] = w.ops[i].non_model_bytes + gather;
    }

    // 2. Steady steps: one from where the warmup ended, then the reported one from where that
    // ended (Note [Auto placement]).
    std::vector<Where> start(w.num_units());
    for (int u = 0; u < w.num_units(); ++u) start[u] = warm.where(u);
    PlacementResult first = SteadyStep(w, budget, trace, start);
    if (!first.fits) return first;
    return SteadyStep(w, budget, trace, first.final_location);
  }

 private:
  PlacementResult SteadyStep(const Workload& w, const MemoryBudget& budget,
                             const std::vector<uint64_t>& trace,
                             const std::vector<Where>& start) const {
    const uint64_t cap = budget.gpu_bytes;
    Step step(w, budget);
    for (int u = 0; u < w.num_units(); ++u) {
      if (auto oom = step.Place(u, start[u])) return step.Finish(Name(), oom);
    }
    const NextUse next(w);
    const uint64_t steady_cap = Scaled(cap, options_.steady_cap_ratio);
    for (size_t i = 0; i < w.ops.size(); ++i) {
      const int op = static_cast<int>(i);
      const uint64_t period = std::max(trace[i], i + 1 < trace.size() ? trace[i + 1] : 0);
      const uint64_t soft = SatSub(steady_cap, period);
      const uint64_t hard = SatSub(cap, trace[i]);
      std::vector<int> order = Evictable(step, op);
      std::stable_sort(order.begin(), order.end(), [&](int a, int b) {
        const uint64_t na = next.After(a, op), nb = next.After(b, op);
        return na != nb ? na > nb : a > b;  // the variant's tie rule: the higher unit
      });
      PlacementOom cannot_fit;
      StatusOr<std::vector<int>> evict = ChooseEvictions(step, op, order, soft, hard, &cannot_fit);
      if (!evict.ok()) return step.Finish(Name(), cannot_fit);
      if (auto oom = step.Exchange(op, *evict, Missing(step, w.ops[i]))) {
        return step.Finish(Name(), oom);
      }
      if (auto oom = step.Run(op, w.OpGatherBytes(w.ops[i]))) return step.Finish(Name(), oom);
    }
    return step.Finish(Name(), std::nullopt);
  }

 private:
  AutoOptions options_;
};

// ---- Gemini as coded: cuda, cpu, static, static-documented, auto ---------------------------

constexpr char kColossal[] = "hpcaitech/ColossalAI";
constexpr char kColossalCommit[] = "4f9953be";

core::SourceRef Colossal(std::string file, std::string function, int first, int last,
                         std::string fact) {
  return core::SourceRef{kColossal, kColossalCommit, std::move(file), std::move(function), first,
                         last,      std::move(fact)};
}

// The sources every Gemini policy shares (Note [Gemini placement], Note [CPU Adam]).
std::vector<core::SourceRef> GeminiCommonSources() {
  return {
      Colossal("colossalai/zero/gemini/gemini_ddp.py", "GeminiDDP.__init__", 183, 188,
               "cpu_offload is true unless the policy is static with offload_param_frac == 0: "
               "chunk shards then start on the CPU"),
      Colossal("colossalai/zero/gemini/gemini_ddp.py", "GeminiDDP._init_chunks", 863, 874,
               "fp32 chunks move to the gradient device that setup_grads_device chose"),
      Colossal("colossalai/zero/gemini/gemini_ddp.py", "GeminiDDP.grad_handle", 398, 435,
               "after a chunk's gradients are reduced it moves to its gradient device"),
      Colossal("colossalai/zero/gemini/gemini_hook.py", "GeminiZeROHook.pre_op", 27, 84,
               "per op: tensors to COMPUTE, adjust_layout evicts, the op's chunks are accessed; "
               "post_op: HOLD after forward, HOLD_AFTER_BWD after backward"),
      Colossal("colossalai/zero/gemini/chunk/manager.py", "ChunkManager.get_cuda_movable_chunks",
               191, 200,
               "evictable: accessed chunks that can_release, sorted by count_id; only fp16 "
               "chunks are ever accessed"),
      Colossal("colossalai/zero/gemini/chunk/chunk.py", "Chunk.can_move / can_release", 224, 236,
               "can_move is not is_gathered; can_release needs every tensor HOLD or "
               "HOLD_AFTER_BWD (and the chunk not keep_gathered)"),
      Colossal("colossalai/zero/gemini/gemini_optimizer.py", "GeminiOptimizer.__init__optimizer",
               353, 385,
               "one fake parameter per tensor range of the shard: Adam m and v cover valid "
               "elements only"),
      Colossal("colossalai/zero/gemini/chunk/chunk.py", "Chunk.optim_update", 494, 514,
               "a CPU-updated fp16 chunk is refreshed from its fp32 pair on its next move to "
               "the GPU"),
  };
}

std::vector<std::string> GeminiCommonDeviations() {
  return {
      "twinsim releases a DP-sharded chunk's gathered copy after each op (a transient); "
      "Gemini keeps it gathered until evict_tensors releases it",
      "the first load after a CPU Adam update copies the fp32 master shard and casts it on the "
      "GPU (chunk.py:559-572), twice the fp16 bytes; twinsim counts the fp16 unit's bytes",
      "Gemini's keep_gathered chunks (small groups of the chunk search) are not modelled",
  };
}

// What a Gemini policy decides before the step: where each chunk's optimizer state lives and
// where its fp16 shard starts.
struct GeminiHomes {
  std::vector<Where> optim;  // per chunk
  bool cpu_offload = true;
};

// Per chunk, the last backward op, whose gradients complete it (-1: none): Note [Gemini
// placement] 3.
struct BackwardMarks {
  std::vector<int> last_bwd;  // per chunk
};

BackwardMarks MarkBackward(const Workload& w) {
  BackwardMarks m;
  m.last_bwd.assign(w.num_chunks(), -1);
  for (size_t i = 0; i < w.ops.size(); ++i) {
    if (w.ops[i].phase != OpPhase::kBackward) continue;
    for (int c : w.ops[i].chunks) m.last_bwd[c] = static_cast<int>(i);
  }
  return m;
}

// Gemini's chunk_mem (workload.h), robust to bare test workloads without per-chunk figures.
uint64_t GeminiChunkMem(const Workload& w, int c) {
  if (c < static_cast<int>(w.chunk_param_bytes.size())) return w.ChunkMem(c);
  return w.unit_bytes[Fp16Unit(c)] + w.chunk_gather_bytes[c];
}
int GeminiNumTensors(const Workload& w, int c) {
  return c < static_cast<int>(w.chunk_num_tensors.size()) ? w.chunk_num_tensors[c] : 1;
}

class GeminiPolicy : public PlacementPolicy {
 public:
  enum class Kind : uint8_t { kStatic, kAuto };

  GeminiPolicy(std::string name, StaticFractions fractions)
      : name_(std::move(name)), kind_(Kind::kStatic), fractions_(fractions) {}
  GeminiPolicy(std::string name, AutoOptions options)
      : name_(std::move(name)), kind_(Kind::kAuto), auto_(options) {}

  std::string Name() const override { return name_; }

  core::Provenance provenance() const override {
    core::Provenance p;
    if (kind_ == Kind::kAuto) {
      p.sources = {
          Colossal("colossalai/zero/gemini/placement_policy.py",
                   "AutoPlacementPolicy.evict_tensors", 149, 211,
                   "model data may use (1 - warmup ratio) of the GPU in warmup and "
                   "steady_cuda_cap_ratio * capacity - next period's non-model data after; "
                   "evict until the demand fits or raise 'Adjust layout failed'"),
          Colossal("colossalai/zero/gemini/placement_policy.py",
                   "AutoPlacementPolicy._sort_can_evict_chunks", 213, 222,
                   "furthest next use first; a stable reverse sort over count_id order evicts "
                   "the lower chunk first on ties"),
          Colossal("colossalai/zero/gemini/placement_policy.py",
                   "AutoPlacementPolicy.setup_grads_device", 224, 234,
                   "every chunk that is not keep_gathered has its gradients and fp32 state on "
                   "the CPU"),
          Colossal("colossalai/zero/gemini/gemini_optimizer.py",
                   "GeminiOptimizer._maybe_move_fp32_params", 313, 343,
                   "fp32 chunks move to the GPU within gpu_margin_mem_ratio of the spare memory "
                   "/ num_fp32_shards_per_param"),
          Colossal("colossalai/zero/gemini/gemini_optimizer.py", "GeminiOptimizer.__init__", 184,
                   195, "gpu_margin_mem_ratio in [0, 1], meaningful only under auto"),
          Colossal("colossalai/booster/plugin/gemini_plugin.py", "GeminiPlugin.__init__", 452, 463,
                   "defaults: warmup_non_model_data_ratio 0.8, steady_cuda_cap_ratio 0.9, "
                   "gpu_margin_mem_ratio 0.0"),
      };
      p.deviations = {
          "demand, used and freed memory are the units' bytes; Gemini counts chunk_mem (the "
          "whole chunk), the same without DP sharding",
      };
    } else {
      p.sources = {
          Colossal("colossalai/zero/gemini/placement_policy.py", "StaticPlacementPolicy.__init__",
                   59, 61,
                   "offload_param_frac is ignored (warning) unless shard_param_frac == 1 and "
                   "offload_optim_frac == 1"),
          Colossal("colossalai/zero/gemini/placement_policy.py",
                   "StaticPlacementPolicy.setup_grads_device", 86, 107,
                   "total_chunk_mem sums chunk_mem over parameters; the walk over set(chunks) "
                   "offloads optimizer chunks until offload_optim_frac of that total; "
                   "keep_gathered and keep_cuda budgets from the same total"),
          Colossal("colossalai/zero/gemini/placement_policy.py",
                   "StaticPlacementPolicy.evict_tensors", 69, 84,
                   "release from the front while above keep_gathered_chunk_mem, then move to "
                   "the CPU from the front while above keep_cuda_chunk_mem"),
          Colossal("colossalai/booster/plugin/gemini_plugin.py", "GeminiPlugin", 388, 398,
                   "docs: static(1,0,0) is the old cuda placement, static(1,1,1) the old cpu; "
                   "the fractions are of the parameters and optimizer states"),
          Colossal("colossalai/booster/plugin/gemini_plugin.py", "GeminiPlugin.__init__", 446, 451,
                   "defaults: placement_policy 'static', fractions (1, 0, 0)"),
      };
      if (fractions_.documented) {
        p.deviations = {
            "models the docstring's intent, not the code: fractions of the chunks' true total "
            "(each chunk once); ColossalAI's code sums chunk_mem per parameter "
            "(placement_policy.py:89), so its fractions are of a total inflated by the tensors "
            "per chunk",
        };
      } else {
        p.deviations = {
            "ColossalAI's code disagrees with its docs: total_chunk_mem counts each chunk once "
            "per tensor in it (placement_policy.py:89), so offload_optim_frac offloads far more "
            "than the fraction and offload_param_frac far less (static-documented models the "
            "docs)",
            "set(chunks) iterates in address order, which the code does not determine; twinsim "
            "walks count_id order",
        };
      }
    }
    for (core::SourceRef& s : GeminiCommonSources()) p.sources.push_back(std::move(s));
    for (std::string& d : GeminiCommonDeviations()) p.deviations.push_back(std::move(d));
    return p;
  }

  PlacementResult Run(const Workload& w, const MemoryBudget& budget) const override {
    const BackwardMarks marks = MarkBackward(w);
    if (kind_ == Kind::kStatic) {
      const StaticPlan plan = PlanStatic(w, fractions_);
      GeminiHomes homes;
      homes.cpu_offload = plan.cpu_offload;
      for (int c = 0; c < w.num_chunks(); ++c) {
        homes.optim.push_back(plan.optim_on_host[c] ? Where::kHost : Where::kGpu);
      }
      // The first step starts from the initial placement; the result is the second, from where
      // the first ended: fp16 chunks whose gradients went to the host start there.
      uint64_t peak = 0;
      PlacementResult first = RunStep(w, budget, marks, homes, InitialPlacement(w, homes),
                                      Pass::kStatic, &plan, {}, &peak);
      if (!first.fits) return first;
      return RunStep(w, budget, marks, homes, first.final_location, Pass::kStatic, &plan, {},
                     &peak);
    }
    // Auto: warmup from the initial placement, then two steady steps (Note [Auto placement]).
    GeminiHomes homes;
    homes.cpu_offload = true;
    homes.optim.assign(w.num_chunks(), Where::kHost);
    std::vector<uint64_t> trace(w.ops.size(), 0);
    uint64_t warm_peak = 0;
    PlacementResult warm = RunStep(w, budget, marks, homes, InitialPlacement(w, homes),
                                   Pass::kWarmup, nullptr, {}, &warm_peak, &trace);
    if (!warm.fits) return warm;
    std::vector<Where> start = warm.final_location;
    // Note [GPU margin]: fp32 chunks (and their fp16 chunks) to the GPU, once.
    if (auto_.gpu_margin_mem_ratio > 0) {
      const double margin = static_cast<double>(SatSub(budget.gpu_bytes, warm_peak));
      const double available = margin * auto_.gpu_margin_mem_ratio / 4.0;
      double used = 0;
      for (int c = 0; c < w.num_chunks(); ++c) {
        const double fp32 = static_cast<double>(2 * w.chunk_param_bytes[c]);  // master shard
        if (used + fp32 < available) {
          homes.optim[c] = Where::kGpu;
          start[OptimUnit(c)] = Where::kGpu;
          start[Fp16Unit(c)] = Where::kGpu;
          used += fp32;
        }
      }
    }
    uint64_t unused = 0;
    PlacementResult first =
        RunStep(w, budget, marks, homes, start, Pass::kSteady, nullptr, trace, &unused);
    if (!first.fits) return first;
    return RunStep(w, budget, marks, homes, first.final_location, Pass::kSteady, nullptr, trace,
                   &unused);
  }

 private:
  enum class Pass : uint8_t { kStatic, kWarmup, kSteady };

  static std::vector<Where> InitialPlacement(const Workload& w, const GeminiHomes& homes) {
    std::vector<Where> start(w.num_units());
    for (int c = 0; c < w.num_chunks(); ++c) {
      start[Fp16Unit(c)] = homes.cpu_offload ? Where::kHost : Where::kGpu;
      start[OptimUnit(c)] = homes.optim[c];
    }
    return start;
  }

  // The next forward or backward op after `op` that uses chunk c (Gemini's compute_list holds
  // only those), or kNever.
  static uint64_t NextCompute(const Workload& w, const std::vector<std::vector<int>>& uses, int c,
                              int op) {
    const std::vector<int>& v = uses[c];
    const auto it = std::upper_bound(v.begin(), v.end(), op);
    return it == v.end() ? kNever : static_cast<uint64_t>(*it);
  }

  // One step (Note [Gemini placement]). `plan` for static; `trace` read in steady passes and
  // written in the warmup; `peak` gets the GPU ledger's peak.
  PlacementResult RunStep(const Workload& w, const MemoryBudget& budget, const BackwardMarks& marks,
                          const GeminiHomes& homes, const std::vector<Where>& start, Pass pass,
                          const StaticPlan* plan, const std::vector<uint64_t>& steady_trace,
                          uint64_t* peak, std::vector<uint64_t>* trace_out = nullptr) const {
    Step step(w, budget);
    for (int u = 0; u < w.num_units(); ++u) {
      if (auto oom = step.Place(u, start[u])) return step.Finish(name_, oom);
    }
    const int n = w.num_chunks();
    std::vector<bool> accessed(n, false), pending(n, false);
    std::vector<std::vector<int>> uses(n);  // fwd/bwd ops per chunk, ascending
    for (size_t i = 0; i < w.ops.size(); ++i) {
      if (w.ops[i].phase == OpPhase::kOptimizer) continue;
      for (int c : w.ops[i].chunks) uses[c].push_back(static_cast<int>(i));
    }
    const uint64_t cap = budget.gpu_bytes;
    for (size_t i = 0; i < w.ops.size(); ++i) {
      const int op = static_cast<int>(i);
      const Op& o = w.ops[i];
      if (o.phase == OpPhase::kOptimizer) {
        const int c = o.chunks.front();
        if (step.where(OptimUnit(c)) == Where::kHost) {
          step.RunOnCpu(op);  // Note [CPU Adam]
          continue;
        }
        if (auto oom = step.Exchange(op, {}, Missing(step, o))) return step.Finish(name_, oom);
        if (auto oom = step.Run(op, 0)) return step.Finish(name_, oom);
        continue;
      }
      // 1. The evictable chunks, in count_id order.
      std::vector<int> evictable;
      for (int c = 0; c < n; ++c) {
        if (accessed[c] && !pending[c] && step.where(Fp16Unit(c)) == Where::kGpu &&
            !std::binary_search(o.chunks.begin(), o.chunks.end(), c)) {
          evictable.push_back(c);
        }
      }
      const std::vector<int> missing = Missing(step, o);
      std::vector<int> evict;  // fp16 units
      if (pass == Pass::kStatic) {
        // evict_tensors (Note [Static placement]).
        double can_shard = 0;
        for (int c : evictable) can_shard += static_cast<double>(GeminiChunkMem(w, c));
        double can_offload = can_shard;
        std::vector<bool> released(n, false);
        for (int c : evictable) {
          if (can_shard <= plan->keep_gathered_chunk_mem) break;
          released[c] = true;
          accessed[c] = false;
          can_shard -= static_cast<double>(GeminiChunkMem(w, c));
        }
        for (int c : evictable) {
          if (can_offload <= plan->keep_cuda_chunk_mem) break;
          if (released[c]) evict.push_back(Fp16Unit(c));  // can_move: not gathered
          can_offload -= static_cast<double>(GeminiChunkMem(w, c));
        }
      } else {
        // AutoPlacementPolicy.evict_tensors (Note [Auto placement]).
        const uint64_t demand = SumBytes(w, missing);
        const uint64_t used = step.gpu_model_bytes();
        // The GPU share the policy allows and the non-model memory it reserves in it; model
        // data may use the difference (:179-186, as Python computes it).
        double cap_share, reserved;
        std::vector<int> order = evictable;
        if (pass == Pass::kWarmup) {
          cap_share = static_cast<double>(cap);
          reserved = static_cast<double>(cap) * auto_.warmup_non_model_ratio;
        } else {
          const uint64_t period =
              std::max(steady_trace[i], i + 1 < steady_trace.size() ? steady_trace[i + 1] : 0);
          cap_share = static_cast<double>(cap) * auto_.steady_cap_ratio;
          reserved = static_cast<double>(period);
          // Furthest next use first; stable, so ties keep count_id order (the lower first).
          std::stable_sort(order.begin(), order.end(), [&](int a, int b) {
            return NextCompute(w, uses, a, op) > NextCompute(w, uses, b, op);
          });
        }
        const double budget_model = cap_share - reserved;
        const double avail = budget_model - static_cast<double>(used);
        if (avail < static_cast<double>(demand)) {
          const double to_free = static_cast<double>(demand) - avail;
          double freed = 0;
          for (int c : order) {
            if (freed >= to_free) break;
            accessed[c] = false;
            evict.push_back(Fp16Unit(c));
            freed += static_cast<double>(w.unit_bytes[Fp16Unit(c)]);
          }
          if (freed < to_free) {
            // The op's model data (what stays resident plus its demand) and the non-model
            // share the policy reserves, against the GPU share the policy allows: short by
            // to_free - freed.
            const double requested =
                static_cast<double>(used) - freed + static_cast<double>(demand) + reserved;
            PlacementOom oom = MakeOom(
                w, op, "gpu", static_cast<uint64_t>(std::ceil(requested)),
                static_cast<uint64_t>(std::max(0.0, std::floor(cap_share))),
                "cannot fit (Gemini: \"Adjust layout failed! No enough CUDA memory!\"): model "
                "data for the op and the non-model memory reserved");
            oom.policy_limit = true;
            return step.Finish(name_, oom);
          }
        }
      }
      // 2. Evict (adjust_layout runs before the op's chunks are accessed), then load the op's
      // chunks; they are accessed.
      if (auto oom = step.Exchange(op, evict, {})) return step.Finish(name_, oom);
      if (auto oom = step.Exchange(op, {}, missing)) return step.Finish(name_, oom);
      for (int c : o.chunks) accessed[c] = true;
      const uint64_t gather = w.OpGatherBytes(o);
      if (auto oom = step.Run(op, gather)) return step.Finish(name_, oom);
      if (trace_out) (*trace_out)[i] = o.non_model_bytes + gather;
      // 3. Backward: a chunk whose last gradients this op produced is reduced and goes to its
      // gradient device.
      if (o.phase == OpPhase::kBackward) {
        std::vector<int> after;
        for (int c : o.chunks) {
          if (marks.last_bwd[c] == op) {
            pending[c] = false;
            accessed[c] = false;
            if (homes.optim[c] == Where::kHost) after.push_back(Fp16Unit(c));
          } else {
            pending[c] = true;
          }
        }
        if (auto oom = step.Exchange(op, after, {}, /*after_op=*/true)) {
          return step.Finish(name_, oom);
        }
      }
    }
    *peak = step.gpu().peak();
    return step.Finish(name_, std::nullopt);
  }

  std::string name_;
  Kind kind_;
  StaticFractions fractions_;
  AutoOptions auto_;
};

// ---- optimal ---------------------------------------------------------------------------------

class OptimalPolicy : public PlacementPolicy {
 public:
  std::string Name() const override { return "optimal"; }

  core::Provenance provenance() const override {
    core::Provenance p;
    p.twinsim_own = true;  // Note [Optimal placement]: offline Belady, a bound
    return p;
  }

  PlacementResult Run(const Workload& w, const MemoryBudget& budget) const override {
    PlacementResult r;
    r.policy = Name();
    r.fits = true;
    r.peak_breakdown.op_name = "initial placement";
    const uint64_t cap = budget.gpu_bytes;
    const NextUse next(w);
    std::vector<uint64_t> resident(w.num_units(), 0);
    uint64_t on_gpu = 0;
    auto transient = [&](int op) { return w.ops[op].non_model_bytes + w.OpGatherBytes(w.ops[op]); };
    auto fail = [&](int op, uint64_t requested, uint64_t available) {
      r.fits = false;
      r.oom = MakeOom(w, op, "gpu", requested, available, "op units + transient");
      return r;
    };
    if (w.ops.empty()) return r;
    // Free initial content: units in order of first use, up to op 0's budget (bytes).
    std::vector<int> by_first(w.num_units());
    std::iota(by_first.begin(), by_first.end(), 0);
    std::stable_sort(by_first.begin(), by_first.end(),
                     [&](int a, int b) { return next.First(a) < next.First(b); });
    uint64_t room = SatSub(cap, transient(0));
    for (int u : by_first) {
      if (next.First(u) == kNever) break;
      const uint64_t take = std::min(room, w.unit_bytes[u]);
      resident[u] = take;
      on_gpu += take;
      room -= take;
    }
    for (size_t i = 0; i < w.ops.size(); ++i) {
      const int op = static_cast<int>(i);
      const Op& o = w.ops[i];
      const uint64_t own = w.OpUnitBytes(o);
      if (own + transient(op) > cap) return fail(op, own + transient(op), cap);
      const uint64_t limit = cap - transient(op);
      uint64_t missing = 0;
      for (int u : o.units) missing += w.unit_bytes[u] - resident[u];
      if (on_gpu + missing > limit) {
        uint64_t excess = on_gpu + missing - limit;
        std::vector<int> order;
        for (int u = 0; u < w.num_units(); ++u) {
          if (resident[u] > 0 && !std::binary_search(o.units.begin(), o.units.end(), u)) {
            order.push_back(u);
          }
        }
        std::stable_sort(order.begin(), order.end(), [&](int a, int b) {
          const uint64_t na = next.After(a, op), nb = next.After(b, op);
          return na != nb ? na > nb : a > b;
        });
        for (int u : order) {
          if (excess == 0) break;
          const uint64_t drop = std::min(excess, resident[u]);
          resident[u] -= drop;
          on_gpu -= drop;
          excess -= drop;
          r.d2h_bytes += drop;
          r.transfers.push_back({op, false, u, Where::kHost, drop});
        }
      }
      for (int u : o.units) {
        if (resident[u] < w.unit_bytes[u]) {
          r.transfers.push_back({op, false, u, Where::kGpu, w.unit_bytes[u] - resident[u]});
        }
        r.h2d_bytes += w.unit_bytes[u] - resident[u];
        on_gpu += w.unit_bytes[u] - resident[u];
        resident[u] = w.unit_bytes[u];
      }
      if (on_gpu + transient(op) > r.peak_gpu_bytes || i == 0) {
        // Note [Peak breakdown]: the resident bytes by unit, the op's transient.
        PeakBreakdown parts = NonModelParts(o);
        parts.params += w.OpGatherBytes(o);
        for (int u = 0; u < w.num_units(); ++u) {
          if (resident[u] > 0) AddParts(parts, UnitParts(w, u, resident[u]));
        }
        parts.op = op;
        parts.op_name = o.name;
        r.peak_breakdown = std::move(parts);
      }
      r.peak_gpu_bytes = std::max(r.peak_gpu_bytes, on_gpu + transient(op));
      r.timeline.push_back({on_gpu + transient(op), w.total_model_bytes - on_gpu});
      r.peak_host_bytes = std::max(r.peak_host_bytes, w.total_model_bytes - on_gpu);
    }
    r.final_gpu_bytes = on_gpu;
    r.final_host_bytes = w.total_model_bytes - on_gpu;
    return r;
  }
};

bool InUnitRange(double x) { return x >= 0.0 && x <= 1.0; }

}  // namespace

std::unique_ptr<PlacementPolicy> MakeCudaPolicy() {
  return std::make_unique<GeminiPolicy>("cuda", StaticFractions{1.0, 0.0, 0.0});
}

std::unique_ptr<PlacementPolicy> MakeCpuPolicy(bool gpu_adam) {
  if (gpu_adam) {
    return std::make_unique<HomePolicy>("cpu+gpu-adam", StaticFractions{1.0, 1.0, 1.0, true});
  }
  return std::make_unique<GeminiPolicy>("cpu", StaticFractions{1.0, 1.0, 1.0});
}

StaticPlan PlanStatic(const Workload& w, const StaticFractions& f) {
  StaticPlan plan;
  // placement_policy.py:59-61.
  double param = f.offload_param_frac;
  if (param > 0.0 && (f.shard_param_frac != 1.0 || f.offload_optim_frac != 1.0)) {
    param = 0.0;
    plan.param_frac_ignored = true;
  }
  // :89 sums chunk_mem per parameter; the documented intent counts each chunk once.
  double inflated = 0;
  for (int c = 0; c < w.num_chunks(); ++c) {
    const double mem = static_cast<double>(GeminiChunkMem(w, c));
    plan.true_chunk_mem += mem;
    inflated += mem * GeminiNumTensors(w, c);
  }
  plan.total_chunk_mem = f.documented ? plan.true_chunk_mem : inflated;
  // gemini_ddp.py:186 reads the argument, before the policy ignored it.
  plan.cpu_offload = f.documented ? param != 0.0 : f.offload_param_frac != 0.0;
  // :91-105, walking count_id order for set(chunks) (Note [Static placement]).
  const double target = plan.total_chunk_mem * f.offload_optim_frac;
  double offloaded = 0;
  plan.optim_on_host.assign(w.num_chunks(), false);
  for (int c = 0; c < w.num_chunks(); ++c) {
    if (offloaded >= target) continue;
    plan.optim_on_host[c] = true;
    offloaded += static_cast<double>(GeminiChunkMem(w, c));
    plan.offloaded_optim_bytes += w.unit_bytes[OptimUnit(c)];
    ++plan.offloaded_optim_chunks;
  }
  plan.keep_gathered_chunk_mem = plan.total_chunk_mem * (1.0 - f.shard_param_frac);
  plan.keep_cuda_chunk_mem = plan.total_chunk_mem * (1.0 - param);
  return plan;
}

StatusOr<std::unique_ptr<PlacementPolicy>> MakeStaticPolicy(const StaticFractions& f) {
  if (!InUnitRange(f.shard_param_frac) || !InUnitRange(f.offload_optim_frac) ||
      !InUnitRange(f.offload_param_frac)) {
    return Status::InvalidArgument(
        fmt::format("static placement: fractions ({}, {}, {}) must be in [0, 1]",
                    f.shard_param_frac, f.offload_optim_frac, f.offload_param_frac));
  }
  const std::string fractions = fmt::format("({:g},{:g},{:g})", f.shard_param_frac,
                                            f.offload_optim_frac, f.offload_param_frac);
  std::unique_ptr<PlacementPolicy> p;
  if (f.gpu_adam) {
    if (f.documented) {
      return Status::InvalidArgument(
          "static placement: the GPU-Adam variant already walks the documented fractions; "
          "give documented or gpu_adam, not both");
    }
    p = std::make_unique<HomePolicy>("static" + fractions + "+gpu-adam", f);
  } else {
    p = std::make_unique<GeminiPolicy>((f.documented ? "static-documented" : "static") + fractions,
                                       f);
  }
  return p;
}

StatusOr<std::unique_ptr<PlacementPolicy>> MakeAutoPolicy(const AutoOptions& options) {
  if (!InUnitRange(options.warmup_non_model_ratio) || !InUnitRange(options.steady_cap_ratio)) {
    return Status::InvalidArgument(fmt::format("auto placement: ratios ({}, {}) must be in [0, 1]",
                                               options.warmup_non_model_ratio,
                                               options.steady_cap_ratio));
  }
  // gemini_optimizer.py:185.
  if (!InUnitRange(options.gpu_margin_mem_ratio)) {
    return Status::InvalidArgument(fmt::format(
        "auto placement: gpu_margin_mem_ratio {} must be in [0, 1]", options.gpu_margin_mem_ratio));
  }
  std::unique_ptr<PlacementPolicy> p;
  if (options.gpu_adam) {
    if (options.gpu_margin_mem_ratio > 0) {
      return Status::InvalidArgument(
          "auto placement: gpu_margin_mem_ratio moves HybridAdam's fp32 state; the GPU-Adam "
          "variant has none on the host to move");
    }
    p = std::make_unique<AutoPolicy>(options);
  } else {
    std::string name =
        fmt::format("auto({:g},{:g}", options.warmup_non_model_ratio, options.steady_cap_ratio);
    if (options.gpu_margin_mem_ratio > 0) {
      name += fmt::format(",margin={:g}", options.gpu_margin_mem_ratio);
    }
    p = std::make_unique<GeminiPolicy>(name + ")", options);
  }
  return p;
}

std::unique_ptr<PlacementPolicy> MakeOptimalPolicy() { return std::make_unique<OptimalPolicy>(); }

std::vector<PlacementResult> RunPolicies(std::span<const PlacementPolicy* const> policies,
                                         const Workload& workload, const MemoryBudget& budget) {
  const PlacementResult optimal = OptimalPolicy().Run(workload, budget);
  std::vector<PlacementResult> results;
  for (const PlacementPolicy* p : policies) {
    PlacementResult r = p->Run(workload, budget);
    if (!r.fits) {
      r.ratio_to_optimal = 0;
    } else if (optimal.h2d_bytes > 0) {
      r.ratio_to_optimal =
          static_cast<double>(r.h2d_bytes) / static_cast<double>(optimal.h2d_bytes);
    } else {
      r.ratio_to_optimal = r.h2d_bytes == 0 ? 1.0 : std::numeric_limits<double>::infinity();
    }
    results.push_back(std::move(r));
  }
  return results;
}

bool FeasiblePlacementExists(const Workload& w, const MemoryBudget& budget) {
  uint64_t min_room = kNever;
  for (const Op& op : w.ops) {
    const uint64_t transient = op.non_model_bytes + w.OpGatherBytes(op);
    if (w.OpUnitBytes(op) + transient > budget.gpu_bytes) return false;
    min_room = std::min(min_room, budget.gpu_bytes - transient);
  }
  if (w.ops.empty()) min_room = budget.gpu_bytes;
  const uint64_t max_unit =
      w.unit_bytes.empty() ? 0 : *std::max_element(w.unit_bytes.begin(), w.unit_bytes.end());
  return w.total_model_bytes + 2 * max_unit <= budget.host_bytes + min_room;
}

}  // namespace twinsim::placement
