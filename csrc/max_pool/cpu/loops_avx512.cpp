// The max pooling loops in AVX-512 intrinsics (F, BW, VL, and BMI2), for
// CPUs that have them: the forwards (forward_rows.cpp, forward_global.cpp,
// forward_channels_last.cpp) and backwards (backward_gather_rows.cpp,
// backward_gather_channels_last.cpp) call these first, and float_loops.cpp's
// vectoriser-made loops or the bodies where they return false. The
// compiler's own code for these blocks came out part scalar and branchy
// (constant-trip blocks of stride-2 loads), and GCC's generic vectors are
// lowered for the baseline ISA under target_clones, so the hot blocks are
// written out (building blocks in common/cpu/avx512_lanes.h), lanes outside
// the data masked off (nothing is read or written past what a block uses):
//   - contiguous rows of any stride, blocks of up to 16 outputs, one
//     compare-and-select per tap in the body's tap order, one call per run of
//     output rows; values only (inference), or keeping each output's tap in a
//     register beside its maximum (a forward that saves window offsets);
//     values only of windows 2 or 3 wide: vmaxps, the last NaN kept aside;
//   - "same" windows at stride 1 separably, along rows then down columns
//     (channels-last too, values only);
//   - channels-last runs of windows, 64 channels per step;
//   - the backward's gathers: a contiguous input row, 16 elements per phase
//     of the stride per step, or a channels-last one, 64 channels per step;
//   - the channels-last backward of windows that tile the input, window by
//     window, each tap's row of channels written once;
//   - global planes' maxima and indices.
#include <algorithm>
#include <cstdint>
#include <type_traits>
#include <vector>

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

// Marks a values-only row loop: no taps kept.
struct NoTaps {};

// Where a row loop that keeps taps writes them: per output, its window offset
// (the tap its maximum came from, as the body numbers taps), in the output's
// layout from `offset`; row_tap[r] is the tap of window-table row r's first
// element (tw = 0); a window with no tap inside gets `empty`.
template <typename offset_t>
struct TapOutput {
  offset_t* offset;
  const int32_t* row_tap;
  int32_t empty;
};

// One block of up to 16 outputs: outputs [i, i + lanes) of an output row
// whose window rows start at plane + rows[r], stored from output element
// out_at (taps: that row's TapOutput, row_tap from its first window row).
template <typename value_t, class Taps>
struct MaxBlock {
  const value_t* plane;
  const int64_t* rows;
  Taps taps;
  int64_t out_at;
  int64_t i, lanes;
};

// kBlocks blocks of outputs, of one row or of rows with as many window rows,
// in independent registers: -inf, the value of a window with no tap inside,
// then the window's taps that lie inside the row, row by row, then tw, the
// body's order: taps [tw_first, tw_end) along the row, outside which no lane
// has a tap inside. kInside: every tap of these outputs lies inside (no
// masks to compute). With taps (TapOutput), a lane takes its first tap
// inside unconditionally, then torch's rule, as the body does.
template <int kBlocks, bool kInside, int kStride, typename value_t, class Taps>
POOLING_EXT_AVX512_INLINE void row_blocks(const StridedLanes<kStride>& l, const RowRun<value_t>& run, int64_t row_count,
                                          const MaxBlock<value_t, Taps>* block, int64_t tw_first, int64_t tw_end) {
  constexpr bool kKeepsTaps = !std::is_same_v<Taps, NoTaps>;
  __m512 best[kBlocks];
  __m512i tap[kBlocks];
  __mmask16 unset[kBlocks];  // lanes that have taken no tap yet
  for (int k = 0; k < kBlocks; ++k) {
    best[k] = _mm512_set1_ps(-__builtin_inff());
    if constexpr (kKeepsTaps) tap[k] = _mm512_set1_epi32(block[k].taps.empty), unset[k] = 0xffff;
  }
  for (int64_t r = 0; r < row_count; ++r) {
    for (int64_t tw = tw_first; tw < tw_end; ++tw) {
      for (int k = 0; k < kBlocks; ++k) {
        const int64_t first = block[k].i * l.stride - run.pad + tw * run.dilation;  // lane 0's element
        const __mmask16 inside = kInside ? lanes16(block[k].lanes) : l.inside(first, run.width, block[k].lanes);
        const __m512 v = l.load(element_address(block[k].plane, block[k].rows[r] + first), inside);
        __mmask16 take = _mm512_cmp_ps_mask(v, best[k], _CMP_GT_OQ) | _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
        if constexpr (kKeepsTaps) take |= unset[k];
        take &= inside;
        best[k] = _mm512_mask_mov_ps(best[k], take, v);
        if constexpr (kKeepsTaps) {
          const __m512i tap_here = _mm512_set1_epi32(block[k].taps.row_tap[r] + static_cast<int32_t>(tw));
          tap[k] = _mm512_mask_mov_epi32(tap[k], take, tap_here), unset[k] &= ~inside;
        }
      }
    }
  }
  for (int k = 0; k < kBlocks; ++k) {
    store_lanes(run.output + block[k].out_at, best[k], block[k].lanes);
    if constexpr (kKeepsTaps) store_taps(block[k].taps.offset + block[k].out_at, tap[k], block[k].lanes);
  }
}

// Values only, kBlocks blocks of kTaps taps per window row at compile time
// (2: VGG's 2x2 windows; 3: ResNet's 3x3, video's 3x3x3): each window row's
// address once, its taps unrolled, and vmaxps(v, best), which is torch's
// rule wherever v is not a NaN (greater replaces; ties, -0 against +0
// included, keep the first), a NaN v kept aside (the last one is the result
// where there was one): three instructions a tap instead of the
// compare-and-select's six, and a chain of one. kWhole: full blocks whose
// taps all lie inside their rows, loaded without lane masks; else each
// tap's lanes inside, computed once for all window rows.
template <int kBlocks, int kTaps, bool kWhole, int kStride, typename value_t>
POOLING_EXT_AVX512_INLINE void values_blocks(const StridedLanes<kStride>& l, const RowRun<value_t>& run,
                                             int64_t row_count, const MaxBlock<value_t, NoTaps>* block) {
  __m512 best[kBlocks], last_nan[kBlocks];
  int64_t first[kBlocks];  // lane 0's first tap along its rows
  __mmask16 tap_inside[kBlocks][kTaps];
  for (int k = 0; k < kBlocks; ++k) {
    best[k] = _mm512_set1_ps(-__builtin_inff()), last_nan[k] = _mm512_setzero_ps();
    first[k] = block[k].i * l.stride - run.pad;
    for (int tw = 0; tw < kTaps; ++tw) {
      tap_inside[k][tw] = kWhole ? 0xffff : l.inside(first[k] + tw * run.dilation, run.width, block[k].lanes);
    }
  }
  for (int64_t r = 0; r < row_count; ++r) {
    for (int k = 0; k < kBlocks; ++k) {
      const int64_t row = block[k].rows[r] + first[k];
#pragma GCC unroll 4
      for (int tw = 0; tw < kTaps; ++tw) {
        const int64_t at = row + tw * run.dilation;
        if constexpr (kWhole) {
          const __m512 v = l.load_full(block[k].plane + at);
          best[k] = _mm512_max_ps(v, best[k]);
          last_nan[k] = _mm512_mask_mov_ps(last_nan[k], _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q), v);
        } else {
          const __mmask16 inside = tap_inside[k][tw];
          const __m512 v = l.load(element_address(block[k].plane, at), inside);
          best[k] = _mm512_mask_max_ps(best[k], inside, v, best[k]);
          last_nan[k] = _mm512_mask_mov_ps(last_nan[k], _mm512_mask_cmp_ps_mask(inside, v, v, _CMP_UNORD_Q), v);
        }
      }
    }
  }
  for (int k = 0; k < kBlocks; ++k) {
    const __m512 result =
        _mm512_mask_mov_ps(best[k], _mm512_cmp_ps_mask(last_nan[k], last_nan[k], _CMP_UNORD_Q), last_nan[k]);
    store_lanes(run.output + block[k].out_at, result, block[k].lanes);
  }
}

