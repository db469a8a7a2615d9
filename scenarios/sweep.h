// Runs the cases of a scenario, several at a time — inside this process through a runner the
// caller hands in (the commands' library calls), or as child `twinsim` processes where a case
// needs a process of its own (Note [In-process cases] in sweep.cc) — and keeps each finished
// case as DIR/cases/<case-id>.json (written atomically), so that an interrupted
// sweep resumes without redoing or losing finished cases. The case files hold no times and no
// paths outside DIR, so they are byte-identical for any number of jobs; wall times go to
// DIR/timings.jsonl. See Note [Case records] in sweep.cc for the record's fields.
#ifndef TWINSIM_SCENARIOS_SWEEP_H_
#define TWINSIM_SCENARIOS_SWEEP_H_

#include <atomic>
#include <cstdio>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/status.h"
#include "scenarios/scenario.h"

namespace twinsim::scenarios {

// What a case run inside the sweep's process printed, and its exit status: what a child
// process would have written to stdout and stderr and exited with.
struct CaseOutput {
  int exit_code = 0;
  std::string out;
  std::string err;
};

// Runs one case's command line — `command options... --json` (the record's "args") — inside
// this process. Called from several threads at once: it must be thread-safe.
using InProcessRunner = std::function<CaseOutput(const std::vector<std::string>& args)>;

struct SweepOptions {
  std::string twinsim;  // the binary that runs each case (the sweep's own: /proc/self/exe)
  // Runs cases inside this process (Note [In-process cases]); null: every case in a child.
  InProcessRunner run_in_process;
  // The cases that must still run as a child process even with run_in_process (e.g. those
  // that run the SimGrid simulation, whose engine is process-wide); null: none.
  std::function<bool(const ScenarioCase&)> needs_process;
  std::string out_dir;
  int jobs = 1;         // cases at a time (threads and child processes together), >= 1
  bool resume = false;  // keep case files whose command line matches; else rerun everything
  std::FILE* progress = nullptr;  // progress lines (stderr), or null for none
  bool progress_is_tty = false;   // redraw one line instead of printing one per case
  // A case running longer than this (seconds) is killed with its process group and recorded
  // with status "timeout"; 0 = no limit.
  double case_timeout_s = 0;
  // Watched between cases: when it becomes non-zero (a signal handler stores the signal's
  // number), no case starts, the running ones are stopped (SIGTERM, then SIGKILL after a
  // grace period) and discarded, and RunSweep returns with SweepTally::interrupted_by set.
  const std::atomic<int>* stop_signal = nullptr;
};

struct SweepTally {
  int total = 0;
  int reused = 0;  // already finished (--resume)
  int ok = 0;      // exit 0
  int failed = 0;  // exit 1: e.g. `init` found a claimed property broken
  int errors = 0;  // anything else: bad output, crash, ...
  int timed_out = 0;       // killed after SweepOptions::case_timeout_s
  int discarded = 0;       // running when the sweep was stopped; not recorded
  int interrupted_by = 0;  // the signal that stopped the sweep, or 0
  int in_process = 0;      // of the cases run (not reused), how many ran inside this process
};

// An exclusive lock on a sweep folder (flock on DIR/.lock), held while the object lives, so
// that two sweeps never write the same records. The file names its holder: pid, start time
// and command line. Move-only; the lock goes with the process, however it ends.
class SweepLock {
 public:
  // Creates DIR (mkdir -p) and locks it. FailedPrecondition naming the holder when another
  // process holds the lock; Unavailable when DIR cannot be created or written.
  static StatusOr<SweepLock> Acquire(const std::string& out_dir, const std::string& holder);
  SweepLock(SweepLock&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  SweepLock& operator=(SweepLock&&) = delete;
  SweepLock(const SweepLock&) = delete;
  ~SweepLock();

 private:
  explicit SweepLock(int fd) : fd_(fd) {}
  int fd_ = -1;
};

// The checksum a case record carries in its last key, "checksum": FNV-1a (64 bits) of the
// record's one-line JSON without that key, as "fnv1a64:<16 hex digits>".
std::string RecordChecksum(const nlohmann::ordered_json& record_without_checksum);

// True when `record` is an object whose "checksum" matches the rest of it.
bool RecordIntact(const nlohmann::ordered_json& record);

// A case's status from its command's exit status: "ok" (0), "failed" (1), "error" (other).
std::string CaseStatus(int exit_code);

// Runs every case of `cases` not already finished (see SweepOptions::resume) and writes its
// record. A record that does not parse or fails its checksum is not finished: the case runs
// again. A record is the same bytes whether its case ran in this process or in a child.
// Returns the tally over all of `cases` (interrupted_by set when stop_signal fired);
// Unavailable when DIR cannot be written (a full disk: every finished record stays whole, and
// the message says to free space and --resume) or a child cannot be started. Not thread-safe
// (waits for any child). The caller holds the SweepLock.
StatusOr<SweepTally> RunSweep(const std::vector<ScenarioCase>& cases, const SweepOptions& options);

// The case records of `cases` read back from DIR/cases, in the order of `cases`; NotFound
// naming the first missing one.
StatusOr<std::vector<nlohmann::ordered_json>> ReadCaseRecords(
    const std::vector<ScenarioCase>& cases, const std::string& out_dir);

// Every case record under `dir`/cases (for merging the shards of a sweep), ordered by index
// then id. Unavailable when the folder cannot be listed or a record is not JSON.
StatusOr<std::vector<nlohmann::ordered_json>> ReadAllCaseRecords(const std::string& dir);

}  // namespace twinsim::scenarios

#endif  // TWINSIM_SCENARIOS_SWEEP_H_
