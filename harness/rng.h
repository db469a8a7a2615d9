// The library face of `twinsim rng` (DESIGN.md "Layout": harness/ holds one request -> report
// function per command): one request, run function and report per subcommand: philox (one
// Philox4x32-10 block), fill (twinsim's element-wise counter streams), torch-cpu (PyTorch's CPU
// generator) and torch-cuda (PyTorch's CUDA layout on a GPU model). The command parses option
// text into a request and prints the report; `rng fill` may print billions of values, so its
// plan is also walked in batches (ForEachFillBatch) instead of being held whole.
#ifndef TWINSIM_HARNESS_RNG_H_
#define TWINSIM_HARNESS_RNG_H_

#include <array>
#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/init_spec.h"
#include "core/status.h"
#include "kernels/dtype.h"
#include "kernels/fill.h"
#include "kernels/torch/cuda_layout.h"

namespace twinsim::harness {

// A float as C99 "%a" of the value widened to double ("0x1.8p-3"): how every value of `rng`
// reports is written in JSON and text.
std::string HexFloat(float value);

// ---------------------------------------------------------------------------------------------
// rng philox

struct RngPhiloxRequest {
  std::array<uint32_t, 2> key{};
  std::array<uint32_t, 4> counter{};
};
struct RngPhiloxReport {
  std::array<uint32_t, 4> words{};
};
RngPhiloxReport RunRngPhilox(const RngPhiloxRequest& request);  // pure

// ---------------------------------------------------------------------------------------------
// rng fill

// Elements [begin, end) of a flat parameter of `numel` elements, or the block [row_begin,
// row_end) x [col_begin, col_end) of a `rows` x `cols` one (element (r, c) is r * cols + c).
// Give numel (flat) or rows and cols (2-D), not both; unset bounds default to the whole.
struct RngFillRequest {
  uint64_t seed = 0;
  std::string param;  // REQUIRED: the stable parameter name; UTF-8, non-empty
  std::string dist;   // REQUIRED: an init spec, KIND[:key=value,...] (core::ParseInitSpec)
  std::string dtype;  // fp32 (default when ""), bf16 or fp16
  uint32_t draw = 0;
  std::optional<uint64_t> numel, begin, end;
  std::optional<uint64_t> rows, cols, row_begin, row_end, col_begin, col_end;
  // OK when RunRngFill would run; messages name the command-line option ("--numel: missing;
  // ...", "--end: expected at most --numel (4), got '9'", "--dist: unknown init kind ...").
  Status Validate() const;
};

// A request checked, with its stream resolved: what is filled.
struct RngFillPlan {
  uint64_t seed = 0;
  std::string param;
  core::InitSpec spec;
  kernels::Transform transform;
  kernels::ParamStream stream;
  kernels::DType dtype = kernels::DType::kFp32;
  bool is_block = false;
  uint64_t numel = 0, begin = 0, end = 0;  // flat: the elements; 2-D: numel = rows * cols
  kernels::Block2D block;                  // 2-D only
  uint64_t NumValues() const;
};
// Errors as RngFillRequest::Validate.
StatusOr<RngFillPlan> PlanRngFill(const RngFillRequest& request);
// Calls `batch` with the plan's values in order (row-major for a block), as floats (bf16 and
// fp16 values rounded, then widened), at most 65536 at a time, until it returns false.
void ForEachFillBatch(const RngFillPlan& plan,
                      const std::function<bool(std::span<const float>)>& batch);

// The report: the plan's coordinates and every value. JSON keys as `rng fill --json` prints
// them: seed, param, [rows, cols,] numel, dist, dtype, draw, then begin, end or row_begin,
// row_end, col_begin, col_end, then "values" as HexFloat strings.
struct RngFillReport {
  uint64_t seed = 0;
  std::string param;
  std::optional<uint64_t> rows, cols;  // 2-D only
  uint64_t numel = 0;
  std::string dist, dtype;  // core::FormatInitSpec; kernels::DTypeName
  uint32_t draw = 0;
  std::optional<uint64_t> begin, end;                           // flat only
  std::optional<uint64_t> row_begin, row_end, col_begin, col_end;  // 2-D only
  std::vector<float> values;
  friend bool operator==(const RngFillReport&, const RngFillReport&) = default;
};
// Everything but the values (empty); RunRngFill adds them.
RngFillReport FillReportHeader(const RngFillPlan& plan);
void to_json(nlohmann::ordered_json& j, const RngFillReport& r);
void from_json(const nlohmann::ordered_json& j, RngFillReport& r);
// Holds every value: for small ranges (the command streams with ForEachFillBatch instead).
StatusOr<RngFillReport> RunRngFill(const RngFillRequest& request);

// ---------------------------------------------------------------------------------------------
// rng torch-cpu

struct RngTorchCpuRequest {
  uint64_t seed = 0;  // torch.manual_seed(seed): only the low 32 bits reach the generator
  std::string op;     // REQUIRED: rand, normal or linear
  std::vector<int64_t> shape;  // rand/normal: 1 to 8 dims; linear: OUT, IN
  std::optional<double> mean, std;  // normal only (defaults 0 and 1; std >= 0)
  bool no_bias = false;             // linear only
  std::string capability;           // "" (avx2), "avx2" or "default"; normal: only "default"
  // Messages name the option: "--op: expected one of rand, normal, linear, got 'x'",
  // "--mean: only valid with --op normal", "--capability: ...".
  Status Validate() const;
};
// JSON: {"seed","op","shape", then "values", or for linear "weight" and "bias"}.
struct RngTorchCpuReport {
  uint64_t seed = 0;
  std::string op;
  std::vector<int64_t> shape;
  std::vector<float> values;        // rand, normal
  std::vector<float> weight, bias;  // linear: [OUT, IN] row-major, then the bias (or none)
  friend bool operator==(const RngTorchCpuReport&, const RngTorchCpuReport&) = default;
};
void to_json(nlohmann::ordered_json& j, const RngTorchCpuReport& r);
void from_json(const nlohmann::ordered_json& j, RngTorchCpuReport& r);
StatusOr<RngTorchCpuReport> RunRngTorchCpu(const RngTorchCpuRequest& request);

// ---------------------------------------------------------------------------------------------
// rng torch-cuda

struct RngTorchCudaRequest {
  uint64_t seed = 0;
  int64_t numel = 0;     // >= 0
  std::string gpu;       // REQUIRED: kernels::torch::CudaDeviceProfileNames()
  uint64_t offset = 0;   // the generator's Philox offset before the call
  std::string op = "uniform";            // or "normal"
  std::optional<double> from, to;        // uniform only (defaults 0 and 1; from <= to)
  std::optional<double> mean, std;       // normal only (defaults 0 and 1; std >= 0)
  Status Validate() const;
};
// JSON: {"seed","numel","offset","gpu","op","grid","block","counter_offset","offset_after",
// "values"}: PyTorch's (first) launch and the generator's offset after the call.
struct RngTorchCudaReport {
  uint64_t seed = 0;
  int64_t numel = 0;
  uint64_t offset = 0;
  std::string gpu, op;
  uint64_t grid = 0, block = 0, counter_offset = 0, offset_after = 0;
  std::vector<float> values;
  friend bool operator==(const RngTorchCudaReport&, const RngTorchCudaReport&) = default;
};
void to_json(nlohmann::ordered_json& j, const RngTorchCudaReport& r);
void from_json(const nlohmann::ordered_json& j, RngTorchCudaReport& r);
StatusOr<RngTorchCudaReport> RunRngTorchCuda(const RngTorchCudaRequest& request);

}  // namespace twinsim::harness

#endif  // TWINSIM_HARNESS_RNG_H_
