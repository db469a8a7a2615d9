// A host model of PyTorch's CUDA uniform_: which Philox draw lands in which element.
//
// PyTorch's CUDA generator is counter-based (Philox4x32-10 through cuRAND), but its kernels
// derive the counter from the *thread* index, and the grid size comes from the GPU's SM count.
// The same seed therefore gives different tensors on an A100 and an H100. This model
// reproduces that mapping on the host, so twinsim can show the effect without a GPU;
// kernels/torch/testdata/check_torch_cuda.py checks it against a real GPU.
#ifndef TWINSIM_KERNELS_TORCH_CUDA_LAYOUT_H_
#define TWINSIM_KERNELS_TORCH_CUDA_LAYOUT_H_

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace twinsim::kernels::torch {

// Note [PyTorch CUDA uniform_ layout]
// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
// What this model assumes, read from aten/src/ATen/native/cuda/DistributionTemplates.h at
// the revisions current up to 2026 (the kernel has been stable since PyTorch 1.x; PRs that
// would change the layout -- #176584 "decouple Philox subsequence from hardware topology"
// (closed) and #194828 "size random distribution grids by unroll factor" (open, marked
// BC-breaking) -- are not in PyTorch 2.11). Checked on an H100 with PyTorch 2.11.0+cu130
// (2026-11-26, tools/gpu-check): bit-exact for uniform_ at 1,000 to 12.6 M elements, and the
// generator offset after each call of a five-call chain equals torch's get_offset().
//   * Launch (calc_execution_policy): block = 256 threads; grid = min(SMs * (max threads per
//     SM / 256), ceil(numel / 256)) -- the unroll factor does not shrink the grid;
//     counter_offset = ((numel - 1) / (block * grid * 4) + 1) * 4. The generator hands the
//     kernel its current Philox offset and advances it by counter_offset.
//   * Thread t = blockIdx * 256 + threadIdx calls curand_init(seed, subsequence = t, offset):
//     key = (seed lo, seed hi); counter = (offset / 4 lo, hi, t lo, t hi), plus offset % 4
//     words to skip. Each curand_uniform4 returns the next four 32-bit words u as
//     u * 2^-32 + 2^-33 in float, in (0, 1].
//   * Grid-stride loop with unroll 4: with stride S = grid * 256, thread t's k-th
//     curand_uniform4 fills elements t + S * (4k + i), i = 0..3 (those < numel). Small
//     tensors (numel <= S) use only the first component of one draw per thread.
//   * Transform, in float: range = to - from; value = fmaf(rand, range, from) -- nvcc
//     contracts `rand * range + from` by default (--fmad=true); then `value == to ? from :
//     value`, which maps the (0, 1] draw onto [from, to).
//   * No vectorized path for float: uniform_ goes through distribution_nullary_kernel and the
//     scalar grid-stride kernel above. (A vectorized variant with a different layout exists in
//     a downstream fork, "distribution_elementwise_grid_stride_kernel_opt"; upstream PyTorch
//     does not use it as far as we could find.)
//   * Tensors whose byte offsets overflow int32 are split by TensorIterator::with_32bit_indexing
//     into halves, first half first, recursively; the whole tensor's counter_offset is
//     consumed first, then each piece launches (and consumes) on its own. TorchCudaUniformPlan
//     models that. The limit is in bytes of the tensor being filled (can_use_32bit_indexing:
//     (numel - 1) * element size <= 2^31 - 1), so more than 2^29 float32 elements, or more than
//     2^30 bf16 / fp16 elements (a draw into params_dtype, as Megatron's GPU init does).

// The device properties calc_execution_policy reads (cudaDeviceProp).
struct CudaDeviceProfile {
  std::string name;
  int sm_count = 0;            // multiProcessorCount
  int max_threads_per_sm = 0;  // maxThreadsPerMultiProcessor
};

// The built-in profile for `name` (case-insensitive: "a100", "h100", "h100-pcie", "h200",
// "v100", "rtx3090", "rtx4090"). Fails with kInvalidArgument naming the known profiles.
StatusOr<CudaDeviceProfile> CudaDeviceProfileByName(std::string_view name);

// The names CudaDeviceProfileByName accepts, in a stable order.
std::vector<std::string> CudaDeviceProfileNames();

// One kernel launch as PyTorch computes it for a float32 uniform_/normal_/rand.
struct CudaLaunch {
  uint32_t grid = 0;
  uint32_t block = 0;
  uint64_t counter_offset = 0;  // how far the generator's Philox offset advances
};

// calc_execution_policy(numel, unroll_factor = 4) for `profile`. numel == 0 gives
// {0, 256, 0}: PyTorch launches nothing and leaves the offset alone.
// REQUIRES: numel >= 0; profile.max_threads_per_sm >= 256 and sm_count >= 1.
CudaLaunch TorchCudaLaunch(int64_t numel, const CudaDeviceProfile& profile);

// The largest float32 tensor one kernel covers: byte offsets must fit in int32.
inline constexpr int64_t kMaxFloatsPer32BitLaunch = int64_t{1} << 29;
// The same for a tensor of `element_size`-byte elements: 2^29 for 4 bytes, 2^30 for 2.
// REQUIRES: element_size >= 1.
inline constexpr int64_t MaxElementsPer32BitLaunch(int element_size) {
  return int64_t{0x7fffffff} / element_size + 1;
}

// One kernel launched by a uniform_ call: elements [begin, begin + numel) of the tensor,
// drawn from Philox offset (starting offset + philox_offset).
struct CudaKernelSegment {
  int64_t begin = 0;
  int64_t numel = 0;
  CudaLaunch launch;
  uint64_t philox_offset = 0;
};

// All launches of one float32 uniform_ call on `numel` elements, in launch order, and how far
// the call advances the generator's offset in total (what the next call starts from).
// One segment unless numel > MaxElementsPer32BitLaunch(element_size) (the size in bytes of
// one element of the tensor filled: 4 for float32, 2 for bf16 / fp16). REQUIRES: numel >= 0.
struct CudaUniformPlan {
  std::vector<CudaKernelSegment> segments;
  uint64_t offset_advance = 0;
};
CudaUniformPlan TorchCudaUniformPlan(int64_t numel, const CudaDeviceProfile& profile,
                                     int element_size = 4);

// torch.cuda.manual_seed(seed) with the generator at `philox_offset` (0 right after seeding),
// then torch.empty(numel, device='cuda').uniform_(from, to) on a GPU with `profile`, as the
// host sees the result. REQUIRES: numel >= 0; from <= to; philox_offset % 4 == 0 is what
// PyTorch always passes (other offsets follow cuRAND's skipahead and are modelled too).
std::vector<float> CudaUniform(uint64_t seed, uint64_t philox_offset, int64_t numel,
                               const CudaDeviceProfile& profile, double from = 0, double to = 1);

// Note [PyTorch CUDA normal_ layout]
// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
// normal_ launches exactly like uniform_ (same grid, same counter_offset, same grid-stride
// loop with unroll 4), but each curand4 becomes curand_normal4: Box-Muller on words (w0, w1)
// and (w2, w3), each pair giving {sin(v) * s, cos(v) * s} with u = w * 2^-32 + 2^-33,
// v = 2 pi (w' * 2^-32 + 2^-33), s = sqrt(-2 log u); then value = fma(z, std, mean). Which Philox
// words feed which element is modelled exactly; the values use twinsim's portable Log and
// SinCos2Pi where CUDA uses logf and sincosf, so they may differ from a GPU's in the last
// bits. Seed policies rely on the layout (which elements share draws, how far the offset
// moves), not on those bits; no test claims them bit-exact. Measured on an H100 against
// PyTorch 2.11 (2026-11-26): every element within 2.3e-6 * std of the GPU's, ~75% of them
// differing in some bit.

// torch.cuda.manual_seed(seed), offset `philox_offset`, then normal_(mean, std) on a float32
// tensor of `numel` elements. Advances the offset by TorchCudaUniformPlan(numel).offset_advance.
// REQUIRES: numel >= 0, std >= 0.
std::vector<float> CudaNormal(uint64_t seed, uint64_t philox_offset, int64_t numel,
                              const CudaDeviceProfile& profile, double mean, double std);

// CudaUniform / CudaNormal writing into `out` (out.size() elements) instead of a new vector.
// `element_size`: the bytes of one element of the tensor PyTorch fills (the draw is computed
// in float either way; only the 32-bit split depends on it).
void CudaUniformInto(uint64_t seed, uint64_t philox_offset, const CudaDeviceProfile& profile,
                     double from, double to, std::span<float> out, int element_size = 4);
void CudaNormalInto(uint64_t seed, uint64_t philox_offset, const CudaDeviceProfile& profile,
                    double mean, double std, std::span<float> out, int element_size = 4);

// Element `index` of the same call, without computing the others (for sampled checks of
// tensors too large to materialize). REQUIRES: 0 <= index < numel.
float CudaUniformAt(uint64_t seed, uint64_t philox_offset, int64_t numel,
                    const CudaDeviceProfile& profile, int64_t index, double from = 0,
                    double to = 1);

namespace internal {
// The reference path of CudaUniform / CudaNormal: one simulated thread at a time, exactly as
// the kernel loops. The public functions take a batched path that must give the same bits
// (Note [Batched CUDA layout on the host] in cuda_layout.cc); tests compare the two.
std::vector<float> CudaUniformOneThreadAtATime(uint64_t seed, uint64_t philox_offset,
                                               int64_t numel, const CudaDeviceProfile& profile,
                                               double from, double to);
std::vector<float> CudaNormalOneThreadAtATime(uint64_t seed, uint64_t philox_offset,
                                              int64_t numel, const CudaDeviceProfile& profile,
                                              double mean, double std);
}  // namespace internal

}  // namespace twinsim::kernels::torch

#endif  // TWINSIM_KERNELS_TORCH_CUDA_LAYOUT_H_