// values_blocks for 2 or 3 taps per window row; false for other windows.
template <int kBlocks, bool kWhole, int kStride, typename value_t, class Taps>
POOLING_EXT_AVX512_INLINE bool values_blocks_of_fixed_width(const StridedLanes<kStride>& l, const RowRun<value_t>& run,
                                                            int64_t row_count, const MaxBlock<value_t, Taps>* block) {
  if constexpr (std::is_same_v<Taps, NoTaps>) {
    if (run.kw == 3) return values_blocks<kBlocks, 3, kWhole>(l, run, row_count, block), true;
    if (run.kw == 2) return values_blocks<kBlocks, 2, kWhole>(l, run, row_count, block), true;
  }
  return false;
}

// Keeping taps, kBlocks blocks whose taps all lie inside their rows, kTaps
// taps per window row at compile time: each lane's first tap taken as is,
// then torch's rule (greater, or a NaN, replaces), each window row's address
// once, its taps unrolled; kFull: loads without lane masks.
template <int kBlocks, int kTaps, bool kFull, int kStride, typename value_t, typename offset_t>
POOLING_EXT_AVX512_INLINE void inside_blocks_with_taps(const StridedLanes<kStride>& l, const RowRun<value_t>& run,
                                                       int64_t row_count,
                                                       const MaxBlock<value_t, TapOutput<offset_t>>* block) {
  __m512 best[kBlocks];
  __m512i tap[kBlocks];
  int64_t first[kBlocks];  // lane 0's first tap along its rows
  __mmask16 lanes[kBlocks];
  for (int k = 0; k < kBlocks; ++k) {
    first[k] = block[k].i * l.stride - run.pad;
    lanes[k] = lanes16(block[k].lanes);
  }
  for (int64_t r = 0; r < row_count; ++r) {
    for (int k = 0; k < kBlocks; ++k) {
      const value_t* x = block[k].plane + block[k].rows[r] + first[k];
      const int32_t row_tap = block[k].taps.row_tap[r];
#pragma GCC unroll 4
      for (int tw = 0; tw < kTaps; ++tw) {
        const __m512 v = kFull ? l.load_full(x + tw * run.dilation) : l.load(x + tw * run.dilation, lanes[k]);
        const __m512i tap_here = _mm512_set1_epi32(row_tap + tw);
        if (r == 0 && tw == 0) {
          best[k] = v, tap[k] = tap_here;
          continue;
        }
        const __mmask16 take = _mm512_cmp_ps_mask(v, best[k], _CMP_GT_OQ) | _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
        best[k] = _mm512_mask_mov_ps(best[k], take, v);
        tap[k] = _mm512_mask_mov_epi32(tap[k], take, tap_here);
      }
    }
  }
  for (int k = 0; k < kBlocks; ++k) {
    store_lanes(run.output + block[k].out_at, best[k], block[k].lanes);
    store_taps(block[k].taps.offset + block[k].out_at, tap[k], block[k].lanes);
  }
}

// inside_blocks_with_taps for 2 or 3 taps per window row (of at least one
// window row); false for other windows.
template <int kBlocks, bool kFull, int kStride, typename value_t, class Taps>
POOLING_EXT_AVX512_INLINE bool inside_blocks_with_taps_of_fixed_width(const StridedLanes<kStride>& l,
                                                                      const RowRun<value_t>& run, int64_t row_count,
                                                                      const MaxBlock<value_t, Taps>* block) {
  if constexpr (!std::is_same_v<Taps, NoTaps>) {
    if (row_count == 0) return false;
    if (run.kw == 3) return inside_blocks_with_taps<kBlocks, 3, kFull>(l, run, row_count, block), true;
    if (run.kw == 2) return inside_blocks_with_taps<kBlocks, 2, kFull>(l, run, row_count, block), true;
  }
  return false;
}

// The blocks (their outputs within [first, last] of their rows), masked
// only where some tap lies outside the row.
template <int kBlocks, int kStride, typename value_t, class Taps>
POOLING_EXT_AVX512_INLINE void row_blocks_at(const StridedLanes<kStride>& l, const RowRun<value_t>& run,
                                             int64_t row_count, const MaxBlock<value_t, Taps>* block) {
  int64_t first = block[0].i, last = block[0].i + block[0].lanes - 1;
  for (int k = 1; k < kBlocks; ++k) {
    first = std::min(first, block[k].i), last = std::max(last, block[k].i + block[k].lanes - 1);
  }
  // The outputs have every tap inside when their first tap and last tap are.
  if (first * l.stride - run.pad >= 0 && last * l.stride - run.pad + (run.kw - 1) * run.dilation < run.width) {
    bool full = true;
    for (int k = 0; k < kBlocks; ++k) full = full && block[k].lanes == l.lanes;
    if (full ? values_blocks_of_fixed_width<kBlocks, true>(l, run, row_count, block) ||
                   inside_blocks_with_taps_of_fixed_width<kBlocks, true>(l, run, row_count, block)
             : values_blocks_of_fixed_width<kBlocks, false>(l, run, row_count, block) ||
                   inside_blocks_with_taps_of_fixed_width<kBlocks, false>(l, run, row_count, block)) {
      return;
    }
    return row_blocks<kBlocks, true>(l, run, row_count, block, 0, run.kw);
  }
  // Lane i's tap tw lies inside when 0 <= i * stride - pad + tw * dilation < width:
  // no lane's does before tw_first or from tw_end on (a window far wider than
  // the row runs over the row's elements only, not over all its taps).
  const int64_t low = run.pad - last * l.stride,
                high = run.width + run.pad - first * l.stride;  // tw * dilation in [low, high)
  const int64_t tw_first = low <= 0 ? 0 : (low + run.dilation - 1) / run.dilation;
  const int64_t tw_end = high <= 0 ? 0 : std::min(run.kw, (high + run.dilation - 1) / run.dilation);
  if (values_blocks_of_fixed_width<kBlocks, false>(l, run, row_count, block)) return;
  row_blocks<kBlocks, false>(l, run, row_count, block, tw_first, tw_end);
}

// The block of outputs [0, lanes) of the walk's row.
template <typename value_t, class Taps>
POOLING_EXT_AVX512_INLINE MaxBlock<value_t, Taps> block_of_row(const cpu::RunRowWalk<value_t>& walk, const Taps& taps,
                                                               int64_t lanes) {
  MaxBlock<value_t, Taps> block{.plane = walk.plane(),
                                .rows = walk.window_rows(),
                                .taps = taps,
                                .out_at = walk.row * walk.run.out_width + walk.run.first_output,
                                .i = 0,
                                .lanes = lanes};
  if constexpr (!std::is_same_v<Taps, NoTaps>) block.taps.row_tap += walk.first_entry();
  return block;
}

// The same row's block of outputs [i, i + lanes).
template <typename value_t, class Taps>
POOLING_EXT_AVX512_INLINE MaxBlock<value_t, Taps> moved_to(MaxBlock<value_t, Taps> block, int64_t i, int64_t lanes) {
  block.out_at += i - block.i;
  block.i = i, block.lanes = lanes;
  return block;
}

