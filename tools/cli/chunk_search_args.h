// The options of Gemini's chunk-size search, shared by `chunks` and `place`:
//   [--chunk-search colossalai|packed] [--search-range-m M] [--search-interval N]
//   [--min-chunk-size-m M] [--no-filter-exlarge-params] and, for `place`, [--chunk-size N]
// Both commands declare and check them here, so they accept and reject the same values
// (Note [Chunk-size search] in policies/placement/chunk.h).
#ifndef TWINSIM_TOOLS_CLI_CHUNK_SEARCH_ARGS_H_
#define TWINSIM_TOOLS_CLI_CHUNK_SEARCH_ARGS_H_

#include <string>

#include "core/status.h"
#include "policies/placement/chunk.h"

namespace CLI {
class App;
}  // namespace CLI

namespace twinsim::cli {

class ChunkSearchArgs {
 public:
  // Declares the options on `app`, bound to members of this object, which must outlive the
  // parse. `with_chunk_size`: also --chunk-size N (elements), which fixes the size.
  void Declare(CLI::App& app, bool with_chunk_size);

  // The search options with chunks sharded over `dp_shards` ranks: ColossalAI's defaults
  // where an option is absent; without --search-interval, search_interval stays 0, which
  // placement::WithModelDefaults turns into each model's hidden size. InvalidArgument naming
  // the option first on a bad value ("--min-chunk-size-m: expected a number of 2^20 elements
  // in [0, 65536], got -1"); --chunk-size must be a multiple of dp_shards.
  StatusOr<placement::ChunkSearchOptions> Make(int dp_shards) const;

  // The option that a search error is most likely about, for messages: "--chunk-size" when it
  // was given, else "--search-range-m/--search-interval".
  std::string BlameOption() const;

 private:
  std::string method_, range_, interval_, min_, chunk_size_;
  bool no_filter_ = false;
};

}  // namespace twinsim::cli

#endif  // TWINSIM_TOOLS_CLI_CHUNK_SEARCH_ARGS_H_
