// Backend conformance: the Device and Comm contracts (core/device.h, core/comm.h) as checks
// that run on any backend, so host, sim and cuda are held to the same behaviour by the same
// code rather than by parallel copies of their tests.
//
// Each check takes a factory (a fresh device with a given budget and a fill implementation) or
// a rank runner (RunRanks, RunRanksOnCuda, ...) and reports through GoogleTest's EXPECT/ASSERT.
// Test-only. Used by core/testing:backend_conformance_test (HostDevice, HostComm) and by
// gpu:cuda_device_test (CudaDevice, LocalComm, NcclComm where GPUs are present).
#ifndef TWINSIM_CORE_TESTING_BACKEND_CONFORMANCE_H_
#define TWINSIM_CORE_TESTING_BACKEND_CONFORMANCE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "core/comm.h"
#include "core/device.h"
#include "core/host_comm.h"
#include "core/host_device.h"
#include "core/status.h"

namespace twinsim::core::conformance {

// A fresh device for rank 0 with `capacity` bytes of budget that holds bytes and can Fill.
using DeviceFactory = std::function<StatusOr<std::unique_ptr<Device>>(uint64_t capacity)>;

// Budget accounting: fits, OOM as a result with the figures, WouldFit, Free returning bytes,
// zero-byte buffers, a tag that is empty refused.
void CheckAllocationAndOom(const DeviceFactory& make);
// Handles: another device's, a freed one, a null one, regions out of bounds; nothing changes.
void CheckBadHandles(const DeviceFactory& make);
// CopyFromHost / CopyToHost round trips, sub-regions, device-to-device Copy (overlapping too),
// size mismatches refused, fresh bytes equal `fresh` (0xFF on host, sim and cuda).
void CheckCopies(const DeviceFactory& make);
// Fill writes exactly what `reference` (the host fill, kernels::FillOnHost) computes, for
// plain ranges and 2-D block requests, in fp32, bf16 and fp16; a wrong size is refused.
void CheckFillMatches(const DeviceFactory& make, const FillFunction& reference);

// Runs fn on `world` ranks and returns each rank's status (core::RunRanks-shaped).
using RankRunner = std::function<std::vector<Status>(int world, const RankFunction& fn)>;

// Send/Recv pairs and a SendRecv ring move the right bytes and count traffic.
void CheckPointToPoint(const RankRunner& run, int world);
// Broadcast from every root, AllGather with uneven counts, ReduceScatterSum on small integers
// (exact in any order), Barrier; traffic as Note [Logical traffic] says.
void CheckCollectives(const RankRunner& run, int world);

}  // namespace twinsim::core::conformance

#endif  // TWINSIM_CORE_TESTING_BACKEND_CONFORMANCE_H_
