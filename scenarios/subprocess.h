// Child processes and files for sweeps: a sweep runs each case as a child `twinsim` (never in
// process: `init --backend sim` forks, and forking a multithreaded process is unsafe), and
// writes every result with write-then-rename, so an interrupted sweep leaves whole files only.
#ifndef TWINSIM_SCENARIOS_SUBPROCESS_H_
#define TWINSIM_SCENARIOS_SUBPROCESS_H_

#include <sys/types.h>

#include <string>
#include <vector>

#include "core/status.h"

namespace twinsim::scenarios {

struct ProcessOptions {
  // The child leads a process group of its own (pgid = its pid), so that kill(-pid, ...)
  // reaches what it starts too, and a terminal's Ctrl-C reaches only the parent.
  bool own_process_group = false;
  // "NAME=VALUE" entries added to (or replacing those of) the parent's environment.
  std::vector<std::string> extra_env;
};

// Starts `argv` (argv[0] is the program path, or a name looked up in PATH) with stdin from
// /dev/null, stdout to `stdout_path` and stderr to `stderr_path` (created or truncated).
// Returns the child's pid, or Unavailable naming the program. Uses posix_spawn, so it is safe
// to call from a process with threads.
StatusOr<pid_t> StartProcess(const std::vector<std::string>& argv, const std::string& stdout_path,
                             const std::string& stderr_path, const ProcessOptions& options = {});

// The exit status of a child as twinsim reports it: its exit code, or 128 + the signal that
// killed it.
int ExitStatusOf(int wait_status);

// Starts `argv` and waits for it; returns its exit status (ExitStatusOf).
StatusOr<int> RunProcess(const std::vector<std::string>& argv, const std::string& stdout_path,
                         const std::string& stderr_path);

// Writes `content` to `path` through a temporary file in the same directory and rename(2), so
// readers see the old file or the whole new one. Unavailable naming the path and the system's
// reason ("No space left on device") on failure; the temporary file is removed.
// For tests of a full disk: when the environment has TWINSIM_FAULT_ENOSPC_AFTER_WRITES=N,
// every call after the first N of this process fails as a full disk would (ENOSPC).
Status WriteFileAtomically(const std::string& path, const std::string& content);

// The whole file, or NotFound.
StatusOr<std::string> ReadWholeFile(const std::string& path);

// The whole file, or "" when it cannot be read.
std::string ReadFileOrEmpty(const std::string& path);

// Creates `path` and its missing parents (mkdir -p). Unavailable naming the path on failure.
Status MakeDirectories(const std::string& path);

}  // namespace twinsim::scenarios

#endif  // TWINSIM_SCENARIOS_SUBPROCESS_H_
