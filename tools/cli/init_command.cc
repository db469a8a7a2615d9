#include "tools/cli/init_command.h"

#include <fmt/format.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <tuple>
#include <utility>
#include <vector>

#include "core/memory_guard.h"
#include "core/parallel_layout.h"
#include "core/text.h"
#include "core/topology.h"
#include "core/topology_presets.h"
#include "kernels/torch/cuda_layout.h"
#include "policies/seed/policy.h"
#include "properties/init_check.h"
#include "properties/memory_need.h"
#include "properties/shard_dump.h"
#include "tools/cli/args.h"
#include "tools/cli/layout_args.h"
#include "tools/cli/output.h"

namespace twinsim::cli {
namespace {

using policies::seed::InitDevice;
using policies::seed::Property;
using policies::seed::SeedPolicy;
using properties::PolicyCheck;
using properties::Verdict;

// Ranks run as threads of this process (properties::RunInit), so worlds stay modest.
constexpr uint64_t kMaxWorld = 4096;
// The sim backend runs ranks as SimGrid actors; its bound is the cluster's GPU count.
constexpr uint64_t kMaxSimWorld = 1 << 20;
constexpr char kSeedExpected[] = "an unsigned 64-bit integer (decimal or 0x hex)";
constexpr uint64_t kDefaultDeviceMemory = uint64_t{80} << 30;
constexpr uint64_t kDefaultHostMemory = uint64_t{256} << 30;

// "512 B", "1.5 KiB", "12.0 MiB": one decimal in binary units.
std::string HumanBytes(uint64_t bytes) { return core::FormatBinaryBytes(bytes); }

std::string JsonString(std::string_view text) {
  std::string s;
  AppendJsonString(text, s);
  return s;
}

// "claimed", "claimed when tp == 1", "not claimed (claimed only when tp == 1)", "not claimed".
std::string ClaimText(const PolicyCheck::Row& row) {
  if (row.claimed) {
    return row.claim_condition.empty() ? "claimed" : "claimed when " + row.claim_condition;
  }
  if (!row.claim_condition.empty()) {
    return "not claimed (claimed only when " + row.claim_condition + ")";
  }
  return "not claimed";
}

// The verdict as the text table shows it: failures stand out.
std::string_view VerdictText(Verdict verdict) {
  return verdict == Verdict::kFails ? "FAILS" : properties::VerdictName(verdict);
}

// What a policy claims, for --help: "replica, determinism, parity when tp == 1".
std::string ClaimsText(const SeedPolicy& policy) {
  std::string text;
  for (const policies::seed::Claim& claim : policy.claims()) {
    if (!text.empty()) text += ", ";
    text += policies::seed::PropertyName(claim.property);
    if (!claim.condition.empty()) text += " when " + claim.condition;
  }
  return text.empty() ? "nothing" : text;
}

// The largest per-rank figure of `run` and the first rank that has it.
struct RankMax {
  uint64_t bytes = 0;
  int rank = 0;
};

template <typename Field>
RankMax MaxOver(const properties::InitRun& run, Field field) {
  RankMax max;
  for (const properties::RankOutcome& r : run.ranks) {
    if (r.*field > max.bytes) max = {r.*field, r.rank};
  }
  return max;
}

uint64_t TotalSent(const properties::InitRun& run) {
  uint64_t total = 0;
  for (const properties::RankOutcome& r : run.ranks) total += r.bytes_sent;
  return total;
}

// Each line of `text`, indented by `indent`.
std::string Indented(std::string_view text, std::string_view indent) {
  std::string out;
  size_t begin = 0;
  while (begin <= text.size()) {
    size_t end = text.find('\n', begin);
    if (end == std::string_view::npos) end = text.size();
    out += std::string(indent) + std::string(text.substr(begin, end - begin)) + "\n";
    begin = end + 1;
  }
  return out;
}

// "a100, h100, ...": the --gpu values.
std::string GpuNames() {
  std::string names;
  for (const std::string& n : kernels::torch::CudaDeviceProfileNames()) {
    names += (names.empty() ? "" : ", ") + n;
  }
  return names;
}

// The footer of `twinsim init --help`: the properties, the policies and examples.
std::string HelpFooter() {
  std::string text =
      "Runs each seed policy on every rank of the layout (ranks as threads on the host, holding\n"
      "real bytes; or, with --backend sim, as actors on a SimGrid model of --cluster) and checks\n"
      "the init properties on what the ranks end up with:\n"
      "  parity       all shards together equal single-device init (tp = pp = dp = 1), bit for\n"
      "               bit, tied copies included\n"
      "  replica      ranks that differ only in their dp coordinate hold identical bytes\n"
      "  distinct     no position of a random stream is drawn for two different sets of elements\n"
      "  determinism  a rerun with eager sends and perturbed timing gives the same bytes and\n"
      "               draws\n"
      "  init-fits    no rank runs out of device or host memory (--device-memory, --host-memory)\n"
      "Each row also says whether the policy claims the property for this layout and init device,\n"
      "and explains every failure (parameter, element, ranks, streams). A policy that does not\n"
      "initialize on --init-device gets n/a everywhere. After the rows: the largest peak device\n"
      "and host memory of a rank and the bytes all ranks sent. The last line counts the claims\n"
      "checked and broken. With --backend sim, a line per policy adds the simulated init time\n"
      "(when the last rank finished), which rank that was, and the bytes that crossed each link\n"
      "class (nvlink, pcie-gpu, pcie-uplink, nic, fabric, storage); --json adds \"sim\":{\"cluster\",\"mode\",\n"
      "\"init_time_s\",\"last_rank\",\"wall_s\",\"link_bytes\":{...}} and each rank's \"end_time_s\".\n"
      "Exit status: 0 when every claimed property holds, 1 when a policy\n"
      "breaks one (everything is still printed), 2 for a bad command line.\n"
      "\n"
      "With --json: one object per policy and line:\n"
      "  {\"policy\",\"version\",\"models\",\"init_device\",\n"
      "   \"layout\":{\"model\",\"tp\",\"pp\",\"dp\",\"cp\",\"dp_shard\",\"mesh\",\"vpp\",\"ep\",\"etp\",\"world\",...},\n"
      "   \"seed\",...,\n"
      "   \"properties\":[{\"property\",\"verdict\",\"claimed\",\"condition\",\"detail\"}],\n"
      "   \"cost\":{\"max_device_bytes\",\"max_host_bytes\",\"bytes_sent\",\n"
      "           \"per_rank\":[{\"rank\",\"dp\",\"pp\",\"tp\",\"device_bytes\",\"host_bytes\",\n"
      "                         \"bytes_sent\",\"oom\"}]},\n"
      "   \"offline\":{\"what\",\"host_bytes\",\"elements\",\"storage_write_bytes\",\"time_s\"}\n"
      "     (only for a policy with a job before training: seed-checkpoint's creation run),\n"
      "   \"broke_claim\"}\n"
      "\n"
      "Policies (--policy), with their default init device and claims:\n";
  size_t width = 0;
  for (const std::string& name : policies::seed::PolicyNames()) {
    width = std::max(width, name.size());
  }
  for (const std::string& name : policies::seed::PolicyNames()) {
    StatusOr<std::unique_ptr<SeedPolicy>> policy = policies::seed::MakePolicy(name);
    if (!policy.ok()) continue;
    const SeedPolicy& p = **policy;
    const std::string pad(width + 4, ' ');
    const bool both = p.Supports(InitDevice::kCpu) && p.Supports(InitDevice::kCuda);
    text += fmt::format("  {:<{}}  {}\n", name, width, p.models());
    text += fmt::format("{}v{}, init on {}{}; claims {}\n", pad, p.version(),
                        policies::seed::InitDeviceName(p.default_init_device()),
                        both ? " (cpu or cuda)" : " only", ClaimsText(p));
  }
  text +=
      "\n"
      "Examples:\n"
      "  twinsim init --model gpt2-small --tp 4 --pp 3 --dp 2 --policy all\n"
      "  twinsim init --model tiny-mlp --tp 2 --dp 2 --policy megatron,counter --check parity "
      "--json\n"
      "  twinsim init --model gpt2-small --tp 8 --pp 2 --policy torch-serial,counter --backend sim "
      "--cluster dgx-h100:nodes=2 --trace init.json\n"
      "  twinsim init --model llama3-70b --tp 8 --pp 16 --policy all --backend sim --cluster "
      "dgx-h100:nodes=16 --timing-only --check init-fits";
  return text;
}

class InitCommand final : public Command {
 public:
  void DeclareOptions(CLI::App& app) override {
    layout_args_.Declare(app);
    app.add_option("--policy", policy_text_,
                   "Seed policies to run, comma-separated, or 'all' (listed below)")
        ->type_name("NAME[,NAME...]|all")
        ->required();
    app.add_option("--seed", seed_text_,
                   "Root seed: unsigned 64-bit, decimal or 0x hex (default 0)")
        ->type_name("S");
    app.add_option("--init-device", init_device_text_,
                   "Where init kernels run: cpu or cuda (default: each policy's own default)")
        ->type_name("cpu|cuda");
    app.add_option("--gpu", gpu_text_,
                   "GPU model whose SM count sets PyTorch's CUDA launch layout: " + GpuNames() +
                       " (default h100)")
        ->type_name("GPU");
    app.add_option("--device-memory", device_memory_text_,
                   "Device memory per rank, a size: 80GiB, 24GB or a number of bytes (default "
                   "80GiB; with --backend sim, the cluster's GPU memory)")
        ->type_name("SIZE");
    app.add_option("--host-memory", host_memory_text_,
                   "Host memory per rank, a size: 512GiB or a number of bytes (default 256GiB)")
        ->type_name("SIZE");
    app.add_option("--check", check_text_,
                   "Properties to check, comma-separated, or 'all' (default): parity, replica, "
                   "distinct, determinism, init-fits, distribution")
        ->type_name("PROP[,PROP...]|all");
    app.add_option("--backend", backend_text_,
                   "host (default: ranks as threads, real bytes) or sim (a SimGrid model of "
                   "--cluster: adds simulated init time, memory and traffic per link class)")
        ->type_name("host|sim");
    app.add_option("--cluster", cluster_text_,
                   "With --backend sim: the cluster, PRESET[:key=value,...] (twinsim show "
                   "cluster lists them), e.g. dgx-h100:nodes=4")
        ->type_name("CLUSTER");
    app.add_flag("--timing-only", timing_only_,
                 "With --backend sim: simulate time, memory and traffic without bytes (for "
                 "models too large to hold; parity is checked on sampled elements of counter-stream "
                 "fills, replica, distinct and determinism are n/a)");
    app.add_option("--trace", trace_text_,
                   "With --backend sim: write a Perfetto / Chrome trace of the init run to FILE "
                   "(several policies: FILE with the policy's name before the extension)")
        ->type_name("FILE");
    app.add_option("--max-memory", max_memory_text_,
                   "Most memory this run may take, e.g. 16GiB (default: what the machine can give: "
                   "MemAvailable, the cgroup's limit, RLIMIT_AS); a run that holds real bytes and "
                   "needs more is refused before it allocates")
        ->type_name("SIZE");
    app.add_option("--dump", dump_text_,
                   "Write what every rank holds to the new folder DIR: index.json and each "
                   "shard's raw bytes (several policies: DIR/<policy>); not with --timing-only")
        ->type_name("DIR");
    app.add_flag("--json", json_, "Print one JSON object per policy and line instead of tables");
    app.footer(HelpFooter());
  }

