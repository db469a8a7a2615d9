// `twinsim place`: declares the options, builds a harness::PlaceRequest, calls RunPlace (or
// FindLargestModel for --max-model) and prints the report as text or one JSON line per policy.
// Checks, defaults and the runs live in harness/place.h.
#include "tools/cli/place_command.h"

#include <fmt/format.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "core/parallel_layout.h"
#include "harness/place.h"
#include "policies/placement/placement.h"
#include "tools/cli/args.h"
#include "tools/cli/chunk_search_args.h"
#include "tools/cli/layout_args.h"
#include "tools/cli/output.h"
#include "tools/cli/place_text.h"

namespace twinsim::cli {
namespace {

StatusOr<int64_t> ParsePositive(std::string_view option, const std::string& text, uint64_t max) {
  StatusOr<uint64_t> v = ParseUint64AtMost(option, text, max, "a positive integer");
  if (!v.ok()) return v.status();
  if (*v == 0) {
    return Status::InvalidArgument(std::string(option) + ": expected a positive integer, got " +
                                   Quote(text));
  }
  return static_cast<int64_t>(*v);
}

void ProgressLine(const std::string& what) {
  std::fprintf(DiagnosticsStream(), "twinsim place: %s...\n", what.c_str());
}

class PlaceCommand final : public Command {
 public:
  void DeclareOptions(CLI::App& app) override {
    app.add_option("--cluster", cluster_text_,
                   "The cluster, PRESET[:key=value,...] (twinsim show cluster lists them); its "
                   "GPU and host memory are the defaults below")
        ->type_name("CLUSTER")
        ->required();
    layout_args_.Declare(app, /*model_required=*/false);
    app.add_option("--max-model", max_model_text_,
                   "Instead of --model: find the largest model of FAMILY that each policy trains "
                   "without OOM (gpt2, or gpt2:n_embd=H,n_head=A,... to fix the width)")
        ->type_name("FAMILY");
    app.add_option("--backend", backend_text_,
                   "sim (default: every rank's step on the simulated cluster, with a step time), "
                   "host (the rank's chunks in real bytes, every move checksummed) or "
                   "accounting (memory and bytes only)")
        ->type_name("sim|host|accounting");
    app.add_option("--trace", trace_text_,
                   "With --backend sim: write a Perfetto trace of each policy's step to FILE "
                   "(FILE.<policy>.json when several policies run)")
        ->type_name("FILE");
    app.add_option("--max-memory", max_memory_text_,
                   "With --backend host: most memory this run may take, e.g. 16GiB (default: what "
                   "the machine can give: MemAvailable, the cgroup's limit, RLIMIT_AS); a replay "
                   "that needs more is refused before it allocates")
        ->type_name("SIZE");
    app.add_option("--allocator", allocator_text_,
                   "exact (default: byte accounting) or caching (GPU allocations through a model "
                   "of PyTorch's caching allocator: reserved vs allocated, fragmentation OOMs)")
        ->type_name("exact|caching");
    app.add_option("--init-policy", init_policy_text_,
                   "Also check init meets placement: each seed policy's init (timing-only sim, "
                   "this rank's budgets) and the chunk build under each placement")
        ->type_name("NAME[,NAME...]|all");
    app.add_option("--gpu-memory", gpu_memory_text_,
                   "GPU memory of the rank, a size (default: the cluster's GPU memory)")
        ->type_name("SIZE");
    app.add_option("--host-memory", host_memory_text_,
                   "Host memory the rank may use for chunks, a size (default: the node's "
                   "pageable host memory divided by its GPUs per node)")
        ->type_name("SIZE");
    app.add_flag("--pin-memory", pin_memory_,
                 "Host chunks in pinned memory (ColossalAI's pin_memory=True): the host budget "
                 "is also capped by the pinned limit");
    app.add_option("--pinned-memory", pinned_memory_text_,
                   "With --pin-memory: pinned host memory of the rank, a size (default: the "
                   "node's pinned limit divided by its GPUs per node)")
        ->type_name("SIZE");
    app.add_option("--batch", batch_text_, "Sequences per microbatch (default 1)")->type_name("B");
    app.add_option("--seq", seq_text_, "Sequence length in tokens (default 1024)")->type_name("L");
    app.add_option("--microbatches", microbatches_text_,
                   "Microbatches per step (default 1); more than 1 accumulates gradients in "
                   "separate fp16 grad chunks (16 bytes per parameter)")
        ->type_name("M");
    app.add_option("--schedule", schedule_text_,
                   "Pipeline schedule: 1f1b (default; stage p holds min(M, pp - p) microbatches "
                   "of activations) or gpipe (holds all M)")
        ->type_name("1f1b|gpipe");
    app.add_option("--heads", heads_text_,
                   "Attention heads (default: the model's own, from its preset or its "
                   "n_head / n_heads key)")
        ->type_name("N");
    app.add_option("--rank", rank_text_, "The rank whose step is placed (default 0)")
        ->type_name("R");
    app.add_flag("--recompute", recompute_,
                 "Full activation recomputation: each layer keeps only its input");
    search_args_.Declare(app, /*with_chunk_size=*/true);
    app.add_flag(
        "--gpu-adam", gpu_adam_,
        "twinsim's GPU-Adam variant of cpu, static and auto (not Gemini): Adam on the GPU, "
        "host-homed optimizer state loaded for it and written back. Default: Gemini's "
        "HybridAdam, Adam where the state lives (CPU Adam for host state)");
    app.add_option("--gpu-margin-mem-ratio", margin_text_,
                   "auto: GeminiOptimizer's gpu_margin_mem_ratio in [0, 1] (default 0, as "
                   "ColossalAI): fp32 chunks move to the GPU within that share of the memory the "
                   "warmup left spare")
        ->type_name("R");
    app.add_flag("--grad-accumulation", grad_accumulation_,
                 "Separate fp16 grad chunks even with one microbatch (16 bytes per parameter)");
    app.add_option("--static", static_text_,
                   "Fractions of the static and static-documented policies: shard_param_frac, "
                   "offload_optim_frac, offload_param_frac, each in [0, 1] (default 1,0,0, as "
                   "ColossalAI)")
        ->type_name("SHARD,OPTIM,PARAM");
    app.add_option("--zero-offload", zero_offload_text_,
                   "zero1/zero2/zero3: DeepSpeed's offload to cpu: optimizer (offload_optimizer), "
                   "param (offload_param, zero3 only), or both as optimizer,param")
        ->type_name("optimizer[,param]");
    app.add_option("--policy", policy_text_,
                   "Placement policies to run, comma-separated, or 'all' (listed below; all but "
                   "static-documented)")
        ->type_name("NAME[,NAME...]|all")
        ->required();
    app.add_flag("--timeline", timeline_,
                 "Also print GPU and host memory while each op ran (JSON: \"timeline\")");
    app.add_flag("--json", json_, "Print one JSON object per policy and line instead of text");
    app.add_flag("--sequence-parallel", sequence_parallel_,
                 "Megatron's sequence parallelism: layer norm and dropout activations split over "
                 "--tp as well (Korthikanti et al. 2022 Table 2)");
    app.add_flag("--recompute-selective", recompute_selective_,
                 "Selective recomputation (Megatron's --recompute-granularity selective): the "
                 "attention core is rebuilt in backward instead of stored");
    app.footer(PlaceHelpFooter());
  }

