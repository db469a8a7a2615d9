// The backend conformance checks on the host reference backend (HostDevice, HostComm over
// RunRanks): the checks themselves are exercised on every machine, GPU or not, and the cuda
// backend (gpu:cuda_device_test) is held to exactly these.
#include "core/testing/backend_conformance.h"

#include <gtest/gtest.h>

#include "core/host_comm.h"
#include "core/host_device.h"
#include "kernels/device_fill.h"

namespace twinsim::core::conformance {
namespace {

StatusOr<std::unique_ptr<Device>> MakeHost(uint64_t capacity) {
  HostDeviceOptions options;
  options.capacity = capacity;
  options.fill = kernels::FillOnHost;
  return std::unique_ptr<Device>(std::make_unique<HostDevice>(0, options));
}

std::vector<Status> RunHost(int world, const RankFunction& fn) {
  RunRanksOptions options;
  options.world_size = world;
  options.device.capacity = 1 << 20;
  return RunRanks(options, fn);
}

TEST(HostBackendConformanceTest, AllocationAndOom) { CheckAllocationAndOom(MakeHost); }
TEST(HostBackendConformanceTest, BadHandles) { CheckBadHandles(MakeHost); }
TEST(HostBackendConformanceTest, Copies) { CheckCopies(MakeHost); }
TEST(HostBackendConformanceTest, FillMatchesTheHostFill) {
  CheckFillMatches(MakeHost, kernels::FillOnHost);
}
TEST(HostBackendConformanceTest, PointToPoint) {
  for (int world : {1, 2, 3, 5}) CheckPointToPoint(RunHost, world);
}
TEST(HostBackendConformanceTest, Collectives) {
  for (int world : {1, 2, 3, 5}) CheckCollectives(RunHost, world);
}

}  // namespace
}  // namespace twinsim::core::conformance
