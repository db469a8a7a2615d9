#include "tools/cli/rng_command.h"

#include "tools/cli/invariance_command.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <memory>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "kernels/dtype.h"
#include "kernels/fill.h"
#include "kernels/resolve.h"
#include "kernels/philox.h"
#include "kernels/torch/cpu_generator.h"
#include "kernels/torch/cuda_layout.h"
#include "tools/cli/args.h"

namespace twinsim::cli {
namespace {

using kernels::DType;

constexpr char kSeedExpected[] = "an unsigned 64-bit integer (decimal or 0x hex)";

// Elements computed per batch: bounds memory for any range while keeping calls large.
constexpr uint64_t kBatchElements = uint64_t{1} << 16;

// Prefixes a library status message with the option it is about.
// Writes a sequence of floats as hex floats: one per line, or as the elements of a JSON array
// of strings (the caller writes the brackets).
class ValueWriter {
 public:
  ValueWriter(Output& out, bool json) : out_(out), json_(json) {}

  void Add(float value) {
    if (json_) {
      if (!first_) out_.Append(',');
      out_.Append('"');
      out_.AppendHexFloat(value);
      out_.Append('"');
    } else {
      out_.AppendHexFloat(value);
      out_.Append('\n');
    }
    first_ = false;
  }

  void AddAll(const std::vector<float>& values) {
    for (const float v : values) Add(v);
  }

 private:
  Output& out_;
  bool json_;
  bool first_ = true;
};

// Writes `"key":` (after a comma unless it is the first key of the object).
void JsonKey(Output& out, std::string_view key, bool first = false) {
  if (!first) out.Append(',');
  out.AppendJsonString(key);
  out.Append(':');
}

// ---------------------------------------------------------------------------------------------
// rng philox

class PhiloxCommand final : public Command {
 public:
  void DeclareOptions(CLI::App& app) override {
    app.add_option("--key", key_text_, "Philox key: two 32-bit words in hex, 0x optional")
        ->type_name("K0,K1")
        ->required();
    app.add_option("--counter", counter_text_,
                   "Philox counter: four 32-bit words in hex, 0x optional")
        ->type_name("C0,C1,C2,C3")
        ->required();
    app.footer(
        "Prints the four output words of Philox4x32-10 as 8-digit hex, space-separated.\n"
        "Example: twinsim rng philox --key 0,0 --counter 0,0,0,0\n"
        "         6627e8d5 e169c58d bc57ac4c 9b00dbd8");
  }

  Status Validate() override {
    StatusOr<std::vector<uint32_t>> key = ParseHexWords32("--key", key_text_, 2);
    if (!key.ok()) return key.status();
    StatusOr<std::vector<uint32_t>> counter = ParseHexWords32("--counter", counter_text_, 4);
    if (!counter.ok()) return counter.status();
    std::copy(key->begin(), key->end(), key_.w);
    std::copy(counter->begin(), counter->end(), counter_.w);
    return Status::Ok();
  }

  Status Execute(Output& out) override {
    const kernels::PhiloxCounter r = kernels::Philox4x32(counter_, key_);
    char line[64];
    std::snprintf(line, sizeof line, "%08" PRIx32 " %08" PRIx32 " %08" PRIx32 " %08" PRIx32 "\n",
                  r.w[0], r.w[1], r.w[2], r.w[3]);
    out.Append(line);
    return Status::Ok();
  }

