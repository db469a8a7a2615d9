#include "gpu/cuda_device.h"

#include <cuda_runtime_api.h>
#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <utility>

#include "gpu/cuda_check.h"
#include "kernels/fill_cuda.h"
#include "kernels/transform.h"

namespace twinsim::gpu {

int CudaDeviceCount() { return kernels::CudaDeviceCount(); }
std::string CudaUnavailableReason() { return kernels::CudaUnavailableReason(); }

struct CudaDevice::Impl {
  cudaStream_t stream = nullptr;
  cudaEvent_t start = nullptr;
  cudaEvent_t stop = nullptr;
  void* staging = nullptr;  // pinned, options.staging_bytes
};

namespace {

constexpr std::string_view kStagingTag = "staging";

// Holds the shared GPU lock, if any, for the lifetime of a timed operation.
std::unique_lock<std::mutex> LockGpu(std::mutex* gpu_lock) {
  return gpu_lock != nullptr ? std::unique_lock<std::mutex>(*gpu_lock)
                             : std::unique_lock<std::mutex>();
}

// Seconds between two recorded events, after waiting for the second.
StatusOr<double> ElapsedSeconds(cudaEvent_t start, cudaEvent_t stop) {
  TWINSIM_CUDA_RETURN_IF_ERROR(cudaEventSynchronize(stop));
  float ms = 0;
  TWINSIM_CUDA_RETURN_IF_ERROR(cudaEventElapsedTime(&ms, start, stop));
  return static_cast<double>(ms) * 1e-3;
}

core::OomReport OomFromLedger(const core::MemoryLedger& ledger, int rank, std::string device,
                              uint64_t bytes, std::string_view tag) {
  const core::MemoryStats stats = ledger.Stats();
  core::OomReport report;
  report.rank = rank;
  report.device = std::move(device);
  report.tag = std::string(tag);
  report.requested = bytes;
  report.in_use = stats.in_use;
  report.capacity = stats.capacity;
  for (const core::TagUsage& t : stats.by_tag) {
    if (t.in_use > 0) report.in_use_by_tag.emplace_back(t.tag, t.in_use);
  }
  return report;
}

}  // namespace

StatusOr<std::unique_ptr<CudaDevice>> CudaDevice::Create(int rank, CudaDeviceOptions options) {
  const int count = CudaDeviceCount();
  if (count == 0) return Status::Unavailable(CudaUnavailableReason());
  if (options.ordinal < 0 || options.ordinal >= count) {
    return Status::InvalidArgument(
        fmt::format("CUDA device ordinal {} is outside [0, {})", options.ordinal, count));
  }
  if (options.staging_bytes == 0 || options.staging_bytes > options.pinned_capacity) {
    return Status::InvalidArgument(
        fmt::format("CudaDeviceOptions: staging_bytes {} must be in [1, pinned_capacity {}]",
                    options.staging_bytes, options.pinned_capacity));
  }
  TWINSIM_CUDA_RETURN_IF_ERROR(cudaSetDevice(options.ordinal));
  cudaDeviceProp prop{};
  TWINSIM_CUDA_RETURN_IF_ERROR(cudaGetDeviceProperties(&prop, options.ordinal));
  uint64_t capacity = options.capacity;
  if (capacity == 0) {
    size_t free_bytes = 0, total_bytes = 0;
    TWINSIM_CUDA_RETURN_IF_ERROR(cudaMemGetInfo(&free_bytes, &total_bytes));
    capacity = free_bytes;
  }
  std::string name = options.name;
  if (name.empty()) {
    name = rank < 0 ? fmt::format("cuda:{}", options.ordinal)
                    : fmt::format("cuda:{}/rank{}", options.ordinal, rank);
  }
  std::unique_ptr<CudaDevice> device(
      new CudaDevice(rank, std::move(options), std::move(name), prop.name, capacity));
  Impl& impl = *device->impl_;
  TWINSIM_CUDA_RETURN_IF_ERROR(cudaStreamCreateWithFlags(&impl.stream, cudaStreamNonBlocking));
  TWINSIM_CUDA_RETURN_IF_ERROR(cudaEventCreate(&impl.start));
  TWINSIM_CUDA_RETURN_IF_ERROR(cudaEventCreate(&impl.stop));
  const uint64_t staging = device->options_.staging_bytes;
  if (device->pinned_ledger_.TryCharge(staging, kStagingTag)) {
    return Status::InvalidArgument("CudaDeviceOptions: the staging buffer does not fit");
  }
  TWINSIM_CUDA_RETURN_IF_ERROR(cudaHostAlloc(&impl.staging, staging, cudaHostAllocDefault));
  return device;
}

CudaDevice::CudaDevice(int rank, CudaDeviceOptions options, std::string name, std::string model,
                       uint64_t capacity)
    : rank_(rank),
      options_(std::move(options)),
      name_(std::move(name)),
      model_(std::move(model)),
      device_id_(core::NewDeviceId()),
      impl_(std::make_unique<Impl>()),
      ledger_(rank, name_, capacity),
      buffers_(name_, device_id_),
      pinned_ledger_(rank, name_ + "/pinned", options_.pinned_capacity) {}

CudaDevice::~CudaDevice() {
  // Best effort: a destructor cannot report, and the process may be exiting.
  cudaSetDevice(options_.ordinal);
  if (impl_->stream != nullptr) cudaStreamSynchronize(impl_->stream);
  for (void* p : live_) cudaFree(p);
  for (auto& [ptr, entry] : pinned_) cudaFreeHost(ptr);
  if (impl_->staging != nullptr) cudaFreeHost(impl_->staging);
  if (impl_->start != nullptr) cudaEventDestroy(impl_->start);
  if (impl_->stop != nullptr) cudaEventDestroy(impl_->stop);
  if (impl_->stream != nullptr) cudaStreamDestroy(impl_->stream);
  cudaGetLastError();
}

core::DeviceInfo CudaDevice::Info() const {
  core::DeviceInfo info;
  info.name = name_;
  info.model = model_;
  info.kind = core::DeviceKind::kCuda;
  info.rank = rank_;
  info.capacity = ledger_.capacity();
  info.holds_bytes = true;
  return info;
}

StatusOr<core::Allocation> CudaDevice::Allocate(uint64_t bytes, std::string_view tag) {
  TWINSIM_RETURN_IF_ERROR(core::CheckAllocateTag(name_, bytes, tag));
  std::lock_guard<std::mutex> lock(mu_);
  core::Allocation result;
  if (std::optional<core::OomReport> oom = ledger_.TryCharge(bytes, tag)) {
    result.oom = std::move(oom);
    return result;
  }
  void* ptr = nullptr;
  if (bytes > 0) {
    TWINSIM_CUDA_RETURN_IF_ERROR(cudaSetDevice(options_.ordinal));
    const cudaError_t err = cudaMalloc(&ptr, bytes);
    if (err == cudaErrorMemoryAllocation) {
      // The budget had room but the GPU itself did not: still an OOM, as the real run sees it.
      cudaGetLastError();
      ledger_.Release(bytes, tag);
      result.oom = OomFromLedger(ledger_, rank_, name_, bytes, tag);
      return result;
    }
    if (err != cudaSuccess) {
      ledger_.Release(bytes, tag);
      return CudaStatus(err, "cudaMalloc");
    }
    const Status set =
        CudaStatus(cudaMemset(ptr, std::to_integer<int>(options_.fresh_byte), bytes), "cudaMemset");
    if (!set.ok()) {
      cudaFree(ptr);
      ledger_.Release(bytes, tag);
      return set;
    }
    live_.insert(ptr);
  }
  result.buffer = buffers_.Add(bytes, std::string(tag), ptr);
  return result;
}

bool CudaDevice::WouldFit(uint64_t bytes) const {
  std::lock_guard<std::mutex> lock(mu_);
  return ledger_.WouldFit(bytes);
}

Status CudaDevice::Free(const core::Buffer& buffer) {
  std::lock_guard<std::mutex> lock(mu_);
  StatusOr<Entry*> entry = buffers_.Find(core::BufferRegion::Whole(buffer), "Free");
  if (!entry.ok()) return entry.status();
  void* ptr = (*entry)->data;
  ledger_.Release((*entry)->bytes, (*entry)->tag);
  buffers_.Remove(buffer);
  if (ptr != nullptr) {
    live_.erase(ptr);
    TWINSIM_CUDA_RETURN_IF_ERROR(cudaSetDevice(options_.ordinal));
    TWINSIM_CUDA_RETURN_IF_ERROR(cudaFree(ptr));
  }
  return Status::Ok();
}

void CudaDevice::RecordLocked(const Transfer& t) {
  if (t.bytes == 0 && t.elements == 0) return;
  totals_.Add(t);
  if (options_.record_transfers) transfers_.push_back(t);
}

StatusOr<double> CudaDevice::TimedCopyLocked(void* dst, const void* src, uint64_t bytes, int kind) {
  std::unique_lock<std::mutex> gpu = LockGpu(options_.gpu_lock);
  TWINSIM_CUDA_RETURN_IF_ERROR(cudaSetDevice(options_.ordinal));
  TWINSIM_CUDA_RETURN_IF_ERROR(cudaEventRecord(impl_->start, impl_->stream));
  TWINSIM_CUDA_RETURN_IF_ERROR(
      cudaMemcpyAsync(dst, src, bytes, static_cast<cudaMemcpyKind>(kind), impl_->stream));
  TWINSIM_CUDA_RETURN_IF_ERROR(cudaEventRecord(impl_->stop, impl_->stream));
  return ElapsedSeconds(impl_->start, impl_->stop);
}

StatusOr<Transfer> CudaDevice::TimedMemcpy(TransferClass cls, void* dst, const void* src,
                                           uint64_t bytes) {
  int kind = cudaMemcpyDefault;
  switch (cls) {
    case TransferClass::kH2D:
      kind = cudaMemcpyHostToDevice;
      break;
    case TransferClass::kD2H:
      kind = cudaMemcpyDeviceToHost;
      break;
    case TransferClass::kD2D:
      kind = cudaMemcpyDeviceToDevice;
      break;
    case TransferClass::kInitKernel:
      return Status::InvalidArgument("TimedMemcpy: an init kernel is not a copy");
  }
  std::lock_guard<std::mutex> lock(mu_);
  Transfer t{cls, bytes};
  if (bytes > 0) {
    TWINSIM_ASSIGN_OR_RETURN(t.seconds, TimedCopyLocked(dst, src, bytes, kind));
  }
  RecordLocked(t);
  return t;
}

Status CudaDevice::CopyFromHost(const core::BufferRegion& dst, std::span<const std::byte> src) {
  std::lock_guard<std::mutex> lock(mu_);
  StatusOr<Entry*> entry = buffers_.Find(dst, "CopyFromHost");
  if (!entry.ok()) return entry.status();
  TWINSIM_RETURN_IF_ERROR(core::CheckCopyFromHostSize(name_, dst, src.size()));
  if (src.empty()) return Status::Ok();
  auto* out = static_cast<std::byte*>((*entry)->data) + dst.offset;
  Transfer t{TransferClass::kH2D, src.size()};
  for (uint64_t done = 0; done < src.size();) {
    const uint64_t n = std::min<uint64_t>(options_.staging_bytes, src.size() - done);
    std::memcpy(impl_->staging, src.data() + done, n);
    TWINSIM_ASSIGN_OR_RETURN(
        double s, TimedCopyLocked(out + done, impl_->staging, n, cudaMemcpyHostToDevice));
    t.seconds += s;
    done += n;
  }
  RecordLocked(t);
  return Status::Ok();
}

Status CudaDevice::CopyToHost(const core::BufferRegion& src, std::span<std::byte> dst) {
  std::lock_guard<std::mutex> lock(mu_);
  StatusOr<Entry*> entry = buffers_.Find(src, "CopyToHost");
  if (!entry.ok()) return entry.status();
  TWINSIM_RETURN_IF_ERROR(core::CheckCopyToHostSize(name_, src, dst.size()));
  if (dst.empty()) return Status::Ok();
  const auto* in = static_cast<const std::byte*>((*entry)->data) + src.offset;
  Transfer t{TransferClass::kD2H, dst.size()};
  for (uint64_t done = 0; done < dst.size();) {
    const uint64_t n = std::min<uint64_t>(options_.staging_bytes, dst.size() - done);
    TWINSIM_ASSIGN_OR_RETURN(double s,
                             TimedCopyLocked(impl_->staging, in + done, n, cudaMemcpyDeviceToHost));
    std::memcpy(dst.data() + done, impl_->staging, n);
    t.seconds += s;
    done += n;
  }
  RecordLocked(t);
  return Status::Ok();
}

Status CudaDevice::Copy(const core::BufferRegion& dst, const core::BufferRegion& src) {
  std::lock_guard<std::mutex> lock(mu_);
  StatusOr<Entry*> to = buffers_.Find(dst, "Copy (destination)");
  if (!to.ok()) return to.status();
  StatusOr<Entry*> from = buffers_.Find(src, "Copy (source)");
  if (!from.ok()) return from.status();
  TWINSIM_RETURN_IF_ERROR(core::CheckCopySizes(name_, dst, src));
  if (dst.bytes == 0) return Status::Ok();
  auto* out = static_cast<std::byte*>((*to)->data) + dst.offset;
  const auto* in = static_cast<const std::byte*>((*from)->data) + src.offset;
  Transfer t{TransferClass::kD2D, dst.bytes};
  const bool overlap = dst.buffer.id == src.buffer.id && dst.offset < src.offset + src.bytes &&
                       src.offset < dst.offset + dst.bytes;
  if (overlap && dst.offset != src.offset) {
    // cudaMemcpy does not allow overlap: copy through a temporary (Device::Copy's contract).
    void* tmp = nullptr;
    TWINSIM_CUDA_RETURN_IF_ERROR(cudaSetDevice(options_.ordinal));
    TWINSIM_CUDA_RETURN_IF_ERROR(cudaMalloc(&tmp, dst.bytes));
    StatusOr<double> a = TimedCopyLocked(tmp, in, dst.bytes, cudaMemcpyDeviceToDevice);
    StatusOr<double> b =
        a.ok() ? TimedCopyLocked(out, tmp, dst.bytes, cudaMemcpyDeviceToDevice) : a;
    cudaFree(tmp);
    if (!b.ok()) return b.status();
    t.seconds = *a + *b;
  } else if (out != in) {
    TWINSIM_ASSIGN_OR_RETURN(t.seconds,
                             TimedCopyLocked(out, in, dst.bytes, cudaMemcpyDeviceToDevice));
  }
  RecordLocked(t);
  return Status::Ok();
}

Status CudaDevice::Fill(const core::BufferRegion& dst, const core::FillRequest& request) {
  TWINSIM_RETURN_IF_ERROR(core::ValidateFillRequest(request));
  std::lock_guard<std::mutex> lock(mu_);
  StatusOr<Entry*> entry = buffers_.Find(dst, "Fill");
  if (!entry.ok()) return entry.status();
  TWINSIM_RETURN_IF_ERROR(core::CheckFillSize(name_, dst, request));
  if (dst.bytes == 0) return Status::Ok();
  auto* out = static_cast<std::byte*>((*entry)->data) + dst.offset;
  const kernels::ParamStream stream{kernels::PhiloxKey{{request.key[0], request.key[1]}},
                                    request.draw};
  const uint64_t width = request.end - request.begin;
  const uint64_t row_bytes = width * core::DTypeSize(request.dtype);
  std::unique_lock<std::mutex> gpu = LockGpu(options_.gpu_lock);
  TWINSIM_CUDA_RETURN_IF_ERROR(cudaSetDevice(options_.ordinal));
  // FillRangeCuda launches on the legacy default stream and synchronizes the device.
  TWINSIM_CUDA_RETURN_IF_ERROR(cudaEventRecord(impl_->start, nullptr));
  for (uint64_t r = 0; r < request.rows; ++r) {
    const uint64_t begin = request.begin + r * request.row_stride;
    TWINSIM_RETURN_IF_ERROR(kernels::FillRangeCuda(stream, request.transform, request.dtype, begin,
                                                   begin + width, out + r * row_bytes));
  }
  TWINSIM_CUDA_RETURN_IF_ERROR(cudaEventRecord(impl_->stop, nullptr));
  TWINSIM_ASSIGN_OR_RETURN(double seconds, ElapsedSeconds(impl_->start, impl_->stop));
  gpu.unlock();
  Transfer t{TransferClass::kInitKernel, dst.bytes, request.elements(), request.dtype, seconds};
  RecordLocked(t);
  return Status::Ok();
}

core::MemoryStats CudaDevice::Stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return ledger_.Stats();
}

