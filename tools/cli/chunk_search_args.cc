#include "tools/cli/chunk_search_args.h"

#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <cstdint>
#include <tuple>

#include "tools/cli/args.h"

namespace twinsim::cli {

void ChunkSearchArgs::Declare(CLI::App& app, bool with_chunk_size) {
  app.add_option("--chunk-search", method_,
                 "How the chunk size is searched: colossalai (search_chunk_configuration as "
                 "coded, the default) or packed (twinsim's own: the least padding of the chunks "
                 "really built, from --min-chunk-size-m up)")
      ->type_name("METHOD");
  app.add_option("--search-range-m", range_,
                 "Search range above the first candidate, in 2^20 elements (default 32, as "
                 "ColossalAI)")
      ->type_name("M");
  app.add_option("--search-interval", interval_,
                 "Step between candidate sizes, in elements (default: the model's hidden size, "
                 "else 1024; ColossalAI's plugin uses 1024 unless given hidden_dim)")
      ->type_name("N");
  app.add_option("--min-chunk-size-m", min_,
                 "Minimum chunk size, in 2^20 elements (default 32; 0 allowed); a model smaller "
                 "than it is one chunk kept gathered")
      ->type_name("M");
  app.add_flag("--no-filter-exlarge-params", no_filter_,
               "Keep sizes above mean + 3 std in the search (ColossalAI's "
               "filter_exlarge_params=False)");
  if (with_chunk_size) {
    app.add_option("--chunk-size", chunk_size_,
                   "Fix the chunk size, in elements, instead of searching it (a multiple of the "
                   "DP shards)")
        ->type_name("N");
  }
}

StatusOr<placement::ChunkSearchOptions> ChunkSearchArgs::Make(int dp_shards) const {
  placement::ChunkSearchOptions options;
  options.dp_shards = dp_shards;
  if (!method_.empty()) {
    StatusOr<placement::ChunkSearchMethod> method = placement::ParseChunkSearchMethod(method_);
    if (!method.ok()) return ForOption("--chunk-search", method.status());
    options.method = *method;
  }
  for (auto [option, text, field] :
       {std::tuple{"--search-range-m", &range_, &options.search_range},
        std::tuple{"--min-chunk-size-m", &min_, &options.min_chunk_size}}) {
    if (text->empty()) continue;
    StatusOr<double> m = ParseFiniteDouble(option, *text);
    if (!m.ok()) return m.status();
    StatusOr<int64_t> elements = placement::ElementsFromMebi(*m, option);
    if (!elements.ok()) return elements.status();
    *field = *elements;
  }
  if (options.method == placement::ChunkSearchMethod::kPackedPadding &&
      options.min_chunk_size < 1) {
    return Status::InvalidArgument(
        "--min-chunk-size-m: the packed search starts there and needs at least one element "
        "(1/1048576), got " +
        Quote(min_));
  }
  if (!interval_.empty()) {
    StatusOr<uint64_t> interval = ParseUint64AtMost(
        "--search-interval", interval_, placement::kMaxChunkElements, "a positive integer");
    if (!interval.ok()) return interval.status();
    if (*interval == 0) {
      return Status::InvalidArgument("--search-interval: expected a positive integer, got " +
                                     Quote(interval_));
    }
    options.search_interval = static_cast<int64_t>(*interval);
  }
  options.filter_exlarge_params = !no_filter_;
  if (!chunk_size_.empty()) {
    StatusOr<uint64_t> size = ParseUint64AtMost("--chunk-size", chunk_size_,
                                                placement::kMaxChunkElements, "a positive integer");
    if (!size.ok()) return size.status();
    if (*size == 0) {
      return Status::InvalidArgument("--chunk-size: expected a positive integer, got " +
                                     Quote(chunk_size_));
    }
    if (*size % static_cast<uint64_t>(dp_shards) != 0) {
      return Status::InvalidArgument(
          fmt::format("--chunk-size: {} is not a multiple of the {} DP shards", *size, dp_shards));
    }
    options.fixed_chunk_size = static_cast<int64_t>(*size);
  }
  return options;
}

std::string ChunkSearchArgs::BlameOption() const {
  return chunk_size_.empty() ? "--search-range-m/--search-interval" : "--chunk-size";
}

}  // namespace twinsim::cli