// The run's rows, all their outputs (borders included), two blocks at a time
// (independent chains): two blocks of a row, or, where a row is one block
// (adaptive max's 7-wide heads), two rows, as a row alone is one chain whose
// latency, not the work, sets the pace.
template <int kStride, typename value_t, class Taps>
POOLING_EXT_AVX512_TARGET void run_rows(const RowRun<value_t>& run, const Taps& taps) {
  const StridedLanes<kStride> l = strided_lanes<kStride>(run.stride);
  const int64_t n = run.outputs;
  cpu::RunRowWalk<value_t> walk(run);
  if (n <= l.lanes) {
    while (walk.more()) {
      MaxBlock<value_t, Taps> pair[2] = {block_of_row(walk, taps, n), {}};
      const int64_t row_count = walk.window_row_count();
      walk.next();
      if (walk.more() && walk.window_row_count() == row_count) {
        pair[1] = block_of_row(walk, taps, n);
        walk.next();
        row_blocks_at<2>(l, run, row_count, pair);
      } else {
        row_blocks_at<1>(l, run, row_count, pair);
      }
    }
    return;
  }
  for (; walk.more(); walk.next()) {
    const int64_t row_count = walk.window_row_count();
    const MaxBlock<value_t, Taps> row = block_of_row(walk, taps, 0);
    int64_t i0 = 0;
    if (run.pad > 0) {  // the first block, its taps in the padding, alone: then pairs of blocks inside
      const MaxBlock<value_t, Taps> block = moved_to(row, 0, l.lanes);
      row_blocks_at<1>(l, run, row_count, &block);
      i0 = l.lanes;
    }
    for (; i0 + 2 * l.lanes <= n; i0 += 2 * l.lanes) {
      const MaxBlock<value_t, Taps> blocks[2] = {moved_to(row, i0, l.lanes), moved_to(row, i0 + l.lanes, l.lanes)};
      row_blocks_at<2>(l, run, row_count, blocks);
    }
    for (; i0 < n; i0 += l.lanes) {
      const MaxBlock<value_t, Taps> block = moved_to(row, i0, std::min(n - i0, l.lanes));
      row_blocks_at<1>(l, run, row_count, &block);
    }
  }
}

// For a plane of n elements in blocks of 16, whose position along one dim is
// position(f) of extent `extent`: per block and tap t < k of a "same"
// window along that dim (its start (k - 1) / 2 before the output), the lanes
// whose tap lies inside; blocks * k masks.
template <class Position>
std::vector<__mmask16> same_window_masks(int64_t n, int64_t extent, int64_t k, const Position& position) {
  std::vector<__mmask16> masks(((n + 15) / 16) * k, 0);
  for (int64_t f = 0; f < n; ++f) {
    const int64_t first = position(f) - (k - 1) / 2;
    for (int64_t t = 0; t < k; ++t) {
      if (first + t >= 0 && first + t < extent) masks[(f / 16) * k + t] |= static_cast<__mmask16>(1u << (f % 16));
    }
  }
  return masks;
}

// The taps of a "same" window along a row: lanes of 16 consecutive
// elements of the plane x from `first` (the block's first window start).
template <typename value_t>
struct AlongRow {
  const value_t* x;
  int64_t first;
  POOLING_EXT_AVX512_INLINE __m512 load(int64_t tw, __mmask16 inside) const {
    return load_lanes_where(element_address(x, first + tw), inside);
  }
  POOLING_EXT_AVX512_INLINE __m512i tap(int64_t tw, __mmask16) const {
    return _mm512_set1_epi32(static_cast<int32_t>(tw));
  }
};

// Down a column: the row pass's maxima and taps, rows `width` apart.
struct DownColumn {
  const float* row_max;
  const int32_t* row_tap;
  int64_t first, width, kw;
  POOLING_EXT_AVX512_INLINE __m512 load(int64_t th, __mmask16 inside) const {
    return _mm512_maskz_loadu_ps(inside, element_address(row_max, first + th * width));
  }
  POOLING_EXT_AVX512_INLINE __m512i tap(int64_t th, __mmask16 take) const {
    const __m512i along = _mm512_maskz_loadu_epi32(take, element_address(row_tap, first + th * width));
    return _mm512_add_epi32(along, _mm512_set1_epi32(static_cast<int32_t>(th * kw)));
  }
};

// One block's maximum over the k taps of `taps` (AlongRow, DownColumn) in
// tap order, masks[t] the lanes whose tap t lies inside: values only
// (vmaxps, the last NaN kept aside, as channel_block_values), or keeping
// taps in `tap` (the first tap inside taken as is, then torch's rule).
template <bool kKeepsTaps, class Taps>
POOLING_EXT_AVX512_INLINE __m512 max_along(const Taps& taps, const __mmask16* masks, int64_t k, __m512i& tap) {
  __m512 best = _mm512_set1_ps(-__builtin_inff());
  __m512 last_nan = _mm512_setzero_ps();
  __mmask16 unset = 0xffff;
  for (int64_t t = 0; t < k; ++t) {
    const __mmask16 inside = masks[t];
    const __m512 v = taps.load(t, inside);
    if constexpr (kKeepsTaps) {
      const __mmask16 take =
          (_mm512_cmp_ps_mask(v, best, _CMP_GT_OQ) | _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q) | unset) & inside;
      best = _mm512_mask_mov_ps(best, take, v);
      tap = _mm512_mask_mov_epi32(tap, take, taps.tap(t, take));
      unset &= ~inside;
    } else {
      best = _mm512_mask_max_ps(best, inside, v, best);
      last_nan = _mm512_mask_mov_ps(last_nan, inside & _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q), v);
    }
  }
  if constexpr (!kKeepsTaps) {
    best = _mm512_mask_mov_ps(best, _mm512_cmp_ps_mask(last_nan, last_nan, _CMP_UNORD_Q), last_nan);
  }
  return best;
}

// Whether any of x[0, n) is a NaN: float32, or bfloat16 bits (a NaN's
// magnitude bits above infinity's 0x7f80).
POOLING_EXT_AVX512_INLINE bool any_nan(const float* x, int64_t n) {
  __mmask16 nan = 0;
  for (int64_t i = 0; i < n; i += 16) {
    const __m512 v = load_lanes(x + i, n - i);
    nan |= _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
  }
  return nan != 0;
}

POOLING_EXT_AVX512_INLINE bool any_nan(const uint16_t* x, int64_t n) {
  __mmask32 nan = 0;
  for (int64_t i = 0; i < n; i += 32) {
    const __mmask32 lanes = n - i >= 32 ? ~__mmask32{0} : (__mmask32{1} << (n - i)) - 1;
    const __m512i magnitude = _mm512_and_si512(_mm512_maskz_loadu_epi16(lanes, x + i), _mm512_set1_epi16(0x7fff));
    nan |= _mm512_cmpgt_epu16_mask(magnitude, _mm512_set1_epi16(0x7f80));
  }
  return nan != 0;
}

// The passes of a plane without NaNs, where vmaxps(v, best) alone is torch's
// rule (greater replaces; ties, -0 against +0 included, keep the first).
// A block whose taps all lie in the plane's memory reads each tap whole (its
// lanes outside the window's row or column are left out by the max's mask,
// or have none where every lane's tap is inside); the blocks at the plane's
// ends read masked. kTaps: the window's extent along the pass at compile
// time (unrolled), or 0 for a runtime `k`.
template <int kTaps, bool kWholeLoads, typename value_t>
POOLING_EXT_AVX512_INLINE __m512 row_block_no_nan(const value_t* x, int64_t first, const __mmask16* masks, int64_t k) {
  const int64_t count = kTaps > 0 ? kTaps : k;
  __m512 best = _mm512_set1_ps(-__builtin_inff());
#pragma GCC unroll 16
  for (int64_t t = 0; t < count; ++t) {
    const __m512 v = kWholeLoads ? load_16(x + first + t) : load_lanes_where(element_address(x, first + t), masks[t]);
    best = _mm512_mask_max_ps(best, masks[t], v, best);
  }
  return best;
}

// Row pass: each element's maximum along its row's window, into row_max.
template <int kTaps, typename value_t>
POOLING_EXT_AVX512_INLINE void row_pass_no_nan(const value_t* x, int64_t n, int64_t k, const __mmask16* masks,
                                               float* row_max) {
  const int64_t before = (k - 1) / 2, after = k - 1 - before;
  for (int64_t b = 0; 16 * b < n; ++b) {
    const int64_t first = 16 * b - before;
    const __m512 best = first >= 0 && 16 * b + 15 + after < n
                            ? row_block_no_nan<kTaps, true>(x, first, masks + b * k, k)
                            : row_block_no_nan<kTaps, false>(x, first, masks + b * k, k);
    _mm512_storeu_ps(row_max + 16 * b, best);
  }
}