StatusOr<PinnedAllocation> CudaDevice::AllocatePinned(uint64_t bytes, std::string_view tag) {
  TWINSIM_RETURN_IF_ERROR(core::CheckAllocateTag(name_ + "/pinned", bytes, tag));
  std::lock_guard<std::mutex> lock(mu_);
  PinnedAllocation result;
  result.bytes = bytes;
  if (std::optional<core::OomReport> oom = pinned_ledger_.TryCharge(bytes, tag)) {
    result.oom = std::move(oom);
    return result;
  }
  if (bytes == 0) return result;
  const cudaError_t err = cudaHostAlloc(&result.ptr, bytes, cudaHostAllocDefault);
  if (err != cudaSuccess) {
    pinned_ledger_.Release(bytes, tag);
    return CudaStatus(err, "cudaHostAlloc");
  }
  pinned_.emplace(result.ptr, std::pair<uint64_t, std::string>(bytes, std::string(tag)));
  return result;
}

Status CudaDevice::FreePinned(const PinnedAllocation& allocation) {
  if (allocation.ptr == nullptr) return Status::Ok();  // zero bytes or OOM: nothing held
  std::lock_guard<std::mutex> lock(mu_);
  auto it = pinned_.find(allocation.ptr);
  if (it == pinned_.end()) {
    return Status::NotFound(
        fmt::format("{}: FreePinned: no live pinned allocation at {}", name_, allocation.ptr));
  }
  pinned_ledger_.Release(it->second.first, it->second.second);
  pinned_.erase(it);
  TWINSIM_CUDA_RETURN_IF_ERROR(cudaFreeHost(allocation.ptr));
  return Status::Ok();
}

core::MemoryStats CudaDevice::PinnedStats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return pinned_ledger_.Stats();
}

StatusOr<void*> CudaDevice::DevicePointer(const core::BufferRegion& region,
                                          std::string_view op) const {
  std::lock_guard<std::mutex> lock(mu_);
  StatusOr<const Entry*> entry = buffers_.Find(region, op);
  if (!entry.ok()) return entry.status();
  return static_cast<void*>(static_cast<std::byte*>((*entry)->data) + region.offset);
}

std::vector<Transfer> CudaDevice::transfers() const {
  std::lock_guard<std::mutex> lock(mu_);
  return transfers_;
}

TransferTotals CudaDevice::totals() const {
  std::lock_guard<std::mutex> lock(mu_);
  return totals_;
}

void CudaDevice::ClearTransfers() {
  std::lock_guard<std::mutex> lock(mu_);
  transfers_.clear();
  totals_ = {};
}

}  // namespace twinsim::gpu
