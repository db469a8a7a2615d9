#include "core/json.h"

#include <gtest/gtest.h>

#include <string>

namespace twinsim::core {
namespace {

TEST(JsonStringTest, EscapesQuotesBackslashesAndControlCharacters) {
  EXPECT_EQ(JsonString(""), "\"\"");
  EXPECT_EQ(JsonString("a\"b\\c"), "\"a\\\"b\\\\c\"");
  EXPECT_EQ(JsonString("\n\t\r"), "\"\\n\\t\\r\"");
  EXPECT_EQ(JsonString(std::string("\x01\x1f", 2)), "\"\\u0001\\u001f\"");
  EXPECT_EQ(JsonString(std::string("\0", 1)), "\"\\u0000\"");
  EXPECT_EQ(JsonString("gpu\xc3\xa9 \x7f"), "\"gpu\xc3\xa9 \x7f\"");  // >= 0x20 unchanged
}

TEST(JsonStringTest, AppendsToWhatIsThere) {
  std::string out = "x:";
  AppendJsonString("y", out);
  EXPECT_EQ(out, "x:\"y\"");
}

}  // namespace
}  // namespace twinsim::core
