#include "kernels/torch/cuda_layout.h"

#include <algorithm>
#include <cassert>
#include <cctype>
#include <cmath>
#include <cstring>
#include <memory>

#include "kernels/philox.h"
#include "kernels/portable_math.h"

namespace twinsim::kernels::torch {
namespace {

constexpr uint32_t kBlockSize = 256;  // block_size_bound
constexpr uint32_t kUnroll = 4;       // floats per curand_uniform4

// Known GPUs. SM counts from NVIDIA's architecture whitepapers and datasheets; maximum resident
// threads per SM from the CUDA C++ Programming Guide, "Compute Capabilities" table (2048 for
// compute capability 7.0, 8.0 and 9.0; 1536 for 8.6 and 8.9).
struct KnownProfile {
  const char* name;
  int sm_count;
  int max_threads_per_sm;
};
constexpr KnownProfile kKnownProfiles[] = {
    // NVIDIA A100 Tensor Core GPU Architecture whitepaper: 108 SMs (SXM4 and PCIe); CC 8.0.
    {"a100", 108, 2048},
    // NVIDIA H100 Tensor Core GPU Architecture whitepaper: H100 SXM5 has 132 SMs; CC 9.0.
    {"h100", 132, 2048},
    // Same whitepaper: H100 PCIe has 114 SMs.
    {"h100-pcie", 114, 2048},
    // H200 is the GH100 SXM configuration of H100 with HBM3e: 132 SMs; CC 9.0.
    {"h200", 132, 2048},
    // NVIDIA Tesla V100 GPU Architecture whitepaper: Tesla V100 (SXM2) has 80 SMs; CC 7.0.
    {"v100", 80, 2048},
    // NVIDIA Ampere GA102 GPU Architecture whitepaper: GeForce RTX 3090 has 82 SMs; CC 8.6.
    {"rtx3090", 82, 1536},
    // NVIDIA Ada GPU Architecture whitepaper: GeForce RTX 4090 has 128 SMs; CC 8.9.
    {"rtx4090", 128, 1536},
};

std::string Lowercase(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// cuRAND's Philox4_32_10 state as curand_init(seed, subsequence, offset) leaves it, reduced
// to what curand_uniform4 needs: word `position` of the thread's stream is component
// (position % 4) of Philox(counter = (position / 4) + (subsequence << 64), key = seed).
class CurandPhiloxStream {
 public:
  CurandPhiloxStream(uint64_t seed, uint64_t subsequence, uint64_t offset)
      : key_{{static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32)}},
        subsequence_(subsequence),
        position_(offset) {}

  // curand4: the next four 32-bit words.
  void Next4(uint32_t out[4]) {
    const uint64_t block = position_ / 4;
    const int skip = static_cast<int>(position_ % 4);
    const PhiloxCounter first = Block(block);
    if (skip == 0) {
      for (int i = 0; i < 4; ++i) out[i] = first.w[i];
    } else {
      const PhiloxCounter second = Block(block + 1);
      for (int i = 0; i < 4; ++i)
        out[i] = i + skip < 4 ? first.w[i + skip] : second.w[i + skip - 4];
    }
    position_ += 4;
  }

 private:
  PhiloxCounter Block(uint64_t block) const {
    const PhiloxCounter ctr{{static_cast<uint32_t>(block), static_cast<uint32_t>(block >> 32),
                             static_cast<uint32_t>(subsequence_),
                             static_cast<uint32_t>(subsequence_ >> 32)}};
    return Philox4x32(ctr, key_);
  }

  PhiloxKey key_;
  uint64_t subsequence_;
  uint64_t position_;
};

// _curand_uniform: x * 2^-32 + 2^-33 in float, in (0, 1]. The product is exact, so fused or
// not gives the same float.
float CurandUniform(uint32_t x) {
  constexpr float kInv2Pow32 = 2.3283064e-10f;  // CURAND_2POW32_INV
  static_assert(kInv2Pow32 == 0x1p-32f, "CURAND_2POW32_INV rounds to 2^-32 in float");
  return std::fma(static_cast<float>(x), kInv2Pow32, kInv2Pow32 / 2.0f);
}

// uniform_kernel's transform in float, with the multiply-add fused as nvcc emits it.
struct UniformTransform {
  float from, to, range;
  UniformTransform(double from_d, double to_d)
      : from(static_cast<float>(from_d)), to(static_cast<float>(to_d)), range(to - from) {}
  float operator()(float rand) const {
    const float value = std::fma(rand, range, from);
    return value == to ? from : value;
  }
};

void AppendSegments(int64_t begin, int64_t numel, const CudaDeviceProfile& profile,
                    int64_t max_per_launch, CudaUniformPlan& plan) {
  // distribution_nullary_kernel: policy and offset first, then either launch or split.
  const CudaLaunch launch = TorchCudaLaunch(numel, profile);
  const uint64_t offset = plan.offset_advance;
  plan.offset_advance += launch.counter_offset;
  if (numel <= max_per_launch) {
    plan.segments.push_back({begin, numel, launch, offset});
    return;
  }
  // Too large for 32-bit indexing: the call above consumed the whole tensor's offset but
  // launches nothing. SplitUntil32Bit halves the (coalesced, 1-D) shape -- the first
  // floor(n/2) elements first -- until every piece fits; each piece then runs
  // distribution_nullary_kernel itself, with its own launch shape and offset advance.
  struct Piece {
    int64_t begin, numel;
  };
  std::vector<Piece> stack = {{begin, numel}};
  while (!stack.empty()) {
    Piece p = stack.back();
    stack.pop_back();
    if (p.numel <= max_per_launch) {
      const CudaLaunch piece_launch = TorchCudaLaunch(p.numel, profile);
      plan.segments.push_back({p.begin, p.numel, piece_launch, plan.offset_advance});
      plan.offset_advance += piece_launch.counter_offset;
      continue;
    }
    const int64_t first = p.numel / 2;
    stack.push_back({p.begin + first, p.numel - first});  // processed second
    stack.push_back({p.begin, first});                    // processed first
  }
}

}  // namespace

StatusOr<CudaDeviceProfile> CudaDeviceProfileByName(std::string_view name) {
  const std::string key = Lowercase(name);
  for (const KnownProfile& p : kKnownProfiles) {
    if (key == p.name) return CudaDeviceProfile{p.name, p.sm_count, p.max_threads_per_sm};
  }
  std::string known;
  for (const std::string& n : CudaDeviceProfileNames()) known += (known.empty() ? "" : ", ") + n;
  return Status::InvalidArgument("unknown GPU profile '" + std::string(name) +
                                 "' (known: " + known + ")");
}

std::vector<std::string> CudaDeviceProfileNames() {
  std::vector<std::string> names;
  for (const KnownProfile& p : kKnownProfiles) names.emplace_back(p.name);
  return names;
}

CudaLaunch TorchCudaLaunch(int64_t numel, const CudaDeviceProfile& profile) {
  assert(numel >= 0);
  assert(profile.sm_count >= 1 && profile.max_threads_per_sm >= static_cast<int>(kBlockSize));
  if (numel == 0) return CudaLaunch{0, kBlockSize, 0};
  const uint64_t n = static_cast<uint64_t>(numel);
  const uint64_t wanted = (n + kBlockSize - 1) / kBlockSize;
  const uint64_t blocks_per_sm = static_cast<uint32_t>(profile.max_threads_per_sm) / kBlockSize;
  const uint64_t resident = static_cast<uint64_t>(profile.sm_count) * blocks_per_sm;
  // dim3 holds 32 bits; resident is far below that, so the min fits.
  const uint32_t grid = static_cast<uint32_t>(std::min(resident, wanted));
  const uint64_t per_round = uint64_t{kBlockSize} * grid * kUnroll;
  const uint64_t counter_offset = ((n - 1) / per_round + 1) * kUnroll;
  return CudaLaunch{grid, kBlockSize, counter_offset};
}

CudaUniformPlan TorchCudaUniformPlan(int64_t numel, const CudaDeviceProfile& profile,
                                     int element_size) {
  assert(numel >= 0 && element_size >= 1);
  CudaUniformPlan plan;
  if (numel == 0) return plan;
  AppendSegments(0, numel, profile, MaxElementsPer32BitLaunch(element_size), plan);
  return plan;
}

namespace {

// Runs PyTorch's grid-stride layout over `numel` elements: `transform4` turns thread t's k-th
// curand4 words into the four values of elements t + S * (4k + i), i = 0..3. The reference
// path, one thread at a time; LayoutFillBatched below computes the same values faster.
template <typename Transform4>
std::vector<float> LayoutFill(uint64_t seed, uint64_t philox_offset, int64_t numel,
                              const CudaDeviceProfile& profile, const Transform4& transform4) {
  std::vector<float> out(static_cast<size_t>(numel));
  const CudaUniformPlan plan = TorchCudaUniformPlan(numel, profile);
  for (const CudaKernelSegment& seg : plan.segments) {
    const int64_t stride = int64_t{seg.launch.grid} * seg.launch.block;
    float* data = out.data() + seg.begin;
    for (int64_t t = 0; t < stride; ++t) {
      CurandPhiloxStream stream(seed, static_cast<uint64_t>(t), philox_offset + seg.philox_offset);
      for (int64_t base = t; base < seg.numel; base += stride * kUnroll) {
        uint32_t words[4];
        stream.Next4(words);
        float values[4];
        transform4(words, values);
        for (int i = 0; i < static_cast<int>(kUnroll); ++i) {
          const int64_t li = base + stride * i;
          if (li < seg.numel) data[li] = values[i];
        }
      }
    }
  }
  return out;
}

// Note [Batched CUDA layout on the host]
// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
// Seed policies model every GPU-side init with CudaNormal/CudaUniform, so their speed bounds
// how fast the property checks run. The batched path turns the loops around: for each round k
// of the grid-stride loop, a batch of kLanes consecutive threads computes its Philox blocks
// (counter = (offset/4 + k, thread), structure of arrays), then the transform runs over the
// batch as a plain loop the compiler vectorizes, and component i of the batch lands in the
// contiguous elements S * (4k + i) + [t, t + kLanes). It needs the Philox offset to be a
// multiple of 4 (what PyTorch always passes); other offsets take the reference path.
// The float operations are the reference path's, in the same order; the fused multiply-adds
// are real fmaf (hardware FMA in the x86-64-v3 clone, libm's fmaf otherwise), so the bits
// are the same -- cuda_layout_test compares both paths.
// No clones under ThreadSanitizer: see TWINSIM_VECTOR_CLONES in kernels/fill.cc.
#if defined(__SANITIZE_THREAD__)
#define TWINSIM_LAYOUT_CLONES
#else
#define TWINSIM_LAYOUT_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#endif

constexpr int kLanes = 512;

struct LaneWords {
  alignas(64) uint32_t w[4][kLanes];
};
struct LaneValues {
  alignas(64) float v[4][kLanes];
};

TWINSIM_LAYOUT_CLONES void PhiloxLanes(PhiloxKey key, uint64_t block, uint64_t first_thread,
                                       int n, LaneWords* out) {
  const uint32_t c0 = static_cast<uint32_t>(block), c1 = static_cast<uint32_t>(block >> 32);
  for (int j = 0; j < n; ++j) {
    const uint64_t t = first_thread + static_cast<uint64_t>(j);
    const PhiloxCounter c = Philox4x32(
        PhiloxCounter{{c0, c1, static_cast<uint32_t>(t), static_cast<uint32_t>(t >> 32)}}, key);
    out->w[0][j] = c.w[0];
    out->w[1][j] = c.w[1];
    out->w[2][j] = c.w[2];
    out->w[3][j] = c.w[3];
  }
}

// CurandUniform and the uniform_ transform over lanes. x * 2^-32 is exact, so the multiply
// and add round like the fused form.
TWINSIM_LAYOUT_CLONES void UniformLanes(const LaneWords& words, int n, float from, float to,
                                        float range, LaneValues* out) {
  for (int i = 0; i < 4; ++i) {
    for (int j = 0; j < n; ++j) {
      const float rand = static_cast<float>(words.w[i][j]) * 0x1p-32f + 0x1p-33f;
      const float value = __builtin_fmaf(rand, range, from);
      out->v[i][j] = value == to ? from : value;
    }
  }
}

// cuRAND's Box-Muller (see CurandBoxMuller) on word pairs (0, 1) and (2, 3), then
// fmaf(z, std, mean).
TWINSIM_LAYOUT_CLONES void NormalLanes(const LaneWords& words, int n, float mean, float sd,
                                       LaneValues* out) {
  for (int p = 0; p < 2; ++p) {
    for (int j = 0; j < n; ++j) {
      const float u = static_cast<float>(words.w[2 * p][j]) * 0x1p-32f + 0x1p-33f;
      const float turns = static_cast<float>(words.w[2 * p + 1][j]) * 0x1p-32f + 0x1p-33f;
      const float s = Sqrt(-2.0f * Log(u));
      float sin_v, cos_v;
      SinCos2Pi(turns, &sin_v, &cos_v);
      out->v[2 * p][j] = __builtin_fmaf(sin_v * s, sd, mean);
      out->v[2 * p + 1][j] = __builtin_fmaf(cos_v * s, sd, mean);
    }
  }
}

// `transform_lanes(words, n, values)` fills values->v[i][0, n) from words->w[*][0, n).
template <typename TransformLanes>
void LayoutFillBatched(uint64_t seed, uint64_t philox_offset, const CudaDeviceProfile& profile,
                       const TransformLanes& transform_lanes, std::span<float> out,
                       int element_size) {
  const int64_t numel = static_cast<int64_t>(out.size());
  const CudaUniformPlan plan = TorchCudaUniformPlan(numel, profile, element_size);
  const PhiloxKey key{{static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32)}};
  auto words = std::make_unique<LaneWords>();
  auto values = std::make_unique<LaneValues>();
  for (const CudaKernelSegment& seg : plan.segments) {
    const int64_t stride = int64_t{seg.launch.grid} * seg.launch.block;
    const uint64_t first_block = (philox_offset + seg.philox_offset) / 4;
    float* data = out.data() + seg.begin;
    for (int64_t round = 0; round * stride * kUnroll < seg.numel; ++round) {
      const int64_t round_base = round * stride * kUnroll;
      // Threads past this bound have no element in the round.
      const int64_t threads = std::min<int64_t>(stride, seg.numel - round_base);
      for (int64_t t0 = 0; t0 < threads; t0 += kLanes) {
        const int n = static_cast<int>(std::min<int64_t>(kLanes, threads - t0));
        PhiloxLanes(key, first_block + static_cast<uint64_t>(round), static_cast<uint64_t>(t0),
                    n, words.get());
        transform_lanes(*words, n, values.get());
        for (int i = 0; i < static_cast<int>(kUnroll); ++i) {
          const int64_t begin = round_base + stride * i + t0;
          const int64_t count = std::min<int64_t>(n, seg.numel - begin);
          if (count <= 0) break;
          std::memcpy(data + begin, values->v[i], static_cast<size_t>(count) * sizeof(float));
        }
      }
    }
  }
}

// cuRAND's _curand_box_muller on two words, with twinsim's portable log and sincos (Note
// [PyTorch CUDA normal_ layout]): {sin(v) * s, cos(v) * s}.
void CurandBoxMuller(uint32_t x, uint32_t y, float* first, float* second) {
  const float u = CurandUniform(x);                         // (0, 1]
  const float turns = std::fma(static_cast<float>(y), 0x1p-32f, 0x1p-33f);  // v / (2 pi)
  const float s = std::sqrt(-2.0f * Log(u));
  float sin_v, cos_v;
  SinCos2Pi(turns, &sin_v, &cos_v);
  *first = sin_v * s;
  *second = cos_v * s;
}

}  // namespace