  Status Validate() override {
    if (backend_text_ != "host" && backend_text_ != "sim") {
      return Status::InvalidArgument("--backend: expected host or sim, got " +
                                     Quote(backend_text_));
    }
    const bool sim = backend_text_ == "sim";
    if (!sim) {
      for (const auto& [option, given] :
           {std::pair{"--cluster", !cluster_text_.empty()},
            std::pair{"--timing-only", timing_only_}, std::pair{"--trace", !trace_text_.empty()}}) {
        if (given) {
          return Status::InvalidArgument(std::string(option) + ": only with --backend sim");
        }
      }
    }
    std::optional<core::Topology> topology;
    if (sim) {
      if (cluster_text_.empty()) {
        return Status::InvalidArgument(
            "--cluster: required with --backend sim (e.g. --cluster dgx-h100:nodes=2)");
      }
      StatusOr<core::Topology> t = core::MakeTopology(cluster_text_);
      if (!t.ok()) return ForOption("--cluster", t.status());
      topology = std::move(*t);
    }
    StatusOr<core::ParallelLayout> layout =
        sim ? layout_args_.Make(kMaxSimWorld, "(the largest simulated world)")
            : layout_args_.Make(kMaxWorld, "(twinsim init runs every rank as a thread; "
                                           "--backend sim goes further)");
    if (!layout.ok()) return layout.status();
    layout_ = std::move(*layout);
    if (sim) {
      const int64_t gpus = core::NumGpus(*topology);
      if (layout_->world_size() > gpus) {
        return Status::InvalidArgument(fmt::format(
            "--cluster: {} has {} GPUs, the layout needs {} (tp {} x pp {} x dp {}); add nodes, "
            "e.g. {}:nodes={}",
            cluster_text_, gpus, layout_->world_size(), layout_->config().tp,
            layout_->config().pp, layout_->config().dp,
            topology->name.substr(0, topology->name.find(':')),
            (layout_->world_size() + GpusPerNode(*topology) - 1) / GpusPerNode(*topology)));
      }
      options_.backend = properties::Backend::kSim;
      options_.sim.topology = *topology;
      options_.sim.holds_bytes = !timing_only_;
      options_.sim.trace_path = trace_text_;
    }

    const std::vector<std::string> names = SplitList(policy_text_);
    TWINSIM_RETURN_IF_ERROR(CheckList("--policy", policy_text_, names));
    for (const std::string& name :
         names == std::vector<std::string>{"all"} ? policies::seed::PolicyNames() : names) {
      StatusOr<std::unique_ptr<SeedPolicy>> policy = policies::seed::MakePolicy(name);
      if (!policy.ok()) return ForOption("--policy", policy.status());
      policies_.push_back(std::move(*policy));
    }

    if (!dump_text_.empty() && timing_only_) {
      return Status::InvalidArgument("--dump: a timing-only run holds no bytes; drop --timing-only");
    }
    TWINSIM_RETURN_IF_ERROR(CheckMemory(sim));
    if (std::error_code ec; !dump_text_.empty() && std::filesystem::exists(dump_text_, ec)) {
      return Status::InvalidArgument("--dump: " + Quote(dump_text_) +
                                     " exists; name a new folder (a dump never overwrites)");
    }

    if (!seed_text_.empty()) {
      StatusOr<uint64_t> seed = ParseUint64("--seed", seed_text_, kSeedExpected);
      if (!seed.ok()) return seed.status();
      options_.seed = *seed;
    }
    if (!init_device_text_.empty()) {
      StatusOr<InitDevice> device = policies::seed::ParseInitDevice(init_device_text_);
      if (!device.ok()) return ForOption("--init-device", device.status());
      init_device_ = *device;
    }
    StatusOr<kernels::torch::CudaDeviceProfile> gpu =
        kernels::torch::CudaDeviceProfileByName(gpu_text_);
    if (!gpu.ok()) return ForOption("--gpu", gpu.status());
    options_.gpu = *gpu;
    options_.device_capacity =
        sim ? static_cast<uint64_t>(options_.sim.topology.nodes.at(0).gpus.at(0).memory_capacity_bytes)
            : kDefaultDeviceMemory;
    options_.host_capacity = kDefaultHostMemory;
    for (auto [option, text, field] :
         {std::tuple{"--device-memory", &device_memory_text_, &options_.device_capacity},
          std::tuple{"--host-memory", &host_memory_text_, &options_.host_capacity}}) {
      if (text->empty()) continue;
      // The same size syntax as place's --gpu-memory and every other size option.
      StatusOr<uint64_t> bytes = ParseByteSizeWithUnit(option, *text);
      if (!bytes.ok()) return bytes.status();
      *field = *bytes;
    }

    const std::vector<std::string> checks = SplitList(check_text_);
    TWINSIM_RETURN_IF_ERROR(CheckList("--check", check_text_, checks));
    if (checks == std::vector<std::string>{"all"}) {
      properties_ = policies::seed::AllProperties();
    } else {
      for (const std::string& name : checks) {
        StatusOr<Property> property = policies::seed::ParseProperty(name);
        if (!property.ok()) return ForOption("--check", property.status());
        properties_.push_back(*property);
      }
    }
    return Status::Ok();
  }

