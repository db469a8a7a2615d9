// The library face of `twinsim validate` (DESIGN.md "Layout": harness/ holds one request ->
// report function per command, and the GPU validation): ValidateRequest -> PrepareValidate ->
// RunValidate -> ValidateReport. Each seed policy initializes the layout on the GPU(s) (the
// cuda backend), on the host backend and on the sim backend configured as the same device;
// the report says per parameter whether the bits agree and, per transfer class, the time the
// GPU measured against the sim's (harness/sim_replay.h). With placement policies, rank 0's
// training step is placed under a GPU and a host budget, its GPU memory replayed on the GPU
// under the same budget (harness/placement_replay.h) and, when it fits, its PCIe moves timed
// against the sim. The command parses options into a ValidateRequest and prints the report;
// tests and other callers run the same checks without a process.
#ifndef TWINSIM_HARNESS_VALIDATE_H_
#define TWINSIM_HARNESS_VALIDATE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/parallel_layout.h"
#include "core/status.h"
#include "core/topology.h"
#include "core/topology_presets.h"
#include "gpu/cuda_run.h"
#include "gpu/transfer.h"
#include "harness/layout.h"
#include "policies/placement/placement.h"
#include "policies/placement/workload.h"
#include "policies/seed/policy.h"
#include "properties/init_check.h"

namespace twinsim::harness {

// Ranks run as threads of this process, each driving a GPU.
inline constexpr uint64_t kValidateMaxWorld = 64;
// The placement step's longest sequence (as `place`).
inline constexpr uint64_t kValidateMaxSeq = uint64_t{1} << 24;
// Host memory per rank of the init runs.
inline constexpr uint64_t kValidateHostMemory = uint64_t{256} << 30;

// Every input of `twinsim validate`, typed. Messages of Validate() name the command-line option
// they concern ("--placement: unknown placement policy 'x' ...", "--seq: only with
// --placement"), as the CLI prints them.
struct ValidateRequest {
  LayoutRequest layout;  // REQUIRED: the model and its layout (at most kValidateMaxWorld ranks)
  // Seed policy names, or {"all"}. At least one of `policies` and `placement` is REQUIRED.
  std::vector<std::string> policies;
  uint64_t seed = 0;
  std::string calibration_path;  // a `twinsim calibrate` file applied to the sim's cluster
  std::string cluster;  // the sim's cluster; "": the preset of the GPU's model, a GPU per rank
  gpu::CudaCommKind comm = gpu::CudaCommKind::kAuto;
  std::optional<uint64_t> device_memory;  // per rank; none: the GPU's free memory, shared
  std::optional<uint64_t> max_memory;     // the memory guard's cap; none: what the machine gives
  // The placement step: placement policy names, or {"all"}; the other three only with them.
  std::vector<std::string> placement;
  std::optional<uint64_t> gpu_memory;   // none: the sim cluster's GPU memory (rank 0's share)
  std::optional<uint64_t> host_memory;  // none: the node's pageable memory per GPU
  std::optional<uint64_t> seq;          // in [1, kValidateMaxSeq]; none: 1024

