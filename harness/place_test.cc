#include "harness/place.h"

#include <gtest/gtest.h>

#include "core/model_presets.h"
#include "core/parallel_layout.h"
#include "core/topology_presets.h"
#include "policies/placement/registry.h"
#include "policies/placement/workload.h"

namespace twinsim::harness {
namespace {

TEST(PlaceTest, RanksFillTheNodesGpusInOrder) {
  const core::Topology t = core::MakeTopology("dgx-a100-80g:nodes=2").value();
  const core::RankResources r0 = core::ResourcesOfRank(t, 0);
  const core::RankResources r9 = core::ResourcesOfRank(t, 9);
  EXPECT_EQ(r0.gpus_per_node, 8);
  EXPECT_EQ(r0.gpu_bytes, r9.gpu_bytes);
  EXPECT_EQ(r0.host_bytes, r0.node_host_bytes / 8);
  EXPECT_GT(r0.gpu_bytes, 0u);
  EXPECT_FALSE(r9.gpu_model.empty());
}

// A small --max-model search: the GPT-2 small width on a 1 GiB GPU.
LargestModelRequest SmallSearch() {
  LargestModelRequest request;
  request.family.text = "gpt2:n_embd=768,n_head=12";
  request.family.widths = {{768, 12}};
  request.family.fixed_keys = "";
  request.cluster = "v100-32g";
  request.make_layout = [](std::string_view text) -> StatusOr<core::ParallelLayout> {
    TWINSIM_ASSIGN_OR_RETURN(core::ModelSpec model, core::MakeModel(text));
    return core::ParallelLayout::Make(core::LayoutConfig{}, model);
  };
  request.config.heads = 12;
  request.config.seq_len = 128;
  request.budget.gpu_bytes = uint64_t{1} << 30;
  request.budget.host_bytes = uint64_t{4} << 30;
  return request;
}

TEST(PlaceTest, FindLargestModelStopsWhereOneMoreLayerFails) {
  const auto cuda = placement::MakePlacementPolicy("cuda").value();
  const auto cpu = placement::MakePlacementPolicy("cpu").value();
  StatusOr<std::vector<LargestModelReport>> found =
      FindLargestModel(SmallSearch(), {cuda.get(), cpu.get()});
  ASSERT_TRUE(found.ok()) << found.status().message();
  ASSERT_EQ(found->size(), 2u);
  const LargestModelReport& on_gpu = (*found)[0];
  ASSERT_TRUE(on_gpu.largest.has_value());
  EXPECT_EQ(on_gpu.policy, "cuda");
  EXPECT_NE(on_gpu.next_fails.find("gpu"), std::string::npos) << on_gpu.next_fails;
  // Offloading to a host four times the GPU trains a larger model than keeping all on the GPU.
  EXPECT_GT((*found)[1].params, on_gpu.params);
  EXPECT_EQ(on_gpu.gpu_memory, uint64_t{1} << 30);
  EXPECT_EQ(on_gpu.seq, 128);
}

TEST(PlaceTest, FindLargestModelReportsNoneWhenTheSmallestDoesNotFit) {
  LargestModelRequest request = SmallSearch();
  request.budget.gpu_bytes = 1 << 20;
  const auto cuda = placement::MakePlacementPolicy("cuda").value();
  StatusOr<std::vector<LargestModelReport>> found = FindLargestModel(request, {cuda.get()});
  ASSERT_TRUE(found.ok());
  EXPECT_FALSE((*found)[0].largest.has_value());
  EXPECT_EQ(nlohmann::ordered_json((*found)[0]).dump(),
            "{\"policy\":\"cuda\",\"family\":\"gpt2:n_embd=768,n_head=12\",\"cluster\":"
            "\"v100-32g\",\"tp\":1,\"pp\":1,\"dp\":1,\"cp\":1,\"dp_shard\":1,\"dp_replicate\":1,"
            "\"mesh\":\"megatron\",\"gpu_memory\":1048576,\"host_memory\":4294967296,\"batch\":1,"
            "\"seq\":128,\"largest\":null,\"params\":0,\"next_fails\":\"\"}");
}

TEST(PlaceTest, LargestModelReportRoundTripsThroughJson) {
  LargestModelReport r;
  r.policy = "auto";
  r.family = "gpt2";
  r.cluster = "v100-32g";
  r.dp = 8;
  r.dp_shard = 4;
  r.dp_replicate = 2;
  r.cp = 2;
  r.mesh = "torchtitan";
  r.gpu_memory = 34359738368u;
  r.host_memory = 1;
  r.batch = 8;
  r.seq = 1024;
  r.largest = "gpt2:n_layer=3,n_embd=768,n_head=12";
  r.params = 123;
  r.next_fails = "OOM";
  const nlohmann::ordered_json j = r;
  const LargestModelReport back = j.get<LargestModelReport>();
  EXPECT_EQ(nlohmann::ordered_json(back).dump(), j.dump());
  EXPECT_EQ(back.largest, r.largest);
}

// GPT-2 small on one V100-32GB, rank 0, accounting only (no sim, no bytes).
PlaceRequest SmallPlace() {
  PlaceRequest request;
  request.cluster = "v100-32g";
  request.layout =
      core::ParallelLayout::Make(core::LayoutConfig{}, core::MakeModel("gpt2-small").value())
          .value();
  request.backend = PlaceBackend::kAccounting;
  request.step.seq_len = 256;
  request.policies = {"cuda", "auto"};
  return request;
}

TEST(RunPlaceTest, GptSmallFitsOnAV100) {
  StatusOr<PlaceReport> report = RunPlace(SmallPlace());
  ASSERT_TRUE(report.ok()) << report.status().message();
  ASSERT_EQ(report->policies.size(), 2u);
  const PlacePolicyReport& cuda = report->policies[0];
  EXPECT_EQ(cuda.policy, "cuda");
  EXPECT_TRUE(cuda.fits);
  EXPECT_TRUE(cuda.feasible);
  EXPECT_FALSE(cuda.oom.has_value());
  EXPECT_EQ(cuda.h2d_bytes, 0u);  // nothing moves
  EXPECT_EQ(cuda.backend, "accounting");
  EXPECT_EQ(cuda.heads, 12);
  EXPECT_EQ(cuda.gpu_memory, report->setup.resources.gpu_bytes);  // the cluster's default
  EXPECT_GT(cuda.peak_gpu_bytes, cuda.model_bytes);
  EXPECT_EQ(report->policies[1].policy.substr(0, 4), "auto");
}

TEST(RunPlaceTest, ASmallGpuIsAnOomResultNotAnError) {
  PlaceRequest request = SmallPlace();
  request.gpu_memory = uint64_t{512} << 20;
  StatusOr<PlaceReport> report = RunPlace(request);
  ASSERT_TRUE(report.ok()) << report.status().message();
  const PlacePolicyReport& cuda = report->policies[0];
  EXPECT_FALSE(cuda.fits);
  ASSERT_TRUE(cuda.oom.has_value());
  EXPECT_EQ(cuda.oom->device, "gpu");
  EXPECT_EQ(cuda.oom->shortfall, cuda.oom->requested - cuda.oom->available);
  EXPECT_FALSE(cuda.ratio_to_optimal.has_value());
}

TEST(RunPlaceTest, BadRequestsGiveTheCommandLinesMessages) {
  PlaceRequest rank = SmallPlace();
  rank.rank = 3;
  EXPECT_EQ(rank.Validate().message(), "--rank: expected a rank below the world size 1, got '3'");
  PlaceRequest policy = SmallPlace();
  policy.policies = {"cuda", "gemini"};
  EXPECT_EQ(policy.Validate().message(),
            "--policy: unknown policy 'gemini'; expected cuda, cpu, static, static-documented, "
            "auto, optimal, zero1, zero2, zero3, fsdp2, fsdp2-no-reshard, fsdp2-cpu-offload, "
            "megatron-distopt or all");
  PlaceRequest pinned = SmallPlace();
  pinned.pinned_memory = 1 << 30;
  EXPECT_EQ(pinned.Validate().message(), "--pinned-memory: only with --pin-memory");
  PlaceRequest none = SmallPlace();
  none.layout.reset();
  EXPECT_EQ(none.Validate().message(), "--model: required (or --max-model FAMILY)");
  EXPECT_TRUE(SmallPlace().Validate().ok());
}

TEST(RunPlaceTest, PolicyReportRoundTripsThroughJson) {
  PlaceRequest request = SmallPlace();
  request.policies = {"cuda", "cpu", "static", "auto", "optimal", "zero1", "zero2", "zero3"};
  request.zero.offload_optimizer = true;
  request.timeline = true;
  request.gpu_memory = uint64_t{1} << 30;  // some OOM, some moves
  StatusOr<PlaceReport> report = RunPlace(request);
  ASSERT_TRUE(report.ok()) << report.status().message();
  for (const PlacePolicyReport& r : report->policies) {
    // Note [Peak breakdown]: the parts add up to the peak, under their place --json keys.
    EXPECT_EQ(r.peak_breakdown.total(), r.peak_gpu_bytes) << r.policy;
    const nlohmann::ordered_json j = r;
    for (const char* key : {"params", "grads", "optimizer", "activations", "buffers", "other",
                            "op", "op_index"}) {
      EXPECT_TRUE(j.at("peak_breakdown").contains(key)) << r.policy << " " << key;
    }
    const PlacePolicyReport back = j.get<PlacePolicyReport>();
    EXPECT_EQ(PlaceJsonLine(back), PlaceJsonLine(r)) << r.policy;
    EXPECT_EQ(nlohmann::ordered_json::parse(PlaceJsonLine(r)), j) << r.policy;
  }
  // The coded static policy carries its plan; the keys are place --json's.
  const nlohmann::ordered_json j = report->policies[2];
  EXPECT_EQ(j.at("policy").get<std::string>(), "static(1,0,0)");
  EXPECT_TRUE(j.at("static_plan").is_object());
  EXPECT_TRUE(j.at("timeline").is_array());
  EXPECT_EQ(j.begin().key(), "policy");
  EXPECT_EQ((--j.end()).key(), "timeline");
}

// GPT-2 small over `dp` DP ranks of two DGX A100 nodes, sharded over `dp_shard` of them,
// accounting only, rank `rank`, with a fixed chunk size (a multiple of every shard count here,
// so that only the sharding differs between requests).
PlaceRequest ShardedPlace(int dp, int dp_shard, int rank, int cp = 1,
                          core::MeshConvention mesh = core::MeshConvention::kMegatron) {
  PlaceRequest request = SmallPlace();
  request.cluster = "dgx-a100-80g:nodes=2";
  core::LayoutConfig config;
  config.dp = dp;
  config.dp_shard = dp_shard;
  config.cp = cp;
  config.mesh = mesh;
  request.layout =
      core::ParallelLayout::Make(config, core::MakeModel("gpt2-small").value()).value();
  request.rank = static_cast<uint64_t>(rank);
  request.search.fixed_chunk_size = int64_t{1} << 24;
  request.policies = {"cuda"};
  return request;
}

PlacePolicyReport CudaReport(const PlaceRequest& request) {
  StatusOr<PlaceReport> report = RunPlace(request);
  EXPECT_TRUE(report.ok()) << report.status().message();
  return report.ok() ? report->policies.front() : PlacePolicyReport{};
}

// Gemini's chunks are sharded over the layout's shard group, not the whole DP group: with dp 8
// and dp_shard 4 the four ranks of a replica together keep every chunk once (their model bytes
// sum to the unsharded rank's), and the second replica (dp_replicate 2) keeps the same shards.
TEST(RunPlaceTest, ChunksAreShardedOverTheShardGroupAndReplicasHoldTheSameShards) {
  const PlacePolicyReport whole = CudaReport(ShardedPlace(8, 1, 0));
  EXPECT_EQ(whole.dp_shards, 1);
  EXPECT_EQ(whole.dp_replicate, 8);
  uint64_t replica_bytes = 0;
  for (int r = 0; r < 4; ++r) {
    const PlacePolicyReport shard = CudaReport(ShardedPlace(8, 4, r));
    const PlacePolicyReport replica = CudaReport(ShardedPlace(8, 4, r + 4));
    EXPECT_EQ(shard.dp_shards, 4);
    EXPECT_EQ(shard.dp_shard, 4);
    EXPECT_EQ(shard.dp_replicate, 2);
    EXPECT_EQ(shard.mesh, "megatron");
    EXPECT_EQ(shard.chunk_size, whole.chunk_size);
    EXPECT_EQ(replica.model_bytes, shard.model_bytes) << "rank " << r + 4;
    replica_bytes += shard.model_bytes;
  }
  EXPECT_EQ(replica_bytes, whole.model_bytes);
  // The whole DP group as one shard group (ZeRO-3, the old --dp-shard): eight shards.
  const PlacePolicyReport zero3 = CudaReport(ShardedPlace(8, 8, 0));
  EXPECT_EQ(zero3.dp_shards, 8);
  EXPECT_EQ(zero3.dp_replicate, 1);
  EXPECT_LT(zero3.model_bytes, CudaReport(ShardedPlace(8, 4, 0)).model_bytes);
  // torchtitan's mesh folds cp into the shard group (its fsdp mesh); Megatron's keeps whole
  // copies on the cp ranks.
  EXPECT_EQ(CudaReport(ShardedPlace(2, 2, 0, 2, core::MeshConvention::kTorchtitan)).dp_shards, 4);
  EXPECT_EQ(CudaReport(ShardedPlace(2, 2, 0, 2)).dp_shards, 2);
}

// cp ranks split the sequence (Note [Context parallelism in the step]): a rank's activations
// are those of seq / cp tokens, its parameters those of cp = 1.
TEST(RunPlaceTest, ContextParallelismDividesTheSequenceOfActivations) {
  PlaceRequest split = ShardedPlace(1, 1, 0, /*cp=*/2);
  split.step.seq_len = 512;
  PlaceRequest half = ShardedPlace(1, 1, 0);
  half.step.seq_len = 256;
  PlaceRequest full = ShardedPlace(1, 1, 0);
  full.step.seq_len = 512;
  const PlacePolicyReport s = CudaReport(split), h = CudaReport(half), f = CudaReport(full);
  EXPECT_EQ(s.cp, 2);
  EXPECT_EQ(s.seq, 512);
  EXPECT_EQ(s.layer_activation_bytes, placement::LayerActivationBytes(256, 1, 768, 12, 1));
  EXPECT_EQ(s.layer_activation_bytes, h.layer_activation_bytes);
  EXPECT_EQ(s.stage_activation_bytes, h.stage_activation_bytes);
  EXPECT_LT(s.layer_activation_bytes, f.layer_activation_bytes);
  EXPECT_LT(s.peak_gpu_bytes, f.peak_gpu_bytes);
  EXPECT_EQ(s.model_bytes, f.model_bytes);  // Megatron: parameters replicated over cp
  // Megatron-LM splits each sequence into 2 x cp pieces.
  PlaceRequest odd = ShardedPlace(1, 1, 0, /*cp=*/2);
  odd.step.seq_len = 510;
  EXPECT_EQ(odd.Validate().message(),
            "--seq: --cp 2 splits each sequence into 2 x cp = 4 pieces, as Megatron-LM does; "
            "expected a multiple of 4, got 510");
}

TEST(RunPlaceTest, JsonLineWritesDoublesAsFmtDoes) {
  PlacePolicyReport r;
  r.ratio_to_optimal = 2.0;
  r.step_time_s = 0.5;
  const std::string line = PlaceJsonLine(r);
  EXPECT_NE(line.find("\"ratio_to_optimal\":2,"), std::string::npos) << line;
  EXPECT_NE(line.find("\"step_time_s\":0.5,"), std::string::npos) << line;
  EXPECT_NE(line.find("\"oom\":null,"), std::string::npos) << line;
}

}  // namespace
}  // namespace twinsim::harness
