// Megatron-LM's seeding as its code does it at NVIDIA/Megatron-LM@d98e8a64 (2026-08-22):
// _set_random_seed and model_parallel_cuda_manual_seed with its CUDA RNG tracker, GPU init of
// local shards (megatron), --use-cpu-initialization (megatron-cpu) and
// --data-parallel-random-init (megatron+dp-random-init). Sources: Note [megatron sources].
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "fmt/format.h"
#include "policies/seed/common.h"
#include "policies/seed/factories.h"

namespace twinsim::policies::seed {
namespace {

constexpr char kRepo[] = "NVIDIA/Megatron-LM";
constexpr char kCommit[] = "d98e8a64";

bool IsRandom(const core::ParamSpec& spec) { return spec.init.kind != core::InitKind::kConstant; }

// Note [megatron sources]
// ~~~~~~~~~~~~~~~~~~~~~~~
// Read at NVIDIA/Megatron-LM@d98e8a64; each fact is asserted in tests/megatron_seed_test.cc.
// - megatron/training/initialize.py:425-484 _set_random_seed(seed_): raises
//   ValueError("Seed (0) should be a positive integer.") unless seed_ > 0 (:445, :484); seed =
//   seed_ + 100 * pp_rank (:448); with data_parallel_random_init, seed += 10 * dp_rank (:450-452);
//   then torch.manual_seed(seed) (the CPU generator, :455) and model_parallel_cuda_manual_seed.
// - megatron/core/tensor_parallel/random.py:446-519 model_parallel_cuda_manual_seed: default CUDA
//   generator and tracker 'data-parallel-rng' seeded seed (:495, :502); 'model-parallel-rng'
//   seed + 2718 + tp_rank (:492-493); 'expert-parallel-rng' seed + 1024 + 100 * ep_rank +
//   etp_rank (:508). etp_rank is the expert-tensor-parallel rank; --expert-tensor-parallel-size
//   defaults to tp (megatron/training/arguments.py:587-588); twinsim's --etp sets it (Note
//   [Expert parallelism] in core/parallel_layout.h), and with --etp 1 etp_rank is 0 everywhere.
// - megatron/core/tensor_parallel/layers.py:171-183 _initialize_affine_weight_gpu: TP-split
//   weights drawn under the model-parallel tracker (experts: the expert tracker), the local
//   shard only, in params_dtype; :186-229 _initialize_affine_weight_cpu: the full fp32 master
//   weight from the CPU generator, then this rank's slice (megatron-cpu).
// - megatron/core/models/common/embeddings/language_model_embedding.py:70-77: position
//   embeddings are a plain torch.nn.Embedding built on the CPU (torch's constructor draws
//   N(0, 1) from the CPU generator) and then re-drawn by embedding_init_method, again on the CPU:
//   two CPU draws, in the GPU policy too.
// - megatron/core/models/gpt/gpt_model.py:277-289: the last stage builds its own output layer
//   (ColumnParallelLinear, weight allocated and initialized) when it does not hold the
//   embedding; megatron/core/models/common/language_module/language_module.py:286-289 then
//   fill_(0) and :312-314 all_reduce over the embedding group. Its draws are consumed: the last
//   stage's model-parallel (or CPU) generator advances past them. It is built last on its rank,
//   so here it is drawn after every other parameter, then replaced by the first stage's copy
//   (SyncTiedCopies: the all-reduce of a zero and a copy).
// - megatron/training/training.py:2546-2548 and megatron/core/distributed/
//   distributed_data_parallel.py:706-721 broadcast_params: with --data-parallel-random-init,
//   every parameter is broadcast from the first rank of its data-parallel group (experts: the
//   expert-data-parallel group).
// - megatron/core/tokenizers/utils/build_tokenizer.py:133-147 vocab_size_with_padding: the
//   vocabulary is padded to a multiple of make_vocab_size_divisible_by * tp (default 128,
//   arguments.py:2441), even at tp = 1 (VocabRule::pads).
// - megatron/core/transformer/moe/router.py:62-84 Router.__init__ / reset_parameters: the
//   router's weight (and bias) is a torch.empty(..., dtype=float32) on the CPU, drawn there by
//   config.init_method outside any tracker fork (so from the CPU generator that
//   _set_random_seed seeded seed + 100 * pp_rank), then cast to params_dtype (IsMoeRouter).
//   Its own comment: "TODO: Add support for GPU initialization".
// Not modelled, recorded in provenance().deviations: Transformer Engine "duplicated" linears
// (extensions/transformer_engine.py:1241-1247 draw under 'data-parallel-rng'; no preset has
// one); GTP-remat seeds (random.py:510-519, off unless that axis is used); uniform_'s bound
// check after the rounding to bf16. GPU draws are made in params_dtype: a bf16 shard splits
// for 32-bit indexing at 2^30 elements, a float32 one at 2^29 (kernels/torch/cuda_layout.h).
core::SourceRef Ref(std::string file, std::string function, int first, int last,
                    std::string fact) {
  return core::SourceRef{kRepo, kCommit, std::move(file), std::move(function), first, last,
                         std::move(fact)};
}

std::vector<core::SourceRef> SharedSources() {
  return {
      Ref("megatron/training/initialize.py", "_set_random_seed", 425, 484,
          "seed must be > 0 (ValueError); seed + 100 * pp_rank; torch.manual_seed(seed)"),
      Ref("megatron/core/tensor_parallel/random.py", "model_parallel_cuda_manual_seed", 446, 519,
          "data-parallel seed = seed; model-parallel seed + 2718 + tp_rank; expert seed + 1024 "
          "+ 100 * ep_rank + etp_rank"),
      Ref("megatron/training/arguments.py", "validate_args", 587, 588,
          "--expert-tensor-parallel-size defaults to tp, so etp_rank = tp_rank unless --etp "
          "says otherwise"),
      Ref("megatron/core/transformer/moe/router.py", "Router.__init__", 62, 84,
          "the router's fp32 weight is allocated and initialized on the CPU (CPU generator), "
          "then cast to params_dtype"),
      Ref("megatron/core/models/common/embeddings/language_model_embedding.py",
          "LanguageModelEmbedding.__init__", 70, 77,
          "position embeddings: torch.nn.Embedding on the CPU (N(0,1)), then "
          "embedding_init_method, both from the CPU generator"),
      Ref("megatron/core/models/gpt/gpt_model.py", "GPTModel.__init__", 277, 289,
          "the last stage allocates and initializes its own output layer"),
      Ref("megatron/core/models/common/language_module/language_module.py",
          "setup_embeddings_and_output_layer", 286, 314,
          "the last stage's tied copy is fill_(0) and all-reduced over the embedding group"),
      Ref("megatron/core/tokenizers/utils/build_tokenizer.py", "vocab_size_with_padding", 133,
          147, "vocabulary padded to a multiple of make_vocab_size_divisible_by * tp, even at tp = 1"),
  };
}

std::vector<std::string> SharedDeviations() {
  return {
      "Transformer Engine 'duplicated' linears draw under the data-parallel-rng tracker "
      "(megatron/core/extensions/transformer_engine.py:1241-1247); no twinsim preset has one",
      "the MoE router is recognized by its name (router.weight, router.bias, or Hugging Face's "
      "gate.weight) and its shape [num_experts, ...] in a layer with experts; a router named "
      "otherwise is drawn as an ordinary replicated parameter",
      "GPU draws into bf16 / fp16 params_dtype are modelled with their 32-bit split at 2^30 "
      "elements, but uniform_'s `value == to ? from : value` is compared in float before the "
      "rounding to bf16, where PyTorch compares after it (a value that rounds up to `to` stays "
      "`to` here)",
  };
}

// Megatron's ValueError for a seed _set_random_seed rejects.
Status MegatronCheckSeed(uint64_t seed) {
  if (seed > 0) return Status::Ok();
  return Status::InvalidArgument(
      fmt::format("Seed ({}) should be a positive integer. (Megatron-LM {} "
                  "megatron/training/initialize.py:484 _set_random_seed)",
                  seed, kCommit));
}

// A position (or token-type) embedding: a replicated embedding-table parameter, which Megatron
// builds as a plain torch.nn.Embedding (Note [megatron sources]); the word embedding is the
// vocab-parallel one.
bool IsSerialEmbedding(const core::ParamSpec& spec) {
  return spec.role == core::ParamRole::kEmbedding &&
         spec.tp_split == core::TpSplit::kReplicated && IsRandom(spec);
}

// The gate of a MoE layer (Megatron's TopKRouter): a replicated [num_experts, hidden] weight,
// or its [num_experts] bias, in a layer that holds experts. Megatron names it
// "...router.weight"; Hugging Face "...mlp.gate.weight" (qwen3_moe, deepseek_v3) and
// "...block_sparse_moe.gate.weight" (mixtral). A shared expert's scalar gate
// ("shared_expert_gate") is an ordinary linear layer.
bool IsMoeRouter(const core::ParallelLayout& layout, const core::ParamSpec& spec) {
  if (spec.role != core::ParamRole::kLayer || spec.expert >= 0 ||
      spec.tp_split != core::TpSplit::kReplicated || spec.shape.empty() ||
      spec.shape[0] != layout.num_experts() || layout.num_experts() == 0 || !IsRandom(spec)) {
    return false;
  }
  const std::string_view name = spec.name;
  for (std::string_view suffix : {".router.weight", ".router.bias", ".gate.weight"}) {
    if (name.size() > suffix.size() && name.substr(name.size() - suffix.size()) == suffix) {
      return name.find("shared_expert_gate") == std::string_view::npos;
    }
  }
  return false;
}

// torch.nn.Embedding's own reset_parameters: init.normal_(weight), N(0, 1), on the CPU.
core::InitSpec EmbeddingConstructorInit() {
  core::InitSpec init;
  init.kind = core::InitKind::kNormal;
  init.mean = 0;
  init.std = 1;
  return init;
}

// The constructor draw of a serial embedding (entry i) from `cpu`, before its real init: the
// positions are consumed and reported; the values are overwritten.
Status DrawEmbeddingConstructor(const InitContext& ctx, const RankShards& shards, int i,
                                TorchGenerator& cpu, RankInit& init) {
  const core::Block2D& block = shards.block(i);
  if (ctx.device->Info().holds_bytes) {
    std::vector<float> scratch(static_cast<size_t>(shards.numel(i)));
    const auto [begin, end] = cpu.Init(EmbeddingConstructorInit(), scratch);
    init.draws.push_back({cpu.stream(), begin, end, shards.owned()[i].param, block});
  }
  return ctx.device->HostInitWork(static_cast<uint64_t>(shards.numel(i)));
}

// The last stage's output layer (a tied copy of the word embedding, OwnedShard::tied_from >= 0)
// is allocated and initialized before it is zeroed and all-reduced: draws the copies' inits
// from `gen` (the full master weight when `full_then_slice`), consuming its positions.
StatusOr<bool> DrawTiedOutputLayers(const InitContext& ctx, RankShards& shards, RankInit& init,
                                    TorchGenerator& gen, bool full_then_slice) {
  const core::ModelSpec& model = ctx.layout->model();
  std::vector<float> values;
  for (int i = 0; i < shards.size(); ++i) {
    const core::OwnedShard& o = shards.owned()[i];
    if (o.tied_from < 0) continue;
    const core::ParamSpec& head = model.params[o.tied_from];
    if (!IsRandom(head)) continue;
    const core::Block2D& block = shards.block(i);
    if (ctx.device->Info().holds_bytes) {
      core::Block2D drawn = block;
      std::pair<uint64_t, uint64_t> span;
      if (full_then_slice) {
        span = gen.InitBlock(head.init, block, values);
        drawn = core::Block2D{block.rows, block.cols, 0, block.rows, 0, block.cols};
      } else {
        values.resize(static_cast<size_t>(shards.numel(i)));
        span = gen.Init(head.init, values);
      }
      init.draws.push_back({gen.stream(), span.first, span.second, o.param, drawn});
    } else {
      values.clear();
    }
    const uint64_t numel = full_then_slice ? block.rows * block.cols
                                           : static_cast<uint64_t>(shards.numel(i));
    if (gen.device() == InitDevice::kCpu) {
      TWINSIM_RETURN_IF_ERROR(ctx.device->HostInitWork(numel));
    }
    // Written, then replaced by the all-reduce (SyncTiedCopies).
    TWINSIM_RETURN_IF_ERROR(shards.Write(i, init, values, gen.device()));
  }
  return true;
}

// broadcast_params: every owned shard from the first rank of its data-parallel group (experts:
// the expert-data-parallel group). Tied copies are parameters too and are broadcast as well.
Status BroadcastFromFirstDpRank(const InitContext& ctx, const RankShards& shards,
                                const RankInit& init) {
  constexpr int kTagBase = 3 << 20;
  const core::ParallelLayout& layout = *ctx.layout;
  for (int i = 0; i < shards.size(); ++i) {
    const std::vector<int> group = shards.spec(i).expert >= 0 ? layout.ExpertDpGroup(ctx.rank)
                                                              : layout.DpGroup(ctx.rank);
    const core::BufferRegion region = core::BufferRegion::Whole(init.buffers[i]);
    if (group.front() == ctx.rank) {
      for (size_t k = 1; k < group.size(); ++k) {
        TWINSIM_RETURN_IF_ERROR(ctx.comm->Send(group[k], region, kTagBase + i));
      }
    } else {
      TWINSIM_RETURN_IF_ERROR(ctx.comm->Recv(group.front(), region, kTagBase + i));
    }
  }
  return Status::Ok();
}

// Note [megatron]
// ~~~~~~~~~~~~~~~
// _set_random_seed(seed): seed += 100 * pp_rank (+ 10 * dp_rank under
// --data-parallel-random-init), then torch.manual_seed(seed) and model_parallel_cuda_manual_seed,
// which seeds
//   the default CUDA generator          seed               (replicated parameters)
//   tracker 'model-parallel-rng'        seed + 2718 + tp_rank   (TP-split parameters, drawn
//                                                           under get_cuda_rng_tracker().fork())
//   tracker 'expert-parallel-rng'       seed + 1024 + 100 * ep_rank + etp_rank   (experts)
// Every rank draws its local shard on the GPU (_initialize_affine_weight_gpu); position
// embeddings are drawn twice on the CPU (Note [megatron sources]). Seeds are offsets from one
// root, so two roles can land on the same seed; AdditiveSeedsDistinct tells when they cannot
// (the claim's condition).
bool AdditiveSeedsDistinct(const core::ParallelLayout& layout, bool dp_random_init) {
  const core::ModelSpec& model = layout.model();
  bool replicated = false, split = false, expert = false;
  for (const core::ParamSpec& p : model.params) {
    if (!IsRandom(p) || !p.tied_to.empty()) continue;
    if (p.expert >= 0) {
      expert = true;
    } else if (p.tp_split == core::TpSplit::kReplicated) {
      replicated = true;
    } else {
      split = true;
    }
  }
  const core::LayoutConfig& c = layout.config();
  std::set<uint64_t> seen;
  auto add = [&](uint64_t offset) { return seen.insert(offset).second; };
  // Without --data-parallel-random-init, DP ranks share their seeds (they draw the same
  // elements); with it each dp rank is a seed offset of its own.
  const int dps = dp_random_init ? c.dp : 1;
  // The (ep_rank, etp_rank) pairs of each dp rank's ranks in a stage (all of them at index 0
  // without dp-random-init); every stage has the same.
  std::vector<std::set<std::pair<int, int>>> expert_pairs(dps);
  for (int r = 0; expert && r < c.tp * c.cp * c.dp; ++r) {
    const core::ParallelCoords rc = layout.RankCoords(r);
    expert_pairs[dp_random_init ? rc.dp : 0].insert({rc.ep, rc.etp});
  }
  for (int p = 0; p < c.pp; ++p) {
    for (int d = 0; d < dps; ++d) {
      const uint64_t base = 100ull * p + 10ull * d;
      if (replicated && !add(base)) return false;
      for (int t = 0; t < c.tp; ++t) {
        if (split && !add(base + 2718 + t)) return false;
      }
      // The expert tracker's seed + 1024 + 100 * ep_rank + etp_rank, for every (ep, etp) pair
      // of the stage's ranks (with dp-random-init: of dp rank d's ranks).
      for (const auto& [e, t] : expert_pairs[dp_random_init ? d : 0]) {
        if (expert && !add(base + 1024 + 100ull * e + t)) return false;
      }
    }
  }
  return true;
}

class MegatronPolicy final : public SeedPolicy {
 public:
  explicit MegatronPolicy(bool dp_random_init) : dp_random_init_(dp_random_init) {}

