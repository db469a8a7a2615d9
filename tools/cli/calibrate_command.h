// `twinsim calibrate`: measures the GPU (PCIe each way, pinned and pageable; HBM copy; init
// kernel throughput) and writes the calibration file that `twinsim validate --calibration`
// and core::ApplyCalibration put into the sim's cluster presets.
#ifndef TWINSIM_TOOLS_CLI_CALIBRATE_COMMAND_H_
#define TWINSIM_TOOLS_CLI_CALIBRATE_COMMAND_H_

#include "tools/cli/command.h"

namespace twinsim::cli {

// The `calibrate` command group: a single command.
CommandGroup CalibrateCommandGroup();

}  // namespace twinsim::cli

#endif  // TWINSIM_TOOLS_CLI_CALIBRATE_COMMAND_H_
