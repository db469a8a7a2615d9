// The cuda backend against the backend conformance checks (core/testing/backend_conformance.h)
// that the host backend passes, plus what only it has: budgets below the GPU's memory, pinned
// memory under its own limit, timing by transfer class, chunk-move replay, LocalComm and
// NcclComm. Every GPU test skips, saying why, where no usable GPU (or NCCL) is present.
#include "gpu/cuda_device.h"

#include <gtest/gtest.h>

#include "core/testing/backend_conformance.h"
#include "gpu/chunk_moves.h"
#include "gpu/cuda_run.h"
#include "gpu/nccl_comm.h"
#include "kernels/device_fill.h"

namespace twinsim::gpu {
namespace {

namespace conformance = core::conformance;

#define TWINSIM_REQUIRE_GPUS(n)                                                        \
  do {                                                                                 \
    if (CudaDeviceCount() == 0) {                                                      \
      GTEST_SKIP() << "no CUDA device: " << CudaUnavailableReason();                   \
    }                                                                                  \
    if (CudaDeviceCount() < (n)) {                                                     \
      GTEST_SKIP() << "needs " << (n) << " GPUs, " << CudaDeviceCount() << " present"; \
    }                                                                                  \
  } while (0)

StatusOr<std::unique_ptr<core::Device>> MakeCuda(uint64_t capacity) {
  CudaDeviceOptions options;
  options.capacity = capacity;
  options.staging_bytes = 1 << 20;  // small, so multi-chunk staging is exercised
  TWINSIM_ASSIGN_OR_RETURN(std::unique_ptr<CudaDevice> device, CudaDevice::Create(0, options));
  return std::unique_ptr<core::Device>(std::move(device));
}

conformance::RankRunner Runner(CudaCommKind kind) {
  return [kind](int world, const core::RankFunction& fn) {
    CudaRunOptions options;
    options.world_size = world;
    options.comm = kind;
    options.device_capacity = 64 << 20;
    options.pinned_capacity = 8 << 20;
    options.staging_bytes = 1 << 20;
    StatusOr<CudaRun> run = RunRanksOnCuda(options, fn);
    if (!run.ok()) return std::vector<Status>(world, run.status());
    return run->statuses();
  };
}

TEST(CudaNoDeviceTest, WithoutAGpuEverythingSaysWhyInsteadOfFailing) {
  const int n = CudaDeviceCount();
  EXPECT_GE(n, 0);
  EXPECT_EQ(n == 0, !CudaUnavailableReason().empty());
  if (n > 0) GTEST_SKIP() << "a GPU is present; the no-device path is not reachable here";
  StatusOr<std::unique_ptr<CudaDevice>> device = CudaDevice::Create(0, {});
  EXPECT_EQ(device.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(device.status().message().find("CUDA"), std::string::npos)
      << device.status().ToString();
  StatusOr<CudaRun> run =
      RunRanksOnCuda({}, [](int, core::Comm&, core::Device&) { return Status::Ok(); });
  EXPECT_EQ(run.status().code(), StatusCode::kUnavailable);
}

TEST(TransferTest, NamesAndTotals) {
  for (int c = 0; c < kNumTransferClasses; ++c) {
    const auto cls = static_cast<TransferClass>(c);
    StatusOr<TransferClass> parsed = ParseTransferClass(TransferClassName(cls));
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(*parsed, cls);
  }
  EXPECT_EQ(ParseTransferClass("pcie").status().code(), StatusCode::kInvalidArgument);
  const std::vector<Transfer> list = {{TransferClass::kH2D, 100, 0, core::DType::kFp32, 1.0},
                                      {TransferClass::kH2D, 300, 0, core::DType::kFp32, 1.0},
                                      {TransferClass::kInitKernel, 8, 2, core::DType::kFp32, 0.5}};
  const TransferTotals t = Totals(list);
  EXPECT_EQ(t[TransferClass::kH2D].count, 2u);
  EXPECT_DOUBLE_EQ(t[TransferClass::kH2D].BytesPerSecond(), 200.0);
  EXPECT_DOUBLE_EQ(t[TransferClass::kInitKernel].ElementsPerSecond(), 4.0);
  EXPECT_EQ(t[TransferClass::kD2H].BytesPerSecond(), 0.0);
}

TEST(CudaDeviceTest, AllocationAndOom) {
  TWINSIM_REQUIRE_GPUS(1);
  conformance::CheckAllocationAndOom(MakeCuda);
}
TEST(CudaDeviceTest, BadHandles) {
  TWINSIM_REQUIRE_GPUS(1);
  conformance::CheckBadHandles(MakeCuda);
}
TEST(CudaDeviceTest, Copies) {
  TWINSIM_REQUIRE_GPUS(1);
  conformance::CheckCopies(MakeCuda);
}
TEST(CudaDeviceTest, FillIsBitExactWithTheHostFill) {
  TWINSIM_REQUIRE_GPUS(1);
  conformance::CheckFillMatches(MakeCuda, kernels::FillOnHost);
}

TEST(CudaDeviceTest, InfoPinnedLimitAndTimingByClass) {
  TWINSIM_REQUIRE_GPUS(1);
  CudaDeviceOptions options;
  options.capacity = 32 << 20;
  options.pinned_capacity = 4 << 20;
  options.staging_bytes = 1 << 20;
  StatusOr<std::unique_ptr<CudaDevice>> made = CudaDevice::Create(2, options);
  ASSERT_TRUE(made.ok()) << made.status().ToString();
  CudaDevice& device = **made;
  const core::DeviceInfo info = device.Info();
  EXPECT_EQ(info.kind, core::DeviceKind::kCuda);
  EXPECT_EQ(info.name, "cuda:0/rank2");
  EXPECT_EQ(info.capacity, uint64_t{32} << 20);
  EXPECT_FALSE(info.model.empty());
  // Pinned: the staging buffer counts; past the limit is an OOM result.
  EXPECT_EQ(device.PinnedStats().Tag("staging").in_use, uint64_t{1} << 20);
  StatusOr<PinnedAllocation> p = device.AllocatePinned(3 << 20, "chunk");
  ASSERT_TRUE(p.ok() && p->fits());
  StatusOr<PinnedAllocation> q = device.AllocatePinned(1, "chunk");
  ASSERT_TRUE(q.ok());
  EXPECT_FALSE(q->fits());
  EXPECT_TRUE(device.FreePinned(*p).ok());
  EXPECT_EQ(device.FreePinned(*p).code(), StatusCode::kNotFound);

  StatusOr<core::Buffer> b = core::AllocateOrError(device, 8 << 20, core::kTagParam);
  ASSERT_TRUE(b.ok());
  std::vector<std::byte> host(8 << 20, std::byte{1});
  ASSERT_TRUE(device.CopyFromHost(core::BufferRegion::Whole(*b), host).ok());
  ASSERT_TRUE(device.CopyToHost(core::BufferRegion::Whole(*b), host).ok());
  ASSERT_TRUE(device
                  .Copy(core::BufferRegion::Slice(*b, 0, 4 << 20),
                        core::BufferRegion::Slice(*b, 4 << 20, 4 << 20))
                  .ok());
  StatusOr<core::FillRequest> fill = kernels::MakeFillRequest(
      1, "w", *core::ParseInitSpec("normal:std=0.02"), core::DType::kFp32, 0, 1 << 20);
  ASSERT_TRUE(fill.ok());
  ASSERT_TRUE(device.Fill(core::BufferRegion::Slice(*b, 0, 4 << 20), *fill).ok());
  const TransferTotals t = device.totals();
  EXPECT_EQ(t[TransferClass::kH2D].bytes, uint64_t{8} << 20);
  EXPECT_EQ(t[TransferClass::kD2H].bytes, uint64_t{8} << 20);
  EXPECT_EQ(t[TransferClass::kD2D].bytes, uint64_t{4} << 20);
  EXPECT_EQ(t[TransferClass::kInitKernel].elements, uint64_t{1} << 20);
  for (const ClassTotals& c : t.by_class) {
    EXPECT_EQ(c.count, 1u);
    EXPECT_GT(c.seconds, 0.0);
  }
  EXPECT_EQ(device.transfers().size(), 4u);
  device.ClearTransfers();
  EXPECT_TRUE(device.transfers().empty());
  EXPECT_TRUE(device.Free(*b).ok());
}

TEST(CudaDeviceTest, BudgetBelowTheGpuIsEnforcedAndExhaustingTheGpuIsAnOomResult) {
  TWINSIM_REQUIRE_GPUS(1);
  StatusOr<std::unique_ptr<core::Device>> small = MakeCuda(1 << 20);
  ASSERT_TRUE(small.ok());
  StatusOr<core::Allocation> a = (*small)->Allocate((1 << 20) + 1, core::kTagParam);
  ASSERT_TRUE(a.ok());
  EXPECT_FALSE(a->fits());
  // A budget above the GPU's memory: the real cudaMalloc failure is an OOM result too.
  StatusOr<std::unique_ptr<core::Device>> huge = MakeCuda(uint64_t{1} << 50);
  ASSERT_TRUE(huge.ok());
  StatusOr<core::Allocation> b = (*huge)->Allocate(uint64_t{1} << 48, core::kTagParam);
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_FALSE(b->fits());
}

TEST(CudaDeviceTest, ReplayedChunkMovesAreTimed) {
  TWINSIM_REQUIRE_GPUS(1);
  CudaDeviceOptions options;
  options.capacity = 256 << 20;
  options.pinned_capacity = 128 << 20;
  StatusOr<std::unique_ptr<CudaDevice>> device = CudaDevice::Create(0, options);
  ASSERT_TRUE(device.ok());
  const std::vector<Transfer> moves = {{TransferClass::kH2D, 32 << 20},
                                       {TransferClass::kD2H, 32 << 20},
                                       {TransferClass::kD2D, 16 << 20},
                                       {TransferClass::kInitKernel, 0, 1 << 20}};
  StatusOr<std::vector<Transfer>> measured = ReplayTransfers(**device, moves);
  ASSERT_TRUE(measured.ok()) << measured.status().ToString();
  ASSERT_EQ(measured->size(), moves.size());
  for (const Transfer& t : *measured) EXPECT_GT(t.seconds, 0.0) << TransferClassName(t.cls);
  EXPECT_EQ((*device)->Stats().in_use, 0u);
  // Moves larger than the budget: ResourceExhausted with the report, nothing leaked.
  const std::vector<Transfer> too_big = {{TransferClass::kH2D, 200 << 20}};
  EXPECT_EQ(ReplayTransfers(**device, too_big).status().code(), StatusCode::kResourceExhausted);
  EXPECT_EQ((*device)->Stats().in_use, 0u);
}

TEST(LocalCommTest, PointToPointOnOneGpu) {
  TWINSIM_REQUIRE_GPUS(1);
  for (int world : {1, 2, 3, 5})
    conformance::CheckPointToPoint(Runner(CudaCommKind::kLocal), world);
}
TEST(LocalCommTest, CollectivesOnOneGpu) {
  TWINSIM_REQUIRE_GPUS(1);
  for (int world : {1, 2, 3, 5}) conformance::CheckCollectives(Runner(CudaCommKind::kLocal), world);
}

TEST(NcclCommTest, PointToPointAndCollectivesOverGpus) {
  TWINSIM_REQUIRE_GPUS(2);
  const Status nccl = NcclAvailable();
  if (!nccl.ok()) GTEST_SKIP() << nccl.message();
  const int world = CudaDeviceCount() < 4 ? 2 : 4;
  conformance::CheckPointToPoint(Runner(CudaCommKind::kNccl), world);
  conformance::CheckCollectives(Runner(CudaCommKind::kNccl), world);
}

}  // namespace
}  // namespace twinsim::gpu
