#include "tests/twinsim_runner.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>

#include "scenarios/subprocess.h"
#include "tools/cpp/runfiles/runfiles.h"

namespace twinsim::testing {

using bazel::tools::cpp::runfiles::Runfiles;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string SourcePath(const std::string& path) {
  const char* srcdir = std::getenv("TEST_SRCDIR");
  return std::string(srcdir != nullptr ? srcdir : ".") + "/twinsim/" + path;
}

std::string TmpDir() {
  const char* dir = std::getenv("TEST_TMPDIR");
  return dir != nullptr ? dir : "/tmp";
}

const std::string& TwinsimPath() {
  static const std::string* path = [] {
    std::string error;
    std::unique_ptr<Runfiles> runfiles(Runfiles::CreateForTest(&error));
    if (runfiles == nullptr) {
      ADD_FAILURE() << "runfiles: " << error;
      return new std::string("twinsim");
    }
    return new std::string(runfiles->Rlocation("twinsim/twinsim"));
  }();
  return *path;
}

// Runs `twinsim args...` with stdout and stderr captured in files (no pipe deadlocks for big
// outputs). `stdout_path`, when given, receives stdout instead (e.g. /dev/full).
RunResult Twinsim(const std::vector<std::string>& args, const std::string& stdout_path) {
  static int counter = 0;
  const std::string base = TmpDir() + "/run" + std::to_string(++counter);
  const std::string out_path = stdout_path.empty() ? base + ".out" : stdout_path;
  const std::string err_path = base + ".err";
  std::vector<std::string> argv = {TwinsimPath()};
  argv.insert(argv.end(), args.begin(), args.end());
  const StatusOr<pid_t> pid = scenarios::StartProcess(argv, out_path, err_path);
  RunResult result;
  if (!pid.ok()) {
    ADD_FAILURE() << pid.status().message();
    return result;
  }
  int status = 0;
  waitpid(*pid, &status, 0);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  if (stdout_path.empty()) result.out = ReadFile(out_path);
  result.err = ReadFile(err_path);
  return result;
}

std::string Describe(const std::vector<std::string>& args) {
  std::string text = "twinsim";
  for (const std::string& a : args) text += " " + a;
  return text;
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

std::string Ok(const std::vector<std::string>& args) {
  const RunResult r = Twinsim(args);
  EXPECT_EQ(r.exit_code, 0) << Describe(args) << "\nstderr: " << r.err;
  EXPECT_EQ(r.err, "") << Describe(args);
  return r.out;
}

void ExpectRejected(const BadCase& c, bool whole_line) {
  const RunResult r = Twinsim(c.args);
  EXPECT_EQ(r.exit_code, 2) << Describe(c.args) << "\nstderr: " << r.err;
  EXPECT_EQ(r.out, "") << Describe(c.args);
  EXPECT_EQ(Lines(r.err).size(), 1u) << Describe(c.args) << "\nstderr: " << r.err;
  EXPECT_NE(r.err.find(c.fragment), std::string::npos)
      << Describe(c.args) << "\nexpected fragment: " << c.fragment << "\nstderr: " << r.err;
  if (whole_line) {
    EXPECT_TRUE(!r.err.empty() && r.err.back() == '\n') << Describe(c.args);
    EXPECT_EQ(r.err.rfind("twinsim", 0), 0u)
        << "stderr should start with the command path: " << r.err;
  }
}

}  // namespace twinsim::testing
