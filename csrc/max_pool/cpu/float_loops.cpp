#include "float_loops.h"

#include <algorithm>
#include <climits>
#include <cstdint>

#include "../../common/cpu/bfloat16_bits.h"
#include "../../common/cpu/isa_clones.h"

namespace pooling_ext {
namespace simd {

using cpu_bits::bfloat16_bits_exact;
using cpu_bits::widen_to_float;

// The loops proper, as inline functions whose restrict-qualified parameters
// tell the vectoriser that nothing aliases (restrict on local variables is
// not honoured). value_t is float or uint16_t (bfloat16 bits).
template <int kStride, typename value_t>
static POOLING_EXT_ALWAYS_INLINE void select_max_loop(const value_t* __restrict__ x, float* __restrict__ best,
                                                      int32_t* __restrict__ best_tap, int32_t tap, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const float v = widen_to_float(x[kStride * i]);
    const bool take = (v > best[i]) | (v != v);
    best[i] = take ? v : best[i];
    best_tap[i] = take ? tap : best_tap[i];
  }
}

template <typename value_t>
static POOLING_EXT_ALWAYS_INLINE void copy_loop(const value_t* __restrict__ x, float* __restrict__ best,
                                                int32_t* __restrict__ best_tap, int32_t tap, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    best[i] = widen_to_float(x[i]);
    best_tap[i] = tap;
  }
}

template <typename value_t>
static POOLING_EXT_ALWAYS_INLINE void max_over_taps_impl(const value_t* const* rows, const int32_t* taps, int64_t count,
                                                         float* best, int32_t* best_tap, int64_t C) {
  copy_loop(rows[0], best, best_tap, taps[0], C);
  for (int64_t k = 1; k < count; ++k) select_max_loop<1>(rows[k], best, best_tap, taps[k], C);
}

// grad as float where the window's offset is the tap, else +0: the value
// loaded always and masked by bits. A conditional load (`? grad : 0`) keeps
// AVX2 from vectorising 16-bit values (it has no 16-bit masked load), which
// left the x86-64-v3 clone of the bfloat16 loops scalar and branchy.
template <typename value_t, typename offset_t>
static POOLING_EXT_ALWAYS_INLINE float grad_where_tap(value_t grad, offset_t offset, int32_t tap) {
  const uint32_t keep = static_cast<int32_t>(offset) == tap ? ~0u : 0u;
  return __builtin_bit_cast(float, __builtin_bit_cast(uint32_t, widen_to_float(grad)) & keep);
}

template <typename value_t, typename offset_t>
static POOLING_EXT_ALWAYS_INLINE void add_where_tap_loop(const value_t* __restrict__ grad,
                                                         const offset_t* __restrict__ offset, int32_t tap,
                                                         float* __restrict__ out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] += grad_where_tap(grad[i], offset[i], tap);
}

// The first covering output starts the sums (0 + its share, so that a -0
// gradient still sums to +0 as in a zeroed buffer) without a separate pass
// that zeroes them.
template <typename value_t, typename offset_t>
static POOLING_EXT_ALWAYS_INLINE void start_where_tap_loop(const value_t* __restrict__ grad,
                                                           const offset_t* __restrict__ offset, int32_t tap,
                                                           float* __restrict__ out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = 0.0f + grad_where_tap(grad[i], offset[i], tap);
}

template <typename value_t, typename offset_t>
static POOLING_EXT_ALWAYS_INLINE void sum_where_taps_impl(const value_t* const* grad_rows,
                                                          const offset_t* const* offset_rows, const int32_t* taps,
                                                          int64_t count, float* out, int64_t C) {
  if (count == 0) return std::fill(out, out + C, 0.0f);
  start_where_tap_loop(grad_rows[0], offset_rows[0], taps[0], out, C);
  for (int64_t k = 1; k < count; ++k) add_where_tap_loop(grad_rows[k], offset_rows[k], taps[k], out, C);
}

// ---------------------------------------------------------------- values-only (inference) loops
// The same rule in the same tap order, but no tap is tracked: a block of
// outputs kept across the window's taps, in fixed-length `omp simd` loops.
// These are the fallback for CPUs without AVX-512 (loops_avx512.cpp runs
// there): GCC 12 vectorises the blocks only in part (on AVX-512 one 16-lane
// chunk in a register, the rest scalar compares), and its generic vector
// types do not help, being lowered for the baseline ISA under target_clones.

