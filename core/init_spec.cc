#include "core/init_spec.h"

#include <charconv>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "core/text.h"

namespace twinsim::core {
namespace {

struct KindInfo {
  InitKind kind;
  std::string_view name;
  std::vector<std::string_view> keys;
};

const std::vector<KindInfo>& Kinds() {
  static const std::vector<KindInfo> kinds = {
      {InitKind::kUniform, "uniform", {"a", "b"}},
      {InitKind::kNormal, "normal", {"mean", "std"}},
      {InitKind::kTruncNormal, "trunc_normal", {"mean", "std", "a", "b"}},
      {InitKind::kKaimingUniform,
       "kaiming_uniform",
       {"fan_in", "fan_out", "a", "mode", "nonlinearity"}},
      {InitKind::kKaimingNormal,
       "kaiming_normal",
       {"fan_in", "fan_out", "a", "mode", "nonlinearity"}},
      {InitKind::kXavierUniform, "xavier_uniform", {"fan_in", "fan_out", "gain"}},
      {InitKind::kXavierNormal, "xavier_normal", {"fan_in", "fan_out", "gain"}},
      {InitKind::kConstant, "constant", {"value"}},
  };
  return kinds;
}

constexpr std::pair<Nonlinearity, std::string_view> kNonlinearities[] = {
    {Nonlinearity::kLinear, "linear"},   {Nonlinearity::kConv, "conv"},
    {Nonlinearity::kSigmoid, "sigmoid"}, {Nonlinearity::kTanh, "tanh"},
    {Nonlinearity::kRelu, "relu"},       {Nonlinearity::kLeakyRelu, "leaky_relu"},
    {Nonlinearity::kSelu, "selu"},
};

std::string FormatDouble(double v) {
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, end);
}

StatusOr<double> ParseDouble(std::string_view key, std::string_view text) {
  double v = 0;
  const char* first = text.data();
  const char* last = text.data() + text.size();
  if (!text.empty() && *first == '+') ++first;
  auto [ptr, ec] = std::from_chars(first, last, v);
  if (text.empty() || ec != std::errc() || ptr != last || !std::isfinite(v)) {
    return Status::InvalidArgument(Quote(key) + ": expected a finite number, got " + Quote(text));
  }
  return v;
}

StatusOr<int64_t> ParseFan(std::string_view key, std::string_view text) {
  int64_t v = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc() || ptr != text.data() + text.size() || v <= 0) {
    return Status::InvalidArgument(
        Quote(key) + ": expected a positive integer, got " + Quote(text));
  }
  return v;
}

}  // namespace

std::string_view InitKindName(InitKind kind) {
  for (const KindInfo& k : Kinds()) {
    if (k.kind == kind) return k.name;
  }
  return "?";
}

double CalculateGain(Nonlinearity nonlinearity, double negative_slope) {
  switch (nonlinearity) {
    case Nonlinearity::kLinear:
    case Nonlinearity::kConv:
    case Nonlinearity::kSigmoid:
      return 1.0;
    case Nonlinearity::kTanh:
      return 5.0 / 3;
    case Nonlinearity::kRelu:
      return std::sqrt(2.0);
    case Nonlinearity::kLeakyRelu:
      return std::sqrt(2.0 / (1 + std::pow(negative_slope, 2)));
    case Nonlinearity::kSelu:
      return 3.0 / 4;
  }
  return 1.0;
}

InitSpec NormalInit(double std) {
  InitSpec s;
  s.kind = InitKind::kNormal;
  s.mean = 0.0;
  s.std = std;
  return s;
}

InitSpec ConstantInit(double value) {
  InitSpec s;
  s.kind = InitKind::kConstant;
  s.value = value;
  return s;
}

