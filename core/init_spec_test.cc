#include "core/init_spec.h"

#include <gtest/gtest.h>

#include <cmath>

namespace twinsim::core {
namespace {

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
}  // namespace twinsim::core
