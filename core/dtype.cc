#include "core/dtype.h"

#include <string>

#include "core/text.h"

namespace twinsim::core {

std::string_view DTypeName(DType dtype) {
  switch (dtype) {
    case DType::kFp32:
      return "fp32";
    case DType::kBf16:
      return "bf16";
    case DType::kFp16:
      return "fp16";
  }
  return "?";
}

StatusOr<DType> ParseDType(std::string_view text) {
  if (text == "fp32" || text == "float32") return DType::kFp32;
  if (text == "bf16" || text == "bfloat16") return DType::kBf16;
  if (text == "fp16" || text == "float16" || text == "half") return DType::kFp16;
  return Status::InvalidArgument("unknown dtype " + Quote(text) + " (expected fp32, bf16 or fp16)");
}

}  // namespace twinsim::core
