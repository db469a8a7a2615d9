#include "sim/sim_device.h"

#include <fmt/format.h>

#include <simgrid/simix.hpp>

#include <algorithm>
#include <array>
#include <cmath>
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
      ledger_(rank, name_, options_.capacity),
      buffers_(name_, device_id_) {}

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

// Note [Cost of a simulated op]
// -----------------------------
// At 16,384 ranks a timing-only init makes millions of Execs (one per Fill or init kernel), so
// what each costs in simcalls and in twinsim's own bookkeeping weighs (issue 15). Two habits
// keep it down without touching what is simulated:
//   - Every s4u setter called from an actor is a simcall (a context switch to maestro and back,
//     simgrid/simix.hpp). Setting the flops and the host and starting the Exec in one
//     simcall_answered, where the setters take maestro's fast path, leaves one answered and one
//     blocking simcall per Exec instead of three and one. Nothing else happens in between:
//     answered simcalls take no simulated time, the Exec starts at the same date with the same
//     flops on the same host, and the Execs of all ranks start in the same order relative to
//     each other (every rank's start moves two scheduling sub-rounds earlier), so simulated
//     times are the same bits (sim_device_test ExecsEndWhenThePlainSetterChainEnds).
//   - The trace span's name and arguments are strings and vectors; they are built only when
//     the trace is enabled (`describe`).
template <typename Describe>
Status SimDevice::Execute(sg4::Host* host, uint64_t elements, const Describe& describe) {
  if (elements == 0) return Status::Ok();
  const double start = cluster_->Now();
  try {
    // On `host` explicitly: this_actor::execute would run on the caller's host (build-facts.md).
    sg4::ExecPtr exec = sg4::Exec::init();
    simgrid::kernel::actor::simcall_answered([&exec, host, elements] {
      exec->set_flops_amount(static_cast<double>(elements))->set_host(host)->start();
    });
    exec->wait();
  } catch (const std::exception& e) {
    return Status::Internal(
        fmt::format("{}: SimGrid failed {}: {}", name_, describe().first, e.what()));
  }
  TraceLog& trace = cluster_->trace();
  if (trace.enabled()) {
    auto [name, args] = describe();
    trace.Span(rank_, TraceTrack::kDevice, std::move(name), start, cluster_->Now(),
               std::move(args));
  }
  return Status::Ok();
}

StatusOr<core::Allocation> SimDevice::Allocate(uint64_t bytes, std::string_view tag) {
  TWINSIM_RETURN_IF_ERROR(core::CheckAllocateTag(name_, bytes, tag));
  core::Allocation result;
  if (std::optional<core::OomReport> oom = ledger_.TryCharge(bytes, tag)) {
    cluster_->trace().Instant(
        rank_, TraceTrack::kDevice, "out of memory", cluster_->Now(),
        {TraceArg::Str("tag", std::string(tag)), TraceArg::Num("requested", bytes),
         TraceArg::Num("in_use", oom->in_use), TraceArg::Num("capacity", oom->capacity)});
    result.oom = std::move(oom);
    return result;
  }
  std::unique_ptr<std::byte[]> data;
  if (options_.holds_bytes && bytes > 0) {
    data.reset(new (std::nothrow) std::byte[bytes]);
    if (data == nullptr) {
      ledger_.Release(bytes, tag);
      return core::HostCannotBack(name_, bytes, tag, "timing-only runs hold no bytes");
    }
    std::memset(data.get(), static_cast<int>(options_.fresh_byte), bytes);
  }
  result.buffer = buffers_.Add(bytes, std::string(tag), Contents{std::move(data), {}});
  TraceMemory();
  return result;
}

bool SimDevice::WouldFit(uint64_t bytes) const { return ledger_.WouldFit(bytes); }

Status SimDevice::Free(const core::Buffer& buffer) {
  StatusOr<Entry*> entry = buffers_.Find(core::BufferRegion::Whole(buffer), "Free");
  if (!entry.ok()) return entry.status();
  ledger_.Release((*entry)->bytes, (*entry)->tag);
  buffers_.Remove(buffer);
  TraceMemory();
  return Status::Ok();
}

