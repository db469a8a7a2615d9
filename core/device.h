// Device: one rank's accelerator as seed and placement policies see it — a memory budget with
// per-tag accounting, buffers, host-visible copies and the element-wise init fill.
//
// One small interface with several backends, like LevelDB's Env: HostDevice (plain memory,
// core/host_device.h), SimDevice (a SimGrid GPU with a memory pool, sim/), CudaDevice (budgeted
// cudaMalloc, gpu/), DeviceWrapper for decorators, and FaultyDevice (core/testing/) for tests.
// Policies include only this header, so the same policy code runs on every backend.
#ifndef TWINSIM_CORE_DEVICE_H_
#define TWINSIM_CORE_DEVICE_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "core/fill_request.h"
#include "core/memory_ledger.h"
#include "core/status.h"

namespace twinsim::core {

// The tags twinsim's policies charge memory to. Any non-empty string is a valid tag; these
// are the ones reports know by name.
inline constexpr std::string_view kTagParam = "param";         // model parameters
inline constexpr std::string_view kTagGrad = "grad";           // gradients
inline constexpr std::string_view kTagOptim = "optim";         // fp32 master, Adam m and v
inline constexpr std::string_view kTagInitTemp = "init-temp";  // scratch during init
inline constexpr std::string_view kTagActivation = "activation";
inline constexpr std::string_view kTagComm = "comm";  // staging for communication

// Note [Buffer handles]
// ---------------------
// A Buffer is a value: the id of an allocation on one particular device, and its size. It
// owns nothing and holds no pointer, because a sim device in timing-only mode has no memory to
// point at and a cuda device's memory is not host-addressable; bytes are reached only through
// the device (CopyToHost, CopyFromHost, Copy, Fill) and Comm. `device_id` comes from
// NewDeviceId(), unique in the process, so a handle used on the wrong device, freed twice or
// used after Free gives a clean error instead of touching another buffer.
struct Buffer {
  uint64_t device_id = 0;  // 0: the null handle
  uint64_t id = 0;
  uint64_t bytes = 0;

  bool is_null() const { return device_id == 0; }
  friend bool operator==(const Buffer&, const Buffer&) = default;
};

// A byte range [offset, offset + bytes) of a buffer: what copies, fills and Comm operate on.
struct BufferRegion {
  Buffer buffer;
  uint64_t offset = 0;
  uint64_t bytes = 0;

  // The whole buffer.
  static BufferRegion Whole(const Buffer& buffer) { return {buffer, 0, buffer.bytes}; }
  // Bytes [offset, offset + bytes) of `buffer`; not checked here (devices check on use).
  static BufferRegion Slice(const Buffer& buffer, uint64_t offset, uint64_t bytes) {
    return {buffer, offset, bytes};
  }
  // True when the range lies inside the buffer (overflow-safe).
  bool InBounds() const { return offset <= buffer.bytes && bytes <= buffer.bytes - offset; }
};

// Note [OOM is a result, not an error]
// ------------------------------------
// Running out of device memory is what twinsim exists to observe (`init-fits`, `no-oom`,
// `monotone`), so an allocation that does not fit is a normal outcome: Allocate returns OK with
// Allocation::oom set to an OomReport (rank, device, tag, requested, in use, capacity, live
// bytes per tag) and charges nothing. It never aborts, throws or returns a non-OK Status for
// lack of memory. Every backend reports through a MemoryLedger, so the figures agree between
// host, sim and cuda. A non-OK Status from Allocate means something else went wrong: an empty
// tag, an injected fault, the host itself unable to back the modelled memory, a CUDA error
// other than cudaErrorMemoryAllocation. Code that treats OOM as fatal calls AllocateOrError.
struct Allocation {
  Buffer buffer;                 // valid when !oom
  std::optional<OomReport> oom;  // set when the request did not fit

