// `twinsim sweep [FILE] [--out DIR] [--jobs N] [--resume] [--filter EXPR]`: expands a scenario
// file (scenarios/README.md; no FILE: the built-in scenarios/default.toml) into `init`, `place`
// and `chunks` command lines, checks every one of them before running anything, runs them as
// child processes of this binary in parallel, and writes the report (reports/sweep_report.h)
// into DIR. The scenario keys are the options of the commands handed in, so a new option of
// those commands is a new scenario key.
#ifndef TWINSIM_TOOLS_CLI_SWEEP_COMMAND_H_
#define TWINSIM_TOOLS_CLI_SWEEP_COMMAND_H_

#include <vector>

#include "tools/cli/command.h"

namespace twinsim::cli {

// The `sweep` group: a single command whose cases may use the single-command groups in
// `runnable` (init, place, chunks). The groups are copied.
CommandGroup SweepCommandGroup(const std::vector<CommandGroup>& runnable);

}  // namespace twinsim::cli

#endif  // TWINSIM_TOOLS_CLI_SWEEP_COMMAND_H_
