// TraceLog: the events of one simulated run — per rank, init kernels, copies, sends, receives,
// collectives and memory counters — written as a Chrome / Perfetto trace (JSON trace event
// format), which opens in ui.perfetto.dev and chrome://tracing.
//
// It knows nothing about SimGrid: the sim backend hands it simulated times in seconds. Each
// rank is one trace process ("rank 3 (gpu3, node0)") with a "device" track (fills, copies), a
// "comm" track (messages, collectives) and a "memory" counter (live bytes per tag).
#ifndef TWINSIM_SIM_TRACE_H_
#define TWINSIM_SIM_TRACE_H_

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"

namespace twinsim::sim {

// Which track of its rank an event goes on.
enum class TraceTrack : uint8_t { kDevice = 1, kComm = 2 };

// One argument shown with an event: a name and a number or a string.
struct TraceArg {
  std::string name;
  std::string text;  // used when !is_number
  double number = 0;
  bool is_number = true;

  static TraceArg Num(std::string name, double value) { return {std::move(name), "", value, true}; }
  static TraceArg Str(std::string name, std::string value) {
    return {std::move(name), std::move(value), 0, false};
  }
};

// Collects events in memory and writes them at the end. A disabled log (the default) ignores
// every call at the cost of one branch, so the backend can call it unconditionally.
//
// Thread safety: not synchronized. The sim backend calls it from SimGrid actors, which run one
// at a time.
class TraceLog {
 public:
  explicit TraceLog(bool enabled = false) : enabled_(enabled) {}

  bool enabled() const { return enabled_; }

  // The name shown for rank `rank`'s process, e.g. "rank 3 (gpu3, node0)".
  void NameRank(int rank, std::string name);
  // An operation on `rank`'s `track` from `start_s` to `end_s` (simulated seconds).
  void Span(int rank, TraceTrack track, std::string name, double start_s, double end_s,
            std::vector<TraceArg> args = {});
  // A point event, e.g. an out-of-memory refusal.
  void Instant(int rank, TraceTrack track, std::string name, double time_s,
               std::vector<TraceArg> args = {});
  // The value of each series of counter `name` of `rank` from `time_s` on (e.g. live bytes per
  // tag). Perfetto draws the series stacked.
  void Counter(int rank, std::string name, double time_s,
               std::vector<std::pair<std::string, double>> series);

  size_t num_events() const { return events_.size(); }

  // The whole trace as one JSON object {"traceEvents": [...], "displayTimeUnit": "ns"};
  // timestamps in microseconds with nanosecond resolution. Events keep the order they were
  // logged in. Pure.
  std::string ToJson() const;
  // Writes ToJson() to `path`. InvalidArgument for an empty path, Unavailable when the file
  // cannot be written (naming it and the OS error).
  Status WriteFile(const std::string& path) const;

 private:
  struct Event {
    char phase = 'X';  // X complete, i instant, C counter
    int rank = 0;
    int track = 0;
    std::string name;
    double start_s = 0;
    double duration_s = 0;
    std::vector<TraceArg> args;
  };

  bool enabled_;
  std::map<int, std::string> rank_names_;
  std::vector<Event> events_;
};

}  // namespace twinsim::sim

#endif  // TWINSIM_SIM_TRACE_H_
