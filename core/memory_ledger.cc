#include "core/memory_ledger.h"

#include <fmt/format.h>

#include <algorithm>
#include <utility>

namespace twinsim::core {

std::string FormatByteSize(uint64_t bytes) {
  static constexpr const char* kUnits[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  if (bytes < 1024) return fmt::format("{} B", bytes);
  double value = static_cast<double>(bytes) / 1024.0;
  int unit = 0;
  while (value >= 1024.0 && unit < 5) {
    value /= 1024.0;
    ++unit;
  }
  return fmt::format("{:.2f} {}", value, kUnits[unit]);
}

std::string OomReport::ToString() const {
  std::string who = rank >= 0 ? fmt::format("rank {} ({})", rank, device) : device;
  std::string out =
      fmt::format("{}: out of memory allocating {} ({} B) for '{}': {} of {} in use, {} free", who,
                  FormatByteSize(requested), requested, tag, FormatByteSize(in_use),
                  FormatByteSize(capacity), FormatByteSize(available()));
  if (!in_use_by_tag.empty()) {
    out += " (";
    for (size_t i = 0; i < in_use_by_tag.size(); ++i) {
      if (i > 0) out += ", ";
      out += fmt::format("{} {}", in_use_by_tag[i].first, FormatByteSize(in_use_by_tag[i].second));
    }
    out += ")";
  }
  return out;
}

TagUsage MemoryStats::Tag(std::string_view tag) const {
  for (const TagUsage& usage : by_tag) {
    if (usage.tag == tag) return usage;
  }
  TagUsage none;
  none.tag = std::string(tag);
  return none;
}

MemoryLedger::MemoryLedger(int rank, std::string device, uint64_t capacity)
    : rank_(rank), device_(std::move(device)), capacity_(capacity) {}

std::vector<std::pair<std::string, uint64_t>> MemoryLedger::LiveByTag() const {
  std::vector<std::pair<std::string, uint64_t>> live;
  for (const auto& [name, usage] : tags_) {  // std::map: sorted by tag
    if (usage.in_use > 0) live.emplace_back(name, usage.in_use);
  }
  return live;
}

std::optional<OomReport> MemoryLedger::TryChargeAs(int rank, uint64_t bytes, std::string_view tag) {
  if (!WouldFit(bytes)) {
    OomReport report;
    report.rank = rank;
    report.device = device_;
    report.tag = std::string(tag);
    report.requested = bytes;
    report.in_use = in_use_;
    report.capacity = capacity_;
    report.in_use_by_tag = LiveByTag();
    ++oom_count_;
    if (oom_events_.size() < MemoryStats::kMaxOomEvents) oom_events_.push_back(report);
    return report;
  }
  auto it = tags_.find(tag);
  if (it == tags_.end()) {
    it = tags_.emplace(std::string(tag), TagUsage{}).first;
    it->second.tag = std::string(tag);
  }
  TagUsage& usage = it->second;
  usage.in_use += bytes;
  usage.peak = std::max(usage.peak, usage.in_use);
  ++usage.live_allocations;
  ++usage.total_allocations;
  in_use_ += bytes;
  ++live_allocations_;
  if (in_use_ > peak_) {
    peak_ = in_use_;
    at_peak_ = LiveByTag();
  }
  return std::nullopt;
}

void MemoryLedger::Release(uint64_t bytes, std::string_view tag) {
  auto it = tags_.find(tag);
  if (it == tags_.end()) return;  // never charged: nothing to return (owner bug; see header)
  TagUsage& usage = it->second;
  const uint64_t returned = std::min(bytes, usage.in_use);
  usage.in_use -= returned;
  if (usage.live_allocations > 0) --usage.live_allocations;
  in_use_ -= std::min(returned, in_use_);
  if (live_allocations_ > 0) --live_allocations_;
}

MemoryStats MemoryLedger::Stats() const {
  MemoryStats stats;
  stats.capacity = capacity_;
  stats.in_use = in_use_;
  stats.peak = peak_;
  stats.live_allocations = live_allocations_;
  for (const auto& [name, usage] : tags_) stats.by_tag.push_back(usage);
  stats.at_peak = at_peak_;
  stats.oom_count = oom_count_;
  stats.oom_events = oom_events_;
  return stats;
}

}  // namespace twinsim::core
