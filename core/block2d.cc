#include "core/block2d.h"

#include <cstdint>
#include <string>

namespace twinsim::core {

Status ValidateBlock(const Block2D& b) {
  auto str = [](uint64_t v) { return std::to_string(v); };
  if (b.row_begin > b.row_end || b.row_end > b.rows) {
    return Status::OutOfRange("row range [" + str(b.row_begin) + ", " + str(b.row_end) +
                              ") is not inside [0, " + str(b.rows) + ")");
  }
  if (b.col_begin > b.col_end || b.col_end > b.cols) {
    return Status::OutOfRange("column range [" + str(b.col_begin) + ", " + str(b.col_end) +
                              ") is not inside [0, " + str(b.cols) + ")");
  }
  if (b.cols != 0 && b.rows > UINT64_MAX / b.cols) {
    return Status::OutOfRange("rows * cols overflows 64 bits");
  }
  return Status::Ok();
}

}  // namespace twinsim::core
