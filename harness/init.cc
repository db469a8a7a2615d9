#include "harness/init.h"

#include <fmt/format.h>

#include <filesystem>
#include <system_error>
#include <tuple>

#include "core/json.h"
#include "core/memory_guard.h"
#include "core/text.h"
#include "core/topology.h"
#include "core/topology_presets.h"
#include "harness/internal/checks.h"
#include "kernels/torch/cuda_layout.h"
#include "properties/memory_need.h"
#include "properties/shard_dump.h"

namespace twinsim::harness {
namespace {

using internal::ForOptionOf;
using internal::CheckNames;

using policies::seed::InitDevice;
using policies::seed::Property;
using policies::seed::SeedPolicy;
using properties::PolicyCheck;
using properties::Verdict;
using Json = nlohmann::ordered_json;

int64_t GpusPerNode(const core::Topology& t) {
  return t.nodes.empty() || t.nodes[0].gpus.empty() ? 1
                                                    : static_cast<int64_t>(t.nodes[0].gpus.size());
}

// The memory guard (core/memory_guard.h): a run that holds real bytes (host, sim data mode) is
// refused before it allocates when its shards alone exceed what this machine can give.
Status CheckMemory(const InitRequest& request, const core::ParallelLayout& layout) {
  const bool sim = request.backend == InitBackend::kSim;
  if (sim && request.timing_only) return Status::Ok();
  const uint64_t need = properties::InitHeldBytesLowerBound(layout);
  return core::CheckMemoryNeed(
      need, core::ReadMemoryLimits(request.max_memory.value_or(0)),
      fmt::format("init of {} on {} rank{}", layout.model().name, layout.world_size(),
                  layout.world_size() == 1 ? "" : "s"),
      sim ? "Add --timing-only (parity on sampled elements of counter fills), or use a smaller "
            "model or layout; --max-memory SIZE sets the cap"
          : "Use --backend sim --cluster C --timing-only (parity on sampled elements of counter "
            "fills), or a smaller model or layout; --max-memory SIZE sets the cap");
}

// "trace.json" -> "trace.<policy>.json": one trace per policy.
std::string TracePathFor(const std::string& path, std::string_view policy) {
  const size_t slash = path.find_last_of('/');
  const size_t dot = path.find_last_of('.');
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash)) {
    return path + "." + std::string(policy);
  }
  return path.substr(0, dot) + "." + std::string(policy) + path.substr(dot);
}

// The rank that finished last: the end of the critical path (the first of equals).
const properties::RankOutcome* LastRank(const properties::InitRun& run) {
  const properties::RankOutcome* last = nullptr;
  for (const properties::RankOutcome& r : run.ranks) {
    if (last == nullptr || r.end_time_s > last->end_time_s) last = &r;
  }
  return last;
}

// `text`, or a marker when it is not valid UTF-8 (JSON strings must be).
std::string ValidUtf8(const std::string& text) {
  return core::IsValidUtf8(text) ? text : "(detail not valid UTF-8)";
}

