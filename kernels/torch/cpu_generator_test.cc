#include "kernels/torch/cpu_generator.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

namespace twinsim::kernels::torch {
namespace {

// Golden values below were printed by Debian's PyTorch 1.13.1 (python3-torch) on x86-64 with
// AVX2, e.g. `torch.manual_seed(0); [float(x).hex() for x in torch.rand(5).tolist()]`; the
// ones marked DEFAULT ran under ATEN_CPU_CAPABILITY=default. torch_oracle_test re-checks the
// model against a live PyTorch with random seeds and shapes.

void ExpectBitsEqual(const std::vector<float>& got, const std::vector<float>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i], want[i]) << "element " << i << ": got " << std::hexfloat << got[i]
                               << ", want " << want[i];
  }
}

TEST(CpuGeneratorTest, MatchesStdMt19937OnTheLow32BitsOfTheSeed) {
  for (uint64_t seed : {uint64_t{0}, uint64_t{5489}, uint64_t{0x1234'5678'9abc'def0}}) {
    CpuGenerator gen(seed);
    std::mt19937 ref(static_cast<uint32_t>(seed));
    for (int i = 0; i < 2000; ++i) ASSERT_EQ(gen.Random(), ref()) << "seed " << seed << " i " << i;
  }
}

TEST(CpuGeneratorTest, TenThousandthOutputOfDefaultSeedIsTheStandardValue) {
  // C++11 [rand.predef]: the 10000th output of a default-constructed mt19937 is 4123659995.
  CpuGenerator gen(5489);
  uint32_t v = 0;
  for (int i = 0; i < 10000; ++i) v = gen.Random();
  EXPECT_EQ(v, 4123659995u);
}

TEST(CpuGeneratorTest, Random64PutsTheFirstDrawInTheHighHalf) {
  CpuGenerator a(7), b(7);
  const uint64_t hi = a.Random(), lo = a.Random();
  EXPECT_EQ(b.Random64(), (hi << 32) | lo);
}

TEST(CpuGeneratorTest, ManualSeedRestartsTheStreamAndDropsTheCachedNormal) {
  CpuGenerator gen(11);
  std::vector<float> first(3);
  FillNormal(gen, first, 0.0, 1.0);  // odd count: leaves one cached sample
  ASSERT_TRUE(gen.next_double_normal_sample().has_value());
  gen.ManualSeed(11);
  EXPECT_FALSE(gen.next_double_normal_sample().has_value());
  std::vector<float> again(3);
  FillNormal(gen, again, 0.0, 1.0);
  ExpectBitsEqual(again, first);
}

TEST(CpuGeneratorTest, SeedsEqualModulo2Pow32GiveTheSameStream) {
  ExpectBitsEqual(Rand(uint64_t{1} << 32 | 5, 100), Rand(5, 100));
  EXPECT_EQ(CpuGenerator(uint64_t{1} << 32 | 5).seed(), uint64_t{1} << 32 | 5);
}

TEST(CpuGeneratorTest, RandMatchesTorch) {
  // torch.manual_seed(0); torch.rand(5) == [0.4963, 0.7682, 0.0885, 0.1320, 0.3074]
  ExpectBitsEqual(Rand(0, 5),
                  {0x1.fc2abp-2f, 0x1.89545ep-1f, 0x1.6a675p-4f, 0x1.0e66p-3f, 0x1.3acd0cp-2f});
}

TEST(CpuGeneratorTest, UniformMatchesTorchUnderBothCapabilities) {
  // torch.manual_seed(42); torch.empty(6).uniform_(-2.5, 0.75)
  ExpectBitsEqual(Uniform(42, 6, -2.5, 0.75, CpuCapability::kAvx2),
                  {0x1.78312ep-2f, 0x1.e52218p-2f, -0x1.417514p+0f, 0x1.3c48dcp-1f, -0x1.3b25a8p+0f,
                   -0x1.181c32p-1f});
  // DEFAULT: the product and the sum rounded separately.
  ExpectBitsEqual(Uniform(42, 6, -2.5, 0.75, CpuCapability::kDefault),
                  {0x1.78313p-2f, 0x1.e5221p-2f, -0x1.417514p+0f, 0x1.3c48d8p-1f, -0x1.3b25a8p+0f,
                   -0x1.181c34p-1f});
}

TEST(CpuGeneratorTest, UniformStaysInsideTheRange) {
  for (float v : Uniform(9, 10000, -0.125, 0.125)) {
    EXPECT_GE(v, -0.125f);
    EXPECT_LE(v, 0.125f);  // float rounding may reach `to`, as in PyTorch
  }
}

TEST(CpuGeneratorTest, NormalScalarPathMatchesTorch) {
  // torch.manual_seed(1); torch.empty(5).normal_(0.5, 2.0): at::normal_distribution<double>,
  // the same under every capability.
  ExpectBitsEqual(Normal(1, 5, 0.5, 2.0),
                  {0x1.d29ccp+0f, 0x1.08aa46p+0f, 0x1.3f2852p-1f, 0x1.be1d4ep+0f, -0x1.9d80ep-2f});
}

TEST(CpuGeneratorTest, NormalVectorLayoutMatchesTorchDefaultCapability) {
  // DEFAULT: torch.manual_seed(1); torch.empty(20).normal_(): one full group of 16, then the
  // last 16 elements redrawn (20 % 16 != 0).
  ExpectBitsEqual(
      Normal(1, 20, 0.0, 1.0),
      {-0x1.868d74p+0f, -0x1.801e62p-1f, -0x1.4ed696p-1f, -0x1.9c0734p+0f, 0x1.bb3c08p-1f,
       0x1.f48a0ep-3f,  -0x1.536928p-1f, 0x1.9d5782p-1f,  0x1.c1ae54p-2f,  0x1.2bd3dp+0f,
       0x1.c4761ep+0f,  -0x1.869a2cp-4f, 0x1.f4fbecp-5f,  -0x1.3c4902p-1f, -0x1.989c9p-1f,
       -0x1.0d9078p-3f, -0x1.98cd1ap-1f, 0x1.57c9bep-2f,  0x1.19f108p-2f,  0x1.b75f9cp+0f});
}

TEST(CpuGeneratorTest, NormalTailGroupUsesFreshUniforms) {
  // 16 + 4 elements draw 20 + 16 uniforms; the first 4 outputs come from the first group.
  CpuGenerator gen(3);
  std::vector<float> v(20);
  FillNormal(gen, v, 0.0, 1.0);
  CpuGenerator probe(3);
  for (int i = 0; i < 36; ++i) probe.Random();
  EXPECT_EQ(gen.Random(), probe.Random());
  const std::vector<float> sixteen = Normal(3, 16, 0.0, 1.0);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(v[i], sixteen[i]) << i;
}

TEST(CpuGeneratorTest, KaimingBoundForLinearIsOneOverSqrtFanIn) {
  // a = sqrt(5): gain = sqrt(1/3), so bound = sqrt(3) * sqrt(1/3) / sqrt(fan_in) ~ 1/sqrt(n).
  for (int64_t fan_in : {1, 3, 64, 1000}) {
    EXPECT_NEAR(KaimingUniformBound(fan_in, std::sqrt(5.0)), 1.0 / std::sqrt(fan_in), 1e-15);
  }
}

TEST(CpuGeneratorTest, LinearMatchesTorch) {
  // torch.manual_seed(3); torch.nn.Linear(3, 2)
  const LinearParams avx2 = Linear(3, 2, 3);
  ExpectBitsEqual(avx2.weight, {-0x1.25152cp-1f, -0x1.d2614ap-2f, -0x1.fa7206p-3f, -0x1.17aadep-1f,
                                -0x1.0c822ap-5f, -0x1.040fecp-1f});
  ExpectBitsEqual(avx2.bias, {0x1.417532p-2f, 0x1.202744p-2f});
  const LinearParams plain = Linear(3, 2, 3, true, CpuCapability::kDefault);  // DEFAULT
  ExpectBitsEqual(plain.weight, {-0x1.25152cp-1f, -0x1.d2614ap-2f, -0x1.fa7208p-3f, -0x1.17aadep-1f,
                                 -0x1.0c822p-5f, -0x1.040fecp-1f});
  ExpectBitsEqual(plain.bias, {0x1.417534p-2f, 0x1.202744p-2f});
}

TEST(CpuGeneratorTest, LinearWithoutBiasDrawsOnlyTheWeight) {
  const LinearParams p = Linear(3, 2, 3, /*bias=*/false);
  EXPECT_TRUE(p.bias.empty());
  ExpectBitsEqual(p.weight, Linear(3, 2, 3).weight);
}

TEST(CpuGeneratorTest, LinearDrawsWeightThenBiasFromOneStream) {
  CpuGenerator gen(8);
  const LinearParams p = InitLinear(gen, 4, 5);
  CpuGenerator again(8);
  std::vector<float> w(20), b(4);
  FillUniform(again, w, -KaimingUniformBound(5, std::sqrt(5.0)),
              KaimingUniformBound(5, std::sqrt(5.0)));
  FillUniform(again, b, -1.0 / std::sqrt(5.0), 1.0 / std::sqrt(5.0));
  ExpectBitsEqual(p.weight, w);
  ExpectBitsEqual(p.bias, b);
  EXPECT_EQ(gen.Random(), again.Random());
}

TEST(CpuGeneratorTest, ZeroSizedShapesDrawNothing) {
  EXPECT_TRUE(Rand(1, 0).empty());
  EXPECT_TRUE(Normal(1, 0, 0, 1).empty());
  const LinearParams p = Linear(1, 0, 4);
  EXPECT_TRUE(p.weight.empty());
  EXPECT_TRUE(p.bias.empty());
  const LinearParams no_inputs = Linear(1, 3, 0);
  EXPECT_TRUE(no_inputs.weight.empty());
  ExpectBitsEqual(no_inputs.bias, {0.0f, 0.0f, 0.0f});
}

}  // namespace
}  // namespace twinsim::kernels::torch
