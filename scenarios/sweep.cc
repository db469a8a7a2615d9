#include "scenarios/sweep.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <future>
#include <list>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "scenarios/subprocess.h"

namespace twinsim::scenarios {
namespace {

using Json = nlohmann::ordered_json;
using Clock = std::chrono::steady_clock;

// Note [Case records]
// DIR/cases/<id>.json holds one JSON object on one line:
//   {"id", "index", "command", "label", "args": [command, options..., "--json"],
//    "traces": ["traces/<id>.json", ...], "status": "ok"|"failed"|"error"|"timeout",
//    "exit_code", ["case_timeout_s" when timed out,] "stderr": the child's stderr (trimmed),
//    "results": [one object per line of its --json], "checksum": "fnv1a64:<hex>"}
// "args" leaves out --trace (its path depends on DIR); "traces" lists the trace files written,
// relative to DIR. Every "wall_s" key of the child's output (the sim's host wall time) is
// moved to DIR/timings.jsonl, so the record depends only on the case. The checksum, over the
// record's line without it, lets --resume tell a whole record from one a crash or a disk
// error damaged: rename(2) already makes a record appear whole or not at all, but a file can
// still be cut or changed afterwards (a copy, a full disk in a merge, an editor).
//
// Note [Stopping a sweep]
// Each case runs in a process group of its own with TWINSIM_SWEEP_PARENT in its environment
// (twinsim's main then asks the kernel to kill it if the sweep dies, PR_SET_PDEATHSIG), so:
//   - a timed-out case is killed with everything it started (kill(-pgid, SIGKILL));
//   - Ctrl-C at a terminal reaches only the sweep, which stops the running cases, discards
//     them and leaves DIR resumable;
//   - kill -9 of the sweep takes its cases with it; the next --resume clears .tmp/ and reruns
//     every case without a whole record, and only those.
//
// Note [In-process cases]
// With SweepOptions::run_in_process, a case runs on a thread of the sweep's own process: the
// runner (tools/cli/sweep_command.cc) hands its command line to the same dispatcher and library
// calls a child would run, with stdout and stderr captured in memory, so its record is the same
// bytes. No process is started and no JSON crosses a pipe. A case still gets a child process of
// its own when it needs isolation or a kill:
//   - SweepOptions::needs_process says so (the sweep command: every case that runs the SimGrid
//     simulation, whose engine is one per process);
//   - it writes a trace (trace = true: only the simulation writes them);
//   - the sweep has a --case-timeout: a thread cannot be killed, a process group can.
// A thread's case cannot be stopped part-way: Ctrl-C waits for the running in-process cases to
// finish, then discards them as it discards the children. A crash in an in-process case takes
// the sweep down (the finished records stay whole; --resume goes on); `twinsim sweep
// --isolate` runs every case in a child, as before.
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

uint64_t Fnv1a64(const std::string& bytes) {
  uint64_t hash = 0xcbf29ce484222325ULL;
  for (const unsigned char c : bytes) {
    hash ^= c;
    hash *= 0x100000001b3ULL;
  }
  return hash;
}

std::string OneLineJson(const Json& j) {
  // Output of a child is not guaranteed UTF-8: replace what is not rather than throw.
  return j.dump(-1, ' ', false, nlohmann::detail::error_handler_t::replace);
}

// The finished record of `c` in DIR, or nothing: no file, or one that is truncated, fails its
// checksum, has another command line, or timed out under another limit. `why` gets the
// reason when a file is there but cannot be reused.
std::optional<Json> FinishedRecord(const ScenarioCase& c, const SweepOptions& options,
                                   std::string& why) {
  StatusOr<std::string> text = ReadWholeFile(CasePath(options.out_dir, c.id));
  if (!text.ok()) return std::nullopt;
  Json record = Json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (record.is_discarded() || !record.is_object()) {
    why = "its record is truncated or not JSON";
    return std::nullopt;
  }
  if (!RecordIntact(record)) {
    why = "its record fails its checksum (corrupted)";
    return std::nullopt;
  }
  if (record.value("args", Json()) != RecordArgs(c)) {
    why = "its command line changed";
    return std::nullopt;
  }
  if (record.value("status", "") == "timeout" &&
      record.value("case_timeout_s", 0.0) != options.case_timeout_s) {
    why = "it timed out under another --case-timeout";
    return std::nullopt;
  }
  return record;
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
  bool timed_out = false;
};

// A case running on a thread of this process (Note [In-process cases]).
struct Threaded {
  const ScenarioCase* c;
  Clock::time_point start;
  std::future<CaseOutput> output;
};

// Waits for every in-process case (a thread cannot be stopped) and drops what it printed.
int WaitAndDiscard(std::list<Threaded>& threaded) {
  const int stopped = static_cast<int>(threaded.size());
  for (Threaded& t : threaded) t.output.wait();
  threaded.clear();
  return stopped;
}

// Runs `args` through `runner`; an exception (the dispatcher never throws, but a runner
// might) becomes exit status 1 with its message.
CaseOutput RunGuarded(const InProcessRunner& runner, const std::vector<std::string>& args) {
  try {
    return runner(args);
  } catch (const std::exception& e) {
    return CaseOutput{1, "", std::string("twinsim sweep: the case threw: ") + e.what()};
  } catch (...) {
    return CaseOutput{1, "", "twinsim sweep: the case threw"};
  }
}

// Free bytes for an unprivileged writer on the filesystem of `dir` (or a large number when
// statvfs fails, so that an unknown answer never stops a sweep).
uint64_t FreeBytes(const std::string& dir) {
  struct statvfs info;
  if (statvfs(dir.c_str(), &info) != 0) return UINT64_MAX;
  return static_cast<uint64_t>(info.f_bavail) * info.f_frsize;
}

std::string TimeoutMessage(double seconds) {
  char line[160];
  std::snprintf(line, sizeof line,
                "twinsim sweep: the case ran past --case-timeout %g s and was killed", seconds);
  return line;
}

// Below this, a case that did not exit 0 is taken to have failed for want of disk space.
constexpr uint64_t kDiskFullBytes = 1 << 20;

void RemoveTracesOf(const std::string& out, const std::string& id) {
  for (const std::string& name : ListDir(TracesDir(out))) {
    if (name.rfind(id + ".", 0) == 0) std::remove((TracesDir(out) + "/" + name).c_str());
  }
}

// Stops every running case (SIGTERM to its process group, SIGKILL to what is left after
// `grace`), reaps it and removes what it wrote. Returns how many were stopped.
int StopAll(std::map<pid_t, Running>& running, const std::string& out,
            std::chrono::milliseconds grace) {
  const int stopped = static_cast<int>(running.size());
  for (const auto& [pid, r] : running) kill(-pid, SIGTERM);
  const Clock::time_point deadline = Clock::now() + grace;
  while (!running.empty()) {
    for (auto it = running.begin(); it != running.end();) {
      int wait_status = 0;
      const pid_t done = waitpid(it->first, &wait_status, WNOHANG);
      if (done == it->first || (done < 0 && errno == ECHILD)) {
        kill(-it->first, SIGKILL);  // what the case itself started
        std::remove(it->second.out_path.c_str());
        std::remove(it->second.err_path.c_str());
        RemoveTracesOf(out, it->second.c->id);
        it = running.erase(it);
      } else {
        if (Clock::now() >= deadline) kill(-it->first, SIGKILL);
        ++it;
      }
    }
    if (!running.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return stopped;
}

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

std::string RecordChecksum(const Json& record_without_checksum) {
  char hex[32];
  std::snprintf(hex, sizeof hex, "fnv1a64:%016llx",
                static_cast<unsigned long long>(Fnv1a64(OneLineJson(record_without_checksum))));
  return hex;
}

bool RecordIntact(const Json& record) {
  if (!record.is_object()) return false;
  const auto it = record.find("checksum");
  if (it == record.end() || !it->is_string()) return false;
  Json rest = record;
  rest.erase("checksum");
  return it->get<std::string>() == RecordChecksum(rest);
}

SweepLock::~SweepLock() {
  if (fd_ >= 0) close(fd_);  // closing the descriptor releases the flock
}

StatusOr<SweepLock> SweepLock::Acquire(const std::string& out_dir, const std::string& holder) {
  TWINSIM_RETURN_IF_ERROR(MakeDirectories(out_dir));
  const std::string path = out_dir + "/.lock";
  const int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return Status::Unavailable("cannot open " + path + ": " + std::strerror(errno));
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int error = errno;
    close(fd);
    if (error != EWOULDBLOCK) {
      return Status::Unavailable("cannot lock " + path + ": " + std::strerror(error));
    }
    std::string who = ReadFileOrEmpty(path);
    while (!who.empty() && (who.back() == '\n' || who.back() == ' ')) who.pop_back();
    return Status::FailedPrecondition(
        "--out: another twinsim sweep is writing to " + out_dir + " (" +
        (who.empty() ? std::string("its holder is starting") : who) +
        "); wait for it to finish, or choose another --out");
  }
  const std::string text = holder + "\n";
  if (ftruncate(fd, 0) != 0 || pwrite(fd, text.data(), text.size(), 0) < 0) {
    const int error = errno;
    close(fd);
    return Status::Unavailable("cannot write " + path + ": " + std::strerror(error));
  }
  return SweepLock(fd);
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
  // Temporary files of atomic writes that a kill left in cases/.
  for (const std::string& name : ListDir(CasesDir(out))) {
    if (name.find(".tmp.") != std::string::npos) std::remove((CasesDir(out) + "/" + name).c_str());
  }
  SweepTally tally;
  tally.total = static_cast<int>(cases.size());
  auto count = [&tally](const std::string& status) {
    (status == "ok"        ? tally.ok
     : status == "failed"  ? tally.failed
     : status == "timeout" ? tally.timed_out
                           : tally.errors)++;
  };
  std::vector<const ScenarioCase*> todo;
  std::vector<std::string> rerun_notes;
  for (const ScenarioCase& c : cases) {
    if (options.resume) {
      std::string why;
      if (const std::optional<Json> record = FinishedRecord(c, options, why)) {
        ++tally.reused;
        count(record->value("status", "error"));
        continue;
      }
      if (!why.empty()) rerun_notes.push_back("case " + c.id + " runs again: " + why);
    }
    todo.push_back(&c);
  }
  auto in_process = [&options](const ScenarioCase& c) {
    return options.run_in_process != nullptr && options.case_timeout_s <= 0 && !c.trace &&
           !(options.needs_process != nullptr && options.needs_process(c));
  };
  std::FILE* timings = std::fopen((out + "/timings.jsonl").c_str(), options.resume ? "a" : "w");
  if (options.progress != nullptr) {
    for (const std::string& note : rerun_notes) {
      std::fprintf(options.progress, "twinsim sweep: %s\n", note.c_str());
    }
    const auto threads = std::count_if(todo.begin(), todo.end(),
                                       [&](const ScenarioCase* c) { return in_process(*c); });
    std::fprintf(options.progress,
                 "twinsim sweep: %d cases (%d already done), %d jobs, into %s; %d to run in this "
                 "process, %d as child processes\n",
                 tally.total, tally.reused, options.jobs, out.c_str(), static_cast<int>(threads),
                 static_cast<int>(todo.size() - threads));
    std::fflush(options.progress);
  }
  Progress progress(options, tally.total, tally.reused);
  std::map<pid_t, Running> running;
  std::list<Threaded> threaded;
  size_t next = 0;
  Status failure;
  int finished = tally.reused;
  // The cases die with the sweep (Note [Stopping a sweep]); a fault injected into the sweep's
  // own writes (TWINSIM_FAULT_ENOSPC_AFTER_WRITES) is not passed on to them.
  const std::vector<std::string> child_env = {"TWINSIM_SWEEP_PARENT=" + std::to_string(getpid()),
                                              "TWINSIM_FAULT_ENOSPC_AFTER_WRITES="};
  // Writes the record of a case that ended (in a child or on a thread).
  auto finish = [&](const ScenarioCase& c, double wall, int exit_code, bool timed_out,
                    const std::string& stdout_text, const std::string& stderr_raw) {
    std::string status = timed_out ? "timeout" : CaseStatus(exit_code);
    if (status != "ok" && !timed_out && FreeBytes(out) < kDiskFullBytes) {
      // Its output was most likely cut short by the full disk: not a result to keep.
      RemoveTracesOf(out, c.id);
      ++tally.discarded;
      failure = Status::Unavailable("the disk holding " + out + " is full (case " + c.id +
                                    " failed with less than 1 MiB free)");
      return;
    }
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
    // A timed-out case's partial output depends on how far it got: only the verdict is kept.
    std::string stderr_text =
        timed_out ? TimeoutMessage(options.case_timeout_s) : Trimmed(stderr_raw);
    Json results = Json::array();
    double sim_wall = 0;
    size_t begin = 0;
    while (!timed_out && begin < stdout_text.size()) {
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
    if (timed_out) record["case_timeout_s"] = options.case_timeout_s;
    record["stderr"] = stderr_text;
    record["results"] = std::move(results);
    record["checksum"] = RecordChecksum(record);
    const std::string text = OneLineJson(record) + "\n";
    if (Status written = WriteFileAtomically(CasePath(out, c.id), text); !written.ok()) {
      ++tally.discarded;
      failure = written;
      return;
    }
    ++finished;
    if (timings != nullptr) {
      std::fprintf(timings, "{\"id\":\"%s\",\"wall_s\":%.3f,\"sim_wall_s\":%.3f}\n", c.id.c_str(),
                   wall, sim_wall);
      std::fflush(timings);
    }
    count(status);
    progress.Finished(c, status);
  };
  while (true) {
    const int stop = options.stop_signal != nullptr ? options.stop_signal->load() : 0;
    if (stop != 0 || !failure.ok()) {
      tally.discarded += StopAll(running, out, std::chrono::seconds(3));
      tally.discarded += WaitAndDiscard(threaded);
      if (stop != 0 && failure.ok()) tally.interrupted_by = stop;
      break;
    }
    while (next < todo.size() &&
           static_cast<int>(running.size() + threaded.size()) < std::max(1, options.jobs)) {
      const ScenarioCase& c = *todo[next++];
      // A stale record or trace of this case must not survive a rerun.
      std::remove(CasePath(out, c.id).c_str());
      RemoveTracesOf(out, c.id);
      std::vector<std::string> args;
      for (const Json& a : RecordArgs(c)) args.push_back(a.get<std::string>());
      if (in_process(c)) {
        ++tally.in_process;
        threaded.push_back(Threaded{&c, Clock::now(),
                                    std::async(std::launch::async, RunGuarded,
                                               std::cref(options.run_in_process), args)});
        continue;
      }
      std::vector<std::string> argv = {options.twinsim};
      argv.insert(argv.end(), args.begin(), args.end());
      if (c.trace) {
        argv.push_back("--trace");
        argv.push_back(TracesDir(out) + "/" + c.id + ".json");
      }
      Running r{&c, Clock::now(), TmpDir(out) + "/" + c.id + ".out",
                TmpDir(out) + "/" + c.id + ".err"};
      StatusOr<pid_t> pid = StartProcess(argv, r.out_path, r.err_path,
                                         {/*own_process_group=*/true, child_env});
      if (!pid.ok()) {
        failure = pid.status();
        break;
      }
      running.emplace(*pid, std::move(r));
    }
    if (!failure.ok()) continue;
    if (running.empty() && threaded.empty()) break;
    // In-process cases that are done, in the order they were started.
    bool progressed = false;
    for (auto it = threaded.begin(); it != threaded.end() && failure.ok();) {
      if (it->output.wait_for(std::chrono::seconds(0)) != std::future_status::ready) {
        ++it;
        continue;
      }
      const CaseOutput output = it->output.get();
      const double wall = std::chrono::duration<double>(Clock::now() - it->start).count();
      finish(*it->c, wall, output.exit_code, /*timed_out=*/false, output.out, output.err);
      it = threaded.erase(it);
      progressed = true;
    }
    if (progressed || !failure.ok()) continue;
    int wait_status = 0;
    const pid_t pid = running.empty() ? 0 : waitpid(-1, &wait_status, WNOHANG);
    if (pid == 0) {
      if (options.case_timeout_s > 0) {
        for (auto& [child, r] : running) {
          const double age = std::chrono::duration<double>(Clock::now() - r.start).count();
          if (!r.timed_out && age > options.case_timeout_s) {
            r.timed_out = true;
            kill(-child, SIGKILL);
          }
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(threaded.empty() ? 5 : 1));
      continue;
    }
    if (pid < 0) {
      if (errno == EINTR) continue;
      failure = Status::Unavailable(std::string("waitpid failed: ") + std::strerror(errno));
      continue;
    }
    const auto it = running.find(pid);
    if (it == running.end()) continue;
    const Running r = it->second;
    running.erase(it);
    const double wall = std::chrono::duration<double>(Clock::now() - r.start).count();
    const int exit_code = ExitStatusOf(wait_status);
    kill(-pid, SIGKILL);  // anything the case left running in its group
    const std::string stdout_text = r.timed_out ? "" : ReadFileOrEmpty(r.out_path);
    const std::string stderr_text = r.timed_out ? "" : ReadFileOrEmpty(r.err_path);
    std::remove(r.out_path.c_str());
    std::remove(r.err_path.c_str());
    finish(*r.c, wall, exit_code, r.timed_out, stdout_text, stderr_text);
  }
  if (timings != nullptr) std::fclose(timings);
  for (const std::string& name : ListDir(TmpDir(out))) {
    std::remove((TmpDir(out) + "/" + name).c_str());
  }
  rmdir(TmpDir(out).c_str());
  if (!failure.ok()) {
    return Status::Unavailable(failure.message() + "; the sweep stopped: the " +
                               std::to_string(finished) + " finished case records in " + out +
                               " are whole and kept (" + std::to_string(tally.discarded) +
                               " running cases discarded); free space if the disk is full, then "
                               "run the same command with --resume");
  }
  return tally;
}

StatusOr<std::vector<nlohmann::ordered_json>> ReadCaseRecords(
    const std::vector<ScenarioCase>& cases, const std::string& out_dir) {
  std::vector<Json> records;
  for (const ScenarioCase& c : cases) {
    StatusOr<std::string> text = ReadWholeFile(CasePath(out_dir, c.id));
    if (!text.ok()) return Status::NotFound("case " + c.id + " has no record in " + out_dir);
    Json record = Json::parse(*text, nullptr, false);
    if (record.is_discarded() || !record.is_object() || !RecordIntact(record)) {
      return Status::Unavailable(CasePath(out_dir, c.id) +
                                 " is truncated or corrupted; run the sweep again with --resume "
                                 "to re-run that case");
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
    if (record.is_discarded() || !record.is_object() || !record.contains("id") ||
        !RecordIntact(record)) {
      return Status::Unavailable(CasesDir(dir) + "/" + name +
                                 " is not a whole case record (truncated or corrupted)");
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
