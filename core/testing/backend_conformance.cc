#include "core/testing/backend_conformance.h"

#include <gtest/gtest.h>

#include <cstring>
#include <numeric>
#include <string>

namespace twinsim::core::conformance {
namespace {

std::vector<std::byte> Pattern(uint64_t n, int salt) {
  std::vector<std::byte> out(n);
  for (uint64_t i = 0; i < n; ++i) out[i] = static_cast<std::byte>((i * 131 + salt * 7 + 1) & 0xff);
  return out;
}

std::unique_ptr<Device> Make(const DeviceFactory& make, uint64_t capacity) {
  StatusOr<std::unique_ptr<Device>> device = make(capacity);
  EXPECT_TRUE(device.ok()) << device.status().ToString();
  return device.ok() ? std::move(device).value() : nullptr;
}

std::vector<std::byte> Read(Device& device, const BufferRegion& region) {
  std::vector<std::byte> out(region.bytes);
  const Status s = device.CopyToHost(region, out);
  EXPECT_TRUE(s.ok()) << s.ToString();
  return out;
}

}  // namespace

void CheckAllocationAndOom(const DeviceFactory& make) {
  std::unique_ptr<Device> device = Make(make, 1 << 20);
  ASSERT_NE(device, nullptr);
  EXPECT_EQ(device->Info().capacity, uint64_t{1} << 20);
  StatusOr<Allocation> a = device->Allocate(600 << 10, kTagParam);
  ASSERT_TRUE(a.ok() && a->fits()) << a.status().ToString();
  EXPECT_TRUE(device->WouldFit(424 << 10));
  EXPECT_FALSE(device->WouldFit((424 << 10) + 1));
  StatusOr<Allocation> b = device->Allocate(500 << 10, kTagOptim);
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  ASSERT_FALSE(b->fits());
  EXPECT_EQ(b->oom->requested, uint64_t{500} << 10);
  EXPECT_EQ(b->oom->in_use, uint64_t{600} << 10);
  EXPECT_EQ(b->oom->capacity, uint64_t{1} << 20);
  EXPECT_EQ(b->oom->tag, kTagOptim);
  EXPECT_EQ(b->oom->device, device->Info().name);
  StatusOr<Allocation> zero = device->Allocate(0, kTagParam);
  ASSERT_TRUE(zero.ok() && zero->fits());
  EXPECT_FALSE(zero->buffer.is_null());
  EXPECT_EQ(device->Allocate(1, "").status().code(), StatusCode::kInvalidArgument);
  MemoryStats stats = device->Stats();
  EXPECT_EQ(stats.in_use, uint64_t{600} << 10);
  EXPECT_EQ(stats.oom_count, 1u);
  EXPECT_TRUE(device->Free(a->buffer).ok());
  EXPECT_TRUE(device->Free(zero->buffer).ok());
  EXPECT_EQ(device->Stats().in_use, 0u);
  EXPECT_EQ(device->Stats().peak, uint64_t{600} << 10);
  StatusOr<Allocation> again = device->Allocate(1 << 20, kTagParam);
  ASSERT_TRUE(again.ok() && again->fits()) << "freed bytes must be reusable";
  EXPECT_TRUE(device->Free(again->buffer).ok());
}

void CheckBadHandles(const DeviceFactory& make) {
  std::unique_ptr<Device> one = Make(make, 1 << 20);
  std::unique_ptr<Device> two = Make(make, 1 << 20);
  ASSERT_NE(one, nullptr);
  ASSERT_NE(two, nullptr);
  StatusOr<Buffer> mine = AllocateOrError(*one, 256, kTagParam);
  StatusOr<Buffer> theirs = AllocateOrError(*two, 256, kTagParam);
  ASSERT_TRUE(mine.ok() && theirs.ok());
  std::vector<std::byte> host(256);
  EXPECT_EQ(one->CopyToHost(BufferRegion::Whole(*theirs), host).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(one->Free(Buffer{}).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(
      one->CopyToHost(BufferRegion::Slice(*mine, 200, 100), std::span(host).first(100)).code(),
      StatusCode::kInvalidArgument);
  EXPECT_EQ(one->CopyFromHost(BufferRegion::Whole(*mine), std::span(host).first(255)).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(one->Copy(BufferRegion::Slice(*mine, 0, 10), BufferRegion::Slice(*mine, 0, 11)).code(),
            StatusCode::kInvalidArgument);
  ASSERT_TRUE(one->Free(*mine).ok());
  EXPECT_EQ(one->Free(*mine).code(), StatusCode::kNotFound);
  EXPECT_EQ(one->CopyToHost(BufferRegion::Whole(*mine), host).code(), StatusCode::kNotFound);
  EXPECT_EQ(one->Stats().in_use, 0u);
  EXPECT_TRUE(two->Free(*theirs).ok());
}

void CheckCopies(const DeviceFactory& make) {
  std::unique_ptr<Device> device = Make(make, 8 << 20);
  ASSERT_NE(device, nullptr);
  constexpr uint64_t kBytes = (3 << 20) + 13;  // not a multiple of anything convenient
  StatusOr<Buffer> a = AllocateOrError(*device, kBytes, kTagParam);
  StatusOr<Buffer> b = AllocateOrError(*device, kBytes, kTagParam);
  ASSERT_TRUE(a.ok() && b.ok());
  const std::vector<std::byte> fresh = Read(*device, BufferRegion::Slice(*a, 0, 64));
  for (std::byte x : fresh) ASSERT_EQ(x, std::byte{0xFF}) << "fresh bytes are 0xFF everywhere";
  const std::vector<std::byte> data = Pattern(kBytes, 1);
  ASSERT_TRUE(device->CopyFromHost(BufferRegion::Whole(*a), data).ok());
  EXPECT_EQ(Read(*device, BufferRegion::Whole(*a)), data);
  const std::vector<std::byte> part = Pattern(1000, 2);
  ASSERT_TRUE(device->CopyFromHost(BufferRegion::Slice(*a, 777, 1000), part).ok());
  EXPECT_EQ(Read(*device, BufferRegion::Slice(*a, 777, 1000)), part);
  EXPECT_EQ(Read(*device, BufferRegion::Slice(*a, 0, 777)),
            std::vector<std::byte>(data.begin(), data.begin() + 777));
  ASSERT_TRUE(device->Copy(BufferRegion::Whole(*b), BufferRegion::Whole(*a)).ok());
  EXPECT_EQ(Read(*device, BufferRegion::Whole(*b)), Read(*device, BufferRegion::Whole(*a)));
  // Overlapping ranges copy as if through a temporary.
  std::vector<std::byte> expect = Read(*device, BufferRegion::Slice(*b, 0, 5000));
  ASSERT_TRUE(
      device->Copy(BufferRegion::Slice(*b, 100, 4900), BufferRegion::Slice(*b, 0, 4900)).ok());
  std::memmove(expect.data() + 100, expect.data(), 4900);
  EXPECT_EQ(Read(*device, BufferRegion::Slice(*b, 0, 5000)), expect);
  EXPECT_TRUE(device->Free(*a).ok());
  EXPECT_TRUE(device->Free(*b).ok());
}

void CheckFillMatches(const DeviceFactory& make, const FillFunction& reference) {
  std::unique_ptr<Device> device = Make(make, 16 << 20);
  ASSERT_NE(device, nullptr);
  for (DType dtype : {DType::kFp32, DType::kBf16, DType::kFp16}) {
    for (uint64_t rows : {uint64_t{1}, uint64_t{5}}) {
      FillRequest request;
      request.key[0] = 0x1234abcd;
      request.key[1] = 0x5678ef01;
      request.draw = 1;
      request.transform.prim = Primitive::kNormal;
      request.transform.p[1] = 0.02f;
      request.dtype = dtype;
      request.begin = 3;
      request.end = 3 + 100'003;
      request.rows = rows;
      request.row_stride = rows > 1 ? 300'000 : 0;
      std::vector<std::byte> want(request.bytes());
      ASSERT_TRUE(reference(request, want).ok());
      StatusOr<Buffer> buffer = AllocateOrError(*device, request.bytes() + 8, kTagParam);
      ASSERT_TRUE(buffer.ok());
      const BufferRegion dst = BufferRegion::Slice(*buffer, 8, request.bytes());
      const Status s = device->Fill(dst, request);
      ASSERT_TRUE(s.ok()) << s.ToString();
      EXPECT_EQ(Read(*device, dst), want) << DTypeName(dtype) << " rows " << rows;
      EXPECT_EQ(device->Fill(BufferRegion::Slice(*buffer, 0, 8), request).code(),
                StatusCode::kInvalidArgument);
      EXPECT_TRUE(device->Free(*buffer).ok());
    }
  }
}

void CheckPointToPoint(const RankRunner& run, int world) {
  constexpr uint64_t kBytes = 4099;
  std::vector<std::vector<std::byte>> got(world);
  std::vector<TrafficStats> traffic(world);
  const std::vector<Status> statuses = run(world, [&](int rank, Comm& comm, Device& device) {
    const int n = comm.size();
    TWINSIM_ASSIGN_OR_RETURN(Buffer send, AllocateOrError(device, kBytes, kTagComm));
    TWINSIM_ASSIGN_OR_RETURN(Buffer recv, AllocateOrError(device, kBytes, kTagComm));
    TWINSIM_RETURN_IF_ERROR(device.CopyFromHost(BufferRegion::Whole(send), Pattern(kBytes, rank)));
    // A ring shift by one, then a plain pair exchange 0 -> n-1.
    TWINSIM_RETURN_IF_ERROR(comm.SendRecv((rank + 1) % n, BufferRegion::Whole(send),
                                          (rank + n - 1) % n, BufferRegion::Whole(recv), 3));
    if (n > 1 && rank == 0) TWINSIM_RETURN_IF_ERROR(comm.Send(n - 1, BufferRegion::Whole(send), 4));
    if (n > 1 && rank == n - 1) {
      TWINSIM_RETURN_IF_ERROR(comm.Recv(0, BufferRegion::Slice(recv, 0, kBytes), 4));
    }
    got[rank].resize(kBytes);
    TWINSIM_RETURN_IF_ERROR(device.CopyToHost(BufferRegion::Whole(recv), got[rank]));
    traffic[rank] = comm.traffic();
    TWINSIM_RETURN_IF_ERROR(device.Free(send));
    return device.Free(recv);
  });
  ASSERT_EQ(statuses.size(), static_cast<size_t>(world));
  for (int r = 0; r < world; ++r) ASSERT_TRUE(statuses[r].ok()) << statuses[r].ToString();
  for (int r = 0; r < world; ++r) {
    const int from = world > 1 && r == world - 1 ? 0 : (r + world - 1) % world;
    EXPECT_EQ(got[r], Pattern(kBytes, from)) << "rank " << r;
  }
  if (world > 1) {
    EXPECT_EQ(traffic[0].Peer(world - 1).bytes_sent,
              world == 2 ? 2 * kBytes : kBytes);  // the pair send (and the ring when n == 2)
    EXPECT_EQ(traffic[0].Peer(1).bytes_sent, world == 2 ? 2 * kBytes : kBytes);
  }
}

void CheckCollectives(const RankRunner& run, int world) {
  std::vector<std::vector<std::byte>> bcast(world), gathered(world);
  std::vector<std::vector<float>> reduced(world);
  std::vector<uint64_t> counts(world);
  for (int r = 0; r < world; ++r) counts[r] = 4 * (r + 1) + 12;  // uneven, multiples of 4
  const uint64_t total = std::accumulate(counts.begin(), counts.end(), uint64_t{0});
  std::vector<TrafficStats> traffic(world);
  const std::vector<Status> statuses = run(world, [&](int rank, Comm& comm, Device& device) {
    const int n = comm.size();
    TWINSIM_ASSIGN_OR_RETURN(Buffer b, AllocateOrError(device, 1000, kTagComm));
    if (rank == n - 1) {
      TWINSIM_RETURN_IF_ERROR(device.CopyFromHost(BufferRegion::Whole(b), Pattern(1000, 9)));
    }
    TWINSIM_RETURN_IF_ERROR(comm.Broadcast(n - 1, BufferRegion::Whole(b)));
    bcast[rank].resize(1000);
    TWINSIM_RETURN_IF_ERROR(device.CopyToHost(BufferRegion::Whole(b), bcast[rank]));

    TWINSIM_ASSIGN_OR_RETURN(Buffer send, AllocateOrError(device, counts[rank], kTagComm));
    TWINSIM_ASSIGN_OR_RETURN(Buffer recv, AllocateOrError(device, total, kTagComm));
    TWINSIM_RETURN_IF_ERROR(
        device.CopyFromHost(BufferRegion::Whole(send), Pattern(counts[rank], rank)));
    TWINSIM_RETURN_IF_ERROR(
        comm.AllGather(BufferRegion::Whole(send), BufferRegion::Whole(recv), counts));
    gathered[rank].resize(total);
    TWINSIM_RETURN_IF_ERROR(device.CopyToHost(BufferRegion::Whole(recv), gathered[rank]));

    // Small integers: exact in fp32 whatever the order of the sum.
    std::vector<float> values(total / 4);
    for (size_t i = 0; i < values.size(); ++i) values[i] = static_cast<float>(rank * 100 + i);
    TWINSIM_RETURN_IF_ERROR(device.CopyFromHost(BufferRegion::Whole(recv),
                                                std::as_bytes(std::span<const float>(values))));
    TWINSIM_RETURN_IF_ERROR(comm.ReduceScatterSum(
        BufferRegion::Whole(recv), BufferRegion::Slice(send, 0, counts[rank]), counts));
    reduced[rank].resize(counts[rank] / 4);
    TWINSIM_RETURN_IF_ERROR(device.CopyToHost(BufferRegion::Whole(send),
                                              std::as_writable_bytes(std::span(reduced[rank]))));
    TWINSIM_RETURN_IF_ERROR(comm.Barrier());
    traffic[rank] = comm.traffic();
    for (Buffer x : {b, send, recv}) TWINSIM_RETURN_IF_ERROR(device.Free(x));
    return Status::Ok();
  });
  ASSERT_EQ(statuses.size(), static_cast<size_t>(world));
  for (int r = 0; r < world; ++r) ASSERT_TRUE(statuses[r].ok()) << statuses[r].ToString();
  std::vector<std::byte> want_gather;
  for (int r = 0; r < world; ++r) {
    const std::vector<std::byte> p = Pattern(counts[r], r);
    want_gather.insert(want_gather.end(), p.begin(), p.end());
  }
  uint64_t begin = 0;
  for (int r = 0; r < world; ++r) {
    EXPECT_EQ(bcast[r], Pattern(1000, 9)) << "rank " << r;
    EXPECT_EQ(gathered[r], want_gather) << "rank " << r;
    for (size_t i = 0; i < reduced[r].size(); ++i) {
      float want = 0;
      for (int q = 0; q < world; ++q) want += static_cast<float>(q * 100 + begin / 4 + i);
      ASSERT_EQ(reduced[r][i], want) << "rank " << r << " element " << i;
    }
    begin += counts[r];
    EXPECT_EQ(traffic[r].collective_calls(), 4u);
  }
}

}  // namespace twinsim::core::conformance