 private:
  std::string key_text_, counter_text_;
  kernels::PhiloxKey key_{};
  kernels::PhiloxCounter counter_{};
};

// ---------------------------------------------------------------------------------------------
// rng fill

class FillCommand final : public Command {
 public:
  void DeclareOptions(CLI::App& app) override {
    app.add_option("--seed", seed_text_, "Root seed: unsigned 64-bit, decimal or 0x hex")
        ->type_name("S")
        ->required();
    app.add_option("--param", param_, "Stable parameter name, e.g. layers.0.attn.wq.weight")
        ->type_name("NAME")
        ->required();
    app.add_option("--dist", dist_text_, "Initializer spec KIND[:key=value,...]; see below")
        ->type_name("SPEC")
        ->required();
    app.add_option("--numel", numel_text_, "Number of elements of a flat parameter")
        ->type_name("N");
    app.add_option("--begin", begin_text_, "First element to print (default 0)")->type_name("B");
    app.add_option("--end", end_text_, "One past the last element to print (default N)")
        ->type_name("E");
    app.add_option("--rows", rows_text_, "Rows of a 2-D parameter (instead of --numel)")
        ->type_name("R");
    app.add_option("--cols", cols_text_, "Columns of a 2-D parameter (instead of --numel)")
        ->type_name("C");
    app.add_option("--row-begin", row_begin_text_, "First row of the block (default 0)")
        ->type_name("R0");
    app.add_option("--row-end", row_end_text_, "One past the last row (default R)")
        ->type_name("R1");
    app.add_option("--col-begin", col_begin_text_, "First column of the block (default 0)")
        ->type_name("C0");
    app.add_option("--col-end", col_end_text_, "One past the last column (default C)")
        ->type_name("C1");
    app.add_option("--dtype", dtype_text_, "Storage dtype: fp32 (default), bf16 or fp16")
        ->type_name("DTYPE");
    app.add_option("--draw", draw_text_, "Draw index, 0 for the first init (default 0)")
        ->type_name("D");
    app.add_flag("--json", json_, "Print one JSON object instead of one value per line");
    app.footer(
        "Prints elements [B, E) of the parameter, one per line as a C99 hex float (%a of the\n"
        "fp32 value; for bf16/fp16 the rounded value widened back to fp32). With --rows and\n"
        "--cols, prints the block [R0, R1) x [C0, C1) row-major; element (r, c) is element\n"
        "r * C + c of the flat parameter.\n"
        "\n"
        "SPEC kinds and keys (defaults as torch.nn.init):\n"
        "  uniform[:a=0,b=1]  normal[:mean=0,std=1]  trunc_normal[:mean=0,std=1,a=-2,b=2]\n"
        "  kaiming_uniform:fan_in=F[,fan_out=F,a=0,mode=fan_in,nonlinearity=leaky_relu]\n"
        "  kaiming_normal:...  xavier_uniform:fan_in=F,fan_out=F[,gain=1]  xavier_normal:...\n"
        "  constant:value=V\n"
        "\n"
        "Example: twinsim rng fill --seed 1234 --param wq.weight --numel 8 --dist normal:std=0.02");
  }

  Status Validate() override {
    StatusOr<uint64_t> seed = ParseUint64("--seed", seed_text_, kSeedExpected);
    if (!seed.ok()) return seed.status();
    if (param_.empty()) {
      return Status::InvalidArgument("--param: expected a non-empty parameter name, got ''");
    }
    if (!IsValidUtf8(param_)) {
      return Status::InvalidArgument("--param: expected a name in UTF-8, got " + Quote(param_));
    }
    StatusOr<core::InitSpec> spec = core::ParseInitSpec(dist_text_);
    if (!spec.ok()) return ForOption("--dist", spec.status());
    StatusOr<kernels::Transform> transform = kernels::Resolve(*spec);
    if (!transform.ok()) return ForOption("--dist", transform.status());
    if (!dtype_text_.empty()) {
      StatusOr<DType> dtype = kernels::ParseDType(dtype_text_);
      if (!dtype.ok()) return ForOption("--dtype", dtype.status());
      dtype_ = *dtype;
    }
    if (!draw_text_.empty()) {
      StatusOr<uint64_t> draw =
          ParseUint64AtMost("--draw", draw_text_, std::numeric_limits<uint32_t>::max());
      if (!draw.ok()) return draw.status();
      stream_.draw = static_cast<uint32_t>(*draw);
    }
    seed_ = *seed;
    stream_.key = kernels::DeriveParamKey(seed_, param_);
    spec_ = *spec;
    transform_ = *transform;
    return numel_text_.empty() && (!rows_text_.empty() || !cols_text_.empty()) ? Validate2D()
                                                                               : ValidateFlat();
  }

