#include "core/memory_guard.h"

#include <gtest/gtest.h>
#include <sys/resource.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

namespace twinsim::core {
namespace {

namespace fs = std::filesystem;

fs::path Scratch(const std::string& name) {
  const char* base = std::getenv("TEST_TMPDIR");
  fs::path dir = fs::path(base != nullptr ? base : "/tmp") / name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

void Write(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path) << text;
}

TEST(MemoryGuardTest, ReadsMemAvailableAndTheCgroupV2LimitOfThisProcess) {
  const fs::path dir = Scratch("v2");
  Write(dir / "meminfo", "MemTotal:       24000000 kB\nMemAvailable:   20000000 kB\n");
  Write(dir / "self_cgroup", "0::/user.slice/job\n");
  Write(dir / "cg/user.slice/job/memory.max", "8589934592\n");
  Write(dir / "cg/user.slice/job/memory.current", "1073741824\n");
  MemorySources sources{.meminfo = (dir / "meminfo").string(),
                        .self_status = (dir / "none").string(),
                        .cgroup_root = (dir / "cg").string(),
                        .self_cgroup = (dir / "self_cgroup").string(),
                        .read_rlimit = false};
  MemoryLimits limits = ReadMemoryLimits(0, sources);
  EXPECT_EQ(limits.mem_available, uint64_t{20000000} * 1024);
  EXPECT_EQ(limits.cgroup_free, uint64_t{7} << 30);
  EXPECT_EQ(limits.Allowed(), uint64_t{7} << 30);
  EXPECT_EQ(limits.Binding(), "the cgroup's memory.max");

  // "max" is no limit; the user's cap binds when it is the smallest.
  Write(dir / "cg/user.slice/job/memory.max", "max\n");
  limits = ReadMemoryLimits(uint64_t{1} << 30, sources);
  EXPECT_EQ(limits.cgroup_free, 0u);
  EXPECT_EQ(limits.Allowed(), uint64_t{1} << 30);
  EXPECT_EQ(limits.Binding(), "--max-memory");
}

TEST(MemoryGuardTest, UnreadableSourcesAreUnknownNotErrors) {
  MemorySources sources{.meminfo = "/nonexistent/meminfo",
                        .self_status = "/nonexistent/status",
                        .cgroup_root = "/nonexistent",
                        .self_cgroup = "/nonexistent/cgroup",
                        .read_rlimit = false};
  const MemoryLimits limits = ReadMemoryLimits(0, sources);
  EXPECT_EQ(limits.Allowed(), 0u);
  EXPECT_TRUE(CheckMemoryNeed(uint64_t{1} << 50, limits, "x", "y").ok());
}

TEST(MemoryGuardTest, RefusesWithBothFiguresTheBindingLimitAndWhatToDoInstead) {
  MemoryLimits limits{.mem_available = uint64_t{20} << 30};
  EXPECT_TRUE(CheckMemoryNeed(uint64_t{20} << 30, limits, "this run", "").ok());
  const Status status =
      CheckMemoryNeed(uint64_t{282} << 30, limits, "init of llama3-70b", "Use --timing-only.");
  EXPECT_EQ(status.code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(status.message(),
            "init of llama3-70b holds at least 282.0 GiB of real bytes; this machine can give it "
            "20.0 GiB (MemAvailable). Use --timing-only.");
}

TEST(MemoryGuardTest, AnRlimitSmallerThanTheNeedIsSeen) {
  rlimit old{};
  ASSERT_EQ(getrlimit(RLIMIT_AS, &old), 0);
  // Under ASan the address space is huge and fixed: an AS limit cannot be lowered usefully.
  if (old.rlim_cur != RLIM_INFINITY) GTEST_SKIP() << "RLIMIT_AS is already set";
  const MemoryLimits before = ReadMemoryLimits(0);
  rlimit small = old;
  small.rlim_cur = rlim_t{64} << 40;  // 64 TiB: far above VmSize, far below "unlimited"
  ASSERT_EQ(setrlimit(RLIMIT_AS, &small), 0);
  const MemoryLimits limited = ReadMemoryLimits(0);
  ASSERT_EQ(setrlimit(RLIMIT_AS, &old), 0);
  EXPECT_EQ(before.rlimit_free, 0u);
  EXPECT_GT(limited.rlimit_free, 0u);
  EXPECT_LE(limited.rlimit_free, uint64_t{64} << 40);
}

TEST(MemoryGuardTest, FormatsBinaryBytes) {
  EXPECT_EQ(FormatBinaryBytes(512), "512 B");
  EXPECT_EQ(FormatBinaryBytes(uint64_t{3} << 29), "1.5 GiB");
}

}  // namespace
}  // namespace twinsim::core
