// What every libFuzzer target of tests/fuzz/ checks of a rejected input: one non-empty line,
// the form every twinsim message has (the CLI prints it after "twinsim <command>: ").
#ifndef TWINSIM_TESTS_FUZZ_SPEC_FUZZ_COMMON_H_
#define TWINSIM_TESTS_FUZZ_SPEC_FUZZ_COMMON_H_

#include <string>

#include "core/status.h"

namespace twinsim::fuzz {

// Traps (a crash libFuzzer records) unless `status` is an error with a one-line message.
inline void ExpectOneLineError(const Status& status) {
  if (status.ok() || status.message().empty() ||
      status.message().find('\n') != std::string::npos) {
    __builtin_trap();
  }
}

}  // namespace twinsim::fuzz

#endif  // TWINSIM_TESTS_FUZZ_SPEC_FUZZ_COMMON_H_
