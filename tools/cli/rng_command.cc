// `twinsim rng philox|fill|torch-cpu|torch-cuda` (and `rng invariance`,
// invariance_command.h): declares the options, parses their text into the requests of
// harness/rng.h, runs them and prints the values, one C99 hex float per line or one JSON line.
#include "tools/cli/rng_command.h"

#include <CLI/CLI.hpp>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "harness/json_line.h"
#include "harness/rng.h"
#include "kernels/torch/cuda_layout.h"
#include "tools/cli/args.h"
#include "tools/cli/invariance_command.h"

namespace twinsim::cli {
namespace {

constexpr char kSeedExpected[] = "an unsigned 64-bit integer (decimal or 0x hex)";

// Each value on its own line as a C99 hex float.
void PrintValues(Output& out, std::span<const float> values) {
  for (const float v : values) {
    out.AppendHexFloat(v);
    out.Append('\n');
  }
}

// Parses `text` into `field` when the option was given (`text` not empty).
Status ParseGivenDouble(std::string_view option, const std::string& text,
                        std::optional<double>& field) {
  if (text.empty()) return Status::Ok();
  TWINSIM_ASSIGN_OR_RETURN(field, ParseFiniteDouble(option, text));
  return Status::Ok();
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
    TWINSIM_ASSIGN_OR_RETURN(const std::vector<uint32_t> key,
                             ParseHexWords32("--key", key_text_, 2));
    TWINSIM_ASSIGN_OR_RETURN(const std::vector<uint32_t> counter,
                             ParseHexWords32("--counter", counter_text_, 4));
    std::copy(key.begin(), key.end(), request_.key.begin());
    std::copy(counter.begin(), counter.end(), request_.counter.begin());
    return Status::Ok();
  }

  Status Execute(Output& out) override {
    const harness::RngPhiloxReport r = harness::RunRngPhilox(request_);
    char line[64];
    std::snprintf(line, sizeof line, "%08" PRIx32 " %08" PRIx32 " %08" PRIx32 " %08" PRIx32 "\n",
                  r.words[0], r.words[1], r.words[2], r.words[3]);
    out.Append(line);
    return Status::Ok();
  }

 private:
  std::string key_text_, counter_text_;
  harness::RngPhiloxRequest request_;
};

// ---------------------------------------------------------------------------------------------
// rng fill

class FillCommand final : public Command {
 public:
  void DeclareOptions(CLI::App& app) override {
    app.add_option("--seed", seed_text_, "Root seed: unsigned 64-bit, decimal or 0x hex")
        ->type_name("S")
        ->required();
    app.add_option("--param", request_.param, "Stable parameter name, e.g. layers.0.attn.wq.weight")
        ->type_name("NAME")
        ->required();
    app.add_option("--dist", request_.dist, "Initializer spec KIND[:key=value,...]; see below")
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
    app.add_option("--dtype", request_.dtype, "Storage dtype: fp32 (default), bf16 or fp16")
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
    harness::RngFillRequest& q = request_;
    TWINSIM_ASSIGN_OR_RETURN(q.seed, ParseUint64("--seed", seed_text_, kSeedExpected));
    if (!draw_text_.empty()) {
      TWINSIM_ASSIGN_OR_RETURN(
          const uint64_t draw,
          ParseUint64AtMost("--draw", draw_text_, std::numeric_limits<uint32_t>::max()));
      q.draw = static_cast<uint32_t>(draw);
    }
    const std::pair<const char*, std::pair<const std::string*, std::optional<uint64_t>*>>
        sizes[] = {{"--numel", {&numel_text_, &q.numel}},
                   {"--begin", {&begin_text_, &q.begin}},
                   {"--end", {&end_text_, &q.end}},
                   {"--rows", {&rows_text_, &q.rows}},
                   {"--cols", {&cols_text_, &q.cols}},
                   {"--row-begin", {&row_begin_text_, &q.row_begin}},
                   {"--row-end", {&row_end_text_, &q.row_end}},
                   {"--col-begin", {&col_begin_text_, &q.col_begin}},
                   {"--col-end", {&col_end_text_, &q.col_end}}};
    for (const auto& [name, text_and_field] : sizes) {
      const auto& [text, field] = text_and_field;
      if (text->empty()) continue;
      TWINSIM_ASSIGN_OR_RETURN(*field, ParseUint64(name, *text));
    }
    TWINSIM_ASSIGN_OR_RETURN(plan_, harness::PlanRngFill(q));
    return Status::Ok();
  }

  Status Execute(Output& out) override {
    if (json_) {
      // The header's JSON without its empty value list ("[]}"), then the values as they come.
      std::string header = harness::CompactJson(harness::FillReportHeader(*plan_));
      header.resize(header.size() - 2);
      out.Append(header);
    }
    bool first = true;
    harness::ForEachFillBatch(*plan_, [&](std::span<const float> values) {
      if (!json_) {
        PrintValues(out, values);
        return out.ok();
      }
      for (const float v : values) {
        if (!first) out.Append(',');
        first = false;
        out.Append('"');
        out.AppendHexFloat(v);
        out.Append('"');
      }
      return out.ok();
    });
    if (json_) out.Append("]}\n");
    return Status::Ok();
  }

