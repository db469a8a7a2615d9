// Memory guard: before a run allocates real bytes, compare what it will hold with what this
// machine can give it, and refuse with one line instead of meeting the kernel's OOM killer.
//
// A 70B-parameter model in fp32 is 282 GB of real bytes; the host backend and the sim's data
// mode hold every rank's shards, so a user who forgets --timing-only would otherwise grow a
// process until the machine kills it, possibly taking other processes along.
#ifndef TWINSIM_CORE_MEMORY_GUARD_H_
#define TWINSIM_CORE_MEMORY_GUARD_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "core/status.h"

namespace twinsim::core {

// What bounds the memory this process may still take. 0 means "no such limit known".
struct MemoryLimits {
  uint64_t mem_available = 0;  // /proc/meminfo MemAvailable
  uint64_t cgroup_free = 0;    // the cgroup's memory.max less memory.current (v2), or v1's pair
  uint64_t rlimit_free = 0;    // RLIMIT_AS's soft limit less the process's VmSize
  uint64_t max_memory = 0;     // --max-memory, as the user gave it

  // The smallest of the known limits, or 0 when none is known.
  uint64_t Allowed() const;
  // Which limit Allowed() comes from: "MemAvailable", "the cgroup's memory.max",
  // "RLIMIT_AS", "--max-memory"; "" when none is known.
  std::string_view Binding() const;
};

// Where ReadMemoryLimits looks; tests point it at files of their own.
struct MemorySources {
  std::string meminfo = "/proc/meminfo";
  std::string self_status = "/proc/self/status";
  std::string cgroup_root = "/sys/fs/cgroup";  // v2: memory.max, memory.current at the root
                                               // of this process's cgroup (/proc/self/cgroup)
  std::string self_cgroup = "/proc/self/cgroup";
  bool read_rlimit = true;
};

// Reads the limits now. Unreadable sources count as unknown (0), never as an error.
// Thread-safe.
MemoryLimits ReadMemoryLimits(uint64_t max_memory, const MemorySources& sources = {});

// OK when `need` fits limits.Allowed() (or nothing is known). Otherwise ResourceExhausted:
// "<what> holds at least 282.0 GB (262.6 GiB) of real bytes; this machine can give it
// 20.1 GiB (MemAvailable). <instead>". `instead` says what to do instead, one sentence.
Status CheckMemoryNeed(uint64_t need, const MemoryLimits& limits, std::string_view what,
                       std::string_view instead);

// "12.0 MiB", "3.3 GiB": one decimal, binary units.
std::string FormatBinaryBytes(uint64_t bytes);

}  // namespace twinsim::core

#endif  // TWINSIM_CORE_MEMORY_GUARD_H_
