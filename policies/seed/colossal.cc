// ColossalAI's seeding as its code does it at hpcaitech/ColossalAI@4f9953be (2026-04-09): the
// legacy seed manager with the legacy 1-D tensor-parallel layers (colossal-legacy), and today's
// launch + shardformer path (colossal). Sources: Notes [colossal-legacy] and [colossal].
#include <memory>
#include <string>
#include <vector>

#include "fmt/format.h"
#include "policies/seed/common.h"
#include "policies/seed/factories.h"
#include "policies/seed/hf_init.h"

namespace twinsim::policies::seed {
namespace {

constexpr char kRepo[] = "hpcaitech/ColossalAI";
constexpr char kCommit[] = "4f9953be";

core::SourceRef Ref(std::string file, std::string function, int first, int last,
                    std::string fact) {
  return core::SourceRef{kRepo, kCommit, std::move(file), std::move(function), first, last,
                         std::move(fact)};
}

// The bias of a row-parallel layer: a replicated ".bias" whose layer's ".weight" is split along
// its input features (Linear1D_Row). PyTorch modules name a layer's weight and bias
// "<layer>.weight" and "<layer>.bias"; that is how the pair is found.
bool IsRowParallelBias(const core::ModelSpec& model, const core::ParamSpec& spec) {
  constexpr std::string_view kBias = ".bias";
  if (spec.tp_split != core::TpSplit::kReplicated || spec.expert >= 0) return false;
  const std::string_view name = spec.name;
  if (name.size() <= kBias.size() || name.substr(name.size() - kBias.size()) != kBias) {
    return false;
  }
  const int w = model.Find(std::string(name.substr(0, name.size() - kBias.size())) + ".weight");
  return w >= 0 && model.params[w].tp_split == core::TpSplit::kRow;
}

// Note [colossal-legacy]
// ~~~~~~~~~~~~~~~~~~~~~~
// colossalai/legacy/context/parallel_context.py:536-566 ParallelContext.set_seed(seed):
// torch.manual_seed(seed) on every rank (the CPU generator is never forked), then one CUDA
// state per ParallelMode: DATA seeded `seed`, TENSOR seeded seed + tp_rank + 1024 * pp_rank.
// The legacy 1-D layers (colossalai/legacy/nn/layer/parallel_1d/layers.py) allocate their
// parameters on the current GPU (:641 Linear1D_Row, :914-920 VocabParallelEmbedding1D): they
// cannot initialize on the CPU. They initialize under `with seed(ParallelMode.TENSOR)`
// (:651-652); a row-parallel layer's (and Classifier1D's) bias, replicated over the TP group, is
// drawn there too and then broadcast from the group's first rank (:659-664). Everything else is
// drawn in DATA mode. VocabParallelEmbedding1D computes divide(num_embeddings, tp) (:912), which
// asserts that tp divides the vocabulary (legacy/nn/layer/utils/common.py:41-53): no padding.
// Note that the TENSOR seed of tp_rank 0 on pp_rank 0 equals the DATA seed.
// The layers' default initializers, used when a model passes none (:79-80, :484-485, :619-620,
// :790), are colossalai/nn/init.py's: kaiming_uniform_(a=sqrt(5)) (:79-120) and
// xavier_uniform_(a=1, scale=1) on a bias (:166-196), each given the full layer's fan_in by
// reset_parameters (:515-519, :659-663), and normal_() (:41-55). They are torch.nn.Linear's and
// nn.Embedding's defaults on the whole tensor: U(+-1/sqrt(fan_in)) weights and biases (the
// bias bound computed as sqrt(1/fan_in), torch's as 1/sqrt(fan_in)), N(0, 1) embeddings. twinsim
// draws each parameter's own InitSpec with the full tensor's fans, so a model that declares
// torch's default inits gets the legacy defaults; it does not replace inits a model declares.
//
// Note [colossal-legacy+cpu-init]
// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
// ColossalAI RFC #786 ("Tensor Initialization on Different Devices", closed) proposed building
// the legacy TP layers on the CPU when no device is given, to match torch.nn and to avoid CUDA
// OOM while partitioning pipeline stages. The seed manager cannot fork a CPU state:
// SeedManager.add_seed and set_mode (colossalai/legacy/context/random/seed_manager.py:48-60,
// :62-84) save and restore torch.cuda.get_rng_state / set_rng_state only, and set_seed calls a
// plain torch.manual_seed(seed) on every rank (parallel_context.py:545). A layer built on the
// CPU inside `with seed(ParallelMode.TENSOR)` therefore draws from the CPU generator seeded
// `seed`, the same on every rank: the TP shards of one weight are the same numbers, every
// pipeline stage starts the stream again, and no rank gets its slice of single-device init.
// The variant models that: every draw from one CPU generator seeded `seed`, in the rank's
// registration order, each layer at its shard's size, with the row-parallel bias still
// broadcast from the group's first rank. It is what the legacy code would do if the RFC were
// taken, not a released behaviour; the finding `colossalai-unforked-cpu-init` shows it.
class ColossalLegacyPolicy final : public SeedPolicy {
 public:
  explicit ColossalLegacyPolicy(bool cpu_init) : cpu_init_(cpu_init) {}