  Status Validate() override {
    harness::PlaceRequest& q = request_;
    if (!max_model_text_.empty()) {
      if (layout_args_.has_model()) {
        return Status::InvalidArgument("--max-model: give --model or --max-model, not both");
      }
      TWINSIM_RETURN_IF_ERROR(ParseFamily());
      q.family = family_;
      q.make_layout = [this](std::string_view text) {
        return layout_args_.MakeWithModel(text, harness::kPlaceMaxWorld);
      };
      q.min_layers = layout_args_.MinLayers();
    } else if (!layout_args_.has_model()) {
      return Status::InvalidArgument("--model: required (or --max-model FAMILY)");
    }
    if (backend_text_ == "sim") {
      q.backend = harness::PlaceBackend::kSim;
    } else if (backend_text_ == "host") {
      q.backend = harness::PlaceBackend::kHost;
    } else if (backend_text_ == "accounting") {
      q.backend = harness::PlaceBackend::kAccounting;
    } else if (!backend_text_.empty()) {
      return Status::InvalidArgument("--backend: expected sim, host or accounting, got " +
                                     Quote(backend_text_));
    }
    // The search compares memory only; a probe model (the smallest candidate) stands for the
    // family while the other options are checked.
    StatusOr<core::ParallelLayout> layout =
        max_model_text_.empty()
            ? layout_args_.Make(harness::kPlaceMaxWorld)
            : layout_args_.MakeWithModel(
                  family_.ModelText(family_.widths.front(), layout_args_.MinLayers()),
                  harness::kPlaceMaxWorld);
    if (!layout.ok()) return layout.status();
    q.layout = std::move(*layout);
    if (!IsValidUtf8(cluster_text_))
      return Status::InvalidArgument("--cluster: expected UTF-8 text");
    q.cluster = cluster_text_;
    if (!rank_text_.empty()) {
      TWINSIM_ASSIGN_OR_RETURN(q.rank, ParseUint64("--rank", rank_text_));
    }
    for (auto [option, text, field] :
         {std::tuple{"--gpu-memory", &gpu_memory_text_, &q.gpu_memory},
          std::tuple{"--host-memory", &host_memory_text_, &q.host_memory},
          std::tuple{"--pinned-memory", &pinned_memory_text_, &q.pinned_memory},
          std::tuple{"--max-memory", &max_memory_text_, &q.max_memory}}) {
      if (text->empty()) continue;
      TWINSIM_ASSIGN_OR_RETURN(*field, ParseByteSizeWithUnit(option, *text));
    }
    q.pin_memory = pin_memory_;
    for (auto [option, text, max, field] :
         {std::tuple{"--batch", &batch_text_, harness::kPlaceMaxBatch, &q.step.micro_batch_size},
          std::tuple{"--seq", &seq_text_, harness::kPlaceMaxSeq, &q.step.seq_len},
          std::tuple{"--heads", &heads_text_, harness::kPlaceMaxHeads, &q.step.heads}}) {
      if (text->empty()) continue;
      TWINSIM_ASSIGN_OR_RETURN(*field, ParsePositive(option, *text, max));
    }
    if (!microbatches_text_.empty()) {
      TWINSIM_ASSIGN_OR_RETURN(int64_t m, ParsePositive("--microbatches", microbatches_text_,
                                                        harness::kPlaceMaxMicrobatches));
      q.step.num_microbatches = static_cast<int>(m);
    }
    if (schedule_text_ == "1f1b") {
      q.step.schedule = placement::PipelineSchedule::k1F1B;
    } else if (schedule_text_ == "gpipe") {
      q.step.schedule = placement::PipelineSchedule::kGPipe;
    } else {
      return Status::InvalidArgument("--schedule: expected 1f1b or gpipe, got " +
                                     Quote(schedule_text_));
    }
    q.step.recompute = recompute_;
    if (recompute_ && recompute_selective_) {
      return Status::InvalidArgument("--recompute-selective: not with --recompute (full)");
    }
    q.step.sequence_parallel = sequence_parallel_;
    q.step.selective_recompute = recompute_selective_;
    q.policies = SplitList(policy_text_);
    q.gpu_adam = gpu_adam_;
    if (!margin_text_.empty()) {
      TWINSIM_ASSIGN_OR_RETURN(q.gpu_margin_mem_ratio,
                               ParseFiniteDouble("--gpu-margin-mem-ratio", margin_text_));
    }
    if (!static_text_.empty()) {
      const std::vector<std::string> parts = SplitList(static_text_);
      if (parts.size() != 3) {
        return Status::InvalidArgument(
            "--static: expected three fractions SHARD,OPTIM,PARAM in [0, 1], got " +
            Quote(static_text_));
      }
      placement::StaticFractions f;
      double* fields[] = {&f.shard_param_frac, &f.offload_optim_frac, &f.offload_param_frac};
      for (size_t i = 0; i < 3; ++i) {
        TWINSIM_ASSIGN_OR_RETURN(*fields[i], ParseFiniteDouble("--static", parts[i]));
      }
      q.fractions = f;
    }
    for (const std::string& part :
         zero_offload_text_.empty() ? std::vector<std::string>{} : SplitList(zero_offload_text_)) {
      if (part != "optimizer" && part != "param") {
        return Status::InvalidArgument("--zero-offload: expected optimizer, param or both, got " +
                                       Quote(zero_offload_text_));
      }
      (part == "optimizer" ? q.zero.offload_optimizer : q.zero.offload_param) = true;
    }
    q.grad_accumulation = grad_accumulation_;
    // The library shards chunks over the layout's shard group; --chunk-size is checked against
    // it here so that the message names the shards.
    TWINSIM_ASSIGN_OR_RETURN(q.search, search_args_.Make(q.layout->shard_group_size()));
    q.search_option = search_args_.BlameOption();
    if (allocator_text_ == "caching") {
      q.caching_allocator = true;
    } else if (allocator_text_ != "exact") {
      return Status::InvalidArgument("--allocator: expected exact or caching, got " +
                                     Quote(allocator_text_));
    }
    q.trace_path = trace_text_;
    if (!init_policy_text_.empty()) q.init_policies = SplitList(init_policy_text_);
    q.timeline = timeline_;
    TWINSIM_ASSIGN_OR_RETURN(prepared_, harness::PreparePlace(q));
    return Status::Ok();
  }

