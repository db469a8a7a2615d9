#include "kernels/torch/cuda_layout.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "kernels/philox.h"

namespace twinsim::kernels::torch {
namespace {

CudaDeviceProfile Profile(std::string_view name) {
  StatusOr<CudaDeviceProfile> p = CudaDeviceProfileByName(name);
  EXPECT_TRUE(p.ok()) << p.status().ToString();
  return *p;
}

// uniform_(0, 1) of one 32-bit word, written out by hand: u = w * 2^-32 + 2^-33 (exact in
// double, then rounded once to float, as the fused float expression rounds it), and 1.0 -> 0.
float HandUniform01(uint32_t word) {
  const float u =
      static_cast<float>(static_cast<double>(static_cast<float>(word)) * 0x1p-32 + 0x1p-33);
  return u == 1.0f ? 0.0f : u;
}

uint32_t PhiloxWord(uint64_t seed, uint32_t ctr_lo, uint32_t thread, int component) {
  const PhiloxCounter out =
      Philox4x32(PhiloxCounter{{ctr_lo, 0, thread, 0}},
                 PhiloxKey{{static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32)}});
  return out.w[component];
}

TEST(CudaLayoutTest, ProfilesAreLookedUpCaseInsensitively) {
  const CudaDeviceProfile a100 = Profile("A100");
  EXPECT_EQ(a100.name, "a100");
  EXPECT_EQ(a100.sm_count, 108);
  EXPECT_EQ(a100.max_threads_per_sm, 2048);
  EXPECT_EQ(Profile("h100").sm_count, 132);
  EXPECT_EQ(Profile("H200").sm_count, 132);
  EXPECT_EQ(Profile("v100").sm_count, 80);
  EXPECT_EQ(Profile("rtx3090").sm_count, 82);
  EXPECT_EQ(Profile("rtx3090").max_threads_per_sm, 1536);
  EXPECT_EQ(CudaDeviceProfileNames().size(), 7u);
}

TEST(CudaLayoutTest, UnknownProfileIsAnInvalidArgumentNamingTheKnownOnes) {
  const StatusOr<CudaDeviceProfile> p = CudaDeviceProfileByName("b200x");
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(p.status().message().find("'b200x'"), std::string::npos);
  EXPECT_NE(p.status().message().find("a100"), std::string::npos);
}

TEST(CudaLayoutTest, LaunchShapePerProfile) {
  struct Case {
    const char* gpu;
    int64_t numel;
    uint32_t grid;
    uint64_t counter_offset;
  };
  // resident blocks = SMs * (max threads per SM / 256): a100 864, h100/h200 1056, v100 640,
  // rtx3090 492. counter_offset = ((numel - 1) / (256 * grid * 4) + 1) * 4.
  const Case cases[] = {
      {"a100", 1, 1, 4},
      {"a100", 256, 1, 4},
      {"a100", 257, 2, 4},
      {"a100", 221184, 864, 4},    // exactly one element per resident thread
      {"a100", 221185, 864, 4},    // grid capped; thread 0 now also fills element 221184
      {"a100", 1000000, 864, 8},   // 999999 / 884736 = 1
      {"h100", 1000000, 1056, 4},  // 999999 / 1081344 = 0
      {"h200", 1000000, 1056, 4},
      {"v100", 1000000, 640, 8},             // 999999 / 655360 = 1
      {"rtx3090", 1000000, 492, 8},          // 999999 / 503808 = 1
      {"a100", int64_t{1} << 24, 864, 76},   // 16777215 / 884736 = 18 -> 19 rounds
      {"h100", int64_t{1} << 24, 1056, 64},  // 16777215 / 1081344 = 15 -> 16 rounds
  };
  for (const Case& c : cases) {
    const CudaLaunch l = TorchCudaLaunch(c.numel, Profile(c.gpu));
    EXPECT_EQ(l.block, 256u) << c.gpu << " " << c.numel;
    EXPECT_EQ(l.grid, c.grid) << c.gpu << " " << c.numel;
    EXPECT_EQ(l.counter_offset, c.counter_offset) << c.gpu << " " << c.numel;
  }
  const CudaLaunch empty = TorchCudaLaunch(0, Profile("a100"));
  EXPECT_EQ(empty.grid, 0u);
  EXPECT_EQ(empty.counter_offset, 0u);
}

// Why small tensors agree across GPUs: while ceil(numel / 256) is below both devices'
// resident-block caps, both launch that same grid, so thread t fills exactly element t from
// the first component of its first draw, and the SM count never enters. Once numel exceeds
// the smaller device's 256 * cap (a100: 221,184), that device wraps around its grid-stride
// loop and hands later elements to other components of other threads' draws.
TEST(CudaLayoutTest, A100AndH100AgreeOnSmallTensorsAndDivergeOnLargeOnes) {
  const CudaDeviceProfile a100 = Profile("a100"), h100 = Profile("h100");
  const std::vector<float> small_a = CudaUniform(1234, 0, 200000, a100);
  const std::vector<float> small_h = CudaUniform(1234, 0, 200000, h100);
  EXPECT_EQ(small_a, small_h);

  const int64_t n = 300000;
  const std::vector<float> big_a = CudaUniform(1234, 0, n, a100);
  const std::vector<float> big_h = CudaUniform(1234, 0, n, h100);
  int64_t first_diff = -1, diffs = 0;
  for (int64_t i = 0; i < n; ++i) {
    if (big_a[i] != big_h[i]) {
      if (first_diff < 0) first_diff = i;
      ++diffs;
    }
  }
  EXPECT_EQ(first_diff, 221184);  // a100's 864 * 256 threads
  // Past it every element comes from a different Philox word on the two devices (equal
  // floats by coincidence are possible but rare).
  EXPECT_GT(diffs, (n - 221184) * 99 / 100);
}

TEST(CudaLayoutTest, ElementsEqualADirectPhiloxEvaluation) {
  const uint64_t seed = 0x0123'4567'89ab'cdefULL;
  const CudaDeviceProfile a100 = Profile("a100");
  const int64_t n = 1000000;  // a100: grid 864, stride S = 221184, counter_offset 8
  const int64_t s = 221184;
  const std::vector<float> v = CudaUniform(seed, 0, n, a100);
  // element = thread + S * (4 * draw + component); draw k reads Philox counter (offset/4 + k).
  EXPECT_EQ(v[0], HandUniform01(PhiloxWord(seed, 0, 0, 0)));
  EXPECT_EQ(v[5 + 2 * s], HandUniform01(PhiloxWord(seed, 0, 5, 2)));
  EXPECT_EQ(v[7 + 4 * s], HandUniform01(PhiloxWord(seed, 1, 7, 0)));  // draw 1, component 0
  EXPECT_EQ(v[9 + 4 * s], HandUniform01(PhiloxWord(seed, 1, 9, 0)));
  EXPECT_EQ(v[s - 1 + 3 * s], HandUniform01(PhiloxWord(seed, 0, s - 1, 3)));

  // The next call starts 8 further on: counter 2 for the first draw.
  const std::vector<float> next = CudaUniform(seed, 8, 1000, a100);
  EXPECT_EQ(next[999], HandUniform01(PhiloxWord(seed, 2, 999, 0)));
}

TEST(CudaLayoutTest, UnalignedOffsetsFollowCurandSkipahead) {
  // offset 5 = counter 1, skip one word: thread t's first draw starts at word 1 of counter 1.
  const uint64_t seed = 99;
  const std::vector<float> v = CudaUniform(seed, 5, 512, Profile("h100"));
  for (uint32_t t : {0u, 17u, 511u}) EXPECT_EQ(v[t], HandUniform01(PhiloxWord(seed, 1, t, 1)));
}

TEST(CudaLayoutTest, ElementAtMatchesTheFullTensor) {
  for (const char* gpu : {"a100", "h100", "rtx3090"}) {
    const CudaDeviceProfile p = Profile(gpu);
    const int64_t n = 777777;
    const std::vector<float> v = CudaUniform(42, 16, n, p, -0.5, 0.25);
    for (int64_t i :
         {int64_t{0}, int64_t{1}, int64_t{221183}, int64_t{221184}, int64_t{500001}, n - 1}) {
      EXPECT_EQ(CudaUniformAt(42, 16, n, p, i, -0.5, 0.25), v[i]) << gpu << " " << i;
    }
  }
}

TEST(CudaLayoutTest, UpperBoundIsReversedOntoTheLowerBound) {
  // Near 1e6 floats are 0.0625 apart, so rand * 1 + 1e6 rounds to `to` for rand > 1 - 2^-5:
  // about 3% of draws. PyTorch maps those to `from`; nothing may equal `to`.
  const std::vector<float> v = CudaUniform(5, 0, 4096, Profile("a100"), 1e6, 1e6 + 1);
  int at_from = 0;
  for (float x : v) {
    EXPECT_NE(x, 1e6f + 1.0f);
    EXPECT_GE(x, 1e6f);
    at_from += x == 1e6f;
  }
  EXPECT_GT(at_from, 4096 * 0.03 * 0.5);
}

TEST(CudaLayoutTest, UniformRangeUsesTheFusedMultiplyAdd) {
  const CudaDeviceProfile p = Profile("h100");
  const std::vector<float> unit = CudaUniform(77, 0, 4096, p);
  const std::vector<float> ranged = CudaUniform(77, 0, 4096, p, -0.37, 0.91);
  const float from = -0.37f, to = 0.91f, range = to - from;
  for (size_t i = 0; i < unit.size(); ++i) {
    if (unit[i] == 0.0f) continue;  // a reversed 1.0
    const float want = std::fma(unit[i], range, from);
    EXPECT_EQ(ranged[i], want == to ? from : want) << i;
  }
}

TEST(CudaLayoutTest, HugeTensorsAreSplitInto32BitIndexablePieces) {
  const CudaDeviceProfile p = Profile("a100");
  const int64_t n = (int64_t{1} << 31) + 3;
  const CudaUniformPlan plan = TorchCudaUniformPlan(n, p);
  // 2^31+3 -> (2^30+1, 2^30+2) -> (2^29, 2^29+1 -> (2^28, 2^28+1)), (2^29+1 -> ..., ...)
  const std::vector<int64_t> sizes = {
      int64_t{1} << 29,       (int64_t{1} << 28), (int64_t{1} << 28) + 1, (int64_t{1} << 28),
      (int64_t{1} << 28) + 1, (int64_t{1} << 28), (int64_t{1} << 28) + 1};
  ASSERT_EQ(plan.segments.size(), sizes.size());
  int64_t begin = 0;
  uint64_t offset = TorchCudaLaunch(n, p).counter_offset;  // the whole tensor's, consumed first
  for (size_t i = 0; i < sizes.size(); ++i) {
    const CudaKernelSegment& seg = plan.segments[i];
    EXPECT_EQ(seg.begin, begin) << i;
    EXPECT_EQ(seg.numel, sizes[i]) << i;
    EXPECT_EQ(seg.philox_offset, offset) << i;
    EXPECT_EQ(seg.launch.grid, 864u) << i;
    begin += seg.numel;
    offset += seg.launch.counter_offset;
  }
  EXPECT_EQ(begin, n);
  EXPECT_EQ(plan.offset_advance, offset);

  // An element of the second piece: local index 1000 of a 2^28-element launch (one draw per
  // thread covers 4 * 221184 elements; 1000 < 221184, so component 0 of thread 1000).
  const uint64_t piece_offset = plan.segments[1].philox_offset;
  EXPECT_EQ(CudaUniformAt(3, 0, n, p, (int64_t{1} << 29) + 1000),
            HandUniform01(PhiloxWord(3, static_cast<uint32_t>(piece_offset / 4), 1000, 0)));
}

// TensorIterator::can_use_32bit_indexing bounds the byte offset, (numel - 1) * element size
// <= 2^31 - 1: a float32 tensor splits above 2^29 elements, a bf16 / fp16 one above 2^30
// (Megatron's GPU init draws into params_dtype; Megatron-LM d98e8a64
// megatron/core/tensor_parallel/layers.py:171-183).
TEST(CudaLayoutTest, TheThirtyTwoBitSplitIsInBytesOfTheFilledTensor) {
  const CudaDeviceProfile p = Profile("h100");
  EXPECT_EQ(MaxElementsPer32BitLaunch(4), int64_t{1} << 29);
  EXPECT_EQ(MaxElementsPer32BitLaunch(2), int64_t{1} << 30);
  const int64_t n = (int64_t{1} << 30) + 2;
  EXPECT_EQ(TorchCudaUniformPlan(int64_t{1} << 30, p, 2).segments.size(), 1u);
  EXPECT_EQ(TorchCudaUniformPlan(int64_t{1} << 30, p, 4).segments.size(), 2u);
  const CudaUniformPlan bf16 = TorchCudaUniformPlan(n, p, 2);
  ASSERT_EQ(bf16.segments.size(), 2u);
  EXPECT_EQ(bf16.segments[0].numel, (int64_t{1} << 29) + 1);
  EXPECT_EQ(bf16.segments[1].numel, (int64_t{1} << 29) + 1);
  EXPECT_EQ(bf16.segments[0].philox_offset, TorchCudaLaunch(n, p).counter_offset);
  // float32 of the same size: four pieces, and the generator advances further.
  const CudaUniformPlan fp32 = TorchCudaUniformPlan(n, p, 4);
  EXPECT_EQ(fp32.segments.size(), 4u);
  EXPECT_EQ(TorchCudaUniformPlan(n, p).offset_advance, fp32.offset_advance);
  EXPECT_NE(bf16.offset_advance, fp32.offset_advance);
}

TEST(CudaLayoutTest, SmallTensorsAreOneSegmentAdvancingByTheCounterOffset) {
  const CudaDeviceProfile p = Profile("v100");
  const CudaUniformPlan plan = TorchCudaUniformPlan(1000000, p);
  ASSERT_EQ(plan.segments.size(), 1u);
  EXPECT_EQ(plan.segments[0].philox_offset, 0u);
  EXPECT_EQ(plan.offset_advance, TorchCudaLaunch(1000000, p).counter_offset);
  EXPECT_TRUE(TorchCudaUniformPlan(0, p).segments.empty());
  EXPECT_TRUE(CudaUniform(1, 0, 0, p).empty());
}

}  // namespace
}  // namespace twinsim::kernels::torch

