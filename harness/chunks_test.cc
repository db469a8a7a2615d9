#include "harness/chunks.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "harness/layout.h"
#include "policies/placement/chunk.h"

namespace twinsim::harness {
namespace {

using Json = nlohmann::ordered_json;

ChunksRequest Gpt2Small() {
  ChunksRequest q;
  q.layout.model = "gpt2-small";
  return q;
}

// A small model whose search is quick: two 128-wide layers, unpadded vocabulary, chunks of
// at least nothing, candidates every 128 elements over 2^20.
ChunksRequest Tiny() {
  ChunksRequest q;
  q.layout.model = "gpt2:n_layer=2,n_embd=128,n_head=4,vocab_size=50258";
  q.layout.vocab_divisible_by = 1;
  q.search.min_chunk_size = 0;
  q.search.search_range = int64_t{1} << 20;
  q.search.search_interval = 128;
  return q;
}

TEST(RunChunksTest, PacksGpt2SmallAsTheCommandDoes) {
  StatusOr<ChunksReport> r = RunChunks(Gpt2Small());
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->model, "gpt2-small");
  EXPECT_EQ(r->num_tensors, 148u);  // 149 parameters, the tied head once
  EXPECT_EQ(r->search.method, "colossalai");
  EXPECT_EQ(r->search.search_interval, 768);  // the model's hidden size
  EXPECT_EQ(r->search.outlier_limit, 10592801.8);
  EXPECT_EQ(r->bytes_per_element, 14u);
  EXPECT_EQ(r->dp_shards, 1);
  ASSERT_FALSE(r->chunks.empty());
  int64_t elements = 0;
  for (const ChunkReport& c : r->chunks) {
    elements += c.elements;
    EXPECT_EQ(c.capacity, c.elements + c.padding);
    EXPECT_EQ(c.gather_bytes, 0u);  // not sharded
    EXPECT_EQ(c.bytes, c.shard_bytes);
  }
  EXPECT_EQ(elements, r->total_elements);
  EXPECT_TRUE(ChunksRequest(Gpt2Small()).Validate().ok());
}

TEST(RunChunksTest, ShardsOverTheShardGroupAndKeepsGradientsApartWhenAsked) {
  ChunksRequest q = Gpt2Small();
  q.layout.dp = 8;
  q.layout.dp_shard = 4;
  q.rank = 5;
  q.grad_accumulation = true;
  StatusOr<ChunksReport> r = RunChunks(q);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->dp_shards, 4);
  EXPECT_EQ(r->dp_replicate, 2);
  EXPECT_EQ(r->rank, 5);
  EXPECT_EQ(r->coords.dp_shard, 1);
  EXPECT_EQ(r->coords.dp_replicate, 1);
  EXPECT_EQ(r->bytes_per_element, 16u);
  EXPECT_EQ(r->chunk_size % 4, 0);
  for (const ChunkReport& c : r->chunks) {
    EXPECT_GT(c.gather_bytes, 0u);
    ASSERT_EQ(c.bytes.size(), c.shard_bytes.size());
    for (size_t k = 0; k < c.bytes.size(); ++k) {
      EXPECT_EQ(c.bytes[k].second, 4 * c.shard_bytes[k].second);
    }
  }
}

