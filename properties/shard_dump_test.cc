#include "properties/shard_dump.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/checksum.h"
#include "core/model_presets.h"
#include "core/parallel_layout.h"
#include "policies/seed/policy.h"
#include "properties/init_check.h"

namespace twinsim::properties {
namespace {

namespace fs = std::filesystem;

fs::path TempDir(const std::string& name) {
  const char* base = std::getenv("TEST_TMPDIR");
  fs::path dir = fs::path(base != nullptr ? base : "/tmp") / name;
  fs::remove_all(dir);
  return dir;
}

struct Fixture {
  core::ParallelLayout layout;
  InitRun run;
};

Fixture RunCounter(int tp, int dp) {
  StatusOr<core::ModelSpec> model = core::MakeModel("linear-stack:layers=2,width=6");
  EXPECT_TRUE(model.ok()) << model.status().message();
  core::LayoutConfig config;
  config.tp = tp;
  config.dp = dp;
  StatusOr<core::ParallelLayout> layout = core::ParallelLayout::Make(config, *model);
  EXPECT_TRUE(layout.ok()) << layout.status().message();
  auto policy = policies::seed::MakePolicy("counter");
  EXPECT_TRUE(policy.ok());
  InitRunOptions options;
  options.seed = 7;
  StatusOr<InitRun> run = RunInit(**policy, *layout, options);
  EXPECT_TRUE(run.ok()) << run.status().message();
  return {*layout, *run};
}

std::vector<std::byte> ReadBytes(const fs::path& path) {
  std::ifstream file(path, std::ios::binary);
  std::vector<char> chars((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  std::vector<std::byte> bytes(chars.size());
  for (size_t i = 0; i < chars.size(); ++i) bytes[i] = static_cast<std::byte>(chars[i]);
  return bytes;
}

TEST(ShardDumpTest, EveryRanksShardsComeBackByteForByteWithTheirIndex) {
  Fixture f = RunCounter(/*tp=*/2, /*dp=*/2);
  const fs::path dir = TempDir("dump");
  ASSERT_TRUE(WriteShardDump(f.run, f.layout, dir.string()).ok());

  std::ifstream index_file(dir / "index.json");
  const nlohmann::json index = nlohmann::json::parse(index_file);
  EXPECT_EQ(index["format"], "twinsim-shard-dump/1");
  EXPECT_EQ(index["policy"], "counter");
  EXPECT_EQ(index["seed"], 7);
  EXPECT_EQ(index["layout"]["world"], 4);
  ASSERT_EQ(index["ranks"].size(), f.run.ranks.size());
  size_t shards = 0;
  for (size_t r = 0; r < f.run.ranks.size(); ++r) {
    const RankOutcome& outcome = f.run.ranks[r];
    const nlohmann::json& rank = index["ranks"][r];
    EXPECT_EQ(rank["rank"], outcome.rank);
    EXPECT_EQ(rank["coords"]["tp"], outcome.coords.tp);
    ASSERT_EQ(rank["shards"].size(), outcome.bytes.size());
    for (size_t i = 0; i < outcome.bytes.size(); ++i, ++shards) {
      const nlohmann::json& shard = rank["shards"][i];
      EXPECT_EQ(shard["param"], f.layout.model().params[outcome.owned[i].param].name);
      EXPECT_EQ(shard["block"]["rows"], outcome.blocks[i].rows);
      EXPECT_EQ(ReadBytes(dir / shard["file"].get<std::string>()), outcome.bytes[i]);
      EXPECT_EQ(shard["checksum64"].get<std::string>().size(), 16u);
    }
  }
  EXPECT_GT(shards, 4u);
  EXPECT_FALSE(fs::exists(dir.string() + ".tmp-dump"));
}

TEST(ShardDumpTest, RefusesAnExistingFolderAndLeavesItAlone) {
  Fixture f = RunCounter(2, 1);
  const fs::path dir = TempDir("exists");
  fs::create_directories(dir);
  std::ofstream(dir / "keep.txt") << "mine";
  Status status = WriteShardDump(f.run, f.layout, dir.string());
  EXPECT_EQ(status.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(status.message().find("exists"), std::string::npos) << status.message();
  EXPECT_TRUE(fs::exists(dir / "keep.txt"));
  EXPECT_FALSE(fs::exists(dir / "index.json"));
}

TEST(ShardDumpTest, AFailedWriteLeavesNothingBehind) {
  Fixture f = RunCounter(2, 1);
  // The parent is a file, so no folder can be made under it.
  const fs::path parent = TempDir("not-a-folder");
  std::ofstream(parent) << "x";
  const fs::path dir = parent / "dump";
  Status status = WriteShardDump(f.run, f.layout, dir.string());
  EXPECT_EQ(status.code(), StatusCode::kInternal) << status.message();
  EXPECT_FALSE(fs::exists(dir));
  EXPECT_FALSE(fs::exists(dir.string() + ".tmp-dump"));
}

TEST(ShardDumpTest, ATimingOnlyRunHasNothingToDump) {
  Fixture f = RunCounter(2, 1);
  for (RankOutcome& r : f.run.ranks) r.holds_bytes = false;
  Status status = WriteShardDump(f.run, f.layout, TempDir("timing").string());
  EXPECT_EQ(status.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(status.message().find("--timing-only"), std::string::npos);
}

}  // namespace
}  // namespace twinsim::properties
