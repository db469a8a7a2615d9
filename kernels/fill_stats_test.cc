// Statistical checks of the fill on 10^6 samples per distribution: mean, variance and a
// Kolmogorov-Smirnov test against the exact CDF; truncation bounds never violated.
// Seeds are fixed, so results are reproducible; a wrong transform fails by a wide margin.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <vector>

#include "kernels/fill.h"

namespace twinsim::kernels {
namespace {

constexpr uint64_t kSamples = 1'000'000;

double Phi(double x) { return 0.5 * std::erfc(-x / std::sqrt(2.0)); }

struct Moments {
  double mean, var;
};

Moments SampleMoments(const std::vector<float>& v) {
  double sum = 0, sq = 0;
  for (float x : v) sum += x;
  const double mean = sum / v.size();
  for (float x : v) sq += (x - mean) * (x - mean);
  return {mean, sq / (v.size() - 1)};
}

// Kolmogorov-Smirnov statistic sup |F_n(x) - F(x)|.
double KsStatistic(std::vector<float> v, const std::function<double(double)>& cdf) {
  std::sort(v.begin(), v.end());
  const double n = static_cast<double>(v.size());
  double d = 0;
  for (size_t i = 0; i < v.size(); ++i) {
    const double f = cdf(v[i]);
    d = std::max({d, f - i / n, (i + 1) / n - f});
  }
  return d;
}

std::vector<float> Sample(const char* spec_text, uint64_t seed, DType dtype = DType::kFp32) {
  StatusOr<core::InitSpec> spec = core::ParseInitSpec(spec_text);
  EXPECT_TRUE(spec.ok());
  const Transform t = *Resolve(*spec);
  std::vector<uint8_t> raw(kSamples * DTypeSize(dtype));
  FillRangeParallel(ParamStream{DeriveParamKey(seed, spec_text), 0}, t, dtype, 0, kSamples,
                    raw.data(), 0);
  std::vector<float> out(kSamples);
  for (uint64_t i = 0; i < kSamples; ++i) out[i] = LoadAsFloat(dtype, raw.data(), i);
  return out;
}

struct Case {
  const char* spec;
  double mean, var;
  // Standard deviation of the sample variance, relative to var: sqrt((kurtosis - 1) / n).
  double var_rel_sd;
  std::function<double(double)> cdf;
};

std::vector<Case> Cases() {
  std::vector<Case> cases;
  const double n = kSamples;
  auto uniform = [&](const char* spec, double a, double b) {
    cases.push_back({spec, (a + b) / 2, (b - a) * (b - a) / 12, std::sqrt(0.8 / n),
                     [a, b](double x) { return std::clamp((x - a) / (b - a), 0.0, 1.0); }});
  };
  auto normal = [&](const char* spec, double m, double s) {
    cases.push_back(
        {spec, m, s * s, std::sqrt(2.0 / n), [m, s](double x) { return Phi((x - m) / s); }});
  };
  uniform("uniform:a=-3,b=5", -3, 5);
  normal("normal:mean=1.5,std=0.02", 1.5, 0.02);
  normal("normal", 0, 1);
  const double ku = std::sqrt(3.0) * std::sqrt(2.0 / 6.0) / std::sqrt(768.0);
  uniform("kaiming_uniform:fan_in=768,a=2.23606797749979", -ku, ku);
  normal("kaiming_normal:fan_in=64,nonlinearity=relu", 0, std::sqrt(2.0) / 8);
  const double xs = std::sqrt(2.0 / 640);
  uniform("xavier_uniform:fan_in=128,fan_out=512", -std::sqrt(3.0) * xs, std::sqrt(3.0) * xs);
  normal("xavier_normal:fan_in=128,fan_out=512", 0, xs);
  // Truncated normals: exact moments from the standard formulas.
  auto trunc = [&](const char* spec, double m, double s, double a, double b) {
    const double al = (a - m) / s, be = (b - m) / s;
    const double z = Phi(be) - Phi(al);
    const double pa = std::exp(-al * al / 2) / std::sqrt(2 * M_PI);
    const double pb = std::exp(-be * be / 2) / std::sqrt(2 * M_PI);
    const double mean = m + s * (pa - pb) / z;
    const double var = s * s * (1 + (al * pa - be * pb) / z - ((pa - pb) / z) * ((pa - pb) / z));
    cases.push_back({spec, mean, var, 5 * std::sqrt(2.0 / n), [=](double x) {
                       if (x <= a) return 0.0;
                       if (x >= b) return 1.0;
                       return (Phi((x - m) / s) - Phi(al)) / z;
                     }});
  };
  trunc("trunc_normal", 0, 1, -2, 2);
  trunc("trunc_normal:mean=0,std=0.02,a=-0.04,b=0.04", 0, 0.02, -0.04, 0.04);
  trunc("trunc_normal:mean=0,std=1,a=0.5,b=3", 0, 1, 0.5, 3);
  return cases;
}

TEST(FillStatsTest, MomentsAndKolmogorovSmirnovPerDistribution) {
  const double ks_critical = 1.949 / std::sqrt(static_cast<double>(kSamples));  // alpha 0.001
  for (const Case& c : Cases()) {
    const std::vector<float> v = Sample(c.spec, 20261122);
    const Moments m = SampleMoments(v);
    const double d = KsStatistic(v, c.cdf);
    std::printf("%-50s mean %+.6g (want %+.6g)  var %.6g (want %.6g)  KS D=%.5f (crit %.5f)\n",
                c.spec, m.mean, c.mean, m.var, c.var, d, ks_critical);
    EXPECT_NEAR(m.mean, c.mean, 5 * std::sqrt(c.var / kSamples)) << c.spec;
    EXPECT_NEAR(m.var, c.var, 5 * c.var * c.var_rel_sd) << c.spec;
    EXPECT_LT(d, ks_critical) << c.spec;
  }
}

TEST(FillStatsTest, TruncationBoundsAreNeverViolated) {
  struct Window {
    const char* spec;
    float a, b;
  };
  const Window windows[] = {
      {"trunc_normal", -2, 2},
      {"trunc_normal:mean=0,std=0.02,a=-0.04,b=0.04", -0.04f, 0.04f},
      {"trunc_normal:mean=0,std=1,a=2.5,b=6", 2.5f, 6},             // far tail
      {"trunc_normal:mean=0,std=1,a=-0.01,b=0.01", -0.01f, 0.01f},  // narrow
      {"trunc_normal:mean=3,std=0.5,a=-1,b=3.1", -1, 3.1f},         // asymmetric
  };
  for (const Window& w : windows) {
    for (DType dtype : {DType::kFp32, DType::kBf16, DType::kFp16}) {
      // In bf16/fp16 the bounds themselves are rounded: values stay within the rounded bounds.
      float lo = w.a, hi = w.b;
      if (dtype != DType::kFp32) {
        float buf[2] = {w.a, w.b};
        uint16_t r[2];
        for (int i = 0; i < 2; ++i) {
          r[i] = dtype == DType::kBf16 ? FloatToBf16(buf[i]) : FloatToFp16(buf[i]);
        }
        lo = LoadAsFloat(dtype, r, 0);
        hi = LoadAsFloat(dtype, r, 1);
      }
      const std::vector<float> v = Sample(w.spec, 77, dtype);
      const auto [mn, mx] = std::minmax_element(v.begin(), v.end());
      EXPECT_GE(*mn, lo) << w.spec << " " << DTypeName(dtype);
      EXPECT_LE(*mx, hi) << w.spec << " " << DTypeName(dtype);
    }
  }
}

TEST(FillStatsTest, NormalTailsReachPastFiveSigma) {
  const std::vector<float> v = Sample("normal", 1);
  const auto [mn, mx] = std::minmax_element(v.begin(), v.end());
  // With 10^6 samples the extremes sit near +-4.9 sigma; the cap is 5.77 sigma.
  EXPECT_LT(*mn, -4.0f);
  EXPECT_GT(*mx, 4.0f);
  EXPECT_GE(*mn, -5.78f);
  EXPECT_LE(*mx, 5.78f);
}

}  // namespace
}  // namespace twinsim::kernels
