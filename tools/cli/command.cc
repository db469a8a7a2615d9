#include "tools/cli/command.h"

#include <unistd.h>

#include <cstdlib>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>
#include <memory>
#include <new>
#include <string>
#include <string_view>
#include <vector>

#include "tools/cli/args.h"
#include "tools/cli/version.h"

namespace twinsim::cli {
namespace {

bool IsHelpFlag(std::string_view arg) { return arg == "-h" || arg == "--help"; }

// `text` on one line: line breaks become "; ", surrounding whitespace goes.
std::string OneLine(std::string_view text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) {
    text.remove_suffix(1);
  }
  std::string line;
  for (const char c : text) {
    if (c == '\n') {
      line += "; ";
    } else if (c == '\r' || c == '\t') {
      line += ' ';
    } else {
      line += c;
    }
  }
  return line;
}

// Writes help text or the version to `out`. Returns kExitFailure, saying so on `err`, when
// stdout cannot be written.
int PrintText(std::FILE* out, std::FILE* err, const std::string& text) {
  errno = 0;
  std::fputs(text.c_str(), out);
  if (std::fflush(out) == 0 && !std::ferror(out)) return kExitSuccess;
  std::fprintf(err, "%s: writing standard output failed: %s\n", kProgramName.data(),
               std::strerror(errno != 0 ? errno : EIO));
  return kExitFailure;
}

int UsageError(std::FILE* err, std::string_view path, std::string_view message) {
  std::fprintf(err, "%.*s: %s\n", static_cast<int>(path.size()), path.data(),
               OneLine(message).c_str());
  return kExitUsage;
}

int Failure(std::FILE* err, std::string_view path, std::string_view message) {
  std::fprintf(err, "%.*s: %s\n", static_cast<int>(path.size()), path.data(),
               OneLine(message).c_str());
  return kExitFailure;
}

size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

// " (did you mean 'x'?)" for the candidate closest to `word` when it is close enough to be a
// likely typo, else "".
std::string DidYouMean(std::string_view word, const std::vector<std::string>& candidates) {
  const std::string* best = nullptr;
  size_t best_distance = std::max<size_t>(2, word.size() / 3) + 1;
  for (const std::string& candidate : candidates) {
    const size_t d = EditDistance(word, candidate);
    if (d < best_distance) {
      best = &candidate;
      best_distance = d;
    }
  }
  return best == nullptr ? "" : " (did you mean '" + *best + "'?)";
}

std::string JoinNames(const std::vector<std::string>& names) {
  std::string joined;
  for (const std::string& name : names) {
    if (!joined.empty()) joined += ", ";
    joined += name;
  }
  return joined;
}

std::vector<std::string> GroupNames(const std::vector<CommandGroup>& groups) {
  std::vector<std::string> names;
  for (const CommandGroup& group : groups) names.push_back(group.name);
  return names;
}

std::vector<std::string> CommandNames(const CommandGroup& group) {
  std::vector<std::string> names;
  for (const CommandInfo& command : group.commands) names.push_back(command.name);
  return names;
}

// "rng fill", or "init" for a single-command group.
std::string CommandPath(const CommandGroup& group, const CommandInfo& command) {
  return command.name.empty() ? group.name : group.name + " " + command.name;
}

void AppendCommandList(const CommandGroup& group, std::string& text) {
  size_t width = 0;
  for (const CommandInfo& c : group.commands) width = std::max(width, CommandPath(group, c).size());
  for (const CommandInfo& c : group.commands) {
    const std::string name = CommandPath(group, c);
    text += "  " + name + std::string(width - name.size() + 3, ' ') + c.summary + "\n";
  }
}

std::string TopLevelHelp(const std::vector<CommandGroup>& groups) {
  std::string text = std::string(kProgramName) + " " + std::string(kVersion) +
                     ": simulation and verification harness for distributed parameter\n"
                     "initialization and memory placement in large-model training.\n\n"
                     "Usage: twinsim <group> <command> [options]\n";
  for (const CommandGroup& group : groups) {
    if (group.IsSingleCommand()) text += "       twinsim " + group.name + " [options]\n";
  }
  text += "       twinsim --version\n\n";
  for (const CommandGroup& group : groups) {
    text += group.name + ": " + group.summary + "\n";
    AppendCommandList(group, text);
    text += "\n";
  }
  std::string single;
  for (const CommandGroup& group : groups) {
    if (group.IsSingleCommand()) single += " or 'twinsim " + group.name + " --help'";
  }
  text += "Run 'twinsim <group> <command> --help'" + single + " for a command's options.\n";
  return text;
}

std::string GroupHelp(const CommandGroup& group) {
  std::string text = "twinsim " + group.name + ": " + group.summary + "\n\n" + "Usage: twinsim " +
                     group.name + " <command> [options]\n\nCommands:\n";
  AppendCommandList(group, text);
  text += "\nRun 'twinsim " + group.name + " <command> --help' for a command's options.\n";
  return text;
}

// The long names ("--seed") of every option of `app` except the help flag.
std::vector<std::string> OptionNames(const CLI::App& app) {
  std::vector<std::string> names;
  for (const CLI::Option* option : app.get_options()) {
    for (const std::string& lname : option->get_lnames()) names.push_back("--" + lname);
  }
  return names;
}

// The name an option is reported by: its first long name, else its first short name.
std::string DisplayName(const CLI::Option& option) {
  if (!option.get_lnames().empty()) return "--" + option.get_lnames().front();
  if (!option.get_snames().empty()) return "-" + option.get_snames().front();
  return option.get_name();
}

// Checks what CLI11 accepted but twinsim does not: repeated options and leftover arguments
// (unknown options, stray positionals). Returns the message, or "" when all is well.
std::string CheckParsed(const CLI::App& app) {
  for (const CLI::Option* option : app.get_options()) {
    if (option->count() > 1) {
      return DisplayName(*option) + ": given " + std::to_string(option->count()) +
             " times; expected at most once";
    }
  }
  bool positional_only = false;
  for (const std::string& arg : app.remaining()) {
    if (arg == "--" && !positional_only) {
      positional_only = true;
      continue;
    }
    if (!positional_only && arg.size() > 1 && arg[0] == '-') {
      const std::string name = arg.substr(0, arg.find('='));
      return "unknown option " + Quote(name) + DidYouMean(name, OptionNames(app)) + "; see '" +
             app.get_name() + " --help'";
    }
    return "unexpected argument " + Quote(arg) + "; this command takes options only";
  }
  return "";
}

// Catches two CLI11 2.1 quirks before parsing: "--numel=" (empty value) makes CLI11 take the
// next argument as the value, and "--json=3" silently sets a flag. Returns the message, or "".
std::string CheckBeforeParse(const CLI::App& app, const std::vector<std::string>& options) {
  for (const std::string& arg : options) {
    if (arg == "--") break;
    const size_t eq = arg.find('=');
    if (arg.rfind("--", 0) != 0 || eq == std::string::npos) continue;
    const std::string name = arg.substr(0, eq);
    for (const CLI::Option* option : app.get_options()) {
      if (!option->check_lname(name.substr(2))) continue;
      if (option->get_expected_max() == 0) {
        return name + ": takes no value, got " + Quote(arg.substr(eq + 1));
      }
      if (eq + 1 == arg.size()) return name + ": expected a value after '='";
    }
  }
  return "";
}

// One line for a CLI11 parse error that CheckParsed cannot see, thrown while parsing.
std::string DescribeParseError(const CLI::App& app, const CLI::ParseError& error) {
  if (dynamic_cast<const CLI::RequiredError*>(&error) != nullptr) {
    for (const CLI::Option* option : app.get_options()) {
      if (option->get_required() && option->count() == 0) {
        return DisplayName(*option) + ": missing; this option is required";
      }
    }
  }
  const std::string what = OneLine(error.what());
  if (dynamic_cast<const CLI::ArgumentMismatch*>(&error) != nullptr && !what.empty() &&
      what[0] == '-') {
    // CLI11 writes "--seed: 1 required TEXT missing" for an option without its value.
    const std::string name = what.substr(0, what.find(':'));
    if (what.find("missing") != std::string::npos) return name + ": expected a value after it";
  }
  return what;
}

// Gives `app` the dispatcher's settings and `command`'s options.
void PrepareApp(CLI::App& app, Command& command) {
  app.set_help_flag("-h,--help", "Print this help and exit");
  app.allow_extras(true);  // reported by CheckParsed, with a better message
  app.get_formatter()->column_width(34);
  command.DeclareOptions(app);
  for (CLI::Option* option : app.get_options()) {
    // Repeated options are reported by CheckParsed rather than by CLI11.
    option->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  }
}

// Parses `options` (no help flag among them) into `app` and validates `command`. Returns the
// one-line problem, or "" when the command line is good. Sets `*wants_help` (when not null)
// if CLI11 itself asked for help.
std::string ParseAndValidate(CLI::App& app, Command& command, const std::vector<std::string>& options,
                             bool* wants_help = nullptr) {
  if (std::string problem = CheckBeforeParse(app, options); !problem.empty()) return problem;
  std::vector<std::string> reversed(options.rbegin(), options.rend());  // CLI11's order
  try {
    app.parse(reversed);
  } catch (const CLI::CallForHelp&) {
    if (wants_help != nullptr) *wants_help = true;
    return "";
  } catch (const CLI::ParseError& error) {
    return DescribeParseError(app, error);
  }
  if (std::string problem = CheckParsed(app); !problem.empty()) return problem;
  if (const Status valid = command.Validate(); !valid.ok()) return OneLine(valid.message());
  return "";
}

int RunCommand(const CommandInfo& info, const std::string& path,
               const std::vector<std::string>& options, std::FILE* out, std::FILE* err) {
  const std::unique_ptr<Command> command = info.create();
  CLI::App app(path + ": " + info.summary + "\n", path);
  PrepareApp(app, *command);

  // --help anywhere before "--" wins over everything else on the line, as in CLI11, but is
  // decided here so that no option can swallow it as its value.
  const auto positional_mark = std::find(options.begin(), options.end(), "--");
  if (std::any_of(options.begin(), positional_mark, IsHelpFlag)) {
    return PrintText(out, err, app.help());
  }
  bool wants_help = false;
  const std::string problem = ParseAndValidate(app, *command, options, &wants_help);
  if (wants_help) return PrintText(out, err, app.help());
  if (!problem.empty()) return UsageError(err, path, problem);
  Output output(out);
  Status executed;
  try {
    executed = command->Execute(output);
  } catch (const std::bad_alloc&) {
    executed = Status::ResourceExhausted("out of memory");
  }
  const Status written = output.Finish();
  if (!executed.ok()) return Failure(err, path, executed.message());
  if (!written.ok()) return Failure(err, path, written.message());
  return kExitSuccess;
}

int DispatchOrThrow(const std::vector<CommandGroup>& groups, const std::vector<std::string>& args,
                    std::FILE* out, std::FILE* err) {
  const std::string program(kProgramName);
  const std::string see_help = "; see 'twinsim --help'";
  if (args.size() < 2) {
    return UsageError(err, program,
                      "missing command; expected a command group (" +
                          JoinNames(GroupNames(groups)) + ")" + see_help);
  }
  const std::string& first = args[1];
  if (IsHelpFlag(first)) {
    return PrintText(out, err, TopLevelHelp(groups));
  }
  if (first == "--version") {
    if (args.size() > 2) {
      return UsageError(err, program,
                        "--version: expected no further arguments, got " + Quote(args[2]));
    }
    return PrintText(out, err, std::string(kProgramName) + " " + std::string(kVersion) + "\n");
  }
  if (first.size() > 1 && first[0] == '-') {
    const std::string name = first.substr(0, first.find('='));
    return UsageError(err, program,
                      "unknown option " + Quote(name) + DidYouMean(name, {"--help", "--version"}) +
                          "; expected --help, --version or a command group");
  }
  const auto group = std::find_if(groups.begin(), groups.end(),
                                  [&](const CommandGroup& g) { return g.name == first; });
  if (group == groups.end()) {
    return UsageError(err, program,
                      "unknown command group " + Quote(first) +
                          DidYouMean(first, GroupNames(groups)) + "; expected one of " +
                          JoinNames(GroupNames(groups)));
  }

  const std::string group_path = program + " " + group->name;
  if (group->IsSingleCommand()) {
    const std::vector<std::string> options(args.begin() + 2, args.end());
    return RunCommand(group->commands.front(), group_path, options, out, err);
  }
  const std::string expected_commands = JoinNames(CommandNames(*group));
  if (args.size() < 3) {
    return UsageError(err, group_path,
                      "missing command; expected one of " + expected_commands + "; see '" +
                          group_path + " --help'");
  }
  const std::string& second = args[2];
  if (IsHelpFlag(second)) {
    return PrintText(out, err, GroupHelp(*group));
  }
  const auto command = std::find_if(group->commands.begin(), group->commands.end(),
                                    [&](const CommandInfo& c) { return c.name == second; });
  if (command == group->commands.end()) {
    if (second.size() > 1 && second[0] == '-') {
      return UsageError(
          err, group_path,
          "expected a command (" + expected_commands + ") before any option, got " + Quote(second));
    }
    return UsageError(err, group_path,
                      "unknown command " + Quote(second) +
                          DidYouMean(second, CommandNames(*group)) + "; expected one of " +
                          expected_commands);
  }
  const std::vector<std::string> options(args.begin() + 3, args.end());
  return RunCommand(*command, group_path + " " + command->name, options, out, err);
}

}  // namespace

