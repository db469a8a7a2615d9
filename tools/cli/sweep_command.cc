#include "tools/cli/sweep_command.h"

#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "reports/sweep_report.h"
#include "scenarios/default_scenario.h"
#include "scenarios/scenario.h"
#include "scenarios/subprocess.h"
#include "scenarios/sweep.h"
#include "tools/cli/args.h"
#include "tools/cli/output.h"
#include "tools/cli/sweep_process.h"
#include "tools/cli/sweep_text.h"

namespace twinsim::cli {
namespace {

using Json = nlohmann::ordered_json;
using scenarios::Scenario;
using scenarios::ScenarioCase;

constexpr uint64_t kMaxJobs = 1024;

// The scenario keys of each runnable command: its options, without the --json the sweep adds.
std::vector<scenarios::CommandSchema> Schemas(const std::vector<CommandGroup>& groups) {
  std::vector<scenarios::CommandSchema> schemas;
  for (const CommandGroup& group : groups) {
    scenarios::CommandSchema schema{group.name, {}};
    for (const OptionInfo& option : DescribeOptions(group.commands.front())) {
      const std::string key = option.name.substr(2);
      if (key == scenarios::kJsonKey) continue;
      schema.options.push_back({key, !option.takes_value, option.required});
    }
    schemas.push_back(std::move(schema));
  }
  return schemas;
}

bool IsDirectory(const std::string& path) {
  struct stat info;
  return stat(path.c_str(), &info) == 0 && S_ISDIR(info.st_mode);
}

bool Exists(const std::string& path) {
  struct stat info;
  return stat(path.c_str(), &info) == 0;
}

class SweepCommand final : public Command {
 public:
  explicit SweepCommand(std::vector<CommandGroup> runnable) : runnable_(std::move(runnable)) {}

  void DeclareOptions(CLI::App& app) override {
    app.add_option("file", file_,
                   "Scenario file (TOML; see scenarios/README.md). Without it: "
                   "the built-in default scenario")
        ->type_name("FILE");
    app.add_flag("--default", default_,
                 "Run the built-in scenarios/default.toml (the same as giving no FILE)");
    app.add_option("--out", out_,
                   "Folder for the case records and the report (default "
                   "twinsim-sweep)")
        ->type_name("DIR");
    app.add_option("--jobs", jobs_text_, "Cases run at a time (default: one per core)")
        ->type_name("N");
    app.add_flag("--resume", resume_,
                 "Keep the cases already finished in DIR (same command line, record whole) and "
                 "run the rest");
    app.add_option("--case-timeout", case_timeout_text_,
                   "Kill a case that runs longer than SECONDS and record it as timed out "
                   "(default: the scenario's case_timeout key, else no limit)")
        ->type_name("SECONDS");
    app.add_option("--filter", filter_text_,
                   "Run only the cases matching EXPR: space-separated KEY=VALUE, KEY!=VALUE or "
                   "KEY~TEXT terms, all of which must hold (KEY: an option key, command, id, "
                   "label), e.g. 'command=init policy=counter'")
        ->type_name("EXPR");
    app.add_option("--shard", shard_text_,
                   "Run only shard I of N (cases whose position among those selected is I "
                   "modulo N), as a sharded Bazel test does")
        ->type_name("I/N");
    app.add_flag("--list", list_, "Print the expanded cases (id, command line) and run nothing");
    app.add_flag("--isolate", isolate_,
                 "Run every case as a child process (default: in this process, except the cases "
                 "that run the simulation or write a trace, and every case under a "
                 "--case-timeout)");
    app.add_option("--merge", merge_text_,
                   "Merge the case records of finished sweeps in DIR1,DIR2,... (e.g. the shards "
                   "of a Bazel test) into one report in --out; no FILE")
        ->type_name("DIR[,DIR...]");
    app.footer(SweepHelpFooter());
  }

