// HostComm and RunRanks against the Comm contract (core/comm.h): point-to-point pairs and
// rings over 2..16 ranks, broadcasts from every root, uneven all-gathers and reduce-scatters,
// exact traffic, errors instead of hangs, FaultyComm's injected faults, and determinism under
// random delays.
#include "core/host_comm.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstring>
#include <random>
#include <stdexcept>
#include <thread>
#include <vector>

#include "core/comm.h"
#include "core/device.h"
#include "core/testing/faulty_comm.h"

namespace twinsim::core {
namespace {

using Bytes = std::vector<std::byte>;
using faults::CommFaults;
using faults::FaultyComm;

#define ASSIGN_OR_RETURN(var, expr)             \
  auto var##_or = (expr);                       \
  if (!var##_or.ok()) return var##_or.status(); \
  auto var = std::move(var##_or).value()

// Bytes that differ with rank, salt and position.
Bytes Pattern(int rank, int salt, uint64_t n) {
  Bytes out(n);
  for (uint64_t i = 0; i < n; ++i) {
    out[i] = static_cast<std::byte>((rank * 131 + salt * 29 + i * 7 + (i >> 8)) & 0xFF);
  }
  return out;
}

StatusOr<Buffer> Upload(Device& device, const Bytes& data) {
  ASSIGN_OR_RETURN(buffer, AllocateOrError(device, data.size(), kTagComm));
  TWINSIM_RETURN_IF_ERROR(device.CopyFromHost(BufferRegion::Whole(buffer), data));
  return buffer;
}

StatusOr<Bytes> Download(Device& device, const BufferRegion& region) {
  Bytes out(region.bytes);
  TWINSIM_RETURN_IF_ERROR(device.CopyToHost(region, out));
  return out;
}

Bytes Concat(const std::vector<Bytes>& parts) {
  Bytes out;
  for (const Bytes& part : parts) out.insert(out.end(), part.begin(), part.end());
  return out;
}

RunRanksOptions Options(int n, SendMode mode = SendMode::kRendezvous) {
  RunRanksOptions options;
  options.world_size = n;
  options.device.capacity = 64 << 20;
  options.comm.send_mode = mode;
  options.comm.timeout = std::chrono::milliseconds(5000);  // a bug fails, it does not hang
  return options;
}

void ExpectAllOk(const std::vector<Status>& statuses) {
  EXPECT_TRUE(CombineRankStatuses(statuses).ok()) << CombineRankStatuses(statuses).ToString();
}

bool Contains(const Status& status, std::string_view text) {
  return status.message().find(text) != std::string::npos;
}

// --- Point to point ---------------------------------------------------------------------------

TEST(HostCommTest, SendRecvPairsOver2To16Ranks) {
  for (int n = 2; n <= 16; ++n) {
    SCOPED_TRACE(fmt::format("world size {}", n));
    auto size_of = [](int r) { return uint64_t{1000} + 17 * r; };
    std::vector<Bytes> received(n);
    std::vector<TrafficStats> traffic(n);
    ExpectAllOk(RunRanks(Options(n), [&](int rank, Comm& comm, Device& device) -> Status {
      const int partner = rank ^ 1;
      if (partner < n) {
        ASSIGN_OR_RETURN(mine, Upload(device, Pattern(rank, 0, size_of(rank))));
        ASSIGN_OR_RETURN(theirs, AllocateOrError(device, size_of(partner), kTagComm));
        if (rank % 2 == 0) {
          TWINSIM_RETURN_IF_ERROR(comm.Send(partner, BufferRegion::Whole(mine), 3));
          TWINSIM_RETURN_IF_ERROR(comm.Recv(partner, BufferRegion::Whole(theirs), 3));
        } else {
          TWINSIM_RETURN_IF_ERROR(comm.Recv(partner, BufferRegion::Whole(theirs), 3));
          TWINSIM_RETURN_IF_ERROR(comm.Send(partner, BufferRegion::Whole(mine), 3));
        }
        ASSIGN_OR_RETURN(got, Download(device, BufferRegion::Whole(theirs)));
        received[rank] = std::move(got);
      }
      traffic[rank] = comm.traffic();
      return Status::Ok();
    }));
    for (int r = 0; r < n; ++r) {
      const int partner = r ^ 1;
      ASSERT_EQ(traffic[r].peers().size(), partner < n ? 1u : 0u);
      if (partner >= n) {
        EXPECT_EQ(traffic[r].bytes_sent(), 0u);
        continue;
      }
      EXPECT_EQ(received[r], Pattern(partner, 0, size_of(partner)));
      const PeerTraffic t = traffic[r].Peer(partner);
      EXPECT_EQ(t.bytes_sent, size_of(r));
      EXPECT_EQ(t.bytes_received, size_of(partner));
      EXPECT_EQ(t.messages_sent, 1u);
      EXPECT_EQ(t.messages_received, 1u);
      EXPECT_EQ(traffic[r].bytes_sent(), size_of(r));
    }
  }
}

TEST(HostCommTest, RingOfSendRecvShiftsDataAroundOver2To16Ranks) {
  constexpr uint64_t kBytes = 257;
  for (int n = 2; n <= 16; ++n) {
    SCOPED_TRACE(fmt::format("world size {}", n));
    std::vector<Bytes> after_one(n), after_all(n);
    std::vector<TrafficStats> traffic(n);
    ExpectAllOk(RunRanks(Options(n), [&](int rank, Comm& comm, Device& device) -> Status {
      const int right = (rank + 1) % n, left = (rank + n - 1) % n;
      ASSIGN_OR_RETURN(a, Upload(device, Pattern(rank, 1, kBytes)));
      ASSIGN_OR_RETURN(b, AllocateOrError(device, kBytes, kTagComm));
      for (int step = 0; step < n; ++step) {
        TWINSIM_RETURN_IF_ERROR(
            comm.SendRecv(right, BufferRegion::Whole(a), left, BufferRegion::Whole(b), 0));
        std::swap(a, b);
        if (step == 0) {
          ASSIGN_OR_RETURN(got, Download(device, BufferRegion::Whole(a)));
          after_one[rank] = std::move(got);
        }
      }
      ASSIGN_OR_RETURN(got, Download(device, BufferRegion::Whole(a)));
      after_all[rank] = std::move(got);
      traffic[rank] = comm.traffic();
      return Status::Ok();
    }));
    for (int r = 0; r < n; ++r) {
      const int right = (r + 1) % n, left = (r + n - 1) % n;
      EXPECT_EQ(after_one[r], Pattern(left, 1, kBytes));
      EXPECT_EQ(after_all[r], Pattern(r, 1, kBytes));
      EXPECT_EQ(traffic[r].Peer(right).bytes_sent, n * kBytes);
      EXPECT_EQ(traffic[r].Peer(left).bytes_received, n * kBytes);
      EXPECT_EQ(traffic[r].bytes_sent(), n * kBytes);
      EXPECT_EQ(traffic[r].bytes_received(), n * kBytes);
    }
  }
}

TEST(HostCommTest, RingOfOrderedSendsAndRecvsOver2To16Ranks) {
  // Even ranks send first, odd ranks receive first: completes under rendezvous for any n.
  for (int n = 2; n <= 16; ++n) {
    SCOPED_TRACE(fmt::format("world size {}", n));
    std::vector<Bytes> received(n);
    ExpectAllOk(RunRanks(Options(n), [&](int rank, Comm& comm, Device& device) -> Status {
      const int right = (rank + 1) % n, left = (rank + n - 1) % n;
      ASSIGN_OR_RETURN(mine, Upload(device, Pattern(rank, 2, 64)));
      ASSIGN_OR_RETURN(in, AllocateOrError(device, 64, kTagComm));
      if (rank % 2 == 0) {
        TWINSIM_RETURN_IF_ERROR(comm.Send(right, BufferRegion::Whole(mine), 1));
        TWINSIM_RETURN_IF_ERROR(comm.Recv(left, BufferRegion::Whole(in), 1));
      } else {
        TWINSIM_RETURN_IF_ERROR(comm.Recv(left, BufferRegion::Whole(in), 1));
        TWINSIM_RETURN_IF_ERROR(comm.Send(right, BufferRegion::Whole(mine), 1));
      }
      ASSIGN_OR_RETURN(got, Download(device, BufferRegion::Whole(in)));
      received[rank] = std::move(got);
      return Status::Ok();
    }));
    for (int r = 0; r < n; ++r) EXPECT_EQ(received[r], Pattern((r + n - 1) % n, 2, 64));
  }
}

// Everyone sends to the right first, then receives from the left.
Status SendsFirstRing(int rank, Comm& comm, Device& device) {
  const int n = comm.size();
  ASSIGN_OR_RETURN(mine, Upload(device, Pattern(rank, 3, 64)));
  ASSIGN_OR_RETURN(in, AllocateOrError(device, 64, kTagComm));
  TWINSIM_RETURN_IF_ERROR(comm.Send((rank + 1) % n, BufferRegion::Whole(mine), 0));
  TWINSIM_RETURN_IF_ERROR(comm.Recv((rank + n - 1) % n, BufferRegion::Whole(in), 0));
  ASSIGN_OR_RETURN(got, Download(device, BufferRegion::Whole(in)));
  if (got != Pattern((rank + n - 1) % n, 3, 64)) return Status::Internal("wrong bytes");
  return Status::Ok();
}

TEST(HostCommTest, EagerSendsLetACycleOfSendsComplete) {
  ExpectAllOk(RunRanks(Options(6, SendMode::kEager), SendsFirstRing));
}

TEST(HostCommTest, RendezvousCycleOfSendsIsReportedAsADeadlockAtOnce) {
  const auto start = std::chrono::steady_clock::now();
  const std::vector<Status> statuses = RunRanks(Options(4), SendsFirstRing);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_LT(seconds, 2.0) << "detected, not timed out (timeout is 5 s)";
  for (int r = 0; r < 4; ++r) {
    SCOPED_TRACE(statuses[r].ToString());
    EXPECT_EQ(statuses[r].code(), StatusCode::kUnavailable);
    EXPECT_TRUE(Contains(statuses[r], "deadlock"));
    EXPECT_TRUE(Contains(statuses[r], fmt::format("rank {} in Send(dst={}", r, (r + 1) % 4)));
    EXPECT_TRUE(Contains(statuses[r], "rank 2 waits in Send(dst=3, tag=0, 64 B)"));
  }
}

TEST(HostCommTest, MessagesWithTheSameTagArriveInOrderAndTagsAreMatched) {
  std::vector<Bytes> got(5);
  ExpectAllOk(
      RunRanks(Options(2, SendMode::kEager), [&](int rank, Comm& comm, Device& device) -> Status {
        if (rank == 0) {
          for (int i = 0; i < 4; ++i) {
            ASSIGN_OR_RETURN(message, Upload(device, Pattern(0, i, 8)));
            TWINSIM_RETURN_IF_ERROR(comm.Send(1, BufferRegion::Whole(message), i == 3 ? 9 : 5));
          }
          return Status::Ok();
        }
        ASSIGN_OR_RETURN(in, AllocateOrError(device, 8, kTagComm));
        // The tag-9 message was sent last but is asked for first.
        const int order[] = {9, 5, 5, 5};
        for (int i = 0; i < 4; ++i) {
          TWINSIM_RETURN_IF_ERROR(comm.Recv(0, BufferRegion::Whole(in), order[i]));
          ASSIGN_OR_RETURN(bytes, Download(device, BufferRegion::Whole(in)));
          got[i] = std::move(bytes);
        }
        return Status::Ok();
      }));
  EXPECT_EQ(got[0], Pattern(0, 3, 8));
  EXPECT_EQ(got[1], Pattern(0, 0, 8));
  EXPECT_EQ(got[2], Pattern(0, 1, 8));
  EXPECT_EQ(got[3], Pattern(0, 2, 8));
}

TEST(HostCommTest, MessagesToOneselfThroughSendRecvAreNotTraffic) {
  Bytes got;
  TrafficStats traffic;
  ExpectAllOk(RunRanks(Options(1), [&](int, Comm& comm, Device& device) -> Status {
    ASSIGN_OR_RETURN(a, Upload(device, Pattern(0, 4, 32)));
    ASSIGN_OR_RETURN(b, AllocateOrError(device, 32, kTagComm));
    TWINSIM_RETURN_IF_ERROR(comm.SendRecv(0, BufferRegion::Whole(a), 0, BufferRegion::Whole(b), 0));
    ASSIGN_OR_RETURN(bytes, Download(device, BufferRegion::Whole(b)));
    got = std::move(bytes);
    traffic = comm.traffic();
    return Status::Ok();
  }));
  EXPECT_EQ(got, Pattern(0, 4, 32));
  EXPECT_EQ(traffic.bytes_sent(), 0u);
  EXPECT_EQ(traffic.bytes_received(), 0u);

  // A plain Send to oneself completes only when sends are eager.
  auto send_then_recv = [](int rank, Comm& comm, Device& device) -> Status {
    ASSIGN_OR_RETURN(a, AllocateOrError(device, 8, kTagComm));
    TWINSIM_RETURN_IF_ERROR(comm.Send(rank, BufferRegion::Whole(a), 0));
    return comm.Recv(rank, BufferRegion::Whole(a), 0);
  };
  ExpectAllOk(RunRanks(Options(1, SendMode::kEager), send_then_recv));
  const std::vector<Status> rendezvous = RunRanks(Options(1), send_then_recv);
  EXPECT_EQ(rendezvous[0].code(), StatusCode::kUnavailable);
  EXPECT_TRUE(Contains(rendezvous[0], "deadlock")) << rendezvous[0].ToString();
}

// --- Collectives ------------------------------------------------------------------------------

TEST(HostCommTest, BroadcastFromEveryRoot) {
  auto size_of = [](int root) { return uint64_t{100} + 13 * root; };
  for (int n : {1, 2, 3, 5, 8, 16}) {
    SCOPED_TRACE(fmt::format("world size {}", n));
    std::vector<std::vector<Bytes>> got(n, std::vector<Bytes>(n));  // [rank][root]
    std::vector<TrafficStats> traffic(n);
    ExpectAllOk(RunRanks(Options(n), [&](int rank, Comm& comm, Device& device) -> Status {
      for (int root = 0; root < n; ++root) {
        const Bytes initial =
            rank == root ? Pattern(root, 5, size_of(root)) : Bytes(size_of(root), std::byte{0xEE});
        ASSIGN_OR_RETURN(buffer, Upload(device, initial));
        TWINSIM_RETURN_IF_ERROR(comm.Broadcast(root, BufferRegion::Whole(buffer)));
        ASSIGN_OR_RETURN(bytes, Download(device, BufferRegion::Whole(buffer)));
        got[rank][root] = std::move(bytes);
      }
      traffic[rank] = comm.traffic();
      return Status::Ok();
    }));
    for (int r = 0; r < n; ++r) {
      for (int root = 0; root < n; ++root) {
        EXPECT_EQ(got[r][root], Pattern(root, 5, size_of(root)))
            << "rank " << r << " root " << root;
      }
      EXPECT_EQ(traffic[r].collective_calls(), static_cast<uint64_t>(n));
      for (int p = 0; p < n; ++p) {
        if (p == r) continue;
        EXPECT_EQ(traffic[r].Peer(p).bytes_sent, size_of(r));  // when r was the root
        EXPECT_EQ(traffic[r].Peer(p).bytes_received, size_of(p));
        EXPECT_EQ(traffic[r].Peer(p).messages_sent, 0u);
      }
    }
  }
}

TEST(HostCommTest, AllGatherWithUnevenCounts) {
  for (int n : {1, 2, 3, 4, 5, 7, 9, 16}) {
    SCOPED_TRACE(fmt::format("world size {}", n));
    std::vector<uint64_t> counts(n);
    for (int r = 0; r < n; ++r) counts[r] = (r * 37 + 5) % 23;  // rank 6 contributes 0 bytes
    std::vector<Bytes> parts(n);
    for (int r = 0; r < n; ++r) parts[r] = Pattern(r, 6, counts[r]);
    const Bytes expected = Concat(parts);
    std::vector<Bytes> got(n);
    std::vector<TrafficStats> traffic(n);
    ExpectAllOk(RunRanks(Options(n), [&](int rank, Comm& comm, Device& device) -> Status {
      ASSIGN_OR_RETURN(send, Upload(device, parts[rank]));
      ASSIGN_OR_RETURN(recv, AllocateOrError(device, expected.size(), kTagComm));
      TWINSIM_RETURN_IF_ERROR(
          comm.AllGather(BufferRegion::Whole(send), BufferRegion::Whole(recv), counts));
      ASSIGN_OR_RETURN(bytes, Download(device, BufferRegion::Whole(recv)));
      got[rank] = std::move(bytes);
      traffic[rank] = comm.traffic();
      return Status::Ok();
    }));
    for (int r = 0; r < n; ++r) {
      EXPECT_EQ(got[r], expected) << "rank " << r;
      for (int p = 0; p < n; ++p) {
        if (p == r) continue;
        EXPECT_EQ(traffic[r].Peer(p).bytes_sent, counts[r]);
        EXPECT_EQ(traffic[r].Peer(p).bytes_received, counts[p]);
      }
    }
  }
}

TEST(HostCommTest, AllGatherWithEqualCountsInPlace) {
  constexpr int kRanks = 6;
  constexpr uint64_t kEach = 40;
  std::vector<Bytes> parts(kRanks);
  for (int r = 0; r < kRanks; ++r) parts[r] = Pattern(r, 7, kEach);
  std::vector<Bytes> got(kRanks);
  ExpectAllOk(RunRanks(Options(kRanks), [&](int rank, Comm& comm, Device& device) -> Status {
    ASSIGN_OR_RETURN(all, AllocateOrError(device, kRanks * kEach, kTagParam));
    const BufferRegion mine = BufferRegion::Slice(all, rank * kEach, kEach);
    TWINSIM_RETURN_IF_ERROR(device.CopyFromHost(mine, parts[rank]));
    TWINSIM_RETURN_IF_ERROR(comm.AllGather(mine, BufferRegion::Whole(all), {}));
    ASSIGN_OR_RETURN(bytes, Download(device, BufferRegion::Whole(all)));
    got[rank] = std::move(bytes);
    return Status::Ok();
  }));
  for (int r = 0; r < kRanks; ++r) EXPECT_EQ(got[r], Concat(parts));
}

// Floats with a wide spread of magnitudes and signs, so the order of addition matters.
std::vector<float> SpreadFloats(uint64_t seed, uint64_t n) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> mantissa(-1.0f, 1.0f);
  std::uniform_int_distribution<int> exponent(-20, 24);
  std::vector<float> out(n);
  for (float& v : out) v = std::ldexp(mantissa(rng), exponent(rng));
  return out;
}

Bytes FloatBytes(const std::vector<float>& values) {
  Bytes out(values.size() * sizeof(float));
  if (!values.empty()) std::memcpy(out.data(), values.data(), out.size());
  return out;
}

TEST(HostCommTest, ReduceScatterSumWithUnevenCountsAddsInRankOrder) {
  for (int n : {1, 2, 3, 4, 5, 8, 9, 16}) {
    SCOPED_TRACE(fmt::format("world size {}", n));
    std::vector<uint64_t> counts(n);
    uint64_t total = 0;
    for (int r = 0; r < n; ++r) total += counts[r] = 4 * ((r * 3 + 1) % 5);  // rank 3: 0 B
    const uint64_t elements = total / 4;
    std::vector<std::vector<float>> inputs(n);
    for (int r = 0; r < n; ++r) inputs[r] = SpreadFloats(1000 + r, elements);
    // The reference: ((x0 + x1) + x2) + ... per element.
    std::vector<float> sum = inputs[0];
    for (int r = 1; r < n; ++r) {
      for (uint64_t i = 0; i < elements; ++i) sum[i] += inputs[r][i];
    }
    std::vector<Bytes> got(n);
    std::vector<TrafficStats> traffic(n);
    ExpectAllOk(RunRanks(Options(n), [&](int rank, Comm& comm, Device& device) -> Status {
      ASSIGN_OR_RETURN(send, Upload(device, FloatBytes(inputs[rank])));
      ASSIGN_OR_RETURN(recv, AllocateOrError(device, counts[rank], kTagGrad));
      TWINSIM_RETURN_IF_ERROR(
          comm.ReduceScatterSum(BufferRegion::Whole(send), BufferRegion::Whole(recv), counts));
      ASSIGN_OR_RETURN(bytes, Download(device, BufferRegion::Whole(recv)));
      got[rank] = std::move(bytes);
      traffic[rank] = comm.traffic();
      return Status::Ok();
    }));
    uint64_t begin = 0;
    for (int r = 0; r < n; ++r) {
      const std::vector<float> slice(sum.begin() + begin / 4,
                                     sum.begin() + (begin + counts[r]) / 4);
      EXPECT_EQ(got[r], FloatBytes(slice)) << "rank " << r << ": bit-identical to rank order";
      begin += counts[r];
      for (int p = 0; p < n; ++p) {
        if (p == r) continue;
        EXPECT_EQ(traffic[r].Peer(p).bytes_sent, counts[p]);
        EXPECT_EQ(traffic[r].Peer(p).bytes_received, counts[r]);
      }
    }
  }
}

TEST(HostCommTest, ReduceScatterSumWithEqualCounts) {
  constexpr int kRanks = 4;
  constexpr uint64_t kEach = 3;  // elements per rank
  std::vector<std::vector<float>> got(kRanks);
  ExpectAllOk(RunRanks(Options(kRanks), [&](int rank, Comm& comm, Device& device) -> Status {
    std::vector<float> input(kRanks * kEach);
    for (uint64_t i = 0; i < input.size(); ++i) input[i] = static_cast<float>(rank * 100 + i);
    ASSIGN_OR_RETURN(send, Upload(device, FloatBytes(input)));
    ASSIGN_OR_RETURN(recv, AllocateOrError(device, kEach * 4, kTagGrad));
    TWINSIM_RETURN_IF_ERROR(
        comm.ReduceScatterSum(BufferRegion::Whole(send), BufferRegion::Whole(recv), {}));
    ASSIGN_OR_RETURN(bytes, Download(device, BufferRegion::Whole(recv)));
    got[rank].resize(kEach);
    std::memcpy(got[rank].data(), bytes.data(), bytes.size());
    return Status::Ok();
  }));
  for (int r = 0; r < kRanks; ++r) {
    for (uint64_t i = 0; i < kEach; ++i) {
      // sum over ranks q of (q * 100 + r * kEach + i) = 600 + 4 * (r * kEach + i)
      EXPECT_EQ(got[r][i], 600.0f + 4.0f * static_cast<float>(r * kEach + i));
    }
  }
}

TEST(HostCommTest, ManyBarriers) {
  std::vector<TrafficStats> traffic(8);
  ExpectAllOk(RunRanks(Options(8), [&](int rank, Comm& comm, Device&) -> Status {
    for (int i = 0; i < 200; ++i) TWINSIM_RETURN_IF_ERROR(comm.Barrier());
    traffic[rank] = comm.traffic();
    return Status::Ok();
  }));
  for (const TrafficStats& t : traffic) {
    EXPECT_EQ(t.collective_calls(), 200u);
    EXPECT_EQ(t.bytes_sent(), 0u);
  }
}

// --- Errors, not hangs ------------------------------------------------------------------------

// Rank 0 sends with tag 8; rank 1 waits for tag 7.
Status MismatchedTags(int rank, Comm& comm, Device& device) {
  ASSIGN_OR_RETURN(buffer, AllocateOrError(device, 64, kTagComm));
  if (rank == 0) return comm.Send(1, BufferRegion::Whole(buffer), 8);
  return comm.Recv(0, BufferRegion::Whole(buffer), 7);
}

TEST(HostCommTest, MismatchedRecvIsAnErrorNamingWhatEachRankWaitsOn) {
  const std::vector<Status> statuses = RunRanks(Options(2), MismatchedTags);
  for (const Status& status : statuses) {
    SCOPED_TRACE(status.ToString());
    EXPECT_EQ(status.code(), StatusCode::kUnavailable);
    EXPECT_TRUE(Contains(status, "deadlock"));
    EXPECT_TRUE(Contains(status, "rank 0 waits in Send(dst=1, tag=8, 64 B)"));
    EXPECT_TRUE(Contains(status, "rank 1 waits in Recv(src=0, tag=7, 64 B)"));
    EXPECT_TRUE(Contains(status, "messages not received: 0 -> 1 tag 8 (64 B)"));
  }
}

TEST(HostCommTest, WithoutDeadlockDetectionTheTimeoutEndsTheWait) {
  RunRanksOptions options = Options(2);
  options.comm.detect_deadlock = false;
  options.comm.timeout = std::chrono::milliseconds(200);
  const auto start = std::chrono::steady_clock::now();
  const std::vector<Status> statuses = RunRanks(options, MismatchedTags);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_GE(seconds, 0.19);
  EXPECT_LT(seconds, 3.0);
  for (const Status& status : statuses) {
    SCOPED_TRACE(status.ToString());
    EXPECT_EQ(status.code(), StatusCode::kUnavailable);
    EXPECT_TRUE(Contains(status, "timed out: rank"));
    EXPECT_TRUE(Contains(status, "waited 200 ms"));
    EXPECT_TRUE(Contains(status, "rank 1 waits in Recv(src=0, tag=7, 64 B)"));
  }
}

TEST(HostCommTest, TimeoutNamesARankThatIsBusyElsewhereAndAbortsLaterCalls) {
  RunRanksOptions options = Options(2);
  options.comm.timeout = std::chrono::milliseconds(150);
  const std::vector<Status> statuses =
      RunRanks(options, [](int rank, Comm& comm, Device& device) -> Status {
        ASSIGN_OR_RETURN(buffer, AllocateOrError(device, 16, kTagComm));
        if (rank == 0) return comm.Recv(1, BufferRegion::Whole(buffer), 0);
        std::this_thread::sleep_for(std::chrono::milliseconds(600));  // "computing"
        return comm.Send(0, BufferRegion::Whole(buffer), 0);
      });
  EXPECT_EQ(statuses[0].code(), StatusCode::kUnavailable);
  EXPECT_TRUE(Contains(statuses[0], "rank 1 is running (not in a communication call)"))
      << statuses[0].ToString();
  EXPECT_EQ(statuses[1].code(), StatusCode::kUnavailable);
  EXPECT_TRUE(Contains(statuses[1], "rank 1 in Send(dst=0, tag=0, 16 B): communicator aborted"))
      << statuses[1].ToString();
}

TEST(HostCommTest, SizeMismatchFailsBothSides) {
  const std::vector<Status> statuses =
      RunRanks(Options(2), [](int rank, Comm& comm, Device& device) -> Status {
        ASSIGN_OR_RETURN(buffer, AllocateOrError(device, rank == 0 ? 32 : 64, kTagComm));
        if (rank == 0) return comm.Send(1, BufferRegion::Whole(buffer), 0);
        return comm.Recv(0, BufferRegion::Whole(buffer), 0);
      });
  EXPECT_EQ(statuses[1].code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(statuses[1], "the message from rank 0 has 32 B, the receive expects 64 B"))
      << statuses[1].ToString();
  EXPECT_EQ(statuses[0].code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(statuses[0], "rank 1 rejected the message")) << statuses[0].ToString();
}

TEST(HostCommTest, RanksThatDisagreeOnACollectiveAllFail) {
  const std::vector<Status> kinds =
      RunRanks(Options(3), [](int rank, Comm& comm, Device& device) -> Status {
        ASSIGN_OR_RETURN(buffer, AllocateOrError(device, 8, kTagComm));
        if (rank == 1) return comm.Broadcast(0, BufferRegion::Whole(buffer));
        return comm.Barrier();
      });
  for (const Status& status : kinds) {
    EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
    EXPECT_TRUE(Contains(status,
                         "collective #0: ranks disagree on the call: ranks 0,2 called "
                         "Barrier(); rank 1 called Broadcast(root=0, 8 B)"))
        << status.ToString();
  }

  const std::vector<Status> roots =
      RunRanks(Options(2), [](int rank, Comm& comm, Device& device) -> Status {
        ASSIGN_OR_RETURN(buffer, AllocateOrError(device, 8, kTagComm));
        return comm.Broadcast(rank, BufferRegion::Whole(buffer));
      });
  for (const Status& status : roots) EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);

  const std::vector<Status> counts =
      RunRanks(Options(2), [](int rank, Comm& comm, Device& device) -> Status {
        const std::vector<uint64_t> mine =
            rank == 0 ? std::vector<uint64_t>{4, 4} : std::vector<uint64_t>{8, 0};
        ASSIGN_OR_RETURN(send, AllocateOrError(device, mine[rank], kTagComm));
        ASSIGN_OR_RETURN(recv, AllocateOrError(device, 8, kTagComm));
        return comm.AllGather(BufferRegion::Whole(send), BufferRegion::Whole(recv), mine);
      });
  for (const Status& status : counts) {
    EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
    EXPECT_TRUE(Contains(status, "counts 4,4")) << status.ToString();
  }
}

TEST(HostCommTest, BadArgumentsAreInvalidArgumentOnEveryRankOfACollective) {
  const std::vector<Status> statuses =
      RunRanks(Options(3), [](int rank, Comm& comm, Device& device) -> Status {
        ASSIGN_OR_RETURN(send, AllocateOrError(device, 8, kTagComm));
        ASSIGN_OR_RETURN(recv, AllocateOrError(device, rank == 1 ? 16 : 24, kTagComm));
        return comm.AllGather(BufferRegion::Whole(send), BufferRegion::Whole(recv), {});
      });
  EXPECT_EQ(statuses[1].code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(statuses[1],
                       "rank 1 in AllGather(send 8 B, recv 16 B, counts equal): "
                       "recv has 16 B but 3 ranks x 8 B were expected"))
      << statuses[1].ToString();
  for (int r : {0, 2}) {
    EXPECT_EQ(statuses[r].code(), StatusCode::kInvalidArgument);
    EXPECT_TRUE(Contains(statuses[r], "collective #0 failed on other ranks: rank 1 in AllGather"))
        << statuses[r].ToString();
  }

  const std::vector<Status> unaligned =
      RunRanks(Options(2), [](int rank, Comm& comm, Device& device) -> Status {
        const std::vector<uint64_t> counts = {6, 2};
        ASSIGN_OR_RETURN(send, AllocateOrError(device, 8, kTagComm));
        ASSIGN_OR_RETURN(recv, AllocateOrError(device, counts[rank], kTagComm));
        return comm.ReduceScatterSum(BufferRegion::Whole(send), BufferRegion::Whole(recv), counts);
      });
  for (const Status& status : unaligned) {
    EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
    EXPECT_TRUE(Contains(status, "multiples of 4")) << status.ToString();
  }

  const std::vector<Status> local =
      RunRanks(Options(2), [](int rank, Comm& comm, Device& device) -> Status {
        ASSIGN_OR_RETURN(buffer, AllocateOrError(device, 8, kTagComm));
        if (rank == 1) return Status::Ok();
        Status bad_rank = comm.Send(2, BufferRegion::Whole(buffer), 0);
        Status bad_tag = comm.Send(1, BufferRegion::Whole(buffer), -1);
        Status out_of_bounds = comm.Send(1, BufferRegion::Slice(buffer, 4, 8), 0);
        Status bad_root = comm.Broadcast(-1, BufferRegion::Whole(buffer));
        for (const Status* s : {&bad_rank, &bad_tag, &out_of_bounds}) {
          if (s->code() != StatusCode::kInvalidArgument) return Status::Internal(s->ToString());
        }
        // The root check is local, but the collective still needs rank 1, which has left.
        if (bad_root.code() != StatusCode::kInvalidArgument &&
            bad_root.code() != StatusCode::kUnavailable) {
          return Status::Internal(bad_root.ToString());
        }
        return Status::Ok();
      });
  ExpectAllOk(local);
}

TEST(HostCommTest, ARankThatLeftIsNamedAtOnce) {
  const auto start = std::chrono::steady_clock::now();
  const std::vector<Status> statuses =
      RunRanks(Options(3), [](int rank, Comm& comm, Device& device) -> Status {
        if (rank == 0) return Status::NotFound("rank 0 gave up early");
        ASSIGN_OR_RETURN(buffer, AllocateOrError(device, 8, kTagComm));
        if (rank == 1) return comm.Recv(0, BufferRegion::Whole(buffer), 0);
        return comm.Barrier();
      });
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 2.0);
  EXPECT_EQ(statuses[0].code(), StatusCode::kNotFound);
  for (int r : {1, 2}) {
    EXPECT_EQ(statuses[r].code(), StatusCode::kUnavailable);
    EXPECT_TRUE(Contains(statuses[r], "rank 0 has exited (NotFound: rank 0 gave up early)"))
        << statuses[r].ToString();
    EXPECT_TRUE(Contains(statuses[r], "collective #0 lacks rank(s) 0,1")) << statuses[r].ToString();
  }
  const Status combined = CombineRankStatuses(statuses);
  EXPECT_EQ(combined.code(), StatusCode::kNotFound);
  EXPECT_TRUE(Contains(combined, "rank 0: rank 0 gave up early; rank 1: "));
}

TEST(HostCommTest, ExceptionsAndBadWorldSizesBecomeStatuses) {
  const std::vector<Status> statuses = RunRanks(Options(2), [](int rank, Comm&, Device&) -> Status {
    if (rank == 1) throw std::runtime_error("boom");
    return Status::Ok();
  });
  EXPECT_TRUE(statuses[0].ok());
  EXPECT_EQ(statuses[1].code(), StatusCode::kInternal);
  EXPECT_TRUE(Contains(statuses[1], "rank 1 threw: boom"));

  const std::vector<Status> none = RunRanks(0, [](int, Comm&, Device&) { return Status::Ok(); });
  ASSERT_EQ(none.size(), 1u);
  EXPECT_EQ(none[0].code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(CombineRankStatuses({}).ok());
}

// --- Devices without bytes --------------------------------------------------------------------

// Broadcast, uneven all-gather and a ring step; returns the traffic.
Status TrafficProgram(int rank, Comm& comm, Device& device, std::vector<TrafficStats>* traffic) {
  const int n = comm.size();
  std::vector<uint64_t> counts(n);
  uint64_t total = 0;
  for (int r = 0; r < n; ++r) total += counts[r] = 100 * (r + 1);
  ASSIGN_OR_RETURN(a, AllocateOrError(device, 1000, kTagParam));
  ASSIGN_OR_RETURN(b, AllocateOrError(device, total, kTagParam));
  TWINSIM_RETURN_IF_ERROR(comm.Broadcast(n - 1, BufferRegion::Whole(a)));
  TWINSIM_RETURN_IF_ERROR(
      comm.AllGather(BufferRegion::Slice(a, 0, counts[rank]), BufferRegion::Whole(b), counts));
  TWINSIM_RETURN_IF_ERROR(comm.SendRecv((rank + 1) % n, BufferRegion::Slice(a, 0, 10),
                                        (rank + n - 1) % n, BufferRegion::Slice(a, 10, 10), 0));
  (*traffic)[rank] = comm.traffic();
  return Status::Ok();
}

TEST(HostCommTest, DevicesWithoutBytesCountTheSameTraffic) {
  constexpr int kRanks = 5;
  std::vector<TrafficStats> with_bytes(kRanks), without_bytes(kRanks);
  ExpectAllOk(RunRanks(Options(kRanks), [&](int rank, Comm& comm, Device& device) {
    return TrafficProgram(rank, comm, device, &with_bytes);
  }));
  RunRanksOptions options = Options(kRanks);
  options.device.holds_bytes = false;
  ExpectAllOk(RunRanks(options, [&](int rank, Comm& comm, Device& device) {
    return TrafficProgram(rank, comm, device, &without_bytes);
  }));
  EXPECT_EQ(with_bytes, without_bytes);
  uint64_t sent = 0, received = 0;
  for (const TrafficStats& t : with_bytes) {
    sent += t.bytes_sent();
    received += t.bytes_received();
  }
  EXPECT_EQ(sent, received);
  // Broadcast 4 x 1000, all-gather 4 x (100 + 200 + 300 + 400 + 500), ring 5 x 10.
  EXPECT_EQ(sent, 4000u + 4u * 1500u + 50u);

  // Sizes are still checked without bytes.
  const std::vector<Status> bad = RunRanks(options, [](int, Comm& comm, Device& device) {
    ASSIGN_OR_RETURN(buffer, AllocateOrError(device, 8, kTagComm));
    return comm.Broadcast(0, BufferRegion::Slice(buffer, 4, 8));
  });
  for (const Status& status : bad) EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
}

TEST(HostCommTest, AWorldMixingDevicesWithAndWithoutBytesIsRefused) {
  HostCommWorld world(2, {.timeout = std::chrono::milliseconds(5000)});
  HostDeviceOptions with, without;
  without.holds_bytes = false;
  HostDevice device0(0, with), device1(1, without);
  HostComm comm0(&world, 0, &device0), comm1(&world, 1, &device1);
  Status status0, status1;
  std::thread t0([&] {
    StatusOr<Buffer> b = AllocateOrError(device0, 8, kTagComm);
    status0 = b.ok() ? comm0.Broadcast(0, BufferRegion::Whole(*b)) : b.status();
    world.MarkExited(0, status0);
  });
  std::thread t1([&] {
    StatusOr<Buffer> b = AllocateOrError(device1, 8, kTagComm);
    status1 = b.ok() ? comm1.Broadcast(0, BufferRegion::Whole(*b)) : b.status();
    world.MarkExited(1, status1);
  });
  t0.join();
  t1.join();
  EXPECT_EQ(status0.code(), StatusCode::kFailedPrecondition) << status0.ToString();
  EXPECT_EQ(status1.code(), StatusCode::kFailedPrecondition) << status1.ToString();
  EXPECT_TRUE(world.abort_status().ok());
  EXPECT_TRUE(world.UndeliveredMessages().empty());
}

// --- FaultyComm -------------------------------------------------------------------------------

TEST(FaultyCommTest, ADroppedMessageLeavesTheReceiverWithAnErrorNotAHang) {
  std::atomic<uint64_t> injected{0};
  const std::vector<Status> statuses =
      RunRanks(Options(2), [&](int rank, Comm& comm, Device& device) -> Status {
        FaultyComm faulty(&comm, {.drop_send = rank == 0 ? 2u : 0u});
        ASSIGN_OR_RETURN(buffer, AllocateOrError(device, 16, kTagComm));
        for (int i = 0; i < 2; ++i) {  // the second message (tag 1) is lost
          Status status = rank == 0 ? faulty.Send(1, BufferRegion::Whole(buffer), i)
                                    : faulty.Recv(0, BufferRegion::Whole(buffer), i);
          if (!status.ok()) return status;
        }
        injected += faulty.injected();
        return Status::Ok();
      });
  EXPECT_TRUE(statuses[0].ok()) << "the sender believes it sent";
  EXPECT_EQ(statuses[1].code(), StatusCode::kUnavailable);
  EXPECT_TRUE(Contains(statuses[1], "rank 1 waits in Recv(src=0, tag=1, 16 B)"))
      << statuses[1].ToString();
  EXPECT_TRUE(Contains(statuses[1], "rank 0 has exited (OK)")) << statuses[1].ToString();
  EXPECT_EQ(injected.load(), 1u);
}

TEST(FaultyCommTest, AFailedCallOnOneRankSurfacesOnAll) {
  const std::vector<Status> statuses =
      RunRanks(Options(4), [](int rank, Comm& comm, Device& device) -> Status {
        FaultyComm faulty(&comm, {.fail_call = rank == 2 ? 2u : 0u});
        ASSIGN_OR_RETURN(send, AllocateOrError(device, 4, kTagComm));
        ASSIGN_OR_RETURN(recv, AllocateOrError(device, 16, kTagComm));
        TWINSIM_RETURN_IF_ERROR(faulty.Barrier());
        return faulty.AllGather(BufferRegion::Whole(send), BufferRegion::Whole(recv), {});
      });
  EXPECT_EQ(statuses[2].code(), StatusCode::kInternal);
  EXPECT_TRUE(Contains(statuses[2], "rank 2: injected fault: call #2 (AllGather) failed"));
  for (int r : {0, 1, 3}) {
    EXPECT_EQ(statuses[r].code(), StatusCode::kUnavailable);
    EXPECT_TRUE(Contains(statuses[r], "collective #1 lacks rank(s) 2")) << statuses[r].ToString();
  }
}

// --- Determinism ------------------------------------------------------------------------------

// A mixed program whose every output and traffic figure goes into `digest[rank]`.
Status MixedProgram(int rank, Comm& comm, Device& device, bool eager, std::vector<Bytes>* digest) {
  const int n = comm.size();
  Bytes& out = (*digest)[rank];
  auto record = [&](const Buffer& buffer) -> Status {
    ASSIGN_OR_RETURN(bytes, Download(device, BufferRegion::Whole(buffer)));
    out.insert(out.end(), bytes.begin(), bytes.end());
    return Status::Ok();
  };
  // Ring shifts.
  ASSIGN_OR_RETURN(a, Upload(device, Pattern(rank, 10, 96)));
  ASSIGN_OR_RETURN(b, AllocateOrError(device, 96, kTagComm));
  for (int step = 0; step < 3; ++step) {
    TWINSIM_RETURN_IF_ERROR(comm.SendRecv((rank + 1) % n, BufferRegion::Whole(a),
                                          (rank + n - 1) % n, BufferRegion::Whole(b), step));
    std::swap(a, b);
    TWINSIM_RETURN_IF_ERROR(record(a));
  }
  // Broadcast from a middle rank.
  ASSIGN_OR_RETURN(c, Upload(device, Pattern(rank, 11, 50)));
  TWINSIM_RETURN_IF_ERROR(comm.Broadcast(n / 2, BufferRegion::Whole(c)));
  TWINSIM_RETURN_IF_ERROR(record(c));
  // Uneven all-gather.
  std::vector<uint64_t> counts(n);
  uint64_t total = 0;
  for (int r = 0; r < n; ++r) total += counts[r] = 4 * ((r * 5 + 2) % 7);
  ASSIGN_OR_RETURN(d, Upload(device, Pattern(rank, 12, counts[rank])));
  ASSIGN_OR_RETURN(e, AllocateOrError(device, total, kTagComm));
  TWINSIM_RETURN_IF_ERROR(comm.AllGather(BufferRegion::Whole(d), BufferRegion::Whole(e), counts));
  TWINSIM_RETURN_IF_ERROR(record(e));
  // Uneven reduce-scatter of floats whose sum depends on the order of addition.
  ASSIGN_OR_RETURN(f, Upload(device, FloatBytes(SpreadFloats(77 + rank, total / 4))));
  ASSIGN_OR_RETURN(g, AllocateOrError(device, counts[rank], kTagComm));
  TWINSIM_RETURN_IF_ERROR(
      comm.ReduceScatterSum(BufferRegion::Whole(f), BufferRegion::Whole(g), counts));
  TWINSIM_RETURN_IF_ERROR(record(g));
  // Several messages from every rank to rank 0; in eager mode, asked for in another tag order.
  if (rank == 0) {
    ASSIGN_OR_RETURN(in, AllocateOrError(device, 24, kTagComm));
    for (int src = 1; src < n; ++src) {
      for (int tag : eager ? std::vector<int>{2, 1, 1} : std::vector<int>{1, 1, 2}) {
        TWINSIM_RETURN_IF_ERROR(comm.Recv(src, BufferRegion::Whole(in), tag));
        TWINSIM_RETURN_IF_ERROR(record(in));
      }
    }
  } else {
    for (int i = 0; i < 3; ++i) {
      ASSIGN_OR_RETURN(message, Upload(device, Pattern(rank, 20 + i, 24)));
      TWINSIM_RETURN_IF_ERROR(comm.Send(0, BufferRegion::Whole(message), i < 2 ? 1 : 2));
    }
  }
  TWINSIM_RETURN_IF_ERROR(comm.Barrier());
  const TrafficStats traffic = comm.traffic();
  for (const auto& [rank_of_peer, peer] : traffic.peers()) {
    out.push_back(static_cast<std::byte>(rank_of_peer));
    for (uint64_t v :
         {peer.bytes_sent, peer.bytes_received, peer.messages_sent, peer.messages_received}) {
      for (int i = 0; i < 8; ++i) out.push_back(static_cast<std::byte>(v >> (8 * i)));
    }
  }
  return Status::Ok();
}

TEST(HostCommTest, ResultsAreIdenticalOverManyRunsWithRandomDelays) {
  constexpr int kRanks = 8;
  constexpr int kRuns = 20;
  for (SendMode mode : {SendMode::kRendezvous, SendMode::kEager}) {
    const bool eager = mode == SendMode::kEager;
    SCOPED_TRACE(eager ? "eager" : "rendezvous");
    std::vector<Bytes> first;
    for (int run = 0; run < kRuns; ++run) {
      const uint64_t seed = 0x5eed0000 + run;
      SCOPED_TRACE(fmt::format("run {}, delay seed {:#x}", run, seed));
      std::vector<Bytes> digest(kRanks);
      ExpectAllOk(RunRanks(Options(kRanks, mode), [&](int rank, Comm& comm, Device& device) {
        // Run 0 without delays; the others with random sleeps before every call.
        FaultyComm delayed(
            &comm, {.max_delay = std::chrono::microseconds(run == 0 ? 0 : 300), .seed = seed});
        return MixedProgram(rank, delayed, device, eager, &digest);
      }));
      if (run == 0) {
        first = digest;
        for (const Bytes& d : first) ASSERT_FALSE(d.empty());
      } else {
        for (int r = 0; r < kRanks; ++r) EXPECT_EQ(digest[r], first[r]) << "rank " << r;
      }
    }
  }
}

}  // namespace
}  // namespace twinsim::core
