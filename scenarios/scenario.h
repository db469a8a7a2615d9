// Scenario files: a TOML description of many `twinsim init` / `twinsim place` / `twinsim chunks`
// runs, expanded into a list of cases (one command line each). The schema is not written down
// here: each command's own options are the keys (`tp = 4` is `--tp 4`), handed in as a
// CommandSchema, so a new option of a command is a new key without any edit to this file.
// A list in any field sweeps it (cartesian product); `[[<command>.case]]` tables give explicit
// lists. scenarios/README.md documents the format. Every error names file:line and the key.
#ifndef TWINSIM_SCENARIOS_SCENARIO_H_
#define TWINSIM_SCENARIOS_SCENARIO_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace twinsim::scenarios {

// One option of a command, as the command line knows it.
struct OptionSchema {
  std::string key;    // "tp": the TOML key, the long option name without "--"
  bool flag = false;  // takes no value (--timing-only): the key takes true/false
  bool required = false;
};

// The options of one command (`twinsim init`).
struct CommandSchema {
  std::string command;                // "init"
  std::vector<OptionSchema> options;  // in the command's declaration order
};

// Keys of a command block that are not options of the command.
inline constexpr std::string_view kCaseKey = "case";    // explicit case tables
inline constexpr std::string_view kLabelKey = "label";  // a free-text label for reports
inline constexpr std::string_view kTraceKey = "trace";  // true: keep a Perfetto trace
// Options the sweep sets itself; a scenario may not.
inline constexpr std::string_view kJsonKey = "json";

// One option of one case, as text for the command line.
struct CaseOption {
  std::string key;    // "tp"
  std::string value;  // "4"; "" for a flag
  bool is_flag = false;
  bool set = true;  // false for a flag given as false: no argument at all
  int line = 0;     // where the value was written, for messages
};

struct ScenarioCase {
  // "<command>-<12 hex digits>": a hash of the command and its options, so it changes exactly
  // when the command line does (resume relies on this) and never with the case's position.
  std::string id;
  int index = 0;  // position in the expanded scenario (reports are ordered by it)
  std::string command;
  std::string label;
  bool trace = false;
  int trace_line = 0;               // where trace = true was written
  int line = 0;                     // the line of the block (or case table) it came from
  std::vector<CaseOption> options;  // in the command's declaration order

  // The option arguments: {"--model", "gpt2-small", "--tp", "2", "--timing-only"}.
  std::vector<std::string> Arguments() const;
  // The line of `key`'s value, or `line` when the case has no such key.
  int LineOf(std::string_view key) const;
};

struct Scenario {
  std::string path;  // as given, for messages
  std::string name;
  std::string description;
  // `case_timeout` (seconds): a case running longer is killed and recorded as timed out;
  // 0 = no limit. `twinsim sweep --case-timeout` overrides it.
  double case_timeout_s = 0;
  std::vector<ScenarioCase> cases;
};

// The longest case timeout a scenario (`case_timeout`) or `sweep --case-timeout` may set: a
// week, in seconds.
inline constexpr double kMaxCaseTimeoutS = 7 * 24 * 3600.0;

// Most cases one file may expand to.
inline constexpr int64_t kMaxCases = 100000;

// Parses and expands a scenario. `path` is only used in messages. Every failure is
// InvalidArgument with one line: "<path>:<line>: <key>: <what was expected, what was found>"
// (for TOML syntax: "<path>:<line>:<column>: TOML syntax: ..."). Pure; thread-safe.
StatusOr<Scenario> ParseScenario(std::string_view text, std::string_view path,
                                 const std::vector<CommandSchema>& schemas);

// Reads `path` and parses it; NotFound / InvalidArgument naming the file when unreadable.
StatusOr<Scenario> LoadScenario(const std::string& path, const std::vector<CommandSchema>& schemas);

// A `--filter` expression: space-separated terms that must all hold, each KEY=VALUE (the
// case's option equals VALUE), KEY!=VALUE, or KEY~TEXT (contains TEXT). KEY is an option key or
// one of command, id, label. InvalidArgument naming the term when malformed.
class CaseFilter {
 public:
  static StatusOr<CaseFilter> Parse(std::string_view expression);
  bool Matches(const ScenarioCase& c) const;

 private:
  struct Term {
    std::string key;
    enum class Op { kEquals, kNotEquals, kContains } op;
    std::string value;
  };
  std::vector<Term> terms_;
};

}  // namespace twinsim::scenarios

#endif  // TWINSIM_SCENARIOS_SCENARIO_H_
