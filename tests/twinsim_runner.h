// Runs the built `twinsim` binary as a child process for the end-to-end tests (cli_test,
// chunks_cli_test, place_cli_test): exit status, stdout and stderr, captured in files under
// TEST_TMPDIR so large outputs cannot deadlock a pipe.
#ifndef TWINSIM_TESTS_TWINSIM_RUNNER_H_
#define TWINSIM_TESTS_TWINSIM_RUNNER_H_

#include <string>
#include <vector>

namespace twinsim::testing {

struct RunResult {
  int exit_code = -1;  // -1 when the child did not exit normally
  std::string out;
  std::string err;
};

// The whole file at `path` ("" when it cannot be read).
std::string ReadFile(const std::string& path);

// $TEST_TMPDIR, or /tmp outside Bazel.
std::string TmpDir();

// The //:twinsim binary in the test's runfiles (a test failure is recorded when it cannot be
// found).
const std::string& TwinsimPath();

// Runs `twinsim args...`. `stdout_path`, when given, receives stdout instead of a capture file
// (e.g. /dev/full), and RunResult::out stays empty.
RunResult Twinsim(const std::vector<std::string>& args, const std::string& stdout_path = "");

// "twinsim arg1 arg2 ...", for failure messages.
std::string Describe(const std::vector<std::string>& args);

// `text` split into lines, without the newlines.
std::vector<std::string> Lines(const std::string& text);

}  // namespace twinsim::testing

#endif  // TWINSIM_TESTS_TWINSIM_RUNNER_H_