Status SimDevice::CopyFromHost(const core::BufferRegion& dst, std::span<const std::byte> src) {
  StatusOr<Entry*> entry = buffers_.Find(dst, "CopyFromHost");
  if (!entry.ok()) return entry.status();
  // Without bytes, an empty `src` stands for bits the caller did not compute (core/device.h).
  const bool uncomputed = src.empty() && !options_.holds_bytes;
  if (!uncomputed) TWINSIM_RETURN_IF_ERROR(core::CheckCopyFromHostSize(name_, dst, src.size()));
  if ((*entry)->data.bytes != nullptr && !src.empty()) {
    std::memcpy((*entry)->data.bytes.get() + dst.offset, src.data(), src.size());
  }
  DropSamples((*entry)->data.samples, dst.offset, dst.bytes);  // Note [Sampled fills]
  if (dst.bytes == 0) return Status::Ok();
  const double start = cluster_->Now();
  TWINSIM_RETURN_IF_ERROR(
      cluster_->MoveBytes(rank_, cluster_->cpu(rank_), cluster_->gpu(rank_), dst.bytes));
  cluster_->trace().Span(rank_, TraceTrack::kDevice, "copy host->device", start, cluster_->Now(),
                         {TraceArg::Num("bytes", dst.bytes)});
  return Status::Ok();
}

Status SimDevice::CopyToHost(const core::BufferRegion& src, std::span<std::byte> dst) {
  StatusOr<Entry*> entry = buffers_.Find(src, "CopyToHost");
  if (!entry.ok()) return entry.status();
  // Without bytes, an empty `dst` asks for the copy's cost only (Note [Devices without bytes]).
  const bool uncomputed = !options_.holds_bytes && dst.empty();
  if (!uncomputed) {
    TWINSIM_RETURN_IF_ERROR(core::CheckCopyToHostSize(name_, src, dst.size()));
    if (!options_.holds_bytes) return core::NoBytesToCopy(name_, "timing-only");
  }
  if (!dst.empty()) std::memcpy(dst.data(), (*entry)->data.bytes.get() + src.offset, dst.size());
  if (src.bytes == 0) return Status::Ok();
  const double start = cluster_->Now();
  TWINSIM_RETURN_IF_ERROR(
      cluster_->MoveBytes(rank_, cluster_->gpu(rank_), cluster_->cpu(rank_), src.bytes));
  cluster_->trace().Span(rank_, TraceTrack::kDevice, "copy device->host", start, cluster_->Now(),
                         {TraceArg::Num("bytes", src.bytes)});
  return Status::Ok();
}

