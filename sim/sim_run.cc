#include "sim/sim_run.h"

#include <fmt/format.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>
#include <limits>
#include <memory>
#include <span>
#include <simgrid/Exception.hpp>
#include <simgrid/s4u.hpp>
#include <string_view>
#include <utility>

#include "core/byte_codec.h"
#include "sim/platform.h"
#include "sim/sim_comm.h"
#include "sim/sim_device.h"
#include "sim/trace.h"

// Note [One engine per process]
// -----------------------------
// SimGrid 3.32 has one Engine per process at a time, and tests and the CLI run many
// simulations. Measured here (x86-64, Debian's libsimgrid 3.32):
//   - Deleting the Engine and creating another in the same process does work for simple
//     platforms, but the process keeps state from the previous engines: the simulated clock goes
//     on from where the last run stopped (a second 1 s run ends at 2 s), and configuration set
//     with set_config stays set. A SimGrid failure (xbt_die, an abort in a model) ends the whole
//     process, and an actor that never yields hangs it.
//   - fork() per simulation starts every run from the same state (the caller's, with no engine
//     in it), contains crashes and hangs (the parent kills the child after wall_timeout), and
//     costs little: a 16-rank run took 0.46 ms in-process and 2.1 ms forked (0.45 ms for a
//     bare fork + wait; the rest is copy-on-write faults of the child); at 256 ranks, 6.9 ms
//     vs 10.6 ms.
// So RunRanksOnSim forks by default (SimIsolation::kFork): the child builds the engine and the
// platform, runs the ranks, writes the trace, encodes every SimRankResult into a pipe and
// _exits (no atexit handlers or destructors of the caller's objects run twice). Since the
// rank function's writes to the caller's memory stay in the child, each rank hands back
// bytes through SimRankFunction's `output`. kInProcess keeps the writes and skips the fork,
// for debuggers and for a process that runs one simulation; simulated times are measured from
// the clock at the start of the run either way (SimCluster::Now), so both modes report the
// same figures, up to rounding in the last bits in-process (an engine's clock starts where the
// previous one stopped). SimGrid also refuses to set the network model a second time in one
// process, so an in-process run sets it only the first time.

// Note [SimGrid under AddressSanitizer]
// -------------------------------------
// SimGrid's default contexts run every actor on a stack it allocates and switches to by hand.
// ASan does not know those stacks: an exception unwinding inside an actor (a rank function
// that throws) makes it report a stack-buffer-underflow that is not there ("ASan is ignoring
// requested __asan_handle_no_return ... False positive error reports may follow"), and the
// child aborts. Built with -fsanitize=address, the engine therefore uses the "thread" context
// factory (one OS thread per actor, run one at a time), whose stacks ASan tracks. Simulated
// results do not depend on the factory; only the wall time does.