std::vector<OptionInfo> DescribeOptions(const CommandInfo& info) {
  const std::unique_ptr<Command> command = info.create();
  CLI::App app(info.summary, info.name);
  PrepareApp(app, *command);
  std::vector<OptionInfo> described;
  for (const CLI::Option* option : app.get_options()) {
    if (option->get_lnames().empty()) continue;  // positional, or the help flag's -h alone
    if (option->get_lnames().front() == "help") continue;
    described.push_back({"--" + option->get_lnames().front(), option->get_expected_max() != 0,
                         option->get_required()});
  }
  return described;
}

Status CheckCommandLine(const CommandInfo& info, const std::vector<std::string>& options) {
  try {
    const std::unique_ptr<Command> command = info.create();
    CLI::App app(info.summary, info.name);
    PrepareApp(app, *command);
    const std::string problem = ParseAndValidate(app, *command, options);
    return problem.empty() ? Status::Ok() : Status::InvalidArgument(problem);
  } catch (const std::bad_alloc&) {
    return Status::ResourceExhausted("out of memory");
  } catch (const std::exception& e) {
    return Status::Internal(std::string("internal error: ") + e.what());
  }
}

namespace {
thread_local std::FILE* diagnostics = nullptr;
}  // namespace

CapturedRun DispatchCaptured(const std::vector<CommandGroup>& groups,
                             const std::vector<std::string>& args) {
  CapturedRun run;
  char* out_text = nullptr;
  char* err_text = nullptr;
  size_t out_size = 0, err_size = 0;
  std::FILE* out = open_memstream(&out_text, &out_size);
  std::FILE* err = open_memstream(&err_text, &err_size);
  if (out != nullptr && err != nullptr) {
    run.exit_code = Dispatch(groups, args, out, err);
  } else {
    run.exit_code = kExitFailure;
  }
  if (out != nullptr) std::fclose(out);
  if (err != nullptr) std::fclose(err);
  if (out_text != nullptr) run.out.assign(out_text, out_size);
  if (err_text != nullptr) run.err.assign(err_text, err_size);
  std::free(out_text);
  std::free(err_text);
  if (out == nullptr || err == nullptr) {
    run.err += std::string(kProgramName) + ": cannot capture the output in memory\n";
  }
  return run;
}

std::FILE* DiagnosticsStream() { return diagnostics != nullptr ? diagnostics : stderr; }

bool DiagnosticsIsTerminal() {
  const int fd = fileno(DiagnosticsStream());
  return fd >= 0 && isatty(fd) == 1;
}

int Dispatch(const std::vector<CommandGroup>& groups, const std::vector<std::string>& args,
             std::FILE* out, std::FILE* err) {
  // Restored on the way out: a sweep's in-process case runs its own Dispatch on a thread.
  struct Restore {
    std::FILE* previous;
    ~Restore() { diagnostics = previous; }
  } restore{diagnostics};
  diagnostics = err;
  try {
    return DispatchOrThrow(groups, args, out, err);
  } catch (const std::bad_alloc&) {
    return Failure(err, kProgramName, "out of memory");
  } catch (const std::exception& e) {
    return Failure(err, kProgramName, std::string("internal error: ") + e.what());
  }
}

}  // namespace twinsim::cli
