#include "core/byte_codec.h"

#include <cstring>

namespace twinsim::core {

void ByteWriter::Raw(const void* p, size_t n) {
  const size_t at = out_.size();
  out_.resize(at + n);
  if (n > 0) std::memcpy(out_.data() + at, p, n);
}

void ByteWriter::Str(std::string_view s) {
  U64(s.size());
  Raw(s.data(), s.size());
}

void ByteWriter::Bytes(std::span<const std::byte> b) {
  U64(b.size());
  Raw(b.data(), b.size());
}

void ByteWriter::St(const Status& s) {
  U64(static_cast<uint64_t>(s.code()));
  Str(s.message());
}

void ByteWriter::Tags(const std::vector<std::pair<std::string, uint64_t>>& tags) {
  U64(tags.size());
  for (const auto& [tag, bytes] : tags) {
    Str(tag);
    U64(bytes);
  }
}

void ByteWriter::Oom(const OomReport& o) {
  I64(o.rank);
  Str(o.device);
  Str(o.tag);
  U64(o.requested);
  U64(o.in_use);
  U64(o.capacity);
  Tags(o.in_use_by_tag);
}

uint64_t ByteReader::Count(uint64_t min_size) {
  const uint64_t n = U64();
  if (!ok_ || n > (in_.size() - pos_) / min_size) {
    ok_ = false;
    return 0;
  }
  return n;
}

std::string ByteReader::Str() {
  const uint64_t n = Count(1);
  std::string s(reinterpret_cast<const char*>(in_.data()) + pos_, n);
  pos_ += n;
  return s;
}

std::vector<std::byte> ByteReader::Bytes() {
  const uint64_t n = Count(1);
  std::vector<std::byte> b(in_.begin() + pos_, in_.begin() + pos_ + n);
  pos_ += n;
  return b;
}

Status ByteReader::St() {
  const uint64_t code = U64();
  std::string message = Str();
  if (code > static_cast<uint64_t>(StatusCode::kInternal)) ok_ = false;
  if (!ok_) return Status::Internal("corrupt status");
  return Status(static_cast<StatusCode>(code), std::move(message));
}

std::vector<std::pair<std::string, uint64_t>> ByteReader::Tags() {
  std::vector<std::pair<std::string, uint64_t>> tags(Count(16));
  for (auto& [tag, bytes] : tags) {
    tag = Str();
    bytes = U64();
  }
  return tags;
}

OomReport ByteReader::Oom() {
  OomReport o;
  o.rank = static_cast<int>(I64());
  o.device = Str();
  o.tag = Str();
  o.requested = U64();
  o.in_use = U64();
  o.capacity = U64();
  o.in_use_by_tag = Tags();
  return o;
}

}  // namespace twinsim::core
