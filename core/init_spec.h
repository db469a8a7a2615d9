// InitSpec: how a parameter is initialized, in torch.nn.init's vocabulary.
//
// Users, scenario files and model presets speak InitSpec ("kaiming_uniform:fan_in=768,a=2.2").
// kernels/resolve.h turns a spec into the float Transform that every backend evaluates.
#ifndef TWINSIM_CORE_INIT_SPEC_H_
#define TWINSIM_CORE_INIT_SPEC_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "core/status.h"

namespace twinsim::core {

enum class InitKind : uint8_t {
  kUniform,         // U(a, b)
  kNormal,          // N(mean, std^2)
  kTruncNormal,     // N(mean, std^2) restricted to [a, b]
  kKaimingUniform,  // U(-bound, bound), bound = gain * sqrt(3 / fan)
  kKaimingNormal,   // N(0, (gain / sqrt(fan))^2)
  kXavierUniform,   // U(-bound, bound), bound = gain * sqrt(6 / (fan_in + fan_out))
  kXavierNormal,    // N(0, gain^2 * 2 / (fan_in + fan_out))
  kConstant,        // value
};

// torch.nn.init.calculate_gain's nonlinearities.
enum class Nonlinearity : uint8_t { kLinear, kConv, kSigmoid, kTanh, kRelu, kLeakyRelu, kSelu };
enum class FanMode : uint8_t { kFanIn, kFanOut };

// Defaults follow torch.nn.init. Only the fields of `kind` are meaningful; for kaiming,
// `a` is the negative slope (torch's `a`), for uniform and trunc_normal the lower bound.
struct InitSpec {
  InitKind kind = InitKind::kNormal;
  double a = 0.0;  // uniform / trunc_normal lower bound; kaiming negative slope
  double b = 1.0;  // uniform / trunc_normal upper bound
  double mean = 0.0;
  double std = 1.0;
  double value = 0.0;  // constant
  double gain = 1.0;   // xavier
  int64_t fan_in = 0;
  int64_t fan_out = 0;
  Nonlinearity nonlinearity = Nonlinearity::kLeakyRelu;
  FanMode mode = FanMode::kFanIn;
};

// normal_(mean=0, std) and constant_(value), the two inits every model family builds.
InitSpec NormalInit(double std);
InitSpec ConstantInit(double value);

// Parses "KIND[:key=value,...]" and validates the result (ValidateInitSpec). Kinds: uniform
// (a=0,b=1), normal (mean=0,std=1), trunc_normal (mean=0,std=1,a=-2,b=2), kaiming_uniform /
// kaiming_normal (fan_in, fan_out, a=0, mode=fan_in|fan_out,
// nonlinearity=leaky_relu|relu|linear|conv|sigmoid|tanh|selu), xavier_uniform / xavier_normal
// (fan_in, fan_out, gain=1), constant (value=0). On failure returns InvalidArgument naming the
// offending kind or key and what was expected. Thread-safe; pure.
StatusOr<InitSpec> ParseInitSpec(std::string_view text);

// The canonical text form: ParseInitSpec(FormatInitSpec(s)) == s up to double rounding.
std::string FormatInitSpec(const InitSpec& spec);
std::string_view InitKindName(InitKind kind);

// torch.nn.init.calculate_gain(nonlinearity, param); `negative_slope` only for leaky_relu.
double CalculateGain(Nonlinearity nonlinearity, double negative_slope);

// Checks the spec's parameters: finite and within float range, std >= 0 (> 0 for
// trunc_normal), a <= b (a < b for trunc_normal), positive fans where the kind needs them.
// Returns InvalidArgument naming the kind, the key and the value.
Status ValidateInitSpec(const InitSpec& spec);

}  // namespace twinsim::core

#endif  // TWINSIM_CORE_INIT_SPEC_H_
