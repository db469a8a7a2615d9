// Each //third_party wrapper compiles, links and does one real thing, so a broken system
// package or link flag shows up here rather than in the first package that needs it.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nccl.h>
#include <rapidcheck/gtest.h>
#include <toml++/toml.h>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <simgrid/s4u.hpp>
#include <string>
#include <vector>

namespace {

TEST(WrappersTest, FmtFormats) { EXPECT_EQ(fmt::format("{:>5}|{:.2f}", 42, 1.005), "   42|1.00"); }

TEST(WrappersTest, TomlPlusPlusParsesAndReportsLines) {
  const toml::table t = toml::parse("[cluster]\npreset = \"dgx-h100\"\nnodes = 2\n");
  EXPECT_EQ(t["cluster"]["preset"].value_or(std::string()), "dgx-h100");
  EXPECT_EQ(t["cluster"]["nodes"].value_or(0), 2);
  try {
    (void)toml::parse("a = 1\nb = = 2\n");
    FAIL() << "malformed TOML parsed";
  } catch (const toml::parse_error& e) {
    EXPECT_EQ(e.source().begin.line, 2u);
  }
}

TEST(WrappersTest, NlohmannJsonRoundTrips) {
  const nlohmann::json j = nlohmann::json::parse(R"({"tp": 4, "ok": true})");
  EXPECT_EQ(j["tp"].get<int>(), 4);
  EXPECT_EQ(j.dump(), R"({"ok":true,"tp":4})");
}

TEST(WrappersTest, Cli11ParsesOptions) {
  CLI::App app("t");
  int tp = 0;
  app.add_option("--tp", tp);
  std::vector<std::string> args = {"8", "--tp"};  // CLI11 parses a reversed vector
  app.parse(args);
  EXPECT_EQ(tp, 8);
}

TEST(WrappersTest, NcclLinksAndReportsItsVersion) {
  int version = 0;
  ASSERT_EQ(ncclGetVersion(&version), ncclSuccess);  // needs no GPU
  EXPECT_GE(version, 20000);
}

// A two-host SimGrid platform: one actor sends 1 GB to another over a 100 GB/s link, as
// twinsim's sim backend will (CM02 model, so the time is bandwidth and latency only).
TEST(WrappersTest, SimGridRunsATransferInSimulatedTime) {
  int argc = 1;
  char name[] = "wrappers_test";
  char* argv[] = {name, nullptr};
  simgrid::s4u::Engine engine(&argc, argv);
  engine.set_config("network/model:CM02");
  engine.set_config("network/crosstraffic:0");
  auto* zone = simgrid::s4u::create_full_zone("node");
  simgrid::s4u::Host* a = zone->create_host("gpu0", 1e12);
  simgrid::s4u::Host* b = zone->create_host("gpu1", 1e12);
  auto* link = zone->create_split_duplex_link("nvlink", 100e9)->set_latency(1e-6);
  zone->add_route(a->get_netpoint(), b->get_netpoint(), nullptr, nullptr,
                  {{link, simgrid::s4u::LinkInRoute::Direction::UP}}, true);
  zone->seal();
  double received_at = -1;
  simgrid::s4u::Actor::create("sender", a, [] {
    static int payload = 7;
    simgrid::s4u::Mailbox::by_name("m")->put(&payload, 1e9);
  });
  simgrid::s4u::Actor::create("receiver", b, [&received_at] {
    simgrid::s4u::Mailbox::by_name("m")->get<int>();
    received_at = simgrid::s4u::Engine::get_clock();
  });
  engine.run();
  EXPECT_NEAR(received_at, 1e9 / 100e9, 1e-4);
}

// RapidCheck's GoogleTest integration: a property over generated vectors.
RC_GTEST_PROP(WrappersTest, RapidCheckReversingTwiceIsIdentity, (std::vector<int> v)) {
  std::vector<int> r(v.rbegin(), v.rend());
  std::reverse(r.begin(), r.end());
  RC_ASSERT(r == v);
}

}  // namespace
