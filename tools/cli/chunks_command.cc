// `twinsim chunks`: declares the options, builds a harness::ChunksRequest, calls RunChunks and
// prints the ChunksReport (tables, or one JSON line). The search and its checks live in
// harness/chunks.h.
#include "tools/cli/chunks_command.h"

#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/memory_ledger.h"
#include "core/model_spec.h"
#include "core/text.h"
#include "harness/chunks.h"
#include "harness/layout.h"
#include "policies/placement/chunk.h"
#include "tools/cli/args.h"
#include "tools/cli/chunk_search_args.h"
#include "tools/cli/layout_args.h"
#include "tools/cli/output.h"

namespace twinsim::cli {
namespace {

using core::Thousands;
using harness::ChunksReport;

// Elements in ColossalAI's units of 2^20 ("32 m", "59.56 m", "0.0009766 m").
std::string Mebi(int64_t elements) {
  return fmt::format("{:.4g} m", static_cast<double>(elements) / (1 << 20));
}

// The report as tables: the search, the sizes and one row per chunk.
void PrintText(Output& out, const ChunksReport& r) {
  const int64_t allocated = r.total_elements + r.padding;
  const bool sharded = r.dp_shards > 1;
  std::string per_element;
  for (const auto& [kind, bytes] : r.rank_bytes) {
    per_element +=
        fmt::format("{}{} {}", per_element.empty() ? "" : " + ", placement::ChunkKindName(kind),
                    placement::ChunkKindElementBytes(kind));
  }
  auto percent = [](int64_t part, int64_t whole) {
    return whole ? 100.0 * static_cast<double>(part) / static_cast<double>(whole) : 0.0;
  };
  // The layout line as LayoutLine (layout_args.h) writes it.
  const std::string layout = fmt::format(
      "tp={} pp={} dp={} cp={}, dp_shard={} x dp_replicate={} ({} mesh); rank {} (dp {}, pp {}, "
      "tp {}, cp {})",
      r.tp, r.pp, r.dp, r.cp, r.dp_shard, r.dp_replicate, r.mesh, r.rank, r.coords.dp, r.coords.pp,
      r.coords.tp, r.coords.cp);
  const harness::ChunksSearchReport& s = r.search;
  out.Append(fmt::format(
      "model         {}\nlayout        {}\n"
      "tensors       {} ({} elements)\n"
      "search        {}: {} candidates, {} to {} elements ({} to {}) in steps of {}\n",
      r.model, layout, r.num_tensors, Thousands(r.total_elements), s.method,
      Thousands(s.num_candidates), Thousands(s.first_candidate), Thousands(s.max_candidate),
      Mebi(s.first_candidate), Mebi(s.max_candidate), Thousands(s.search_interval)));
  const bool colossal =
      s.method == placement::ChunkSearchMethodName(placement::ChunkSearchMethod::kColossalAI);
  if (r.outliers.empty()) {
    out.Append("outliers      none\n");
  } else {
    out.Append(fmt::format("outliers      {} {}:\n", r.outliers.size(),
                           colossal ? "above mean + 3 std, left out of the search"
                                    : "larger than every candidate, each in its own chunk"));
    for (const harness::ChunksTensorReport& o : r.outliers) {
      out.Append(fmt::format("                {} ({} elements)\n", o.name, Thousands(o.numel)));
    }
  }
  out.Append(fmt::format("chunk size    {} elements ({}){}\n", Thousands(r.chunk_size),
                         Mebi(r.chunk_size),
                         r.keep_gathered ? ": below the minimum chunk size, one chunk kept "
                                           "gathered (never sharded or released)"
                                         : ""));
  if (colossal) {
    out.Append(fmt::format(
        "search waste  {} elements ({:.2f}% of {}; ColossalAI's "
        "min_chunk_waste, kept sizes only)\n",
        Thousands(r.search_waste), percent(r.search_waste, r.total_elements + r.search_waste),
        Thousands(r.total_elements + r.search_waste)));
  }
  out.Append(fmt::format("padding       {} elements ({:.2f}% of {} allocated)\n",
                         Thousands(r.padding), percent(r.padding, allocated),
                         Thousands(allocated)));
  out.Append(fmt::format(
      "sharding      {}\n",
      sharded ? fmt::format("over the {} ranks of the shard group: each keeps 1/{} of every "
                            "chunk and gathers it on use{}",
                            r.dp_shards, r.dp_shards,
                            r.dp_replicate > 1
                                ? fmt::format("; {} replicas hold the same shards", r.dp_replicate)
                                : std::string())
              : std::string(r.keep_gathered && r.shard_group_size > 1
                                ? "none (the one chunk is kept gathered)"
                                : "none (every chunk whole on this rank)")));
  out.Append(fmt::format("bytes/param   {} ({})\n", r.bytes_per_element, per_element));
  std::string rank_bytes;
  for (const auto& [kind, bytes] : r.rank_bytes) {
    rank_bytes += fmt::format("{}{} {}", rank_bytes.empty() ? "" : ", ",
                              placement::ChunkKindName(kind), core::FormatByteSize(bytes));
  }
  out.Append(fmt::format("rank bytes    {} ({})\n\n", core::FormatByteSize(r.rank_bytes_total),
                         rank_bytes));

  std::vector<std::string> header = {"#", "tensors", "first", "last", "elements", "padding"};
  std::vector<bool> right = {true, true, false, false, true, true};
  for (const auto& [kind, bytes] : r.rank_bytes) {
    header.push_back(std::string(placement::ChunkKindName(kind)) + (sharded ? "/rank" : ""));
    right.push_back(true);
  }
  if (sharded) {
    header.push_back("gather");
    right.push_back(true);
  }
  std::vector<std::vector<std::string>> rows;
  for (const harness::ChunkReport& chunk : r.chunks) {
    std::vector<std::string> row = {
        std::to_string(chunk.index), std::to_string(chunk.tensors.size()),
        chunk.tensors.front().name,  chunk.tensors.size() > 1 ? chunk.tensors.back().name : "",
        Thousands(chunk.elements),   Thousands(chunk.padding)};
    for (const auto& [kind, bytes] : chunk.shard_bytes) {
      row.push_back(core::FormatByteSize(bytes));
    }
    if (sharded) row.push_back(core::FormatByteSize(chunk.gather_bytes));
    rows.push_back(std::move(row));
  }
  PrintTable(out, header, rows, right);
}

class ChunksCommand final : public Command {
 public:
  void DeclareOptions(CLI::App& app) override {
    layout_args_.Declare(app);
    app.add_option("--rank", rank_text_, "The rank whose parameters are packed (default 0)")
        ->type_name("R");
    search_args_.Declare(app, /*with_chunk_size=*/false);
    app.add_flag("--grad-accumulation", grad_accumulation_,
                 "Keep gradients in separate fp16 chunks (16 bytes per parameter instead of 14)");
    app.add_flag("--json", json_, "Print one JSON object instead of the tables");
    app.footer(
        "Packs one rank's parameters into fixed-size chunks as ColossalAI Gemini does: in\n"
        "registration order, a tensor larger than the chunk size in a chunk of its own; each\n"
        "fp16 parameter chunk (which also receives the gradient) paired with fp32 master, Adam m\n"
        "and Adam v chunks: 14 bytes per element, padding included. The chunk size is searched\n"
        "as ColossalAI's search_chunk_configuration does (ColossalAI@4f9953be): a model smaller\n"
        "than --min-chunk-size-m is one chunk kept gathered; sizes above mean + 3 std are left\n"
        "out (outliers, each later in a chunk of its own); candidates from the largest kept size\n"
        "rounded up to --search-interval, --search-range-m further in steps of it; the least\n"
        "unused space over the kept sizes wins, ties to the smaller; only the winner is rounded\n"
        "to the DP size. --chunk-search packed is twinsim's own variant.\n"
        "Chunks are sharded over the layout's shard group (`show layout`): --dp-shard N ranks\n"
        "(N x --cp under --mesh torchtitan), each keeping 1/N of every chunk and gathering it on\n"
        "use; the --dp-replicate replicas (HSDP) hold the same shards. --dp-shard alone is\n"
        "--dp-shard = --dp (ZeRO-3 over the whole DP group).\n"
        "TP shards are sized as Megatron allocates them (--vocab-divisible-by 1 for an\n"
        "unpadded vocabulary). Examples:\n"
        "  twinsim chunks --model gpt2-small\n"
        "  twinsim chunks --model llama3-8b --tp 2 --dp 4 --rank 1 --dp-shard --json\n"
        "  twinsim chunks --model llama3-8b --dp 8 --dp-shard 4 --dp-replicate 2 --rank 5\n"
        "  twinsim chunks --model gpt2-medium --search-interval 1024 --min-chunk-size-m 8\n"
        "  twinsim chunks --model llama3-8b --chunk-search packed");
  }

