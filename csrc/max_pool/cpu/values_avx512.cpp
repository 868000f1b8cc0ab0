// The values-only max pooling loops in AVX-512 intrinsics (F, BW, VL, and
// BMI2), for CPUs that have them: forward_rows.cpp, forward_global.cpp and
// forward_channels_last.cpp call these first, and float_loops.cpp's
// vectoriser-made loops where they return false. The compiler's own code for
// these blocks came out part scalar and branchy (constant-trip blocks of
// stride-2 loads), and GCC's generic vectors are lowered for the baseline ISA
// under target_clones, so the hot blocks are written out (building blocks in
// common/cpu/avx512_lanes.h): rows of any stride in blocks of up to 16
// outputs, one compare-and-select per tap in the body's tap order, taps in
// the padding and a block's missing lanes masked off (nothing is read or
// written past what a block uses); one call per run of output rows.
#include <cstdint>
#include <type_traits>

#include "../../common/cpu/avx512_lanes.h"
#include "float_loops.h"

namespace pooling_ext {
namespace simd {

#ifdef POOLING_EXT_HAS_AVX512_INTRINSICS
namespace {

using namespace avx512;
using cpu::RowRun;

// torch's rule: v replaces best where greater, or NaN.
POOLING_EXT_AVX512_INLINE __m512 take_max(__m512 best, __m512 v) {
  const __mmask16 take = _mm512_cmp_ps_mask(v, best, _CMP_GT_OQ) | _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
  return _mm512_mask_mov_ps(best, take, v);
}

// torch's rule on the lanes in `inside` only.
POOLING_EXT_AVX512_INLINE __m512 take_max_inside(__m512 best, __m512 v, __mmask16 inside) {
  const __mmask16 take = _mm512_cmp_ps_mask(v, best, _CMP_GT_OQ) | _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
  return _mm512_mask_mov_ps(best, take & inside, v);
}

// kBlocks blocks of outputs of one row from output i0 (l.lanes per block,
// `lanes` in the last), in independent registers: -inf, the value of a
// window with no tap inside, then the window's taps that lie inside the row,
// row by row, then tw, the body's order. kInside: every tap of these outputs
// lies inside (no masks to compute). Window row r starts at plane + rows[r].
template <int kBlocks, bool kInside, int kStride, typename value_t>
POOLING_EXT_AVX512_INLINE void row_blocks(const StridedLanes<kStride>& l, const RowRun<value_t>& run,
                                          const value_t* plane, const int64_t* rows, int64_t row_count, value_t* out,
                                          int64_t i0, int64_t lanes) {
  __m512 best[kBlocks];
  for (int k = 0; k < kBlocks; ++k) best[k] = _mm512_set1_ps(-__builtin_inff());
  for (int64_t r = 0; r < row_count; ++r) {
    for (int64_t tw = 0; tw < run.kw; ++tw) {
      for (int k = 0; k < kBlocks; ++k) {
        const int64_t first = (i0 + l.lanes * k) * l.stride - run.pad + tw * run.dilation;  // lane 0's element
        const int64_t block_lanes = k == kBlocks - 1 ? lanes : l.lanes;
        const __mmask16 inside = kInside ? lanes16(block_lanes) : l.inside(first, run.width, block_lanes);
        best[k] = take_max_inside(best[k], l.load(element_address(plane, rows[r] + first), inside), inside);
      }
    }
  }
  for (int k = 0; k < kBlocks; ++k) store_lanes(out + i0 + l.lanes * k, best[k], k == kBlocks - 1 ? lanes : l.lanes);
}

// Blocks from output i0 (`lanes` in the last one), masked only where some tap
// lies outside the row.
template <int kBlocks, int kStride, typename value_t>
POOLING_EXT_AVX512_INLINE void row_blocks_at(const StridedLanes<kStride>& l, const RowRun<value_t>& run,
                                             const value_t* plane, const int64_t* rows, int64_t row_count, value_t* out,
                                             int64_t i0, int64_t lanes) {
  // The outputs have every tap inside when their first tap and last tap are.
  const int64_t last = i0 + l.lanes * (kBlocks - 1) + lanes - 1;
  if (i0 * l.stride - run.pad >= 0 && last * l.stride - run.pad + (run.kw - 1) * run.dilation < run.width) {
    row_blocks<kBlocks, true>(l, run, plane, rows, row_count, out, i0, lanes);
  } else {
    row_blocks<kBlocks, false>(l, run, plane, rows, row_count, out, i0, lanes);
  }
}

// The run's rows, all their outputs (borders included), two blocks at a time
// (independent chains).
template <int kStride, typename value_t>
POOLING_EXT_AVX512_TARGET void run_values(const RowRun<value_t>& run) {
  const StridedLanes<kStride> l = strided_lanes<kStride>(run.stride);
  const int64_t n = run.outputs;
  int64_t plane_index = run.first_row / run.rows_per_plane, j = run.first_row % run.rows_per_plane;
  for (int64_t row = run.first_row; row < run.end_row; ++row) {
    const value_t* plane = run.input + plane_index * run.in_plane;
    const int64_t* rows = run.window_row_offset + run.window_row_begin[j];
    const int64_t row_count = run.window_row_begin[j + 1] - run.window_row_begin[j];
    value_t* out = run.output + row * run.out_width + run.first_output;
    int64_t i0 = 0;
    for (; i0 + 2 * l.lanes <= n; i0 += 2 * l.lanes) {
      row_blocks_at<2>(l, run, plane, rows, row_count, out, i0, l.lanes);
    }
    for (; i0 < n; i0 += l.lanes) {
      row_blocks_at<1>(l, run, plane, rows, row_count, out, i0, n - i0 < l.lanes ? n - i0 : l.lanes);
    }
    if (++j == run.rows_per_plane) j = 0, ++plane_index;
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

// A plane's maximum by its largest order key (-0 below +0); false where the
// plane holds a NaN or the maximum is a zero (the key cannot tell which).
template <typename value_t>
POOLING_EXT_AVX512_TARGET bool plane_max_by_key(const value_t* x, int64_t n, value_t* out) {
  __m512i best = _mm512_set1_epi32(INT32_MIN);
  __mmask16 nan = 0;
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = lanes16(n - i);
    const __m512 v = load_lanes(x + i, n - i);
    const __m512i bits = _mm512_castps_si512(v);
    const __m512i key = _mm512_xor_si512(bits, _mm512_srli_epi32(_mm512_srai_epi32(bits, 31), 1));
    best = _mm512_mask_max_epi32(best, m, best, key);
    nan |= _mm512_mask_cmp_ps_mask(m, v, v, _CMP_UNORD_Q);
  }
  if (nan != 0) return false;
  const int32_t key = _mm512_reduce_max_epi32(best);
  const uint32_t bits = static_cast<uint32_t>(key >= 0 ? key : key ^ 0x7fffffff);
  if ((bits & 0x7fffffffu) == 0) return false;
  if constexpr (std::is_same_v<value_t, float>) {
    *out = __builtin_bit_cast(float, bits);
  } else {
    *out = static_cast<uint16_t>(bits >> 16);
  }
  return true;
}

template <typename value_t>
bool run_values_dispatch(const RowRun<value_t>& run) {
  if (!cpu_has_avx512()) return false;
  with_lane_stride(run.stride, [&](auto stride) { run_values<decltype(stride)::value>(run); });
  return true;
}

}  // namespace

bool max_row_values_avx512_supported() { return cpu_has_avx512(); }

bool max_of_plane_values_avx512_supported() { return cpu_has_avx512(); }

bool max_of_plane_values_avx512(const float* x, int64_t n, float* out) {
  return cpu_has_avx512() && plane_max_by_key(x, n, out);
}

bool max_of_plane_values_avx512(const uint16_t* x, int64_t n, uint16_t* out) {
  return cpu_has_avx512() && plane_max_by_key(x, n, out);
}

bool max_rows_values_avx512(const cpu::RowRun<float>& run) { return run_values_dispatch(run); }

bool max_rows_values_avx512(const cpu::RowRun<uint16_t>& run) { return run_values_dispatch(run); }

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

bool max_row_values_avx512_supported() { return false; }
bool max_of_plane_values_avx512_supported() { return false; }
bool max_of_plane_values_avx512(const float*, int64_t, float*) { return false; }
bool max_of_plane_values_avx512(const uint16_t*, int64_t, uint16_t*) { return false; }
bool max_rows_values_avx512(const cpu::RowRun<float>&) { return false; }
bool max_rows_values_avx512(const cpu::RowRun<uint16_t>&) { return false; }
bool max_over_taps_values_avx512(const float* const*, int64_t, float*, int64_t) { return false; }
bool max_over_taps_values_avx512(const uint16_t* const*, int64_t, uint16_t*, int64_t) { return false; }

#endif

}  // namespace simd
}  // namespace pooling_ext
