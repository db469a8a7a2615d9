#include "core/comm.h"

#include <gtest/gtest.h>

#include <vector>

#include "core/comm_matching.h"

namespace twinsim::core {
namespace {

TEST(TrafficStatsTest, KeepsOnlyPeersTalkedToSortedByRank) {
  TrafficStats t;
  t.RecordSent(9000, 64, 1);
  t.RecordReceived(3, 16, 1);
  t.RecordSent(3, 8);
  t.RecordSent(12000, 0, 0);  // adds nothing: no entry
  t.RecordReceived(9000, 32);
  ASSERT_EQ(t.peers().size(), 2u);
  EXPECT_EQ(t.peers()[0].first, 3);
  EXPECT_EQ(t.peers()[1].first, 9000);
  EXPECT_EQ(t.Peer(3), (PeerTraffic{8, 16, 0, 1}));
  EXPECT_EQ(t.Peer(9000), (PeerTraffic{64, 32, 1, 0}));
  EXPECT_EQ(t.Peer(12000), PeerTraffic{});
  EXPECT_EQ(t.Peer(-1), PeerTraffic{});
  EXPECT_EQ(t.bytes_sent(), 72u);
  EXPECT_EQ(t.bytes_received(), 48u);
}

TEST(TrafficStatsTest, EqualityDoesNotDependOnRecordingOrder) {
  TrafficStats a, b;
  a.RecordSent(1, 10, 1);
  a.RecordSent(5, 20, 1);
  a.RecordSent(3, 30, 1);
  b.RecordSent(5, 20, 1);
  b.RecordSent(3, 30, 1);
  b.RecordSent(1, 10, 1);
  EXPECT_EQ(a, b);
  b.RecordCollective();
  EXPECT_NE(a, b);
}

TEST(TrafficStatsTest, ABarrierInAHugeWorldRecordsNoPeers) {
  TrafficStats t;
  const std::vector<uint64_t> counts(16384, 0);
  CollectiveCall barrier;
  RecordCollectiveTraffic(7, barrier, counts, &t);
  EXPECT_EQ(t.collective_calls(), 1u);
  EXPECT_TRUE(t.peers().empty());
}

TEST(TrafficStatsTest, AllGatherCountsEveryOtherPeer) {
  TrafficStats t;
  const std::vector<uint64_t> counts = {10, 20, 30, 40};
  CollectiveCall call;
  call.kind = CollectiveKind::kAllGather;
  RecordCollectiveTraffic(1, call, counts, &t);
  EXPECT_EQ(t.peers().size(), 3u);
  EXPECT_EQ(t.Peer(1), PeerTraffic{});
  EXPECT_EQ(t.Peer(3), (PeerTraffic{20, 40, 0, 0}));
  EXPECT_EQ(t.bytes_sent(), 60u);
  EXPECT_EQ(t.bytes_received(), 80u);
}

}  // namespace
}  // namespace twinsim::core