  Status Validate() override {
    harness::ChunksRequest q;
    // The model's errors come first, as they always have (LayoutArgs::MakeWithModel).
    TWINSIM_ASSIGN_OR_RETURN(core::ModelSpec model, harness::LoadModel(layout_args_.model_text()));
    TWINSIM_ASSIGN_OR_RETURN(q.layout, layout_args_.Request());
    q.layout.model_spec = std::move(model);
    if (!rank_text_.empty()) {
      TWINSIM_ASSIGN_OR_RETURN(q.rank, ParseUint64("--rank", rank_text_));
    }
    // RunChunks shards the chunks over the layout's shard group; chunks takes no --chunk-size,
    // the one option the shard count given here would check.
    TWINSIM_ASSIGN_OR_RETURN(q.search, search_args_.Make(/*dp_shards=*/1));
    q.grad_accumulation = grad_accumulation_;
    StatusOr<ChunksReport> report = harness::RunChunks(q);
    if (!report.ok()) return QuoteRankAsTyped(report.status(), q.rank);
    report_ = std::move(*report);
    return Status::Ok();
  }

  Status Execute(Output& out) override {
    if (json_) {
      out.Append(harness::ChunksJsonLine(*report_));
      out.Append('\n');
    } else {
      PrintText(out, *report_);
    }
    return Status::Ok();
  }