  Status Execute(Output& out) override {
    const bool progress = isatty(STDERR_FILENO) == 1;
    int claims_checked = 0, claims_unchecked = 0;
    std::vector<std::string> broken;
    // One line per policy for the closing matrix: name, then one cell per property.
    std::vector<std::vector<std::string>> matrix;
    for (size_t i = 0; i < policies_.size(); ++i) {
      const SeedPolicy& policy = *policies_[i];
      if (progress) {
        std::fprintf(stderr, "twinsim init: checking %.*s (%zu/%zu)...\n",
                     static_cast<int>(policy.name().size()), policy.name().data(), i + 1,
                     policies_.size());
      }
      properties::InitRunOptions options = options_;
      options.init_device = init_device_.value_or(policy.default_init_device());
      if (!trace_text_.empty() && policies_.size() > 1) {
        options.sim.trace_path = TracePathFor(trace_text_, policy.name());
      }
      StatusOr<PolicyCheck> check = properties::CheckPolicy(policy, *layout_, options, properties_);
      if (!check.ok()) {
        return Status(check.status().code(),
                      fmt::format("policy {}: {}", policy.name(), check.status().message()));
      }
      for (const PolicyCheck::Row& row : check->rows) {
        if (!row.claimed) continue;
        if (row.result.verdict == Verdict::kNotApplicable) {
          ++claims_unchecked;
          continue;
        }
        ++claims_checked;
        if (row.result.verdict == Verdict::kFails) {
          broken.push_back(fmt::format("{} {}", policy.name(),
                                       policies::seed::PropertyName(row.result.property)));
        }
      }
      std::vector<std::string> cells = {check->policy};
      for (const PolicyCheck::Row& row : check->rows) {
        std::string cell(VerdictText(row.result.verdict));
        if (row.claimed) cell += "*";
        cells.push_back(cell);
      }
      matrix.push_back(std::move(cells));
      if (!dump_text_.empty()) {
        const std::string dir = policies_.size() > 1
                                    ? dump_text_ + "/" + std::string(policy.name())
                                    : dump_text_;
        Status dumped = properties::WriteShardDump(check->run, *layout_, dir);
        if (!dumped.ok()) return ForOption("--dump", dumped);
        std::fprintf(stderr, "twinsim init: %.*s: shards written to %s\n",
                     static_cast<int>(policy.name().size()), policy.name().data(), dir.c_str());
      }
      if (json_) {
        PrintJson(out, policy, *check);
      } else {
        PrintText(out, policy, *check);
      }
      // Each policy's result appears as soon as it is known.
      TWINSIM_RETURN_IF_ERROR(out.Finish());
    }
    if (!json_ && matrix.size() > 1) PrintMatrix(out, matrix);
    if (!json_) {
      out.Append(fmt::format("{} {}, {} {} checked, {} broken", policies_.size(),
                             policies_.size() == 1 ? "policy" : "policies", claims_checked,
                             claims_checked == 1 ? "claim" : "claims", broken.size()));
      if (claims_unchecked > 0) {
        out.Append(fmt::format(", {} not checked (n/a)", claims_unchecked));
      }
      out.Append('\n');
    }
    if (!broken.empty()) {
      std::string list;
      for (const std::string& b : broken) list += (list.empty() ? "" : ", ") + b;
      return Status::FailedPrecondition(fmt::format("{} claimed {} broken: {}", broken.size(),
                                                    broken.size() == 1 ? "property" : "properties",
                                                    list));
    }
    return Status::Ok();
  }