  Status Execute(Output& out) override {
    const bool progress = DiagnosticsIsTerminal();
    if (!max_model_text_.empty()) return SearchLargest(out, progress);
    TWINSIM_ASSIGN_OR_RETURN(harness::PlaceReport report,
                             harness::RunPlace(*prepared_, progress ? ProgressLine : nullptr));
    if (!json_) {
      PrintPlaceText(out, request_, report);
      return Status::Ok();
    }
    for (const harness::PlacePolicyReport& r : report.policies) {
      out.Append(harness::PlaceJsonLine(r) + "\n");
    }
    return Status::Ok();
  }

 private:
  // --max-model: the library's search, printed.
  Status SearchLargest(Output& out, bool progress) const {
    TWINSIM_ASSIGN_OR_RETURN(
        std::vector<harness::LargestModelReport> reports,
        harness::FindLargestModel(*prepared_, progress ? ProgressLine : nullptr));
    if (!json_) {
      PrintLargestModelText(out, request_, harness::BudgetOf(*prepared_), reports);
      return Status::Ok();
    }
    for (const harness::LargestModelReport& r : reports) {
      out.Append(nlohmann::ordered_json(r).dump() + "\n");
    }
    return Status::Ok();
  }

  // --max-model FAMILY: the widths to try and the family's fixed keys.
  Status ParseFamily() {
    if (!IsValidUtf8(max_model_text_)) {
      return Status::InvalidArgument("--max-model: expected UTF-8 text");
    }
    const size_t colon = max_model_text_.find(':');
    const std::string family = max_model_text_.substr(0, colon);
    if (family != "gpt2") {
      return Status::InvalidArgument(
          "--max-model: expected the family gpt2 (optionally "
          "gpt2:n_embd=H,n_head=A,vocab_size=V,n_positions=P), got " +
          Quote(max_model_text_));
    }
    std::optional<int> embd, head;
    if (colon != std::string::npos) {
      for (const std::string& item : SplitList(max_model_text_.substr(colon + 1))) {
        const size_t eq = item.find('=');
        const std::string key = item.substr(0, eq);
        if (eq == std::string::npos ||
            (key != "n_embd" && key != "n_head" && key != "vocab_size" && key != "n_positions")) {
          return Status::InvalidArgument(
              "--max-model: expected keys n_embd, n_head, vocab_size, n_positions (the search "
              "sets n_layer), got " +
              Quote(item));
        }
        StatusOr<uint64_t> v =
            ParseUint64AtMost("--max-model", item.substr(eq + 1), 1 << 20, "a positive integer");
        if (!v.ok()) return v.status();
        if (*v == 0) return Status::InvalidArgument("--max-model: " + key + " must be positive");
        if (key == "n_embd") {
          embd = static_cast<int>(*v);
        } else if (key == "n_head") {
          head = static_cast<int>(*v);
        } else {
          family_.fixed_keys += "," + item;
        }
      }
    }
    if (embd.has_value() != head.has_value()) {
      return Status::InvalidArgument("--max-model: give n_embd and n_head together");
    }
    family_.text = max_model_text_;
    family_.widths =
        embd ? std::vector<std::pair<int, int>>{{*embd, *head}} : harness::Gpt2WidthLadder();
    return Status::Ok();
  }

