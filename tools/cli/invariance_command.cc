#include "tools/cli/invariance_command.h"

#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstring>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "core/text.h"
#include "kernels/fill.h"
#include "kernels/fill_cuda.h"
#include "kernels/torch/cpu_generator.h"
#include "kernels/torch/cuda_layout.h"
#include "tools/cli/args.h"

namespace twinsim::cli {
namespace {

using core::Thousands;

using kernels::Block2D;
using kernels::DType;
using kernels::FloatBits;
using kernels::ParamStream;
using kernels::Transform;

// One row of the table: a scheme, two layouts, and how many elements differ between them.
struct Row {
  std::string scheme;      // "twinsim counter", "torch CPU", "torch CUDA"
  std::string comparison;  // "1 rank vs TP=2,4,8 column-parallel shards"
  bool skipped = false;
  std::string skip_reason;
  uint64_t compared = 0;
  uint64_t differing = 0;
  std::string note;         // what the difference means
  bool must_match = false;  // a claim of twinsim's: nonzero differing fails the command
};

uint64_t CountDiffering(const float* a, const float* b, uint64_t n) {
  uint64_t d = 0;
  for (uint64_t i = 0; i < n; ++i) d += FloatBits(a[i]) != FloatBits(b[i]);
  return d;
}

class InvarianceCommand final : public Command {
 public:
  void DeclareOptions(CLI::App& app) override {
    app.add_option("--seed", seed_text_, "Root seed (default 1234)")->type_name("S");
    app.add_option("--param", param_, "Parameter name (default h.0.mlp.c_fc.weight)")
        ->type_name("NAME");
    app.add_option("--rows", rows_text_, "Output features of the Linear weight (default 3072)")
        ->type_name("R");
    app.add_option("--cols", cols_text_, "Input features of the Linear weight (default 768)")
        ->type_name("C");
    app.add_option("--dist", dist_text_,
                   "twinsim initializer of the weight (default normal:std=0.02)")
        ->type_name("SPEC");
    app.add_flag("--json", json_, "Print one JSON object instead of the table");
    app.footer(
        "Initializes one Linear weight [R, C] (default: GPT-2 small's first MLP weight) under\n"
        "several layouts and counts the elements whose bits differ from the single-device\n"
        "result:\n"
        "  twinsim counter  threads, TP column/row shards, uneven flat chunks, host vs GPU:\n"
        "                   must be 0 (exit status 1 otherwise)\n"
        "  torch CPU        nn.Linear default init, each TP rank seeding alike and building\n"
        "                   its own shard (bit-exact model of torch.manual_seed + mt19937)\n"
        "  torch CUDA       uniform_ on one GPU model vs another (PyTorch's launch-shape-\n"
        "                   dependent Philox layout, from kernels/torch/cuda_layout.h)\n"
        "Exit status: 0 when every twinsim row shows 0 differing elements, 1 otherwise,\n"
        "2 on bad arguments.");
  }

  Status Validate() override {
    if (!seed_text_.empty()) {
      StatusOr<uint64_t> seed = ParseUint64("--seed", seed_text_, "an unsigned 64-bit integer");
      if (!seed.ok()) return seed.status();
      seed_ = *seed;
    }
    for (auto [option, text, field] :
         {std::tuple{"--rows", &rows_text_, &rows_}, std::tuple{"--cols", &cols_text_, &cols_}}) {
      if (text->empty()) continue;
      StatusOr<uint64_t> v = ParseUint64AtMost(option, *text, uint64_t{1} << 16);
      if (!v.ok()) return v.status();
      if (*v < 8) {
        return Status::InvalidArgument(std::string(option) +
                                       ": expected at least 8 (so that TP=8 shards exist), got " +
                                       Quote(*text));
      }
      *field = *v;
    }
    if (param_.empty()) return Status::InvalidArgument("--param: expected a non-empty name");
    StatusOr<core::InitSpec> spec = core::ParseInitSpec(dist_text_);
    if (!spec.ok()) return Status::InvalidArgument("--dist: " + spec.status().message());
    transform_ = *kernels::Resolve(*spec);
    dist_canonical_ = core::FormatInitSpec(*spec);
    return Status::Ok();
  }

