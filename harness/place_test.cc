#include "harness/place.h"

#include <gtest/gtest.h>

#include "core/model_presets.h"
#include "core/parallel_layout.h"
#include "core/topology_presets.h"
#include "policies/placement/registry.h"

namespace twinsim::harness {
namespace {

TEST(PlaceTest, RanksFillTheNodesGpusInOrder) {
  const core::Topology t = core::MakeTopology("dgx-a100-80g:nodes=2").value();
  const RankResources r0 = ResourcesOfRank(t, 0);
  const RankResources r9 = ResourcesOfRank(t, 9);
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
            "\"v100-32g\",\"gpu_memory\":1048576,\"host_memory\":4294967296,\"batch\":1,"
            "\"seq\":128,\"largest\":null,\"params\":0,\"next_fails\":\"\"}");
}

TEST(PlaceTest, LargestModelReportRoundTripsThroughJson) {
  LargestModelReport r;
  r.policy = "auto";
  r.family = "gpt2";
  r.cluster = "v100-32g";
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
            "auto, optimal or all");
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
  request.policies = {"all"};
  request.timeline = true;
  request.gpu_memory = uint64_t{1} << 30;  // some OOM, some moves
  StatusOr<PlaceReport> report = RunPlace(request);
  ASSERT_TRUE(report.ok()) << report.status().message();
  for (const PlacePolicyReport& r : report->policies) {
    const nlohmann::ordered_json j = r;
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
