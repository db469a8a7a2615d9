#include "kernels/fill.h"

#include <algorithm>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace twinsim::kernels {
namespace {

// 64-bit finalizer of MurmurHash3 (a bijection with full avalanche).
constexpr uint64_t Mix64(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  x ^= x >> 33;
  return x;
}

// Domain tag so that twinsim's keys share nothing with other users of the same mixer.
constexpr uint64_t kKeyDomain = 0x74776e73696d4b31ULL;  // "twnsimK1"

// Blocks per batch in the vectorized host path (256 elements). A multiple of 8 (AVX2 lanes).
constexpr int kBatchBlocks = 64;
static_assert(kBatchBlocks % 8 == 0);

// Note [Vectorized host fill]
// The host fill computes a batch of blocks at a time, structure-of-arrays, so that the Philox
// rounds and the float transforms vectorize: Philox with AVX2 intrinsics where the CPU has
// them (GCC's own vectorization of 32x32->64 multiplies is 3x slower), the transforms through
// target_clones (SSE2 by default, AVX2 where available). Vector add/mul/div/sqrt and int->float
// conversion round exactly like their scalar forms, and -ffp-contract=off forbids fused
// multiply-add, so the result is the same bits as ElementValue, which fill_test checks.
// ThreadSanitizer's runtime is not up when the loader runs target_clones' ifunc resolvers,
// which crash in its instrumentation: the tsan build (.bazelrc) uses the default clone only.
#if defined(__SANITIZE_THREAD__)
#define TWINSIM_VECTOR_CLONES
#else
#define TWINSIM_VECTOR_CLONES __attribute__((target_clones("avx2", "default")))
#endif

struct Words {
  uint32_t w[4][kBatchBlocks];
};

void BatchWordsPortable(const ParamStream& stream, uint64_t first_block, int n, Words* words) {
  const uint32_t k0 = stream.key.w[0], k1 = stream.key.w[1], draw = stream.draw;
  for (int i = 0; i < n; ++i) {
    const uint64_t block = first_block + static_cast<uint64_t>(i);
    const PhiloxCounter c = Philox4x32(
        PhiloxCounter{{static_cast<uint32_t>(block), static_cast<uint32_t>(block >> 32), draw, 0u}},
        PhiloxKey{{k0, k1}});
    words->w[0][i] = c.w[0];
    words->w[1][i] = c.w[1];
    words->w[2][i] = c.w[2];
    words->w[3][i] = c.w[3];
  }
}

#if defined(__x86_64__)
// (hi, lo) of the 32x32->64 products a[j] * m for 8 lanes: vpmuludq on the even lanes and on
// the odd lanes shifted down, then blends put each half back in its lane.
__attribute__((target("avx2"))) inline void MulHiLo8(__m256i a, __m256i m, __m256i* hi,
                                                     __m256i* lo) {
  const __m256i even = _mm256_mul_epu32(a, m);
  const __m256i odd = _mm256_mul_epu32(_mm256_srli_epi64(a, 32), m);
  *lo = _mm256_blend_epi32(even, _mm256_slli_epi64(odd, 32), 0xAA);
  *hi = _mm256_blend_epi32(_mm256_srli_epi64(even, 32), odd, 0xAA);
}

// Philox4x32-10 on 8 blocks at a time. Integer arithmetic: identical to Philox4x32.
__attribute__((target("avx2"))) void BatchWordsAvx2(const ParamStream& stream, uint64_t first_block,
                                                    int n, Words* words) {
  const __m256i m0 = _mm256_set1_epi32(static_cast<int>(kPhiloxM0));
  const __m256i m1 = _mm256_set1_epi32(static_cast<int>(kPhiloxM1));
  const __m256i w0 = _mm256_set1_epi32(static_cast<int>(kPhiloxW0));
  const __m256i w1 = _mm256_set1_epi32(static_cast<int>(kPhiloxW1));
  for (int i = 0; i < n; i += 8) {  // Words holds kBatchBlocks (a multiple of 8) entries
    alignas(32) uint32_t lo[8], hi[8];
    for (int j = 0; j < 8; ++j) {
      const uint64_t block = first_block + static_cast<uint64_t>(i + j);
      lo[j] = static_cast<uint32_t>(block);
      hi[j] = static_cast<uint32_t>(block >> 32);
    }
    __m256i c0 = _mm256_load_si256(reinterpret_cast<const __m256i*>(lo));
    __m256i c1 = _mm256_load_si256(reinterpret_cast<const __m256i*>(hi));
    __m256i c2 = _mm256_set1_epi32(static_cast<int>(stream.draw));
    __m256i c3 = _mm256_setzero_si256();
    __m256i k0 = _mm256_set1_epi32(static_cast<int>(stream.key.w[0]));
    __m256i k1 = _mm256_set1_epi32(static_cast<int>(stream.key.w[1]));
    for (int r = 0; r < kPhiloxRounds; ++r) {
      if (r > 0) {
        k0 = _mm256_add_epi32(k0, w0);
        k1 = _mm256_add_epi32(k1, w1);
      }
      __m256i hi0, lo0, hi1, lo1;
      MulHiLo8(c0, m0, &hi0, &lo0);
      MulHiLo8(c2, m1, &hi1, &lo1);
      c0 = _mm256_xor_si256(_mm256_xor_si256(hi1, c1), k0);
      c1 = lo1;
      c2 = _mm256_xor_si256(_mm256_xor_si256(hi0, c3), k1);
      c3 = lo0;
    }
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(&words->w[0][i]), c0);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(&words->w[1][i]), c1);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(&words->w[2][i]), c2);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(&words->w[3][i]), c3);
  }
}
#endif

