// Properties of ParallelLayout and of twinsim's counter fill over random models and layouts
// (properties/generators.h): every element is owned once per replica, and TP shards filled on
// their own reassemble the single-device init. A broken "megatron-style" additive key is
// refuted with a shrunk counterexample, proving the harness can fail. Replay any run with
// RC_PARAMS="seed=N" (the seed is printed at start).
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "core/model_presets.h"
#include "core/model_spec.h"
#include "core/parallel_layout.h"
#include "kernels/fill.h"
#include "kernels/resolve.h"
#include "properties/generators.h"

namespace twinsim::properties {
namespace {

using core::LayoutConfig;
using core::ModelSpec;
using core::OwnedShard;
using core::ParallelLayout;
using core::ParamSpec;

// Prints the RapidCheck seed so that every run is replayable.
class SeedPrinter : public ::testing::Environment {
 public:
  void SetUp() override {
    std::printf("RapidCheck seed=%llu max_success=%d (replay: RC_PARAMS=\"seed=%llu\")\n",
                static_cast<unsigned long long>(rc::detail::configuration().testParams.seed),
                rc::detail::configuration().testParams.maxSuccess,
                static_cast<unsigned long long>(rc::detail::configuration().testParams.seed));
  }
};
[[maybe_unused]] ::testing::Environment* const kSeedPrinter =
    ::testing::AddGlobalTestEnvironment(new SeedPrinter);

// Builds the layout the generators promise is valid; a failure is a generator bug.
ParallelLayout MakeLayout(const LayoutConfig& config, const ModelSpec& model) {
  StatusOr<ParallelLayout> layout = ParallelLayout::Make(config, model);
  RC_ASSERT(layout.ok());
  return std::move(layout).value();
}

void Classify(const ModelSpec& model, const LayoutConfig& config) {
  RC_CLASSIFY(true, std::string(ModelFamily(model)), config.tp > 1 ? "tp>1" : "tp=1",
              config.pp > 1 ? "pp>1" : "pp=1");
}

// ---- generators ----------------------------------------------------------------------------

RC_GTEST_PROP(GeneratorProperty, ModelNameRebuildsTheModelAndLayoutsAreAccepted, ()) {
  const ModelSpec model = *GenModel();
  const LayoutConfig config = *GenLayout(model);
  Classify(model, config);
  RC_LOG() << Describe(model) << "\n" << Describe(config) << "\n";
  RC_ASSERT(core::ValidateModelSpec(model).ok());
  const StatusOr<ModelSpec> rebuilt = core::MakeModel(model.name);
  RC_ASSERT(rebuilt.ok());
  RC_ASSERT(rebuilt->params.size() == model.params.size());
  for (size_t i = 0; i < model.params.size(); ++i) {
    RC_ASSERT(rebuilt->params[i].name == model.params[i].name);
    RC_ASSERT(rebuilt->params[i].shape == model.params[i].shape);
  }
  RC_ASSERT(ParallelLayout::Make(config, model).ok());
}

// ---- (a) coverage --------------------------------------------------------------------------

RC_GTEST_PROP(ParallelLayoutProperty, EveryElementIsOwnedExactlyOncePerReplica, ()) {
  const ModelSpec model = *GenModel();
  const LayoutConfig config = *GenLayout(model);
  const ParallelLayout layout = MakeLayout(config, model);
  Classify(model, config);
  RC_LOG() << Describe(model) << "\n" << Describe(config) << "\n";

  // A replica of a dense parameter is a dp coordinate (cp is 1 under GenLayout); of an expert
  // parameter, an expert_dp coordinate: ep ranks split the experts, dp / ep copies of the set.
  const int expert_replicas = config.dp * config.cp / config.ep;
  // Per (replica, param, tp_rank) for whole tensors, per (replica, param, -1) for split ones:
  // how often each element is owned (home placements only; tied copies are checked apart).
  std::map<std::tuple<int, int, int>, std::vector<int>> owned;
  for (int rank = 0; rank < layout.world_size(); ++rank) {
    const core::ParallelCoords coords = layout.RankCoords(rank);
    for (const OwnedShard& s : layout.OwnedBy(rank)) {
      if (s.tied_from >= 0) continue;
      const ParamSpec& p = model.params[s.param];
      const int replica = p.expert >= 0 ? coords.expert_dp : coords.dp;
      std::vector<int>& count = owned[{replica, s.param, s.shard.whole() ? coords.tp : -1}];
      count.resize(p.Numel());
      // Row-major walk over the shard's per-dimension ranges.
      const std::vector<core::IndexRange> ranges = s.shard.Ranges(p.shape);
      bool empty = false;
      for (const core::IndexRange& r : ranges) empty = empty || r.empty();
      if (empty) continue;
      std::vector<int64_t> index(ranges.size());
      for (size_t d = 0; d < ranges.size(); ++d) index[d] = ranges[d].begin;
      while (true) {
        int64_t flat = 0;
        for (size_t d = 0; d < ranges.size(); ++d) flat = flat * p.shape[d] + index[d];
        ++count[flat];
        size_t d = ranges.size();
        while (d > 0 && ++index[d - 1] == ranges[d - 1].end) {
          index[d - 1] = ranges[d - 1].begin;
          --d;
        }
        if (d == 0) break;
      }
    }
  }
  for (size_t i = 0; i < model.params.size(); ++i) {
    const ParamSpec& p = model.params[i];
    if (!p.tied_to.empty()) continue;  // stored as its target
    const bool whole = p.tp_split == core::TpSplit::kReplicated;
    const int replicas = p.expert >= 0 ? expert_replicas : config.dp;
    for (int r = 0; r < replicas; ++r) {
      for (int t = whole ? 0 : -1; t < (whole ? config.tp : 0); ++t) {
        const auto it = owned.find({r, static_cast<int>(i), t});
        if (it == owned.end()) {
          RC_FAIL("param '" + p.name + "' has no owner in " +
                  (p.expert >= 0 ? "expert replica " : "dp replica ") + std::to_string(r) +
                  (t >= 0 ? " at tp_rank " + std::to_string(t) : ""));
        }
        for (int64_t e = 0; e < p.Numel(); ++e) {
          if (it->second[e] != 1) {
            RC_FAIL("param '" + p.name + "' element " + std::to_string(e) + " owned " +
                    std::to_string(it->second[e]) + " times in " +
                    (p.expert >= 0 ? "expert replica " : "dp replica ") + std::to_string(r) +
                    (t >= 0 ? " by tp_rank " + std::to_string(t) : ""));
          }
        }
      }
    }
  }
}

// ---- (b) parity ------------------------------------------------------------------------------

// The bytes of elements [begin, end) of `p`'s counter fill under `seed`.
std::vector<uint8_t> Fill1D(const ParamSpec& p, uint64_t seed, uint64_t begin, uint64_t end) {
  const StatusOr<kernels::Transform> t = kernels::Resolve(p.init);
  RC_ASSERT(t.ok());
  const kernels::ParamStream stream{kernels::DeriveParamKey(seed, p.name), 0};
  std::vector<uint8_t> out((end - begin) * core::DTypeSize(p.dtype));
  kernels::FillRange(stream, *t, p.dtype, begin, end, out.data());
  return out;
}

// The shard filled on its own (FillBlock2D of its block, FillRange for a 1-D tensor) and the
// same elements gathered from the full fill; equal under the counter scheme.
// `index_skew` shifts the shard-to-full index mapping (0 in the real property; nonzero only
// to show the property can fail).
std::optional<std::string> CheckShardParity(const ParamSpec& p, const core::TpShard& shard,
                                            uint64_t seed, const std::vector<uint8_t>& full,
                                            int64_t index_skew = 0) {
  const uint64_t es = core::DTypeSize(p.dtype);
  std::vector<uint8_t> mine;
  std::vector<uint64_t> index;  // flat index in the full tensor of each element of `mine`
  if (p.shape.size() <= 1) {
    const core::IndexRange r = shard.whole() ? core::IndexRange{0, p.Numel()} : shard.range;
    mine = Fill1D(p, seed, r.begin, r.end);
    for (int64_t e = r.begin; e < r.end; ++e) index.push_back(e + index_skew);
  } else {
    const std::optional<core::Block2D> block = shard.AsBlock2D(p.shape);
    RC_ASSERT(block.has_value());
    const StatusOr<kernels::Transform> t = kernels::Resolve(p.init);
    RC_ASSERT(t.ok());
    const kernels::ParamStream stream{kernels::DeriveParamKey(seed, p.name), 0};
    mine.resize((block->row_end - block->row_begin) * (block->col_end - block->col_begin) * es);
    kernels::FillBlock2D(stream, *t, p.dtype, *block, mine.data());
    for (uint64_t r = block->row_begin; r < block->row_end; ++r) {
      for (uint64_t c = block->col_begin; c < block->col_end; ++c) {
        index.push_back(r * block->cols + c + index_skew);
      }
    }
  }
  for (size_t k = 0; k < index.size(); ++k) {
    if (index[k] >= full.size() / es || std::memcmp(&mine[k * es], &full[index[k] * es], es) != 0) {
      return "param '" + p.name + "' shard element " + std::to_string(k) +
             " differs from full element " + std::to_string(index[k]);
    }
  }
  return std::nullopt;
}

RC_GTEST_PROP(CounterFillProperty, TpShardsReassembleTheSingleDeviceInit, ()) {
  const ModelSpec model = *GenModel();
  const LayoutConfig config = *GenLayout(model);
  const uint64_t seed = *GenSeed();
  const ParallelLayout layout = MakeLayout(config, model);
  Classify(model, config);
  RC_LOG() << Describe(model) << "\n" << Describe(config) << " seed=" << seed << "\n";

  std::map<int, std::vector<uint8_t>> full;  // single-device fill per param, on demand
  for (int rank = 0; rank < layout.world_size(); ++rank) {
    for (const OwnedShard& s : layout.OwnedBy(rank)) {
      const ParamSpec& p = model.params[s.param];
      auto it = full.find(s.param);
      if (it == full.end()) {
        it = full.emplace(s.param, Fill1D(p, seed, 0, p.Numel())).first;
      }
      const std::optional<std::string> diff = CheckShardParity(p, s.shard, seed, it->second);
      if (diff) RC_FAIL("rank " + std::to_string(rank) + ": " + *diff);
    }
  }
}

// ---- (c) a broken policy: Megatron-style additive keys -------------------------------------

// TP rank r of a run with root seed s fills its shard of a split parameter from its own stream
// keyed DeriveParamKey(s + r, name), as Megatron's model-parallel seed = seed + tp_rank
// (without the 2718 offset). Returns the first `n` values of that shard-local stream.
std::vector<uint8_t> AdditiveShardStream(const ParamSpec& p, uint64_t seed, int tp_rank,
                                         uint64_t n) {
  return Fill1D(p, seed + static_cast<uint64_t>(tp_rank), 0, n);
}

// The counter scheme's shard stream: the shard's own elements of the full-tensor stream.
std::vector<uint8_t> CounterShardStream(const ParamSpec& p, const ParallelLayout& layout, int param,
                                        uint64_t seed, int tp_rank, uint64_t n) {
  const core::TpShard shard = layout.ShardOf(param, tp_rank);
  const std::optional<core::Block2D> block = shard.AsBlock2D(p.shape);
  RC_ASSERT(block.has_value());
  const uint64_t first = block->row_begin * block->cols + block->col_begin;
  return Fill1D(p, seed, first, first + n);
}

// The first column-split parameter of `model`, or -1.
int FirstColumnSplit(const ModelSpec& model) {
  for (size_t i = 0; i < model.params.size(); ++i) {
    if (model.params[i].tp_split == core::TpSplit::kColumn) return static_cast<int>(i);
  }
  return -1;
}

// Distinct: two runs whose root seeds differ (by a small delta, as seed sweeps do) share no TP
// shard stream. `additive` picks the broken policy; otherwise the counter scheme.
void RunsWithNearbySeedsShareNoShardStream(bool additive, std::string* last_failure) {
  const ModelSpec model = *GenModel();
  const LayoutConfig config = *GenLayout(model);
  const uint64_t seed = *GenSeed();
  const uint64_t delta = *rc::gen::inRange<uint64_t>(1, 9);
  const ParallelLayout layout = MakeLayout(config, model);
  Classify(model, config);
  const int param = FirstColumnSplit(model);
  RC_ASSERT(param >= 0);  // every generated family has a column-parallel Linear
  const ParamSpec& p = model.params[param];
  constexpr uint64_t kCompared = 8;  // values per stream; 2^-256 chance of a true collision
  for (int a = 0; a < config.tp; ++a) {
    for (int b = 0; b < config.tp; ++b) {
      const std::vector<uint8_t> x = additive
                                         ? AdditiveShardStream(p, seed, a, kCompared)
                                         : CounterShardStream(p, layout, param, seed, a, kCompared);
      const std::vector<uint8_t> y =
          additive ? AdditiveShardStream(p, seed + delta, b, kCompared)
                   : CounterShardStream(p, layout, param, seed + delta, b, kCompared);
      if (x == y) {
        const std::string why =
            Describe(model) + "; " + Describe(config) + "; param '" + p.name +
            "': run seed=" + std::to_string(seed) + " tp_rank " + std::to_string(a) +
            " and run seed=" + std::to_string(seed + delta) + " tp_rank " + std::to_string(b) +
            " drew the same stream (key seed " + std::to_string(seed + a) + ")";
        if (last_failure != nullptr) *last_failure = why;
        RC_FAIL(why);
      }
    }
  }
}

RC_GTEST_PROP(CounterSeedProperty, RunsWithNearbySeedsShareNoShardStream, ()) {
  RunsWithNearbySeedsShareNoShardStream(/*additive=*/false, nullptr);
}

// The additive policy must be refuted: RapidCheck finds a counterexample and shrinks it. The
// last failing case RapidCheck evaluates is the shrunk one.
TEST(MegatronAdditiveKeyProperty, RapidCheckRefutesSeedPlusTpRankKeys) {
  std::string shrunk;
  const bool holds = rc::check("additive key: runs with nearby seeds share no shard stream",
                               [&shrunk] { RunsWithNearbySeedsShareNoShardStream(true, &shrunk); });
  EXPECT_FALSE(holds) << "RapidCheck did not refute the additive seed + tp_rank policy";
  std::printf("shrunk counterexample: %s\n", shrunk.c_str());
  // Usually shrinks to a one-layer model at tp=2 with seeds one apart; how far shrinking gets
  // depends on RapidCheck's random seed, so only the verdict and its reason are asserted.
  EXPECT_NE(shrunk.find("drew the same stream"), std::string::npos) << shrunk;
}

// Pinned counterexample found by the property above (its shrunk form).
TEST(MegatronAdditiveKeyProperty, Tp2SeedsOneApartShareAStream) {
  const StatusOr<ModelSpec> model =
      core::MakeModel("linear-stack:layers=1,width=1,out_features=3,bias=1");
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  const ParamSpec& p = model->params[FirstColumnSplit(*model)];
  EXPECT_EQ(AdditiveShardStream(p, 0, 1, 8), AdditiveShardStream(p, 1, 0, 8));
}

}  // namespace
}  // namespace twinsim::properties
