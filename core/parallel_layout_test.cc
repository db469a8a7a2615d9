// Tests of ParallelLayout: Megatron's rank order and groups (checked against an independent
// re-derivation of its masked orthogonal rank groups), the pipeline partition, tied embeddings,
// TP shards and vocab padding, validation messages, and the coverage invariant — every element of
// every parameter exactly once per DP replica — over thousands of layouts.
#include "core/parallel_layout.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <ostream>
#include <string>
#include <tuple>
#include <vector>

namespace twinsim::core {

// Readable failure output (found by argument-dependent lookup).
void PrintTo(const IndexRange& r, std::ostream* os) {
  *os << "[" << r.begin << ", " << r.end << ")";
}
void PrintTo(const Block2D& b, std::ostream* os) {
  *os << "Block2D{" << b.rows << "x" << b.cols << " rows [" << b.row_begin << ", " << b.row_end
      << ") cols [" << b.col_begin << ", " << b.col_end << ")}";
}
void PrintTo(const Placement& p, std::ostream* os) {
  *os << "Placement{param " << p.param << ", stage " << p.stage << ", tied_from " << p.tied_from
      << "}";
}

namespace {

// ---------------------------------------------------------------------------------------------
// Hand-built models (the presets live elsewhere; these keep the test self-contained).

ParamSpec P(std::string name, std::vector<int64_t> shape, TpSplit split, int tp_dim, ParamRole role,
            int layer = -1, int expert = -1, std::string tied_to = "") {
  ParamSpec p;
  p.name = std::move(name);
  p.shape = std::move(shape);
  p.tp_split = split;
  p.tp_dim = tp_dim;
  p.role = role;
  p.layer = layer;
  p.expert = expert;
  p.tied_to = std::move(tied_to);
  return p;
}

constexpr TpSplit kRep = TpSplit::kReplicated;
constexpr TpSplit kCol = TpSplit::kColumn;
constexpr TpSplit kRow = TpSplit::kRow;
constexpr TpSplit kVoc = TpSplit::kVocab;
constexpr ParamRole kEmb = ParamRole::kEmbedding;
constexpr ParamRole kLay = ParamRole::kLayer;
constexpr ParamRole kNorm = ParamRole::kFinalNorm;
constexpr ParamRole kHead = ParamRole::kHead;

// A Megatron-style transformer: Linear weights [out, in], column-parallel splits dim 0,
// row-parallel dim 1; untied vocab-parallel head unless `tied`.
ModelSpec TinyTransformer(int layers, bool tied = false, int64_t h = 8, int64_t vocab = 13,
                          int64_t ffn = 20) {
  ModelSpec m;
  m.name = "tiny-transformer";
  m.num_layers = layers;
  m.params.push_back(P("embed.word", {vocab, h}, kVoc, 0, kEmb));
  m.params.push_back(P("embed.pos", {16, h}, kRep, -1, kEmb));
  for (int l = 0; l < layers; ++l) {
    const std::string b = "layers." + std::to_string(l) + ".";
    m.params.push_back(P(b + "ln1.weight", {h}, kRep, -1, kLay, l));
    m.params.push_back(P(b + "attn.qkv.weight", {3 * h, h}, kCol, 0, kLay, l));
    m.params.push_back(P(b + "attn.qkv.bias", {3 * h}, kCol, 0, kLay, l));
    m.params.push_back(P(b + "attn.proj.weight", {h, h}, kRow, 1, kLay, l));
    m.params.push_back(P(b + "attn.proj.bias", {h}, kRep, -1, kLay, l));
    m.params.push_back(P(b + "ln2.weight", {h}, kRep, -1, kLay, l));
    m.params.push_back(P(b + "mlp.fc1.weight", {ffn, h}, kCol, 0, kLay, l));
    m.params.push_back(P(b + "mlp.fc2.weight", {h, ffn}, kRow, 1, kLay, l));
  }
  m.params.push_back(P("final_norm.weight", {h}, kRep, -1, kNorm));
  if (tied) {
    m.params.push_back(P("head.weight", {vocab, h}, kVoc, 0, kHead, -1, -1, "embed.word"));
  } else {
    m.params.push_back(P("head.weight", {vocab, h}, kVoc, 0, kHead));
  }
  return m;
}

// Hugging Face GPT-2 with Conv1D weights stored [in, out]: column-parallel splits dim 1,
// row-parallel dim 0; lm_head tied to wte.
ModelSpec Conv1DGpt2(int layers, int64_t h = 12, int64_t vocab = 50, int64_t positions = 10) {
  ModelSpec m;
  m.name = "gpt2-conv1d";
  m.num_layers = layers;
  m.params.push_back(P("transformer.wte.weight", {vocab, h}, kVoc, 0, kEmb));
  m.params.push_back(P("transformer.wpe.weight", {positions, h}, kRep, -1, kEmb));
  for (int l = 0; l < layers; ++l) {
    const std::string b = "transformer.h." + std::to_string(l) + ".";
    m.params.push_back(P(b + "ln_1.weight", {h}, kRep, -1, kLay, l));
    m.params.push_back(P(b + "ln_1.bias", {h}, kRep, -1, kLay, l));
    m.params.push_back(P(b + "attn.c_attn.weight", {h, 3 * h}, kCol, 1, kLay, l));
    m.params.push_back(P(b + "attn.c_attn.bias", {3 * h}, kCol, 0, kLay, l));
    m.params.push_back(P(b + "attn.c_proj.weight", {h, h}, kRow, 0, kLay, l));
    m.params.push_back(P(b + "attn.c_proj.bias", {h}, kRep, -1, kLay, l));
    m.params.push_back(P(b + "ln_2.weight", {h}, kRep, -1, kLay, l));
    m.params.push_back(P(b + "ln_2.bias", {h}, kRep, -1, kLay, l));
    m.params.push_back(P(b + "mlp.c_fc.weight", {h, 4 * h}, kCol, 1, kLay, l));
    m.params.push_back(P(b + "mlp.c_fc.bias", {4 * h}, kCol, 0, kLay, l));
    m.params.push_back(P(b + "mlp.c_proj.weight", {4 * h, h}, kRow, 0, kLay, l));
    m.params.push_back(P(b + "mlp.c_proj.bias", {h}, kRep, -1, kLay, l));
  }
  m.params.push_back(P("transformer.ln_f.weight", {h}, kRep, -1, kNorm));
  m.params.push_back(P("transformer.ln_f.bias", {h}, kRep, -1, kNorm));
  m.params.push_back(
      P("lm_head.weight", {vocab, h}, kVoc, 0, kHead, -1, -1, "transformer.wte.weight"));
  return m;
}

// Odd shapes, N-D splits, scalars and MoE experts. A split whose dimension is smaller than
// `tp` becomes replicated, so the model is valid for that tp (empty shards are rejected).
ModelSpec OddModel(int layers, int tp, int experts = 4) {
  ModelSpec m;
  m.name = "odd";
  m.num_layers = layers;
  auto add = [&](std::string name, std::vector<int64_t> shape, TpSplit split, int dim,
                 ParamRole role, int layer = -1, int expert = -1, std::string tied = "") {
    if (split != kRep && split != kVoc && shape[dim] < tp) {
      split = kRep;
      dim = -1;
    }
    m.params.push_back(
        P(std::move(name), std::move(shape), split, dim, role, layer, expert, std::move(tied)));
  };
  add("emb", {10, 3}, kVoc, 0, kEmb);
  add("scalar_emb", {}, kRep, -1, kEmb);
  for (int l = 0; l < layers; ++l) {
    const std::string b = "l" + std::to_string(l) + ".";
    add(b + "w7x5", {7, 5}, kCol, 0, kLay, l);
    add(b + "w5x7", {5, 7}, kRow, 1, kLay, l);
    add(b + "w1xN", {1, 11}, kRow, 1, kLay, l);
    add(b + "bN", {11}, kCol, 0, kLay, l);
    add(b + "w3d_mid", {3, 9, 2}, kCol, 1, kLay, l);
    add(b + "w3d_last", {2, 3, 7}, kRow, 2, kLay, l);  // not one Block2D rectangle
    add(b + "w3d_unit", {2, 1, 9}, kRow, 2, kLay, l);  // one rectangle: dim 1 is 1
    add(b + "one", {1, 1}, kRep, -1, kLay, l);
    for (int e = 0; e < experts; ++e) {
      add(b + "experts." + std::to_string(e) + ".w", {6, 4}, kCol, 0, kLay, l, e);
    }
  }
  add("norm", {3}, kRep, -1, kNorm);
  add("head", {10, 3}, kVoc, 0, kHead, -1, -1, "emb");
  return m;
}

// Llama-3-405B-shaped: 126 blocks, hidden 16384, GQA (8 KV heads of 128), SwiGLU 53248,
// vocab 128256, untied head.
ModelSpec Llama405Like() {
  const int64_t h = 16384, kv = 8 * 128, ffn = 53248, vocab = 128256;
  ModelSpec m;
  m.name = "llama3-405b-like";
  m.num_layers = 126;
  m.params.push_back(P("tok_embeddings.weight", {vocab, h}, kVoc, 0, kEmb));
  for (int l = 0; l < m.num_layers; ++l) {
    const std::string b = "layers." + std::to_string(l) + ".";
    m.params.push_back(P(b + "attention.wq.weight", {h, h}, kCol, 0, kLay, l));
    m.params.push_back(P(b + "attention.wk.weight", {kv, h}, kCol, 0, kLay, l));
    m.params.push_back(P(b + "attention.wv.weight", {kv, h}, kCol, 0, kLay, l));
    m.params.push_back(P(b + "attention.wo.weight", {h, h}, kRow, 1, kLay, l));
    m.params.push_back(P(b + "feed_forward.w1.weight", {ffn, h}, kCol, 0, kLay, l));
    m.params.push_back(P(b + "feed_forward.w3.weight", {ffn, h}, kCol, 0, kLay, l));
    m.params.push_back(P(b + "feed_forward.w2.weight", {h, ffn}, kRow, 1, kLay, l));
    m.params.push_back(P(b + "attention_norm.weight", {h}, kRep, -1, kLay, l));
    m.params.push_back(P(b + "ffn_norm.weight", {h}, kRep, -1, kLay, l));
  }
  m.params.push_back(P("norm.weight", {h}, kRep, -1, kNorm));
  m.params.push_back(P("output.weight", {vocab, h}, kVoc, 0, kHead));
  return m;
}

LayoutConfig Cfg(int dp, int pp, int tp, int ep = 1, int vpp = 1,
                 PipelinePartition partition = PipelinePartition::kByLayers) {
  LayoutConfig c;
  c.dp = dp;
  c.pp = pp;
  c.tp = tp;
  c.ep = ep;
  c.vpp = vpp;
  c.partition = partition;
  return c;
}

ParallelLayout MustMake(const LayoutConfig& c, const ModelSpec& m) {
  StatusOr<ParallelLayout> l = ParallelLayout::Make(c, m);
  EXPECT_TRUE(l.ok()) << l.status().ToString();
  return std::move(l).value();
}

// ---------------------------------------------------------------------------------------------
// Rank order and groups.

// An independent re-derivation of Megatron's generate_masked_orthogonal_rank_groups
// (megatron/core/parallel_state.py): `sizes` in order fastest-first, `mask` picks the dimensions
// that vary inside a group; groups are enumerated by the unmasked coordinates, fastest first.
std::vector<std::vector<int>> MegatronGroups(const std::vector<int>& sizes,
                                             const std::vector<bool>& mask) {
  std::vector<int> stride(sizes.size());
  int world = 1;
  for (size_t i = 0; i < sizes.size(); ++i) {
    stride[i] = world;
    world *= sizes[i];
  }
  std::vector<size_t> in, out;
  for (size_t i = 0; i < sizes.size(); ++i) (mask[i] ? in : out).push_back(i);
  auto decompose = [&](int index, const std::vector<size_t>& dims) {
    int acc = 0;
    for (size_t d : dims) {
      acc += (index % sizes[d]) * stride[d];
      index /= sizes[d];
    }
    return acc;
  };
  int group_size = 1;
  for (size_t d : in) group_size *= sizes[d];
  std::vector<std::vector<int>> groups;
  for (int g = 0; g < world / group_size; ++g) {
    std::vector<int> members;
    for (int r = 0; r < group_size; ++r) members.push_back(decompose(r, in) + decompose(g, out));
    groups.push_back(members);
  }
  return groups;
}

// Every rank's group, via `member`, equals the Megatron group that contains it.
void ExpectGroupsMatch(const ParallelLayout& layout, const std::vector<std::vector<int>>& megatron,
                       std::vector<int> (ParallelLayout::*member)(int) const, const char* what) {
  std::map<int, std::vector<int>> of_rank;
  for (const auto& g : megatron) {
    std::vector<int> sorted = g;
    std::sort(sorted.begin(), sorted.end());
    for (int r : g) of_rank[r] = sorted;
  }
  ASSERT_EQ(static_cast<int>(of_rank.size()), layout.world_size()) << what;
  for (int r = 0; r < layout.world_size(); ++r) {
    EXPECT_EQ((layout.*member)(r), of_rank[r]) << what << " group of rank " << r;
  }
}

TEST(ParallelLayoutRanks, MatchesMegatronDocstringExampleTp2Pp4On16Ranks) {
  // initialize_model_parallel's docstring: 16 GPUs, tp = 2, pp = 4 (so dp = 2).
  const ParallelLayout l = MustMake(Cfg(2, 4, 2), TinyTransformer(4));
  ASSERT_EQ(l.world_size(), 16);
  EXPECT_EQ(l.TpGroup(0), (std::vector<int>{0, 1}));
  EXPECT_EQ(l.TpGroup(7), (std::vector<int>{6, 7}));
  EXPECT_EQ(l.DpGroup(0), (std::vector<int>{0, 2}));
  EXPECT_EQ(l.DpGroup(5), (std::vector<int>{5, 7}));
  EXPECT_EQ(l.DpGroup(13), (std::vector<int>{13, 15}));
  EXPECT_EQ(l.PpGroup(0), (std::vector<int>{0, 4, 8, 12}));
  EXPECT_EQ(l.PpGroup(3), (std::vector<int>{3, 7, 11, 15}));
  EXPECT_EQ(l.EmbeddingGroup(6), (std::vector<int>{2, 14}));
  EXPECT_EQ(l.RankCoords(13),
            (ParallelCoords{.dp = 0, .pp = 3, .tp = 1, .ep = 0, .expert_dp = 0, .etp = 1}));
}

TEST(ParallelLayoutRanks, RankCoordsAndRankOfAreInverseAndTpIsFastest) {
  for (int dp : {1, 2, 3, 4}) {
    for (int pp : {1, 2, 3}) {
      for (int tp : {1, 2, 5}) {
        for (int ep : {1, 2}) {
          if (dp % ep != 0) continue;
          const ParallelLayout l = MustMake(Cfg(dp, pp, tp, ep), TinyTransformer(3));
          for (int r = 0; r < l.world_size(); ++r) {
            const ParallelCoords c = l.RankCoords(r);
            EXPECT_EQ(r, c.pp * dp * tp + c.dp * tp + c.tp);
            EXPECT_EQ(c.dp, c.expert_dp * ep + c.ep);
            EXPECT_EQ(l.RankOf(c), r);
          }
          EXPECT_EQ(l.RankOf({.dp = dp}), -1);
          EXPECT_EQ(l.RankOf({.tp = -1}), -1);
        }
      }
    }
  }
}

TEST(ParallelLayoutRanks, GroupsEqualMegatronRankGeneratorForDenseAndExpertOrders) {
  for (int dp : {1, 2, 4, 6}) {
    for (int pp : {1, 3}) {
      for (int tp : {1, 2, 4}) {
        for (int ep : {1, 2, 3}) {
          if (dp % ep != 0) continue;
          const ParallelLayout l = MustMake(Cfg(dp, pp, tp, ep), TinyTransformer(3));
          // Dense generator, order tp-dp-pp (cp = ep = 1).
          const std::vector<int> dense = {tp, dp, pp};
          ExpectGroupsMatch(l, MegatronGroups(dense, {true, false, false}),
                            &ParallelLayout::TpGroup, "tp");
          ExpectGroupsMatch(l, MegatronGroups(dense, {false, true, false}),
                            &ParallelLayout::DpGroup, "dp");
          ExpectGroupsMatch(l, MegatronGroups(dense, {false, false, true}),
                            &ParallelLayout::PpGroup, "pp");
          // Expert generator, order tp-ep-dp-pp with expert dp = dp / ep.
          const std::vector<int> expert = {tp, ep, dp / ep, pp};
          ExpectGroupsMatch(l, MegatronGroups(expert, {false, true, false, false}),
                            &ParallelLayout::EpGroup, "ep");
          ExpectGroupsMatch(l, MegatronGroups(expert, {false, false, true, false}),
                            &ParallelLayout::ExpertDpGroup, "expert dp");
        }
      }
    }
  }
}

// --expert-tensor-parallel-size: Megatron's expert generator is order tp-ep-dp-pp with
// tp = etp and dp = tp * cp * dp / (etp * ep) over the same ranks (parallel_state.py
// initialize_model_parallel, expert_decoder_rank_generator @d98e8a64). EP and expert-DP groups
// equal its groups; expert parameters split over etp ranks, each element once per expert
// replica; the etp = 0 default is etp = tp.
TEST(ParallelLayoutRanks, ExpertTensorParallelismFollowsMegatronsExpertGenerator) {
  int checked = 0;
  for (int tp : {1, 2, 4}) {
    for (int cp : {1, 2}) {
      for (int dp : {1, 2, 4}) {
        for (int ep : {1, 2, 4}) {
          for (int etp : {1, 2, 4}) {
            const int stage = tp * cp * dp;
            if (stage % (ep * etp) != 0 || 8 % ep != 0) continue;
            if (etp == tp && (dp * cp) % ep != 0) continue;
            LayoutConfig cfg = Cfg(dp, 2, tp, ep);
            cfg.cp = cp;
            cfg.etp = etp;
            const ModelSpec model = OddModel(2, std::max(tp, etp), 8);
            StatusOr<ParallelLayout> made = ParallelLayout::Make(cfg, model);
            ASSERT_TRUE(made.ok()) << made.status().message();
            const ParallelLayout& l = *made;
            EXPECT_EQ(l.expert_tp(), etp);
            const std::vector<int> expert = {etp, ep, stage / (etp * ep), 2};
            ExpectGroupsMatch(l, MegatronGroups(expert, {false, true, false, false}),
                              &ParallelLayout::EpGroup, "ep");
            ExpectGroupsMatch(l, MegatronGroups(expert, {false, false, true, false}),
                              &ParallelLayout::ExpertDpGroup, "expert dp");
            // Every element of every expert parameter once per expert replica, in etp pieces.
            std::map<std::tuple<int, int>, std::vector<int>> count;  // (expert_dp, param)
            for (int r = 0; r < l.world_size(); ++r) {
              const ParallelCoords c = l.RankCoords(r);
              EXPECT_EQ(r % stage, (c.expert_dp * ep + c.ep) * etp + c.etp) << "rank " << r;
              for (const OwnedShard& o : l.OwnedBy(r)) {
                const ParamSpec& p = model.params[o.param];
                if (p.expert < 0) continue;
                EXPECT_EQ(l.ExpertOwner(o.param), c.ep);
                std::vector<int>& n = count[{c.expert_dp, o.param}];
                n.resize(p.Numel());
                const std::optional<Block2D> b = o.shard.AsBlock2D(p.shape);
                ASSERT_TRUE(b.has_value());
                for (uint64_t row = b->row_begin; row < b->row_end; ++row) {
                  for (uint64_t col = b->col_begin; col < b->col_end; ++col) {
                    ++n[row * b->cols + col];
                  }
                }
              }
            }
            int expert_params = 0;
            for (const ParamSpec& p : model.params) expert_params += p.expert >= 0;
            ASSERT_EQ(static_cast<int>(count.size()), expert_params * stage / (etp * ep));
            for (const auto& [key, n] : count) {
              for (size_t e = 0; e < n.size(); ++e) {
                ASSERT_EQ(n[e], 1) << "expert param " << std::get<1>(key) << " element " << e
                                   << " in expert replica " << std::get<0>(key);
              }
            }
            ++checked;
          }
        }
      }
    }
  }
  EXPECT_GT(checked, 30);
  // etp = 0 is tp.
  LayoutConfig cfg = Cfg(2, 1, 2, 2);
  EXPECT_EQ(MustMake(cfg, OddModel(2, 2, 8)).expert_tp(), 2);
}

// With context parallelism and sharded data parallelism: the dense generator's order is
// tp-cp-dp-pp (Megatron's default "tp-cp-ep-dp-pp"), dp splits into dp_shard (fastest) and
// dp_replicate as torchtitan's ("pp", "dp_replicate", "dp_shard", "cp", "tp") mesh, and the
// expert generator's data dimension is dp * cp / ep. The shard group is dp_shard under
// Megatron and dp_shard x cp (torchtitan's "fsdp" mesh) under torchtitan.
TEST(ParallelLayoutRanks, GroupsWithContextAndShardedDataParallelism) {
  int checked = 0;
  for (int cp : {1, 2, 3}) {
    for (const auto& [dp, dp_shard] : std::vector<std::pair<int, int>>{{1, 1}, {2, 2}, {4, 2}, {6, 3}}) {
      for (int pp : {1, 2}) {
        for (int tp : {1, 2}) {
          for (int ep : {1, 2, 3}) {
            for (MeshConvention mesh : {MeshConvention::kMegatron, MeshConvention::kTorchtitan}) {
              if ((dp * cp) % ep != 0 || (ep > 1 && mesh == MeshConvention::kTorchtitan)) continue;
              LayoutConfig cfg = Cfg(dp, pp, tp, ep);
              cfg.cp = cp;
              cfg.dp_shard = dp_shard;
              cfg.mesh = mesh;
              const ParallelLayout l = MustMake(cfg, TinyTransformer(3));
              ASSERT_EQ(l.world_size(), dp * pp * tp * cp);
              const std::vector<int> dense = {tp, cp, dp, pp};
              ExpectGroupsMatch(l, MegatronGroups(dense, {true, false, false, false}),
                                &ParallelLayout::TpGroup, "tp");
              ExpectGroupsMatch(l, MegatronGroups(dense, {false, true, false, false}),
                                &ParallelLayout::CpGroup, "cp");
              ExpectGroupsMatch(l, MegatronGroups(dense, {false, false, true, false}),
                                &ParallelLayout::DpGroup, "dp");
              ExpectGroupsMatch(l, MegatronGroups(dense, {false, false, false, true}),
                                &ParallelLayout::PpGroup, "pp");
              const std::vector<int> expert = {tp, ep, dp * cp / ep, pp};
              ExpectGroupsMatch(l, MegatronGroups(expert, {false, true, false, false}),
                                &ParallelLayout::EpGroup, "ep");
              ExpectGroupsMatch(l, MegatronGroups(expert, {false, false, true, false}),
                                &ParallelLayout::ExpertDpGroup, "expert dp");
              const std::vector<int> fsdp = {tp, cp, dp_shard, dp / dp_shard, pp};
              const bool titan = mesh == MeshConvention::kTorchtitan;
              ExpectGroupsMatch(l, MegatronGroups(fsdp, {false, titan, true, false, false}),
                                &ParallelLayout::ShardGroup, "shard");
              ExpectGroupsMatch(l, MegatronGroups(fsdp, {false, false, false, true, false}),
                                &ParallelLayout::ReplicateGroup, "replicate");
              for (int r = 0; r < l.world_size(); ++r) {
                const ParallelCoords c = l.RankCoords(r);
                ASSERT_EQ(l.RankOf(c), r);
                ASSERT_EQ(c.dp, c.dp_replicate * dp_shard + c.dp_shard);
                const std::vector<int> g = l.ShardGroup(r);
                ASSERT_EQ(static_cast<int>(g.size()), l.shard_group_size());
                ASSERT_EQ(g[l.ShardIndex(c)], r);
              }
              ++checked;
              if (HasFatalFailure()) {
                FAIL() << "dp " << dp << " dp_shard " << dp_shard << " cp " << cp << " pp " << pp
                       << " tp " << tp << " ep " << ep << " mesh " << static_cast<int>(mesh);
              }
            }
          }
        }
      }
    }
  }
  EXPECT_GT(checked, 100);
}

// torch.chunk(n, dim=0): ceil-sized pieces, the last ones shorter or empty.
TEST(ParallelLayoutShards, ChunkRowsSplitsAsTorchChunk) {
  // torch.arange(10).chunk(4) -> sizes 3, 3, 3, 1; torch.arange(5).chunk(4) -> 2, 2, 1 (and an
  // empty fourth piece where FSDP2 pads); torch.arange(2).chunk(4) -> 1, 1.
  const std::vector<std::pair<int64_t, std::vector<int64_t>>> cases = {
      {10, {3, 3, 3, 1}}, {5, {2, 2, 1, 0}}, {2, {1, 1, 0, 0}}, {8, {2, 2, 2, 2}}, {0, {0, 0, 0, 0}}};
  for (const auto& [rows, sizes] : cases) {
    int64_t next = 0;
    for (int i = 0; i < 4; ++i) {
      const IndexRange r = ParallelLayout::ChunkRows(rows, 4, i);
      EXPECT_EQ(r.size(), sizes[i]) << rows << " rows, piece " << i;
      if (!r.empty()) {
        EXPECT_EQ(r.begin, next);
      }
      next = std::max(next, r.end);
    }
    EXPECT_EQ(next, rows);
  }
}

TEST(ParallelLayoutRanks, ExpertParallelismSplitsTheDpGroupAndOwnsContiguousExperts) {
  // tp = 2, dp = 4, ep = 2: EP groups are consecutive dp ranks; 4 experts, 2 per EP rank.
  const ParallelLayout l = MustMake(Cfg(4, 1, 2, 2), OddModel(2, 2, 4));
  EXPECT_EQ(l.num_experts(), 4);
  EXPECT_EQ(l.EpGroup(0), (std::vector<int>{0, 2}));
  EXPECT_EQ(l.EpGroup(5), (std::vector<int>{5, 7}));
  EXPECT_EQ(l.ExpertDpGroup(0), (std::vector<int>{0, 4}));
  EXPECT_EQ(l.ExpertDpGroup(3), (std::vector<int>{3, 7}));
  const ModelSpec& m = l.model();
  for (int i = 0; i < static_cast<int>(m.params.size()); ++i) {
    const int e = m.params[i].expert;
    EXPECT_EQ(l.ExpertOwner(i), e < 0 ? -1 : e / 2) << m.params[i].name;
  }
  for (int r = 0; r < l.world_size(); ++r) {
    for (const OwnedShard& s : l.OwnedBy(r)) {
      const int e = m.params[s.param].expert;
      if (e >= 0) {
        EXPECT_EQ(e / 2, l.RankCoords(r).ep) << "rank " << r << " expert " << e;
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Pipeline partition.

std::vector<int64_t> ChunkSizes(const ParallelLayout& l) {
  std::vector<int64_t> s;
  for (int c = 0; c < l.num_stages(); ++c) s.push_back(l.StageLayers(c).size());
  return s;
}

TEST(ParallelLayoutPipeline, InterleavedStagesMatchMegatronExamples) {
  // initialize_model_parallel's docstring: 16 layers, pp = 4, vpp = 2 ->
  // GPU 0: [1, 2] [9, 10] ... GPU 3: [7, 8] [15, 16] (1-based).
  const ParallelLayout l = MustMake(Cfg(1, 4, 1, 1, 2), TinyTransformer(16));
  ASSERT_EQ(l.num_stages(), 8);
  for (int p = 0; p < 4; ++p) {
    EXPECT_EQ(l.StageLayers(l.StageAt(p, 0)), (IndexRange{2 * p, 2 * p + 2}));
    EXPECT_EQ(l.StageLayers(l.StageAt(p, 1)), (IndexRange{8 + 2 * p, 8 + 2 * p + 2}));
  }
  // transformer_block.py: 8 layers, pp = 2, vpp = 4 -> stage 0: [0] [2] [4] [6].
  const ParallelLayout k = MustMake(Cfg(1, 2, 1, 1, 4), TinyTransformer(8));
  for (int v = 0; v < 4; ++v) {
    EXPECT_EQ(k.StageLayers(k.StageAt(0, v)), (IndexRange{2 * v, 2 * v + 1}));
    EXPECT_EQ(k.StageLayers(k.StageAt(1, v)), (IndexRange{2 * v + 1, 2 * v + 2}));
    EXPECT_EQ(k.PipelineRankOf(k.StageAt(1, v)), 1);
    EXPECT_EQ(k.VirtualStageOf(k.StageAt(1, v)), v);
  }
}

TEST(ParallelLayoutPipeline, UnevenByLayersGivesTheExtraBlocksToTheFirstChunks) {
  EXPECT_EQ(ChunkSizes(MustMake(Cfg(1, 4, 1), TinyTransformer(10))),
            (std::vector<int64_t>{3, 3, 2, 2}));
  EXPECT_EQ(ChunkSizes(MustMake(Cfg(1, 3, 1, 1, 2), TinyTransformer(7))),
            (std::vector<int64_t>{2, 1, 1, 1, 1, 1}));
  const ParallelLayout l = MustMake(Cfg(1, 3, 1, 1, 2), TinyTransformer(7));
  // Chunk 0 (2 blocks) is pipeline rank 0's first virtual stage; chunk 3 its second.
  EXPECT_EQ(l.StageLayers(l.StageAt(0, 1)), (IndexRange{4, 5}));
  EXPECT_EQ(l.StageOfLayer(6), 5);
}

TEST(ParallelLayoutPipeline, EmbeddingsOnTheFirstStageNormAndHeadOnTheLast) {
  const ParallelLayout l = MustMake(Cfg(1, 3, 1, 1, 2), TinyTransformer(6));
  const ModelSpec& m = l.model();
  for (int i = 0; i < static_cast<int>(m.params.size()); ++i) {
    const ParamSpec& p = m.params[i];
    const int expected = p.role == kEmb   ? 0
                         : p.role == kLay ? l.StageOfLayer(p.layer)
                                          : l.num_stages() - 1;
    EXPECT_EQ(l.StageOfParam(i), expected) << p.name;
  }
  // The last chunk (5) is pipeline rank 2's second virtual stage.
  EXPECT_EQ(l.PipelineRankOf(5), 2);
  EXPECT_EQ(l.VirtualStageOf(5), 1);
}

// Brute force: the smallest possible largest-chunk load over all contiguous splits.
int64_t BestBottleneck(const std::vector<int64_t>& w, int chunks, int64_t first, int64_t last) {
  const int n = static_cast<int>(w.size());
  int64_t best = std::numeric_limits<int64_t>::max();
  std::vector<int> cut(chunks + 1, 0);
  cut[chunks] = n;
  std::function<void(int)> rec = [&](int c) {
    if (c == chunks) {
      int64_t worst = 0;
      for (int k = 0; k < chunks; ++k) {
        int64_t load = 0;
        for (int i = cut[k]; i < cut[k + 1]; ++i) load += w[i];
        if (k == 0) load += first;
        if (k == chunks - 1) load += last;
        worst = std::max(worst, load);
      }
      best = std::min(best, worst);
      return;
    }
    for (int e = cut[c - 1] + 1; e <= n - (chunks - c); ++e) {
      cut[c] = e;
      rec(c + 1);
    }
  };
  rec(1);
  return best;
}

TEST(ParallelLayoutPipeline, ByParamsMinimizesTheLargestChunkExactly) {
  uint64_t state = 12345;
  auto next = [&](int64_t mod) {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return static_cast<int64_t>((state >> 33) % static_cast<uint64_t>(mod));
  };
  int cases = 0;
  for (int trial = 0; trial < 300; ++trial) {
    const int n = 1 + static_cast<int>(next(9));
    std::vector<int64_t> w(n);
    for (int64_t& x : w) x = 1 + next(trial % 3 == 0 ? 3 : 100);
    const int64_t first = next(150), last = next(150);
    ModelSpec m;
    m.name = "weights";
    m.num_layers = n;
    m.params.push_back(P("emb", {first}, kRep, -1, kEmb));
    for (int l = 0; l < n; ++l)
      m.params.push_back(P("w" + std::to_string(l), {w[l]}, kRep, -1, kLay, l));
    m.params.push_back(P("head", {last}, kRep, -1, kHead));
    for (int pp = 1; pp <= n; ++pp) {
      for (int vpp = 1; vpp <= 3 && pp * vpp <= n; ++vpp) {
        if (pp == 1 && vpp > 1) continue;
        const ParallelLayout l = MustMake(Cfg(1, pp, 1, 1, vpp, PipelinePartition::kByParams), m);
        int64_t worst = 0;
        for (int c = 0; c < l.num_stages(); ++c) {
          ASSERT_FALSE(l.StageLayers(c).empty());
          worst = std::max(worst, l.StageNumel(c));
        }
        ASSERT_EQ(worst, BestBottleneck(w, pp * vpp, first, last))
            << "trial " << trial << " pp " << pp << " vpp " << vpp;
        ++cases;
      }
    }
  }
  EXPECT_GT(cases, 1000);
}

TEST(ParallelLayoutPipeline, ByParamsGivesHeavyEmbeddingStagesFewerBlocks) {
  // GPT-2 small proportions: wte 50257 x 768 (tied head copy on the last stage) vs 12 blocks of
  // about 7.1M parameters each.
  ModelSpec m = Conv1DGpt2(12, 768, 50257, 1024);
  const ParallelLayout by_layers = MustMake(Cfg(1, 4, 1), m);
  const ParallelLayout by_params = MustMake(Cfg(1, 4, 1, 1, 1, PipelinePartition::kByParams), m);
  EXPECT_EQ(ChunkSizes(by_layers), (std::vector<int64_t>{3, 3, 3, 3}));
  const std::vector<int64_t> sizes = ChunkSizes(by_params);
  EXPECT_LT(sizes.front(), sizes[1]);
  EXPECT_LT(sizes.back(), sizes[2]);
  int64_t worst_layers = 0, worst_params = 0;
  for (int c = 0; c < 4; ++c) {
    worst_layers = std::max(worst_layers, by_layers.StageNumel(c));
    worst_params = std::max(worst_params, by_params.StageNumel(c));
  }
  EXPECT_LT(worst_params, worst_layers);
}

TEST(ParallelLayoutPipeline, ByParamsSplitsAUniformModelEvenly) {
  // No embeddings or head: every optimal split is fine, the chosen one stays within one block.
  ModelSpec m;
  m.name = "uniform";
  m.num_layers = 10;
  for (int l = 0; l < 10; ++l)
    m.params.push_back(P("w" + std::to_string(l), {5}, kRep, -1, kLay, l));
  const std::vector<int64_t> sizes =
      ChunkSizes(MustMake(Cfg(1, 4, 1, 1, 1, PipelinePartition::kByParams), m));
  EXPECT_EQ(*std::max_element(sizes.begin(), sizes.end()), 3);
  EXPECT_EQ(*std::min_element(sizes.begin(), sizes.end()), 2);
}

// ---------------------------------------------------------------------------------------------
// Tied embeddings.

TEST(ParallelLayoutTied, TiedHeadPutsACopyOfTheEmbeddingOnTheLastStage) {
  const ModelSpec m = Conv1DGpt2(6);
  const int wte = 0;
  const int head = static_cast<int>(m.params.size()) - 1;
  const ParallelLayout l = MustMake(Cfg(1, 3, 2), m);
  std::vector<Placement> of_wte;
  for (const Placement& pl : l.Placements()) {
    if (pl.param == wte) of_wte.push_back(pl);
    EXPECT_NE(pl.param, head) << "the tied head owns no storage";
  }
  ASSERT_EQ(of_wte.size(), 2u);
  EXPECT_EQ(of_wte[0], (Placement{wte, 0, -1}));
  EXPECT_EQ(of_wte[1], (Placement{wte, 2, head}));
  EXPECT_EQ(l.StageOfParam(head), 2);
  // The copy sits at lm_head's position: last in the last stage.
  EXPECT_EQ(l.StagePlacements(2).back(), (Placement{wte, 2, head}));
  // Ranks of the last pipeline stage store a vocab shard of the copy.
  int copies = 0;
  for (const OwnedShard& s : l.OwnedBy(l.RankOf({.pp = 2, .tp = 1}))) {
    if (s.tied_from == head) {
      ++copies;
      EXPECT_EQ(s.param, wte);
      EXPECT_EQ(s.shard.dim, 0);
    }
  }
  EXPECT_EQ(copies, 1);
}

TEST(ParallelLayoutTied, OneStageKeepsOneTensorAndUntiedHeadsAreTheirOwn) {
  const ModelSpec tied = Conv1DGpt2(2);
  const ParallelLayout one = MustMake(Cfg(2, 1, 2), tied);
  int wte = 0;
  for (const Placement& pl : one.Placements()) {
    wte += pl.param == 0;
    EXPECT_FALSE(pl.tied_copy());
  }
  EXPECT_EQ(wte, 1);
  EXPECT_EQ(one.Placements().size(), tied.params.size() - 1);

  const ModelSpec untied = TinyTransformer(4);
  const ParallelLayout l = MustMake(Cfg(1, 2, 1, 1, 2), untied);
  EXPECT_EQ(l.Placements().size(), untied.params.size());
  for (const Placement& pl : l.Placements()) EXPECT_FALSE(pl.tied_copy());
}

// ---------------------------------------------------------------------------------------------
// TP shards.

std::vector<IndexRange> RangesAlong(const ParallelLayout& l, int param) {
  std::vector<IndexRange> r;
  for (int t = 0; t < l.config().tp; ++t) r.push_back(l.ShardOf(param, t).range);
  return r;
}

int Index(const ModelSpec& m, const std::string& name) {
  for (int i = 0; i < static_cast<int>(m.params.size()); ++i) {
    if (m.params[i].name == name) return i;
  }
  ADD_FAILURE() << "no parameter " << name;
  return -1;
}

TEST(ParallelLayoutShards, UnevenSplitsGiveTheFirstRanksOneMore) {
  const ParallelLayout l3 = MustMake(Cfg(1, 1, 3), OddModel(1, 3));
  const ModelSpec& m = l3.model();
  EXPECT_EQ(RangesAlong(l3, Index(m, "l0.w7x5")),
            (std::vector<IndexRange>{{0, 3}, {3, 5}, {5, 7}}));
  const ParallelLayout l4 = MustMake(Cfg(1, 1, 4), OddModel(1, 4));
  EXPECT_EQ(RangesAlong(l4, Index(m, "l0.w1xN")),
            (std::vector<IndexRange>{{0, 3}, {3, 6}, {6, 9}, {9, 11}}));
}

TEST(ParallelLayoutShards, Block2DDescribesColumnAndRowShardsOfTheRowMajorView) {
  const ParallelLayout l = MustMake(Cfg(1, 1, 4), OddModel(1, 4));
  const ModelSpec& m = l.model();
  const int w7x5 = Index(m, "l0.w7x5");  // column-split dim 0: a row block
  EXPECT_EQ(l.ShardOf(w7x5, 1).AsBlock2D(m.params[w7x5].shape), (Block2D{7, 5, 2, 4, 0, 5}));
  const int w1xn = Index(m, "l0.w1xN");  // row-split dim 1: a column block
  EXPECT_EQ(l.ShardOf(w1xn, 3).AsBlock2D(m.params[w1xn].shape), (Block2D{1, 11, 0, 1, 9, 11}));
  const int bias = Index(m, "l0.bN");  // 1-D: [11, 1]
  EXPECT_EQ(l.ShardOf(bias, 0).AsBlock2D(m.params[bias].shape), (Block2D{11, 1, 0, 3, 0, 1}));
  const int mid = Index(m, "l0.w3d_mid");  // [3, 9, 2] split dim 1 -> columns of [3, 18]
  EXPECT_EQ(l.ShardOf(mid, 1).AsBlock2D(m.params[mid].shape), (Block2D{3, 18, 0, 3, 6, 10}));
  const int last = Index(m, "l0.w3d_last");  // [2, 3, 7] split dim 2: not one rectangle
  EXPECT_EQ(l.ShardOf(last, 0).AsBlock2D(m.params[last].shape), std::nullopt);
  EXPECT_EQ(l.ShardOf(last, 0).Ranges(m.params[last].shape),
            (std::vector<IndexRange>{{0, 2}, {0, 3}, {0, 2}}));
  const int unit = Index(m, "l0.w3d_unit");  // [2, 1, 9] split dim 2: dim 1 is 1
  EXPECT_EQ(l.ShardOf(unit, 3).AsBlock2D(m.params[unit].shape), (Block2D{2, 9, 0, 2, 7, 9}));
  const int scalar = Index(m, "scalar_emb");
  const TpShard whole = l.ShardOf(scalar, 2);
  EXPECT_TRUE(whole.whole());
  EXPECT_EQ(whole.AsBlock2D(m.params[scalar].shape), (Block2D{1, 1, 0, 1, 0, 1}));
  EXPECT_EQ(whole.Numel(m.params[scalar].shape), 1);
}

TEST(ParallelLayoutShards, VocabIsPaddedLikeMegatron) {
  // GPT-2's 50257 tokens: 50304 at tp = 1 (the well-known Megatron size), 51200 at tp = 8.
  const ModelSpec m = Conv1DGpt2(1, 8, 50257, 8);
  const std::vector<int64_t>& shape = m.params[0].shape;
  const ParallelLayout t1 = MustMake(Cfg(1, 1, 1), m);
  EXPECT_EQ(t1.ShardOf(0, 0).padded_extent, 50304);
  EXPECT_EQ(t1.ShardOf(0, 0).range, (IndexRange{0, 50257}));
  const ParallelLayout t8 = MustMake(Cfg(1, 1, 8), m);
  const TpShard last = t8.ShardOf(0, 7);
  EXPECT_EQ(last.padded_extent, 51200);
  EXPECT_EQ(last.padded_range, (IndexRange{44800, 51200}));
  EXPECT_EQ(last.range, (IndexRange{44800, 50257}));
  EXPECT_EQ(last.PaddedShape(shape), (std::vector<int64_t>{51200, 8}));
  EXPECT_EQ(last.Numel(shape), (50257 - 44800) * 8);
  EXPECT_EQ(last.PaddedNumel(shape), 6400 * 8);
  EXPECT_EQ(last.AsPaddedBlock2D(shape), (Block2D{51200, 8, 44800, 51200, 0, 8}));
  EXPECT_EQ(last.AsBlock2D(shape), (Block2D{50257, 8, 44800, 50257, 0, 8}));

  // Padding only to a multiple of tp: 10 rows over 4 ranks -> 12 padded, 3 each.
  LayoutConfig c = Cfg(1, 1, 4);
  c.vocab_divisible_by = 1;
  const ParallelLayout small = MustMake(c, OddModel(1, 4));
  EXPECT_EQ(RangesAlong(small, 0), (std::vector<IndexRange>{{0, 3}, {3, 6}, {6, 9}, {9, 10}}));
  // With Megatron's 128, 10 rows over 8 ranks: rank 0 holds all real rows, the rest none.
  const ParallelLayout wide = MustMake(Cfg(1, 1, 8), OddModel(1, 8));
  EXPECT_EQ(wide.ShardOf(0, 0).range, (IndexRange{0, 10}));
  EXPECT_TRUE(wide.ShardOf(0, 5).range.empty());
  EXPECT_EQ(wide.ShardOf(0, 5).padded_range, (IndexRange{640, 768}));

  // Not padded (every framework but Megatron): 10 rows over 4 ranks split as any dimension,
  // 3, 3, 2, 2 (Note [Uneven TP shards]); padded_extent is the vocabulary itself.
  LayoutConfig unpadded = Cfg(1, 1, 4);
  unpadded.pad_vocab = false;
  const ParallelLayout plain = MustMake(unpadded, OddModel(1, 4));
  EXPECT_EQ(RangesAlong(plain, 0), (std::vector<IndexRange>{{0, 3}, {3, 6}, {6, 8}, {8, 10}}));
  for (int r = 0; r < 4; ++r) {
    EXPECT_EQ(plain.ShardOf(0, r).padded_extent, 10);
    EXPECT_EQ(plain.ShardOf(0, r).padded_range, plain.ShardOf(0, r).range);
  }
  // Unpadded, a vocabulary smaller than tp leaves empty shards and is rejected.
  LayoutConfig too_wide = Cfg(1, 1, 16);
  too_wide.pad_vocab = false;
  EXPECT_FALSE(ParallelLayout::Make(too_wide, OddModel(1, 16)).ok());
}

// ---------------------------------------------------------------------------------------------
// Coverage: every element of every parameter exactly once per replica (TP-replicated tensors
// once per TP rank), tied copies complete on their stage, and padded vocab tiled exactly.

// Flat row-major indices of the shard, by per-dimension ranges.
std::vector<int64_t> ElementsByRanges(const std::vector<int64_t>& shape,
                                      const std::vector<IndexRange>& ranges) {
  std::vector<int64_t> out;
  for (const IndexRange& r : ranges) {
    if (r.empty()) return out;
  }
  std::vector<int64_t> idx(shape.size());
  for (size_t d = 0; d < shape.size(); ++d) idx[d] = ranges[d].begin;
  while (true) {
    int64_t flat = 0;
    for (size_t d = 0; d < shape.size(); ++d) flat = flat * shape[d] + idx[d];
    out.push_back(flat);
    int d = static_cast<int>(shape.size()) - 1;
    while (d >= 0 && ++idx[d] == ranges[d].end) {
      idx[d] = ranges[d].begin;
      --d;
    }
    if (d < 0) return out;
  }
}

std::vector<int64_t> ElementsByBlock(const Block2D& b) {
  std::vector<int64_t> out;
  for (uint64_t r = b.row_begin; r < b.row_end; ++r) {
    for (uint64_t c = b.col_begin; c < b.col_end; ++c) out.push_back(r * b.cols + c);
  }
  return out;
}

// Checks the invariant for one layout; returns false (with failures added) when it breaks.
void CheckCoverage(const ParallelLayout& l) {
  const ModelSpec& m = l.model();
  const LayoutConfig& c = l.config();
  const int n = static_cast<int>(m.params.size());
  const int expert_replicas = c.dp * c.cp / c.ep;
  // Dense replicas: dp_replicate, times cp where cp ranks keep whole copies (Megatron).
  const bool cp_in_shards = c.mesh == MeshConvention::kTorchtitan;
  const int dense_replicas = c.dp / c.dp_shard * (cp_in_shards ? 1 : c.cp);
  // counts[param][replica * numel + element], home placements and tied copies apart.
  std::vector<std::vector<int>> home(n), copy(n), padded(n);
  std::vector<int64_t> numel(n);
  for (int i = 0; i < n; ++i) {
    numel[i] = 1;
    for (int64_t d : m.params[i].shape) numel[i] *= d;
    const int replicas = m.params[i].expert >= 0 ? expert_replicas : dense_replicas;
    home[i].assign(replicas * numel[i], 0);
    copy[i].assign(replicas * numel[i], 0);
  }
  // Expected tied copies, from the roles alone: a tied parameter whose stage differs from its
  // target's puts one copy of the target there.
  auto stage_by_role = [&](const ParamSpec& p) {
    return p.role == kEmb ? 0 : p.role == kLay ? l.StageOfLayer(p.layer) : l.num_stages() - 1;
  };
  std::vector<int> copies_expected(n, 0);
  for (const ParamSpec& p : m.params) {
    if (p.tied_to.empty()) continue;
    for (int t = 0; t < n; ++t) {
      if (m.params[t].name == p.tied_to && stage_by_role(m.params[t]) != stage_by_role(p)) {
        ++copies_expected[t];
      }
    }
  }

  for (int r = 0; r < l.world_size(); ++r) {
    const ParallelCoords rc = l.RankCoords(r);
    const std::vector<OwnedShard> owned = l.OwnedBy(r);
    for (const OwnedShard& s : owned) {
      const ParamSpec& p = m.params[s.param];
      ASSERT_EQ(l.PipelineRankOf(s.stage), rc.pp);
      ASSERT_EQ(l.VirtualStageOf(s.stage), s.virtual_stage);
      std::vector<IndexRange> ranges = s.shard.Ranges(p.shape);
      std::vector<int64_t> elems = ElementsByRanges(p.shape, ranges);
      ASSERT_EQ(static_cast<int64_t>(elems.size()), s.shard.Numel(p.shape)) << p.name;
      if (const std::optional<Block2D> b = s.shard.AsBlock2D(p.shape)) {
        ASSERT_EQ(ElementsByBlock(*b), elems) << p.name << " Block2D vs ranges";
      } else {
        ASSERT_GE(s.shard.dim, 2) << p.name;
      }
      // Keep the rows of the TP shard this rank stores after sharding.
      const int64_t tp_rows = p.shape.empty() ? 1 : ranges[0].size();
      ASSERT_TRUE(s.rows.begin >= 0 && s.rows.begin <= s.rows.end && s.rows.end <= tp_rows)
          << p.name;
      if (p.expert >= 0 || l.shard_group_size() == 1) {
        ASSERT_EQ(s.rows, (IndexRange{0, tp_rows})) << p.name;
      } else {
        ASSERT_EQ(s.rows, ParallelLayout::ChunkRows(tp_rows, l.shard_group_size(), l.ShardIndex(rc)));
      }
      if (!p.shape.empty()) {
        ranges[0] = {ranges[0].begin + s.rows.begin, ranges[0].begin + s.rows.end};
        elems = ElementsByRanges(p.shape, ranges);
      } else if (s.rows.empty()) {
        elems.clear();  // a scalar is one row: kept by the first piece only
      }
      const int replica = p.expert >= 0 ? rc.expert_dp
                          : cp_in_shards ? rc.dp_replicate
                                         : rc.dp_replicate * c.cp + rc.cp;
      std::vector<int>& counts = s.tied_from >= 0 ? copy[s.param] : home[s.param];
      for (int64_t e : elems) {
        ASSERT_TRUE(e >= 0 && e < numel[s.param]) << p.name << " element " << e;
        ++counts[replica * numel[s.param] + e];
      }
    }
  }
  for (int i = 0; i < n; ++i) {
    const ParamSpec& p = m.params[i];
    const bool tied = !p.tied_to.empty();
    const int per_element = p.tp_split == kRep ? c.tp : 1;
    for (size_t k = 0; k < home[i].size(); ++k) {
      ASSERT_EQ(home[i][k], tied ? 0 : per_element)
          << p.name << " element " << k % numel[i] << " replica " << k / numel[i];
      ASSERT_EQ(copy[i][k], copies_expected[i] * per_element) << p.name << " (tied copy)";
    }
    // Padded vocab: the TP ranks tile [0, padded_extent) exactly.
    if (p.tp_split == kVoc) {
      int64_t next = 0;
      for (int t = 0; t < c.tp; ++t) {
        const TpShard s = l.ShardOf(i, t);
        ASSERT_EQ(s.padded_range.begin, next);
        ASSERT_FALSE(s.padded_range.empty());
        next = s.padded_range.end;
      }
      ASSERT_EQ(next, l.ShardOf(i, 0).padded_extent);
      ASSERT_EQ(next % (int64_t{c.vocab_divisible_by} * c.tp), 0);
      ASSERT_GE(next, p.shape[0]);
    }
  }
  // Stages: contiguous, non-empty, covering every block.
  int64_t end = 0;
  for (int s = 0; s < l.num_stages(); ++s) {
    ASSERT_EQ(l.StageLayers(s).begin, end);
    ASSERT_FALSE(l.StageLayers(s).empty());
    end = l.StageLayers(s).end;
  }
  ASSERT_EQ(end, m.num_layers);
}

TEST(ParallelLayoutCoverage, EveryElementExactlyOncePerReplicaOverManyLayouts) {
  int built = 0, rejected = 0;
  for (int tp = 1; tp <= 8; ++tp) {
    for (int pp = 1; pp <= 6; ++pp) {
      for (int vpp = 1; vpp <= 3; ++vpp) {
        for (const auto& [dp, ep] : std::vector<std::pair<int, int>>{{1, 1}, {2, 2}, {4, 2}}) {
          for (int layers : {1, 5, 7, 13}) {
            for (PipelinePartition part :
                 {PipelinePartition::kByLayers, PipelinePartition::kByParams}) {
              for (int model = 0; model < 3; ++model) {
                const ModelSpec m = model == 0   ? OddModel(layers, tp)
                                    : model == 1 ? Conv1DGpt2(layers, 8 + tp, 13 + tp, 9)
                                                 : TinyTransformer(layers, true, 8, 11);
                const LayoutConfig cfg = Cfg(dp, pp, tp, ep, vpp, part);
                StatusOr<ParallelLayout> l = ParallelLayout::Make(cfg, m);
                const bool possible = pp * vpp <= layers && !(vpp > 1 && pp == 1);
                ASSERT_EQ(l.ok(), possible)
                    << "tp " << tp << " pp " << pp << " vpp " << vpp << " layers " << layers
                    << " model " << m.name << ": " << l.status().ToString();
                if (!l.ok()) {
                  ++rejected;
                  continue;
                }
                CheckCoverage(*l);
                if (HasFatalFailure()) {
                  FAIL() << "tp " << tp << " pp " << pp << " vpp " << vpp << " dp " << dp << " ep "
                         << ep << " layers " << layers << " model " << m.name;
                }
                ++built;
              }
            }
          }
        }
      }
    }
  }
  RecordProperty("layouts_checked", built);
  EXPECT_GT(built, 3000);
  EXPECT_GT(rejected, 0);
}

// The same invariant with context parallelism and sharded data parallelism, under both
// conventions: every element once per replica, the shard group's pieces tiling dim 0.
TEST(ParallelLayoutCoverage, EveryElementOncePerReplicaWithCpAndDpShard) {
  int built = 0;
  for (int tp : {1, 2, 3}) {
    for (int pp : {1, 2}) {
      for (int cp : {1, 2}) {
        for (const auto& [dp, dp_shard, ep] : std::vector<std::tuple<int, int, int>>{
                 {1, 1, 1}, {2, 2, 1}, {4, 2, 2}, {3, 3, 1}, {4, 4, 2}, {6, 3, 2}, {2, 1, 4}}) {
          for (MeshConvention mesh : {MeshConvention::kMegatron, MeshConvention::kTorchtitan}) {
            if ((dp * cp) % ep != 0 || (ep > 1 && mesh == MeshConvention::kTorchtitan)) continue;
            for (int model = 0; model < 3; ++model) {
              const ModelSpec m = model == 0   ? OddModel(5, tp)
                                  : model == 1 ? Conv1DGpt2(5, 8 + tp, 13 + tp, 9)
                                               : TinyTransformer(5, true, 8, 11);
              LayoutConfig cfg = Cfg(dp, pp, tp, ep);
              cfg.cp = cp;
              cfg.dp_shard = dp_shard;
              cfg.mesh = mesh;
              StatusOr<ParallelLayout> l = ParallelLayout::Make(cfg, m);
              ASSERT_TRUE(l.ok()) << l.status().ToString();
              CheckCoverage(*l);
              if (HasFatalFailure()) {
                FAIL() << "tp " << tp << " pp " << pp << " cp " << cp << " dp " << dp
                       << " dp_shard " << dp_shard << " ep " << ep << " mesh "
                       << static_cast<int>(mesh) << " model " << m.name;
              }
              ++built;
            }
          }
        }
      }
    }
  }
  RecordProperty("layouts_checked", built);
  EXPECT_GT(built, 300);
}

TEST(ParallelLayoutCoverage, DpReplicasHoldTheSameDenseShards) {
  const ParallelLayout l = MustMake(Cfg(4, 3, 2, 2, 2), OddModel(7, 2));
  for (int r = 0; r < l.world_size(); ++r) {
    ParallelCoords c = l.RankCoords(r);
    c.dp = 0;
    const std::vector<OwnedShard> a = l.OwnedBy(r), b = l.OwnedBy(l.RankOf(c));
    std::vector<std::pair<int, int>> dense_a, dense_b;
    for (const OwnedShard& s : a) {
      if (l.ExpertOwner(s.param) < 0) dense_a.push_back({s.param, s.stage});
    }
    for (const OwnedShard& s : b) {
      if (l.ExpertOwner(s.param) < 0) dense_b.push_back({s.param, s.stage});
    }
    EXPECT_EQ(dense_a, dense_b) << "rank " << r;
  }
}

// OwnedBy's index (Note [Owned-shard index] in parallel_layout.cc) against the plain scan it
// replaced: every placement of each of the rank's stages, in order, minus other EP ranks'
// experts, each with its TP shard and its rows under sharded data parallelism.
std::vector<OwnedShard> OwnedByScan(const ParallelLayout& l, int rank) {
  const ParallelCoords c = l.RankCoords(rank);
  const int group = l.shard_group_size();
  std::vector<OwnedShard> owned;
  for (int v = 0; v < l.config().vpp; ++v) {
    const int stage = l.StageAt(c.pp, v);
    for (const Placement& pl : l.StagePlacements(stage)) {
      const int owner = l.ExpertOwner(pl.param);
      if (owner >= 0 && owner != c.ep) continue;
      const TpShard shard = l.ShardOf(pl.param, owner >= 0 ? c.etp : c.tp);
      const std::vector<int64_t>& shape = l.model().params[pl.param].shape;
      const int64_t rows = shape.empty() ? 1 : shard.dim == 0 ? shard.range.size() : shape[0];
      const IndexRange kept = owner >= 0 || group == 1
                                  ? IndexRange{0, rows}
                                  : ParallelLayout::ChunkRows(rows, group, l.ShardIndex(c));
      owned.push_back({pl.param, stage, v, pl.tied_from, shard, kept});
    }
  }
  return owned;
}

bool SameOwned(const OwnedShard& a, const OwnedShard& b) {
  return a.param == b.param && a.stage == b.stage && a.virtual_stage == b.virtual_stage &&
         a.tied_from == b.tied_from && a.shard.dim == b.shard.dim &&
         a.shard.range == b.shard.range && a.shard.padded_range == b.shard.padded_range &&
         a.shard.padded_extent == b.shard.padded_extent && a.rows == b.rows;
}

TEST(ParallelLayoutShards, OwnedByIndexEqualsTheScanOfEveryStagePlacement) {
  int checked = 0;
  for (const auto& [dp, ep, dp_shard] : std::vector<std::tuple<int, int, int>>{
           {1, 1, 1}, {2, 2, 1}, {4, 2, 2}, {4, 4, 1}, {8, 4, 2}, {8, 8, 4}}) {
    for (int pp : {1, 2, 3}) {
      for (int vpp : {1, 2}) {
        if (vpp > 1 && pp == 1) continue;
        for (int experts : {0, 4, 8}) {
          if (experts > 0 && experts % ep != 0) continue;
          LayoutConfig cfg = Cfg(dp, pp, 2, ep, vpp);
          cfg.dp_shard = dp_shard;
          // etp 1 where it fits Megatron's expert mesh: experts whole, dense weights split.
          if (experts > 0 && (2 * dp) % ep == 0 && dp % 2 == 0) cfg.etp = 1;
          const ParallelLayout l = MustMake(cfg, OddModel(7, 2, experts));
          for (int r = 0; r < l.world_size(); ++r) {
            const std::vector<OwnedShard> fast = l.OwnedBy(r), plain = OwnedByScan(l, r);
            ASSERT_EQ(fast.size(), plain.size()) << "rank " << r;
            for (size_t i = 0; i < fast.size(); ++i) {
              ASSERT_TRUE(SameOwned(fast[i], plain[i]))
                  << "rank " << r << " entry " << i << " dp " << dp << " ep " << ep << " pp "
                  << pp << " vpp " << vpp << " experts " << experts;
            }
            ++checked;
          }
        }
      }
    }
  }
  EXPECT_GT(checked, 500);
}

// ---------------------------------------------------------------------------------------------
// Validation: one InvalidArgument naming the field and the values.

void ExpectInvalid(const LayoutConfig& c, const ModelSpec& m, const std::string& fragment) {
  StatusOr<ParallelLayout> l = ParallelLayout::Make(c, m);
  ASSERT_FALSE(l.ok()) << "expected failure containing: " << fragment;
  EXPECT_EQ(l.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(l.status().message().find(fragment), std::string::npos) << l.status().message();
}

TEST(ParallelLayoutValidation, RejectsImpossibleConfigsWithOneClearMessage) {
  const ModelSpec m = TinyTransformer(7);
  ExpectInvalid(Cfg(0, 1, 1), m, "LayoutConfig.dp = 0: must be >= 1");
  ExpectInvalid(Cfg(1, -2, 1), m, "LayoutConfig.pp = -2: must be >= 1");
  ExpectInvalid(Cfg(1, 1, 0), m, "LayoutConfig.tp = 0: must be >= 1");
  ExpectInvalid(Cfg(2, 1, 1, 0), m, "LayoutConfig.ep = 0: must be >= 1");
  ExpectInvalid(Cfg(1, 2, 1, 1, 0), m, "LayoutConfig.vpp = 0: must be >= 1");
  LayoutConfig bad_vocab = Cfg(1, 1, 1);
  bad_vocab.vocab_divisible_by = 0;
  ExpectInvalid(bad_vocab, m, "LayoutConfig.vocab_divisible_by = 0: must be >= 1");
  ExpectInvalid(Cfg(1, 1, 1, 1, 2), m, "LayoutConfig.vpp = 2 needs pp > 1");
  ExpectInvalid(Cfg(4, 1, 1, 3), m, "LayoutConfig.ep = 3 does not divide dp * cp = 4");
  LayoutConfig cp_ep = Cfg(2, 1, 1, 4);
  cp_ep.cp = 2;
  EXPECT_TRUE(ParallelLayout::Make(cp_ep, m).ok());  // ep 4 over dp 2 x cp 2, as Megatron
  cp_ep.cp = 3;
  ExpectInvalid(cp_ep, m, "LayoutConfig.ep = 4 does not divide dp * cp = 6");
  LayoutConfig shard = Cfg(4, 1, 1);
  shard.dp_shard = 3;
  ExpectInvalid(shard, m, "LayoutConfig.dp_shard = 3 does not divide dp = 4");
  shard.dp_shard = 0;
  ExpectInvalid(shard, m, "LayoutConfig.dp_shard = 0: must be >= 1");
  LayoutConfig cp0 = Cfg(1, 1, 1);
  cp0.cp = -1;
  ExpectInvalid(cp0, m, "LayoutConfig.cp = -1: must be >= 1");
  LayoutConfig titan_ep = Cfg(2, 1, 1, 2);
  titan_ep.mesh = MeshConvention::kTorchtitan;
  ExpectInvalid(titan_ep, m, "LayoutConfig.ep = 2 under the torchtitan convention");
  LayoutConfig huge = Cfg(65536, 1, 1);
  huge.cp = 65536;
  ExpectInvalid(huge, m, "exceeds 2^31 - 1 ranks");
  ExpectInvalid(Cfg(1, 4, 1, 1, 2), m,
                "pp * vpp = 4 * 2 = 8 model chunks exceeds num_layers = 7 of model "
                "'tiny-transformer'");
  ExpectInvalid(Cfg(1, 8, 1), m, "pp * vpp = 8 * 1 = 8 model chunks exceeds num_layers = 7");
  ExpectInvalid(Cfg(65536, 65536, 1), m, "exceeds 2^31 - 1 ranks");
}

TEST(ParallelLayoutValidation, RejectsEmptyShardsNamingTheParameterAndSize) {
  ModelSpec m = OddModel(1, 1);  // 7x5 column-split along dim 0
  ExpectInvalid(Cfg(1, 1, 8), m,
                "LayoutConfig.tp = 8 leaves empty TP shards of model 'odd' parameter 'l0.w7x5' "
                "(shape [7, 5], column-split along dim 0 of size 7); tp must be <= 7");
  // Vocab-parallel parameters are padded instead: 10 rows at tp = 16 is fine.
  ModelSpec v;
  v.name = "v";
  v.num_layers = 1;
  v.params.push_back(P("emb", {10, 3}, kVoc, 0, kEmb));
  v.params.push_back(P("w", {4}, kRep, -1, kLay, 0));
  EXPECT_TRUE(ParallelLayout::Make(Cfg(1, 1, 16), v).ok());
}

TEST(ParallelLayoutValidation, RejectsMalformedModels) {
  auto with = [](ParamSpec extra) {
    ModelSpec m = TinyTransformer(2);
    m.params.push_back(std::move(extra));
    return m;
  };
  ExpectInvalid(Cfg(1, 1, 1), with(P("x", {4}, kRep, -1, kLay, 2)),
                "parameter 'x': layer = 2 is outside [0, num_layers = 2)");
  ExpectInvalid(Cfg(1, 1, 1), with(P("x", {4, 4}, kCol, 2, kLay, 0)),
                "parameter 'x': column-split with tp_dim = 2 outside its shape [4, 4]");
  ExpectInvalid(Cfg(1, 1, 1), with(P("x", {4, 4}, kVoc, 1, kEmb)),
                "parameter 'x': vocab-split with tp_dim = 1");
  ExpectInvalid(Cfg(1, 1, 1), with(P("x", {13, 8}, kVoc, 0, kHead, -1, -1, "nope")),
                "parameter 'x': tied_to = 'nope' names no parameter");
  ExpectInvalid(Cfg(1, 1, 1), with(P("x", {13, 9}, kVoc, 0, kHead, -1, -1, "embed.word")),
                "parameter 'x': shape [13, 9] differs from its tied_to 'embed.word' shape [13, 8]");
  ExpectInvalid(Cfg(1, 1, 1), with(P("embed.pos", {4}, kRep, -1, kEmb)),
                "parameter 'embed.pos': the name appears twice (parameters 1 and");
  ExpectInvalid(Cfg(1, 1, 1), with(P("x", {4, -1}, kRep, -1, kEmb)),
                "parameter 'x': shape [4, -1] has a negative size");
  ModelSpec chain = with(P("x", {13, 8}, kVoc, 0, kHead, -1, -1, "head.weight"));
  chain.params[chain.params.size() - 2].tied_to = "embed.word";
  ExpectInvalid(Cfg(1, 1, 1), chain, "parameter 'x': tied_to = 'head.weight' is itself tied");
  ExpectInvalid(Cfg(6, 1, 1, 6), OddModel(1, 1, 4),
                "LayoutConfig.ep = 6 does not divide the 4 experts of model 'odd'");
}

// ---------------------------------------------------------------------------------------------
// Speed: a 16,384-GPU layout of a 405B-shaped model is built in milliseconds.

TEST(ParallelLayoutSpeed, Llama405bOn16384RanksBuildsInMilliseconds) {
  const ModelSpec m = Llama405Like();
  using Clock = std::chrono::steady_clock;
  for (PipelinePartition part : {PipelinePartition::kByLayers, PipelinePartition::kByParams}) {
    const LayoutConfig cfg = Cfg(128, 16, 8, 1, 1, part);  // 126 blocks over 16 stages: uneven
    const auto t0 = Clock::now();
    StatusOr<ParallelLayout> l = ParallelLayout::Make(cfg, m);
    const auto t1 = Clock::now();
    ASSERT_TRUE(l.ok()) << l.status().ToString();
    ASSERT_EQ(l->world_size(), 16384);
    int64_t shards = 0;
    for (int r = 0; r < l->world_size(); ++r) shards += static_cast<int64_t>(l->OwnedBy(r).size());
    const auto t2 = Clock::now();
    const double make_ms = std::chrono::duration<double, std::milli>(t1 - t0).count();
    const double all_ranks_ms = std::chrono::duration<double, std::milli>(t2 - t1).count();
    std::printf("%s: Make %.2f ms; OwnedBy for all 16384 ranks %.1f ms (%lld shards)\n",
                part == PipelinePartition::kByLayers ? "by layers" : "by params", make_ms,
                all_ranks_ms, static_cast<long long>(shards));
    EXPECT_LT(make_ms, 100.0);  // milliseconds even under sanitizers; ~1 ms optimized
    EXPECT_EQ(shards, int64_t{128} * 8 * static_cast<int64_t>(m.params.size()));
  }
}

}  // namespace
}  // namespace twinsim::core
