#include "tools/cli/place_text.h"

#include <fmt/format.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

#include "core/memory_ledger.h"
#include "core/text.h"
#include "sim/platform.h"

namespace twinsim::cli {
namespace {

using core::Thousands;

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

std::string Seconds(double s) {
  if (s >= 1) return fmt::format("{:.3f} s", s);
  if (s >= 1e-3) return fmt::format("{:.3f} ms", s * 1e3);
  return fmt::format("{:.3f} us", s * 1e6);
}

std::string RatioText(const harness::PlacePolicyReport& r) {
  if (!r.fits) return "n/a (did not fit)";
  if (r.ratio_infinite) return "inf (optimal moves nothing)";
  return fmt::format("{:.3f}", *r.ratio_to_optimal);
}

void PrintHeader(Output& out, const harness::PlaceRequest& q, const harness::PlaceReport& report) {
  const harness::PlaceSetup& s = report.setup;
  const harness::PlacePolicyReport& r = report.policies.front();
  const core::RankResources& g = s.resources;
  out.Append(fmt::format("model         {} ({} heads, hidden {})\n", r.model, r.heads, s.hidden));
  out.Append(fmt::format(
      "layout        tp={} pp={} dp={} cp={}, dp_shard={} x dp_replicate={} ({} mesh); rank {} "
      "(dp {}, pp {}, tp {}, cp {}), stage {} of {}\n",
      r.tp, r.pp, r.dp, r.cp, r.dp_shard, r.dp_replicate, r.mesh, r.rank, s.dp_coord, s.pp_coord,
      s.tp_coord, s.cp_coord, r.stage, s.num_stages));
  out.Append(fmt::format("cluster       {}: {} {}, host {} per node of {} GPU{}\n", r.cluster,
                         g.gpu_model, core::FormatByteSize(g.gpu_bytes),
                         core::FormatByteSize(g.node_host_bytes), g.gpus_per_node,
                         g.gpus_per_node == 1 ? "" : "s"));
  out.Append(fmt::format("GPU memory    {}{}\n", Bytes(r.gpu_memory),
                         !q.gpu_memory ? " (the cluster's GPU)" : ""));
  if (r.pin_memory) {
    out.Append(
        fmt::format("host memory   {} (pinned: the smaller of {} pageable and {} "
                    "pinned)\n",
                    Bytes(r.host_memory), core::FormatByteSize(s.pageable_budget),
                    core::FormatByteSize(s.pinned_bytes)));
  } else {
    out.Append(fmt::format("host memory   {}{}\n", Bytes(r.host_memory),
                           !q.host_memory
                               ? fmt::format(" (node host memory / {} GPU{})", g.gpus_per_node,
                                             g.gpus_per_node == 1 ? "" : "s")
                               : ""));
  }
  out.Append(fmt::format(
      "step          batch {} x seq {}, {} microbatch{} ({}: this stage holds {} at its peak), "
      "recompute {}\n",
      r.batch, r.seq, r.microbatches, r.microbatches == 1 ? "" : "es", r.schedule,
      r.held_microbatches, r.recompute ? "on" : "off"));
  out.Append(fmt::format(
      "chunks        {} of {} elements, {} bytes/param, {}; model data {}\n", r.num_chunks,
      Thousands(static_cast<uint64_t>(r.chunk_size)), r.bytes_per_param,
      s.keep_gathered ? std::string("one chunk kept gathered (below the minimum size)")
      : r.dp_shards > 1
          ? fmt::format("sharded over the {} ranks of the shard group{}", r.dp_shards,
                        r.dp_replicate > 1
                            ? fmt::format(" ({} replicas hold the same shards)", r.dp_replicate)
                            : std::string())
          : std::string("not sharded"),
      Bytes(r.model_bytes)));
  out.Append(
      fmt::format("activations   {} per layer per microbatch, {} per microbatch on "
                  "this stage{}\n",
                  Bytes(r.layer_activation_bytes), Bytes(r.stage_activation_bytes),
                  r.cp > 1 ? fmt::format(" (its {} of {} tokens: cp {})", r.seq / r.cp, r.seq, r.cp)
                           : std::string()));
  out.Append(fmt::format("feasible      {}\n",
                         r.feasible ? "yes (a placement without OOM exists)"
                                    : "no (no placement avoids OOM: an op's chunks and "
                                      "activations exceed the GPU, or the model data exceeds "
                                      "GPU plus host)"));
}

std::string StepTimeText(const harness::PlaceSetup& s, const harness::PlacePolicyReport& r) {
  if (!r.fits) return "n/a (did not fit)";
  if (r.sim) {
    uint64_t pcie = 0;
    for (const auto& [name, bytes] : r.sim->link_bytes) {
      if (name == sim::LinkClassName(sim::LinkClass::kPcieGpu)) pcie = bytes;
    }
    return fmt::format(
        "{} simulated ({} rank{}, slowest; compute alone {}; {} over the GPUs' PCIe links)",
        Seconds(r.sim->step_time_s), r.sim->ranks, r.sim->ranks == 1 ? "" : "s",
        Seconds(r.sim->compute_time_s), core::FormatByteSize(pcie));
  }
  if (!r.sim_note.empty()) return r.sim_note;
  if (s.sim_skipped) {
    return fmt::format("not simulated (world of {} ranks > {}; accounting only)", s.world_size,
                       harness::kPlaceMaxSimWorld);
  }
  return fmt::format("not simulated (--backend {})", r.backend);
}

void PrintInitMatrix(Output& out, const harness::PlaceReport& report) {
  out.Append(
      fmt::format("\ninit meets placement (rank {}: init on the simulated cluster, then "
                  "the chunk build)\n",
                  report.policies.front().rank));
  std::string head = fmt::format("  {:<16}", "seed policy");
  for (const harness::PlacePolicyReport& r : report.policies) {
    head += fmt::format(" {:<16}", r.policy);
  }
  out.Append(head + "\n");
  std::vector<std::string> reasons;
  const size_t seeds = report.policies.front().init_meets_placement.size();
  for (size_t s = 0; s < seeds; ++s) {
    const std::string& seed = report.policies.front().init_meets_placement[s].seed_policy;
    std::string row = fmt::format("  {:<16}", seed);
    for (const harness::PlacePolicyReport& r : report.policies) {
      const harness::InitMeetsPlacementReport& m = r.init_meets_placement[s];
      row += fmt::format(" {:<16}", !m.applicable ? "n/a" : m.fits ? "fits" : "OOM");
      if (m.applicable && !m.fits) {
        reasons.push_back(fmt::format("  {} under {}: {}", seed, r.policy, m.why));
      }
    }
    out.Append(row + "\n");
  }
  for (const std::string& r : reasons) out.Append(r + "\n");
}

// Note [Static placement]: what ColossalAI's code offloads for the fractions, beside the docs.
void PrintStaticPlan(Output& out, const harness::PlaceSetup& s) {
  const placement::StaticPlan& code = *s.static_code;
  const placement::StaticPlan& docs = *s.static_docs;
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
  const bool differ = harness::StaticPlansDiffer(code, docs);
  out.Append(fmt::format(
      "  static as coded vs documented ({} chunks, {} tensors: the code's total is {:.1f}x "
      "the chunks'){}\n",
      n, s.tensors, docs.total_chunk_mem > 0 ? code.total_chunk_mem / docs.total_chunk_mem : 0.0,
      differ ? "" : ": the same placement"));
  out.Append(line("code", code));
  if (differ) out.Append(line("docs", docs));
  if (code.param_frac_ignored) {
    out.Append(
        "    offload_param_frac is ignored (ColossalAI warns) unless shard_param_frac = 1 and "
        "offload_optim_frac = 1\n");
  }
}

void PrintText(Output& out, const harness::PlaceSetup& s, const harness::PlacePolicyReport& r) {
  out.Append(fmt::format("\npolicy {}\n", r.policy));
  if (r.fits) {
    out.Append("  result      fits\n");
  } else {
    const harness::PlaceOomReport& oom = *r.oom;
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
  {
    // Note [Peak breakdown]: what the GPU held at its peak.
    const harness::PeakBreakdownReport& b = r.peak_breakdown;
    out.Append(fmt::format("  at the peak {}\n", b.op_index < 0 ? b.op : "op '" + b.op + "'"));
    const std::pair<const char*, uint64_t> parts[] = {
        {"params", b.params},           {"grads", b.grads},     {"optimizer", b.optimizer},
        {"activations", b.activations}, {"buffers", b.buffers}, {"other", b.other}};
    for (const auto& [name, bytes] : parts) {
      out.Append(fmt::format("    {:<12} {:>12}\n", name, core::FormatByteSize(bytes)));
    }
  }
  out.Append(fmt::format("  peak host   {}\n", Bytes(r.peak_host_bytes)));
  out.Append(fmt::format("  PCIe/step   H2D {}, D2H {}{}\n", Bytes(r.h2d_bytes), Bytes(r.d2h_bytes),
                         r.fits ? "" : " (up to the OOM)"));
  out.Append(fmt::format("  H2D/optimal {}\n", RatioText(r)));
  out.Append(fmt::format("  step time   {}\n", StepTimeText(s, r)));
  if (r.timeline) {
    out.Append("  timeline    op, GPU and host memory while it ran\n");
    for (size_t i = 0; i < r.timeline->size(); ++i) {
      const harness::TimelineEntry& t = (*r.timeline)[i];
      out.Append(fmt::format("    {:>5} {:<20} {:>12} {:>12}\n", i, t.op,
                             core::FormatByteSize(t.gpu_bytes),
                             core::FormatByteSize(t.host_bytes)));
    }
  }
  if (r.host_replay) {
    out.Append(fmt::format(
        "  host bytes  {} moves, {} moved with real bytes, {} checksums match (peak {})\n",
        r.host_replay->moves, core::FormatByteSize(r.host_replay->bytes_moved),
        r.host_replay->checksums, core::FormatByteSize(r.host_replay->peak_device_bytes)));
  } else if (r.backend == "host" && r.fits) {
    out.Append(
        "  host bytes  n/a (no whole-unit placement to replay: optimal is a bound, ZeRO has no "
        "chunk units)\n");
  }
  if (r.static_plan) PrintStaticPlan(out, s);
}

}  // namespace

void PrintPlaceText(Output& out, const harness::PlaceRequest& request,
                    const harness::PlaceReport& report) {
  PrintHeader(out, request, report);
  for (const harness::PlacePolicyReport& r : report.policies) PrintText(out, report.setup, r);
  if (!request.init_policies.empty()) PrintInitMatrix(out, report);
}

void PrintLargestModelText(Output& out, const harness::PlaceRequest& request,
                           const placement::MemoryBudget& budget,
                           const std::vector<harness::LargestModelReport>& reports) {
  const core::LayoutConfig& lc = request.layout->config();
  out.Append(fmt::format("family        {} (n_layer searched up to {}; widths {})\n",
                         request.family->text, harness::kMaxSearchLayers,
                         request.family->widths.size()));
  out.Append(fmt::format("cluster       {}: GPU {}, host {}\n", request.cluster,
                         core::FormatByteSize(budget.gpu_bytes),
                         core::FormatByteSize(budget.host_bytes)));
  out.Append(fmt::format(
      "step          batch {} x seq {}, tp={} pp={} dp={} cp={}, dp_shard={} x dp_replicate={} "
      "({} mesh), rank {}\n",
      request.step.micro_batch_size, request.step.seq_len, lc.tp, lc.pp, lc.dp, lc.cp, lc.dp_shard,
      lc.dp / lc.dp_shard, core::MeshName(lc.mesh), request.rank));
  for (const harness::LargestModelReport& r : reports) {
    if (!r.largest) {
      out.Append(fmt::format(
          "\npolicy {}\n  largest     none: the smallest candidate does not fit\n", r.policy));
    } else {
      out.Append(fmt::format(
          "\npolicy {}\n  largest     {} ({:.2f} B parameters)\n  one more    layer fails: {}\n",
          r.policy, *r.largest, static_cast<double>(r.params) / 1e9, r.next_fails));
    }
  }
}

std::string PlaceHelpFooter() {
  return "Packs the rank's parameters into chunks as ColossalAI Gemini does (the chunk-size\n"
        "search of `twinsim chunks`, 14 bytes per parameter: fp16 weights that also take the\n"
        "gradient, fp32 master, Adam m and v; m and v on valid elements only), builds the rank's\n"
        "training step (forward layer by layer over its own stage and TP shards, backward in\n"
        "reverse, Adam per chunk; activation memory after Korthikanti et al. 2022) and replays it\n"
        "under each policy, as ColossalAI Gemini's code at 4f9953be does. Chunks are sharded\n"
        "over the layout's shard group: --dp-shard N ranks (N x --cp under --mesh torchtitan),\n"
        "each keeping 1/N of every chunk; --dp-replicate replicas (HSDP) hold the same shards;\n"
        "--dp-shard alone is --dp-shard = --dp. --cp C ranks split each sequence: a rank's\n"
        "activations are those of seq / C tokens (Megatron-LM's context parallelism; --seq a\n"
        "multiple of 2 x C). Policies:\n"
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
        "  zero1, zero2, zero3  DeepSpeed ZeRO's stages (--zero-offload optimizer[,param]):\n"
        "           partitioned optimizer state, gradients, parameters over the DP group\n"
        "  fsdp2, fsdp2-no-reshard, fsdp2-cpu-offload, megatron-distopt  PyTorch fully_shard as\n"
        "           torchtitan applies it, and Megatron-LM's distributed optimizer, accounted op\n"
        "           by op (no chunks: --backend accounting is their model)\n"
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
        "  twinsim place --cluster dgx-a100-80g:nodes=2 --model llama3-8b --dp 8 --dp-shard 4 \\\n"
        "      --dp-replicate 2 --cp 2 --seq 8192 --policy auto\n"
        "  twinsim place --cluster v100-32g --max-model gpt2 --batch 8 --policy all\n"
        "  twinsim place --cluster v100-32g --model gpt2-medium --backend host --policy cpu,auto\n"
        "  twinsim place --cluster v100-32g --model gpt2-xl --policy all --init-policy all";
}

}  // namespace twinsim::cli
