// Wall time and peak RSS of an init-shaped run of RunRanksOnSim on dgx-h100:nodes=N (8N ranks,
// timing-only), beside a plain SimGrid ring with as many actors on the same platform, each in a
// forked child of its own so the peak RSS is that run's alone (wait4). Per rank: four
// allocations, each written by an init kernel (WriteKernelOutput, no bytes), one 64 MiB
// SendRecv around the ring, and a barrier. One JSON line per run and size:
//   bazel run //sim:sim_run_bench [-- RANKS...]      (default: 1024 4096 16384)
#include <fmt/format.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <simgrid/s4u.hpp>
#include <string>
#include <vector>

#include "core/topology_presets.h"
#include "sim/platform.h"
#include "sim/sim_run.h"

namespace {

using namespace twinsim;
namespace sg4 = simgrid::s4u;
using Clock = std::chrono::steady_clock;

constexpr uint64_t kMessageBytes = uint64_t{64} << 20;
constexpr uint64_t kTensorElements = uint64_t{256} << 20;  // 512 MiB of bf16 per tensor

double Since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Runs `body` in a child process; returns the JSON fields it printed, plus its wall time and
// peak RSS, as one line.
int InChild(const std::string& kind, int ranks, std::string (*body)(int ranks)) {
  int fds[2];
  if (::pipe(fds) != 0) return 2;
  std::fflush(stdout);
  const Clock::time_point start = Clock::now();
  const pid_t child = ::fork();
  if (child < 0) return 2;
  if (child == 0) {
    ::close(fds[0]);
    const std::string fields = body(ranks);
    const ssize_t n = ::write(fds[1], fields.data(), fields.size());
    ::_exit(n == static_cast<ssize_t>(fields.size()) ? 0 : 3);
  }
  ::close(fds[1]);
  std::string fields;
  char chunk[4096];
  for (ssize_t n; (n = ::read(fds[0], chunk, sizeof chunk)) > 0;) fields.append(chunk, n);
  ::close(fds[0]);
  int status = 0;
  rusage usage{};
  ::wait4(child, &status, 0, &usage);
  const bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0 && !fields.empty();
  std::printf("{\"kind\": \"%s\", \"ranks\": %d, \"nodes\": %d, \"ok\": %s, \"wall_s\": %.3f, "
              "\"peak_rss_mib\": %.1f%s}\n",
              kind.c_str(), ranks, ranks / 8, ok ? "true" : "false", Since(start),
              usage.ru_maxrss / 1024.0, fields.c_str());
  std::fflush(stdout);
  return ok ? 0 : 1;
}

// The init-shaped program on RunRanksOnSim, in this (child) process.
std::string TwinsimRun(int ranks) {
  StatusOr<core::Topology> topology = core::MakeTopology(fmt::format("dgx-h100:nodes={}", ranks / 8));
  if (!topology.ok()) return fmt::format(", \"error\": \"{}\"", topology.status().message());
  sim::SimRunOptions options;
  options.topology = *topology;
  options.world_size = ranks;
  options.holds_bytes = false;
  options.isolation = sim::SimIsolation::kInProcess;  // the bench forked already
  StatusOr<sim::SimRun> run =
      sim::RunRanksOnSim(options, [](int rank, core::Comm& comm, core::Device& device) -> Status {
        const int n = comm.size();
        std::vector<core::Buffer> tensors;
        for (int i = 0; i < 4; ++i) {
          TWINSIM_ASSIGN_OR_RETURN(core::Buffer b,
                                   core::AllocateOrError(device, 2 * kTensorElements, "param"));
          TWINSIM_RETURN_IF_ERROR(
              device.WriteKernelOutput(core::BufferRegion::Whole(b), {}, kTensorElements));
          tensors.push_back(b);
        }
        TWINSIM_ASSIGN_OR_RETURN(core::Buffer in,
                                 core::AllocateOrError(device, kMessageBytes, "comm"));
        TWINSIM_RETURN_IF_ERROR(comm.SendRecv(
            (rank + 1) % n, core::BufferRegion::Slice(tensors[0], 0, kMessageBytes),
            (rank + n - 1) % n, core::BufferRegion::Whole(in), 0));
        return comm.Barrier();
      });
  if (!run.ok()) return fmt::format(", \"error\": \"{}\"", run.status().message());
  const Status combined = core::CombineRankStatuses(run->statuses());
  return fmt::format(", \"all_ranks_ok\": {}, \"simulated_s\": {:.9g}, \"setup_s\": {:.3f}, "
                     "\"run_s\": {:.3f}",
                     combined.ok(), run->end_time_s, run->wall.setup_s, run->wall.run_s);
}

// A plain SimGrid ring on the same platform: actor r on GPU r puts one 64 MiB message into
// mailbox r+1 and gets one from mailbox r.
std::string PlainRing(int ranks) {
  StatusOr<core::Topology> topology = core::MakeTopology(fmt::format("dgx-h100:nodes={}", ranks / 8));
  if (!topology.ok()) return fmt::format(", \"error\": \"{}\"", topology.status().message());
  const Clock::time_point setup_start = Clock::now();
  static char arg0[] = "ring";
  static char arg1[] = "--log=root.thresh:warning";
  static char* argv[] = {arg0, arg1, nullptr};
  int argc = 2;
  sg4::Engine engine(&argc, argv);
  if (!sim::UsePlainNetworkModel(engine).ok()) return ", \"error\": \"network model\"";
  StatusOr<sim::Platform> platform = sim::BuildPlatform(engine, *topology);
  if (!platform.ok()) return fmt::format(", \"error\": \"{}\"", platform.status().message());
  const double platform_s = Since(setup_start);
  static int payload = 0;
  for (int r = 0; r < ranks; ++r) {
    sg4::Actor::create(fmt::format("ring{}", r), platform->gpu_hosts[r], [r, ranks] {
      sg4::Mailbox* next = sg4::Mailbox::by_name(fmt::format("mb{}", (r + 1) % ranks));
      sg4::Mailbox* mine = sg4::Mailbox::by_name(fmt::format("mb{}", r));
      sg4::CommPtr sent = next->put_async(&payload, kMessageBytes);
      mine->get<int>();
      sent->wait();
    });
  }
  const double setup_s = Since(setup_start);
  const Clock::time_point run_start = Clock::now();
  engine.run();
  return fmt::format(", \"simulated_s\": {:.9g}, \"platform_s\": {:.3f}, \"setup_s\": {:.3f}, "
                     "\"run_s\": {:.3f}",
                     sg4::Engine::get_clock(), platform_s, setup_s, Since(run_start));
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<int> sizes;
  for (int i = 1; i < argc; ++i) sizes.push_back(std::atoi(argv[i]));
  if (sizes.empty()) sizes = {1024, 4096, 16384};
  int rc = 0;
  for (int ranks : sizes) {
    rc |= InChild("plain-simgrid-ring", ranks, PlainRing);
    rc |= InChild("twinsim-init", ranks, TwinsimRun);
  }
  return rc;
}
