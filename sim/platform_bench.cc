// Build-time benchmark of BuildPlatform (not a test): builds dgx-h100:nodes=N for each N
// (default 128, 512, 2048) and prints one JSON line per size with the wall time of the
// build, of 1,000 cross-node route lookups, and the process's peak RSS.
//
// SimGrid allows one Engine per process, so each size runs in a forked child.
//   bazel run //sim:platform_bench [-- N...]
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <simgrid/s4u.hpp>
#include <string>
#include <vector>

#include "core/topology.h"
#include "core/topology_presets.h"
#include "sim/platform.h"

namespace {

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Builds one platform and prints its JSON line. Returns the process exit code.
int BenchOne(int nodes) {
  int argc = 1;
  char name[] = "platform_bench";
  char* argv[] = {name, nullptr};
  simgrid::s4u::Engine engine(&argc, argv);
  if (!twinsim::sim::UsePlainNetworkModel(engine).ok()) return 1;
  const auto topology = twinsim::core::MakeTopology("dgx-h100:nodes=" + std::to_string(nodes));
  if (!topology.ok()) {
    std::fprintf(stderr, "%s\n", topology.status().message().c_str());
    return 1;
  }
  const auto start = std::chrono::steady_clock::now();
  const auto platform = twinsim::sim::BuildPlatform(engine, *topology);
  const double build_s = SecondsSince(start);
  if (!platform.ok()) {
    std::fprintf(stderr, "%s\n", platform.status().message().c_str());
    return 1;
  }
  // Route lookups between GPUs far apart, so each crosses the fabric.
  const auto& gpus = platform->gpu_hosts;
  const size_t n = gpus.size();
  const auto route_start = std::chrono::steady_clock::now();
  size_t links_seen = 0;
  for (size_t i = 0; i < 1000; ++i) {
    std::vector<simgrid::s4u::Link*> links;
    double latency = 0;
    gpus[(i * 7919) % n]->route_to(gpus[(i * 7919 + n / 2) % n], links, &latency);
    links_seen += links.size();
  }
  const double route_s = SecondsSince(route_start);
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  std::printf(
      "{\"preset\": \"dgx-h100:nodes=%d\", \"gpus\": %zu, \"links\": %zu, \"build_s\": %.3f, "
      "\"route_lookups\": 1000, \"route_lookups_s\": %.4f, \"avg_route_links\": %.2f, "
      "\"peak_rss_mib\": %.1f}\n",
      nodes, n, platform->link_class.size() / 2, build_s, route_s,
      static_cast<double>(links_seen) / 1000, usage.ru_maxrss / 1024.0);
  std::fflush(stdout);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<int> sizes = {128, 512, 2048};
  if (argc > 1) {
    sizes.clear();
    for (int i = 1; i < argc; ++i) sizes.push_back(std::atoi(argv[i]));
  }
  int failures = 0;
  for (int nodes : sizes) {
    std::fflush(stdout);
    const pid_t child = fork();
    if (child == 0) _exit(BenchOne(nodes));
    int status = 0;
    waitpid(child, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) ++failures;
  }
  return failures == 0 ? 0 : 1;
}
