#include "properties/memory_need.h"

#include <gtest/gtest.h>

#include "core/model_presets.h"
#include "core/parallel_layout.h"
#include "policies/seed/policy.h"
#include "properties/init_check.h"

namespace twinsim::properties {
namespace {

core::ParallelLayout Layout(const char* model_text, int tp, int pp, int dp) {
  StatusOr<core::ModelSpec> model = core::MakeModel(model_text);
  EXPECT_TRUE(model.ok()) << model.status().message();
  core::LayoutConfig config;
  config.tp = tp;
  config.pp = pp;
  config.dp = dp;
  StatusOr<core::ParallelLayout> layout = core::ParallelLayout::Make(config, *model);
  EXPECT_TRUE(layout.ok()) << layout.status().message();
  return *layout;
}

TEST(MemoryNeedTest, EqualsTheBytesEveryRankHoldsAfterARealRun) {
  for (auto [tp, pp, dp] : {std::tuple{1, 1, 1}, std::tuple{2, 1, 2}, std::tuple{2, 2, 1}}) {
    const core::ParallelLayout layout =
        Layout("gpt2:n_layer=2,n_embd=16,n_head=2,vocab_size=50", tp, pp, dp);
    auto policy = policies::seed::MakePolicy("counter");
    ASSERT_TRUE(policy.ok());
    StatusOr<InitRun> run = RunInit(**policy, layout, InitRunOptions{});
    ASSERT_TRUE(run.ok()) << run.status().message();
    uint64_t held = 0;
    for (const RankOutcome& r : run->ranks) {
      for (const auto& bytes : r.bytes) held += bytes.size();
    }
    EXPECT_EQ(InitHeldBytesLowerBound(layout), held) << "tp " << tp << " pp " << pp << " dp " << dp;
  }
}

TEST(MemoryNeedTest, Llama70bOnOneHundredTwentyEightRanksIsItsWholeFp32Model) {
  const core::ParallelLayout layout = Layout("llama3-70b", 8, 16, 1);
  const uint64_t need = InitHeldBytesLowerBound(layout);
  // 70.6 B parameters in fp32, plus Megatron's vocabulary padding (none at 128256 = 128 * 1002).
  EXPECT_GE(need, uint64_t{4} * layout.model().NumParams());
  EXPECT_LT(need, uint64_t{4} * layout.model().NumParams() * 101 / 100);
  EXPECT_GT(need, uint64_t{280} * 1000 * 1000 * 1000);
}

}  // namespace
}  // namespace twinsim::properties
