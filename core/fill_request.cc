#include "core/fill_request.h"

#include <fmt/format.h>

#include <limits>

namespace twinsim::core {

std::string_view PrimitiveName(Primitive primitive) {
  switch (primitive) {
    case Primitive::kUniform:
      return "uniform";
    case Primitive::kNormal:
      return "normal";
    case Primitive::kTruncNormal:
      return "trunc_normal";
    case Primitive::kConstant:
      return "constant";
  }
  return "invalid";
}

std::string FillRequest::ToString() const {
  return fmt::format("{}({}, {}, {}, {}, {}, {}) key={:#010x}:{:#010x} draw={} {} [{}, {})",
                     PrimitiveName(transform.prim), transform.p[0], transform.p[1], transform.p[2],
                     transform.p[3], transform.p[4], transform.p[5], key[0], key[1], draw,
                     DTypeName(dtype), begin, end) +
         (rows == 1 ? std::string() : fmt::format(" x {} rows, stride {}", rows, row_stride));
}

Status ValidateFillRequest(const FillRequest& request) {
  if (PrimitiveName(request.transform.prim) == "invalid") {
    return Status::InvalidArgument(fmt::format("fill request: unknown primitive {}",
                                               static_cast<uint32_t>(request.transform.prim)));
  }
  if (!IsValidDType(request.dtype)) {
    return Status::InvalidArgument(
        fmt::format("fill request: unknown dtype {}", static_cast<int>(request.dtype)));
  }
  if (request.begin > request.end) {
    return Status::InvalidArgument(
        fmt::format("fill request: begin {} is after end {}", request.begin, request.end));
  }
  if (request.rows == 0) {
    return Status::InvalidArgument("fill request: rows must be at least 1");
  }
  const uint64_t width = request.end - request.begin;
  if (request.rows > 1) {
    if (request.row_stride < width) {
      return Status::InvalidArgument(fmt::format(
          "fill request: row stride {} is shorter than a row of {} elements (rows would overlap)",
          request.row_stride, width));
    }
    constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();
    if (request.row_stride > (kMax - request.end) / (request.rows - 1)) {
      return Status::InvalidArgument(fmt::format(
          "fill request: {} rows of stride {} from [{}, {}) pass 2^64 elements", request.rows,
          request.row_stride, request.begin, request.end));
    }
  }
  if (width != 0 && request.rows > std::numeric_limits<uint64_t>::max() / width) {
    return Status::InvalidArgument(fmt::format(
        "fill request: {} rows of {} elements overflow a 64-bit count", request.rows, width));
  }
  if (request.elements() > std::numeric_limits<uint64_t>::max() / DTypeSize(request.dtype)) {
    return Status::InvalidArgument(fmt::format(
        "fill request: [{}, {}) overflows a 64-bit byte count", request.begin, request.end));
  }
  return Status::Ok();
}

}  // namespace twinsim::core