  std::string_view name() const override {
    return dp_random_init_ ? "megatron+dp-random-init" : "megatron";
  }
  std::string_view version() const override { return "3"; }
  std::string_view models() const override {
    return dp_random_init_
               ? "Megatron-LM --data-parallel-random-init: seeds + 10*dp_rank, GPU init of local "
                 "shards, then every parameter broadcast from DP rank 0"
               : "Megatron-LM model_parallel_cuda_manual_seed: TP seed = seed+2718+tp_rank, "
                 "seed+100*pp_rank per stage, expert seeds; GPU init of local shards";
  }
  core::Provenance provenance() const override {
    core::Provenance p{SharedSources(), SharedDeviations(), false};
    p.sources.push_back(Ref("megatron/core/tensor_parallel/layers.py",
                            "_initialize_affine_weight_gpu", 171, 183,
                            "TP-split weights: the local shard under the model-parallel (experts: "
                            "expert-parallel) tracker"));
    if (dp_random_init_) {
      p.sources.push_back(Ref("megatron/training/initialize.py", "_set_random_seed", 450, 452,
                              "--data-parallel-random-init: seed + 10 * dp_rank"));
      p.sources.push_back(Ref("megatron/core/distributed/distributed_data_parallel.py",
                              "DistributedDataParallel.broadcast_params", 706, 721,
                              "every parameter broadcast from the first rank of its (expert) "
                              "data-parallel group (called at training.py:2546-2548)"));
    }
    return p;
  }
  VocabRule vocab_rule() const override { return {.pads = true}; }
  Status CheckSeed(uint64_t seed) const override { return MegatronCheckSeed(seed); }
  const std::vector<Claim>& claims() const override {
    static const std::vector<Claim> kPlain = {
        Always(Property::kDistribution),
        Always(Property::kReplica),
        When(Property::kDistinct, "no two of its additive seeds coincide",
             [](const core::ParallelLayout& l, InitDevice) {
               return AdditiveSeedsDistinct(l, false);
             }),
        Always(Property::kDeterminism), Always(Property::kInitFits)};
    static const std::vector<Claim> kDpRandom = {
        Always(Property::kDistribution),
        Always(Property::kReplica),
        When(Property::kDistinct, "no two of its additive seeds (with 10 * dp_rank) coincide",
             [](const core::ParallelLayout& l, InitDevice) {
               return AdditiveSeedsDistinct(l, true);
             }),
        Always(Property::kDeterminism), Always(Property::kInitFits)};
    return dp_random_init_ ? kDpRandom : kPlain;
  }
  bool Supports(InitDevice device) const override { return device == InitDevice::kCuda; }
  InitDevice default_init_device() const override { return InitDevice::kCuda; }

