// How many property cases a minute the host backend checks: one case is one random small model
// and layout (properties/generators.h), one policy, all five properties (a run, the single-device
// reference, a perturbed rerun). Target (issue 3): at least 10,000 cases a minute on the 2-core
// CI machine. Cases run one at a time; each case's ranks run as threads.
//
// Cases are independent, so --jobs N checks N of them at once (default: one per core); the
// table shows --jobs 1 and --jobs N side by side, measured in the same run.
//
//   bazel run -c opt //properties:init_check_bench -- [--cases N] [--jobs N] [--seed S] [--json FILE]
#include <rapidcheck.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "fmt/format.h"
#include "policies/seed/policy.h"
#include "properties/generators.h"
#include "properties/init_check.h"

namespace twinsim::properties {
namespace {

int Main(int argc, char** argv) {
  int cases = 300;
  int jobs = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  uint64_t seed = 1;
  std::string json_path;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::printf(
          "usage: init_check_bench [--cases N] [--jobs N] [--seed S] [--json FILE]\n"
          "Checks N random cases per seed policy (all five properties each) on the host\n"
          "backend, one at a time and --jobs at a time (default: one per core), and prints\n"
          "cases per minute per policy and overall for both.\n");
      return 0;
    }
    if (i + 1 >= argc) {
      std::fprintf(stderr, "init_check_bench: %s needs a value\n", arg.c_str());
      return 2;
    }
    const std::string value = argv[++i];
    char* end = nullptr;
    if (arg == "--cases") {
      const long n = std::strtol(value.c_str(), &end, 10);
      if (*end != '\0' || n < 1) {
        std::fprintf(stderr, "init_check_bench: --cases: expected a positive integer, got '%s'\n",
                     value.c_str());
        return 2;
      }
      cases = static_cast<int>(n);
    } else if (arg == "--jobs") {
      const long n = std::strtol(value.c_str(), &end, 10);
      if (*end != '\0' || n < 1 || n > 256) {
        std::fprintf(stderr, "init_check_bench: --jobs: expected an integer in 1..256, got '%s'\n",
                     value.c_str());
        return 2;
      }
      jobs = static_cast<int>(n);
    } else if (arg == "--seed") {
      seed = std::strtoull(value.c_str(), &end, 10);
      if (*end != '\0' || value[0] == '-') {
        std::fprintf(stderr, "init_check_bench: --seed: expected a non-negative integer, got '%s'\n",
                     value.c_str());
        return 2;
      }
    } else if (arg == "--json") {
      json_path = value;
    } else {
      std::fprintf(stderr, "init_check_bench: unknown option '%s'\n", arg.c_str());
      return 2;
    }
  }

  // The same random cases for every policy.
  struct Case {
    core::ModelSpec model;
    core::LayoutConfig config;
    uint64_t seed;
  };
  std::vector<Case> sample;
  rc::Random random(rc::Random::Key{seed, 0x7477696e73696d, 3, 0});
  for (int i = 0; i < cases; ++i) {
    const int size = i % 101;  // the sizes a RapidCheck run sweeps
    Case c;
    c.model = GenModel()(random.split(), size).value();
    c.config = GenLayout(c.model)(random.split(), size).value();
    c.seed = GenSeed()(random.split(), size).value();
    sample.push_back(std::move(c));
  }

  using Clock = std::chrono::steady_clock;
  // Checks every case of `sample` with `policy` on `threads` workers; returns seconds, or < 0
  // on a harness error. Counts broken claims into *broken.
  auto run_all = [&](const policies::seed::SeedPolicy& policy, int threads, int* broken) {
    std::atomic<int> next{0}, failures{0};
    std::atomic<bool> error{false};
    const auto t0 = Clock::now();
    auto worker = [&] {
      for (int i = next++; i < static_cast<int>(sample.size()) && !error; i = next++) {
        const Case& c = sample[i];
        StatusOr<core::ParallelLayout> layout = core::ParallelLayout::Make(c.config, c.model);
        InitRunOptions options;
        options.seed = c.seed;
        options.init_device = policy.default_init_device();
        StatusOr<PolicyCheck> check =
            layout.ok() ? CheckPolicy(policy, *layout, options, policies::seed::AllProperties())
                        : StatusOr<PolicyCheck>(layout.status());
        if (!check.ok()) {
          std::fprintf(stderr, "%s: %s\n", std::string(policy.name()).c_str(),
                       check.status().message().c_str());
          error = true;
          return;
        }
        failures += check->BrokeClaim();
      }
    };
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) pool.emplace_back(worker);
    for (std::thread& t : pool) t.join();
    *broken = failures;
    return error ? -1.0 : std::chrono::duration<double>(Clock::now() - t0).count();
  };

  std::string json = fmt::format("{{\"cases_per_policy\": {}, \"jobs\": {}, \"policies\": [",
                                 cases, jobs);
  double total1 = 0, totaln = 0;
  std::printf("%-16s %7s %12s %16s\n", "policy", "cases", "cases/min", fmt::format("cases/min ({} jobs)", jobs).c_str());
  for (const std::string& name : policies::seed::PolicyNames()) {
    std::unique_ptr<policies::seed::SeedPolicy> policy =
        std::move(policies::seed::MakePolicy(name)).value();
    int broken = 0;
    const double s1 = run_all(*policy, 1, &broken);
    const double sn = run_all(*policy, jobs, &broken);
    if (s1 < 0 || sn < 0) return 1;
    total1 += s1;
    totaln += sn;
    std::printf("%-16s %7d %12.0f %16.0f%s\n", name.c_str(), cases, cases / s1 * 60,
                cases / sn * 60, broken ? "  (claims broken!)" : "");
    json += fmt::format("{}{{\"policy\": \"{}\", \"seconds_1_job\": {:.3f}, "
                        "\"seconds_n_jobs\": {:.3f}, \"cases_per_minute_1_job\": {:.0f}, "
                        "\"cases_per_minute_n_jobs\": {:.0f}, \"broken_claims\": {}}}",
                        name == policies::seed::PolicyNames().front() ? "" : ", ", name, s1, sn,
                        cases / s1 * 60, cases / sn * 60, broken);
  }
  const int total_cases = cases * static_cast<int>(policies::seed::PolicyNames().size());
  std::printf("%-16s %7d %12.0f %16.0f\n", "all", total_cases, total_cases / total1 * 60,
              total_cases / totaln * 60);
  json += fmt::format("], \"total_cases\": {}, \"cases_per_minute_1_job\": {:.0f}, "
                      "\"cases_per_minute_n_jobs\": {:.0f}}}\n",
                      total_cases, total_cases / total1 * 60, total_cases / totaln * 60);
  if (!json_path.empty()) {
    std::ofstream out(json_path);
    out << json;
    if (!out) {
      std::fprintf(stderr, "init_check_bench: cannot write %s\n", json_path.c_str());
      return 1;
    }
  }
  return 0;
}

}  // namespace
}  // namespace twinsim::properties

int main(int argc, char** argv) { return twinsim::properties::Main(argc, argv); }