  Status Validate() override {
    // Under `bazel run` the binary starts in its runfiles; FILE and --out are meant relative
    // to where the user typed the command.
    if (const char* cwd = std::getenv("BUILD_WORKING_DIRECTORY"); cwd != nullptr && *cwd != 0) {
      if (chdir(cwd) != 0) {
        return Status::InvalidArgument(std::string("cannot enter BUILD_WORKING_DIRECTORY ") + cwd);
      }
    }
    if (!merge_text_.empty()) {
      if (!file_.empty() || default_ || resume_ || list_ || !filter_text_.empty() ||
          !shard_text_.empty()) {
        return Status::InvalidArgument(
            "--merge: takes only --out (and --jobs); expected no FILE, --default, --resume, "
            "--filter, --shard or --list with it");
      }
      merge_dirs_ = SplitList(merge_text_);
      TWINSIM_RETURN_IF_ERROR(CheckList("--merge", merge_text_, merge_dirs_));
      for (const std::string& dir : merge_dirs_) {
        if (!IsDirectory(dir + "/cases")) {
          return Status::InvalidArgument("--merge: " + Quote(dir) +
                                         " holds no sweep (no cases/ folder)");
        }
      }
    }
    if (!file_.empty() && default_) {
      return Status::InvalidArgument("--default: expected either FILE or --default, not both");
    }
    if (!jobs_text_.empty()) {
      StatusOr<uint64_t> jobs =
          ParseUint64AtMost("--jobs", jobs_text_, kMaxJobs, "a positive integer");
      if (!jobs.ok()) return jobs.status();
      if (*jobs == 0) {
        return Status::InvalidArgument("--jobs: expected a positive integer, got '0'");
      }
      jobs_ = static_cast<int>(*jobs);
    }
    if (!shard_text_.empty()) {
      const size_t slash = shard_text_.find('/');
      const std::string expected =
          "--shard: expected I/N with 0 <= I < N, got " + Quote(shard_text_);
      if (slash == std::string::npos) return Status::InvalidArgument(expected);
      StatusOr<uint64_t> index = ParseUint64("--shard", shard_text_.substr(0, slash));
      StatusOr<uint64_t> count = ParseUint64("--shard", shard_text_.substr(slash + 1));
      if (!index.ok() || !count.ok() || *count == 0 || *index >= *count || *count > 100000) {
        return Status::InvalidArgument(expected);
      }
      shard_ = {static_cast<int>(*index), static_cast<int>(*count)};
    }
    std::optional<scenarios::CaseFilter> filter;
    if (!filter_text_.empty()) {
      StatusOr<scenarios::CaseFilter> parsed = scenarios::CaseFilter::Parse(filter_text_);
      if (!parsed.ok()) return parsed.status();
      filter = std::move(*parsed);
    }
    if (!case_timeout_text_.empty()) {
      char* end = nullptr;
      const double seconds = std::strtod(case_timeout_text_.c_str(), &end);
      if (end == case_timeout_text_.c_str() || *end != 0 || !(seconds > 0) ||
          seconds > scenarios::kMaxCaseTimeoutS) {
        return Status::InvalidArgument(
            "--case-timeout: expected seconds, a number > 0 and at most 604800 (a week), got " +
            Quote(case_timeout_text_));
      }
      case_timeout_s_ = seconds;
    }
    if (Exists(out_) && !IsDirectory(out_)) {
      return Status::InvalidArgument("--out: " + Quote(out_) + " exists and is not a folder");
    }
    if (!merge_text_.empty()) return LockOut();

    const std::vector<scenarios::CommandSchema> schemas = Schemas(runnable_);
    StatusOr<Scenario> scenario =
        file_.empty() ? scenarios::ParseScenario(scenarios::kDefaultScenario,
                                                 scenarios::kDefaultScenarioPath, schemas)
                      : scenarios::LoadScenario(file_, schemas);
    if (!scenario.ok()) return Status::InvalidArgument(scenario.status().message());
    scenario_ = std::move(*scenario);
    if (scenario_.name.empty()) {
      const std::string& path = scenario_.path;
      scenario_.name = path.substr(path.find_last_of('/') + 1);
    }
    // Every case is checked by its own command before anything runs.
    for (const ScenarioCase& c : scenario_.cases) {
      TWINSIM_RETURN_IF_ERROR(CheckCase(c));
    }
    for (const ScenarioCase& c : scenario_.cases) {
      if (!filter || filter->Matches(c)) selected_.push_back(c);
    }
    if (selected_.empty()) {
      return Status::InvalidArgument("--filter: no case of " + scenario_.path + " matches " +
                                     Quote(filter_text_));
    }
    if (shard_) {
      std::vector<ScenarioCase> mine;
      for (size_t i = 0; i < selected_.size(); ++i) {
        if (static_cast<int>(i % shard_->second) == shard_->first) mine.push_back(selected_[i]);
      }
      selected_ = std::move(mine);
    }
    if (case_timeout_text_.empty()) case_timeout_s_ = scenario_.case_timeout_s;
    return list_ ? Status::Ok() : LockOut();
  }

