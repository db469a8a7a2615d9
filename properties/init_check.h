// Runs a seed policy on the host backend and checks the init properties of DESIGN.md
// ("Properties") on what it produced: parity, replica, distinct, determinism, init-fits,
// distribution.
//
// The checks know nothing about how a policy works. They look only at what every rank ended up
// holding (the bytes of each owned shard) and at the draws the policy reported (DrawSpan), so
// a framework's weakness is found from its behaviour, and each failure is explained with the
// parameter, the ranks, the elements and the streams involved.
#ifndef TWINSIM_PROPERTIES_INIT_CHECK_H_
#define TWINSIM_PROPERTIES_INIT_CHECK_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/host_comm.h"
#include "core/memory_ledger.h"
#include "core/parallel_layout.h"
#include "core/topology.h"
#include "core/status.h"
#include "kernels/torch/cuda_layout.h"
#include "policies/seed/policy.h"

namespace twinsim::properties {

using policies::seed::InitDevice;
using policies::seed::Property;
using policies::seed::SeedPolicy;

// Which backend runs the ranks (DESIGN.md, "The three backends").
enum class Backend : uint8_t {
  kHost,  // ranks as threads, real bytes (core::RunRanks)
  kSim,   // a SimGrid model of a cluster (sim::RunRanksOnSim): adds simulated time and traffic
  kCuda,  // real GPUs through InitRunOptions::cuda.run_ranks (gpu::RunRanksOnCuda)
};

struct SimBackendOptions {
  core::Topology topology;  // the cluster; must have at least world_size GPUs
  // Data mode; false: timing-only (no bytes: parity on sampled elements, Note [Sampled
  // parity]; replica, distinct and determinism n/a).
  bool holds_bytes = true;
  std::string trace_path;   // non-empty: write a Perfetto / Chrome trace there
};

// The cuda backend is injected rather than linked, so that properties/ (and everything that
// links it) needs no CUDA runtime: the caller passes a runner with core::RunRanks' shape that
// runs each rank on a CudaDevice (gpu/cuda_run.h) and keeps what the devices timed.
struct CudaBackendOptions {
  std::function<std::vector<Status>(int world_size, const core::RankFunction& fn)> run_ranks;
};

struct InitRunOptions {
  Backend backend = Backend::kHost;
  SimBackendOptions sim;    // for Backend::kSim
  CudaBackendOptions cuda;  // for Backend::kCuda: run_ranks is required
  uint64_t seed = 0;
  InitDevice init_device = InitDevice::kCuda;
  kernels::torch::CudaDeviceProfile gpu{"h100", 132, 2048};
  uint64_t device_capacity = uint64_t{1} << 30;  // per rank
  uint64_t host_capacity = uint64_t{1} << 34;    // per rank
  // Perturbs the schedule: eager sends and pseudo-random pauses in every device call, so that
  // ranks interleave differently from an unperturbed run (determinism).
  bool perturb = false;
  uint64_t perturb_salt = 1;
  // Longest a rank may wait on another before the run is aborted.
  int comm_timeout_ms = 600'000;
  // When set (a finished run of the same policy and layout), each rank compares every shard
  // with this run's bytes as it reads it back, records the first difference and keeps no
  // bytes itself (RankOutcome::compared): a determinism rerun needs no second copy of the model.
  const struct InitRun* compare_with = nullptr;
};

// The first element in which a shard differs from the same shard of InitRunOptions::compare_with.
struct ShardDifference {
  size_t shard = 0;                  // index into owned
  uint64_t element = 0;              // element index within the shard (row-major)
  std::vector<std::byte> mine, theirs;  // that element's bytes; empty when past one's end
};

// Elements of one shard sampled on a timing-only sim device (Note [Sampled fills] in
// sim/sim_device.h): element k is shard element elements[k] (row-major within the shard's
// block), its bytes bytes[k * size, (k + 1) * size) in the parameter's dtype (size bytes each).
// Two flat vectors, so 16,384 ranks' samples stay small.
struct ShardSamples {
  std::vector<uint64_t> elements;  // ascending
  std::vector<std::byte> bytes;

