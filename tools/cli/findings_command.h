// `twinsim findings`: reproduces the known weaknesses of real frameworks that twinsim can show
// (harness/findings.h), each with its upstream issue or file, the command that reproduces it
// and the counterexample. Exit 0 when every finding reproduces as expected, 1 otherwise.
#ifndef TWINSIM_TOOLS_CLI_FINDINGS_COMMAND_H_
#define TWINSIM_TOOLS_CLI_FINDINGS_COMMAND_H_

#include "tools/cli/command.h"

namespace twinsim::cli {

// The `findings` command group: a single command.
CommandGroup FindingsCommandGroup();

}  // namespace twinsim::cli

#endif  // TWINSIM_TOOLS_CLI_FINDINGS_COMMAND_H_