  Status Execute(Output& out) override {
    ValueWriter values(out, json_);
    if (json_) WriteJsonHeader(out);
    std::vector<float> batch(kBatchElements);  // float-aligned storage for any dtype
    if (is_block_) {
      // Bands of whole rows when a row is short, else one row at a time in column segments.
      // Steps are computed so that no index ever passes the block's end (no wrap-around).
      const uint64_t width = block_.col_end - block_.col_begin;
      const uint64_t band_rows =
          std::max<uint64_t>(1, kBatchElements / std::max<uint64_t>(width, 1));
      for (uint64_t r = block_.row_begin; width > 0 && r < block_.row_end && out.ok();) {
        kernels::Block2D part = block_;
        part.row_begin = r;
        part.row_end = r + std::min(band_rows, block_.row_end - r);
        for (uint64_t c = block_.col_begin; c < block_.col_end;) {
          part.col_begin = c;
          part.col_end = c + std::min(kBatchElements, block_.col_end - c);
          kernels::FillBlock2D(stream_, transform_, dtype_, part, batch.data());
          const uint64_t n = (part.row_end - part.row_begin) * (part.col_end - part.col_begin);
          for (uint64_t i = 0; i < n; ++i) {
            values.Add(kernels::LoadAsFloat(dtype_, batch.data(), i));
          }
          c = part.col_end;
        }
        r = part.row_end;
      }
    } else {
      for (uint64_t e = begin_; e < end_ && out.ok();) {
        const uint64_t n = std::min(kBatchElements, end_ - e);
        kernels::FillRange(stream_, transform_, dtype_, e, e + n, batch.data());
        for (uint64_t i = 0; i < n; ++i) {
          values.Add(kernels::LoadAsFloat(dtype_, batch.data(), i));
        }
        e += n;
      }
    }
    if (json_) out.Append("]}\n");
    return Status::Ok();
  }

 private:
  // --numel with optional --begin/--end.
  Status ValidateFlat() {
    for (const auto& [name, text] : BlockOptions()) {
      if (!text->empty()) {
        return Status::InvalidArgument(std::string(name) +
                                       ": cannot be combined with --numel (a flat parameter); "
                                       "use --begin/--end");
      }
    }
    if (numel_text_.empty()) {
      return Status::InvalidArgument(
          "--numel: missing; give --numel N for a flat parameter or --rows R --cols C for a "
          "2-D one");
    }
    StatusOr<uint64_t> numel = ParseUint64("--numel", numel_text_);
    if (!numel.ok()) return numel.status();
    numel_ = *numel;
    end_ = numel_;
    if (!end_text_.empty()) {
      StatusOr<uint64_t> end = ParseUint64("--end", end_text_);
      if (!end.ok()) return end.status();
      if (*end > numel_) {
        return Status::InvalidArgument("--end: expected at most --numel (" +
                                       std::to_string(numel_) + "), got " + Quote(end_text_));
      }
      end_ = *end;
    }
    if (!begin_text_.empty()) {
      StatusOr<uint64_t> begin = ParseUint64("--begin", begin_text_);
      if (!begin.ok()) return begin.status();
      if (*begin > end_) {
        return Status::InvalidArgument(std::string("--begin: expected at most ") +
                                       (end_text_.empty() ? "--numel (" : "--end (") +
                                       std::to_string(end_) + "), got " + Quote(begin_text_));
      }
      begin_ = *begin;
    }
    return Status::Ok();
  }

