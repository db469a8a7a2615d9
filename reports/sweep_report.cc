#include "reports/sweep_report.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "harness/place.h"
#include "scenarios/subprocess.h"

namespace twinsim::reports {
namespace {

using Json = nlohmann::ordered_json;

// ---------------------------------------------------------------------------------------------
// Small formatting helpers.

std::string Format(const char* format, double value) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, format, value);
  return buffer;
}

// "12.3 ms", "1.20 s", "850 us".
std::string Seconds(double s) {
  if (s < 1e-6) return Format("%.0f ns", s * 1e9);
  if (s < 1e-3) return Format("%.1f us", s * 1e6);
  if (s < 1.0) return Format("%.2f ms", s * 1e3);
  return Format("%.2f s", s);
}

std::string GiB(double bytes) { return Format("%.2f GiB", bytes / (1024.0 * 1024 * 1024)); }

std::string JsonText(const Json& j) {
  if (j.is_null()) return "";
  if (j.is_string()) return j.get<std::string>();
  if (j.is_boolean()) return j.get<bool>() ? "true" : "false";
  return j.dump();
}

// j[key] or null, without inserting.
const Json& Get(const Json& j, const char* key) {
  static const Json null;
  if (!j.is_object()) return null;
  const auto it = j.find(key);
  return it == j.end() ? null : *it;
}

double Number(const Json& j, double fallback = 0) {
  return j.is_number() ? j.get<double>() : fallback;
}

std::string CsvField(const std::string& text) {
  if (text.find_first_of(",\"\n\r") == std::string::npos) return text;
  std::string quoted = "\"";
  for (const char c : text) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
  return quoted + "\"";
}