namespace twinsim::sim {

namespace sg4 = simgrid::s4u;

std::vector<Status> SimRun::statuses() const {
  std::vector<Status> out;
  out.reserve(ranks.size());
  for (const SimRankResult& r : ranks) out.push_back(r.status);
  return out;
}

namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

// ---- The child's answer, as bytes ------------------------------------------------------------

using core::ByteReader;
using core::ByteWriter;

void EncodeMemory(ByteWriter& w, const core::MemoryStats& m) {
  w.U64(m.capacity);
  w.U64(m.in_use);
  w.U64(m.peak);
  w.U64(m.live_allocations);
  w.U64(m.by_tag.size());
  for (const core::TagUsage& t : m.by_tag) {
    w.Str(t.tag);
    w.U64(t.in_use);
    w.U64(t.peak);
    w.U64(t.live_allocations);
    w.U64(t.total_allocations);
  }
  w.Tags(m.at_peak);
  w.U64(m.oom_count);
  w.U64(m.oom_events.size());
  for (const core::OomReport& o : m.oom_events) w.Oom(o);
}

core::MemoryStats DecodeMemory(ByteReader& r) {
  core::MemoryStats m;
  m.capacity = r.U64();
  m.in_use = r.U64();
  m.peak = r.U64();
  m.live_allocations = r.U64();
  m.by_tag.resize(r.Count(40));
  for (core::TagUsage& t : m.by_tag) {
    t.tag = r.Str();
    t.in_use = r.U64();
    t.peak = r.U64();
    t.live_allocations = r.U64();
    t.total_allocations = r.U64();
  }
  m.at_peak = r.Tags();
  m.oom_count = r.U64();
  m.oom_events.resize(r.Count(56));
  for (core::OomReport& o : m.oom_events) o = r.Oom();
  return m;
}

void EncodeLinks(ByteWriter& w, const LinkBytes& links) {
  for (uint64_t v : links) w.U64(v);
}

LinkBytes DecodeLinks(ByteReader& r) {
  LinkBytes links{};
  for (uint64_t& v : links) v = r.U64();
  return links;
}

// 0 + the run, or 1 + the error.
std::vector<std::byte> EncodeOutcome(const StatusOr<SimRun>& outcome) {
  std::vector<std::byte> data;
  ByteWriter w(data);
  if (!outcome.ok()) {
    w.U64(1);
    w.St(outcome.status());
    return data;
  }
  const SimRun& run = *outcome;
  // One allocation for the whole answer (at 16,384 ranks, hundreds of MB grown by doubling
  // would be copied several times): each rank's output plus a generous fixed part.
  size_t size = 256;
  for (const SimRankResult& rank : run.ranks) {
    size += 512 + rank.output.size() + rank.status.message().size() +
            rank.traffic.peers().size() * 40 + rank.memory.by_tag.size() * 64;
  }
  data.reserve(size);
  w.U64(0);
  w.U64(run.ranks.size());
  for (const SimRankResult& rank : run.ranks) {
    w.St(rank.status);
    w.F64(rank.end_time_s);
    EncodeMemory(w, rank.memory);
    w.U64(rank.traffic.peers().size());
    for (const auto& [peer, p] : rank.traffic.peers()) {
      w.I64(peer);
      w.U64(p.bytes_sent);
      w.U64(p.bytes_received);
      w.U64(p.messages_sent);
      w.U64(p.messages_received);
    }
    w.U64(rank.traffic.collective_calls());
    EncodeLinks(w, rank.link_bytes);
    w.Bytes(rank.output);
  }
  w.F64(run.end_time_s);
  EncodeLinks(w, run.link_bytes);
  w.St(run.comm_status);
  w.U64(run.undelivered.size());
  for (const std::string& u : run.undelivered) w.Str(u);
  w.F64(run.wall.setup_s);
  w.F64(run.wall.run_s);
  return data;
}

StatusOr<SimRun> DecodeOutcome(std::span<const std::byte> data) {
  ByteReader r(data);
  const uint64_t kind = r.U64();
  if (kind == 1) {
    Status status = r.St();
    if (r.ok()) return status.ok() ? Status::Internal("simulation: an OK error") : status;
  }
  SimRun run;
  if (kind == 0 && r.ok()) {
    run.ranks.resize(r.Count(64));
    for (SimRankResult& rank : run.ranks) {
      rank.status = r.St();
      rank.end_time_s = r.F64();
      rank.memory = DecodeMemory(r);
      const uint64_t peers = r.Count(40);
      for (uint64_t i = 0; i < peers; ++i) {
        const int64_t peer = r.I64();
        core::PeerTraffic p;
        p.bytes_sent = r.U64();
        p.bytes_received = r.U64();
        p.messages_sent = r.U64();
        p.messages_received = r.U64();
        if (peer < 0 || peer >= std::numeric_limits<int>::max()) {
          r.Fail();
          break;
        }
        rank.traffic.RecordSent(static_cast<int>(peer), p.bytes_sent, p.messages_sent);
        rank.traffic.RecordReceived(static_cast<int>(peer), p.bytes_received, p.messages_received);
      }
      rank.traffic.set_collective_calls(r.U64());
      rank.link_bytes = DecodeLinks(r);
      rank.output = r.Bytes();
    }
    run.end_time_s = r.F64();
    run.link_bytes = DecodeLinks(r);
    run.comm_status = r.St();
    run.undelivered.resize(r.Count(8));
    for (std::string& u : run.undelivered) u = r.Str();
    run.wall.setup_s = r.F64();
    run.wall.run_s = r.F64();
  }
  if (!r.ok() || (kind != 0 && kind != 1)) {
    return Status::Internal(fmt::format(
        "simulation: the child process sent a malformed result ({} bytes)", data.size()));
  }
  return run;
}

// ---- One simulation in this process ----------------------------------------------------------

Status CheckOptions(const SimRunOptions& options) {
  TWINSIM_RETURN_IF_ERROR(core::ValidateTopology(options.topology));
  const int64_t gpus = core::NumGpus(options.topology);
  if (options.world_size < 1 || options.world_size > gpus) {
    return Status::InvalidArgument(fmt::format(
        "RunRanksOnSim: world size {} on {} ({} GPUs): one rank per GPU, 1..{}", options.world_size,
        options.topology.name.empty() ? "the topology" : options.topology.name, gpus, gpus));
  }
  return Status::Ok();
}

// The GPUs of `topology` in global order.
std::vector<const core::GpuSpec*> FlattenGpus(const core::Topology& topology) {
  std::vector<const core::GpuSpec*> gpus;
  for (const core::NodeSpec& node : topology.nodes) {
    for (const core::GpuSpec& gpu : node.gpus) gpus.push_back(&gpu);
  }
  return gpus;
}

StatusOr<SimRun> SimulateHere(const SimRunOptions& options, const SimRankFunction& fn) {
  TWINSIM_RETURN_IF_ERROR(CheckOptions(options));
  const Clock::time_point setup_start = Clock::now();
  static char arg0[] = "twinsim-sim";
  static char arg1[] = "--log=root.thresh:warning";
#if defined(__SANITIZE_ADDRESS__)
  // Note [SimGrid under AddressSanitizer].
  static char arg2[] = "--cfg=contexts/factory:thread";
  static char* argv[] = {arg0, arg1, arg2, nullptr};
  static int argc = 3;
#else
  static char* argv[] = {arg0, arg1, nullptr};
  static int argc = 2;
#endif
  std::unique_ptr<sg4::Engine> engine;
  try {
    engine = std::make_unique<sg4::Engine>(&argc, argv);
  } catch (const std::exception& e) {
    return Status::Internal(fmt::format("SimGrid refused to create an engine: {}", e.what()));
  }
  // SimGrid refuses to set the network model again once a platform existed in this process
  // (Note [One engine per process]): after the first in-process run the setting stays.
  static bool network_model_set = false;
  if (!network_model_set) {
    TWINSIM_RETURN_IF_ERROR(UsePlainNetworkModel(*engine));
    network_model_set = true;
  }
  StatusOr<Platform> built = BuildPlatform(*engine, options.topology);
  if (!built.ok()) return built.status();
  const Platform platform = *std::move(built);
  const int n = options.world_size;
  const std::vector<const core::GpuSpec*> gpus = FlattenGpus(options.topology);

  SimRun run;
  run.ranks.resize(n);
  {
    TraceLog trace(!options.trace_path.empty());
    std::vector<sg4::Host*> rank_gpus(n), rank_cpus(n);
    for (int r = 0; r < n; ++r) {
      rank_gpus[r] = platform.gpu_hosts[r];
      rank_cpus[r] = platform.cpu_hosts[platform.gpu_node[r]];
      trace.NameRank(r, fmt::format("rank {} ({}, node{})", r, rank_gpus[r]->get_name(),
                                    platform.gpu_node[r]));
    }
    SimCluster cluster(&platform, rank_gpus, rank_cpus, &trace);
    std::vector<std::unique_ptr<SimDevice>> devices;
    std::vector<std::unique_ptr<SimComm>> comms;
    std::unique_ptr<SimCommWorld> world;
    try {
      world = std::make_unique<SimCommWorld>(
          &cluster, SimCommOptions{options.send_mode, options.detect_deadlock});
      for (int r = 0; r < n; ++r) {
        SimDeviceOptions device;
        device.model = gpus[r]->model;
        device.capacity = options.device_capacity > 0
                              ? options.device_capacity
                              : static_cast<uint64_t>(gpus[r]->memory_capacity_bytes);
        device.holds_bytes = options.holds_bytes;
        device.hbm_bandwidth_bytes_per_s = gpus[r]->hbm_bandwidth_bytes_per_s;
        device.matmul_flops_per_s = gpus[r]->matmul_flops_per_s;
        device.fresh_byte = options.fresh_byte;
        device.fill = options.fill;
        devices.push_back(std::make_unique<SimDevice>(r, std::move(device), &cluster));
        comms.push_back(std::make_unique<SimComm>(world.get(), r, devices.back().get()));
      }
      for (int r = 0; r < n; ++r) {
        sg4::Actor::create(fmt::format("rank{}", r), rank_cpus[r], [&, r] {
          SimRankResult& result = run.ranks[r];
          Status status;
          try {
            status = fn(r, *comms[r], *devices[r], result.output);
          } catch (const simgrid::ForcefulKillException&) {
            // SimGrid itself found the simulation stuck (twinsim's detection should have been
            // first) and is unwinding the actor: record why, then let it go on.
            result.status = Status::Unavailable(
                fmt::format("rank {} was killed by SimGrid (the simulation deadlocked)", r));
            result.end_time_s = cluster.Now();
            throw;
          } catch (const std::exception& e) {
            status = Status::Internal(fmt::format("rank {} threw: {}", r, e.what()));
          } catch (...) {
            status = Status::Internal(fmt::format("rank {} threw a non-standard exception", r));
          }
          world->MarkExited(r, status);
          result.status = std::move(status);
          result.end_time_s = cluster.Now();
        });
      }
    } catch (const std::exception& e) {
      return Status::Internal(fmt::format("SimGrid failed to set up the ranks: {}", e.what()));
    }
    run.wall.setup_s = Seconds(setup_start);
    const Clock::time_point run_start = Clock::now();
    try {
      engine->run();
    } catch (const std::exception& e) {
      return Status::Internal(fmt::format("SimGrid failed while simulating: {}", e.what()));
    }
    run.wall.run_s = Seconds(run_start);

    for (int r = 0; r < n; ++r) {
      SimRankResult& result = run.ranks[r];
      result.memory = devices[r]->Stats();
      result.traffic = comms[r]->traffic();
      result.link_bytes = cluster.link_bytes(r);
      run.end_time_s = std::max(run.end_time_s, result.end_time_s);
    }
    run.link_bytes = cluster.TotalLinkBytes();
    run.comm_status = world->abort_status();
    run.undelivered = world->UndeliveredMessages();
    if (trace.enabled()) TWINSIM_RETURN_IF_ERROR(trace.WriteFile(options.trace_path));
    // SimGrid objects (mutexes, condition variables) go before the engine.
    comms.clear();
    world.reset();
    devices.clear();
  }
  engine.reset();
  return run;
}

// ---- One simulation in a child process -------------------------------------------------------

bool WriteAll(int fd, std::span<const std::byte> data) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data = data.subspan(static_cast<size_t>(n));
  }
  return true;
}