  Status Execute(Output& out) override {
    if (list_) {
      for (const ScenarioCase& c : selected_) out.Append(SweepCaseLine(c));
      return Status::Ok();
    }
    if (!merge_text_.empty()) return Merge(out);

    scenarios::SweepOptions options;
    options.twinsim = SelfPath();
    options.out_dir = out_;
    options.jobs = jobs_;
    options.resume = resume_;
    options.progress = stderr;
    options.progress_is_tty = isatty(STDERR_FILENO) == 1;
    options.case_timeout_s = case_timeout_s_;
    options.stop_signal = &SweepStopSignal();
    if (!isolate_) {
      options.run_in_process = [this](const std::vector<std::string>& args) {
        return RunInProcess(args);
      };
      options.needs_process = CaseRunsTheSimulation;
    }
    WatchStopSignals();
    StatusOr<scenarios::SweepTally> tally = scenarios::RunSweep(selected_, options);
    if (!tally.ok()) return tally.status();
    if (tally->interrupted_by != 0) {
      std::fputs(SweepInterruptedText(*tally, out_, options.progress_is_tty).c_str(), stderr);
      DieOf(tally->interrupted_by);
    }
    Json about;
    about["name"] = scenario_.name;
    about["description"] = scenario_.description;
    about["scenario"] = scenario_.path;
    TWINSIM_RETURN_IF_ERROR(
        scenarios::WriteFileAtomically(out_ + "/scenario.json", about.dump() + "\n"));
    StatusOr<std::vector<Json>> records = scenarios::ReadCaseRecords(selected_, out_);
    if (!records.ok()) return records.status();
    return Report(out, scenario_.name, scenario_.description, std::move(*records));
  }

 private:
  // One case through the dispatcher and the commands' library calls, on this thread, with its
  // stdout and stderr in memory (Note [In-process cases] in scenarios/sweep.cc).
  scenarios::CaseOutput RunInProcess(const std::vector<std::string>& args) const {
    std::vector<std::string> argv = {"twinsim"};
    argv.insert(argv.end(), args.begin(), args.end());
    CapturedRun run = DispatchCaptured(runnable_, argv);
    return scenarios::CaseOutput{run.exit_code, std::move(run.out), std::move(run.err)};
  }

  // Checks one case with its command's own parser and Validate(); the message names the
  // scenario line of the option the command complained about.
  Status CheckCase(const ScenarioCase& c) const {
    const CommandGroup* group = nullptr;
    for (const CommandGroup& g : runnable_) {
      if (g.name == c.command) group = &g;
    }
    if (group == nullptr) return Status::Internal("no command " + c.command);
    std::vector<std::string> args = c.Arguments();
    if (c.trace) {
      args.push_back("--trace");
      args.push_back("trace.json");
    }
    const Status checked = CheckCommandLine(group->commands.front(), args);
    if (checked.ok()) return checked;
    const std::string& message = checked.message();
    std::string key = c.command;
    int line = c.line;
    if (message.rfind("--", 0) == 0) {
      const std::string option = message.substr(2, message.find_first_of(": ") - 2);
      key = c.command + "." + option;
      line = c.LineOf(option);
    }
    std::string where;
    for (const std::string& a : c.Arguments()) where += " " + a;
    return Status::InvalidArgument(scenario_.path + ":" + std::to_string(line) + ": " + key + ": " +
                                   message + " (in case " + c.id + ": twinsim " + c.command +
                                   where + ")");
  }

  // Takes DIR's lock for the rest of the process: a second sweep into the same DIR is refused
  // (exit 2) naming the first.
  Status LockOut() {
    std::string command_line = scenarios::ReadFileOrEmpty("/proc/self/cmdline");
    while (!command_line.empty() && command_line.back() == '\0') command_line.pop_back();
    std::replace(command_line.begin(), command_line.end(), '\0', ' ');
    const std::string holder =
        "pid " + std::to_string(getpid()) + ", since " + UtcNow() + ": " + command_line;
    StatusOr<scenarios::SweepLock> lock = scenarios::SweepLock::Acquire(out_, holder);
    if (!lock.ok()) return Status::InvalidArgument(lock.status().message());
    lock_.emplace(std::move(*lock));
    return Status::Ok();
  }