  // --rows/--cols with optional --row-begin/--row-end/--col-begin/--col-end.
  Status Validate2D() {
    for (const auto& [name, text] : {std::pair{"--begin", &begin_text_}, {"--end", &end_text_}}) {
      if (!text->empty()) {
        return Status::InvalidArgument(
            std::string(name) +
            ": only valid with --numel; for a 2-D block use --row-begin/--row-end and "
            "--col-begin/--col-end");
      }
    }
    if (rows_text_.empty()) return Status::InvalidArgument("--rows: missing; --cols needs --rows");
    if (cols_text_.empty()) return Status::InvalidArgument("--cols: missing; --rows needs --cols");
    is_block_ = true;
    StatusOr<uint64_t> rows = ParseUint64("--rows", rows_text_);
    if (!rows.ok()) return rows.status();
    StatusOr<uint64_t> cols = ParseUint64("--cols", cols_text_);
    if (!cols.ok()) return cols.status();
    block_.rows = *rows;
    block_.cols = *cols;
    block_.row_end = block_.rows;
    block_.col_end = block_.cols;
    const std::pair<const char*, std::pair<const std::string*, uint64_t*>> bounds[] = {
        {"--row-begin", {&row_begin_text_, &block_.row_begin}},
        {"--row-end", {&row_end_text_, &block_.row_end}},
        {"--col-begin", {&col_begin_text_, &block_.col_begin}},
        {"--col-end", {&col_end_text_, &block_.col_end}},
    };
    for (const auto& [name, text_and_field] : bounds) {
      const auto& [text, field] = text_and_field;
      if (text->empty()) continue;
      StatusOr<uint64_t> value = ParseUint64(name, *text);
      if (!value.ok()) return value.status();
      *field = *value;
    }
    if (const Status valid = kernels::ValidateBlock(block_); !valid.ok()) {
      const kernels::Block2D& b = block_;
      const char* options =
          (b.row_begin > b.row_end || b.row_end > b.rows)   ? "--row-begin/--row-end"
          : (b.col_begin > b.col_end || b.col_end > b.cols) ? "--col-begin/--col-end"
                                                            : "--rows/--cols";
      return ForOption(options, valid);
    }
    numel_ = block_.rows * block_.cols;  // ValidateBlock checked that it fits
    return Status::Ok();
  }

  std::vector<std::pair<const char*, const std::string*>> BlockOptions() const {
    return {{"--rows", &rows_text_},           {"--cols", &cols_text_},
            {"--row-begin", &row_begin_text_}, {"--row-end", &row_end_text_},
            {"--col-begin", &col_begin_text_}, {"--col-end", &col_end_text_}};
  }

  void WriteJsonHeader(Output& out) const {
    out.Append('{');
    JsonKey(out, "seed", /*first=*/true);
    out.AppendUnsigned(seed_);
    JsonKey(out, "param");
    out.AppendJsonString(param_);
    if (is_block_) {
      JsonKey(out, "rows");
      out.AppendUnsigned(block_.rows);
      JsonKey(out, "cols");
      out.AppendUnsigned(block_.cols);
    }
    JsonKey(out, "numel");
    out.AppendUnsigned(numel_);
    JsonKey(out, "dist");
    out.AppendJsonString(core::FormatInitSpec(spec_));
    JsonKey(out, "dtype");
    out.AppendJsonString(kernels::DTypeName(dtype_));
    JsonKey(out, "draw");
    out.AppendUnsigned(stream_.draw);
    if (is_block_) {
      const std::pair<const char*, uint64_t> bounds[] = {{"row_begin", block_.row_begin},
                                                         {"row_end", block_.row_end},
                                                         {"col_begin", block_.col_begin},
                                                         {"col_end", block_.col_end}};
      for (const auto& [key, value] : bounds) {
        JsonKey(out, key);
        out.AppendUnsigned(value);
      }
    } else {
      JsonKey(out, "begin");
      out.AppendUnsigned(begin_);
      JsonKey(out, "end");
      out.AppendUnsigned(end_);
    }
    JsonKey(out, "values");
    out.Append('[');
  }

