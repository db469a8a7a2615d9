// The library face of `twinsim init` (DESIGN.md "Layout": harness/ holds one request -> report
// function per command): InitRequest -> PrepareInit -> RunInit -> InitReport. Each seed policy
// runs on every rank of the layout (host: ranks as threads holding real bytes; sim: SimGrid
// actors on a cluster) and the init properties are checked on what the ranks hold. The command
// parses options into an InitRequest and prints the report; the Python module and tests call
// the same functions without a process.
#ifndef TWINSIM_HARNESS_INIT_H_
#define TWINSIM_HARNESS_INIT_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/parallel_layout.h"
#include "core/status.h"
#include "harness/layout.h"
#include "policies/seed/policy.h"
#include "properties/init_check.h"

namespace twinsim::harness {

enum class InitBackend : uint8_t { kHost, kSim };

// Ranks run as threads of this process on the host backend, so worlds stay modest; the sim
// backend's bound is the cluster's GPU count.
inline constexpr uint64_t kInitMaxWorld = 4096;
inline constexpr uint64_t kInitMaxSimWorld = uint64_t{1} << 20;
// Per-rank memory when the request gives none (sim: device memory is the cluster's GPU's).
inline constexpr uint64_t kInitDefaultDeviceMemory = uint64_t{80} << 30;
inline constexpr uint64_t kInitDefaultHostMemory = uint64_t{256} << 30;

// Every input of `twinsim init`, typed. Messages of Validate() name the command-line option
// they concern ("--policy: unknown policy 'x' ...", "--cluster: required with --backend sim
// ..."), as the CLI prints them.
struct InitRequest {
  LayoutRequest layout;               // REQUIRED: the model and its layout
  std::vector<std::string> policies;  // REQUIRED: seed policy names, or {"all"}
  uint64_t seed = 0;
  std::optional<policies::seed::InitDevice> init_device;  // none: each policy's default
  std::string gpu = "h100";  // sets PyTorch's CUDA launch layout (kernels/torch/cuda_layout.h)
  std::optional<uint64_t> device_memory;  // per rank; none: kInitDefaultDeviceMemory (sim: the
                                          // cluster's GPU memory)
  std::optional<uint64_t> host_memory;    // per rank; none: kInitDefaultHostMemory
  std::vector<std::string> checks = {"all"};  // property names (policies::seed::ParseProperty)
  InitBackend backend = InitBackend::kHost;
  std::string cluster;       // sim only, REQUIRED there: PRESET[:key=value,...]
  bool timing_only = false;  // sim only: no bytes (Note [Sampled parity])
  std::string trace_path;    // sim only: a Perfetto trace (several policies: one per policy)
  std::optional<uint64_t> max_memory;  // the memory guard's cap; none: what the machine gives
  std::string dump_dir;  // write every rank's shards to this new folder (several: DIR/<policy>)