  std::string_view name() const override {
    return cpu_init_ ? "colossal-legacy+cpu-init" : "colossal-legacy";
  }
  std::string_view version() const override { return cpu_init_ ? "1" : "2"; }
  std::string_view models() const override {
    if (cpu_init_) {
      return "ColossalAI legacy TP layers built on the CPU (RFC #786): the seed manager forks "
             "only CUDA states, so every rank draws from the CPU generator seeded `seed`";
    }
    return "ColossalAI legacy seed manager: CUDA state forked per ParallelMode (TENSOR: "
           "seed+tp_rank+1024*pp_rank), row-parallel biases broadcast, GPU only";
  }
  core::Provenance provenance() const override {
    if (cpu_init_) {
      const std::string seeds = "colossalai/legacy/context/random/seed_manager.py";
      return core::Provenance{
          {Ref("colossalai/legacy/context/parallel_context.py", "ParallelContext.set_seed", 545,
               545, "torch.manual_seed(seed) on every rank: the CPU generator is never forked"),
           Ref(seeds, "SeedManager.set_mode", 48, 60,
               "a mode switch saves and restores torch.cuda RNG state only"),
           Ref(seeds, "SeedManager.add_seed", 62, 84,
               "per-mode seeds are torch.cuda.manual_seed states only"),
           Ref("colossalai/legacy/context/random/_helper.py", "seed", 101, 120,
               "`with seed(mode)` is set_mode(mode) ... set_mode(previous)"),
           Ref("colossalai/legacy/nn/layer/parallel_1d/layers.py", "Linear1D_Row.__init__",
               640, 652, "layers are built under seed(ParallelMode.TENSOR) at their shard's "
               "size")},
          {"the behaviour RFC hpcaitech/ColossalAI#786 (closed) would give, not a release's: at "
           "4f9953be the legacy 1-D layers allocate on the current GPU (colossal-legacy models "
           "that)",
           "each layer is drawn at its shard's size, as the legacy 1-D layers allocate it"},
          false};
    }
    const std::string layers = "colossalai/legacy/nn/layer/parallel_1d/layers.py";
    return core::Provenance{
        {Ref("colossalai/legacy/context/parallel_context.py", "ParallelContext.set_seed", 536,
             566,
             "torch.manual_seed(seed); CUDA DATA seed = seed; TENSOR seed = seed + tp_rank + "
             "1024 * pp_rank"),
         Ref(layers, "Linear1D_Row.__init__", 640, 652,
             "parameters allocated on the current GPU; reset_parameters under "
             "seed(ParallelMode.TENSOR)"),
         Ref(layers, "Linear1D_Row.reset_parameters", 659, 664,
             "the bias is drawn under TENSOR and broadcast from the first rank of the 1-D group"),
         Ref(layers, "VocabParallelEmbedding1D.__init__", 912, 912,
             "divide(num_embeddings, tp): the vocabulary must divide by tp (no padding)"),
         Ref("colossalai/legacy/nn/layer/utils/common.py", "divide", 41, 53,
             "asserts numerator % denominator == 0")},
        {"the legacy layers' default initializers (colossalai/nn/init.py: kaiming_uniform_(a="
         "sqrt(5)) weights, xavier_uniform_(a=1, scale=1) biases, normal_() embeddings, all with "
         "the full layer's fans) equal torch's nn.Linear / nn.Embedding defaults on the whole "
         "tensor, up to the rounding of the bias bound (sqrt(1/fan_in) against torch's "
         "1/sqrt(fan_in)); twinsim draws each parameter's declared init with full fans and does "
         "not substitute the defaults for it",
         "DATA-mode draws on a replicated parameter follow twinsim's layout; legacy models that "
         "build such a parameter as a plain torch module on the CPU are not modelled"},
        false};
  }
  VocabRule vocab_rule() const override {
    return {.requires_divisible = true,
            .source = "ColossalAI 4f9953be colossalai/legacy/nn/layer/parallel_1d/layers.py:912 "
            "VocabParallelEmbedding1D: divide() asserts \"N is not divisible by tp\""};
  }
  const std::vector<Claim>& claims() const override {
    static const std::vector<Claim> kClaims = {Always(Property::kReplica),
                                               Always(Property::kDistribution),
                                               Always(Property::kDeterminism),
                                               Always(Property::kInitFits)};
    // One CPU stream per rank from `seed`: only a rank that walks the whole model (tp == 1, one
    // stage, experts not split over ep) draws what one device does, and draws nothing twice.
    static const std::vector<Claim> kCpuClaims = {
        Always(Property::kDistribution),
        When(Property::kParity, kWholeModelPerRank, WholeModelPerRank),
        // Uneven expert shards (etp != tp) shift the one CPU stream by different counts on DP
        // replicas (Note [Experts over EP] in common.h).
        ReplicaWhenExpertsSplitLikeDense(),
        When(Property::kDistinct, kWholeModelPerRank, WholeModelPerRank),
        Always(Property::kDeterminism), Always(Property::kInitFits)};
    return cpu_init_ ? kCpuClaims : kClaims;
  }
  bool Supports(InitDevice device) const override {
    return device == (cpu_init_ ? InitDevice::kCpu : InitDevice::kCuda);
  }
  InitDevice default_init_device() const override {
    return cpu_init_ ? InitDevice::kCpu : InitDevice::kCuda;
  }

