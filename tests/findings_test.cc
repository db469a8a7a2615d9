// `twinsim findings` as a test: every registered finding reproduces as expected (RunFindings,
// harness/findings.h), the report's JSON carries every field, and an unknown id is refused.
#include "harness/findings.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <string>

namespace twinsim::harness {
namespace {

TEST(FindingsTest, EveryFindingReproduces) {
  StatusOr<FindingsReport> report = RunFindings({});
  ASSERT_TRUE(report.ok()) << report.status().message();
  ASSERT_EQ(report->findings.size(), Findings().size());
  for (const FindingResult& f : report->findings) {
    EXPECT_TRUE(f.reproduced) << f.id << ": " << f.error << f.counterexample;
    EXPECT_FALSE(f.upstream.empty()) << f.id;
    EXPECT_NE(f.command.find("twinsim "), std::string::npos) << f.id;
    EXPECT_FALSE(f.counterexample.empty()) << f.id;
    std::printf("%s (%.2f s): %s\n", f.id.c_str(), f.wall_s, f.counterexample.c_str());
  }
  EXPECT_TRUE(report->AllReproduced());
  const std::string json = report->ToJson();
  EXPECT_NE(json.find("\"all_reproduced\":true"), std::string::npos) << json;
  EXPECT_NE(json.find("\"id\":\"shard-local-fan\""), std::string::npos) << json;
}

TEST(FindingsTest, OnlyRunsTheNamedFindings) {
  StatusOr<FindingsReport> report = RunFindings({{"dtensor-layout-dependence"}});
  ASSERT_TRUE(report.ok());
  ASSERT_EQ(report->findings.size(), 1u);
  EXPECT_EQ(report->findings[0].id, "dtensor-layout-dependence");
  StatusOr<FindingsReport> bad = RunFindings({{"dtensor-layout"}});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("unknown finding 'dtensor-layout'"), std::string::npos)
      << bad.status().message();
}

}  // namespace
}  // namespace twinsim::harness
