// SimComm against HostComm: the same programs give the same bytes, the same logical traffic and
// the same errors on both backends (deadlocks, ranks that left, bad arguments); and messages
// and collectives take the time the topology implies (NVLink inside a node, PCIe + NIC + fabric
// between nodes), with the bytes counted under the link classes they crossed.
#include "sim/sim_comm.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "core/comm.h"
#include "core/device.h"
#include "core/host_comm.h"
#include "core/topology_presets.h"
#include "sim/platform.h"
#include "sim/sim_run.h"

namespace twinsim::sim {
namespace {

using Bytes = std::vector<std::byte>;
using core::BufferRegion;
using core::Comm;
using core::Device;
using core::SendMode;

#define ASSIGN_OR_RETURN(var, expr)             \
  auto var##_or = (expr);                       \
  if (!var##_or.ok()) return var##_or.status(); \
  auto var = std::move(var##_or).value()

Bytes Pattern(int rank, int salt, uint64_t n) {
  Bytes out(n);
  for (uint64_t i = 0; i < n; ++i) {
    out[i] = static_cast<std::byte>((rank * 131 + salt * 29 + i * 7 + (i >> 8)) & 0xFF);
  }
  return out;
}

StatusOr<core::Buffer> Upload(Device& device, const Bytes& data) {
  ASSIGN_OR_RETURN(buffer, core::AllocateOrError(device, data.size(), core::kTagComm));
  TWINSIM_RETURN_IF_ERROR(device.CopyFromHost(BufferRegion::Whole(buffer), data));
  return buffer;
}

core::Topology Cluster(const std::string& text) {
  StatusOr<core::Topology> topology = core::MakeTopology(text);
  EXPECT_TRUE(topology.ok()) << topology.status().message();
  return *topology;
}

SimRunOptions SimOptions(int n, SendMode mode = SendMode::kRendezvous,
                         const std::string& cluster = "dgx-h100:nodes=2") {
  SimRunOptions options;
  options.topology = Cluster(cluster);
  options.world_size = n;
  options.device_capacity = 64 << 20;
  options.send_mode = mode;
  options.wall_timeout = std::chrono::milliseconds(60'000);
  return options;
}

core::RunRanksOptions HostOptions(int n, SendMode mode = SendMode::kRendezvous) {
  core::RunRanksOptions options;
  options.world_size = n;
  options.device.capacity = 64 << 20;
  options.comm.send_mode = mode;
  options.comm.timeout = std::chrono::milliseconds(5000);
  return options;
}

// A program that records what it observes (bytes received, traffic) in `out`.
using Program = std::function<Status(int rank, Comm&, Device&, Bytes& out)>;

struct Outcome {
  std::vector<Status> statuses;
  std::vector<Bytes> outputs;
};

Outcome OnHost(const core::RunRanksOptions& options, const Program& program) {
  Outcome o;
  o.outputs.resize(options.world_size);
  o.statuses = core::RunRanks(options, [&](int rank, Comm& comm, Device& device) {
    return program(rank, comm, device, o.outputs[rank]);
  });
  return o;
}

Outcome OnSim(const SimRunOptions& options, const Program& program) {
  Outcome o;
  StatusOr<SimRun> run = RunRanksOnSim(options, SimRankFunction(program));
  EXPECT_TRUE(run.ok()) << run.status().ToString();
  if (!run.ok()) return o;
  o.statuses = run->statuses();
  for (SimRankResult& r : run->ranks) o.outputs.push_back(std::move(r.output));
  return o;
}

void Record(Bytes& out, Device& device, const core::Buffer& buffer) {
  Bytes bytes(buffer.bytes);
  if (device.CopyToHost(BufferRegion::Whole(buffer), bytes).ok()) {
    out.insert(out.end(), bytes.begin(), bytes.end());
  }
}

void RecordTraffic(Bytes& out, const core::TrafficStats& traffic) {
  for (const auto& [rank_of_peer, peer] : traffic.peers()) {
    out.push_back(static_cast<std::byte>(rank_of_peer));
    for (uint64_t v :
         {peer.bytes_sent, peer.bytes_received, peer.messages_sent, peer.messages_received}) {
      for (int i = 0; i < 8; ++i) out.push_back(static_cast<std::byte>(v >> (8 * i)));
    }
  }
  for (int i = 0; i < 8; ++i)
    out.push_back(static_cast<std::byte>(traffic.collective_calls() >> (8 * i)));
}

std::vector<float> SpreadFloats(uint64_t seed, uint64_t n) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> mantissa(-1.0f, 1.0f);
  std::uniform_int_distribution<int> exponent(-20, 20);
  std::vector<float> out(n);
  for (float& v : out) v = std::ldexp(mantissa(rng), exponent(rng));
  return out;
}

Bytes FloatBytes(const std::vector<float>& values) {
  Bytes out(values.size() * sizeof(float));
  if (!out.empty()) std::memcpy(out.data(), values.data(), out.size());
  return out;
}

// Ring shifts, a broadcast, uneven all-gather and reduce-scatter, messages in tag order, a
// barrier: every output byte and traffic figure goes into `out`.
Status MixedProgram(int rank, Comm& comm, Device& device, bool eager, Bytes& out) {
  const int n = comm.size();
  ASSIGN_OR_RETURN(a, Upload(device, Pattern(rank, 10, 96)));
  ASSIGN_OR_RETURN(b, core::AllocateOrError(device, 96, core::kTagComm));
  for (int step = 0; step < 3; ++step) {
    TWINSIM_RETURN_IF_ERROR(comm.SendRecv((rank + 1) % n, BufferRegion::Whole(a),
                                          (rank + n - 1) % n, BufferRegion::Whole(b), step));
    std::swap(a, b);
    Record(out, device, a);
  }
  ASSIGN_OR_RETURN(c, Upload(device, Pattern(rank, 11, 50)));
  TWINSIM_RETURN_IF_ERROR(comm.Broadcast(n / 2, BufferRegion::Whole(c)));
  Record(out, device, c);
  std::vector<uint64_t> counts(n);
  uint64_t total = 0;
  for (int r = 0; r < n; ++r) total += counts[r] = 4 * ((r * 5 + 2) % 7);
  ASSIGN_OR_RETURN(d, Upload(device, Pattern(rank, 12, counts[rank])));
  ASSIGN_OR_RETURN(e, core::AllocateOrError(device, total, core::kTagComm));
  TWINSIM_RETURN_IF_ERROR(comm.AllGather(BufferRegion::Whole(d), BufferRegion::Whole(e), counts));
  Record(out, device, e);
  ASSIGN_OR_RETURN(f, Upload(device, FloatBytes(SpreadFloats(77 + rank, total / 4))));
  ASSIGN_OR_RETURN(g, core::AllocateOrError(device, counts[rank], core::kTagComm));
  TWINSIM_RETURN_IF_ERROR(
      comm.ReduceScatterSum(BufferRegion::Whole(f), BufferRegion::Whole(g), counts));
  Record(out, device, g);
  // Equal-count all-gather in place.
  ASSIGN_OR_RETURN(all, core::AllocateOrError(device, n * 40, core::kTagParam));
  const BufferRegion mine = BufferRegion::Slice(all, rank * 40, 40);
  TWINSIM_RETURN_IF_ERROR(device.CopyFromHost(mine, Pattern(rank, 7, 40)));
  TWINSIM_RETURN_IF_ERROR(comm.AllGather(mine, BufferRegion::Whole(all), {}));
  Record(out, device, all);
  if (rank == 0) {
    ASSIGN_OR_RETURN(in, core::AllocateOrError(device, 24, core::kTagComm));
    for (int src = 1; src < n; ++src) {
      for (int tag : eager ? std::vector<int>{2, 1, 1} : std::vector<int>{1, 1, 2}) {
        TWINSIM_RETURN_IF_ERROR(comm.Recv(src, BufferRegion::Whole(in), tag));
        Record(out, device, in);
      }
    }
  } else {
    for (int i = 0; i < 3; ++i) {
      ASSIGN_OR_RETURN(message, Upload(device, Pattern(rank, 20 + i, 24)));
      TWINSIM_RETURN_IF_ERROR(comm.Send(0, BufferRegion::Whole(message), i < 2 ? 1 : 2));
    }
  }
  TWINSIM_RETURN_IF_ERROR(comm.Barrier());
  RecordTraffic(out, comm.traffic());
  return Status::Ok();
}

TEST(SimCommTest, CollectivesAndMessagesGiveTheSameBytesAndTrafficAsHostComm) {
  for (SendMode mode : {SendMode::kRendezvous, SendMode::kEager}) {
    const bool eager = mode == SendMode::kEager;
    for (int n : {1, 2, 3, 5, 8, 11, 16}) {
      SCOPED_TRACE(fmt::format("{} ranks, {}", n, eager ? "eager" : "rendezvous"));
      auto program = [eager](int rank, Comm& comm, Device& device, Bytes& out) {
        return MixedProgram(rank, comm, device, eager, out);
      };
      const Outcome host = OnHost(HostOptions(n, mode), program);
      const Outcome sim = OnSim(SimOptions(n, mode), program);
      ASSERT_EQ(sim.statuses.size(), static_cast<size_t>(n));
      for (int r = 0; r < n; ++r) {
        EXPECT_TRUE(host.statuses[r].ok()) << host.statuses[r].ToString();
        EXPECT_TRUE(sim.statuses[r].ok()) << sim.statuses[r].ToString();
        ASSERT_FALSE(sim.outputs[r].empty());
        EXPECT_EQ(sim.outputs[r], host.outputs[r]) << "rank " << r;
      }
    }
  }
}

// Runs `program` on both backends and expects the same status, code and message, on every rank.
void ExpectSameStatuses(int n, const Program& program, SendMode mode = SendMode::kRendezvous) {
  const Outcome host = OnHost(HostOptions(n, mode), program);
  const Outcome sim = OnSim(SimOptions(n, mode), program);
  ASSERT_EQ(sim.statuses.size(), host.statuses.size());
  for (int r = 0; r < n; ++r) {
    EXPECT_EQ(sim.statuses[r].code(), host.statuses[r].code()) << "rank " << r;
    EXPECT_EQ(sim.statuses[r].message(), host.statuses[r].message()) << "rank " << r;
  }
}

TEST(SimCommTest, BadArgumentsFailAsOnTheHost) {
  // A collective with one rank's sizes wrong.
  ExpectSameStatuses(3, [](int rank, Comm& comm, Device& device, Bytes&) -> Status {
    ASSIGN_OR_RETURN(send, core::AllocateOrError(device, 8, core::kTagComm));
    ASSIGN_OR_RETURN(recv, core::AllocateOrError(device, rank == 1 ? 16 : 24, core::kTagComm));
    return comm.AllGather(BufferRegion::Whole(send), BufferRegion::Whole(recv), {});
  });
  // Ranks disagreeing on the root.
  ExpectSameStatuses(3, [](int rank, Comm& comm, Device& device, Bytes&) -> Status {
    ASSIGN_OR_RETURN(buffer, core::AllocateOrError(device, 8, core::kTagComm));
    return comm.Broadcast(rank == 2 ? 1 : 0, BufferRegion::Whole(buffer));
  });
  // Unaligned reduce-scatter counts.
  ExpectSameStatuses(2, [](int rank, Comm& comm, Device& device, Bytes&) -> Status {
    const std::vector<uint64_t> counts = {6, 2};
    ASSIGN_OR_RETURN(send, core::AllocateOrError(device, 8, core::kTagComm));
    ASSIGN_OR_RETURN(recv, core::AllocateOrError(device, counts[rank], core::kTagComm));
    return comm.ReduceScatterSum(BufferRegion::Whole(send), BufferRegion::Whole(recv), counts);
  });
  // A message of the wrong size: the receiver and the (rendezvous) sender both fail.
  ExpectSameStatuses(2, [](int rank, Comm& comm, Device& device, Bytes&) -> Status {
    ASSIGN_OR_RETURN(buffer, core::AllocateOrError(device, rank == 0 ? 16 : 8, core::kTagComm));
    return rank == 0 ? comm.Send(1, BufferRegion::Whole(buffer), 4)
                     : comm.Recv(0, BufferRegion::Whole(buffer), 4);
  });
  // Local argument errors.
  ExpectSameStatuses(2, [](int rank, Comm& comm, Device& device, Bytes&) -> Status {
    ASSIGN_OR_RETURN(buffer, core::AllocateOrError(device, 8, core::kTagComm));
    if (rank == 1) return Status::Ok();
    for (Status s : {comm.Send(2, BufferRegion::Whole(buffer), 0),
                     comm.Send(1, BufferRegion::Whole(buffer), -1),
                     comm.Send(1, BufferRegion::Slice(buffer, 4, 8), 0),
                     comm.Recv(1, BufferRegion::Slice(buffer, 4, 8), 0)}) {
      if (s.code() != StatusCode::kInvalidArgument) return Status::Internal(s.ToString());
    }
    return Status::Ok();
  });
}

Status SendsFirstRing(int rank, Comm& comm, Device& device, Bytes&) {
  const int n = comm.size();
  ASSIGN_OR_RETURN(mine, Upload(device, Pattern(rank, 3, 64)));
  ASSIGN_OR_RETURN(in, core::AllocateOrError(device, 64, core::kTagComm));
  TWINSIM_RETURN_IF_ERROR(comm.Send((rank + 1) % n, BufferRegion::Whole(mine), 0));
  return comm.Recv((rank + n - 1) % n, BufferRegion::Whole(in), 0);
}

TEST(SimCommTest, ACycleOfRendezvousSendsIsReportedAsADeadlockOnEveryRank) {
  ExpectSameStatuses(4, SendsFirstRing);
  const Outcome sim = OnSim(SimOptions(4), SendsFirstRing);
  ASSERT_EQ(sim.statuses.size(), 4u);
  for (int r = 0; r < 4; ++r) {
    EXPECT_EQ(sim.statuses[r].code(), StatusCode::kUnavailable);
    EXPECT_NE(sim.statuses[r].message().find("deadlock"), std::string::npos);
    EXPECT_NE(sim.statuses[r].message().find("rank 2 waits in Send(dst=3, tag=0, 64 B)"),
              std::string::npos)
        << sim.statuses[r].ToString();
  }
  // Eager sends let the same cycle complete.
  const Outcome eager = OnSim(SimOptions(4, SendMode::kEager), SendsFirstRing);
  for (const Status& s : eager.statuses) EXPECT_TRUE(s.ok()) << s.ToString();
}

TEST(SimCommTest, ARankThatLeftIsNamedAtOnce) {
  auto program = [](int rank, Comm& comm, Device& device, Bytes&) -> Status {
    if (rank == 0) return Status::NotFound("rank 0 gave up early");
    ASSIGN_OR_RETURN(buffer, core::AllocateOrError(device, 8, core::kTagComm));
    if (rank == 1) return comm.Recv(0, BufferRegion::Whole(buffer), 0);
    return comm.Barrier();
  };
  ExpectSameStatuses(3, program);
  const Outcome sim = OnSim(SimOptions(3), program);
  for (int r : {1, 2}) {
    EXPECT_NE(sim.statuses[r].message().find("rank 0 has exited (NotFound: rank 0 gave up early)"),
              std::string::npos)
        << sim.statuses[r].ToString();
    EXPECT_NE(sim.statuses[r].message().find("collective #0 lacks rank(s) 0,1"), std::string::npos);
  }
  // A plain Send to oneself cannot complete under rendezvous; SendRecv to oneself can.
  ExpectSameStatuses(1, [](int rank, Comm& comm, Device& device, Bytes& out) -> Status {
    ASSIGN_OR_RETURN(a, Upload(device, Pattern(0, 4, 32)));
    ASSIGN_OR_RETURN(b, core::AllocateOrError(device, 32, core::kTagComm));
    TWINSIM_RETURN_IF_ERROR(comm.SendRecv(0, BufferRegion::Whole(a), 0, BufferRegion::Whole(b), 0));
    Record(out, device, b);
    if (comm.traffic().bytes_sent() != 0) return Status::Internal("self traffic counted");
    return comm.Send(rank, BufferRegion::Whole(a), 0);
  });
}

TEST(SimCommTest, ExceptionsBecomeStatusesAndDoNotStopOtherRanks) {
  const Outcome sim = OnSim(SimOptions(2), [](int rank, Comm&, Device&, Bytes&) -> Status {
    if (rank == 1) throw std::runtime_error("boom");
    return Status::Ok();
  });
  ASSERT_EQ(sim.statuses.size(), 2u);
  EXPECT_TRUE(sim.statuses[0].ok());
  EXPECT_EQ(sim.statuses[1].code(), StatusCode::kInternal);
  EXPECT_NE(sim.statuses[1].message().find("rank 1 threw: boom"), std::string::npos);
}

TEST(SimCommTest, DevicesWithoutBytesCountTheSameTraffic) {
  auto program = [](int rank, Comm& comm, Device& device, Bytes& out) -> Status {
    const int n = comm.size();
    std::vector<uint64_t> counts(n);
    uint64_t total = 0;
    for (int r = 0; r < n; ++r) total += counts[r] = 100 * (r + 1);
    ASSIGN_OR_RETURN(a, core::AllocateOrError(device, 1000, core::kTagParam));
    ASSIGN_OR_RETURN(b, core::AllocateOrError(device, total, core::kTagParam));
    TWINSIM_RETURN_IF_ERROR(comm.Broadcast(n - 1, BufferRegion::Whole(a)));
    TWINSIM_RETURN_IF_ERROR(
        comm.AllGather(BufferRegion::Slice(a, 0, counts[rank]), BufferRegion::Whole(b), counts));
    TWINSIM_RETURN_IF_ERROR(comm.SendRecv((rank + 1) % n, BufferRegion::Slice(a, 0, 10),
                                          (rank + n - 1) % n, BufferRegion::Slice(a, 10, 10), 0));
    RecordTraffic(out, comm.traffic());
    return Status::Ok();
  };
  SimRunOptions without = SimOptions(5);
  without.holds_bytes = false;
  const Outcome host = OnHost(HostOptions(5), program);
  const Outcome sim_with = OnSim(SimOptions(5), program);
  const Outcome sim_without = OnSim(without, program);
  ASSERT_EQ(sim_without.outputs.size(), 5u);
  for (int r = 0; r < 5; ++r) {
    EXPECT_TRUE(sim_without.statuses[r].ok()) << sim_without.statuses[r].ToString();
    EXPECT_EQ(sim_with.outputs[r], host.outputs[r]);
    EXPECT_EQ(sim_without.outputs[r], host.outputs[r]);
  }
}

// --- Time -------------------------------------------------------------------------------------

// Rank 0 sends `bytes` to rank `peer`; returns the run (end times and link traffic).
SimRun SendOnce(int world, int peer, uint64_t bytes) {
  SimRunOptions options = SimOptions(world);
  options.holds_bytes = false;
  options.device_capacity = 0;  // the GPU's own memory
  StatusOr<SimRun> run =
      RunRanksOnSim(options, [peer, bytes](int rank, Comm& comm, Device& device) -> Status {
        if (rank != 0 && rank != peer) return Status::Ok();
        ASSIGN_OR_RETURN(buffer, core::AllocateOrError(device, bytes, core::kTagComm));
        return rank == 0 ? comm.Send(peer, BufferRegion::Whole(buffer), 0)
                         : comm.Recv(0, BufferRegion::Whole(buffer), 0);
      });
  EXPECT_TRUE(run.ok()) << run.status().ToString();
  for (const Status& s : run->statuses()) EXPECT_TRUE(s.ok()) << s.ToString();
  return *run;
}

TEST(SimCommTest, AMessageOverNvlinkOrAcrossNodesTakesTheTimeTheTopologyImplies) {
  constexpr uint64_t kBytes = uint64_t{1} << 30;
  const core::Topology topology = Cluster("dgx-h100:nodes=2");
  const core::NodeSpec& node = topology.nodes[0];
  const double nvlink_want =
      kBytes / node.nvlink.per_gpu_bandwidth_bytes_per_s + 2 * kNvlinkPortLatencyS;
  const double inter_bw =
      std::min({node.gpus[0].pcie.bandwidth_bytes_per_s, node.nics[0].bandwidth_bytes_per_s,
                topology.fabric.link_bandwidth_bytes_per_s * node.nics.size()});
  const double across_want = kBytes / inter_bw + 2 * kPcieLinkLatencyS + topology.fabric.latency_s;

  const SimRun nvlink = SendOnce(16, 1, kBytes);
  const SimRun across = SendOnce(16, 8, kBytes);
  for (int r : {0, 1}) EXPECT_NEAR(nvlink.ranks[r].end_time_s, nvlink_want, 1e-6 * nvlink_want);
  for (int r : {0, 8}) EXPECT_NEAR(across.ranks[r].end_time_s, across_want, 1e-6 * across_want);
  EXPECT_GT(across_want, 5 * nvlink_want);

  auto bytes_on = [](const SimRun& run, LinkClass c) {
    return run.link_bytes[static_cast<int>(c)];
  };
  EXPECT_EQ(bytes_on(nvlink, LinkClass::kNvlink), kBytes);
  EXPECT_EQ(bytes_on(nvlink, LinkClass::kFabric), 0u);
  EXPECT_EQ(bytes_on(across, LinkClass::kNvlink), 0u);
  for (LinkClass c : {LinkClass::kPcieGpu, LinkClass::kNic, LinkClass::kFabric}) {
    EXPECT_EQ(bytes_on(across, c), kBytes) << LinkClassName(c);
  }
  // Charged to the sender.
  EXPECT_EQ(across.ranks[0].link_bytes[static_cast<int>(LinkClass::kFabric)], kBytes);
  EXPECT_EQ(across.ranks[8].link_bytes[static_cast<int>(LinkClass::kFabric)], 0u);
  std::printf("{\"nvlink_1GiB_s\": %.9g, \"across_nodes_1GiB_s\": %.9g}\n",
              nvlink.ranks[1].end_time_s, across.ranks[8].end_time_s);
}

TEST(SimCommTest, AnAllGatherInsideANodeTakesTheRingTime) {
  // Note [Collective timing]: every GPU port carries (n - 1) blocks each way.
  constexpr int kRanks = 8;
  constexpr uint64_t kEach = uint64_t{64} << 20;
  SimRunOptions options = SimOptions(kRanks);
  options.holds_bytes = false;
  options.device_capacity = 0;
  StatusOr<SimRun> run = RunRanksOnSim(options, [](int rank, Comm& comm, Device& device) -> Status {
    ASSIGN_OR_RETURN(all, core::AllocateOrError(device, kRanks * kEach, core::kTagParam));
    return comm.AllGather(BufferRegion::Slice(all, rank * kEach, kEach), BufferRegion::Whole(all),
                          {});
  });
  ASSERT_TRUE(run.ok()) << run.status().ToString();
  const core::NodeSpec& node = options.topology.nodes[0];
  const double want =
      (kRanks - 1) * kEach / node.nvlink.per_gpu_bandwidth_bytes_per_s + 2 * kNvlinkPortLatencyS;
  for (const SimRankResult& r : run->ranks) {
    EXPECT_TRUE(r.status.ok()) << r.status.ToString();
    EXPECT_NEAR(r.end_time_s, want, 1e-6 * want);
  }
  EXPECT_EQ(run->link_bytes[static_cast<int>(LinkClass::kNvlink)], kRanks * (kRanks - 1) * kEach);
}

}  // namespace
}  // namespace twinsim::sim
