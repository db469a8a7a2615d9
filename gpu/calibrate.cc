#include "gpu/calibrate.h"

#include <cuda_runtime_api.h>
#include <fmt/format.h>

#include <algorithm>
#include <ctime>
#include <memory>
#include <vector>

#include "core/fill_request.h"
#include "gpu/cuda_check.h"
#include "gpu/cuda_device.h"

namespace twinsim::gpu {

StatusOr<core::Calibration> MeasureCalibration(const CalibrateOptions& options) {
  if (options.bytes < (uint64_t{1} << 20) || options.reps < 1) {
    return Status::InvalidArgument("calibrate: bytes must be at least 1 MiB and reps at least 1");
  }
  const uint64_t n = options.bytes;
  CudaDeviceOptions device_options;
  device_options.ordinal = options.ordinal;
  device_options.capacity = 0;  // the GPU's free memory
  device_options.pinned_capacity = n + (uint64_t{64} << 20);
  TWINSIM_ASSIGN_OR_RETURN(std::unique_ptr<CudaDevice> device,
                           CudaDevice::Create(-1, device_options));
  TWINSIM_ASSIGN_OR_RETURN(core::Buffer a, core::AllocateOrError(*device, n, "calibrate"));
  TWINSIM_ASSIGN_OR_RETURN(core::Buffer b, core::AllocateOrError(*device, n, "calibrate"));
  TWINSIM_ASSIGN_OR_RETURN(PinnedAllocation pinned, device->AllocatePinned(n, "calibrate"));
  if (!pinned.fits()) return Status::ResourceExhausted(pinned.oom->ToString());
  std::vector<std::byte> pageable(n, std::byte{1});
  TWINSIM_ASSIGN_OR_RETURN(void* da,
                           device->DevicePointer(core::BufferRegion::Whole(a), "calibrate"));
  TWINSIM_ASSIGN_OR_RETURN(void* db,
                           device->DevicePointer(core::BufferRegion::Whole(b), "calibrate"));

  // Best time of `reps` (the first run warms up and is dropped).
  auto best = [&](TransferClass cls, void* dst, const void* src,
                  uint64_t bytes) -> StatusOr<double> {
    double t = 1e30;
    for (int r = 0; r <= options.reps; ++r) {
      TWINSIM_ASSIGN_OR_RETURN(Transfer x, device->TimedMemcpy(cls, dst, src, bytes));
      if (r > 0) t = std::min(t, x.seconds);
    }
    return t;
  };
  core::Calibration c;
  TWINSIM_ASSIGN_OR_RETURN(double h2d, best(TransferClass::kH2D, da, pinned.ptr, n));
  TWINSIM_ASSIGN_OR_RETURN(double d2h, best(TransferClass::kD2H, pinned.ptr, da, n));
  TWINSIM_ASSIGN_OR_RETURN(double h2d_pageable, best(TransferClass::kH2D, da, pageable.data(), n));
  TWINSIM_ASSIGN_OR_RETURN(double d2h_pageable, best(TransferClass::kD2H, pageable.data(), da, n));
  TWINSIM_ASSIGN_OR_RETURN(double d2d, best(TransferClass::kD2D, db, da, n));
  TWINSIM_ASSIGN_OR_RETURN(double latency, best(TransferClass::kH2D, da, pinned.ptr, 4096));
  c.h2d_pinned_bytes_per_s = n / h2d;
  c.d2h_pinned_bytes_per_s = n / d2h;
  c.h2d_pageable_bytes_per_s = n / h2d_pageable;
  c.d2h_pageable_bytes_per_s = n / d2h_pageable;
  c.d2d_copy_bytes_per_s = n / d2d;
  c.copy_latency_s = latency;

  core::FillRequest fill;
  fill.transform.prim = core::Primitive::kNormal;
  fill.transform.p[1] = 1.0f;
  fill.dtype = core::DType::kFp32;
  fill.end = n / 4;
  double fill_s = 1e30;
  for (int r = 0; r <= options.reps; ++r) {
    device->ClearTransfers();
    TWINSIM_RETURN_IF_ERROR(device->Fill(core::BufferRegion::Whole(a), fill));
    if (r > 0) fill_s = std::min(fill_s, device->totals()[TransferClass::kInitKernel].seconds);
  }
  c.init_elements_per_s = static_cast<double>(fill.end) / fill_s;

  c.device = device->Info().model;
  int driver = 0;
  TWINSIM_CUDA_RETURN_IF_ERROR(cudaDriverGetVersion(&driver));
  c.driver = fmt::format("{}.{}", driver / 1000, (driver % 1000) / 10);
  const std::time_t now = std::time(nullptr);
  char date[32];
  std::strftime(date, sizeof date, "%Y-%m-%dT%H:%MZ", std::gmtime(&now));
  c.date = date;
  TWINSIM_RETURN_IF_ERROR(device->FreePinned(pinned));
  TWINSIM_RETURN_IF_ERROR(device->Free(a));
  TWINSIM_RETURN_IF_ERROR(device->Free(b));
  return c;
}

}  // namespace twinsim::gpu