Status SimDevice::Copy(const core::BufferRegion& dst, const core::BufferRegion& src) {
  StatusOr<Entry*> to = buffers_.Find(dst, "Copy (destination)");
  if (!to.ok()) return to.status();
  StatusOr<Entry*> from = buffers_.Find(src, "Copy (source)");
  if (!from.ok()) return from.status();
  TWINSIM_RETURN_IF_ERROR(core::CheckCopySizes(name_, dst, src));
  if (options_.holds_bytes && dst.bytes > 0) {
    std::memmove((*to)->data.bytes.get() + dst.offset, (*from)->data.bytes.get() + src.offset, dst.bytes);
  }
  if (!options_.holds_bytes && dst.bytes > 0) {
    // Note [Sampled fills]: the source's samples move with its bytes; the rest of the
    // destination's are overwritten. Taken before dropping: the regions may overlap.
    Samples carried;
    for (const Sample& sample : (*from)->data.samples) {
      if (sample.offset >= src.offset && sample.offset - src.offset + sample.size <= src.bytes) {
        Sample moved = sample;
        moved.offset = sample.offset - src.offset + dst.offset;
        carried.push_back(moved);
      }
    }
    Samples& kept = (*to)->data.samples;
    DropSamples(kept, dst.offset, dst.bytes);
    if (!carried.empty()) {
      kept.insert(kept.end(), carried.begin(), carried.end());
      std::sort(kept.begin(), kept.end(),
                [](const Sample& a, const Sample& b) { return a.offset < b.offset; });
    }
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
  StatusOr<Entry*> entry = buffers_.Find(dst, "Fill");
  if (!entry.ok()) return entry.status();
  TWINSIM_RETURN_IF_ERROR(core::CheckFillSize(name_, dst, request));
  if (options_.holds_bytes) {
    if (!options_.fill) return core::NoFillFunction(name_, "SimDeviceOptions::fill");
    std::span<std::byte> out;
    if (dst.bytes > 0) out = std::span<std::byte>((*entry)->data.bytes.get() + dst.offset, dst.bytes);
    TWINSIM_RETURN_IF_ERROR(options_.fill(request, out));
  } else {
    TWINSIM_RETURN_IF_ERROR(SampleFill(dst, request, (*entry)->data.samples));
  }
  // Note [Device time model]: one flop per element on the GPU host.
  return Execute(cluster_->gpu(rank_), request.elements(), [&request] {
    return std::pair{
        fmt::format("init {}", core::PrimitiveName(request.transform.prim)),
        std::vector<TraceArg>{TraceArg::Num("elements", static_cast<double>(request.elements())),
                              TraceArg::Num("bytes", static_cast<double>(request.bytes())),
                              TraceArg::Num("first_element", static_cast<double>(request.begin))}};
  });
}

Status SimDevice::WriteKernelOutput(const core::BufferRegion& dst, std::span<const std::byte> src,
                                    uint64_t elements) {
  StatusOr<Entry*> entry = buffers_.Find(dst, "WriteKernelOutput");
  if (!entry.ok()) return entry.status();
  // Note [Modelled init kernels] in core/device.h: an empty `src` on a device without bytes
  // stands for bits nobody computed.
  if (!(src.empty() && !options_.holds_bytes) && src.size() != dst.bytes) {
    return Status::InvalidArgument(
        fmt::format("{}: WriteKernelOutput of {} host bytes into a region of {} B", name_,
                    src.size(), dst.bytes));
  }
  if ((*entry)->data.bytes != nullptr && !src.empty()) {
    std::memcpy((*entry)->data.bytes.get() + dst.offset, src.data(), src.size());
  }
  DropSamples((*entry)->data.samples, dst.offset, dst.bytes);  // Note [Sampled fills]
  // Note [Device time model]: a kernel on the GPU, as Fill; no PCIe transfer.
  return Execute(cluster_->gpu(rank_), elements, [elements, &dst] {
    return std::pair{std::string("init kernel"),
                     std::vector<TraceArg>{TraceArg::Num("elements", static_cast<double>(elements)),
                                           TraceArg::Num("bytes", static_cast<double>(dst.bytes))}};
  });
}

Status SimDevice::StorageRead(uint64_t bytes) {
  if (bytes == 0) return Status::Ok();
  const double start = cluster_->Now();
  TWINSIM_RETURN_IF_ERROR(
      cluster_->MoveBytes(rank_, cluster_->storage(rank_), cluster_->cpu(rank_), bytes));
  cluster_->trace().Span(rank_, TraceTrack::kDevice, "storage read", start, cluster_->Now(),
                         {TraceArg::Num("bytes", static_cast<double>(bytes))});
  return Status::Ok();
}

Status SimDevice::HostInitWork(uint64_t elements) {
  // Note [Device time model]: on the node's CPU host, shared with the node's other ranks.
  return Execute(cluster_->cpu(rank_), elements, [elements] {
    return std::pair{std::string("host init"),
                     std::vector<TraceArg>{TraceArg::Num("elements", static_cast<double>(elements))}};
  });
}

double ComputeSeconds(double flops, uint64_t hbm_bytes, double matmul_flops_per_s,
                      double hbm_bandwidth_bytes_per_s) {
  const double matmul =
      matmul_flops_per_s > 0 ? flops / (kMatmulEfficiency * matmul_flops_per_s) : 0.0;
  return std::max(matmul, static_cast<double>(hbm_bytes) / hbm_bandwidth_bytes_per_s);
}

Status SimDevice::Compute(double flops, uint64_t hbm_bytes, std::string_view what) {
  TWINSIM_RETURN_IF_ERROR(core::Device::Compute(flops, hbm_bytes, what));
  // Note [Device time model]: seconds of the GPU, as an Exec on the GPU host, whose speed is
  // its init throughput in elements per second.
  const double seconds = ComputeSeconds(flops, hbm_bytes, options_.matmul_flops_per_s,
                                        options_.hbm_bandwidth_bytes_per_s);
  sg4::Host* gpu = cluster_->gpu(rank_);
  const auto amount = static_cast<uint64_t>(std::llround(seconds * gpu->get_speed()));
  return Execute(gpu, amount, [what, flops, hbm_bytes] {
    return std::pair{std::string(what),
                     std::vector<TraceArg>{TraceArg::Num("flops", flops),
                                           TraceArg::Num("hbm_bytes",
                                                         static_cast<double>(hbm_bytes))}};
  });
}

core::MemoryStats SimDevice::Stats() const { return ledger_.Stats(); }

Status SimDevice::CheckRegion(const core::BufferRegion& region, std::string_view op) const {
  return buffers_.Find(region, op).status();
}

StatusOr<std::vector<std::byte>> SimDevice::ReadRegion(const core::BufferRegion& region,
                                                       std::string_view op) const {
  StatusOr<const Entry*> entry = buffers_.Find(region, op);
  if (!entry.ok()) return entry.status();
  std::vector<std::byte> out;
  if (options_.holds_bytes && region.bytes > 0) {
    out.assign((*entry)->data.bytes.get() + region.offset,
               (*entry)->data.bytes.get() + region.offset + region.bytes);
  }
  return out;
}

Status SimDevice::WriteRegion(const core::BufferRegion& region, std::span<const std::byte> data,
                              std::string_view op) {
  StatusOr<Entry*> entry = buffers_.Find(region, op);
  if (!entry.ok()) return entry.status();
  if (!options_.holds_bytes) {
    DropSamples((*entry)->data.samples, region.offset, region.bytes);
    return Status::Ok();
  }
  if (data.size() != region.bytes) {
    return Status::InvalidArgument(
        fmt::format("{}: {} of {} B into a region of {} B", name_, op, data.size(), region.bytes));
  }
  if (!data.empty()) std::memcpy((*entry)->data.bytes.get() + region.offset, data.data(), data.size());
  return Status::Ok();
}

// ---- Note [Sampled fills] ----

Status SimDevice::SampleFill(const core::BufferRegion& dst, const core::FillRequest& request,
                             Samples& samples) {
  DropSamples(samples, dst.offset, dst.bytes);
  const uint64_t n = request.elements();
  const uint64_t size = core::DTypeSize(request.dtype);
  if (!options_.fill || n == 0) return Status::Ok();
  if (size > Sample{}.bytes.size()) {
    return Status::Internal(fmt::format("{}: cannot sample {}-byte elements", name_, size));
  }
  const uint64_t width = request.end - request.begin;
  const uint64_t m = std::min<uint64_t>(kSamplesPerFill, n);
  std::array<Sample, kSamplesPerFill> fresh;
  for (uint64_t k = 0; k < m; ++k) {
    // Output element e = round-down of k (n - 1) / (m - 1), written without overflow: 0 and
    // n - 1 are always taken, and the positions are distinct since n >= m.
    const uint64_t e =
        m == 1 ? 0 : k * ((n - 1) / (m - 1)) + k * ((n - 1) % (m - 1)) / (m - 1);
    // Its logical index, as FillRequest defines it for `rows` runs of `width` elements.
    const uint64_t logical = request.begin + (e / width) * request.row_stride + e % width;
    core::FillRequest one = request;
    one.begin = logical;
    one.end = logical + 1;
    one.rows = 1;
    one.row_stride = 0;
    Sample& sample = fresh[k];
    sample.offset = dst.offset + e * size;
    sample.size = static_cast<uint32_t>(size);
    TWINSIM_RETURN_IF_ERROR(options_.fill(one, std::span<std::byte>(sample.bytes.data(), size)));
  }
  if (samples.empty()) {
    // The usual case, a buffer's first Fill: `fresh` is already sorted by offset (e grows with k).
    samples.assign(fresh.begin(), fresh.begin() + m);
    return Status::Ok();
  }
  samples.insert(samples.end(), fresh.begin(), fresh.begin() + m);
  std::sort(samples.begin(), samples.end(),
            [](const Sample& a, const Sample& b) { return a.offset < b.offset; });
  samples.shrink_to_fit();
  return Status::Ok();
}

void SimDevice::DropSamples(Samples& samples, uint64_t offset, uint64_t bytes) {
  if (samples.empty() || bytes == 0) return;
  std::erase_if(samples, [&](const Sample& s) {
    return s.offset < offset + bytes && offset < s.offset + s.size;
  });
  if (samples.empty()) Samples().swap(samples);
}

void SimDevice::ForgetSamples(const core::BufferRegion& region) {
  StatusOr<Entry*> entry = buffers_.Find(region, "ForgetSamples");
  if (entry.ok()) DropSamples((*entry)->data.samples, region.offset, region.bytes);
}

std::vector<std::pair<uint64_t, std::vector<std::byte>>> SimDevice::SampledElements(
    const core::Buffer& buffer) const {
  std::vector<std::pair<uint64_t, std::vector<std::byte>>> out;
  StatusOr<const Entry*> entry = buffers_.Find(core::BufferRegion::Whole(buffer), "SampledElements");
  if (!entry.ok()) return out;
  out.reserve((*entry)->data.samples.size());
  for (const Sample& s : (*entry)->data.samples) {
    out.emplace_back(s.offset, std::vector<std::byte>(s.bytes.begin(), s.bytes.begin() + s.size));
  }
  return out;
}

void SimDevice::AppendSampledElements(const core::Buffer& buffer, uint64_t element_size,
                                      std::vector<uint64_t>& elements,
                                      std::vector<std::byte>& bytes) const {
  StatusOr<const Entry*> entry = buffers_.Find(core::BufferRegion::Whole(buffer), "SampledElements");
  if (!entry.ok() || element_size == 0) return;
  elements.reserve(elements.size() + (*entry)->data.samples.size());
  bytes.reserve(bytes.size() + (*entry)->data.samples.size() * element_size);
  for (const Sample& s : (*entry)->data.samples) {
    if (s.offset % element_size != 0 || s.size != element_size) continue;
    elements.push_back(s.offset / element_size);
    bytes.insert(bytes.end(), s.bytes.begin(), s.bytes.begin() + s.size);
  }
}

}  // namespace twinsim::sim
