// A placement step (policies/placement/placement.h) on a real device: its move log as transfers
// to time (h2d loads, d2h evictions: gpu/chunk_moves.h measures them, harness/sim_replay.h predicts
// them), and its GPU memory replayed allocation by allocation on a core::Device under the same
// budget, so that `twinsim validate` can check that the accounting's fit or OOM is the
// device's too. Plain C++ over core::Device: a CudaDevice in validate, a HostDevice in tests.
#ifndef TWINSIM_HARNESS_PLACEMENT_REPLAY_H_
#define TWINSIM_HARNESS_PLACEMENT_REPLAY_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/device.h"
#include "core/memory_ledger.h"
#include "core/status.h"
#include "gpu/transfer.h"
#include "policies/placement/placement.h"
#include "policies/placement/workload.h"

namespace twinsim::harness {

// The step's moves in order, one Transfer each: a load (to Where::kGpu) is kH2D, an eviction
// (to Where::kHost) kD2H, with the logged bytes and seconds 0. Totals(...) of the list give
// result.h2d_bytes and result.d2h_bytes. Pure.
std::vector<gpu::Transfer> PlacementTransfers(const placement::PlacementResult& result);

// Note [Replaying a placement step's memory]
// ------------------------------------------
// The accounting (Note [Step accounting]) charges the GPU ledger in a fixed order; the replay
// makes the same requests as real allocations on a device whose budget is the step's GPU
// budget, one buffer per request:
//   before op 0  every unit whose initial_location is the GPU (unit order), then static's
//                kept-gathered buffers (gathered_bytes)
//   each op      its logged moves before it (a load allocates the unit, an eviction frees it),
//                its non-model bytes, then its gather buffers (freed after the op), then its
//                logged write-backs (after_op)
// When the result did not fit on the GPU, the replay goes on past the log at the OOM's op as
// the accounting would have: the op's units still on the host are loaded, then its transient
// is charged; at the initial placement the refused request is PlacementOom::requested bytes.
// Optimal's moves are byte-granular (no initial_location): only its OOM is replayed, the op's
// units and transient from an empty device, which is what its relaxation says cannot fit.
// A host OOM is not a GPU event: the replay runs the log and reports that it did not judge.
// Gather bytes are Workload::OpGatherBytes less static's kept-gathered chunks (an OOM result
// does not list them: they are the first gathering chunks, as many as gathered_bytes covers).

// What the device said.
struct MemoryReplay {
  // Whether the device's verdict was compared: false for a host OOM, a policy's own limit
  // (PlacementOom::policy_limit) and optimal's fit.
  bool judged = false;
  bool agrees = false;  // judged and the device fit / refused exactly where the accounting did
  // The first request the device refused (its op: -1 for the initial placement).
  std::optional<core::OomReport> device_oom;
  int device_oom_op = -1;
  std::string device_oom_what;  // "loading unit 7 (optim of chunk 3)", "op 12 non-model"
  uint64_t peak_bytes = 0;      // the device's peak in use during the replay
  std::string detail;           // one line: why it agrees or not, or why it was not judged
};

// Replays `result`'s GPU memory (Note [Replaying a placement step's memory]) on `device`, whose
// budget should be the MemoryBudget::gpu_bytes the result was computed under, and frees every
// buffer it made before returning. REQUIRES: `result` came from a policy's Run(workload, ...).
// InvalidArgument when the log names a unit or op the workload lacks, or frees a unit that is
// not on the device; other failures as the device's Allocate and Free fail. Not thread-safe
// with other users of `device`.
StatusOr<MemoryReplay> ReplayPlacementMemory(core::Device& device,
                                             const placement::Workload& workload,
                                             const placement::PlacementResult& result);

}  // namespace twinsim::harness

#endif  // TWINSIM_HARNESS_PLACEMENT_REPLAY_H_
