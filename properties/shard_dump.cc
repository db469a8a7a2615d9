#include "properties/shard_dump.h"

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <system_error>

#include "core/checksum.h"
#include "core/dtype.h"
#include "core/init_spec.h"

namespace twinsim::properties {
namespace {

namespace fs = std::filesystem;

Status WriteFile(const fs::path& path, const void* data, size_t size) {
  std::ofstream file(path, std::ios::binary | std::ios::trunc);
  if (file) file.write(static_cast<const char*>(data), static_cast<std::streamsize>(size));
  file.close();
  if (!file) {
    return Status::Internal(fmt::format("writing {}: {}", path.string(), std::strerror(errno)));
  }
  return Status::Ok();
}

nlohmann::json BlockJson(const core::Block2D& b) {
  return {{"rows", b.rows},       {"cols", b.cols},           {"row_begin", b.row_begin},
          {"row_end", b.row_end}, {"col_begin", b.col_begin}, {"col_end", b.col_end}};
}

nlohmann::json IndexJson(const InitRun& run, const core::ParallelLayout& layout) {
  const core::ModelSpec& model = layout.model();
  const core::LayoutConfig& config = layout.config();
  nlohmann::json index = {
      {"format", "twinsim-shard-dump/1"},
      {"policy", run.policy},
      {"seed", run.options.seed},
      {"init_device", std::string(InitDeviceName(run.options.init_device))},
      {"model", model.name},
      {"layout",
       {{"tp", config.tp}, {"pp", config.pp}, {"dp", config.dp}, {"world", layout.world_size()}}},
  };
  nlohmann::json ranks = nlohmann::json::array();
  for (const RankOutcome& r : run.ranks) {
    nlohmann::json shards = nlohmann::json::array();
    for (size_t i = 0; i < r.owned.size(); ++i) {
      const core::ParamSpec& spec = model.params[r.owned[i].param];
      const core::TpShard& shard = r.owned[i].shard;
      shards.push_back({
          {"param", spec.name},
          {"dtype", std::string(core::DTypeName(spec.dtype))},
          {"shape", spec.shape},
          {"init", core::FormatInitSpec(spec.init)},
          {"split_dim", shard.dim},
          {"range", {shard.range.begin, shard.range.end}},
          {"padded_extent", shard.whole() ? 0 : shard.padded_extent},
          {"block", BlockJson(r.blocks[i])},
          {"file", fmt::format("rank{}/{}.bin", r.rank, i)},
          {"bytes", r.bytes[i].size()},
          {"checksum64", fmt::format("{:016x}", core::Checksum64(r.bytes[i]))},
      });
    }
    ranks.push_back({{"rank", r.rank},
                     {"coords", {{"tp", r.coords.tp}, {"pp", r.coords.pp}, {"dp", r.coords.dp}}},
                     {"shards", std::move(shards)}});
  }
  index["ranks"] = std::move(ranks);
  return index;
}

Status WriteAll(const InitRun& run, const core::ParallelLayout& layout, const fs::path& tmp) {
  for (const RankOutcome& r : run.ranks) {
    const fs::path rank_dir = tmp / fmt::format("rank{}", r.rank);
    std::error_code ec;
    fs::create_directory(rank_dir, ec);
    if (ec)
      return Status::Internal(fmt::format("creating {}: {}", rank_dir.string(), ec.message()));
    for (size_t i = 0; i < r.bytes.size(); ++i) {
      TWINSIM_RETURN_IF_ERROR(
          WriteFile(rank_dir / fmt::format("{}.bin", i), r.bytes[i].data(), r.bytes[i].size()));
    }
  }
  const std::string index = IndexJson(run, layout).dump(1) + "\n";
  return WriteFile(tmp / "index.json", index.data(), index.size());
}

}  // namespace

Status WriteShardDump(const InitRun& run, const core::ParallelLayout& layout,
                      const std::string& dir) {
  if (dir.empty()) return Status::InvalidArgument("the dump folder's path is empty");
  const fs::path target(dir);
  std::error_code ec;
  if (fs::exists(target, ec)) {
    return Status::FailedPrecondition(
        fmt::format("{} exists; name a new folder (a dump never overwrites)", dir));
  }
  for (const RankOutcome& r : run.ranks) {
    if (!r.holds_bytes) {
      return Status::FailedPrecondition(
          "a timing-only run holds no bytes to dump; drop --timing-only");
    }
    if (r.oom || !r.status.ok()) {
      return Status::FailedPrecondition(
          fmt::format("rank {} did not finish init ({}); nothing to dump", r.rank,
                      r.oom ? "out of memory during " + r.oom_during : r.status.message()));
    }
    if (r.compared) {
      return Status::FailedPrecondition("the run compared its bytes instead of keeping them");
    }
  }
  fs::path tmp = target;
  tmp += ".tmp-dump";
  fs::remove_all(tmp, ec);
  fs::create_directories(tmp, ec);
  if (ec) return Status::Internal(fmt::format("creating {}: {}", tmp.string(), ec.message()));
  Status written = WriteAll(run, layout, tmp);
  if (written.ok()) {
    fs::rename(tmp, target, ec);
    if (ec) {
      written =
          Status::Internal(fmt::format("renaming {} to {}: {}", tmp.string(), dir, ec.message()));
    }
  }
  if (!written.ok()) fs::remove_all(tmp, ec);
  return written;
}

}  // namespace twinsim::properties
