#include "tools/cli/place_command.h"

#include <fmt/format.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "core/memory_guard.h"
#include "core/memory_ledger.h"
#include "core/model_presets.h"
#include "core/parallel_layout.h"
#include "core/topology.h"
#include "core/topology_presets.h"
#include "harness/place.h"
#include "policies/placement/chunk.h"
#include "policies/placement/placement.h"
#include "policies/placement/registry.h"
#include "policies/placement/workload.h"
#include "policies/seed/policy.h"
#include "properties/init_check.h"
#include "properties/placement_run.h"
#include "tools/cli/args.h"
#include "tools/cli/chunk_search_args.h"
#include "tools/cli/layout_args.h"
#include "tools/cli/output.h"

namespace twinsim::cli {
namespace {

// Largest world size accepted (dp * pp * tp), as `chunks`.
constexpr uint64_t kMaxWorld = 65536;
// Limits on the step's shape; activation bytes are checked against kMaxActivationBytes too.
constexpr uint64_t kMaxBatch = uint64_t{1} << 20;
constexpr uint64_t kMaxSeq = uint64_t{1} << 24;
constexpr uint64_t kMaxMicrobatches = uint64_t{1} << 20;
constexpr uint64_t kMaxHeads = uint64_t{1} << 20;
constexpr unsigned __int128 kMaxActivationBytes = static_cast<unsigned __int128>(1) << 62;

// The sim backend simulates every rank of the layout; larger worlds fall back to accounting.
constexpr int kMaxSimWorld = 256;

enum class PlaceBackend : uint8_t { kSim, kHost, kAccounting };

std::string Thousands(uint64_t v) {
  std::string s = std::to_string(v);
  for (int i = static_cast<int>(s.size()) - 3; i > 0; i -= 3) s.insert(i, ",");
  return s;
}

// "512 B", or "1.63 GiB (1,748,733,952 B)": binary units with the exact count.
std::string Bytes(uint64_t bytes) {
  if (bytes < 1024) return fmt::format("{} B", bytes);
  constexpr const char* kUnits[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  double value = static_cast<double>(bytes) / 1024;
  int unit = 0;
  while (value >= 1024 && unit + 1 < 6) {
    value /= 1024;
    ++unit;
  }
  return fmt::format("{:.2f} {} ({} B)", value, kUnits[unit], Thousands(bytes));
}

std::string JsonString(std::string_view text) {
  std::string s;
  AppendJsonString(text, s);
  return s;
}

std::string RatioText(const placement::PlacementResult& r) {
  if (!r.fits) return "n/a (did not fit)";
  if (std::isinf(r.ratio_to_optimal)) return "inf (optimal moves nothing)";
  return fmt::format("{:.3f}", r.ratio_to_optimal);
}

class PlaceCommand final : public Command {
 public:
  void DeclareOptions(CLI::App& app) override {
    app.add_option("--cluster", cluster_text_,
                   "The cluster, PRESET[:key=value,...] (twinsim show cluster lists them); its "
                   "GPU and host memory are the defaults below")
        ->type_name("CLUSTER")
        ->required();
    layout_args_.Declare(app, /*model_required=*/false, /*sharding_axes=*/false);
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
    app.add_flag("--dp-shard", dp_shard_,
                 "Shard every chunk over the --dp ranks (each keeps 1/dp; gathered on use)");
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
    app.add_option("--policy", policy_text_,
                   "Placement policies to run, comma-separated, or 'all' (listed below; all but "
                   "static-documented)")
        ->type_name("NAME[,NAME...]|all")
        ->required();
    app.add_flag("--timeline", timeline_,
                 "Also print GPU and host memory while each op ran (JSON: \"timeline\")");
    app.add_flag("--json", json_, "Print one JSON object per policy and line instead of text");
    app.footer(
        "Packs the rank's parameters into chunks as ColossalAI Gemini does (the chunk-size\n"
        "search of `twinsim chunks`, 14 bytes per parameter: fp16 weights that also take the\n"
        "gradient, fp32 master, Adam m and v; m and v on valid elements only), builds the rank's\n"
        "training step (forward layer by layer over its own stage and TP shards, backward in\n"
        "reverse, Adam per chunk; activation memory after Korthikanti et al. 2022) and replays it\n"
        "under each policy, as ColossalAI Gemini's code at 4f9953be does:\n"
        "  cuda     static(1,0,0): every chunk on the GPU; nothing moves; GPU Adam\n"
        "  cpu      static(1,1,1): chunks start on the host, every evictable chunk is evicted\n"
        "           before each op, gradients go to the host, HybridAdam's CPU Adam\n"
        "  static   StaticPlacementPolicy(--static fractions) as coded: its totals sum chunk\n"
        "           memory per parameter (so fractions act on an inflated total); optimizer\n"
        "           state offloaded by the walk is updated by CPU Adam\n"
        "  static-documented  the same fractions of the true total, as the docs say\n"
        "  auto     AutoPlacementPolicy: chunks and all fp32/Adam state start on the host; a\n"
        "           warmup step traces non-model memory, then chunks are evicted furthest next\n"
        "           use first; gradients go to the host and CPU Adam updates them there\n"
        "  optimal  twinsim's offline Belady over the step: the least PCIe traffic any GPU-Adam\n"
        "           policy can achieve (CPU Adam policies may move less)\n"
        "--gpu-adam selects twinsim's own GPU-Adam variants of cpu, static and auto instead.\n"
        "With static, place prints what ColossalAI's code offloads for the given fractions\n"
        "beside what its docs promise, when the two differ (JSON: \"static_plan\").\n"
        "Each policy reports fits or OOM (the op, the device, the bytes short; an OOM is a\n"
        "result: the exit status stays 0), peak GPU and host memory, PCIe bytes per step (H2D\n"
        "and D2H) and the H2D ratio to optimal. \"feasible\" says whether any placement can avoid\n"
        "OOM. With --backend sim (the default) every rank's step runs on the simulated cluster:\n"
        "PCIe moves, DP all-gathers and gradient reductions over NVLink or the network, and\n"
        "each op's matmuls at 50% of the GPU's dense fp16 peak; the step time is the slowest\n"
        "rank's (no overlap of moves and compute; tensor-parallel and pipeline communication\n"
        "not modelled). --backend host replays the rank's step with real bytes and checks every\n"
        "move's checksum (up to 4 GiB of model data).\n"
        "--max-model gpt2 searches the number of layers at each width from 768 to 12288 and\n"
        "reports, per policy, the largest GPT-2-shaped model whose step fits (accounting;\n"
        "for optimal: the largest for which a feasible placement exists).\n"
        "Sizes: whole bytes (1073741824) or a number and a unit without a space: KB MB GB TB\n"
        "(powers of 1000) or KiB MiB GiB TiB (powers of 1024), e.g. 24GB, 32GiB, 512GiB.\n"
        "Defaults: --gpu-memory is the cluster GPU's memory; --host-memory is the node's\n"
        "pageable host memory divided by the GPUs per node (v100-32g: 192 GiB / 1 GPU).\n"
        "Examples:\n"
        "  twinsim place --cluster v100-32g --model gpt2-small --policy all\n"
        "  twinsim place --cluster v100-32g --model gpt2-xl --batch 8 --policy cuda,auto,optimal\n"
        "  twinsim place --cluster dgx-a100-80g --model llama3-8b --dp 8 --dp-shard --rank 3 \\\n"
        "      --gpu-memory 40GB --host-memory 64GiB --policy static,auto --static 1,1,0.5 --json\n"
        "  twinsim place --cluster dgx-h100 --model gpt2-10b --pp 4 --microbatches 8 \\\n"
        "      --schedule gpipe --recompute --policy auto\n"
        "  twinsim place --cluster dgx-a100-80g --model gpt3-175b --dp 8 --dp-shard --policy auto\n"
        "  twinsim place --cluster v100-32g --max-model gpt2 --batch 8 --policy all\n"
        "  twinsim place --cluster v100-32g --model gpt2-medium --backend host --policy cpu,auto\n"
        "  twinsim place --cluster v100-32g --model gpt2-xl --policy all --init-policy all");
  }

  Status Validate() override {
    if (!max_model_text_.empty()) {
      if (layout_args_.has_model()) {
        return Status::InvalidArgument("--max-model: give --model or --max-model, not both");
      }
      TWINSIM_RETURN_IF_ERROR(ParseFamily());
    } else if (!layout_args_.has_model()) {
      return Status::InvalidArgument("--model: required (or --max-model FAMILY)");
    }
    if (backend_text_.empty() || backend_text_ == "sim") {
      backend_ = PlaceBackend::kSim;
    } else if (backend_text_ == "host") {
      backend_ = PlaceBackend::kHost;
    } else if (backend_text_ == "accounting") {
      backend_ = PlaceBackend::kAccounting;
    } else {
      return Status::InvalidArgument("--backend: expected sim, host or accounting, got " +
                                     Quote(backend_text_));
    }
    // The search compares memory only; a probe model (the smallest candidate) stands for the
    // family while the other options are checked.
    StatusOr<core::ParallelLayout> layout =
        max_model_text_.empty()
            ? layout_args_.Make(kMaxWorld)
            : layout_args_.MakeWithModel(
                  family_.ModelText(family_.widths.front(), layout_args_.MinLayers()), kMaxWorld);
    if (!layout.ok()) return layout.status();
    layout_ = std::move(*layout);
    const core::LayoutConfig& lc = layout_->config();

    if (!IsValidUtf8(cluster_text_))
      return Status::InvalidArgument("--cluster: expected UTF-8 text");
    StatusOr<core::Topology> topology = core::MakeTopology(cluster_text_);
    if (!topology.ok()) return ForOption("--cluster", topology.status());
    topology_ = *topology;
    const int64_t gpus = core::NumGpus(*topology);
    if (layout_->world_size() > gpus) {
      const int64_t per_node = static_cast<int64_t>(topology->nodes[0].gpus.size());
      return Status::InvalidArgument(fmt::format(
          "--cluster: {} has {} GPUs, the layout needs {} (tp {} x pp {} x dp {}); add nodes, "
          "e.g. {}:nodes={}",
          cluster_text_, gpus, layout_->world_size(), lc.tp, lc.pp, lc.dp,
          cluster_text_.substr(0, cluster_text_.find(':')),
          (layout_->world_size() + per_node - 1) / per_node));
    }

    if (!rank_text_.empty()) {
      const uint64_t world = static_cast<uint64_t>(layout_->world_size());
      StatusOr<uint64_t> rank = ParseUint64("--rank", rank_text_);
      if (!rank.ok()) return rank.status();
      if (*rank >= world) {
        return Status::InvalidArgument(fmt::format(
            "--rank: expected a rank below the world size {}, got {}", world, Quote(rank_text_)));
      }
      config_.rank = static_cast<int>(*rank);
    }
    // The rank's GPU: ranks fill the nodes' GPUs in order.
    resources_ = harness::ResourcesOfRank(*topology, config_.rank);
    cluster_pinned_bytes_ = resources_.pinned_bytes;
    budget_ = {resources_.gpu_bytes, resources_.host_bytes};
    for (auto [option, text, field] :
         {std::tuple{"--gpu-memory", &gpu_memory_text_, &budget_.gpu_bytes},
          std::tuple{"--host-memory", &host_memory_text_, &budget_.host_bytes},
          std::tuple{"--pinned-memory", &pinned_memory_text_, &cluster_pinned_bytes_}}) {
      if (text->empty()) continue;
      StatusOr<uint64_t> bytes = ParseByteSizeWithUnit(option, *text);
      if (!bytes.ok()) return bytes.status();
      *field = *bytes;
    }
    if (!pinned_memory_text_.empty() && !pin_memory_) {
      return Status::InvalidArgument("--pinned-memory: only with --pin-memory");
    }
    // Pinned chunks (ColossalAI's pin_memory=True) come out of the pinned pool: the host budget
    // is the smaller of the two limits.
    pageable_budget_ = budget_.host_bytes;
    if (pin_memory_) budget_.host_bytes = std::min(budget_.host_bytes, cluster_pinned_bytes_);

    for (auto [option, text, max, field] :
         {std::tuple{"--batch", &batch_text_, kMaxBatch, &config_.micro_batch_size},
          std::tuple{"--seq", &seq_text_, kMaxSeq, &config_.seq_len}}) {
      if (text->empty()) continue;
      StatusOr<int64_t> v = ParsePositive(option, *text, max);
      if (!v.ok()) return v.status();
      *field = *v;
    }
    if (!microbatches_text_.empty()) {
      StatusOr<int64_t> v = ParsePositive("--microbatches", microbatches_text_, kMaxMicrobatches);
      if (!v.ok()) return v.status();
      config_.num_microbatches = static_cast<int>(*v);
    }
    if (schedule_text_ == "1f1b") {
      config_.schedule = placement::PipelineSchedule::k1F1B;
    } else if (schedule_text_ == "gpipe") {
      config_.schedule = placement::PipelineSchedule::kGPipe;
    } else {
      return Status::InvalidArgument("--schedule: expected 1f1b or gpipe, got " +
                                     Quote(schedule_text_));
    }
    config_.recompute = recompute_;
    if (lc.vpp > 1 && config_.schedule == placement::PipelineSchedule::k1F1B &&
        config_.num_microbatches % lc.pp != 0) {
      return Status::InvalidArgument(fmt::format(
          "--microbatches: the interleaved 1F1B schedule (vpp {}) needs a multiple of pp {}, "
          "got {}",
          lc.vpp, lc.pp, config_.num_microbatches));
    }

    const core::ModelSpec& model = layout_->model();
    const int64_t hidden = placement::HiddenSizeOf(model);
    std::optional<int> heads;
    if (model.num_heads > 0) heads = model.num_heads;
    if (!heads_text_.empty()) {
      StatusOr<int64_t> v = ParsePositive("--heads", heads_text_, kMaxHeads);
      if (!v.ok()) return v.status();
      heads = static_cast<int>(*v);
    }
    if (hidden < 1) {
      return Status::InvalidArgument(
          fmt::format("--model: {} is not a transformer (no final norm to take the hidden size "
                      "from); place needs a gpt2, gpt3 or llama3 model",
                      Quote(model.name)));
    }
    if (!heads) {
      return Status::InvalidArgument(fmt::format(
          "--heads: the attention heads of {} are not known; give --heads", Quote(model.name)));
    }
    if (hidden % *heads != 0) {
      return Status::InvalidArgument(
          fmt::format("--heads: the hidden size {} is not a multiple of {} heads", hidden, *heads));
    }
    config_.heads = *heads;
    const int64_t positions = PositionsOf(model);
    if (positions > 0 && config_.seq_len > positions) {
      return Status::InvalidArgument(fmt::format("--seq: {} has {} positions, got {}",
                                                 Quote(model.name), positions, config_.seq_len));
    }
    TWINSIM_RETURN_IF_ERROR(CheckActivationBound(model, hidden));

    const std::vector<std::string> names = SplitList(policy_text_);
    for (size_t i = 0; i < names.size(); ++i) {
      const std::string& name = names[i];
      if (name == "all" && names.size() == 1) break;
      if (name.empty()) {
        return Status::InvalidArgument(
            "--policy: expected comma-separated names without empty items, got " +
            Quote(policy_text_));
      }
      if (name == "all") {
        return Status::InvalidArgument("--policy: 'all' must stand alone, got " +
                                       Quote(policy_text_));
      }
      if (!placement::IsPlacementPolicyName(name)) {
        return Status::InvalidArgument("--policy: unknown policy " + Quote(name) + "; expected " +
                                       placement::ExpectedPlacementPolicies());
      }
      for (size_t j = 0; j < i; ++j) {
        if (names[j] == name) {
          return Status::InvalidArgument("--policy: " + Quote(name) + " given twice");
        }
      }
    }
    std::vector<std::string> selected = names;
    if (names == std::vector<std::string>{"all"}) selected = placement::AllPlacementPolicyNames();
    placement::StaticFractions fractions;
    bool has_static = false, has_auto = false, has_documented = false;
    for (const std::string& name : selected) {
      has_static = has_static || name == "static";
      has_documented = has_documented || name == "static-documented";
      has_auto = has_auto || name == "auto";
    }
    if (gpu_adam_ && has_documented) {
      return Status::InvalidArgument(
          "--gpu-adam: not with static-documented (the GPU-Adam variant of static already walks "
          "the documented fractions)");
    }
    placement::AutoOptions auto_options;
    auto_options.gpu_adam = gpu_adam_;
    if (!margin_text_.empty()) {
      if (!has_auto) {
        return Status::InvalidArgument("--gpu-margin-mem-ratio: only with --policy auto (or all)");
      }
      StatusOr<double> v = ParseFiniteDouble("--gpu-margin-mem-ratio", margin_text_);
      if (!v.ok()) return v.status();
      if (*v < 0 || *v > 1) {
        return Status::InvalidArgument("--gpu-margin-mem-ratio: expected a ratio in [0, 1], got " +
                                       Quote(margin_text_));
      }
      if (gpu_adam_ && *v > 0) {
        return Status::InvalidArgument(
            "--gpu-margin-mem-ratio: moves HybridAdam's host state to the GPU; not with "
            "--gpu-adam");
      }
      auto_options.gpu_margin_mem_ratio = *v;
    }
    if (!static_text_.empty()) {
      if (!has_static && !has_documented) {
        return Status::InvalidArgument(
            "--static: only with --policy static or static-documented (or all)");
      }
      const std::vector<std::string> parts = SplitList(static_text_);
      if (parts.size() != 3) {
        return Status::InvalidArgument(
            "--static: expected three fractions SHARD,OPTIM,PARAM in [0, 1], got " +
            Quote(static_text_));
      }
      std::array<double*, 3> fields = {&fractions.shard_param_frac, &fractions.offload_optim_frac,
                                       &fractions.offload_param_frac};
      for (size_t i = 0; i < 3; ++i) {
        StatusOr<double> v = ParseFiniteDouble("--static", parts[i]);
        if (!v.ok()) return v.status();
        if (*v < 0 || *v > 1) {
          return Status::InvalidArgument(
              "--static: expected three fractions SHARD,OPTIM,PARAM in [0, 1], got " +
              Quote(static_text_));
        }
        *fields[i] = *v;
      }
    }
    fractions_ = fractions;
    placement::PlacementPolicyOptions policy_options;
    policy_options.fractions = fractions;
    policy_options.auto_options = auto_options;
    policy_options.gpu_adam = gpu_adam_;
    for (const std::string& name : selected) {
      StatusOr<std::unique_ptr<placement::PlacementPolicy>> p =
          placement::MakePlacementPolicy(name, policy_options);
      const bool is_static = name == "static" || name == "static-documented";
      if (!p.ok()) return ForOption(is_static ? "--static" : "--policy", p.status());
      if (name == "static") static_index_ = policies_.size();
      policies_.push_back(std::move(*p));
    }

    // Chunks: the chunk-size search of `twinsim chunks` (same options), over this rank's tensors.
    separate_grad_ = grad_accumulation_ || config_.num_microbatches > 1;
    StatusOr<placement::ChunkSearchOptions> search = search_args_.Make(dp_shard_ ? lc.dp : 1);
    if (!search.ok()) return search.status();
    search_options_ = *search;
    if (StatusOr<placement::ChunkSearchResult> found = placement::SearchChunkSize(
            placement::RankTensors(*layout_, config_.rank),
            placement::WithModelDefaults(search_options_, layout_->model()));
        !found.ok()) {
      return ForOption(search_args_.BlameOption(), found.status());
    }
    StatusOr<placement::RankStep> step =
        placement::BuildRankStep(*layout_, config_, search_options_, separate_grad_);
    if (!step.ok()) return ForOption("--model", step.status());
    chunk_size_ = step->chunk_size;
    manager_ = std::move(step->chunks);
    workload_ = std::move(step->workload);

    if (allocator_text_ == "caching") {
      budget_.caching_allocator = true;
    } else if (allocator_text_ != "exact") {
      return Status::InvalidArgument("--allocator: expected exact or caching, got " +
                                     Quote(allocator_text_));
    }
    if (!trace_text_.empty() && backend_ != PlaceBackend::kSim) {
      return Status::InvalidArgument("--trace: only with --backend sim");
    }
    if (!max_model_text_.empty() && backend_ == PlaceBackend::kHost) {
      return Status::InvalidArgument("--backend: --max-model searches with accounting or sim");
    }
    if (backend_ == PlaceBackend::kSim && layout_->world_size() > kMaxSimWorld) {
      if (!backend_text_.empty()) {
        return Status::InvalidArgument(fmt::format(
            "--backend: sim simulates every rank, at most {}; the layout has {} (use --backend "
            "accounting)",
            kMaxSimWorld, layout_->world_size()));
      }
      backend_ = PlaceBackend::kAccounting;  // the default falls back
      sim_skipped_ = true;
    }
    if (backend_ == PlaceBackend::kHost &&
        workload_->total_model_bytes > properties::kHostReplayMaxBytes) {
      return Status::InvalidArgument(fmt::format(
          "--backend: host holds real bytes, at most {} of model data per rank; rank {} has {} "
          "(use --backend sim)",
          core::FormatByteSize(properties::kHostReplayMaxBytes), config_.rank,
          core::FormatByteSize(workload_->total_model_bytes)));
    }
    if (!max_memory_text_.empty() && backend_ != PlaceBackend::kHost) {
      return Status::InvalidArgument(
          "--max-memory: only with --backend host (the others hold no "
          "model bytes)");
    }
    if (backend_ == PlaceBackend::kHost) {
      // The memory guard (core/memory_guard.h): every unit of the rank's chunks is held once,
      // on the stand-in GPU or on the host, for the whole replay.
      uint64_t max_memory = 0;
      if (!max_memory_text_.empty()) {
        TWINSIM_ASSIGN_OR_RETURN(max_memory,
                                 ParseByteSizeWithUnit("--max-memory", max_memory_text_));
      }
      TWINSIM_RETURN_IF_ERROR(core::CheckMemoryNeed(
          workload_->total_model_bytes, core::ReadMemoryLimits(max_memory),
          fmt::format("place --backend host for rank {} of {}", config_.rank,
                      layout_->model().name),
          "Use --backend sim or accounting (they hold no model bytes), or a smaller model; "
          "--max-memory SIZE sets the cap"));
    }
    if (!init_policy_text_.empty()) {
      if (!max_model_text_.empty()) {
        return Status::InvalidArgument("--init-policy: not with --max-model");
      }
      std::vector<std::string> names = SplitList(init_policy_text_);
      if (names == std::vector<std::string>{"all"}) names = policies::seed::PolicyNames();
      for (const std::string& name : names) {
        StatusOr<std::unique_ptr<policies::seed::SeedPolicy>> p = policies::seed::MakePolicy(name);
        if (!p.ok()) return ForOption("--init-policy", p.status());
        for (const auto& q : seed_policies_) {
          if (q->name() == name) {
            return Status::InvalidArgument("--init-policy: " + Quote(name) + " given twice");
          }
        }
        seed_policies_.push_back(std::move(*p));
      }
    }
    return Status::Ok();
  }

  Status Execute(Output& out) override {
    if (!max_model_text_.empty()) return SearchLargest(out);
    std::vector<const placement::PlacementPolicy*> policies;
    for (const auto& p : policies_) policies.push_back(p.get());
    const std::vector<placement::PlacementResult> results =
        placement::RunPolicies(policies, *workload_, budget_);
    const bool feasible = placement::FeasiblePlacementExists(*workload_, budget_);
    std::vector<Extras> extras(results.size());
    const bool progress = isatty(STDERR_FILENO) == 1;
    for (size_t i = 0; i < results.size(); ++i) {
      if (!results[i].fits) continue;
      if (backend_ == PlaceBackend::kSim) {
        if (progress)
          std::fprintf(stderr, "twinsim place: simulating %s...\n", results[i].policy.c_str());
        TWINSIM_RETURN_IF_ERROR(SimulateStep(i, results.size(), &extras[i]));
      } else if (backend_ == PlaceBackend::kHost && !results[i].initial_location.empty()) {
        StatusOr<properties::HostReplayResult> replay =
            properties::ReplayPlacementWithBytes(*workload_, results[i], budget_);
        if (!replay.ok()) return replay.status();
        if (!replay->fits || !replay->intact) {
          return Status::Internal(
              fmt::format("policy {}: the host backend disagrees with the accounting: {}",
                          results[i].policy, replay->fits ? replay->corruption : replay->oom));
        }
        extras[i].replay = *replay;
      }
    }
    TWINSIM_RETURN_IF_ERROR(CheckInit(results, &extras, progress));
    if (!json_) PrintHeader(out, feasible);
    for (size_t i = 0; i < results.size(); ++i) {
      if (json_) {
        PrintJson(out, results[i], extras[i], feasible);
      } else {
        PrintText(out, results[i], extras[i]);
      }
    }
    if (!json_ && !seed_policies_.empty()) PrintInitMatrix(out, results, extras);
    return Status::Ok();
  }

 private:
  // What a backend and the init check add to a policy's result.
  struct Extras {
    std::optional<properties::SimStepResult> sim;
    std::string sim_note;  // why there is no step time, when there is none
    std::optional<properties::HostReplayResult> replay;
    // Per seed policy (seed_policies_ order): init meets this placement.
    std::vector<properties::InitMeetsPlacement> init;
  };

  // Every rank's step under policy i, on the simulated cluster (Note [Simulated placement
  // step]). Ranks with the same pipeline and tensor coordinates share one step.
  Status SimulateStep(size_t i, size_t num_policies, Extras* extras) const {
    const core::ParallelLayout& l = *layout_;
    std::map<std::pair<int, int>, std::pair<placement::RankStep, placement::PlacementResult>> steps;
    std::vector<const placement::Workload*> workloads;
    std::vector<const placement::PlacementResult*> results;
    for (int r = 0; r < l.world_size(); ++r) {
      const core::ParallelCoords c = l.RankCoords(r);
      auto it = steps.find({c.pp, c.tp});
      if (it == steps.end()) {
        placement::WorkloadConfig config = config_;
        config.rank = r;
        StatusOr<placement::RankStep> step =
            placement::BuildRankStep(l, config, search_options_, separate_grad_);
        if (!step.ok()) return step.status();
        placement::PlacementResult result = policies_[i]->Run(step->workload, budget_);
        if (!result.fits) {
          extras->sim_note =
              fmt::format("not simulated: rank {} runs out of memory ({})", r, result.oom->message);
          return Status::Ok();
        }
        it = steps.emplace(std::pair{c.pp, c.tp}, std::pair{std::move(*step), std::move(result)})
                 .first;
      }
      workloads.push_back(&it->second.first.workload);
      results.push_back(&it->second.second);
    }
    properties::SimStepOptions options;
    options.topology = topology_;
    if (!trace_text_.empty()) {
      options.trace_path = num_policies > 1
                               ? fmt::format("{}.{}.json", trace_text_, policies_[i]->Name())
                               : trace_text_;
    }
    StatusOr<properties::SimStepResult> sim =
        properties::SimulatePlacementStep(options, l, workloads, results);
    if (!sim.ok()) return sim.status();
    extras->sim = *sim;
    return Status::Ok();
  }

  // Note [Init meets placement]: each seed policy's init on this rank's budgets (timing-only
  // sim), then the chunk build under each placement.
  Status CheckInit(const std::vector<placement::PlacementResult>& results,
                   std::vector<Extras>* extras, bool progress) const {
    for (const auto& seed : seed_policies_) {
      if (progress)
        std::fprintf(stderr, "twinsim place: init %s...\n", std::string(seed->name()).c_str());
      properties::InitRunOptions options;
      options.backend = properties::Backend::kSim;
      options.sim.topology = topology_;
      options.sim.holds_bytes = false;
      options.init_device = seed->default_init_device();
      options.device_capacity = budget_.gpu_bytes;
      options.host_capacity = budget_.host_bytes;
      // Memory does not depend on the root seed: one the framework rejects (Megatron's 0)
      // becomes Megatron's default. The layout is the policy's own (its vocabulary padding).
      if (!seed->CheckSeed(options.seed).ok()) options.seed = 1234;
      StatusOr<core::ParallelLayout> own = policies::seed::LayoutFor(*seed, *layout_);
      if (!own.ok()) {
        return Status(own.status().code(),
                      fmt::format("init policy {}: {}", seed->name(), own.status().message()));
      }
      StatusOr<properties::InitRun> run = properties::RunInit(*seed, *own, options);
      if (!run.ok()) {
        return Status(run.status().code(),
                      fmt::format("init policy {}: {}", seed->name(), run.status().message()));
      }
      const properties::RankOutcome& mine = run->ranks[config_.rank];
      for (size_t i = 0; i < results.size(); ++i) {
        (*extras)[i].init.push_back(properties::CheckInitMeetsPlacement(
            mine.oom, mine.oom_during, *manager_, *workload_, results[i], budget_));
      }
    }
    return Status::Ok();
  }

  // The model text as given (LayoutArgs keeps it private; the layout's model carries it).

  static StatusOr<int64_t> ParsePositive(std::string_view option, const std::string& text,
                                         uint64_t max) {
    StatusOr<uint64_t> v = ParseUint64AtMost(option, text, max, "a positive integer");
    if (!v.ok()) return v.status();
    if (*v == 0) {
      return Status::InvalidArgument(std::string(option) + ": expected a positive integer, got " +
                                     Quote(text));
    }
    return static_cast<int64_t>(*v);
  }

  // Refuses steps whose activation bytes could overflow the workload's 64-bit arithmetic: a
  // generous bound on the largest op's non-model bytes (Note [Activation memory]) must stay
  // below 2^62.
  Status CheckActivationBound(const core::ModelSpec& model, int64_t hidden) const {
    using U = unsigned __int128;
    const U s = static_cast<U>(config_.seq_len), b = static_cast<U>(config_.micro_batch_size);
    const U h = static_cast<U>(hidden), a = static_cast<U>(config_.heads);
    int64_t largest = 0;
    for (const core::ParamSpec& p : model.params) largest = std::max(largest, p.Numel());
    const U vocab = static_cast<U>(largest) / h + 1;
    const U layer = 40 * s * b * h + 5 * a * s * s * b;
    const U stage = static_cast<U>(model.num_layers + 2) * layer + 8 * s * b * vocab;
    const U bound = static_cast<U>(config_.num_microbatches + 2) * stage;
    if (bound >= kMaxActivationBytes) {
      return Status::InvalidArgument(fmt::format(
          "--batch/--seq/--microbatches: batch {} x seq {} x {} microbatches of {} would need "
          "more than 2^62 bytes of activations",
          config_.micro_batch_size, config_.seq_len, config_.num_microbatches, Quote(model.name)));
    }
    return Status::Ok();
  }

  std::string ScheduleText() const {
    return fmt::format("{} microbatch{} ({}: this stage holds {} at its peak)",
                       config_.num_microbatches, config_.num_microbatches == 1 ? "" : "es",
                       placement::PipelineScheduleName(config_.schedule),
                       workload_->held_microbatches);
  }

  void PrintHeader(Output& out, bool feasible) const {
    const core::ParallelLayout& l = *layout_;
    const core::LayoutConfig& c = l.config();
    const core::ParallelCoords coords = l.RankCoords(config_.rank);
    const placement::ChunkManager& m = *manager_;
    out.Append(fmt::format("model         {} ({} heads, hidden {})\n", l.model().name,
                           config_.heads, placement::HiddenSizeOf(l.model())));
    out.Append(fmt::format(
        "layout        tp={} pp={} dp={}; rank {} (dp {}, pp {}, tp {}), stage {} of {}\n", c.tp,
        c.pp, c.dp, config_.rank, coords.dp, coords.pp, coords.tp, workload_->stage,
        l.num_stages()));
    out.Append(fmt::format("cluster       {}: {} {}, host {} per node of {} GPU{}\n", cluster_text_,
                           resources_.gpu_model, core::FormatByteSize(resources_.gpu_bytes),
                           core::FormatByteSize(resources_.node_host_bytes),
                           resources_.gpus_per_node, resources_.gpus_per_node == 1 ? "" : "s"));
    out.Append(fmt::format("GPU memory    {}{}\n", Bytes(budget_.gpu_bytes),
                           gpu_memory_text_.empty() ? " (the cluster's GPU)" : ""));
    if (pin_memory_) {
      out.Append(
          fmt::format("host memory   {} (pinned: the smaller of {} pageable and {} "
                      "pinned)\n",
                      Bytes(budget_.host_bytes), core::FormatByteSize(pageable_budget_),
                      core::FormatByteSize(cluster_pinned_bytes_)));
    } else {
      out.Append(
          fmt::format("host memory   {}{}\n", Bytes(budget_.host_bytes),
                      host_memory_text_.empty()
                          ? fmt::format(" (node host memory / {} GPU{})", resources_.gpus_per_node,
                                        resources_.gpus_per_node == 1 ? "" : "s")
                          : ""));
    }
    out.Append(fmt::format("step          batch {} x seq {}, {}, recompute {}\n",
                           config_.micro_batch_size, config_.seq_len, ScheduleText(),
                           config_.recompute ? "on" : "off"));
    out.Append(fmt::format(
        "chunks        {} of {} elements, {} bytes/param, {}; model data {}\n", m.chunks().size(),
        Thousands(static_cast<uint64_t>(chunk_size_)), m.BytesPerElement(),
        m.keep_gathered()   ? std::string("one chunk kept gathered (below the minimum size)")
        : m.dp_shards() > 1 ? fmt::format("sharded over {} DP ranks", m.dp_shards())
                            : std::string("not sharded"),
        Bytes(workload_->total_model_bytes)));
    out.Append(
        fmt::format("activations   {} per layer per microbatch, {} per microbatch on "
                    "this stage\n",
                    Bytes(workload_->layer_activation), Bytes(workload_->stage_activation)));
    out.Append(fmt::format("feasible      {}\n",
                           feasible ? "yes (a placement without OOM exists)"
                                    : "no (no placement avoids OOM: an op's chunks and "
                                      "activations exceed the GPU, or the model data exceeds "
                                      "GPU plus host)"));
  }

  static std::string Seconds(double s) {
    if (s >= 1) return fmt::format("{:.3f} s", s);
    if (s >= 1e-3) return fmt::format("{:.3f} ms", s * 1e3);
    return fmt::format("{:.3f} us", s * 1e6);
  }

  std::string StepTimeText(const placement::PlacementResult& r, const Extras& x) const {
    if (!r.fits) return "n/a (did not fit)";
    if (x.sim) {
      const uint64_t pcie = x.sim->link_bytes[static_cast<size_t>(sim::LinkClass::kPcieGpu)];
      return fmt::format(
          "{} simulated ({} rank{}, slowest; compute alone {}; {} over the GPUs' PCIe links)",
          Seconds(x.sim->step_time_s), x.sim->rank_time_s.size(),
          x.sim->rank_time_s.size() == 1 ? "" : "s", Seconds(x.sim->compute_time_s),
          core::FormatByteSize(pcie));
    }
    if (!x.sim_note.empty()) return x.sim_note;
    if (sim_skipped_) {
      return fmt::format("not simulated (world of {} ranks > {}; accounting only)",
                         layout_->world_size(), kMaxSimWorld);
    }
    return fmt::format("not simulated (--backend {})",
                       backend_ == PlaceBackend::kHost ? "host" : "accounting");
  }

  void PrintInitMatrix(Output& out, const std::vector<placement::PlacementResult>& results,
                       const std::vector<Extras>& extras) const {
    out.Append(
        fmt::format("\ninit meets placement (rank {}: init on the simulated cluster, then "
                    "the chunk build)\n",
                    config_.rank));
    std::string head = fmt::format("  {:<16}", "seed policy");
    for (const placement::PlacementResult& r : results) head += fmt::format(" {:<16}", r.policy);
    out.Append(head + "\n");
    std::vector<std::string> reasons;
    for (size_t s = 0; s < seed_policies_.size(); ++s) {
      std::string row = fmt::format("  {:<16}", seed_policies_[s]->name());
      for (size_t i = 0; i < results.size(); ++i) {
        const properties::InitMeetsPlacement& m = extras[i].init[s];
        row += fmt::format(" {:<16}", !m.applicable ? "n/a" : m.fits ? "fits" : "OOM");
        if (m.applicable && !m.fits) {
          reasons.push_back(fmt::format("  {} under {}: {}", seed_policies_[s]->name(),
                                        results[i].policy, m.why));
        }
      }
      out.Append(row + "\n");
    }
    for (const std::string& r : reasons) out.Append(r + "\n");
  }

  void PrintText(Output& out, const placement::PlacementResult& r, const Extras& x) const {
    out.Append(fmt::format("\npolicy {}\n", r.policy));
    if (r.fits) {
      out.Append("  result      fits\n");
    } else {
      const placement::PlacementOom& oom = *r.oom;
      out.Append(fmt::format(
          "  result      OOM on {} at {}: {} short (needs {}, {} available)\n", oom.device,
          oom.op < 0 ? oom.op_name : fmt::format("op {} '{}'", oom.op, oom.op_name),
          Bytes(oom.shortfall), Bytes(oom.requested), Bytes(oom.available)));
    }
    out.Append(
        fmt::format("  peak GPU    {}{}\n", Bytes(r.peak_gpu_bytes),
                    r.peak_reserved_bytes > 0
                        ? fmt::format(", reserved {}", core::FormatByteSize(r.peak_reserved_bytes))
                        : std::string()));
    out.Append(fmt::format("  peak host   {}\n", Bytes(r.peak_host_bytes)));
    out.Append(fmt::format("  PCIe/step   H2D {}, D2H {}{}\n", Bytes(r.h2d_bytes),
                           Bytes(r.d2h_bytes), r.fits ? "" : " (up to the OOM)"));
    out.Append(fmt::format("  H2D/optimal {}\n", RatioText(r)));
    out.Append(fmt::format("  step time   {}\n", StepTimeText(r, x)));
    if (timeline_) {
      out.Append("  timeline    op, GPU and host memory while it ran\n");
      for (size_t i = 0; i < r.timeline.size(); ++i) {
        out.Append(fmt::format("    {:>5} {:<20} {:>12} {:>12}\n", i, workload_->ops[i].name,
                               core::FormatByteSize(r.timeline[i].gpu_bytes),
                               core::FormatByteSize(r.timeline[i].host_bytes)));
      }
    }
    if (x.replay) {
      out.Append(fmt::format(
          "  host bytes  {} moves, {} moved with real bytes, {} checksums match (peak {})\n",
          x.replay->moves, core::FormatByteSize(x.replay->bytes_moved), x.replay->checksums,
          core::FormatByteSize(x.replay->peak_device_bytes)));
    } else if (backend_ == PlaceBackend::kHost && r.fits) {
      out.Append("  host bytes  n/a (optimal is a bound, not a placement)\n");
    }
    if (IsCodedStatic(r)) PrintStaticPlan(out);
  }

  // Whether `r` is the (coded, Gemini) static policy's result.
  bool IsCodedStatic(const placement::PlacementResult& r) const {
    return static_index_ && !gpu_adam_ && r.policy == policies_[*static_index_]->Name();
  }

  // Note [Static placement]: what ColossalAI's code offloads for the fractions, beside the docs.
  void PrintStaticPlan(Output& out) const {
    placement::StaticFractions documented = fractions_;
    documented.documented = true;
    const placement::StaticPlan code = placement::PlanStatic(*workload_, fractions_);
    const placement::StaticPlan docs = placement::PlanStatic(*workload_, documented);
    const size_t n = code.optim_on_host.size();
    auto line = [&](std::string_view who, const placement::StaticPlan& p) {
      return fmt::format(
          "    {:<6} optimizer state of {} of {} chunks on the host ({}); total_chunk_mem {}; "
          "keep_cuda_chunk_mem {}; fp16 shards start on the {}\n",
          who, p.offloaded_optim_chunks, n, core::FormatByteSize(p.offloaded_optim_bytes),
          core::FormatByteSize(static_cast<uint64_t>(p.total_chunk_mem)),
          core::FormatByteSize(static_cast<uint64_t>(p.keep_cuda_chunk_mem)),
          p.cpu_offload ? "host" : "GPU");
    };
    const bool differ = StaticPlansDiffer(code, docs);
    int tensors = 0;
    for (int t : workload_->chunk_num_tensors) tensors += t;
    out.Append(fmt::format(
        "  static as coded vs documented ({} chunks, {} tensors: the code's total is {:.1f}x "
        "the chunks'){}\n",
        n, tensors, docs.total_chunk_mem > 0 ? code.total_chunk_mem / docs.total_chunk_mem : 0.0,
        differ ? "" : ": the same placement"));
    out.Append(line("code", code));
    if (differ) out.Append(line("docs", docs));
    if (code.param_frac_ignored) {
      out.Append(
          "    offload_param_frac is ignored (ColossalAI warns) unless shard_param_frac = 1 and "
          "offload_optim_frac = 1\n");
    }
  }

  static bool StaticPlansDiffer(const placement::StaticPlan& a, const placement::StaticPlan& b) {
    return a.optim_on_host != b.optim_on_host || a.cpu_offload != b.cpu_offload ||
           a.keep_cuda_chunk_mem != b.keep_cuda_chunk_mem ||
           a.keep_gathered_chunk_mem != b.keep_gathered_chunk_mem;
  }

  std::string StaticPlanJson() const {
    placement::StaticFractions documented = fractions_;
    documented.documented = true;
    const placement::StaticPlan code = placement::PlanStatic(*workload_, fractions_);
    const placement::StaticPlan docs = placement::PlanStatic(*workload_, documented);
    auto one = [](const placement::StaticPlan& p) {
      std::string on_host;
      for (size_t c = 0; c < p.optim_on_host.size(); ++c) {
        if (p.optim_on_host[c]) on_host += fmt::format("{}{}", on_host.empty() ? "" : ",", c);
      }
      return fmt::format(
          "{{\"total_chunk_mem\":{},\"keep_gathered_chunk_mem\":{},\"keep_cuda_chunk_mem\":{},"
          "\"cpu_offload\":{},\"offloaded_optim_chunks\":{},\"offloaded_optim_bytes\":{},"
          "\"optim_on_host\":[{}]}}",
          p.total_chunk_mem, p.keep_gathered_chunk_mem, p.keep_cuda_chunk_mem, p.cpu_offload,
          p.offloaded_optim_chunks, p.offloaded_optim_bytes, on_host);
    };
    return fmt::format(
        "{{\"differ\":{},\"param_frac_ignored\":{},\"true_chunk_mem\":{},\"code\":{},"
        "\"documented\":{}}}",
        StaticPlansDiffer(code, docs), code.param_frac_ignored, code.true_chunk_mem, one(code),
        one(docs));
  }

  void PrintJson(Output& out, const placement::PlacementResult& r, const Extras& x,
                 bool feasible) const {
    const core::LayoutConfig& c = layout_->config();
    std::string oom = "null";
    if (!r.fits) {
      const placement::PlacementOom& o = *r.oom;
      oom = fmt::format(
          "{{\"op\":{},\"op_name\":{},\"device\":{},\"requested\":{},\"available\":{},"
          "\"shortfall\":{},\"message\":{}}}",
          o.op, JsonString(o.op_name), JsonString(o.device), o.requested, o.available, o.shortfall,
          JsonString(o.message));
    }
    const std::string ratio = r.fits && std::isfinite(r.ratio_to_optimal)
                                  ? fmt::format("{}", r.ratio_to_optimal)
                                  : std::string("null");
    out.Append(fmt::format(
        "{{\"policy\":{},\"model\":{},\"cluster\":{},\"tp\":{},\"pp\":{},\"dp\":{},\"rank\":{},"
        "\"stage\":{},\"heads\":{},\"batch\":{},\"seq\":{},\"microbatches\":{},\"schedule\":\"{}\","
        "\"held_microbatches\":{},\"recompute\":{},\"dp_shards\":{},\"chunk_size\":{},"
        "\"num_chunks\":{},\"bytes_per_param\":{},\"model_bytes\":{},\"layer_activation_bytes\":{},"
        "\"stage_activation_bytes\":{},",
        JsonString(r.policy), JsonString(layout_->model().name), JsonString(cluster_text_), c.tp,
        c.pp, c.dp, config_.rank, workload_->stage, config_.heads, config_.micro_batch_size,
        config_.seq_len, config_.num_microbatches,
        placement::PipelineScheduleName(config_.schedule), workload_->held_microbatches,
        config_.recompute, manager_->dp_shards(), chunk_size_, manager_->chunks().size(),
        manager_->BytesPerElement(), workload_->total_model_bytes, workload_->layer_activation,
        workload_->stage_activation));
    out.Append(fmt::format(
        "\"gpu_memory\":{},\"host_memory\":{},\"feasible\":{},\"fits\":{},\"oom\":{},"
        "\"peak_gpu_bytes\":{},\"peak_host_bytes\":{},\"h2d_bytes\":{},\"d2h_bytes\":{},"
        "\"ratio_to_optimal\":{},\"ratio_infinite\":{},",
        budget_.gpu_bytes, budget_.host_bytes, feasible, r.fits, oom, r.peak_gpu_bytes,
        r.peak_host_bytes, r.h2d_bytes, r.d2h_bytes, ratio,
        r.fits && std::isinf(r.ratio_to_optimal)));
    std::string sim = "null";
    if (x.sim) {
      std::string links;
      for (int k = 0; k < sim::kNumLinkClasses; ++k) {
        links += fmt::format("{}{}:{}", k == 0 ? "" : ",",
                             JsonString(sim::LinkClassName(static_cast<sim::LinkClass>(k))),
                             x.sim->link_bytes[k]);
      }
      sim = fmt::format(
          "{{\"step_time_s\":{},\"compute_time_s\":{},\"ranks\":{},\"link_bytes\":{{{}}},"
          "\"wall_s\":{:.3f}}}",
          x.sim->step_time_s, x.sim->compute_time_s, x.sim->rank_time_s.size(), links,
          x.sim->wall_s);
    }
    std::string replay = "null";
    if (x.replay) {
      replay = fmt::format(
          "{{\"moves\":{},\"bytes_moved\":{},\"checksums\":{},\"intact\":{},"
          "\"peak_device_bytes\":{}}}",
          x.replay->moves, x.replay->bytes_moved, x.replay->checksums, x.replay->intact,
          x.replay->peak_device_bytes);
    }
    std::string timeline = "null";
    if (timeline_) {
      timeline = "[";
      for (size_t i = 0; i < r.timeline.size(); ++i) {
        timeline += fmt::format("{}{{\"op\":{},\"gpu_bytes\":{},\"host_bytes\":{}}}",
                                i == 0 ? "" : ",", JsonString(workload_->ops[i].name),
                                r.timeline[i].gpu_bytes, r.timeline[i].host_bytes);
      }
      timeline += "]";
    }
    std::string init = "[";
    for (size_t s = 0; s < x.init.size(); ++s) {
      const properties::InitMeetsPlacement& m = x.init[s];
      init += fmt::format(
          "{}{{\"seed_policy\":{},\"applicable\":{},\"fits\":{},\"why\":{},"
          "\"build_peak_gpu_bytes\":{},\"build_peak_host_bytes\":{}}}",
          s == 0 ? "" : ",", JsonString(seed_policies_[s]->name()), m.applicable, m.fits,
          JsonString(m.why), m.build_peak_gpu_bytes, m.build_peak_host_bytes);
    }
    init += "]";
    out.Append(fmt::format(
        "\"pin_memory\":{},\"allocator\":\"{}\",\"peak_reserved_bytes\":{},"
        "\"backend\":\"{}\",\"step_time_s\":{},\"sim\":{},\"sim_note\":{},\"host_replay\":{},"
        "\"init_meets_placement\":{},\"static_plan\":{},\"timeline\":{}}}\n",
        pin_memory_, budget_.caching_allocator ? "caching" : "exact", r.peak_reserved_bytes,
        backend_ == PlaceBackend::kSim    ? "sim"
        : backend_ == PlaceBackend::kHost ? "host"
                                          : "accounting",
        x.sim ? fmt::format("{}", x.sim->step_time_s) : std::string("null"), sim,
        JsonString(x.sim_note), replay, init,
        IsCodedStatic(r) ? StaticPlanJson() : std::string("null"), timeline));
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

  // --max-model: the library's search, printed.
  Status SearchLargest(Output& out) const {
    const bool progress = isatty(STDERR_FILENO) == 1;
    if (!json_) {
      out.Append(fmt::format("family        {} (n_layer searched up to {}; widths {})\n",
                             max_model_text_, harness::kMaxSearchLayers, family_.widths.size()));
      out.Append(fmt::format("cluster       {}: GPU {}, host {}\n", cluster_text_,
                             core::FormatByteSize(budget_.gpu_bytes),
                             core::FormatByteSize(budget_.host_bytes)));
      out.Append(fmt::format("step          batch {} x seq {}, tp={} pp={} dp={}{}, rank {}\n",
                             config_.micro_batch_size, config_.seq_len, layout_->config().tp,
                             layout_->config().pp, layout_->config().dp,
                             dp_shard_ ? " (sharded)" : "", config_.rank));
    }
    harness::LargestModelRequest request;
    request.family = family_;
    request.cluster = cluster_text_;
    request.make_layout = [this](std::string_view text) {
      return layout_args_.MakeWithModel(text, kMaxWorld);
    };
    request.min_layers = layout_args_.MinLayers();
    request.config = config_;
    request.search = search_options_;
    request.separate_grad = separate_grad_;
    request.budget = budget_;
    if (progress) {
      request.on_policy = [](const std::string& name) {
        std::fprintf(stderr, "twinsim place: searching %s...\n", name.c_str());
      };
    }
    std::vector<const placement::PlacementPolicy*> policies;
    for (const auto& p : policies_) policies.push_back(p.get());
    TWINSIM_ASSIGN_OR_RETURN(std::vector<harness::LargestModelReport> reports,
                             harness::FindLargestModel(request, policies));
    for (const harness::LargestModelReport& r : reports) {
      if (json_) {
        out.Append(nlohmann::ordered_json(r).dump() + "\n");
      } else if (!r.largest) {
        out.Append(
            fmt::format("\npolicy {}\n  largest     none: the smallest candidate does "
                        "not fit\n",
                        r.policy));
      } else {
        out.Append(
            fmt::format("\npolicy {}\n  largest     {} ({:.2f} B parameters)\n"
                        "  one more    layer fails: {}\n",
                        r.policy, *r.largest, static_cast<double>(r.params) / 1e9, r.next_fails));
      }
    }
    return Status::Ok();
  }

  LayoutArgs layout_args_;
  std::string cluster_text_, gpu_memory_text_, host_memory_text_, batch_text_, seq_text_,
      microbatches_text_, heads_text_, rank_text_, static_text_, policy_text_;
  std::string schedule_text_ = "1f1b";
  std::string max_model_text_, backend_text_, trace_text_, init_policy_text_;
  std::string allocator_text_ = "exact";
  std::string max_memory_text_;
  harness::ModelFamily family_;  // --max-model
  PlaceBackend backend_ = PlaceBackend::kSim;
  bool sim_skipped_ = false;
  core::Topology topology_;
  std::vector<std::unique_ptr<policies::seed::SeedPolicy>> seed_policies_;
  bool recompute_ = false, dp_shard_ = false, grad_accumulation_ = false, json_ = false;
  bool timeline_ = false, gpu_adam_ = false;
  std::string margin_text_;
  placement::StaticFractions fractions_;
  std::optional<size_t> static_index_;  // the (coded) static policy's place in policies_

  std::optional<core::ParallelLayout> layout_;
  placement::WorkloadConfig config_;
  placement::MemoryBudget budget_;
  harness::RankResources resources_;
  uint64_t cluster_pinned_bytes_ = 0, pageable_budget_ = 0;
  bool pin_memory_ = false;
  std::string pinned_memory_text_;
  bool separate_grad_ = false;
  ChunkSearchArgs search_args_;
  placement::ChunkSearchOptions search_options_;
  int64_t chunk_size_ = 0;
  std::optional<placement::ChunkManager> manager_;
  std::optional<placement::Workload> workload_;
  std::vector<std::unique_ptr<placement::PlacementPolicy>> policies_;
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