  StatusOr<RankInit> InitRank(const InitContext& ctx) const override {
    if (cpu_init_ && ctx.init_device != InitDevice::kCpu) {
      return Status::InvalidArgument(
          "colossal-legacy+cpu-init initializes on the cpu (RFC #786's CPU-built TP layers)");
    }
    if (!cpu_init_ && ctx.init_device != InitDevice::kCuda) {
      return Status::InvalidArgument(
          "colossal-legacy initializes on cuda (its layers allocate on the current GPU)");
    }
    const core::ParallelLayout& layout = *ctx.layout;
    const core::ParallelCoords me = layout.RankCoords(ctx.rank);
    RankShards shards(ctx);
    RankInit init;
    TWINSIM_ASSIGN_OR_RETURN(bool fits, shards.AllocateAll(init));
    if (!fits) return init;
    if (cpu_init_) {
      // Both modes switch CUDA states only; the CPU generator is the one manual_seed(seed) set.
      TorchGenerator cpu = TorchGenerator::Cpu(ctx.seed);
      TWINSIM_ASSIGN_OR_RETURN(fits, DrawShards(ctx, shards, init,
                                                [&](int) { return DrawChoice{&cpu, false}; }));
    } else {
      TorchGenerator data = TorchGenerator::Cuda(ctx.seed, ctx.gpu);
      TorchGenerator tensor = TorchGenerator::Cuda(ctx.seed + me.tp + 1024ull * me.pp, ctx.gpu);
      TWINSIM_ASSIGN_OR_RETURN(fits, DrawShards(ctx, shards, init, [&](int i) {
                                 const core::ParamSpec& spec = shards.spec(i);
                                 const bool tensor_mode =
                                     spec.tp_split != core::TpSplit::kReplicated ||
                                     IsRowParallelBias(layout.model(), spec);
                                 // Allocated in `dtype` on the GPU and drawn there.
                                 const int bytes = static_cast<int>(core::DTypeSize(spec.dtype));
                                 data.set_element_size(bytes);
                                 tensor.set_element_size(bytes);
                                 return DrawChoice{tensor_mode ? &tensor : &data, false};
                               }));
    }
    if (!fits) return init;
    // broadcast(bias, first rank of the 1-D group) after each row-parallel layer's init.
    constexpr int kTagBase = 5 << 20;
    const std::vector<int> group = layout.TpGroup(ctx.rank);
    for (int i = 0; i < shards.size(); ++i) {
      const core::OwnedShard& o = shards.owned()[i];
      if (o.tied_from >= 0 || !IsRowParallelBias(layout.model(), shards.spec(i))) continue;
      const core::BufferRegion region = core::BufferRegion::Whole(init.buffers[i]);
      if (group.front() == ctx.rank) {
        for (size_t k = 1; k < group.size(); ++k) {
          TWINSIM_RETURN_IF_ERROR(ctx.comm->Send(group[k], region, kTagBase + i));
        }
      } else {
        TWINSIM_RETURN_IF_ERROR(ctx.comm->Recv(group.front(), region, kTagBase + i));
      }
    }
    TWINSIM_RETURN_IF_ERROR(SyncTiedCopies(ctx, shards, init));
    return init;
  }

