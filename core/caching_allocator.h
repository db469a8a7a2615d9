// CachingAllocator: a model of PyTorch's CUDA caching allocator, enough to show how
// fragmentation turns memory that is free in total into an OOM. It keeps no bytes: it tracks
// segments (what cudaMalloc reserved) and the blocks carved from them.
//
// Note [Caching allocator model]
// ------------------------------
// The rules follow c10/cuda/CUDACachingAllocator.cpp (PyTorch 2.x, default settings):
//   - a request is rounded up to a multiple of 512 B (kMinBlockSize);
//   - requests of at most 1 MiB (kSmallSize) come from the small pool, whose segments are
//     2 MiB (kSmallBuffer); larger ones from the large pool, whose segments are 20 MiB
//     (kLargeBuffer) for requests under 10 MiB (kMinLargeAlloc), else the request rounded up
//     to 2 MiB (kRoundLarge);
//   - a request takes the smallest cached free block of its pool that fits (best fit, lowest
//     address on ties), split when what is left is at least 512 B (small pool) or more than
//     1 MiB (large pool);
//   - a freed block goes back to its pool's cache and merges with free neighbours of its
//     segment; segments are never returned to the device while requests succeed;
//   - when no cached block fits, a new segment is reserved if reserved + segment <= capacity;
//     otherwise every segment without an allocated block is released (what PyTorch does before
//     it gives up) and the reservation retried once; then the request fails.
// Not modelled: streams, expandable segments, max_split_size_mb, garbage-collection thresholds.
#ifndef TWINSIM_CORE_CACHING_ALLOCATOR_H_
#define TWINSIM_CORE_CACHING_ALLOCATOR_H_

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

namespace twinsim::core {

inline constexpr uint64_t kMinBlockSize = 512;
inline constexpr uint64_t kSmallSize = uint64_t{1} << 20;
inline constexpr uint64_t kSmallBuffer = uint64_t{2} << 20;
inline constexpr uint64_t kLargeBuffer = uint64_t{20} << 20;
inline constexpr uint64_t kMinLargeAlloc = uint64_t{10} << 20;
inline constexpr uint64_t kRoundLarge = uint64_t{2} << 20;

class CachingAllocator {
 public:
  // `capacity`: bytes the device lets the allocator reserve.
  explicit CachingAllocator(uint64_t capacity) : capacity_(capacity) {}

  // A block of at least `bytes`, or nullopt when the model runs out of memory (after releasing
  // the free segments). A zero-byte request gets a handle and takes nothing.
  std::optional<uint64_t> Allocate(uint64_t bytes);
  // Returns a block from Allocate. REQUIRES: a live handle (unknown handles are ignored).
  void Free(uint64_t handle);

  uint64_t allocated() const { return allocated_; }  // bytes of live blocks (rounded)
  uint64_t reserved() const { return reserved_; }    // bytes of segments
  uint64_t peak_reserved() const { return peak_reserved_; }
  uint64_t capacity() const { return capacity_; }
  // The largest free cached block, in bytes (0 when none).
  uint64_t LargestFreeBlock() const;

  // Rounding of a request (Note [Caching allocator model]).
  static uint64_t RoundSize(uint64_t bytes);
  static uint64_t SegmentSize(uint64_t rounded);

 private:
  struct Block {
    uint64_t segment = 0;
    uint64_t offset = 0;
    uint64_t size = 0;
    bool small = false;
    bool free = true;
  };
  struct Segment {
    uint64_t size = 0;
    bool small = false;
    int live = 0;                         // allocated blocks in it
    std::map<uint64_t, uint64_t> blocks;  // offset -> block id
  };

  bool ReserveSegment(uint64_t size, bool small);
  void ReleaseFreeSegments();
  void AddFree(uint64_t id);
  void RemoveFree(uint64_t id);

  uint64_t capacity_;
  uint64_t allocated_ = 0;
  uint64_t reserved_ = 0;
  uint64_t peak_reserved_ = 0;
  uint64_t next_id_ = 1;
  std::map<uint64_t, Block> blocks_;
  std::map<uint64_t, Segment> segments_;
  // Free blocks per pool ordered by (size, segment, offset): best fit is lower_bound.
  std::set<std::tuple<uint64_t, uint64_t, uint64_t, uint64_t>> free_[2];  // size, seg, off, id
};

}  // namespace twinsim::core

#endif  // TWINSIM_CORE_CACHING_ALLOCATOR_H_
