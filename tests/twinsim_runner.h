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

// A file of the workspace in the test's runfiles ("scenarios/smoke.toml"); it must be in the
// test's data.
std::string SourcePath(const std::string& path);

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

// Runs a command that must succeed (exit 0, nothing on stderr) and returns its stdout.
std::string Ok(const std::vector<std::string>& args);

// A bad command line and a fragment its one stderr line must contain.
struct BadCase {
  std::vector<std::string> args;
  std::string fragment;
};

// Expects `c` rejected as bad input: exit status 2, nothing on stdout, one line on stderr
// containing the fragment. With `whole_line`, also that the line ends in a newline and starts
// with "twinsim" (the command path).
void ExpectRejected(const BadCase& c, bool whole_line = true);

}  // namespace twinsim::testing

#endif  // TWINSIM_TESTS_TWINSIM_RUNNER_H_