  Status Execute(Output& out) override {
    const auto start = std::chrono::steady_clock::now();
    const uint64_t n = rows_ * cols_;
    const ParamStream stream{kernels::DeriveParamKey(seed_, param_), 0};
    std::vector<Row> rows;

    // twinsim counter: the reference is one rank, one thread.
    std::vector<float> full(n), other(n);
    kernels::FillRange(stream, transform_, DType::kFp32, 0, n, full.data());

    const int threads = static_cast<int>(std::max(2u, std::thread::hardware_concurrency()));
    kernels::FillRangeParallel(stream, transform_, DType::kFp32, 0, n, other.data(), threads);
    rows.push_back(Counter(fmt::format("1 thread vs {} threads", threads), n,
                           CountDiffering(full.data(), other.data(), n)));

    for (bool by_rows : {true, false}) {
      uint64_t differing = 0;
      for (int tp : {2, 4, 8}) {
        const uint64_t dim = by_rows ? rows_ : cols_;
        for (int rank = 0; rank < tp; ++rank) {
          const uint64_t lo = dim * rank / tp, hi = dim * (rank + 1) / tp;
          Block2D b{rows_, cols_, 0, rows_, 0, cols_};
          (by_rows ? b.row_begin : b.col_begin) = lo;
          (by_rows ? b.row_end : b.col_end) = hi;
          const uint64_t width = b.col_end - b.col_begin;
          std::vector<float> shard((b.row_end - b.row_begin) * width);
          kernels::FillBlock2D(stream, transform_, DType::kFp32, b, shard.data());
          for (uint64_t r = b.row_begin; r < b.row_end; ++r) {
            differing += CountDiffering(&shard[(r - b.row_begin) * width],
                                        &full[r * cols_ + b.col_begin], width);
          }
        }
      }
      rows.push_back(Counter(std::string("1 rank vs TP=2,4,8 ") +
                                 (by_rows ? "column-parallel" : "row-parallel") + " shards",
                             3 * n, differing));
    }

    // Uneven flat chunks, as ZeRO-3 / FSDP flatten and split a parameter over DP ranks.
    {
      const uint64_t cuts[] = {0, 1, n / 7 + 3, n / 3 - 1, n / 2, n / 2 + 5, 5 * n / 6, n};
      std::fill(other.begin(), other.end(), 0.0f);
      for (size_t i = 0; i + 1 < std::size(cuts); ++i) {
        kernels::FillRange(stream, transform_, DType::kFp32, cuts[i], cuts[i + 1],
                           other.data() + cuts[i]);
      }
      rows.push_back(Counter("1 rank vs 7 uneven flat chunks (ZeRO/FSDP style)", n,
                             CountDiffering(full.data(), other.data(), n)));
    }

    // Host vs GPU.
    {
      Row row;
      row.scheme = "twinsim counter";
      row.comparison = "host vs CUDA";
      row.must_match = true;
      if (kernels::CudaDeviceCount() == 0) {
        row.skipped = true;
        row.skip_reason = kernels::CudaUnavailableReason();
      } else {
        const Status s =
            kernels::FillRangeCudaToHost(stream, transform_, DType::kFp32, 0, n, other.data());
        if (!s.ok()) return s;
        row.compared = n;
        row.differing = CountDiffering(full.data(), other.data(), n);
        row.note = kernels::CudaDeviceDescription();
      }
      rows.push_back(row);
    }

    AddTorchCpuRows(rows);
    TWINSIM_RETURN_IF_ERROR(AddTorchCudaRows(rows));

    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    bool ok = true;
    for (const Row& r : rows) ok &= !(r.must_match && !r.skipped && r.differing != 0);
    json_ ? PrintJson(out, rows, ok, seconds) : PrintTable(out, rows, ok, seconds);
    if (!ok) {
      return Status::Internal("twinsim's counter streams differed between layouts (a bug)");
    }
    return Status::Ok();
  }

 private:
  static Row Counter(std::string comparison, uint64_t compared, uint64_t differing) {
    Row r;
    r.scheme = "twinsim counter";
    r.comparison = std::move(comparison);
    r.compared = compared;
    r.differing = differing;
    r.must_match = true;
    return r;
  }

  // torch.manual_seed(seed) on every TP rank, then each rank builds only its own shard of
  // nn.Linear(cols, rows): what a naive tensor-parallel init does.
  void AddTorchCpuRows(std::vector<Row>& rows) const {
    using kernels::torch::Linear;
    const int64_t out = static_cast<int64_t>(rows_), in = static_cast<int64_t>(cols_);
    const std::vector<float> full = Linear(seed_, out, in, /*bias=*/false).weight;
    {
      // Column-parallel: rank r holds output rows [r*out/2, (r+1)*out/2).
      Row row{"torch CPU", "1 rank vs TP=2 column-parallel shards, seeded alike"};
      const int64_t half = out / 2;
      const std::vector<float> r0 = Linear(seed_, half, in, false).weight;
      const std::vector<float> r1 = Linear(seed_, out - half, in, false).weight;
      row.compared = static_cast<uint64_t>(out * in);
      row.differing = CountDiffering(r0.data(), full.data(), r0.size()) +
                      CountDiffering(r1.data(), full.data() + half * in, r1.size());
      const uint64_t common = std::min(r0.size(), r1.size());
      const uint64_t same = common - CountDiffering(r0.data(), r1.data(), common);
      row.note = fmt::format("rank 1 repeats rank 0's draws in {} of {} elements", Thousands(same),
                             Thousands(common));
      rows.push_back(row);
    }
    {
      // Row-parallel: rank r holds input columns [r*in/2, (r+1)*in/2); fan_in halves, so does
      // kaiming's bound.
      Row row{"torch CPU", "1 rank vs TP=2 row-parallel shards, seeded alike"};
      const int64_t half = in / 2;
      uint64_t differing = 0;
      for (int rank = 0; rank < 2; ++rank) {
        const int64_t c0 = rank * half, c1 = rank == 0 ? half : in;
        const std::vector<float> shard = Linear(seed_, out, c1 - c0, false).weight;
        for (int64_t r = 0; r < out; ++r) {
          differing += CountDiffering(&shard[r * (c1 - c0)], &full[r * in + c0], c1 - c0);
        }
      }
      row.compared = static_cast<uint64_t>(out * in);
      row.differing = differing;
      row.note = "the shard's fan_in is in/2, so kaiming's bound changes too";
      rows.push_back(row);
    }
  }

