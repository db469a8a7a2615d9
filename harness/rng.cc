#include "harness/rng.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "core/json.h"
#include "core/text.h"
#include "kernels/philox.h"
#include "kernels/resolve.h"
#include "kernels/torch/cpu_generator.h"

namespace twinsim::harness {
namespace {

using Json = nlohmann::ordered_json;
using core::Quote;

// Elements computed per batch: bounds memory for any range while keeping calls large.
constexpr uint64_t kBatchElements = uint64_t{1} << 16;

Status Bad(std::string message) { return Status::InvalidArgument(std::move(message)); }

// A number as a message quotes it: fmt's shortest form ("-1", "0.5").
std::string QuoteNumber(double v) { return Quote(fmt::format("{}", v)); }

Json HexArray(const std::vector<float>& values) {
  Json a = Json::array();
  for (const float v : values) a.push_back(HexFloat(v));
  return a;
}

std::vector<float> FloatsOf(const Json& a) {
  std::vector<float> values;
  for (const Json& e : a) values.push_back(std::strtof(e.get<std::string>().c_str(), nullptr));
  return values;
}

template <typename T>
void PutOptional(Json& j, const char* key, const std::optional<T>& v) {
  if (v) j[key] = *v;
}
template <typename T>
void GetOptional(const Json& j, const char* key, std::optional<T>& v) {
  v.reset();
  if (j.contains(key)) v = j.at(key).get<T>();
}

// --numel with optional --begin/--end.
Status PlanFlat(const RngFillRequest& q, RngFillPlan& plan) {
  const std::pair<const char*, const std::optional<uint64_t>*> block_options[] = {
      {"--rows", &q.rows},           {"--cols", &q.cols},
      {"--row-begin", &q.row_begin}, {"--row-end", &q.row_end},
      {"--col-begin", &q.col_begin}, {"--col-end", &q.col_end}};
  for (const auto& [name, value] : block_options) {
    if (value->has_value()) {
      return Bad(std::string(name) +
                 ": cannot be combined with --numel (a flat parameter); use --begin/--end");
    }
  }
  if (!q.numel) {
    return Bad("--numel: missing; give --numel N for a flat parameter or --rows R --cols C for a "
               "2-D one");
  }
  plan.numel = *q.numel;
  plan.end = q.end.value_or(plan.numel);
  if (plan.end > plan.numel) {
    return Bad("--end: expected at most --numel (" + std::to_string(plan.numel) + "), got " +
               Quote(std::to_string(*q.end)));
  }
  plan.begin = q.begin.value_or(0);
  if (plan.begin > plan.end) {
    return Bad(std::string("--begin: expected at most ") + (q.end ? "--end (" : "--numel (") +
               std::to_string(plan.end) + "), got " + Quote(std::to_string(plan.begin)));
  }
  return Status::Ok();
}

// --rows/--cols with optional --row-begin/--row-end/--col-begin/--col-end.
Status Plan2D(const RngFillRequest& q, RngFillPlan& plan) {
  for (const auto& [name, value] : {std::pair{"--begin", &q.begin}, {"--end", &q.end}}) {
    if (value->has_value()) {
      return Bad(std::string(name) +
                 ": only valid with --numel; for a 2-D block use --row-begin/--row-end and "
                 "--col-begin/--col-end");
    }
  }
  if (!q.rows) return Bad("--rows: missing; --cols needs --rows");
  if (!q.cols) return Bad("--cols: missing; --rows needs --cols");
  plan.is_block = true;
  kernels::Block2D& b = plan.block;
  b.rows = *q.rows;
  b.cols = *q.cols;
  b.row_begin = q.row_begin.value_or(0);
  b.row_end = q.row_end.value_or(b.rows);
  b.col_begin = q.col_begin.value_or(0);
  b.col_end = q.col_end.value_or(b.cols);
  if (const Status valid = kernels::ValidateBlock(b); !valid.ok()) {
    const char* options = (b.row_begin > b.row_end || b.row_end > b.rows) ? "--row-begin/--row-end"
                          : (b.col_begin > b.col_end || b.col_end > b.cols)
                              ? "--col-begin/--col-end"
                              : "--rows/--cols";
    return Bad(std::string(options) + ": " + valid.message());
  }
  plan.numel = b.rows * b.cols;  // ValidateBlock checked that it fits
  return Status::Ok();
}

}  // namespace

std::string HexFloat(float value) {
  char text[48];
  std::snprintf(text, sizeof text, "%a", static_cast<double>(value));
  return text;
}

RngPhiloxReport RunRngPhilox(const RngPhiloxRequest& request) {
  kernels::PhiloxKey key{};
  kernels::PhiloxCounter counter{};
  std::copy(request.key.begin(), request.key.end(), key.w);
  std::copy(request.counter.begin(), request.counter.end(), counter.w);
  const kernels::PhiloxCounter r = kernels::Philox4x32(counter, key);
  return {{r.w[0], r.w[1], r.w[2], r.w[3]}};
}

// ---------------------------------------------------------------------------------------------
// rng fill

Status RngFillRequest::Validate() const { return PlanRngFill(*this).status(); }

uint64_t RngFillPlan::NumValues() const {
  if (!is_block) return end - begin;
  return (block.row_end - block.row_begin) * (block.col_end - block.col_begin);
}

StatusOr<RngFillPlan> PlanRngFill(const RngFillRequest& q) {
  if (q.param.empty()) return Bad("--param: expected a non-empty parameter name, got ''");
  if (!core::IsValidUtf8(q.param)) {
    return Bad("--param: expected a name in UTF-8, got " + Quote(q.param));
  }
  RngFillPlan plan;
  StatusOr<core::InitSpec> spec = core::ParseInitSpec(q.dist);
  if (!spec.ok()) return Bad("--dist: " + spec.status().message());
  StatusOr<kernels::Transform> transform = kernels::Resolve(*spec);
  if (!transform.ok()) return Bad("--dist: " + transform.status().message());
  if (!q.dtype.empty()) {
    StatusOr<kernels::DType> dtype = kernels::ParseDType(q.dtype);
    if (!dtype.ok()) return Bad("--dtype: " + dtype.status().message());
    plan.dtype = *dtype;
  }
  plan.seed = q.seed;
  plan.param = q.param;
  plan.spec = *spec;
  plan.transform = *transform;
  plan.stream.key = kernels::DeriveParamKey(q.seed, q.param);
  plan.stream.draw = q.draw;
  TWINSIM_RETURN_IF_ERROR(!q.numel && (q.rows || q.cols) ? Plan2D(q, plan) : PlanFlat(q, plan));
  return plan;
}

void ForEachFillBatch(const RngFillPlan& plan,
                      const std::function<bool(std::span<const float>)>& batch) {
  std::vector<float> raw(kBatchElements);  // float-aligned storage for any dtype
  std::vector<float> values(kBatchElements);
  auto emit = [&](uint64_t n) {
    for (uint64_t i = 0; i < n; ++i) values[i] = kernels::LoadAsFloat(plan.dtype, raw.data(), i);
    return batch(std::span<const float>(values.data(), n));
  };
  if (!plan.is_block) {
    for (uint64_t e = plan.begin; e < plan.end;) {
      const uint64_t n = std::min(kBatchElements, plan.end - e);
      kernels::FillRange(plan.stream, plan.transform, plan.dtype, e, e + n, raw.data());
      if (!emit(n)) return;
      e += n;
    }
    return;
  }
  // Bands of whole rows when a row is short, else one row at a time in column segments.
  // Steps are computed so that no index ever passes the block's end (no wrap-around).
  const kernels::Block2D& block = plan.block;
  const uint64_t width = block.col_end - block.col_begin;
  const uint64_t band_rows = std::max<uint64_t>(1, kBatchElements / std::max<uint64_t>(width, 1));
  for (uint64_t r = block.row_begin; width > 0 && r < block.row_end;) {
    kernels::Block2D part = block;
    part.row_begin = r;
    part.row_end = r + std::min(band_rows, block.row_end - r);
    for (uint64_t c = block.col_begin; c < block.col_end;) {
      part.col_begin = c;
      part.col_end = c + std::min(kBatchElements, block.col_end - c);
      kernels::FillBlock2D(plan.stream, plan.transform, plan.dtype, part, raw.data());
      if (!emit((part.row_end - part.row_begin) * (part.col_end - part.col_begin))) return;
      c = part.col_end;
    }
    r = part.row_end;
  }
}

RngFillReport FillReportHeader(const RngFillPlan& plan) {
  RngFillReport r;
  r.seed = plan.seed;
  r.param = plan.param;
  r.numel = plan.numel;
  r.dist = core::FormatInitSpec(plan.spec);
  r.dtype = std::string(kernels::DTypeName(plan.dtype));
  r.draw = plan.stream.draw;
  if (plan.is_block) {
    r.rows = plan.block.rows;
    r.cols = plan.block.cols;
    r.row_begin = plan.block.row_begin;
    r.row_end = plan.block.row_end;
    r.col_begin = plan.block.col_begin;
    r.col_end = plan.block.col_end;
  } else {
    r.begin = plan.begin;
    r.end = plan.end;
  }
  return r;
}

void to_json(Json& j, const RngFillReport& r) {
  j = Json{{"seed", r.seed}, {"param", r.param}};
  PutOptional(j, "rows", r.rows);
  PutOptional(j, "cols", r.cols);
  j["numel"] = r.numel;
  j["dist"] = r.dist;
  j["dtype"] = r.dtype;
  j["draw"] = r.draw;
  PutOptional(j, "row_begin", r.row_begin);
  PutOptional(j, "row_end", r.row_end);
  PutOptional(j, "col_begin", r.col_begin);
  PutOptional(j, "col_end", r.col_end);
  PutOptional(j, "begin", r.begin);
  PutOptional(j, "end", r.end);
  j["values"] = HexArray(r.values);
}

void from_json(const Json& j, RngFillReport& r) {
  j.at("seed").get_to(r.seed);
  j.at("param").get_to(r.param);
  GetOptional(j, "rows", r.rows);
  GetOptional(j, "cols", r.cols);
  j.at("numel").get_to(r.numel);
  j.at("dist").get_to(r.dist);
  j.at("dtype").get_to(r.dtype);
  j.at("draw").get_to(r.draw);
  GetOptional(j, "row_begin", r.row_begin);
  GetOptional(j, "row_end", r.row_end);
  GetOptional(j, "col_begin", r.col_begin);
  GetOptional(j, "col_end", r.col_end);
  GetOptional(j, "begin", r.begin);
  GetOptional(j, "end", r.end);
  r.values = FloatsOf(j.at("values"));
}

StatusOr<RngFillReport> RunRngFill(const RngFillRequest& request) {
  TWINSIM_ASSIGN_OR_RETURN(const RngFillPlan plan, PlanRngFill(request));
  RngFillReport r = FillReportHeader(plan);
  r.values.reserve(plan.NumValues());
  ForEachFillBatch(plan, [&r](std::span<const float> batch) {
    r.values.insert(r.values.end(), batch.begin(), batch.end());
    return true;
  });
  return r;
}

// ---------------------------------------------------------------------------------------------
// rng torch-cpu

Status RngTorchCpuRequest::Validate() const {
  if (op != "rand" && op != "normal" && op != "linear") {
    return Bad("--op: expected one of rand, normal, linear, got " + Quote(op));
  }
  const bool linear = op == "linear";
  if (linear ? shape.size() != 2 : shape.empty() || shape.size() > 8) {
    return Bad(std::string("--shape: expected ") +
               (linear ? "2 comma-separated non-negative dimensions"
                       : "between 1 and 8 comma-separated non-negative dimensions") +
               " (got " + std::to_string(shape.size()) + ")");
  }
  for (const int64_t d : shape) {
    if (d < 0) return Bad("--shape: expected non-negative dimensions, got " + std::to_string(d));
  }
  if (op != "normal") {
    for (const auto& [name, value] : {std::pair{"--mean", &mean}, {"--std", &std}}) {
      if (value->has_value()) return Bad(std::string(name) + ": only valid with --op normal");
    }
  } else if (std && !(*std >= 0)) {
    return Bad("--std: expected a non-negative number, got " + QuoteNumber(*std));
  }
  if (no_bias && !linear) return Bad("--no-bias: only valid with --op linear");
  if (!capability.empty()) {
    if (capability != "avx2" && capability != "default") {
      return Bad("--capability: expected avx2 or default, got " + Quote(capability));
    }
    if (op == "normal" && capability != "default") {
      return Bad(
          "--capability: normal is modelled only under 'default' (ATEN_CPU_CAPABILITY="
          "default); PyTorch's AVX2 normal_ differs in the last bits for 16 or more elements");
    }
  }
  return Status::Ok();
}

void to_json(Json& j, const RngTorchCpuReport& r) {
  j = Json{{"seed", r.seed}, {"op", r.op}, {"shape", r.shape}};
  if (r.op == "linear") {
    j["weight"] = HexArray(r.weight);
    j["bias"] = HexArray(r.bias);
  } else {
    j["values"] = HexArray(r.values);
  }
}

void from_json(const Json& j, RngTorchCpuReport& r) {
  r = RngTorchCpuReport{};
  j.at("seed").get_to(r.seed);
  j.at("op").get_to(r.op);
  j.at("shape").get_to(r.shape);
  if (r.op == "linear") {
    r.weight = FloatsOf(j.at("weight"));
    r.bias = FloatsOf(j.at("bias"));
  } else {
    r.values = FloatsOf(j.at("values"));
  }
}

StatusOr<RngTorchCpuReport> RunRngTorchCpu(const RngTorchCpuRequest& request) {
  namespace torch = kernels::torch;
  TWINSIM_RETURN_IF_ERROR(request.Validate());
  RngTorchCpuReport r{request.seed, request.op, request.shape};
  if (request.op == "linear") {
    const torch::CpuCapability capability = request.capability == "default"
                                                ? torch::CpuCapability::kDefault
                                                : torch::CpuCapability::kAvx2;
    torch::LinearParams params = torch::Linear(request.seed, request.shape[0], request.shape[1],
                                               /*bias=*/!request.no_bias, capability);
    r.weight = std::move(params.weight);
    r.bias = std::move(params.bias);
    return r;
  }
  int64_t numel = 1;
  for (const int64_t d : request.shape) numel *= d;
  r.values = request.op == "rand" ? torch::Rand(request.seed, numel)
                                  : torch::Normal(request.seed, numel, request.mean.value_or(0.0),
                                                  request.std.value_or(1.0));
  return r;
}

// ---------------------------------------------------------------------------------------------
// rng torch-cuda

Status RngTorchCudaRequest::Validate() const {
  if (numel < 0) return Bad("--numel: expected a non-negative integer, got " +
                            Quote(std::to_string(numel)));
  StatusOr<kernels::torch::CudaDeviceProfile> profile =
      kernels::torch::CudaDeviceProfileByName(gpu);
  if (!profile.ok()) return Bad("--gpu: " + profile.status().message());
  if (from.value_or(0.0) > to.value_or(1.0)) {
    char text[32];
    std::snprintf(text, sizeof text, "%.17g", to.value_or(1.0));
    return Bad(std::string("--from: expected at most --to (") + text + "), got " +
               QuoteNumber(from.value_or(0.0)));
  }
  if (op != "uniform" && op != "normal") {
    return Bad("--op: expected uniform or normal, got " + Quote(op));
  }
  if (op == "uniform" && (mean || std)) {
    return Bad(std::string(mean ? "--mean" : "--std") + ": only valid with --op normal");
  }
  if (op == "normal" && (from || to)) {
    return Bad(std::string(from ? "--from" : "--to") + ": only valid with --op uniform");
  }
  if (std && !(*std >= 0)) {
    return Bad("--std: expected a non-negative number, got " + QuoteNumber(*std));
  }
  return Status::Ok();
}

void to_json(Json& j, const RngTorchCudaReport& r) {
  j = Json{{"seed", r.seed},
           {"numel", r.numel},
           {"offset", r.offset},
           {"gpu", r.gpu},
           {"op", r.op},
           {"grid", r.grid},
           {"block", r.block},
           {"counter_offset", r.counter_offset},
           {"offset_after", r.offset_after},
           {"values", HexArray(r.values)}};
}

void from_json(const Json& j, RngTorchCudaReport& r) {
  j.at("seed").get_to(r.seed);
  j.at("numel").get_to(r.numel);
  j.at("offset").get_to(r.offset);
  j.at("gpu").get_to(r.gpu);
  j.at("op").get_to(r.op);
  j.at("grid").get_to(r.grid);
  j.at("block").get_to(r.block);
  j.at("counter_offset").get_to(r.counter_offset);
  j.at("offset_after").get_to(r.offset_after);
  r.values = FloatsOf(j.at("values"));
}

StatusOr<RngTorchCudaReport> RunRngTorchCuda(const RngTorchCudaRequest& request) {
  namespace torch = kernels::torch;
  TWINSIM_RETURN_IF_ERROR(request.Validate());
  const torch::CudaDeviceProfile profile = *torch::CudaDeviceProfileByName(request.gpu);
  const torch::CudaLaunch launch = torch::TorchCudaLaunch(request.numel, profile);
  RngTorchCudaReport r{request.seed, request.numel, request.offset, profile.name, request.op,
                       launch.grid,  launch.block,  launch.counter_offset};
  r.offset_after =
      request.offset + torch::TorchCudaUniformPlan(request.numel, profile).offset_advance;
  r.values = request.op == "normal"
                 ? torch::CudaNormal(request.seed, request.offset, request.numel, profile,
                                     request.mean.value_or(0.0), request.std.value_or(1.0))
                 : torch::CudaUniform(request.seed, request.offset, request.numel, profile,
                                      request.from.value_or(0.0), request.to.value_or(1.0));
  return r;
}

}  // namespace twinsim::harness
