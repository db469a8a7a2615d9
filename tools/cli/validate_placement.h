// `twinsim validate --placement`: a placement step (policies/placement) checked on the GPU. Per
// placement policy, rank 0's training step of the validate layout is placed under a GPU and a
// host budget; its GPU memory is replayed on a CudaDevice with the same budget (the device must
// fit or refuse where the accounting does: gpu/placement_replay.h), and when it fits its PCIe
// moves are timed on the GPU (gpu/chunk_moves.h) and predicted by the sim (gpu/sim_replay.h),
// per class (h2d, d2h), as validate's init comparison. Also the per-class timing rows both
// parts of validate print.
#ifndef TWINSIM_TOOLS_CLI_VALIDATE_PLACEMENT_H_
#define TWINSIM_TOOLS_CLI_VALIDATE_PLACEMENT_H_

#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/parallel_layout.h"
#include "core/status.h"
#include "core/topology.h"
#include "gpu/transfer.h"
#include "policies/placement/placement.h"
#include "policies/placement/workload.h"
#include "tools/cli/output.h"

namespace CLI {
class App;
}  // namespace CLI

namespace twinsim::cli {

// "+12.3%": (predicted - measured) / measured; "n/a" when nothing was measured. Pure.
std::string TimingErrorText(double measured, double predicted);
// The JSON array of per-class rows ({"class","count","bytes","elements","measured_s",
// "predicted_s","error_pct"}) for `classes`, measured totals `m` against predicted `s`. Pure.
std::string TimingJson(const gpu::TransferTotals& m, const gpu::TransferTotals& s,
                       std::span<const gpu::TransferClass> classes);
// The text table (a header line, then a line per class) of the same rows, indented by two.
std::string TimingText(const gpu::TransferTotals& m, const gpu::TransferTotals& s,
                       std::span<const gpu::TransferClass> classes);

// What the placement step's run on one GPU said, per policy.
struct PlacementCheck {
  placement::PlacementResult result;
  std::string replay_detail;                // the memory replay's line
  bool judged = false;                      // the memory replay compared verdicts
  bool agrees = false;                      // judged and the device agreed
  gpu::TransferTotals measured, predicted;  // h2d and d2h; empty when the step did not fit

  bool ok() const { return !judged || agrees; }
};

// The options of the placement step and their run. Thread-compatible.
class PlacementStep {
 public:
  // --placement, --gpu-memory, --host-memory, --seq.
  void Declare(CLI::App& app);
  bool requested() const { return !policy_text_.empty(); }

  // Parses the options and builds rank 0's step of `layout` (batch 1). InvalidArgument naming
  // the option for a bad value, for --gpu-memory, --host-memory or --seq without --placement,
  // and for a model the step cannot be built for. Writes nothing.
  Status Validate(const core::ParallelLayout& layout);

  // Runs every chosen policy on GPU 0 (REQUIRES: a CUDA device; Validate() succeeded) and on
  // the sim of `topology` (whose GPU and host memory are the default budgets), appends the
  // report (one JSON object per policy and line with `json`), and returns the number of
  // policies whose device replay disagreed. Fails as the CudaDevice and the sim fail.
  StatusOr<int> Execute(const core::Topology& topology, const std::string& device,
                        const std::string& cluster, const std::string& calibration, bool json,
                        Output& out);

 private:
  StatusOr<PlacementCheck> Check(const placement::PlacementPolicy& policy,
                                 const placement::MemoryBudget& budget,
                                 const core::Topology& topology) const;

  std::string policy_text_, gpu_memory_text_, host_memory_text_, seq_text_;
  std::vector<std::unique_ptr<placement::PlacementPolicy>> policies_;
  std::optional<uint64_t> gpu_bytes_, host_bytes_;
  placement::WorkloadConfig config_;
  std::optional<placement::Workload> workload_;
  std::string model_;
};

}  // namespace twinsim::cli

#endif  // TWINSIM_TOOLS_CLI_VALIDATE_PLACEMENT_H_
