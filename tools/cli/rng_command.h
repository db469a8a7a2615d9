// `twinsim rng ...`: prints the random numbers twinsim and the frameworks it models produce,
// so a person or a script in another language can check them value by value: one Philox
// block (philox), a parameter under twinsim's element-wise streams (fill), PyTorch's CPU
// generator (torch-cpu) and PyTorch's launch-shape-dependent CUDA layout (torch-cuda).
#ifndef TWINSIM_TOOLS_CLI_RNG_COMMAND_H_
#define TWINSIM_TOOLS_CLI_RNG_COMMAND_H_

#include "tools/cli/command.h"

namespace twinsim::cli {

// The `rng` command group. Every call returns an equal, independent table.
CommandGroup RngCommandGroup();

}  // namespace twinsim::cli

#endif  // TWINSIM_TOOLS_CLI_RNG_COMMAND_H_
