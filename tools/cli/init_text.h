// init's text: the help footer (properties, policies and their claims, examples) and the
// harness/init.h reports as `twinsim init` prints them without --json: a table per policy,
// the matrix of several policies, and the claims' tally.
#ifndef TWINSIM_TOOLS_CLI_INIT_TEXT_H_
#define TWINSIM_TOOLS_CLI_INIT_TEXT_H_

#include <string>
#include <vector>

#include "core/parallel_layout.h"
#include "harness/init.h"
#include "policies/seed/policy.h"
#include "tools/cli/output.h"

namespace twinsim::cli {

// The footer of `twinsim init --help`.
std::string InitHelpFooter();

// One policy's table, its init cost (ranks described on `layout`), sim and offline lines, then
// a blank line.
void PrintInitPolicyText(Output& out, const core::ParallelLayout& layout,
                         const harness::InitPolicyReport& r);

// Every policy against every property of `properties` (in the request's order): "holds*" is a
// claimed property that holds, "FAILS" one that fails without being claimed, "FAILS*" a broken
// claim.
void PrintInitMatrix(Output& out, const std::vector<policies::seed::Property>& properties,
                     const harness::InitReport& report);

// "2 policies, 7 claims checked, 1 broken[, 3 not checked (n/a)]\n".
std::string InitTallyLine(const harness::InitReport& report);

}  // namespace twinsim::cli

#endif  // TWINSIM_TOOLS_CLI_INIT_TEXT_H_
