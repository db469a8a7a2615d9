// How long a Hugging Face config takes to become a ModelSpec. Target (issue 15): deepseek-v3
// from its config in under 50 ms on the 2-core CI machine. Each shipped config is parsed from
// its embedded text (core/hf_presets.cc) and built, --runs times; the table gives the fastest,
// median and slowest run, parse included, and the tensor count.
//
//   bazel run -c opt //core:hf_config_bench -- [--runs N] [--json FILE]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/hf_config.h"
#include "core/hf_presets.h"

namespace twinsim::core {
namespace {

int Main(int argc, char** argv) {
  int runs = 20;
  std::string json_path;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::printf(
          "usage: hf_config_bench [--runs N] [--json FILE]\n"
          "Builds each shipped Hugging Face config (JSON parse + ModelSpecFromHfConfig) N times\n"
          "(default 20) and prints the fastest, median and slowest run in milliseconds.\n");
      return 0;
    }
    if (i + 1 >= argc) {
      std::fprintf(stderr, "hf_config_bench: %s needs a value\n", arg.c_str());
      return 2;
    }
    const std::string value = argv[++i];
    if (arg == "--runs") {
      char* end = nullptr;
      const long n = std::strtol(value.c_str(), &end, 10);
      if (*end != '\0' || n < 1 || n > 100000) {
        std::fprintf(stderr, "hf_config_bench: --runs: expected an integer in [1, 100000], got '%s'\n",
                     value.c_str());
        return 2;
      }
      runs = static_cast<int>(n);
    } else if (arg == "--json") {
      json_path = value;
    } else {
      std::fprintf(stderr, "hf_config_bench: unknown option '%s'\n", arg.c_str());
      return 2;
    }
  }
  nlohmann::json rows = nlohmann::json::array();
  std::printf("| config | tensors | parameters | min ms | median ms | max ms |\n");
  std::printf("| --- | ---: | ---: | ---: | ---: | ---: |\n");
  for (const HfPreset& preset : HfPresets()) {
    std::vector<double> ms;
    size_t tensors = 0;
    int64_t params = 0;
    for (int r = 0; r < runs; ++r) {
      const auto start = std::chrono::steady_clock::now();
      const nlohmann::json config = nlohmann::json::parse(preset.config_json);
      StatusOr<ModelSpec> model =
          ModelSpecFromHfConfig(config, preset.file, std::string(preset.name));
      const auto stop = std::chrono::steady_clock::now();
      if (!model.ok()) {
        std::fprintf(stderr, "hf_config_bench: %s\n", model.status().ToString().c_str());
        return 1;
      }
      tensors = model->params.size();
      params = model->NumParams();
      ms.push_back(std::chrono::duration<double, std::milli>(stop - start).count());
    }
    std::sort(ms.begin(), ms.end());
    const double median = ms[ms.size() / 2];
    std::printf("| %s | %zu | %lld | %.2f | %.2f | %.2f |\n", std::string(preset.name).c_str(),
                tensors, static_cast<long long>(params), ms.front(), median, ms.back());
    rows.push_back({{"config", preset.name},
                    {"tensors", tensors},
                    {"num_params", params},
                    {"runs", runs},
                    {"min_ms", ms.front()},
                    {"median_ms", median},
                    {"max_ms", ms.back()}});
  }
  if (!json_path.empty()) {
    std::ofstream out(json_path);
    out << rows.dump(1) << "\n";
    if (!out) {
      std::fprintf(stderr, "hf_config_bench: cannot write %s\n", json_path.c_str());
      return 1;
    }
  }
  return 0;
}

}  // namespace
}  // namespace twinsim::core

int main(int argc, char** argv) { return twinsim::core::Main(argc, argv); }