  // OK when RunValidate would run: every check of the request, its layout, policies, placement
  // step, calibration file and cluster, with the CLI's one-line InvalidArgument messages (or
  // the memory guard's ResourceExhausted when the host run's shards would not fit). Does not
  // ask for a GPU.
  Status Validate() const;
};

// A request checked: what RunValidate runs, built once.
struct PreparedValidate {
  std::optional<core::ParallelLayout> layout;  // always set
  std::vector<std::unique_ptr<policies::seed::SeedPolicy>> policies;
  uint64_t seed = 0;
  std::string calibration_path;
  std::optional<core::Calibration> calibration;
  std::string cluster;  // as requested ("" : chosen from the GPU)
  gpu::CudaCommKind comm = gpu::CudaCommKind::kAuto;
  uint64_t device_memory = 0;  // 0: the GPU's free memory, shared
  std::vector<std::unique_ptr<placement::PlacementPolicy>> placement;
  std::optional<uint64_t> gpu_memory, host_memory;
  placement::WorkloadConfig config;             // the step's shape (batch 1, seq)
  std::optional<placement::Workload> workload;  // set with placement policies
};
// Errors as ValidateRequest::Validate.
StatusOr<PreparedValidate> PrepareValidate(const ValidateRequest& request);

// One transfer class's row: what the GPU measured against what the sim predicts. JSON keys:
// class, count, bytes, elements, measured_s, predicted_s, error_pct (null: nothing measured).
struct TimingRow {
  gpu::TransferClass cls = gpu::TransferClass::kH2D;
  uint64_t count = 0, bytes = 0, elements = 0;
  double measured_s = 0, predicted_s = 0;
  std::optional<double> error_pct;  // (predicted - measured) / measured * 100
  friend bool operator==(const TimingRow&, const TimingRow&) = default;
};
// The rows of `classes`, measured totals `m` against predicted `s`. Pure.
std::vector<TimingRow> TimingRows(const gpu::TransferTotals& m, const gpu::TransferTotals& s,
                                  std::span<const gpu::TransferClass> classes);
// The JSON array of the rows as validate prints it (seconds as %.9g, error_pct as %.3f). Pure.
std::string TimingJson(std::span<const TimingRow> rows);

// One seed policy's result: one line of `validate --json`.
struct ValidateParityReport {
  std::string verdict;  // properties::VerdictName
  bool claimed = false;
  std::string detail;
  friend bool operator==(const ValidateParityReport&, const ValidateParityReport&) = default;
};
struct ValidateParamReport {  // FNV-1a of the parameter's shards per backend; none: no bytes
  std::string name;
  std::optional<uint64_t> cuda, host, sim;
  // Whether the three hashes are present and equal.
  bool Agrees() const { return cuda && cuda == host && cuda == sim; }
  friend bool operator==(const ValidateParamReport&, const ValidateParamReport&) = default;
};
struct ValidatePolicyReport {
  std::string policy;
  int version = 0;
  std::string device, comm;  // comm: gpu::CudaCommKindName of what ran
  int world = 1;
  uint64_t seed = 0;
  std::string cluster;
  std::optional<std::string> calibration;  // the calibration file's path
  ValidateParityReport parity;
  std::string init_fits;                              // properties::VerdictName
  int params = 0, cuda_eq_host = 0, sim_eq_cuda = 0;  // JSON: "invariance"
  std::vector<ValidateParamReport> param_hashes;      // JSON: "params"
  std::vector<TimingRow> timing;                      // h2d, d2h, d2d, init
  bool ok = false;  // the bits agree everywhere and no claimed parity is broken
  friend bool operator==(const ValidatePolicyReport&, const ValidatePolicyReport&) = default;
};
void to_json(nlohmann::ordered_json& j, const ValidatePolicyReport& r);
// Throws nlohmann's exceptions on a missing key, a wrong type, a bad hash or transfer class.
void from_json(const nlohmann::ordered_json& j, ValidatePolicyReport& r);
// `r` as `validate --json` prints it: one line of compact JSON, strings escaped as
// core::AppendJsonString; no newline.
std::string ValidateJsonLine(const ValidatePolicyReport& r);
// A parameter hash as printed: 16 hex digits, or "none".
std::string HashText(const std::optional<uint64_t>& hash);

// One placement policy's result: one line of `validate --placement --json`.
struct ValidateOomReport {
  int op = -1;  // -1: the initial placement
  std::string op_name, device;
  uint64_t requested = 0, available = 0, shortfall = 0;
  std::string message;
  friend bool operator==(const ValidateOomReport&, const ValidateOomReport&) = default;
};
struct ValidatePlacementReport {
  std::string placement;  // the policy
  std::string device, cluster;
  std::optional<std::string> calibration;
  std::string model;
  int rank = 0;
  int64_t batch = 1, seq = 0;
  uint64_t gpu_memory = 0, host_memory = 0;
  bool fits = false;
  std::optional<ValidateOomReport> oom;  // set when it does not fit
  uint64_t peak_gpu_bytes = 0, peak_host_bytes = 0, h2d_bytes = 0, d2h_bytes = 0;
  bool judged = false;  // JSON: "device_replay": {judged, agrees, detail}
  bool agrees = false;
  std::string replay_detail;
  std::vector<TimingRow> timing;  // h2d, d2h; zeros when the step did not fit
  bool ok = false;                // not judged, or the device agreed
  friend bool operator==(const ValidatePlacementReport&, const ValidatePlacementReport&) = default;
};
void to_json(nlohmann::ordered_json& j, const ValidatePlacementReport& r);
void from_json(const nlohmann::ordered_json& j, ValidatePlacementReport& r);
std::string ValidateJsonLine(const ValidatePlacementReport& r);

// Everything `validate` reports: the seed policies', then the placement policies', in the
// request's order.
struct ValidateReport {
  std::vector<ValidatePolicyReport> policies;
  std::vector<ValidatePlacementReport> placement;

  // Seed policies whose bits disagree or whose claimed parity is broken.
  int Failures() const;
  // Placement policies whose device replay disagreed.
  int Disagreements() const;
  bool ok() const { return Failures() == 0 && Disagreements() == 0; }
  friend bool operator==(const ValidateReport&, const ValidateReport&) = default;
};
// {"policies": [...], "placement": [...]}.
void to_json(nlohmann::ordered_json& j, const ValidateReport& r);
void from_json(const nlohmann::ordered_json& j, ValidateReport& r);

// Told before each policy runs (its name, 0-based index over seed then placement policies,
// and the count) and after it ran (its report: a non-OK status stops the run and is
// returned). Any may be empty.
struct ValidateObserver {
  std::function<void(std::string_view policy, size_t index, size_t count)> before_policy;
  std::function<Status(const ValidatePolicyReport&)> after_policy;
  std::function<Status(const ValidatePlacementReport&)> after_placement;
};

// Runs every policy on the GPU, the host and the sim, then every placement policy on GPU 0
// and the sim. Disagreement is a result (the report says so), not an error. Errors: the
// request's (as Validate); Unavailable "no CUDA device to validate on: ..." without a GPU; a
// policy's run failing ("policy NAME: ...", "placement NAME: ...").
StatusOr<ValidateReport> RunValidate(const ValidateRequest& request,
                                     const ValidateObserver& observer = {});
StatusOr<ValidateReport> RunValidate(const PreparedValidate& prepared,
                                     const ValidateObserver& observer = {});

}  // namespace twinsim::harness

#endif  // TWINSIM_HARNESS_VALIDATE_H_
