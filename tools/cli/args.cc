#include "tools/cli/args.h"

#include <array>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <string>
#include <utility>

#include "core/text.h"

namespace twinsim::cli {
namespace {

Status Expected(std::string_view option, std::string_view expected, std::string_view text) {
  std::string msg(option);
  msg += ": expected ";
  msg += expected;
  msg += ", got ";
  msg += Quote(text);
  return Status::InvalidArgument(std::move(msg));
}

bool HasHexPrefix(std::string_view text) {
  return text.size() >= 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X');
}

// Parses all of `text` as an unsigned integer in `base`; false on any leftover or overflow.
bool ParseAllUnsigned(std::string_view text, int base, uint64_t& out) {
  if (text.empty()) return false;
  const char* first = text.data();
  const char* last = first + text.size();
  const auto [ptr, ec] = std::from_chars(first, last, out, base);
  return ec == std::errc() && ptr == last;
}

std::vector<std::string_view> SplitCommas(std::string_view text) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (true) {
    const size_t comma = text.find(',', start);
    if (comma == std::string_view::npos) {
      parts.push_back(text.substr(start));
      return parts;
    }
    parts.push_back(text.substr(start, comma - start));
    start = comma + 1;
  }
}

}  // namespace

std::string Quote(std::string_view text) { return core::Quote(text); }

StatusOr<uint64_t> ParseUint64(std::string_view option, std::string_view text,
                               std::string_view expected) {
  uint64_t value = 0;
  const bool ok = HasHexPrefix(text) ? ParseAllUnsigned(text.substr(2), 16, value)
                                     : ParseAllUnsigned(text, 10, value);
  if (!ok) return Expected(option, expected, text);
  return value;
}

StatusOr<uint64_t> ParseUint64AtMost(std::string_view option, std::string_view text, uint64_t max,
                                     std::string_view expected) {
  StatusOr<uint64_t> value = ParseUint64(option, text, expected);
  if (value.ok() && *value > max) {
    return Expected(option, std::string(expected) + " <= " + std::to_string(max), text);
  }
  return value;
}

StatusOr<uint32_t> ParseHexWord32(std::string_view option, std::string_view text) {
  const std::string_view digits = HasHexPrefix(text) ? text.substr(2) : text;
  uint64_t value = 0;
  if (digits.size() > 8 || !ParseAllUnsigned(digits, 16, value)) {
    return Expected(option, "a 32-bit hex word (1 to 8 hex digits, optional 0x)", text);
  }
  return static_cast<uint32_t>(value);
}

StatusOr<std::vector<uint32_t>> ParseHexWords32(std::string_view option, std::string_view text,
                                                size_t count) {
  const std::string expected = std::to_string(count) +
                               " comma-separated 32-bit hex words (1 to 8 hex digits each, "
                               "optional 0x)";
  const std::vector<std::string_view> parts = SplitCommas(text);
  if (parts.size() != count) return Expected(option, expected, text);
  std::vector<uint32_t> words;
  words.reserve(count);
  for (const std::string_view part : parts) {
    StatusOr<uint32_t> word = ParseHexWord32(option, part);
    if (!word.ok()) return Expected(option, expected, text);
    words.push_back(*word);
  }
  return words;
}

StatusOr<double> ParseFiniteDouble(std::string_view option, std::string_view text) {
  const std::string copy(text);  // strtod needs a terminated string
  const bool starts_ok = !copy.empty() && (std::isdigit(static_cast<unsigned char>(copy[0])) ||
                                           copy[0] == '-' || copy[0] == '+' || copy[0] == '.');
  char* end = nullptr;
  errno = 0;
  const double value = starts_ok ? std::strtod(copy.c_str(), &end) : 0.0;
  if (!starts_ok || end != copy.c_str() + copy.size() || errno == ERANGE || !std::isfinite(value)) {
    return Expected(option, "a finite number", text);
  }
  return value;
}

StatusOr<std::vector<int64_t>> ParseShape(std::string_view option, std::string_view text,
                                          size_t min_dims, size_t max_dims) {
  const std::string expected =
      min_dims == max_dims
          ? std::to_string(min_dims) + " comma-separated non-negative dimension" +
                (min_dims == 1 ? "" : "s")
          : "between " + std::to_string(min_dims) + " and " + std::to_string(max_dims) +
                " comma-separated non-negative dimensions";
  const std::vector<std::string_view> parts = SplitCommas(text);
  if (parts.size() < min_dims || parts.size() > max_dims) {
    return Expected(option, expected + " (got " + std::to_string(parts.size()) + ")", text);
  }
  std::vector<int64_t> dims;
  uint64_t numel = 1;
  constexpr auto kMax = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
  for (const std::string_view part : parts) {
    uint64_t dim = 0;
    if (!ParseAllUnsigned(part, 10, dim) || dim > kMax) return Expected(option, expected, text);
    if (dim != 0 && numel > kMax / dim) {
      return Expected(option, "a shape whose element count fits in 63 bits", text);
    }
    numel *= dim;
    dims.push_back(static_cast<int64_t>(dim));
  }
  return dims;
}

