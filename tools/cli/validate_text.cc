#include "tools/cli/validate_text.h"

#include <fmt/format.h>

#include "core/memory_ledger.h"

namespace twinsim::cli {

std::string TimingErrorText(double measured, double predicted) {
  if (!(measured > 0)) return "n/a";
  return fmt::format("{:+.1f}%", (predicted - measured) / measured * 100);
}

std::string TimingText(std::span<const harness::TimingRow> rows) {
  std::string t = "  class  ops        bytes     measured    predicted   error\n";
  for (const harness::TimingRow& r : rows) {
    t += fmt::format("  {:<5} {:>4} {:>12} {:>10.3f} ms {:>9.3f} ms {:>8}\n",
                     gpu::TransferClassName(r.cls), r.count, r.bytes, r.measured_s * 1e3,
                     r.predicted_s * 1e3, TimingErrorText(r.measured_s, r.predicted_s));
  }
  return t;
}

void PrintValidateText(Output& out, const harness::ValidatePolicyReport& r) {
  out.Append(fmt::format("{} v{} on {} ({} comm, {} rank{}), sim {}{}\n", r.policy, r.version,
                         r.device, r.comm, r.world, r.world == 1 ? "" : "s", r.cluster,
                         r.calibration ? " calibrated from " + *r.calibration : ""));
  out.Append(fmt::format("  parity       {} ({}): {}\n", r.parity.verdict,
                         r.parity.claimed ? "claimed" : "not claimed", r.parity.detail));
  out.Append(fmt::format("  init-fits    {}\n", r.init_fits));
  out.Append(fmt::format("  invariance   cuda == host on {}/{} parameters, sim == cuda on {}/{}\n",
                         r.cuda_eq_host, r.params, r.sim_eq_cuda, r.params));
  for (const harness::ValidateParamReport& h : r.param_hashes) {
    if (h.Agrees()) continue;
    out.Append(fmt::format("    differs: {} cuda {} host {} sim {}\n", h.name,
                           harness::HashText(h.cuda), harness::HashText(h.host),
                           harness::HashText(h.sim)));
  }
  out.Append(TimingText(r.timing));
}

void PrintValidateText(Output& out, const harness::ValidatePlacementReport& r) {
  out.Append(
      fmt::format("placement {} on {}: {} rank {} (batch {}, seq {}), GPU {}, host {}, "
                  "sim {}{}\n",
                  r.placement, r.device, r.model, r.rank, r.batch, r.seq,
                  core::FormatByteSize(r.gpu_memory), core::FormatByteSize(r.host_memory),
                  r.cluster, r.calibration ? " calibrated from " + *r.calibration : ""));
  if (r.fits) {
    out.Append(fmt::format("  fits         yes: peak GPU {}, host {}; h2d {}, d2h {} per step\n",
                           core::FormatByteSize(r.peak_gpu_bytes),
                           core::FormatByteSize(r.peak_host_bytes),
                           core::FormatByteSize(r.h2d_bytes), core::FormatByteSize(r.d2h_bytes)));
  } else if (r.oom) {
    out.Append(
        fmt::format("  fits         no: OOM at {} on the {}, short by {}: {}\n",
                    r.oom->op < 0 ? "the initial placement" : "op " + std::to_string(r.oom->op),
                    r.oom->device, core::FormatByteSize(r.oom->shortfall), r.oom->message));
  }
  out.Append(fmt::format("  device       {}: {}\n",
                         !r.judged  ? "not judged"
                         : r.agrees ? "agrees"
                                    : "DISAGREES",
                         r.replay_detail));
  if (r.fits) out.Append(TimingText(r.timing));
}

}  // namespace twinsim::cli
