#include "core/text.h"

#include <gtest/gtest.h>

namespace twinsim::core {
namespace {

TEST(TextTest, QuoteJoinAndDidYouMean) {
  EXPECT_EQ(Quote("x"), "'x'");
  EXPECT_EQ(Join({"a", "b", "c"}), "a, b, c");
  EXPECT_EQ(Join({}), "");
  EXPECT_EQ(EditDistance("nodes", "ndoes"), 1);  // a transposition counts once
  EXPECT_EQ(EditDistance("GPT2", "gpt2"), 0);    // case-insensitive
  EXPECT_EQ(DidYouMean("n_layr", {"n_layer", "n_embd"}), " (did you mean 'n_layer'?)");
  EXPECT_EQ(DidYouMean("zzzzzz", {"n_layer", "n_embd"}), "");
}

TEST(TextTest, ThousandsGroupsDigitsOfEverySign) {
  EXPECT_EQ(Thousands(0), "0");
  EXPECT_EQ(Thousands(999), "999");
  EXPECT_EQ(Thousands(1000), "1,000");
  EXPECT_EQ(Thousands(671026404352), "671,026,404,352");
  EXPECT_EQ(Thousands(-1234567), "-1,234,567");
  EXPECT_EQ(Thousands(INT64_MIN), "-9,223,372,036,854,775,808");
}

TEST(TextTest, SplitKeyValuesKeepsOrderAndNamesEachSyntaxError) {
  StatusOr<std::vector<KeyValue>> kv = SplitKeyValues("b=2,a=1", "m", "m:b=2,a=1", {});
  ASSERT_TRUE(kv.ok());
  ASSERT_EQ(kv->size(), 2u);
  EXPECT_EQ((*kv)[0].key, "b");
  EXPECT_EQ((*kv)[1].value, "1");
  EXPECT_EQ(SplitKeyValues("", "m", "m:", {"a", "b"}).status().message(),
            "m: expected key=value after ':' (keys: a, b)");
  EXPECT_EQ(SplitKeyValues("a=1,", "m", "m:a=1,", {}).status().message(),
            "m: trailing ',' in 'm:a=1,'");
  EXPECT_EQ(SplitKeyValues("a", "m", "m:a", {}).status().message(),
            "m: expected key=value, got 'a'");
  EXPECT_EQ(SplitKeyValues("a=1,a=2", "m", "m:a=1,a=2", {}).status().message(),
            "m: key 'a' given twice");
}

}  // namespace
}  // namespace twinsim::core