InitPolicyReport ReportOf(const SeedPolicy& policy, const PolicyCheck& check,
                          const PreparedInit& p) {
  const core::ParallelLayout& l = *p.layout;
  const core::LayoutConfig& c = l.config();
  InitPolicyReport r;
  r.policy = check.policy;
  r.version = check.version;
  r.models = std::string(policy.models());
  r.init_device = std::string(policies::seed::InitDeviceName(check.init_device));
  r.layout = {.model = l.model().name,
              .tp = c.tp,
              .pp = c.pp,
              .dp = c.dp,
              .cp = c.cp,
              .dp_shard = c.dp_shard,
              .mesh = std::string(core::MeshName(c.mesh)),
              .vpp = c.vpp,
              .ep = c.ep,
              .etp = l.expert_tp(),
              .world = l.world_size(),
              .partition = c.partition == core::PipelinePartition::kByLayers ? "layers" : "params",
              .vocab_divisible_by = c.vocab_divisible_by};
  r.seed = p.options.seed;
  r.gpu = p.options.gpu.name;
  r.device_memory_bytes = p.options.device_capacity;
  r.host_memory_bytes = p.options.host_capacity;
  for (const PolicyCheck::Row& row : check.rows) {
    r.properties.push_back({std::string(policies::seed::PropertyName(row.result.property)),
                            std::string(properties::VerdictName(row.result.verdict)), row.claimed,
                            row.claim_condition, row.result.detail});
  }
  const properties::InitRun& run = check.run;
  for (const properties::RankOutcome& o : run.ranks) {
    InitRankReport rank{.rank = o.rank,
                        .dp = o.coords.dp,
                        .pp = o.coords.pp,
                        .tp = o.coords.tp,
                        .device_bytes = o.peak_device_bytes,
                        .host_bytes = o.peak_host_bytes,
                        .bytes_sent = o.bytes_sent,
                        .oom = o.oom.has_value()};
    if (run.sim) rank.end_time_s = o.end_time_s;
    if (o.oom) rank.oom_during = o.oom_during;
    if (o.peak_device_bytes > r.cost.max_device_bytes) {
      r.cost.max_device_bytes = o.peak_device_bytes;
    }
    if (o.peak_host_bytes > r.cost.max_host_bytes) {
      r.cost.max_host_bytes = o.peak_host_bytes;
    }
    r.cost.bytes_sent += o.bytes_sent;
    r.cost.per_rank.push_back(std::move(rank));
  }
  if (run.offline) {
    const properties::OfflineSummary& o = *run.offline;
    r.offline = InitOfflineReport{.what = o.work.what,
                                  .host_bytes = o.work.host_bytes,
                                  .elements = o.work.elements_initialized,
                                  .storage_write_bytes = o.work.storage_write_bytes};
    if (o.time_s >= 0) r.offline->time_s = o.time_s;
  }
  if (run.sim) {
    const properties::RankOutcome* last = LastRank(run);
    r.sim = InitSimReport{.cluster = p.options.sim.topology.name,
                          .mode = p.options.sim.holds_bytes ? "data" : "timing-only",
                          .init_time_s = run.sim->end_time_s,
                          .last_rank = last != nullptr ? last->rank : -1,
                          .wall_s = run.sim->wall_s,
                          .link_bytes = run.sim->link_bytes};
  }
  r.broke_claim = check.BrokeClaim();
  r.supports_init_device = policy.Supports(check.init_device);
  return r;
}

}  // namespace

