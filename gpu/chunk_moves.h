// Chunk moves on the GPU: replays a list of transfers (bytes and direction, as a placement
// policy's move log gives them) with cudaMemcpyAsync between pinned host memory and device
// memory, each timed by CUDA events. The measured half of "chunk transfers at least 90% of
// cudaMemcpy's pinned peak" and of simulated-vs-measured per transfer class; the simulated
// half replays the same list on a SimDevice (harness/sim_replay.h).
#ifndef TWINSIM_GPU_CHUNK_MOVES_H_
#define TWINSIM_GPU_CHUNK_MOVES_H_

#include <span>
#include <vector>

#include "core/status.h"
#include "gpu/cuda_device.h"
#include "gpu/transfer.h"

namespace twinsim::gpu {

// Replays `moves` on `device` in order and returns them with `seconds` measured. h2d / d2h move
// between one pinned host buffer and one device buffer, each as large as the largest move;
// d2d copies between two device buffers; init runs a normal(0, 1) fill of `elements` elements
// of `dtype`. The buffers are allocated under tag "chunk" (pinned: "chunk-staging") and freed
// before returning; ResourceExhausted (with the OOM report) when they do not fit the device's
// budget or pinned limit. Other failures as the device's calls fail.
StatusOr<std::vector<Transfer>> ReplayTransfers(CudaDevice& device,
                                                std::span<const Transfer> moves);

}  // namespace twinsim::gpu

#endif  // TWINSIM_GPU_CHUNK_MOVES_H_
