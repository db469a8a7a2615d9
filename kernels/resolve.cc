#include "kernels/resolve.h"

#include <fmt/format.h>

#include <cmath>
#include <string>

namespace twinsim::kernels {
namespace {

using core::CalculateGain;
using core::FanMode;
using core::InitKind;
using core::InitKindName;
using core::InitSpec;
using core::ValidateInitSpec;

// Shortest text that reads back as `v` (as core::FormatInitSpec prints numbers).
std::string FormatDouble(double v) { return fmt::format("{}", v); }

// Standard normal CDF, as torch.nn.init's trunc_normal_ computes it.
double NormCdf(double x) { return (1.0 + std::erf(x / std::sqrt(2.0))) / 2.0; }

// torch.nn.init.uniform_(-bound, bound) casts both ends to float, then the kernel computes
// `to - from` in float.
Transform UniformTransform(double lo, double hi) {
  Transform t;
  t.prim = Primitive::kUniform;
  const float flo = static_cast<float>(lo);
  const float fhi = static_cast<float>(hi);
  t.p[0] = flo;
  t.p[1] = fhi - flo;
  return t;
}

Transform NormalTransform(double mean, double std) {
  Transform t;
  t.prim = Primitive::kNormal;
  t.p[0] = static_cast<float>(mean);
  t.p[1] = static_cast<float>(std);
  return t;
}

}  // namespace

StatusOr<Transform> Resolve(const InitSpec& s) {
  TWINSIM_RETURN_IF_ERROR(ValidateInitSpec(s));
  switch (s.kind) {
    case InitKind::kUniform:
      return UniformTransform(s.a, s.b);
    case InitKind::kNormal:
      return NormalTransform(s.mean, s.std);
    case InitKind::kTruncNormal: {
      // torch.nn.init.trunc_normal_: uniform_(2l-1, 2u-1), erfinv_, mul_(std*sqrt(2)),
      // add_(mean), clamp_(a, b).
      const double l = NormCdf((s.a - s.mean) / s.std);
      const double u = NormCdf((s.b - s.mean) / s.std);
      Transform t;
      t.prim = Primitive::kTruncNormal;
      const float lo = static_cast<float>(2 * l - 1);
      const float hi = static_cast<float>(2 * u - 1);
      t.p[0] = lo;
      t.p[1] = hi - lo;
      t.p[2] = static_cast<float>(s.std * std::sqrt(2.0));
      t.p[3] = static_cast<float>(s.mean);
      t.p[4] = static_cast<float>(s.a);
      t.p[5] = static_cast<float>(s.b);
      if (!(t.p[1] > 0)) {
        return Status::InvalidArgument(std::string(InitKindName(s.kind)) + ": [a, b] = [" +
                                       FormatDouble(s.a) + ", " + FormatDouble(s.b) +
                                       "] holds no probability mass in float for mean=" +
                                       FormatDouble(s.mean) + " std=" + FormatDouble(s.std));
      }
      return t;
    }
    case InitKind::kKaimingUniform:
    case InitKind::kKaimingNormal: {
      const int64_t fan = s.mode == FanMode::kFanIn ? s.fan_in : s.fan_out;
      const double gain = CalculateGain(s.nonlinearity, s.a);
      const double std = gain / std::sqrt(static_cast<double>(fan));
      if (s.kind == InitKind::kKaimingNormal) return NormalTransform(0.0, std);
      const double bound = std::sqrt(3.0) * std;
      return UniformTransform(-bound, bound);
    }
    case InitKind::kXavierUniform:
    case InitKind::kXavierNormal: {
      const double std = s.gain * std::sqrt(2.0 / static_cast<double>(s.fan_in + s.fan_out));
      if (s.kind == InitKind::kXavierNormal) return NormalTransform(0.0, std);
      const double bound = std::sqrt(3.0) * std;
      return UniformTransform(-bound, bound);
    }
    case InitKind::kConstant: {
      Transform t;
      t.prim = Primitive::kConstant;
      t.p[0] = static_cast<float>(s.value);
      return t;
    }
  }
  return Status::Internal("unhandled init kind");
}

}  // namespace twinsim::kernels
