#include "tools/cli/sweep_process.h"

#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <string>

namespace twinsim::cli {
namespace {

std::atomic<int> stop_signal{0};
static_assert(std::atomic<int>::is_always_lock_free, "stored from a signal handler");

extern "C" void OnStopSignal(int signal) { stop_signal.store(signal); }

}  // namespace

std::atomic<int>& SweepStopSignal() { return stop_signal; }

void WatchStopSignals() {
  struct sigaction action = {};
  action.sa_handler = OnStopSignal;
  sigemptyset(&action.sa_mask);
  for (const int signal : {SIGINT, SIGTERM}) sigaction(signal, &action, nullptr);
}

[[noreturn]] void DieOf(int signal) {
  std::fflush(stdout);
  std::fflush(stderr);
  struct sigaction action = {};
  action.sa_handler = SIG_DFL;
  sigemptyset(&action.sa_mask);
  sigaction(signal, &action, nullptr);
  raise(signal);
  std::_Exit(128 + signal);
}

std::string SelfPath() {
  char buffer[4096];
  const ssize_t n = readlink("/proc/self/exe", buffer, sizeof buffer - 1);
  return n > 0 ? std::string(buffer, static_cast<size_t>(n)) : "/proc/self/exe";
}

std::string UtcNow() {
  const std::time_t now = std::time(nullptr);
  std::tm utc = {};
  gmtime_r(&now, &utc);
  char buffer[32];
  std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return buffer;
}

bool CaseRunsTheSimulation(const scenarios::ScenarioCase& c) {
  if (c.command != "init" && c.command != "place") return false;
  std::string backend = c.command == "place" ? "sim" : "host";
  for (const scenarios::CaseOption& option : c.options) {
    if (!option.set) continue;
    if (option.key == "backend") backend = option.value;
    if (option.key == "init-policy" && c.command == "place") return true;
  }
  return backend == "sim";
}

}  // namespace twinsim::cli
