// CheckDistribution (init_check.h): the union of the shards against the init the
// single-device model specifies. See Note [Distribution check].
#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <tuple>
#include <vector>

#include "fmt/format.h"
#include "kernels/dtype.h"
#include "properties/init_check.h"

namespace twinsim::properties {

// Note [Distribution check]
// ~~~~~~~~~~~~~~~~~~~~~~~~~
// Bitwise parity fails for most production schemes, yet a shard that is re-drawn from another
// stream is harmless as long as it follows the specified distribution, while a shard drawn
// with the wrong std (a fan read from the shard, Note [shard-local] in policies/seed) is not.
// For every untied parameter, the check takes each distinct block once (DP replicas and tied
// copies are the other properties' business), keeps the real (unpadded) elements, and
// compares them with the distribution of ParamSpec::init, whose fans are the full tensor's:
//   - constant inits: every element equals the constant rounded to the dtype, exactly;
//   - the union's mean and second moment about the centre within a tolerance;
//   - a Kolmogorov–Smirnov distance from the specified CDF, for unions of at least
//     kKsMinElements elements;
//   - bounded inits (uniform, kaiming/xavier uniform, trunc_normal): every element inside the
//     support; normal inits: every element within z_max standard deviations of the mean.
// The first test that fails is reported (in this order: the moments say most about a wrong
// std; the bounds are what sees it on a handful of elements).
// Tolerances are finite-sample bounds, not asymptotic ones, and they hold whatever the
// dependence between blocks (torch-serial's TP shards repeat each other's draws): each block i
// of n_i elements is an i.i.d. sample, and with t = ln(2 * kEvents * k / kFalseAlarm) for k
// blocks, outside an event of probability at most kFalseAlarm per parameter
//   |mean_i - mu| <= s sqrt(2 t / n_i)          (sub-Gaussian with proxy s: the normal's std;
//                                                 the uniform's std; trunc_normal's underlying
//                                                 std, a strongly log-concave tilt)
//   M2_i >= E - sqrt(2 mu4 t / n_i)             (Maurer's bound for non-negative variables)
//   M2_i <= s^2 (1 + 2 sqrt(t / n_i) + 2 t / n_i)  (Laurent–Massart, chi-square upper tail;
//                                                 trunc_normal about its underlying mean)
//   M2_i <= E + h^2 sqrt(t / (2 n_i))           (Hoeffding, uniform of half-width h)
//   sup |F_i - F| <= sqrt(t / (2 n_i))          (Dvoretzky–Kiefer–Wolfowitz with Massart's
//                                                 constant)
//   |x - mu| <= s sqrt(2 ln(2 kEvents N / kFalseAlarm)) for every element (normal tails)
// and the union's statistic, a weighted mean of the blocks', is within the weighted mean of
// their bounds (sum_i w_i bound_i, w_i = n_i / N). Stored values are rounded to the dtype:
// every bound gets the rounding's worst case (relative kRounding(dtype), computed from the
// data) added, and the KS distance takes each value's rounding interval. A verdict is a pure
// function of the bytes, so the same run always gets the same verdict; a policy whose shards
// do follow the init fails with probability at most kFalseAlarm (1e-9) per parameter.
namespace {

constexpr double kFalseAlarm = 1e-9;
constexpr double kEvents = 5;  // mean, M2 low, M2 high, KS, element bounds
constexpr uint64_t kKsMinElements = 256;

// What ParamSpec::init specifies, as a distribution.
struct Reference {
  enum class Kind { kUniform, kNormal, kTruncNormal, kConstant } kind = Kind::kConstant;
  double lo = 0, hi = 0;       // uniform support; trunc_normal bounds
  double m = 0, s = 0;         // normal / trunc_normal: the underlying normal's mean and std
  double value = 0;            // constant
  double mean = 0, std = 0;    // of the distribution itself
  double centre = 0;           // M2 is taken about it
  double m2 = 0;               // E[(x - centre)^2]
  double mu4 = 0;              // an upper bound on E[(x - centre)^4]
  double m2_range = INFINITY;  // (x - centre)^2 is at most this (bounded inits)
  bool gaussian_tail = false;  // (x - centre)^2 is dominated by s^2 chi-square(1)
  std::string text;            // "U(-0.125, 0.125), std 0.0722 (kaiming_uniform, fan_in=64 ...)"
};

double Phi(double x) { return 0.5 * std::erfc(-x / std::sqrt(2.0)); }
double PhiDensity(double x) { return std::exp(-0.5 * x * x) / std::sqrt(2 * M_PI); }

std::string Num(double v) { return fmt::format("{:.4g}", v); }

Reference MakeReference(const core::InitSpec& init) {
  Reference r;
  auto uniform = [&](double lo, double hi) {
    r.kind = Reference::Kind::kUniform;
    r.lo = lo, r.hi = hi;
    r.mean = r.centre = (lo + hi) / 2;
    r.std = (hi - lo) / std::sqrt(12.0);
    r.s = r.std;
    r.m2 = r.std * r.std;
    r.mu4 = 1.8 * r.m2 * r.m2;
    r.m2_range = (hi - lo) * (hi - lo) / 4;
  };
  auto normal = [&](double m, double s) {
    r.kind = Reference::Kind::kNormal;
    r.m = r.mean = r.centre = m;
    r.s = r.std = s;
    r.m2 = s * s;
    r.mu4 = 3 * r.m2 * r.m2;
    r.gaussian_tail = true;
  };
  std::string fans;
  switch (init.kind) {
    case core::InitKind::kUniform:
      uniform(init.a, init.b);
      break;
    case core::InitKind::kNormal:
      normal(init.mean, init.std);
      break;
    case core::InitKind::kTruncNormal: {
      r.kind = Reference::Kind::kTruncNormal;
      r.m = r.centre = init.mean;
      r.s = init.std;
      r.lo = init.a, r.hi = init.b;
      const double al = (init.a - init.mean) / init.std, be = (init.b - init.mean) / init.std;
      const double z = Phi(be) - Phi(al);
      const double pa = PhiDensity(al), pb = PhiDensity(be);
      const double ta = std::isfinite(al) ? al * pa : 0, tb = std::isfinite(be) ? be * pb : 0;
      r.mean = init.mean + init.std * (pa - pb) / z;
      r.m2 = init.std * init.std * (1 + (ta - tb) / z);
      r.std = std::sqrt(std::max(0.0, r.m2 - (r.mean - init.mean) * (r.mean - init.mean)));
      const bool around = init.a <= init.mean && init.mean <= init.b;
      const double range = std::max((init.a - init.mean) * (init.a - init.mean),
                                    (init.b - init.mean) * (init.b - init.mean));
      r.mu4 = around ? 3 * std::pow(init.std, 4) : range * range;
      r.m2_range = range;
      r.gaussian_tail = around;
      break;
    }
    case core::InitKind::kKaimingUniform:
    case core::InitKind::kKaimingNormal: {
      const int64_t fan = init.mode == core::FanMode::kFanIn ? init.fan_in : init.fan_out;
      const double s =
          core::CalculateGain(init.nonlinearity, init.a) / std::sqrt(static_cast<double>(fan));
      fans = fmt::format("{}={}", init.mode == core::FanMode::kFanIn ? "fan_in" : "fan_out", fan);
      if (init.kind == core::InitKind::kKaimingNormal) {
        normal(0, s);
      } else {
        uniform(-std::sqrt(3.0) * s, std::sqrt(3.0) * s);
      }
      break;
    }
    case core::InitKind::kXavierUniform:
    case core::InitKind::kXavierNormal: {
      const double s = init.gain * std::sqrt(2.0 / static_cast<double>(init.fan_in + init.fan_out));
      fans = fmt::format("fan_in={}, fan_out={}", init.fan_in, init.fan_out);
      if (init.kind == core::InitKind::kXavierNormal) {
        normal(0, s);
      } else {
        uniform(-std::sqrt(3.0) * s, std::sqrt(3.0) * s);
      }
      break;
    }
    case core::InitKind::kConstant:
      r.kind = Reference::Kind::kConstant;
      r.value = r.mean = r.centre = init.value;
      break;
  }
  const std::string from = fans.empty() ? std::string(core::InitKindName(init.kind))
                                        : fmt::format("{} with {} of the full tensor",
                                                      core::InitKindName(init.kind), fans);
  switch (r.kind) {
    case Reference::Kind::kUniform:
      r.text = fmt::format("U({}, {}): mean {}, std {} ({})", Num(r.lo), Num(r.hi), Num(r.mean),
                           Num(r.std), from);
      break;
    case Reference::Kind::kNormal:
      r.text = fmt::format("N({}, {}^2): std {} ({})", Num(r.m), Num(r.s), Num(r.std), from);
      break;
    case Reference::Kind::kTruncNormal:
      r.text = fmt::format("N({}, {}^2) truncated to [{}, {}]: mean {}, std {} ({})", Num(r.m),
                           Num(r.s), Num(r.lo), Num(r.hi), Num(r.mean), Num(r.std), from);
      break;
    case Reference::Kind::kConstant:
      r.text = fmt::format("the constant {} ({})", Num(r.value), from);
      break;
  }
  return r;
}

double Cdf(const Reference& r, double x) {
  switch (r.kind) {
    case Reference::Kind::kUniform:
      return std::clamp((x - r.lo) / (r.hi - r.lo), 0.0, 1.0);
    case Reference::Kind::kNormal:
      return Phi((x - r.m) / r.s);
    case Reference::Kind::kTruncNormal: {
      const double a = Phi((r.lo - r.m) / r.s), b = Phi((r.hi - r.m) / r.s);
      return std::clamp((Phi((x - r.m) / r.s) - a) / (b - a), 0.0, 1.0);
    }
    case Reference::Kind::kConstant:
      return x < r.value ? 0.0 : 1.0;
  }
  return 0;
}

// Relative error of a stored value: the dtype's rounding plus a few float ulps of the
// generator's own arithmetic; and the smallest absolute step (fp16 subnormals).
double RelativeRounding(core::DType dtype) {
  const double generator = std::ldexp(1.0, -21);
  switch (dtype) {
    case core::DType::kBf16:
      return std::ldexp(1.0, -8) + generator;
    case core::DType::kFp16:
      return std::ldexp(1.0, -11) + generator;
    default:
      return generator;
  }
}
double AbsoluteRounding(core::DType dtype) {
  return dtype == core::DType::kFp16 ? std::ldexp(1.0, -24) : 1e-38;
}

std::string BlockText(const core::Block2D& b) {
  if (b.cols == 1) return fmt::format("[{}:{}]", b.row_begin, b.row_end);
  return fmt::format("[{}:{}, {}:{}]", b.row_begin, b.row_end, b.col_begin, b.col_end);
}

// One distinct block of a parameter: its real elements, as float, and who holds it.
struct Sample {
  int rank = 0;
  core::Block2D block;
  uint64_t width = 0;
  std::vector<float> values;
};

std::string ElementAt(const Sample& s, size_t k) {
  const uint64_t row = s.block.row_begin + k / s.width, col = s.block.col_begin + k % s.width;
  return s.block.cols == 1 ? fmt::format("[{}]", row) : fmt::format("[{}, {}]", row, col);
}

struct Moments {
  double mean = 0, m2 = 0, mean_abs = 0, m2_slack = 0;
};

Moments MomentsOf(const std::vector<float>& v, double centre, double u) {
  Moments m;
  if (v.empty()) return m;
  for (float f : v) {
    const double x = f;
    m.mean += x;
    m.m2 += (x - centre) * (x - centre);
    m.mean_abs += std::abs(x);
    m.m2_slack += u * std::abs(x) * (2 * std::abs(x - centre) + u * std::abs(x));
  }
  const double n = static_cast<double>(v.size());
  m.mean /= n, m.m2 /= n, m.mean_abs /= n, m.m2_slack /= n;
  return m;
}

}  // namespace

PropertyResult CheckDistribution(const core::ParallelLayout& layout, const InitRun& run) {
  PropertyResult result{Property::kDistribution, Verdict::kHolds, ""};
  if (run.options.backend == Backend::kSim && !run.options.sim.holds_bytes) {
    result.verdict = Verdict::kNotApplicable;
    result.detail = "not checked: a timing-only simulation holds no bytes";
    return result;
  }
  const core::ModelSpec& model = layout.model();
  // Each parameter's distinct blocks, first holder in rank order.
  std::vector<std::map<std::tuple<uint64_t, uint64_t, uint64_t, uint64_t>, Sample>> blocks(
      model.params.size());
  for (const RankOutcome& r : run.ranks) {
    for (size_t i = 0; i < r.owned.size() && i < r.bytes.size(); ++i) {
      const core::OwnedShard& o = r.owned[i];
      const core::ParamSpec& spec = model.params[o.param];
      if (o.tied_from >= 0 || !spec.tied_to.empty() || r.bytes[i].empty()) continue;
      const core::Block2D& b = r.blocks[i];
      auto [it, inserted] =
          blocks[o.param].try_emplace({b.row_begin, b.row_end, b.col_begin, b.col_end});
      if (!inserted) continue;
      Sample& s = it->second;
      s.rank = r.rank;
      s.block = b;
      s.width = b.col_end - b.col_begin;
      const uint64_t real_rows = std::min<uint64_t>(
          b.row_end, static_cast<uint64_t>(spec.shape.empty() ? 1 : spec.shape[0]));
      const uint64_t rows = real_rows > b.row_begin ? real_rows - b.row_begin : 0;
      s.values.resize(rows * s.width);
      for (uint64_t e = 0; e < s.values.size(); ++e) {
        s.values[e] = kernels::LoadAsFloat(spec.dtype, r.bytes[i].data(), e);
      }
    }
  }
  uint64_t checked_elements = 0, ks_params = 0;
  int checked_params = 0;
  for (size_t p = 0; p < model.params.size(); ++p) {
    if (blocks[p].empty()) continue;
    const core::ParamSpec& spec = model.params[p];
    const Reference ref = MakeReference(spec.init);
    const double u = RelativeRounding(spec.dtype), abs_u = AbsoluteRounding(spec.dtype);
    std::vector<const Sample*> samples;
    uint64_t total = 0;
    for (const auto& [key, s] : blocks[p]) {
      if (s.values.empty()) continue;
      samples.push_back(&s);
      total += s.values.size();
    }
    if (total == 0) continue;
    ++checked_params;
    checked_elements += total;
    const double k = static_cast<double>(samples.size());
    const double t = std::log(2 * kEvents * k / kFalseAlarm);
    const std::string head =
        fmt::format("param '{}' {} ({} element{} in {} shard{}) should follow {}", spec.name,
                    core::FormatShape(spec.shape), total, total == 1 ? "" : "s", samples.size(),
                    samples.size() == 1 ? "" : "s", ref.text);
    auto fail = [&](std::string what) {
      result.verdict = Verdict::kFails;
      result.detail = head + ", but " + what;
      return result;
    };
    // Union statistics, and the per-block std the counterexample quotes.
    Moments all;
    double tol_mean = 0, m2_low = 0, m2_high = 0, ks_tol = 0;
    const Sample* worst = nullptr;
    double worst_ratio = 1;
    double worst_std = 0;
    for (const Sample* s : samples) {
      const double n = static_cast<double>(s->values.size());
      const double w = n / static_cast<double>(total);
      const Moments m = MomentsOf(s->values, ref.centre, u);
      all.mean += w * m.mean;
      all.m2 += w * m.m2;
      all.mean_abs += w * m.mean_abs;
      all.m2_slack += w * m.m2_slack;
      tol_mean += w * ref.s * std::sqrt(2 * t / n);
      m2_low += w * (ref.m2 - std::sqrt(2 * ref.mu4 * t / n));
      double high = ref.m2 + ref.m2_range * std::sqrt(t / (2 * n));
      if (ref.gaussian_tail) {
        high = std::min(high, ref.s * ref.s * (1 + 2 * std::sqrt(t / n) + 2 * t / n));
      }
      m2_high += w * high;
      ks_tol += w * std::sqrt(t / (2 * n));
      if (ref.kind != Reference::Kind::kConstant && ref.std > 0 && m.m2 > 0) {
        const double sd =
            std::sqrt(std::max(0.0, m.m2 - (m.mean - ref.centre) * (m.mean - ref.centre)));
        const double ratio = std::max(sd / ref.std, ref.std / std::max(sd, 1e-300));
        if (worst == nullptr || ratio > worst_ratio) worst = s, worst_ratio = ratio, worst_std = sd;
      }
    }
    const double union_std =
        std::sqrt(std::max(0.0, all.m2 - (all.mean - ref.centre) * (all.mean - ref.centre)));
    std::string shows =
        fmt::format("the shards show mean {}, std {}", Num(all.mean), Num(union_std));
    if (worst != nullptr && samples.size() > 1) {
      shows += fmt::format(" (std {} on {} {})", Num(worst_std), DescribeRank(layout, worst->rank),
                           BlockText(worst->block));
    }
    // Constant: exact.
    if (ref.kind == Reference::Kind::kConstant) {
      std::byte stored[8] = {};
      kernels::StoreAs(spec.dtype, static_cast<float>(ref.value), stored, 0);
      const float want = kernels::LoadAsFloat(spec.dtype, stored, 0);
      for (const Sample* s : samples) {
        for (size_t e = 0; e < s->values.size(); ++e) {
          if (std::memcmp(&s->values[e], &want, sizeof(float)) == 0) continue;
          return fail(fmt::format("element {} on {} is {}", ElementAt(*s, e),
                                  DescribeRank(layout, s->rank), Num(s->values[e])));
        }
      }
      continue;
    }
    // Mean and second moment of the union.
    const double mean_slack = u * all.mean_abs * 1.01 + abs_u;
    if (std::abs(all.mean - ref.mean) > tol_mean + mean_slack) {
      return fail(fmt::format("{}: the mean is off by {} (tolerance {})", shows,
                              Num(all.mean - ref.mean), Num(tol_mean + mean_slack)));
    }
    const double m2_slack = all.m2_slack * 1.01 + abs_u * abs_u;
    if (all.m2 < m2_low - m2_slack || all.m2 > m2_high + m2_slack) {
      return fail(fmt::format(
          "{}, where std {} is expected: the second moment about {} is {}, outside [{}, {}]", shows,
          Num(ref.std), Num(ref.centre), Num(all.m2), Num(m2_low - m2_slack),
          Num(m2_high + m2_slack)));
    }
    // Kolmogorov–Smirnov, each value's rounding interval taken against the CDF.
    if (total >= kKsMinElements) {
      ++ks_params;
      std::vector<float> sorted;
      sorted.reserve(total);
      for (const Sample* s : samples)
        sorted.insert(sorted.end(), s->values.begin(), s->values.end());
      std::sort(sorted.begin(), sorted.end());
      const double n = static_cast<double>(total);
      double d = 0, at = 0;
      for (size_t j = 0; j < sorted.size(); ++j) {
        const double x = sorted[j];
        const double slack = u * std::abs(x) + abs_u;
        const double above = (j + 1) / n - Cdf(ref, x + slack);
        const double below = Cdf(ref, x - slack) - j / n;
        if (above > d) d = above, at = x;
        if (below > d) d = below, at = x;
      }
      if (d > ks_tol) {
        return fail(fmt::format("{}: the Kolmogorov-Smirnov distance is {} at {} (tolerance {})",
                                shows, Num(d), Num(at), Num(ks_tol)));
      }
    }
    // Bounds, every element (the only test with power on a handful of elements).
    double lo = -INFINITY, hi = INFINITY, z = 0;
    if (ref.kind == Reference::Kind::kUniform || ref.kind == Reference::Kind::kTruncNormal) {
      const double slack = u * std::max(std::abs(ref.lo), std::abs(ref.hi)) + abs_u;
      lo = ref.lo - slack, hi = ref.hi + slack;
    } else {
      z = std::sqrt(2 * std::log(2 * kEvents * static_cast<double>(total) / kFalseAlarm));
      const double slack = u * (std::abs(ref.m) + z * ref.s) + abs_u;
      lo = ref.m - z * ref.s - slack, hi = ref.m + z * ref.s + slack;
    }
    for (const Sample* s : samples) {
      for (size_t e = 0; e < s->values.size(); ++e) {
        const double x = s->values[e];
        if (x >= lo && x <= hi) continue;
        const std::string where =
            ref.kind == Reference::Kind::kNormal
                ? fmt::format(
                      "{} std from the mean (at most {:.2f} for a false-alarm rate of "
                      "{:g})",
                      Num(std::abs(x - ref.m) / ref.s), z, kFalseAlarm)
                : fmt::format("outside the support [{}, {}]", Num(ref.lo), Num(ref.hi));
        return fail(fmt::format("element {} on {} is {}, {}; {}", ElementAt(*s, e),
                                DescribeRank(layout, s->rank), Num(x), where, shows));
      }
    }
  }
  result.detail = fmt::format(
      "{} elements of {} parameters follow their specified init (bounds, mean, std; "
      "Kolmogorov-Smirnov on {}); false-alarm rate <= {:g} per parameter",
      checked_elements, checked_params, ks_params, kFalseAlarm);
  return result;
}

}  // namespace twinsim::properties
