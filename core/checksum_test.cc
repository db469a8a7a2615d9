#include "core/checksum.h"

#include <gtest/gtest.h>

#include <cstddef>
#include <set>
#include <utility>
#include <vector>

namespace twinsim::core {
namespace {

std::vector<std::byte> Bytes(size_t n) {
  std::vector<std::byte> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<std::byte>(i * 31 + 7);
  return v;
}

TEST(Checksum64Test, SameBytesSameValueOtherBytesOther) {
  const std::vector<std::byte> b = Bytes(13);
  EXPECT_EQ(Checksum64(b), Checksum64(std::vector<std::byte>(b)));
  std::vector<std::byte> swapped = b;
  std::swap(swapped[0], swapped[8]);  // same bytes, another order
  EXPECT_NE(Checksum64(swapped), Checksum64(b));
}

TEST(Checksum64Test, EverySingleBitFlipChangesIt) {
  std::vector<std::byte> b = Bytes(37);  // words and a tail
  const uint64_t base = Checksum64(b);
  for (size_t i = 0; i < b.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      b[i] ^= static_cast<std::byte>(1 << bit);
      EXPECT_NE(Checksum64(b), base) << "byte " << i << " bit " << bit;
      b[i] ^= static_cast<std::byte>(1 << bit);
    }
  }
  EXPECT_EQ(Checksum64(b), base);
}

TEST(Checksum64Test, LengthMatters) {
  // Zero bytes of different lengths (a truncated or padded copy) all differ.
  std::set<uint64_t> seen;
  for (size_t n = 0; n <= 64; ++n) {
    EXPECT_TRUE(seen.insert(Checksum64(std::vector<std::byte>(n))).second) << n;
  }
}

}  // namespace
}  // namespace twinsim::core