  size_t size() const { return elements.size(); }
  bool empty() const { return elements.empty(); }
};

// What one rank ended up with.
struct RankOutcome {
  int rank = 0;
  core::ParallelCoords coords;
  std::vector<core::OwnedShard> owned;  // layout.OwnedBy(rank)
  std::vector<core::Block2D> blocks;    // each entry's padded 2-D block
  std::vector<std::vector<std::byte>> bytes;  // each entry's contents, in its dtype
  std::vector<policies::seed::DrawSpan> draws;
  uint64_t peak_device_bytes = 0;
  uint64_t peak_host_bytes = 0;
  uint64_t bytes_sent = 0;
  std::optional<core::OomReport> oom;
  std::string oom_during;
  Status status;  // the policy's own status on this rank
  // Set when the run compared with InitRunOptions::compare_with instead of keeping bytes.
  bool compared = false;
  bool holds_bytes = true;  // false: a timing-only sim run, `bytes` are empty
  // Timing-only sim: each entry's sampled elements (by entry of owned; an entry no Fill wrote
  // has none). Empty when the device holds bytes.
  std::vector<ShardSamples> samples;
  double end_time_s = 0;    // sim: simulated time at which the rank finished init
  uint64_t bytes_compared = 0;
  std::optional<ShardDifference> difference;  // the first differing shard, if any
};

// What a sim run adds.
struct SimSummary {
  double end_time_s = 0;  // simulated init time: when the last rank finished (critical path)
  // Bytes that crossed each link class ("nvlink", "pcie-gpu", "pcie-uplink", "nic", "fabric").
  std::vector<std::pair<std::string, uint64_t>> link_bytes;
  double wall_s = 0;  // wall-clock time the simulation took
};

// The policy's job before training (policies::seed::OfflineWork, Note [Offline work]): not a
// rank of the layout, so reported apart from the ranks' figures.
struct OfflineSummary {
  policies::seed::OfflineWork work;
  // Estimated seconds on the sim backend: the values drawn at the node CPU's assumed init
  // throughput (sim::kCpuFlopsPerS) plus the checkpoint written at node 0's storage bandwidth
  // (writes assumed as fast as reads); negative on the host backend (no time).
  double time_s = -1;
};

struct InitRun {
  std::string policy;
  InitRunOptions options;
  std::vector<RankOutcome> ranks;
  std::optional<SimSummary> sim;  // set for Backend::kSim
  std::optional<OfflineSummary> offline;  // set when the policy needs a job before training

