// Debian's PyTorch as a test oracle: the interpreter, whether it can import torch, runfile
// paths of helper scripts, and running a command for its output.
//
// Tests that compare twinsim against PyTorch share these so that each says the same thing
// when the oracle is missing, and each finds its helper script the same way under Bazel.
#ifndef TWINSIM_CORE_TESTING_PYTHON_ORACLE_H_
#define TWINSIM_CORE_TESTING_PYTHON_ORACLE_H_

#include <string>
#include <string_view>

namespace twinsim::core::testing_support {

// Debian's interpreter, which python3-torch installs into (not whatever python3 is on PATH).
inline constexpr char kOraclePython[] = "/usr/bin/python3";

// "" when kOraclePython can `import torch`; otherwise one sentence saying what is missing and
// how to install it, for GTEST_SKIP. Runs the interpreter once per process; thread-safe.
std::string TorchOracleUnavailableReason();

// The path of workspace-relative `path` in the test's runfiles ($TEST_SRCDIR/$TEST_WORKSPACE),
// or `path` itself outside Bazel.
std::string RunfilePath(std::string_view path);

// Runs `command` through /bin/sh and returns its stdout; *exit_status is the exit code, or -1
// when the command could not start or did not exit normally.
std::string RunCommand(const std::string& command, int* exit_status);

}  // namespace twinsim::core::testing_support

#endif  // TWINSIM_CORE_TESTING_PYTHON_ORACLE_H_
