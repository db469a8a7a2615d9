#include "kernels/resolve.h"

#include <gtest/gtest.h>

#include <cmath>

namespace twinsim::kernels {
namespace {

Transform MustResolve(std::string_view text) {
  StatusOr<core::InitSpec> spec = core::ParseInitSpec(text);
  EXPECT_TRUE(spec.ok()) << text << ": " << spec.status().ToString();
  StatusOr<Transform> t = Resolve(*spec);
  EXPECT_TRUE(t.ok()) << t.status().ToString();
  return *t;
}

TEST(ResolveTest, DefaultsFollowTorchNnInit) {
  const Transform u = MustResolve("uniform");
  EXPECT_EQ(u.prim, Primitive::kUniform);
  EXPECT_EQ(u.p[0], 0.0f);
  EXPECT_EQ(u.p[1], 1.0f);
  const Transform n = MustResolve("normal");
  EXPECT_EQ(n.prim, Primitive::kNormal);
  EXPECT_EQ(n.p[1], 1.0f);
  const Transform t = MustResolve("trunc_normal");
  EXPECT_EQ(t.p[4], -2.0f);
  EXPECT_EQ(t.p[5], 2.0f);
  // 2 Phi(-2) - 1 = -erf(sqrt 2) = -0.954499736...
  EXPECT_FLOAT_EQ(t.p[0], -0.9544997361036416f);
  EXPECT_FLOAT_EQ(t.p[1], 2 * 0.9544997361036416f);
  EXPECT_FLOAT_EQ(t.p[2], std::sqrt(2.0f));
}

TEST(ResolveTest, KaimingUniformOfNnLinearIsOneOverSqrtFanIn) {
  // nn.Linear: kaiming_uniform_(a=sqrt(5)): gain sqrt(2/6), bound sqrt(3) gain / sqrt(fan_in).
  const Transform t = MustResolve("kaiming_uniform:fan_in=768,a=2.23606797749979");
  const double bound = std::sqrt(3.0) * std::sqrt(2.0 / 6.0) / std::sqrt(768.0);
  EXPECT_EQ(t.p[0], static_cast<float>(-bound));
  EXPECT_EQ(t.p[1], static_cast<float>(bound) - static_cast<float>(-bound));
  EXPECT_NEAR(bound, 1 / std::sqrt(768.0), 1e-12);
}

TEST(ResolveTest, KaimingNormalReluAndFanOut) {
  const Transform t =
      MustResolve("kaiming_normal:fan_in=3,fan_out=50,mode=fan_out,nonlinearity=relu");
  EXPECT_EQ(t.prim, Primitive::kNormal);
  EXPECT_EQ(t.p[1], static_cast<float>(std::sqrt(2.0) / std::sqrt(50.0)));
}

TEST(ResolveTest, XavierUsesBothFans) {
  const Transform u = MustResolve("xavier_uniform:fan_in=100,fan_out=300,gain=2");
  const double bound = std::sqrt(3.0) * 2 * std::sqrt(2.0 / 400);
  EXPECT_EQ(u.p[0], static_cast<float>(-bound));
  const Transform n = MustResolve("xavier_normal:fan_in=100,fan_out=300");
  EXPECT_EQ(n.p[1], static_cast<float>(std::sqrt(2.0 / 400)));
}

TEST(ResolveTest, GainsFollowCalculateGain) {
  const Transform t = MustResolve("kaiming_normal:fan_in=25,nonlinearity=tanh");
  EXPECT_EQ(t.p[1], static_cast<float>(5.0 / 3 / 5));
}

TEST(ResolveTest, ATruncationWindowWithNoFloatMassIsRejected) {
  StatusOr<core::InitSpec> spec = core::ParseInitSpec("trunc_normal:a=30,b=40");
  ASSERT_TRUE(spec.ok());                  // a valid spec ...
  StatusOr<Transform> t = Resolve(*spec);  // ... that float cannot represent
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().message(),
            "trunc_normal: [a, b] = [30, 40] holds no probability mass in float for mean=0 std=1");
}

TEST(ResolveTest, InvalidSpecsAreRejectedToo) {
  core::InitSpec spec;
  spec.kind = core::InitKind::kNormal;
  spec.std = -1;
  EXPECT_EQ(Resolve(spec).status().message(), "normal: std must be >= 0, got -1");
}

}  // namespace
}  // namespace twinsim::kernels
