#include "scenarios/sweep.h"

#include <dirent.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "scenarios/subprocess.h"

namespace twinsim::scenarios {
namespace {

using Json = nlohmann::ordered_json;
using Clock = std::chrono::steady_clock;

// Note [Case records]
// DIR/cases/<id>.json holds one JSON object on one line:
//   {"id", "index", "command", "label", "args": [command, options..., "--json"],
//    "traces": ["traces/<id>.json", ...], "status": "ok"|"failed"|"error", "exit_code",
//    "stderr": the child's stderr (trimmed), "results": [one object per line of its --json]}
// "args" leaves out --trace (its path depends on DIR); "traces" lists the trace files written,
// relative to DIR. Every "wall_s" key of the child's output (the sim's host wall time) is
// moved to DIR/timings.jsonl, so the record depends only on the case.
constexpr size_t kMaxStderrBytes = 4000;

std::string CasesDir(const std::string& out) { return out + "/cases"; }
std::string TracesDir(const std::string& out) { return out + "/traces"; }
std::string TmpDir(const std::string& out) { return out + "/.tmp"; }
std::string CasePath(const std::string& out, const std::string& id) {
  return CasesDir(out) + "/" + id + ".json";
}

std::vector<std::string> ListDir(const std::string& dir) {
  std::vector<std::string> names;
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return names;
  while (const dirent* entry = readdir(d)) {
    const std::string name = entry->d_name;
    if (name != "." && name != "..") names.push_back(name);
  }
  closedir(d);
  std::sort(names.begin(), names.end());
  return names;
}

Json RecordArgs(const ScenarioCase& c) {
  Json args = Json::array();
  args.push_back(c.command);
  for (const std::string& a : c.Arguments()) args.push_back(a);
  args.push_back("--json");
  return args;
}

// True when `dir`/cases holds a finished record of `c` with the same command line.
bool Finished(const ScenarioCase& c, const std::string& out) {
  StatusOr<std::string> text = ReadWholeFile(CasePath(out, c.id));
  if (!text.ok()) return false;
  const Json record = Json::parse(*text, nullptr, /*allow_exceptions=*/false);
  return !record.is_discarded() && record.is_object() &&
         record.value("args", Json()) == RecordArgs(c);
}

// Removes every "wall_s" key below `j`, summing them into `wall`.
void StripWallTimes(Json& j, double& wall) {
  if (j.is_object()) {
    if (auto it = j.find("wall_s"); it != j.end()) {
      if (it->is_number()) wall += it->get<double>();
      j.erase(it);
    }
    for (auto& [key, value] : j.items()) StripWallTimes(value, wall);
  } else if (j.is_array()) {
    for (Json& element : j) StripWallTimes(element, wall);
  }
}

std::string Trimmed(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  if (text.size() > kMaxStderrBytes) {
    text = "..." + text.substr(text.size() - kMaxStderrBytes);
  }
  // Valid UTF-8 for JSON: replace bytes that would break the encoder.
  return text;
}

std::string Duration(double seconds) {
  const long s = std::lround(std::max(0.0, seconds));
  char buffer[32];
  if (s >= 3600) {
    std::snprintf(buffer, sizeof buffer, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
  } else {
    std::snprintf(buffer, sizeof buffer, "%ld:%02ld", s / 60, s % 60);
  }
  return buffer;
}

struct Running {
  const ScenarioCase* c;
  Clock::time_point start;
  std::string out_path, err_path;
};

class Progress {
 public:
  Progress(const SweepOptions& options, int total, int reused)
      : options_(options), total_(total), done_(reused), reused_(reused), start_(Clock::now()) {}

  void Finished(const ScenarioCase& c, const std::string& status) {
    ++done_;
    if (status != "ok") ++failures_;
    if (options_.progress == nullptr) return;
    const double elapsed = std::chrono::duration<double>(Clock::now() - start_).count();
    const int run = done_ - reused_;
    const double eta = run > 0 ? elapsed / run * (total_ - done_) : 0;
    char line[512];
    std::snprintf(line, sizeof line, "twinsim sweep: %d/%d done, %d failed, %s elapsed, ETA %s",
                  done_, total_, failures_, Duration(elapsed).c_str(), Duration(eta).c_str());
    if (options_.progress_is_tty) {
      std::fprintf(options_.progress, "\r%s  (%s %s)\033[K", line, c.id.c_str(), status.c_str());
      if (done_ == total_) std::fputc('\n', options_.progress);
    } else {
      std::fprintf(options_.progress, "%s  (%s %s)\n", line, c.id.c_str(), status.c_str());
    }
    std::fflush(options_.progress);
  }

 private:
  const SweepOptions& options_;
  int total_, done_, reused_, failures_ = 0;
  Clock::time_point start_;
};

}  // namespace

std::string CaseStatus(int exit_code) {
  return exit_code == 0 ? "ok" : exit_code == 1 ? "failed" : "error";
}

StatusOr<SweepTally> RunSweep(const std::vector<ScenarioCase>& cases, const SweepOptions& options) {
  const std::string& out = options.out_dir;
  for (const std::string& dir : {out, CasesDir(out), TracesDir(out), TmpDir(out)}) {
    TWINSIM_RETURN_IF_ERROR(MakeDirectories(dir));
  }
  // Leftovers of an interrupted run; without --resume, also every earlier record and trace.
  std::vector<std::string> to_clear = {TmpDir(out)};
  if (!options.resume) to_clear = {TmpDir(out), CasesDir(out), TracesDir(out)};
  for (const std::string& dir : to_clear) {
    for (const std::string& name : ListDir(dir)) std::remove((dir + "/" + name).c_str());
  }
  SweepTally tally;
  tally.total = static_cast<int>(cases.size());
  std::vector<const ScenarioCase*> todo;
  for (const ScenarioCase& c : cases) {
    if (options.resume && Finished(c, out)) {
      ++tally.reused;
      StatusOr<std::string> text = ReadWholeFile(CasePath(out, c.id));
      const Json record = Json::parse(*text, nullptr, false);
      const std::string status = record.value("status", "error");
      (status == "ok" ? tally.ok : status == "failed" ? tally.failed : tally.errors)++;
      continue;
    }
    todo.push_back(&c);
  }
  std::FILE* timings = std::fopen((out + "/timings.jsonl").c_str(), options.resume ? "a" : "w");
  if (options.progress != nullptr) {
    std::fprintf(options.progress, "twinsim sweep: %d cases (%d already done), %d jobs, into %s\n",
                 tally.total, tally.reused, options.jobs, out.c_str());
    std::fflush(options.progress);
  }
  Progress progress(options, tally.total, tally.reused);
  std::map<pid_t, Running> running;
  size_t next = 0;
  Status failure;
  while ((next < todo.size() && failure.ok()) || !running.empty()) {
    while (failure.ok() && next < todo.size() &&
           static_cast<int>(running.size()) < std::max(1, options.jobs)) {
      const ScenarioCase& c = *todo[next++];
      // A stale record or trace of this case must not survive a rerun.
      std::remove(CasePath(out, c.id).c_str());
      for (const std::string& name : ListDir(TracesDir(out))) {
        if (name.rfind(c.id + ".", 0) == 0) std::remove((TracesDir(out) + "/" + name).c_str());
      }
      std::vector<std::string> argv = {options.twinsim};
      for (const Json& a : RecordArgs(c)) argv.push_back(a.get<std::string>());
      if (c.trace) {
        argv.push_back("--trace");
        argv.push_back(TracesDir(out) + "/" + c.id + ".json");
      }
      Running r{&c, Clock::now(), TmpDir(out) + "/" + c.id + ".out",
                TmpDir(out) + "/" + c.id + ".err"};
      StatusOr<pid_t> pid = StartProcess(argv, r.out_path, r.err_path);
      if (!pid.ok()) {
        failure = pid.status();
        break;
      }
      running.emplace(*pid, std::move(r));
    }
    if (running.empty()) break;
    int wait_status = 0;
    const pid_t pid = waitpid(-1, &wait_status, 0);
    if (pid < 0) {
      if (errno == EINTR) continue;
      failure = Status::Unavailable(std::string("waitpid failed: ") + std::strerror(errno));
      break;
    }
    const auto it = running.find(pid);
    if (it == running.end()) continue;
    const Running r = it->second;
    running.erase(it);
    const ScenarioCase& c = *r.c;
    const double wall = std::chrono::duration<double>(Clock::now() - r.start).count();
    const int exit_code = ExitStatusOf(wait_status);

    Json record;
    record["id"] = c.id;
    record["index"] = c.index;
    record["command"] = c.command;
    record["label"] = c.label;
    record["args"] = RecordArgs(c);
    Json traces = Json::array();
    for (const std::string& name : ListDir(TracesDir(out))) {
      if (name.rfind(c.id + ".", 0) == 0) traces.push_back("traces/" + name);
    }
    record["traces"] = traces;
    std::string status = CaseStatus(exit_code);
    std::string stderr_text = Trimmed(ReadFileOrEmpty(r.err_path));
    Json results = Json::array();
    double sim_wall = 0;
    const std::string stdout_text = ReadFileOrEmpty(r.out_path);
    size_t begin = 0;
    while (begin < stdout_text.size()) {
      size_t end = stdout_text.find('\n', begin);
      if (end == std::string::npos) end = stdout_text.size();
      const std::string line = stdout_text.substr(begin, end - begin);
      begin = end + 1;
      if (line.empty()) continue;
      Json parsed = Json::parse(line, nullptr, /*allow_exceptions=*/false);
      if (parsed.is_discarded() || !parsed.is_object()) {
        status = "error";
        stderr_text += (stderr_text.empty() ? "" : "\n") +
                       std::string(
                           "twinsim sweep: a line of the case's output is not a JSON "
                           "object");
        continue;
      }
      StripWallTimes(parsed, sim_wall);
      results.push_back(std::move(parsed));
    }
    record["status"] = status;
    record["exit_code"] = exit_code;
    record["stderr"] = stderr_text;
    record["results"] = std::move(results);
    // Output of a child is not guaranteed UTF-8: replace what is not rather than throw.
    const std::string text =
        record.dump(-1, ' ', false, nlohmann::detail::error_handler_t::replace) + "\n";
    std::remove(r.out_path.c_str());
    std::remove(r.err_path.c_str());
    if (Status written = WriteFileAtomically(CasePath(out, c.id), text); !written.ok()) {
      if (failure.ok()) failure = written;
      continue;
    }
    if (timings != nullptr) {
      std::fprintf(timings, "{\"id\":\"%s\",\"wall_s\":%.3f,\"sim_wall_s\":%.3f}\n", c.id.c_str(),
                   wall, sim_wall);
      std::fflush(timings);
    }
    (status == "ok" ? tally.ok : status == "failed" ? tally.failed : tally.errors)++;
    progress.Finished(c, status);
  }
  if (timings != nullptr) std::fclose(timings);
  rmdir(TmpDir(out).c_str());
  if (!failure.ok()) return failure;
  return tally;
}

StatusOr<std::vector<nlohmann::ordered_json>> ReadCaseRecords(
    const std::vector<ScenarioCase>& cases, const std::string& out_dir) {
  std::vector<Json> records;
  for (const ScenarioCase& c : cases) {
    StatusOr<std::string> text = ReadWholeFile(CasePath(out_dir, c.id));
    if (!text.ok()) return Status::NotFound("case " + c.id + " has no record in " + out_dir);
    Json record = Json::parse(*text, nullptr, false);
    if (record.is_discarded() || !record.is_object()) {
      return Status::Unavailable(CasePath(out_dir, c.id) + " is not a JSON object");
    }
    records.push_back(std::move(record));
  }
  return records;
}

StatusOr<std::vector<nlohmann::ordered_json>> ReadAllCaseRecords(const std::string& dir) {
  std::vector<Json> records;
  for (const std::string& name : ListDir(CasesDir(dir))) {
    if (name.size() < 5 || name.substr(name.size() - 5) != ".json") continue;
    StatusOr<std::string> text = ReadWholeFile(CasesDir(dir) + "/" + name);
    if (!text.ok()) return text.status();
    Json record = Json::parse(*text, nullptr, false);
    if (record.is_discarded() || !record.is_object() || !record.contains("id")) {
      return Status::Unavailable(CasesDir(dir) + "/" + name + " is not a case record");
    }
    records.push_back(std::move(record));
  }
  std::stable_sort(records.begin(), records.end(), [](const Json& a, const Json& b) {
    const int ia = a.value("index", 0), ib = b.value("index", 0);
    return ia != ib ? ia < ib : a.value("id", "") < b.value("id", "");
  });
  return records;
}

}  // namespace twinsim::scenarios
