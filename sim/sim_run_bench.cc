// Wall time and peak RSS of RunRanksOnSim on dgx-h100:nodes=N (8N ranks, timing-only): every
// rank fills 64M elements, passes 64 MiB to its right neighbour (SendRecv) and meets the others
// in a barrier. One JSON line per N:
//   bazel run //sim:sim_run_bench [-- N...]      (default: 1 16 128 2048)
#include <fmt/format.h>
#include <sys/resource.h>

#include <cstdio>
#include <cstdlib>
#include <vector>

#include "core/topology_presets.h"
#include "sim/sim_run.h"

namespace {

using namespace twinsim;

int Bench(int nodes) {
  StatusOr<core::Topology> topology = core::MakeTopology(fmt::format("dgx-h100:nodes={}", nodes));
  if (!topology.ok()) {
    std::fprintf(stderr, "%s\n", topology.status().ToString().c_str());
    return 2;
  }
  sim::SimRunOptions options;
  options.topology = *topology;
  options.world_size = 8 * nodes;
  options.holds_bytes = false;
  constexpr uint64_t kElements = uint64_t{64} << 20;
  StatusOr<sim::SimRun> run =
      sim::RunRanksOnSim(options, [](int rank, core::Comm& comm, core::Device& device) -> Status {
        const int n = comm.size();
        StatusOr<core::Buffer> a = core::AllocateOrError(device, 4 * kElements, core::kTagParam);
        if (!a.ok()) return a.status();
        StatusOr<core::Buffer> b = core::AllocateOrError(device, 4 * kElements, core::kTagParam);
        if (!b.ok()) return b.status();
        core::FillRequest request;
        request.end = kElements;
        TWINSIM_RETURN_IF_ERROR(device.Fill(core::BufferRegion::Whole(*a), request));
        TWINSIM_RETURN_IF_ERROR(comm.SendRecv((rank + 1) % n, core::BufferRegion::Whole(*a),
                                              (rank + n - 1) % n, core::BufferRegion::Whole(*b),
                                              0));
        return comm.Barrier();
      });
  if (!run.ok()) {
    std::fprintf(stderr, "%s\n", run.status().ToString().c_str());
    return 1;
  }
  const Status combined = core::CombineRankStatuses(run->statuses());
  rusage usage{};
  getrusage(RUSAGE_CHILDREN, &usage);
  std::printf(
      "{\"nodes\": %d, \"ranks\": %d, \"ok\": %s, \"simulated_s\": %.9g, \"setup_s\": %.3f, "
      "\"run_s\": %.3f, \"total_s\": %.3f, \"max_child_rss_mib\": %.1f}\n",
      nodes, 8 * nodes, combined.ok() ? "true" : "false", run->end_time_s, run->wall.setup_s,
      run->wall.run_s, run->wall.total_s, usage.ru_maxrss / 1024.0);
  std::fflush(stdout);
  return combined.ok() ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<int> sizes;
  for (int i = 1; i < argc; ++i) sizes.push_back(std::atoi(argv[i]));
  if (sizes.empty()) sizes = {1, 16, 128, 2048};
  int rc = 0;
  for (int nodes : sizes) rc |= Bench(nodes);
  return rc;
}