  // torch.cuda.manual_seed(seed); torch.empty(n, device='cuda').uniform_() on GPU models.
  Status AddTorchCudaRows(std::vector<Row>& rows) const {
    using kernels::torch::CudaDeviceProfileByName;
    StatusOr<kernels::torch::CudaDeviceProfile> h100 = CudaDeviceProfileByName("h100");
    if (!h100.ok()) return h100.status();
    const int64_t n = static_cast<int64_t>(rows_ * cols_);
    const std::vector<float> ref = kernels::torch::CudaUniform(seed_, 0, n, *h100);
    for (const char* name : {"h200", "a100", "v100", "rtx3090"}) {
      StatusOr<kernels::torch::CudaDeviceProfile> p = CudaDeviceProfileByName(name);
      if (!p.ok()) return p.status();
      const std::vector<float> v = kernels::torch::CudaUniform(seed_, 0, n, *p);
      Row row{"torch CUDA", fmt::format("uniform_ on {} ({} SMs) vs {} ({} SMs)", p->name,
                                        p->sm_count, h100->name, h100->sm_count)};
      row.compared = static_cast<uint64_t>(n);
      row.differing = CountDiffering(v.data(), ref.data(), v.size());
      const kernels::torch::CudaLaunch launch = kernels::torch::TorchCudaLaunch(n, *p);
      row.note = fmt::format("grid {} x {} threads", launch.grid, launch.block);
      rows.push_back(row);
    }
    return Status::Ok();
  }

  void PrintTable(Output& out, const std::vector<Row>& rows, bool ok, double seconds) const {
    out.Append(fmt::format(
        "twinsim rng invariance: {} [{} x {}] = {} elements, seed {}, {}\n"
        "Elements whose bits differ from the single-device init of the same weight:\n\n",
        param_, rows_, cols_, Thousands(rows_ * cols_), seed_, dist_canonical_));
    out.Append(fmt::format("{:<16} {:<54} {:>22}  {}\n", "scheme", "layouts compared",
                           "differing elements", "note"));
    for (const Row& r : rows) {
      std::string diff;
      if (r.skipped) {
        diff = "skipped";
      } else {
        diff = fmt::format("{} ({:.1f}%)", Thousands(r.differing),
                           100.0 * r.differing / std::max<uint64_t>(1, r.compared));
      }
      const std::string note = r.skipped ? r.skip_reason : r.note;
      out.Append(fmt::format("{:<16} {:<54} {:>22}  {}\n", r.scheme, r.comparison, diff, note));
    }
    out.Append(
        fmt::format("\n{} ({:.1f} s)\n",
                    ok ? "twinsim's counter streams: identical bits under every layout above."
                       : "FAILED: twinsim's counter streams differed between layouts.",
                    seconds));
  }

  void PrintJson(Output& out, const std::vector<Row>& rows, bool ok, double seconds) const {
    out.Append("{\"param\":");
    out.AppendJsonString(param_);
    out.Append(fmt::format(",\"rows\":{},\"cols\":{},\"seed\":{},\"dist\":", rows_, cols_, seed_));
    out.AppendJsonString(dist_canonical_);
    out.Append(fmt::format(",\"ok\":{},\"seconds\":{:.3f},\"checks\":[", ok, seconds));
    for (size_t i = 0; i < rows.size(); ++i) {
      const Row& r = rows[i];
      out.Append(i ? "," : "");
      out.Append("{\"scheme\":");
      out.AppendJsonString(r.scheme);
      out.Append(",\"comparison\":");
      out.AppendJsonString(r.comparison);
      if (r.skipped) {
        out.Append(",\"skipped\":");
        out.AppendJsonString(r.skip_reason);
      } else {
        out.Append(fmt::format(",\"compared\":{},\"differing\":{}", r.compared, r.differing));
      }
      out.Append(fmt::format(",\"claim\":{},\"note\":", r.must_match));
      out.AppendJsonString(r.note);
      out.Append("}");
    }
    out.Append("]}\n");
  }

  std::string seed_text_, rows_text_, cols_text_;
  std::string param_ = "h.0.mlp.c_fc.weight";
  std::string dist_text_ = "normal:std=0.02";
  bool json_ = false;
  uint64_t seed_ = 1234, rows_ = 3072, cols_ = 768;
  Transform transform_;
  std::string dist_canonical_;
};

}  // namespace

CommandInfo InvarianceCommandInfo() {
  return {"invariance",
          "which init schemes give the same bits under another layout (TP, threads, GPU model)",
          [] { return std::make_unique<InvarianceCommand>(); }};
}

}  // namespace twinsim::cli
