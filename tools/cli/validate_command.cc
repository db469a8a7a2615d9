#include "tools/cli/validate_command.h"

#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <array>
#include <cmath>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "core/memory_guard.h"
#include "core/parallel_layout.h"
#include "core/topology.h"
#include "core/topology_presets.h"
#include "gpu/cuda_device.h"
#include "gpu/cuda_run.h"
#include "gpu/sim_replay.h"
#include "gpu/transfer.h"
#include "policies/seed/policy.h"
#include "properties/init_check.h"
#include "properties/memory_need.h"
#include "tools/cli/args.h"
#include "tools/cli/layout_args.h"
#include "tools/cli/validate_placement.h"

namespace twinsim::cli {
namespace {

using policies::seed::Property;
using policies::seed::SeedPolicy;

constexpr uint64_t kMaxWorld = 64;  // ranks as threads driving real GPUs
constexpr std::array<gpu::TransferClass, gpu::kNumTransferClasses> kEveryClass = {
    gpu::TransferClass::kH2D, gpu::TransferClass::kD2H, gpu::TransferClass::kD2D,
    gpu::TransferClass::kInitKernel};
constexpr char kSeedExpected[] = "an unsigned 64-bit integer (decimal or 0x hex)";

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

std::string HashText(const std::optional<uint64_t>& h) {
  return h ? fmt::format("{:016x}", *h) : "none";
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

class ValidateCommand final : public Command {
 public:
  void DeclareOptions(CLI::App& app) override {
    layout_args_.Declare(app);
    app.add_option("--policy", policy_text_,
                   "Seed policies, comma-separated, or 'all' (required unless --placement)")
        ->type_name("NAME[,NAME...]|all");
    app.add_option("--backend", backend_text_, "The backend validated against the sim: cuda")
        ->type_name("cuda")
        ->required();
    app.add_option("--seed", seed_text_, "Root seed (default 0)")->type_name("S");
    app.add_option("--calibration", calibration_path_,
                   "Calibration file from `twinsim calibrate`, applied to the sim's cluster")
        ->type_name("FILE");
    app.add_option("--cluster", cluster_text_,
                   "The sim's cluster (default: the preset of the GPU's model, with one GPU per "
                   "rank)")
        ->type_name("CLUSTER");
    app.add_option("--comm", comm_text_,
                   "auto (default: NCCL when there is a GPU per rank), local (all ranks on GPU 0) "
                   "or nccl")
        ->type_name("auto|local|nccl");
    app.add_option("--device-memory", device_memory_text_,
                   "Device memory budget per rank, a size: 40GiB or a number of bytes (default: "
                   "the GPU's free memory shared by its ranks)")
        ->type_name("SIZE");
    app.add_option("--max-memory", max_memory_text_,
                   "Most host memory this run may take, e.g. 16GiB (default: what the machine can "
                   "give: MemAvailable, the cgroup's limit, RLIMIT_AS); the host and sim backends "
                   "hold every rank's shards in real bytes, and a run that needs more is refused "
                   "before it allocates")
        ->type_name("SIZE");
    placement_.Declare(app);
    app.add_flag("--json", json_, "Print one JSON object per policy and line");
    app.footer(
        "For each policy: init on the GPU(s) (cuda backend), on the host backend and on the sim\n"
        "backend (data mode) configured as the same device; then\n"
        "  parity       the GPU run's shards equal single-device init on the GPU\n"
        "  invariance   per parameter hash: cuda == host, and sim == cuda\n"
        "  timing       per transfer class (h2d, d2h, d2d, init kernels): the time the GPU\n"
        "               measured with CUDA events against the time the sim's device model gives\n"
        "               for the same operations replayed one by one, error in percent. The\n"
        "               harness's read-back of every shard is part of d2h on both sides.\n"
        "With --placement, for each placement policy: rank 0's training step (batch 1, --seq)\n"
        "placed under --gpu-memory / --host-memory; its GPU memory replayed on the GPU under the\n"
        "same budget (the device must fit, or refuse at the op where the accounting ran out of\n"
        "memory), and when it fits its PCIe moves timed on the GPU against the sim (h2d, d2h).\n"
        "Exit status: 0 when the bits agree everywhere, no claimed parity is broken and every\n"
        "placement's memory agrees with the device, 1 otherwise or without a usable GPU, 2 for\n"
        "a bad command line.\n"
        "\n"
        "Example:\n"
        "  twinsim calibrate --out cal.json\n"
        "  twinsim validate --model gpt2-small --policy all --backend cuda --calibration cal.json\n"
        "  twinsim validate --model gpt2-small --backend cuda --placement cpu,auto --gpu-memory "
        "4GiB");
  }

  Status Validate() override {
    if (backend_text_ != "cuda") {
      return Status::InvalidArgument("--backend: expected cuda, got " + Quote(backend_text_));
    }
    TWINSIM_ASSIGN_OR_RETURN(core::ParallelLayout layout,
                             layout_args_.Make(kMaxWorld, "(one thread per rank drives a GPU)"));
    layout_ = std::move(layout);
    TWINSIM_RETURN_IF_ERROR(placement_.Validate(*layout_));
    if (policy_text_.empty() && !placement_.requested()) {
      return Status::InvalidArgument("--policy: required (or --placement)");
    }
    // The memory guard (core/memory_guard.h): the host backend's run holds every rank's shards.
    uint64_t max_memory = 0;
    if (!max_memory_text_.empty()) {
      TWINSIM_ASSIGN_OR_RETURN(max_memory, ParseByteSizeWithUnit("--max-memory", max_memory_text_));
    }
    if (!policy_text_.empty()) {
      TWINSIM_RETURN_IF_ERROR(core::CheckMemoryNeed(
          properties::InitHeldBytesLowerBound(*layout_), core::ReadMemoryLimits(max_memory),
          fmt::format("validate of {} on {} rank{}", layout_->model().name,
                      layout_->world_size(), layout_->world_size() == 1 ? "" : "s"),
          "validate compares every byte on the host, so use a smaller model or layout (or "
          "`twinsim init --backend sim --timing-only` for the large one); --max-memory SIZE "
          "sets the cap"));
    }
    const std::vector<std::string> names =
        policy_text_.empty() ? std::vector<std::string>{} : SplitList(policy_text_);
    TWINSIM_RETURN_IF_ERROR(CheckList("--policy", policy_text_, names));
    for (const std::string& name :
         names == std::vector<std::string>{"all"} ? policies::seed::PolicyNames() : names) {
      StatusOr<std::unique_ptr<SeedPolicy>> policy = policies::seed::MakePolicy(name);
      if (!policy.ok()) return ForOption("--policy", policy.status());
      policies_.push_back(std::move(*policy));
    }
    if (!seed_text_.empty()) {
      TWINSIM_ASSIGN_OR_RETURN(options_.seed, ParseUint64("--seed", seed_text_, kSeedExpected));
    }
    if (comm_text_ == "local") {
      comm_ = gpu::CudaCommKind::kLocal;
    } else if (comm_text_ == "nccl") {
      comm_ = gpu::CudaCommKind::kNccl;
    } else if (comm_text_ != "auto") {
      return Status::InvalidArgument("--comm: expected auto, local or nccl, got " +
                                     Quote(comm_text_));
    }
    if (!device_memory_text_.empty()) {
      TWINSIM_ASSIGN_OR_RETURN(device_memory_,
                               ParseByteSizeWithUnit("--device-memory", device_memory_text_));
    }
    if (!calibration_path_.empty()) {
      std::ifstream in(calibration_path_);
      if (!in) return Status::InvalidArgument("--calibration: cannot read " + calibration_path_);
      std::stringstream text;
      text << in.rdbuf();
      StatusOr<core::Calibration> c = core::CalibrationFromJson(text.str());
      if (!c.ok()) return ForOption("--calibration", c.status());
      calibration_ = *c;
    }
    if (!cluster_text_.empty()) {
      StatusOr<core::Topology> t = core::MakeTopology(cluster_text_);
      if (!t.ok()) return ForOption("--cluster", t.status());
      if (core::NumGpus(*t) < layout_->world_size()) {
        return Status::InvalidArgument(fmt::format("--cluster: {} has {} GPUs, the layout needs {}",
                                                   cluster_text_, core::NumGpus(*t),
                                                   layout_->world_size()));
      }
    }
    return Status::Ok();
  }

  Status Execute(Output& out) override {
    if (gpu::CudaDeviceCount() == 0) {
      return Status::Unavailable("no CUDA device to validate on: " + gpu::CudaUnavailableReason());
    }
    const int world = layout_->world_size();
    TWINSIM_ASSIGN_OR_RETURN(std::unique_ptr<gpu::CudaDevice> probe,
                             gpu::CudaDevice::Create(-1, gpu::CudaDeviceOptions{}));
    const std::string device = probe->Info().model;
    probe.reset();
    std::string cluster = cluster_text_;
    if (cluster.empty()) {
      const int per_node = std::min(world, 8);
      cluster = fmt::format("{}:gpus_per_node={},nodes={}", PresetFor(device), per_node,
                            (world + per_node - 1) / per_node);
    }
    TWINSIM_ASSIGN_OR_RETURN(core::Topology topology, core::MakeTopology(cluster));
    if (calibration_) TWINSIM_RETURN_IF_ERROR(core::ApplyCalibration(*calibration_, topology));

    int failures = 0;
    for (const std::unique_ptr<SeedPolicy>& p : policies_) {
      StatusOr<bool> ok = ValidatePolicy(*p, device, cluster, topology, out);
      if (!ok.ok()) {
        return Status(ok.status().code(),
                      fmt::format("policy {}: {}", p->name(), ok.status().message()));
      }
      failures += *ok ? 0 : 1;
      TWINSIM_RETURN_IF_ERROR(out.Finish());
    }
    int disagreements = 0;
    if (placement_.requested()) {
      TWINSIM_ASSIGN_OR_RETURN(
          disagreements, placement_.Execute(topology, device, cluster,
                                            calibration_ ? calibration_path_ : "", json_, out));
    }
    if (failures > 0 || disagreements > 0) {
      return Status::FailedPrecondition(fmt::format(
          "{} of {} policies disagree between backends or break a claimed parity; {} placement "
          "polic{} disagree with the device",
          failures, policies_.size(), disagreements, disagreements == 1 ? "y" : "ies"));
    }
    return Status::Ok();
  }

 private:
  // Runs one policy on the three backends and prints its report; true when everything agrees.
  StatusOr<bool> ValidatePolicy(const SeedPolicy& policy, const std::string& device,
                                const std::string& cluster, const core::Topology& topology,
                                Output& out) {
    // The policy's own layout (its framework's vocabulary padding), and a seed its framework
    // accepts; CheckPolicy below makes the same choice, so the three runs agree on it.
    TWINSIM_ASSIGN_OR_RETURN(const core::ParallelLayout layout,
                             policies::seed::LayoutFor(policy, *layout_));
    TWINSIM_RETURN_IF_ERROR(policy.CheckSeed(options_.seed));
    const int world = layout.world_size();
    properties::InitRunOptions base = options_;
    base.init_device = policy.default_init_device();
    base.device_capacity =
        device_memory_ > 0
            ? device_memory_
            : static_cast<uint64_t>(topology.nodes.at(0).gpus.at(0).memory_capacity_bytes);
    base.host_capacity = uint64_t{256} << 30;

    // cuda: the policy's run (its transfers kept) and, for parity, single-device init on GPU.
    std::optional<gpu::CudaRun> cuda_run;
    properties::InitRunOptions cuda = base;
    cuda.backend = properties::Backend::kCuda;
    cuda.cuda.run_ranks = [&](int n, const core::RankFunction& fn) {
      gpu::CudaRunOptions o;
      o.world_size = n;
      o.comm = n == 1 ? gpu::CudaCommKind::kLocal : comm_;
      o.device_capacity = device_memory_;
      StatusOr<gpu::CudaRun> run = gpu::RunRanksOnCuda(o, fn);
      if (!run.ok()) return std::vector<Status>(n, run.status());
      if (!cuda_run) cuda_run = *run;  // the first call is the policy's own run
      return run->statuses();
    };
    TWINSIM_ASSIGN_OR_RETURN(
        properties::PolicyCheck check,
        properties::CheckPolicy(policy, layout, cuda, {Property::kParity, Property::kInitFits}));
    properties::InitRunOptions host = base;
    TWINSIM_ASSIGN_OR_RETURN(properties::InitRun host_run,
                             properties::RunInit(policy, layout, host));
    properties::InitRunOptions sim = base;
    sim.backend = properties::Backend::kSim;
    sim.sim.topology = topology;
    TWINSIM_ASSIGN_OR_RETURN(properties::InitRun sim_run, properties::RunInit(policy, layout, sim));

    const auto h_cuda = ParamHashes(layout, check.run);
    const auto h_host = ParamHashes(layout, host_run);
    const auto h_sim = ParamHashes(layout, sim_run);
    int cuda_eq_host = 0, sim_eq_cuda = 0;
    const int params = static_cast<int>(h_cuda.size());
    for (int i = 0; i < params; ++i) {
      cuda_eq_host += h_cuda[i] && h_cuda[i] == h_host[i] ? 1 : 0;
      sim_eq_cuda += h_cuda[i] && h_cuda[i] == h_sim[i] ? 1 : 0;
    }

    std::vector<gpu::Transfer> measured;
    if (cuda_run) {
      for (const gpu::CudaRankResult& r : cuda_run->ranks) {
        measured.insert(measured.end(), r.transfers.begin(), r.transfers.end());
      }
    }
    TWINSIM_ASSIGN_OR_RETURN(std::vector<gpu::Transfer> predicted,
                             gpu::PredictTransfers(topology, measured));
    const gpu::TransferTotals m = gpu::Totals(measured), s = gpu::Totals(predicted);

    const properties::PolicyCheck::Row& parity = check.rows.at(0);
    const properties::PolicyCheck::Row& fits = check.rows.at(1);
    const bool parity_broken =
        parity.claimed && parity.result.verdict == properties::Verdict::kFails;
    const bool agree = cuda_eq_host == params && sim_eq_cuda == params;
    const bool ok = agree && !parity_broken;
    const std::string comm(gpu::CudaCommKindName(cuda_run ? cuda_run->comm : comm_));

    if (json_) {
      std::string j = "{\"policy\":" + JsonText(policy.name()) +
                      fmt::format(",\"version\":{}", policy.version()) +
                      ",\"device\":" + JsonText(device) + ",\"comm\":" + JsonText(comm) +
                      fmt::format(",\"world\":{},\"seed\":{}", world, options_.seed) +
                      ",\"cluster\":" + JsonText(cluster) + ",\"calibration\":" +
                      (calibration_ ? JsonText(calibration_path_) : std::string("null"));
      j += ",\"parity\":{\"verdict\":" + JsonText(properties::VerdictName(parity.result.verdict)) +
           ",\"claimed\":" + (parity.claimed ? "true" : "false") +
           ",\"detail\":" + JsonText(parity.result.detail) + "}";
      j += ",\"init_fits\":" + JsonText(properties::VerdictName(fits.result.verdict));
      j += fmt::format(",\"invariance\":{{\"params\":{},\"cuda_eq_host\":{},\"sim_eq_cuda\":{}}}",
                       params, cuda_eq_host, sim_eq_cuda);
      j += ",\"params\":[";
      for (int i = 0; i < params; ++i) {
        j += (i ? "," : "") + std::string("{\"name\":") + JsonText(layout.model().params[i].name) +
             ",\"cuda\":" + JsonText(HashText(h_cuda[i])) +
             ",\"host\":" + JsonText(HashText(h_host[i])) +
             ",\"sim\":" + JsonText(HashText(h_sim[i])) + "}";
      }
      j += "],\"timing\":" + TimingJson(m, s, kEveryClass);
      j += fmt::format(",\"ok\":{}}}\n", ok ? "true" : "false");
      out.Append(j);
      return ok;
    }
    out.Append(fmt::format("{} v{} on {} ({} comm, {} rank{}), sim {}{}\n", policy.name(),
                           policy.version(), device, comm, world, world == 1 ? "" : "s", cluster,
                           calibration_ ? " calibrated from " + calibration_path_ : ""));
    out.Append(fmt::format("  parity       {} ({}): {}\n",
                           properties::VerdictName(parity.result.verdict),
                           parity.claimed ? "claimed" : "not claimed", parity.result.detail));
    out.Append(fmt::format("  init-fits    {}\n", properties::VerdictName(fits.result.verdict)));
    out.Append(
        fmt::format("  invariance   cuda == host on {}/{} parameters, sim == cuda on {}/{}\n",
                    cuda_eq_host, params, sim_eq_cuda, params));
    for (int i = 0; i < params; ++i) {
      if (h_cuda[i] && h_cuda[i] == h_host[i] && h_cuda[i] == h_sim[i]) continue;
      out.Append(fmt::format("    differs: {} cuda {} host {} sim {}\n",
                             layout.model().params[i].name, HashText(h_cuda[i]),
                             HashText(h_host[i]), HashText(h_sim[i])));
    }
    out.Append(TimingText(m, s, kEveryClass));
    return ok;
  }

  static std::string JsonText(std::string_view text) {
    std::string s;
    AppendJsonString(text, s);
    return s;
  }

  LayoutArgs layout_args_;
  std::optional<core::ParallelLayout> layout_;
  std::string max_memory_text_;
  std::string policy_text_, backend_text_, seed_text_, calibration_path_, cluster_text_;
  std::string comm_text_ = "auto", device_memory_text_;
  bool json_ = false;
  PlacementStep placement_;
  std::vector<std::unique_ptr<SeedPolicy>> policies_;
  properties::InitRunOptions options_;
  gpu::CudaCommKind comm_ = gpu::CudaCommKind::kAuto;
  uint64_t device_memory_ = 0;
  std::optional<core::Calibration> calibration_;
};

}  // namespace

CommandGroup ValidateCommandGroup() {
  CommandGroup group;
  group.name = "validate";
  group.summary = "init on the GPU vs the sim: bits per parameter, time per transfer class";
  group.commands = {
      {"", "run init on the GPU(s) and on the sim as the same device; compare bits and times",
       [] { return std::make_unique<ValidateCommand>(); }},
  };
  return group;
}

}  // namespace twinsim::cli
