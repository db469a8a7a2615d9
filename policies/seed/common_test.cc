#include "policies/seed/common.h"

#include <gtest/gtest.h>

#include <cstring>
#include <mutex>
#include <thread>
#include <vector>

#include "core/init_spec.h"
#include "kernels/torch/cpu_generator.h"
#include "kernels/torch/cuda_layout.h"

namespace twinsim::policies::seed {
namespace {

core::InitSpec Normal(double std) {
  core::InitSpec spec;
  spec.kind = core::InitKind::kNormal;
  spec.std = std;
  return spec;
}

core::InitSpec Uniform(double a, double b) {
  core::InitSpec spec;
  spec.kind = core::InitKind::kUniform;
  spec.a = a;
  spec.b = b;
  return spec;
}

bool SameBits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() &&
         (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
}

const kernels::torch::CudaDeviceProfile kH100{"h100", 132, 2048};

// Sizes on both sides of kGenerationCacheMinElements, so the cached and the direct path both
// run: each must give what the kernels give for the same sequence of calls.
TEST(TorchGeneratorTest, CudaSequenceMatchesTheKernelsWithAndWithoutTheCache) {
  GenerationCache::Global().Clear();
  // Two equal large sizes in a row: same shape, different offsets, different tensors.
  const std::vector<size_t> sizes = {100, kGenerationCacheMinElements + 3,
                                     kGenerationCacheMinElements + 3, 5000,
                                     3 * kGenerationCacheMinElements};
  for (int round = 0; round < 2; ++round) {  // the second round is served by the cache
    TorchGenerator gen = TorchGenerator::Cuda(17, kH100);
    uint64_t offset = 0;
    for (size_t n : sizes) {
      std::vector<float> got(n);
      const auto [begin, end] = gen.Init(Normal(0.02), got);
      const std::vector<float> want =
          kernels::torch::CudaNormal(17, offset, static_cast<int64_t>(n), kH100, 0.0, 0.02);
      EXPECT_TRUE(SameBits(got, want)) << "n=" << n << " round " << round;
      EXPECT_EQ(begin, offset);
      offset += kernels::torch::TorchCudaUniformPlan(static_cast<int64_t>(n), kH100).offset_advance;
      EXPECT_EQ(end, offset);
    }
  }
  const GenerationCache::Stats stats = GenerationCache::Global().stats();
  EXPECT_EQ(stats.misses, 3u);  // the three large draws of the first round
  EXPECT_EQ(stats.hits, 3u);    // ... repeated in the second
}

TEST(TorchGeneratorTest, CpuStateAfterACachedDrawIsTheStateAfterTheDraw) {
  GenerationCache::Global().Clear();
  const size_t big = 2 * kGenerationCacheMinElements + 1;
  for (int round = 0; round < 2; ++round) {
    TorchGenerator gen = TorchGenerator::Cpu(5);
    std::vector<float> first(big), second(333);
    gen.Init(Uniform(-0.1, 0.1), first);
    gen.Init(Normal(1.0), second);
    kernels::torch::CpuGenerator ref(5);
    std::vector<float> want_first(big), want_second(333);
    kernels::torch::FillUniform(ref, want_first, -0.1, 0.1);
    kernels::torch::FillNormal(ref, want_second, 0.0, 1.0);
    EXPECT_TRUE(SameBits(first, want_first)) << "round " << round;
    EXPECT_TRUE(SameBits(second, want_second)) << "round " << round;
    EXPECT_EQ(gen.position(), ref.words_drawn()) << "round " << round;
  }
  EXPECT_EQ(GenerationCache::Global().stats().hits, 1u);
}

TEST(TorchGeneratorTest, InitBlockKeepsTheSliceOfTheFullDraw) {
  const core::Block2D block{300, 100, 50, 120, 10, 60};  // rows, cols, then the slice
  TorchGenerator a = TorchGenerator::Cuda(3, kH100), b = TorchGenerator::Cuda(3, kH100);
  std::vector<float> full(300 * 100), slice;
  a.Init(Normal(1.0), full);
  b.InitBlock(Normal(1.0), block, slice);
  EXPECT_TRUE(SameBits(slice, Slice(full, block)));
  EXPECT_EQ(a.position(), b.position());
}

TEST(GenerationCacheTest, ConcurrentCallersComputeOnceAndOldEntriesAreDropped) {
  GenerationCache cache(/*capacity_bytes=*/3 * 1000 * sizeof(float));
  int computed = 0;
  auto fill = [&](GeneratedTensor& t) {
    ++computed;
    t.values.assign(1000, 1.0f);
  };
  std::vector<std::thread> threads;
  std::mutex mu;
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&] {
      auto t = cache.GetOrCompute("k", [&](GeneratedTensor& g) {
        std::lock_guard<std::mutex> lock(mu);
        fill(g);
      });
      EXPECT_EQ(t->values.size(), 1000u);
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(computed, 1);
  for (const char* key : {"a", "b", "c"}) cache.GetOrCompute(key, fill);
  EXPECT_EQ(cache.stats().bytes, 3 * 1000 * sizeof(float));  // "k" was dropped
  cache.GetOrCompute("k", fill);
  EXPECT_EQ(computed, 5);
}

}  // namespace
}  // namespace twinsim::policies::seed