 private:
  std::string seed_text_, numel_text_, begin_text_, end_text_;
  std::string rows_text_, cols_text_, row_begin_text_, row_end_text_, col_begin_text_,
      col_end_text_;
  std::string draw_text_;
  bool json_ = false;
  harness::RngFillRequest request_;
  std::optional<harness::RngFillPlan> plan_;
};

// ---------------------------------------------------------------------------------------------
// rng torch-cpu

class TorchCpuCommand final : public Command {
 public:
  void DeclareOptions(CLI::App& app) override {
    app.add_option("--seed", seed_text_, "torch.manual_seed(S): unsigned 64-bit, decimal or 0x hex")
        ->type_name("S")
        ->required();
    app.add_option("--op", request_.op, "rand, normal or linear")->type_name("OP")->required();
    app.add_option("--shape", shape_text_,
                   "rand/normal: the tensor shape A[,B,...]; linear: OUT,IN")
        ->type_name("SHAPE")
        ->required();
    app.add_option("--mean", mean_text_, "normal only: the mean (default 0)")->type_name("M");
    app.add_option("--std", std_text_, "normal only: the standard deviation (default 1)")
        ->type_name("SD");
    app.add_flag("--no-bias", request_.no_bias, "linear only: nn.Linear(IN, OUT, bias=False)");
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
    harness::RngTorchCpuRequest& q = request_;
    TWINSIM_ASSIGN_OR_RETURN(q.seed, ParseUint64("--seed", seed_text_, kSeedExpected));
    const bool linear = q.op == "linear";
    if (q.op == "rand" || q.op == "normal" || linear) {
      TWINSIM_ASSIGN_OR_RETURN(q.shape, linear ? ParseShape("--shape", shape_text_, 2, 2)
                                               : ParseShape("--shape", shape_text_, 1, 8));
    }
    if (q.op != "normal") {
      // Given at all is what the request refuses, before their values are read.
      if (!mean_text_.empty()) q.mean = 0.0;
      if (!std_text_.empty()) q.std = 1.0;
    } else {
      TWINSIM_RETURN_IF_ERROR(ParseGivenDouble("--mean", mean_text_, q.mean));
      if (!std_text_.empty()) {
        StatusOr<double> std = ParseFiniteDouble("--std", std_text_);
        if (!std.ok()) {
          return Status::InvalidArgument("--std: expected a non-negative number, got " +
                                         Quote(std_text_));
        }
        q.std = *std;
      }
    }
    q.capability = capability_text_;
    return q.Validate();
  }

  Status Execute(Output& out) override {
    TWINSIM_ASSIGN_OR_RETURN(const harness::RngTorchCpuReport r, harness::RunRngTorchCpu(request_));
    if (json_) {
      out.Append(harness::CompactJson(r) + "\n");
    } else {
      PrintValues(out, r.op == "linear" ? r.weight : r.values);
      PrintValues(out, r.bias);
    }
    return Status::Ok();
  }

 private:
  std::string seed_text_, shape_text_, mean_text_, std_text_, capability_text_;
  bool json_ = false;
  harness::RngTorchCpuRequest request_;
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
    app.add_option("--op", request_.op, "uniform (default) or normal")->type_name("OP");
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
    harness::RngTorchCudaRequest& q = request_;
    TWINSIM_ASSIGN_OR_RETURN(q.seed, ParseUint64("--seed", seed_text_, kSeedExpected));
    TWINSIM_ASSIGN_OR_RETURN(
        const uint64_t numel,
        ParseUint64AtMost("--numel", numel_text_, std::numeric_limits<int64_t>::max()));
    q.numel = static_cast<int64_t>(numel);
    q.gpu = gpu_text_;
    if (!offset_text_.empty()) {
      TWINSIM_ASSIGN_OR_RETURN(q.offset, ParseUint64("--offset", offset_text_));
    }
    TWINSIM_RETURN_IF_ERROR(ParseGivenDouble("--from", from_text_, q.from));
    TWINSIM_RETURN_IF_ERROR(ParseGivenDouble("--to", to_text_, q.to));
    if (q.op != "normal") {
      // Given at all is what the request refuses, before their values are read.
      if (!mean_text_.empty()) q.mean = 0.0;
      if (!std_text_.empty()) q.std = 1.0;
    } else {
      TWINSIM_RETURN_IF_ERROR(ParseGivenDouble("--mean", mean_text_, q.mean));
      TWINSIM_RETURN_IF_ERROR(ParseGivenDouble("--std", std_text_, q.std));
    }
    return q.Validate();
  }

  Status Execute(Output& out) override {
    TWINSIM_ASSIGN_OR_RETURN(const harness::RngTorchCudaReport r,
                             harness::RunRngTorchCuda(request_));
    if (json_) {
      out.Append(harness::CompactJson(r) + "\n");
    } else {
      PrintValues(out, r.values);
    }
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

  std::string seed_text_, numel_text_, gpu_text_, offset_text_, from_text_, to_text_;
  std::string mean_text_, std_text_;
  bool json_ = false;
  harness::RngTorchCudaRequest request_;
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