  StatusOr<RankInit> InitRank(const InitContext& ctx) const override {
    if (ctx.init_device != InitDevice::kCuda) {
      return Status::InvalidArgument(
          "megatron initializes on cuda (use megatron-cpu for --use-cpu-initialization)");
    }
    TWINSIM_RETURN_IF_ERROR(MegatronCheckSeed(ctx.seed));
    const core::ParallelCoords me = ctx.layout->RankCoords(ctx.rank);
    RankShards shards(ctx);
    RankInit init;
    TWINSIM_ASSIGN_OR_RETURN(bool fits, shards.AllocateAll(init));
    if (!fits) return init;
    const uint64_t seed =
        ctx.seed + 100ull * me.pp + (dp_random_init_ ? 10ull * me.dp : 0ull);
    TorchGenerator cpu = TorchGenerator::Cpu(seed);
    TorchGenerator data = TorchGenerator::Cuda(seed, ctx.gpu);
    TorchGenerator tensor = TorchGenerator::Cuda(seed + 2718 + me.tp, ctx.gpu);
    TorchGenerator expert = TorchGenerator::Cuda(seed + 1024 + 100ull * me.ep + me.etp, ctx.gpu);
    Status side = Status::Ok();
    TWINSIM_ASSIGN_OR_RETURN(fits, DrawShards(ctx, shards, init, [&](int i) {
                               const core::ParamSpec& spec = shards.spec(i);
                               if (IsSerialEmbedding(spec)) {
                                 Status s = DrawEmbeddingConstructor(ctx, shards, i, cpu, init);
                                 if (!s.ok() && side.ok()) side = s;
                                 return DrawChoice{&cpu, false};
                               }
                               // The router's fp32 weight is allocated on the CPU and drawn
                               // there, from the generator _set_random_seed seeded.
                               if (IsMoeRouter(*ctx.layout, spec)) return DrawChoice{&cpu, false};
                               // Drawn into the parameter, in params_dtype.
                               const int bytes = static_cast<int>(core::DTypeSize(spec.dtype));
                               for (TorchGenerator* g : {&data, &tensor, &expert}) {
                                 g->set_element_size(bytes);
                               }
                               if (spec.expert >= 0) return DrawChoice{&expert, false};
                               if (spec.tp_split != core::TpSplit::kReplicated) {
                                 return DrawChoice{&tensor, false};
                               }
                               return DrawChoice{&data, false};
                             }));
    TWINSIM_RETURN_IF_ERROR(side);
    if (!fits) return init;
    TWINSIM_ASSIGN_OR_RETURN(fits, DrawTiedOutputLayers(ctx, shards, init, tensor, false));
    if (!fits) return init;
    TWINSIM_RETURN_IF_ERROR(SyncTiedCopies(ctx, shards, init));
    if (dp_random_init_) TWINSIM_RETURN_IF_ERROR(BroadcastFromFirstDpRank(ctx, shards, init));
    return init;
  }

