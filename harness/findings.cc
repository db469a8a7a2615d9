#include "harness/findings.h"

#include <algorithm>
#include <chrono>
#include <memory>
#include <optional>
#include <utility>

#include "core/json.h"
#include "core/model_presets.h"
#include "core/parallel_layout.h"
#include "core/text.h"
#include "core/topology_presets.h"
#include "fmt/format.h"
#include "policies/placement/chunk.h"
#include "policies/placement/placement.h"
#include "policies/placement/workload.h"
#include "policies/seed/policy.h"
#include "properties/init_check.h"

namespace twinsim::harness {
namespace {

using policies::seed::InitDevice;
using policies::seed::Property;

// A pinned case: the model's --model text and the layout, as the property test prints them.
struct Case {
  std::string model;
  int tp = 1, pp = 1, dp = 1;
  InitDevice device = InitDevice::kCuda;
  uint64_t seed = 0;
  int ep = 1;
};

std::string CaseText(const Case& c) {
  return fmt::format("--model {} tp={} pp={} dp={}{}, init on {}, seed {}", c.model, c.tp, c.pp,
                     c.dp, c.ep > 1 ? fmt::format(" ep={}", c.ep) : "",
                     policies::seed::InitDeviceName(c.device), c.seed);
}

StatusOr<core::ParallelLayout> MakeLayout(const Case& c) {
  TWINSIM_ASSIGN_OR_RETURN(core::ModelSpec model, core::MakeModel(c.model));
  core::LayoutConfig config;
  config.tp = c.tp;
  config.pp = c.pp;
  config.dp = c.dp;
  config.ep = c.ep;
  return core::ParallelLayout::Make(config, model);
}

// `property` of `policy` on `c` (host backend, real bytes).
StatusOr<properties::PropertyResult> CheckOne(std::string_view policy, const Case& c,
                                              Property property) {
  TWINSIM_ASSIGN_OR_RETURN(std::unique_ptr<policies::seed::SeedPolicy> p,
                           policies::seed::MakePolicy(policy));
  TWINSIM_ASSIGN_OR_RETURN(core::ParallelLayout layout, MakeLayout(c));
  properties::InitRunOptions options;
  options.seed = c.seed;
  options.init_device = c.device;
  TWINSIM_ASSIGN_OR_RETURN(properties::PolicyCheck check,
                           properties::CheckPolicy(*p, layout, options, {property}));
  return check.rows.at(0).result;
}

// The finding shows when `property` fails on `c` and its explanation contains `phrase`.
StatusOr<Reproduction> ExpectFailure(std::string_view policy, const Case& c, Property property,
                                     std::string_view phrase) {
  TWINSIM_ASSIGN_OR_RETURN(properties::PropertyResult r, CheckOne(policy, c, property));
  Reproduction out;
  out.reproduced =
      r.verdict == properties::Verdict::kFails && r.detail.find(phrase) != std::string::npos;
  out.counterexample = fmt::format("{}: {} {}: {}", CaseText(c), policy,
                                   properties::VerdictName(r.verdict), r.detail);
  if (r.verdict == properties::Verdict::kFails) {
    out.counterexample = fmt::format("{}: {} fails: {}", CaseText(c),
                                     policies::seed::PropertyName(property), r.detail);
  }
  return out;
}

// ---- the findings ----

// pytorch/pytorch#168058: DTensor's random ops depend on how the tensor is sharded. The shrunk
// case of dtensor / parity in the property test: one nn.Linear(1, 5) at TP 2.
StatusOr<Reproduction> DTensorLayoutDependence() {
  const Case c{"linear-stack:layers=1,width=1,out_features=5,bias=1", 2, 1, 1};
  return ExpectFailure("dtensor", c, Property::kParity, "but single-device init gives");
}

// Megatron's seeds are offsets from one root: seed + 100 * pp_rank for the default generator,
// seed + 100 * pp_rank + 2718 + tp_rank for TP-split parameters. pp_rank 1's TP seed at
// tp_rank 82 (100 + 2718 + 82 = 2900) is pp_rank 29's default seed (2900). The generators of
// the property test stop below tp 83, so the case is fixed: the smallest layout with the
// collision (tp 83, pp 30) on a linear stack 83 wide.
StatusOr<Reproduction> MegatronAdditiveSeeds() {
  // Megatron rejects seed 0 (initialize.py:484); the collision holds for every root seed.
  Case c{"linear-stack:layers=30,width=83", 83, 30, 1};
  c.seed = 1;
  return ExpectFailure("megatron", c, Property::kDistinct, "pp_rank 1 and pp_rank 29");
}

// Megatron's --use-cpu-initialization seeds the CPU generator seed + 100 * pp_rank on every
// rank (initialize.py:_set_random_seed), and _initialize_affine_weight_cpu draws each local
// expert's full master weight from it: EP ranks repeat each other's draws for different
// experts. The shrunk case of megatron-cpu / distinct in the property test (a one-layer qwen3_moe
// with two experts at DP 2, EP 2).
constexpr const char* kTinyMoe =
    "qwen3-30b-a3b:num_hidden_layers=1,hidden_size=2,num_attention_heads=1,"
    "num_key_value_heads=1,vocab_size=17,head_dim=2,intermediate_size=1,"
    "moe_intermediate_size=1,num_experts=2,num_experts_per_tok=1";

StatusOr<Reproduction> MegatronCpuRepeatedExperts() {
  Case c{kTinyMoe, 1, 1, 2, InitDevice::kCpu, 1};
  c.ep = 2;
  return ExpectFailure("megatron-cpu", c, Property::kDistinct, "ep_rank 0 and ep_rank 1");
}

// ColossalAI legacy's seed manager forks CUDA states only (seed_manager.py:48-84), and the CPU
// generator is torch.manual_seed(seed) on every rank (parallel_context.py:545). TP layers built
// on the CPU, as RFC #786 proposed, draw every TP shard from the same CPU words. The smallest
// case: one linear layer, four wide, at TP 2.
StatusOr<Reproduction> ColossalUnforkedCpuInit() {
  const Case c{"linear-stack:layers=1,width=4", 2, 1, 1, InitDevice::kCpu, 1024};
  return ExpectFailure("colossal-legacy+cpu-init", c, Property::kDistinct,
                       "tp_rank 0 and tp_rank 1");
}

// Serial PP init (PyTorch PR #139445's serial mode, the question of torchtitan #514) passes the
// generator state from stage to stage, so its time does not fall with PP; torchtitan's
// seed + pp_rank does. Timing-only sim of Llama 3 8B, TP 8, PP 8 on eight DGX H100 nodes.
StatusOr<Reproduction> SerialPipelineInitCost() {
  constexpr int kPp = 8;
  const Case c{"llama3-8b", 8, kPp, 1};
  TWINSIM_ASSIGN_OR_RETURN(core::ParallelLayout layout, MakeLayout(c));
  properties::InitRunOptions options;
  options.backend = properties::Backend::kSim;
  TWINSIM_ASSIGN_OR_RETURN(options.sim.topology, core::MakeTopology("dgx-h100:nodes=8"));
  options.sim.holds_bytes = false;
  options.device_capacity = uint64_t{80} << 30;
  options.host_capacity = uint64_t{2} << 40;
  double seconds[2] = {0, 0};
  const char* names[2] = {"torch-serial", "torch-parallel"};
  for (int i = 0; i < 2; ++i) {
    TWINSIM_ASSIGN_OR_RETURN(std::unique_ptr<policies::seed::SeedPolicy> p,
                             policies::seed::MakePolicy(names[i]));
    TWINSIM_ASSIGN_OR_RETURN(properties::InitRun run, properties::RunInit(*p, layout, options));
    if (run.FirstOom() != nullptr || !run.sim) {
      return Status::Internal(fmt::format("{} did not finish on the sim", names[i]));
    }
    seconds[i] = run.sim->end_time_s;
  }
  Reproduction out;
  const double ratio = seconds[1] > 0 ? seconds[0] / seconds[1] : 0;
  // Serial is at least half of PP times slower (the ideal is PP: one pipeline does all stages).
  out.reproduced = ratio >= kPp / 2.0;
  out.counterexample = fmt::format(
      "llama3-8b tp=8 pp={} dp=1 on dgx-h100:nodes=8 (timing-only sim): torch-serial {:.3f} ms, "
      "torch-parallel {:.3f} ms: serial is {:.1f}x slower (PP = {})",
      kPp, seconds[0] * 1e3, seconds[1] * 1e3, ratio, kPp);
  return out;
}

// Megatron-Bridge #5840 (and ORBIT-2's nn.Linear under TP): layers built at the shard's size read
// the shard's fan. The distribution property fails on the shard-local policy at the case
// RapidCheck shrinks to (a row-parallel nn.Linear(7, 7) at TP 2, init on the CPU, seed 0), and on
// the issue's own numbers: a LoRA linear_in [32, 4096] with xavier_normal, std 0.0220 at TP 1,
// about 0.0435 at TP 4.
StatusOr<Reproduction> ShardLocalFan() {
  Case c{"linear-stack:layers=2,width=7,bias=1", 2, 1, 1};
  c.device = InitDevice::kCpu;
  TWINSIM_ASSIGN_OR_RETURN(
      Reproduction out,
      ExpectFailure("shard-local", c, Property::kDistribution, "of the full tensor"));
  core::ModelSpec lora;
  lora.name = "lora-linear-in";
  lora.num_layers = 1;
  core::ParamSpec p;
  p.name = "adapter.linear_in.weight";
  p.shape = {32, 4096};
  p.init.kind = core::InitKind::kXavierNormal;
  p.init.fan_in = 4096;
  p.init.fan_out = 32;
  p.tp_split = core::TpSplit::kRow;
  p.tp_dim = 1;
  p.layer = 0;
  lora.params.push_back(p);
  core::LayoutConfig config;
  config.tp = 4;
  TWINSIM_ASSIGN_OR_RETURN(core::ParallelLayout layout, core::ParallelLayout::Make(config, lora));
  TWINSIM_ASSIGN_OR_RETURN(std::unique_ptr<policies::seed::SeedPolicy> policy,
                           policies::seed::MakePolicy("shard-local"));
  properties::InitRunOptions options;
  TWINSIM_ASSIGN_OR_RETURN(
      properties::PolicyCheck check,
      properties::CheckPolicy(*policy, layout, options, {Property::kDistribution}));
  const properties::PropertyResult& r = check.rows.at(0).result;
  out.reproduced = out.reproduced && r.verdict == properties::Verdict::kFails &&
                   r.detail.find("std 0.02201") != std::string::npos;
  out.counterexample +=
      fmt::format("\nMegatron-Bridge #5840's LoRA linear_in [32, 4096] at tp=4: {}", r.detail);
  return out;
}

// ColossalAI's StaticPlacementPolicy.setup_grads_device (zero/gemini/placement_policy.py:47-107
// @4f9953be) sums chunk_mem over *parameters*, so every chunk counts once per tensor in it, and
// offloads optimizer chunks until offload_optim_frac of that inflated total. For GPT-2 XL (580
// tensors in 30 chunks) offload_optim_frac = 0.1 offloads every optimizer chunk, where the
// docstring's fraction of the true total would offload 3.
StatusOr<Reproduction> StaticOffloadFractions() {
  TWINSIM_ASSIGN_OR_RETURN(core::ModelSpec model, core::MakeModel("gpt2-xl"));
  TWINSIM_ASSIGN_OR_RETURN(core::ParallelLayout layout,
                           core::ParallelLayout::Make(core::LayoutConfig{}, model));
  placement::WorkloadConfig config;
  config.heads = model.num_heads;
  TWINSIM_ASSIGN_OR_RETURN(
      placement::RankStep step,
      placement::BuildRankStep(layout, config,
                               placement::WithModelDefaults(placement::ChunkSearchOptions{}, model),
                               /*separate_grad=*/false));
  placement::StaticFractions coded{.shard_param_frac = 1, .offload_optim_frac = 0.1};
  placement::StaticFractions documented = coded;
  documented.documented = true;
  const placement::StaticPlan code = placement::PlanStatic(step.workload, coded);
  const placement::StaticPlan docs = placement::PlanStatic(step.workload, documented);
  const int chunks = step.workload.num_chunks();
  Reproduction out;
  out.reproduced = code.offloaded_optim_chunks == chunks && docs.offloaded_optim_chunks < chunks;
  out.counterexample = fmt::format(
      "gpt2-xl, static(1, 0.1, 0): {} chunks; the code's total is {:.1f}x the chunks' memory, so "
      "it offloads the optimizer state of {} of {} chunks ({:.2f} GiB) where the documented "
      "fraction offloads {} ({:.2f} GiB)",
      chunks, docs.true_chunk_mem > 0 ? code.total_chunk_mem / docs.true_chunk_mem : 0,
      code.offloaded_optim_chunks, chunks, code.offloaded_optim_bytes / double(uint64_t{1} << 30),
      docs.offloaded_optim_chunks, docs.offloaded_optim_bytes / double(uint64_t{1} << 30));
  return out;
}

// torchtitan's seed checkpoint (train.py:52-58, trainer.py:395-399 and 476-486 @b5bcd76c) is a
// separate WORLD_SIZE=1 job that holds the whole model in one host's memory, then every training
// rank reads from storage; DCP's FileSystemReader loads each stored item whole, so a rank reads
// the full tensor of every parameter it holds a shard of. Llama 3 70B at TP 8 x PP 16 on the
// timing-only sim of 16 DGX H100 nodes.
StatusOr<Reproduction> SeedCheckpointCost() {
  const Case c{"llama3-70b", 8, 16, 1};
  TWINSIM_ASSIGN_OR_RETURN(core::ParallelLayout layout, MakeLayout(c));
  TWINSIM_ASSIGN_OR_RETURN(std::unique_ptr<policies::seed::SeedPolicy> policy,
                           policies::seed::MakePolicy("seed-checkpoint"));
  const std::optional<policies::seed::OfflineWork> offline = policy->Offline(layout.model());
  properties::InitRunOptions options;
  options.backend = properties::Backend::kSim;
  TWINSIM_ASSIGN_OR_RETURN(options.sim.topology, core::MakeTopology("dgx-h100:nodes=16"));
  options.sim.holds_bytes = false;
  options.init_device = InitDevice::kCpu;
  options.device_capacity = uint64_t{80} << 30;
  options.host_capacity = uint64_t{2} << 40;
  TWINSIM_ASSIGN_OR_RETURN(properties::InitRun run, properties::RunInit(*policy, layout, options));
  if (!run.sim) return Status::Internal("seed-checkpoint did not run on the sim");
  uint64_t storage = 0;
  for (const auto& [link, bytes] : run.sim->link_bytes) {
    if (link == "storage") storage += bytes;
  }
  const uint64_t model_bytes = uint64_t{4} * static_cast<uint64_t>(layout.model().NumParams());
  Reproduction out;
  out.reproduced = offline.has_value() && offline->host_bytes >= model_bytes &&
                   storage >= 4 * model_bytes;
  out.counterexample = fmt::format(
      "llama3-70b tp=8 pp=16 on dgx-h100:nodes=16 (timing-only sim): the creation run holds "
      "{:.1f} GiB on one host; the ranks then read {:.2f} TiB from storage ({:.1f}x the model) "
      "and finish at {:.3f} s",
      offline ? offline->host_bytes / double(uint64_t{1} << 30) : 0.0,
      storage / double(uint64_t{1} << 40), model_bytes ? double(storage) / model_bytes : 0.0,
      run.sim->end_time_s);
  return out;
}

const std::vector<Finding>& Registry() {
  static const std::vector<Finding> kFindings = {
      {"dtensor-layout-dependence", "PyTorch DTensor",
       "random init depends on the shard layout: a TP-sharded parameter does not get the values "
       "of single-device init",
       "pytorch/pytorch#168058 (torch/distributed/tensor/_random.py, _compute_rng_offsets)",
       "twinsim init --policy dtensor --model linear-stack:layers=1,width=1,out_features=5,bias=1 "
       "--tp 2 --check parity",
       "parity fails at TP 2", DTensorLayoutDependence},
      {"megatron-additive-seeds", "Megatron-LM",
       "additive seeds collide: seed + 100 * pp_rank + 2718 + tp_rank of one stage equals "
       "seed + 100 * pp_rank' of another, so two tensors draw the same stream",
       "NVIDIA/Megatron-LM@d98e8a64 megatron/core/tensor_parallel/random.py:446-519 "
       "(model_parallel_cuda_manual_seed), megatron/training/initialize.py:425-484 "
       "(_set_random_seed)",
       "twinsim init --policy megatron --model linear-stack:layers=30,width=83 --tp 83 --pp 30 "
       "--check distinct",
       "distinct fails between pp_rank 1 and pp_rank 29 at TP 83, PP 30", MegatronAdditiveSeeds},
      {"megatron-cpu-repeated-experts", "Megatron-LM (--use-cpu-initialization)",
       "with expert parallelism every EP rank's CPU generator is seeded alike, so experts on "
       "different EP ranks draw the same values",
       "NVIDIA/Megatron-LM@d98e8a64 megatron/training/initialize.py:425-484 (_set_random_seed: "
       "seed + 100 * pp_rank), megatron/core/tensor_parallel/layers.py:186-229 "
       "(_initialize_affine_weight_cpu)",
       std::string("twinsim init --policy megatron-cpu --model ") + kTinyMoe +
           " --dp 2 --ep 2 --seed 1 --check distinct",
       "distinct fails: expert 0 on ep_rank 0 and expert 1 on ep_rank 1 draw the same CPU words",
       MegatronCpuRepeatedExperts},
      {"colossalai-unforked-cpu-init", "ColossalAI legacy (TP layers built on the CPU)",
       "the legacy seed manager forks only CUDA RNG states, so TP layers initialized on the CPU "
       "draw every TP shard from the same CPU stream",
       "hpcaitech/ColossalAI#786 (RFC: TP layers on the CPU); hpcaitech/ColossalAI@4f9953be "
       "colossalai/legacy/context/random/seed_manager.py:48-84 (set_mode, add_seed: "
       "torch.cuda states only), colossalai/legacy/context/parallel_context.py:545 "
       "(torch.manual_seed(seed) on every rank)",
       "twinsim init --policy colossal-legacy+cpu-init --model linear-stack:layers=1,width=4 "
       "--tp 2 --seed 1024 --check distinct",
       "distinct fails: tp_rank 0 and tp_rank 1 draw the same CPU words", ColossalUnforkedCpuInit},
      {"serial-pp-init-cost", "PyTorch pipelining (PR #139445, serial mode)",
       "serial seeded init passes the generator state stage to stage, so init time does not fall "
       "with PP",
       "pytorch/torchtitan#514; pytorch/pytorch PR #139445 (closed, unmerged)",
       "twinsim init --policy torch-serial,torch-parallel --model llama3-8b --tp 8 --pp 8 "
       "--backend sim --cluster dgx-h100:nodes=8 --timing-only --check init-fits",
       "torch-serial at least PP / 2 times slower than torch-parallel at PP 8",
       SerialPipelineInitCost},
      {"shard-local-fan", "Megatron-Bridge LoRA, ORBIT-2 (layers built at the shard's size)",
       "default kaiming/xavier inits read the shard's fan, so TP-split weights come out too wide",
       "NVIDIA-NeMo/Megatron-Bridge#5840 (LoRA xavier std 0.0220 at TP 1, 0.0435 at TP 4)",
       "twinsim init --policy shard-local --model linear-stack:layers=2,width=7,bias=1 --tp 2 "
       "--init-device cpu --check distribution",
       "distribution fails on the row-parallel weight; the LoRA std is 0.0220 expected, ~0.0435 "
       "shown at TP 4",
       ShardLocalFan},
      {"colossalai-static-offload-fraction", "ColossalAI Gemini",
       "static placement's offload_optim_frac is a fraction of an inflated total (each chunk "
       "counted once per tensor), so small fractions offload every optimizer chunk",
       "hpcaitech/ColossalAI@4f9953be colossalai/zero/gemini/placement_policy.py:47-107 "
       "(StaticPlacementPolicy.setup_grads_device)",
       "twinsim place --cluster v100-32g --model gpt2-xl --gpu-memory 24GiB --policy "
       "static,static-documented --static 1,0.1,0",
       "the code offloads all 30 optimizer chunks of GPT-2 XL at offload_optim_frac 0.1",
       StaticOffloadFractions},
      {"seed-checkpoint-cost", "torchtitan (seed checkpoint), PyTorch DCP",
       "the seed checkpoint needs a whole-model creation run on one host, and every rank reads "
       "whole tensors from storage to keep its shards",
       "pytorch/torchtitan@b5bcd76c torchtitan/train.py:52-58, torchtitan/trainer.py:395-399, "
       "476-486; pytorch/pytorch torch/distributed/checkpoint/filesystem.py (read_data)",
       "twinsim init --policy seed-checkpoint --model llama3-70b --tp 8 --pp 16 --backend sim "
       "--cluster dgx-h100:nodes=16 --timing-only --check init-fits",
       "the creation run holds the whole fp32 model; storage reads are at least 4x the model",
       SeedCheckpointCost},
  };
  return kFindings;
}

}  // namespace

const std::vector<Finding>& Findings() { return Registry(); }

bool FindingsReport::AllReproduced() const {
  for (const FindingResult& f : findings) {
    if (!f.reproduced) return false;
  }
  return true;
}

std::string FindingsReport::ToJson() const {
  std::string j = fmt::format("{{\"all_reproduced\":{},\"findings\":[", AllReproduced());
  for (size_t i = 0; i < findings.size(); ++i) {
    const FindingResult& f = findings[i];
    j += fmt::format(
        "{}{{\"id\":{},\"framework\":{},\"title\":{},\"upstream\":{},\"command\":{},"
        "\"expected\":{},\"reproduced\":{},\"counterexample\":{},\"error\":{},\"wall_s\":{:.3f}}}",
        i ? "," : "", core::JsonString(f.id), core::JsonString(f.framework),
        core::JsonString(f.title), core::JsonString(f.upstream), core::JsonString(f.command),
        core::JsonString(f.expected), f.reproduced, core::JsonString(f.counterexample),
        core::JsonString(f.error), f.wall_s);
  }
  return j + "]}";
}

StatusOr<FindingsReport> RunFindings(const FindingsRequest& request) {
  const std::vector<Finding>& all = Findings();
  std::vector<std::string_view> ids;
  for (const Finding& f : all) ids.push_back(f.id);
  for (const std::string& id : request.only) {
    if (std::find(ids.begin(), ids.end(), id) == ids.end()) {
      return Status::InvalidArgument(fmt::format("unknown finding {}{} (known: {})",
                                                 core::Quote(id), core::DidYouMean(id, ids),
                                                 core::Join(ids)));
    }
  }
  FindingsReport report;
  for (const Finding& f : all) {
    if (!request.only.empty() &&
        std::find(request.only.begin(), request.only.end(), f.id) == request.only.end()) {
      continue;
    }
    FindingResult r{f.id, f.framework, f.title, f.upstream, f.command, f.expected};
    const auto start = std::chrono::steady_clock::now();
    StatusOr<Reproduction> rep = f.reproduce();
    r.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (rep.ok()) {
      r.reproduced = rep->reproduced;
      r.counterexample = std::move(rep->counterexample);
    } else {
      r.error = rep.status().message();
    }
    report.findings.push_back(std::move(r));
  }
  return report;
}

}  // namespace twinsim::harness
