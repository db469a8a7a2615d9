// `twinsim show ...`: prints the data twinsim works from, for a person or a script: a model's
// parameters (model), how a parallel layout places them on ranks (layout), and a cluster
// preset's hardware (cluster).
#ifndef TWINSIM_TOOLS_CLI_SHOW_COMMAND_H_
#define TWINSIM_TOOLS_CLI_SHOW_COMMAND_H_

#include "tools/cli/command.h"

namespace twinsim::cli {

// The `show` command group. Every call returns an equal, independent table.
CommandGroup ShowCommandGroup();

}  // namespace twinsim::cli

#endif  // TWINSIM_TOOLS_CLI_SHOW_COMMAND_H_