  // As given on the command line.
  std::string seed_text_, param_, dist_text_, numel_text_, begin_text_, end_text_;
  std::string rows_text_, cols_text_, row_begin_text_, row_end_text_, col_begin_text_,
      col_end_text_;
  std::string dtype_text_, draw_text_;
  bool json_ = false;
  // Validated.
  uint64_t seed_ = 0;
  core::InitSpec spec_;
  kernels::Transform transform_;
  kernels::ParamStream stream_;
  DType dtype_ = DType::kFp32;
  bool is_block_ = false;
  uint64_t numel_ = 0, begin_ = 0, end_ = 0;
  kernels::Block2D block_;
};

// ---------------------------------------------------------------------------------------------
// rng torch-cpu

class TorchCpuCommand final : public Command {
 public:
  void DeclareOptions(CLI::App& app) override {
    app.add_option("--seed", seed_text_, "torch.manual_seed(S): unsigned 64-bit, decimal or 0x hex")
        ->type_name("S")
        ->required();
    app.add_option("--op", op_, "rand, normal or linear")->type_name("OP")->required();
    app.add_option("--shape", shape_text_,
                   "rand/normal: the tensor shape A[,B,...]; linear: OUT,IN")
        ->type_name("SHAPE")
        ->required();
    app.add_option("--mean", mean_text_, "normal only: the mean (default 0)")->type_name("M");
    app.add_option("--std", std_text_, "normal only: the standard deviation (default 1)")
        ->type_name("SD");
    app.add_flag("--no-bias", no_bias_, "linear only: nn.Linear(IN, OUT, bias=False)");
    app.add_option("--capability", capability_text_,
                   "ATen CPU capability: avx2 (default for rand, linear) or default "
                   "(ATEN_CPU_CAPABILITY=default; the only one modelled for normal)")
        ->type_name("CAP");
    app.add_flag("--json", json_, "Print one JSON object instead of one value per line");
    app.footer(
        "Prints what PyTorch's CPU generator gives after torch.manual_seed(S), one value per\n"
        "line as a C99 hex float:\n"
        "  rand    torch.rand(shape)\n"
        "  normal  torch.empty(shape).normal_(M, SD)\n"
        "  linear  torch.nn.Linear(IN, OUT): the weight [OUT, IN] row-major, then the bias\n"
        "With --json: {\"seed\":..,\"op\":..,\"shape\":[..],\"values\":[..]}, or for linear\n"
        "{\"seed\":..,\"op\":\"linear\",\"shape\":[OUT,IN],\"weight\":[..],\"bias\":[..]}.\n"
        "Only the low 32 bits of S reach the generator, as in torch.manual_seed.\n"
        "Example: twinsim rng torch-cpu --seed 0 --op linear --shape 4,3");
  }

