#include "core/text.h"

#include <algorithm>
#include <cctype>
#include <cstdio>

namespace twinsim::core {

std::string Quote(std::string_view text) {
  constexpr size_t kMaxQuoted = 80;
  std::string out = "'";
  const bool cut = text.size() > kMaxQuoted;
  if (cut) text = text.substr(0, kMaxQuoted);
  for (const char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) {
      char escaped[8];
      std::snprintf(escaped, sizeof escaped, "\\x%02x", u);
      out += escaped;
    } else {
      out += c;
    }
  }
  out += cut ? "...'" : "'";
  return out;
}

std::string Thousands(int64_t v) {
  // Negate in unsigned arithmetic, so that INT64_MIN is grouped too.
  const uint64_t magnitude = v < 0 ? 0 - static_cast<uint64_t>(v) : static_cast<uint64_t>(v);
  std::string s = std::to_string(magnitude);
  for (int i = static_cast<int>(s.size()) - 3; i > 0; i -= 3) s.insert(i, ",");
  return v < 0 ? "-" + s : s;
}

std::string Join(const std::vector<std::string_view>& items) {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) {
    if (i) out += ", ";
    out += items[i];
  }
  return out;
}

int EditDistance(std::string_view a, std::string_view b) {
  auto low = [](char c) { return std::tolower(static_cast<unsigned char>(c)); };
  std::vector<std::vector<int>> d(a.size() + 1, std::vector<int>(b.size() + 1));
  for (size_t i = 0; i <= a.size(); ++i) d[i][0] = static_cast<int>(i);
  for (size_t j = 0; j <= b.size(); ++j) d[0][j] = static_cast<int>(j);
  for (size_t i = 1; i <= a.size(); ++i) {
    for (size_t j = 1; j <= b.size(); ++j) {
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1,
                          d[i - 1][j - 1] + (low(a[i - 1]) == low(b[j - 1]) ? 0 : 1)});
      if (i > 1 && j > 1 && low(a[i - 1]) == low(b[j - 2]) && low(a[i - 2]) == low(b[j - 1])) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.size()][b.size()];
}

std::string DidYouMean(std::string_view word, const std::vector<std::string_view>& candidates) {
  std::string_view best;
  int best_distance = 0;
  for (std::string_view c : candidates) {
    const int dist = EditDistance(word, c);
    if (dist <= std::max<int>(2, static_cast<int>(c.size()) / 3) &&
        (best.empty() || dist < best_distance)) {
      best = c;
      best_distance = dist;
    }
  }
  return best.empty() ? "" : " (did you mean " + Quote(best) + "?)";
}

StatusOr<std::vector<KeyValue>> SplitKeyValues(std::string_view rest, std::string_view prefix,
                                               std::string_view whole,
                                               const std::vector<std::string_view>& keys) {
  const std::string p(prefix);
  if (rest.empty()) {
    return Status::InvalidArgument(p + ": expected key=value after ':'" +
                                   (keys.empty() ? "" : " (keys: " + Join(keys) + ")"));
  }
  std::vector<KeyValue> items;
  while (!rest.empty()) {
    const size_t comma = rest.find(',');
    const std::string_view item = rest.substr(0, comma);
    rest = comma == std::string_view::npos ? "" : rest.substr(comma + 1);
    if (comma != std::string_view::npos && rest.empty()) {
      return Status::InvalidArgument(p + ": trailing ',' in " + Quote(whole));
    }
    const size_t eq = item.find('=');
    if (eq == std::string_view::npos) {
      return Status::InvalidArgument(p + ": expected key=value, got " + Quote(item));
    }
    const KeyValue kv{item.substr(0, eq), item.substr(eq + 1)};
    for (const KeyValue& seen : items) {
      if (seen.key == kv.key) {
        return Status::InvalidArgument(p + ": key " + Quote(kv.key) + " given twice");
      }
    }
    items.push_back(kv);
  }
  return items;
}

}  // namespace twinsim::core
