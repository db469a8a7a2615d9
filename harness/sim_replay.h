// The simulated half of validating the sim against a GPU: replays a list of transfers (what a
// CudaDevice timed, gpu/transfer.h) one at a time on one SimDevice of `topology`, alone on
// its links, and returns each with the simulated time. Compared operation by operation with
// the measured list, this isolates the device model (PCIe, HBM, init throughput) from
// scheduling: both sides run each operation alone (Note [Timing on a shared GPU]).
#ifndef TWINSIM_HARNESS_SIM_REPLAY_H_
#define TWINSIM_HARNESS_SIM_REPLAY_H_

#include <span>
#include <vector>

#include "core/status.h"
#include "core/topology.h"
#include "gpu/transfer.h"

namespace twinsim::harness {

// Runs `transfers` in order on GPU 0 of `topology` (timing-only: no bytes move) and returns
// them with `seconds` = simulated time: h2d as CopyFromHost, d2h as CopyToHost, d2d as Copy,
// init as Fill of `elements` elements. InvalidArgument for a topology that does not validate;
// otherwise fails as sim::RunRanksOnSim does. Runs in a forked child (no SimGrid state left).
StatusOr<std::vector<gpu::Transfer>> PredictTransfers(const core::Topology& topology,
                                                      std::span<const gpu::Transfer> transfers);

}  // namespace twinsim::harness

#endif  // TWINSIM_HARNESS_SIM_REPLAY_H_