std::string HtmlEscape(const std::string& text) {
  std::string out;
  for (const char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string MarkdownCell(const std::string& text) {
  std::string out;
  for (const char c : text) {
    if (c == '|') {
      out += "\\|";
    } else if (c == '\n') {
      out += ' ';
    } else {
      out += c;
    }
  }
  return out;
}

// The cluster without its ":nodes=N" options: the family of GPUs it is made of.
std::string ClusterFamily(const std::string& cluster) { return cluster.substr(0, cluster.find(':')); }

// ---------------------------------------------------------------------------------------------
// One row per case and result line.

struct Row {
  const Json* record;
  const Json* result;  // null when the case printed nothing
  // A place result read as the type `place --json` writes (none for --max-model's).
  std::optional<harness::PlacePolicyReport> place;
};

// A place case's result line as harness's typed report, so that a renamed or missing key is an
// error naming the case rather than an empty cell. --max-model lines (they have "largest") are
// checked as LargestModelReport and give none.
StatusOr<std::optional<harness::PlacePolicyReport>> ReadPlaceResult(const Json& record,
                                                                    const Json& result) {
  try {
    if (result.contains("largest")) {
      (void)result.get<harness::LargestModelReport>();
      return std::optional<harness::PlacePolicyReport>();
    }
    // The sweep keeps no "wall_s" (scenarios/sweep.cc moves the sim's host wall time out of
    // the records, so that they are the same on every run); it reads back as 0.
    if (result.contains("sim") && result["sim"].is_object() && !result["sim"].contains("wall_s")) {
      Json with_wall = result;
      with_wall["sim"]["wall_s"] = 0.0;
      return std::optional<harness::PlacePolicyReport>(with_wall.get<harness::PlacePolicyReport>());
    }
    return std::optional<harness::PlacePolicyReport>(result.get<harness::PlacePolicyReport>());
  } catch (const nlohmann::json::exception& e) {
    return Status::InvalidArgument("case " + record.value("id", std::string("?")) +
                                   ": a place result that harness::PlacePolicyReport does not "
                                   "read: " + e.what());
  }
}

bool IsInit(const Row& r) { return r.record->value("command", "") == "init" && r.result != nullptr; }
bool IsPlace(const Row& r) {
  return r.record->value("command", "") == "place" && r.result != nullptr;
}

std::string Verdict(const Json& result, const std::string& property) {
  for (const Json& p : Get(result, "properties")) {
    if (p.value("property", "") == property) {
      const std::string verdict = p.value("verdict", "");
      return (verdict == "fails" ? "FAILS" : verdict) + (p.value("claimed", false) ? "*" : "");
    }
  }
  return "";
}

bool InitOom(const Json& result) {
  for (const Json& r : Get(Get(result, "cost"), "per_rank")) {
    if (r.value("oom", false)) return true;
  }
  return Verdict(result, "init-fits").rfind("FAILS", 0) == 0;
}

const std::vector<std::string> kProperties = {"parity", "replica", "distinct", "determinism",
                                               "init-fits", "distribution"};

}  // namespace

const std::vector<std::string>& CsvColumns() {
  static const std::vector<std::string> columns = {
      "case_id", "index", "label", "command", "status", "exit_code", "policy", "model",
      "cluster", "backend", "mode", "tp", "pp", "dp", "seed", "init_device", "init_time_s",
      "max_device_bytes", "max_host_bytes", "bytes_sent", "parity", "replica", "distinct",
      "determinism", "init_fits", "broke_claim", "batch", "seq", "microbatches", "gpu_memory",
      "host_memory", "feasible", "fits", "oom_op", "peak_gpu_bytes", "peak_host_bytes",
      "h2d_bytes", "d2h_bytes", "ratio_to_optimal", "args",
      // Added after "args" so that every earlier column keeps its position.
      "step_time_s", "compute_time_s", "peak_reserved_bytes", "distribution"};
  return columns;
}

namespace {

std::map<std::string, std::string> CsvRow(const Row& row) {
  const Json& c = *row.record;
  std::map<std::string, std::string> v;
  v["case_id"] = c.value("id", "");
  v["index"] = JsonText(Get(c, "index"));
  v["label"] = c.value("label", "");
  v["command"] = c.value("command", "");
  v["status"] = c.value("status", "");
  v["exit_code"] = JsonText(Get(c, "exit_code"));
  std::string args;
  for (const Json& a : Get(c, "args")) args += (args.empty() ? "" : " ") + JsonText(a);
  v["args"] = args;
  if (row.result == nullptr) return v;
  const Json& r = *row.result;
  v["policy"] = JsonText(Get(r, "policy"));
  if (IsInit(row)) {
    const Json& layout = Get(r, "layout");
    const Json& sim = Get(r, "sim");
    v["model"] = JsonText(Get(layout, "model"));
    for (const char* k : {"tp", "pp", "dp"}) v[k] = JsonText(Get(layout, k));
    v["backend"] = sim.is_null() ? "host" : "sim";
    v["cluster"] = JsonText(Get(sim, "cluster"));
    v["mode"] = sim.is_null() ? "data" : JsonText(Get(sim, "mode"));
    v["seed"] = JsonText(Get(r, "seed"));
    v["init_device"] = JsonText(Get(r, "init_device"));
    v["init_time_s"] = JsonText(Get(sim, "init_time_s"));
    for (const char* k : {"max_device_bytes", "max_host_bytes", "bytes_sent"}) {
      v[k] = JsonText(Get(Get(r, "cost"), k));
    }
    for (const std::string& p : kProperties) {
      v[p == "init-fits" ? "init_fits" : p] = Verdict(r, p);
    }
    v["broke_claim"] = JsonText(Get(r, "broke_claim"));
  } else if (row.place) {
    const harness::PlacePolicyReport& p = *row.place;
    // Each value as the JSON line wrote it (doubles as fmt writes them shortest: 1 for 1.0).
    auto text = [](const auto& value) {
      if constexpr (std::is_floating_point_v<std::decay_t<decltype(value)>>) {
        return fmt::format("{}", value);
      } else {
        return JsonText(Json(value));
      }
    };
    auto optional = [&](const auto& value) { return value ? text(*value) : std::string(); };
    v["model"] = p.model;
    v["cluster"] = p.cluster;
    v["tp"] = text(p.tp);
    v["pp"] = text(p.pp);
    v["dp"] = text(p.dp);
    v["batch"] = text(p.batch);
    v["seq"] = text(p.seq);
    v["microbatches"] = text(p.microbatches);
    v["gpu_memory"] = text(p.gpu_memory);
    v["host_memory"] = text(p.host_memory);
    v["feasible"] = text(p.feasible);
    v["fits"] = text(p.fits);
    v["peak_gpu_bytes"] = text(p.peak_gpu_bytes);
    v["peak_host_bytes"] = text(p.peak_host_bytes);
    v["h2d_bytes"] = text(p.h2d_bytes);
    v["d2h_bytes"] = text(p.d2h_bytes);
    v["ratio_to_optimal"] = optional(p.ratio_to_optimal);
    v["oom_op"] = p.oom ? p.oom->op_name : std::string();
    v["backend"] = p.backend;
    v["step_time_s"] = optional(p.step_time_s);
    v["compute_time_s"] = p.sim ? text(p.sim->compute_time_s) : std::string();
    v["peak_reserved_bytes"] = text(p.peak_reserved_bytes);
  } else {
    // --max-model's lines (checked as harness::LargestModelReport when read).
    for (const char* k : {"cluster", "tp", "pp", "dp", "batch", "seq", "gpu_memory",
                          "host_memory"}) {
      v[k] = JsonText(Get(r, k));
    }
  }
  return v;
}

// ---------------------------------------------------------------------------------------------
// The report as data, rendered twice (Markdown and HTML).

struct Table {
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
};

struct Series {
  std::string name;
  std::vector<std::pair<double, double>> points;
};

struct Plot {
  std::string file;  // "init_time_1" (plots/<file>.svg)
  std::string title, xlabel, ylabel;
  bool logx = false, logy = false;
  std::vector<Series> series;
  std::string svg;  // filled by Draw
  // A clustered bar chart instead of lines: one group of bars per category, one bar per
  // series; a point's x is the category's index.
  std::vector<std::string> categories;
  bool lines = false;  // lines without point marks (long series)
};

struct Block {
  std::string heading;  // "" for none
  std::string text;     // a paragraph
  Table table;
  int plot = -1;  // index into Report::plots
};

struct Report {
  std::vector<Block> blocks;
  std::vector<Plot> plots;
  void Heading(std::string h) { blocks.push_back({std::move(h), "", {}, -1}); }
  void Text(std::string t) { blocks.push_back({"", std::move(t), {}, -1}); }
  void Add(Table t) { blocks.push_back({"", "", std::move(t), -1}); }
  void Add(Plot p) {
    plots.push_back(std::move(p));
    blocks.push_back({"", "", {}, static_cast<int>(plots.size()) - 1});
  }
};

std::string GnuplotString(const std::string& text) {
  std::string out = "\"";
  for (const char c : text) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

// Draws `plot` with gnuplot as SVG into plot.svg; leaves it empty when gnuplot fails.
void Draw(Plot& plot, const std::string& gnuplot, const std::string& work) {
  std::string script =
      "set terminal svg size 760,430 font 'sans,11' background rgb 'white'\n"
      "set termoption noenhanced\nset grid\nset key outside right top\n"
      "set title " + GnuplotString(plot.title) + "\nset xlabel " + GnuplotString(plot.xlabel) +
      "\nset ylabel " + GnuplotString(plot.ylabel) + "\n";
  if (plot.logx) script += "set logscale x 2\n";
  if (plot.logy) script += "set logscale y\n";
  std::string commands;
  if (!plot.categories.empty()) {
    script +=
        "set style data histograms\nset style histogram clustered gap 1\n"
        "set style fill solid 0.85 border -1\nset boxwidth 0.9\nset yrange [0:*]\n"
        "set xtics rotate by -20\n$D << EOD\n";
    for (size_t c = 0; c < plot.categories.size(); ++c) {
      script += GnuplotString(plot.categories[c]);
      for (const Series& series : plot.series) {
        double y = 0;
        for (const auto& [x, value] : series.points) {
          if (x == static_cast<double>(c)) y = value;
        }
        script += " " + Format("%.10g", y);
      }
      script += "\n";
    }
    script += "EOD\n";
    for (size_t s = 0; s < plot.series.size(); ++s) {
      commands += (s == 0 ? "plot $D using 2:xtic(1)" : ", '' using " + std::to_string(s + 2)) +
                  std::string(" title ") + GnuplotString(plot.series[s].name);
    }
  } else {
    for (size_t s = 0; s < plot.series.size(); ++s) {
      script += "$D" + std::to_string(s) + " << EOD\n";
      for (const auto& [x, y] : plot.series[s].points) {
        script += Format("%.10g", x) + " " + Format("%.10g", y) + "\n";
      }
      script += "EOD\n";
      // Dash types and point shapes differ, so that series lying on each other stay visible.
      commands += (commands.empty() ? "plot " : ", ") + std::string("$D") + std::to_string(s) +
                  (plot.lines ? " using 1:2 with lines lw 2 dt " + std::to_string(s % 5 + 1)
                              : " using 1:2 with linespoints lw 2 dt " +
                                    std::to_string(s % 5 + 1) + " pt " +
                                    std::to_string(s % 6 + 4) + " ps 1.2") +
                  " title " + GnuplotString(plot.series[s].name);
    }
  }
  script += commands + "\n";
  const std::string script_path = work + "/.plot.gp";
  const std::string svg_path = work + "/.plot.svg";
  const std::string err_path = work + "/.plot.err";
  if (!scenarios::WriteFileAtomically(script_path, script).ok()) return;
  StatusOr<int> run = scenarios::RunProcess({gnuplot, script_path}, svg_path, err_path);
  if (run.ok() && *run == 0) {
    std::string svg = scenarios::ReadFileOrEmpty(svg_path);
    // Inline SVG in HTML: drop the XML prologue and doctype, keep from <svg on.
    const size_t start = svg.find("<svg");
    plot.svg = start == std::string::npos ? "" : svg.substr(start);
  }
  std::remove(script_path.c_str());
  std::remove(svg_path.c_str());
  std::remove(err_path.c_str());
}

// ---------------------------------------------------------------------------------------------
// Sections.

void Overview(const SweepReportInput& input, const std::vector<Row>& rows, Report& report) {
  std::map<std::string, std::map<std::string, int>> by_command;  // command -> status -> cases
  for (const Json& c : input.cases) by_command[c.value("command", "")][c.value("status", "")]++;
  Table t{{"command", "cases", "ok", "failed (claim broken)", "error", "timeout"}, {}};
  int total = 0, ok = 0;
  for (auto& [command, statuses] : by_command) {
    const int n =
        statuses["ok"] + statuses["failed"] + statuses["error"] + statuses["timeout"];
    total += n;
    ok += statuses["ok"];
    t.rows.push_back({command, std::to_string(n), std::to_string(statuses["ok"]),
                      std::to_string(statuses["failed"]), std::to_string(statuses["error"]),
                      std::to_string(statuses["timeout"])});
  }
  report.Text(std::to_string(total) + " cases, " + std::to_string(ok) + " ok, " +
              std::to_string(total - ok) + " not ok; " + std::to_string(rows.size()) +
              " result rows (one per case and policy) in results.csv.");
  report.Add(std::move(t));

  Table failures{{"case", "label", "status", "exit", "message"}, {}};
  for (const Json& c : input.cases) {
    if (c.value("status", "") == "ok") continue;
    std::string message = c.value("stderr", "");
    if (const size_t nl = message.rfind('\n'); nl != std::string::npos) {
      message = message.substr(nl + 1);
    }
    failures.rows.push_back({c.value("id", ""), c.value("label", ""), c.value("status", ""),
                             JsonText(Get(c, "exit_code")), message});
  }
  report.Heading("Broken claims and errors");
  if (failures.rows.empty()) {
    report.Text("None: every case exited 0 (no seed policy broke a property it claims).");
  } else {
    report.Add(std::move(failures));
  }
}

void InitMatrix(const std::vector<Row>& rows, Report& report) {
  // policy -> property -> counts.
  struct Counts {
    int holds = 0, fails = 0, na = 0, claimed = 0, broken = 0;
  };
  std::map<std::string, std::map<std::string, Counts>> counts;
  std::vector<std::string> policies;
  Table detail{{"case", "layout", "backend", "policy"}, {}};
  for (const std::string& p : kProperties) detail.header.push_back(p);
  for (const Row& row : rows) {
    if (!IsInit(row)) continue;
    const Json& r = *row.result;
    // Timing-only runs check init-fits alone; they are in the init-time tables.
    if (JsonText(Get(Get(r, "sim"), "mode")) == "timing-only") continue;
    const std::string policy = r.value("policy", "");
    if (std::find(policies.begin(), policies.end(), policy) == policies.end()) {
      policies.push_back(policy);
    }
    const Json& layout = Get(r, "layout");
    const Json& sim = Get(r, "sim");
    std::vector<std::string> line = {
        row.record->value("id", ""),
        JsonText(Get(layout, "model")) + " tp" + JsonText(Get(layout, "tp")) + " pp" +
            JsonText(Get(layout, "pp")) + " dp" + JsonText(Get(layout, "dp")),
        sim.is_null() ? "host" : "sim " + JsonText(Get(sim, "mode")), policy};
    for (const std::string& property : kProperties) {
      line.push_back(Verdict(r, property));
      for (const Json& p : Get(r, "properties")) {
        if (p.value("property", "") != property) continue;
        Counts& k = counts[policy][property];
        const std::string v = p.value("verdict", "");
        const bool claimed = p.value("claimed", false);
        (v == "holds" ? k.holds : v == "fails" ? k.fails : k.na)++;
        if (claimed) ++k.claimed;
        if (claimed && v == "fails") ++k.broken;
      }
    }
    detail.rows.push_back(std::move(line));
  }
  if (policies.empty()) return;
  report.Heading("Seed policies: property matrix");
  report.Text(
      "Over every init case that holds bytes: how often each property held, failed or was not applicable. "
      "'claimed' counts the cases where the policy claims the property for that layout; a "
      "broken claim makes the case fail.");
  Table t{{"policy"}, {}};
  for (const std::string& p : kProperties) t.header.push_back(p);
  for (const std::string& policy : policies) {
    std::vector<std::string> line = {policy};
    for (const std::string& property : kProperties) {
      const Counts& k = counts[policy][property];
      std::string cell;
      if (k.holds + k.fails == 0) {
        cell = k.na > 0 ? "n/a" : "";
      } else if (k.fails == 0) {
        cell = "holds " + std::to_string(k.holds) + "/" + std::to_string(k.holds + k.fails);
      } else {
        cell = "FAILS " + std::to_string(k.fails) + "/" + std::to_string(k.holds + k.fails);
      }
      if (k.claimed > 0) cell += " (claimed " + std::to_string(k.claimed) + ")";
      if (k.broken > 0) cell += " BROKEN " + std::to_string(k.broken);
      line.push_back(cell);
    }
    t.rows.push_back(std::move(line));
  }
  report.Add(std::move(t));
  report.Text("Per case (* = claimed by the policy on that layout):");
  report.Add(std::move(detail));
}

void InitTimes(const std::vector<Row>& rows, Report& report) {
  // group -> pp -> policy -> (time, oom)
  struct Cell {
    double time = 0;
    bool oom = false;
  };
  std::map<std::string, std::map<int64_t, std::map<std::string, Cell>>> groups;
  std::map<std::string, std::vector<std::string>> policies;
  std::vector<std::string> order;
  for (const Row& row : rows) {
    if (!IsInit(row)) continue;
    const Json& r = *row.result;
    const Json& sim = Get(r, "sim");
    if (sim.is_null()) continue;
    const Json& layout = Get(r, "layout");
    const std::string group = JsonText(Get(layout, "model")) + ", TP " +
                              JsonText(Get(layout, "tp")) + ", DP " +
                              JsonText(Get(layout, "dp")) + ", " +
                              ClusterFamily(JsonText(Get(sim, "cluster"))) + " (" +
                              JsonText(Get(sim, "mode")) + ")";
    if (!groups.count(group)) order.push_back(group);
    const std::string policy = r.value("policy", "");
    auto& names = policies[group];
    if (std::find(names.begin(), names.end(), policy) == names.end()) names.push_back(policy);
    const int64_t pp = Get(layout, "pp").is_number() ? Get(layout, "pp").get<int64_t>() : 0;
    groups[group][pp][policy] = {Number(Get(sim, "init_time_s")),
                                                               InitOom(r)};
  }
  if (groups.empty()) return;
  report.Heading("Init time vs pipeline-parallel size (simulated)");
  report.Text(
      "Simulated init time (the last rank to finish) per seed policy as PP grows. OOM: a rank "
      "ran out of memory during init.");
  int n = 0;
  for (const std::string& group : order) {
    Table t{{"PP"}, {}};
    for (const std::string& p : policies[group]) t.header.push_back(p);
    Plot plot{"init_time_" + std::to_string(++n), "Init time vs PP: " + group, "PP size",
              "simulated init time (s)", true, true, {}, ""};
    for (const std::string& p : policies[group]) plot.series.push_back({p, {}});
    for (const auto& [pp, cells] : groups[group]) {
      std::vector<std::string> line = {std::to_string(pp)};
      for (size_t i = 0; i < policies[group].size(); ++i) {
        const auto it = cells.find(policies[group][i]);
        if (it == cells.end()) {
          line.push_back("");
        } else if (it->second.oom) {
          line.push_back("OOM");
        } else {
          line.push_back(Seconds(it->second.time));
          if (it->second.time > 0) {
            plot.series[i].points.push_back({static_cast<double>(pp), it->second.time});
          }
        }
      }
      t.rows.push_back(std::move(line));
    }
    report.Text("**" + group + "**");
    report.Add(std::move(t));
    report.Add(std::move(plot));
  }
}

// The place options that define a group of cases besides the ones swept on an axis.
std::string PlaceGroup(const Json& r, bool with_gpu_memory) {
  std::string group = JsonText(Get(r, "model")) + " on " + JsonText(Get(r, "cluster")) + ", seq " +
                      JsonText(Get(r, "seq")) + ", TP " + JsonText(Get(r, "tp")) + " PP " +
                      JsonText(Get(r, "pp")) + " DP " + JsonText(Get(r, "dp")) + ", " +
                      JsonText(Get(r, "microbatches")) + " microbatch(es)" +
                      (Get(r, "recompute").is_boolean() && Get(r, "recompute").get<bool>()
                           ? ", recompute"
                           : "");
  if (with_gpu_memory) group += ", GPU " + GiB(Number(Get(r, "gpu_memory")));
  return group;
}

// Placement policies are reported by their family ("auto" for "auto(0.8,0.9)").
std::string PolicyFamily(const Json& r) {
  const std::string p = r.value("policy", "");
  return p.substr(0, p.find('('));
}

// A place result with a per-op memory timeline (`timeline = true`). Such cases are reported
// in their own section (PlacementTimelines), not along the batch axis.
bool HasTimeline(const Json& r) { return Get(r, "timeline").is_array(); }

void Placement(const std::vector<Row>& rows, Report& report) {
  std::vector<const Json*> place;
  for (const Row& row : rows) {
    if (IsPlace(row) && !HasTimeline(*row.result)) place.push_back(row.result);
  }
  if (place.empty()) return;

  // OOM frontier: the largest batch that fits, per policy and GPU memory.
  struct Frontier {
    int64_t largest_fit = 0, smallest_oom = 0;
    std::string oom_op;
  };
  std::vector<std::string> families;
  std::map<std::string, std::vector<std::string>> policies;  // family group -> policies
  std::map<std::string, std::map<double, std::map<std::string, Frontier>>> frontier;
  for (const Json* r : place) {
    const std::string group = PlaceGroup(*r, false);
    if (!frontier.count(group)) families.push_back(group);
    std::vector<std::string>& names = policies[group];
    const std::string policy = PolicyFamily(*r);
    if (std::find(names.begin(), names.end(), policy) == names.end()) names.push_back(policy);
    const double gpu = Number(Get(*r, "gpu_memory"));
    const int64_t batch = Get(*r, "batch").is_number() ? Get(*r, "batch").get<int64_t>() : 0;
    for (const std::string& name : {policy, std::string("any placement (feasible)")}) {
      const bool fits = name == policy ? r->value("fits", false) : r->value("feasible", false);
      Frontier& f = frontier[group][gpu][name];
      if (fits) {
        f.largest_fit = std::max(f.largest_fit, batch);
      } else if (f.smallest_oom == 0 || batch < f.smallest_oom) {
        f.smallest_oom = batch;
        f.oom_op = name == policy ? JsonText(Get(Get(*r, "oom"), "op_name")) : "";
      }
    }
  }
  report.Heading("Placement: OOM frontier");
  report.Text(
      "Largest batch (sequences per microbatch) that fits in GPU and host memory, per placement "
      "policy and GPU memory; in brackets the smallest batch swept that ran out of memory and "
      "where. 'any placement' is the feasibility bound: some placement fits.");
  int n = 0;
  for (const std::string& group : families) {
    std::vector<std::string> names = policies[group];
    names.push_back("any placement (feasible)");
    Table t{{"policy"}, {}};
    Plot plot{"oom_frontier_" + std::to_string(++n), "OOM frontier: " + group,
              "placement policy", "largest batch that fits", false, false, {}, "", names};
    for (const auto& [gpu, cells] : frontier[group]) {
      t.header.push_back("GPU " + GiB(gpu));
      plot.series.push_back({"GPU " + GiB(gpu), {}});
    }
    for (size_t k = 0; k < names.size(); ++k) {
      const std::string& name = names[k];
      std::vector<std::string> line = {name};
      size_t column = 0;
      for (const auto& [gpu, cells] : frontier[group]) {
        Series& series = plot.series[column++];
        const auto it = cells.find(name);
        if (it == cells.end()) {
          line.push_back("");
          continue;
        }
        const Frontier& f = it->second;
        std::string cell = f.largest_fit > 0 ? std::to_string(f.largest_fit) : "none";
        if (f.smallest_oom > 0) {
          cell += " (OOM at " + std::to_string(f.smallest_oom) +
                  (f.oom_op.empty() ? "" : ", " + f.oom_op) + ")";
        }
        line.push_back(cell);
        series.points.push_back({static_cast<double>(k), static_cast<double>(f.largest_fit)});
      }
      t.rows.push_back(std::move(line));
    }
    report.Text("**" + group + "**");
    report.Add(std::move(t));
    report.Add(std::move(plot));
  }

  // Peak memory, PCIe traffic and step time along the batch axis, per GPU memory.
  report.Heading("Placement: peak GPU memory, PCIe traffic and step time");
  report.Text(
      "Per policy and batch: peak GPU memory, the host-to-device bytes per step, the ratio of "
      "H2D to the optimal (Belady) bound, and the simulated step time (the slowest rank's "
      "forward, backward and optimizer step with its transfers; --backend sim). Cases that ran "
      "out of memory show OOM and are left out of the plots.");
  std::vector<std::string> groups;
  std::map<std::string, std::map<int64_t, std::map<std::string, const Json*>>> cells;
  for (const Json* r : place) {
    const std::string group = PlaceGroup(*r, true);
    if (!cells.count(group)) groups.push_back(group);
    const int64_t batch = Get(*r, "batch").is_number() ? Get(*r, "batch").get<int64_t>() : 0;
    cells[group][batch][PolicyFamily(*r)] = r;
  }
  n = 0;
  for (const std::string& group : groups) {
    const std::vector<std::string>& names = policies[PlaceGroup(
        *cells[group].begin()->second.begin()->second, false)];
    Table t{{"batch"}, {}};
    for (const std::string& name : names) t.header.push_back(name);
    ++n;
    Plot memory{"peak_gpu_" + std::to_string(n), "Peak GPU memory: " + group, "batch",
                "peak GPU memory (GiB)", true, false, {}, ""};
    Plot pcie{"pcie_" + std::to_string(n), "PCIe H2D bytes per step: " + group, "batch",
              "H2D per step (GiB)", true, false, {}, ""};
    Plot step{"step_time_" + std::to_string(n), "Simulated step time: " + group, "batch",
              "simulated step time (s)", true, true, {}, ""};
    for (const std::string& name : names) {
      memory.series.push_back({name, {}});
      pcie.series.push_back({name, {}});
      step.series.push_back({name, {}});
    }
    for (const auto& [batch, by_policy] : cells[group]) {
      std::vector<std::string> line = {std::to_string(batch)};
      for (size_t i = 0; i < names.size(); ++i) {
        const auto it = by_policy.find(names[i]);
        if (it == by_policy.end()) {
          line.push_back("");
          continue;
        }
        const Json& r = *it->second;
        if (!r.value("fits", false)) {
          line.push_back("OOM");
          continue;
        }
        const double peak = Number(Get(r, "peak_gpu_bytes"));
        const double h2d = Number(Get(r, "h2d_bytes"));
        const Json& ratio = Get(r, "ratio_to_optimal");
        const Json& step_time = Get(r, "step_time_s");
        line.push_back(GiB(peak) + ", H2D " + GiB(h2d) +
                       (ratio.is_number() ? ", " + Format("%.2fx", ratio.get<double>()) : "") +
                       (step_time.is_number() ? ", step " + Seconds(step_time.get<double>()) : ""));
        memory.series[i].points.push_back({static_cast<double>(batch), peak / (1 << 30)});
        pcie.series[i].points.push_back({static_cast<double>(batch), h2d / (1 << 30)});
        if (step_time.is_number() && step_time.get<double>() > 0) {
          step.series[i].points.push_back({static_cast<double>(batch), step_time.get<double>()});
        }
      }
      t.rows.push_back(std::move(line));
    }
    report.Text("**" + group + "**");
    report.Add(std::move(t));
    report.Add(std::move(memory));
    report.Add(std::move(pcie));
    report.Add(std::move(step));
  }
}

// Where a place result ran out of memory: "op 50 (bwd head)", "initial placement" (before
// the first op), or "" when it fit.
std::string OomAt(const Json& oom) {
  if (oom.is_null()) return "";
  const std::string name = JsonText(Get(oom, "op_name"));
  if (Number(Get(oom, "op"), -1) < 0) return name;
  return "op " + JsonText(Get(oom, "op")) + " (" + name + ")";
}

// GPU memory over one step, op by op, per policy: the cases run with `timeline = true`.
void PlacementTimelines(const std::vector<Row>& rows, Report& report) {
  std::vector<std::string> groups;
  std::map<std::string, std::vector<const Json*>> by_group;
  for (const Row& row : rows) {
    if (!IsPlace(row) || !HasTimeline(*row.result)) continue;
    const Json& r = *row.result;
    const std::string group = PlaceGroup(r, true) + ", batch " + JsonText(Get(r, "batch"));
    if (!by_group.count(group)) groups.push_back(group);
    by_group[group].push_back(&r);
  }
  if (groups.empty()) return;
  report.Heading("Placement: GPU memory over a step");
  report.Text(
      "GPU memory while each op of one training step ran (forward, backward, then the optimizer "
      "chunk by chunk), per policy, from place --timeline. A policy that runs out of memory "
      "stops at the op that did not fit.");
  int n = 0;
  for (const std::string& group : groups) {
    Table t{{"policy", "ops run", "max GPU", "max host", "out of memory at", "step time"}, {}};
    const Json& first = *by_group[group].front();
    Plot plot{"timeline_" + std::to_string(++n),
              "GPU memory per op: " + JsonText(Get(first, "model")) + " on " +
                  JsonText(Get(first, "cluster")) + ", GPU " +
                  GiB(Number(Get(first, "gpu_memory"))) + ", batch " +
                  JsonText(Get(first, "batch")),
              "op index (forward, backward, optimizer)", "GPU memory (GiB)", false, false, {},
              ""};
    plot.lines = true;
    size_t longest = 0;
    for (const Json* r : by_group[group]) {
      const Json& timeline = Get(*r, "timeline");
      Series series{PolicyFamily(*r), {}};
      double max_gpu = 0, max_host = 0;
      for (size_t op = 0; op < timeline.size(); ++op) {
        const double gpu = Number(Get(timeline[op], "gpu_bytes"));
        max_gpu = std::max(max_gpu, gpu);
        max_host = std::max(max_host, Number(Get(timeline[op], "host_bytes")));
        series.points.push_back({static_cast<double>(op), gpu / (1 << 30)});
      }
      longest = std::max(longest, timeline.size());
      const Json& oom = Get(*r, "oom");
      const Json& step_time = Get(*r, "step_time_s");
      t.rows.push_back({series.name, std::to_string(timeline.size()), GiB(max_gpu),
                        GiB(max_host),
                        OomAt(oom), step_time.is_number() ? Seconds(step_time.get<double>()) : ""});
      plot.series.push_back(std::move(series));
    }
    // The GPU's capacity, as a flat line over the longest timeline.
    const double capacity = Number(Get(first, "gpu_memory"));
    if (capacity > 0 && longest > 1) {
      plot.series.push_back({"GPU memory (" + GiB(capacity) + ")",
                             {{0.0, capacity / (1 << 30)},
                              {static_cast<double>(longest - 1), capacity / (1 << 30)}}});
    }
    report.Text("**" + group + "**");
    report.Add(std::move(t));
    report.Add(std::move(plot));
  }
}

void Traces(const SweepReportInput& input, Report& report) {
  Table t{{"case", "label", "trace"}, {}};
  for (const Json& c : input.cases) {
    for (const Json& trace : Get(c, "traces")) {
      t.rows.push_back({c.value("id", ""), c.value("label", ""), JsonText(trace)});
    }
  }
  if (t.rows.empty()) return;
  report.Heading("Perfetto traces of simulated cases");
  report.Text(
      "Chrome/Perfetto trace JSON, per rank: init kernels, host init, copies, sends and "
      "receives, memory counters. Open them in ui.perfetto.dev (Open trace file).");
  report.Add(std::move(t));
}

// ---------------------------------------------------------------------------------------------
// Rendering.

std::string RenderMarkdown(const SweepReportInput& input, const Report& report) {
  std::string md = "# Sweep: " + input.title + "\n\n";
  if (!input.description.empty()) md += input.description + "\n\n";
  for (const Block& b : report.blocks) {
    if (!b.heading.empty()) md += "## " + b.heading + "\n\n";
    if (!b.text.empty()) md += b.text + "\n\n";
    if (!b.table.header.empty()) {
      std::string line = "|", rule = "|";
      for (const std::string& h : b.table.header) {
        line += " " + MarkdownCell(h) + " |";
        rule += " --- |";
      }
      md += line + "\n" + rule + "\n";
      for (const auto& row : b.table.rows) {
        line = "|";
        for (const std::string& cell : row) line += " " + MarkdownCell(cell) + " |";
        md += line + "\n";
      }
      md += "\n";
    }
    if (b.plot >= 0 && !report.plots[b.plot].svg.empty()) {
      const Plot& p = report.plots[b.plot];
      md += "![" + p.title + "](plots/" + p.file + ".svg)\n\n";
    }
  }
  return md;
}

std::string RenderHtml(const SweepReportInput& input, const Report& report, bool gnuplot_ok) {
  std::string html =
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>twinsim "
      "sweep: " + HtmlEscape(input.title) +
      "</title>\n<style>\n"
      "body{font-family:sans-serif;margin:2em auto;max-width:1100px;color:#222}\n"
      "table{border-collapse:collapse;margin:0.5em 0 1.5em;font-size:13px}\n"
      "th,td{border:1px solid #ccc;padding:3px 8px;text-align:left}\n"
      "th{background:#f0f0f0}\nfigure{margin:0.5em 0 2em}\n"
      ".bad{color:#b00;font-weight:bold}\n</style>\n</head>\n<body>\n<h1>twinsim sweep: " +
      HtmlEscape(input.title) + "</h1>\n";
  if (!input.description.empty()) html += "<p>" + HtmlEscape(input.description) + "</p>\n";
  if (!gnuplot_ok) {
    html += "<p class=\"bad\">Plots are missing: gnuplot could not be run (install "
            "gnuplot-nox; tools/setup does).</p>\n";
  }
  for (const Block& b : report.blocks) {
    if (!b.heading.empty()) html += "<h2>" + HtmlEscape(b.heading) + "</h2>\n";
    if (!b.text.empty()) {
      std::string text = b.text;
      const bool bold = text.size() > 4 && text.rfind("**", 0) == 0;
      if (bold) text = text.substr(2, text.size() - 4);
      html += bold ? "<h3>" + HtmlEscape(text) + "</h3>\n" : "<p>" + HtmlEscape(text) + "</p>\n";
    }
    if (!b.table.header.empty()) {
      html += "<table>\n<tr>";
      for (const std::string& h : b.table.header) html += "<th>" + HtmlEscape(h) + "</th>";
      html += "</tr>\n";
      for (const auto& row : b.table.rows) {
        html += "<tr>";
        for (const std::string& cell : row) {
          const bool bad = cell.find("FAILS*") != std::string::npos ||
                           cell.find("BROKEN") != std::string::npos || cell == "failed" ||
                           cell == "error" || cell == "timeout";
          html += bad ? "<td class=\"bad\">" : "<td>";
          html += HtmlEscape(cell) + "</td>";
        }
        html += "</tr>\n";
      }
      html += "</table>\n";
    }
    if (b.plot >= 0 && !report.plots[b.plot].svg.empty()) {
      const Plot& p = report.plots[b.plot];
      html += "<figure class=\"plot\" id=\"" + p.file + "\">\n" + p.svg + "\n<figcaption>" +
              HtmlEscape(p.title) + "</figcaption>\n</figure>\n";
    }
  }
  html += "</body>\n</html>\n";
  return html;
}

}  // namespace

StatusOr<int> WriteSweepReport(const SweepReportInput& input, const std::string& out_dir) {
  std::vector<Row> rows;
  for (const Json& c : input.cases) {
    const Json& results = Get(c, "results");
    if (!results.is_array() || results.empty()) {
      rows.push_back({&c, nullptr, std::nullopt});
      continue;
    }
    for (const Json& r : results) {
      Row row{&c, &r, std::nullopt};
      if (c.value("command", "") == "place") {
        TWINSIM_ASSIGN_OR_RETURN(row.place, ReadPlaceResult(c, r));
      }
      rows.push_back(std::move(row));
    }
  }

  std::string jsonl;
  for (const Json& c : input.cases) {
    jsonl += c.dump(-1, ' ', false, nlohmann::detail::error_handler_t::replace) + "\n";
  }
  std::string csv;
  for (const std::string& column : CsvColumns()) csv += (csv.empty() ? "" : ",") + column;
  csv += "\n";
  for (const Row& row : rows) {
    std::map<std::string, std::string> values = CsvRow(row);
    std::string line;
    for (size_t i = 0; i < CsvColumns().size(); ++i) {
      line += (i ? "," : "") + CsvField(values[CsvColumns()[i]]);
    }
    csv += line + "\n";
  }

  Report report;
  Overview(input, rows, report);
  InitMatrix(rows, report);
  InitTimes(rows, report);
  Placement(rows, report);
  PlacementTimelines(rows, report);
  Traces(input, report);

  int drawn = 0;
  bool gnuplot_ok = true;
  TWINSIM_RETURN_IF_ERROR(scenarios::MakeDirectories(out_dir + "/plots"));
  for (Plot& plot : report.plots) {
    bool any = false;
    for (const Series& s : plot.series) any = any || !s.points.empty();
    if (!any) continue;
    if (gnuplot_ok) Draw(plot, input.gnuplot, out_dir);
    if (plot.svg.empty()) {
      gnuplot_ok = false;
      continue;
    }
    ++drawn;
    TWINSIM_RETURN_IF_ERROR(
        scenarios::WriteFileAtomically(out_dir + "/plots/" + plot.file + ".svg", plot.svg));
  }

  TWINSIM_RETURN_IF_ERROR(scenarios::WriteFileAtomically(out_dir + "/results.jsonl", jsonl));
  TWINSIM_RETURN_IF_ERROR(scenarios::WriteFileAtomically(out_dir + "/results.csv", csv));
  TWINSIM_RETURN_IF_ERROR(
      scenarios::WriteFileAtomically(out_dir + "/summary.md", RenderMarkdown(input, report)));
  TWINSIM_RETURN_IF_ERROR(scenarios::WriteFileAtomically(
      out_dir + "/index.html", RenderHtml(input, report, gnuplot_ok)));
  return drawn;
}

}  // namespace twinsim::reports
