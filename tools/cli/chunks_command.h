// `twinsim chunks`: the chunk-size search and the resulting chunk list of one rank's parameters
// (policies/placement/chunk.h), as ColossalAI Gemini would pack them — so that a person can see
// what a chunk size costs in padding and bytes before any placement policy runs.
#ifndef TWINSIM_TOOLS_CLI_CHUNKS_COMMAND_H_
#define TWINSIM_TOOLS_CLI_CHUNKS_COMMAND_H_

#include "tools/cli/command.h"

namespace twinsim::cli {

// The `chunks` command group: a single command. Every call returns an equal, independent group.
CommandGroup ChunksCommandGroup();

}  // namespace twinsim::cli

#endif  // TWINSIM_TOOLS_CLI_CHUNKS_COMMAND_H_
