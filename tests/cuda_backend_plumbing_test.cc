// properties::Backend::kCuda is plumbing: RunInit hands every rank to the injected runner and
// reads the shards back through Device::CopyToHost. Checked here without a GPU by injecting the
// host's core::RunRanks, which must then give exactly the host backend's bytes; validate's
// GPU run (gpu::RunRanksOnCuda) goes through the same path.
#include <gtest/gtest.h>

#include "core/host_comm.h"
#include "core/model_presets.h"
#include "core/parallel_layout.h"
#include "kernels/device_fill.h"
#include "policies/seed/policy.h"
#include "properties/init_check.h"

namespace twinsim {
namespace {

TEST(CudaBackendPlumbingTest, AnInjectedRunnerGivesTheHostBackendsBytes) {
  StatusOr<core::ModelSpec> model = core::MakeModel("tiny-mlp");
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  core::LayoutConfig config;
  config.tp = 2;
  config.dp = 2;
  StatusOr<core::ParallelLayout> layout = core::ParallelLayout::Make(config, *model);
  ASSERT_TRUE(layout.ok()) << layout.status().ToString();
  for (const std::string name : {"counter", "megatron", "seed-checkpoint"}) {
    StatusOr<std::unique_ptr<policies::seed::SeedPolicy>> policy = policies::seed::MakePolicy(name);
    ASSERT_TRUE(policy.ok());
    properties::InitRunOptions host;
    host.seed = 1234;  // Megatron rejects seed 0 (initialize.py:484)
    host.init_device = (*policy)->default_init_device();
    properties::InitRunOptions injected = host;
    injected.backend = properties::Backend::kCuda;
    EXPECT_EQ(properties::RunInit(**policy, *layout, injected).status().code(),
              StatusCode::kFailedPrecondition)
        << "no runner: refused, naming what is missing";
    int calls = 0;
    injected.cuda.run_ranks = [&calls](int world, const core::RankFunction& fn) {
      ++calls;
      core::RunRanksOptions o;
      o.world_size = world;
      o.device.capacity = uint64_t{1} << 30;
      o.device.fill = kernels::FillOnHost;
      o.device.name = "stand-in";  // not a HostDevice's usual name: nothing special-cases it
      return core::RunRanks(o, fn);
    };
    StatusOr<properties::InitRun> a = properties::RunInit(**policy, *layout, host);
    StatusOr<properties::InitRun> b = properties::RunInit(**policy, *layout, injected);
    ASSERT_TRUE(a.ok() && b.ok()) << a.status().ToString() << b.status().ToString();
    EXPECT_EQ(calls, 1);
    ASSERT_EQ(a->ranks.size(), b->ranks.size());
    for (size_t r = 0; r < a->ranks.size(); ++r) {
      EXPECT_EQ(a->ranks[r].bytes, b->ranks[r].bytes) << name << " rank " << r;
    }
  }
}

}  // namespace
}  // namespace twinsim
