// The sweep command's process plumbing: the stop signals (SIGINT, SIGTERM) its loop watches,
// dying of a signal once the folder is left resumable, the binary's own path (each case runs
// it as a child), which cases need a child process, and the UTC time the lock file records.
#ifndef TWINSIM_TOOLS_CLI_SWEEP_PROCESS_H_
#define TWINSIM_TOOLS_CLI_SWEEP_PROCESS_H_

#include <atomic>
#include <string>

#include "scenarios/scenario.h"

namespace twinsim::cli {

// The signal (SIGINT, SIGTERM) that asked the sweep to stop, or 0; see scenarios::RunSweep.
std::atomic<int>& SweepStopSignal();

// Catches SIGINT and SIGTERM into SweepStopSignal() for the sweep's loop (which stops and
// discards the running cases); the command re-raises the signal once DIR is left resumable.
void WatchStopSignals();

// Dies of `signal` as if it had not been caught, so that a shell sees an interrupted command
// (exit status 128 + signal) and a script's own Ctrl-C handling works. Flushes stdio first.
[[noreturn]] void DieOf(int signal);

// /proc/self/exe resolved, or "/proc/self/exe" when it cannot be read.
std::string SelfPath();

// Whether a case runs the SimGrid simulation, whose engine is one per process, so that it must
// run as a child (scenarios::SweepOptions::needs_process): `init` and `place` with --backend
// sim, `place` without --backend (sim is its default), and `place` with --init-policy (each
// seed policy's init runs as a timing-only simulation).
bool CaseRunsTheSimulation(const scenarios::ScenarioCase& c);

// Now as "2026-12-07T23:59:59Z".
std::string UtcNow();

}  // namespace twinsim::cli

#endif  // TWINSIM_TOOLS_CLI_SWEEP_PROCESS_H_