Status ForOption(std::string_view option, const Status& status) {
  return Status::InvalidArgument(std::string(option) + ": " + status.message());
}

std::vector<std::string> SplitList(const std::string& text) {
  std::vector<std::string> items;
  size_t begin = 0;
  while (true) {
    const size_t comma = text.find(',', begin);
    items.push_back(text.substr(begin, comma - begin));
    if (comma == std::string::npos) break;
    begin = comma + 1;
  }
  return items;
}

Status CheckList(std::string_view option, const std::string& text,
                 const std::vector<std::string>& items) {
  for (size_t i = 0; i < items.size(); ++i) {
    if (items[i].empty()) {
      return Status::InvalidArgument(std::string(option) +
                                     ": expected comma-separated names without empty items, got " +
                                     Quote(text));
    }
    if (items[i] == "all" && items.size() > 1) {
      return Status::InvalidArgument(std::string(option) + ": 'all' must stand alone, got " +
                                     Quote(text));
    }
    for (size_t j = 0; j < i; ++j) {
      if (items[j] == items[i]) {
        return Status::InvalidArgument(std::string(option) + ": " + Quote(items[i]) +
                                       " given twice");
      }
    }
  }
  return Status::Ok();
}

// The largest size: 2^60 bytes, so that sums of two stay far below 2^64.
constexpr uint64_t kMaxSizeBytes = uint64_t{1} << 60;

StatusOr<uint64_t> ParseByteSizeWithUnit(std::string_view option, std::string_view text) {
  const auto bad = [&] {
    return Status::InvalidArgument(std::string(option) + ": " + "expected a size like 24GB or 32GiB, got " + Quote(text));
  };
  size_t i = 0;
  unsigned __int128 mantissa = 0;
  int digits = 0, fraction_digits = 0;
  while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
    mantissa = mantissa * 10 + static_cast<unsigned>(text[i] - '0');
    if (++digits > 24) return bad();
    ++i;
  }
  if (i < text.size() && text[i] == '.') {
    ++i;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
      mantissa = mantissa * 10 + static_cast<unsigned>(text[i] - '0');
      ++fraction_digits;
      if (++digits > 24) return bad();
      ++i;
    }
    if (fraction_digits == 0) return bad();
  }
  if (digits == 0) return bad();
  const std::string_view unit = text.substr(i);
  constexpr std::array<std::pair<std::string_view, uint64_t>, 10> kUnits = {{
      {"", 1},
      {"B", 1},
      {"KB", 1000},
      {"MB", 1000 * 1000},
      {"GB", uint64_t{1000} * 1000 * 1000},
      {"TB", uint64_t{1000} * 1000 * 1000 * 1000},
      {"KiB", uint64_t{1} << 10},
      {"MiB", uint64_t{1} << 20},
      {"GiB", uint64_t{1} << 30},
      {"TiB", uint64_t{1} << 40},
  }};
  uint64_t multiplier = 0;
  for (const auto& [name, value] : kUnits) {
    if (name == unit) multiplier = value;
  }
  if (multiplier == 0) return bad();
  unsigned __int128 scale = 1;
  for (int k = 0; k < fraction_digits; ++k) scale *= 10;
  const unsigned __int128 product = mantissa * multiplier;  // < 10^24 * 2^40 < 2^120
  if (product % scale != 0) {
    return Status::InvalidArgument(std::string(option) + ": " + Quote(text) +
                                   " is not a whole number of bytes");
  }
  const unsigned __int128 bytes = product / scale;
  if (bytes == 0) {
    return Status::InvalidArgument(std::string(option) + ": expected a positive size, got " +
                                   Quote(text));
  }
  if (bytes > kMaxSizeBytes) {
    return Status::InvalidArgument(std::string(option) + ": " + Quote(text) +
                                   " exceeds the largest size, 2^60 bytes (1 EiB)");
  }
  return static_cast<uint64_t>(bytes);
}

}  // namespace twinsim::cli
