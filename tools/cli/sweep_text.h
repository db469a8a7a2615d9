// sweep's text: the help footer, a case's line of --list, the interruption message and the
// closing summary, as `twinsim sweep` prints them.
#ifndef TWINSIM_TOOLS_CLI_SWEEP_TEXT_H_
#define TWINSIM_TOOLS_CLI_SWEEP_TEXT_H_

#include <cstddef>
#include <string>

#include "scenarios/scenario.h"
#include "scenarios/sweep.h"

namespace twinsim::cli {

// The footer of `twinsim sweep --help`.
std::string SweepHelpFooter();

// "<id>  twinsim <command> <arguments>[ --trace traces/<id>.json]\n".
std::string SweepCaseLine(const scenarios::ScenarioCase& c);

// The stderr line of an interrupted sweep (a newline first when progress went to a terminal).
std::string SweepInterruptedText(const scenarios::SweepTally& tally, const std::string& out_dir,
                                 bool progress_is_tty);

// The lines stdout gets once the report of `total` cases is written into `out_dir`.
std::string SweepSummaryText(const std::string& title, size_t total, int ok, size_t failed,
                             const std::string& out_dir, int plots);

}  // namespace twinsim::cli

#endif  // TWINSIM_TOOLS_CLI_SWEEP_TEXT_H_
