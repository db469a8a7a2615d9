#include "kernels/torch/cpu_generator.h"

#include <cassert>
#include <cmath>
#include <numbers>

namespace twinsim::kernels::torch {
namespace {

// mt19937 parameters (Matsumoto & Nishimura 1998).
constexpr int kShift = 397;
constexpr uint32_t kMatrixA = 0x9908b0dfu;
constexpr uint32_t kUpperMask = 0x80000000u;
constexpr uint32_t kLowerMask = 0x7fffffffu;

// at::uniform_real_distribution<float>: the low 24 bits of one 32-bit draw, scaled to [0, 1).
float UnitFloat(uint32_t bits) {
  constexpr float kScale = 1.0f / static_cast<float>(1u << 24);
  return static_cast<float>(bits & ((1u << 24) - 1)) * kScale;
}

// at::uniform_real_distribution<double>(0, 1): the low 53 bits of one 64-bit draw.
double UnitDouble(uint64_t bits) {
  constexpr double kScale = 1.0 / static_cast<double>(uint64_t{1} << 53);
  return static_cast<double>(bits & ((uint64_t{1} << 53) - 1)) * kScale;
}

// One element of uniform_(from, to) in float; see Note [ATen CPU capability and the bits it
// produces] for why the capability matters.
float ScaleUniform(float x, float from, float to, CpuCapability capability) {
  const float range = to - from;
  if (capability == CpuCapability::kAvx2) return std::fma(x, range, from);
  const float scaled = x * range;
  return scaled + from;
}

// at::normal_distribution<double>(mean, std)(gen), as PyTorch 1.13 computes it: Box-Muller on
// two double uniforms, r = sqrt(-2 log(1 - u2)), theta = 2 pi u1; returns r cos(theta) and
// caches r sin(theta) for the next call.
double NormalDouble(CpuGenerator& gen, double mean, double stddev) {
  double standard;
  if (const std::optional<double> cached = gen.next_double_normal_sample()) {
    standard = *cached;
    gen.set_next_double_normal_sample(std::nullopt);
  } else {
    const double u1 = UnitDouble(gen.Random64());
    const double u2 = UnitDouble(gen.Random64());
    const double r = std::sqrt(-2.0 * std::log(1.0 - u2));
    const double theta = 2.0 * std::numbers::pi * u1;
    gen.set_next_double_normal_sample(r * std::sin(theta));
    standard = r * std::cos(theta);
  }
  const double scaled = standard * stddev;
  return scaled + mean;
}

// normal_fill_16 of ATen's DEFAULT build: 8 Box-Muller pairs from data[0..7] (u1) and
// data[8..15] (u2), in float with libm's logf/cosf/sinf; theta is rounded from double.
void NormalFill16(float* data, float mean, float stddev) {
  for (int j = 0; j < 8; ++j) {
    const float u1 = 1.0f - data[j];  // [0, 1) -> (0, 1] for log
    const float u2 = data[j + 8];
    const float radius = std::sqrt(-2.0f * std::log(u1));
    const float theta = static_cast<float>(2.0 * std::numbers::pi * static_cast<double>(u2));
    const float c = radius * std::cos(theta);
    const float s = radius * std::sin(theta);
    const float cs = c * stddev;
    const float ss = s * stddev;
    data[j] = cs + mean;
    data[j + 8] = ss + mean;
  }
}

}  // namespace

CpuGenerator::CpuGenerator(uint64_t seed) { ManualSeed(seed); }

void CpuGenerator::ManualSeed(uint64_t seed) {
  seed_ = seed;
  state_[0] = static_cast<uint32_t>(seed & 0xffffffffu);
  for (int j = 1; j < kStateSize; ++j) {
    const uint32_t prev = state_[j - 1];
    state_[j] = 1812433253u * (prev ^ (prev >> 30)) + static_cast<uint32_t>(j);
  }
  left_ = 1;
  next_ = 0;
  words_drawn_ = 0;
  next_double_normal_.reset();
}

void CpuGenerator::Twist() {
  auto mix = [](uint32_t u, uint32_t v) {
    const uint32_t y = (u & kUpperMask) | (v & kLowerMask);
    return (y >> 1) ^ ((v & 1u) ? kMatrixA : 0u);
  };
  for (int k = 0; k < kStateSize; ++k) {
    const uint32_t next = state_[(k + 1) % kStateSize];
    state_[k] = state_[(k + kShift) % kStateSize] ^ mix(state_[k], next);
  }
  left_ = kStateSize;
  next_ = 0;
}

uint32_t CpuGenerator::Random() {
  ++words_drawn_;
  if (--left_ == 0) Twist();
  uint32_t y = state_[next_++];
  y ^= y >> 11;
  y ^= (y << 7) & 0x9d2c5680u;
  y ^= (y << 15) & 0xefc60000u;
  y ^= y >> 18;
  return y;
}

uint64_t CpuGenerator::Random64() {
  const uint64_t hi = Random();
  const uint64_t lo = Random();
  return (hi << 32) | lo;
}

void FillUniform(CpuGenerator& gen, std::span<float> out, double from, double to,
                 CpuCapability capability) {
  assert(from <= to);
  const float f = static_cast<float>(from);
  const float t = static_cast<float>(to);
  for (float& v : out) v = ScaleUniform(UnitFloat(gen.Random()), f, t, capability);
}

void FillNormal(CpuGenerator& gen, std::span<float> out, double mean, double stddev) {
  assert(stddev >= 0);
  const size_t size = out.size();
  if (size < 16) {
    for (float& v : out) v = static_cast<float>(NormalDouble(gen, mean, stddev));
    return;
  }
  const float m = static_cast<float>(mean);
  const float s = static_cast<float>(stddev);
  for (float& v : out) v = UnitFloat(gen.Random());
  for (size_t i = 0; i + 16 <= size; i += 16) NormalFill16(out.data() + i, m, s);
  if (size % 16 != 0) {
    // The last 16 elements (overlapping the previous group) are redrawn and recomputed.
    float* tail = out.data() + size - 16;
    for (int i = 0; i < 16; ++i) tail[i] = UnitFloat(gen.Random());
    NormalFill16(tail, m, s);
  }
}

std::vector<float> Rand(uint64_t seed, int64_t numel) {
  return Uniform(seed, numel, 0.0, 1.0, CpuCapability::kDefault);
}

std::vector<float> Uniform(uint64_t seed, int64_t numel, double from, double to,
                           CpuCapability capability) {
  assert(numel >= 0);
  CpuGenerator gen(seed);
  std::vector<float> out(static_cast<size_t>(numel));
  FillUniform(gen, out, from, to, capability);
  return out;
}

std::vector<float> Normal(uint64_t seed, int64_t numel, double mean, double stddev) {
  assert(numel >= 0);
  CpuGenerator gen(seed);
  std::vector<float> out(static_cast<size_t>(numel));
  FillNormal(gen, out, mean, stddev);
  return out;
}

double KaimingUniformBound(int64_t fan_in, double a) {
  assert(fan_in >= 1);
  // init.calculate_gain('leaky_relu', a) and init.kaiming_uniform_, operation by operation.
  const double gain = std::sqrt(2.0 / (1.0 + std::pow(a, 2.0)));
  const double stddev = gain / std::sqrt(static_cast<double>(fan_in));
  return std::sqrt(3.0) * stddev;
}

LinearParams InitLinear(CpuGenerator& gen, int64_t out_features, int64_t in_features, bool bias,
                        CpuCapability capability) {
  assert(out_features >= 0 && in_features >= 0);
  LinearParams p;
  p.weight.assign(static_cast<size_t>(out_features * in_features), 0.0f);
  if (!p.weight.empty()) {
    const double bound = KaimingUniformBound(in_features, std::sqrt(5.0));
    FillUniform(gen, p.weight, -bound, bound, capability);
  }
  if (bias) {
    p.bias.assign(static_cast<size_t>(out_features), 0.0f);
    // `1 / math.sqrt(fan_in) if fan_in > 0 else 0`; uniform_(0, 0) still draws, all zeros.
    const double bound = in_features > 0 ? 1.0 / std::sqrt(static_cast<double>(in_features)) : 0;
    FillUniform(gen, p.bias, in_features > 0 ? -bound : 0.0, bound, capability);
  }
  return p;
}

LinearParams Linear(uint64_t seed, int64_t out_features, int64_t in_features, bool bias,
                    CpuCapability capability) {
  CpuGenerator gen(seed);
  return InitLinear(gen, out_features, in_features, bias, capability);
}

}  // namespace twinsim::kernels::torch