 private:
  // The memory guard (core/memory_guard.h): a run that holds real bytes (host, sim data mode)
  // is refused before it allocates when its shards alone exceed what this machine can give.
  Status CheckMemory(bool sim) const {
    uint64_t max_memory = 0;
    if (!max_memory_text_.empty()) {
      TWINSIM_ASSIGN_OR_RETURN(max_memory, ParseByteSizeWithUnit("--max-memory", max_memory_text_));
    }
    if (sim && timing_only_) return Status::Ok();
    const uint64_t need = properties::InitHeldBytesLowerBound(*layout_);
    return core::CheckMemoryNeed(
        need, core::ReadMemoryLimits(max_memory),
        fmt::format("init of {} on {} rank{}", layout_->model().name, layout_->world_size(),
                    layout_->world_size() == 1 ? "" : "s"),
        sim ? "Add --timing-only (parity on sampled elements of counter fills), or use a smaller "
              "model or layout; --max-memory SIZE sets the cap"
            : "Use --backend sim --cluster C --timing-only (parity on sampled elements of counter "
              "fills), or a smaller model or layout; --max-memory SIZE sets the cap");
  }

  static int64_t GpusPerNode(const core::Topology& t) {
    return t.nodes.empty() || t.nodes[0].gpus.empty() ? 1
                                                      : static_cast<int64_t>(t.nodes[0].gpus.size());
  }

