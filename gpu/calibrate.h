// Device calibration: measures the figures the sim's device model uses — PCIe each way from
// pinned and from pageable memory, device-to-device copy rate (HBM), the fp32 normal init
// kernel's throughput, a small copy's latency — on one GPU, as a core::Calibration that
// core::ApplyCalibration puts into a cluster preset. What `twinsim calibrate` runs.
#ifndef TWINSIM_GPU_CALIBRATE_H_
#define TWINSIM_GPU_CALIBRATE_H_

#include <cstdint>

#include "core/status.h"
#include "core/topology_presets.h"

namespace twinsim::gpu {

struct CalibrateOptions {
  int ordinal = 0;
  uint64_t bytes = uint64_t{256} << 20;  // per transfer; the init kernel fills bytes / 4 fp32
  int reps = 5;                          // each figure is the best of reps (after a warm-up)
};

// Measures GPU `ordinal`. Unavailable without a GPU (saying why); InvalidArgument for bytes
// below 1 MiB or reps < 1; Internal on a CUDA error. Takes about a second on an H100.
StatusOr<core::Calibration> MeasureCalibration(const CalibrateOptions& options);

}  // namespace twinsim::gpu

#endif  // TWINSIM_GPU_CALIBRATE_H_