  // The first rank that ran out of memory, or null.
  const RankOutcome* FirstOom() const;
  // OK when no rank failed, or when the only failures are ranks left waiting on one that ran
  // out of memory; otherwise the failures.
  Status status() const;
};

// Runs `policy` on every rank of `layout` (ranks as threads, HostDevices holding real bytes,
// HostComm), then reads every shard back. InvalidArgument when the policy does not support
// options.init_device.
StatusOr<InitRun> RunInit(const SeedPolicy& policy, const core::ParallelLayout& layout,
                          const InitRunOptions& options);

enum class Verdict : uint8_t { kHolds, kFails, kNotApplicable };
std::string_view VerdictName(Verdict verdict);  // "holds", "fails", "n/a"

struct PropertyResult {
  Property property = Property::kParity;
  Verdict verdict = Verdict::kNotApplicable;
  // The counterexample when it fails; why when n/a; a short summary when it holds.
  std::string detail;
};

// The union of all ranks' shards equals `reference` — the same policy on one rank
// (tp = pp = dp = 1) — bit for bit, on the real (unpadded) elements, tied copies included.
// When `run` is a timing-only sim run (its ranks hold no bytes), `reference` is not read and
// the result is CheckSampledParity(layout, run, run.options.seed).
PropertyResult CheckParity(const core::ParallelLayout& layout, const InitRun& run,
                           const InitRun& reference);

// Note [Sampled parity]
// ---------------------
// A timing-only sim run holds no bytes, but its devices sample a few elements of every Fill
// (Note [Sampled fills] in sim/sim_device.h), and Fill is how twinsim's counter streams are
// written. Single-device init of such a parameter is the counter stream itself (Note
// [Element-wise streams] in kernels/fill.h), so the reference value of element (row, col) of
// parameter p is computed directly, without a reference run: element row * cols + col of the
// stream of (reference_seed, p's name), through p's init and dtype (kernels::MakeFillRequest
// and FillOnHost on a one-element request). Each sampled element on a real (unpadded) row must
// equal it bit for bit. Policies that write through WriteKernelOutput (the torch-modelled
// ones) leave no samples, and the check is then n/a: it says nothing about values it never saw.
// It holds for a policy whose every fill is a counter-stream fill at the element's own logical
// index, and fails on a rank-dependent key, a shifted index or a wrong transform, as soon as a
// sample lands on such an element (the first and last element of each fill always do).

// Parity of a timing-only sim run on its sampled elements against the counter stream of
// `reference_seed` (normally run.options.seed; tests pass another to see the check fail).
// n/a when no rank has a sampled element; otherwise holds or fails with the param, element,
// rank and both values. Pure; costs O(samples).
PropertyResult CheckSampledParity(const core::ParallelLayout& layout, const InitRun& run,
                                  uint64_t reference_seed);
// Ranks that differ only in their DP coordinate hold identical bytes for the same shard.
PropertyResult CheckReplica(const core::ParallelLayout& layout, const InitRun& run);
// No stream position was drawn for two different sets of elements.
PropertyResult CheckDistinct(const core::ParallelLayout& layout, const InitRun& run);
// Two runs (one perturbed) hold the same bytes. `second` either holds its bytes or compared
// itself with `first` as it ran (InitRunOptions::compare_with = &first).
PropertyResult CheckDeterminism(const core::ParallelLayout& layout, const InitRun& first,
                                const InitRun& second);
// No rank ran out of device or host memory.
PropertyResult CheckInitFits(const core::ParallelLayout& layout, const InitRun& run);
// For every untied parameter, the union of its distinct shards (real elements) follows
// ParamSpec::init with the full tensor's fans: constants exactly, bounds, mean and std, and a
// Kolmogorov-Smirnov distance for large unions (Note [Distribution check] in
// distribution_check.cc: tolerances are finite-sample bounds valid however shards depend on
// each other; false-alarm rate <= 1e-9 per parameter; a pure function of the bytes). The
// counterexample names the parameter, the expected distribution and std, and what the shards
// show. n/a on a timing-only sim run.
PropertyResult CheckDistribution(const core::ParallelLayout& layout, const InitRun& run);

// A policy checked on one layout.
struct PolicyCheck {
  std::string policy;
  std::string version;
  InitDevice init_device = InitDevice::kCuda;
  struct Row {
    PropertyResult result;
    bool claimed = false;        // the policy claims it for this layout and init device
    std::string claim_condition; // "" when claimed always or not at all
  };
  std::vector<Row> rows;  // in the order asked
  InitRun run;            // the (unperturbed) run
  // A claimed property failed.
  bool BrokeClaim() const;
};

// Runs `policy` (and, as needed, its single-device reference and a perturbed rerun) and checks
// `properties` on the policy's own layout (policies::seed::LayoutFor: `layout` with the
// framework's vocab padding). A policy that does not support options.init_device, rejects the
// layout (LayoutFor) or rejects options.seed (SeedPolicy::CheckSeed) gets every property n/a.
StatusOr<PolicyCheck> CheckPolicy(const SeedPolicy& policy, const core::ParallelLayout& layout,
                                  const InitRunOptions& options,
                                  const std::vector<Property>& properties);

// "rank 5 (dp 1, pp 0, tp 1)".
std::string DescribeRank(const core::ParallelLayout& layout, int rank);

}  // namespace twinsim::properties

#endif  // TWINSIM_PROPERTIES_INIT_CHECK_H_