static POOLING_EXT_ALWAYS_INLINE float take_max(float best, float v) { return ((v > best) | (v != v)) ? v : best; }

// Lanes per vector iteration of the block loops: one AVX-512 register, two
// AVX2 ones (left to the vectoriser's cost model, a block of 32 stride-2
// outputs came out part vector, part scalar and branchy).
constexpr int kLanes = 16;

template <typename value_t>
static POOLING_EXT_ALWAYS_INLINE value_t narrow_exact(float v) {
  if constexpr (sizeof(value_t) == 2) {
    return bfloat16_bits_exact(v);
  } else {
    return v;
  }
}

// kBlock outputs of one row whose windows lie inside the input: each window
// row's taps tw = 0..kw-1 at x[i * stride + tw * dilation] (kStride 0: the
// runtime stride).
template <int kBlock, int kStride, typename value_t>
static POOLING_EXT_ALWAYS_INLINE void row_block_values(const value_t* const* rows, int64_t row_count, int64_t offset,
                                                       int64_t kw, int64_t dilation, int64_t runtime_stride,
                                                       value_t* __restrict__ out) {
  const int64_t stride = kStride > 0 ? kStride : runtime_stride;
  float best[kBlock];
  const value_t* __restrict__ first = rows[0] + offset;
#pragma omp simd simdlen(kLanes)
  for (int i = 0; i < kBlock; ++i) best[i] = widen_to_float(first[i * stride]);
  for (int64_t r = 0; r < row_count; ++r) {
    for (int64_t tw = (r == 0 ? 1 : 0); tw < kw; ++tw) {
      const value_t* __restrict__ x = rows[r] + offset + tw * dilation;
#pragma omp simd simdlen(kLanes)
      for (int i = 0; i < kBlock; ++i) best[i] = take_max(best[i], widen_to_float(x[i * stride]));
    }
  }
#pragma omp simd simdlen(kLanes)
  for (int i = 0; i < kBlock; ++i) out[i] = narrow_exact<value_t>(best[i]);
}

template <int kStride, typename value_t>
static POOLING_EXT_ALWAYS_INLINE void row_values_impl(const value_t* const* rows, int64_t row_count, int64_t kw,
                                                      int64_t dilation, int64_t stride, value_t* out, int64_t n) {
  // Blocks of 32 outputs, then of 16, the last one ending at the row's end
  // (it may recompute outputs already written: the same values); rows
  // shorter than 16 one output at a time.
  const int64_t s = kStride > 0 ? kStride : stride;
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) row_block_values<32, kStride>(rows, row_count, i * s, kw, dilation, stride, out + i);
  for (; i + 16 <= n; i += 16) row_block_values<16, kStride>(rows, row_count, i * s, kw, dilation, stride, out + i);
  if (i < n && n >= 16) {
    i = n - 16;
    return row_block_values<16, kStride>(rows, row_count, i * s, kw, dilation, stride, out + i);
  }
  for (; i < n; ++i) row_block_values<1, kStride>(rows, row_count, i * s, kw, dilation, stride, out + i);
}

// Channels-last: blocks of 64 channels in registers across the taps.
template <int kBlock, typename value_t>
static POOLING_EXT_ALWAYS_INLINE void channel_block_values(const value_t* const* rows, int64_t count, int64_t c0,
                                                           value_t* __restrict__ out) {
  float best[kBlock];
  const value_t* __restrict__ first = rows[0] + c0;
#pragma omp simd simdlen(kLanes)
  for (int c = 0; c < kBlock; ++c) best[c] = widen_to_float(first[c]);
  for (int64_t k = 1; k < count; ++k) {
    const value_t* __restrict__ x = rows[k] + c0;
#pragma omp simd simdlen(kLanes)
    for (int c = 0; c < kBlock; ++c) best[c] = take_max(best[c], widen_to_float(x[c]));
  }
#pragma omp simd simdlen(kLanes)
  for (int c = 0; c < kBlock; ++c) out[c0 + c] = narrow_exact<value_t>(best[c]);
}

template <typename value_t>
static POOLING_EXT_ALWAYS_INLINE void max_over_taps_values_impl(const value_t* const* rows, int64_t count,
                                                                value_t* out, int64_t C) {
  // Blocks of 64 channels, then 16 (the last one ending at C), else one by one.
  int64_t c0 = 0;
  for (; c0 + 64 <= C; c0 += 64) channel_block_values<64>(rows, count, c0, out);
  for (; c0 + 16 <= C; c0 += 16) channel_block_values<16>(rows, count, c0, out);
  if (c0 < C && C >= 16) return channel_block_values<16>(rows, count, C - 16, out);
  for (; c0 < C; ++c0) channel_block_values<1>(rows, count, c0, out);
}

