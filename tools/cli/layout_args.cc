#include "tools/cli/layout_args.h"

#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <cstdint>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>

#include "core/model_presets.h"
#include "core/model_spec.h"
#include "core/text.h"
#include "tools/cli/args.h"
#include "tools/cli/output.h"

namespace twinsim::cli {
namespace {

// Largest parallel degree accepted before ParallelLayout::Make sees it.
constexpr uint64_t kMaxDegree = 65536;
// Largest --vocab-divisible-by (Megatron uses 128).
constexpr uint64_t kMaxVocabDivisor = uint64_t{1} << 20;
// --dp-shard's value when given bare, and the word that asks for the whole DP group.
constexpr char kWholeDp[] = "dp";

using core::Thousands;

// A positive integer <= `max`, as `option`'s value.
StatusOr<int> ParsePositive(std::string_view option, const std::string& text, uint64_t max) {
  StatusOr<uint64_t> v = ParseUint64AtMost(option, text, max, "a positive integer");
  if (!v.ok()) return v.status();
  if (*v == 0) {
    return Status::InvalidArgument(std::string(option) + ": expected a positive integer, got " +
                                   Quote(text));
  }
  return static_cast<int>(*v);
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

void LayoutArgs::Declare(CLI::App& app, bool model_required) {
  app.add_option("--model", model_,
                 "Model: a preset, FAMILY[:key=value,...], or a model file PATH.json (a Hugging "
                 "Face config.json or a parameter list from tools/dump-params)")
      ->type_name("MODEL")
      ->required(model_required);
  app.add_option("--tp", tp_, "Tensor-parallel size (default 1)")->type_name("T");
  app.add_option("--pp", pp_, "Pipeline-parallel size (default 1)")->type_name("P");
  app.add_option("--dp", dp_,
                 "Data-parallel size (default 1, or --dp-replicate x --dp-shard when those are "
                 "given)")
      ->type_name("D");
  // CLI11 2.1: expected(0, 1) lets the value be left out; default_str is what a bare
  // --dp-shard then gives (it is not applied when the option is absent).
  app.add_option("--dp-shard", dp_shard_,
                 "Sharded data parallelism (FSDP2 fully_shard, ZeRO-3; Gemini's chunks in chunks "
                 "and place): groups of N data-parallel ranks split every parameter (chunk) as "
                 "torch.chunk does; N divides --dp (default 1: no sharding). Given without N "
                 "(=dp), or as --dp-shard dp, N = --dp: one group of every DP rank")
      ->expected(0, 1)
      ->default_str(kWholeDp)
      ->type_name("[N]");
  app.add_option("--dp-replicate", dp_replicate_,
                 "Replicas of the sharded groups (HSDP), each holding the same shards; --dp = M x "
                 "--dp-shard (default: --dp / --dp-shard)")
      ->type_name("M");
  app.add_option("--cp", cp_,
                 "Context-parallel size: ranks that split the sequence (each keeps seq / C "
                 "tokens of activations) and hold the same parameters (default 1)")
      ->type_name("C");
  app.add_option("--mesh", mesh_,
                 "Whose conventions: megatron (cp ranks keep whole parameters; experts over dp x "
                 "cp; default) or torchtitan (FSDP shards over dp-shard x cp, its fsdp mesh)")
      ->type_name("megatron|torchtitan");
  app.add_option("--vpp", vpp_, "Virtual stages per pipeline rank (default 1)")->type_name("V");
  app.add_option("--ep", ep_, "Expert-parallel size, dividing --dp x --cp (default 1)")
      ->type_name("E");
  app.add_option("--etp", etp_,
                 "Expert tensor-parallel size, as Megatron's --expert-tensor-parallel-size: "
                 "expert weights split over N ranks; --ep x N divides --tp x --cp x --dp "
                 "(default: --tp)")
      ->type_name("N");
  app.add_option("--partition", partition_,
                 "Pipeline partition: layers (even block counts, default) or params "
                 "(balanced parameter counts)")
      ->type_name("layers|params");
  app.add_option("--vocab-divisible-by", vocab_divisible_by_,
                 "Pad vocab-parallel tensors to a multiple of N * tp rows, as Megatron's "
                 "--make-vocab-size-divisible-by (default 128)")
      ->type_name("N");
}

int LayoutArgs::MinLayers() const {
  int layers = 1;
  for (const std::string* text : {&pp_, &vpp_}) {
    StatusOr<int> v = ParsePositive("", *text, kMaxDegree);
    if (!text->empty() && v.ok()) layers *= *v;
  }
  return layers;
}

StatusOr<core::ParallelLayout> LayoutArgs::Make(uint64_t max_world, std::string_view why) const {
  return MakeWithModel(model_, max_world, why);
}

StatusOr<core::ParallelLayout> LayoutArgs::MakeWithModel(std::string_view model_text,
                                                         uint64_t max_world,
                                                         std::string_view why) const {
  if (!IsValidUtf8(model_text)) return Status::InvalidArgument("--model: expected UTF-8 text");
  StatusOr<core::ModelSpec> model = core::MakeModel(std::string(model_text));
  if (!model.ok()) return ForOption("--model", model.status());
  core::LayoutConfig config;
  for (auto [option, text, field] :
       {std::tuple{"--tp", &tp_, &config.tp}, std::tuple{"--pp", &pp_, &config.pp},
        std::tuple{"--dp", &dp_, &config.dp}, std::tuple{"--vpp", &vpp_, &config.vpp},
        std::tuple{"--ep", &ep_, &config.ep}, std::tuple{"--cp", &cp_, &config.cp},
        std::tuple{"--dp-shard", &dp_shard_, &config.dp_shard},
        std::tuple{"--etp", &etp_, &config.etp}}) {
    if (text->empty() || (text == &dp_shard_ && *text == kWholeDp)) continue;
    StatusOr<int> v = ParsePositive(option, *text, kMaxDegree);
    if (!v.ok()) return v.status();
    *field = *v;
  }
  const bool whole_dp = dp_shard_ == kWholeDp;
  if (whole_dp && !dp_replicate_.empty()) {
    return Status::InvalidArgument(
        "--dp-shard: give N with --dp-replicate (--dp-shard alone shards over every --dp rank)");
  }
  if (whole_dp) {
    config.dp_shard = config.dp;  // ZeRO-3 / Gemini over the whole DP group (1 without --dp)
  } else if (!dp_replicate_.empty()) {
    StatusOr<int> replicate = ParsePositive("--dp-replicate", dp_replicate_, kMaxDegree);
    if (!replicate.ok()) return replicate.status();
    const uint64_t dp = uint64_t(*replicate) * uint64_t(config.dp_shard);
    if (!dp_.empty() && dp != uint64_t(config.dp)) {
      return Status::InvalidArgument(fmt::format(
          "--dp-replicate: --dp-replicate x --dp-shard = {} x {} = {} but --dp is {}", *replicate,
          config.dp_shard, dp, config.dp));
    }
    if (dp > kMaxDegree) {
      return Status::InvalidArgument(fmt::format(
          "--dp-replicate: --dp-replicate x --dp-shard = {} exceeds {}", dp, kMaxDegree));
    }
    config.dp = static_cast<int>(dp);
  } else if (dp_.empty()) {
    config.dp = config.dp_shard;  // --dp-shard alone: one group, FSDP over every DP rank
  }
  if (mesh_ == "megatron") {
    config.mesh = core::MeshConvention::kMegatron;
  } else if (mesh_ == "torchtitan") {
    config.mesh = core::MeshConvention::kTorchtitan;
  } else {
    return Status::InvalidArgument("--mesh: expected 'megatron' or 'torchtitan', got " +
                                   Quote(mesh_));
  }
  if (!vocab_divisible_by_.empty()) {
    StatusOr<int> v = ParsePositive("--vocab-divisible-by", vocab_divisible_by_, kMaxVocabDivisor);
    if (!v.ok()) return v.status();
    config.vocab_divisible_by = *v;
  }
  const uint64_t world =
      uint64_t(config.dp) * uint64_t(config.pp) * uint64_t(config.tp) * uint64_t(config.cp);
  if (world > max_world) {
    return Status::InvalidArgument(fmt::format(
        "--dp: world size dp * pp * tp * cp = {} * {} * {} * {} = {} exceeds {}{}{}", config.dp,
        config.pp, config.tp, config.cp, Thousands(world), Thousands(max_world),
        why.empty() ? "" : " ", why));
  }
  if (partition_ == "layers") {
    config.partition = core::PipelinePartition::kByLayers;
  } else if (partition_ == "params") {
    config.partition = core::PipelinePartition::kByParams;
  } else {
    return Status::InvalidArgument("--partition: expected 'layers' or 'params', got " +
                                   Quote(partition_));
  }
  StatusOr<core::ParallelLayout> layout = core::ParallelLayout::Make(config, *model);
  if (!layout.ok()) return ForOption(LayoutOption(layout.status().message()), layout.status());
  return layout;
}

std::string LayoutLine(const core::ParallelLayout& layout, int rank) {
  const core::LayoutConfig& c = layout.config();
  const core::ParallelCoords coords = layout.RankCoords(rank);
  return fmt::format(
      "tp={} pp={} dp={} cp={}, dp_shard={} x dp_replicate={} ({} mesh); rank {} (dp {}, pp {}, "
      "tp {}, cp {})",
      c.tp, c.pp, c.dp, c.cp, c.dp_shard, c.dp / c.dp_shard, core::MeshName(c.mesh), rank,
      coords.dp, coords.pp, coords.tp, coords.cp);
}

int64_t PositionsOf(const core::ModelSpec& model) {
  for (const core::ParamSpec& p : model.params) {
    if (p.role == core::ParamRole::kEmbedding && p.name.find("wpe") != std::string::npos &&
        !p.shape.empty()) {
      return p.shape[0];
    }
  }
  return 0;
}

}  // namespace twinsim::cli
