// `twinsim fit`: declares the options, builds a harness::FitRequest, calls RunFit and prints
// the FitReport (a table, or one JSON object per row). The search lives in harness/fit.h.
#include "tools/cli/fit_command.h"

#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/memory_ledger.h"
#include "core/text.h"
#include "harness/fit.h"
#include "tools/cli/args.h"
#include "tools/cli/output.h"

namespace twinsim::cli {
namespace {

using harness::FitRow;

void ProgressLine(const std::string& what) {
  std::fprintf(DiagnosticsStream(), "twinsim fit: %s...\n", what.c_str());
}

// A batch cell: "-" when none fits.
std::string Batch(int64_t b) { return b > 0 ? std::to_string(b) : "-"; }

void PrintText(Output& out, const harness::FitRequest& q, const harness::FitReport& r) {
  const uint64_t gpu = r.rows.empty() ? 0 : r.rows.front().gpu_memory;
  const uint64_t host = r.rows.empty() ? 0 : r.rows.front().host_memory;
  out.Append(fmt::format(
      "model    {}\ncluster  {} ({} GPU{} of {}, {} host memory each)\nstep     seq {}, "
      "micro-batch searched up to {}; {} layouts\n\n",
      q.model, q.cluster, q.gpus, q.gpus == 1 ? "" : "s", core::FormatByteSize(gpu),
      core::FormatByteSize(host), q.seq, q.max_batch, r.layouts));
  const std::vector<std::string> header = {"tp",  "pp",   "dp",    "policy",   "fits", "none",
                                           "sel", "full", "needs", "peak GPU", "at"};
  const std::vector<bool> right = {true, true, true,  false, false, true,
                                   true, true, false, true,  false};
  std::vector<std::vector<std::string>> rows;
  for (const FitRow& row : r.rows) {
    std::string needs = row.needs_offload ? row.offload : "";
    if (row.needs_recompute) needs += std::string(needs.empty() ? "" : ", ") + "recompute";
    rows.push_back({std::to_string(row.tp), std::to_string(row.pp), std::to_string(row.dp),
                    row.policy, row.fits ? "yes" : "no", Batch(row.max_batch_none),
                    Batch(row.max_batch_selective), Batch(row.max_batch_full),
                    needs.empty() ? "-" : needs,
                    row.fits ? core::FormatByteSize(row.peak_gpu_bytes) : "-",
                    row.fits ? fmt::format("b={} {}", row.best_batch, row.best_recompute) : "-"});
  }
  PrintTable(out, header, rows, right);
}

class FitCommand final : public Command {
 public:
  void DeclareOptions(CLI::App& app) override {
    app.add_option("--model", request_.model,
                   "The model: a preset or FAMILY[:key=value,...] (twinsim show model)")
        ->type_name("MODEL")
        ->required();
    app.add_option("--cluster", request_.cluster,
                   "The cluster, PRESET[:key=value,...] (twinsim show cluster); its GPU and host "
                   "memory are each rank's budgets")
        ->type_name("CLUSTER")
        ->required();
    app.add_option("--gpus", gpus_text_, "N: the GPUs to lay out, at most the cluster's")
        ->type_name("N")
        ->required();
    app.add_option("--policy", policy_text_,
                   "Comma-separated memory systems (placement policies; default "
                   "zero1,zero2,zero3,fsdp2,megatron-distopt,auto)")
        ->type_name("P[,P...]");
    app.add_option("--seq", seq_text_, "Sequence length (default 2048)")->type_name("S");
    app.add_option("--tp", tp_text_, "Only layouts with this tensor-parallel degree")
        ->type_name("T");
    app.add_option("--pp", pp_text_, "Only layouts with this pipeline-parallel degree")
        ->type_name("P");
    app.add_option("--max-batch", max_batch_text_,
                   "The largest micro-batch searched (default 1024)")
        ->type_name("B");
    app.add_flag("--json", json_, "Print one JSON object per row instead of the table");
    app.footer(
        "For every layout tp x pp x dp = N (tp a power of two dividing the heads and at most\n"
        "the GPUs per node, pp dividing the layers; every DP rank in one sharded group,\n"
        "dp_shard = dp) and every policy, searches the largest micro-batch whose step fits\n"
        "rank 0's GPU and host memory (place's accounting, no simulation): batch 1, 2, 4, ...\n"
        "until one fails, then bisection; once with no recomputation (none), once with\n"
        "selective (sel) and once with full recomputation. With tp > 1 sequence parallelism is\n"
        "on; with pp > 1 the step runs pp microbatches under 1F1B. When batch 1 fits in no mode,\n"
        "offloading is tried (zero1/2: offload_optimizer; zero3: then +offload_param; fsdp2:\n"
        "fsdp2-cpu-offload) and 'needs' names it. '-': no batch fits. 'peak GPU' and 'at': the\n"
        "largest batch found and its peak. Only rank 0 (pipeline stage 0) is placed.\n"
        "Examples:\n"
        "  twinsim fit --model llama3-8b --cluster dgx-h100 --gpus 8\n"
        "  twinsim fit --model gpt2-xl --cluster v100-32g --gpus 1 --policy zero2,zero3 --json");
  }

