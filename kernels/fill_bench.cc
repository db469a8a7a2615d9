// Host fill throughput (elements per second) per distribution and dtype, on one thread and
// on every hardware thread. tools/bench_fill_vs_torch runs this beside torch's CPU
// normal_/uniform_ in the same run and prints the ratios.
//
//   bazel run -c opt //kernels:fill_bench -- --benchmark_format=json
#include <benchmark/benchmark.h>

#include <string>
#include <thread>
#include <vector>

#include "kernels/fill.h"

namespace twinsim::kernels {
namespace {

constexpr uint64_t kNumel = uint64_t{1} << 24;

void RunFill(benchmark::State& state, const char* spec_text, DType dtype, int threads) {
  const Transform t = *Resolve(*core::ParseInitSpec(spec_text));
  const ParamStream s{DeriveParamKey(0, "bench.weight"), 0};
  std::vector<uint8_t> out(kNumel * DTypeSize(dtype));
  for (auto _ : state) {
    FillRangeParallel(s, t, dtype, 0, kNumel, out.data(), threads);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * kNumel));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * kNumel * DTypeSize(dtype)));
}

void Register() {
  const int all = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  struct Dist {
    const char* name;
    const char* spec;
  };
  const Dist dists[] = {
      {"uniform", "uniform"}, {"normal", "normal"}, {"trunc_normal", "trunc_normal"}};
  for (const Dist& d : dists) {
    for (DType dtype : {DType::kFp32, DType::kBf16}) {
      if (dtype != DType::kFp32 && std::string(d.name) != "normal") continue;
      for (int threads : {1, all}) {
        const std::string name = std::string("BM_Fill") +
                                 (dtype == DType::kFp32 ? "Fp32/" : "Bf16/") + d.name +
                                 "/threads:" + std::to_string(threads);
        benchmark::RegisterBenchmark(name.c_str(), RunFill, d.spec, dtype, threads)
            ->Unit(benchmark::kMillisecond)
            ->UseRealTime()
            ->MinTime(0.5);
        if (all == 1) break;
      }
    }
  }
}

}  // namespace
}  // namespace twinsim::kernels

int main(int argc, char** argv) {
  twinsim::kernels::Register();
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