  Status Validate() override {
    StatusOr<uint64_t> seed = ParseUint64("--seed", seed_text_, kSeedExpected);
    if (!seed.ok()) return seed.status();
    seed_ = *seed;
    if (op_ != "rand" && op_ != "normal" && op_ != "linear") {
      return Status::InvalidArgument("--op: expected one of rand, normal, linear, got " +
                                     Quote(op_));
    }
    const bool linear = op_ == "linear";
    StatusOr<std::vector<int64_t>> shape = linear ? ParseShape("--shape", shape_text_, 2, 2)
                                                  : ParseShape("--shape", shape_text_, 1, 8);
    if (!shape.ok()) return shape.status();
    shape_ = *shape;
    if (op_ != "normal") {
      for (const auto& [name, text] : {std::pair{"--mean", &mean_text_}, {"--std", &std_text_}}) {
        if (!text->empty()) {
          return Status::InvalidArgument(std::string(name) + ": only valid with --op normal");
        }
      }
    } else {
      if (!mean_text_.empty()) {
        StatusOr<double> mean = ParseFiniteDouble("--mean", mean_text_);
        if (!mean.ok()) return mean.status();
        mean_ = *mean;
      }
      if (!std_text_.empty()) {
        StatusOr<double> std = ParseFiniteDouble("--std", std_text_);
        if (!std.ok() || *std < 0) {
          return Status::InvalidArgument("--std: expected a non-negative number, got " +
                                         Quote(std_text_));
        }
        std_ = *std;
      }
    }
    if (no_bias_ && !linear) {
      return Status::InvalidArgument("--no-bias: only valid with --op linear");
    }
    if (!capability_text_.empty()) {
      if (capability_text_ == "avx2") {
        capability_ = kernels::torch::CpuCapability::kAvx2;
      } else if (capability_text_ == "default") {
        capability_ = kernels::torch::CpuCapability::kDefault;
      } else {
        return Status::InvalidArgument("--capability: expected avx2 or default, got " +
                                       Quote(capability_text_));
      }
      if (op_ == "normal" && capability_ != kernels::torch::CpuCapability::kDefault) {
        return Status::InvalidArgument(
            "--capability: normal is modelled only under 'default' (ATEN_CPU_CAPABILITY="
            "default); PyTorch's AVX2 normal_ differs in the last bits for 16 or more "
            "elements");
      }
    }
    return Status::Ok();
  }

  Status Execute(Output& out) override {
    namespace torch = kernels::torch;
    if (json_) {
      out.Append('{');
      JsonKey(out, "seed", /*first=*/true);
      out.AppendUnsigned(seed_);
      JsonKey(out, "op");
      out.AppendJsonString(op_);
      JsonKey(out, "shape");
      out.Append('[');
      for (size_t i = 0; i < shape_.size(); ++i) {
        if (i > 0) out.Append(',');
        out.AppendUnsigned(static_cast<uint64_t>(shape_[i]));
      }
      out.Append(']');
    }
    if (op_ == "linear") {
      const torch::LinearParams params =
          torch::Linear(seed_, shape_[0], shape_[1], /*bias=*/!no_bias_, capability_);
      if (json_) {
        JsonKey(out, "weight");
        out.Append('[');
        ValueWriter(out, true).AddAll(params.weight);
        out.Append(']');
        JsonKey(out, "bias");
        out.Append('[');
        ValueWriter(out, true).AddAll(params.bias);
        out.Append("]}\n");
      } else {
        ValueWriter values(out, false);
        values.AddAll(params.weight);
        values.AddAll(params.bias);
      }
      return Status::Ok();
    }
    int64_t numel = 1;
    for (const int64_t d : shape_) numel *= d;  // ParseShape checked that it fits
    const std::vector<float> values =
        op_ == "rand" ? torch::Rand(seed_, numel) : torch::Normal(seed_, numel, mean_, std_);
    if (json_) {
      JsonKey(out, "values");
      out.Append('[');
      ValueWriter(out, true).AddAll(values);
      out.Append("]}\n");
    } else {
      ValueWriter(out, false).AddAll(values);
    }
    return Status::Ok();
  }