  // "trace.json" -> "trace.<policy>.json": one trace per policy.
  static std::string TracePathFor(const std::string& path, std::string_view policy) {
    const size_t slash = path.find_last_of('/');
    const size_t dot = path.find_last_of('.');
    if (dot == std::string::npos || (slash != std::string::npos && dot < slash)) {
      return path + "." + std::string(policy);
    }
    return path.substr(0, dot) + "." + std::string(policy) + path.substr(dot);
  }

  // The rank that finished last: the end of the critical path.
  static const properties::RankOutcome* LastRank(const properties::InitRun& run) {
    const properties::RankOutcome* last = nullptr;
    for (const properties::RankOutcome& r : run.ranks) {
      if (last == nullptr || r.end_time_s > last->end_time_s) last = &r;
    }
    return last;
  }

  void PrintSimText(Output& out, const properties::InitRun& run) const {
    const properties::SimSummary& sim = *run.sim;
    std::string traffic;
    for (const auto& [link, bytes] : sim.link_bytes) {
      traffic += fmt::format("{}{} {}", traffic.empty() ? "" : ", ", link, HumanBytes(bytes));
    }
    const properties::RankOutcome* last = LastRank(run);
    out.Append(fmt::format(
        "  simulated on {} ({}): init takes {}{}; traffic {}; simulated in {:.2f} s\n",
        options_.sim.topology.name, options_.sim.holds_bytes ? "data mode" : "timing only",
        HumanSeconds(sim.end_time_s),
        last != nullptr ? ", last to finish " + properties::DescribeRank(*layout_, last->rank)
                        : std::string(),
        traffic, sim.wall_s));
  }

