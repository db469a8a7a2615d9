// The dispatcher on several threads at once, as `twinsim sweep` runs its in-process cases
// (Note [In-process cases] in scenarios/sweep.cc): every run prints what it prints alone, and
// each command's diagnostics go to its own Dispatch's err. Under --config=tsan (tag "threads")
// this is also the race check of init, place (accounting) and chunks run concurrently.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "tools/cli/chunks_command.h"
#include "tools/cli/command.h"
#include "tools/cli/init_command.h"
#include "tools/cli/place_command.h"

namespace twinsim::cli {
namespace {

using Printed = CapturedRun;

const std::vector<CommandGroup>& Groups() {
  static const std::vector<CommandGroup> groups = {InitCommandGroup(), PlaceCommandGroup(),
                                                   ChunksCommandGroup()};
  return groups;
}

Printed RunCaptured(const std::vector<std::string>& args) {
  return DispatchCaptured(Groups(), args);
}

const std::vector<std::vector<std::string>>& Cases() {
  static const std::vector<std::vector<std::string>> cases = {
      {"twinsim", "init", "--model", "tiny-mlp", "--tp", "2", "--dp", "2", "--policy",
       "counter,megatron", "--json"},
      {"twinsim", "init", "--model", "tiny-mlp", "--pp", "2", "--policy", "torch-serial", "--json"},
      {"twinsim", "place", "--cluster", "rtx3090", "--model", "gpt2-small", "--backend",
       "accounting", "--policy", "cuda,auto", "--json"},
      {"twinsim", "chunks", "--model", "gpt2-small", "--dp", "2", "--json"},
      {"twinsim", "init", "--model", "tiny-mlp", "--tp", "0", "--policy", "counter"},  // bad
  };
  return cases;
}

TEST(DispatchThreadsTest, ConcurrentRunsPrintWhatEachPrintsAlone) {
  std::vector<Printed> alone;
  for (const auto& args : Cases()) alone.push_back(RunCaptured(args));
  EXPECT_EQ(alone[0].exit_code, 0) << alone[0].err;
  EXPECT_EQ(alone[2].exit_code, 0) << alone[2].err;
  EXPECT_EQ(alone[3].exit_code, 0) << alone[3].err;
  EXPECT_EQ(alone[4].exit_code, 2);
  EXPECT_NE(alone[4].err.find("--tp"), std::string::npos) << alone[4].err;

  constexpr int kRounds = 2;
  std::vector<Printed> together(Cases().size() * kRounds);
  std::vector<std::thread> threads;
  for (size_t i = 0; i < together.size(); ++i) {
    threads.emplace_back(
        [i, &together] { together[i] = RunCaptured(Cases()[i % Cases().size()]); });
  }
  for (std::thread& t : threads) t.join();
  for (size_t i = 0; i < together.size(); ++i) {
    EXPECT_TRUE(together[i] == alone[i % Cases().size()]) << "case " << i % Cases().size();
  }
}

TEST(DispatchThreadsTest, DiagnosticsAreStderrOutsideADispatch) {
  EXPECT_EQ(DiagnosticsStream(), stderr);
  RunCaptured(Cases()[4]);
  EXPECT_EQ(DiagnosticsStream(), stderr);  // restored when the Dispatch returned
}

}  // namespace
}  // namespace twinsim::cli
