#include "tools/cli/place_command.h"

#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "core/memory_ledger.h"
#include "core/parallel_layout.h"
#include "core/topology.h"
#include "core/topology_presets.h"
#include "policies/placement/chunk.h"
#include "policies/placement/placement.h"
#include "policies/placement/workload.h"
#include "tools/cli/args.h"
#include "tools/cli/layout_args.h"
#include "tools/cli/output.h"

namespace twinsim::cli {
namespace {

// Largest world size accepted (dp * pp * tp), as `chunks`.
constexpr uint64_t kMaxWorld = 65536;
// Largest --gpu-memory / --host-memory: 2^60 bytes, so that sums of two stay far below 2^64.
constexpr uint64_t kMaxBytes = uint64_t{1} << 60;
// Limits on the step's shape; activation bytes are checked against kMaxActivationBytes too.
constexpr uint64_t kMaxBatch = uint64_t{1} << 20;
constexpr uint64_t kMaxSeq = uint64_t{1} << 24;
constexpr uint64_t kMaxMicrobatches = uint64_t{1} << 20;
constexpr uint64_t kMaxHeads = uint64_t{1} << 20;
constexpr unsigned __int128 kMaxActivationBytes = static_cast<unsigned __int128>(1) << 62;

constexpr char kSizeExpected[] = "expected a size like 24GB or 32GiB, got ";
constexpr std::array<std::string_view, 5> kPolicyNames = {"cuda", "cpu", "static", "auto",
                                                          "optimal"};

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

// Rows of the learned position embedding (GPT-2's wpe), or 0 when the model has none.
int64_t PositionsOf(const core::ModelSpec& model) {
  for (const core::ParamSpec& p : model.params) {
    if (p.role == core::ParamRole::kEmbedding && p.name.find("wpe") != std::string::npos &&
        !p.shape.empty()) {
      return p.shape[0];
    }
  }
  return 0;
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
    layout_args_.Declare(app);
    app.add_option("--gpu-memory", gpu_memory_text_,
                   "GPU memory of the rank, a size (default: the cluster's GPU memory)")
        ->type_name("SIZE");
    app.add_option("--host-memory", host_memory_text_,
                   "Host memory the rank may use for chunks, a size (default: the node's "
                   "pageable host memory divided by its GPUs per node)")
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
    app.add_flag("--grad-accumulation", grad_accumulation_,
                 "Separate fp16 grad chunks even with one microbatch (16 bytes per parameter)");
    app.add_option("--static", static_text_,
                   "Fractions of the static policy: shard_param_frac, offload_optim_frac, "
                   "offload_param_frac, each in [0, 1] (default 1,0,0, as ColossalAI)")
        ->type_name("SHARD,OPTIM,PARAM");
    app.add_option("--policy", policy_text_,
                   "Placement policies to run, comma-separated, or 'all' (listed below)")
        ->type_name("NAME[,NAME...]|all")
        ->required();
    app.add_flag("--json", json_, "Print one JSON object per policy and line instead of text");
    app.footer(
        "Packs the rank's parameters into chunks as ColossalAI Gemini does (the chunk-size\n"
        "search of `twinsim chunks`, 14 bytes per parameter: fp16 weights that also take the\n"
        "gradient, fp32 master, Adam m and v), builds the rank's training step (forward layer by\n"
        "layer over its own stage and TP shards, backward in reverse, Adam per chunk; activation\n"
        "memory after Korthikanti et al. 2022) and replays it under each policy:\n"
        "  cuda     every chunk on the GPU; nothing moves\n"
        "  cpu      every chunk on the host; loaded for each op and evicted after it\n"
        "  static   ColossalAI's StaticPlacementPolicy(--static fractions): the first\n"
        "           offload_optim_frac of optimizer state (and, with 1,1,P, P of the fp16\n"
        "           weights) lives on the host; with --dp-shard, (1 - shard_param_frac) of the\n"
        "           chunks stay gathered\n"
        "  auto     Gemini's auto policy: a warmup step traces non-model memory per op, then\n"
        "           before each op evicts the chunk used furthest in the future until it fits\n"
        "  optimal  offline Belady over the step: the least PCIe traffic any policy can achieve\n"
        "Each policy reports fits or OOM (the op, the device, the bytes short; an OOM is a\n"
        "result: the exit status stays 0), peak GPU and host memory, PCIe bytes per step (H2D\n"
        "and D2H) and the H2D ratio to optimal. \"feasible\" says whether any placement can avoid\n"
        "OOM. Step time is not simulated yet: only memory and bytes are accounted.\n"
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
        "      --schedule gpipe --recompute --policy auto");
  }