StatusOr<SimRun> SimulateInChild(const SimRunOptions& options, const SimRankFunction& fn) {
  TWINSIM_RETURN_IF_ERROR(CheckOptions(options));
  int fds[2];
  if (::pipe(fds) != 0) {
    return Status::Internal(fmt::format("simulation: pipe failed: {}", std::strerror(errno)));
  }
  // Buffered output would otherwise be written twice, by the caller and by the child.
  std::fflush(stdout);
  std::fflush(stderr);
  const pid_t child = ::fork();
  if (child < 0) {
    const int error = errno;
    ::close(fds[0]);
    ::close(fds[1]);
    return Status::Internal(fmt::format("simulation: fork failed: {}", std::strerror(error)));
  }
  if (child == 0) {
    // A simulation has no use once its caller is gone (a sweep's timeout or kill -9).
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    ::close(fds[0]);
    std::vector<std::byte> answer;
    try {
      answer = EncodeOutcome(SimulateHere(options, fn));
    } catch (const std::exception& e) {
      answer = EncodeOutcome(
          Status::Internal(fmt::format("simulation: the child process threw: {}", e.what())));
    } catch (...) {
      answer = EncodeOutcome(Status::Internal("simulation: the child process threw"));
    }
    const bool written = WriteAll(fds[1], answer);
    ::close(fds[1]);
    ::_exit(written ? 0 : 3);
  }
  ::close(fds[1]);
  std::string answer;
  const Clock::time_point deadline = Clock::now() + options.wall_timeout;
  bool timed_out = false;
  bool read_failed = false;
  char chunk[1 << 16];
  while (true) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) {
      timed_out = true;
      break;
    }
    pollfd p{fds[0], POLLIN, 0};
    const int ready = ::poll(&p, 1, static_cast<int>(std::min<int64_t>(left.count(), 1 << 30)));
    if (ready < 0 && errno == EINTR) continue;
    if (ready < 0) {
      read_failed = true;
      break;
    }
    if (ready == 0) continue;
    const ssize_t got = ::read(fds[0], chunk, sizeof chunk);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) {
      read_failed = true;
      break;
    }
    if (got == 0) break;
    answer.append(chunk, static_cast<size_t>(got));
  }
  ::close(fds[0]);
  if (timed_out) ::kill(child, SIGKILL);
  int wait_status = 0;
  while (::waitpid(child, &wait_status, 0) < 0 && errno == EINTR) {
  }
  if (timed_out) {
    return Status::Unavailable(fmt::format(
        "simulation: still running after the wall-clock limit of {} ms; the child process was "
        "killed",
        options.wall_timeout.count()));
  }
  if (WIFSIGNALED(wait_status)) {
    return Status::Internal(
        fmt::format("simulation: the child process died of signal {} ({}); see its stderr",
                    WTERMSIG(wait_status), ::strsignal(WTERMSIG(wait_status))));
  }
  if (read_failed || !WIFEXITED(wait_status) || WEXITSTATUS(wait_status) != 0) {
    return Status::Internal(
        fmt::format("simulation: the child process failed (exit status {}); see its stderr",
                    WIFEXITED(wait_status) ? WEXITSTATUS(wait_status) : -1));
  }
  return DecodeOutcome(std::as_bytes(std::span<const char>(answer)));
}

}  // namespace

StatusOr<SimRun> RunRanksOnSim(const SimRunOptions& options, const SimRankFunction& fn) {
  const Clock::time_point start = Clock::now();
  StatusOr<SimRun> run = options.isolation == SimIsolation::kFork ? SimulateInChild(options, fn)
                                                                  : SimulateHere(options, fn);
  if (run.ok()) {
    run->wall.total_s = Seconds(start);
    run->wall.forked = options.isolation == SimIsolation::kFork;
  }
  return run;
}

StatusOr<SimRun> RunRanksOnSim(const SimRunOptions& options, const core::RankFunction& fn) {
  return RunRanksOnSim(
      options, SimRankFunction([&fn](int rank, core::Comm& comm, core::Device& device,
                                     std::vector<std::byte>&) { return fn(rank, comm, device); }));
}

}  // namespace twinsim::sim