  bool fits() const { return !oom.has_value(); }
};

enum class DeviceKind : uint8_t { kHost = 0, kSim = 1, kCuda = 2 };
std::string_view DeviceKindName(DeviceKind kind);  // "host", "sim", "cuda"

// Note [Devices without bytes]
// ----------------------------
// A sim device in timing-only mode (405B parameters on 16k GPUs) accounts for memory and time
// but stores no bytes; DeviceInfo::holds_bytes says so. On such a device Allocate, Free, Copy,
// CopyFromHost and Fill succeed and check their arguments exactly as elsewhere (bounds, handle
// validity, sizes) but move no data; CopyFromHost and WriteKernelOutput also take an empty
// `src` there, for bits the caller did not compute, and CopyToHost an empty `dst`, for a copy
// whose cost counts but whose bytes nobody reads. CopyToHost into a non-empty `dst` fails with
// FailedPrecondition: code that needs the bytes back checks holds_bytes first (parity is then
// checked on sampled elements, recomputed from the counter-based stream: Note [Sampled fills]
// in sim/sim_device.h). Comm over such devices checks sizes and accounts traffic but carries
// no payload.
struct DeviceInfo {
  std::string name;   // unique among a run's devices: "host:3", "sim:node0/gpu3", "cuda:0"
  std::string model;  // what it stands for: "host", "H100 80GB HBM3", ...
  DeviceKind kind = DeviceKind::kHost;
  int rank = -1;          // the rank it belongs to; -1 when not bound to a rank
  uint64_t capacity = 0;  // bytes the device may allocate (a budget on cuda)
  bool holds_bytes = true;
};

// One rank's accelerator. All operations are synchronous from the caller's view: when a call
// returns, its effect is complete (a cuda backend synchronizes its stream). Time is not part
// of this interface: the sim backend charges simulated time inside these calls, the cuda
// backend measures it, the host backend has none.
//
// Thread safety: implementations are safe to call from several threads; concurrent writes to
// overlapping bytes leave those bytes unspecified (as on a GPU).
class Device {
 public:
  Device() = default;
  Device(const Device&) = delete;
  Device& operator=(const Device&) = delete;
  virtual ~Device();

  // Name, kind, capacity and capabilities. Never fails, never blocks on the device.
  virtual DeviceInfo Info() const = 0;

  // Reserves `bytes` under `tag`. OK with a buffer when it fits; OK with Allocation::oom set
  // when it does not (see Note [OOM is a result, not an error]). A zero-byte request fits and
  // gives a valid handle. The new buffer's bytes are unspecified (the host device fills them
  // with a fixed pattern, so runs stay deterministic). The caller owns the buffer until Free.
  // Fails with InvalidArgument when `tag` is empty.
  virtual StatusOr<Allocation> Allocate(uint64_t bytes, std::string_view tag) = 0;

  // Whether Allocate(bytes, ...) would fit now. Records nothing and changes nothing.
  virtual bool WouldFit(uint64_t bytes) const = 0;

  // Releases a buffer from Allocate and returns its bytes to its tag. Fails with
  // InvalidArgument for a null handle or one from another device, and with NotFound for a
  // buffer already freed; the accounting is then unchanged.
  virtual Status Free(const Buffer& buffer) = 0;

  // Copies src.size() host bytes into `dst`. REQUIRES dst.bytes == src.size() (or, on a device
  // without bytes, src empty) and dst in bounds; otherwise InvalidArgument and nothing is
  // written. On a device without bytes the data are discarded (Note [Devices without bytes]).
  virtual Status CopyFromHost(const BufferRegion& dst, std::span<const std::byte> src) = 0;

  // Copies the bytes of `src` to host memory `dst`. REQUIRES src.bytes == dst.size() and src
  // in bounds (InvalidArgument otherwise). On a device without bytes: FailedPrecondition, except
  // for an empty `dst`, which charges the copy and reads nothing.
  virtual Status CopyToHost(const BufferRegion& src, std::span<std::byte> dst) = 0;

  // Device-to-device copy within this device. REQUIRES dst.bytes == src.bytes, both in bounds
  // (InvalidArgument otherwise). Overlapping ranges copy as if through a temporary.
  virtual Status Copy(const BufferRegion& dst, const BufferRegion& src) = 0;

  // The init hook: writes the elements `request` describes into `dst`, densely, in its dtype.
  // REQUIRES ValidateFillRequest(request).ok() and dst.bytes == request.bytes() (else
  // InvalidArgument, nothing written). kernels/ implements the element math; a backend that
  // was given no fill implementation returns FailedPrecondition. On a device without bytes it
  // checks the request and writes nothing.
  virtual Status Fill(const BufferRegion& dst, const FillRequest& request) = 0;

  // Capacity, live and peak bytes per tag, and the OOM log. Never fails.
  virtual MemoryStats Stats() const = 0;

