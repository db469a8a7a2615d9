#include "sim/sim_device.h"

#include <fmt/format.h>

#include <cstring>
#include <exception>
#include <new>
#include <utility>

namespace twinsim::sim {

namespace sg4 = simgrid::s4u;

namespace {

std::string ResolveName(const std::string& name, const SimCluster& cluster, int rank) {
  if (!name.empty()) return name;
  return "sim:" + cluster.gpu(rank)->get_name();
}

}  // namespace

SimDevice::SimDevice(int rank, SimDeviceOptions options, SimCluster* cluster)
    : rank_(rank),
      options_(std::move(options)),
      cluster_(cluster),
      name_(ResolveName(options_.name, *cluster, rank)),
      device_id_(core::NewDeviceId()),
      ledger_(rank, name_, options_.capacity) {}

SimDevice::~SimDevice() = default;

core::DeviceInfo SimDevice::Info() const {
  core::DeviceInfo info;
  info.name = name_;
  info.model = options_.model;
  info.kind = core::DeviceKind::kSim;
  info.rank = rank_;
  info.capacity = options_.capacity;
  info.holds_bytes = options_.holds_bytes;
  return info;
}

void SimDevice::TraceMemory() {
  TraceLog& trace = cluster_->trace();
  if (!trace.enabled()) return;
  std::vector<std::pair<std::string, double>> series;
  for (const core::TagUsage& usage : ledger_.Stats().by_tag) {
    series.emplace_back(usage.tag, static_cast<double>(usage.in_use));
  }
  trace.Counter(rank_, "memory (bytes)", cluster_->Now(), std::move(series));
}

StatusOr<core::Allocation> SimDevice::Allocate(uint64_t bytes, std::string_view tag) {
  if (tag.empty()) {
    return Status::InvalidArgument(
        fmt::format("{}: Allocate of {} B with an empty tag", name_, bytes));
  }
  core::Allocation result;
  if (std::optional<core::OomReport> oom = ledger_.TryCharge(bytes, tag)) {
    cluster_->trace().Instant(
        rank_, TraceTrack::kDevice, "out of memory", cluster_->Now(),
        {TraceArg::Str("tag", std::string(tag)), TraceArg::Num("requested", bytes),
         TraceArg::Num("in_use", oom->in_use), TraceArg::Num("capacity", oom->capacity)});
    result.oom = std::move(oom);
    return result;
  }
  Entry entry;
  entry.bytes = bytes;
  entry.tag = std::string(tag);
  if (options_.holds_bytes && bytes > 0) {
    entry.data.reset(new (std::nothrow) std::byte[bytes]);
    if (entry.data == nullptr) {
      ledger_.Release(bytes, tag);
      return Status::ResourceExhausted(fmt::format(
          "{}: the host could not back an allocation of {} for '{}' with real memory (the "
          "modelled device had room; timing-only runs hold no bytes)",
          name_, core::FormatByteSize(bytes), tag));
    }
    std::memset(entry.data.get(), static_cast<int>(options_.fresh_byte), bytes);
  }
  const uint64_t id = next_buffer_id_++;
  buffers_.emplace(id, std::move(entry));
  result.buffer = core::Buffer{device_id_, id, bytes};
  TraceMemory();
  return result;
}

bool SimDevice::WouldFit(uint64_t bytes) const { return ledger_.WouldFit(bytes); }

StatusOr<SimDevice::Entry*> SimDevice::Find(const core::BufferRegion& region,
                                            std::string_view op) const {
  const core::Buffer& buffer = region.buffer;
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
  return const_cast<Entry*>(&it->second);
}

Status SimDevice::Free(const core::Buffer& buffer) {
  StatusOr<Entry*> entry = Find(core::BufferRegion::Whole(buffer), "Free");
  if (!entry.ok()) return entry.status();
  ledger_.Release((*entry)->bytes, (*entry)->tag);
  buffers_.erase(buffer.id);
  TraceMemory();
  return Status::Ok();
}

Status SimDevice::CopyFromHost(const core::BufferRegion& dst, std::span<const std::byte> src) {
  StatusOr<Entry*> entry = Find(dst, "CopyFromHost");
  if (!entry.ok()) return entry.status();
  if (dst.bytes != src.size()) {
    return Status::InvalidArgument(fmt::format(
        "{}: CopyFromHost of {} host bytes into a region of {} B", name_, src.size(), dst.bytes));
  }
  if ((*entry)->data != nullptr && !src.empty()) {
    std::memcpy((*entry)->data.get() + dst.offset, src.data(), src.size());
  }
  if (dst.bytes == 0) return Status::Ok();
  const double start = cluster_->Now();
  TWINSIM_RETURN_IF_ERROR(
      cluster_->MoveBytes(rank_, cluster_->cpu(rank_), cluster_->gpu(rank_), dst.bytes));
  cluster_->trace().Span(rank_, TraceTrack::kDevice, "copy host->device", start, cluster_->Now(),
                         {TraceArg::Num("bytes", dst.bytes)});
  return Status::Ok();
}

Status SimDevice::CopyToHost(const core::BufferRegion& src, std::span<std::byte> dst) {
  StatusOr<Entry*> entry = Find(src, "CopyToHost");
  if (!entry.ok()) return entry.status();
  if (src.bytes != dst.size()) {
    return Status::InvalidArgument(fmt::format(
        "{}: CopyToHost of a region of {} B into {} host bytes", name_, src.bytes, dst.size()));
  }
  if (!options_.holds_bytes) {
    return Status::FailedPrecondition(
        fmt::format("{}: CopyToHost on a device that holds no bytes (timing-only)", name_));
  }
  if (!dst.empty()) std::memcpy(dst.data(), (*entry)->data.get() + src.offset, dst.size());
  if (src.bytes == 0) return Status::Ok();
  const double start = cluster_->Now();
  TWINSIM_RETURN_IF_ERROR(
      cluster_->MoveBytes(rank_, cluster_->gpu(rank_), cluster_->cpu(rank_), src.bytes));
  cluster_->trace().Span(rank_, TraceTrack::kDevice, "copy device->host", start, cluster_->Now(),
                         {TraceArg::Num("bytes", src.bytes)});
  return Status::Ok();
}

Status SimDevice::Copy(const core::BufferRegion& dst, const core::BufferRegion& src) {
  StatusOr<Entry*> to = Find(dst, "Copy (destination)");
  if (!to.ok()) return to.status();
  StatusOr<Entry*> from = Find(src, "Copy (source)");
  if (!from.ok()) return from.status();
  if (dst.bytes != src.bytes) {
    return Status::InvalidArgument(
        fmt::format("{}: Copy of {} B into a region of {} B", name_, src.bytes, dst.bytes));
  }
  if (options_.holds_bytes && dst.bytes > 0) {
    std::memmove((*to)->data.get() + dst.offset, (*from)->data.get() + src.offset, dst.bytes);
  }
  if (dst.bytes == 0) return Status::Ok();
  // Note [Device time model]: read and write.
  const double start = cluster_->Now();
  try {
    sg4::this_actor::sleep_for(2.0 * static_cast<double>(dst.bytes) /
                               options_.hbm_bandwidth_bytes_per_s);
  } catch (const std::exception& e) {
    return Status::Internal(fmt::format("{}: SimGrid failed a device copy: {}", name_, e.what()));
  }
  cluster_->trace().Span(rank_, TraceTrack::kDevice, "copy device->device", start, cluster_->Now(),
                         {TraceArg::Num("bytes", dst.bytes)});
  return Status::Ok();
}

Status SimDevice::Fill(const core::BufferRegion& dst, const core::FillRequest& request) {
  TWINSIM_RETURN_IF_ERROR(core::ValidateFillRequest(request));
  StatusOr<Entry*> entry = Find(dst, "Fill");
  if (!entry.ok()) return entry.status();
  if (dst.bytes != request.bytes()) {
    return Status::InvalidArgument(fmt::format("{}: Fill of {} ({} B) into a region of {} B", name_,
                                               request.ToString(), request.bytes(), dst.bytes));
  }
  if (options_.holds_bytes) {
    if (!options_.fill) {
      return Status::FailedPrecondition(fmt::format(
          "{}: Fill needs a fill implementation (SimDeviceOptions::fill; kernels/ provides it)",
          name_));
    }
    std::span<std::byte> out;
    if (dst.bytes > 0) out = std::span<std::byte>((*entry)->data.get() + dst.offset, dst.bytes);
    TWINSIM_RETURN_IF_ERROR(options_.fill(request, out));
  }
  if (request.elements() == 0) return Status::Ok();
  // Note [Device time model]: one flop per element on the GPU host.
  const double start = cluster_->Now();
  try {
    sg4::Exec::init()
        ->set_flops_amount(static_cast<double>(request.elements()))
        ->set_host(cluster_->gpu(rank_))
        ->start()
        ->wait();
  } catch (const std::exception& e) {
    return Status::Internal(fmt::format("{}: SimGrid failed an init kernel: {}", name_, e.what()));
  }
  cluster_->trace().Span(rank_, TraceTrack::kDevice,
                         fmt::format("init {}", core::PrimitiveName(request.transform.prim)), start,
                         cluster_->Now(),
                         {TraceArg::Num("elements", static_cast<double>(request.elements())),
                          TraceArg::Num("bytes", static_cast<double>(request.bytes())),
                          TraceArg::Num("first_element", static_cast<double>(request.begin))});
  return Status::Ok();
}

core::MemoryStats SimDevice::Stats() const { return ledger_.Stats(); }

Status SimDevice::CheckRegion(const core::BufferRegion& region, std::string_view op) const {
  return Find(region, op).status();
}

StatusOr<std::vector<std::byte>> SimDevice::ReadRegion(const core::BufferRegion& region,
                                                       std::string_view op) const {
  StatusOr<Entry*> entry = Find(region, op);
  if (!entry.ok()) return entry.status();
  std::vector<std::byte> out;
  if (options_.holds_bytes && region.bytes > 0) {
    out.assign((*entry)->data.get() + region.offset,
               (*entry)->data.get() + region.offset + region.bytes);
  }
  return out;
}

Status SimDevice::WriteRegion(const core::BufferRegion& region, std::span<const std::byte> data,
                              std::string_view op) {
  StatusOr<Entry*> entry = Find(region, op);
  if (!entry.ok()) return entry.status();
  if (!options_.holds_bytes) return Status::Ok();
  if (data.size() != region.bytes) {
    return Status::InvalidArgument(
        fmt::format("{}: {} of {} B into a region of {} B", name_, op, data.size(), region.bytes));
  }
  if (!data.empty()) std::memcpy((*entry)->data.get() + region.offset, data.data(), data.size());
  return Status::Ok();
}

}  // namespace twinsim::sim
