#include "harness/validate.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cstddef>
#include <fstream>
#include <sstream>
#include <utility>

#include "core/json.h"
#include "core/memory_guard.h"
#include "core/text.h"
#include "core/topology_presets.h"
#include "gpu/chunk_moves.h"
#include "gpu/cuda_device.h"
#include "harness/internal/checks.h"
#include "harness/placement_replay.h"
#include "harness/sim_replay.h"
#include "policies/placement/registry.h"
#include "properties/memory_need.h"

namespace twinsim::harness {
namespace {

using internal::ForOptionOf;
using internal::CheckNames;

using policies::seed::Property;
using policies::seed::SeedPolicy;
using Json = nlohmann::ordered_json;

constexpr std::array<gpu::TransferClass, gpu::kNumTransferClasses> kEveryClass = {
    gpu::TransferClass::kH2D, gpu::TransferClass::kD2H, gpu::TransferClass::kD2D,
    gpu::TransferClass::kInitKernel};
constexpr std::array<gpu::TransferClass, 2> kPcie = {gpu::TransferClass::kH2D,
                                                     gpu::TransferClass::kD2H};

// The placement step's checks and build (batch 1, rank 0), in the command line's order.
Status PreparePlacement(const ValidateRequest& request, PreparedValidate& p) {
  if (request.placement.empty()) {
    for (auto [option, given] : {std::pair{"--gpu-memory", request.gpu_memory.has_value()},
                                 std::pair{"--host-memory", request.host_memory.has_value()},
                                 std::pair{"--seq", request.seq.has_value()}}) {
      if (given) return Status::InvalidArgument(std::string(option) + ": only with --placement");
    }
    return Status::Ok();
  }
  TWINSIM_RETURN_IF_ERROR(CheckNames("--placement", request.placement));
  for (const std::string& name : request.placement == std::vector<std::string>{"all"}
                                     ? placement::AllPlacementPolicyNames()
                                     : request.placement) {
    StatusOr<std::unique_ptr<placement::PlacementPolicy>> policy =
        placement::MakePlacementPolicy(name);
    if (!policy.ok()) return ForOptionOf("--placement", policy.status());
    p.placement.push_back(std::move(*policy));
  }
  p.gpu_memory = request.gpu_memory;
  p.host_memory = request.host_memory;
  for (auto [option, bytes] : {std::pair{"--gpu-memory", request.gpu_memory},
                               std::pair{"--host-memory", request.host_memory}}) {
    if (bytes && *bytes == 0) {
      return Status::InvalidArgument(std::string(option) + ": expected at least 1 byte, got 0");
    }
  }
  const core::ModelSpec& model = p.layout->model();
  if (request.seq) {
    if (*request.seq == 0) {
      return Status::InvalidArgument("--seq: expected a positive integer, got '0'");
    }
    if (*request.seq > kValidateMaxSeq) {
      return Status::InvalidArgument(fmt::format(
          "--seq: expected a positive integer <= {}, got '{}'", kValidateMaxSeq, *request.seq));
    }
    p.config.seq_len = static_cast<int64_t>(*request.seq);
  }
  const int64_t positions = internal::LearnedPositions(model);
  if (positions > 0 && p.config.seq_len > positions) {
    return Status::InvalidArgument(fmt::format("--seq: {} has {} positions, got {}",
                                               core::Quote(model.name), positions,
                                               p.config.seq_len));
  }
  if (placement::HiddenSizeOf(model) < 1 || model.num_heads < 1) {
    return Status::InvalidArgument(
        fmt::format("--placement: {} is not a transformer with known heads; the placement step "
                    "needs a gpt2, gpt3 or llama3 model",
                    core::Quote(model.name)));
  }
  const int cp = p.layout->config().cp;
  if (cp > 1 && p.config.seq_len % (2 * cp) != 0) {
    // As `place`: policies/placement/workload.h Note [Context parallelism in the step].
    return Status::InvalidArgument(fmt::format(
        "--seq: --cp {} splits each sequence into 2 x cp = {} pieces, as Megatron-LM does; "
        "expected a multiple of {}, got {}",
        cp, 2 * cp, 2 * cp, p.config.seq_len));
  }
  p.config.heads = model.num_heads;
  // Chunks sharded over the layout's shard group, as `chunks` and `place` shard them.
  placement::ChunkSearchOptions search;
  search.dp_shards = p.layout->shard_group_size();
  StatusOr<placement::RankStep> step = placement::BuildRankStep(*p.layout, p.config, search, false);
  if (!step.ok()) return ForOptionOf("--placement", step.status());
  p.workload = std::move(step->workload);
  return Status::Ok();
}

// FNV-1a over each parameter's shards, rank by rank: equal runs of one layout have equal
// hashes. nullopt for a parameter some shard of which holds no bytes (OOM, timing-only).
std::vector<std::optional<uint64_t>> ParamHashes(const core::ParallelLayout& layout,
                                                 const properties::InitRun& run) {
  const size_t params = layout.model().params.size();
  std::vector<std::optional<uint64_t>> hashes(params, 0xcbf29ce484222325ull);
  for (const properties::RankOutcome& r : run.ranks) {
    for (size_t i = 0; i < r.owned.size(); ++i) {
      std::optional<uint64_t>& h = hashes[r.owned[i].param];
      if (!h) continue;
      if (r.oom || i >= r.bytes.size() ||
          (r.bytes[i].empty() &&
           r.owned[i].shard.Numel(layout.model().params[r.owned[i].param].shape) > 0)) {
        h.reset();
        continue;
      }
      for (std::byte b : r.bytes[i]) *h = (*h ^ std::to_integer<uint64_t>(b)) * 0x100000001b3ull;
    }
  }
  return hashes;
}

// "dgx-h100", "hgx-h200", "dgx-a100-80g" for the GPU's marketing name; dgx-h100 otherwise.
std::string PresetFor(const std::string& device) {
  std::string lower;
  for (char c : device) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (lower.find("h200") != std::string::npos) return "hgx-h200";
  if (lower.find("a100") != std::string::npos) {
    return lower.find("40gb") != std::string::npos ? "dgx-a100-40g" : "dgx-a100-80g";
  }
  return "dgx-h100";
}

// What the run shares: the GPU's model, the sim's cluster and its topology.
struct ValidateSetup {
  std::string device, cluster;
  core::Topology topology;
  std::optional<std::string> calibration;
};

// Runs one seed policy on the three backends (cuda, host, sim) and compares them.
StatusOr<ValidatePolicyReport> ValidatePolicy(const PreparedValidate& p, const SeedPolicy& policy,
                                              const ValidateSetup& setup) {
  // The policy's own layout (its framework's vocabulary padding), and a seed its framework
  // accepts; CheckPolicy below makes the same choice, so the three runs agree on it.
  TWINSIM_ASSIGN_OR_RETURN(const core::ParallelLayout layout,
                           policies::seed::LayoutFor(policy, *p.layout));
  TWINSIM_RETURN_IF_ERROR(policy.CheckSeed(p.seed));
  properties::InitRunOptions base;
  base.seed = p.seed;
  base.init_device = policy.default_init_device();
  base.device_capacity =
      p.device_memory > 0
          ? p.device_memory
          : static_cast<uint64_t>(setup.topology.nodes.at(0).gpus.at(0).memory_capacity_bytes);
  base.host_capacity = kValidateHostMemory;

  // cuda: the policy's run (its transfers kept) and, for parity, single-device init on GPU.
  std::optional<gpu::CudaRun> cuda_run;
  properties::InitRunOptions cuda = base;
  cuda.backend = properties::Backend::kCuda;
  cuda.cuda.run_ranks = [&](int n, const core::RankFunction& fn) {
    gpu::CudaRunOptions o;
    o.world_size = n;
    o.comm = n == 1 ? gpu::CudaCommKind::kLocal : p.comm;
    o.device_capacity = p.device_memory;
    StatusOr<gpu::CudaRun> run = gpu::RunRanksOnCuda(o, fn);
    if (!run.ok()) return std::vector<Status>(n, run.status());
    if (!cuda_run) cuda_run = *run;  // the first call is the policy's own run
    return run->statuses();
  };
  TWINSIM_ASSIGN_OR_RETURN(
      properties::PolicyCheck check,
      properties::CheckPolicy(policy, layout, cuda, {Property::kParity, Property::kInitFits}));
  properties::InitRunOptions host = base;
  TWINSIM_ASSIGN_OR_RETURN(properties::InitRun host_run, properties::RunInit(policy, layout, host));
  properties::InitRunOptions sim = base;
  sim.backend = properties::Backend::kSim;
  sim.sim.topology = setup.topology;
  TWINSIM_ASSIGN_OR_RETURN(properties::InitRun sim_run, properties::RunInit(policy, layout, sim));

  const auto h_cuda = ParamHashes(layout, check.run);
  const auto h_host = ParamHashes(layout, host_run);
  const auto h_sim = ParamHashes(layout, sim_run);

  std::vector<gpu::Transfer> measured;
  if (cuda_run) {
    for (const gpu::CudaRankResult& r : cuda_run->ranks) {
      measured.insert(measured.end(), r.transfers.begin(), r.transfers.end());
    }
  }
  TWINSIM_ASSIGN_OR_RETURN(std::vector<gpu::Transfer> predicted,
                           PredictTransfers(setup.topology, measured));

  ValidatePolicyReport r;
  r.policy = policy.name();
  // validate --json has always printed the version as a number.
  const std::string_view version = policy.version();
  if (std::from_chars(version.data(), version.data() + version.size(), r.version).ptr !=
      version.data() + version.size()) {
    return Status::Internal("version " + core::Quote(version) + " is not a number");
  }
  r.device = setup.device;
  r.comm = std::string(gpu::CudaCommKindName(cuda_run ? cuda_run->comm : p.comm));
  r.world = layout.world_size();
  r.seed = p.seed;
  r.cluster = setup.cluster;
  r.calibration = setup.calibration;
  const properties::PolicyCheck::Row& parity = check.rows.at(0);
  const properties::PolicyCheck::Row& fits = check.rows.at(1);
  r.parity = {std::string(properties::VerdictName(parity.result.verdict)), parity.claimed,
              parity.result.detail};
  r.init_fits = std::string(properties::VerdictName(fits.result.verdict));
  r.params = static_cast<int>(h_cuda.size());
  for (int i = 0; i < r.params; ++i) {
    r.cuda_eq_host += h_cuda[i] && h_cuda[i] == h_host[i] ? 1 : 0;
    r.sim_eq_cuda += h_cuda[i] && h_cuda[i] == h_sim[i] ? 1 : 0;
    r.param_hashes.push_back({layout.model().params[i].name, h_cuda[i], h_host[i], h_sim[i]});
  }
  r.timing = TimingRows(gpu::Totals(measured), gpu::Totals(predicted), kEveryClass);
  const bool parity_broken = parity.claimed && parity.result.verdict == properties::Verdict::kFails;
  r.ok = r.cuda_eq_host == r.params && r.sim_eq_cuda == r.params && !parity_broken;
  return r;
}

// Runs one placement policy's step on GPU 0 and the sim under `budget`.
StatusOr<ValidatePlacementReport> ValidatePlacement(const PreparedValidate& p,
                                                    const placement::PlacementPolicy& policy,
                                                    const placement::MemoryBudget& budget,
                                                    const ValidateSetup& setup) {
  const placement::PlacementResult result = policy.Run(*p.workload, budget);
  ValidatePlacementReport r;
  r.placement = result.policy;
  r.device = setup.device;
  r.cluster = setup.cluster;
  r.calibration = setup.calibration;
  r.model = p.layout->model().name;
  r.seq = p.config.seq_len;
  r.gpu_memory = budget.gpu_bytes;
  r.host_memory = budget.host_bytes;
  r.fits = result.fits;
  if (result.oom) {
    const placement::PlacementOom& o = *result.oom;
    r.oom = ValidateOomReport{o.op,        o.op_name,   o.device, o.requested,
                              o.available, o.shortfall, o.message};
  }
  r.peak_gpu_bytes = result.peak_gpu_bytes;
  r.peak_host_bytes = result.peak_host_bytes;
  r.h2d_bytes = result.h2d_bytes;
  r.d2h_bytes = result.d2h_bytes;
  {  // the GPU memory, under the same budget
    gpu::CudaDeviceOptions o;
    o.capacity = budget.gpu_bytes;
    TWINSIM_ASSIGN_OR_RETURN(std::unique_ptr<gpu::CudaDevice> device,
                             gpu::CudaDevice::Create(0, o));
    TWINSIM_ASSIGN_OR_RETURN(MemoryReplay m, ReplayPlacementMemory(*device, *p.workload, result));
    r.judged = m.judged;
    r.agrees = m.agrees;
    r.replay_detail = m.detail;
  }
  r.ok = !r.judged || r.agrees;
  gpu::TransferTotals measured_totals, predicted_totals;
  const std::vector<gpu::Transfer> moves = PlacementTransfers(result);
  if (result.fits && !moves.empty()) {
    uint64_t largest = 0;
    for (const gpu::Transfer& t : moves) largest = std::max(largest, t.bytes);
    gpu::CudaDeviceOptions o;  // the moves alone: the GPU's free memory, pinned room for one
    o.pinned_capacity = std::max(o.pinned_capacity, largest + o.staging_bytes);
    TWINSIM_ASSIGN_OR_RETURN(std::unique_ptr<gpu::CudaDevice> device,
                             gpu::CudaDevice::Create(0, o));
    TWINSIM_ASSIGN_OR_RETURN(std::vector<gpu::Transfer> measured,
                             gpu::ReplayTransfers(*device, moves));
    TWINSIM_ASSIGN_OR_RETURN(std::vector<gpu::Transfer> predicted,
                             PredictTransfers(setup.topology, measured));
    measured_totals = gpu::Totals(measured);
    predicted_totals = gpu::Totals(predicted);
  }
  r.timing = TimingRows(measured_totals, predicted_totals, kPcie);
  return r;
}

// ---------------------------------------------------------------------------------------------
// JSON helpers.

Json CalibrationJson(const std::optional<std::string>& c) { return c ? Json(*c) : Json(nullptr); }
std::optional<std::string> CalibrationFrom(const Json& j) {
  if (j.is_null()) return std::nullopt;
  return j.get<std::string>();
}
std::string CalibrationLine(const std::optional<std::string>& c) {
  return c ? core::JsonString(*c) : std::string("null");
}

std::optional<uint64_t> HashFrom(const Json& j) {
  const std::string text = j.get<std::string>();
  if (text == "none") return std::nullopt;
  if (text.size() != 16 || text.find_first_not_of("0123456789abcdef") != std::string::npos) {
    throw Json::other_error::create(501, "bad parameter hash '" + text + "'", nullptr);
  }
  return std::stoull(text, nullptr, 16);
}

gpu::TransferClass ClassFrom(const Json& j) {
  const std::string name = j.get<std::string>();
  StatusOr<gpu::TransferClass> cls = gpu::ParseTransferClass(name);
  if (!cls.ok())
    throw Json::other_error::create(501, "unknown transfer class '" + name + "'", nullptr);
  return *cls;
}

Json TimingRowsJson(const std::vector<TimingRow>& rows) {
  Json a = Json::array();
  for (const TimingRow& t : rows) {
    a.push_back(Json{{"class", std::string(gpu::TransferClassName(t.cls))},
                     {"count", t.count},
                     {"bytes", t.bytes},
                     {"elements", t.elements},
                     {"measured_s", t.measured_s},
                     {"predicted_s", t.predicted_s},
                     {"error_pct", t.error_pct ? Json(*t.error_pct) : Json(nullptr)}});
  }
  return a;
}

std::vector<TimingRow> TimingRowsFrom(const Json& a) {
  std::vector<TimingRow> rows;
  for (const Json& j : a) {
    TimingRow t;
    t.cls = ClassFrom(j.at("class"));
    j.at("count").get_to(t.count);
    j.at("bytes").get_to(t.bytes);
    j.at("elements").get_to(t.elements);
    j.at("measured_s").get_to(t.measured_s);
    j.at("predicted_s").get_to(t.predicted_s);
    if (!j.at("error_pct").is_null()) t.error_pct = j.at("error_pct").get<double>();
    rows.push_back(t);
  }
  return rows;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// The request.

StatusOr<PreparedValidate> PrepareValidate(const ValidateRequest& request) {
  PreparedValidate p;
  TWINSIM_ASSIGN_OR_RETURN(p.layout, MakeLayout(request.layout, kValidateMaxWorld,
                                                "(one thread per rank drives a GPU)"));
  TWINSIM_RETURN_IF_ERROR(PreparePlacement(request, p));
  if (request.policies.empty() && request.placement.empty()) {
    return Status::InvalidArgument("--policy: required (or --placement)");
  }
  // The memory guard (core/memory_guard.h): the host backend's run holds every rank's shards.
  if (!request.policies.empty()) {
    TWINSIM_RETURN_IF_ERROR(core::CheckMemoryNeed(
        properties::InitHeldBytesLowerBound(*p.layout),
        core::ReadMemoryLimits(request.max_memory.value_or(0)),
        fmt::format("validate of {} on {} rank{}", p.layout->model().name, p.layout->world_size(),
                    p.layout->world_size() == 1 ? "" : "s"),
        "validate compares every byte on the host, so use a smaller model or layout (or "
        "`twinsim init --backend sim --timing-only` for the large one); --max-memory SIZE "
        "sets the cap"));
  }
  TWINSIM_RETURN_IF_ERROR(CheckNames("--policy", request.policies));
  for (const std::string& name : request.policies == std::vector<std::string>{"all"}
                                     ? policies::seed::PolicyNames()
                                     : request.policies) {
    StatusOr<std::unique_ptr<SeedPolicy>> policy = policies::seed::MakePolicy(name);
    if (!policy.ok()) return ForOptionOf("--policy", policy.status());
    p.policies.push_back(std::move(*policy));
  }
  p.seed = request.seed;
  p.comm = request.comm;
  if (request.device_memory) {
    if (*request.device_memory == 0) {
      return Status::InvalidArgument("--device-memory: expected at least 1 byte, got 0");
    }
    p.device_memory = *request.device_memory;
  }
  if (!request.calibration_path.empty()) {
    std::ifstream in(request.calibration_path);
    if (!in) {
      return Status::InvalidArgument("--calibration: cannot read " + request.calibration_path);
    }
    std::stringstream text;
    text << in.rdbuf();
    StatusOr<core::Calibration> c = core::CalibrationFromJson(text.str());
    if (!c.ok()) return ForOptionOf("--calibration", c.status());
    p.calibration = *c;
    p.calibration_path = request.calibration_path;
  }
  if (!request.cluster.empty()) {
    StatusOr<core::Topology> t = core::MakeTopology(request.cluster);
    if (!t.ok()) return ForOptionOf("--cluster", t.status());
    if (core::NumGpus(*t) < p.layout->world_size()) {
      return Status::InvalidArgument(fmt::format("--cluster: {} has {} GPUs, the layout needs {}",
                                                 request.cluster, core::NumGpus(*t),
                                                 p.layout->world_size()));
    }
    p.cluster = request.cluster;
  }
  return p;
}

Status ValidateRequest::Validate() const { return PrepareValidate(*this).status(); }

// ---------------------------------------------------------------------------------------------
// The run.

StatusOr<ValidateReport> RunValidate(const ValidateRequest& request,
                                     const ValidateObserver& observer) {
  TWINSIM_ASSIGN_OR_RETURN(PreparedValidate prepared, PrepareValidate(request));
  return RunValidate(prepared, observer);
}

StatusOr<ValidateReport> RunValidate(const PreparedValidate& p, const ValidateObserver& observer) {
  if (gpu::CudaDeviceCount() == 0) {
    return Status::Unavailable("no CUDA device to validate on: " + gpu::CudaUnavailableReason());
  }
  const int world = p.layout->world_size();
  ValidateSetup setup;
  {
    TWINSIM_ASSIGN_OR_RETURN(std::unique_ptr<gpu::CudaDevice> probe,
                             gpu::CudaDevice::Create(-1, gpu::CudaDeviceOptions{}));
    setup.device = probe->Info().model;
  }
  setup.cluster = p.cluster;
  if (setup.cluster.empty()) {
    const int per_node = std::min(world, 8);
    setup.cluster = fmt::format("{}:gpus_per_node={},nodes={}", PresetFor(setup.device), per_node,
                                (world + per_node - 1) / per_node);
  }
  TWINSIM_ASSIGN_OR_RETURN(setup.topology, core::MakeTopology(setup.cluster));
  if (p.calibration) {
    TWINSIM_RETURN_IF_ERROR(core::ApplyCalibration(*p.calibration, setup.topology));
    setup.calibration = p.calibration_path;
  }

  ValidateReport report;
  const size_t count = p.policies.size() + p.placement.size();
  for (size_t i = 0; i < p.policies.size(); ++i) {
    const SeedPolicy& policy = *p.policies[i];
    if (observer.before_policy) observer.before_policy(policy.name(), i, count);
    StatusOr<ValidatePolicyReport> r = ValidatePolicy(p, policy, setup);
    if (!r.ok()) {
      return Status(r.status().code(),
                    fmt::format("policy {}: {}", policy.name(), r.status().message()));
    }
    if (observer.after_policy) TWINSIM_RETURN_IF_ERROR(observer.after_policy(*r));
    report.policies.push_back(std::move(*r));
  }
  if (p.placement.empty()) return report;
  // Rank 0's GPU and host share, as place's defaults.
  const core::RankResources rank0 = core::ResourcesOfRank(setup.topology, 0);
  placement::MemoryBudget budget;
  budget.gpu_bytes = p.gpu_memory.value_or(rank0.gpu_bytes);
  budget.host_bytes = p.host_memory.value_or(rank0.host_bytes);
  for (size_t i = 0; i < p.placement.size(); ++i) {
    const placement::PlacementPolicy& policy = *p.placement[i];
    if (observer.before_policy) observer.before_policy(policy.Name(), p.policies.size() + i, count);
    StatusOr<ValidatePlacementReport> r = ValidatePlacement(p, policy, budget, setup);
    if (!r.ok()) {
      return Status(r.status().code(),
                    fmt::format("placement {}: {}", policy.Name(), r.status().message()));
    }
    if (observer.after_placement) TWINSIM_RETURN_IF_ERROR(observer.after_placement(*r));
    report.placement.push_back(std::move(*r));
  }
  return report;
}

int ValidateReport::Failures() const {
  int n = 0;
  for (const ValidatePolicyReport& r : policies) n += r.ok ? 0 : 1;
  return n;
}

int ValidateReport::Disagreements() const {
  int n = 0;
  for (const ValidatePlacementReport& r : placement) n += r.ok ? 0 : 1;
  return n;
}

// ---------------------------------------------------------------------------------------------
// Timing rows.

std::vector<TimingRow> TimingRows(const gpu::TransferTotals& m, const gpu::TransferTotals& s,
                                  std::span<const gpu::TransferClass> classes) {
  std::vector<TimingRow> rows;
  for (gpu::TransferClass cls : classes) {
    TimingRow t;
    t.cls = cls;
    t.count = m[cls].count;
    t.bytes = m[cls].bytes;
    t.elements = m[cls].elements;
    t.measured_s = m[cls].seconds;
    t.predicted_s = s[cls].seconds;
    if (t.measured_s > 0) t.error_pct = (t.predicted_s - t.measured_s) / t.measured_s * 100;
    rows.push_back(t);
  }
  return rows;
}

std::string TimingJson(std::span<const TimingRow> rows) {
  std::string j = "[";
  for (const TimingRow& t : rows) {
    j += (j.size() > 1 ? "," : "") +
         fmt::format(
             "{{\"class\":\"{}\",\"count\":{},\"bytes\":{},\"elements\":{},"
             "\"measured_s\":{:.9g},\"predicted_s\":{:.9g},\"error_pct\":{}}}",
             gpu::TransferClassName(t.cls), t.count, t.bytes, t.elements, t.measured_s,
             t.predicted_s, t.error_pct ? fmt::format("{:.3f}", *t.error_pct) : "null");
  }
  return j + "]";
}

std::string HashText(const std::optional<uint64_t>& hash) {
  return hash ? fmt::format("{:016x}", *hash) : "none";
}

// ---------------------------------------------------------------------------------------------
// JSON of a seed policy's report.

void to_json(Json& j, const ValidatePolicyReport& r) {
  Json params = Json::array();
  for (const ValidateParamReport& h : r.param_hashes) {
    params.push_back(Json{{"name", h.name},
                          {"cuda", HashText(h.cuda)},
                          {"host", HashText(h.host)},
                          {"sim", HashText(h.sim)}});
  }
  j = Json{{"policy", r.policy},
           {"version", r.version},
           {"device", r.device},
           {"comm", r.comm},
           {"world", r.world},
           {"seed", r.seed},
           {"cluster", r.cluster},
           {"calibration", CalibrationJson(r.calibration)},
           {"parity", Json{{"verdict", r.parity.verdict},
                           {"claimed", r.parity.claimed},
                           {"detail", r.parity.detail}}},
           {"init_fits", r.init_fits},
           {"invariance", Json{{"params", r.params},
                               {"cuda_eq_host", r.cuda_eq_host},
                               {"sim_eq_cuda", r.sim_eq_cuda}}},
           {"params", std::move(params)},
           {"timing", TimingRowsJson(r.timing)},
           {"ok", r.ok}};
}

void from_json(const Json& j, ValidatePolicyReport& r) {
  j.at("policy").get_to(r.policy);
  j.at("version").get_to(r.version);
  j.at("device").get_to(r.device);
  j.at("comm").get_to(r.comm);
  j.at("world").get_to(r.world);
  j.at("seed").get_to(r.seed);
  j.at("cluster").get_to(r.cluster);
  r.calibration = CalibrationFrom(j.at("calibration"));
  const Json& parity = j.at("parity");
  parity.at("verdict").get_to(r.parity.verdict);
  parity.at("claimed").get_to(r.parity.claimed);
  parity.at("detail").get_to(r.parity.detail);
  j.at("init_fits").get_to(r.init_fits);
  const Json& inv = j.at("invariance");
  inv.at("params").get_to(r.params);
  inv.at("cuda_eq_host").get_to(r.cuda_eq_host);
  inv.at("sim_eq_cuda").get_to(r.sim_eq_cuda);
  r.param_hashes.clear();
  for (const Json& h : j.at("params")) {
    r.param_hashes.push_back({h.at("name").get<std::string>(), HashFrom(h.at("cuda")),
                              HashFrom(h.at("host")), HashFrom(h.at("sim"))});
  }
  r.timing = TimingRowsFrom(j.at("timing"));
  j.at("ok").get_to(r.ok);
}

std::string ValidateJsonLine(const ValidatePolicyReport& r) {
  using core::JsonString;
  std::string j = "{\"policy\":" + JsonString(r.policy) +
                  fmt::format(",\"version\":{}", r.version) +
                  ",\"device\":" + JsonString(r.device) + ",\"comm\":" + JsonString(r.comm) +
                  fmt::format(",\"world\":{},\"seed\":{}", r.world, r.seed) +
                  ",\"cluster\":" + JsonString(r.cluster) +
                  ",\"calibration\":" + CalibrationLine(r.calibration);
  j += ",\"parity\":{\"verdict\":" + JsonString(r.parity.verdict) +
       ",\"claimed\":" + (r.parity.claimed ? "true" : "false") +
       ",\"detail\":" + JsonString(r.parity.detail) + "}";
  j += ",\"init_fits\":" + JsonString(r.init_fits);
  j += fmt::format(",\"invariance\":{{\"params\":{},\"cuda_eq_host\":{},\"sim_eq_cuda\":{}}}",
                   r.params, r.cuda_eq_host, r.sim_eq_cuda);
  j += ",\"params\":[";
  for (size_t i = 0; i < r.param_hashes.size(); ++i) {
    const ValidateParamReport& h = r.param_hashes[i];
    j += (i ? "," : "") + std::string("{\"name\":") + JsonString(h.name) +
         ",\"cuda\":" + JsonString(HashText(h.cuda)) + ",\"host\":" + JsonString(HashText(h.host)) +
         ",\"sim\":" + JsonString(HashText(h.sim)) + "}";
  }
  j += "],\"timing\":" + TimingJson(r.timing);
  j += fmt::format(",\"ok\":{}}}", r.ok ? "true" : "false");
  return j;
}

// ---------------------------------------------------------------------------------------------
// JSON of a placement policy's report.

void to_json(Json& j, const ValidatePlacementReport& r) {
  Json oom = nullptr;
  if (r.oom) {
    oom = Json{{"op", r.oom->op},
               {"op_name", r.oom->op_name},
               {"device", r.oom->device},
               {"requested", r.oom->requested},
               {"available", r.oom->available},
               {"shortfall", r.oom->shortfall},
               {"message", r.oom->message}};
  }
  j = Json{{"placement", r.placement},
           {"device", r.device},
           {"cluster", r.cluster},
           {"calibration", CalibrationJson(r.calibration)},
           {"model", r.model},
           {"rank", r.rank},
           {"batch", r.batch},
           {"seq", r.seq},
           {"gpu_memory", r.gpu_memory},
           {"host_memory", r.host_memory},
           {"fits", r.fits},
           {"oom", std::move(oom)},
           {"peak_gpu_bytes", r.peak_gpu_bytes},
           {"peak_host_bytes", r.peak_host_bytes},
           {"h2d_bytes", r.h2d_bytes},
           {"d2h_bytes", r.d2h_bytes},
           {"device_replay",
            Json{{"judged", r.judged}, {"agrees", r.agrees}, {"detail", r.replay_detail}}},
           {"timing", TimingRowsJson(r.timing)},
           {"ok", r.ok}};
}

void from_json(const Json& j, ValidatePlacementReport& r) {
  j.at("placement").get_to(r.placement);
  j.at("device").get_to(r.device);
  j.at("cluster").get_to(r.cluster);
  r.calibration = CalibrationFrom(j.at("calibration"));
  j.at("model").get_to(r.model);
  j.at("rank").get_to(r.rank);
  j.at("batch").get_to(r.batch);
  j.at("seq").get_to(r.seq);
  j.at("gpu_memory").get_to(r.gpu_memory);
  j.at("host_memory").get_to(r.host_memory);
  j.at("fits").get_to(r.fits);
  r.oom.reset();
  if (const Json& o = j.at("oom"); !o.is_null()) {
    ValidateOomReport oom;
    o.at("op").get_to(oom.op);
    o.at("op_name").get_to(oom.op_name);
    o.at("device").get_to(oom.device);
    o.at("requested").get_to(oom.requested);
    o.at("available").get_to(oom.available);
    o.at("shortfall").get_to(oom.shortfall);
    o.at("message").get_to(oom.message);
    r.oom = std::move(oom);
  }
  j.at("peak_gpu_bytes").get_to(r.peak_gpu_bytes);
  j.at("peak_host_bytes").get_to(r.peak_host_bytes);
  j.at("h2d_bytes").get_to(r.h2d_bytes);
  j.at("d2h_bytes").get_to(r.d2h_bytes);
  const Json& d = j.at("device_replay");
  d.at("judged").get_to(r.judged);
  d.at("agrees").get_to(r.agrees);
  d.at("detail").get_to(r.replay_detail);
  r.timing = TimingRowsFrom(j.at("timing"));
  j.at("ok").get_to(r.ok);
}

std::string ValidateJsonLine(const ValidatePlacementReport& r) {
  using core::JsonString;
  std::string oom = "null";
  if (r.oom) {
    oom = fmt::format(
        "{{\"op\":{},\"op_name\":{},\"device\":{},\"requested\":{},\"available\":{},"
        "\"shortfall\":{},\"message\":{}}}",
        r.oom->op, JsonString(r.oom->op_name), JsonString(r.oom->device), r.oom->requested,
        r.oom->available, r.oom->shortfall, JsonString(r.oom->message));
  }
  return fmt::format(
      "{{\"placement\":{},\"device\":{},\"cluster\":{},\"calibration\":{},\"model\":{},"
      "\"rank\":{},\"batch\":{},\"seq\":{},\"gpu_memory\":{},\"host_memory\":{},\"fits\":{},"
      "\"oom\":{},\"peak_gpu_bytes\":{},\"peak_host_bytes\":{},\"h2d_bytes\":{},"
      "\"d2h_bytes\":{},\"device_replay\":{{\"judged\":{},\"agrees\":{},\"detail\":{}}},"
      "\"timing\":{},\"ok\":{}}}",
      JsonString(r.placement), JsonString(r.device), JsonString(r.cluster),
      CalibrationLine(r.calibration), JsonString(r.model), r.rank, r.batch, r.seq, r.gpu_memory,
      r.host_memory, r.fits, oom, r.peak_gpu_bytes, r.peak_host_bytes, r.h2d_bytes, r.d2h_bytes,
      r.judged, r.agrees, JsonString(r.replay_detail), TimingJson(r.timing), r.ok);
}

// ---------------------------------------------------------------------------------------------
// JSON of the whole report.

void to_json(Json& j, const ValidateReport& r) {
  Json policies = Json::array(), placement = Json::array();
  for (const ValidatePolicyReport& p : r.policies) policies.push_back(p);
  for (const ValidatePlacementReport& p : r.placement) placement.push_back(p);
  j = Json{{"policies", std::move(policies)}, {"placement", std::move(placement)}};
}

void from_json(const Json& j, ValidateReport& r) {
  r.policies = j.at("policies").get<std::vector<ValidatePolicyReport>>();
  r.placement = j.at("placement").get<std::vector<ValidatePlacementReport>>();
}

}  // namespace twinsim::harness
