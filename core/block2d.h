// Block2D: a rectangular block of a row-major [rows, cols] matrix — a tensor-parallel shard of a
// Linear weight (a row block for a column-parallel split, a column block for a row-parallel one).
//
// ParallelLayout describes shards with it and the kernels fill exactly such blocks.
#ifndef TWINSIM_CORE_BLOCK2D_H_
#define TWINSIM_CORE_BLOCK2D_H_

#include <cstdint>

#include "core/status.h"

namespace twinsim::core {

// Rows [row_begin, row_end) and columns [col_begin, col_end) of a [rows, cols] matrix.
struct Block2D {
  uint64_t rows = 0, cols = 0;
  uint64_t row_begin = 0, row_end = 0;
  uint64_t col_begin = 0, col_end = 0;
  bool operator==(const Block2D&) const = default;
};

// OutOfRange unless the block lies inside the matrix, is not inverted, and rows * cols fits in
// 64 bits. Empty blocks are fine. Pure; thread-safe.
Status ValidateBlock(const Block2D& block);

}  // namespace twinsim::core

#endif  // TWINSIM_CORE_BLOCK2D_H_
