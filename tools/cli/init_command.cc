// `twinsim init`: declares the options, builds a harness::InitRequest, calls RunInit and
// prints each policy's report (a table, or one JSON line) as soon as it is known, then the
// matrix and the claims' tally. Checks, defaults and the runs live in harness/init.h.
#include "tools/cli/init_command.h"

#include <fmt/format.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "core/memory_guard.h"
#include "core/parallel_layout.h"
#include "core/text.h"
#include "harness/init.h"
#include "kernels/torch/cuda_layout.h"
#include "policies/seed/policy.h"
#include "properties/init_check.h"
#include "tools/cli/args.h"
#include "tools/cli/layout_args.h"
#include "tools/cli/output.h"

namespace twinsim::cli {
namespace {

using harness::InitPolicyReport;
using harness::InitPropertyReport;
using harness::InitRankReport;
using policies::seed::InitDevice;
using policies::seed::SeedPolicy;

constexpr char kSeedExpected[] = "an unsigned 64-bit integer (decimal or 0x hex)";

// "512 B", "1.5 KiB", "12.0 MiB": one decimal in binary units.
std::string HumanBytes(uint64_t bytes) { return core::FormatBinaryBytes(bytes); }

// "claimed", "claimed when tp == 1", "not claimed (claimed only when tp == 1)", "not claimed".
std::string ClaimText(const InitPropertyReport& row) {
  if (row.claimed) {
    return row.condition.empty() ? "claimed" : "claimed when " + row.condition;
  }
  if (!row.condition.empty()) {
    return "not claimed (claimed only when " + row.condition + ")";
  }
  return "not claimed";
}

// The verdict as the text table shows it: failures stand out.
std::string VerdictText(const InitPropertyReport& row) {
  return row.verdict == "fails" ? "FAILS" : row.verdict;
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

// The largest per-rank figure of a report and the first rank that has it.
struct RankMax {
  uint64_t bytes = 0;
  int rank = 0;
};

template <typename Field>
RankMax MaxOver(const std::vector<InitRankReport>& ranks, Field field) {
  RankMax max;
  for (const InitRankReport& r : ranks) {
    if (r.*field > max.bytes) max = {r.*field, r.rank};
  }
  return max;
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
    harness::InitRequest& q = request_;
    if (backend_text_ == "host") {
      q.backend = harness::InitBackend::kHost;
    } else if (backend_text_ == "sim") {
      q.backend = harness::InitBackend::kSim;
    } else {
      return Status::InvalidArgument("--backend: expected host or sim, got " +
                                     Quote(backend_text_));
    }
    q.cluster = cluster_text_;
    q.timing_only = timing_only_;
    q.trace_path = trace_text_;
    TWINSIM_ASSIGN_OR_RETURN(q.layout, layout_args_.Request());
    q.policies = SplitList(policy_text_);
    q.dump_dir = dump_text_;
    if (!max_memory_text_.empty()) {
      TWINSIM_ASSIGN_OR_RETURN(q.max_memory,
                               ParseByteSizeWithUnit("--max-memory", max_memory_text_));
    }
    if (!seed_text_.empty()) {
      TWINSIM_ASSIGN_OR_RETURN(q.seed, ParseUint64("--seed", seed_text_, kSeedExpected));
    }
    if (!init_device_text_.empty()) {
      StatusOr<InitDevice> device = policies::seed::ParseInitDevice(init_device_text_);
      if (!device.ok()) return ForOption("--init-device", device.status());
      q.init_device = *device;
    }
    q.gpu = gpu_text_;
    for (auto [option, text, field] :
         {std::tuple{"--device-memory", &device_memory_text_, &q.device_memory},
          std::tuple{"--host-memory", &host_memory_text_, &q.host_memory}}) {
      if (text->empty()) continue;
      // The same size syntax as place's --gpu-memory and every other size option.
      TWINSIM_ASSIGN_OR_RETURN(*field, ParseByteSizeWithUnit(option, *text));
    }
    q.checks = SplitList(check_text_);
    TWINSIM_ASSIGN_OR_RETURN(prepared_, harness::PrepareInit(q));
    return Status::Ok();
  }

  Status Execute(Output& out) override {
    const bool progress = DiagnosticsIsTerminal();
    harness::InitObserver observer;
    if (progress) {
      observer.before_policy = [](std::string_view policy, size_t index, size_t count) {
        std::fprintf(DiagnosticsStream(), "twinsim init: checking %.*s (%zu/%zu)...\n",
                     static_cast<int>(policy.size()), policy.data(), index + 1, count);
      };
    }
    observer.after_policy = [&](const InitPolicyReport& r) {
      if (!r.dump_dir.empty()) {
        std::fprintf(DiagnosticsStream(), "twinsim init: %s: shards written to %s\n",
                     r.policy.c_str(),
                     r.dump_dir.c_str());
      }
      if (json_) {
        out.Append(harness::InitJsonLine(r) + "\n");
      } else {
        PrintText(out, r);
      }
      // Each policy's result appears as soon as it is known.
      return out.Finish();
    };
    TWINSIM_ASSIGN_OR_RETURN(harness::InitReport report, harness::RunInit(*prepared_, observer));
    if (!json_ && report.policies.size() > 1) PrintMatrix(out, report);
    const std::vector<std::string> broken = report.BrokenClaims();
    if (!json_) {
      const size_t policies = report.policies.size();
      const int checked = report.ClaimsChecked(), unchecked = report.ClaimsUnchecked();
      out.Append(fmt::format("{} {}, {} {} checked, {} broken", policies,
                             policies == 1 ? "policy" : "policies", checked,
                             checked == 1 ? "claim" : "claims", broken.size()));
      if (unchecked > 0) out.Append(fmt::format(", {} not checked (n/a)", unchecked));
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
  const core::ParallelLayout& layout() const { return *prepared_->layout; }

  void PrintSimText(Output& out, const InitPolicyReport& r) const {
    const harness::InitSimReport& sim = *r.sim;
    std::string traffic;
    for (const auto& [link, bytes] : sim.link_bytes) {
      traffic += fmt::format("{}{} {}", traffic.empty() ? "" : ", ", link, HumanBytes(bytes));
    }
    out.Append(fmt::format(
        "  simulated on {} ({}): init takes {}{}; traffic {}; simulated in {:.2f} s\n",
        sim.cluster, sim.mode == "data" ? "data mode" : "timing only",
        HumanSeconds(sim.init_time_s),
        sim.last_rank >= 0 ? ", last to finish " + properties::DescribeRank(layout(), sim.last_rank)
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
  void PrintMatrix(Output& out, const harness::InitReport& report) const {
    std::vector<std::vector<std::string>> cells = {{"policy"}};
    for (policies::seed::Property p : prepared_->properties) {
      cells[0].emplace_back(policies::seed::PropertyName(p));
    }
    for (const InitPolicyReport& r : report.policies) {
      std::vector<std::string> line = {r.policy};
      for (const InitPropertyReport& row : r.properties) {
        line.push_back(VerdictText(row) + (row.claimed ? "*" : ""));
      }
      cells.push_back(std::move(line));
    }
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

  void PrintText(Output& out, const InitPolicyReport& r) const {
    out.Append(fmt::format("{} v{} (init on {}): {}\n", r.policy, r.version, r.init_device,
                           r.models));
    std::vector<std::vector<std::string>> cells = {{"property", "verdict", "claim"}};
    for (const InitPropertyReport& row : r.properties) {
      cells.push_back({row.property, VerdictText(row), ClaimText(row)});
    }
    std::vector<size_t> width(3, 0);
    for (const auto& line : cells) {
      for (size_t c = 0; c < line.size(); ++c) width[c] = std::max(width[c], line[c].size());
    }
    for (size_t i = 0; i < cells.size(); ++i) {
      out.Append(fmt::format("  {:<{}}  {:<{}}  {}\n", cells[i][0], width[0], cells[i][1], width[1],
                             cells[i][2]));
      if (i > 0 && !r.properties[i - 1].detail.empty()) {
        out.Append(Indented(r.properties[i - 1].detail, "      "));
      }
    }
    const std::vector<InitRankReport>& ranks = r.cost.per_rank;
    if (ranks.empty()) {
      out.Append(r.supports_init_device
                     ? std::string("  init cost: not run (its framework rejects this layout or "
                                   "seed, as the rows say)\n\n")
                     : fmt::format("  init cost: not run ({} does not initialize on {})\n\n",
                                   r.policy, r.init_device));
      return;
    }
    const RankMax device = MaxOver(ranks, &InitRankReport::device_bytes);
    const RankMax host = MaxOver(ranks, &InitRankReport::host_bytes);
    auto where = [&](const RankMax& max) {
      return max.bytes == 0 ? std::string()
                            : ", at " + properties::DescribeRank(layout(), max.rank);
    };
    out.Append(fmt::format(
        "  init cost: peak device memory {} per rank{}; peak host memory {} per rank{}; {} sent "
        "in total\n",
        HumanBytes(device.bytes), where(device), HumanBytes(host.bytes), where(host),
        HumanBytes(r.cost.bytes_sent)));
    if (r.sim) PrintSimText(out, r);
    if (r.offline) {
      // Note [Offline work] in policies/seed/policy.h: a separate job, not one of the ranks.
      const harness::InitOfflineReport& o = *r.offline;
      out.Append(fmt::format(
          "  before training, {}: peak host memory {}; {} values drawn; {} written to storage{}"
          " (not in the ranks' figures)\n",
          o.what, HumanBytes(o.host_bytes), o.elements, HumanBytes(o.storage_write_bytes),
          o.time_s ? "; takes about " + HumanSeconds(*o.time_s) + " (estimate)" : std::string()));
    }
    // The init-fits row explains an OOM; without that row, say it here.
    if (r.Find("init-fits") == nullptr) {
      for (const InitRankReport& k : ranks) {
        if (!k.oom) continue;
        out.Append(fmt::format("  {} ran out of memory allocating {}\n",
                               properties::DescribeRank(layout(), k.rank), k.oom_during));
        break;
      }
    }
    out.Append('\n');
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

  harness::InitRequest request_;
  std::optional<harness::PreparedInit> prepared_;
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
