#include "sim/trace.h"

#include <fmt/format.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "core/json.h"

namespace twinsim::sim {

using core::JsonString;

void TraceLog::NameRank(int rank, std::string name) {
  if (!enabled_) return;
  rank_names_[rank] = std::move(name);
}

void TraceLog::Span(int rank, TraceTrack track, std::string name, double start_s, double end_s,
                    std::vector<TraceArg> args) {
  if (!enabled_) return;
  events_.push_back(Event{'X', rank, static_cast<int>(track), std::move(name), start_s,
                          end_s - start_s, std::move(args)});
}

void TraceLog::Instant(int rank, TraceTrack track, std::string name, double time_s,
                       std::vector<TraceArg> args) {
  if (!enabled_) return;
  events_.push_back(
      Event{'i', rank, static_cast<int>(track), std::move(name), time_s, 0, std::move(args)});
}

void TraceLog::Counter(int rank, std::string name, double time_s,
                       std::vector<std::pair<std::string, double>> series) {
  if (!enabled_) return;
  std::vector<TraceArg> args;
  args.reserve(series.size());
  for (auto& [series_name, value] : series) args.push_back(TraceArg::Num(series_name, value));
  events_.push_back(Event{'C', rank, 0, std::move(name), time_s, 0, std::move(args)});
}

namespace {

// Microseconds with nanosecond resolution; JSON has no NaN or infinity.
std::string Micros(double seconds) {
  if (!std::isfinite(seconds)) return "0";
  return fmt::format("{:.3f}", seconds * 1e6);
}

std::string Number(double value) {
  if (!std::isfinite(value)) return "0";
  if (value == std::floor(value) && std::fabs(value) < 1e15) {
    return fmt::format("{}", static_cast<int64_t>(value));
  }
  return fmt::format("{:.9g}", value);
}

std::string ArgsJson(const std::vector<TraceArg>& args) {
  std::string out = "{";
  for (size_t i = 0; i < args.size(); ++i) {
    if (i > 0) out += ",";
    out += JsonString(args[i].name);
    out += ":";
    out += args[i].is_number ? Number(args[i].number) : JsonString(args[i].text);
  }
  out += "}";
  return out;
}

}  // namespace

std::string TraceLog::ToJson() const {
  std::string out = "{\"displayTimeUnit\":\"ns\",\"traceEvents\":[\n";
  bool first = true;
  auto add = [&](const std::string& event) {
    if (!first) out += ",\n";
    first = false;
    out += event;
  };
  for (const auto& [rank, name] : rank_names_) {
    add(fmt::format(
        "{{\"ph\":\"M\",\"name\":\"process_name\",\"pid\":{},\"tid\":0,\"args\":{{\"name\":{}}}}}",
        rank, JsonString(name)));
    add(
        fmt::format("{{\"ph\":\"M\",\"name\":\"process_sort_index\",\"pid\":{},\"tid\":0,"
                    "\"args\":{{\"sort_index\":{}}}}}",
                    rank, rank));
    add(
        fmt::format("{{\"ph\":\"M\",\"name\":\"thread_name\",\"pid\":{},\"tid\":{},"
                    "\"args\":{{\"name\":\"device\"}}}}",
                    rank, static_cast<int>(TraceTrack::kDevice)));
    add(
        fmt::format("{{\"ph\":\"M\",\"name\":\"thread_name\",\"pid\":{},\"tid\":{},"
                    "\"args\":{{\"name\":\"comm\"}}}}",
                    rank, static_cast<int>(TraceTrack::kComm)));
  }
  for (const Event& e : events_) {
    switch (e.phase) {
      case 'X':
        add(
            fmt::format("{{\"ph\":\"X\",\"name\":{},\"pid\":{},\"tid\":{},\"ts\":{},\"dur\":{},"
                        "\"args\":{}}}",
                        JsonString(e.name), e.rank, e.track, Micros(e.start_s),
                        Micros(e.duration_s), ArgsJson(e.args)));
        break;
      case 'i':
        add(
            fmt::format("{{\"ph\":\"i\",\"s\":\"t\",\"name\":{},\"pid\":{},\"tid\":{},\"ts\":{},"
                        "\"args\":{}}}",
                        JsonString(e.name), e.rank, e.track, Micros(e.start_s), ArgsJson(e.args)));
        break;
      case 'C':
        add(fmt::format("{{\"ph\":\"C\",\"name\":{},\"pid\":{},\"ts\":{},\"args\":{}}}",
                        JsonString(e.name), e.rank, Micros(e.start_s), ArgsJson(e.args)));
        break;
    }
  }
  out += "\n]}\n";
  return out;
}

Status TraceLog::WriteFile(const std::string& path) const {
  if (path.empty()) return Status::InvalidArgument("trace: empty file name");
  std::FILE* file = std::fopen(path.c_str(), "wb");
  if (file == nullptr) {
    return Status::Unavailable(
        fmt::format("trace: cannot open '{}' for writing: {}", path, std::strerror(errno)));
  }
  const std::string json = ToJson();
  const size_t written = std::fwrite(json.data(), 1, json.size(), file);
  const bool closed = std::fclose(file) == 0;
  if (written != json.size() || !closed) {
    return Status::Unavailable(fmt::format("trace: writing '{}' failed", path));
  }
  return Status::Ok();
}

}  // namespace twinsim::sim
