#include "core/buffer_table.h"

#include <fmt/format.h>

#include "core/memory_ledger.h"

namespace twinsim::core {

Status CheckBufferRegion(std::string_view device, uint64_t device_id, const BufferRegion& region,
                         std::string_view op, const uint64_t* live_bytes) {
  const Buffer& buffer = region.buffer;
  if (buffer.is_null()) {
    return Status::InvalidArgument(fmt::format("{}: {} of a null buffer", device, op));
  }
  if (buffer.device_id != device_id) {
    return Status::InvalidArgument(fmt::format(
        "{}: {} of buffer #{} that belongs to another device (device id {}, this is {})", device,
        op, buffer.id, buffer.device_id, device_id));
  }
  if (live_bytes == nullptr) {
    return Status::NotFound(fmt::format("{}: {} of buffer #{}, which is not live (freed already?)",
                                        device, op, buffer.id));
  }
  if (*live_bytes != buffer.bytes) {
    return Status::InvalidArgument(
        fmt::format("{}: {} of buffer #{} with a handle saying {} B; the buffer has {} B", device,
                    op, buffer.id, buffer.bytes, *live_bytes));
  }
  if (!region.InBounds()) {
    return Status::InvalidArgument(
        fmt::format("{}: {} of bytes [{}, {}+{}) outside buffer #{} of {} B", device, op,
                    region.offset, region.offset, region.bytes, buffer.id, buffer.bytes));
  }
  return Status::Ok();
}

Status CheckAllocateTag(std::string_view device, uint64_t bytes, std::string_view tag) {
  if (!tag.empty()) return Status::Ok();
  return Status::InvalidArgument(
      fmt::format("{}: Allocate of {} B with an empty tag", device, bytes));
}

Status CheckCopyFromHostSize(std::string_view device, const BufferRegion& dst,
                             uint64_t host_bytes) {
  if (dst.bytes == host_bytes) return Status::Ok();
  return Status::InvalidArgument(fmt::format(
      "{}: CopyFromHost of {} host bytes into a region of {} B", device, host_bytes, dst.bytes));
}

Status CheckCopyToHostSize(std::string_view device, const BufferRegion& src, uint64_t host_bytes) {
  if (src.bytes == host_bytes) return Status::Ok();
  return Status::InvalidArgument(fmt::format(
      "{}: CopyToHost of a region of {} B into {} host bytes", device, src.bytes, host_bytes));
}

Status CheckCopySizes(std::string_view device, const BufferRegion& dst, const BufferRegion& src) {
  if (dst.bytes == src.bytes) return Status::Ok();
  return Status::InvalidArgument(
      fmt::format("{}: Copy of {} B into a region of {} B", device, src.bytes, dst.bytes));
}

Status CheckFillSize(std::string_view device, const BufferRegion& dst,
                     const FillRequest& request) {
  if (dst.bytes == request.bytes()) return Status::Ok();
  return Status::InvalidArgument(fmt::format("{}: Fill of {} ({} B) into a region of {} B", device,
                                             request.ToString(), request.bytes(), dst.bytes));
}

Status NoBytesToCopy(std::string_view device, std::string_view why) {
  return Status::FailedPrecondition(
      fmt::format("{}: CopyToHost on a device that holds no bytes ({})", device, why));
}

Status NoFillFunction(std::string_view device, std::string_view option) {
  return Status::FailedPrecondition(fmt::format(
      "{}: Fill needs a fill implementation ({}; kernels/ provides it)", device, option));
}

Status HostCannotBack(std::string_view device, uint64_t bytes, std::string_view tag,
                      std::string_view hint) {
  return Status::ResourceExhausted(fmt::format(
      "{}: the host could not back an allocation of {} for '{}' with real memory (the "
      "modelled device had room; {})",
      device, FormatByteSize(bytes), tag, hint));
}

}  // namespace twinsim::core