// Column pass: the maxima of the row pass's down each column's window, into
// the output; the blocks whose windows lie whole inside the plane unmasked.
template <int kTaps, typename value_t>
POOLING_EXT_AVX512_INLINE void column_pass_no_nan(const float* row_max, int64_t n, int64_t width, int64_t k,
                                                  const __mmask16* masks, value_t* out) {
  const int64_t count = kTaps > 0 ? kTaps : k, before = (k - 1) / 2 * width, after = (k - 1) * width - before;
  for (int64_t b = 0; 16 * b < n; ++b) {
    const int64_t first = 16 * b - before;
    __m512 best;
    if (first >= 0 && 16 * b + 15 + after < n) {
      best = _mm512_loadu_ps(row_max + first);
#pragma GCC unroll 16
      for (int64_t t = 1; t < count; ++t) best = _mm512_max_ps(_mm512_loadu_ps(row_max + first + t * width), best);
    } else {
      best = _mm512_set1_ps(-__builtin_inff());
      for (int64_t t = 0; t < count; ++t) {
        const __mmask16 inside = masks[b * k + t];
        best = _mm512_mask_max_ps(best, inside, load_lanes_where(element_address(row_max, first + t * width), inside),
                                  best);
      }
    }
    store_lanes(out + 16 * b, best, n - 16 * b);
  }
}

// A plane without NaNs, values only; kRowTaps and kColumnTaps the window's
// width and height at compile time, or 0.
template <int kRowTaps, int kColumnTaps, typename value_t>
POOLING_EXT_AVX512_INLINE void same_plane_no_nan(const SamePlanes<value_t>& s, const value_t* x, value_t* out,
                                                 const __mmask16* along_row, const __mmask16* down_column,
                                                 float* row_max) {
  const int64_t n = s.height * s.width;
  row_pass_no_nan<kRowTaps>(x, n, s.kw, along_row, row_max);
  column_pass_no_nan<kColumnTaps>(row_max, n, s.width, s.kh, down_column, out);
}

// "Same" planes, separably (max_same_planes_avx512): per plane, the row
// pass into a scratch plane of float maxima (and their taps along the row),
// then the column pass from it into the output. kKeepsTaps: window offsets
// into `offset`. Values only, a plane without NaNs (nearly every one) takes
// the passes without NaN handling; YOLO's SPP (5x5, and 9x9, 13x13 at the
// runtime count) and 3x3 windows unrolled.
template <bool kKeepsTaps, typename value_t, typename offset_t>
POOLING_EXT_AVX512_TARGET void same_planes(const SamePlanes<value_t>& s, offset_t* offset) {
  const int64_t W = s.width, n = s.height * W, blocks = (n + 15) / 16;
  const std::vector<__mmask16> along_row = same_window_masks(n, W, s.kw, [&](int64_t f) { return f % W; });
  const std::vector<__mmask16> down_column = same_window_masks(n, s.height, s.kh, [&](int64_t f) { return f / W; });
  std::vector<float> row_max(blocks * 16);
  std::vector<int32_t> row_tap(kKeepsTaps ? blocks * 16 : 0);
  for (int64_t p = 0; p < s.planes; ++p) {
    if constexpr (!kKeepsTaps) {
      const value_t* x = s.input + p * n;
      value_t* out = s.output + p * n;
      if (!any_nan(x, n)) {
        const __mmask16 *row_masks = along_row.data(), *column_masks = down_column.data();
        if (s.kh == 5 && s.kw == 5) {
          same_plane_no_nan<5, 5>(s, x, out, row_masks, column_masks, row_max.data());
        } else if (s.kh == 3 && s.kw == 3) {
          same_plane_no_nan<3, 3>(s, x, out, row_masks, column_masks, row_max.data());
        } else {
          same_plane_no_nan<0, 0>(s, x, out, row_masks, column_masks, row_max.data());
        }
        continue;
      }
    }
    for (int64_t b = 0; b < blocks; ++b) {
      __m512i tap = _mm512_setzero_si512();
      const AlongRow<value_t> taps{s.input + p * n, 16 * b - (s.kw - 1) / 2};
      _mm512_storeu_ps(row_max.data() + 16 * b, max_along<kKeepsTaps>(taps, &along_row[b * s.kw], s.kw, tap));
      if constexpr (kKeepsTaps) _mm512_storeu_si512(row_tap.data() + 16 * b, tap);
    }
    for (int64_t b = 0; b < blocks; ++b) {
      __m512i tap = _mm512_setzero_si512();
      const DownColumn taps{row_max.data(), row_tap.data(), 16 * b - (s.kh - 1) / 2 * W, W, s.kw};
      const int64_t at = p * n + 16 * b, lanes = n - 16 * b;
      store_lanes(s.output + at, max_along<kKeepsTaps>(taps, &down_column[b * s.kh], s.kh, tap), lanes);
      if constexpr (kKeepsTaps) store_taps(offset + at, tap, lanes);
    }
  }
}

// A running maximum of kRegs registers of channels by torch's rule: vmaxps,
// and with kNaNs the last NaN kept aside (vmaxps alone drops a NaN). A block
// of 64 channels is read whole (kWhole), a partial one through `masks`.
template <int kRegs, bool kNaNs, bool kWhole>
struct ChannelMaxima {
  const __mmask16* masks;
  __m512 best[kRegs], last_nan[kRegs];
  POOLING_EXT_AVX512_INLINE explicit ChannelMaxima(const __mmask16* lane_masks) : masks(lane_masks) {
    for (int k = 0; k < kRegs; ++k) best[k] = _mm512_set1_ps(-__builtin_inff()), last_nan[k] = _mm512_setzero_ps();
  }
  template <typename value_t>
  POOLING_EXT_AVX512_INLINE __m512 load(const value_t* x, int k) const {
    return kWhole ? load_16(x + 16 * k) : load_lanes_where(x + 16 * k, masks[k]);
  }
  template <typename value_t>
  POOLING_EXT_AVX512_INLINE void take(const value_t* x) {
    for (int k = 0; k < kRegs; ++k) {
      const __m512 v = load(x, k);
      best[k] = _mm512_max_ps(v, best[k]);
      if constexpr (kNaNs) last_nan[k] = _mm512_mask_mov_ps(last_nan[k], _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q), v);
    }
  }
  // The lanes of x that are NaNs, ORed into `nan`.
  template <typename value_t>
  POOLING_EXT_AVX512_INLINE void find_nans(const value_t* x, __mmask16& nan) const {
    for (int k = 0; k < kRegs; ++k) {
      const __m512 v = load(x, k);
      nan |= _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
    }
  }
  template <typename value_t>
  POOLING_EXT_AVX512_INLINE void store(value_t* out) const {
    for (int k = 0; k < kRegs; ++k) {
      __m512 result = best[k];
      if constexpr (kNaNs) {
        result = _mm512_mask_mov_ps(result, _mm512_cmp_ps_mask(last_nan[k], last_nan[k], _CMP_UNORD_Q), last_nan[k]);
      }
      if constexpr (kWhole) {
        store_lanes(out + 16 * k, result, 16);
      } else {
        store_lanes(out + 16 * k, result, __builtin_popcount(masks[k]));
      }
    }
  }
};

// One channel block's maxima along input row `row` into `slot`; without
// kNaNs, whether the row holds a NaN (each element checked once, at its
// window's centre), in which case the row must be taken again with kNaNs.
template <int kRegs, bool kNaNs, bool kWhole, typename value_t>
POOLING_EXT_AVX512_INLINE bool row_maxima_channels_last(const SameChannelsLast<value_t>& s, const value_t* row,
                                                        float* slot, const __mmask16* masks) {
  const int64_t W = s.width, C = s.channels, left = (s.kw - 1) / 2;
  __mmask16 nan = 0;
  for (int64_t w = 0; w < W; ++w) {
    ChannelMaxima<kRegs, kNaNs, kWhole> m(masks);
    const int64_t end = std::min(W, w - left + s.kw);
    for (int64_t tw = std::max<int64_t>(0, w - left); tw < end; ++tw) m.take(row + tw * C);
    if constexpr (!kNaNs) m.find_nans(row + w * C, nan);
    m.store(slot + w * s.slot_channels);
  }
  return nan != 0;
}

