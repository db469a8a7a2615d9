#include "core/host_device.h"

#include <fmt/format.h>

#include <cstring>
#include <new>
#include <stdexcept>
#include <utility>

namespace twinsim::core {
namespace {

std::string ResolveName(int rank, const std::string& name) {
  if (!name.empty()) return name;
  return rank >= 0 ? fmt::format("host:{}", rank) : std::string("host");
}

}  // namespace

HostDevice::HostDevice(int rank, HostDeviceOptions options)
    : rank_(rank),
      options_(std::move(options)),
      name_(ResolveName(rank, options_.name)),
      device_id_(NewDeviceId()),
      ledger_(rank, name_, options_.capacity) {}

HostDevice::~HostDevice() = default;

DeviceInfo HostDevice::Info() const {
  DeviceInfo info;
  info.name = name_;
  info.model = "host";
  info.kind = DeviceKind::kHost;
  info.rank = rank_;
  info.capacity = options_.capacity;
  info.holds_bytes = options_.holds_bytes;
  return info;
}

StatusOr<Allocation> HostDevice::Allocate(uint64_t bytes, std::string_view tag) {
  if (tag.empty()) {
    return Status::InvalidArgument(
        fmt::format("{}: Allocate of {} B with an empty tag", name_, bytes));
  }
  std::lock_guard<std::mutex> lock(mu_);
  Allocation result;
  if (std::optional<OomReport> oom = ledger_.TryCharge(bytes, tag)) {
    result.oom = std::move(oom);
    return result;
  }
  Entry entry;
  entry.bytes = bytes;
  entry.tag = std::string(tag);
  if (options_.holds_bytes && bytes > 0) {
    bool backed = true;
    try {
      entry.data.assign(bytes, static_cast<std::byte>(options_.fresh_byte));
    } catch (const std::bad_alloc&) {
      backed = false;
    } catch (const std::length_error&) {
      backed = false;
    }
    if (!backed) {
      ledger_.Release(bytes, tag);
      return Status::ResourceExhausted(fmt::format(
          "{}: the host could not back an allocation of {} for '{}' with real memory (the "
          "modelled device had room; accounting-only runs use holds_bytes = false)",
          name_, FormatByteSize(bytes), tag));
    }
  }
  const uint64_t id = next_buffer_id_++;
  buffers_.emplace(id, std::move(entry));
  result.buffer = Buffer{device_id_, id, bytes};
  return result;
}

bool HostDevice::WouldFit(uint64_t bytes) const {
  std::lock_guard<std::mutex> lock(mu_);
  return ledger_.WouldFit(bytes);
}

Status HostDevice::Free(const Buffer& buffer) {
  std::lock_guard<std::mutex> lock(mu_);
  StatusOr<Entry*> entry = FindLocked(BufferRegion::Whole(buffer), "Free");
  if (!entry.ok()) return entry.status();
  ledger_.Release((*entry)->bytes, (*entry)->tag);
  buffers_.erase(buffer.id);
  return Status::Ok();
}

StatusOr<std::vector<std::byte>> HostDevice::TakeBytes(const Buffer& buffer) {
  std::lock_guard<std::mutex> lock(mu_);
  StatusOr<Entry*> entry = FindLocked(BufferRegion::Whole(buffer), "TakeBytes");
  if (!entry.ok()) return entry.status();
  std::vector<std::byte> data = std::move((*entry)->data);
  ledger_.Release((*entry)->bytes, (*entry)->tag);
  buffers_.erase(buffer.id);
  return data;
}

StatusOr<HostDevice::Entry*> HostDevice::FindLocked(const BufferRegion& region,
                                                    std::string_view op) {
  const Buffer& buffer = region.buffer;
  if (buffer.is_null()) {
    return Status::InvalidArgument(fmt::format("{}: {} of a null buffer", name_, op));
  }
  if (buffer.device_id != device_id_) {
    return Status::InvalidArgument(fmt::format(
        "{}: {} of buffer #{} that belongs to another device (device id {}, this is {})", name_, op,
        buffer.id, buffer.device_id, device_id_));
  }
  auto it = buffers_.find(buffer.id);
  if (it == buffers_.end()) {
    return Status::NotFound(fmt::format("{}: {} of buffer #{}, which is not live (freed already?)",
                                        name_, op, buffer.id));
  }
  if (it->second.bytes != buffer.bytes) {
    return Status::InvalidArgument(
        fmt::format("{}: {} of buffer #{} with a handle saying {} B; the buffer has {} B", name_,
                    op, buffer.id, buffer.bytes, it->second.bytes));
  }
  if (!region.InBounds()) {
    return Status::InvalidArgument(
        fmt::format("{}: {} of bytes [{}, {}+{}) outside buffer #{} of {} B", name_, op,
                    region.offset, region.offset, region.bytes, buffer.id, buffer.bytes));
  }
  return &it->second;
}

Status HostDevice::CopyFromHost(const BufferRegion& dst, std::span<const std::byte> src) {
  std::lock_guard<std::mutex> lock(mu_);
  StatusOr<Entry*> entry = FindLocked(dst, "CopyFromHost");
  if (!entry.ok()) return entry.status();
  if (dst.bytes != src.size()) {
    return Status::InvalidArgument(fmt::format(
        "{}: CopyFromHost of {} host bytes into a region of {} B", name_, src.size(), dst.bytes));
  }
  if (!(*entry)->data.empty() && !src.empty()) {
    std::memcpy((*entry)->data.data() + dst.offset, src.data(), src.size());
  }
  return Status::Ok();
}

Status HostDevice::CopyToHost(const BufferRegion& src, std::span<std::byte> dst) {
  std::lock_guard<std::mutex> lock(mu_);
  StatusOr<Entry*> entry = FindLocked(src, "CopyToHost");
  if (!entry.ok()) return entry.status();
  if (src.bytes != dst.size()) {
    return Status::InvalidArgument(fmt::format(
        "{}: CopyToHost of a region of {} B into {} host bytes", name_, src.bytes, dst.size()));
  }
  if (!options_.holds_bytes) {
    return Status::FailedPrecondition(
        fmt::format("{}: CopyToHost on a device that holds no bytes (accounting only)", name_));
  }
  if (!dst.empty()) std::memcpy(dst.data(), (*entry)->data.data() + src.offset, dst.size());
  return Status::Ok();
}

Status HostDevice::Copy(const BufferRegion& dst, const BufferRegion& src) {
  std::lock_guard<std::mutex> lock(mu_);
  StatusOr<Entry*> to = FindLocked(dst, "Copy (destination)");
  if (!to.ok()) return to.status();
  StatusOr<Entry*> from = FindLocked(src, "Copy (source)");
  if (!from.ok()) return from.status();
  if (dst.bytes != src.bytes) {
    return Status::InvalidArgument(
        fmt::format("{}: Copy of {} B into a region of {} B", name_, src.bytes, dst.bytes));
  }
  if (options_.holds_bytes && dst.bytes > 0) {
    std::memmove((*to)->data.data() + dst.offset, (*from)->data.data() + src.offset, dst.bytes);
  }
  return Status::Ok();
}

Status HostDevice::Fill(const BufferRegion& dst, const FillRequest& request) {
  TWINSIM_RETURN_IF_ERROR(ValidateFillRequest(request));
  std::lock_guard<std::mutex> lock(mu_);
  StatusOr<Entry*> entry = FindLocked(dst, "Fill");
  if (!entry.ok()) return entry.status();
  if (dst.bytes != request.bytes()) {
    return Status::InvalidArgument(fmt::format("{}: Fill of {} ({} B) into a region of {} B", name_,
                                               request.ToString(), request.bytes(), dst.bytes));
  }
  if (!options_.holds_bytes) return Status::Ok();
  if (!options_.fill) {
    return Status::FailedPrecondition(fmt::format(
        "{}: Fill needs a fill implementation (HostDeviceOptions::fill; kernels/ provides it)",
        name_));
  }
  std::span<std::byte> out;
  if (dst.bytes > 0) out = std::span<std::byte>((*entry)->data.data() + dst.offset, dst.bytes);
  return options_.fill(request, out);
}

MemoryStats HostDevice::Stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return ledger_.Stats();
}

}  // namespace twinsim::core
