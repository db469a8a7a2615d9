#include "kernels/device_fill.h"

#include <string>

#include "kernels/fill.h"
#include "kernels/resolve.h"

namespace twinsim::kernels {

StatusOr<core::FillRequest> MakeFillRequest(uint64_t seed, std::string_view name,
                                            const core::InitSpec& init, core::DType dtype,
                                            uint64_t begin, uint64_t end, uint32_t draw) {
  StatusOr<Transform> t = Resolve(init);
  if (!t.ok()) return t.status();
  const PhiloxKey key = DeriveParamKey(seed, name);
  core::FillRequest request;
  request.key[0] = key.w[0];
  request.key[1] = key.w[1];
  request.draw = draw;
  request.transform = *t;
  request.dtype = dtype;
  request.begin = begin;
  request.end = end;
  TWINSIM_RETURN_IF_ERROR(core::ValidateFillRequest(request));
  return request;
}

Status FillOnHost(const core::FillRequest& request, std::span<std::byte> out) {
  TWINSIM_RETURN_IF_ERROR(core::ValidateFillRequest(request));
  if (out.size() != request.bytes()) {
    return Status::InvalidArgument("FillOnHost: output is " + std::to_string(out.size()) +
                                   " bytes, the request writes " + std::to_string(request.bytes()) +
                                   " (" + request.ToString() + ")");
  }
  const ParamStream stream{PhiloxKey{{request.key[0], request.key[1]}}, request.draw};
  const uint64_t width = request.end - request.begin;
  const uint64_t row_bytes = width * core::DTypeSize(request.dtype);
  for (uint64_t r = 0; r < request.rows; ++r) {
    const uint64_t begin = request.begin + r * request.row_stride;
    FillRange(stream, request.transform, request.dtype, begin, begin + width,
              out.data() + r * row_bytes);
  }
  return Status::Ok();
}

}  // namespace twinsim::kernels