  Status Validate() override {
    StatusOr<core::ParallelLayout> layout = layout_args_.Make(kMaxWorld);
    if (!layout.ok()) return layout.status();
    layout_ = std::move(*layout);
    const core::LayoutConfig& lc = layout_->config();
    if (lc.vpp != 1) {
      return Status::InvalidArgument(fmt::format(
          "--vpp: interleaved schedules (vpp > 1) are not modelled by place, got {}", lc.vpp));
    }

    if (!IsValidUtf8(cluster_text_))
      return Status::InvalidArgument("--cluster: expected UTF-8 text");
    StatusOr<core::Topology> topology = core::MakeTopology(cluster_text_);
    if (!topology.ok()) return ForOption("--cluster", topology.status());
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
    int64_t local = config_.rank;
    for (const core::NodeSpec& node : topology->nodes) {
      const int64_t n = static_cast<int64_t>(node.gpus.size());
      if (local < n) {
        cluster_gpu_bytes_ = static_cast<uint64_t>(node.gpus[local].memory_capacity_bytes);
        gpu_model_ = node.gpus[local].model;
        cluster_host_bytes_ = static_cast<uint64_t>(node.host_memory.pageable_bytes) / n;
        gpus_per_node_ = n;
        node_host_bytes_ = static_cast<uint64_t>(node.host_memory.pageable_bytes);
        break;
      }
      local -= n;
    }
    budget_ = {cluster_gpu_bytes_, cluster_host_bytes_};
    for (auto [option, text, field] :
         {std::tuple{"--gpu-memory", &gpu_memory_text_, &budget_.gpu_bytes},
          std::tuple{"--host-memory", &host_memory_text_, &budget_.host_bytes}}) {
      if (text->empty()) continue;
      StatusOr<uint64_t> bytes = ParseByteSizeWithUnit(option, *text);
      if (!bytes.ok()) return bytes.status();
      *field = *bytes;
    }

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
      bool known = false;
      for (std::string_view p : kPolicyNames) known = known || p == name;
      if (!known) {
        return Status::InvalidArgument("--policy: unknown policy " + Quote(name) +
                                       "; expected cuda, cpu, static, auto, optimal or all");
      }
      for (size_t j = 0; j < i; ++j) {
        if (names[j] == name) {
          return Status::InvalidArgument("--policy: " + Quote(name) + " given twice");
        }
      }
    }
    std::vector<std::string> selected = names;
    if (names == std::vector<std::string>{"all"}) {
      selected.assign(kPolicyNames.begin(), kPolicyNames.end());
    }
    placement::StaticFractions fractions;
    if (!static_text_.empty()) {
      bool has_static = false;
      for (const std::string& name : selected) has_static = has_static || name == "static";
      if (!has_static) {
        return Status::InvalidArgument("--static: only with --policy static (or all)");
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
    for (const std::string& name : selected) {
      if (name == "cuda") {
        policies_.push_back(placement::MakeCudaPolicy());
      } else if (name == "cpu") {
        policies_.push_back(placement::MakeCpuPolicy());
      } else if (name == "static") {
        StatusOr<std::unique_ptr<placement::PlacementPolicy>> p =
            placement::MakeStaticPolicy(fractions);
        if (!p.ok()) return ForOption("--static", p.status());
        policies_.push_back(std::move(*p));
      } else if (name == "auto") {
        StatusOr<std::unique_ptr<placement::PlacementPolicy>> p = placement::MakeAutoPolicy();
        if (!p.ok()) return ForOption("--policy", p.status());
        policies_.push_back(std::move(*p));
      } else {
        policies_.push_back(placement::MakeOptimalPolicy());
      }
    }

    // Chunks: the default chunk-size search of `twinsim chunks`, over this rank's tensors.
    separate_grad_ = grad_accumulation_ || config_.num_microbatches > 1;
    search_options_.dp_shards = dp_shard_ ? lc.dp : 1;
    const std::vector<placement::TensorSpec> tensors =
        placement::RankTensors(*layout_, config_.rank);
    StatusOr<placement::ChunkSearchResult> search =
        placement::SearchChunkSize(tensors, search_options_);
    if (!search.ok()) return ForOption("--model", search.status());
    chunk_size_ = search->chunk_size;
    StatusOr<placement::ChunkManager> manager = placement::ChunkManager::Make(
        tensors, {search->chunk_size, search_options_.dp_shards, separate_grad_});
    if (!manager.ok()) return ForOption("--model", manager.status());
    manager_ = std::move(*manager);
    StatusOr<placement::Workload> workload = placement::BuildWorkload(*layout_, *manager_, config_);
    if (!workload.ok()) return ForOption("--model", workload.status());
    workload_ = std::move(*workload);
    return Status::Ok();
  }

  Status Execute(Output& out) override {
    std::vector<const placement::PlacementPolicy*> policies;
    for (const auto& p : policies_) policies.push_back(p.get());
    const std::vector<placement::PlacementResult> results =
        placement::RunPolicies(policies, *workload_, budget_);
    const bool feasible = placement::FeasiblePlacementExists(*workload_, budget_);
    if (!json_) PrintHeader(out, feasible);
    for (const placement::PlacementResult& r : results) {
      if (json_) {
        PrintJson(out, r, feasible);
      } else {
        PrintText(out, r);
      }
    }
    return Status::Ok();
  }

 private:
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
                           gpu_model_, core::FormatByteSize(cluster_gpu_bytes_),
                           core::FormatByteSize(node_host_bytes_), gpus_per_node_,
                           gpus_per_node_ == 1 ? "" : "s"));
    out.Append(fmt::format("GPU memory    {}{}\n", Bytes(budget_.gpu_bytes),
                           gpu_memory_text_.empty() ? " (the cluster's GPU)" : ""));
    out.Append(fmt::format("host memory   {}{}\n", Bytes(budget_.host_bytes),
                           host_memory_text_.empty()
                               ? fmt::format(" (node host memory / {} GPU{})", gpus_per_node_,
                                             gpus_per_node_ == 1 ? "" : "s")
                               : ""));
    out.Append(fmt::format("step          batch {} x seq {}, {}, recompute {}\n",
                           config_.micro_batch_size, config_.seq_len, ScheduleText(),
                           config_.recompute ? "on" : "off"));
    out.Append(fmt::format(
        "chunks        {} of {} elements, {} bytes/param, {}; model data {}\n", m.chunks().size(),
        Thousands(static_cast<uint64_t>(chunk_size_)), m.BytesPerElement(),
        m.dp_shards() > 1 ? fmt::format("sharded over {} DP ranks", m.dp_shards())
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

  void PrintText(Output& out, const placement::PlacementResult& r) const {
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
    out.Append(fmt::format("  peak GPU    {}\n", Bytes(r.peak_gpu_bytes)));
    out.Append(fmt::format("  peak host   {}\n", Bytes(r.peak_host_bytes)));
    out.Append(fmt::format("  PCIe/step   H2D {}, D2H {}{}\n", Bytes(r.h2d_bytes),
                           Bytes(r.d2h_bytes), r.fits ? "" : " (up to the OOM)"));
    out.Append(fmt::format("  H2D/optimal {}\n", RatioText(r)));
    out.Append("  step time   not simulated yet (host accounting only)\n");
  }

  void PrintJson(Output& out, const placement::PlacementResult& r, bool feasible) const {
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
        "\"ratio_to_optimal\":{},\"ratio_infinite\":{},\"step_time_s\":null}}\n",
        budget_.gpu_bytes, budget_.host_bytes, feasible, r.fits, oom, r.peak_gpu_bytes,
        r.peak_host_bytes, r.h2d_bytes, r.d2h_bytes, ratio,
        r.fits && std::isinf(r.ratio_to_optimal)));
  }