  Status Report(Output& out, const std::string& title, const std::string& description,
                std::vector<Json> records) {
    int ok = 0;
    std::vector<std::string> bad;
    for (const Json& r : records) {
      if (r.value("status", "") == "ok") {
        ++ok;
      } else {
        bad.push_back(r.value("id", "") + " (" + r.value("status", "") + ")");
      }
    }
    reports::SweepReportInput input{title, description, std::move(records), "gnuplot"};
    const size_t total = input.cases.size();
    StatusOr<int> plots = reports::WriteSweepReport(input, out_);
    if (!plots.ok()) return plots.status();
    out.Append(SweepSummaryText(title, total, ok, bad.size(), out_, *plots));
    if (bad.empty()) return Status::Ok();
    std::string list;
    for (size_t i = 0; i < bad.size() && i < 10; ++i) list += (i ? ", " : "") + bad[i];
    if (bad.size() > 10) list += ", ...";
    return Status::FailedPrecondition(std::to_string(bad.size()) + " of " + std::to_string(total) +
                                      " cases failed (see " + out_ + "/summary.md): " + list);
  }

  Status Merge(Output& out) {
    std::map<std::string, Json> by_id;
    std::string title = "merged sweep", description;
    for (const std::string& dir : merge_dirs_) {
      StatusOr<std::vector<Json>> records = scenarios::ReadAllCaseRecords(dir);
      if (!records.ok()) return records.status();
      if (StatusOr<std::string> about = scenarios::ReadWholeFile(dir + "/scenario.json");
          about.ok()) {
        const Json j = Json::parse(*about, nullptr, false);
        if (j.is_object()) {
          title = j.value("name", title);
          description = j.value("description", description);
        }
      }
      TWINSIM_RETURN_IF_ERROR(scenarios::MakeDirectories(out_ + "/cases"));
      TWINSIM_RETURN_IF_ERROR(scenarios::MakeDirectories(out_ + "/traces"));
      for (Json& r : *records) {
        const std::string id = r.value("id", "");
        for (const Json& trace : r.value("traces", Json::array())) {
          const std::string relative = trace.get<std::string>();
          StatusOr<std::string> bytes = scenarios::ReadWholeFile(dir + "/" + relative);
          if (bytes.ok() && dir != out_) {
            TWINSIM_RETURN_IF_ERROR(scenarios::WriteFileAtomically(out_ + "/" + relative, *bytes));
          }
        }
        if (dir != out_) {
          TWINSIM_RETURN_IF_ERROR(scenarios::WriteFileAtomically(
              out_ + "/cases/" + id + ".json",
              r.dump(-1, ' ', false, nlohmann::detail::error_handler_t::replace) + "\n"));
        }
        by_id[id] = std::move(r);
      }
    }
    std::vector<Json> records;
    for (auto& [id, r] : by_id) records.push_back(std::move(r));
    std::stable_sort(records.begin(), records.end(), [](const Json& a, const Json& b) {
      return a.value("index", 0) < b.value("index", 0);
    });
    return Report(out, title, description, std::move(records));
  }

  std::vector<CommandGroup> runnable_;
  std::string file_, out_ = "twinsim-sweep", jobs_text_, filter_text_, shard_text_, merge_text_;
  std::string case_timeout_text_;
  double case_timeout_s_ = 0;
  std::optional<scenarios::SweepLock> lock_;
  bool default_ = false, resume_ = false, list_ = false, isolate_ = false;
  int jobs_ = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  std::optional<std::pair<int, int>> shard_;
  std::vector<std::string> merge_dirs_;
  Scenario scenario_;
  std::vector<ScenarioCase> selected_;
};

}  // namespace

CommandGroup SweepCommandGroup(const std::vector<CommandGroup>& runnable) {
  CommandGroup group;
  group.name = "sweep";
  group.summary = "run a scenario file's init/place/chunks cases in parallel and write a report";
  group.commands = {
      {"",
       "expand a TOML scenario (default: the built-in one) into command lines, run them in "
       "parallel with resume, and write results.jsonl/csv, summary.md and index.html",
       [runnable] { return std::make_unique<SweepCommand>(runnable); }},
  };
  return group;
}

}  // namespace twinsim::cli