StatusOr<PreparedInit> PrepareInit(const InitRequest& request) {
  PreparedInit p;
  const bool sim = request.backend == InitBackend::kSim;
  if (!sim) {
    for (const auto& [option, given] :
         {std::pair{"--cluster", !request.cluster.empty()},
          std::pair{"--timing-only", request.timing_only},
          std::pair{"--trace", !request.trace_path.empty()}}) {
      if (given) {
        return Status::InvalidArgument(std::string(option) + ": only with --backend sim");
      }
    }
  }
  std::optional<core::Topology> topology;
  if (sim) {
    if (request.cluster.empty()) {
      return Status::InvalidArgument(
          "--cluster: required with --backend sim (e.g. --cluster dgx-h100:nodes=2)");
    }
    StatusOr<core::Topology> t = core::MakeTopology(request.cluster);
    if (!t.ok()) return ForOptionOf("--cluster", t.status());
    topology = std::move(*t);
  }
  StatusOr<core::ParallelLayout> layout =
      sim ? MakeLayout(request.layout, kInitMaxSimWorld, "(the largest simulated world)")
          : MakeLayout(request.layout, kInitMaxWorld,
                       "(twinsim init runs every rank as a thread; --backend sim goes further)");
  if (!layout.ok()) return layout.status();
  p.layout = std::move(*layout);
  const core::ParallelLayout& l = *p.layout;
  if (sim) {
    const int64_t gpus = core::NumGpus(*topology);
    if (l.world_size() > gpus) {
      return Status::InvalidArgument(fmt::format(
          "--cluster: {} has {} GPUs, the layout needs {} (tp {} x pp {} x dp {}); add nodes, "
          "e.g. {}:nodes={}",
          request.cluster, gpus, l.world_size(), l.config().tp, l.config().pp, l.config().dp,
          topology->name.substr(0, topology->name.find(':')),
          (l.world_size() + GpusPerNode(*topology) - 1) / GpusPerNode(*topology)));
    }
    p.options.backend = properties::Backend::kSim;
    p.options.sim.topology = *topology;
    p.options.sim.holds_bytes = !request.timing_only;
    p.options.sim.trace_path = request.trace_path;
  }

  TWINSIM_RETURN_IF_ERROR(CheckNames("--policy", request.policies));
  if (request.policies.empty()) return Status::InvalidArgument("--policy: required");
  for (const std::string& name : request.policies == std::vector<std::string>{"all"}
                                     ? policies::seed::PolicyNames()
                                     : request.policies) {
    StatusOr<std::unique_ptr<SeedPolicy>> policy = policies::seed::MakePolicy(name);
    if (!policy.ok()) return ForOptionOf("--policy", policy.status());
    p.policies.push_back(std::move(*policy));
  }

  if (!request.dump_dir.empty() && request.timing_only) {
    return Status::InvalidArgument("--dump: a timing-only run holds no bytes; drop --timing-only");
  }
  TWINSIM_RETURN_IF_ERROR(CheckMemory(request, l));
  if (std::error_code ec;
      !request.dump_dir.empty() && std::filesystem::exists(request.dump_dir, ec)) {
    return Status::InvalidArgument("--dump: " + core::Quote(request.dump_dir) +
                                   " exists; name a new folder (a dump never overwrites)");
  }

  p.options.seed = request.seed;
  p.init_device = request.init_device;
  StatusOr<kernels::torch::CudaDeviceProfile> gpu =
      kernels::torch::CudaDeviceProfileByName(request.gpu);
  if (!gpu.ok()) return ForOptionOf("--gpu", gpu.status());
  p.options.gpu = *gpu;
  p.options.device_capacity =
      request.device_memory.value_or(
          sim ? static_cast<uint64_t>(topology->nodes.at(0).gpus.at(0).memory_capacity_bytes)
              : kInitDefaultDeviceMemory);
  p.options.host_capacity = request.host_memory.value_or(kInitDefaultHostMemory);

  TWINSIM_RETURN_IF_ERROR(CheckNames("--check", request.checks));
  if (request.checks.empty()) return Status::InvalidArgument("--check: required");
  if (request.checks == std::vector<std::string>{"all"}) {
    p.properties = policies::seed::AllProperties();
  } else {
    for (const std::string& name : request.checks) {
      StatusOr<Property> property = policies::seed::ParseProperty(name);
      if (!property.ok()) return ForOptionOf("--check", property.status());
      p.properties.push_back(*property);
    }
  }
  p.trace_path = request.trace_path;
  p.dump_dir = request.dump_dir;
  return p;
}

Status InitRequest::Validate() const { return PrepareInit(*this).status(); }

StatusOr<InitReport> RunInit(const InitRequest& request, const InitObserver& observer) {
  TWINSIM_ASSIGN_OR_RETURN(PreparedInit prepared, PrepareInit(request));
  return RunInit(prepared, observer);
}

StatusOr<InitReport> RunInit(const PreparedInit& p, const InitObserver& observer) {
  InitReport report;
  for (size_t i = 0; i < p.policies.size(); ++i) {
    const SeedPolicy& policy = *p.policies[i];
    if (observer.before_policy) observer.before_policy(policy.name(), i, p.policies.size());
    properties::InitRunOptions options = p.options;
    options.init_device = p.init_device.value_or(policy.default_init_device());
    if (!p.trace_path.empty() && p.policies.size() > 1) {
      options.sim.trace_path = TracePathFor(p.trace_path, policy.name());
    }
    StatusOr<PolicyCheck> check = properties::CheckPolicy(policy, *p.layout, options, p.properties);
    if (!check.ok()) {
      return Status(check.status().code(),
                    fmt::format("policy {}: {}", policy.name(), check.status().message()));
    }
    InitPolicyReport r = ReportOf(policy, *check, p);
    if (!p.dump_dir.empty()) {
      const std::string dir =
          p.policies.size() > 1 ? p.dump_dir + "/" + std::string(policy.name()) : p.dump_dir;
      Status dumped = properties::WriteShardDump(check->run, *p.layout, dir);
      if (!dumped.ok()) return ForOptionOf("--dump", dumped);
      r.dump_dir = dir;
    }
    if (observer.after_policy) TWINSIM_RETURN_IF_ERROR(observer.after_policy(r));
    report.policies.push_back(std::move(r));
  }
  return report;
}

