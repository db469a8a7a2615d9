#include "core/status.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>

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

TEST(StatusTest, StatusOrFromAnOkStatusIsAnInternalError) {
  // As abseil: an OK status without a value is a bug in the caller, reported as an error
  // rather than an ok() StatusOr whose value() would read nothing.
  const StatusOr<int> s = Status::Ok();
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), StatusCode::kInternal);
  EXPECT_NE(s.status().message().find("OK status without a value"), std::string::npos);
}

TEST(StatusTest, StatusOrMoveOnlyValue) {
  StatusOr<std::unique_ptr<int>> p = std::make_unique<int>(7);
  ASSERT_TRUE(p.ok());
  std::unique_ptr<int> taken = std::move(p).value();
  EXPECT_EQ(*taken, 7);
}

TEST(StatusDeathTest, ValueOfAnErrorAbortsNamingTheStatus) {
  const StatusOr<int> odd = Half(3);
  EXPECT_DEATH((void)odd.value(), "StatusOr::value\\(\\) on an error: InvalidArgument: odd: 3");
  EXPECT_DEATH((void)*odd, "odd: 3");
  StatusOr<std::string> none = Status::NotFound("no file");
  EXPECT_DEATH((void)none->size(), "NotFound: no file");
}

}  // namespace
}  // namespace twinsim