namespace twinsim::kernels::torch {
namespace {

// normal_ uses uniform_'s layout: with numel <= grid * 256, element t is component 0 of thread
// t's first curand_normal4, i.e. sin(2 pi v) * sqrt(-2 log u) from words 0 and 1.
// Note [Batched CUDA layout on the host]: the batched path gives the reference path's bits,
// on sizes that end mid-batch, mid-round and mid-component, on several grids and offsets.
TEST(CudaLayoutTest, BatchedPathEqualsOneThreadAtATime) {
  for (const char* gpu : {"a100", "h100", "rtx3090"}) {
    const CudaDeviceProfile p = Profile(gpu);
    for (int64_t n : {int64_t{0}, int64_t{1}, int64_t{255}, int64_t{513}, int64_t{4099},
                      int64_t{221185}, int64_t{777777}, int64_t{2 * 1048576 + 3}}) {
      for (uint64_t offset : {uint64_t{0}, uint64_t{8}, uint64_t{1236}}) {
        const std::vector<float> u = CudaUniform(7, offset, n, p, -0.5, 0.25);
        const std::vector<float> u_ref =
            internal::CudaUniformOneThreadAtATime(7, offset, n, p, -0.5, 0.25);
        ASSERT_EQ(u.size(), u_ref.size());
        EXPECT_TRUE(u.empty() ||
                    std::memcmp(u.data(), u_ref.data(), u.size() * sizeof(float)) == 0)
            << gpu << " uniform n=" << n << " offset=" << offset;
        const std::vector<float> z = CudaNormal(7, offset, n, p, 0.1, 0.02);
        const std::vector<float> z_ref =
            internal::CudaNormalOneThreadAtATime(7, offset, n, p, 0.1, 0.02);
        ASSERT_EQ(z.size(), z_ref.size());
        EXPECT_TRUE(z.empty() ||
                    std::memcmp(z.data(), z_ref.data(), z.size() * sizeof(float)) == 0)
            << gpu << " normal n=" << n << " offset=" << offset;
      }
    }
  }
}

TEST(CudaLayoutTest, NormalUsesTheUniformLayoutAndBoxMullerOnWordPairs) {
  const CudaDeviceProfile p = Profile("a100");
  const int64_t n = 5000;
  const std::vector<float> z = CudaNormal(11, 8, n, p, 0.0, 1.0);
  const std::vector<float> shifted = CudaNormal(11, 8, n, p, 1.5, 2.0);
  for (int64_t t : {int64_t{0}, int64_t{1}, int64_t{4999}}) {
    const uint32_t w0 = PhiloxWord(11, 2, static_cast<uint32_t>(t), 0);
    const uint32_t w1 = PhiloxWord(11, 2, static_cast<uint32_t>(t), 1);
    const double u = w0 * 0x1p-32 + 0x1p-33;
    const double v = 2 * 3.14159265358979323846 * (w1 * 0x1p-32 + 0x1p-33);
    const double expected = std::sin(v) * std::sqrt(-2 * std::log(u));
    EXPECT_NEAR(z[t], expected, 1e-5 * (1 + std::fabs(expected))) << t;
    EXPECT_FLOAT_EQ(shifted[t], std::fma(z[t], 2.0f, 1.5f)) << t;
  }
  double sum = 0, sum2 = 0;
  for (float x : z) sum += x, sum2 += double{x} * x;
  EXPECT_NEAR(sum / n, 0.0, 0.06);
  EXPECT_NEAR(sum2 / n, 1.0, 0.08);
}

}  // namespace
}  // namespace twinsim::kernels::torch
