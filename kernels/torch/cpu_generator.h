// A bit-exact model of PyTorch's CPU random number generator and the init ops built on it.
//
// torch.manual_seed(s) followed by torch.rand / uniform_ / normal_ / nn.Linear on the CPU
// draws from one mt19937 stream in a fixed order. twinsim needs those exact bits to model the
// frameworks' seed schemes (torch-serial, megatron-cpu, ...) and to show where they differ from
// its own counter-based streams. Checked against Debian's PyTorch 1.13 by torch_oracle_test.
#ifndef TWINSIM_KERNELS_TORCH_CPU_GENERATOR_H_
#define TWINSIM_KERNELS_TORCH_CPU_GENERATOR_H_

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <type_traits>
#include <vector>

namespace twinsim::kernels::torch {

// Note [ATen CPU capability and the bits it produces]
// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
// ATen compiles its CPU kernels once per capability (DEFAULT, AVX2, AVX512) and picks one at
// start-up from the CPU, or from the environment variable ATEN_CPU_CAPABILITY. The builds run
// the same C++ source but not the same arithmetic:
//   * uniform_ computes `x * (to - from) + from` in float. The AVX2 build is compiled with
//     -mfma and GCC's default -ffp-contract=fast, so it becomes fma(x, to - from, from); the
//     DEFAULT build (baseline x86-64, no FMA) rounds the product and the sum separately. For
//     rand() (from = 0, to = 1) both are exact and agree; for any other range they differ in
//     the last bit for roughly half of the elements (measured: 44,798 of 100,000).
//   * normal_ on a contiguous float tensor with >= 16 elements runs normal_fill with libm's
//     logf/cosf/sinf in the DEFAULT build, but normal_fill_AVX2 in the AVX2 build. See
//     Note [normal_ under AVX2] for what that costs.
// PyTorch's own choice on a machine is printed by torch.__config__.show() ("CPU capability
// usage: AVX2"; "NO AVX" means DEFAULT). uniform_-based ops below default to kAvx2, what
// PyTorch runs on x86-64 machines of the last decade; Normal() models DEFAULT, the path that
// can be reproduced bit for bit. The seeded functions below are pure and thread-safe; the
// stateful ones touch only the generator passed in. REQUIRES violations are assert()s.
enum class CpuCapability {
  kDefault,  // ATEN_CPU_CAPABILITY=default: separate multiply and add.
  kAvx2,     // PyTorch's choice on x86-64 CPUs with AVX2: fused multiply-add in uniform_.
};

// Note [normal_ under AVX2]
// ~~~~~~~~~~~~~~~~~~~~~~~~~
// With the AVX2 capability, PyTorch 1.13 fills float tensors of >= 16 elements with
// normal_fill_AVX2: the same uniforms in the same order and the same 16-element Box-Muller
// layout as normal_fill, but log and sincos come from vector polynomials (ATen's source
// calls log256_ps / sincos256_ps from avx_mathfun.h, Cephes-style approximations, rather than
// Sleef or libm), theta = 2*pi*u2 is rounded in float
// instead of double, and `n * std + mean` is one fused multiply-add. twinsim models the
// DEFAULT path bit for bit (Normal() below) and states how far the AVX2 path is from it:
//   |ours - torch| <= kNormalAvx2ScaledUlpBound * ulp(max(|torch|, |mean|, std)).
// Measured against PyTorch 1.13 (AVX2, this machine) on 39.3 million elements (150 random
// seeds, 262,147-262,162 elements each, mean in {0, U(-2, 2)}, std from 0.001 to 5 including
// values just below powers of two): worst 39.5 ulp of that scale, 64.6% of elements
// bit-identical. Why that scale: the error is dominated by theta, which the AVX2 path rounds
// to float (|d theta| <= ~6.5e-7 near 2*pi, plus ~2e-7 from the polynomial sincos), times
// radius * std with radius <= sqrt(-2 ln 2^-24) = 5.77: at most ~4.9e-6 * std, i.e. <= ~82
// ulp(std) since ulp(x) > x * 2^-24, plus a few ulp of the value from log and rounding. The
// asserted bound, 128, leaves room above that worst case. A plain per-value ULP distance has
// no useful bound: where cos(theta) or sin(theta) crosses zero the value is tiny (or changes
// sign) while the absolute error is not; in the same measurement it reached 1.8e9 ulp.
// AVX-512 CPUs run yet another build (ATen's source shows the scalar normal_fill, compiled
// with FMA); not measured here, as this machine has no AVX-512.
inline constexpr double kNormalAvx2ScaledUlpBound = 128;

// PyTorch's CPUGeneratorImpl: at::mt19937 plus the cached second Box-Muller sample.
//
// Seeding follows torch.manual_seed: only the low 32 bits of the seed reach mt19937
// (at::mt19937 stores `seed & 0xffffffff` as state[0]), so seeds s and s + 2^32 give the same
// stream; seed() still reports the full 64-bit value, as torch.initial_seed() does.
// Not thread-safe: one generator per thread, as PyTorch locks its own around each op.
class CpuGenerator {
 public:
  explicit CpuGenerator(uint64_t seed);