// The Philox words of blocks first_block .. first_block + n - 1. REQUIRES: n <= kBatchBlocks.
void BatchWords(const ParamStream& stream, uint64_t first_block, int n, Words* words) {
#if defined(__x86_64__)
  // TWINSIM_FILL_PORTABLE=1 forces the portable path (fill_portable_test runs it on AVX2
  // machines too).
  static const bool kHasAvx2 =
      __builtin_cpu_supports("avx2") && std::getenv("TWINSIM_FILL_PORTABLE") == nullptr;
  if (kHasAvx2) {
    BatchWordsAvx2(stream, first_block, n, words);
    return;
  }
#endif
  BatchWordsPortable(stream, first_block, n, words);
}

// Values of n blocks into out[0 .. 4n), element 4i+lane from words.w[lane][i].
TWINSIM_VECTOR_CLONES
void BatchValues(const Transform& t, const Words& words, int n, float* out) {
  float v[4][kBatchBlocks];
  switch (t.prim) {
    case Primitive::kUniform:
      for (int lane = 0; lane < 4; ++lane) {
        for (int i = 0; i < n; ++i) v[lane][i] = UniformValue(t, words.w[lane][i]);
      }
      break;
    case Primitive::kNormal: {
      const float mean = t.p[0], std = t.p[1];
      for (int pair = 0; pair < 2; ++pair) {
        for (int i = 0; i < n; ++i) {
          float zc, zs;
          BoxMuller(words.w[2 * pair][i], words.w[2 * pair + 1][i], &zc, &zs);
          v[2 * pair][i] = mean + std * zc;
          v[2 * pair + 1][i] = mean + std * zs;
        }
      }
      break;
    }
    case Primitive::kTruncNormal:
      for (int lane = 0; lane < 4; ++lane) {
        for (int i = 0; i < n; ++i) v[lane][i] = TruncNormalValue(t, words.w[lane][i]);
      }
      break;
    case Primitive::kConstant:
      std::fill(out, out + 4 * n, t.p[0]);
      return;
  }
  for (int i = 0; i < n; ++i) {
    out[4 * i + 0] = v[0][i];
    out[4 * i + 1] = v[1][i];
    out[4 * i + 2] = v[2][i];
    out[4 * i + 3] = v[3][i];
  }
}

void StoreRun(DType dtype, const float* values, uint64_t count, void* out, uint64_t offset) {
  if (dtype == DType::kFp32) {
    std::copy(values, values + count, static_cast<float*>(out) + offset);
    return;
  }
  uint16_t* dst = static_cast<uint16_t*>(out) + offset;
  if (dtype == DType::kBf16) {
    for (uint64_t i = 0; i < count; ++i) dst[i] = FloatToBf16(values[i]);
  } else {
    for (uint64_t i = 0; i < count; ++i) dst[i] = FloatToFp16(values[i]);
  }
}

}  // namespace