 private:
  std::string seed_text_, op_, shape_text_, mean_text_, std_text_, capability_text_;
  bool no_bias_ = false;
  bool json_ = false;
  uint64_t seed_ = 0;
  std::vector<int64_t> shape_;
  double mean_ = 0.0, std_ = 1.0;
  kernels::torch::CpuCapability capability_ = kernels::torch::CpuCapability::kAvx2;
};

// ---------------------------------------------------------------------------------------------
// rng torch-cuda

class TorchCudaCommand final : public Command {
 public:
  void DeclareOptions(CLI::App& app) override {
    app.add_option("--seed", seed_text_,
                   "torch.cuda.manual_seed(S): unsigned 64-bit, decimal or 0x hex")
        ->type_name("S")
        ->required();
    app.add_option("--numel", numel_text_, "Number of elements of the float32 tensor")
        ->type_name("N")
        ->required();
    app.add_option("--gpu", gpu_text_, "GPU model: " + GpuNames())->type_name("GPU")->required();
    app.add_option("--offset", offset_text_,
                   "The generator's Philox offset before the call (default 0: just seeded)")
        ->type_name("O");
    app.add_option("--from", from_text_, "uniform_(from, to): lower bound (default 0)")
        ->type_name("A");
    app.add_option("--to", to_text_, "uniform_(from, to): upper bound (default 1)")->type_name("B");
    app.add_option("--op", op_, "uniform (default) or normal")->type_name("OP");
    app.add_option("--mean", mean_text_, "normal_(mean, std): the mean (default 0)")
        ->type_name("M");
    app.add_option("--std", std_text_, "normal_(mean, std): the standard deviation (default 1)")
        ->type_name("SD");
    app.add_flag("--json", json_, "Print one JSON object instead of one value per line");
    app.footer(
        "Prints what torch.empty(N, device='cuda').uniform_(A, B) (or .normal_(M, SD) with\n"
        "--op normal) gives on the GPU model after torch.cuda.manual_seed(S) (host model of\n"
        "PyTorch's launch-shape-dependent layout), one value per line as a C99 hex float.\n"
        "uniform_ values are modelled bit for bit; normal_ values follow the same layout but\n"
        "use portable log/sincos, so they may differ from a GPU's in the last bits.\n"
        "With --json: {\"seed\":..,\"numel\":..,\"offset\":..,\"gpu\":..,\"op\":..,\"grid\":..,\n"
        "\"block\":..,\"counter_offset\":..,\"offset_after\":..,\"values\":[..]}, where grid,\n"
        "block and counter_offset describe PyTorch's (first) launch and offset_after is the\n"
        "generator's Philox offset after the call.\n"
        "Example: twinsim rng torch-cuda --seed 0 --numel 8 --gpu h100 --op normal --std 0.02");
  }

  Status Validate() override {
    StatusOr<uint64_t> seed = ParseUint64("--seed", seed_text_, kSeedExpected);
    if (!seed.ok()) return seed.status();
    seed_ = *seed;
    StatusOr<uint64_t> numel =
        ParseUint64AtMost("--numel", numel_text_, std::numeric_limits<int64_t>::max());
    if (!numel.ok()) return numel.status();
    numel_ = static_cast<int64_t>(*numel);
    StatusOr<kernels::torch::CudaDeviceProfile> profile =
        kernels::torch::CudaDeviceProfileByName(gpu_text_);
    if (!profile.ok()) return ForOption("--gpu", profile.status());
    profile_ = *profile;
    if (!offset_text_.empty()) {
      StatusOr<uint64_t> offset = ParseUint64("--offset", offset_text_);
      if (!offset.ok()) return offset.status();
      offset_ = *offset;
    }
    for (const auto& [name, text, field] :
         {std::tuple{"--from", &from_text_, &from_}, std::tuple{"--to", &to_text_, &to_}}) {
      if (text->empty()) continue;
      StatusOr<double> value = ParseFiniteDouble(name, *text);
      if (!value.ok()) return value.status();
      *field = *value;
    }
    if (from_ > to_) {
      return Status::InvalidArgument("--from: expected at most --to (" + FormatNumber(to_) +
                                     "), got " + Quote(from_text_));
    }
    if (op_ != "uniform" && op_ != "normal") {
      return Status::InvalidArgument("--op: expected uniform or normal, got " + Quote(op_));
    }
    if (op_ == "uniform" && (!mean_text_.empty() || !std_text_.empty())) {
      return Status::InvalidArgument(std::string(mean_text_.empty() ? "--std" : "--mean") + ": only valid with --op normal");
    }
    if (op_ == "normal" && (!from_text_.empty() || !to_text_.empty())) {
      return Status::InvalidArgument(std::string(from_text_.empty() ? "--to" : "--from") + ": only valid with --op uniform");
    }
    for (const auto& [name, text, field] : {std::tuple{"--mean", &mean_text_, &mean_},
                                            std::tuple{"--std", &std_text_, &std_}}) {
      if (text->empty()) continue;
      StatusOr<double> value = ParseFiniteDouble(name, *text);
      if (!value.ok()) return value.status();
      *field = *value;
    }
    if (std_ < 0) {
      return Status::InvalidArgument("--std: expected a non-negative number, got " + Quote(std_text_));
    }
    return Status::Ok();
  }