  // "12.3 ms", "4.56 s", "2 min 3.4 s".
  static std::string HumanSeconds(double s) {
    if (s < 1e-3) return fmt::format("{:.1f} us", s * 1e6);
    if (s < 1.0) return fmt::format("{:.2f} ms", s * 1e3);
    if (s < 120.0) return fmt::format("{:.3f} s", s);
    return fmt::format("{:.0f} min {:.1f} s", std::floor(s / 60), s - 60 * std::floor(s / 60));
  }

  // Every policy against every property checked, one line each: "holds*" is a claimed
  // property that holds, "FAILS" one that fails without being claimed, "FAILS*" a broken claim.
  void PrintMatrix(Output& out, const std::vector<std::vector<std::string>>& matrix) const {
    std::vector<std::vector<std::string>> cells = {{"policy"}};
    for (Property p : properties_) cells[0].emplace_back(policies::seed::PropertyName(p));
    cells.insert(cells.end(), matrix.begin(), matrix.end());
    std::vector<size_t> width(cells[0].size(), 0);
    for (const auto& line : cells) {
      for (size_t c = 0; c < line.size() && c < width.size(); ++c) {
        width[c] = std::max(width[c], line[c].size());
      }
    }
    out.Append("matrix (* = claimed by the policy on this layout)\n");
    for (const auto& line : cells) {
      std::string text = "  ";
      for (size_t c = 0; c < line.size() && c < width.size(); ++c) {
        text += line[c];
        if (c + 1 < line.size()) text += std::string(width[c] - line[c].size() + 2, ' ');
      }
      out.Append(text + "\n");
    }
    out.Append("\n");
  }