const InitPropertyReport* InitPolicyReport::Find(std::string_view property) const {
  for (const InitPropertyReport& row : properties) {
    if (row.property == property) return &row;
  }
  return nullptr;
}

int InitReport::ClaimsChecked() const {
  int n = 0;
  for (const InitPolicyReport& p : policies) {
    for (const InitPropertyReport& row : p.properties) n += row.claimed && row.verdict != "n/a";
  }
  return n;
}

int InitReport::ClaimsUnchecked() const {
  int n = 0;
  for (const InitPolicyReport& p : policies) {
    for (const InitPropertyReport& row : p.properties) n += row.claimed && row.verdict == "n/a";
  }
  return n;
}

std::vector<std::string> InitReport::BrokenClaims() const {
  std::vector<std::string> broken;
  for (const InitPolicyReport& p : policies) {
    for (const InitPropertyReport& row : p.properties) {
      if (row.claimed && row.verdict == "fails") broken.push_back(p.policy + " " + row.property);
    }
  }
  return broken;
}

// ---------------------------------------------------------------------------------------------
// JSON.

void to_json(Json& j, const InitPolicyReport& r) {
  Json properties = Json::array();
  for (const InitPropertyReport& p : r.properties) {
    properties.push_back(Json{{"property", p.property},
                              {"verdict", p.verdict},
                              {"claimed", p.claimed},
                              {"condition", p.condition},
                              {"detail", ValidUtf8(p.detail)}});
  }
  Json per_rank = Json::array();
  for (const InitRankReport& k : r.cost.per_rank) {
    Json rank{{"rank", k.rank},
              {"dp", k.dp},
              {"pp", k.pp},
              {"tp", k.tp},
              {"device_bytes", k.device_bytes},
              {"host_bytes", k.host_bytes},
              {"bytes_sent", k.bytes_sent},
              {"oom", k.oom}};
    if (k.end_time_s) rank["end_time_s"] = *k.end_time_s;
    per_rank.push_back(std::move(rank));
  }
  const InitLayoutReport& l = r.layout;
  j = Json{{"policy", r.policy},
           {"version", r.version},
           {"models", r.models},
           {"init_device", r.init_device},
           {"layout", Json{{"model", l.model},
                           {"tp", l.tp},
                           {"pp", l.pp},
                           {"dp", l.dp},
                           {"cp", l.cp},
                           {"dp_shard", l.dp_shard},
                           {"mesh", l.mesh},
                           {"vpp", l.vpp},
                           {"ep", l.ep},
                           {"etp", l.etp},
                           {"world", l.world},
                           {"partition", l.partition},
                           {"vocab_divisible_by", l.vocab_divisible_by}}},
           {"seed", r.seed},
           {"gpu", r.gpu},
           {"device_memory_bytes", r.device_memory_bytes},
           {"host_memory_bytes", r.host_memory_bytes},
           {"properties", std::move(properties)},
           {"cost", Json{{"max_device_bytes", r.cost.max_device_bytes},
                         {"max_host_bytes", r.cost.max_host_bytes},
                         {"bytes_sent", r.cost.bytes_sent},
                         {"per_rank", std::move(per_rank)}}}};
  if (r.offline) {
    const InitOfflineReport& o = *r.offline;
    j["offline"] = Json{{"what", o.what},
                        {"host_bytes", o.host_bytes},
                        {"elements", o.elements},
                        {"storage_write_bytes", o.storage_write_bytes},
                        {"time_s", nullptr}};
    if (o.time_s) j["offline"]["time_s"] = *o.time_s;
  }
  if (r.sim) {
    const InitSimReport& s = *r.sim;
    Json links = Json::object();
    for (const auto& [name, bytes] : s.link_bytes) links[name] = bytes;
    j["sim"] = Json{{"cluster", s.cluster},          {"mode", s.mode},
                    {"init_time_s", s.init_time_s},  {"last_rank", s.last_rank},
                    {"wall_s", s.wall_s},            {"link_bytes", std::move(links)}};
  }
  j["broke_claim"] = r.broke_claim;
}