 private:
  bool dp_random_init_;
};

// The rows Megatron pads a vocab-parallel dimension of `rows` to at this TP size and at tp = 1.
bool VocabPaddingIndependentOfTp(const core::ParallelLayout& layout) {
  const core::ModelSpec& model = layout.model();
  const int64_t multiple = layout.config().vocab_divisible_by;
  for (int p = 0; p < static_cast<int>(model.params.size()); ++p) {
    const core::ParamSpec& spec = model.params[p];
    if (spec.tp_split != core::TpSplit::kVocab) continue;
    const int64_t rows = spec.shape[0];
    const int64_t at_tp1 = (rows + multiple - 1) / multiple * multiple;
    if (layout.ShardOf(p, 0).padded_extent != at_tp1) return false;
  }
  return true;
}

// Experts on more than one EP rank: megatron-cpu seeds every EP rank's CPU generator alike.
bool ExpertsOnOneEpRank(const core::ParallelLayout& layout) { return !ExpertsSplitOverEp(layout); }

// Note [megatron-cpu]
// ~~~~~~~~~~~~~~~~~~~
// --use-cpu-initialization: _initialize_affine_weight_cpu builds each TP-split parameter's full
// master weight (vocab rows padded to a multiple of make_vocab_size_divisible_by * tp) in fp32
// on the CPU from the CPU generator (seeded seed + 100 * pp_rank by _set_random_seed), and keeps
// this rank's slice; replicated parameters are drawn whole from the same generator, position
// embeddings twice (torch.nn.Embedding's constructor, then embedding_init_method). Every TP
// rank of a stage therefore draws the same stream and the union of the slices is the stage's
// single-device init — as long as the padded vocabulary is the same as on one device, because
// the padded rows are drawn too and shift everything drawn after them. The seed does not depend
// on the EP rank, so experts on different EP ranks are drawn from the same positions: their
// values repeat (distinct holds only with ep == 1 or no experts; the refuting MoE model comes
// with issue 15). Costs a full master weight of host memory per rank while it is sliced.
class MegatronCpuPolicy final : public SeedPolicy {
 public:
  std::string_view name() const override { return "megatron-cpu"; }
  std::string_view version() const override { return "3"; }
  std::string_view models() const override {
    return "Megatron-LM --use-cpu-initialization: full fp32 master weight on the CPU, then "
           "each TP rank keeps its slice";
  }
  core::Provenance provenance() const override {
    core::Provenance p{SharedSources(), SharedDeviations(), false};
    p.sources.push_back(Ref("megatron/core/tensor_parallel/layers.py",
                            "_initialize_affine_weight_cpu", 186, 229,
                            "the full fp32 master weight from the CPU generator, cast to "
                            "params_dtype, then this rank's slice"));
    p.deviations.push_back(
        "with EP > 1 every EP rank's CPU generator is seeded alike (seed + 100 * pp_rank), so "
        "experts on different EP ranks repeat, and each EP rank skips the others' draws; "
        "distinct and parity are claimed only with ep == 1 or no experts (`twinsim findings "
        "--only megatron-cpu-repeated-experts` shows the repeat)");
    return p;
  }
  VocabRule vocab_rule() const override { return {.pads = true}; }
  Status CheckSeed(uint64_t seed) const override { return MegatronCheckSeed(seed); }
  const std::vector<Claim>& claims() const override {
    static const std::vector<Claim> kClaims = {
        Always(Property::kDistribution),
        When(Property::kParity,
             "pp == 1, the padded vocabulary is the same as at tp == 1, ep == 1 or the model "
             "has no experts",
             [](const core::ParallelLayout& layout, InitDevice) {
               return layout.num_stages() == 1 && VocabPaddingIndependentOfTp(layout) &&
                      ExpertsOnOneEpRank(layout);
             }),
        Always(Property::kReplica),
        When(Property::kDistinct, "ep == 1 or the model has no experts",
             [](const core::ParallelLayout& layout, InitDevice) {
               return ExpertsOnOneEpRank(layout);
             }),
        Always(Property::kDeterminism)};
    return kClaims;
  }
  bool Supports(InitDevice device) const override { return device == InitDevice::kCpu; }
  InitDevice default_init_device() const override { return InitDevice::kCpu; }

