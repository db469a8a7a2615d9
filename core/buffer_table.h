// BufferTable: the live buffers of one Device and the checks every backend makes on a handle
// before touching it (null, another device's, freed, wrong size, region out of bounds), with
// the error texts all backends share, so a bad handle reads the same on host, sim and cuda.
//
// Note [Buffer handles] in core/device.h says why handles are plain values that must be
// checked on every use.
#ifndef TWINSIM_CORE_BUFFER_TABLE_H_
#define TWINSIM_CORE_BUFFER_TABLE_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "core/device.h"
#include "core/fill_request.h"
#include "core/status.h"

namespace twinsim::core {

// Checks `region` against device `device` (its name for messages) with id `device_id`, where
// `live_bytes` is the size of the live buffer region.buffer.id names, or null when no such
// buffer is live. `op` names the operation ("Free", "Copy (source)"). InvalidArgument for a
// null handle, another device's handle, a size that disagrees or a region out of bounds;
// NotFound for a buffer that is not live. Pure.
Status CheckBufferRegion(std::string_view device, uint64_t device_id, const BufferRegion& region,
                         std::string_view op, const uint64_t* live_bytes);

// The size checks of the Device calls, as every backend words them (InvalidArgument).
Status CheckAllocateTag(std::string_view device, uint64_t bytes, std::string_view tag);
Status CheckCopyFromHostSize(std::string_view device, const BufferRegion& dst, uint64_t host_bytes);
Status CheckCopyToHostSize(std::string_view device, const BufferRegion& src, uint64_t host_bytes);
Status CheckCopySizes(std::string_view device, const BufferRegion& dst, const BufferRegion& src);
Status CheckFillSize(std::string_view device, const BufferRegion& dst, const FillRequest& request);
// FailedPrecondition: CopyToHost on a device without bytes; `why` says what kind ("timing-only").
Status NoBytesToCopy(std::string_view device, std::string_view why);
// FailedPrecondition: Fill in data mode with no fill implementation; `option` names the
// option that provides one ("SimDeviceOptions::fill").
Status NoFillFunction(std::string_view device, std::string_view option);
// ResourceExhausted: the modelled device had room for `bytes` under `tag` but the host could
// not back them; `hint` says how to run without bytes.
Status HostCannotBack(std::string_view device, uint64_t bytes, std::string_view tag,
                      std::string_view hint);

// The live buffers of one device, each an Entry with `Data` (its bytes, or nothing). Hands out
// buffer ids 1, 2, ... in allocation order. Not synchronized: the device serializes calls.
template <typename Data>
class BufferTable {
 public:
  struct Entry {
    uint64_t bytes = 0;
    std::string tag;
    Data data{};
  };

  // `device` names the device in messages; `device_id` is its NewDeviceId().
  BufferTable(std::string device, uint64_t device_id)
      : device_(std::move(device)), device_id_(device_id) {}

  // Records a new live buffer and returns its handle.
  Buffer Add(uint64_t bytes, std::string tag, Data data) {
    const uint64_t id = next_id_++;
    entries_.emplace(id, Entry{bytes, std::move(tag), std::move(data)});
    return Buffer{device_id_, id, bytes};
  }

  // The live entry `region` refers to, after CheckBufferRegion.
  StatusOr<Entry*> Find(const BufferRegion& region, std::string_view op) {
    auto it = entries_.find(region.buffer.id);
    const uint64_t* live = it == entries_.end() ? nullptr : &it->second.bytes;
    TWINSIM_RETURN_IF_ERROR(CheckBufferRegion(device_, device_id_, region, op, live));
    return &it->second;
  }
  StatusOr<const Entry*> Find(const BufferRegion& region, std::string_view op) const {
    StatusOr<Entry*> entry = const_cast<BufferTable*>(this)->Find(region, op);
    if (!entry.ok()) return entry.status();
    return static_cast<const Entry*>(*entry);
  }

  // Forgets `buffer`. REQUIRES: Find(Whole(buffer), ...) succeeded.
  void Remove(const Buffer& buffer) { entries_.erase(buffer.id); }

 private:
  std::string device_;
  uint64_t device_id_;
  uint64_t next_id_ = 1;
  std::unordered_map<uint64_t, Entry> entries_;
};

}  // namespace twinsim::core

#endif  // TWINSIM_CORE_BUFFER_TABLE_H_