void from_json(const Json& j, InitPolicyReport& r) {
  j.at("policy").get_to(r.policy);
  j.at("version").get_to(r.version);
  j.at("models").get_to(r.models);
  j.at("init_device").get_to(r.init_device);
  const Json& l = j.at("layout");
  l.at("model").get_to(r.layout.model);
  l.at("tp").get_to(r.layout.tp);
  l.at("pp").get_to(r.layout.pp);
  l.at("dp").get_to(r.layout.dp);
  l.at("cp").get_to(r.layout.cp);
  l.at("dp_shard").get_to(r.layout.dp_shard);
  l.at("mesh").get_to(r.layout.mesh);
  l.at("vpp").get_to(r.layout.vpp);
  l.at("ep").get_to(r.layout.ep);
  l.at("etp").get_to(r.layout.etp);
  l.at("world").get_to(r.layout.world);
  l.at("partition").get_to(r.layout.partition);
  l.at("vocab_divisible_by").get_to(r.layout.vocab_divisible_by);
  j.at("seed").get_to(r.seed);
  j.at("gpu").get_to(r.gpu);
  j.at("device_memory_bytes").get_to(r.device_memory_bytes);
  j.at("host_memory_bytes").get_to(r.host_memory_bytes);
  r.properties.clear();
  for (const Json& p : j.at("properties")) {
    InitPropertyReport row;
    p.at("property").get_to(row.property);
    p.at("verdict").get_to(row.verdict);
    p.at("claimed").get_to(row.claimed);
    p.at("condition").get_to(row.condition);
    p.at("detail").get_to(row.detail);
    r.properties.push_back(std::move(row));
  }
  const Json& c = j.at("cost");
  c.at("max_device_bytes").get_to(r.cost.max_device_bytes);
  c.at("max_host_bytes").get_to(r.cost.max_host_bytes);
  c.at("bytes_sent").get_to(r.cost.bytes_sent);
  r.cost.per_rank.clear();
  for (const Json& k : c.at("per_rank")) {
    InitRankReport rank;
    k.at("rank").get_to(rank.rank);
    k.at("dp").get_to(rank.dp);
    k.at("pp").get_to(rank.pp);
    k.at("tp").get_to(rank.tp);
    k.at("device_bytes").get_to(rank.device_bytes);
    k.at("host_bytes").get_to(rank.host_bytes);
    k.at("bytes_sent").get_to(rank.bytes_sent);
    k.at("oom").get_to(rank.oom);
    if (k.contains("end_time_s")) rank.end_time_s = k.at("end_time_s").get<double>();
    r.cost.per_rank.push_back(std::move(rank));
  }
  r.offline.reset();
  if (j.contains("offline")) {
    const Json& o = j.at("offline");
    InitOfflineReport off;
    o.at("what").get_to(off.what);
    o.at("host_bytes").get_to(off.host_bytes);
    o.at("elements").get_to(off.elements);
    o.at("storage_write_bytes").get_to(off.storage_write_bytes);
    if (!o.at("time_s").is_null()) off.time_s = o.at("time_s").get<double>();
    r.offline = std::move(off);
  }
  r.sim.reset();
  if (j.contains("sim")) {
    const Json& s = j.at("sim");
    InitSimReport sim;
    s.at("cluster").get_to(sim.cluster);
    s.at("mode").get_to(sim.mode);
    s.at("init_time_s").get_to(sim.init_time_s);
    s.at("last_rank").get_to(sim.last_rank);
    s.at("wall_s").get_to(sim.wall_s);
    for (const auto& [name, bytes] : s.at("link_bytes").items()) {
      sim.link_bytes.emplace_back(name, bytes.get<uint64_t>());
    }
    r.sim = std::move(sim);
  }
  j.at("broke_claim").get_to(r.broke_claim);
}

