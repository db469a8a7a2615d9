// CUDA implementation of kernels/fill_cuda.h. See Note [Bit-exact host and device] in
// kernels/README.md for the compiler flags that keep this file's arithmetic identical to the
// host's (third_party/cuda.bzl sets them).
#include <cuda_runtime.h>

#include <algorithm>
#include <string>

#include "kernels/fill_cuda.h"
#include "kernels/transform.h"

namespace twinsim::kernels {
namespace {

// Every CUDA runtime call goes through this: a failure becomes a Status naming the call.
#define TWINSIM_CUDA_RETURN_IF_ERROR(call)                                                   \
  do {                                                                                       \
    const cudaError_t twinsim_err_ = (call);                                                 \
    if (twinsim_err_ != cudaSuccess) {                                                       \
      return Status::Internal(std::string(#call) + ": " + cudaGetErrorString(twinsim_err_)); \
    }                                                                                        \
  } while (0)

// One thread per 4-element block, grid-stride. Values depend only on the element index, so
// the launch shape cannot change them.
template <DType kDType>
__global__ void FillKernel(ParamStream stream, Transform t, uint64_t begin, uint64_t end,
                           void* out) {
  const uint64_t first_block = begin / kBlockElems;
  const uint64_t blocks = (end - 1) / kBlockElems - first_block + 1;
  const uint64_t stride = static_cast<uint64_t>(gridDim.x) * blockDim.x;
  for (uint64_t i = static_cast<uint64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < blocks;
       i += stride) {
    const uint64_t block = first_block + i;
    float v[4];
    BlockValues(t, BlockWords(stream, block), v);
    const uint64_t e0 = block * kBlockElems;
    if (e0 >= begin && e0 + kBlockElems <= end) {
      for (int lane = 0; lane < 4; ++lane) StoreAs(kDType, v[lane], out, e0 + lane - begin);
    } else {
      for (int lane = 0; lane < 4; ++lane) {
        const uint64_t e = e0 + lane;
        if (e >= begin && e < end) StoreAs(kDType, v[lane], out, e - begin);
      }
    }
  }
}

__global__ void PhiloxKernel(const PhiloxCounter* ctrs, const PhiloxKey* keys, PhiloxCounter* out,
                             size_t n) {
  const size_t i = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) out[i] = Philox4x32(ctrs[i], keys[i]);
}

Status RequireDevice() {
  if (CudaDeviceCount() == 0) return Status::Unavailable(CudaUnavailableReason());
  return Status::Ok();
}

CudaLaunchShape ResolveShape(CudaLaunchShape shape, uint64_t blocks) {
  if (shape.block <= 0) shape.block = 256;
  if (shape.grid <= 0) {
    int device = 0, sms = 1;
    cudaGetDevice(&device);
    cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device);
    const uint64_t needed = (blocks + shape.block - 1) / shape.block;
    shape.grid = static_cast<int>(std::max<uint64_t>(1, std::min<uint64_t>(needed, 32ull * sms)));
  }
  return shape;
}

// A device buffer freed on scope exit.
struct DeviceBuffer {
  void* ptr = nullptr;
  ~DeviceBuffer() {
    if (ptr) cudaFree(ptr);
  }
};

}  // namespace

int CudaDeviceCount() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky error
    return 0;
  }
  return n;
}

std::string CudaUnavailableReason() {
  int n = 0;
  const cudaError_t err = cudaGetDeviceCount(&n);
  if (err != cudaSuccess) {
    cudaGetLastError();
    return std::string("no usable CUDA device (cudaGetDeviceCount: ") + cudaGetErrorString(err) +
           ")";
  }
  return n == 0 ? "no CUDA device on this machine" : "";
}

std::string CudaDeviceDescription() {
  if (CudaDeviceCount() == 0) return CudaUnavailableReason();
  cudaDeviceProp prop{};
  if (cudaGetDeviceProperties(&prop, 0) != cudaSuccess) return "unknown CUDA device";
  return std::string(prop.name) + " (sm_" + std::to_string(prop.major) +
         std::to_string(prop.minor) + ", " + std::to_string(prop.multiProcessorCount) + " SMs)";
}

Status FillRangeCuda(const ParamStream& stream, const Transform& t, DType dtype, uint64_t begin,
                     uint64_t end, void* device_out, CudaLaunchShape shape) {
  TWINSIM_RETURN_IF_ERROR(RequireDevice());
  if (end <= begin) return Status::Ok();
  const uint64_t blocks = (end - 1) / kBlockElems - begin / kBlockElems + 1;
  shape = ResolveShape(shape, blocks);
  switch (dtype) {
    case DType::kFp32:
      FillKernel<DType::kFp32><<<shape.grid, shape.block>>>(stream, t, begin, end, device_out);
      break;
    case DType::kBf16:
      FillKernel<DType::kBf16><<<shape.grid, shape.block>>>(stream, t, begin, end, device_out);
      break;
    case DType::kFp16:
      FillKernel<DType::kFp16><<<shape.grid, shape.block>>>(stream, t, begin, end, device_out);
      break;
  }
  TWINSIM_CUDA_RETURN_IF_ERROR(cudaGetLastError());
  TWINSIM_CUDA_RETURN_IF_ERROR(cudaDeviceSynchronize());
  return Status::Ok();
}

