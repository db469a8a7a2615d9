// Wall time to simulate one auto-placement step of gpt3-175b on 8 simulated A100-80GB (one
// DGX A100, 2 TB host) with every chunk sharded over the 8 DP ranks and full activation
// recomputation (without it one microbatch's activations, 83 GiB, exceed the GPU). Target
// (issue 5): at most 2 s on the 2-core CI machine.
//
// Each run builds every distinct rank's chunks and step (the chunk-size search), runs the auto
// policy, and simulates all 8 ranks (sim backend, a forked SimGrid child); the phases are timed
// apart. Runs --runs times and reports the median.
//
//   bazel run -c opt //properties:placement_step_bench -- [--runs N] [--json FILE]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "core/model_presets.h"
#include "core/parallel_layout.h"
#include "core/topology_presets.h"
#include "fmt/format.h"
#include "policies/placement/placement.h"
#include "policies/placement/workload.h"
#include "properties/placement_run.h"

namespace twinsim::properties {
namespace {

double Since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

int Main(int argc, char** argv) {
  int runs = 5;
  std::string json_path;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::printf(
          "usage: placement_step_bench [--runs N] [--json FILE]\n"
          "Times one auto-placement step of gpt3-175b, dp=8 sharded, recompute, on 8 simulated\n"
          "A100-80GB (dgx-a100-80g): build, policy and simulation, median of N runs.\n");
      return 0;
    }
    if (arg == "--runs" && i + 1 < argc) {
      runs = std::atoi(argv[++i]);
    } else if (arg == "--json" && i + 1 < argc) {
      json_path = argv[++i];
    } else {
      std::fprintf(stderr, "placement_step_bench: unknown argument '%s' (see --help)\n", argv[i]);
      return 2;
    }
  }
  if (runs < 1) {
    std::fprintf(stderr, "placement_step_bench: --runs must be positive\n");
    return 2;
  }
  const core::ModelSpec model = core::MakeModel("gpt3-175b").value();
  core::LayoutConfig lc;
  lc.dp = 8;
  const core::ParallelLayout layout = core::ParallelLayout::Make(lc, model).value();
  const core::Topology topology = core::MakeTopology("dgx-a100-80g").value();
  const placement::MemoryBudget budget{
      static_cast<uint64_t>(topology.nodes[0].gpus[0].memory_capacity_bytes),
      static_cast<uint64_t>(topology.nodes[0].host_memory.pageable_bytes) / 8};
  placement::WorkloadConfig config;
  config.heads = model.num_heads;
  config.recompute = true;
  placement::ChunkSearchOptions search;
  search.dp_shards = 8;
  const auto policy = placement::MakeAutoPolicy().value();

  std::vector<double> build_s, policy_s, sim_s, total_s;
  SimStepResult last;
  placement::PlacementResult result;
  for (int run = 0; run < runs; ++run) {
    const auto t0 = std::chrono::steady_clock::now();
    // DP ranks of one stage share their step (as `twinsim place` does): build rank 0's.
    placement::RankStep step = placement::BuildRankStep(layout, config, search, false).value();
    build_s.push_back(Since(t0));
    const auto t1 = std::chrono::steady_clock::now();
    result = policy->Run(step.workload, budget);
    policy_s.push_back(Since(t1));
    if (!result.fits) {
      std::fprintf(stderr, "placement_step_bench: auto did not fit: %s\n",
                   result.oom->message.c_str());
      return 1;
    }
    const auto t2 = std::chrono::steady_clock::now();
    std::vector<const placement::Workload*> w(8, &step.workload);
    std::vector<const placement::PlacementResult*> r(8, &result);
    SimStepOptions options;
    options.topology = topology;
    StatusOr<SimStepResult> sim = SimulatePlacementStep(options, layout, w, r);
    if (!sim.ok()) {
      std::fprintf(stderr, "placement_step_bench: %s\n", sim.status().ToString().c_str());
      return 1;
    }
    sim_s.push_back(Since(t2));
    total_s.push_back(Since(t0));
    last = *sim;
  }
  const std::string report = fmt::format(
      "{{\"case\":\"gpt3-175b dp=8 sharded, recompute, auto, dgx-a100-80g\",\"runs\":{},"
      "\"median_total_s\":{:.3f},\"median_build_s\":{:.3f},\"median_policy_s\":{:.3f},"
      "\"median_sim_s\":{:.3f},\"target_s\":2.0,\"transfers\":{},"
      "\"simulated_step_s\":{:.3f},\"h2d_bytes\":{}}}",
      runs, Median(total_s), Median(build_s), Median(policy_s), Median(sim_s),
      result.transfers.size(), last.step_time_s, result.h2d_bytes);
  std::printf("gpt3-175b, dp=8 sharded, recompute, auto on 8 simulated A100-80GB (%d runs)\n",
              runs);
  std::printf(
      "  median wall  %.3f s (build %.3f s, policy %.3f s, simulation %.3f s); target 2 s\n",
      Median(total_s), Median(build_s), Median(policy_s), Median(sim_s));
  std::printf("  the step     %zu moves, %.1f GiB H2D per rank, %.3f s simulated\n",
              result.transfers.size(), static_cast<double>(result.h2d_bytes) / (1 << 30),
              last.step_time_s);
  if (!json_path.empty()) {
    std::ofstream f(json_path);
    f << report << "\n";
    if (!f) {
      std::fprintf(stderr, "placement_step_bench: cannot write %s\n", json_path.c_str());
      return 1;
    }
  }
  return 0;
}

}  // namespace
}  // namespace twinsim::properties

int main(int argc, char** argv) { return twinsim::properties::Main(argc, argv); }
