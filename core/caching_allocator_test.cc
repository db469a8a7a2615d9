#include "core/caching_allocator.h"

#include <gtest/gtest.h>

namespace twinsim::core {
namespace {

constexpr uint64_t kMiB = uint64_t{1} << 20;

TEST(CachingAllocatorTest, RoundsRequestsAndSegmentsAsPyTorch) {
  EXPECT_EQ(CachingAllocator::RoundSize(1), 512u);
  EXPECT_EQ(CachingAllocator::RoundSize(513), 1024u);
  EXPECT_EQ(CachingAllocator::SegmentSize(512), 2 * kMiB);  // small pool
  EXPECT_EQ(CachingAllocator::SegmentSize(kMiB), 2 * kMiB);
  EXPECT_EQ(CachingAllocator::SegmentSize(kMiB + 512), 20 * kMiB);  // large, under 10 MiB
  EXPECT_EQ(CachingAllocator::SegmentSize(11 * kMiB), 12 * kMiB);   // rounded to 2 MiB
}

TEST(CachingAllocatorTest, FreedBlocksAreCachedAndReused) {
  CachingAllocator a(100 * kMiB);
  const auto x = a.Allocate(4 * kMiB);
  ASSERT_TRUE(x);
  EXPECT_EQ(a.reserved(), 20 * kMiB);
  EXPECT_EQ(a.allocated(), 4 * kMiB);
  a.Free(*x);
  EXPECT_EQ(a.allocated(), 0u);
  EXPECT_EQ(a.reserved(), 20 * kMiB);  // cached, not returned
  ASSERT_TRUE(a.Allocate(4 * kMiB));
  EXPECT_EQ(a.reserved(), 20 * kMiB);  // reused the cached segment
  ASSERT_TRUE(a.Allocate(100));        // small pool: a segment of its own
  EXPECT_EQ(a.reserved(), 22 * kMiB);
}

TEST(CachingAllocatorTest, FragmentationFailsARequestSmallerThanTheFreeTotal) {
  CachingAllocator a(20 * kMiB);
  const auto x = a.Allocate(6 * kMiB), y = a.Allocate(6 * kMiB), z = a.Allocate(6 * kMiB);
  ASSERT_TRUE(x && y && z);
  EXPECT_EQ(a.reserved(), 20 * kMiB);  // one 20 MiB segment, split three times
  a.Free(*x);
  a.Free(*z);
  EXPECT_EQ(a.allocated(), 6 * kMiB);
  EXPECT_EQ(a.LargestFreeBlock(), 8 * kMiB);  // z merged with the 2 MiB tail
  // 14 MiB are free, but no block holds 12 MiB and the segment cannot be released.
  EXPECT_FALSE(a.Allocate(12 * kMiB));
  // Once y is gone the segment's blocks merge into one, which serves the request.
  a.Free(*y);
  EXPECT_EQ(a.LargestFreeBlock(), 20 * kMiB);
  EXPECT_TRUE(a.Allocate(12 * kMiB));
  EXPECT_EQ(a.reserved(), 20 * kMiB);
}

TEST(CachingAllocatorTest, FreeSegmentsAreReleasedBeforeGivingUp) {
  CachingAllocator a(24 * kMiB);
  const auto x = a.Allocate(10 * kMiB), y = a.Allocate(10 * kMiB);
  ASSERT_TRUE(x && y);
  EXPECT_EQ(a.reserved(), 20 * kMiB);  // two exact 10 MiB segments
  a.Free(*x);
  // 12 MiB: no cached block fits, a new segment would exceed 24 MiB; x's free segment is
  // released first (empty_cache), then the segment fits.
  EXPECT_TRUE(a.Allocate(12 * kMiB));
  EXPECT_EQ(a.reserved(), 22 * kMiB);
  EXPECT_EQ(a.peak_reserved(), 22 * kMiB);
}

TEST(CachingAllocatorTest, NeighboursMergeInEitherOrder) {
  CachingAllocator a(20 * kMiB);
  const auto x = a.Allocate(6 * kMiB), y = a.Allocate(6 * kMiB);
  ASSERT_TRUE(x && y);
  a.Free(*y);  // merges with the tail
  a.Free(*x);  // merges with y + tail: the whole segment is one free block again
  EXPECT_EQ(a.LargestFreeBlock(), 20 * kMiB);
  EXPECT_TRUE(a.Allocate(20 * kMiB));
  EXPECT_EQ(a.reserved(), 20 * kMiB);
}

TEST(CachingAllocatorTest, ZeroBytesTakeNothing) {
  CachingAllocator a(kMiB);
  const auto h = a.Allocate(0);
  ASSERT_TRUE(h);
  a.Free(*h);
  EXPECT_EQ(a.reserved(), 0u);
}

}  // namespace
}  // namespace twinsim::core
