// ShardLocalInit (Note [shard-local]): the fan a layer built at its shard's size reads.
#include "policies/seed/shard_local.h"

#include <gtest/gtest.h>

#include <cmath>

namespace twinsim::policies::seed {
namespace {

// torch.nn.init.xavier_normal_: std = gain * sqrt(2 / (fan_in + fan_out)).
double XavierStd(const core::InitSpec& init) {
  return init.gain * std::sqrt(2.0 / static_cast<double>(init.fan_in + init.fan_out));
}

// Megatron-Bridge #5840: a LoRA adapter's linear_in, [rank 32, hidden 4096], split along its
// input features at TP 4, has xavier std 0.0220 at TP 1 and 0.0435 at TP 4. These are the
// shapes that give those numbers: sqrt(2 / (4096 + 32)) = 0.02201, sqrt(2 / (1024 + 32)) =
// 0.04352.
TEST(ShardLocalInitTest, MegatronBridge5840LoraLinearIn) {
  core::ParamSpec spec;
  spec.name = "adapter.linear_in.weight";
  spec.shape = {32, 4096};
  spec.init.kind = core::InitKind::kXavierNormal;
  spec.init.fan_in = 4096;
  spec.init.fan_out = 32;
  spec.tp_split = core::TpSplit::kRow;
  spec.tp_dim = 1;
  EXPECT_NEAR(XavierStd(spec.init), 0.0220, 5e-5);
  const core::Block2D shard{32, 4096, 0, 32, 1024, 2048};  // tp_rank 1 of 4
  const core::InitSpec local = ShardLocalInit(spec, shard);
  EXPECT_EQ(local.fan_in, 1024);
  EXPECT_EQ(local.fan_out, 32);
  EXPECT_NEAR(XavierStd(local), 0.0435, 5e-5);
  // The same issue's linear_fc2 (down_proj, in_features 12288): 0.0127 at TP 1, 0.0254 at TP 4.
  spec.shape = {32, 12288};
  spec.init.fan_in = 12288;
  EXPECT_NEAR(XavierStd(spec.init), 0.0127, 5e-5);
  EXPECT_NEAR(XavierStd(ShardLocalInit(spec, core::Block2D{32, 12288, 0, 32, 3072, 6144})), 0.0254,
              5e-5);
}

// A column-parallel layer keeps its fan_in (kaiming's default mode) and loses fan_out;
// replicated parameters and inits without a fan are untouched.
TEST(ShardLocalInitTest, ColumnSplitScalesFanOutOnly) {
  core::ParamSpec spec;
  spec.shape = {64, 16};
  spec.init.kind = core::InitKind::kKaimingUniform;
  spec.init.fan_in = 16;
  spec.init.fan_out = 64;
  spec.tp_split = core::TpSplit::kColumn;
  spec.tp_dim = 0;
  const core::InitSpec local = ShardLocalInit(spec, core::Block2D{64, 16, 32, 48, 0, 16});
  EXPECT_EQ(local.fan_in, 16);
  EXPECT_EQ(local.fan_out, 16);
  spec.tp_split = core::TpSplit::kReplicated;
  spec.tp_dim = -1;
  EXPECT_EQ(ShardLocalInit(spec, core::Block2D{64, 16, 0, 64, 0, 16}).fan_out, 64);
  spec.init.kind = core::InitKind::kNormal;
  spec.tp_split = core::TpSplit::kColumn;
  spec.tp_dim = 0;
  EXPECT_EQ(ShardLocalInit(spec, core::Block2D{64, 16, 0, 32, 0, 16}).fan_out, 64);
}

}  // namespace
}  // namespace twinsim::policies::seed
