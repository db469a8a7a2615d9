// The element-wise fill on NVIDIA GPUs: the same transform.h arithmetic as the host fill,
// compiled by nvcc without contraction, so every value equals the host's bit for bit.
//
// All functions report "no GPU" as a Status (kUnavailable) and never abort, so code and tests
// built with this library run on machines without a GPU and skip what needs one.
#ifndef TWINSIM_KERNELS_FILL_CUDA_H_
#define TWINSIM_KERNELS_FILL_CUDA_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "core/status.h"
#include "kernels/dtype.h"
#include "kernels/philox.h"
#include "kernels/transform.h"

namespace twinsim::kernels {

// Number of usable CUDA devices; 0 without a driver or device. Never fails.
int CudaDeviceCount();
// Why CudaDeviceCount() is 0 ("no CUDA driver: ..."), or "" when a device is present.
std::string CudaUnavailableReason();
// "NVIDIA H100 80GB HBM3 (sm_90, 132 SMs)" for device 0, or the unavailable reason.
std::string CudaDeviceDescription();

// Launch shape for FillRangeCuda; 0 picks a default from the device (grid-stride loop).
struct CudaLaunchShape {
  int grid = 0;
  int block = 0;
};

// Fills elements [begin, end) into `device_out` (device memory for end - begin elements of
// `dtype`) on the current device, synchronously. Every launch shape gives the same bits.
// Returns kUnavailable without a GPU, kInternal on a CUDA error (with its message).
Status FillRangeCuda(const ParamStream& stream, const Transform& t, DType dtype, uint64_t begin,
                     uint64_t end, void* device_out, CudaLaunchShape shape = {});

// As FillRangeCuda, into host memory `host_out` (through a temporary device buffer).
Status FillRangeCudaToHost(const ParamStream& stream, const Transform& t, DType dtype,
                           uint64_t begin, uint64_t end, void* host_out,
                           CudaLaunchShape shape = {});

// Philox4x32-10 of n (counter, key) pairs evaluated on the GPU, for known-answer checks.
Status PhiloxCuda(const PhiloxCounter* ctrs, const PhiloxKey* keys, PhiloxCounter* out, size_t n);

// Timings for the GPU benchmark: device-to-device cudaMemcpy of `bytes` and a fill of `numel`
// elements, each the best of `reps` runs, in seconds (CUDA events).
struct CudaFillTiming {
  double copy_seconds = 0;
  double fill_seconds = 0;
};
StatusOr<CudaFillTiming> TimeFillAndCopy(const Transform& t, DType dtype, uint64_t numel, int reps);

}  // namespace twinsim::kernels

#endif  // TWINSIM_KERNELS_FILL_CUDA_H_
