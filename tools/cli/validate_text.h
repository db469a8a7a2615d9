// The text face of `twinsim validate`: a seed policy's and a placement policy's report
// (harness/validate.h) as the command prints them without --json, and the per-class timing
// table both print. Kept apart from the command so that validate_command.cc only declares
// options, builds the request, calls and picks a printer.
#ifndef TWINSIM_TOOLS_CLI_VALIDATE_TEXT_H_
#define TWINSIM_TOOLS_CLI_VALIDATE_TEXT_H_

#include <span>
#include <string>

#include "harness/validate.h"
#include "tools/cli/output.h"

namespace twinsim::cli {

// "+12.3%": (predicted - measured) / measured; "n/a" when nothing was measured. Pure.
std::string TimingErrorText(double measured, double predicted);
// The text table (a header line, then a line per row) of timing rows, indented by two. Pure.
std::string TimingText(std::span<const harness::TimingRow> rows);

// A seed policy's block: the setup line, parity, init-fits, invariance, the parameters whose
// hashes differ, and the timing table.
void PrintValidateText(Output& out, const harness::ValidatePolicyReport& r);
// A placement policy's block: the setup line, whether the step fits (or where it ran out of
// memory), the device replay's verdict and, when it fits, the h2d / d2h timing table.
void PrintValidateText(Output& out, const harness::ValidatePlacementReport& r);

}  // namespace twinsim::cli

#endif  // TWINSIM_TOOLS_CLI_VALIDATE_TEXT_H_