  // OK when RunInit would run: every check of the request, its layout, cluster and policies,
  // with the CLI's one-line InvalidArgument messages (or the memory guard's ResourceExhausted
  // when the shards alone would not fit in this machine).
  Status Validate() const;
};

// A request checked: what RunInit runs, built once.
struct PreparedInit {
  std::optional<core::ParallelLayout> layout;  // always set
  std::vector<std::unique_ptr<policies::seed::SeedPolicy>> policies;
  std::optional<policies::seed::InitDevice> init_device;
  properties::InitRunOptions options;  // backend, seed, gpu, capacities, sim topology
  std::vector<policies::seed::Property> properties;
  std::string trace_path;
  std::string dump_dir;
};
// Errors as InitRequest::Validate.
StatusOr<PreparedInit> PrepareInit(const InitRequest& request);

// JSON pieces of a policy's report, keys as `init --json` prints them.
struct InitLayoutReport {
  std::string model;
  int tp = 1, pp = 1, dp = 1, cp = 1, dp_shard = 1;
  std::string mesh = "megatron";  // core::MeshName
  int vpp = 1, ep = 1, etp = 1;
  int64_t world = 1;
  std::string partition = "layers";  // or "params"
  int vocab_divisible_by = 128;
};
struct InitPropertyReport {
  std::string property;  // policies::seed::PropertyName
  std::string verdict;   // properties::VerdictName: "holds", "fails", "n/a"
  bool claimed = false;
  std::string condition;  // the claim's condition ("tp == 1"), or ""
  std::string detail;     // why it fails (several lines), or ""
};
struct InitRankReport {
  int rank = 0, dp = 0, pp = 0, tp = 0;
  uint64_t device_bytes = 0, host_bytes = 0, bytes_sent = 0;
  bool oom = false;
  std::optional<double> end_time_s;  // sim only
  std::string oom_during;            // not in JSON: what the rank was allocating at its OOM
};
struct InitCostReport {
  uint64_t max_device_bytes = 0, max_host_bytes = 0, bytes_sent = 0;
  std::vector<InitRankReport> per_rank;
};
struct InitOfflineReport {
  std::string what;
  uint64_t host_bytes = 0, elements = 0, storage_write_bytes = 0;
  std::optional<double> time_s;  // none on the host backend (null in JSON)
};
struct InitSimReport {
  std::string cluster;
  std::string mode;  // "data" or "timing-only"
  double init_time_s = 0;
  int last_rank = -1;
  double wall_s = 0;  // written to the millisecond
  std::vector<std::pair<std::string, uint64_t>> link_bytes;  // per link class, by name
};

// One policy's result: one line of `init --json`.
struct InitPolicyReport {
  std::string policy, version, models;
  std::string init_device;  // "cpu" or "cuda"
  InitLayoutReport layout;
  uint64_t seed = 0;
  std::string gpu;
  uint64_t device_memory_bytes = 0, host_memory_bytes = 0;
  std::vector<InitPropertyReport> properties;  // in the order asked
  InitCostReport cost;
  std::optional<InitOfflineReport> offline;  // a policy with a job before training
  std::optional<InitSimReport> sim;
  bool broke_claim = false;
  // Not in JSON: whether the policy initializes on init_device at all, and where its shards
  // were dumped ("" when not).
  bool supports_init_device = true;
  std::string dump_dir;

  // The row of `property` ("parity"), or null when it was not checked.
  const InitPropertyReport* Find(std::string_view property) const;
};
void to_json(nlohmann::ordered_json& j, const InitPolicyReport& r);
void from_json(const nlohmann::ordered_json& j, InitPolicyReport& r);
// `r` as `init --json` prints it: one line of compact JSON (times as %.9g, wall_s as %.3f),
// strings escaped as core::AppendJsonString; no newline.
std::string InitJsonLine(const InitPolicyReport& r);

// Everything `init` reports: one report per policy, in the request's order.
struct InitReport {
  std::vector<InitPolicyReport> policies;

  // Claims whose property was checked (verdict holds or fails), and those n/a.
  int ClaimsChecked() const;
  int ClaimsUnchecked() const;
  // "megatron distinct", one per broken claim, in order.
  std::vector<std::string> BrokenClaims() const;
};
// A JSON array of the policies' objects.
void to_json(nlohmann::ordered_json& j, const InitReport& r);
void from_json(const nlohmann::ordered_json& j, InitReport& r);

// Told before each policy runs (its name, 0-based index and the count) and after it ran (its
// report: a non-OK status stops the run and is returned). Either may be empty.
struct InitObserver {
  std::function<void(std::string_view policy, size_t index, size_t count)> before_policy;
  std::function<Status(const InitPolicyReport&)> after_policy;
};

// Runs and checks every policy of the request. A broken claim is a result (the report says
// so), not an error; errors are the request's (as Validate), a policy's run failing ("policy
// NAME: ..."), or a dump that could not be written ("--dump: ...").
StatusOr<InitReport> RunInit(const InitRequest& request, const InitObserver& observer = {});
StatusOr<InitReport> RunInit(const PreparedInit& prepared, const InitObserver& observer = {});

}  // namespace twinsim::harness

#endif  // TWINSIM_HARNESS_INIT_H_