// One channel block of output row h: the maxima of its `count` rows'
// slots (top to bottom), each position's at slot + w * slot_channels.
template <int kRegs, bool kNaNs, bool kWhole, typename value_t>
POOLING_EXT_AVX512_INLINE void column_maxima_channels_last(const SameChannelsLast<value_t>& s,
                                                           const float* const* slots, int64_t count, int64_t h,
                                                           const __mmask16* masks) {
  for (int64_t w = 0; w < s.width; ++w) {
    ChannelMaxima<kRegs, kNaNs, kWhole> m(masks);
    for (int64_t r = 0; r < count; ++r) m.take(slots[r] + w * s.slot_channels);
    m.store(s.output + (h * s.width + w) * s.channels);
  }
}

// A block of `lanes` channels' pass, pass.run<kRegs, kWhole>(): a whole
// block of 64 unmasked, a partial one masked.
template <class Pass>
POOLING_EXT_AVX512_INLINE void with_channel_block(int64_t lanes, const Pass& pass) {
  if (lanes == 64) return pass.template run<4, true>();
  switch ((lanes + 15) / 16) {
    case 1:
      return pass.template run<1, false>();
    case 2:
      return pass.template run<2, false>();
    case 3:
      return pass.template run<3, false>();
    default:
      return pass.template run<4, false>();
  }
}

// An input row's pass: by vmaxps alone, again by torch's rule where the row
// holds a NaN (then `nan` is set).
template <typename value_t>
struct RowPassChannelsLast {
  const SameChannelsLast<value_t>& s;
  const value_t* row;
  float* slot;
  const __mmask16* masks;
  bool& nan;
  template <int kRegs, bool kWhole>
  POOLING_EXT_AVX512_INLINE void run() const {
    if (row_maxima_channels_last<kRegs, false, kWhole>(s, row, slot, masks)) {
      row_maxima_channels_last<kRegs, true, kWhole>(s, row, slot, masks);
      nan = true;
    }
  }
};

// An output row's pass: by torch's rule where a row it spans holds a NaN.
template <typename value_t>
struct ColumnPassChannelsLast {
  const SameChannelsLast<value_t>& s;
  const float* const* slots;
  int64_t count, h;
  const __mmask16* masks;
  bool nan;
  template <int kRegs, bool kWhole>
  POOLING_EXT_AVX512_INLINE void run() const {
    if (nan) {
      column_maxima_channels_last<kRegs, true, kWhole>(s, slots, count, h, masks);
    } else {
      column_maxima_channels_last<kRegs, false, kWhole>(s, slots, count, h, masks);
    }
  }
};

// "Same" windows over a channels-last sample, output rows [s.first_h,
// s.end_h): each input row's maxima along the row into scratch slot r %
// min(kh, H) as the output rows need them (the rows an output row spans are
// consecutive, at most that many), then each output row from the slots of
// the kh rows (fewer at the borders) it spans, top to bottom, 64 channels at
// a time; torch's NaN rule only for a row that holds a NaN and the output
// rows that span it.
template <typename value_t>
POOLING_EXT_AVX512_TARGET void same_channels_last(const SameChannelsLast<value_t>& s, float* scratch) {
  const int64_t H = s.height, W = s.width, C = s.channels, up = (s.kh - 1) / 2;
  const int64_t blocks = (C + 63) / 64, slot_rows = std::min(s.kh, H);
  std::vector<uint8_t> slot_has_nan(slot_rows, 0);
  std::vector<const float*> slots(slot_rows);               // an output row's rows' slots, top to bottom
  int64_t next_row = std::max<int64_t>(0, s.first_h - up);  // the first input row not yet in scratch
  for (int64_t h = s.first_h; h < s.end_h; ++h) {
    const int64_t first_row = std::max<int64_t>(0, h - up), end_row = std::min(H, h - up + s.kh);
    for (; next_row < end_row; ++next_row) {
      bool nan = false;
      for (int64_t b = 0; b < blocks; ++b) {
        const int64_t lanes = std::min<int64_t>(64, C - 64 * b);
        const __mmask16 masks[4] = {lanes16(lanes), lanes16(lanes - 16), lanes16(lanes - 32), lanes16(lanes - 48)};
        const RowPassChannelsLast<value_t> pass{s, s.input + next_row * W * C + 64 * b,
                                                scratch + (next_row % slot_rows) * W * s.slot_channels + 64 * b, masks,
                                                nan};
        with_channel_block(lanes, pass);
      }
      slot_has_nan[next_row % slot_rows] = nan;
    }
    bool nan = false;
    for (int64_t r = first_row; r < end_row; ++r) {
      nan |= slot_has_nan[r % slot_rows] != 0;
      slots[r - first_row] = scratch + (r % slot_rows) * W * s.slot_channels;
    }
    for (int64_t b = 0; b < blocks; ++b) {
      const int64_t lanes = std::min<int64_t>(64, C - 64 * b);
      const __mmask16 masks[4] = {lanes16(lanes), lanes16(lanes - 16), lanes16(lanes - 32), lanes16(lanes - 48)};
      SameChannelsLast<value_t> block = s;
      block.output += 64 * b;
      with_channel_block(lanes,
                         ColumnPassChannelsLast<value_t>{block, slots.data(), end_row - first_row, h, masks, nan});
      for (int64_t r = 0; r < end_row - first_row; ++r) slots[r] += 64;
    }
  }
}

// Channels-last window offsets in AVX-512 lanes: uint8 or int32 storage.
POOLING_EXT_AVX512_INLINE __m512i load_taps(const uint8_t* x, __mmask16 lanes) {
  return _mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(lanes, x));
}

POOLING_EXT_AVX512_INLINE __m512i load_taps(const int32_t* x, __mmask16 lanes) {
  return _mm512_maskz_loadu_epi32(lanes, x);
}

// All 16 lanes, unmasked.
POOLING_EXT_AVX512_INLINE __m512i load_16_taps(const uint8_t* x) {
  return _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x)));
}

POOLING_EXT_AVX512_INLINE __m512i load_16_taps(const int32_t* x) { return _mm512_loadu_si512(x); }

// kRegs registers of channels (16 each, `lanes` in the last) of one
// channels-last window from `window` (its first tap at tap_offset[0]), values
// only. vmaxps(v, best) is torch's rule wherever v is not a NaN (greater
// replaces; ties, -0 against +0 included, keep the first; a NaN best stays)
// and a shorter chain than compare-and-select; a NaN v, which the rule takes,
// is kept aside: the last one seen is the result where there was one.
template <int kRegs, typename value_t>
POOLING_EXT_AVX512_INLINE void channel_block_values(const value_t* window, const int64_t* tap_offset, int64_t count,
                                                    int64_t lanes, value_t* out) {
  __m512 best[kRegs], last_nan[kRegs];
  for (int k = 0; k < kRegs; ++k) {
    best[k] = last_nan[k] = load_lanes(window + tap_offset[0] + 16 * k, k == kRegs - 1 ? lanes : 16);
  }
  for (int64_t t = 1; t < count; ++t) {
    for (int k = 0; k < kRegs; ++k) {
      const __m512 v = load_lanes(window + tap_offset[t] + 16 * k, k == kRegs - 1 ? lanes : 16);
      best[k] = _mm512_max_ps(v, best[k]);
      last_nan[k] = _mm512_mask_mov_ps(last_nan[k], _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q), v);
    }
  }
  for (int k = 0; k < kRegs; ++k) {
    const __m512 result =
        _mm512_mask_mov_ps(best[k], _mm512_cmp_ps_mask(last_nan[k], last_nan[k], _CMP_UNORD_Q), last_nan[k]);
    store_lanes(out + 16 * k, result, k == kRegs - 1 ? lanes : 16);
  }
}

