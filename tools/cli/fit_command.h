// `twinsim fit`: which layouts of N GPUs and which memory systems (ZeRO, FSDP2, Megatron's
// distributed optimizer, Gemini) train a model on a cluster, and with what largest micro-batch
// under no, selective and full activation recomputation (harness/fit.h, issue 16).
#ifndef TWINSIM_TOOLS_CLI_FIT_COMMAND_H_
#define TWINSIM_TOOLS_CLI_FIT_COMMAND_H_

#include "tools/cli/command.h"

namespace twinsim::cli {

// The `fit` command group: a single command. Every call returns an equal, independent group.
CommandGroup FitCommandGroup();

}  // namespace twinsim::cli

#endif  // TWINSIM_TOOLS_CLI_FIT_COMMAND_H_