Status FillRangeCudaToHost(const ParamStream& stream, const Transform& t, DType dtype,
                           uint64_t begin, uint64_t end, void* host_out, CudaLaunchShape shape) {
  TWINSIM_RETURN_IF_ERROR(RequireDevice());
  if (end <= begin) return Status::Ok();
  const size_t bytes = (end - begin) * DTypeSize(dtype);
  DeviceBuffer buf;
  TWINSIM_CUDA_RETURN_IF_ERROR(cudaMalloc(&buf.ptr, bytes));
  TWINSIM_RETURN_IF_ERROR(FillRangeCuda(stream, t, dtype, begin, end, buf.ptr, shape));
  TWINSIM_CUDA_RETURN_IF_ERROR(cudaMemcpy(host_out, buf.ptr, bytes, cudaMemcpyDeviceToHost));
  return Status::Ok();
}

Status PhiloxCuda(const PhiloxCounter* ctrs, const PhiloxKey* keys, PhiloxCounter* out, size_t n) {
  TWINSIM_RETURN_IF_ERROR(RequireDevice());
  if (n == 0) return Status::Ok();
  DeviceBuffer d_ctrs, d_keys, d_out;
  TWINSIM_CUDA_RETURN_IF_ERROR(cudaMalloc(&d_ctrs.ptr, n * sizeof(PhiloxCounter)));
  TWINSIM_CUDA_RETURN_IF_ERROR(cudaMalloc(&d_keys.ptr, n * sizeof(PhiloxKey)));
  TWINSIM_CUDA_RETURN_IF_ERROR(cudaMalloc(&d_out.ptr, n * sizeof(PhiloxCounter)));
  TWINSIM_CUDA_RETURN_IF_ERROR(
      cudaMemcpy(d_ctrs.ptr, ctrs, n * sizeof(PhiloxCounter), cudaMemcpyHostToDevice));
  TWINSIM_CUDA_RETURN_IF_ERROR(
      cudaMemcpy(d_keys.ptr, keys, n * sizeof(PhiloxKey), cudaMemcpyHostToDevice));
  PhiloxKernel<<<static_cast<unsigned>((n + 255) / 256), 256>>>(
      static_cast<const PhiloxCounter*>(d_ctrs.ptr), static_cast<const PhiloxKey*>(d_keys.ptr),
      static_cast<PhiloxCounter*>(d_out.ptr), n);
  TWINSIM_CUDA_RETURN_IF_ERROR(cudaGetLastError());
  TWINSIM_CUDA_RETURN_IF_ERROR(
      cudaMemcpy(out, d_out.ptr, n * sizeof(PhiloxCounter), cudaMemcpyDeviceToHost));
  return Status::Ok();
}

StatusOr<CudaFillTiming> TimeFillAndCopy(const Transform& t, DType dtype, uint64_t numel,
                                         int reps) {
  TWINSIM_RETURN_IF_ERROR(RequireDevice());
  const size_t bytes = numel * DTypeSize(dtype);
  DeviceBuffer a, b;
  TWINSIM_CUDA_RETURN_IF_ERROR(cudaMalloc(&a.ptr, bytes));
  TWINSIM_CUDA_RETURN_IF_ERROR(cudaMalloc(&b.ptr, bytes));
  TWINSIM_CUDA_RETURN_IF_ERROR(cudaMemset(a.ptr, 0, bytes));
  cudaEvent_t start, stop;
  TWINSIM_CUDA_RETURN_IF_ERROR(cudaEventCreate(&start));
  TWINSIM_CUDA_RETURN_IF_ERROR(cudaEventCreate(&stop));
  const ParamStream stream{PhiloxKey{{0x1234u, 0x5678u}}, 0};
  CudaFillTiming best{1e30, 1e30};
  for (int r = 0; r < reps + 1; ++r) {  // the first run warms up
    float ms = 0;
    cudaEventRecord(start);
    cudaMemcpy(b.ptr, a.ptr, bytes, cudaMemcpyDeviceToDevice);
    cudaEventRecord(stop);
    cudaEventSynchronize(stop);
    cudaEventElapsedTime(&ms, start, stop);
    if (r > 0) best.copy_seconds = std::min(best.copy_seconds, ms * 1e-3);
    cudaEventRecord(start);
    const Status s = FillRangeCuda(stream, t, dtype, 0, numel, b.ptr);
    cudaEventRecord(stop);
    cudaEventSynchronize(stop);
    if (!s.ok()) return s;
    cudaEventElapsedTime(&ms, start, stop);
    if (r > 0) best.fill_seconds = std::min(best.fill_seconds, ms * 1e-3);
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  TWINSIM_CUDA_RETURN_IF_ERROR(cudaGetLastError());
  return best;
}

}  // namespace twinsim::kernels