 private:
  // The library quotes the rank it was given ("got '7'"); the command line has always quoted
  // it as typed ("got '007'", "got '0x7'"), so a --rank message gets the typed text back.
  Status QuoteRankAsTyped(const Status& status, uint64_t rank) const {
    const std::string typed = "got " + Quote(std::to_string(rank));
    std::string message(status.message());
    if (rank_text_.empty() || !message.starts_with("--rank: ") || !message.ends_with(typed)) {
      return status;
    }
    message.replace(message.size() - typed.size(), typed.size(), "got " + Quote(rank_text_));
    return Status::InvalidArgument(message);
  }

  LayoutArgs layout_args_;
  ChunkSearchArgs search_args_;
  std::string rank_text_;
  bool grad_accumulation_ = false;
  bool json_ = false;
  std::optional<ChunksReport> report_;
};

}  // namespace

CommandGroup ChunksCommandGroup() {
  CommandGroup group;
  group.name = "chunks";
  group.summary =
      "pack a rank's parameters into Gemini-style chunks: chunk-size search, "
      "padding, bytes per state";
  group.commands = {
      {"",
       "search the chunk size as ColossalAI's Gemini does and list the chunks with their fp16, "
       "master and Adam bytes",
       [] { return std::make_unique<ChunksCommand>(); }},
  };
  return group;
}

}  // namespace twinsim::cli