std::string InitJsonLine(const InitPolicyReport& r) {
  using core::JsonString;
  const InitLayoutReport& l = r.layout;
  std::string out = fmt::format(
      "{{\"policy\":{},\"version\":{},\"models\":{},\"init_device\":\"{}\","
      "\"layout\":{{\"model\":{},\"tp\":{},\"pp\":{},\"dp\":{},\"cp\":{},\"dp_shard\":{},"
      "\"mesh\":\"{}\",\"vpp\":{},\"ep\":{},\"etp\":{},"
      "\"world\":{},\"partition\":\"{}\",\"vocab_divisible_by\":{}}},\"seed\":{},"
      "\"gpu\":{},\"device_memory_bytes\":{},\"host_memory_bytes\":{},\"properties\":[",
      JsonString(r.policy), JsonString(r.version), JsonString(r.models), r.init_device,
      JsonString(l.model), l.tp, l.pp, l.dp, l.cp, l.dp_shard, l.mesh, l.vpp, l.ep, l.etp,
      l.world, l.partition, l.vocab_divisible_by, r.seed, JsonString(r.gpu),
      r.device_memory_bytes, r.host_memory_bytes);
  for (size_t i = 0; i < r.properties.size(); ++i) {
    const InitPropertyReport& row = r.properties[i];
    out += fmt::format(
        "{}{{\"property\":\"{}\",\"verdict\":\"{}\",\"claimed\":{},\"condition\":{},"
        "\"detail\":{}}}",
        i ? "," : "", row.property, row.verdict, row.claimed, JsonString(row.condition),
        JsonString(ValidUtf8(row.detail)));
  }
  out += fmt::format(
      "],\"cost\":{{\"max_device_bytes\":{},\"max_host_bytes\":{},\"bytes_sent\":{},"
      "\"per_rank\":[",
      r.cost.max_device_bytes, r.cost.max_host_bytes, r.cost.bytes_sent);
  for (size_t i = 0; i < r.cost.per_rank.size(); ++i) {
    const InitRankReport& k = r.cost.per_rank[i];
    out += fmt::format(
        "{}{{\"rank\":{},\"dp\":{},\"pp\":{},\"tp\":{},\"device_bytes\":{},\"host_bytes\":{},"
        "\"bytes_sent\":{},\"oom\":{}{}}}",
        i ? "," : "", k.rank, k.dp, k.pp, k.tp, k.device_bytes, k.host_bytes, k.bytes_sent,
        k.oom, k.end_time_s ? fmt::format(",\"end_time_s\":{:.9g}", *k.end_time_s) : std::string());
  }
  out += "]}";
  if (r.offline) {
    const InitOfflineReport& o = *r.offline;
    out += fmt::format(
        ",\"offline\":{{\"what\":{},\"host_bytes\":{},\"elements\":{},"
        "\"storage_write_bytes\":{},\"time_s\":{}}}",
        JsonString(o.what), o.host_bytes, o.elements, o.storage_write_bytes,
        o.time_s ? fmt::format("{:.9g}", *o.time_s) : "null");
  }
  if (r.sim) {
    const InitSimReport& s = *r.sim;
    out += fmt::format(
        ",\"sim\":{{\"cluster\":{},\"mode\":\"{}\",\"init_time_s\":{:.9g},"
        "\"last_rank\":{},\"wall_s\":{:.3f},\"link_bytes\":{{",
        JsonString(s.cluster), s.mode, s.init_time_s, s.last_rank, s.wall_s);
    for (size_t k = 0; k < s.link_bytes.size(); ++k) {
      out += fmt::format("{}{}:{}", k ? "," : "", JsonString(s.link_bytes[k].first),
                         s.link_bytes[k].second);
    }
    out += "}}";
  }
  out += fmt::format(",\"broke_claim\":{}}}", r.broke_claim);
  return out;
}

void to_json(Json& j, const InitReport& r) {
  j = Json::array();
  for (const InitPolicyReport& p : r.policies) j.push_back(p);
}

void from_json(const Json& j, InitReport& r) {
  r.policies.clear();
  for (const Json& p : j) r.policies.push_back(p.get<InitPolicyReport>());
}

}  // namespace twinsim::harness
