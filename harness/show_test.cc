// RunShowModel, RunShowLayout, RunShowCluster, RunShowPolicy and the listings, without a
// process: good requests, bad ones with the messages the command prints, and each report's
// JSON round trip (to_json -> CompactJson -> parse -> from_json gives the report back).
#include "harness/show.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "harness/json_line.h"

namespace twinsim::harness {
namespace {

using Json = nlohmann::ordered_json;

// The report back from the line the command would print.
template <typename Report>
Report RoundTrip(const Report& r) {
  const std::string line = CompactJson(Json(r));
  return Json::parse(line).template get<Report>();
}

bool StartsWith(const std::string& text, const std::string& prefix) {
  return text.rfind(prefix, 0) == 0;
}

TEST(RunShowModelTest, ListsTinyMlpParametersByRole) {
  StatusOr<ShowModelReport> r = RunShowModel({"tiny-mlp"});
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->name, "tiny-mlp");
  ASSERT_TRUE(r->params.has_value());
  EXPECT_EQ(r->params->size(), r->num_tensors);
  int64_t elements = 0;
  for (const ShowRoleTotal& t : r->roles) elements += t.elements;
  EXPECT_EQ(elements, r->num_params);  // tied copies apart
  int64_t numel = 0;
  for (const ShowParamReport& p : *r->params) numel += p.tied_to.empty() ? p.numel : 0;
  EXPECT_EQ(numel, r->num_params);
}

TEST(RunShowModelTest, SummaryLeavesOutTheParameters) {
  StatusOr<ShowModelReport> r = RunShowModel({"gpt2:n_layer=2,n_embd=128,n_head=4", true});
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_FALSE(r->params.has_value());
  EXPECT_FALSE(CompactJson(Json(*r)).find("\"params\"") != std::string::npos);
  EXPECT_EQ(RoundTrip(*r), *r);
}

TEST(RunShowModelTest, RefusesAnUnknownModelNamingTheOption) {
  const ShowModelRequest q{"nosuchmodel"};
  EXPECT_TRUE(StartsWith(q.Validate().message(), "--model: unknown model 'nosuchmodel'"))
      << q.Validate().message();
  EXPECT_EQ(RunShowModel(q).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ShowModelRequest{"\xff"}.Validate().message(), "--model: expected UTF-8 text");
}

TEST(RunShowModelTest, ReportsRoundTripThroughJson) {
  StatusOr<ShowModelReport> r = RunShowModel({"tiny-mlp"});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(RoundTrip(*r), *r);
  StatusOr<ShowModelList> list = ListModels();
  ASSERT_TRUE(list.ok());
  EXPECT_FALSE(list->presets.empty());
  EXPECT_FALSE(list->families.empty());
  ShowModelList back = RoundTrip(*list);
  EXPECT_TRUE(back.hf_model_types.empty());  // not in JSON
  back.hf_model_types = list->hf_model_types;
  EXPECT_EQ(back, *list);
}

ShowLayoutRequest Gpt2Layout() {
  ShowLayoutRequest q;
  q.layout.model = "gpt2-small";
  q.layout.tp = 2;
  q.layout.pp = 2;
  q.layout.dp = 2;
  return q;
}

TEST(RunShowLayoutTest, ReportsEveryRankUnlessCapped) {
  ShowLayoutRequest q = Gpt2Layout();
  StatusOr<ShowLayoutReport> r = RunShowLayout(q);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->world_size, 8);
  EXPECT_EQ(r->num_stages, 2);
  ASSERT_EQ(r->ranks.size(), 8u);
  int64_t stage_elements = 0;
  for (const ShowStageReport& s : r->stages) stage_elements += s.elements;
  EXPECT_GE(stage_elements, r->num_params);  // tied copies counted on both stages
  for (const ShowRankReport& k : r->ranks) EXPECT_EQ(k.elements_kept, k.elements);  // no dp_shard
  EXPECT_EQ(RoundTrip(*r), *r);
  q.max_ranks = 3;
  r = RunShowLayout(q);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->ranks.size(), 3u);
  EXPECT_EQ(r->world_size, 8);
}