PhiloxKey DeriveParamKey(uint64_t root_seed, std::string_view name) {
  // A sponge over the name's bytes, 8 at a time (little-endian, zero-padded), with the
  // length absorbed last so that "a" and "a\0" differ.
  uint64_t h = Mix64(root_seed ^ kKeyDomain);
  size_t i = 0;
  while (i < name.size()) {
    uint64_t chunk = 0;
    for (size_t j = 0; j < 8 && i + j < name.size(); ++j) {
      chunk |= static_cast<uint64_t>(static_cast<unsigned char>(name[i + j])) << (8 * j);
    }
    h = Mix64(h ^ chunk) + 0x9e3779b97f4a7c15ULL;
    i += 8;
  }
  h = Mix64(h ^ static_cast<uint64_t>(name.size()));
  return PhiloxKey{{static_cast<uint32_t>(h), static_cast<uint32_t>(h >> 32)}};
}

float ElementValue(const ParamStream& stream, const Transform& t, uint64_t e) {
  float values[4];
  BlockValues(t, BlockWords(stream, e / kBlockElems), values);
  return values[e % kBlockElems];
}

void FillRange(const ParamStream& stream, const Transform& t, DType dtype, uint64_t begin,
               uint64_t end, void* out) {
  Words words;
  float values[4 * kBatchBlocks];
  uint64_t e = begin;
  while (e < end) {
    const uint64_t block = e / kBlockElems;
    const uint64_t lane = e % kBlockElems;
    if (lane != 0 || end - e < kBlockElems) {
      // A partial block at either end of the range.
      float block_values[4];
      BlockValues(t, BlockWords(stream, block), block_values);
      const uint64_t count = std::min<uint64_t>(kBlockElems - lane, end - e);
      StoreRun(dtype, block_values + lane, count, out, e - begin);
      e += count;
      continue;
    }
    const int n = static_cast<int>(std::min<uint64_t>(kBatchBlocks, (end - e) / kBlockElems));
    BatchWords(stream, block, n, &words);
    BatchValues(t, words, n, values);
    StoreRun(dtype, values, static_cast<uint64_t>(n) * kBlockElems, out, e - begin);
    e += static_cast<uint64_t>(n) * kBlockElems;
  }
}

void FillRangeParallel(const ParamStream& stream, const Transform& t, DType dtype, uint64_t begin,
                       uint64_t end, void* out, int threads) {
  if (threads <= 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  constexpr uint64_t kMinPerThread = 1 << 16;
  const uint64_t total = end > begin ? end - begin : 0;
  const uint64_t useful = std::max<uint64_t>(1, total / kMinPerThread);
  const int workers = static_cast<int>(std::min<uint64_t>(threads, useful));
  if (workers <= 1) {
    FillRange(stream, t, dtype, begin, end, out);
    return;
  }
  // Split at block-aligned absolute indices; each worker writes a disjoint slice.
  std::vector<uint64_t> cuts(workers + 1);
  cuts[0] = begin;
  cuts[workers] = end;
  for (int w = 1; w < workers; ++w) {
    const uint64_t cut = begin + total / workers * w;
    cuts[w] = std::max(cuts[w - 1], cut - cut % kBlockElems);
  }
  std::vector<std::thread> pool;
  pool.reserve(workers);
  const size_t elem = DTypeSize(dtype);
  for (int w = 0; w < workers; ++w) {
    pool.emplace_back([&, w] {
      void* slice = static_cast<char*>(out) + (cuts[w] - begin) * elem;
      FillRange(stream, t, dtype, cuts[w], cuts[w + 1], slice);
    });
  }
  for (std::thread& th : pool) th.join();
}

void FillBlock2D(const ParamStream& stream, const Transform& t, DType dtype, const Block2D& b,
                 void* out) {
  const uint64_t width = b.col_end - b.col_begin;
  const size_t elem = DTypeSize(dtype);
  for (uint64_t r = b.row_begin; r < b.row_end; ++r) {
    void* row_out = static_cast<char*>(out) + (r - b.row_begin) * width * elem;
    FillRange(stream, t, dtype, r * b.cols + b.col_begin, r * b.cols + b.col_end, row_out);
  }
}

}  // namespace twinsim::kernels