  // torch.manual_seed(seed): reseeds mt19937 and drops any cached normal sample.
  void ManualSeed(uint64_t seed);
  uint64_t seed() const { return seed_; }

  // The next 32-bit mt19937 output (CPUGeneratorImpl::random()).
  uint32_t Random();
  // Two 32-bit outputs, the first in the high half (CPUGeneratorImpl::random64()).
  uint64_t Random64();

  // How many 32-bit outputs Random() has produced since the last seeding: the position in
  // the stream, which seed policies report so that overlapping draws can be detected. Not
  // part of PyTorch's state (it does not change any output).
  uint64_t words_drawn() const { return words_drawn_; }

  // The second sample of the last Box-Muller pair drawn by at::normal_distribution<double>,
  // as a standard normal; empty after seeding and after it has been used.
  std::optional<double> next_double_normal_sample() const { return next_double_normal_; }
  void set_next_double_normal_sample(std::optional<double> sample) { next_double_normal_ = sample; }

 private:
  static constexpr int kStateSize = 624;
  void Twist();

  std::array<uint32_t, kStateSize> state_;
  int left_ = 1;
  int next_ = 0;
  uint64_t seed_ = 0;
  uint64_t words_drawn_ = 0;
  std::optional<double> next_double_normal_;
};

// The generator is plain data, so its state can be sent between ranks as bytes, as PyTorch
// pipelining sends torch.get_rng_state() tensors stage to stage.
static_assert(std::is_trivially_copyable_v<CpuGenerator>);

// ---- Stateful ops: draw from `gen` exactly as the PyTorch op on a fresh float32 tensor. ----

// tensor.uniform_(from, to) on a float32 tensor of out.size() elements, in element order.
// REQUIRES: from <= to, both finite (PyTorch checks this). One Random() per element.
void FillUniform(CpuGenerator& gen, std::span<float> out, double from, double to,
                 CpuCapability capability = CpuCapability::kAvx2);

// tensor.normal_(mean, std) on a contiguous float32 tensor of out.size() elements, DEFAULT
// capability. Below 16 elements: at::normal_distribution<double> per element, using and
// refilling the generator's cached sample. From 16 up: normal_fill (all uniforms first,
// Box-Muller per 16-element group, the last group recomputed from 16 fresh uniforms when the
// size is not a multiple of 16). REQUIRES: std >= 0.
void FillNormal(CpuGenerator& gen, std::span<float> out, double mean, double std);

// ---- Seeded ops: torch.manual_seed(seed) followed by one op. ----

// torch.rand(numel). REQUIRES: numel >= 0. Identical under every capability.
std::vector<float> Rand(uint64_t seed, int64_t numel);

// torch.empty(numel).uniform_(from, to). REQUIRES: numel >= 0, from <= to.
std::vector<float> Uniform(uint64_t seed, int64_t numel, double from, double to,
                           CpuCapability capability = CpuCapability::kAvx2);

// torch.empty(numel).normal_(mean, std) under ATEN_CPU_CAPABILITY=default; see
// Note [normal_ under AVX2] for the machine-default path. REQUIRES: numel >= 0, std >= 0.
std::vector<float> Normal(uint64_t seed, int64_t numel, double mean, double std);

// The parameters of torch.nn.Linear after its default reset_parameters().
struct LinearParams {
  std::vector<float> weight;  // row-major [out_features, in_features]
  std::vector<float> bias;    // [out_features]; empty when bias == false
};

// The bound torch.nn.init.kaiming_uniform_(w, a) uses for fan_in (mode='fan_in',
// nonlinearity='leaky_relu'), computed in double exactly as init.py does:
// gain = sqrt(2 / (1 + a**2)), std = gain / sqrt(fan_in), bound = sqrt(3) * std.
// REQUIRES: fan_in >= 1.
double KaimingUniformBound(int64_t fan_in, double a);

// Draws nn.Linear(in_features, out_features, bias)'s default init from `gen`: weight by
// kaiming_uniform_(a=sqrt(5)), then bias by uniform_(-1/sqrt(fan_in), 1/sqrt(fan_in)).
// A zero-element weight draws nothing (init.py returns early); in_features == 0 gives a zero
// bias. REQUIRES: out_features >= 0, in_features >= 0.
LinearParams InitLinear(CpuGenerator& gen, int64_t out_features, int64_t in_features,
                        bool bias = true, CpuCapability capability = CpuCapability::kAvx2);

// torch.manual_seed(seed); torch.nn.Linear(in_features, out_features, bias=bias).
LinearParams Linear(uint64_t seed, int64_t out_features, int64_t in_features, bool bias = true,
                    CpuCapability capability = CpuCapability::kAvx2);

}  // namespace twinsim::kernels::torch

#endif  // TWINSIM_KERNELS_TORCH_CPU_GENERATOR_H_