TEST(RunShowLayoutTest, RefusesAWorldAboveTheLimit) {
  ShowLayoutRequest q = Gpt2Layout();
  q.layout.tp = 256;
  q.layout.pp = 1;
  q.layout.dp = 512;
  EXPECT_EQ(q.Validate().message(),
            "--dp: world size dp * pp * tp * cp = 512 * 1 * 256 * 1 = 131,072 exceeds 65,536");
  EXPECT_FALSE(RunShowLayout(q).ok());
}

TEST(RunShowClusterTest, ReportsNodeZerosHardware) {
  StatusOr<ShowClusterReport> r = RunShowCluster({"dgx-h100:nodes=2"});
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->nodes, 2u);
  EXPECT_EQ(r->gpus_per_node, 8u);
  EXPECT_EQ(r->num_gpus, 16);
  EXPECT_EQ(r->nvlink_kind, "nvswitch");
  EXPECT_GT(r->hbm_bandwidth_bytes_per_s, 0);
  EXPECT_EQ(RoundTrip(*r), *r);
  StatusOr<ShowClusterList> list = ListClusters();
  ASSERT_TRUE(list.ok());
  ASSERT_FALSE(list->presets.empty());
  ShowClusterList back = RoundTrip(*list);
  for (size_t i = 0; i < back.presets.size(); ++i) {  // memory and NVLink are text only
    back.presets[i].gpu_memory_bytes = list->presets[i].gpu_memory_bytes;
    back.presets[i].nvlink_kind = list->presets[i].nvlink_kind;
  }
  EXPECT_EQ(back, *list);
}

TEST(RunShowClusterTest, RefusesAnUnknownPreset) {
  const ShowClusterRequest q{"nosuch"};
  EXPECT_TRUE(StartsWith(q.Validate().message(), "--cluster: unknown cluster preset 'nosuch'"))
      << q.Validate().message();
}

TEST(RunShowPolicyTest, ReportsSeedAndPlacementPolicies) {
  StatusOr<ShowPolicyReport> seed = RunShowPolicy({"megatron"});
  ASSERT_TRUE(seed.ok()) << seed.status().message();
  EXPECT_EQ(seed->kind, "seed");
  EXPECT_FALSE(seed->provenance.sources.empty());  // Megatron-LM is cited
  EXPECT_EQ(seed->claims.size() + seed->not_claimed.size(), 6u);  // every property once
  EXPECT_EQ(RoundTrip(*seed), *seed);
  StatusOr<ShowPolicyReport> placement = RunShowPolicy({"static"});
  ASSERT_TRUE(placement.ok()) << placement.status().message();
  EXPECT_EQ(placement->kind, "placement");
  EXPECT_FALSE(placement->instance.empty());
  EXPECT_EQ(RoundTrip(*placement), *placement);
  StatusOr<ShowPolicyList> list = ListPolicies();
  ASSERT_TRUE(list.ok());
  EXPECT_FALSE(list->seed.empty());
  EXPECT_FALSE(list->placement.empty());
  EXPECT_EQ(RoundTrip(*list), *list);
}

TEST(RunShowPolicyTest, RefusesAnUnknownPolicyListingBothKinds) {
  const std::string message = ShowPolicyRequest{"gemini"}.Validate().message();
  // As `twinsim show policy gemini` prints it: no near name, then both lists.
  EXPECT_TRUE(StartsWith(message, "unknown policy 'gemini' (seed policies: torch-serial, "))
      << message;
  EXPECT_NE(message.find("; placement policies: "), std::string::npos) << message;
  EXPECT_EQ(message.back(), ')') << message;
}

}  // namespace
}  // namespace twinsim::harness
