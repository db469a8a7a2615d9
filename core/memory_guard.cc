#include "core/memory_guard.h"

#include <sys/resource.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

namespace twinsim::core {
namespace {

// The value in kB of "Key:   123 kB" in a /proc file, in bytes; 0 when absent.
uint64_t ProcKiB(const std::string& path, std::string_view key) {
  std::ifstream file(path);
  std::string line;
  while (std::getline(file, line)) {
    if (line.rfind(key, 0) == 0 && line.size() > key.size() && line[key.size()] == ':') {
      std::istringstream in(line.substr(key.size() + 1));
      uint64_t kib = 0;
      if (in >> kib) return kib * 1024;
    }
  }
  return 0;
}

// A cgroup file holding one number ("max" or unreadable: 0).
uint64_t CgroupNumber(const std::string& path) {
  std::ifstream file(path);
  std::string text;
  if (!(file >> text) || text == "max") return 0;
  try {
    return std::stoull(text);
  } catch (...) {
    return 0;
  }
}

// This process's cgroup v2 folder under `root`, from "0::/some/path" in /proc/self/cgroup.
std::string CgroupFolder(const MemorySources& sources) {
  std::ifstream file(sources.self_cgroup);
  std::string line;
  while (std::getline(file, line)) {
    if (line.rfind("0::", 0) == 0) return sources.cgroup_root + line.substr(3);
  }
  return sources.cgroup_root;
}

uint64_t Less(uint64_t limit, uint64_t used) { return limit > used ? limit - used : 1; }

}  // namespace

uint64_t MemoryLimits::Allowed() const {
  uint64_t allowed = 0;
  for (uint64_t v : {mem_available, cgroup_free, rlimit_free, max_memory}) {
    if (v != 0 && (allowed == 0 || v < allowed)) allowed = v;
  }
  return allowed;
}

std::string_view MemoryLimits::Binding() const {
  const uint64_t allowed = Allowed();
  if (allowed == 0) return "";
  // The user's own cap is named first when it binds, then the cgroup, the rlimit, the machine.
  if (max_memory == allowed) return "--max-memory";
  if (cgroup_free == allowed) return "the cgroup's memory.max";
  if (rlimit_free == allowed) return "RLIMIT_AS";
  return "MemAvailable";
}

MemoryLimits ReadMemoryLimits(uint64_t max_memory, const MemorySources& sources) {
  MemoryLimits limits;
  limits.max_memory = max_memory;
  limits.mem_available = ProcKiB(sources.meminfo, "MemAvailable");
  const std::string folder = CgroupFolder(sources);
  if (const uint64_t max = CgroupNumber(folder + "/memory.max"); max != 0) {
    limits.cgroup_free = Less(max, CgroupNumber(folder + "/memory.current"));
  } else if (const uint64_t v1 =
                 CgroupNumber(sources.cgroup_root + "/memory/memory.limit_in_bytes");
             v1 != 0 && v1 < (uint64_t{1} << 60)) {
    limits.cgroup_free =
        Less(v1, CgroupNumber(sources.cgroup_root + "/memory/memory.usage_in_bytes"));
  }
  if (sources.read_rlimit) {
    rlimit rl{};
    if (getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
      limits.rlimit_free = Less(rl.rlim_cur, ProcKiB(sources.self_status, "VmSize"));
    }
  }
  return limits;
}

std::string FormatBinaryBytes(uint64_t bytes) {
  if (bytes < 1024) return std::to_string(bytes) + " B";
  constexpr const char* kUnits[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  double value = static_cast<double>(bytes) / 1024;
  int unit = 0;
  while (value >= 1024 && unit + 1 < 6) {
    value /= 1024;
    ++unit;
  }
  char text[32];
  std::snprintf(text, sizeof text, "%.1f %s", value, kUnits[unit]);
  return text;
}

Status CheckMemoryNeed(uint64_t need, const MemoryLimits& limits, std::string_view what,
                       std::string_view instead) {
  const uint64_t allowed = limits.Allowed();
  if (allowed == 0 || need <= allowed) return Status::Ok();
  std::string message(what);
  message += " holds at least " + FormatBinaryBytes(need) +
             " of real bytes; this machine can give it " + FormatBinaryBytes(allowed) + " (" +
             std::string(limits.Binding()) + ")";
  if (!instead.empty()) message += ". " + std::string(instead);
  return Status::ResourceExhausted(std::move(message));
}

}  // namespace twinsim::core
