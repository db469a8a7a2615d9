#include "tools/cli/chunks_command.h"

#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "core/memory_ledger.h"
#include "core/parallel_layout.h"
#include "core/text.h"
#include "policies/placement/chunk.h"
#include "tools/cli/args.h"
#include "tools/cli/chunk_search_args.h"
#include "tools/cli/layout_args.h"
#include "tools/cli/output.h"

namespace twinsim::cli {
namespace {

// Largest world size accepted (dp * pp * tp), as `show layout`.
constexpr uint64_t kMaxWorld = 65536;

using core::Thousands;

// Elements in ColossalAI's units of 2^20 ("32 m", "59.56 m", "0.0009766 m").
std::string Mebi(int64_t elements) {
  return fmt::format("{:.4g} m", static_cast<double>(elements) / (1 << 20));
}

std::string JsonString(std::string_view text) {
  std::string s;
  AppendJsonString(text, s);
  return s;
}

// A table with a header row; columns are left-aligned unless marked right-aligned.
void PrintTable(Output& out, const std::vector<std::string>& header,
                const std::vector<std::vector<std::string>>& rows, const std::vector<bool>& right) {
  std::vector<size_t> width(header.size());
  for (size_t c = 0; c < header.size(); ++c) width[c] = header[c].size();
  for (const auto& row : rows) {
    for (size_t c = 0; c < row.size(); ++c) width[c] = std::max(width[c], row[c].size());
  }
  auto line = [&](const std::vector<std::string>& cells) {
    std::string text;
    for (size_t c = 0; c < cells.size(); ++c) {
      const std::string pad(width[c] - cells[c].size(), ' ');
      if (c) text += "  ";
      text += right[c] ? pad + cells[c] : cells[c] + pad;
    }
    while (!text.empty() && text.back() == ' ') text.pop_back();
    out.Append(text);
    out.Append('\n');
  };
  line(header);
  for (const auto& row : rows) line(row);
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
    StatusOr<core::ParallelLayout> layout = layout_args_.Make(kMaxWorld);
    if (!layout.ok()) return layout.status();
    layout_ = std::move(*layout);
    if (!rank_text_.empty()) {
      const uint64_t world = static_cast<uint64_t>(layout_->world_size());
      StatusOr<uint64_t> rank = ParseUint64("--rank", rank_text_);
      if (!rank.ok()) return rank.status();
      if (*rank >= world) {
        return Status::InvalidArgument(fmt::format(
            "--rank: expected a rank below the world size {}, got {}", world, Quote(rank_text_)));
      }
      rank_ = static_cast<int>(*rank);
    }
    // Gemini's chunks are sharded over the layout's shard group (Note [Sharded data
    // parallelism] in core/parallel_layout.h); replicas hold the same shards.
    const int dp_shards = layout_->shard_group_size();
    StatusOr<placement::ChunkSearchOptions> options = search_args_.Make(dp_shards);
    if (!options.ok()) return options.status();
    options_ = placement::WithModelDefaults(*options, layout_->model());
    tensors_ = placement::RankTensors(*layout_, rank_);
    StatusOr<placement::ChunkSearchResult> result = placement::SearchChunkSize(tensors_, options_);
    if (!result.ok()) {
      // The tensors come from a valid layout, so what can fail is the candidate range.
      return ForOption(search_args_.BlameOption(), result.status());
    }
    result_ = std::move(*result);
    StatusOr<placement::ChunkManager> manager =
        placement::ChunkManager::Make(tensors_, result_->ChunkOptionsFor(grad_accumulation_));
    if (!manager.ok()) return manager.status();
    manager_ = std::move(*manager);
    return Status::Ok();
  }

  Status Execute(Output& out) override {
    if (json_) {
      PrintJson(out);
    } else {
      PrintText(out);
    }
    return Status::Ok();
  }

