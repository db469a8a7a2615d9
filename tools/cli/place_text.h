// The text face of `twinsim place`: its help footer and the report RunPlace returns (or
// FindLargestModel's), as the command prints it without --json. Kept apart from the command so
// that place_command.cc only declares options, builds the request, calls and picks a printer.
#ifndef TWINSIM_TOOLS_CLI_PLACE_TEXT_H_
#define TWINSIM_TOOLS_CLI_PLACE_TEXT_H_

#include <string>
#include <vector>

#include "harness/place.h"
#include "tools/cli/output.h"

namespace twinsim::cli {

// The footer of `twinsim place --help`: what place models, the policies, sizes, examples.
std::string PlaceHelpFooter();

// The header (model, layout, cluster, budgets, step, chunks, activations, feasibility), one
// block per policy and, with init policies, the init-meets-placement matrix. `request` says
// which budgets were given rather than defaulted.
void PrintPlaceText(Output& out, const harness::PlaceRequest& request,
                    const harness::PlaceReport& report);

// --max-model: the search's header and each policy's largest model.
void PrintLargestModelText(Output& out, const harness::PlaceRequest& request,
                           const placement::MemoryBudget& budget,
                           const std::vector<harness::LargestModelReport>& reports);

}  // namespace twinsim::cli

#endif  // TWINSIM_TOOLS_CLI_PLACE_TEXT_H_