  // Note [Modelled init kernels]
  // ----------------------------
  // Seed policies that reproduce a framework's own generator (PyTorch's CUDA Philox layout,
  // its CPU mt19937) compute the bits on the host, in kernels/torch, because only twinsim's
  // counter streams have a device fill. Two hooks tell the backend what really ran, so the sim
  // charges the right time and the right link:
  //   WriteKernelOutput  the bits of an init kernel that ran on this GPU: charged as a kernel
  //                      of `elements` elements on the GPU (sim), not as a host-to-device copy.
  //   HostInitWork       `elements` values produced by the rank's CPU (CPU-side init before
  //                      a copy to the GPU): charged on the node's CPU (sim).
  // On a device without bytes (timing-only sim) policies skip computing the bits and pass an
  // empty `src`; such bits are never sampled (only Fill's are: Note [Sampled fills] in
  // sim/sim_device.h), so parity and the other value checks then need a data-mode run.

  // Writes `src` into `dst` as the output of an init kernel of `elements` elements that ran on
  // this device. REQUIRES dst in bounds and src.size() == dst.bytes, or src empty on a device
  // without bytes (else InvalidArgument, nothing written). Default: CopyFromHost.
  virtual Status WriteKernelOutput(const BufferRegion& dst, std::span<const std::byte> src,
                                   uint64_t elements);

  // Accounts `elements` values computed by this rank's CPU. Default: nothing (no time).
  virtual Status HostInitWork(uint64_t elements);

  // Accounts `bytes` read by this rank from checkpoint storage into host memory (a DCP load
  // reads a file's items into CPU tensors before copying shards to the GPU; the copy is a
  // separate CopyFromHost). The sim charges the node's storage link
  // (core::NodeSpec::storage_read_bytes_per_s), shared by the node's ranks. Default: nothing.
  virtual Status StorageRead(uint64_t bytes);

  // Accounts one op of a training step on this GPU: `flops` of matmuls and `hbm_bytes` streamed
  // through device memory (Note [Op cost] in policies/placement/workload.h); `what` names it in
  // traces. Default: nothing (no time). REQUIRES flops finite and >= 0 (else InvalidArgument).
  virtual Status Compute(double flops, uint64_t hbm_bytes, std::string_view what);
};

// Forwards every call to another Device; subclass it and override what you want to change
// (LevelDB's EnvWrapper). Used by FaultyDevice and by backends' decorators.
class DeviceWrapper : public Device {
 public:
  // REQUIRES: target is non-null and outlives this wrapper. Does not take ownership.
  explicit DeviceWrapper(Device* target) : target_(target) {}

  Device* target() const { return target_; }

  DeviceInfo Info() const override { return target_->Info(); }
  StatusOr<Allocation> Allocate(uint64_t bytes, std::string_view tag) override {
    return target_->Allocate(bytes, tag);
  }
  bool WouldFit(uint64_t bytes) const override { return target_->WouldFit(bytes); }
  Status Free(const Buffer& buffer) override { return target_->Free(buffer); }
  Status CopyFromHost(const BufferRegion& dst, std::span<const std::byte> src) override {
    return target_->CopyFromHost(dst, src);
  }
  Status CopyToHost(const BufferRegion& src, std::span<std::byte> dst) override {
    return target_->CopyToHost(src, dst);
  }
  Status Copy(const BufferRegion& dst, const BufferRegion& src) override {
    return target_->Copy(dst, src);
  }
  Status Fill(const BufferRegion& dst, const FillRequest& request) override {
    return target_->Fill(dst, request);
  }
  MemoryStats Stats() const override { return target_->Stats(); }
  Status WriteKernelOutput(const BufferRegion& dst, std::span<const std::byte> src,
                           uint64_t elements) override {
    return target_->WriteKernelOutput(dst, src, elements);
  }
  Status HostInitWork(uint64_t elements) override { return target_->HostInitWork(elements); }
  Status StorageRead(uint64_t bytes) override { return target_->StorageRead(bytes); }
  Status Compute(double flops, uint64_t hbm_bytes, std::string_view what) override {
    return target_->Compute(flops, hbm_bytes, what);
  }

 private:
  Device* target_;
};

// A process-unique, non-zero device id for Buffer::device_id. Thread-safe. Every backend's
// device takes one at construction.
uint64_t NewDeviceId();

// Allocate, with OOM turned into a ResourceExhausted Status carrying OomReport::ToString():
// for callers (tests, setup code) to whom running out of memory is fatal.
StatusOr<Buffer> AllocateOrError(Device& device, uint64_t bytes, std::string_view tag);

}  // namespace twinsim::core

#endif  // TWINSIM_CORE_DEVICE_H_
