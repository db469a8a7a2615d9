// `twinsim rng invariance`: one table that shows, on a real parameter shape, which init
// schemes give the same bits under a different layout (threads, TP shards, flat ZeRO-style
// chunks, host vs GPU, GPU model) and which do not. twinsim's counter streams must show zero
// differing elements everywhere (exit 1 otherwise); PyTorch's generators are shown for
// contrast, computed with the models in kernels/torch/.
#ifndef TWINSIM_TOOLS_CLI_INVARIANCE_COMMAND_H_
#define TWINSIM_TOOLS_CLI_INVARIANCE_COMMAND_H_

#include "tools/cli/command.h"

namespace twinsim::cli {

CommandInfo InvarianceCommandInfo();

}  // namespace twinsim::cli

#endif  // TWINSIM_TOOLS_CLI_INVARIANCE_COMMAND_H_
