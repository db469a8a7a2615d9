// The sim replay predicts what the device model says for each transfer class: B / PCIe
// bandwidth (plus the route's latencies) for h2d and d2h, 2 B / HBM bandwidth for d2d, and
// N / init throughput for init kernels — on a calibrated preset, the calibrated figures.
#include "harness/sim_replay.h"

#include <gtest/gtest.h>

#include "core/topology_presets.h"

namespace twinsim::harness {
namespace {

using gpu::Transfer;
using gpu::TransferClass;

TEST(SimReplayTest, EachClassTakesWhatTheCalibratedModelSays) {
  StatusOr<core::Topology> t = core::MakeTopology("dgx-h100");
  ASSERT_TRUE(t.ok());
  core::Calibration c;
  c.device = "test";
  c.h2d_pinned_bytes_per_s = c.d2h_pinned_bytes_per_s = 50e9;
  c.d2d_copy_bytes_per_s = 1e12;
  c.init_elements_per_s = 2e11;
  ASSERT_TRUE(core::ApplyCalibration(c, *t).ok());
  const uint64_t bytes = uint64_t{1} << 30;
  const std::vector<Transfer> list = {{TransferClass::kH2D, bytes},
                                      {TransferClass::kD2H, bytes},
                                      {TransferClass::kD2D, bytes},
                                      {TransferClass::kInitKernel, bytes, bytes / 4}};
  StatusOr<std::vector<Transfer>> p = PredictTransfers(*t, list);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  ASSERT_EQ(p->size(), 4u);
  EXPECT_NEAR((*p)[0].seconds, bytes / 50e9, 1e-4);
  EXPECT_NEAR((*p)[1].seconds, bytes / 50e9, 1e-4);
  EXPECT_NEAR((*p)[2].seconds, 2.0 * bytes / 2e12, 1e-6);
  EXPECT_NEAR((*p)[3].seconds, (bytes / 4) / 2e11, 1e-6);
  EXPECT_TRUE(PredictTransfers(*t, {}).ok());
}

}  // namespace
}  // namespace twinsim::harness
