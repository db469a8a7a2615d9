// The library face of `twinsim chunks` (DESIGN.md "Layout": harness/ holds one request ->
// report function per command): ChunksRequest -> RunChunks -> ChunksReport. One rank's
// parameters are packed into Gemini-style chunks after the chunk-size search
// (policies/placement/chunk.h). The command parses options into a ChunksRequest and prints the
// report; tests and other callers run the same search without a process.
#ifndef TWINSIM_HARNESS_CHUNKS_H_
#define TWINSIM_HARNESS_CHUNKS_H_

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/status.h"
#include "harness/layout.h"
#include "policies/placement/chunk.h"

namespace twinsim::harness {

// Largest world size (dp * pp * tp * cp) a request may name, as `show layout` and `place`.
inline constexpr uint64_t kChunksMaxWorld = 65536;

// Every input of `twinsim chunks`, typed. Messages of Validate() name the command-line option
// they concern ("--rank: expected a rank below the world size 1, got '3'"), as the CLI prints
// them.
struct ChunksRequest {
  LayoutRequest layout;  // REQUIRED: the model and its layout
  uint64_t rank = 0;     // the rank whose parameters are packed; below the world size
  // The chunk-size search (tools/cli/chunk_search_args.h builds it from the options). Its
  // dp_shards is ignored: chunks are sharded over the layout's shard group (shard_group_size),
  // and the dp_replicate replicas hold the same shards. search_interval 0: the model's hidden
  // size (placement::WithModelDefaults).
  placement::ChunkSearchOptions search;
  bool grad_accumulation = false;  // separate fp16 gradient chunks (16 bytes per element)

  // OK when RunChunks would succeed: the layout, the rank, the search options and the search
  // itself, with the CLI's one-line InvalidArgument messages. Runs the search (pure, O(search
  // candidates * tensors)).
  Status Validate() const;
};

// The report's pieces; JSON keys (to_json/from_json) as `chunks --json` prints them.
struct ChunksCoords {  // the rank's place: dp, pp, tp, cp, dp_shard, dp_replicate
  int dp = 0, pp = 0, tp = 0, cp = 0, dp_shard = 0, dp_replicate = 0;
  friend bool operator==(const ChunksCoords&, const ChunksCoords&) = default;
};
struct ChunksSearchReport {
  std::string method;  // placement::ChunkSearchMethodName
  int64_t min_chunk_size = 0, search_range = 0, search_interval = 0;  // elements
  bool filter_exlarge_params = true;
  int64_t first_candidate = 0, num_candidates = 0, max_candidate = 0;
  // mean + 3 std of the sizes, rounded to one decimal as printed ({:.1f}); none (null) when
  // not filtering.
  std::optional<double> outlier_limit;
  friend bool operator==(const ChunksSearchReport&, const ChunksSearchReport&) = default;
};
struct ChunksTensorReport {  // name, numel, and (in a chunk, not an outlier) offset
  std::string name;
  int64_t numel = 0;
  std::optional<int64_t> offset;  // elements into its chunk
  friend bool operator==(const ChunksTensorReport&, const ChunksTensorReport&) = default;
};
// Bytes per chunk kind, in placement::ChunkManager::Kinds() order.
using ChunkKindBytes = std::vector<std::pair<placement::ChunkKind, uint64_t>>;
struct ChunkReport {
  int index = 0;
  int64_t capacity = 0, elements = 0, padding = 0;
  bool oversize = false;
  uint64_t gather_bytes = 0;  // the gathered fp16 chunk; 0 when chunks are not sharded
  std::vector<ChunksTensorReport> tensors;
  ChunkKindBytes bytes;        // the whole chunk
  ChunkKindBytes shard_bytes;  // this rank's shard of it
  friend bool operator==(const ChunkReport&, const ChunkReport&) = default;
};

// Everything `chunks` reports: one JSON object, keys in this order.
struct ChunksReport {
  std::string model;
  int tp = 1, pp = 1, dp = 1, cp = 1, dp_shard = 1, dp_replicate = 1;
  std::string mesh = "megatron";  // core::MeshName
  int shard_group_size = 1;
  int rank = 0;
  ChunksCoords coords;
  uint64_t num_tensors = 0;
  int64_t total_elements = 0;
  ChunksSearchReport search;
  int64_t chunk_size = 0;
  bool keep_gathered = false;
  int64_t search_waste = 0, padding = 0;
  int dp_shards = 1;  // ranks each chunk is sharded over (1: whole, or kept gathered)
  bool grad_accumulation = false;
  uint64_t bytes_per_element = 0;
  std::vector<ChunksTensorReport> outliers;  // without offsets
  ChunkKindBytes rank_bytes;                 // JSON: one key per kind, then "total"
  uint64_t rank_bytes_total = 0;
  std::vector<ChunkReport> chunks;
  friend bool operator==(const ChunksReport&, const ChunksReport&) = default;
};
void to_json(nlohmann::ordered_json& j, const ChunksReport& r);
// Throws nlohmann's exceptions on a missing key, a wrong type or an unknown chunk kind.
void from_json(const nlohmann::ordered_json& j, ChunksReport& r);
// `r` as `chunks --json` prints it: one line of compact JSON (outlier_limit as {:.1f}),
// strings escaped as core::AppendJsonString; no newline.
std::string ChunksJsonLine(const ChunksReport& r);

// Runs the chunk-size search over the rank's tensors and packs them. Errors are the request's,
// as Validate.
StatusOr<ChunksReport> RunChunks(const ChunksRequest& request);

}  // namespace twinsim::harness

#endif  // TWINSIM_HARNESS_CHUNKS_H_
