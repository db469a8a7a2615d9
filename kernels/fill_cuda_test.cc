// The CUDA fill equals the host fill bit for bit: Random123's Philox vectors on the device,
// every value of the known-answer file, sub-ranges, launch shapes and a gpt2-sized matrix.
// Skips, saying why, on a machine without a GPU.
#include "kernels/fill_cuda.h"

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "kernels/fill.h"
#include "kernels/kat_file.h"

namespace twinsim::kernels {
namespace {

class FillCudaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (CudaDeviceCount() == 0) GTEST_SKIP() << "GPU test skipped: " << CudaUnavailableReason();
    std::printf("device: %s\n", CudaDeviceDescription().c_str());
  }
};

TEST(FillCudaNoDeviceTest, DeviceQueriesNeverFail) {
  const int n = CudaDeviceCount();
  EXPECT_GE(n, 0);
  EXPECT_EQ(n == 0, !CudaUnavailableReason().empty());
  if (n == 0) {
    std::vector<float> out(8);
    const Status s =
        FillRangeCudaToHost(ParamStream{}, Transform{}, DType::kFp32, 0, 8, out.data());
    EXPECT_EQ(s.code(), StatusCode::kUnavailable);
  }
}

TEST_F(FillCudaTest, PhiloxMatchesRandom123OnTheDevice) {
  const PhiloxCounter ctrs[] = {{{0, 0, 0, 0}},
                                {{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}},
                                {{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}}};
  const PhiloxKey keys[] = {{{0, 0}}, {{0xffffffff, 0xffffffff}}, {{0xa4093822, 0x299f31d0}}};
  const uint32_t want[3][4] = {{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8},
                               {0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd},
                               {0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}};
  PhiloxCounter out[3];
  ASSERT_TRUE(PhiloxCuda(ctrs, keys, out, 3).ok());
  for (int i = 0; i < 3; ++i) {
    for (int w = 0; w < 4; ++w) EXPECT_EQ(out[i].w[w], want[i][w]) << i << "," << w;
  }
}

TEST_F(FillCudaTest, DeviceFillReproducesTheKnownAnswerFile) {
  StatusOr<std::vector<KatCase>> cases = ReadKatFile("kernels/testdata/fill_kat.txt");
  ASSERT_TRUE(cases.ok()) << cases.status().ToString();
  size_t checked = 0;
  for (const KatCase& c : *cases) {
    const uint64_t n = c.bits.size();
    std::vector<uint8_t> buf(n * DTypeSize(c.dtype));
    const Status s = FillRangeCudaToHost(c.Stream(), *c.ResolvedTransform(), c.dtype, c.begin,
                                         c.begin + n, buf.data());
    ASSERT_TRUE(s.ok()) << s.ToString();
    for (uint64_t i = 0; i < n; ++i) {
      ASSERT_EQ(ElementBits(c.dtype, buf.data(), i), c.bits[i])
          << c.param << " " << c.spec << " " << DTypeName(c.dtype) << " element " << c.begin + i;
    }
    checked += n;
  }
  std::printf("checked %zu known answers on the GPU\n", checked);
}

TEST_F(FillCudaTest, LaunchShapeAndSubRangeDoNotChangeAnyBit) {
  const char* const specs[] = {"normal:std=0.02", "uniform:a=-1,b=1", "trunc_normal"};
  const ParamStream s{DeriveParamKey(7, "h.0.mlp.c_fc.weight"), 0};
  constexpr uint64_t kBegin = 3, kEnd = 100003;
  for (const char* spec : specs) {
    const Transform t = *Resolve(*core::ParseInitSpec(spec));
    for (DType dtype : {DType::kFp32, DType::kBf16, DType::kFp16}) {
      std::vector<uint8_t> host((kEnd - kBegin) * DTypeSize(dtype));
      FillRange(s, t, dtype, kBegin, kEnd, host.data());
      for (CudaLaunchShape shape : {CudaLaunchShape{1, 32}, CudaLaunchShape{7, 96},
                                    CudaLaunchShape{0, 0}, CudaLaunchShape{4096, 1024}}) {
        std::vector<uint8_t> dev(host.size(), 0xCD);
        ASSERT_TRUE(FillRangeCudaToHost(s, t, dtype, kBegin, kEnd, dev.data(), shape).ok());
        ASSERT_EQ(std::memcmp(host.data(), dev.data(), host.size()), 0)
            << spec << " " << DTypeName(dtype) << " grid " << shape.grid << " block "
            << shape.block;
      }
    }
  }
}

TEST_F(FillCudaTest, Gpt2SmallEmbeddingEqualsTheHostFill) {
  // wte of gpt2-small: [50257, 768], normal(0, 0.02), 38.6M elements.
  constexpr uint64_t kNumel = 50257ull * 768;
  const ParamStream s{DeriveParamKey(42, "transformer.wte.weight"), 0};
  const Transform t = *Resolve(*core::ParseInitSpec("normal:std=0.02"));
  std::vector<float> host(kNumel), dev(kNumel);
  FillRangeParallel(s, t, DType::kFp32, 0, kNumel, host.data(), 0);
  ASSERT_TRUE(FillRangeCudaToHost(s, t, DType::kFp32, 0, kNumel, dev.data()).ok());
  ASSERT_EQ(std::memcmp(host.data(), dev.data(), kNumel * sizeof(float)), 0);
}

}  // namespace
}  // namespace twinsim::kernels