  void PrintText(Output& out, const SeedPolicy& policy, const PolicyCheck& check) const {
    out.Append(fmt::format("{} v{} (init on {}): {}\n", check.policy, check.version,
                           policies::seed::InitDeviceName(check.init_device), policy.models()));
    std::vector<std::vector<std::string>> cells = {{"property", "verdict", "claim"}};
    for (const PolicyCheck::Row& row : check.rows) {
      cells.push_back({std::string(policies::seed::PropertyName(row.result.property)),
                       std::string(VerdictText(row.result.verdict)), ClaimText(row)});
    }
    std::vector<size_t> width(3, 0);
    for (const auto& line : cells) {
      for (size_t c = 0; c < line.size(); ++c) width[c] = std::max(width[c], line[c].size());
    }
    for (size_t r = 0; r < cells.size(); ++r) {
      out.Append(fmt::format("  {:<{}}  {:<{}}  {}\n", cells[r][0], width[0], cells[r][1], width[1],
                             cells[r][2]));
      if (r > 0 && !check.rows[r - 1].result.detail.empty()) {
        out.Append(Indented(check.rows[r - 1].result.detail, "      "));
      }
    }
    const properties::InitRun& run = check.run;
    if (run.ranks.empty()) {
      out.Append(policy.Supports(check.init_device)
                     ? std::string("  init cost: not run (its framework rejects this layout or "
                                   "seed, as the rows say)\n\n")
                     : fmt::format("  init cost: not run ({} does not initialize on {})\n\n",
                                   check.policy,
                                   policies::seed::InitDeviceName(check.init_device)));
      return;
    }
    const RankMax device = MaxOver(run, &properties::RankOutcome::peak_device_bytes);
    const RankMax host = MaxOver(run, &properties::RankOutcome::peak_host_bytes);
    auto where = [&](const RankMax& max) {
      return max.bytes == 0 ? std::string()
                            : ", at " + properties::DescribeRank(*layout_, max.rank);
    };
    out.Append(fmt::format(
        "  init cost: peak device memory {} per rank{}; peak host memory {} per rank{}; {} sent "
        "in total\n",
        HumanBytes(device.bytes), where(device), HumanBytes(host.bytes), where(host),
        HumanBytes(TotalSent(run))));
    if (run.sim) PrintSimText(out, run);
    if (run.offline) {
      // Note [Offline work] in policies/seed/policy.h: a separate job, not one of the ranks.
      const properties::OfflineSummary& o = *run.offline;
      out.Append(fmt::format(
          "  before training, {}: peak host memory {}; {} values drawn; {} written to storage{}"
          " (not in the ranks' figures)\n",
          o.work.what, HumanBytes(o.work.host_bytes), o.work.elements_initialized,
          HumanBytes(o.work.storage_write_bytes),
          o.time_s >= 0 ? "; takes about " + HumanSeconds(o.time_s) + " (estimate)"
                        : std::string()));
    }
    // The init-fits row explains an OOM; without that row, say it here.
    const bool fits_checked = std::any_of(
        check.rows.begin(), check.rows.end(),
        [](const PolicyCheck::Row& row) { return row.result.property == Property::kInitFits; });
    if (const properties::RankOutcome* oom = run.FirstOom(); oom != nullptr && !fits_checked) {
      out.Append(fmt::format("  {} ran out of memory allocating {}\n",
                             properties::DescribeRank(*layout_, oom->rank), oom->oom_during));
    }
    out.Append('\n');
  }

