// The `twinsim` binary: the command groups it offers, handed to the dispatcher.
#include <cstdio>
#include <string>
#include <vector>

#include "tools/cli/calibrate_command.h"
#include "tools/cli/chunks_command.h"
#include "tools/cli/command.h"
#include "tools/cli/findings_command.h"
#include "tools/cli/init_command.h"
#include "tools/cli/place_command.h"
#include "tools/cli/rng_command.h"
#include "tools/cli/show_command.h"
#include "tools/cli/sweep_command.h"
#include "tools/cli/validate_command.h"

int main(int argc, char** argv) {
  // The commands a scenario file may run (`twinsim sweep`).
  const std::vector<twinsim::cli::CommandGroup> runnable = {
      twinsim::cli::InitCommandGroup(),
      twinsim::cli::PlaceCommandGroup(),
      twinsim::cli::ChunksCommandGroup(),
  };
  const std::vector<twinsim::cli::CommandGroup> groups = {
      twinsim::cli::RngCommandGroup(),
      twinsim::cli::ShowCommandGroup(),
      twinsim::cli::InitCommandGroup(),
      twinsim::cli::ChunksCommandGroup(),
      twinsim::cli::PlaceCommandGroup(),
      twinsim::cli::CalibrateCommandGroup(),
      twinsim::cli::ValidateCommandGroup(),
      twinsim::cli::SweepCommandGroup(runnable),
      twinsim::cli::FindingsCommandGroup(),
  };
  const std::vector<std::string> args(argv, argv + argc);
  return twinsim::cli::Dispatch(groups, args, stdout, stderr);
}
