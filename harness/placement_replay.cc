#include "harness/placement_replay.h"

#include <fmt/format.h>

#include <algorithm>
#include <utility>

#include "policies/placement/step_walk.h"

namespace twinsim::harness {

using gpu::Transfer;
using gpu::TransferClass;

namespace {

using placement::PlacementResult;
using placement::Where;
using placement::Workload;

std::string UnitText(int unit) {
  return fmt::format("unit {} ({} of chunk {})", unit, unit % 2 == 0 ? "fp16" : "optim",
                     placement::ChunkOfUnit(unit));
}

std::string OpText(const Workload& w, int op) {
  return op < 0 ? std::string("initial placement") : fmt::format("op {} ({})", op, w.ops[op].name);
}

// One replay: buffers made on the device, the first refusal, the running peak. Every buffer is
// freed by Release() (Note [Replaying a placement step's memory]).
class Replayer {
 public:
  Replayer(core::Device& device, const Workload& w)
      : device_(device), w_(w), units_(w.num_units()) {}

  bool refused() const { return result_.device_oom.has_value(); }
  MemoryReplay& result() { return result_; }
  bool on_device(int unit) const { return !units_[unit].is_null(); }

  // Allocates `bytes` for `what`; a refusal is recorded, not an error. Zero bytes: nothing.
  StatusOr<core::Buffer> Take(int op, uint64_t bytes, std::string_view tag, std::string what) {
    if (bytes == 0 || refused()) return core::Buffer{};
    TWINSIM_ASSIGN_OR_RETURN(core::Allocation a, device_.Allocate(bytes, tag));
    if (!a.fits()) {
      result_.device_oom = a.oom;
      result_.device_oom_op = op;
      result_.device_oom_what = std::move(what);
      return core::Buffer{};
    }
    in_use_ += bytes;
    result_.peak_bytes = std::max(result_.peak_bytes, in_use_);
    return a.buffer;
  }
  Status Give(core::Buffer& buffer) {
    if (buffer.is_null()) return Status::Ok();
    TWINSIM_RETURN_IF_ERROR(device_.Free(buffer));
    in_use_ -= buffer.bytes;
    buffer = core::Buffer{};
    return Status::Ok();
  }

  Status Load(int op, int unit, uint64_t bytes) {
    if (on_device(unit)) {
      return Status::InvalidArgument(
          fmt::format("{} loads {}, already on the device", OpText(w_, op), UnitText(unit)));
    }
    TWINSIM_ASSIGN_OR_RETURN(units_[unit], Take(op, bytes, unit % 2 == 0 ? "fp16" : "optim",
                                                "loading " + UnitText(unit)));
    return Status::Ok();
  }
  Status Evict(int op, int unit) {
    if (!on_device(unit)) {
      return Status::InvalidArgument(
          fmt::format("{} evicts {}, not on the device", OpText(w_, op), UnitText(unit)));
    }
    return Give(units_[unit]);
  }

  // A logged move: a load allocates the unit, an eviction frees it.
  Status Move(const placement::Transfer& t) {
    return t.to == Where::kGpu ? Load(t.op, t.unit, t.bytes) : Evict(t.op, t.unit);
  }

  // Charges op `op`'s non-model bytes, then its gather buffers, and frees both.
  Status RunOp(int op, uint64_t gather) {
    TWINSIM_ASSIGN_OR_RETURN(
        core::Buffer non_model,
        Take(op, w_.ops[op].non_model_bytes, "non-model", OpText(w_, op) + " non-model memory"));
    StatusOr<core::Buffer> gathered =
        Take(op, gather, "gather", OpText(w_, op) + " gather buffers");
    Status s = gathered.ok() ? Give(*gathered) : gathered.status();
    Status t = Give(non_model);
    return s.ok() ? t : s;
  }

  // Frees everything still on the device; the first failure, if any.
  Status Release() {
    Status first = Status::Ok();
    for (core::Buffer& b : units_) {
      Status s = Give(b);
      if (first.ok()) first = s;
    }
    Status s = Give(extra_);
    return first.ok() ? s : first;
  }
  core::Buffer& extra() { return extra_; }  // the kept-gathered buffers, or the refused request

