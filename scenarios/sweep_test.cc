// RunSweep through the library: in-process cases (a runner on threads) and child processes give
// the same records, byte for byte, for any number of jobs; needs_process, trace and a case
// timeout send a case to a child; the tally counts what ran where.
#include "scenarios/sweep.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace twinsim::scenarios {
namespace {

std::string TestDir(const std::string& name) {
  const char* tmp = std::getenv("TEST_TMPDIR");
  return std::string(tmp != nullptr ? tmp : "/tmp") + "/" + name;
}

std::string Read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::vector<ScenarioCase> Cases(int n) {
  std::vector<ScenarioCase> cases;
  for (int i = 0; i < n; ++i) {
    ScenarioCase c;
    c.id = "chunks-" + std::to_string(100000000000 + i);
    c.index = i;
    c.command = "chunks";
    c.label = "case " + std::to_string(i);
    c.options.push_back(CaseOption{"n", std::to_string(i), false, true, 1});
    cases.push_back(c);
  }
  return cases;
}

// What a child prints: the same line the runner below prints for the same arguments, so a
// record must not depend on where its case ran. `$3` is the value of --n.
std::string ChildScript() {
  const std::string path = TestDir("child.sh");
  std::ofstream(path) << "#!/bin/sh\n"
                         "echo \"{\\\"n\\\":$3,\\\"wall_s\\\":0.5}\"\n"
                         "echo \"note for $3\" >&2\n"
                         "exit $(( $3 % 3 == 2 ))\n";
  chmod(path.c_str(), 0755);
  return path;
}

CaseOutput Runner(const std::vector<std::string>& args) {
  // args: {"chunks", "--n", N, "--json"}
  const int n = std::stoi(args.at(2));
  return CaseOutput{n % 3 == 2 ? 1 : 0, "{\"n\":" + args.at(2) + ",\"wall_s\":0.25}\n",
                    "note for " + args.at(2) + "\n"};
}

std::vector<std::string> Records(const std::vector<ScenarioCase>& cases, const std::string& dir) {
  std::vector<std::string> records;
  for (const ScenarioCase& c : cases) records.push_back(Read(dir + "/cases/" + c.id + ".json"));
  return records;
}

TEST(RunSweepTest, InProcessAndChildRecordsAreTheSameBytesForAnyJobs) {
  const std::vector<ScenarioCase> cases = Cases(9);
  SweepOptions child;
  child.twinsim = ChildScript();
  child.out_dir = TestDir("child");
  child.jobs = 1;
  const StatusOr<SweepTally> by_child = RunSweep(cases, child);
  ASSERT_TRUE(by_child.ok()) << by_child.status().ToString();
  EXPECT_EQ(by_child->in_process, 0);
  EXPECT_EQ(by_child->ok, 6);
  EXPECT_EQ(by_child->failed, 3);

  for (const int jobs : {1, 4}) {
    SweepOptions threads = child;
    threads.out_dir = TestDir("threads" + std::to_string(jobs));
    threads.jobs = jobs;
    threads.run_in_process = Runner;
    const StatusOr<SweepTally> by_thread = RunSweep(cases, threads);
    ASSERT_TRUE(by_thread.ok()) << by_thread.status().ToString();
    EXPECT_EQ(by_thread->in_process, 9);
    EXPECT_EQ(by_thread->ok, 6);
    EXPECT_EQ(by_thread->failed, 3);
    EXPECT_EQ(Records(cases, threads.out_dir), Records(cases, child.out_dir)) << "jobs " << jobs;
  }
  const std::string record = Read(child.out_dir + "/cases/" + cases[2].id + ".json");
  EXPECT_NE(record.find("\"status\":\"failed\""), std::string::npos) << record;
  EXPECT_NE(record.find("\"stderr\":\"note for 2\""), std::string::npos) << record;
  EXPECT_EQ(record.find("wall_s"), std::string::npos) << record;  // moved to timings.jsonl
}

TEST(RunSweepTest, NeedsProcessTraceAndTimeoutSendACaseToAChild) {
  std::vector<ScenarioCase> cases = Cases(4);
  cases[3].trace = true;
  std::atomic<int> calls{0};
  SweepOptions options;
  options.twinsim = ChildScript();
  options.out_dir = TestDir("mixed");
  options.jobs = 2;
  options.run_in_process = [&calls](const std::vector<std::string>& args) {
    ++calls;
    return Runner(args);
  };
  options.needs_process = [](const ScenarioCase& c) { return c.index == 1; };
  const StatusOr<SweepTally> tally = RunSweep(cases, options);
  ASSERT_TRUE(tally.ok()) << tally.status().ToString();
  EXPECT_EQ(tally->in_process, 2);  // cases 0 and 2
  EXPECT_EQ(calls.load(), 2);

  options.out_dir = TestDir("timeout");
  options.case_timeout_s = 60;  // a thread cannot be killed: every case in a child
  calls = 0;
  const StatusOr<SweepTally> timed = RunSweep(cases, options);
  ASSERT_TRUE(timed.ok()) << timed.status().ToString();
  EXPECT_EQ(timed->in_process, 0);
  EXPECT_EQ(calls.load(), 0);
}

TEST(RunSweepTest, ARunnerThatThrowsIsAFailedCaseNotACrash) {
  const std::vector<ScenarioCase> cases = Cases(2);
  SweepOptions options;
  options.twinsim = ChildScript();
  options.out_dir = TestDir("throws");
  options.run_in_process = [](const std::vector<std::string>&) -> CaseOutput {
    throw std::runtime_error("boom");
  };
  const StatusOr<SweepTally> tally = RunSweep(cases, options);
  ASSERT_TRUE(tally.ok()) << tally.status().ToString();
  EXPECT_EQ(tally->failed, 2);
  EXPECT_NE(Read(options.out_dir + "/cases/" + cases[0].id + ".json").find("boom"),
            std::string::npos);
}

}  // namespace
}  // namespace twinsim::scenarios
