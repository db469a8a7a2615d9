// The host fill reproduces every value of the known-answer file, through both the scalar
// reference (ElementValue) and the vectorized range fill.
#include <gtest/gtest.h>

#include <vector>

#include "kernels/fill.h"
#include "kernels/kat_file.h"

namespace twinsim::kernels {
namespace {

TEST(FillKatTest, HostFillReproducesTheKnownAnswerFile) {
  StatusOr<std::vector<KatCase>> cases = ReadKatFile("kernels/testdata/fill_kat.txt");
  ASSERT_TRUE(cases.ok()) << cases.status().ToString();
  size_t values = 0;
  for (const KatCase& c : *cases) {
    const Transform t = *c.ResolvedTransform();
    const uint64_t n = c.bits.size();
    std::vector<uint8_t> buf(n * DTypeSize(c.dtype));
    FillRange(c.Stream(), t, c.dtype, c.begin, c.begin + n, buf.data());
    for (uint64_t i = 0; i < n; ++i) {
      ASSERT_EQ(ElementBits(c.dtype, buf.data(), i), c.bits[i])
          << "seed " << c.seed << " " << c.param << " " << c.spec << " " << DTypeName(c.dtype)
          << " element " << c.begin + i;
      if (c.dtype == DType::kFp32) {
        ASSERT_EQ(FloatBits(ElementValue(c.Stream(), t, c.begin + i)), c.bits[i]);
      }
    }
    values += n;
  }
  EXPECT_GE(values, 10'000u);
  EXPECT_EQ(cases->size(), 144u);
}

TEST(FillKatTest, MalformedFilesAreRejectedWithTheLine) {
  EXPECT_EQ(ParseKatFile("case 1 x normal fp32 0 0\n").status().message(),
            "fill_kat line 1: expected 'case <seed> <param> <spec> <dtype> <draw> <begin> "
            "<count>'");
  EXPECT_EQ(ParseKatFile("# c\ncase 1 x normal fp8 0 0 1\n").status().message(),
            "fill_kat line 2: unknown dtype 'fp8' (expected fp32, bf16 or fp16)");
  EXPECT_EQ(ParseKatFile("case 1 x normal fp32 0 0 2\n3f800000 zz\n").status().message(),
            "fill_kat line 2: expected a hex value, got 'zz'");
  EXPECT_EQ(ParseKatFile("case 1 x normal fp32 0 0 2\n3f800000\n").status().message(),
            "fill_kat: last case is short of values");
}

}  // namespace
}  // namespace twinsim::kernels
