// The `twinsim` binary: the command groups it offers, handed to the dispatcher.
#include <sys/prctl.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "tools/cli/calibrate_command.h"
#include "tools/cli/chunks_command.h"
#include "tools/cli/command.h"
#include "tools/cli/findings_command.h"
#include "tools/cli/fit_command.h"
#include "tools/cli/init_command.h"
#include "tools/cli/place_command.h"
#include "tools/cli/rng_command.h"
#include "tools/cli/show_command.h"
#include "tools/cli/sweep_command.h"
#include "tools/cli/validate_command.h"

namespace {

// A case of `twinsim sweep` (TWINSIM_SWEEP_PARENT holds the sweep's pid) dies with the sweep,
// even when the sweep is killed with SIGKILL: see Note [Stopping a sweep] in scenarios/sweep.cc.
void DieWithTheSweep() {
  const char* parent = std::getenv("TWINSIM_SWEEP_PARENT");
  if (parent == nullptr || *parent == 0) return;
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  // The sweep may have died before prctl: then this process has been re-parented already.
  if (std::to_string(getppid()) != parent) std::_Exit(128 + SIGKILL);
}

}  // namespace

int main(int argc, char** argv) {
  DieWithTheSweep();
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
      twinsim::cli::FitCommandGroup(),
      twinsim::cli::CalibrateCommandGroup(),
      twinsim::cli::ValidateCommandGroup(),
      twinsim::cli::SweepCommandGroup(runnable),
      twinsim::cli::FindingsCommandGroup(),
  };
  const std::vector<std::string> args(argv, argv + argc);
  return twinsim::cli::Dispatch(groups, args, stdout, stderr);
}
