// Element-wise, counter-based parameter fill on the host: the reference twinsim's sim and
// cuda backends must reproduce bit for bit.
//
// Element e of a parameter is a pure function of (root seed, parameter name, e, draw): no
// state, no order, no dependence on which rank, shard, thread or launch shape computes it.
// So any sub-range or TP shard can be filled on its own and equals the full fill there.
//
// Note [Element-wise streams]
// ---------------------------
// key   = DeriveParamKey(root_seed, name): a 64-bit hash of the seed and the parameter's
//         stable name, split into the two Philox key words. Keys are hashed, never offset:
//         seed+1 and name "w" share nothing with seed and name "w" or any other name.
// block = e / 4, lane = e % 4. One Philox4x32-10 call on counter (block_lo, block_hi, draw, 0)
//         gives four 32-bit words; element e uses word `lane` (uniform, trunc_normal) or the
//         Box-Muller pair {lane & ~1, lane | 1} (normal: even lane takes r*cos, odd r*sin).
// draw  = which draw of the parameter this is (0 for the first init; re-initializations
//         and auxiliary streams take 1, 2, ...). Counter word 3 is reserved and always 0.
// The float transforms use only correctly rounded operations and twinsim's own log, sincos
// and erfinv (kernels/portable_math.h), so the CUDA build gives identical bits.
#ifndef TWINSIM_KERNELS_FILL_H_
#define TWINSIM_KERNELS_FILL_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "core/block2d.h"
#include "core/status.h"
#include "kernels/dtype.h"
#include "kernels/philox.h"
#include "kernels/resolve.h"
#include "kernels/transform.h"

namespace twinsim::kernels {

// Hashes (root_seed, name) into a Philox key. Pure; stable across releases: changing it
// changes every value twinsim produces, and kernels/testdata/fill_kat.txt would catch it.
PhiloxKey DeriveParamKey(uint64_t root_seed, std::string_view name);

// The fp32 value of element `e` (before any dtype rounding). Pure; the slow reference path.
float ElementValue(const ParamStream& stream, const Transform& t, uint64_t e);

// Fills elements [begin, end) of the parameter into `out`, which must hold (end - begin)
// elements of `dtype` (fp32: float; bf16/fp16: uint16_t bit patterns).
// REQUIRES: begin <= end. Single-threaded; safe to call concurrently on disjoint outputs.
void FillRange(const ParamStream& stream, const Transform& t, DType dtype, uint64_t begin,
               uint64_t end, void* out);

// As FillRange, split over `threads` worker threads (0 = hardware concurrency). The result is
// identical for every thread count.
void FillRangeParallel(const ParamStream& stream, const Transform& t, DType dtype, uint64_t begin,
                       uint64_t end, void* out, int threads);

// TP shards of a row-major [rows, cols] parameter are core::Block2D blocks (core/block2d.h).
using core::Block2D;
using core::ValidateBlock;

// Fills `block` densely (row-major, leading dimension col_end - col_begin) into `out`.
// Element (r, c) gets the value the full fill has at index r * cols + c.
// REQUIRES: ValidateBlock(block).ok().
void FillBlock2D(const ParamStream& stream, const Transform& t, DType dtype, const Block2D& block,
                 void* out);

}  // namespace twinsim::kernels

#endif  // TWINSIM_KERNELS_FILL_H_