namespace internal {

std::vector<float> CudaUniformOneThreadAtATime(uint64_t seed, uint64_t philox_offset,
                                               int64_t numel, const CudaDeviceProfile& profile,
                                               double from, double to) {
  assert(numel >= 0 && from <= to);
  const UniformTransform transform(from, to);
  return LayoutFill(seed, philox_offset, numel, profile,
                    [&](const uint32_t words[4], float values[4]) {
                      for (int i = 0; i < 4; ++i) values[i] = transform(CurandUniform(words[i]));
                    });
}

std::vector<float> CudaNormalOneThreadAtATime(uint64_t seed, uint64_t philox_offset,
                                              int64_t numel, const CudaDeviceProfile& profile,
                                              double mean, double std) {
  assert(numel >= 0 && std >= 0);
  const float m = static_cast<float>(mean);
  const float sd = static_cast<float>(std);
  return LayoutFill(seed, philox_offset, numel, profile,
                    [&](const uint32_t words[4], float values[4]) {
                      float z[4];
                      CurandBoxMuller(words[0], words[1], &z[0], &z[1]);
                      CurandBoxMuller(words[2], words[3], &z[2], &z[3]);
                      for (int i = 0; i < 4; ++i) values[i] = std::fma(z[i], sd, m);
                    });
}

}  // namespace internal