 private:
  static constexpr const char* kWholeModelPerRank =
      "tp == 1, one pipeline stage, no experts split over ep or etp";
  static bool WholeModelPerRank(const core::ParallelLayout& layout, InitDevice) {
    return layout.config().tp == 1 && layout.expert_tp() == 1 && layout.num_stages() == 1 &&
           !ExpertsSplitOverEp(layout);
  }

  bool cpu_init_;
};

// Note [colossal]
// ~~~~~~~~~~~~~~~
// Today's ColossalAI: colossalai/initialize.py:20-66 launch(seed) calls set_seed(seed)
// (colossalai/utils/common.py:76-79: random, numpy and torch.manual_seed(seed)) on every rank,
// with no per-rank offset. The user builds the whole Hugging Face model on every rank, and
// shardformer replaces its layers with from_native_module, which slices the already-initialized
// full weights (colossalai/shardformer/layer/linear.py:255-275 Linear1D_Col: shard_rowwise of the given
// `weight`; :460 Linear1D_Row: shard_colwise). The vocabulary is padded to a multiple of
// make_vocab_size_divisible_by * tp (shardformer/shard/shard_config.py:47: 64;
// shardformer/layer/embedding.py:302-305) with rows of zeros (to_padded_tensor), which are not
// drawn. So every rank draws every parameter of the model, in registration order, from one
// generator seeded `seed`, on the device the model is built on, and keeps its slices: parity,
// replica, distinct and determinism hold; the whole model is materialized on every rank, so
// init-fits does not. A GPT-2 is built as GPT2LMHeadModel(config) draws it (hf_init.h):
// constructor defaults first, then post_init's re-draws in apply order, lm_head drawn twice
// before the tie; the draws a later one replaces are made and dropped. Other models are drawn
// once per parameter in registration order (their Hugging Face order is not modelled).
// Not modelled (provenance().deviations): layers built directly rather than from a native
// module draw under a Randomizer seeded initial_seed + rank + index
// (shardformer/layer/utils.py:129-235, :295-326); LazyInitContext (colossalai/lazy) records
// random ops and replays them at materialization.
class ColossalPolicy final : public SeedPolicy {
 public:
  std::string_view name() const override { return "colossal"; }
  std::string_view version() const override { return "2"; }
  std::string_view models() const override {
    return "ColossalAI launch + shardformer: torch.manual_seed(seed) on every rank, the whole "
           "model built on every rank, then sliced";
  }
  core::Provenance provenance() const override {
    core::Provenance p{
        {Ref("colossalai/initialize.py", "launch", 20, 66,
             "set_seed(seed) on every rank, no per-rank offset"),
         Ref("colossalai/utils/common.py", "set_seed", 76, 79, "torch.manual_seed(seed)"),
         Ref("colossalai/shardformer/layer/linear.py", "Linear1D_Col.__init__", 255, 275,
             "from_native_module slices the already-initialized full weight"),
         Ref("colossalai/shardformer/layer/embedding.py", "VocabParallelEmbedding1D.__init__",
             302, 305, "vocabulary padded to a multiple of make_vocab_size_divisible_by * tp"),
         Ref("colossalai/shardformer/shard/shard_config.py", "ShardConfig", 47, 47,
             "make_vocab_size_divisible_by = 64")},
        {"layers built directly (not from a native module) draw under a Randomizer seeded "
         "torch.random.initial_seed() + rank + Randomizer.index() "
         "(colossalai/shardformer/layer/utils.py:295-326); not modelled",
         "LazyInitContext (colossalai/lazy/lazy_init.py) replays random ops at materialization; "
         "not modelled: twinsim draws the model eagerly",
         "the padded vocabulary rows are zeros (to_padded_tensor), not drawn; upstream.md's "
         "'ColossalAI does not pad' holds for the legacy layers only",
         "Hugging Face's draw order (constructors, then post_init) is modelled for GPT-2 only; "
         "other models are drawn once per parameter in registration order"},
        false};
    // The user's model is GPT2LMHeadModel(config): Hugging Face's draw order.
    for (core::SourceRef& ref : HfInitProvenance(HfInitMode::kPostInit).sources) {
      p.sources.push_back(std::move(ref));
    }
    return p;
  }
  VocabRule vocab_rule() const override { return {.pads = true, .divisible_by = 64}; }
  const std::vector<Claim>& claims() const override {
    static const std::vector<Claim> kClaims = {
        Always(Property::kDistribution), Always(Property::kParity), Always(Property::kReplica),
        Always(Property::kDistinct), Always(Property::kDeterminism)};
    return kClaims;
  }
  bool Supports(InitDevice) const override { return true; }
  InitDevice default_init_device() const override { return InitDevice::kCpu; }