  LayoutArgs layout_args_;
  ChunkSearchArgs search_args_;
  std::string cluster_text_, gpu_memory_text_, host_memory_text_, batch_text_, seq_text_,
      microbatches_text_, heads_text_, rank_text_, static_text_, policy_text_;
  std::string schedule_text_ = "1f1b";
  std::string max_model_text_, backend_text_, trace_text_, init_policy_text_;
  std::string allocator_text_ = "exact";
  std::string max_memory_text_, margin_text_, pinned_memory_text_, zero_offload_text_;
  bool recompute_ = false, grad_accumulation_ = false, json_ = false;
  bool timeline_ = false, gpu_adam_ = false, pin_memory_ = false;
  bool sequence_parallel_ = false, recompute_selective_ = false;

  harness::ModelFamily family_;  // --max-model
  harness::PlaceRequest request_;
  harness::PreparedPlacePtr prepared_;
};

}  // namespace

CommandGroup PlaceCommandGroup() {
  CommandGroup group;
  group.name = "place";
  group.summary =
      "run chunk placement policies (cuda, cpu, static, auto, optimal) over a rank's training "
      "step: OOM or fits, peak memory, PCIe bytes";
  group.commands = {
      {"",
       "place one rank's chunks on its GPU and host under each policy and report fits/OOM, "
       "peak GPU and host memory and PCIe bytes per step against the optimal bound",
       [] { return std::make_unique<PlaceCommand>(); }},
  };
  return group;
}

}  // namespace twinsim::cli
