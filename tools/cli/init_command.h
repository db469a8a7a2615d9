// `twinsim init ...`: runs framework seed policies (policies/seed) on every rank of a parallel
// layout and reports which init properties (parity, replica, distinct, determinism, init-fits)
// hold, which the policy claims, a counterexample for each failure, and what init cost in
// memory and traffic. The exit status says whether any policy broke a property it claims.
#ifndef TWINSIM_TOOLS_CLI_INIT_COMMAND_H_
#define TWINSIM_TOOLS_CLI_INIT_COMMAND_H_

#include "tools/cli/command.h"

namespace twinsim::cli {

// The `init` group: a single command, run as `twinsim init [options]`. Every call returns an
// equal, independent table.
CommandGroup InitCommandGroup();

}  // namespace twinsim::cli

#endif  // TWINSIM_TOOLS_CLI_INIT_COMMAND_H_