void CudaUniformInto(uint64_t seed, uint64_t philox_offset, const CudaDeviceProfile& profile,
                     double from, double to, std::span<float> out, int element_size) {
  assert(from <= to);
  if (philox_offset % 4 != 0) {  // never from PyTorch; fp32 split (huge tensors only)
    const std::vector<float> v = internal::CudaUniformOneThreadAtATime(
        seed, philox_offset, static_cast<int64_t>(out.size()), profile, from, to);
    std::copy(v.begin(), v.end(), out.begin());
    return;
  }
  const UniformTransform transform(from, to);
  LayoutFillBatched(
      seed, philox_offset, profile,
      [&](const LaneWords& words, int n, LaneValues* values) {
        UniformLanes(words, n, transform.from, transform.to, transform.range, values);
      },
      out, element_size);
}

void CudaNormalInto(uint64_t seed, uint64_t philox_offset, const CudaDeviceProfile& profile,
                    double mean, double std, std::span<float> out, int element_size) {
  assert(std >= 0);
  if (philox_offset % 4 != 0) {  // never from PyTorch; fp32 split (huge tensors only)
    const std::vector<float> v = internal::CudaNormalOneThreadAtATime(
        seed, philox_offset, static_cast<int64_t>(out.size()), profile, mean, std);
    std::copy(v.begin(), v.end(), out.begin());
    return;
  }
  const float m = static_cast<float>(mean);
  const float sd = static_cast<float>(std);
  LayoutFillBatched(
      seed, philox_offset, profile,
      [&](const LaneWords& words, int n, LaneValues* values) { NormalLanes(words, n, m, sd, values); },
      out, element_size);
}

