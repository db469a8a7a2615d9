#include "core/status.h"

#include <gtest/gtest.h>

namespace twinsim {
namespace {

StatusOr<int> Half(int x) {
  if (x % 2 != 0) return Status::InvalidArgument("odd: " + std::to_string(x));
  return x / 2;
}

Status Chain(int x) {
  TWINSIM_RETURN_IF_ERROR(Half(x).status());
  return Status::Ok();
}

TEST(StatusTest, OkAndErrorCarryCodeAndMessage) {
  EXPECT_TRUE(Status::Ok().ok());
  EXPECT_EQ(Status::Ok().ToString(), "OK");
  const Status s = Status::NotFound("no preset 'gpt5'");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
  EXPECT_EQ(s.ToString(), "NotFound: no preset 'gpt5'");
}

TEST(StatusTest, StatusOrHoldsValueOrError) {
  StatusOr<int> a = Half(8);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(*a, 4);
  StatusOr<int> b = Half(3);
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.status().message(), "odd: 3");
  EXPECT_TRUE(Chain(2).ok());
  EXPECT_EQ(Chain(5).code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace twinsim