StatusOr<InitSpec> ParseInitSpec(std::string_view text) {
  const size_t colon = text.find(':');
  const std::string_view kind_name = text.substr(0, colon);
  const KindInfo* info = nullptr;
  for (const KindInfo& k : Kinds()) {
    if (k.name == kind_name) info = &k;
  }
  if (info == nullptr) {
    std::vector<std::string_view> names;
    for (const KindInfo& k : Kinds()) names.push_back(k.name);
    return Status::InvalidArgument("unknown init kind " + Quote(kind_name) + " (expected one of " +
                                   Join(names) + ")");
  }
  InitSpec spec;
  spec.kind = info->kind;
  if (spec.kind == InitKind::kTruncNormal) {
    spec.a = -2.0;
    spec.b = 2.0;
  }
  std::vector<KeyValue> items;
  if (colon != std::string_view::npos) {
    StatusOr<std::vector<KeyValue>> split =
        SplitKeyValues(text.substr(colon + 1), kind_name, text, /*keys=*/{});
    if (!split.ok()) return split.status();
    items = std::move(*split);
  }
  for (const KeyValue& item : items) {
    // Named copies, not structured bindings: the lambdas below capture them, which clang
    // before 16 (the fuzz build) rejects for bindings.
    const std::string_view key = item.key;
    const std::string_view val = item.value;
    bool known = false;
    for (std::string_view k : info->keys) known |= (k == key);
    if (!known) {
      return Status::InvalidArgument("unknown key " + Quote(key) + " for " +
                                     std::string(kind_name) + " (expected " + Join(info->keys) +
                                     ")");
    }
    auto number = [&](double* field) -> Status {
      StatusOr<double> v = ParseDouble(key, val);
      if (!v.ok())
        return Status::InvalidArgument(std::string(kind_name) + ": " + v.status().message());
      *field = *v;
      return Status::Ok();
    };
    auto fan = [&](int64_t* field) -> Status {
      StatusOr<int64_t> v = ParseFan(key, val);
      if (!v.ok())
        return Status::InvalidArgument(std::string(kind_name) + ": " + v.status().message());
      *field = *v;
      return Status::Ok();
    };
    if (key == "a") {
      TWINSIM_RETURN_IF_ERROR(number(&spec.a));
    } else if (key == "b") {
      TWINSIM_RETURN_IF_ERROR(number(&spec.b));
    } else if (key == "mean") {
      TWINSIM_RETURN_IF_ERROR(number(&spec.mean));
    } else if (key == "std") {
      TWINSIM_RETURN_IF_ERROR(number(&spec.std));
    } else if (key == "value") {
      TWINSIM_RETURN_IF_ERROR(number(&spec.value));
    } else if (key == "gain") {
      TWINSIM_RETURN_IF_ERROR(number(&spec.gain));
    } else if (key == "fan_in") {
      TWINSIM_RETURN_IF_ERROR(fan(&spec.fan_in));
    } else if (key == "fan_out") {
      TWINSIM_RETURN_IF_ERROR(fan(&spec.fan_out));
    } else if (key == "mode") {
      if (val == "fan_in") {
        spec.mode = FanMode::kFanIn;
      } else if (val == "fan_out") {
        spec.mode = FanMode::kFanOut;
      } else {
        return Status::InvalidArgument(std::string(kind_name) +
                                       ": 'mode': expected fan_in or fan_out, got " + Quote(val));
      }
    } else if (key == "nonlinearity") {
      bool found = false;
      std::vector<std::string_view> names;
      for (const auto& [nl, name] : kNonlinearities) {
        names.push_back(name);
        if (name == val) {
          spec.nonlinearity = nl;
          found = true;
        }
      }
      if (!found) {
        return Status::InvalidArgument(std::string(kind_name) +
                                       ": 'nonlinearity': expected one of " + Join(names) +
                                       ", got " + Quote(val));
      }
    }
  }
  TWINSIM_RETURN_IF_ERROR(ValidateInitSpec(spec));
  return spec;
}

