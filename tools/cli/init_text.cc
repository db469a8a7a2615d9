#include "tools/cli/init_text.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/memory_guard.h"
#include "core/text.h"
#include "properties/init_check.h"

namespace twinsim::cli {
namespace {

using harness::InitPolicyReport;
using harness::InitPropertyReport;
using harness::InitRankReport;
using policies::seed::InitDevice;
using policies::seed::SeedPolicy;

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

// "12.3 ms", "4.56 s", "2 min 3.4 s".
std::string HumanSeconds(double s) {
  if (s < 1e-3) return fmt::format("{:.1f} us", s * 1e6);
  if (s < 1.0) return fmt::format("{:.2f} ms", s * 1e3);
  if (s < 120.0) return fmt::format("{:.3f} s", s);
  return fmt::format("{:.0f} min {:.1f} s", std::floor(s / 60), s - 60 * std::floor(s / 60));
}

void PrintSimText(Output& out, const core::ParallelLayout& layout, const InitPolicyReport& r) {
  const harness::InitSimReport& sim = *r.sim;
  std::string traffic;
  for (const auto& [link, bytes] : sim.link_bytes) {
    traffic += fmt::format("{}{} {}", traffic.empty() ? "" : ", ", link, HumanBytes(bytes));
  }
  out.Append(fmt::format(
      "  simulated on {} ({}): init takes {}{}; traffic {}; simulated in {:.2f} s\n",
      sim.cluster, sim.mode == "data" ? "data mode" : "timing only",
      HumanSeconds(sim.init_time_s),
      sim.last_rank >= 0 ? ", last to finish " + properties::DescribeRank(layout, sim.last_rank)
                         : std::string(),
      traffic, sim.wall_s));
}

}  // namespace

// The footer of `twinsim init --help`: the properties, the policies and examples.
std::string InitHelpFooter() {
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

// Every policy against every property checked, one line each: "holds*" is a claimed
// property that holds, "FAILS" one that fails without being claimed, "FAILS*" a broken claim.
void PrintInitMatrix(Output& out, const std::vector<policies::seed::Property>& properties,
                     const harness::InitReport& report) {
  std::vector<std::vector<std::string>> cells = {{"policy"}};
  for (policies::seed::Property p : properties) {
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

void PrintInitPolicyText(Output& out, const core::ParallelLayout& layout,
                         const InitPolicyReport& r) {
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
                          : ", at " + properties::DescribeRank(layout, max.rank);
  };
  out.Append(fmt::format(
      "  init cost: peak device memory {} per rank{}; peak host memory {} per rank{}; {} sent "
      "in total\n",
      HumanBytes(device.bytes), where(device), HumanBytes(host.bytes), where(host),
      HumanBytes(r.cost.bytes_sent)));
  if (r.sim) PrintSimText(out, layout, r);
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
                             properties::DescribeRank(layout, k.rank), k.oom_during));
      break;
    }
  }
  out.Append('\n');
}

std::string InitTallyLine(const harness::InitReport& report) {
  const size_t policies = report.policies.size();
  const int checked = report.ClaimsChecked(), unchecked = report.ClaimsUnchecked();
  std::string line = fmt::format("{} {}, {} {} checked, {} broken", policies,
                                 policies == 1 ? "policy" : "policies", checked,
                                 checked == 1 ? "claim" : "claims", report.BrokenClaims().size());
  if (unchecked > 0) line += fmt::format(", {} not checked (n/a)", unchecked);
  return line + "\n";
}

}  // namespace twinsim::cli