 private:
  core::Device& device_;
  const Workload& w_;
  std::vector<core::Buffer> units_;
  core::Buffer extra_;
  uint64_t in_use_ = 0;
  MemoryReplay result_;
};

Status CheckLog(const Workload& w, const PlacementResult& r) {
  const int ops = static_cast<int>(w.ops.size());
  if (!r.initial_location.empty() && static_cast<int>(r.initial_location.size()) != w.num_units()) {
    return Status::InvalidArgument(fmt::format("the result places {} units, the workload has {}",
                                               r.initial_location.size(), w.num_units()));
  }
  if (r.oom && (r.oom->op < -1 || r.oom->op >= ops)) {
    return Status::InvalidArgument(
        fmt::format("the OOM names op {}, the workload has {}", r.oom->op, ops));
  }
  for (const placement::Transfer& t : r.transfers) {
    if (t.op < 0 || t.op >= ops || t.unit < 0 || t.unit >= w.num_units()) {
      return Status::InvalidArgument(
          fmt::format("a move names op {} and unit {}; the workload "
                      "has {} ops and {} units",
                      t.op, t.unit, ops, w.num_units()));
    }
  }
  return Status::Ok();
}

// The log replayed up to (and, when the result did not fit, past) the OOM's op.
Status ReplayLog(const Workload& w, const PlacementResult& r, Replayer& rep) {
  for (int u = 0; u < w.num_units(); ++u) {
    if (r.initial_location[u] == Where::kGpu)
      TWINSIM_RETURN_IF_ERROR(rep.Load(-1, u, w.unit_bytes[u]));
  }
  TWINSIM_ASSIGN_OR_RETURN(rep.extra(),
                           rep.Take(-1, r.gathered_bytes, "gathered", "kept-gathered buffers"));
  const int oom_op = r.fits ? static_cast<int>(w.ops.size()) : r.oom->op;
  if (oom_op == -1 && rep.extra().is_null()) {
    TWINSIM_ASSIGN_OR_RETURN(rep.extra(), rep.Take(-1, r.oom->requested, "refused",
                                                   "the initial placement's refused request"));
  }
  // The walk stops at the first refusal, or after the accounting's OOM op.
  placement::StepFunctions handler(
      [&](size_t, const placement::Transfer& t) { return rep.Move(t); },
      [&](int op, bool on_cpu) -> Status {
        if (on_cpu) return Status::Ok();
        if (op == oom_op) {  // past the log: what the accounting was about to do
          for (int u : w.ops[op].units) {
            if (!rep.on_device(u)) TWINSIM_RETURN_IF_ERROR(rep.Load(op, u, w.unit_bytes[u]));
          }
        }
        return rep.RunOp(op, w.OpGatherBytes(w.ops[op], r.kept_gathered_chunks));
      },
      [&] { return rep.refused(); });
  if (rep.refused()) return Status::Ok();
  return placement::WalkStep(w, r, handler, oom_op);
}

// Optimal's OOM: the op's units and transient from an empty device.
Status ReplayOptimalOom(const Workload& w, const PlacementResult& r, Replayer& rep) {
  const int op = r.oom->op;
  if (op < 0) return Status::Ok();
  for (int u : w.ops[op].units) TWINSIM_RETURN_IF_ERROR(rep.Load(op, u, w.unit_bytes[u]));
  return rep.RunOp(op, w.OpGatherBytes(w.ops[op], r.kept_gathered_chunks));
}

std::string Refusal(const Workload& w, const MemoryReplay& m) {
  return fmt::format("{}: {} needs {}, {} free (short by {})", OpText(w, m.device_oom_op),
                     m.device_oom_what, core::FormatByteSize(m.device_oom->requested),
                     core::FormatByteSize(m.device_oom->available()),
                     core::FormatByteSize(m.device_oom->requested - m.device_oom->available()));
}

}  // namespace

std::vector<Transfer> PlacementTransfers(const placement::PlacementResult& result) {
  std::vector<Transfer> out;
  out.reserve(result.transfers.size());
  for (const placement::Transfer& t : result.transfers) {
    Transfer x;
    x.cls = t.to == Where::kGpu ? TransferClass::kH2D : TransferClass::kD2H;
    x.bytes = t.bytes;
    out.push_back(x);
  }
  return out;
}

StatusOr<MemoryReplay> ReplayPlacementMemory(core::Device& device,
                                             const placement::Workload& workload,
                                             const placement::PlacementResult& result) {
  const Workload& w = workload;
  const PlacementResult& r = result;
  TWINSIM_RETURN_IF_ERROR(CheckLog(w, r));
  if (!r.fits && !r.oom) return Status::InvalidArgument("the result did not fit but has no OOM");
  MemoryReplay out;
  if (!r.fits && r.oom->device != "gpu") {
    out.detail = fmt::format("not judged: a {} OOM ({}); the device replay checks GPU memory only",
                             r.oom->device, r.oom->message);
    return out;
  }
  if (!r.fits && r.oom->policy_limit) {
    out.detail =
        fmt::format("not judged: the policy's own limit ({}), not a device OOM", r.oom->message);
    return out;
  }
  const bool optimal = r.initial_location.empty();
  if (optimal && r.fits) {
    out.detail = "not judged: optimal's moves are byte-granular (a bound, not a placement)";
    return out;
  }
  Replayer rep(device, w);
  Status s = optimal ? ReplayOptimalOom(w, r, rep) : ReplayLog(w, r, rep);
  Status freed = rep.Release();
  TWINSIM_RETURN_IF_ERROR(s);
  TWINSIM_RETURN_IF_ERROR(freed);
  out = std::move(rep.result());
  out.judged = true;
  const uint64_t budget = device.Info().capacity;
  if (r.fits) {
    out.agrees = !out.device_oom;
    out.detail =
        out.agrees ? fmt::format("the device fit the step too: peak {} of {}",
                                 core::FormatByteSize(out.peak_bytes), core::FormatByteSize(budget))
                   : "the accounting fits but the device refused at " + Refusal(w, out);
    return out;
  }
  const int op = r.oom->op;
  if (!out.device_oom) {
    out.detail = fmt::format(
        "the device fit everything up to and including {} (peak {} of {}): the accounting's "
        "OOM ({}) is the policy's own limit, not the device's",
        OpText(w, op), core::FormatByteSize(out.peak_bytes), core::FormatByteSize(budget),
        r.oom->message);
  } else if (out.device_oom_op != op) {
    out.detail = "the device refused earlier than the accounting, at " + Refusal(w, out);
  } else {
    out.agrees = true;
    out.detail = "the device refused too, at " + Refusal(w, out);
  }
  return out;
}

}  // namespace twinsim::harness