std::vector<float> CudaUniform(uint64_t seed, uint64_t philox_offset, int64_t numel,
                               const CudaDeviceProfile& profile, double from, double to) {
  assert(numel >= 0 && from <= to);
  std::vector<float> out(static_cast<size_t>(numel));
  CudaUniformInto(seed, philox_offset, profile, from, to, out);
  return out;
}

std::vector<float> CudaNormal(uint64_t seed, uint64_t philox_offset, int64_t numel,
                              const CudaDeviceProfile& profile, double mean, double std) {
  assert(numel >= 0 && std >= 0);
  std::vector<float> out(static_cast<size_t>(numel));
  CudaNormalInto(seed, philox_offset, profile, mean, std, out);
  return out;
}

float CudaUniformAt(uint64_t seed, uint64_t philox_offset, int64_t numel,
                    const CudaDeviceProfile& profile, int64_t index, double from, double to) {
  assert(0 <= index && index < numel && from <= to);
  const CudaUniformPlan plan = TorchCudaUniformPlan(numel, profile);
  const CudaKernelSegment* seg = &plan.segments.front();
  for (const CudaKernelSegment& s : plan.segments) {
    if (index >= s.begin && index < s.begin + s.numel) seg = &s;
  }
  const int64_t li = index - seg->begin;
  const int64_t stride = int64_t{seg->launch.grid} * seg->launch.block;
  const int64_t thread = li % stride;
  const int64_t round = li / stride;  // = 4 * (draw number) + component
  CurandPhiloxStream stream(
      seed, static_cast<uint64_t>(thread),
      philox_offset + seg->philox_offset + 4 * static_cast<uint64_t>(round / 4));
  uint32_t words[4];
  stream.Next4(words);
  return UniformTransform(from, to)(CurandUniform(words[round % 4]));
}

}  // namespace twinsim::kernels::torch
