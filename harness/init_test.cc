#include "harness/init.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "harness/layout.h"

namespace twinsim::harness {
namespace {

// tiny-mlp over two tensor-parallel ranks: small enough for every property in well under a
// second.
InitRequest TinyRequest(std::vector<std::string> policies) {
  InitRequest request;
  request.layout.model = "tiny-mlp";
  request.layout.tp = 2;
  request.policies = std::move(policies);
  return request;
}

TEST(InitTest, CounterHoldsEveryClaimOnTensorParallelRanks) {
  StatusOr<InitReport> report = RunInit(TinyRequest({"counter"}));
  ASSERT_TRUE(report.ok()) << report.status().message();
  ASSERT_EQ(report->policies.size(), 1u);
  const InitPolicyReport& counter = report->policies[0];
  EXPECT_EQ(counter.policy, "counter");
  EXPECT_EQ(counter.layout.world, 2);
  EXPECT_EQ(counter.properties.size(), policies::seed::AllProperties().size());
  for (const InitPropertyReport& row : counter.properties) {
    EXPECT_EQ(row.verdict, "holds") << row.property << ": " << row.detail;
    EXPECT_TRUE(row.claimed) << row.property;
  }
  EXPECT_FALSE(counter.broke_claim);
  EXPECT_EQ(counter.cost.per_rank.size(), 2u);
  EXPECT_TRUE(report->BrokenClaims().empty());
  EXPECT_EQ(report->ClaimsChecked(), static_cast<int>(counter.properties.size()));
}

TEST(InitTest, DtensorFailsParityAtTensorParallelTwoWithoutClaimingIt) {
  InitRequest request = TinyRequest({"dtensor"});
  request.checks = {"parity", "replica"};
  StatusOr<InitReport> report = RunInit(request);
  ASSERT_TRUE(report.ok()) << report.status().message();
  const InitPolicyReport& dtensor = report->policies.at(0);
  const InitPropertyReport* parity = dtensor.Find("parity");
  ASSERT_NE(parity, nullptr);
  EXPECT_EQ(parity->verdict, "fails");
  EXPECT_FALSE(parity->claimed);
  EXPECT_FALSE(parity->detail.empty());
  EXPECT_EQ(dtensor.Find("replica")->verdict, "holds");
  EXPECT_EQ(dtensor.Find("distinct"), nullptr);  // not asked for
  EXPECT_FALSE(dtensor.broke_claim);             // a property it does not claim
}

TEST(InitTest, BadRequestsGetTheCommandLinesMessages) {
  const struct {
    std::function<void(InitRequest&)> change;
    std::string message;
  } cases[] = {
      {[](InitRequest& q) { q.layout.tp = 0; }, "--tp: expected a positive integer, got '0'"},
      {[](InitRequest& q) { q.layout.model = "no-such-model"; }, "--model: "},
      {[](InitRequest& q) { q.policies = {}; }, "--policy: required"},
      {[](InitRequest& q) { q.policies = {"counter", "counter"}; },
       "--policy: 'counter' given twice"},
      {[](InitRequest& q) { q.policies = {"nope"}; }, "--policy: "},
      {[](InitRequest& q) { q.checks = {"parity", ""}; },
       "--check: expected comma-separated names without empty items, got 'parity,'"},
      {[](InitRequest& q) { q.checks = {"parrity"}; }, "--check: "},
      {[](InitRequest& q) { q.cluster = "dgx-h100"; }, "--cluster: only with --backend sim"},
      {[](InitRequest& q) { q.backend = InitBackend::kSim; },
       "--cluster: required with --backend sim (e.g. --cluster dgx-h100:nodes=2)"},
      {[](InitRequest& q) { q.gpu = "z80"; }, "--gpu: "},
      {[](InitRequest& q) { q.layout.mesh = "grid"; },
       "--mesh: expected 'megatron' or 'torchtitan', got 'grid'"},
      {[](InitRequest& q) { q.layout.tp = 4096; q.layout.dp = 2; },
       "--dp: world size dp * pp * tp * cp = 2 * 1 * 4096 * 1 = 8,192 exceeds 4,096 (twinsim "
       "init runs every rank as a thread; --backend sim goes further)"},
  };
  for (const auto& c : cases) {
    InitRequest request = TinyRequest({"counter"});
    c.change(request);
    const Status status = request.Validate();
    EXPECT_EQ(status.code(), StatusCode::kInvalidArgument) << c.message;
    EXPECT_EQ(std::string(status.message()).rfind(c.message, 0), 0u)
        << "got: " << status.message() << "\nwanted a message starting: " << c.message;
    EXPECT_FALSE(RunInit(request).ok());
  }
  EXPECT_TRUE(TinyRequest({"counter"}).Validate().ok());
}

TEST(InitTest, JsonRoundTripKeepsEveryKeyInTheCommandsOrder) {
  InitRequest request = TinyRequest({"counter", "seed-checkpoint"});
  request.checks = {"parity", "init-fits"};
  request.seed = 7;
  StatusOr<InitReport> report = RunInit(request);
  ASSERT_TRUE(report.ok()) << report.status().message();
  for (const InitPolicyReport& r : report->policies) {
    const nlohmann::ordered_json j = r;
    // The printed line and to_json agree key for key, in order.
    EXPECT_EQ(nlohmann::ordered_json::parse(InitJsonLine(r)).dump(), j.dump());
    const InitPolicyReport back = j.get<InitPolicyReport>();
    EXPECT_EQ(nlohmann::ordered_json(back).dump(), j.dump());
    EXPECT_EQ(InitJsonLine(back), InitJsonLine(r));
  }
  std::vector<std::string> keys;
  const nlohmann::ordered_json counter = report->policies[0];
  for (const auto& item : counter.items()) {
    keys.push_back(item.key());
  }
  EXPECT_EQ(keys, (std::vector<std::string>{"policy", "version", "models", "init_device",
                                            "layout", "seed", "gpu", "device_memory_bytes",
                                            "host_memory_bytes", "properties", "cost",
                                            "broke_claim"}));
  // seed-checkpoint has a job before training: "offline" comes before "broke_claim".
  const nlohmann::ordered_json checkpoint = report->policies[1];
  ASSERT_TRUE(checkpoint.contains("offline"));
  EXPECT_TRUE(checkpoint["offline"]["time_s"].is_null());  // no time on the host backend
  const nlohmann::ordered_json all = *report;
  EXPECT_EQ(all.get<InitReport>().policies.size(), 2u);
  // A renamed key is an error, not a silent default.
  nlohmann::ordered_json renamed = report->policies[0];
  renamed.erase("broke_claim");
  renamed["broken_claim"] = false;
  EXPECT_THROW(renamed.get<InitPolicyReport>(), nlohmann::json::exception);
}

}  // namespace
}  // namespace twinsim::harness
