#include "tools/cli/output.h"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <random>
#include <string>

namespace twinsim::cli {
namespace {

std::string Hex(float f) {
  std::string s;
  AppendHexFloat(f, s);
  return s;
}

std::string Printf(float f) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%a", static_cast<double>(f));
  return buf;
}

TEST(AppendHexFloatTest, KnownValues) {
  EXPECT_EQ(Hex(0.1875f), "0x1.8p-3");
  EXPECT_EQ(Hex(1.0f), "0x1p+0");
  EXPECT_EQ(Hex(-2.0f), "-0x1p+1");
  EXPECT_EQ(Hex(0.0f), "0x0p+0");
  EXPECT_EQ(Hex(-0.0f), "-0x0p+0");
  EXPECT_EQ(Hex(std::numeric_limits<float>::max()), "0x1.fffffep+127");
  EXPECT_EQ(Hex(std::numeric_limits<float>::denorm_min()), "0x1p-149");
  EXPECT_EQ(Hex(std::numeric_limits<float>::infinity()), "inf");
  EXPECT_EQ(Hex(-std::numeric_limits<float>::infinity()), "-inf");
}

// The hand-written formatter must agree with glibc's printf("%a") of the widened double on
// every exponent and on random mantissas, subnormals included.
TEST(AppendHexFloatTest, MatchesPrintfOnEveryExponentAndRandomMantissas) {
  std::mt19937 gen(20261101);
  for (uint32_t sign = 0; sign < 2; ++sign) {
    for (uint32_t exponent = 0; exponent < 256; ++exponent) {
      for (int trial = 0; trial < 2000; ++trial) {
        uint32_t mantissa = gen() & 0x7fffffu;
        if (trial < 24) mantissa = trial == 0 ? 0 : (1u << (trial - 1));  // single bits
        const float f = std::bit_cast<float>((sign << 31) | (exponent << 23) | mantissa);
        if (std::isnan(f)) {
          EXPECT_EQ(Hex(f), sign ? "-nan" : "nan");
          continue;
        }
        ASSERT_EQ(Hex(f), Printf(f)) << std::bit_cast<uint32_t>(f);
      }
    }
  }
}

TEST(JsonStringTest, EscapesQuotesBackslashesAndControls) {
  std::string s;
  AppendJsonString("a\"b\\c\nd\x01\xc3\xa9", s);
  EXPECT_EQ(s, "\"a\\\"b\\\\c\\nd\\u0001\xc3\xa9\"");
}

TEST(Utf8Test, AcceptsValidRejectsInvalid) {
  EXPECT_TRUE(IsValidUtf8("layers.0.attn.wq.weight"));
  EXPECT_TRUE(IsValidUtf8("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"));  // é € 😀
  EXPECT_FALSE(IsValidUtf8("\xff"));
  EXPECT_FALSE(IsValidUtf8("\xc3"));              // truncated
  EXPECT_FALSE(IsValidUtf8("\xc0\xaf"));          // overlong '/'
  EXPECT_FALSE(IsValidUtf8("\xed\xa0\x80"));      // surrogate
  EXPECT_FALSE(IsValidUtf8("\xf4\x90\x80\x80"));  // > U+10FFFF
}

TEST(OutputTest, WritesEverythingInBlocks) {
  std::FILE* file = std::tmpfile();
  ASSERT_NE(file, nullptr);
  {
    Output out(file, /*block_bytes=*/7);
    for (int i = 0; i < 100; ++i) {
      out.AppendUnsigned(static_cast<uint64_t>(i));
      out.Append('\n');
    }
    ASSERT_TRUE(out.Finish().ok());
  }
  std::rewind(file);
  std::string expected, got;
  for (int i = 0; i < 100; ++i) expected += std::to_string(i) + "\n";
  for (int c; (c = std::fgetc(file)) != EOF;) got += static_cast<char>(c);
  std::fclose(file);
  EXPECT_EQ(got, expected);
}

TEST(OutputTest, ReportsWriteFailure) {
  std::FILE* full = std::fopen("/dev/full", "w");
  if (full == nullptr) GTEST_SKIP() << "/dev/full is not available";
  Output out(full, 16);
  for (int i = 0; i < 100; ++i) out.Append("0123456789");
  EXPECT_FALSE(out.ok());
  const Status s = out.Finish();
  std::fclose(full);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("No space left on device"), std::string::npos) << s.message();
}

}  // namespace
}  // namespace twinsim::cli
