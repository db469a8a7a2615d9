#include "gpu/chunk_moves.h"

#include <algorithm>

#include "core/fill_request.h"

namespace twinsim::gpu {

StatusOr<std::vector<Transfer>> ReplayTransfers(CudaDevice& device,
                                                std::span<const Transfer> moves) {
  uint64_t largest = 0;
  for (const Transfer& m : moves) {
    largest = std::max(largest, m.cls == TransferClass::kInitKernel
                                    ? m.elements * core::DTypeSize(m.dtype)
                                    : m.bytes);
  }
  TWINSIM_ASSIGN_OR_RETURN(core::Buffer a, core::AllocateOrError(device, largest, "chunk"));
  StatusOr<core::Buffer> b = core::AllocateOrError(device, largest, "chunk");
  if (!b.ok()) {
    (void)device.Free(a);
    return b.status();
  }
  StatusOr<PinnedAllocation> pinned = device.AllocatePinned(largest, "chunk-staging");
  std::vector<Transfer> out;
  Status status = pinned.status();
  if (status.ok() && !pinned->fits()) {
    status = Status::ResourceExhausted(pinned->oom->ToString());
  }
  for (size_t i = 0; status.ok() && i < moves.size(); ++i) {
    const Transfer& m = moves[i];
    Transfer measured = m;
    if (m.cls == TransferClass::kInitKernel) {
      core::FillRequest request;
      request.transform.prim = core::Primitive::kNormal;
      request.transform.p[1] = 1.0f;
      request.dtype = m.dtype;
      request.end = m.elements;
      const core::BufferRegion dst = core::BufferRegion::Slice(a, 0, request.bytes());
      const size_t before = device.transfers().size();
      status = device.Fill(dst, request);
      if (status.ok()) {
        const std::vector<Transfer> log = device.transfers();
        measured.seconds = log.size() > before ? log.back().seconds : 0;
      }
    } else {
      StatusOr<void*> dev_a =
          device.DevicePointer(core::BufferRegion::Slice(a, 0, m.bytes), "replay");
      StatusOr<void*> dev_b =
          device.DevicePointer(core::BufferRegion::Slice(b.value(), 0, m.bytes), "replay");
      status = dev_a.ok() ? dev_b.status() : dev_a.status();
      if (!status.ok()) break;
      void* host = pinned->ptr;
      void* dst = m.cls == TransferClass::kH2D   ? *dev_a
                  : m.cls == TransferClass::kD2H ? host
                                                 : *dev_b;
      const void* src = m.cls == TransferClass::kH2D ? host : *dev_a;
      StatusOr<Transfer> t = device.TimedMemcpy(m.cls, dst, src, m.bytes);
      status = t.status();
      if (t.ok()) measured.seconds = t->seconds;
    }
    out.push_back(measured);
  }
  if (pinned.ok()) (void)device.FreePinned(*pinned);
  (void)device.Free(*b);
  (void)device.Free(a);
  if (!status.ok()) return status;
  return out;
}

}  // namespace twinsim::gpu