// The ISA-cloned entry points: thin wrappers over the loops above.

template <typename value_t>
static POOLING_EXT_ALWAYS_INLINE void row_values_dispatch(const value_t* const* rows, int64_t row_count, int64_t kw,
                                                          int64_t dilation, int64_t stride, value_t* out, int64_t n) {
  switch (stride) {
    case 1:
      return row_values_impl<1>(rows, row_count, kw, dilation, stride, out, n);
    case 2:
      return row_values_impl<2>(rows, row_count, kw, dilation, stride, out, n);
    default:
      return row_values_impl<0>(rows, row_count, kw, dilation, stride, out, n);
  }
}

POOLING_EXT_ISA_CLONES
void max_row_values(const float* const* rows, int64_t row_count, int64_t kw, int64_t dilation, int64_t stride,
                    float* out, int64_t n) {
  row_values_dispatch(rows, row_count, kw, dilation, stride, out, n);
}

POOLING_EXT_ISA_CLONES
void max_row_values_bf16(const uint16_t* const* rows, int64_t row_count, int64_t kw, int64_t dilation, int64_t stride,
                         uint16_t* out, int64_t n) {
  row_values_dispatch(rows, row_count, kw, dilation, stride, out, n);
}

POOLING_EXT_ISA_CLONES
void max_over_taps_values(const float* const* rows, int64_t count, float* out, int64_t C) {
  max_over_taps_values_impl(rows, count, out, C);
}

POOLING_EXT_ISA_CLONES
void max_over_taps_values_bf16(const uint16_t* const* rows, int64_t count, uint16_t* out, int64_t C) {
  max_over_taps_values_impl(rows, count, out, C);
}

POOLING_EXT_ISA_CLONES
void select_max(const float* x, float* best, int32_t* best_tap, int32_t tap, int64_t n) {
  select_max_loop<1>(x, best, best_tap, tap, n);
}

POOLING_EXT_ISA_CLONES
void select_max_stride2(const float* x, float* best, int32_t* best_tap, int32_t tap, int64_t n) {
  select_max_loop<2>(x, best, best_tap, tap, n);
}

POOLING_EXT_ISA_CLONES
void max_over_taps(const float* const* rows, const int32_t* taps, int64_t count, float* best, int32_t* best_tap,
                   int64_t C) {
  max_over_taps_impl(rows, taps, count, best, best_tap, C);
}

POOLING_EXT_ISA_CLONES
void max_over_taps_bf16(const uint16_t* const* rows, const int32_t* taps, int64_t count, uint16_t* out,
                        int32_t* best_tap, float* scratch, int64_t C) {
  max_over_taps_impl(rows, taps, count, scratch, best_tap, C);
  for (int64_t c = 0; c < C; ++c) out[c] = bfloat16_bits_exact(scratch[c]);
}

POOLING_EXT_ISA_CLONES
void sum_where_taps(const float* const* grad_rows, const uint8_t* const* offset_rows, const int32_t* taps,
                    int64_t count, float* out, int64_t C) {
  sum_where_taps_impl(grad_rows, offset_rows, taps, count, out, C);
}

POOLING_EXT_ISA_CLONES
void sum_where_taps(const float* const* grad_rows, const int32_t* const* offset_rows, const int32_t* taps,
                    int64_t count, float* out, int64_t C) {
  sum_where_taps_impl(grad_rows, offset_rows, taps, count, out, C);
}

POOLING_EXT_ISA_CLONES
void sum_where_taps_bf16(const uint16_t* const* grad_rows, const uint8_t* const* offset_rows, const int32_t* taps,
                         int64_t count, float* out, int64_t C) {
  sum_where_taps_impl(grad_rows, offset_rows, taps, count, out, C);
}

POOLING_EXT_ISA_CLONES
void sum_where_taps_bf16(const uint16_t* const* grad_rows, const int32_t* const* offset_rows, const int32_t* taps,
                         int64_t count, float* out, int64_t C) {
  sum_where_taps_impl(grad_rows, offset_rows, taps, count, out, C);
}

