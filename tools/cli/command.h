// The twinsim command line: commands grouped as `twinsim <group> <command> [options]` (or,
// for a group that is itself one command, `twinsim <group> [options]`), and the dispatcher
// that finds the command argv names, parses its options with CLI11, and turns every failure
// into ONE line on stderr ("twinsim rng fill: --numel: expected ...") with exit status 2,
// before anything reaches stdout. Each command group lives in its own file (rng_command.h,
// ...) and contributes a CommandGroup.
#ifndef TWINSIM_TOOLS_CLI_COMMAND_H_
#define TWINSIM_TOOLS_CLI_COMMAND_H_

#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"
#include "tools/cli/output.h"

namespace CLI {
class App;
}  // namespace CLI

namespace twinsim::cli {

inline constexpr int kExitSuccess = 0;
// The command line was valid but the command failed (e.g. writing stdout failed).
inline constexpr int kExitFailure = 1;
// The command line was invalid; nothing was written to stdout.
inline constexpr int kExitUsage = 2;

// One leaf command. The dispatcher creates a fresh object for each run and calls, in order,
// DeclareOptions, (CLI11 parses), Validate, Execute.
class Command {
 public:
  virtual ~Command() = default;

  // Declares the command's options on `app`, binding them to members. Values should be bound
  // as text and converted in Validate() with the helpers in args.h, so that every bad value
  // gets a message of the same form. Mark options `->required()` as needed; the dispatcher
  // reports a missing one, unknown options, stray arguments and repeated options itself.
  virtual void DeclareOptions(CLI::App& app) = 0;

  // Checks and converts the parsed options; writes nothing. Any non-OK status means the
  // command line was bad: the dispatcher prints "<command path>: <message>" and exits 2.
  // Messages name the option first: "--numel: expected a non-negative integer, got '-5'".
  virtual Status Validate() = 0;

  // Produces the command's output. Called only after Validate() succeeded, so a failure here
  // is not the user's: the dispatcher prints it and exits 1.
  virtual Status Execute(Output& out) = 0;
};

struct CommandInfo {
  std::string name;     // "fill"
  std::string summary;  // one line, listed by `twinsim --help` and `twinsim <group> --help`
  std::function<std::unique_ptr<Command>()> create;
};

struct CommandGroup {
  std::string name;  // "rng"
  std::string summary;
  // Named commands (`twinsim rng fill`), or exactly one command with an empty name, which
  // makes the group itself the command (`twinsim init --model ...`).
  std::vector<CommandInfo> commands;

  // True when the group is one command run as `twinsim <name> [options]`.
  bool IsSingleCommand() const { return commands.size() == 1 && commands.front().name.empty(); }
};

// What the dispatcher knows of one option of a command, for tools that build command lines
// (`twinsim sweep` maps scenario keys onto options).
struct OptionInfo {
  std::string name;   // "--tp": the option's first long name
  bool takes_value;   // false for a flag such as --json
  bool required;
};

// The named options of `command` in the order DeclareOptions declares them, without --help
// and without positional arguments. Creates (and drops) a fresh Command; thread-compatible.
std::vector<OptionInfo> DescribeOptions(const CommandInfo& command);

// Parses `options` (the arguments after the command path) as the dispatcher would and runs
// the command's Validate(), but never Execute(). Returns InvalidArgument carrying the one-line
// message the dispatcher would print after "twinsim <path>: ", or OK. --help is not special
// here. Never throws.
Status CheckCommandLine(const CommandInfo& command, const std::vector<std::string>& options);

// Runs the twinsim command line `args` (args[0], the program name, is ignored) against
// `groups`. Results and help go to `out`; diagnostics go to `err`, one line each. Returns the
// process exit status: kExitSuccess (also for --help and --version), kExitUsage for a bad
// command line, kExitFailure when a valid command fails. Never throws.
int Dispatch(const std::vector<CommandGroup>& groups, const std::vector<std::string>& args,
             std::FILE* out, std::FILE* err);

// What a Dispatch printed, captured in memory, and its exit status.
struct CapturedRun {
  int exit_code = kExitFailure;
  std::string out;
  std::string err;
  bool operator==(const CapturedRun&) const = default;
};

// Dispatch with stdout and stderr in memory (open_memstream): how `twinsim sweep` runs a case in
// its own process. Thread-safe as Dispatch is; exit status 1 with a message in `err` when the
// memory streams cannot be opened.
CapturedRun DispatchCaptured(const std::vector<CommandGroup>& groups,
                             const std::vector<std::string>& args);

// Where a running command writes progress and notes: the `err` of the Dispatch running on this
// thread (stderr outside one), and whether it is a terminal (progress lines only go to one).
// A case `twinsim sweep` runs in-process has its stderr captured, so its notes land in its
// record exactly as a child's would.
std::FILE* DiagnosticsStream();
bool DiagnosticsIsTerminal();

}  // namespace twinsim::cli

#endif  // TWINSIM_TOOLS_CLI_COMMAND_H_
