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
      ledger_(rank, name_, options_.capacity),
      buffers_(name_, device_id_) {}

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
  TWINSIM_RETURN_IF_ERROR(CheckAllocateTag(name_, bytes, tag));
  std::lock_guard<std::mutex> lock(mu_);
  Allocation result;
  if (std::optional<OomReport> oom = ledger_.TryCharge(bytes, tag)) {
    result.oom = std::move(oom);
    return result;
  }
  std::vector<std::byte> data;
  if (options_.holds_bytes && bytes > 0) {
    bool backed = true;
    try {
      data.assign(bytes, static_cast<std::byte>(options_.fresh_byte));
    } catch (const std::bad_alloc&) {
      backed = false;
    } catch (const std::length_error&) {
      backed = false;
    }
    if (!backed) {
      ledger_.Release(bytes, tag);
      return HostCannotBack(name_, bytes, tag, "accounting-only runs use holds_bytes = false");
    }
  }
  result.buffer = buffers_.Add(bytes, std::string(tag), std::move(data));
  return result;
}

bool HostDevice::WouldFit(uint64_t bytes) const {
  std::lock_guard<std::mutex> lock(mu_);
  return ledger_.WouldFit(bytes);
}

Status HostDevice::Free(const Buffer& buffer) {
  std::lock_guard<std::mutex> lock(mu_);
  StatusOr<Entry*> entry = buffers_.Find(BufferRegion::Whole(buffer), "Free");
  if (!entry.ok()) return entry.status();
  ledger_.Release((*entry)->bytes, (*entry)->tag);
  buffers_.Remove(buffer);
  return Status::Ok();
}

StatusOr<std::vector<std::byte>> HostDevice::TakeBytes(const Buffer& buffer) {
  std::lock_guard<std::mutex> lock(mu_);
  StatusOr<Entry*> entry = buffers_.Find(BufferRegion::Whole(buffer), "TakeBytes");
  if (!entry.ok()) return entry.status();
  std::vector<std::byte> data = std::move((*entry)->data);
  ledger_.Release((*entry)->bytes, (*entry)->tag);
  buffers_.Remove(buffer);
  return data;
}

Status HostDevice::CopyFromHost(const BufferRegion& dst, std::span<const std::byte> src) {
  std::lock_guard<std::mutex> lock(mu_);
  StatusOr<Entry*> entry = buffers_.Find(dst, "CopyFromHost");
  if (!entry.ok()) return entry.status();
  // Without bytes, an empty `src` stands for bits the caller did not compute.
  const bool uncomputed = src.empty() && !options_.holds_bytes;
  if (!uncomputed) TWINSIM_RETURN_IF_ERROR(CheckCopyFromHostSize(name_, dst, src.size()));
  if (!(*entry)->data.empty() && !src.empty()) {
    std::memcpy((*entry)->data.data() + dst.offset, src.data(), src.size());
  }
  return Status::Ok();
}

Status HostDevice::CopyToHost(const BufferRegion& src, std::span<std::byte> dst) {
  std::lock_guard<std::mutex> lock(mu_);
  StatusOr<Entry*> entry = buffers_.Find(src, "CopyToHost");
  if (!entry.ok()) return entry.status();
  // Without bytes, an empty `dst` asks for the copy's cost only (Note [Devices without bytes]).
  if (!options_.holds_bytes && dst.empty()) return Status::Ok();
  TWINSIM_RETURN_IF_ERROR(CheckCopyToHostSize(name_, src, dst.size()));
  if (!options_.holds_bytes) return NoBytesToCopy(name_, "accounting only");
  if (!dst.empty()) std::memcpy(dst.data(), (*entry)->data.data() + src.offset, dst.size());
  return Status::Ok();
}

Status HostDevice::Copy(const BufferRegion& dst, const BufferRegion& src) {
  std::lock_guard<std::mutex> lock(mu_);
  StatusOr<Entry*> to = buffers_.Find(dst, "Copy (destination)");
  if (!to.ok()) return to.status();
  StatusOr<Entry*> from = buffers_.Find(src, "Copy (source)");
  if (!from.ok()) return from.status();
  TWINSIM_RETURN_IF_ERROR(CheckCopySizes(name_, dst, src));
  if (options_.holds_bytes && dst.bytes > 0) {
    std::memmove((*to)->data.data() + dst.offset, (*from)->data.data() + src.offset, dst.bytes);
  }
  return Status::Ok();
}

Status HostDevice::Fill(const BufferRegion& dst, const FillRequest& request) {
  TWINSIM_RETURN_IF_ERROR(ValidateFillRequest(request));
  std::lock_guard<std::mutex> lock(mu_);
  StatusOr<Entry*> entry = buffers_.Find(dst, "Fill");
  if (!entry.ok()) return entry.status();
  TWINSIM_RETURN_IF_ERROR(CheckFillSize(name_, dst, request));
  if (!options_.holds_bytes) return Status::Ok();
  if (!options_.fill) return NoFillFunction(name_, "HostDeviceOptions::fill");
  std::span<std::byte> out;
  if (dst.bytes > 0) out = std::span<std::byte>((*entry)->data.data() + dst.offset, dst.bytes);
  return options_.fill(request, out);
}

MemoryStats HostDevice::Stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return ledger_.Stats();
}

}  // namespace twinsim::core
