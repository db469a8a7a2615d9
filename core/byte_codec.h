// ByteWriter / ByteReader: a flat little binary encoding for handing results across a process
// boundary (the sim backend's forked simulations send their answer through a pipe; see Note [One
// engine per process] in sim/sim_run.h). Both ends are the same binary, so values are written
// in native byte order with no versioning. The reader never reads past its input: a truncated or
// corrupt message turns ok() false and yields zero values.
#ifndef TWINSIM_CORE_BYTE_CODEC_H_
#define TWINSIM_CORE_BYTE_CODEC_H_

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/memory_ledger.h"
#include "core/status.h"

namespace twinsim::core {

// Appends to a caller's buffer (so large payloads are written once, where they will be sent).
class ByteWriter {
 public:
  explicit ByteWriter(std::vector<std::byte>& out) : out_(out) {}
  void U64(uint64_t v) { Raw(&v, sizeof v); }
  void I64(int64_t v) { Raw(&v, sizeof v); }
  void F64(double v) { Raw(&v, sizeof v); }
  void Str(std::string_view s);
  void Bytes(std::span<const std::byte> b);
  void St(const Status& s);
  void Tags(const std::vector<std::pair<std::string, uint64_t>>& tags);
  void Oom(const OomReport& report);

 private:
  void Raw(const void* p, size_t n);
  std::vector<std::byte>& out_;
};

class ByteReader {
 public:
  explicit ByteReader(std::span<const std::byte> in) : in_(in) {}
  bool ok() const { return ok_; }
  uint64_t U64() { return Pod<uint64_t>(); }
  int64_t I64() { return Pod<int64_t>(); }
  double F64() { return Pod<double>(); }
  std::string Str();
  std::vector<std::byte> Bytes();
  Status St();
  std::vector<std::pair<std::string, uint64_t>> Tags();
  OomReport Oom();
  // Marks the data malformed.
  void Fail() { ok_ = false; }
  // A count of items at least `min_size` bytes each, checked against what is left.
  uint64_t Count(uint64_t min_size);

 private:
  template <typename T>
  T Pod() {
    T v{};
    if (!ok_ || in_.size() - pos_ < sizeof(T)) {
      ok_ = false;
      return v;
    }
    std::memcpy(&v, in_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }
  std::span<const std::byte> in_;
  size_t pos_ = 0;
  bool ok_ = true;
};

}  // namespace twinsim::core

#endif  // TWINSIM_CORE_BYTE_CODEC_H_
