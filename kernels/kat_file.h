// The fill known-answer file (kernels/testdata/fill_kat.txt): cases of (seed, parameter,
// init spec, dtype, draw, range) with the exact bits every build must produce.
//
// One file pins the values for the host fill, the CUDA fill and any later backend; changing
// the stream layout or a transform changes it, on purpose and visibly. Format, line based:
//   # comment
//   case <seed> <param> <spec> <dtype> <draw> <begin> <count>
//   <hex bits> ... (count values, any number per line; 8 digits for fp32, 4 for bf16/fp16)
#ifndef TWINSIM_KERNELS_KAT_FILE_H_
#define TWINSIM_KERNELS_KAT_FILE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"
#include "kernels/dtype.h"
#include "kernels/resolve.h"
#include "kernels/transform.h"

namespace twinsim::kernels {

struct KatCase {
  uint64_t seed = 0;
  std::string param;
  std::string spec;  // canonical InitSpec text
  DType dtype = DType::kFp32;
  uint32_t draw = 0;
  uint64_t begin = 0;
  std::vector<uint32_t> bits;  // one per element, fp32 bits or 16-bit patterns

  ParamStream Stream() const;
  StatusOr<Transform> ResolvedTransform() const;
};

// Parses the file's text. Errors name the line number and what was expected.
StatusOr<std::vector<KatCase>> ParseKatFile(const std::string& text);
// Reads and parses `path`.
StatusOr<std::vector<KatCase>> ReadKatFile(const std::string& path);
// Writes cases in the format above, 8 values per line.
std::string FormatKatFile(const std::vector<KatCase>& cases, const std::string& header);

// The bit pattern of element i of a buffer in `dtype`.
uint32_t ElementBits(DType dtype, const void* data, uint64_t i);

}  // namespace twinsim::kernels

#endif  // TWINSIM_KERNELS_KAT_FILE_H_
