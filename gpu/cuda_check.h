// The one way twinsim's gpu/ code calls the CUDA runtime: every call goes through
// TWINSIM_CUDA_RETURN_IF_ERROR, which turns a failure into a Status naming the call and CUDA's
// message (NCCL's checks.h is the model). "No device" is a Status too, never an abort.
#ifndef TWINSIM_GPU_CUDA_CHECK_H_
#define TWINSIM_GPU_CUDA_CHECK_H_

#include <cuda_runtime_api.h>

#include <string>
#include <string_view>

#include "core/status.h"

namespace twinsim::gpu {

// Internal("<call>: <CUDA message>"), or OK for cudaSuccess. Clears CUDA's sticky last error.
Status CudaStatus(cudaError_t err, std::string_view call);

}  // namespace twinsim::gpu

#define TWINSIM_CUDA_RETURN_IF_ERROR(call)                         \
  do {                                                             \
    const cudaError_t twinsim_cuda_err_ = (call);                  \
    if (twinsim_cuda_err_ != cudaSuccess) {                        \
      return ::twinsim::gpu::CudaStatus(twinsim_cuda_err_, #call); \
    }                                                              \
  } while (0)

#endif  // TWINSIM_GPU_CUDA_CHECK_H_