TEST(RunChunksTest, BadRequestsGiveTheCommandLinesMessages) {
  ChunksRequest rank = Gpt2Small();
  rank.rank = 3;
  EXPECT_EQ(rank.Validate().message(), "--rank: expected a rank below the world size 1, got '3'");
  ChunksRequest model = Gpt2Small();
  model.layout.model = "gpt2-smal";
  EXPECT_EQ(model.Validate().message().rfind("--model: unknown model 'gpt2-smal'", 0), 0u)
      << model.Validate().message();
  ChunksRequest tp = Gpt2Small();
  tp.layout.tp = 0;
  EXPECT_EQ(tp.Validate().message(), "--tp: expected a positive integer, got '0'");
  ChunksRequest interval = Gpt2Small();
  interval.search.search_interval = 1;
  EXPECT_EQ(interval.Validate().message(),
            "--search-range-m/--search-interval: search range 33554432 in steps of 1 gives "
            "33554433 candidates; at most 1048576 are searched");
  ChunksRequest packed = Gpt2Small();
  packed.search.method = placement::ChunkSearchMethod::kPackedPadding;
  packed.search.min_chunk_size = 0;
  EXPECT_EQ(packed.Validate().message(),
            "--min-chunk-size-m: the packed search starts there and needs at least one element "
            "(1/1048576), got '0'");
  ChunksRequest fixed = Gpt2Small();
  fixed.layout.dp = 4;
  fixed.layout.dp_shard_whole = true;
  fixed.search.fixed_chunk_size = 1022;
  EXPECT_EQ(fixed.Validate().message(), "--chunk-size: 1022 is not a multiple of the 4 DP shards");
  EXPECT_FALSE(RunChunks(fixed).ok());
}

TEST(ChunksJsonTest, RoundTripsAndWritesTheKeysInTheCommandsOrder) {
  for (ChunksRequest q : {Tiny(), Gpt2Small()}) {
    q.layout.dp = 2;
    q.layout.dp_shard_whole = true;
    q.rank = 1;
    StatusOr<ChunksReport> r = RunChunks(q);
    ASSERT_TRUE(r.ok()) << r.status().message();
    const Json j = *r;
    EXPECT_EQ(j.get<ChunksReport>(), *r);
    // The line `chunks --json` prints is the same JSON, key for key and in the same order
    // (ordered_json compares objects in order).
    const std::string line = ChunksJsonLine(*r);
    EXPECT_EQ(Json::parse(line), j) << line;
    EXPECT_EQ(Json::parse(line).get<ChunksReport>(), *r);
  }
  // Unfiltered: outlier_limit is null and the outliers are empty.
  ChunksRequest q = Tiny();
  q.search.filter_exlarge_params = false;
  StatusOr<ChunksReport> r = RunChunks(q);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_FALSE(r->search.outlier_limit);
  EXPECT_TRUE(Json(*r)["search"]["outlier_limit"].is_null());
  EXPECT_EQ(Json::parse(ChunksJsonLine(*r)), Json(*r));
}

TEST(ChunksJsonTest, TheFirstKeysAreTheCommandsKeys) {
  StatusOr<ChunksReport> r = RunChunks(Tiny());
  ASSERT_TRUE(r.ok()) << r.status().message();
  std::vector<std::string> keys;
  const Json j = *r;
  for (const auto& [key, value] : j.items()) keys.push_back(key);
  EXPECT_EQ(keys, (std::vector<std::string>{"model",
                                            "tp",
                                            "pp",
                                            "dp",
                                            "cp",
                                            "dp_shard",
                                            "dp_replicate",
                                            "mesh",
                                            "shard_group_size",
                                            "rank",
                                            "coords",
                                            "num_tensors",
                                            "total_elements",
                                            "search",
                                            "chunk_size",
                                            "keep_gathered",
                                            "search_waste",
                                            "padding",
                                            "dp_shards",
                                            "grad_accumulation",
                                            "bytes_per_element",
                                            "outliers",
                                            "rank_bytes",
                                            "chunks"}));
}

TEST(ChunksJsonTest, FromJsonRefusesAnUnknownChunkKind) {
  StatusOr<ChunksReport> r = RunChunks(Tiny());
  ASSERT_TRUE(r.ok()) << r.status().message();
  Json j = *r;
  j["rank_bytes"] = Json{{"fp8", 1}, {"total", 1}};
  EXPECT_THROW(j.get<ChunksReport>(), nlohmann::json::exception);
  Json missing = *r;
  missing.erase("search");
  EXPECT_THROW(missing.get<ChunksReport>(), nlohmann::json::exception);
}

}  // namespace
}  // namespace twinsim::harness