  void PrintJson(Output& out, const SeedPolicy& policy, const PolicyCheck& check) const {
    const core::ParallelLayout& l = *layout_;
    const core::LayoutConfig& c = l.config();
    out.Append(fmt::format(
        "{{\"policy\":{},\"version\":{},\"models\":{},\"init_device\":\"{}\","
        "\"layout\":{{\"model\":{},\"tp\":{},\"pp\":{},\"dp\":{},\"cp\":{},\"dp_shard\":{},"
        "\"mesh\":\"{}\",\"vpp\":{},\"ep\":{},\"etp\":{},"
        "\"world\":{},\"partition\":\"{}\",\"vocab_divisible_by\":{}}},\"seed\":{},"
        "\"gpu\":{},\"device_memory_bytes\":{},\"host_memory_bytes\":{},\"properties\":[",
        JsonString(check.policy), JsonString(check.version), JsonString(policy.models()),
        policies::seed::InitDeviceName(check.init_device), JsonString(l.model().name), c.tp, c.pp,
        c.dp, c.cp, c.dp_shard, core::MeshName(c.mesh), c.vpp, c.ep, l.expert_tp(), l.world_size(),
        c.partition == core::PipelinePartition::kByLayers ? "layers" : "params",
        c.vocab_divisible_by, options_.seed, JsonString(options_.gpu.name),
        options_.device_capacity, options_.host_capacity));
    for (size_t i = 0; i < check.rows.size(); ++i) {
      const PolicyCheck::Row& row = check.rows[i];
      out.Append(
          fmt::format("{}{{\"property\":\"{}\",\"verdict\":\"{}\",\"claimed\":{},\"condition\":{},"
                      "\"detail\":{}}}",
                      i ? "," : "", policies::seed::PropertyName(row.result.property),
                      properties::VerdictName(row.result.verdict), row.claimed,
                      JsonString(row.claim_condition), JsonString(ValidUtf8(row.result.detail))));
    }
    const properties::InitRun& run = check.run;
    out.Append(
        fmt::format("],\"cost\":{{\"max_device_bytes\":{},\"max_host_bytes\":{},\"bytes_sent\":{},"
                    "\"per_rank\":[",
                    MaxOver(run, &properties::RankOutcome::peak_device_bytes).bytes,
                    MaxOver(run, &properties::RankOutcome::peak_host_bytes).bytes, TotalSent(run)));
    for (size_t i = 0; i < run.ranks.size(); ++i) {
      const properties::RankOutcome& r = run.ranks[i];
      out.Append(fmt::format(
          "{}{{\"rank\":{},\"dp\":{},\"pp\":{},\"tp\":{},\"device_bytes\":{},\"host_bytes\":{},"
          "\"bytes_sent\":{},\"oom\":{}{}}}",
          i ? "," : "", r.rank, r.coords.dp, r.coords.pp, r.coords.tp, r.peak_device_bytes,
          r.peak_host_bytes, r.bytes_sent, r.oom.has_value(),
          run.sim ? fmt::format(",\"end_time_s\":{:.9g}", r.end_time_s) : std::string()));
    }
    out.Append("]}");
    if (run.offline) {
      const properties::OfflineSummary& o = *run.offline;
      out.Append(fmt::format(",\"offline\":{{\"what\":{},\"host_bytes\":{},\"elements\":{},"
                             "\"storage_write_bytes\":{},\"time_s\":{}}}",
                             JsonString(o.work.what), o.work.host_bytes,
                             o.work.elements_initialized, o.work.storage_write_bytes,
                             o.time_s >= 0 ? fmt::format("{:.9g}", o.time_s) : "null"));
    }
    if (run.sim) {
      const properties::SimSummary& sim = *run.sim;
      const properties::RankOutcome* last = LastRank(run);
      out.Append(fmt::format(",\"sim\":{{\"cluster\":{},\"mode\":\"{}\",\"init_time_s\":{:.9g},"
                             "\"last_rank\":{},\"wall_s\":{:.3f},\"link_bytes\":{{",
                             JsonString(options_.sim.topology.name),
                             options_.sim.holds_bytes ? "data" : "timing-only", sim.end_time_s,
                             last != nullptr ? last->rank : -1, sim.wall_s));
      for (size_t k = 0; k < sim.link_bytes.size(); ++k) {
        out.Append(fmt::format("{}{}:{}", k ? "," : "", JsonString(sim.link_bytes[k].first),
                               sim.link_bytes[k].second));
      }
      out.Append("}}");
    }
    out.Append(fmt::format(",\"broke_claim\":{}}}\n", check.BrokeClaim()));
  }

  // `text`, or a marker when it is not valid UTF-8 (AppendJsonString requires UTF-8).
  static std::string ValidUtf8(const std::string& text) {
    return IsValidUtf8(text) ? text : "(detail not valid UTF-8)";
  }

  LayoutArgs layout_args_;
  std::string policy_text_, seed_text_, init_device_text_, device_memory_text_, host_memory_text_;
  std::string gpu_text_ = "h100";
  std::string check_text_ = "all";
  std::string backend_text_ = "host", cluster_text_, trace_text_;
  std::string dump_text_;
  std::string max_memory_text_;
  bool timing_only_ = false;
  bool json_ = false;

  std::optional<core::ParallelLayout> layout_;
  std::vector<std::unique_ptr<SeedPolicy>> policies_;
  std::optional<InitDevice> init_device_;  // unset: each policy's default
  properties::InitRunOptions options_;
  std::vector<Property> properties_;
};

}  // namespace

CommandGroup InitCommandGroup() {
  CommandGroup group;
  group.name = "init";
  group.summary = "run framework seed policies on a parallel layout and check their init";
  group.commands = {
      {"",
       "check parity, replica, distinct, determinism and init-fits of seed policies "
       "(torch, Megatron, ColossalAI, DTensor, counter) on a layout",
       [] { return std::make_unique<InitCommand>(); }},
  };
  return group;
}

}  // namespace twinsim::cli
