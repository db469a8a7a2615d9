// RunRanksOnSim: core::RunRanks for the sim backend — runs a rank function on every rank of a
// SimGrid model of a cluster (rank r on GPU r, each rank an actor on its node's CPU host, with
// a SimDevice and a SimComm), and reports, besides each rank's Status, when it finished in
// simulated time, its device memory, its traffic, and the bytes that crossed each link class.
//
// Each simulation runs in a forked child process by default, because SimGrid keeps process-wide
// state between engines (Note [One engine per process]); the rank function's writes to the
// caller's memory are then lost, and what a rank wants to hand back goes in its `output`.
#ifndef TWINSIM_SIM_SIM_RUN_H_
#define TWINSIM_SIM_SIM_RUN_H_

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/comm.h"
#include "core/device.h"
#include "core/host_comm.h"
#include "core/host_device.h"
#include "core/memory_ledger.h"
#include "core/status.h"
#include "core/topology.h"
#include "sim/sim_cluster.h"

namespace twinsim::sim {

// Where the simulation runs (Note [One engine per process]).
enum class SimIsolation : uint8_t {
  // A forked child process per simulation, results back through a pipe. Any number of
  // simulations per process; a SimGrid failure or a runaway rank cannot take the caller down
  // (wall_timeout bounds it). Writes of the rank function to the caller's memory are lost.
  kFork = 0,
  // In this process: a fresh SimGrid Engine, deleted afterwards. The rank function's writes
  // are kept. REQUIRES: no other SimGrid Engine exists in the process, and the caller accepts
  // SimGrid's process-wide leftovers (configuration, clock offset) between runs.
  kInProcess = 1,
};

struct SimRunOptions {
  core::Topology topology;  // must satisfy core::ValidateTopology
  int world_size = 1;       // 1 .. NumGpus(topology); rank r runs on global GPU r
  // Data mode (real bytes, `fill` computes them) or timing-only (no bytes; Note [Devices
  // without bytes] in core/device.h).
  bool holds_bytes = true;
  // kernels::FillOnHost: needed for Fill in data mode; in timing-only mode it computes the few
  // elements of each Fill a SimDevice samples (Note [Sampled fills] in sim/sim_device.h).
  core::FillFunction fill;
  // Per-rank device capacity in bytes; 0: the GPU's memory_capacity_bytes.
  uint64_t device_capacity = 0;
  std::byte fresh_byte{0xFF};
  core::SendMode send_mode = core::SendMode::kRendezvous;
  bool detect_deadlock = true;
  // Non-empty: write a Chrome / Perfetto trace of the run there (sim/trace.h).
  std::string trace_path;
  SimIsolation isolation = SimIsolation::kFork;
  // kFork: the child is killed, and the run fails with Unavailable, after this long.
  std::chrono::milliseconds wall_timeout{600'000};
};

// What one rank did.
struct SimRankResult {
  Status status;                  // what the rank function returned (or why it did not)
  double end_time_s = 0;          // simulated time at which it returned
  core::MemoryStats memory;       // its device's ledger at the end (peak, per tag, OOM events)
  core::TrafficStats traffic;     // logical traffic (Note [Logical traffic] in core/comm.h)
  LinkBytes link_bytes{};         // hardware traffic charged to it (Note [Link traffic])
  std::vector<std::byte> output;  // what the rank function left in its output
};

// Wall-clock costs of one run, in seconds.
struct SimRunWallTimes {
  double setup_s = 0;  // engine, platform, devices, communicator, actors
  double run_s = 0;    // Engine::run
  double total_s = 0;  // the whole call, fork and result transfer included
  bool forked = false;
};

struct SimRun {
  std::vector<SimRankResult> ranks;      // by rank
  double end_time_s = 0;                 // when the last rank returned: the critical path
  LinkBytes link_bytes{};                // over all ranks
  Status comm_status;                    // OK, or the failure that aborted the communicator
  std::vector<std::string> undelivered;  // messages sent but never received
  SimRunWallTimes wall;

  // Every rank's status, by rank (for core::CombineRankStatuses).
  std::vector<Status> statuses() const;
};

// What a rank runs on the sim backend: core::RankFunction plus `output`, bytes returned to the
// caller in SimRankResult::output (the way back from a forked simulation).
using SimRankFunction = std::function<Status(int rank, core::Comm& comm, core::Device& device,
                                             std::vector<std::byte>& output)>;

// Runs fn on every rank of a fresh simulation and returns what each rank did once all have
// returned. An exception escaping fn becomes that rank's Internal status; a rank that fails
// does not stop the others, and a rank left waiting on it is told (Unavailable, deadlock).
// Errors of the run itself: InvalidArgument for a bad topology or a world size outside
// [1, NumGpus]; FailedPrecondition when the platform cannot be built; Unavailable when the trace
// cannot be written or the child exceeds wall_timeout; Internal when SimGrid or the child
// process fails. Blocks the caller. In kFork mode the caller's other threads must not hold
// locks that fn or SimGrid need (the child has only the calling thread).
StatusOr<SimRun> RunRanksOnSim(const SimRunOptions& options, const SimRankFunction& fn);
StatusOr<SimRun> RunRanksOnSim(const SimRunOptions& options, const core::RankFunction& fn);

}  // namespace twinsim::sim

#endif  // TWINSIM_SIM_SIM_RUN_H_
