// The values-only max pooling loops in AVX-512 intrinsics (F, BW, VL, and
// BMI2), for CPUs that have them: forward_rows.cpp and
// forward_channels_last.cpp call these first, and float_loops.cpp's
// vectoriser-made loops where they return false. The compiler's own code for
// these blocks came out part scalar and branchy (constant-trip blocks of
// stride-2 loads), and GCC's generic vectors are lowered for the baseline ISA
// under target_clones, so the hot blocks are written out: 16 outputs per
// register, one compare-and-select per tap in the body's tap order, taps in
// the padding and a block's missing lanes masked off (nothing is read or
// written past what a block uses).
#include <cstdint>

#include "float_loops.h"

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(POOLING_EXT_NO_ISA_CLONES)
#define POOLING_EXT_HAS_AVX512_VALUES 1
#include <immintrin.h>
#endif

namespace pooling_ext {
namespace simd {

#ifdef POOLING_EXT_HAS_AVX512_VALUES
namespace {

#define POOLING_EXT_AVX512_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,bmi2")))
#define POOLING_EXT_AVX512_INLINE POOLING_EXT_AVX512_TARGET __attribute__((always_inline)) inline

// Lanes i < n of a block of 16.
POOLING_EXT_AVX512_INLINE __mmask16 lanes16(int64_t n) {
  return n >= 16 ? __mmask16(0xffff) : static_cast<__mmask16>((1u << (n < 0 ? 0 : n)) - 1);
}

// x[0, n) as float (the other lanes 0), reading only those elements.
POOLING_EXT_AVX512_INLINE __m512 load_lanes(const float* x, int64_t n) { return _mm512_maskz_loadu_ps(lanes16(n), x); }

// bfloat16 bits, widened exactly.
POOLING_EXT_AVX512_INLINE __m512 load_lanes(const uint16_t* x, int64_t n) {
  const __m256i h = _mm256_maskz_loadu_epi16(lanes16(n), x);
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

POOLING_EXT_AVX512_INLINE void store_lanes(float* out, __m512 v, int64_t n) {
  _mm512_mask_storeu_ps(out, lanes16(n), v);
}

// Lanes holding bfloat16 values: their top halves.
POOLING_EXT_AVX512_INLINE void store_lanes(uint16_t* out, __m512 v, int64_t n) {
  const __m256i h = _mm512_cvtepi32_epi16(_mm512_srli_epi32(_mm512_castps_si512(v), 16));
  _mm256_mask_storeu_epi16(out, lanes16(n), h);
}

// torch's rule: v replaces best where greater, or NaN.
POOLING_EXT_AVX512_INLINE __m512 take_max(__m512 best, __m512 v) {
  const __mmask16 take = _mm512_cmp_ps_mask(v, best, _CMP_GT_OQ) | _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
  return _mm512_mask_mov_ps(best, take, v);
}

// Input element `index` of a row that starts at `row`, as an address: the
// lanes of a window in the padding are masked off, but the block's start may
// lie before the row (integer arithmetic: no out-of-bounds pointer is formed).
template <typename value_t>
POOLING_EXT_AVX512_INLINE const value_t* element_address(const value_t* row, int64_t index) {
  return reinterpret_cast<const value_t*>(reinterpret_cast<uintptr_t>(row) + index * int64_t(sizeof(value_t)));
}

// Lanes i (< n) whose element first + i * kStride lies in [0, width).
template <int kStride>
POOLING_EXT_AVX512_INLINE __mmask16 lanes_inside(int64_t first, int64_t width, int64_t n) {
  // i >= ceil(-first / kStride) and i < ceil((width - first) / kStride)
  const int64_t low = first >= 0 ? 0 : (-first + kStride - 1) / kStride;
  const int64_t high = width - first <= 0 ? 0 : (width - first + kStride - 1) / kStride;
  return static_cast<__mmask16>(lanes16(high < n ? high : n) & ~lanes16(low));
}

// x[i * kStride] for the lanes in `inside` (the others: 0), reading only those elements.
template <int kStride>
POOLING_EXT_AVX512_INLINE __m512 load_inside(const float* x, __mmask16 inside) {
  if constexpr (kStride == 1) {
    return _mm512_maskz_loadu_ps(inside, x);
  } else {
    // raw element 2i of lane i: the lane mask spread to even raw positions
    const uint32_t raw = _pdep_u32(inside, 0x55555555u);  // lane i -> raw element 2i
    const __m512 low = _mm512_maskz_loadu_ps(static_cast<__mmask16>(raw), x);
    const __m512 high = _mm512_maskz_loadu_ps(static_cast<__mmask16>(raw >> 16), x + 16);
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    return _mm512_permutex2var_ps(low, even, high);
  }
}

template <int kStride>
POOLING_EXT_AVX512_INLINE __m512 load_inside(const uint16_t* x, __mmask16 inside) {
  if constexpr (kStride == 1) {
    const __m256i h = _mm256_maskz_loadu_epi16(inside, x);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
  } else {
    const uint32_t raw = _pdep_u32(inside, 0x55555555u);
    const __m512i words = _mm512_maskz_loadu_epi16(static_cast<__mmask32>(raw), x);
    return _mm512_castsi512_ps(_mm512_slli_epi32(words, 16));
  }
}

// torch's rule on the lanes in `inside` only.
POOLING_EXT_AVX512_INLINE __m512 take_max_inside(__m512 best, __m512 v, __mmask16 inside) {
  const __mmask16 take = _mm512_cmp_ps_mask(v, best, _CMP_GT_OQ) | _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
  return _mm512_mask_mov_ps(best, take & inside, v);
}

// kBlocks x 16 outputs of one row from output i0 (lanes < `lanes` in the
// last block), in independent registers: -inf, the value of a window with
// no tap inside, then the window's taps that lie inside the row, row by row,
// then tw, the body's order. kInside: every tap of these outputs lies inside
// (no masks to compute).
template <int kBlocks, bool kInside, int kStride, typename value_t>
POOLING_EXT_AVX512_INLINE void row_blocks(const value_t* const* rows, int64_t row_count, int64_t kw, int64_t dilation,
                                          int64_t pad, int64_t width, value_t* out, int64_t i0, int64_t lanes) {
  __m512 best[kBlocks];
  for (int k = 0; k < kBlocks; ++k) best[k] = _mm512_set1_ps(-__builtin_inff());
  for (int64_t r = 0; r < row_count; ++r) {
    for (int64_t tw = 0; tw < kw; ++tw) {
      for (int k = 0; k < kBlocks; ++k) {
        const int64_t first = (i0 + 16 * k) * kStride - pad + tw * dilation;  // lane 0's element
        const int64_t block_lanes = k == kBlocks - 1 ? lanes : 16;
        const __mmask16 inside = kInside ? lanes16(block_lanes) : lanes_inside<kStride>(first, width, block_lanes);
        best[k] = take_max_inside(best[k], load_inside<kStride>(element_address(rows[r], first), inside), inside);
      }
    }
  }
  for (int k = 0; k < kBlocks; ++k) store_lanes(out + i0 + 16 * k, best[k], k == kBlocks - 1 ? lanes : 16);
}

// One output row, all n outputs, borders included: two blocks of 16 at a
// time (independent chains), without masks where every tap lies inside;
// rows[r] is window row r's first element (the window's rows inside the input).
template <int kStride, typename value_t>
POOLING_EXT_AVX512_TARGET void row_values(const value_t* const* rows, int64_t row_count, int64_t kw,
                                          int64_t dilation, int64_t pad, int64_t width, value_t* out, int64_t n) {
  // Outputs [i0, i0 + count) have every tap inside when their first tap and last tap are.
  const auto all_inside = [&](int64_t i0, int64_t count) {
    return i0 * kStride - pad >= 0 && (i0 + count - 1) * kStride - pad + (kw - 1) * dilation < width;
  };
  int64_t i0 = 0;
  for (; i0 + 32 <= n; i0 += 32) {
    if (all_inside(i0, 32)) {
      row_blocks<2, true, kStride>(rows, row_count, kw, dilation, pad, width, out, i0, 16);
    } else {
      row_blocks<2, false, kStride>(rows, row_count, kw, dilation, pad, width, out, i0, 16);
    }
  }
  for (; i0 < n; i0 += 16) {
    const int64_t lanes = n - i0 < 16 ? n - i0 : 16;
    if (all_inside(i0, lanes)) {
      row_blocks<1, true, kStride>(rows, row_count, kw, dilation, pad, width, out, i0, lanes);
    } else {
      row_blocks<1, false, kStride>(rows, row_count, kw, dilation, pad, width, out, i0, lanes);
    }
  }
}

// One channels-last position: 64 channels per step (four registers), then 16, then a masked rest.
template <typename value_t>
POOLING_EXT_AVX512_TARGET void channel_values(const value_t* const* rows, int64_t count, value_t* out, int64_t C) {
  int64_t c = 0;
  for (; c + 64 <= C; c += 64) {
    __m512 v[4];
    for (int k = 0; k < 4; ++k) v[k] = load_lanes(rows[0] + c + 16 * k, 16);
    for (int64_t t = 1; t < count; ++t) {
      for (int k = 0; k < 4; ++k) v[k] = take_max(v[k], load_lanes(rows[t] + c + 16 * k, 16));
    }
    for (int k = 0; k < 4; ++k) store_lanes(out + c + 16 * k, v[k], 16);
  }
  for (; c < C; c += 16) {
    const int64_t lanes = C - c;
    __m512 v = load_lanes(rows[0] + c, lanes);
    for (int64_t t = 1; t < count; ++t) v = take_max(v, load_lanes(rows[t] + c, lanes));
    store_lanes(out + c, v, lanes);
  }
}

bool cpu_has_avx512() {
  static const bool has = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                          __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("bmi2");
  return has;
}

template <typename value_t>
bool row_values_dispatch(const value_t* const* rows, int64_t row_count, int64_t kw, int64_t dilation, int64_t stride,
                         int64_t pad, int64_t width, value_t* out, int64_t n) {
  if (!cpu_has_avx512() || (stride != 1 && stride != 2)) return false;
  if (stride == 1) {
    row_values<1>(rows, row_count, kw, dilation, pad, width, out, n);
  } else {
    row_values<2>(rows, row_count, kw, dilation, pad, width, out, n);
  }
  return true;
}

}  // namespace

bool max_row_values_avx512_supported(int64_t stride) { return cpu_has_avx512() && (stride == 1 || stride == 2); }

bool max_row_values_avx512(const float* const* rows, int64_t row_count, int64_t kw, int64_t dilation, int64_t stride,
                           int64_t pad, int64_t width, float* out, int64_t n) {
  return row_values_dispatch(rows, row_count, kw, dilation, stride, pad, width, out, n);
}

bool max_row_values_avx512(const uint16_t* const* rows, int64_t row_count, int64_t kw, int64_t dilation,
                           int64_t stride, int64_t pad, int64_t width, uint16_t* out, int64_t n) {
  return row_values_dispatch(rows, row_count, kw, dilation, stride, pad, width, out, n);
}

bool max_over_taps_values_avx512(const float* const* rows, int64_t count, float* out, int64_t C) {
  if (!cpu_has_avx512()) return false;
  channel_values(rows, count, out, C);
  return true;
}

bool max_over_taps_values_avx512(const uint16_t* const* rows, int64_t count, uint16_t* out, int64_t C) {
  if (!cpu_has_avx512()) return false;
  channel_values(rows, count, out, C);
  return true;
}

#else  // no AVX-512 code in this build

bool max_row_values_avx512_supported(int64_t) { return false; }
bool max_row_values_avx512(const float* const*, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, float*, int64_t) {
  return false;
}
bool max_row_values_avx512(const uint16_t* const*, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, uint16_t*,
                           int64_t) {
  return false;
}
bool max_over_taps_values_avx512(const float* const*, int64_t, float*, int64_t) { return false; }
bool max_over_taps_values_avx512(const uint16_t* const*, int64_t, uint16_t*, int64_t) { return false; }

#endif

}  // namespace simd
}  // namespace pooling_ext
