#include "tools/cli/validate_placement.h"

#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <array>
#include <utility>

#include "core/memory_ledger.h"
#include "gpu/chunk_moves.h"
#include "gpu/cuda_device.h"
#include "gpu/placement_replay.h"
#include "gpu/sim_replay.h"
#include "harness/place.h"
#include "policies/placement/registry.h"
#include "tools/cli/args.h"
#include "tools/cli/layout_args.h"
#include "tools/cli/place_command.h"

namespace twinsim::cli {
namespace {

constexpr uint64_t kMaxSeq = uint64_t{1} << 24;
constexpr std::array<gpu::TransferClass, 2> kPcie = {gpu::TransferClass::kH2D,
                                                     gpu::TransferClass::kD2H};

std::string Json(std::string_view text) {
  std::string s;
  AppendJsonString(text, s);
  return s;
}

std::string OomJson(const std::optional<placement::PlacementOom>& oom) {
  if (!oom) return "null";
  return fmt::format(
      "{{\"op\":{},\"op_name\":{},\"device\":{},\"requested\":{},\"available\":{},"
      "\"shortfall\":{},\"message\":{}}}",
      oom->op, Json(oom->op_name), Json(oom->device), oom->requested, oom->available,
      oom->shortfall, Json(oom->message));
}

}  // namespace

std::string TimingErrorText(double measured, double predicted) {
  if (!(measured > 0)) return "n/a";
  return fmt::format("{:+.1f}%", (predicted - measured) / measured * 100);
}

std::string TimingJson(const gpu::TransferTotals& m, const gpu::TransferTotals& s,
                       std::span<const gpu::TransferClass> classes) {
  std::string j = "[";
  for (gpu::TransferClass cls : classes) {
    const double ms = m[cls].seconds, ps = s[cls].seconds;
    j += (j.size() > 1 ? "," : "") +
         fmt::format(
             "{{\"class\":\"{}\",\"count\":{},\"bytes\":{},\"elements\":{},"
             "\"measured_s\":{:.9g},\"predicted_s\":{:.9g},\"error_pct\":{}}}",
             gpu::TransferClassName(cls), m[cls].count, m[cls].bytes, m[cls].elements, ms, ps,
             ms > 0 ? fmt::format("{:.3f}", (ps - ms) / ms * 100) : "null");
  }
  return j + "]";
}

std::string TimingText(const gpu::TransferTotals& m, const gpu::TransferTotals& s,
                       std::span<const gpu::TransferClass> classes) {
  std::string t = "  class  ops        bytes     measured    predicted   error\n";
  for (gpu::TransferClass cls : classes) {
    t += fmt::format("  {:<5} {:>4} {:>12} {:>10.3f} ms {:>9.3f} ms {:>8}\n",
                     gpu::TransferClassName(cls), m[cls].count, m[cls].bytes, m[cls].seconds * 1e3,
                     s[cls].seconds * 1e3, TimingErrorText(m[cls].seconds, s[cls].seconds));
  }
  return t;
}

void PlacementStep::Declare(CLI::App& app) {
  app.add_option("--placement", policy_text_,
                 "Also validate a placement step: policies cuda, cpu, static, auto, optimal, "
                 "comma-separated, or 'all'")
      ->type_name("NAME[,NAME...]|all");
  app.add_option("--gpu-memory", gpu_memory_text_,
                 "With --placement: the rank's GPU budget, a size like 4GiB (default: the sim "
                 "cluster's GPU memory)")
      ->type_name("SIZE");
  app.add_option("--host-memory", host_memory_text_,
                 "With --placement: host memory for chunks, a size (default: the node's pageable "
                 "memory per GPU)")
      ->type_name("SIZE");
  app.add_option("--seq", seq_text_, "With --placement: sequence length (default 1024)")
      ->type_name("L");
}

Status PlacementStep::Validate(const core::ParallelLayout& layout) {
  if (!requested()) {
    for (auto [option, text] :
         {std::pair{"--gpu-memory", &gpu_memory_text_},
          std::pair{"--host-memory", &host_memory_text_}, std::pair{"--seq", &seq_text_}}) {
      if (!text->empty())
        return Status::InvalidArgument(std::string(option) + ": only with --placement");
    }
    return Status::Ok();
  }
  const std::vector<std::string> names = SplitList(policy_text_);
  TWINSIM_RETURN_IF_ERROR(CheckList("--placement", policy_text_, names));
  for (const std::string& name :
       names == std::vector<std::string>{"all"} ? placement::AllPlacementPolicyNames() : names) {
    StatusOr<std::unique_ptr<placement::PlacementPolicy>> p = placement::MakePlacementPolicy(name);
    if (!p.ok()) return ForOption("--placement", p.status());
    policies_.push_back(std::move(*p));
  }
  if (!gpu_memory_text_.empty()) {
    TWINSIM_ASSIGN_OR_RETURN(gpu_bytes_, ParseByteSizeWithUnit("--gpu-memory", gpu_memory_text_));
  }
  if (!host_memory_text_.empty()) {
    TWINSIM_ASSIGN_OR_RETURN(host_bytes_,
                             ParseByteSizeWithUnit("--host-memory", host_memory_text_));
  }
  const core::ModelSpec& model = layout.model();
  model_ = model.name;
  if (!seq_text_.empty()) {
    TWINSIM_ASSIGN_OR_RETURN(uint64_t seq,
                             ParseUint64AtMost("--seq", seq_text_, kMaxSeq, "a positive integer"));
    if (seq == 0) return Status::InvalidArgument("--seq: expected a positive integer, got '0'");
    config_.seq_len = static_cast<int64_t>(seq);
  }
  const int64_t positions = PositionsOf(model);
  if (positions > 0 && config_.seq_len > positions) {
    return Status::InvalidArgument(fmt::format("--seq: {} has {} positions, got {}",
                                               Quote(model.name), positions, config_.seq_len));
  }
  if (placement::HiddenSizeOf(model) < 1 || model.num_heads < 1) {
    return Status::InvalidArgument(
        fmt::format("--placement: {} is not a transformer with known heads; the placement step "
                    "needs a gpt2, gpt3 or llama3 model",
                    Quote(model.name)));
  }
  const int cp = layout.config().cp;
  if (cp > 1 && config_.seq_len % (2 * cp) != 0) {
    // As `place`: policies/placement/workload.h Note [Context parallelism in the step].
    return Status::InvalidArgument(fmt::format(
        "--seq: --cp {} splits each sequence into 2 x cp = {} pieces, as Megatron-LM does; "
        "expected a multiple of {}, got {}",
        cp, 2 * cp, 2 * cp, config_.seq_len));
  }
  config_.heads = model.num_heads;
  // Chunks sharded over the layout's shard group, as `chunks` and `place` shard them.
  placement::ChunkSearchOptions search;
  search.dp_shards = layout.shard_group_size();
  StatusOr<placement::RankStep> step = placement::BuildRankStep(layout, config_, search, false);
  if (!step.ok()) return ForOption("--placement", step.status());
  workload_ = std::move(step->workload);
  return Status::Ok();
}

StatusOr<PlacementCheck> PlacementStep::Check(const placement::PlacementPolicy& policy,
                                              const placement::MemoryBudget& budget,
                                              const core::Topology& topology) const {
  PlacementCheck c;
  c.result = policy.Run(*workload_, budget);
  {  // the GPU memory, under the same budget
    gpu::CudaDeviceOptions o;
    o.capacity = budget.gpu_bytes;
    TWINSIM_ASSIGN_OR_RETURN(std::unique_ptr<gpu::CudaDevice> device,
                             gpu::CudaDevice::Create(0, o));
    TWINSIM_ASSIGN_OR_RETURN(gpu::MemoryReplay m,
                             gpu::ReplayPlacementMemory(*device, *workload_, c.result));
    c.judged = m.judged;
    c.agrees = m.agrees;
    c.replay_detail = m.detail;
  }
  const std::vector<gpu::Transfer> moves = gpu::PlacementTransfers(c.result);
  if (!c.result.fits || moves.empty()) return c;
  uint64_t largest = 0;
  for (const gpu::Transfer& t : moves) largest = std::max(largest, t.bytes);
  gpu::CudaDeviceOptions o;  // the moves alone: the GPU's free memory, pinned room for one
  o.pinned_capacity = std::max(o.pinned_capacity, largest + o.staging_bytes);
  TWINSIM_ASSIGN_OR_RETURN(std::unique_ptr<gpu::CudaDevice> device, gpu::CudaDevice::Create(0, o));
  TWINSIM_ASSIGN_OR_RETURN(std::vector<gpu::Transfer> measured,
                           gpu::ReplayTransfers(*device, moves));
  TWINSIM_ASSIGN_OR_RETURN(std::vector<gpu::Transfer> predicted,
                           gpu::PredictTransfers(topology, measured));
  c.measured = gpu::Totals(measured);
  c.predicted = gpu::Totals(predicted);
  return c;
}

StatusOr<int> PlacementStep::Execute(const core::Topology& topology, const std::string& device,
                                     const std::string& cluster, const std::string& calibration,
                                     bool json, Output& out) {
  // Rank 0's GPU and host share, as place's defaults.
  const core::RankResources rank0 = core::ResourcesOfRank(topology, 0);
  placement::MemoryBudget budget;
  budget.gpu_bytes = gpu_bytes_.value_or(rank0.gpu_bytes);
  budget.host_bytes = host_bytes_.value_or(rank0.host_bytes);
  int disagreements = 0;
  for (const auto& policy : policies_) {
    StatusOr<PlacementCheck> checked = Check(*policy, budget, topology);
    if (!checked.ok()) {
      return Status(checked.status().code(),
                    fmt::format("placement {}: {}", policy->Name(), checked.status().message()));
    }
    const PlacementCheck& c = *checked;
    const placement::PlacementResult& r = c.result;
    disagreements += c.ok() ? 0 : 1;
    if (json) {
      out.Append(fmt::format(
          "{{\"placement\":{},\"device\":{},\"cluster\":{},\"calibration\":{},\"model\":{},"
          "\"rank\":0,\"batch\":1,\"seq\":{},\"gpu_memory\":{},\"host_memory\":{},\"fits\":{},"
          "\"oom\":{},\"peak_gpu_bytes\":{},\"peak_host_bytes\":{},\"h2d_bytes\":{},"
          "\"d2h_bytes\":{},\"device_replay\":{{\"judged\":{},\"agrees\":{},\"detail\":{}}},"
          "\"timing\":{},\"ok\":{}}}\n",
          Json(r.policy), Json(device), Json(cluster),
          calibration.empty() ? "null" : Json(calibration), Json(model_), config_.seq_len,
          budget.gpu_bytes, budget.host_bytes, r.fits, OomJson(r.oom), r.peak_gpu_bytes,
          r.peak_host_bytes, r.h2d_bytes, r.d2h_bytes, c.judged, c.agrees, Json(c.replay_detail),
          TimingJson(c.measured, c.predicted, kPcie), c.ok()));
    } else {
      out.Append(fmt::format(
          "placement {} on {}: {} rank 0 (batch 1, seq {}), GPU {}, host {}, "
          "sim {}{}\n",
          r.policy, device, model_, config_.seq_len, core::FormatByteSize(budget.gpu_bytes),
          core::FormatByteSize(budget.host_bytes), cluster,
          calibration.empty() ? "" : " calibrated from " + calibration));
      if (r.fits) {
        out.Append(fmt::format(
            "  fits         yes: peak GPU {}, host {}; h2d {}, d2h {} per step\n",
            core::FormatByteSize(r.peak_gpu_bytes), core::FormatByteSize(r.peak_host_bytes),
            core::FormatByteSize(r.h2d_bytes), core::FormatByteSize(r.d2h_bytes)));
      } else {
        out.Append(
            fmt::format("  fits         no: OOM at {} on the {}, short by {}: {}\n",
                        r.oom->op < 0 ? "the initial placement" : "op " + std::to_string(r.oom->op),
                        r.oom->device, core::FormatByteSize(r.oom->shortfall), r.oom->message));
      }
      out.Append(fmt::format("  device       {}: {}\n",
                             !c.judged  ? "not judged"
                             : c.agrees ? "agrees"
                                        : "DISAGREES",
                             c.replay_detail));
      if (r.fits) out.Append(TimingText(c.measured, c.predicted, kPcie));
    }
    TWINSIM_RETURN_IF_ERROR(out.Finish());
  }
  return disagreements;
}

}  // namespace twinsim::cli
