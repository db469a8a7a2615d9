// `twinsim place`: runs the chunk placement policies (policies/placement/placement.h) — cuda,
// cpu, static, auto, optimal — over one rank's training step on a cluster preset's GPU and
// host memory, and prints per policy whether the step fits or where it runs out of memory, its
// peak GPU and host memory, and the PCIe bytes it moves per step beside the optimal bound.
#ifndef TWINSIM_TOOLS_CLI_PLACE_COMMAND_H_
#define TWINSIM_TOOLS_CLI_PLACE_COMMAND_H_

#include <cstdint>
#include <string_view>

#include "core/status.h"
#include "tools/cli/command.h"

namespace twinsim::cli {

// The `place` command group: a single command. Every call returns an equal, independent group.
CommandGroup PlaceCommandGroup();


}  // namespace twinsim::cli

#endif  // TWINSIM_TOOLS_CLI_PLACE_COMMAND_H_