POOLING_EXT_ISA_CLONES
void round_to_bf16(const float* __restrict__ values, uint16_t* __restrict__ out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const uint32_t bits = __builtin_bit_cast(uint32_t, values[i]);
    const bool nan = (bits & 0x7fffffffu) > 0x7f800000u;
    const uint32_t rounded = (bits + 0x7fffu + ((bits >> 16) & 1u)) >> 16;
    out[i] = nan ? uint16_t(0x7fc0) : static_cast<uint16_t>(rounded);
  }
}

// ---------------------------------------------------------------- global max of float planes

// An integer whose order is the floats' order, -0 equal to +0 (NaN aside):
// a negative float's magnitude bits flipped, then negatives moved up by one
// so that -0 lands on +0. Integer min/max reductions vectorise in every ISA
// clone; the winner's index then comes from a second, min/max-reduced pass.
static POOLING_EXT_ALWAYS_INLINE int32_t order_key(int32_t bits) {
  const int32_t flipped = bits ^ ((bits >> 31) & 0x7fffffff);
  return flipped + ((flipped >> 31) & 1);
}

static POOLING_EXT_ALWAYS_INLINE bool is_nan_bits(int32_t bits) { return (bits & 0x7fffffff) > 0x7f800000; }

// A plane's largest order key over its non-NaN elements (INT32_MIN, below
// every float's key, if none: -inf's is INT32_MIN + 2^23), and whether it
// holds a NaN.
struct PlaneKeys {
  int32_t max_key;
  bool nan_seen;
};

static POOLING_EXT_ALWAYS_INLINE PlaneKeys plane_keys(const float* __restrict__ plane, int32_t n) {
  int32_t max_key = INT32_MIN;
  int32_t nan_seen = 0;
#pragma omp simd reduction(max : max_key) reduction(| : nan_seen)
  for (int32_t i = 0; i < n; ++i) {
    const int32_t bits = __builtin_bit_cast(int32_t, plane[i]);
    const bool nan = is_nan_bits(bits);
    max_key = std::max(max_key, nan ? INT32_MIN : order_key(bits));
    nan_seen |= nan ? 1 : 0;
  }
  return {max_key, nan_seen != 0};
}

// The value of an order key (order_key's inverse; -0's key is +0's).
static POOLING_EXT_ALWAYS_INLINE float key_value(int32_t key) {
  const int32_t flipped = key - ((key >> 31) & 1);
  return __builtin_bit_cast(float, flipped ^ ((flipped >> 31) & 0x7fffffff));
}

POOLING_EXT_ISA_CLONES
void max_of_planes_values(const float* x, int64_t planes, int64_t plane_size, float* out) {
  const int32_t n = static_cast<int32_t>(plane_size);
  for (int64_t p = 0; p < planes; ++p) {
    const float* __restrict__ plane = x + p * plane_size;
    const auto [max_key, nan_seen] = plane_keys(plane, n);
    const float best = key_value(max_key);
    if (!nan_seen && best != 0.0f) {  // the maximum's value is its key's
      out[p] = best;
      continue;
    }
    // A NaN (the last one's bits) or a zero (the first one's sign): the indexed pass.
    int32_t tap;
    max_of_planes(plane, 1, plane_size, out + p, &tap);
  }
}

POOLING_EXT_ISA_CLONES
void max_of_planes(const float* x, int64_t planes, int64_t plane_size, float* out, int32_t* out_tap) {
  const int32_t n = static_cast<int32_t>(plane_size);
  for (int64_t p = 0; p < planes; ++p) {
    const float* __restrict__ plane = x + p * plane_size;
    const auto [max_key, nan_seen] = plane_keys(plane, n);
    int32_t tap;
    if (nan_seen) {  // select_max's rule in index order: the last NaN
      tap = -1;
#pragma omp simd reduction(max : tap)
      for (int32_t i = 0; i < n; ++i) tap = std::max(tap, is_nan_bits(__builtin_bit_cast(int32_t, plane[i])) ? i : -1);
    } else {  // else the first maximum
      tap = INT32_MAX;
#pragma omp simd reduction(min : tap)
      for (int32_t i = 0; i < n; ++i) {
        tap = std::min(tap, order_key(__builtin_bit_cast(int32_t, plane[i])) == max_key ? i : INT32_MAX);
      }
    }
    out[p] = plane[tap];
    out_tap[p] = tap;
  }
}

}  // namespace simd
}  // namespace pooling_ext
