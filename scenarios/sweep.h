// Runs the cases of a scenario as child `twinsim` processes, several at a time, and keeps
// each finished case as DIR/cases/<case-id>.json (written atomically), so that an interrupted
// sweep resumes without redoing or losing finished cases. The case files hold no times and no
// paths outside DIR, so they are byte-identical for any number of jobs; wall times go to
// DIR/timings.jsonl. See Note [Case records] in sweep.cc for the record's fields.
#ifndef TWINSIM_SCENARIOS_SWEEP_H_
#define TWINSIM_SCENARIOS_SWEEP_H_

#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/status.h"
#include "scenarios/scenario.h"

namespace twinsim::scenarios {

struct SweepOptions {
  std::string twinsim;  // the binary that runs each case (the sweep's own: /proc/self/exe)
  std::string out_dir;
  int jobs = 1;         // child processes at a time, >= 1
  bool resume = false;  // keep case files whose command line matches; else rerun everything
  std::FILE* progress = nullptr;  // progress lines (stderr), or null for none
  bool progress_is_tty = false;   // redraw one line instead of printing one per case
};

struct SweepTally {
  int total = 0;
  int reused = 0;  // already finished (--resume)
  int ok = 0;      // exit 0
  int failed = 0;  // exit 1: e.g. `init` found a claimed property broken
  int errors = 0;  // anything else: bad output, crash, ...
};

// A case's status from its command's exit status: "ok" (0), "failed" (1), "error" (other).
std::string CaseStatus(int exit_code);

// Runs every case of `cases` not already finished (see SweepOptions::resume) and writes its
// record. Returns the tally over all of `cases`; Unavailable when DIR cannot be written or a
// child cannot be started (finished cases stay). Not thread-safe (waits for any child).
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
