#include "core/testing/python_oracle.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

namespace twinsim::core::testing_support {

std::string RunCommand(const std::string& command, int* exit_status) {
  std::string out;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) {
    *exit_status = -1;
    return out;
  }
  char buf[1 << 16];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, pipe)) > 0) out.append(buf, n);
  const int raw = pclose(pipe);
  *exit_status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
  return out;
}

std::string TorchOracleUnavailableReason() {
  static const std::string reason = [] {
    if (access(kOraclePython, X_OK) != 0) {
      return std::string(kOraclePython) +
             " not found: install Debian's python3-torch (tools/setup)";
    }
    int status = 0;
    RunCommand(std::string(kOraclePython) + " -c 'import torch' >/dev/null 2>&1", &status);
    if (status != 0) {
      return std::string(kOraclePython) +
             " cannot import torch: install Debian's python3-torch (tools/setup does)";
    }
    return std::string();
  }();
  return reason;
}

std::string RunfilePath(std::string_view path) {
  const char* srcdir = std::getenv("TEST_SRCDIR");
  const char* workspace = std::getenv("TEST_WORKSPACE");
  if (srcdir != nullptr && workspace != nullptr) {
    return std::string(srcdir) + "/" + workspace + "/" + std::string(path);
  }
  return std::string(path);
}

}  // namespace twinsim::core::testing_support
