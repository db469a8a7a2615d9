// GPU fill throughput against the device's own copy bandwidth, measured in the same run.
// Prints one JSON object; exits 0 with {"skipped": reason} where there is no GPU.
//   bazel run //kernels:fill_cuda_bench -- [--numel N] [--reps R]
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "kernels/fill.h"
#include "kernels/fill_cuda.h"

int main(int argc, char** argv) {
  using namespace twinsim::kernels;
  uint64_t numel = uint64_t{1} << 28;
  int reps = 10;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--help")) {
      std::printf(
          "usage: fill_cuda_bench [--numel N] [--reps R]\n"
          "Times the CUDA fill (normal, uniform; fp32, bf16) against a device-to-device\n"
          "cudaMemcpy of the same bytes and prints JSON.\n");
      return 0;
    } else if (!std::strcmp(argv[i], "--numel") && i + 1 < argc) {
      numel = std::strtoull(argv[++i], nullptr, 10);
    } else if (!std::strcmp(argv[i], "--reps") && i + 1 < argc) {
      reps = std::atoi(argv[++i]);
    } else {
      std::fprintf(stderr, "fill_cuda_bench: unknown argument '%s' (see --help)\n", argv[i]);
      return 2;
    }
  }
  if (CudaDeviceCount() == 0) {
    std::printf("{\"skipped\": \"%s\"}\n", CudaUnavailableReason().c_str());
    return 0;
  }
  std::printf("{\"device\": \"%s\", \"numel\": %llu, \"results\": [\n",
              CudaDeviceDescription().c_str(), static_cast<unsigned long long>(numel));
  const char* const specs[] = {"normal", "uniform"};
  bool first = true;
  for (const char* spec : specs) {
    for (DType dtype : {DType::kFp32, DType::kBf16}) {
      const Transform t = *Resolve(*twinsim::core::ParseInitSpec(spec));
      auto timing = TimeFillAndCopy(t, dtype, numel, reps);
      if (!timing.ok()) {
        std::fprintf(stderr, "fill_cuda_bench: %s\n", timing.status().ToString().c_str());
        return 1;
      }
      const double bytes = static_cast<double>(numel * DTypeSize(dtype));
      // A copy reads and writes `bytes`; a fill only writes them.
      const double copy_bw = 2 * bytes / timing->copy_seconds;
      const double fill_bw = bytes / timing->fill_seconds;
      std::printf(
          "%s  {\"dist\": \"%s\", \"dtype\": \"%s\", \"fill_elems_per_s\": %.4g, "
          "\"fill_write_bytes_per_s\": %.4g, \"copy_bytes_per_s\": %.4g, "
          "\"fill_time_over_copy_time\": %.4f}",
          first ? "" : ",\n", spec, std::string(DTypeName(dtype)).c_str(),
          numel / timing->fill_seconds, fill_bw, copy_bw,
          timing->fill_seconds / timing->copy_seconds);
      first = false;
    }
  }
  std::printf("\n]}\n");
  return 0;
}
