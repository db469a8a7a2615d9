// show's text printers: each harness/show.h report as `twinsim show ...` prints it without
// --json (tables and aligned "label  value" lines).
#ifndef TWINSIM_TOOLS_CLI_SHOW_TEXT_H_
#define TWINSIM_TOOLS_CLI_SHOW_TEXT_H_

#include <string>
#include <vector>

#include "harness/show.h"
#include "tools/cli/output.h"

namespace twinsim::cli {

// The text form of `show layout` lists this many ranks; --json lists them all.
inline constexpr int kShowTextMaxRanks = 64;

void PrintShowModel(Output& out, const harness::ShowModelReport& r);
void PrintModelList(Output& out, const harness::ShowModelList& list);
// `r.ranks` are printed; a line counts the ranks of the world not among them.
void PrintShowLayout(Output& out, const harness::ShowLayoutReport& r);
void PrintShowCluster(Output& out, const harness::ShowClusterReport& r);
void PrintClusterList(Output& out, const harness::ShowClusterList& list);
void PrintShowPolicy(Output& out, const harness::ShowPolicyReport& r);
void PrintPolicyList(Output& out, const harness::ShowPolicyList& list);

}  // namespace twinsim::cli

#endif  // TWINSIM_TOOLS_CLI_SHOW_TEXT_H_
