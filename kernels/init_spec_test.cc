#include "kernels/init_spec.h"

#include <gtest/gtest.h>

#include <cmath>

namespace twinsim::kernels {
namespace {

Transform MustResolve(std::string_view text) {
  StatusOr<InitSpec> spec = ParseInitSpec(text);
  EXPECT_TRUE(spec.ok()) << text << ": " << spec.status().ToString();
  StatusOr<Transform> t = Resolve(*spec);
  EXPECT_TRUE(t.ok()) << t.status().ToString();
  return *t;
}

TEST(InitSpecTest, DefaultsFollowTorchNnInit) {
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

TEST(InitSpecTest, KaimingUniformOfNnLinearIsOneOverSqrtFanIn) {
  // nn.Linear: kaiming_uniform_(a=sqrt(5)): gain sqrt(2/6), bound sqrt(3) gain / sqrt(fan_in).
  const Transform t = MustResolve("kaiming_uniform:fan_in=768,a=2.23606797749979");
  const double bound = std::sqrt(3.0) * std::sqrt(2.0 / 6.0) / std::sqrt(768.0);
  EXPECT_EQ(t.p[0], static_cast<float>(-bound));
  EXPECT_EQ(t.p[1], static_cast<float>(bound) - static_cast<float>(-bound));
  EXPECT_NEAR(bound, 1 / std::sqrt(768.0), 1e-12);
}

TEST(InitSpecTest, KaimingNormalReluAndFanOut) {
  const Transform t = MustResolve("kaiming_normal:fan_in=3,fan_out=50,mode=fan_out,nonlinearity=relu");
  EXPECT_EQ(t.prim, Primitive::kNormal);
  EXPECT_EQ(t.p[1], static_cast<float>(std::sqrt(2.0) / std::sqrt(50.0)));
}

TEST(InitSpecTest, XavierUsesBothFans) {
  const Transform u = MustResolve("xavier_uniform:fan_in=100,fan_out=300,gain=2");
  const double bound = std::sqrt(3.0) * 2 * std::sqrt(2.0 / 400);
  EXPECT_EQ(u.p[0], static_cast<float>(-bound));
  const Transform n = MustResolve("xavier_normal:fan_in=100,fan_out=300");
  EXPECT_EQ(n.p[1], static_cast<float>(std::sqrt(2.0 / 400)));
}

TEST(InitSpecTest, GainsMatchCalculateGain) {
  EXPECT_DOUBLE_EQ(CalculateGain(Nonlinearity::kTanh, 0), 5.0 / 3);
  EXPECT_DOUBLE_EQ(CalculateGain(Nonlinearity::kRelu, 0), std::sqrt(2.0));
  EXPECT_DOUBLE_EQ(CalculateGain(Nonlinearity::kLeakyRelu, 0.2), std::sqrt(2 / 1.04));
  EXPECT_DOUBLE_EQ(CalculateGain(Nonlinearity::kSelu, 0), 0.75);
  EXPECT_DOUBLE_EQ(CalculateGain(Nonlinearity::kSigmoid, 0), 1.0);
}

TEST(InitSpecTest, FormatRoundTrips) {
  for (const char* text : {"uniform:a=-0.5,b=0.25", "normal:mean=0,std=0.02",
                           "trunc_normal:mean=1,std=3,a=-1,b=4",
                           "kaiming_uniform:fan_in=64,a=0,mode=fan_in,nonlinearity=leaky_relu",
                           "xavier_normal:fan_in=3,fan_out=4,gain=1.5", "constant:value=1"}) {
    StatusOr<InitSpec> spec = ParseInitSpec(text);
    ASSERT_TRUE(spec.ok()) << text;
    EXPECT_EQ(FormatInitSpec(*spec), text);
  }
}

TEST(InitSpecTest, BadSpecsSayWhatWasWrong) {
  struct Case {
    const char* text;
    const char* message;
  };
  const Case cases[] = {
      {"gaussian", "unknown init kind 'gaussian' (expected one of uniform, normal"},
      {"normal:sdt=1", "unknown key 'sdt' for normal (expected mean, std)"},
      {"normal:std=abc", "normal: 'std': expected a finite number, got 'abc'"},
      {"normal:std=-1", "normal: std must be >= 0, got -1"},
      {"normal:std=1,std=2", "normal: key 'std' given twice"},
      {"normal:std", "normal: expected key=value, got 'std'"},
      {"normal:", "normal: expected key=value after ':'"},
      {"normal:std=1,", "normal: trailing ','"},
      {"uniform:a=2,b=1", "uniform: a must be <= b, got a=2 b=1"},
      {"kaiming_uniform", "kaiming_uniform: fan_in must be a positive integer"},
      {"kaiming_uniform:fan_in=-3", "kaiming_uniform: 'fan_in': expected a positive integer"},
      {"kaiming_uniform:fan_in=3,mode=fan_mid", "'mode': expected fan_in or fan_out"},
      {"kaiming_normal:fan_in=3,nonlinearity=gelu", "'nonlinearity': expected one of linear"},
      {"xavier_uniform:fan_in=3", "xavier_uniform: fan_in and fan_out must be positive"},
      {"trunc_normal:a=30,b=40", "holds no probability mass in float"},
      {"trunc_normal:a=1,b=1", "trunc_normal: a must be < b"},
      {"normal:mean=1e300", "normal: 'mean' = 1e+300 is outside float range"},
  };
  for (const Case& c : cases) {
    StatusOr<InitSpec> spec = ParseInitSpec(c.text);
    ASSERT_FALSE(spec.ok()) << c.text;
    EXPECT_EQ(spec.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(spec.status().message().find(c.message), std::string::npos)
        << c.text << " -> " << spec.status().message();
  }
}

}  // namespace
}  // namespace twinsim::kernels
