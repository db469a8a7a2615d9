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

constexpr uint64_t kMaxDegree = harness::kMaxLayoutDegree;
constexpr uint64_t kMaxVocabDivisor = harness::kMaxVocabDivisor;
// --dp-shard's value when given bare, and the word that asks for the whole DP group.
constexpr char kWholeDp[] = "dp";

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
  // The model's errors come first, as they always have.
  TWINSIM_ASSIGN_OR_RETURN(core::ModelSpec model, harness::LoadModel(model_text));
  TWINSIM_ASSIGN_OR_RETURN(harness::LayoutRequest request, Request());
  request.model_spec = std::move(model);
  return harness::MakeLayout(request, max_world, why);
}

StatusOr<harness::LayoutRequest> LayoutArgs::Request() const {
  harness::LayoutRequest request;
  request.model = model_;
  for (auto [option, text, field] :
       {std::tuple{"--tp", &tp_, &request.tp}, std::tuple{"--pp", &pp_, &request.pp},
        std::tuple{"--dp", &dp_, &request.dp}, std::tuple{"--vpp", &vpp_, &request.vpp},
        std::tuple{"--ep", &ep_, &request.ep}, std::tuple{"--cp", &cp_, &request.cp},
        std::tuple{"--dp-shard", &dp_shard_, &request.dp_shard},
        std::tuple{"--etp", &etp_, &request.etp}}) {
    if (text->empty() || (text == &dp_shard_ && *text == kWholeDp)) continue;
    TWINSIM_ASSIGN_OR_RETURN(*field, ParsePositive(option, *text, kMaxDegree));
  }
  request.dp_shard_whole = dp_shard_ == kWholeDp;
  if (!dp_replicate_.empty()) {
    TWINSIM_ASSIGN_OR_RETURN(request.dp_replicate,
                             ParsePositive("--dp-replicate", dp_replicate_, kMaxDegree));
  }
  if (!vocab_divisible_by_.empty()) {
    TWINSIM_ASSIGN_OR_RETURN(request.vocab_divisible_by,
                             ParsePositive("--vocab-divisible-by", vocab_divisible_by_,
                                           kMaxVocabDivisor));
  }
  request.mesh = mesh_;
  request.partition = partition_;
  return request;
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

}  // namespace twinsim::cli