// The same keeping taps: the first tap taken as is, then torch's rule, in tap order.
template <int kRegs, typename value_t, typename offset_t>
POOLING_EXT_AVX512_INLINE void channel_block_with_taps(const value_t* window, const int64_t* tap_offset,
                                                       const int32_t* taps, int64_t count, int64_t lanes, value_t* out,
                                                       offset_t* offset) {
  __m512 best[kRegs];
  __m512i tap[kRegs];
  for (int k = 0; k < kRegs; ++k) {
    best[k] = load_lanes(window + tap_offset[0] + 16 * k, k == kRegs - 1 ? lanes : 16);
    tap[k] = _mm512_set1_epi32(taps[0]);
  }
  for (int64_t t = 1; t < count; ++t) {
    const __m512i tap_here = _mm512_set1_epi32(taps[t]);
    for (int k = 0; k < kRegs; ++k) {
      const __m512 v = load_lanes(window + tap_offset[t] + 16 * k, k == kRegs - 1 ? lanes : 16);
      const __mmask16 take = _mm512_cmp_ps_mask(v, best[k], _CMP_GT_OQ) | _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
      best[k] = _mm512_mask_mov_ps(best[k], take, v);
      tap[k] = _mm512_mask_mov_epi32(tap[k], take, tap_here);
    }
  }
  for (int k = 0; k < kRegs; ++k) {
    store_lanes(out + 16 * k, best[k], k == kRegs - 1 ? lanes : 16);
    store_taps(offset + 16 * k, tap[k], k == kRegs - 1 ? lanes : 16);
  }
}

// A channels-last window run, position by position: 64 channels per step
// (four registers), then 16, then a masked rest; window offsets written
// beside the maxima unless `offset` is null (values only).
template <typename value_t, typename offset_t>
POOLING_EXT_AVX512_TARGET void window_run(const WindowRun<value_t>& run, offset_t* offset) {
  const int64_t C = run.C;
  for (int64_t p = 0; p < run.positions; ++p) {
    const value_t* window = run.first_window + p * run.window_step;
    value_t* out = run.out + p * C;
    offset_t* out_offset = offset != nullptr ? offset + p * C : nullptr;
    int64_t c = 0;
    for (; c + 64 <= C; c += 64) {
      if (offset == nullptr) {
        channel_block_values<4>(window + c, run.tap_offset, run.count, 16, out + c);
      } else {
        channel_block_with_taps<4>(window + c, run.tap_offset, run.tap, run.count, 16, out + c, out_offset + c);
      }
    }
    for (; c < C; c += 16) {
      if (offset == nullptr) {
        channel_block_values<1>(window + c, run.tap_offset, run.count, C - c, out + c);
      } else {
        channel_block_with_taps<1>(window + c, run.tap_offset, run.tap, run.count, C - c, out + c, out_offset + c);
      }
    }
  }
}

// kRegs registers of channels from c (16 each, `lanes` in the last) of
// input position w of a channels-last gradient row: from +0, each covering
// output's gradient added where its window offset is the tap landing here,
// in output order; bfloat16 sums rounded once at the end.
template <int kRegs, typename value_t, typename offset_t>
POOLING_EXT_AVX512_INLINE void position_gradient(const GradientRow<value_t, offset_t>& row, int64_t w, int64_t c,
                                                 int64_t lanes, value_t* out) {
  __m512 sum[kRegs];
  for (int k = 0; k < kRegs; ++k) sum[k] = _mm512_setzero_ps();
  for (int64_t r = 0; r < row.row_count; ++r) {
    for (int64_t e = row.w_begin[w]; e < row.w_begin[w + 1]; ++e) {
      const int64_t o = row.row_offset[r] + row.out_w[e] * row.C + c;
      const __m512i tap_here = _mm512_set1_epi32(row.row_tap[r] + static_cast<int32_t>(row.w_tap[e]));
      for (int k = 0; k < kRegs; ++k) {
        const __mmask16 block = lanes16(k == kRegs - 1 ? lanes : 16);
        const __mmask16 take =
            _mm512_mask_cmpeq_epi32_mask(block, load_taps(row.window_offset + o + 16 * k, block), tap_here);
        sum[k] = _mm512_mask_add_ps(sum[k], take, sum[k], load_lanes_where(row.grad_output + o + 16 * k, take));
      }
    }
  }
  for (int k = 0; k < kRegs; ++k) store_rounded(out + c + 16 * k, sum[k], k == kRegs - 1 ? lanes : 16);
}

// Lanes [0, 32) of a channels-last window-offset row equal to `tap`, among `lanes`.
POOLING_EXT_AVX512_INLINE __mmask32 taps_equal32(const uint8_t* x, int32_t tap, int64_t lanes) {
  const __mmask32 valid = lanes >= 32 ? ~__mmask32(0) : static_cast<__mmask32>((1u << lanes) - 1);
  const __m512i words = _mm512_cvtepu8_epi16(_mm256_maskz_loadu_epi8(valid, x));
  return tap > 0xffff ? 0 : _mm512_mask_cmpeq_epi16_mask(valid, words, _mm512_set1_epi16(static_cast<int16_t>(tap)));
}

POOLING_EXT_AVX512_INLINE __mmask32 taps_equal32(const int32_t* x, int32_t tap, int64_t lanes) {
  const __m512i tap_here = _mm512_set1_epi32(tap);
  const __mmask16 low =
      _mm512_mask_cmpeq_epi32_mask(lanes16(lanes), _mm512_maskz_loadu_epi32(lanes16(lanes), x), tap_here);
  const __mmask16 high = _mm512_mask_cmpeq_epi32_mask(lanes16(lanes - 16),
                                                      _mm512_maskz_loadu_epi32(lanes16(lanes - 16), x + 16), tap_here);
  return static_cast<__mmask32>(low) | (static_cast<__mmask32>(high) << 16);
}

// The same for all 32 lanes, unmasked loads.
POOLING_EXT_AVX512_INLINE __mmask32 taps_equal32(const uint8_t* x, int32_t tap) {
  const __m512i words = _mm512_cvtepu8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(x)));
  return tap > 0xffff ? 0 : _mm512_cmpeq_epi16_mask(words, _mm512_set1_epi16(static_cast<int16_t>(tap)));
}

POOLING_EXT_AVX512_INLINE __mmask32 taps_equal32(const int32_t* x, int32_t tap) {
  const __m512i tap_here = _mm512_set1_epi32(tap);
  const __mmask16 low = _mm512_cmpeq_epi32_mask(_mm512_loadu_si512(x), tap_here);
  const __mmask16 high = _mm512_cmpeq_epi32_mask(_mm512_loadu_si512(x + 16), tap_here);
  return _mm512_kunpackw(high, low);
}

// bf16(float(g) + 0) of 32 bfloat16 lanes without the float round trip: -0
// gives +0, a NaN c10's 0x7fc0, any other value itself.
POOLING_EXT_AVX512_INLINE __m512i plus_zero_bf16(__m512i g) {
  const __mmask32 nan =
      _mm512_cmpgt_epu16_mask(_mm512_and_si512(g, _mm512_set1_epi16(0x7fff)), _mm512_set1_epi16(0x7f80));
  g = _mm512_mask_mov_epi16(g, _mm512_cmpeq_epi16_mask(g, _mm512_set1_epi16(static_cast<int16_t>(0x8000))),
                            _mm512_setzero_si512());
  return _mm512_mask_mov_epi16(g, nan, _mm512_set1_epi16(0x7fc0));
}

// A bfloat16 position with one covering output (windows that never
// overlap: VGG's 2x2, global heads): each lane bf16(float(g) + 0) of its
// gradient where the output's window offset is the tap, else +0, 32
// channels per step in 16-bit lanes, masked loads and stores only for the
// last step.
template <typename offset_t>
POOLING_EXT_AVX512_INLINE void single_gradient_bf16(const uint16_t* grad, const offset_t* offset, int32_t tap,
                                                    int64_t C, uint16_t* out) {
  int64_t c = 0;
  for (; c + 32 <= C; c += 32) {
    const __m512i g = _mm512_maskz_mov_epi16(taps_equal32(offset + c, tap), _mm512_loadu_si512(grad + c));
    _mm512_storeu_si512(out + c, plus_zero_bf16(g));
  }
  if (c < C) {
    const int64_t lanes = C - c;
    const __mmask32 valid = static_cast<__mmask32>((1u << lanes) - 1);
    const __m512i g = _mm512_maskz_loadu_epi16(taps_equal32(offset + c, tap, lanes), grad + c);
    _mm512_mask_storeu_epi16(out + c, valid, plus_zero_bf16(g));
  }
}

