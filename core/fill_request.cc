#include "core/fill_request.h"

#include <fmt/format.h>

#include <limits>

namespace twinsim::core {

std::string_view FillPrimitiveName(FillPrimitive primitive) {
  switch (primitive) {
    case FillPrimitive::kUniform:
      return "uniform";
    case FillPrimitive::kNormal:
      return "normal";
    case FillPrimitive::kTruncNormal:
      return "trunc_normal";
    case FillPrimitive::kConstant:
      return "constant";
  }
  return "invalid";
}

std::string_view FillDTypeName(FillDType dtype) {
  switch (dtype) {
    case FillDType::kFp32:
      return "fp32";
    case FillDType::kBf16:
      return "bf16";
    case FillDType::kFp16:
      return "fp16";
  }
  return "invalid";
}

std::string FillRequest::ToString() const {
  return fmt::format("{}({}, {}, {}, {}, {}, {}) key={:#010x}:{:#010x} draw={} {} [{}, {})",
                     FillPrimitiveName(primitive), params[0], params[1], params[2], params[3],
                     params[4], params[5], key[0], key[1], draw, FillDTypeName(dtype), begin, end);
}

Status ValidateFillRequest(const FillRequest& request) {
  if (FillPrimitiveName(request.primitive) == "invalid") {
    return Status::InvalidArgument(fmt::format("fill request: unknown primitive {}",
                                               static_cast<uint32_t>(request.primitive)));
  }
  if (FillDTypeName(request.dtype) == "invalid") {
    return Status::InvalidArgument(
        fmt::format("fill request: unknown dtype {}", static_cast<int>(request.dtype)));
  }
  if (request.begin > request.end) {
    return Status::InvalidArgument(
        fmt::format("fill request: begin {} is after end {}", request.begin, request.end));
  }
  if (request.elements() > std::numeric_limits<uint64_t>::max() / FillDTypeSize(request.dtype)) {
    return Status::InvalidArgument(fmt::format(
        "fill request: [{}, {}) overflows a 64-bit byte count", request.begin, request.end));
  }
  return Status::Ok();
}

}  // namespace twinsim::core
