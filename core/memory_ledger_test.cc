// MemoryLedger, HostMemory and FillRequest: the accounting and the request vocabulary that
// every backend shares.
#include "core/memory_ledger.h"

#include <gtest/gtest.h>

#include <limits>
#include <thread>
#include <vector>

#include "core/fill_request.h"
#include "core/host_memory.h"

namespace twinsim::core {
namespace {

using TagBytes = std::vector<std::pair<std::string, uint64_t>>;

TEST(MemoryLedgerTest, TracksLiveAndPeakBytesPerTag) {
  MemoryLedger ledger(2, "host:2", 1000);
  EXPECT_FALSE(ledger.TryCharge(400, "param").has_value());
  EXPECT_FALSE(ledger.TryCharge(300, "optim").has_value());
  ledger.Release(300, "optim");
  EXPECT_FALSE(ledger.TryCharge(100, "grad").has_value());
  EXPECT_FALSE(ledger.TryCharge(100, "param").has_value());

  const MemoryStats stats = ledger.Stats();
  EXPECT_EQ(stats.capacity, 1000u);
  EXPECT_EQ(stats.in_use, 600u);
  EXPECT_EQ(stats.peak, 700u);
  EXPECT_EQ(stats.live_allocations, 3u);
  ASSERT_EQ(stats.by_tag.size(), 3u);  // sorted by tag
  EXPECT_EQ(stats.by_tag[0].tag, "grad");
  EXPECT_EQ(stats.by_tag[1].tag, "optim");
  EXPECT_EQ(stats.by_tag[2].tag, "param");
  EXPECT_EQ(stats.Tag("param").in_use, 500u);
  EXPECT_EQ(stats.Tag("param").peak, 500u);
  EXPECT_EQ(stats.Tag("param").total_allocations, 2u);
  EXPECT_EQ(stats.Tag("optim").in_use, 0u);
  EXPECT_EQ(stats.Tag("optim").peak, 300u);
  EXPECT_EQ(stats.Tag("optim").live_allocations, 0u);
  EXPECT_EQ(stats.Tag("never").in_use, 0u);
  // What memory held at its fullest (700 B: param 400 + optim 300).
  EXPECT_EQ(stats.at_peak, (TagBytes{{"optim", 300}, {"param", 400}}));
  EXPECT_EQ(stats.oom_count, 0u);
}

TEST(MemoryLedgerTest, RefusalIsAReportWithTheFiguresAndChargesNothing) {
  MemoryLedger ledger(3, "host:3", 1000);
  ASSERT_FALSE(ledger.TryCharge(600, "param").has_value());
  ASSERT_FALSE(ledger.TryCharge(300, "optim").has_value());
  const std::optional<OomReport> oom = ledger.TryCharge(200, "grad");
  ASSERT_TRUE(oom.has_value());
  EXPECT_EQ(oom->rank, 3);
  EXPECT_EQ(oom->device, "host:3");
  EXPECT_EQ(oom->tag, "grad");
  EXPECT_EQ(oom->requested, 200u);
  EXPECT_EQ(oom->in_use, 900u);
  EXPECT_EQ(oom->capacity, 1000u);
  EXPECT_EQ(oom->available(), 100u);
  EXPECT_EQ(oom->in_use_by_tag, (TagBytes{{"optim", 300}, {"param", 600}}));
  EXPECT_EQ(oom->ToString(),
            "rank 3 (host:3): out of memory allocating 200 B (200 B) for 'grad': 900 B of "
            "1000 B in use, 100 B free (optim 300 B, param 600 B)");

  const MemoryStats stats = ledger.Stats();
  EXPECT_EQ(stats.in_use, 900u);
  EXPECT_EQ(stats.Tag("grad").total_allocations, 0u);
  EXPECT_EQ(stats.oom_count, 1u);
  ASSERT_EQ(stats.oom_events.size(), 1u);
  EXPECT_EQ(stats.oom_events[0], *oom);
}

TEST(MemoryLedgerTest, EdgesOfCapacity) {
  MemoryLedger ledger(0, "d", 1000);
  EXPECT_TRUE(ledger.WouldFit(1000));
  EXPECT_FALSE(ledger.WouldFit(1001));
  EXPECT_FALSE(ledger.TryCharge(1000, "param").has_value());  // exactly full fits
  EXPECT_FALSE(ledger.TryCharge(0, "param").has_value());     // zero always fits
  EXPECT_TRUE(ledger.TryCharge(1, "param").has_value());
  // A request near 2^64 must not wrap around and "fit".
  EXPECT_TRUE(ledger.TryCharge(std::numeric_limits<uint64_t>::max(), "param").has_value());

  MemoryLedger empty(0, "d", 0);
  EXPECT_FALSE(empty.TryCharge(0, "param").has_value());
  EXPECT_TRUE(empty.TryCharge(1, "param").has_value());
}

TEST(MemoryLedgerTest, OomLogKeepsTheFirstEventsAndCountsAll) {
  MemoryLedger ledger(0, "d", 10);
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(ledger.TryCharge(11 + i, "param").has_value());
  const MemoryStats stats = ledger.Stats();
  EXPECT_EQ(stats.oom_count, 100u);
  ASSERT_EQ(stats.oom_events.size(), MemoryStats::kMaxOomEvents);
  EXPECT_EQ(stats.oom_events.front().requested, 11u);
  EXPECT_EQ(stats.oom_events.back().requested, 11u + MemoryStats::kMaxOomEvents - 1);
}

TEST(MemoryLedgerTest, FormatByteSize) {
  EXPECT_EQ(FormatByteSize(0), "0 B");
  EXPECT_EQ(FormatByteSize(1023), "1023 B");
  EXPECT_EQ(FormatByteSize(1536), "1.50 KiB");
  EXPECT_EQ(FormatByteSize(uint64_t{80} << 30), "80.00 GiB");
  EXPECT_EQ(FormatByteSize(std::numeric_limits<uint64_t>::max()), "16.00 EiB");
}

TEST(HostMemoryTest, PinnedCountsAgainstItsLimitAndTheTotal) {
  HostMemory memory({.name = "node0:host", .total_capacity = 1000, .pinned_capacity = 400});
  StatusOr<HostAllocation> pinned = memory.Reserve(HostMemoryKind::kPinned, 300, "optim", 1);
  ASSERT_TRUE(pinned.ok());
  ASSERT_TRUE(pinned->fits());
  EXPECT_EQ(memory.TotalStats().in_use, 300u);
  EXPECT_EQ(memory.PinnedStats().in_use, 300u);

  // The pinned pool is short: the report names it and the requesting rank.
  StatusOr<HostAllocation> more = memory.Reserve(HostMemoryKind::kPinned, 200, "optim", 2);
  ASSERT_TRUE(more.ok());
  ASSERT_FALSE(more->fits());
  EXPECT_EQ(more->oom->device, "node0:host/pinned");
  EXPECT_EQ(more->oom->rank, 2);
  EXPECT_EQ(more->oom->in_use, 300u);
  EXPECT_EQ(more->oom->capacity, 400u);
  EXPECT_EQ(memory.TotalStats().in_use, 300u);  // nothing charged anywhere

  // Pageable memory fills the total; then even a pinned request that fits its pool fails,
  // reported against the total.
  StatusOr<HostAllocation> pageable = memory.Reserve(HostMemoryKind::kPageable, 650, "param");
  ASSERT_TRUE(pageable.ok() && pageable->fits());
  EXPECT_FALSE(memory.WouldFit(HostMemoryKind::kPinned, 100));
  StatusOr<HostAllocation> squeezed = memory.Reserve(HostMemoryKind::kPinned, 100, "optim", 0);
  ASSERT_TRUE(squeezed.ok());
  ASSERT_FALSE(squeezed->fits());
  EXPECT_EQ(squeezed->oom->device, "node0:host");
  EXPECT_EQ(squeezed->oom->in_use, 950u);
  EXPECT_EQ(memory.PinnedStats().in_use, 300u);

  ASSERT_TRUE(memory.Release(pinned->reservation).ok());
  EXPECT_EQ(memory.Release(pinned->reservation).code(), StatusCode::kNotFound);
  EXPECT_EQ(memory.TotalStats().in_use, 650u);
  EXPECT_EQ(memory.PinnedStats().in_use, 0u);
  EXPECT_EQ(memory.PinnedStats().peak, 300u);
  EXPECT_EQ(memory.TotalStats().peak, 950u);
  EXPECT_EQ(memory.Reserve(HostMemoryKind::kPageable, 1, "").status().code(),
            StatusCode::kInvalidArgument);
}

TEST(HostMemoryTest, RanksShareItFromTheirThreads) {
  HostMemory memory({.name = "host", .total_capacity = 1 << 20, .pinned_capacity = 1 << 19});
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&memory, t] {
      for (int i = 0; i < 500; ++i) {
        const auto kind = (i + t) % 2 ? HostMemoryKind::kPinned : HostMemoryKind::kPageable;
        StatusOr<HostAllocation> a = memory.Reserve(kind, 1000 + i, "chunk", t);
        if (a.ok() && a->fits()) (void)memory.Release(a->reservation);
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(memory.TotalStats().in_use, 0u);
  EXPECT_EQ(memory.PinnedStats().in_use, 0u);
  EXPECT_LE(memory.TotalStats().peak, uint64_t{1} << 20);
  EXPECT_EQ(memory.TotalStats().Tag("chunk").total_allocations, 4000u);
}

TEST(FillRequestTest, ValidatesRangeAndEnums) {
  FillRequest request;
  request.transform.prim = Primitive::kNormal;
  request.transform.p[1] = 0.02f;
  request.dtype = DType::kBf16;
  request.begin = 10;
  request.end = 4106;
  EXPECT_TRUE(ValidateFillRequest(request).ok());
  EXPECT_EQ(request.elements(), 4096u);
  EXPECT_EQ(request.bytes(), 8192u);
  EXPECT_NE(request.ToString().find("normal(0, 0.02"), std::string::npos) << request.ToString();
  EXPECT_NE(request.ToString().find("bf16 [10, 4106)"), std::string::npos) << request.ToString();

  FillRequest inverted = request;
  inverted.begin = 5000;
  EXPECT_EQ(ValidateFillRequest(inverted).code(), StatusCode::kInvalidArgument);

  FillRequest huge = request;
  huge.dtype = DType::kFp32;
  huge.begin = 0;
  huge.end = std::numeric_limits<uint64_t>::max() / 2;
  EXPECT_EQ(ValidateFillRequest(huge).code(), StatusCode::kInvalidArgument);

  FillRequest bad_primitive = request;
  bad_primitive.transform.prim = static_cast<Primitive>(9);
  EXPECT_EQ(ValidateFillRequest(bad_primitive).code(), StatusCode::kInvalidArgument);
  FillRequest bad_dtype = request;
  bad_dtype.dtype = static_cast<DType>(7);
  EXPECT_EQ(ValidateFillRequest(bad_dtype).code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace twinsim::core
