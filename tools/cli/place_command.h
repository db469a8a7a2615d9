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

// A byte size as `place` accepts it: a whole number of bytes ("1024"), or a number with a unit,
// no space: KB MB GB TB (10^3..10^12) or KiB MiB GiB TiB (2^10..2^40), e.g. "24GB", "32GiB",
// "1.5GiB" (a fraction must come to a whole number of bytes). At least 1 byte, at most 2^60.
// InvalidArgument naming `option` otherwise ("--gpu-memory: expected a size like 24GB or
// 32GiB, got '24 GB'").
StatusOr<uint64_t> ParseByteSizeWithUnit(std::string_view option, std::string_view text);

}  // namespace twinsim::cli

#endif  // TWINSIM_TOOLS_CLI_PLACE_COMMAND_H_