  Status Execute(Output& out) override {
    namespace torch = kernels::torch;
    const std::vector<float> values =
        op_ == "normal" ? torch::CudaNormal(seed_, offset_, numel_, profile_, mean_, std_)
                        : torch::CudaUniform(seed_, offset_, numel_, profile_, from_, to_);
    if (!json_) {
      ValueWriter(out, false).AddAll(values);
      return Status::Ok();
    }
    const torch::CudaLaunch launch = torch::TorchCudaLaunch(numel_, profile_);
    out.Append('{');
    JsonKey(out, "seed", /*first=*/true);
    out.AppendUnsigned(seed_);
    JsonKey(out, "numel");
    out.AppendUnsigned(static_cast<uint64_t>(numel_));
    JsonKey(out, "offset");
    out.AppendUnsigned(offset_);
    JsonKey(out, "gpu");
    out.AppendJsonString(profile_.name);
    JsonKey(out, "op");
    out.AppendJsonString(op_);
    JsonKey(out, "grid");
    out.AppendUnsigned(launch.grid);
    JsonKey(out, "block");
    out.AppendUnsigned(launch.block);
    JsonKey(out, "counter_offset");
    out.AppendUnsigned(launch.counter_offset);
    JsonKey(out, "offset_after");
    out.AppendUnsigned(offset_ + torch::TorchCudaUniformPlan(numel_, profile_).offset_advance);
    JsonKey(out, "values");
    out.Append('[');
    ValueWriter(out, true).AddAll(values);
    out.Append("]}\n");
    return Status::Ok();
  }

 private:
  static std::string GpuNames() {
    std::string names;
    for (const std::string& name : kernels::torch::CudaDeviceProfileNames()) {
      if (!names.empty()) names += ", ";
      names += name;
    }
    return names;
  }

  static std::string FormatNumber(double v) {
    char text[32];
    std::snprintf(text, sizeof text, "%.17g", v);
    return text;
  }

  std::string seed_text_, numel_text_, gpu_text_, offset_text_, from_text_, to_text_;
  std::string op_ = "uniform", mean_text_, std_text_;
  bool json_ = false;
  uint64_t seed_ = 0, offset_ = 0;
  int64_t numel_ = 0;
  double from_ = 0.0, to_ = 1.0, mean_ = 0.0, std_ = 1.0;
  kernels::torch::CudaDeviceProfile profile_;
};

}  // namespace

CommandGroup RngCommandGroup() {
  CommandGroup group;
  group.name = "rng";
  group.summary = "print random numbers of twinsim's streams and of the generators it models";
  group.commands = {
      {"philox", "one Philox4x32-10 block for a given key and counter",
       [] { return std::make_unique<PhiloxCommand>(); }},
      {"fill", "elements of a parameter under twinsim's element-wise counter streams",
       [] { return std::make_unique<FillCommand>(); }},
      {"torch-cpu", "PyTorch's CPU generator after torch.manual_seed: rand, normal, nn.Linear",
       [] { return std::make_unique<TorchCpuCommand>(); }},
      {"torch-cuda", "PyTorch's CUDA uniform_ / normal_ as laid out on a given GPU model",
       [] { return std::make_unique<TorchCudaCommand>(); }},
      InvarianceCommandInfo(),
  };
  return group;
}

}  // namespace twinsim::cli