 private:
  void PrintJson(Output& out) const {
    const core::ParallelLayout& l = *layout_;
    const core::LayoutConfig& c = l.config();
    const core::ParallelCoords coords = l.RankCoords(rank_);
    const placement::ChunkSearchResult& r = *result_;
    const placement::ChunkManager& m = *manager_;
    out.Append(fmt::format(
        "{{\"model\":{},\"tp\":{},\"pp\":{},\"dp\":{},\"cp\":{},\"dp_shard\":{},"
        "\"dp_replicate\":{},\"mesh\":\"{}\",\"shard_group_size\":{},\"rank\":{},"
        "\"coords\":{{\"dp\":{},\"pp\":{},\"tp\":{},\"cp\":{},\"dp_shard\":{},"
        "\"dp_replicate\":{}}},\"num_tensors\":{},\"total_elements\":{},",
        JsonString(l.model().name), c.tp, c.pp, c.dp, c.cp, c.dp_shard, c.dp / c.dp_shard,
        core::MeshName(c.mesh), l.shard_group_size(), rank_, coords.dp, coords.pp, coords.tp,
        coords.cp, coords.dp_shard, coords.dp_replicate, tensors_.size(), r.total_elements));
    out.Append(fmt::format(
        "\"search\":{{\"method\":\"{}\",\"min_chunk_size\":{},\"search_range\":{},"
        "\"search_interval\":{},\"filter_exlarge_params\":{},\"first_candidate\":{},"
        "\"num_candidates\":{},\"max_candidate\":{},\"outlier_limit\":{}}},\"chunk_size\":{},"
        "\"keep_gathered\":{},\"search_waste\":{},\"padding\":{},\"dp_shards\":{},"
        "\"grad_accumulation\":{},\"bytes_per_element\":{},\"outliers\":[",
        placement::ChunkSearchMethodName(r.method), options_.min_chunk_size, options_.search_range,
        r.search_interval, options_.filter_exlarge_params, r.first_candidate, r.num_candidates,
        r.max_candidate,
        std::isfinite(r.outlier_limit) ? fmt::format("{:.1f}", static_cast<double>(r.outlier_limit))
                                       : std::string("null"),
        r.chunk_size, r.keep_gathered, r.search_waste, r.padding, r.dp_shards, grad_accumulation_,
        m.BytesPerElement()));
    for (size_t i = 0; i < r.outliers.size(); ++i) {
      const placement::TensorSpec& t = tensors_[r.outliers[i]];
      out.Append(
          fmt::format("{}{{\"name\":{},\"numel\":{}}}", i ? "," : "", JsonString(t.name), t.numel));
    }
    out.Append("],\"rank_bytes\":{");
    for (placement::ChunkKind kind : m.Kinds()) {
      out.Append(fmt::format("\"{}\":{},", placement::ChunkKindName(kind), m.RankBytes(kind)));
    }
    out.Append(fmt::format("\"total\":{}}},\"chunks\":[", m.RankBytes()));
    for (int ci = 0; ci < static_cast<int>(m.chunks().size()); ++ci) {
      const placement::Chunk& chunk = m.chunks()[ci];
      out.Append(fmt::format(
          "{}{{\"index\":{},\"capacity\":{},\"elements\":{},\"padding\":{},\"oversize\":{},"
          "\"gather_bytes\":{},\"tensors\":[",
          ci ? "," : "", ci, chunk.capacity, chunk.used, chunk.padding(), chunk.oversize,
          r.dp_shards > 1 ? m.GatherBytes(ci) : 0));
      for (int t = chunk.first_tensor; t < chunk.first_tensor + chunk.num_tensors; ++t) {
        out.Append(fmt::format("{}{{\"name\":{},\"numel\":{},\"offset\":{}}}",
                               t > chunk.first_tensor ? "," : "", JsonString(tensors_[t].name),
                               tensors_[t].numel, m.OffsetOf(t)));
      }
      out.Append("],\"bytes\":{");
      bool first = true;
      for (placement::ChunkKind kind : m.Kinds()) {
        out.Append(fmt::format("{}\"{}\":{}", first ? "" : ",", placement::ChunkKindName(kind),
                               m.ChunkBytes(ci, kind)));
        first = false;
      }
      out.Append("},\"shard_bytes\":{");
      first = true;
      for (placement::ChunkKind kind : m.Kinds()) {
        out.Append(fmt::format("{}\"{}\":{}", first ? "" : ",", placement::ChunkKindName(kind),
                               m.ShardBytes(ci, kind)));
        first = false;
      }
      out.Append("}}");
    }
    out.Append("]}\n");
  }

