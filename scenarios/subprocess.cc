#include "scenarios/subprocess.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

extern char** environ;

namespace twinsim::scenarios {

StatusOr<pid_t> StartProcess(const std::vector<std::string>& argv, const std::string& stdout_path,
                             const std::string& stderr_path, const ProcessOptions& options) {
  if (argv.empty()) return Status::InvalidArgument("StartProcess: empty argv");
  std::vector<std::string> storage = argv;
  std::vector<char*> args;
  for (std::string& a : storage) args.push_back(a.data());
  args.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, stdout_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0644);
  posix_spawn_file_actions_addopen(&actions, 2, stderr_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0644);
  // The environment: the parent's, with extra_env's names replaced.
  std::vector<std::string> env_storage;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string entry = *e;
    const std::string name = entry.substr(0, entry.find('='));
    bool replaced = false;
    for (const std::string& extra : options.extra_env) {
      replaced = replaced || extra.substr(0, extra.find('=')) == name;
    }
    if (!replaced) env_storage.push_back(entry);
  }
  for (const std::string& extra : options.extra_env) env_storage.push_back(extra);
  std::vector<char*> env;
  for (std::string& e : env_storage) env.push_back(e.data());
  env.push_back(nullptr);
  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  if (options.own_process_group) {
    posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETPGROUP);
    posix_spawnattr_setpgroup(&attributes, 0);
  }
  pid_t pid = 0;
  const int spawned = posix_spawnp(&pid, args[0], &actions, &attributes, args.data(), env.data());
  posix_spawnattr_destroy(&attributes);
  posix_spawn_file_actions_destroy(&actions);
  if (spawned != 0) {
    return Status::Unavailable("cannot start " + argv[0] + ": " + std::strerror(spawned));
  }
  return pid;
}

int ExitStatusOf(int wait_status) {
  if (WIFEXITED(wait_status)) return WEXITSTATUS(wait_status);
  if (WIFSIGNALED(wait_status)) return 128 + WTERMSIG(wait_status);
  return 255;
}

StatusOr<int> RunProcess(const std::vector<std::string>& argv, const std::string& stdout_path,
                         const std::string& stderr_path) {
  StatusOr<pid_t> pid = StartProcess(argv, stdout_path, stderr_path);
  if (!pid.ok()) return pid.status();
  int wait_status = 0;
  while (waitpid(*pid, &wait_status, 0) < 0) {
    if (errno != EINTR)
      return Status::Unavailable("waitpid failed: " + std::string(std::strerror(errno)));
  }
  return ExitStatusOf(wait_status);
}

namespace {

// TWINSIM_FAULT_ENOSPC_AFTER_WRITES: true when this write must fail as on a full disk.
bool InjectedDiskFull() {
  static const long allowed = [] {
    const char* text = std::getenv("TWINSIM_FAULT_ENOSPC_AFTER_WRITES");
    return text == nullptr || *text == 0 ? -1L : std::strtol(text, nullptr, 10);
  }();
  static std::atomic<long> writes{0};
  return allowed >= 0 && writes.fetch_add(1) >= allowed;
}

}  // namespace

Status WriteFileAtomically(const std::string& path, const std::string& content) {
  const std::string temporary = path + ".tmp." + std::to_string(getpid());
  std::FILE* file = std::fopen(temporary.c_str(), "wb");
  if (file == nullptr) {
    return Status::Unavailable("cannot write " + path + ": " + std::strerror(errno));
  }
  errno = 0;
  bool written = std::fwrite(content.data(), 1, content.size(), file) == content.size();
  int error = errno;
  if (written && InjectedDiskFull()) {
    written = false;
    error = ENOSPC;
  }
  const bool flushed = std::fflush(file) == 0;
  if (written && !flushed) error = errno;
  const bool closed = std::fclose(file) == 0;
  if (written && flushed && !closed) error = errno;
  if (!written || !flushed || !closed) {
    std::remove(temporary.c_str());
    return Status::Unavailable("cannot write " + path + ": " +
                               std::strerror(error != 0 ? error : EIO));
  }
  if (std::rename(temporary.c_str(), path.c_str()) != 0) {
    const int error = errno;
    std::remove(temporary.c_str());
    return Status::Unavailable("cannot rename " + temporary + " to " + path + ": " +
                               std::strerror(error));
  }
  return Status::Ok();
}

StatusOr<std::string> ReadWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::NotFound("cannot read " + path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string ReadFileOrEmpty(const std::string& path) {
  StatusOr<std::string> text = ReadWholeFile(path);
  return text.ok() ? *text : std::string();
}

Status MakeDirectories(const std::string& path) {
  for (size_t slash = path.find('/', 1);; slash = path.find('/', slash + 1)) {
    const std::string prefix = slash == std::string::npos ? path : path.substr(0, slash);
    if (!prefix.empty() && mkdir(prefix.c_str(), 0755) != 0 && errno != EEXIST) {
      return Status::Unavailable("cannot create directory " + prefix + ": " + std::strerror(errno));
    }
    if (slash == std::string::npos) break;
  }
  struct stat info;
  if (stat(path.c_str(), &info) != 0 || !S_ISDIR(info.st_mode)) {
    return Status::Unavailable(path + " is not a directory");
  }
  return Status::Ok();
}

}  // namespace twinsim::scenarios
