#include "core/caching_allocator.h"

#include <algorithm>
#include <iterator>
#include <tuple>

namespace twinsim::core {
namespace {

uint64_t RoundUp(uint64_t x, uint64_t to) { return (x + to - 1) / to * to; }

}  // namespace

uint64_t CachingAllocator::RoundSize(uint64_t bytes) {
  return bytes < kMinBlockSize ? kMinBlockSize : RoundUp(bytes, kMinBlockSize);
}

uint64_t CachingAllocator::SegmentSize(uint64_t rounded) {
  if (rounded <= kSmallSize) return kSmallBuffer;
  if (rounded < kMinLargeAlloc) return kLargeBuffer;
  return RoundUp(rounded, kRoundLarge);
}

void CachingAllocator::AddFree(uint64_t id) {
  const Block& b = blocks_[id];
  free_[b.small ? 1 : 0].insert({b.size, b.segment, b.offset, id});
}

void CachingAllocator::RemoveFree(uint64_t id) {
  const Block& b = blocks_[id];
  free_[b.small ? 1 : 0].erase({b.size, b.segment, b.offset, id});
}

bool CachingAllocator::ReserveSegment(uint64_t size, bool small) {
  if (reserved_ + size > capacity_) return false;
  const uint64_t seg = next_id_++;
  const uint64_t id = next_id_++;
  segments_[seg] = Segment{size, small, 0, {{0, id}}};
  blocks_[id] = Block{seg, 0, size, small, true};
  AddFree(id);
  reserved_ += size;
  peak_reserved_ = std::max(peak_reserved_, reserved_);
  return true;
}

void CachingAllocator::ReleaseFreeSegments() {
  for (auto it = segments_.begin(); it != segments_.end();) {
    if (it->second.live > 0) {
      ++it;
      continue;
    }
    for (const auto& [offset, id] : it->second.blocks) {
      RemoveFree(id);
      blocks_.erase(id);
    }
    reserved_ -= it->second.size;
    it = segments_.erase(it);
  }
}

std::optional<uint64_t> CachingAllocator::Allocate(uint64_t bytes) {
  if (bytes == 0) return 0;  // handle 0: nothing to free
  const uint64_t size = RoundSize(bytes);
  const bool small = size <= kSmallSize;
  auto& pool = free_[small ? 1 : 0];
  auto fit = pool.lower_bound({size, 0, 0, 0});
  if (fit == pool.end()) {
    const uint64_t seg = SegmentSize(size);
    if (!ReserveSegment(seg, small)) {
      ReleaseFreeSegments();
      if (!ReserveSegment(seg, small)) return std::nullopt;
    }
    fit = pool.lower_bound({size, 0, 0, 0});
  }
  const uint64_t id = std::get<3>(*fit);
  RemoveFree(id);
  Block& b = blocks_[id];
  const uint64_t rest = b.size - size;
  if (small ? rest >= kMinBlockSize : rest > kSmallSize) {
    const uint64_t tail = next_id_++;
    blocks_[tail] = Block{b.segment, b.offset + size, rest, small, true};
    segments_[b.segment].blocks[b.offset + size] = tail;
    b.size = size;
    AddFree(tail);
  }
  b.free = false;
  ++segments_[b.segment].live;
  allocated_ += b.size;
  return id;
}

void CachingAllocator::Free(uint64_t handle) {
  auto it = blocks_.find(handle);
  if (it == blocks_.end() || it->second.free) return;
  Block& b = it->second;
  Segment& seg = segments_[b.segment];
  allocated_ -= b.size;
  --seg.live;
  b.free = true;
  // Merge with the free neighbours of the same segment.
  auto here = seg.blocks.find(b.offset);
  if (auto next = std::next(here); next != seg.blocks.end() && blocks_[next->second].free) {
    const uint64_t nid = next->second;
    RemoveFree(nid);
    b.size += blocks_[nid].size;
    blocks_.erase(nid);
    seg.blocks.erase(next);
  }
  if (here != seg.blocks.begin()) {
    auto prev = std::prev(here);
    Block& p = blocks_[prev->second];
    if (p.free) {
      RemoveFree(prev->second);
      p.size += b.size;
      blocks_.erase(handle);
      seg.blocks.erase(here);
      AddFree(prev->second);
      return;
    }
  }
  AddFree(handle);
}

uint64_t CachingAllocator::LargestFreeBlock() const {
  uint64_t largest = 0;
  for (const auto& pool : free_) {
    if (!pool.empty()) largest = std::max(largest, std::get<0>(*pool.rbegin()));
  }
  return largest;
}

}  // namespace twinsim::core