// The row's positions: 64 channels per step (four registers), then 16, then
// a masked rest; bfloat16 positions with one covering output in 16-bit lanes.
template <typename value_t, typename offset_t>
POOLING_EXT_AVX512_TARGET void gradient_row(const GradientRow<value_t, offset_t>& row) {
  const int64_t C = row.C;
  for (int64_t w = 0; w < row.width; ++w) {
    value_t* out = row.grad_input + w * C;
    if constexpr (std::is_same_v<value_t, uint16_t>) {
      const int64_t e = row.w_begin[w];
      if (row.row_count == 1 && row.w_begin[w + 1] == e + 1) {
        const int64_t o = row.row_offset[0] + row.out_w[e] * C;
        single_gradient_bf16(row.grad_output + o, row.window_offset + o,
                             row.row_tap[0] + static_cast<int32_t>(row.w_tap[e]), C, out);
        continue;
      }
    }
    int64_t c = 0;
    for (; c + 64 <= C; c += 64) position_gradient<4>(row, w, c, 16, out);
    for (; c < C; c += 16) position_gradient<1>(row, w, c, C - c, out);
  }
}

// One phase's sums for step t of a contiguous gradient row (its elements
// stride * (16 * t + i) + q): from +0, in output order (the covering output
// rows [e_first, e_end) starting at out_base + out_row[e] * out_width, then
// the phase's taps along W), the gradient of output 16 * t + i + shift
// where its window offset is that tap, on the step's lanes inside the row.
template <typename value_t, typename offset_t>
POOLING_EXT_AVX512_INLINE __m512 phase_sums(const PlaneGradientRows<value_t, offset_t>& g, int64_t e_first,
                                            int64_t e_end, int64_t out_base, int64_t q, int64_t t) {
  __m512 sum = _mm512_setzero_ps();
  for (int64_t e = e_first; e < e_end; ++e) {
    const int64_t row_start = out_base + g.out_row[e] * g.out_width + 16 * t;
    for (int64_t k = g.phase_begin[q]; k < g.phase_begin[q + 1]; ++k) {
      const int64_t shift = g.phase_shift[k];
      __mmask16 lanes = 0xffff;
      if (t < g.full_first[k] || t >= g.full_end[k]) {  // at the row's ends: the lanes inside
        const int64_t first_out = 16 * t + shift;
        const int64_t high = std::min({int64_t{16}, g.out_width - first_out, g.phase_elements[q] - 16 * t});
        lanes = static_cast<__mmask16>(lanes16(high) & ~lanes16(-first_out));
      }
      const int64_t o = row_start + shift;  // lane 0's output
      const __m512i tap_here = _mm512_set1_epi32(g.row_tap[e] + g.phase_tap[k]);
      const __mmask16 take =
          _mm512_mask_cmpeq_epi32_mask(lanes, load_taps(element_address(g.window_offset, o), lanes), tap_here);
      // Loaded under `lanes`, known ahead, not `take`: the load need not wait for the compare.
      sum = _mm512_mask_add_ps(sum, take, sum, load_lanes_where(element_address(g.grad_output, o), lanes));
    }
  }
  return sum;
}

// The run's rows, 16 elements of each phase per step; at stride 2 the two
// phases interleaved into 32 consecutive elements.
template <typename value_t, typename offset_t>
POOLING_EXT_AVX512_TARGET void plane_gradient_rows(const PlaneGradientRows<value_t, offset_t>& g) {
  const int64_t W = g.width;
  const __m512i first_half = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
  const __m512i second_half = _mm512_add_epi32(first_half, _mm512_set1_epi32(8));
  const int64_t steps = (g.phase_elements[0] + 15) / 16;
  int64_t plane = g.first_row / g.rows_per_plane, j = g.first_row % g.rows_per_plane;
  for (int64_t row = g.first_row; row < g.end_row; ++row) {
    const int64_t out_base = plane * g.out_rows_per_plane * g.out_width;
    const int64_t e_first = g.row_begin[j], e_end = g.row_begin[j + 1];
    value_t* out = g.grad_input + row * W;
    if (g.stride == 1) {
      for (int64_t t = 0; t < steps; ++t) {
        store_rounded(out + 16 * t, phase_sums(g, e_first, e_end, out_base, 0, t), W - 16 * t);
      }
    } else {
      for (int64_t t = 0; t < steps; ++t) {
        const __m512 even = phase_sums(g, e_first, e_end, out_base, 0, t);
        const __m512 odd = phase_sums(g, e_first, e_end, out_base, 1, t);
        store_rounded(out + 32 * t, _mm512_permutex2var_ps(even, first_half, odd), W - 32 * t);
        store_rounded(out + 32 * t + 16, _mm512_permutex2var_ps(even, second_half, odd), W - 32 * t - 16);
      }
    }
    if (++j == g.rows_per_plane) j = 0, ++plane;
  }
}

// A plane's maximum (n >= 1 elements) and its index under the body's rule
// in index order (the last NaN, else the first maximum): lane i keeps that
// of elements i, i + 16, ...; the lanes then merge in plane order. The value
// is read back at the index, so its bits are the element's (-0 or +0).
template <typename value_t>
POOLING_EXT_AVX512_TARGET int32_t plane_max_index(const value_t* x, int64_t n) {
  const __m512i lane_index = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  __mmask16 valid = lanes16(n);
  __m512 best = _mm512_mask_mov_ps(_mm512_set1_ps(-__builtin_inff()), valid, load_lanes(x, n));
  __m512i index = _mm512_mask_mov_epi32(_mm512_set1_epi32(INT32_MAX), valid, lane_index);
  for (int64_t i = 16; i < n; i += 16) {
    valid = lanes16(n - i);
    const __m512 v = load_lanes(x + i, n - i);
    const __mmask16 take = valid & (_mm512_cmp_ps_mask(v, best, _CMP_GT_OQ) | _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q));
    best = _mm512_mask_mov_ps(best, take, v);
    index = _mm512_mask_mov_epi32(index, take, _mm512_add_epi32(lane_index, _mm512_set1_epi32(static_cast<int>(i))));
  }
  const __mmask16 nan = _mm512_cmp_ps_mask(best, best, _CMP_UNORD_Q);
  if (nan != 0) return _mm512_mask_reduce_max_epi32(nan, index);
  const __mmask16 at_max = _mm512_cmp_ps_mask(best, _mm512_set1_ps(_mm512_reduce_max_ps(best)), _CMP_EQ_OQ);
  return _mm512_mask_reduce_min_epi32(at_max, index);
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

template <typename value_t, class Taps>
bool run_rows_dispatch(const RowRun<value_t>& run, const Taps& taps) {
  if (!cpu_has_avx512()) return false;
  with_lane_stride(run.stride, [&](auto stride) { run_rows<decltype(stride)::value>(run, taps); });
  return true;
}

// A float32 tap row of a window that tiles the input: each lane its
// gradient + 0 where the output's window offset is the tap, else +0 (-0
// lands as torch's zeroed-then-added +0), 16 channels per step, masked
// loads and stores only for the last (they are slower on some CPUs).
template <typename offset_t>
POOLING_EXT_AVX512_INLINE void single_gradient_f32(const float* grad, const offset_t* offset, int32_t tap, int64_t C,
                                                   float* out) {
  const __m512i tap_here = _mm512_set1_epi32(tap);
  int64_t c = 0;
  for (; c + 16 <= C; c += 16) {
    const __mmask16 take = _mm512_cmpeq_epi32_mask(load_16_taps(offset + c), tap_here);
    _mm512_storeu_ps(out + c, _mm512_maskz_add_ps(take, _mm512_loadu_ps(grad + c), _mm512_setzero_ps()));
  }
  if (c < C) {
    const __mmask16 lanes = lanes16(C - c);
    const __mmask16 take = _mm512_mask_cmpeq_epi32_mask(lanes, load_taps(offset + c, lanes), tap_here);
    const __m512 g = _mm512_maskz_add_ps(take, _mm512_maskz_loadu_ps(lanes, grad + c), _mm512_setzero_ps());
    _mm512_mask_storeu_ps(out + c, lanes, g);
  }
}