std::string FormatInitSpec(const InitSpec& s) {
  std::string out(InitKindName(s.kind));
  auto kv = [&](std::string_view k, const std::string& v) {
    out += out.find(':') == std::string::npos ? ":" : ",";
    out += k;
    out += "=";
    out += v;
  };
  auto nl_name = [&]() {
    for (const auto& [nl, name] : kNonlinearities) {
      if (nl == s.nonlinearity) return std::string(name);
    }
    return std::string("?");
  };
  switch (s.kind) {
    case InitKind::kUniform:
      kv("a", FormatDouble(s.a));
      kv("b", FormatDouble(s.b));
      break;
    case InitKind::kNormal:
      kv("mean", FormatDouble(s.mean));
      kv("std", FormatDouble(s.std));
      break;
    case InitKind::kTruncNormal:
      kv("mean", FormatDouble(s.mean));
      kv("std", FormatDouble(s.std));
      kv("a", FormatDouble(s.a));
      kv("b", FormatDouble(s.b));
      break;
    case InitKind::kKaimingUniform:
    case InitKind::kKaimingNormal:
      if (s.fan_in > 0) kv("fan_in", std::to_string(s.fan_in));
      if (s.fan_out > 0) kv("fan_out", std::to_string(s.fan_out));
      kv("a", FormatDouble(s.a));
      kv("mode", s.mode == FanMode::kFanIn ? "fan_in" : "fan_out");
      kv("nonlinearity", nl_name());
      break;
    case InitKind::kXavierUniform:
    case InitKind::kXavierNormal:
      kv("fan_in", std::to_string(s.fan_in));
      kv("fan_out", std::to_string(s.fan_out));
      kv("gain", FormatDouble(s.gain));
      break;
    case InitKind::kConstant:
      kv("value", FormatDouble(s.value));
      break;
  }
  return out;
}

Status ValidateInitSpec(const InitSpec& s) {
  const std::string kind(InitKindName(s.kind));
  const double kFloatMax = std::numeric_limits<float>::max();
  const std::pair<const char*, double> fields[] = {{"a", s.a},         {"b", s.b},
                                                   {"mean", s.mean},   {"std", s.std},
                                                   {"value", s.value}, {"gain", s.gain}};
  for (const auto& [name, v] : fields) {
    if (!std::isfinite(v) || std::fabs(v) > kFloatMax) {
      return Status::InvalidArgument(kind + ": '" + name + "' = " + FormatDouble(v) +
                                     " is outside float range");
    }
  }
  switch (s.kind) {
    case InitKind::kUniform:
      if (!(s.a <= s.b)) {
        return Status::InvalidArgument(kind + ": a must be <= b, got a=" + FormatDouble(s.a) +
                                       " b=" + FormatDouble(s.b));
      }
      return Status::Ok();
    case InitKind::kNormal:
      if (!(s.std >= 0)) {
        return Status::InvalidArgument(kind + ": std must be >= 0, got " + FormatDouble(s.std));
      }
      return Status::Ok();
    case InitKind::kTruncNormal:
      if (!(s.std > 0)) {
        return Status::InvalidArgument(kind + ": std must be > 0, got " + FormatDouble(s.std));
      }
      if (!(s.a < s.b)) {
        return Status::InvalidArgument(kind + ": a must be < b, got a=" + FormatDouble(s.a) +
                                       " b=" + FormatDouble(s.b));
      }
      return Status::Ok();
    case InitKind::kKaimingUniform:
    case InitKind::kKaimingNormal: {
      const bool in = s.mode == FanMode::kFanIn;
      if ((in ? s.fan_in : s.fan_out) <= 0) {
        const std::string fan = in ? "fan_in" : "fan_out";
        return Status::InvalidArgument(kind + ": " + fan +
                                       " must be a positive integer (mode=" + fan + ")");
      }
      return Status::Ok();
    }
    case InitKind::kXavierUniform:
    case InitKind::kXavierNormal:
      if (s.fan_in <= 0 || s.fan_out <= 0) {
        return Status::InvalidArgument(kind + ": fan_in and fan_out must be positive integers");
      }
      return Status::Ok();
    case InitKind::kConstant:
      return Status::Ok();
  }
  return Status::Internal("unhandled init kind");
}

}  // namespace twinsim::core