  LayoutArgs layout_args_;
  std::string cluster_text_, gpu_memory_text_, host_memory_text_, batch_text_, seq_text_,
      microbatches_text_, heads_text_, rank_text_, static_text_, policy_text_;
  std::string schedule_text_ = "1f1b";
  bool recompute_ = false, dp_shard_ = false, grad_accumulation_ = false, json_ = false;

  std::optional<core::ParallelLayout> layout_;
  placement::WorkloadConfig config_;
  placement::MemoryBudget budget_;
  uint64_t cluster_gpu_bytes_ = 0, cluster_host_bytes_ = 0, node_host_bytes_ = 0;
  int64_t gpus_per_node_ = 1;
  std::string gpu_model_;
  bool separate_grad_ = false;
  placement::ChunkSearchOptions search_options_;
  int64_t chunk_size_ = 0;
  std::optional<placement::ChunkManager> manager_;
  std::optional<placement::Workload> workload_;
  std::vector<std::unique_ptr<placement::PlacementPolicy>> policies_;
};

}  // namespace

StatusOr<uint64_t> ParseByteSizeWithUnit(std::string_view option, std::string_view text) {
  const auto bad = [&] {
    return Status::InvalidArgument(std::string(option) + ": " + kSizeExpected + Quote(text));
  };
  size_t i = 0;
  unsigned __int128 mantissa = 0;
  int digits = 0, fraction_digits = 0;
  while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
    mantissa = mantissa * 10 + static_cast<unsigned>(text[i] - '0');
    if (++digits > 24) return bad();
    ++i;
  }
  if (i < text.size() && text[i] == '.') {
    ++i;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
      mantissa = mantissa * 10 + static_cast<unsigned>(text[i] - '0');
      ++fraction_digits;
      if (++digits > 24) return bad();
      ++i;
    }
    if (fraction_digits == 0) return bad();
  }
  if (digits == 0) return bad();
  const std::string_view unit = text.substr(i);
  constexpr std::array<std::pair<std::string_view, uint64_t>, 10> kUnits = {{
      {"", 1},
      {"B", 1},
      {"KB", 1000},
      {"MB", 1000 * 1000},
      {"GB", uint64_t{1000} * 1000 * 1000},
      {"TB", uint64_t{1000} * 1000 * 1000 * 1000},
      {"KiB", uint64_t{1} << 10},
      {"MiB", uint64_t{1} << 20},
      {"GiB", uint64_t{1} << 30},
      {"TiB", uint64_t{1} << 40},
  }};
  uint64_t multiplier = 0;
  for (const auto& [name, value] : kUnits) {
    if (name == unit) multiplier = value;
  }
  if (multiplier == 0) return bad();
  unsigned __int128 scale = 1;
  for (int k = 0; k < fraction_digits; ++k) scale *= 10;
  const unsigned __int128 product = mantissa * multiplier;  // < 10^24 * 2^40 < 2^120
  if (product % scale != 0) {
    return Status::InvalidArgument(std::string(option) + ": " + Quote(text) +
                                   " is not a whole number of bytes");
  }
  const unsigned __int128 bytes = product / scale;
  if (bytes == 0) {
    return Status::InvalidArgument(std::string(option) + ": expected a positive size, got " +
                                   Quote(text));
  }
  if (bytes > kMaxBytes) {
    return Status::InvalidArgument(std::string(option) + ": " + Quote(text) +
                                   " exceeds the largest size, 2^60 bytes (1 EiB)");
  }
  return static_cast<uint64_t>(bytes);
}

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
