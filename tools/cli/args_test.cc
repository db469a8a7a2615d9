#include "tools/cli/args.h"

#include <gtest/gtest.h>

namespace twinsim::cli {
namespace {

TEST(ParseUint64Test, AcceptsDecimalAndHex) {
  EXPECT_EQ(*ParseUint64("--seed", "0"), 0u);
  EXPECT_EQ(*ParseUint64("--seed", "1234"), 1234u);
  EXPECT_EQ(*ParseUint64("--seed", "0x1F"), 31u);
  EXPECT_EQ(*ParseUint64("--seed", "0Xff"), 255u);
  EXPECT_EQ(*ParseUint64("--seed", "18446744073709551615"), UINT64_MAX);
  EXPECT_EQ(*ParseUint64("--seed", "0xffffffffffffffff"), UINT64_MAX);
}

TEST(ParseUint64Test, RejectsWithOptionNameAndText) {
  for (const char* bad : {"", "-5", "+5", " 5", "5 ", "5x", "0x", "1e3", "18446744073709551616",
                          "0x10000000000000000", "0xg"}) {
    const StatusOr<uint64_t> r = ParseUint64("--numel", bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(r.status().message(),
              std::string("--numel: expected a non-negative integer, got '") + bad + "'");
  }
}

TEST(ParseUint64AtMostTest, NamesTheBound) {
  EXPECT_EQ(*ParseUint64AtMost("--draw", "4294967295", UINT32_MAX), UINT32_MAX);
  const StatusOr<uint64_t> r = ParseUint64AtMost("--draw", "4294967296", UINT32_MAX);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(),
            "--draw: expected a non-negative integer <= 4294967295, got '4294967296'");
}

TEST(ParseHexWordTest, AcceptsUpToEightDigits) {
  EXPECT_EQ(*ParseHexWord32("--key", "0"), 0u);
  EXPECT_EQ(*ParseHexWord32("--key", "ffffffff"), 0xffffffffu);
  EXPECT_EQ(*ParseHexWord32("--key", "0xDEADbeef"), 0xdeadbeefu);
  for (const char* bad : {"", "0x", "123456789", "0x123456789", "-1", "xyz", "12 "}) {
    EXPECT_FALSE(ParseHexWord32("--key", bad).ok()) << bad;
  }
}

TEST(ParseHexWordsTest, RequiresTheCount) {
  const auto words = ParseHexWords32("--counter", "243f6a88,0x85a308d3,13198a2e,03707344", 4);
  ASSERT_TRUE(words.ok());
  EXPECT_EQ(*words, (std::vector<uint32_t>{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}));
  for (const char* bad : {"1,2,3", "1,2,3,4,5", "1,2,,4", "1,2,3,", "1,2,3,zz", ""}) {
    const auto r = ParseHexWords32("--counter", bad, 4);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(
        r.status().message().rfind("--counter: expected 4 comma-separated 32-bit hex words", 0), 0u)
        << r.status().message();
  }
}

TEST(ParseFiniteDoubleTest, AcceptsDecimalAndHexFloats) {
  EXPECT_EQ(*ParseFiniteDouble("--mean", "0.5"), 0.5);
  EXPECT_EQ(*ParseFiniteDouble("--mean", "-1e-3"), -1e-3);
  EXPECT_EQ(*ParseFiniteDouble("--mean", "0x1.8p-3"), 0.1875);
  for (const char* bad : {"", "inf", "nan", "-inf", "1e999", " 1", "1 ", "1,5", "abc"}) {
    EXPECT_FALSE(ParseFiniteDouble("--mean", bad).ok()) << bad;
  }
}

TEST(ParseShapeTest, ChecksRankAndOverflow) {
  EXPECT_EQ(*ParseShape("--shape", "3,4", 1, 2), (std::vector<int64_t>{3, 4}));
  EXPECT_EQ(*ParseShape("--shape", "0", 1, 2), (std::vector<int64_t>{0}));
  const auto three = ParseShape("--shape", "2,3,4", 2, 2);
  ASSERT_FALSE(three.ok());
  EXPECT_EQ(three.status().message(),
            "--shape: expected 2 comma-separated non-negative dimensions (got 3), got '2,3,4'");
  EXPECT_FALSE(ParseShape("--shape", "4294967296,4294967296", 1, 2).ok());
  EXPECT_TRUE(ParseShape("--shape", "0,4294967296,4294967296", 1, 3).ok());
  for (const char* bad : {"", "3,", ",3", "-1", "3x4", "0x10"}) {
    EXPECT_FALSE(ParseShape("--shape", bad, 1, 2).ok()) << bad;
  }
}

TEST(QuoteTest, KeepsMessagesOnOneLine) {
  EXPECT_EQ(Quote("abc"), "'abc'");
  EXPECT_EQ(Quote("a\nb\tc"), "'a\\x0ab\\x09c'");
  EXPECT_EQ(Quote(std::string(100, 'x')), "'" + std::string(80, 'x') + "...'");
}

}  // namespace
}  // namespace twinsim::cli