  StatusOr<RankInit> InitRank(const InitContext& ctx) const override {
    if (ctx.init_device != InitDevice::kCpu) {
      return Status::InvalidArgument("megatron-cpu initializes on the cpu");
    }
    TWINSIM_RETURN_IF_ERROR(MegatronCheckSeed(ctx.seed));
    const core::ParallelCoords me = ctx.layout->RankCoords(ctx.rank);
    RankShards shards(ctx);
    RankInit init;
    TWINSIM_ASSIGN_OR_RETURN(bool fits, shards.AllocateAll(init));
    if (!fits) return init;
    TorchGenerator cpu = TorchGenerator::Cpu(ctx.seed + 100ull * me.pp);
    Status side = Status::Ok();
    TWINSIM_ASSIGN_OR_RETURN(fits, DrawShards(ctx, shards, init, [&](int i) {
                               if (IsSerialEmbedding(shards.spec(i))) {
                                 Status s = DrawEmbeddingConstructor(ctx, shards, i, cpu, init);
                                 if (!s.ok() && side.ok()) side = s;
                               }
                               return DrawChoice{&cpu, !shards.owned()[i].shard.whole()};
                             }));
    TWINSIM_RETURN_IF_ERROR(side);
    if (!fits) return init;
    TWINSIM_ASSIGN_OR_RETURN(fits, DrawTiedOutputLayers(ctx, shards, init, cpu, true));
    if (!fits) return init;
    TWINSIM_RETURN_IF_ERROR(SyncTiedCopies(ctx, shards, init));
    return init;
  }
};

}  // namespace

std::unique_ptr<SeedPolicy> NewMegatronPolicy() { return std::make_unique<MegatronPolicy>(false); }
std::unique_ptr<SeedPolicy> NewMegatronDpRandomInitPolicy() {
  return std::make_unique<MegatronPolicy>(true);
}
std::unique_ptr<SeedPolicy> NewMegatronCpuPolicy() {
  return std::make_unique<MegatronCpuPolicy>();
}

}  // namespace twinsim::policies::seed
