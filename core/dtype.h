// DType: the storage type of parameter elements (fp32, bf16, fp16), shared by model specs,
// fill requests, devices and the kernels that round to it (kernels/dtype.h).
//
// Plain enum and constexpr helpers only, so the header also compiles in CUDA device code.
#ifndef TWINSIM_CORE_DTYPE_H_
#define TWINSIM_CORE_DTYPE_H_

#include <cstdint>
#include <string_view>

#include "core/status.h"

namespace twinsim::core {

enum class DType : uint8_t { kFp32 = 0, kBf16 = 1, kFp16 = 2 };

// Bytes per element: 4 for fp32, 2 for bf16 and fp16.
constexpr uint64_t DTypeSize(DType dtype) { return dtype == DType::kFp32 ? 4 : 2; }
// "fp32", "bf16", "fp16"; "?" for a value that is not an enumerator.
std::string_view DTypeName(DType dtype);
// Accepts fp32|float32, bf16|bfloat16, fp16|float16|half; InvalidArgument otherwise.
StatusOr<DType> ParseDType(std::string_view text);
// True for the three enumerators (a DType read from untrusted bytes may be anything).
constexpr bool IsValidDType(DType dtype) { return static_cast<uint8_t>(dtype) <= 2; }

}  // namespace twinsim::core

#endif  // TWINSIM_CORE_DTYPE_H_
