// End-to-end tests of `twinsim chunks`: runs the built tool as a child process and checks the
// chunk-size search and chunk list it prints — hand-computed results on tiny-mlp, the JSON's
// internal consistency (padding, bytes per state kind, DP shards) on GPT-2 small, text vs JSON,
// rank selection — and a table of bad command lines (exit 2, one line on stderr, no stdout).
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "tests/twinsim_runner.h"

namespace twinsim {
namespace {

using nlohmann::json;

using testing::BadCase;
using testing::Describe;
using testing::ExpectRejected;
using testing::Lines;
using testing::Ok;
using testing::ReadFile;
using testing::RunResult;
using testing::TmpDir;
using testing::Twinsim;
using testing::TwinsimPath;

json OkJson(std::vector<std::string> args) {
  args.push_back("--json");
  const std::string out = Ok(args);
  json parsed = json::parse(out, nullptr, /*allow_exceptions=*/false);
  EXPECT_FALSE(parsed.is_discarded()) << Describe(args) << "\n" << out;
  return parsed;
}

// 1024 and 512 elements in ColossalAI's units of 2^20 elements.
constexpr char k1024[] = "0.0009765625";
constexpr char k512[] = "0.00048828125";

// ---- help ------------------------------------------------------------------------------------

TEST(ChunksCliTest, HelpExitsZeroAndNamesTheOptions) {
  for (const char* flag : {"--help", "-h"}) {
    const std::string out = Ok({"chunks", flag});
    for (const char* option :
         {"--model", "--rank", "--search-range-m", "--search-interval", "--min-chunk-size-m",
          "--chunk-search", "--no-filter-exlarge-params", "--dp-shard", "--grad-accumulation",
          "--json", "search_chunk_configuration", "ColossalAI@4f9953be"}) {
      EXPECT_NE(out.find(option), std::string::npos) << option << "\n" << out;
    }
  }
  EXPECT_NE(Ok({"--help"}).find("twinsim chunks --help"), std::string::npos);
}

// ---- ColossalAI's search ---------------------------------------------------------------------

void CheckConsistent(const json& j);  // below

// ColossalAI's own test of search_chunk_configuration (ColossalAI@4f9953be
// tests/test_zero/test_gemini/test_search.py:10-37): GPT-2 with 2 layers, width 128, a
// 50,258-token tied vocabulary (unpadded), search_range_m=1, search_interval=128,
// min_chunk_size_m=0 -> 527,872; the word embedding is the outlier.
TEST(ChunksCliTest, ColossalAIsOwnSearchTest) {
  const json j = OkJson({"chunks", "--model", "gpt2:n_layer=2,n_embd=128,n_head=4,vocab_size=50258",
                         "--vocab-divisible-by", "1", "--search-range-m", "1", "--search-interval",
                         "128", "--min-chunk-size-m", "0"});
  CheckConsistent(j);
  EXPECT_EQ(j["search"]["method"], "colossalai");
  EXPECT_EQ(j["chunk_size"], 527872);
  EXPECT_EQ(j["search_waste"], 0);
  EXPECT_EQ(j["keep_gathered"], false);
  ASSERT_EQ(j["outliers"].size(), 1u);
  EXPECT_EQ(j["outliers"][0]["name"], "transformer.wte.weight");
  // A model below --min-chunk-size-m (32 Mi by default) is one chunk kept gathered
  // (search_utils.py:159-161): tiny-mlp's 1,802 elements, no padding, never sharded.
  const json tiny = OkJson({"chunks", "--model", "tiny-mlp", "--dp", "2", "--dp-shard"});
  EXPECT_EQ(tiny["keep_gathered"], true);
  EXPECT_EQ(tiny["chunk_size"], 1802);
  EXPECT_EQ(tiny["padding"], 0);
  EXPECT_EQ(tiny["dp_shards"], 1);
  EXPECT_NE(Ok({"chunks", "--model", "tiny-mlp"}).find("one chunk kept gathered"),
            std::string::npos);
}

// ---- hand-computed packed search on tiny-mlp -------------------------------------------------

// twinsim's own variant, --chunk-search packed (Note [Chunk-size search]).
// tiny-mlp's tensors: 384 32 | 1024 | 32 320 10 (1,802 elements). Candidates 1024..2048 step 256:
//   1024: [384 32|608] [1024] [32 320 10|662]          waste 1270
//   1280: [384 32|864] [1024 32|224] [320 10|950]      waste 2038
//   1536: [384 32 1024 32|64] [320 10|1206]            waste 1270
//   1792: [384 32 1024 32 320] [10|1782]               waste 1782
//   2048: [all|246]                                    waste 246
TEST(ChunksCliTest, TinyMlpSearchPicksTheLeastWaste) {
  const json j =
      OkJson({"chunks", "--model", "tiny-mlp", "--chunk-search", "packed", "--min-chunk-size-m",
              k1024, "--search-range-m", k1024, "--search-interval", "256"});
  EXPECT_EQ(j["search"]["method"], "packed");
  EXPECT_EQ(j["search"]["min_chunk_size"], 1024);
  EXPECT_EQ(j["search"]["search_range"], 1024);
  EXPECT_EQ(j["search"]["num_candidates"], 5);
  EXPECT_EQ(j["search"]["max_candidate"], 2048);
  EXPECT_EQ(j["chunk_size"], 2048);
  EXPECT_EQ(j["padding"], 246);
  EXPECT_EQ(j["total_elements"], 1802);
  ASSERT_EQ(j["chunks"].size(), 1u);
  EXPECT_EQ(j["chunks"][0]["tensors"].size(), 6u);
  EXPECT_EQ(j["chunks"][0]["tensors"][2]["name"], "layers.1.weight");
  EXPECT_EQ(j["chunks"][0]["tensors"][2]["offset"], 416);
  // 2048 elements * 14 bytes.
  EXPECT_EQ(j["rank_bytes"]["total"], 2048 * 14);
  EXPECT_EQ(j["chunks"][0]["bytes"]["param-fp16"], 4096);
  EXPECT_EQ(j["chunks"][0]["bytes"]["master-fp32"], 8192);
  EXPECT_EQ(j["chunks"][0]["bytes"]["adam-m"], 8192);
  EXPECT_EQ(j["chunks"][0]["bytes"]["adam-v"], 8192);
  EXPECT_FALSE(j["chunks"][0]["bytes"].contains("grad-fp16"));
}

// Candidates 1024, 1280, 1536 only: 1024 and 1536 tie at 1270, the smaller wins.
TEST(ChunksCliTest, TiesGoToTheSmallerChunkSize) {
  const json j =
      OkJson({"chunks", "--model", "tiny-mlp", "--chunk-search", "packed", "--min-chunk-size-m",
              k1024, "--search-range-m", k512, "--search-interval", "256"});
  EXPECT_EQ(j["chunk_size"], 1024);
  EXPECT_EQ(j["padding"], 1270);
  ASSERT_EQ(j["chunks"].size(), 3u);
  const std::vector<int> padding = {608, 0, 662};
  const std::vector<size_t> tensors = {2, 1, 3};
  for (size_t c = 0; c < 3; ++c) {
    EXPECT_EQ(j["chunks"][c]["padding"], padding[c]) << c;
    EXPECT_EQ(j["chunks"][c]["tensors"].size(), tensors[c]) << c;
  }
}

// With candidates 256..512 the 1024-element weight is larger than all of them.
TEST(ChunksCliTest, TensorsLargerThanEveryCandidateAreOutliers) {
  const json j =
      OkJson({"chunks", "--model", "tiny-mlp", "--chunk-search", "packed", "--min-chunk-size-m",
              "0.000244140625", "--search-range-m", "0.000244140625", "--search-interval", "128"});
  EXPECT_EQ(j["search"]["max_candidate"], 512);
  ASSERT_EQ(j["outliers"].size(), 1u);
  EXPECT_EQ(j["outliers"][0]["name"], "layers.1.weight");
  EXPECT_EQ(j["outliers"][0]["numel"], 1024);
  bool own_chunk = false;
  for (const json& chunk : j["chunks"]) {
    if (chunk["tensors"][0]["name"] == "layers.1.weight") {
      own_chunk = chunk["oversize"] == true && chunk["tensors"].size() == 1;
    }
  }
  EXPECT_TRUE(own_chunk);
  const std::string text =
      Ok({"chunks", "--model", "tiny-mlp", "--chunk-search", "packed", "--min-chunk-size-m",
          "0.000244140625", "--search-range-m", "0.000244140625", "--search-interval", "128"});
  EXPECT_NE(text.find("outliers      1 larger than every candidate"), std::string::npos) << text;
  EXPECT_NE(text.find("layers.1.weight (1,024 elements)"), std::string::npos) << text;
}

// ---- consistency on GPT-2 small --------------------------------------------------------------

// Checks what every JSON report must satisfy: tensors in order across chunks, padding and
// bytes per kind consistent with capacities, shard bytes = bytes / dp_shards.
void CheckConsistent(const json& j) {
  int64_t elements = 0, waste = 0, capacity_total = 0;
  size_t tensors = 0;
  const int64_t shards = j["dp_shards"];
  const int64_t chunk_size = j["chunk_size"];
  EXPECT_EQ(chunk_size % shards, 0);
  for (const json& chunk : j["chunks"]) {
    const int64_t capacity = chunk["capacity"];
    int64_t used = 0;
    for (const json& t : chunk["tensors"]) {
      EXPECT_EQ(t["offset"], used);
      used += t["numel"].get<int64_t>();
      ++tensors;
    }
    EXPECT_EQ(chunk["elements"], used);
    EXPECT_EQ(chunk["padding"], capacity - used);
    EXPECT_EQ(capacity % shards, 0);
    if (capacity > chunk_size) {
      EXPECT_EQ(chunk["tensors"].size(), 1u);
    }
    for (const auto& [kind, bytes] : chunk["bytes"].items()) {
      const int64_t per = kind == "param-fp16" || kind == "grad-fp16" ? 2 : 4;
      EXPECT_EQ(bytes, capacity * per) << kind;
      EXPECT_EQ(chunk["shard_bytes"][kind].get<int64_t>() * shards, bytes.get<int64_t>());
    }
    elements += used;
    waste += capacity - used;
    capacity_total += capacity;
  }
  EXPECT_EQ(tensors, j["num_tensors"].get<size_t>());
  EXPECT_EQ(j["total_elements"], elements);
  EXPECT_EQ(j["padding"], waste);
  EXPECT_EQ(j["rank_bytes"]["total"],
            capacity_total * j["bytes_per_element"].get<int64_t>() / shards);
}

TEST(ChunksCliTest, Gpt2SmallReportIsConsistent) {
  const json j = OkJson({"chunks", "--model", "gpt2-small"});
  CheckConsistent(j);
  EXPECT_EQ(j["num_tensors"], 148);
  EXPECT_EQ(j["total_elements"], 124439808 + (50304 - 50257) * 768);  // Megatron vocab padding
  EXPECT_EQ(j["bytes_per_element"], 14);
  EXPECT_GE(j["chunk_size"], int64_t{32} << 20);
  EXPECT_LE(j["chunk_size"], int64_t{64} << 20);
  EXPECT_EQ(j["search"]["search_interval"], 768);   // the hidden size
  EXPECT_EQ(j["search"]["num_candidates"], 43691);  // 32 Mi / 768 + 1
  EXPECT_EQ(j["chunks"][0]["tensors"][0]["name"], "transformer.wte.weight");
  // --vocab-divisible-by 1 gives Hugging Face's unpadded model.
  EXPECT_EQ(
      OkJson({"chunks", "--model", "gpt2-small", "--vocab-divisible-by", "1"})["total_elements"],
      124439808);
}

TEST(ChunksCliTest, DpShardKeepsOneQuarterOfEveryChunkPerRank) {
  const json j = OkJson({"chunks", "--model", "gpt2-small", "--dp", "4", "--dp-shard"});
  CheckConsistent(j);
  EXPECT_EQ(j["dp_shards"], 4);
  for (const json& chunk : j["chunks"]) {
    EXPECT_EQ(chunk["gather_bytes"], chunk["bytes"]["param-fp16"]);
  }
  const json whole = OkJson({"chunks", "--model", "gpt2-small", "--dp", "4"});
  EXPECT_EQ(whole["dp_shards"], 1);
  EXPECT_EQ(whole["chunks"][0]["gather_bytes"], 0);
}

// --dp-shard N shards chunks over the layout's shard group (N ranks), not over all of --dp:
// with --dp 8 --dp-shard 4 each rank keeps a quarter of every chunk, and the four ranks of one
// replica keep the chunk once between them; the other replica (--dp-replicate 2) keeps the
// same shards, rank for rank.
TEST(ChunksCliTest, DpShardNShardsOverNRanksAndReplicasHoldTheSameShards) {
  const json j = OkJson({"chunks", "--model", "gpt2-small", "--dp", "8", "--dp-shard", "4"});
  CheckConsistent(j);
  EXPECT_EQ(j["dp"], 8);
  EXPECT_EQ(j["dp_shard"], 4);
  EXPECT_EQ(j["dp_replicate"], 2);
  EXPECT_EQ(j["cp"], 1);
  EXPECT_EQ(j["mesh"], "megatron");
  EXPECT_EQ(j["shard_group_size"], 4);
  EXPECT_EQ(j["dp_shards"], 4);
  for (const json& chunk : j["chunks"]) {
    EXPECT_EQ(chunk["shard_bytes"]["param-fp16"].get<uint64_t>() * 4,
              chunk["bytes"]["param-fp16"].get<uint64_t>());
    EXPECT_EQ(chunk["gather_bytes"], chunk["bytes"]["param-fp16"]);
  }
  // --dp-replicate 2 --dp-shard 4 is the same layout; rank 5 is shard 1 of replica 1 and keeps
  // what rank 1 keeps.
  const json hsdp =
      OkJson({"chunks", "--model", "gpt2-small", "--dp-replicate", "2", "--dp-shard", "4"});
  EXPECT_EQ(hsdp["dp"], 8);
  EXPECT_EQ(hsdp["chunks"], j["chunks"]);
  const json r5 =
      OkJson({"chunks", "--model", "gpt2-small", "--dp", "8", "--dp-shard", "4", "--rank", "5"});
  EXPECT_EQ(r5["coords"]["dp_shard"], 1);
  EXPECT_EQ(r5["coords"]["dp_replicate"], 1);
  EXPECT_EQ(r5["rank_bytes"], j["rank_bytes"]);
  // Over the whole DP group instead: an eighth.
  const json all = OkJson({"chunks", "--model", "gpt2-small", "--dp", "8", "--dp-shard", "8"});
  EXPECT_EQ(all["dp_shards"], 8);
  EXPECT_EQ(all["dp_replicate"], 1);
  // Under torchtitan's mesh the shard group is dp_shard x cp (its fsdp mesh); under Megatron's,
  // cp ranks keep whole copies.
  EXPECT_EQ(OkJson({"chunks", "--model", "gpt2-small", "--dp", "2", "--dp-shard", "2", "--cp", "2",
                    "--mesh", "torchtitan"})["dp_shards"],
            4);
  EXPECT_EQ(OkJson({"chunks", "--model", "gpt2-small", "--dp", "2", "--dp-shard", "2", "--cp",
                    "2"})["dp_shards"],
            2);
}

// The old switch: --dp-shard without a value (or --dp-shard dp) is --dp-shard = --dp.
TEST(ChunksCliTest, BareDpShardShardsOverTheWholeDpGroup) {
  const json bare = OkJson({"chunks", "--model", "gpt2-small", "--dp", "4", "--dp-shard"});
  EXPECT_EQ(bare["dp_shard"], 4);
  EXPECT_EQ(bare["dp_shards"], 4);
  EXPECT_EQ(bare, OkJson({"chunks", "--model", "gpt2-small", "--dp", "4", "--dp-shard", "4"}));
  EXPECT_EQ(bare, OkJson({"chunks", "--model", "gpt2-small", "--dp", "4", "--dp-shard", "dp"}));
  // Followed by another option, it still takes no value.
  EXPECT_EQ(bare, OkJson({"chunks", "--model", "gpt2-small", "--dp-shard", "--dp", "4"}));
  // Without --dp there is one DP rank: nothing to shard.
  EXPECT_EQ(OkJson({"chunks", "--model", "gpt2-small", "--dp-shard"})["dp_shards"], 1);
}

TEST(ChunksCliTest, GradAccumulationAddsAnFp16GradChunk) {
  const json j = OkJson({"chunks", "--model", "gpt2-small", "--grad-accumulation"});
  CheckConsistent(j);
  EXPECT_EQ(j["bytes_per_element"], 16);
  EXPECT_EQ(j["rank_bytes"]["grad-fp16"], j["rank_bytes"]["param-fp16"]);
}

TEST(ChunksCliTest, TextAgreesWithJson) {
  const std::vector<std::string> args = {"chunks", "--model", "gpt2-medium", "--tp", "2"};
  const json j = OkJson(args);
  CheckConsistent(j);
  const std::vector<std::string> lines = Lines(Ok(args));
  ASSERT_GE(lines.size(), 12u);
  EXPECT_EQ(lines[0], "model         gpt2-medium");
  EXPECT_EQ(
      lines[1],
      "layout        tp=2 pp=1 dp=1 cp=1, dp_shard=1 x dp_replicate=1 (megatron mesh); rank 0 "
      "(dp 0, pp 0, tp 0, cp 0)");
  auto thousands = [](int64_t v) {
    std::string s = std::to_string(v);
    for (int i = static_cast<int>(s.size()) - 3; i > 0; i -= 3) s.insert(i, ",");
    return s;
  };
  auto line = [&](const std::string& prefix) {
    for (const std::string& l : lines) {
      if (l.rfind(prefix, 0) == 0) return l;
    }
    return std::string("(no line starting with '" + prefix + "')");
  };
  EXPECT_EQ(
      line("chunk size    ").rfind("chunk size    " + thousands(j["chunk_size"]) + " elements", 0),
      0u);
  EXPECT_EQ(line("search waste  ")
                .rfind("search waste  " + thousands(j["search_waste"]) + " elements", 0),
            0u);
  EXPECT_EQ(
      line("padding       ").rfind("padding       " + thousands(j["padding"]) + " elements", 0),
      0u);
  EXPECT_EQ(line("bytes/param   "),
            "bytes/param   14 (param-fp16 2 + master-fp32 4 + adam-m 4 + adam-v 4)");
  // One table row per chunk after the header.
  size_t header = 0;
  while (header < lines.size() && lines[header].rfind("#  ", 0) != 0) ++header;
  EXPECT_EQ(lines.size() - header - 1, j["chunks"].size());
}

// pp = 2: rank 1 (the last stage) packs its copy of the tied embedding as lm_head.weight.
TEST(ChunksCliTest, RankSelectsItsOwnStage) {
  const std::string model = "gpt2:n_layer=2,n_embd=16,n_head=2,vocab_size=64";
  const std::vector<std::string> small = {"--min-chunk-size-m", k1024, "--search-range-m", k1024};
  std::vector<std::string> first = {"chunks", "--model", model, "--pp", "2", "--rank", "0"};
  std::vector<std::string> last = {"chunks", "--model", model, "--pp", "2", "--rank", "1"};
  first.insert(first.end(), small.begin(), small.end());
  last.insert(last.end(), small.begin(), small.end());
  const json j0 = OkJson(first), j1 = OkJson(last);
  CheckConsistent(j0);
  CheckConsistent(j1);
  EXPECT_EQ(j0["coords"]["pp"], 0);
  EXPECT_EQ(j1["coords"]["pp"], 1);
  EXPECT_EQ(j0["chunks"][0]["tensors"][0]["name"], "transformer.wte.weight");
  const json& last_chunk = j1["chunks"].back();
  EXPECT_EQ(last_chunk["tensors"].back()["name"], "lm_head.weight");
  EXPECT_EQ(last_chunk["tensors"].back()["numel"], 128 * 16);
}

// ---- errors ----------------------------------------------------------------------------------

TEST(ChunksCliTest, BadInvocationsExitTwoWithOneLineAndNoOutput) {
  auto Gpt2 = [](std::vector<std::string> extra) {
    std::vector<std::string> args = {"chunks", "--model", "gpt2-small"};
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  };
  const std::vector<BadCase> cases = {
      {{"chunks"}, "twinsim chunks: --model: missing"},
      {{"chunk", "--model", "gpt2"}, "twinsim: unknown command group 'chunk' (did you mean"},
      {{"chunks", "--model", "gpt2-smal"}, "twinsim chunks: --model: unknown model 'gpt2-smal'"},
      {Gpt2({"--rank", "1"}),
       "twinsim chunks: --rank: expected a rank below the world size 1, "
       "got '1'"},
      {Gpt2({"--tp", "2", "--rank", "-1"}), "--rank: expected a non-negative integer, got '-1'"},
      {Gpt2({"--rank", "x"}), "--rank: expected a non-negative integer, got 'x'"},
      {Gpt2({"--tp", "0"}), "--tp: expected a positive integer, got '0'"},
      {Gpt2({"--pp", "13"}), "--pp: LayoutConfig: pp * vpp = 13 * 1"},
      {Gpt2({"--search-interval", "0"}), "--search-interval: expected a positive integer, got '0'"},
      {Gpt2({"--search-interval", "1.5"}), "--search-interval: expected a positive integer"},
      {Gpt2({"--search-interval", "1"}),
       "--search-range-m/--search-interval: search range 33554432 in steps of 1 gives 33554433 "
       "candidates; at most 1048576 are searched"},
      {Gpt2({"--chunk-search", "packed", "--min-chunk-size-m", "0"}),
       "--min-chunk-size-m: the packed search starts there and needs at least one element "
       "(1/1048576), got '0'"},
      {Gpt2({"--chunk-search", "gemini"}),
       "twinsim chunks: --chunk-search: expected colossalai or packed, got 'gemini'"},
      {Gpt2({"--min-chunk-size-m", "-1"}),
       "--min-chunk-size-m: expected a number of 2^20 elements in [0, 65536], got -1"},
      {Gpt2({"--min-chunk-size-m", "abc"}), "--min-chunk-size-m: expected"},
      {Gpt2({"--search-range-m", "nan"}), "--search-range-m: expected a finite number"},
      {Gpt2({"--search-range-m", "1e12"}), "--search-range-m: expected a number of 2^20 elements"},
      {Gpt2({"--chunk-search", "packed", "--min-chunk-size-m", "65536", "--search-range-m", "1"}),
       "largest candidate 68720525056 exceeds 68719476736 elements"},
      {Gpt2({"--dp-shard=x"}), "twinsim chunks: --dp-shard: expected a positive integer, got 'x'"},
      {Gpt2({"--dp", "8", "--dp-shard", "3"}),
       "twinsim chunks: --dp-shard: LayoutConfig.dp_shard = 3 does not divide dp = 8"},
      {Gpt2({"--dp-shard", "--dp-replicate", "2"}),
       "twinsim chunks: --dp-shard: give N with --dp-replicate (--dp-shard alone shards over "
       "every --dp rank)"},
      {Gpt2({"--dp", "8", "--dp-shard", "4", "--dp-replicate", "3"}),
       "--dp-replicate: --dp-replicate x --dp-shard = 3 x 4 = 12 but --dp is 8"},
      {Gpt2({"--cp", "0"}), "twinsim chunks: --cp: expected a positive integer, got '0'"},
      {Gpt2({"--mesh", "fsdp"}), "--mesh: expected 'megatron' or 'torchtitan', got 'fsdp'"},
      {Gpt2({"--dp-shard="}), "--dp-shard: expected a value after '='"},
      {Gpt2({"--json", "--json"}), "--json: given 2 times; expected at most once"},
      {Gpt2({"--chunk-size", "4"}), "unknown option '--chunk-size'"},
      {Gpt2({"stray"}), "unexpected argument 'stray'"},
      {Gpt2({"--search-interval"}), "--search-interval: expected a value"},
  };
  ASSERT_GE(cases.size(), 10u);
  for (const BadCase& c : cases) ExpectRejected(c);
}

TEST(ChunksCliTest, WriteFailureExitsOneWithOneLine) {
  const RunResult r = Twinsim({"chunks", "--model", "gpt2-small"}, "/dev/full");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(Lines(r.err).size(), 1u) << r.err;
  EXPECT_NE(r.err.find("twinsim chunks: writing standard output failed"), std::string::npos)
      << r.err;
}

}  // namespace
}  // namespace twinsim
