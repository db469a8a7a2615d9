// FillRequest: "fill elements [begin, end) of this parameter's init stream into a buffer", as
// plain data, so that Device::Fill can be declared in core/ without core depending on kernels/.
//
// kernels/ implements the math (Philox stream, distributions, dtype rounding: see Note
// [Element-wise streams] in kernels/fill.h) and provides the function a backend calls to
// execute a request; core only carries the request and checks that it is well formed. The
// enum values below equal kernels::Primitive and kernels::DType, so the adapter is a cast.
#ifndef TWINSIM_CORE_FILL_REQUEST_H_
#define TWINSIM_CORE_FILL_REQUEST_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "core/status.h"

namespace twinsim::core {

// The primitive distributions of the element-wise fill; values equal kernels::Primitive.
enum class FillPrimitive : uint32_t { kUniform = 0, kNormal = 1, kTruncNormal = 2, kConstant = 3 };

// Storage type of the filled elements; values equal kernels::DType (and core::ParamDType).
enum class FillDType : uint8_t { kFp32 = 0, kBf16 = 1, kFp16 = 2 };

inline constexpr uint64_t FillDTypeSize(FillDType dtype) {
  return dtype == FillDType::kFp32 ? 4 : 2;
}
std::string_view FillPrimitiveName(FillPrimitive primitive);
std::string_view FillDTypeName(FillDType dtype);

// One fill: elements [begin, end) of the stream (key, draw), transformed by `primitive` with
// `params` (meaning as kernels::Transform::p), stored as `dtype`. Element e of the output is
// element begin + e of the parameter. Trivially copyable, so a GPU backend can pass it by value.
struct FillRequest {
  uint32_t key[2] = {0, 0};  // Philox key (kernels::DeriveParamKey of seed and param name)
  uint32_t draw = 0;         // which draw of the parameter (0 for the first init)
  FillPrimitive primitive = FillPrimitive::kConstant;
  float params[6] = {0, 0, 0, 0, 0, 0};
  FillDType dtype = FillDType::kFp32;
  uint64_t begin = 0;  // first element (logical index in the whole parameter)
  uint64_t end = 0;    // one past the last element

  uint64_t elements() const { return end - begin; }
  // Bytes the fill writes. REQUIRES: ValidateFillRequest(*this).ok().
  uint64_t bytes() const { return elements() * FillDTypeSize(dtype); }
  // "normal(0, 0.02) key=0x1234abcd:0x5678ef01 draw=0 bf16 [0, 4096)", for messages.
  std::string ToString() const;
};

// InvalidArgument when begin > end, when the byte count overflows 64 bits, or when the
// primitive or dtype is not one of the enumerators. Pure; thread-safe.
Status ValidateFillRequest(const FillRequest& request);

}  // namespace twinsim::core

#endif  // TWINSIM_CORE_FILL_REQUEST_H_
