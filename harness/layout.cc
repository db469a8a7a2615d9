#include "harness/layout.h"

#include <fmt/format.h>

#include <string>
#include <tuple>

#include "core/json.h"
#include "core/model_presets.h"
#include "core/text.h"
#include "harness/internal/checks.h"

namespace twinsim::harness {
namespace {

using internal::ForOptionOf;

// A set degree's range; the messages are the command line's for the same value.
Status CheckDegree(std::string_view option, int64_t value, int64_t max) {
  if (value < 1) {
    return Status::InvalidArgument(fmt::format("{}: expected a positive integer, got {}", option,
                                               core::Quote(std::to_string(value))));
  }
  if (value > max) {
    return Status::InvalidArgument(fmt::format("{}: expected a positive integer <= {}, got {}",
                                               option, max, core::Quote(std::to_string(value))));
  }
  return Status::Ok();
}

// The option a ParallelLayout::Make message is about ("LayoutConfig.vpp = 0: ..." -> "--vpp").
std::string LayoutOption(const std::string& message) {
  const std::string_view prefix = "LayoutConfig.";
  if (message.rfind(prefix, 0) == 0) {
    const size_t end = message.find_first_of(" =:", prefix.size());
    const std::string field = message.substr(prefix.size(), end - prefix.size());
    if (field == "vocab_divisible_by") return "--vocab-divisible-by";
    if (field == "dp_shard") return "--dp-shard";
    return "--" + field;
  }
  if (message.find("pp * vpp") != std::string::npos) return "--pp";
  if (message.find("vocab_divisible_by * tp") != std::string::npos) return "--tp";
  return "--tp/--pp/--dp";
}

}  // namespace

StatusOr<core::ModelSpec> LoadModel(std::string_view text) {
  if (!core::IsValidUtf8(text)) return Status::InvalidArgument("--model: expected UTF-8 text");
  StatusOr<core::ModelSpec> model = core::MakeModel(std::string(text));
  if (!model.ok()) return ForOptionOf("--model", model.status());
  return model;
}

StatusOr<core::ParallelLayout> MakeLayout(const LayoutRequest& request, uint64_t max_world,
                                          std::string_view why) {
  std::optional<core::ModelSpec> loaded;
  if (!request.model_spec) {
    TWINSIM_ASSIGN_OR_RETURN(loaded, LoadModel(request.model));
  }
  const core::ModelSpec& model = request.model_spec ? *request.model_spec : *loaded;
  core::LayoutConfig config;
  for (auto [option, value, field] :
       {std::tuple{"--tp", &request.tp, &config.tp}, std::tuple{"--pp", &request.pp, &config.pp},
        std::tuple{"--dp", &request.dp, &config.dp},
        std::tuple{"--vpp", &request.vpp, &config.vpp},
        std::tuple{"--ep", &request.ep, &config.ep}, std::tuple{"--cp", &request.cp, &config.cp},
        std::tuple{"--dp-shard", &request.dp_shard, &config.dp_shard},
        std::tuple{"--etp", &request.etp, &config.etp}}) {
    if (!value->has_value()) continue;
    TWINSIM_RETURN_IF_ERROR(CheckDegree(option, **value, kMaxLayoutDegree));
    *field = static_cast<int>(**value);
  }
  if (request.dp_shard_whole && request.dp_shard) {
    return Status::InvalidArgument("--dp-shard: give N or the whole DP group, not both");
  }
  if (request.dp_shard_whole && request.dp_replicate) {
    return Status::InvalidArgument(
        "--dp-shard: give N with --dp-replicate (--dp-shard alone shards over every --dp rank)");
  }
  if (request.dp_shard_whole) {
    config.dp_shard = config.dp;  // ZeRO-3 / Gemini over the whole DP group (1 without dp)
  } else if (request.dp_replicate) {
    TWINSIM_RETURN_IF_ERROR(CheckDegree("--dp-replicate", *request.dp_replicate, kMaxLayoutDegree));
    const uint64_t dp = uint64_t(*request.dp_replicate) * uint64_t(config.dp_shard);
    if (request.dp && dp != uint64_t(config.dp)) {
      return Status::InvalidArgument(fmt::format(
          "--dp-replicate: --dp-replicate x --dp-shard = {} x {} = {} but --dp is {}",
          *request.dp_replicate, config.dp_shard, dp, config.dp));
    }
    if (dp > uint64_t(kMaxLayoutDegree)) {
      return Status::InvalidArgument(fmt::format(
          "--dp-replicate: --dp-replicate x --dp-shard = {} exceeds {}", dp, kMaxLayoutDegree));
    }
    config.dp = static_cast<int>(dp);
  } else if (!request.dp) {
    config.dp = config.dp_shard;  // dp_shard alone: one group, FSDP over every DP rank
  }
  if (request.mesh == "megatron") {
    config.mesh = core::MeshConvention::kMegatron;
  } else if (request.mesh == "torchtitan") {
    config.mesh = core::MeshConvention::kTorchtitan;
  } else {
    return Status::InvalidArgument("--mesh: expected 'megatron' or 'torchtitan', got " +
                                   core::Quote(request.mesh));
  }
  if (request.vocab_divisible_by) {
    TWINSIM_RETURN_IF_ERROR(
        CheckDegree("--vocab-divisible-by", *request.vocab_divisible_by, kMaxVocabDivisor));
    config.vocab_divisible_by = static_cast<int>(*request.vocab_divisible_by);
  }
  const uint64_t world =
      uint64_t(config.dp) * uint64_t(config.pp) * uint64_t(config.tp) * uint64_t(config.cp);
  if (world > max_world) {
    return Status::InvalidArgument(fmt::format(
        "--dp: world size dp * pp * tp * cp = {} * {} * {} * {} = {} exceeds {}{}{}", config.dp,
        config.pp, config.tp, config.cp, core::Thousands(static_cast<int64_t>(world)),
        core::Thousands(static_cast<int64_t>(max_world)), why.empty() ? "" : " ", why));
  }
  if (request.partition == "layers") {
    config.partition = core::PipelinePartition::kByLayers;
  } else if (request.partition == "params") {
    config.partition = core::PipelinePartition::kByParams;
  } else {
    return Status::InvalidArgument("--partition: expected 'layers' or 'params', got " +
                                   core::Quote(request.partition));
  }
  StatusOr<core::ParallelLayout> layout = core::ParallelLayout::Make(config, model);
  if (!layout.ok()) return ForOptionOf(LayoutOption(layout.status().message()), layout.status());
  return layout;
}

}  // namespace twinsim::harness