  StatusOr<RankInit> InitRank(const InitContext& ctx) const override {
    const core::ModelSpec& model = ctx.layout->model();
    RankShards shards(ctx);
    RankInit init;
    TWINSIM_ASSIGN_OR_RETURN(bool fits, shards.AllocateAll(init));
    if (!fits) return init;
    // The whole model, materialized on every rank (fp32, as the Hugging Face model is built).
    uint64_t model_bytes = 0;
    for (const core::ParamSpec& p : model.params) {
      if (p.tied_to.empty()) model_bytes += static_cast<uint64_t>(p.Numel()) * sizeof(float);
    }
    core::HostReservation full_host;
    core::Buffer full_device;
    const bool on_cpu = ctx.init_device == InitDevice::kCpu;
    if (on_cpu) {
      TWINSIM_ASSIGN_OR_RETURN(fits, ReserveOrRecord(ctx.host, ctx.rank, model_bytes, "init-temp",
                                                     "the full model", init, &full_host));
    } else {
      TWINSIM_ASSIGN_OR_RETURN(fits, AllocateOrRecord(*ctx.device, model_bytes,
                                                      core::kTagInitTemp, "the full model", init,
                                                      &full_device));
    }
    if (!fits) return init;
    TorchGenerator gen = TorchGenerator::For(ctx.init_device, ctx.seed, ctx.gpu);
    const bool compute_bits = ctx.device->Info().holds_bytes;
    // The draws the model's constructor makes, in order: Hugging Face's for a GPT-2 (Note
    // [Hugging Face init order]); then, once each in registration order, every parameter not
    // drawn there (all of them for other models; constant biases and norms for a GPT-2). A draw
    // that a later one replaces, or that a tie throws away, is made and dropped.
    std::vector<HfDraw> order;
    if (StatusOr<std::vector<HfDraw>> hf = Gpt2HfDraws(model, HfInitMode::kPostInit); hf.ok()) {
      order = *std::move(hf);
    }
    std::vector<int> last(model.params.size(), -1);
    for (size_t k = 0; k < order.size(); ++k) last[order[k].param] = static_cast<int>(k);
    for (int p = 0; p < static_cast<int>(model.params.size()); ++p) {
      if (last[p] < 0 && model.params[p].tied_to.empty()) {
        order.push_back({p, model.params[p].init, true});
        last[p] = static_cast<int>(order.size()) - 1;
      }
    }
    std::vector<float> full, slice, dropped;
    for (size_t k = 0; k < order.size(); ++k) {
      const int p = order[k].param;
      const core::ParamSpec& spec = model.params[p];
      const int64_t rows = spec.shape.empty() ? 1 : spec.shape[0];
      const int64_t cols = rows == 0 ? 0 : spec.Numel() / rows;
      if (last[p] != static_cast<int>(k) || !spec.tied_to.empty()) {
        if (compute_bits) {
          gen.InitBlock(order[k].spec,
                        core::Block2D{static_cast<uint64_t>(rows), static_cast<uint64_t>(cols),
                                      0, 0, 0, 0},
                        dropped);
        }
        if (on_cpu) {
          TWINSIM_RETURN_IF_ERROR(ctx.device->HostInitWork(static_cast<uint64_t>(spec.Numel())));
        }
        continue;
      }
      if (compute_bits) {
        full.resize(static_cast<size_t>(spec.Numel()));
        const auto [begin, end] = gen.Init(order[k].spec, full);
        // In the [rows, cols] view of the padded storage (the padded rows are not drawn).
        const core::TpShard shard0 = ctx.layout->ShardOf(p, 0);
        const uint64_t storage_rows =
            shard0.dim == 0 ? static_cast<uint64_t>(shard0.padded_extent) : static_cast<uint64_t>(rows);
        const core::Block2D whole{storage_rows, static_cast<uint64_t>(cols), 0,
                                  static_cast<uint64_t>(rows), 0, static_cast<uint64_t>(cols)};
        if (begin != end) init.draws.push_back({gen.stream(), begin, end, p, whole});
      }
      if (on_cpu) {
        TWINSIM_RETURN_IF_ERROR(ctx.device->HostInitWork(static_cast<uint64_t>(spec.Numel())));
      }
      // This rank's slices of it (a tied copy too), padded vocabulary rows as zeros.
      for (int i = 0; i < shards.size(); ++i) {
        if (shards.owned()[i].param != p) continue;
        const core::Block2D& b = shards.block(i);
        slice.clear();
        if (compute_bits) {
          slice.reserve(static_cast<size_t>(shards.numel(i)));
          for (uint64_t r = b.row_begin; r < b.row_end; ++r) {
            if (r >= static_cast<uint64_t>(rows)) {
              slice.insert(slice.end(), b.col_end - b.col_begin, 0.0f);
              continue;
            }
            const float* row = full.data() + r * static_cast<uint64_t>(cols);
            slice.insert(slice.end(), row + b.col_begin, row + b.col_end);
          }
        }
        TWINSIM_RETURN_IF_ERROR(shards.Write(i, init, slice, ctx.init_device));
      }
    }
    if (on_cpu) {
      if (ctx.host != nullptr) TWINSIM_RETURN_IF_ERROR(ctx.host->Release(full_host));
    } else {
      TWINSIM_RETURN_IF_ERROR(ctx.device->Free(full_device));
    }
    return init;
  }
};

}  // namespace

std::unique_ptr<SeedPolicy> NewColossalLegacyPolicy() {
  return std::make_unique<ColossalLegacyPolicy>(false);
}
std::unique_ptr<SeedPolicy> NewColossalLegacyCpuInitPolicy() {
  return std::make_unique<ColossalLegacyPolicy>(true);
}
std::unique_ptr<SeedPolicy> NewColossalPolicy() { return std::make_unique<ColossalPolicy>(); }

}  // namespace twinsim::policies::seed
