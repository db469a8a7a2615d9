// RunRanksOnSim itself: bad input is a Status, many simulations run in one process (forked, or
// in this process with a fresh engine each), the child's crash or hang is contained, and the
// trace opens as Chrome / Perfetto JSON with each rank's kernels, messages and memory.
#include "sim/sim_run.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>

#include "core/topology_presets.h"
#include "kernels/device_fill.h"

namespace twinsim::sim {
namespace {

using core::BufferRegion;

SimRunOptions Options(int world, const std::string& cluster = "dgx-h100") {
  StatusOr<core::Topology> topology = core::MakeTopology(cluster);
  EXPECT_TRUE(topology.ok()) << topology.status().message();
  SimRunOptions options;
  options.topology = *topology;
  options.world_size = world;
  options.fill = kernels::FillOnHost;
  options.wall_timeout = std::chrono::milliseconds(60'000);
  return options;
}

// Rank 0 fills 1M elements and sends them to rank 1, which copies them to the host.
Status FillSendCopy(int rank, core::Comm& comm, core::Device& device) {
  constexpr uint64_t kElements = 1 << 20;
  StatusOr<core::Buffer> buffer = core::AllocateOrError(device, 4 * kElements, core::kTagParam);
  if (!buffer.ok()) return buffer.status();
  if (rank == 0) {
    core::FillRequest request;
    request.transform.prim = core::Primitive::kNormal;
    request.transform.p[1] = 0.02f;
    request.end = kElements;
    TWINSIM_RETURN_IF_ERROR(device.Fill(BufferRegion::Whole(*buffer), request));
    return comm.Send(1, BufferRegion::Whole(*buffer), 0);
  }
  TWINSIM_RETURN_IF_ERROR(comm.Recv(0, BufferRegion::Whole(*buffer), 0));
  std::vector<std::byte> host(4 * kElements);
  TWINSIM_RETURN_IF_ERROR(device.CopyToHost(BufferRegion::Whole(*buffer), host));
  return device.Free(*buffer);
}

TEST(SimRunTest, BadInputIsAStatus) {
  SimRunOptions options = Options(9);  // one dgx-h100 node has 8 GPUs
  auto nothing = [](int, core::Comm&, core::Device&) { return Status::Ok(); };
  StatusOr<SimRun> too_many = RunRanksOnSim(options, nothing);
  ASSERT_FALSE(too_many.ok());
  EXPECT_EQ(too_many.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(too_many.status().message().find("world size 9"), std::string::npos);
  options.world_size = 0;
  EXPECT_EQ(RunRanksOnSim(options, nothing).status().code(), StatusCode::kInvalidArgument);
  options.world_size = 1;
  options.topology.nodes[0].gpus[0].sm_count = 0;
  EXPECT_EQ(RunRanksOnSim(options, nothing).status().code(), StatusCode::kInvalidArgument);
  SimRunOptions unwritable = Options(1);
  unwritable.trace_path = "/nonexistent-dir/trace.json";
  EXPECT_EQ(RunRanksOnSim(unwritable, nothing).status().code(), StatusCode::kUnavailable);
}

TEST(SimRunTest, ManySimulationsPerProcessGiveTheSameTimesForkedOrInProcess) {
  std::vector<double> times;
  for (SimIsolation isolation : {SimIsolation::kFork, SimIsolation::kInProcess}) {
    for (int i = 0; i < 3; ++i) {
      SimRunOptions options = Options(2);
      options.isolation = isolation;
      StatusOr<SimRun> run = RunRanksOnSim(options, FillSendCopy);
      ASSERT_TRUE(run.ok()) << run.status().ToString();
      for (const Status& s : run->statuses()) ASSERT_TRUE(s.ok()) << s.ToString();
      EXPECT_EQ(run->wall.forked, isolation == SimIsolation::kFork);
      times.push_back(run->end_time_s);
      std::printf(
          "{\"isolation\": \"%s\", \"simulated_s\": %.9g, \"setup_s\": %.6f, \"run_s\": %.6f, "
          "\"total_s\": %.6f}\n",
          isolation == SimIsolation::kFork ? "fork" : "in-process", run->end_time_s,
          run->wall.setup_s, run->wall.run_s, run->wall.total_s);
    }
  }
  ASSERT_EQ(times.size(), 6u);
  EXPECT_GT(times[0], 0.0);
  // Forked runs all start at clock 0: bit-identical times. In-process runs start where the
  // previous engine's clock stopped (Note [One engine per process]), so the subtraction of
  // the start time may round differently in the last bits.
  for (int i = 0; i < 3; ++i) EXPECT_EQ(times[i], times[0]);
  for (int i = 3; i < 6; ++i) EXPECT_DOUBLE_EQ(times[i], times[0]);
}

TEST(SimRunTest, WritesInTheCallersMemoryAreKeptInProcessOnly) {
  for (SimIsolation isolation : {SimIsolation::kFork, SimIsolation::kInProcess}) {
    int touched = 0;
    SimRunOptions options = Options(1);
    options.isolation = isolation;
    StatusOr<SimRun> run = RunRanksOnSim(
        options, [&touched](int, core::Comm&, core::Device&, std::vector<std::byte>& out) {
          touched = 1;
          out.assign(3, std::byte{7});
          return Status::Ok();
        });
    ASSERT_TRUE(run.ok()) << run.status().ToString();
    EXPECT_EQ(touched, isolation == SimIsolation::kInProcess ? 1 : 0);
    EXPECT_EQ(run->ranks[0].output, std::vector<std::byte>(3, std::byte{7}));
  }
}

TEST(SimRunTest, AHungOrCrashedSimulationIsAStatus) {
  SimRunOptions options = Options(1);
  options.wall_timeout = std::chrono::milliseconds(300);
  const auto start = std::chrono::steady_clock::now();
  StatusOr<SimRun> hung = RunRanksOnSim(options, [](int, core::Comm&, core::Device&) {
    std::this_thread::sleep_for(std::chrono::seconds(30));  // never yields to SimGrid
    return Status::Ok();
  });
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 10.0);
  ASSERT_FALSE(hung.ok());
  EXPECT_EQ(hung.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(hung.status().message().find("wall-clock limit of 300 ms"), std::string::npos);

  StatusOr<SimRun> crashed =
      RunRanksOnSim(Options(1), [](int, core::Comm&, core::Device&) -> Status { std::_Exit(42); });
  ASSERT_FALSE(crashed.ok());
  EXPECT_EQ(crashed.status().code(), StatusCode::kInternal);
  EXPECT_NE(crashed.status().message().find("exit status 42"), std::string::npos)
      << crashed.status().message();
}

TEST(SimRunTest, TheTraceShowsKernelsMessagesAndMemoryPerRank) {
  const char* dir = std::getenv("TEST_TMPDIR");
  const std::string path = std::string(dir != nullptr ? dir : "/tmp") + "/sim_run_test_trace.json";
  SimRunOptions options = Options(2);
  options.trace_path = path;
  StatusOr<SimRun> run = RunRanksOnSim(options, FillSendCopy);
  ASSERT_TRUE(run.ok()) << run.status().ToString();
  std::ifstream in(path);
  ASSERT_TRUE(in.good()) << path;
  std::stringstream text;
  text << in.rdbuf();
  const nlohmann::json trace = nlohmann::json::parse(text.str(), nullptr, false);
  ASSERT_FALSE(trace.is_discarded()) << "not JSON";
  ASSERT_TRUE(trace.contains("traceEvents"));
  int fills = 0, sends = 0, recvs = 0, d2h = 0, counters = 0, names = 0;
  double fill_end_us = 0, send_start_us = -1;
  for (const nlohmann::json& e : trace["traceEvents"]) {
    const std::string ph = e["ph"], name = e["name"];
    const int pid = e["pid"];
    if (ph == "M" && name == "process_name") ++names;
    if (ph == "X" && name == "init normal" && pid == 0) {
      ++fills;
      EXPECT_EQ(e["args"]["elements"], 1 << 20);
      fill_end_us = e["ts"].get<double>() + e["dur"].get<double>();
    }
    if (ph == "X" && name.rfind("Send(dst=1", 0) == 0 && pid == 0) {
      ++sends;
      send_start_us = e["ts"];
    }
    if (ph == "X" && name.rfind("Recv(src=0", 0) == 0 && pid == 1) ++recvs;
    if (ph == "X" && name == "copy device->host" && pid == 1) ++d2h;
    if (ph == "C" && name == "memory (bytes)") ++counters;
  }
  EXPECT_EQ(names, 2);
  EXPECT_EQ(fills, 1);
  EXPECT_EQ(sends, 1);
  EXPECT_EQ(recvs, 1);
  EXPECT_EQ(d2h, 1);
  EXPECT_EQ(counters, 3);  // two allocations, one free
  EXPECT_GE(send_start_us, fill_end_us - 1e-3);
}

}  // namespace
}  // namespace twinsim::sim
