// FillRequest: "fill elements [begin, end) of this parameter's init stream into a buffer", as
// plain data, so that Device::Fill can be declared in core/ without core depending on kernels/.
//
// kernels/ implements the math (Philox stream, distributions, dtype rounding: see Note
// [Element-wise streams] in kernels/fill.h) and provides the function a backend calls to
// execute a request (kernels:device_fill); core only carries the request and checks that it is
// well formed. Primitive and Transform are defined here, and kernels/transform.h evaluates them.
#ifndef TWINSIM_CORE_FILL_REQUEST_H_
#define TWINSIM_CORE_FILL_REQUEST_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "core/dtype.h"
#include "core/status.h"

namespace twinsim::core {

// The primitive distributions of the element-wise fill; torch.nn.init's initializers reduce to
// them (kernels/resolve.h).
enum class Primitive : uint32_t { kUniform = 0, kNormal = 1, kTruncNormal = 2, kConstant = 3 };

// A resolved initializer: float parameters only, trivially copyable to a GPU.
//   kUniform:     p[0] = lo, p[1] = hi - lo                value = lo + (hi-lo) * u
//   kNormal:      p[0] = mean, p[1] = std                  value = mean + std * z
//   kTruncNormal: p[0] = 2 Phi(alpha) - 1, p[1] = 2 Phi(beta) - 1 - p[0], p[2] = std sqrt(2),
//                 p[3] = mean, p[4] = a, p[5] = b          value = clamp(p3 + p2 erfinv(p0 + p1 u))
//   kConstant:    p[0] = value
struct Transform {
  Primitive prim = Primitive::kConstant;
  float p[6] = {0, 0, 0, 0, 0, 0};
};

std::string_view PrimitiveName(Primitive primitive);  // "invalid" for a non-enumerator

// One fill: elements [begin, end) of the stream (key, draw), transformed by `transform`,
// stored as `dtype`. Element e of the output is element begin + e of the parameter (with
// rows > 1: element begin + (e / w) * row_stride + e % w, w = end - begin). Trivially copyable, so a GPU backend can pass it by value.
struct FillRequest {
  uint32_t key[2] = {0, 0};  // Philox key (kernels::DeriveParamKey of seed and param name)
  uint32_t draw = 0;         // which draw of the parameter (0 for the first init)
  Transform transform;
  DType dtype = DType::kFp32;
  uint64_t begin = 0;  // first element (logical index in the whole parameter)
  uint64_t end = 0;    // one past the last element
  // A 2-D block (a column-split TP shard) in one request: `rows` runs of [begin, end), run r
  // shifted by r * row_stride logical elements, written one after another. rows == 1: the
  // plain range. REQUIRES (checked by ValidateFillRequest): row_stride >= end - begin when
  // rows > 1.
  uint64_t rows = 1;
  uint64_t row_stride = 0;

  uint64_t elements() const { return rows * (end - begin); }
  // Bytes the fill writes. REQUIRES: ValidateFillRequest(*this).ok().
  uint64_t bytes() const { return elements() * DTypeSize(dtype); }
  // "normal(0, 0.02) key=0x1234abcd:0x5678ef01 draw=0 bf16 [0, 4096)", for messages.
  std::string ToString() const;
};

// InvalidArgument when begin > end, when rows == 0, when rows > 1 with row_stride < end - begin
// or a last element past 2^64, when the byte count overflows 64 bits, or when the primitive or
// dtype is not one of the enumerators. Pure; thread-safe.
Status ValidateFillRequest(const FillRequest& request);

}  // namespace twinsim::core

#endif  // TWINSIM_CORE_FILL_REQUEST_H_