  void PrintText(Output& out) const {
    const core::ParallelLayout& l = *layout_;
    const core::LayoutConfig& c = l.config();
    const placement::ChunkSearchResult& r = *result_;
    const placement::ChunkManager& m = *manager_;
    const int64_t allocated = r.total_elements + r.padding;
    const bool sharded = r.dp_shards > 1;
    std::string per_element;
    for (placement::ChunkKind kind : m.Kinds()) {
      per_element +=
          fmt::format("{}{} {}", per_element.empty() ? "" : " + ", placement::ChunkKindName(kind),
                      placement::ChunkKindElementBytes(kind));
    }
    auto percent = [](int64_t part, int64_t whole) {
      return whole ? 100.0 * static_cast<double>(part) / static_cast<double>(whole) : 0.0;
    };
    out.Append(fmt::format(
        "model         {}\nlayout        {}\n"
        "tensors       {} ({} elements)\n"
        "search        {}: {} candidates, {} to {} elements ({} to {}) in steps of {}\n",
        l.model().name, LayoutLine(l, rank_), tensors_.size(), Thousands(r.total_elements),
        placement::ChunkSearchMethodName(r.method), Thousands(r.num_candidates),
        Thousands(r.first_candidate), Thousands(r.max_candidate), Mebi(r.first_candidate),
        Mebi(r.max_candidate), Thousands(r.search_interval)));
    const bool colossal = r.method == placement::ChunkSearchMethod::kColossalAI;
    if (r.outliers.empty()) {
      out.Append("outliers      none\n");
    } else {
      out.Append(fmt::format("outliers      {} {}:\n", r.outliers.size(),
                             colossal ? "above mean + 3 std, left out of the search"
                                      : "larger than every candidate, each in its own chunk"));
      for (int o : r.outliers) {
        out.Append(fmt::format("                {} ({} elements)\n", tensors_[o].name,
                               Thousands(tensors_[o].numel)));
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
    const int replicas = c.dp / c.dp_shard;
    out.Append(fmt::format(
        "sharding      {}\n",
        sharded
            ? fmt::format("over the {} ranks of the shard group: each keeps 1/{} of every "
                          "chunk and gathers it on use{}",
                          r.dp_shards, r.dp_shards,
                          replicas > 1 ? fmt::format("; {} replicas hold the same shards", replicas)
                                       : std::string())
            : std::string(r.keep_gathered && l.shard_group_size() > 1
                              ? "none (the one chunk is kept gathered)"
                              : "none (every chunk whole on this rank)")));
    out.Append(fmt::format("bytes/param   {} ({})\n", m.BytesPerElement(), per_element));
    std::string rank_bytes;
    for (placement::ChunkKind kind : m.Kinds()) {
      rank_bytes +=
          fmt::format("{}{} {}", rank_bytes.empty() ? "" : ", ", placement::ChunkKindName(kind),
                      core::FormatByteSize(m.RankBytes(kind)));
    }
    out.Append(
        fmt::format("rank bytes    {} ({})\n\n", core::FormatByteSize(m.RankBytes()), rank_bytes));

    std::vector<std::string> header = {"#", "tensors", "first", "last", "elements", "padding"};
    std::vector<bool> right = {true, true, false, false, true, true};
    for (placement::ChunkKind kind : m.Kinds()) {
      header.push_back(std::string(placement::ChunkKindName(kind)) + (sharded ? "/rank" : ""));
      right.push_back(true);
    }
    if (sharded) {
      header.push_back("gather");
      right.push_back(true);
    }
    std::vector<std::vector<std::string>> rows;
    for (int ci = 0; ci < static_cast<int>(m.chunks().size()); ++ci) {
      const placement::Chunk& chunk = m.chunks()[ci];
      std::vector<std::string> row = {
          std::to_string(ci),
          std::to_string(chunk.num_tensors),
          tensors_[chunk.first_tensor].name,
          chunk.num_tensors > 1 ? tensors_[chunk.first_tensor + chunk.num_tensors - 1].name : "",
          Thousands(chunk.used),
          Thousands(chunk.padding())};
      for (placement::ChunkKind kind : m.Kinds()) {
        row.push_back(core::FormatByteSize(m.ShardBytes(ci, kind)));
      }
      if (sharded) row.push_back(core::FormatByteSize(m.GatherBytes(ci)));
      rows.push_back(std::move(row));
    }
    PrintTable(out, header, rows, right);
  }

  LayoutArgs layout_args_;
  ChunkSearchArgs search_args_;
  std::string rank_text_;
  bool grad_accumulation_ = false;
  bool json_ = false;
  int rank_ = 0;
  placement::ChunkSearchOptions options_;
  std::optional<core::ParallelLayout> layout_;
  std::vector<placement::TensorSpec> tensors_;
  std::optional<placement::ChunkSearchResult> result_;
  std::optional<placement::ChunkManager> manager_;
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
