#include "gpu/cuda_check.h"

namespace twinsim::gpu {

Status CudaStatus(cudaError_t err, std::string_view call) {
  if (err == cudaSuccess) return Status::Ok();
  cudaGetLastError();  // a non-sticky error must not leak into the next call's check
  return Status::Internal(std::string(call) + ": " + cudaGetErrorString(err));
}

}  // namespace twinsim::gpu
