#include "tools/cli/output.h"

#include <algorithm>
#include <bit>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <vector>

#include "core/json.h"

namespace twinsim::cli {

void AppendHexFloat(float value, std::string& out) {
  static constexpr char kHex[] = "0123456789abcdef";
  const uint32_t bits = std::bit_cast<uint32_t>(value);
  const bool negative = (bits >> 31) != 0;
  const uint32_t biased = (bits >> 23) & 0xffu;
  uint32_t mantissa = bits & 0x7fffffu;
  if (biased == 0xffu) {
    out += mantissa != 0 ? (negative ? "-nan" : "nan") : (negative ? "-inf" : "inf");
    return;
  }
  if (negative) out += '-';
  if (biased == 0 && mantissa == 0) {
    out += "0x0p+0";
    return;
  }
  int exponent;
  if (biased == 0) {
    // Subnormal float, normal double: shift the leading 1 up to bit 23 (the implicit bit).
    const int shift = std::countl_zero(mantissa) - 8;
    mantissa = (mantissa << shift) & 0x7fffffu;
    exponent = -126 - shift;
  } else {
    exponent = static_cast<int>(biased) - 127;
  }
  out += "0x1";
  // The 23 fraction bits, left-aligned in six hex digits; trailing zero digits are dropped.
  const uint32_t fraction = mantissa << 1;
  if (fraction != 0) {
    out += '.';
    const int last_digit = std::countr_zero(fraction) / 4;  // digits 0..last_digit-1 are zero
    for (int d = 5; d >= last_digit; --d) out += kHex[(fraction >> (4 * d)) & 0xfu];
  }
  out += 'p';
  out += exponent < 0 ? '-' : '+';
  char digits[8];
  const auto [end, ec] =
      std::to_chars(digits, digits + sizeof digits, exponent < 0 ? -exponent : exponent);
  out.append(digits, end);
}

void AppendJsonString(std::string_view text, std::string& out) {
  core::AppendJsonString(text, out);
}

bool IsValidUtf8(std::string_view text) { return core::IsValidUtf8(text); }

Output::Output(std::FILE* file, size_t block_bytes) : file_(file), block_bytes_(block_bytes) {
  buffer_.reserve(block_bytes_ + 256);
}

void Output::AppendUnsigned(uint64_t value) {
  char digits[24];
  const auto [end, ec] = std::to_chars(digits, digits + sizeof digits, value);
  Append(std::string_view(digits, end - digits));
}

void Output::WriteBuffer() {
  if (error_ == 0 && !buffer_.empty()) {
    // Flushed block by block, so that a failing stdout (disk full) stops a long command early.
    errno = 0;
    if (std::fwrite(buffer_.data(), 1, buffer_.size(), file_) != buffer_.size() ||
        std::fflush(file_) != 0) {
      error_ = errno != 0 ? errno : EIO;
    }
  }
  buffer_.clear();
}

Status Output::Finish() {
  WriteBuffer();
  if (error_ != 0) {
    return Status::Unavailable(std::string("writing standard output failed: ") +
                               std::strerror(error_));
  }
  return Status::Ok();
}

void PrintTable(Output& out, const std::vector<std::string>& header,
                const std::vector<std::vector<std::string>>& rows, const std::vector<bool>& right) {
  std::vector<size_t> width(header.size());
  for (size_t c = 0; c < header.size(); ++c) width[c] = header[c].size();
  for (const auto& row : rows) {
    for (size_t c = 0; c < row.size(); ++c) width[c] = std::max(width[c], row[c].size());
  }
  auto line = [&](const std::vector<std::string>& cells) {
    std::string text;
    for (size_t c = 0; c < cells.size(); ++c) {
      const bool last = c + 1 == cells.size();
      const std::string pad(width[c] - cells[c].size(), ' ');
      if (c) text += "  ";
      if (right[c]) {
        text += pad + cells[c];
      } else {
        text += cells[c];
        if (!last) text += pad;
      }
    }
    while (!text.empty() && text.back() == ' ') text.pop_back();
    out.Append(text);
    out.Append('\n');
  };
  line(header);
  for (const auto& row : rows) line(row);
}

}  // namespace twinsim::cli
