// HostDevice against the Device contract (core/device.h), and FaultyDevice's injected faults.
#include "core/host_device.h"

#include <gtest/gtest.h>

#include <cstring>
#include <thread>
#include <vector>

#include "core/device.h"
#include "core/testing/faulty_device.h"

namespace twinsim::core {
namespace {

std::vector<std::byte> Bytes(std::initializer_list<int> values) {
  std::vector<std::byte> out;
  for (int v : values) out.push_back(static_cast<std::byte>(v));
  return out;
}

std::vector<std::byte> Read(Device& device, const BufferRegion& region) {
  std::vector<std::byte> out(region.bytes);
  const Status status = device.CopyToHost(region, out);
  EXPECT_TRUE(status.ok()) << status.ToString();
  return out;
}

HostDeviceOptions Capacity(uint64_t capacity) {
  HostDeviceOptions options;
  options.capacity = capacity;
  return options;
}

TEST(HostDeviceTest, InfoDescribesTheDevice) {
  HostDevice device(3, Capacity(4096));
  const DeviceInfo info = device.Info();
  EXPECT_EQ(info.name, "host:3");
  EXPECT_EQ(info.model, "host");
  EXPECT_EQ(info.kind, DeviceKind::kHost);
  EXPECT_EQ(DeviceKindName(info.kind), "host");
  EXPECT_EQ(info.rank, 3);
  EXPECT_EQ(info.capacity, 4096u);
  EXPECT_TRUE(info.holds_bytes);

  HostDeviceOptions named = Capacity(1);
  named.name = "cpu-reference";
  EXPECT_EQ(HostDevice(-1, named).Info().name, "cpu-reference");
  EXPECT_EQ(HostDevice(-1, Capacity(1)).Info().name, "host");
}

TEST(HostDeviceTest, AllocationBeyondCapacityIsAnOomResultWithTheFigures) {
  HostDevice device(5, Capacity(1000));
  StatusOr<Allocation> params = device.Allocate(600, kTagParam);
  ASSERT_TRUE(params.ok());
  ASSERT_TRUE(params->fits());
  StatusOr<Allocation> optim = device.Allocate(300, kTagOptim);
  ASSERT_TRUE(optim.ok() && optim->fits());
  EXPECT_TRUE(device.WouldFit(100));
  EXPECT_FALSE(device.WouldFit(101));

  StatusOr<Allocation> grad = device.Allocate(101, kTagGrad);
  ASSERT_TRUE(grad.ok()) << "an OOM is a result, not an error";
  ASSERT_FALSE(grad->fits());
  EXPECT_TRUE(grad->buffer.is_null());
  const OomReport& oom = *grad->oom;
  EXPECT_EQ(oom.rank, 5);
  EXPECT_EQ(oom.device, "host:5");
  EXPECT_EQ(oom.tag, "grad");
  EXPECT_EQ(oom.requested, 101u);
  EXPECT_EQ(oom.in_use, 900u);
  EXPECT_EQ(oom.capacity, 1000u);

  // Peak tracking: free the optimizer state, allocate less; the peak stays at 900.
  ASSERT_TRUE(device.Free(optim->buffer).ok());
  StatusOr<Allocation> temp = device.Allocate(50, kTagInitTemp);
  ASSERT_TRUE(temp.ok() && temp->fits());
  const MemoryStats stats = device.Stats();
  EXPECT_EQ(stats.in_use, 650u);
  EXPECT_EQ(stats.peak, 900u);
  EXPECT_EQ(stats.Tag(kTagOptim).in_use, 0u);
  EXPECT_EQ(stats.Tag(kTagOptim).peak, 300u);
  EXPECT_EQ(stats.Tag(kTagInitTemp).peak, 50u);
  EXPECT_EQ(stats.live_allocations, 2u);
  EXPECT_EQ(stats.oom_count, 1u);
  ASSERT_EQ(stats.oom_events.size(), 1u);
  EXPECT_EQ(stats.oom_events[0], oom);

  StatusOr<Buffer> fatal = AllocateOrError(device, 2000, kTagParam);
  EXPECT_EQ(fatal.status().code(), StatusCode::kResourceExhausted);
  EXPECT_NE(fatal.status().message().find("out of memory allocating"), std::string::npos);
}

TEST(HostDeviceTest, FreeChecksHandles) {
  HostDevice device(0, Capacity(1000));
  HostDevice other(1, Capacity(1000));
  StatusOr<Buffer> buffer = AllocateOrError(device, 100, kTagParam);
  ASSERT_TRUE(buffer.ok());
  StatusOr<Buffer> foreign = AllocateOrError(other, 100, kTagParam);
  ASSERT_TRUE(foreign.ok());
  EXPECT_EQ(device.Free(*foreign).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(device.Free(Buffer{}).code(), StatusCode::kInvalidArgument);
  Buffer forged = *buffer;
  forged.bytes = 50;
  EXPECT_EQ(device.Free(forged).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(device.Stats().in_use, 100u);
  ASSERT_TRUE(device.Free(*buffer).ok());
  EXPECT_EQ(device.Free(*buffer).code(), StatusCode::kNotFound);
  std::vector<std::byte> byte(1);
  EXPECT_EQ(device.CopyToHost(BufferRegion::Slice(*buffer, 0, 1), byte).code(),
            StatusCode::kNotFound);
  EXPECT_EQ(device.Stats().in_use, 0u);
  EXPECT_EQ(device.Allocate(1, "").status().code(), StatusCode::kInvalidArgument);
}

TEST(HostDeviceTest, ZeroByteBuffersAreValid) {
  HostDevice device(0, Capacity(0));
  StatusOr<Buffer> empty = AllocateOrError(device, 0, kTagParam);
  ASSERT_TRUE(empty.ok());
  EXPECT_FALSE(empty->is_null());
  EXPECT_TRUE(device.CopyFromHost(BufferRegion::Whole(*empty), {}).ok());
  EXPECT_TRUE(device.CopyToHost(BufferRegion::Whole(*empty), {}).ok());
  EXPECT_TRUE(device.Free(*empty).ok());
}

TEST(HostDeviceTest, CopiesMoveRealBytesAndCheckBounds) {
  HostDevice device(0, Capacity(1 << 20));
  StatusOr<Buffer> buffer = AllocateOrError(device, 8, kTagParam);
  ASSERT_TRUE(buffer.ok());
  // Fresh bytes are the fixed NaN pattern.
  EXPECT_EQ(Read(device, BufferRegion::Whole(*buffer)), std::vector<std::byte>(8, std::byte{0xFF}));

  const std::vector<std::byte> data = Bytes({1, 2, 3, 4});
  ASSERT_TRUE(device.CopyFromHost(BufferRegion::Slice(*buffer, 2, 4), data).ok());
  EXPECT_EQ(Read(device, BufferRegion::Whole(*buffer)),
            Bytes({0xFF, 0xFF, 1, 2, 3, 4, 0xFF, 0xFF}));

  // Overlapping device copy, as if through a temporary.
  ASSERT_TRUE(
      device.Copy(BufferRegion::Slice(*buffer, 3, 4), BufferRegion::Slice(*buffer, 2, 4)).ok());
  EXPECT_EQ(Read(device, BufferRegion::Whole(*buffer)), Bytes({0xFF, 0xFF, 1, 1, 2, 3, 4, 0xFF}));

  EXPECT_EQ(device.CopyFromHost(BufferRegion::Slice(*buffer, 6, 4), data).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(device.CopyFromHost(BufferRegion::Slice(*buffer, 0, 3), data).code(),
            StatusCode::kInvalidArgument);
  std::vector<std::byte> out(4);
  EXPECT_EQ(device.CopyToHost(BufferRegion::Slice(*buffer, ~uint64_t{0}, 4), out).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(
      device.Copy(BufferRegion::Slice(*buffer, 0, 4), BufferRegion::Slice(*buffer, 0, 3)).code(),
      StatusCode::kInvalidArgument);
}

FillRequest ConstantRequest(float value, uint64_t begin, uint64_t end) {
  FillRequest request;
  request.transform.prim = Primitive::kConstant;
  request.transform.p[0] = value;
  request.dtype = DType::kFp32;
  request.begin = begin;
  request.end = end;
  return request;
}

TEST(HostDeviceTest, FillHandsTheRequestToTheFillFunction) {
  HostDeviceOptions options = Capacity(1 << 20);
  std::vector<FillRequest> seen;
  // A stand-in for kernels/: element e of the parameter gets the value e (as float).
  options.fill = [&seen](const FillRequest& request, std::span<std::byte> out) {
    seen.push_back(request);
    for (uint64_t e = request.begin; e < request.end; ++e) {
      const float value = static_cast<float>(e);
      std::memcpy(out.data() + (e - request.begin) * 4, &value, 4);
    }
    return Status::Ok();
  };
  HostDevice device(0, options);
  StatusOr<Buffer> buffer = AllocateOrError(device, 64, kTagParam);
  ASSERT_TRUE(buffer.ok());
  ASSERT_TRUE(device.Fill(BufferRegion::Slice(*buffer, 16, 12), ConstantRequest(0, 100, 103)).ok());
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].begin, 100u);
  std::vector<std::byte> out = Read(device, BufferRegion::Slice(*buffer, 16, 12));
  float values[3];
  std::memcpy(values, out.data(), 12);
  EXPECT_EQ(values[0], 100.0f);
  EXPECT_EQ(values[2], 102.0f);

  // The region must hold exactly the request's bytes; the request must be valid.
  EXPECT_EQ(device.Fill(BufferRegion::Slice(*buffer, 0, 16), ConstantRequest(0, 0, 3)).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(device.Fill(BufferRegion::Slice(*buffer, 0, 0), ConstantRequest(0, 5, 4)).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(seen.size(), 1u);

  HostDevice no_kernels(0, Capacity(1 << 20));
  StatusOr<Buffer> other = AllocateOrError(no_kernels, 16, kTagParam);
  ASSERT_TRUE(other.ok());
  EXPECT_EQ(no_kernels.Fill(BufferRegion::Whole(*other), ConstantRequest(0, 0, 4)).code(),
            StatusCode::kFailedPrecondition);
}

TEST(HostDeviceTest, WithoutBytesItAccountsButStoresNothing) {
  HostDeviceOptions options = Capacity(uint64_t{80} << 30);  // an "80 GB GPU", on any host
  options.holds_bytes = false;
  HostDevice device(7, options);
  EXPECT_FALSE(device.Info().holds_bytes);
  StatusOr<Buffer> params = AllocateOrError(device, uint64_t{60} << 30, kTagParam);
  ASSERT_TRUE(params.ok()) << params.status().ToString();
  StatusOr<Allocation> optim = device.Allocate(uint64_t{30} << 30, kTagOptim);
  ASSERT_TRUE(optim.ok());
  ASSERT_FALSE(optim->fits());
  EXPECT_EQ(optim->oom->in_use, uint64_t{60} << 30);

  const std::vector<std::byte> data(16);
  EXPECT_TRUE(device.CopyFromHost(BufferRegion::Slice(*params, 0, 16), data).ok());
  EXPECT_TRUE(device.Fill(BufferRegion::Slice(*params, 0, 16), ConstantRequest(1, 0, 4)).ok());
  EXPECT_TRUE(
      device.Copy(BufferRegion::Slice(*params, 16, 16), BufferRegion::Slice(*params, 0, 16)).ok());
  std::vector<std::byte> out(16);
  EXPECT_EQ(device.CopyToHost(BufferRegion::Slice(*params, 0, 16), out).code(),
            StatusCode::kFailedPrecondition);
  // Arguments are still checked exactly.
  EXPECT_EQ(device.CopyFromHost(BufferRegion::Slice(*params, params->bytes - 8, 16), data).code(),
            StatusCode::kInvalidArgument);
  EXPECT_TRUE(device.Free(*params).ok());
  EXPECT_EQ(device.Stats().peak, uint64_t{60} << 30);
}

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif

TEST(HostDeviceTest, HostUnableToBackTheBytesIsAnErrorNotACrash) {
  if (kSanitized) GTEST_SKIP() << "sanitizer allocators abort on impossible sizes by default";
  HostDevice device(0, Capacity(~uint64_t{0}));
  StatusOr<Allocation> huge = device.Allocate(uint64_t{1} << 62, kTagParam);
  EXPECT_EQ(huge.status().code(), StatusCode::kResourceExhausted);
  EXPECT_NE(huge.status().message().find("could not back"), std::string::npos);
  EXPECT_EQ(device.Stats().in_use, 0u);
}

TEST(HostDeviceTest, ConcurrentAllocationsKeepTheBooksStraight) {
  HostDevice device(0, Capacity(1 << 20));
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&device] {
      for (int i = 0; i < 300; ++i) {
        StatusOr<Allocation> a = device.Allocate(100 + i, i % 2 ? kTagParam : kTagGrad);
        if (a.ok() && a->fits()) {
          std::vector<std::byte> data(a->buffer.bytes, std::byte{1});
          (void)device.CopyFromHost(BufferRegion::Whole(a->buffer), data);
          (void)device.Free(a->buffer);
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  const MemoryStats stats = device.Stats();
  EXPECT_EQ(stats.in_use, 0u);
  EXPECT_EQ(stats.live_allocations, 0u);
  EXPECT_EQ(stats.Tag(kTagParam).total_allocations + stats.Tag(kTagGrad).total_allocations, 2400u);
}

// --- FaultyDevice ------------------------------------------------------------------------------

using faults::DeviceFaults;
using faults::FaultyDevice;

TEST(FaultyDeviceTest, FailsTheKthAllocationWithAnError) {
  HostDevice host(0, Capacity(1000));
  FaultyDevice device(&host, {.fail_allocation = 2});
  EXPECT_TRUE(device.Allocate(10, kTagParam).ok());
  StatusOr<Allocation> second = device.Allocate(10, kTagParam);
  EXPECT_EQ(second.status().code(), StatusCode::kInternal);
  EXPECT_NE(second.status().message().find("injected fault: allocation #2"), std::string::npos);
  EXPECT_TRUE(device.Allocate(10, kTagParam).ok());
  EXPECT_EQ(device.injected(), 1u);
  EXPECT_EQ(host.Stats().in_use, 20u);
}

TEST(FaultyDeviceTest, InjectedOomReadsLikeARealOne) {
  HostDevice host(4, Capacity(1000));
  FaultyDevice device(
      &host, {.fail_allocation = 2, .allocation_failure = DeviceFaults::AllocationFailure::kOom});
  ASSERT_TRUE(device.Allocate(300, kTagParam).ok());
  StatusOr<Allocation> refused = device.Allocate(10, kTagGrad);
  ASSERT_TRUE(refused.ok());
  ASSERT_FALSE(refused->fits());
  EXPECT_EQ(refused->oom->rank, 4);
  EXPECT_EQ(refused->oom->device, "host:4");
  EXPECT_EQ(refused->oom->in_use, 300u);
  EXPECT_EQ(refused->oom->capacity, 1000u);
  EXPECT_EQ(refused->oom->in_use_by_tag,
            (std::vector<std::pair<std::string, uint64_t>>{{"param", 300}}));
  EXPECT_EQ(host.Stats().in_use, 300u);
}

TEST(FaultyDeviceTest, CorruptsACopyOrTheDeviceBytes) {
  HostDevice host(0, Capacity(1000));
  FaultyDevice device(
      &host, {.corrupt_copy_to_host = 2, .corrupt_offset = 1, .corrupt_mask = std::byte{0x80}});
  StatusOr<Buffer> buffer = AllocateOrError(device, 4, kTagParam);
  ASSERT_TRUE(buffer.ok());
  ASSERT_TRUE(device.CopyFromHost(BufferRegion::Whole(*buffer), Bytes({1, 2, 3, 4})).ok());
  EXPECT_EQ(Read(device, BufferRegion::Whole(*buffer)), Bytes({1, 2, 3, 4}));
  EXPECT_EQ(Read(device, BufferRegion::Whole(*buffer)), Bytes({1, 0x82, 3, 4}));  // bad transfer
  EXPECT_EQ(Read(device, BufferRegion::Whole(*buffer)), Bytes({1, 2, 3, 4}));     // memory intact

  ASSERT_TRUE(device.CorruptByte(*buffer, 3, std::byte{0x01}).ok());
  EXPECT_EQ(Read(host, BufferRegion::Whole(*buffer)), Bytes({1, 2, 3, 5}));
  EXPECT_EQ(device.CorruptByte(*buffer, 4).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(device.injected(), 2u);
}

}  // namespace
}  // namespace twinsim::core
