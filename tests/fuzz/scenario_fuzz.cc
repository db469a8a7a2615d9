// libFuzzer target for the scenario parser (scenarios/scenario.h): any bytes must give either
// a scenario or one InvalidArgument line naming the file — never a crash, a hang, an assertion
// or a sanitizer report. Built with clang -fsanitize=fuzzer,address by //tests:scenario_fuzz and
// run for a bounded time by //tests:scenario_fuzz_test.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "scenarios/scenario.h"

namespace {

// A schema shaped like the real commands': values, flags and required keys.
const std::vector<twinsim::scenarios::CommandSchema>& Schemas() {
  static const auto* schemas = new std::vector<twinsim::scenarios::CommandSchema>{
      {"init",
       {{"model", false, true}, {"tp", false, false}, {"pp", false, false},
        {"dp", false, false}, {"policy", false, true}, {"seed", false, false},
        {"backend", false, false}, {"cluster", false, false}, {"timing-only", true, false},
        {"trace", false, false}}},
      {"place",
       {{"cluster", false, true}, {"model", false, true}, {"batch", false, false},
        {"gpu-memory", false, false}, {"recompute", true, false}, {"policy", false, true}}},
  };
  return *schemas;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  twinsim::StatusOr<twinsim::scenarios::Scenario> s =
      twinsim::scenarios::ParseScenario(text, "fuzz.toml", Schemas());
  if (s.ok()) {
    for (const auto& c : s->cases) {
      if (c.id.empty() || c.Arguments().size() > 1000) __builtin_trap();
    }
  } else if (s.status().message().rfind("fuzz.toml:", 0) != 0 ||
             s.status().message().find('\n') != std::string::npos) {
    __builtin_trap();  // every error names the file and stays on one line
  }
  return 0;
}
