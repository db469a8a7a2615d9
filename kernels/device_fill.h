// The bridge from core's Device::Fill to the element-wise fill: builds FillRequests from a
// (seed, parameter name, InitSpec) and executes them on host memory.
//
// core/ declares what a fill is (core/fill_request.h) without linking the math; a HostDevice
// is given FillOnHost as its FillFunction, so a policy's Device::Fill produces exactly the
// values of kernels::FillRange.
#ifndef TWINSIM_KERNELS_DEVICE_FILL_H_
#define TWINSIM_KERNELS_DEVICE_FILL_H_

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "core/fill_request.h"
#include "core/init_spec.h"
#include "core/status.h"

namespace twinsim::kernels {

// The request that fills elements [begin, end) of parameter `name` under root seed `seed`.
// Fails with InvalidArgument when `init` does not resolve (kernels/resolve.h) or begin > end.
StatusOr<core::FillRequest> MakeFillRequest(uint64_t seed, std::string_view name,
                                            const core::InitSpec& init, core::DType dtype,
                                            uint64_t begin, uint64_t end, uint32_t draw = 0);

// Executes `request` into `out`, which must be exactly request.bytes() long. Thread-safe on
// disjoint outputs. InvalidArgument for a malformed request or a wrongly sized `out`.
Status FillOnHost(const core::FillRequest& request, std::span<std::byte> out);

}  // namespace twinsim::kernels

#endif  // TWINSIM_KERNELS_DEVICE_FILL_H_
