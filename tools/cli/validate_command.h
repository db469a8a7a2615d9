// `twinsim validate`: runs seed-policy init on the GPU(s) (the cuda backend) and on the sim
// backend configured as the same device (calibrated when a calibration file is given), and
// reports per parameter whether the bits agree (cuda vs host: device invariance; cuda vs sim;
// parity against single-device init on the GPU) and, per transfer class (h2d, d2h, d2d, init
// kernels), the measured time against the simulated one with the error in percent. With
// --placement it also checks a placement step on the GPU. The checks and runs are
// harness/validate.h's RunValidate; tools/cli/validate_text.h prints its report.
#ifndef TWINSIM_TOOLS_CLI_VALIDATE_COMMAND_H_
#define TWINSIM_TOOLS_CLI_VALIDATE_COMMAND_H_

#include "tools/cli/command.h"

namespace twinsim::cli {

// The `validate` command group: a single command.
CommandGroup ValidateCommandGroup();

}  // namespace twinsim::cli

#endif  // TWINSIM_TOOLS_CLI_VALIDATE_COMMAND_H_