// Windows that tile the input, tap by tap: each tap's row of C elements
// written in one sweep (the window's gradients and offsets stay in L1).
template <typename value_t, typename offset_t>
POOLING_EXT_AVX512_TARGET void tiling_window_run(const TilingWindowRun<value_t, offset_t>& run) {
  for (int64_t i = 0; i < run.windows; ++i) {
    const value_t* grad = run.grad_output + i * run.C;
    const offset_t* offset = run.window_offset + i * run.C;
    value_t* window = run.grad_input + i * run.window_step;
    for (int64_t t = 0; t < run.taps; ++t) {
      if constexpr (std::is_same_v<value_t, float>) {
        single_gradient_f32(grad, offset, static_cast<int32_t>(t), run.C, window + run.tap_element[t]);
      } else {
        single_gradient_bf16(grad, offset, static_cast<int32_t>(t), run.C, window + run.tap_element[t]);
      }
    }
  }
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

bool max_rows_values_avx512(const cpu::RowRun<float>& run) { return run_rows_dispatch(run, NoTaps{}); }

bool max_rows_values_avx512(const cpu::RowRun<uint16_t>& run) { return run_rows_dispatch(run, NoTaps{}); }

bool max_same_planes_avx512(const SamePlanes<float>& s) {
  if (!cpu_has_avx512()) return false;
  same_planes<false>(s, static_cast<uint8_t*>(nullptr));
  return true;
}

bool max_same_planes_avx512(const SamePlanes<uint16_t>& s) {
  if (!cpu_has_avx512()) return false;
  same_planes<false>(s, static_cast<uint8_t*>(nullptr));
  return true;
}

bool max_same_channels_last_values_avx512(const SameChannelsLast<float>& s, float* scratch) {
  if (!cpu_has_avx512()) return false;
  same_channels_last(s, scratch);
  return true;
}

bool max_same_channels_last_values_avx512(const SameChannelsLast<uint16_t>& s, float* scratch) {
  if (!cpu_has_avx512()) return false;
  same_channels_last(s, scratch);
  return true;
}

bool max_window_run_values_avx512(const WindowRun<float>& run) {
  if (!cpu_has_avx512()) return false;
  window_run(run, static_cast<uint8_t*>(nullptr));
  return true;
}

bool max_window_run_values_avx512(const WindowRun<uint16_t>& run) {
  if (!cpu_has_avx512()) return false;
  window_run(run, static_cast<uint8_t*>(nullptr));
  return true;
}

template <typename value_t>
bool planes_max_with_index(const value_t* x, int64_t planes, int64_t plane_size, value_t* out, int32_t* index) {
  if (!cpu_has_avx512()) return false;
  for (int64_t p = 0; p < planes; ++p, x += plane_size) {
    index[p] = plane_max_index(x, plane_size);
    out[p] = x[index[p]];
  }
  return true;
}

bool max_of_planes_avx512(const float* x, int64_t planes, int64_t plane_size, float* out, int32_t* out_tap) {
  return planes_max_with_index(x, planes, plane_size, out, out_tap);
}

bool max_of_planes_avx512(const uint16_t* x, int64_t planes, int64_t plane_size, uint16_t* out, int32_t* out_tap) {
  return planes_max_with_index(x, planes, plane_size, out, out_tap);
}

// The loops that keep taps, per value and window-offset storage type.
#define POOLING_EXT_WITH_TAPS(value_t, offset_t)                                                                   \
  bool max_rows_with_taps_avx512(const cpu::RowRun<value_t>& run, offset_t* window_offset, const int32_t* row_tap, \
                                 int32_t empty) {                                                                  \
    return run_rows_dispatch(run, TapOutput<offset_t>{window_offset, row_tap, empty});                             \
  }                                                                                                                \
  bool max_same_planes_with_taps_avx512(const SamePlanes<value_t>& s, offset_t* window_offset) {                   \
    if (!cpu_has_avx512()) return false;                                                                           \
    same_planes<true>(s, window_offset);                                                                           \
    return true;                                                                                                   \
  }                                                                                                                \
  bool max_window_run_with_taps_avx512(const WindowRun<value_t>& run, offset_t* window_offset) {                   \
    if (!cpu_has_avx512()) return false;                                                                           \
    window_run(run, window_offset);                                                                                \
    return true;                                                                                                   \
  }                                                                                                                \
  bool max_gradient_row_avx512(const GradientRow<value_t, offset_t>& row) {                                        \
    if (!cpu_has_avx512()) return false;                                                                           \
    gradient_row(row);                                                                                             \
    return true;                                                                                                   \
  }                                                                                                                \
  bool max_gradient_plane_rows_avx512(const PlaneGradientRows<value_t, offset_t>& rows) {                          \
    if (!cpu_has_avx512()) return false;                                                                           \
    plane_gradient_rows(rows);                                                                                     \
    return true;                                                                                                   \
  }                                                                                                                \
  bool max_tiling_window_run_avx512(const TilingWindowRun<value_t, offset_t>& run) {                               \
    if (!cpu_has_avx512()) return false;                                                                           \
    tiling_window_run(run);                                                                                        \
    return true;                                                                                                   \
  }
POOLING_EXT_WITH_TAPS(float, uint8_t)
POOLING_EXT_WITH_TAPS(float, int32_t)
POOLING_EXT_WITH_TAPS(uint16_t, uint8_t)
POOLING_EXT_WITH_TAPS(uint16_t, int32_t)
#undef POOLING_EXT_WITH_TAPS

#else  // no AVX-512 code in this build

bool max_row_values_avx512_supported() { return false; }
bool max_of_plane_values_avx512_supported() { return false; }
bool max_of_plane_values_avx512(const float*, int64_t, float*) { return false; }
bool max_of_plane_values_avx512(const uint16_t*, int64_t, uint16_t*) { return false; }
bool max_rows_values_avx512(const cpu::RowRun<float>&) { return false; }
bool max_rows_values_avx512(const cpu::RowRun<uint16_t>&) { return false; }
bool max_same_planes_avx512(const SamePlanes<float>&) { return false; }
bool max_same_planes_avx512(const SamePlanes<uint16_t>&) { return false; }
bool max_same_channels_last_values_avx512(const SameChannelsLast<float>&, float*) { return false; }
bool max_same_channels_last_values_avx512(const SameChannelsLast<uint16_t>&, float*) { return false; }
bool max_window_run_values_avx512(const WindowRun<float>&) { return false; }
bool max_window_run_values_avx512(const WindowRun<uint16_t>&) { return false; }

bool max_of_planes_avx512(const float*, int64_t, int64_t, float*, int32_t*) { return false; }
bool max_of_planes_avx512(const uint16_t*, int64_t, int64_t, uint16_t*, int32_t*) { return false; }
#define POOLING_EXT_WITH_TAPS(value_t, offset_t)                                                                    \
  bool max_rows_with_taps_avx512(const cpu::RowRun<value_t>&, offset_t*, const int32_t*, int32_t) { return false; } \
  bool max_same_planes_with_taps_avx512(const SamePlanes<value_t>&, offset_t*) { return false; }                    \
  bool max_window_run_with_taps_avx512(const WindowRun<value_t>&, offset_t*) { return false; }                      \
  bool max_gradient_row_avx512(const GradientRow<value_t, offset_t>&) { return false; }                             \
  bool max_gradient_plane_rows_avx512(const PlaneGradientRows<value_t, offset_t>&) { return false; }                \
  bool max_tiling_window_run_avx512(const TilingWindowRun<value_t, offset_t>&) { return false; }
POOLING_EXT_WITH_TAPS(float, uint8_t)
POOLING_EXT_WITH_TAPS(float, int32_t)
POOLING_EXT_WITH_TAPS(uint16_t, uint8_t)
POOLING_EXT_WITH_TAPS(uint16_t, int32_t)
#undef POOLING_EXT_WITH_TAPS

#endif

}  // namespace simd
}  // namespace pooling_ext