  Status Validate() override {
    TWINSIM_ASSIGN_OR_RETURN(request_.gpus, Positive("--gpus", gpus_text_));
    if (!seq_text_.empty()) {
      TWINSIM_ASSIGN_OR_RETURN(request_.seq, Positive("--seq", seq_text_));
    }
    if (!tp_text_.empty()) {
      TWINSIM_ASSIGN_OR_RETURN(request_.tp, Positive("--tp", tp_text_));
    }
    if (!pp_text_.empty()) {
      TWINSIM_ASSIGN_OR_RETURN(request_.pp, Positive("--pp", pp_text_));
    }
    if (!max_batch_text_.empty()) {
      TWINSIM_ASSIGN_OR_RETURN(request_.max_batch, Positive("--max-batch", max_batch_text_));
    }
    if (!policy_text_.empty()) {
      std::vector<std::string> items = SplitList(policy_text_);
      TWINSIM_RETURN_IF_ERROR(CheckList("--policy", policy_text_, items));
      request_.policies = std::move(items);
    }
    return request_.Validate();
  }

  Status Execute(Output& out) override {
    const bool progress = DiagnosticsIsTerminal();
    TWINSIM_ASSIGN_OR_RETURN(harness::FitReport report,
                             harness::RunFit(request_, progress ? ProgressLine : nullptr));
    if (!json_) {
      PrintText(out, request_, report);
      return Status::Ok();
    }
    for (const FitRow& row : report.rows) {
      out.Append(nlohmann::ordered_json(row).dump());
      out.Append('\n');
    }
    return Status::Ok();
  }

 private:
  // A positive integer; larger values are the request's to refuse.
  static StatusOr<int64_t> Positive(std::string_view option, const std::string& text) {
    TWINSIM_ASSIGN_OR_RETURN(
        uint64_t v, ParseUint64AtMost(option, text, uint64_t{1} << 40, "a positive integer"));
    return static_cast<int64_t>(v);
  }

  harness::FitRequest request_;
  std::string gpus_text_, seq_text_, tp_text_, pp_text_, max_batch_text_, policy_text_;
  bool json_ = false;
};

}  // namespace

CommandGroup FitCommandGroup() {
  CommandGroup group;
  group.name = "fit";
  group.summary =
      "which layouts of N GPUs and memory systems train a model, and the largest micro-batch "
      "with and without recomputation";
  group.commands = {
      {"",
       "search, per tp x pp x dp layout and policy, the largest micro-batch that fits with no, "
       "selective and full recomputation, and whether offload is needed",
       [] { return std::make_unique<FitCommand>(); }},
  };
  return group;
}

}  // namespace twinsim::cli
