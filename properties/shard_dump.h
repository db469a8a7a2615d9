// Shard dumps: what every rank of an init run holds, written to a folder as raw bytes plus an
// index, so that another tool (PyTorch on a GPU, a user's own script) can compare it element
// by element with what its framework produced (tools/dtensor-oracle reads it).
//
// Layout of DIR:
//   index.json                  policy, seed, init device, model, layout, and per rank its
//                               coordinates and shards (parameter, dtype, shape, padded block,
//                               file, bytes, FNV-1a 64 of the bytes)
//   rank<R>/<i>.bin             shard i of rank R: the padded 2-D block row-major, in its dtype
#ifndef TWINSIM_PROPERTIES_SHARD_DUMP_H_
#define TWINSIM_PROPERTIES_SHARD_DUMP_H_

#include <string>

#include "core/parallel_layout.h"
#include "core/status.h"
#include "properties/init_check.h"

namespace twinsim::properties {

// Writes `run` (which must hold bytes: a host run, or a sim run in data mode) under `dir`.
// The folder is built beside `dir` and renamed into place, so `dir` either appears whole or not
// at all. REQUIRES: `run` was made on `layout`.
// Errors: FailedPrecondition when `dir` exists or the run holds no bytes (timing-only), or when
// a rank ran out of memory or failed; InvalidArgument for an empty path; Internal (naming the
// path and errno) when writing fails — nothing is left behind then.
Status WriteShardDump(const InitRun& run, const core::ParallelLayout& layout,
                      const std::string& dir);

}  // namespace twinsim::properties

#endif  // TWINSIM_PROPERTIES_SHARD_DUMP_H_
