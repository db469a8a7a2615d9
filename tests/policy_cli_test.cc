// Runs //:twinsim's `show policy` and `findings` commands: a seed policy's claims and
// provenance in text and JSON, a placement policy, the list, an unknown name (exit 2 with the
// known names), and `findings --help`, `--only ... --json` and a bad --only.
#include <gtest/gtest.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tests/twinsim_runner.h"

namespace twinsim {
namespace {

using testing::Describe;
using testing::RunResult;
using testing::Twinsim;

RunResult Ok(const std::vector<std::string>& args) {
  const RunResult r = Twinsim(args);
  EXPECT_EQ(r.exit_code, 0) << Describe(args) << "\nstderr: " << r.err;
  EXPECT_EQ(r.err, "") << Describe(args);
  return r;
}

TEST(ShowPolicyCliTest, SeedPolicyPrintsModelsVersionClaimsAndProvenance) {
  const RunResult r = Ok({"show", "policy", "torch-serial"});
  EXPECT_NE(r.out.find("policy       torch-serial (seed policy, version "), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("models       "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("parity when tp == 1"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("distribution"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("provenance   "), std::string::npos) << r.out;
  // shard-local cites its sources and claims no distribution.
  const nlohmann::json j =
      nlohmann::json::parse(Ok({"show", "policy", "shard-local", "--json"}).out);
  EXPECT_EQ(j["name"], "shard-local");
  EXPECT_EQ(j["kind"], "seed");
  ASSERT_FALSE(j["provenance"]["sources"].empty());
  EXPECT_FALSE(j["provenance"]["sources"][0]["text"].get<std::string>().empty());
  bool distribution_unclaimed = false;
  for (const auto& p : j["not_claimed"]) distribution_unclaimed |= p == "distribution";
  EXPECT_TRUE(distribution_unclaimed) << j.dump();
  // twinsim's own scheme says so.
  EXPECT_NE(Ok({"show", "policy", "counter"}).out.find("twinsim's own scheme"), std::string::npos);
}

TEST(ShowPolicyCliTest, PlacementPolicyAndListing) {
  const RunResult r = Ok({"show", "policy", "static"});
  EXPECT_NE(r.out.find("(placement policy; with default options: static"), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("provenance   "), std::string::npos) << r.out;
  const nlohmann::json j = nlohmann::json::parse(Ok({"show", "policy", "auto", "--json"}).out);
  EXPECT_EQ(j["kind"], "placement");
  EXPECT_TRUE(j["provenance"].contains("sources"));
  const nlohmann::json list = nlohmann::json::parse(Ok({"show", "policy", "--json"}).out);
  EXPECT_EQ(list["seed"].size(), 14u);
  // static-documented too, zero1-3, fsdp2 and its two variants, megatron-distopt
  EXPECT_EQ(list["placement"].size(), 13u);
}

TEST(ShowPolicyCliTest, UnknownPolicyExitsTwoListingTheKnownOnes) {
  const RunResult r = Twinsim({"show", "policy", "megatorn"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.out, "");
  EXPECT_NE(r.err.find("unknown policy 'megatorn'"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("seed policies: torch-serial"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("placement policies: cuda"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
}

TEST(FindingsCliTest, HelpOnlyAndJson) {
  const RunResult help = Ok({"findings", "--help"});
  EXPECT_NE(help.out.find("shard-local-fan"), std::string::npos) << help.out;
  const RunResult r = Ok({"findings", "--only", "megatron-additive-seeds", "--json"});
  const nlohmann::json j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["all_reproduced"], true);
  ASSERT_EQ(j["findings"].size(), 1u);
  EXPECT_EQ(j["findings"][0]["reproduced"], true);
  EXPECT_NE(j["findings"][0]["counterexample"].get<std::string>().find("distinct fails"),
            std::string::npos);
  const RunResult text = Ok({"findings", "--only", "dtensor-layout-dependence"});
  EXPECT_NE(text.out.find("REPRODUCED dtensor-layout-dependence"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("1 of 1 findings reproduced"), std::string::npos) << text.out;
  const RunResult bad = Twinsim({"findings", "--only", "nope"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_EQ(bad.out, "");
  EXPECT_NE(bad.err.find("--only: unknown finding 'nope'"), std::string::npos) << bad.err;
}

}  // namespace
}  // namespace twinsim
