// Average pooling's row outputs in AVX-512 intrinsics. Fixed windows (the
// interior outputs, or whole rows with the taps outside masked where the
// borders share their row's divisor): two blocks of outputs at a time in independent
// registers (two rows at a time where a row is one block; two 2x2 s2 rows
// of at most 8 outputs share one register), each tap one
// (masked, strided) load and one add in the body's order, then one division
// (a multiplication where that is exact). Power means of p = 2 and 4 (LP
// pooling's usual norms) take the same walk, adding each tap's x^p and
// finishing with square roots. Adaptive
// windows: blocks of columns picked from one load per window row, the sum
// divided by the window's depth, height and width in turn, as torch does.
// "Same" windows (stride 1, as many outputs as inputs): each plane flat, in
// blocks of 16 consecutive outputs, per-tap lane masks. GCC's vectoriser
// made the portable row loop (forward_rows.cpp) a pass over a sums buffer per
// tap, with stride-2 loads part scalar.
#include "average_avx512.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "../../common/cpu/avx512_lanes.h"

namespace pooling_ext {
namespace simd {

#ifdef POOLING_EXT_HAS_AVX512_INTRINSICS
namespace {

using namespace avx512;
using cpu::RowRun;

// Division by a window's divisor: by a power of two (2x2 and 2x2x2 windows)
// as a multiplication by its inverse, which is exact and so gives the same
// bits at a fraction of a division's cost.
struct Divisor {
  __m512 divisor;
  __m512 inverse;
  bool power_of_two;

  POOLING_EXT_AVX512_INLINE explicit Divisor(float d) {
    const uint32_t bits = __builtin_bit_cast(uint32_t, d);
    power_of_two = d >= 1.0f && d < 0x1p126f && (bits & 0x7fffffu) == 0;
    divisor = _mm512_set1_ps(d);
    inverse = _mm512_set1_ps(1.0f / d);
  }
  POOLING_EXT_AVX512_INLINE __m512 divide(__m512 sum) const {
    return power_of_two ? _mm512_mul_ps(sum, inverse) : _mm512_div_ps(sum, divisor);
  }
};

// One block of up to 16 outputs of a row: its window rows start at
// plane + rows[r], its lane 0's first tap is element `first` of each, and its
// `lanes` values go to out; lane 0 is output column `column` of output row
// `row` of the run (for a power mean's overflow fallback).
template <typename value_t>
struct AverageBlock {
  const value_t* plane;
  const int64_t* rows;
  int64_t first;
  value_t* out;
  int64_t lanes;
  const Divisor* divisor;  // averages
  float padded = 0;        // power means: the padded window size
  int64_t row = 0, column = 0;
};

// What a block adds up per tap: x for an average (kPower 0), x^p for a power
// mean of p = 2 or 4 (raise<p>'s products, so the portable loop's bits; the
// base is x or |x|, whose even powers are the same).
template <int kPower>
POOLING_EXT_AVX512_INLINE __m512 tap_term(__m512 x) {
  static_assert(kPower == 0 || kPower == 2 || kPower == 4, "tap_term: averages and p = 2, 4 only");
  if constexpr (kPower == 0) return x;
  const __m512 square = _mm512_mul_ps(x, x);
  if constexpr (kPower == 2) return square;
  return _mm512_mul_ps(square, square);
}

// A block's values from its sums, stored: the average (one division), or the
// power mean's root, as power_mean_root computes it; lanes whose power sum
// is not finite are then recomputed by the body, as the portable loop does.
template <int kPower, typename value_t>
POOLING_EXT_AVX512_INLINE void finish_block(const AverageBlock<value_t>& block, __m512 sum,
                                            const PowerRowFinish* power) {
  if constexpr (kPower == 0) {
    store_rounded(block.out, block.divisor->divide(sum), block.lanes);
  } else {
    __m512 mean = sum;
    if (block.padded != power->numerator) {
      mean = _mm512_mul_ps(_mm512_div_ps(sum, _mm512_set1_ps(block.padded)), _mm512_set1_ps(power->numerator));
    }
    __m512 root = _mm512_sqrt_ps(mean);
    if constexpr (kPower == 4) root = _mm512_sqrt_ps(root);
    store_rounded(block.out, root, block.lanes);
    const __mmask16 finite = _mm512_cmp_ps_mask(_mm512_abs_ps(sum), _mm512_set1_ps(__builtin_inff()), _CMP_LT_OQ);
    uint32_t overflowed = static_cast<uint32_t>(lanes16(block.lanes) & ~finite);
    for (; overflowed != 0; overflowed &= overflowed - 1) {
      power->recompute(power->context, block.row, block.column + __builtin_ctz(overflowed));
    }
  }
}

// Whether every tap of the block's outputs lies inside a row of `width`.
template <int kStride, typename value_t>
POOLING_EXT_AVX512_INLINE bool taps_inside(const StridedLanes<kStride>& l, const AverageBlock<value_t>& block,
                                           int64_t kw, int64_t width) {
  return block.first >= 0 && block.first + (block.lanes - 1) * l.stride + kw - 1 < width;
}

// kBlocks blocks (all of row_count window rows and kw taps) in independent
// registers: each tap one (masked, strided) load and one add in the body's
// order, then the blocks' values. A block at the row's ends (whole rows, the
// borders' divisors being their row's) masks its taps outside the row: each
// adds +0 there, which changes no sum (a sum that starts at +0 is never -0).
template <int kBlocks, int kPower, int kStride, typename value_t>
POOLING_EXT_AVX512_INLINE void average_blocks(const StridedLanes<kStride>& l, int64_t kw, int64_t width,
                                              int64_t row_count, const AverageBlock<value_t>* block,
                                              const PowerRowFinish* power) {
  __m512 sum[kBlocks];
  __mmask16 inside[kBlocks];
  bool all_inside = true;
  for (int k = 0; k < kBlocks; ++k) {
    sum[k] = _mm512_setzero_ps();
    inside[k] = lanes16(block[k].lanes);
    all_inside = all_inside && taps_inside(l, block[k], kw, width);
  }
  if (!all_inside) {
    // Each tap's lanes inside the row, computed once (past kMostTaps, per use).
    constexpr int64_t kMostTaps = 16;
    __mmask16 tap_inside[kBlocks][kMostTaps];
    for (int k = 0; k < kBlocks; ++k) {
      for (int64_t tw = 0; tw < std::min(kw, kMostTaps); ++tw) {
        tap_inside[k][tw] = l.inside(block[k].first + tw, width, block[k].lanes);
      }
    }
    for (int64_t r = 0; r < row_count; ++r) {
      for (int64_t tw = 0; tw < kw; ++tw) {
        for (int k = 0; k < kBlocks; ++k) {
          const __mmask16 lanes =
              tw < kMostTaps ? tap_inside[k][tw] : l.inside(block[k].first + tw, width, block[k].lanes);
          const value_t* x = element_address(block[k].plane, block[k].rows[r] + block[k].first + tw);
          sum[k] = _mm512_add_ps(sum[k], tap_term<kPower>(l.load(x, lanes)));
        }
      }
    }
    for (int k = 0; k < kBlocks; ++k) finish_block<kPower>(block[k], sum[k], power);
    return;
  }
  if constexpr (kStride == 2 && kPower == 0) {
    if (kw == 2 && all_inside) {  // 2x2 s2: both taps of a window row from one load
      for (int64_t r = 0; r < row_count; ++r) {
        for (int k = 0; k < kBlocks; ++k) {
          __m512 even, odd;
          load_pairs(element_address(block[k].plane, block[k].rows[r] + block[k].first), inside[k], even, odd);
          sum[k] = _mm512_add_ps(_mm512_add_ps(sum[k], even), odd);
        }
      }
      for (int k = 0; k < kBlocks; ++k) {
        store_rounded(block[k].out, block[k].divisor->divide(sum[k]), block[k].lanes);
      }
      return;
    }
  }
  for (int64_t r = 0; r < row_count; ++r) {
    for (int64_t tw = 0; tw < kw; ++tw) {
      for (int k = 0; k < kBlocks; ++k) {
        const value_t* x = element_address(block[k].plane, block[k].rows[r] + block[k].first + tw);
        sum[k] = _mm512_add_ps(sum[k], tap_term<kPower>(l.load(x, inside[k])));
      }
    }
  }
  for (int k = 0; k < kBlocks; ++k) finish_block<kPower>(block[k], sum[k], power);
}

// A Divisor for output row j of a plane, rebuilt only where the divisor
// changes (rows mostly share theirs).
struct RowDivisor {
  float value;
  Divisor divisor;
  POOLING_EXT_AVX512_INLINE RowDivisor() : value(1.0f), divisor(1.0f) {}
  POOLING_EXT_AVX512_INLINE const Divisor* of(float d) {
    if (d != value) divisor = Divisor(value = d);
    return &divisor;
  }
};

// Two output rows of at most 8 outputs each with 2-tap, stride-2 window rows
// (2x2 s2 pooling of 14-wide planes: VGG's adaptive head) in one register:
// row 0 in lanes [0, 8), row 1 in [8, 16). Each window row of each output row
// is one load of its 2 * lanes elements, and two permutes of the pair of
// loads take the windows' left and right taps: half the loads, permutes,
// additions and divisions of the two rows in registers of their own.
template <typename value_t>
POOLING_EXT_AVX512_INLINE void average_row_pair_2x2(int64_t row_count, const AverageBlock<value_t>* row) {
  const __mmask16 elements = lanes16(2 * row[0].lanes);  // (both rows have as many outputs)
  const __m512i left = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i right = _mm512_add_epi32(left, _mm512_set1_epi32(1));
  __m512 sum = _mm512_setzero_ps();
  for (int64_t r = 0; r < row_count; ++r) {  // the body's order: window row by row, left tap then right
    const __m512 a = load_lanes_where(element_address(row[0].plane, row[0].rows[r] + row[0].first), elements);
    const __m512 b = load_lanes_where(element_address(row[1].plane, row[1].rows[r] + row[1].first), elements);
    sum = _mm512_add_ps(sum, _mm512_permutex2var_ps(a, left, b));
    sum = _mm512_add_ps(sum, _mm512_permutex2var_ps(a, right, b));
  }
  // Each lane divided by its row's divisor (by a power of two, multiplying
  // by its inverse gives the same bits).
  const __mmask16 second_row = 0xff00;
  const Divisor& d0 = *row[0].divisor;
  const Divisor& d1 = *row[1].divisor;
  const __m512 average = d0.power_of_two && d1.power_of_two
                             ? _mm512_mul_ps(sum, _mm512_mask_mov_ps(d0.inverse, second_row, d1.inverse))
                             : _mm512_div_ps(sum, _mm512_mask_mov_ps(d0.divisor, second_row, d1.divisor));
  store_rounded(row[0].out, average, row[0].lanes);
  store_rounded(row[1].out, _mm512_shuffle_f32x4(average, average, _MM_SHUFFLE(3, 2, 3, 2)), row[1].lanes);
}

// Rows of at most one block each (VGG's 7-wide heads): two rows at a time, as
// two independent chains of additions; a row alone is one chain whose
// latency, not the work, sets the pace (VGG's head 20% faster; four rows at a
// time were no faster than two).
template <int kPower, int kStride, typename value_t>
POOLING_EXT_AVX512_INLINE void average_short_rows(const StridedLanes<kStride>& l, const RowRun<value_t>& run,
                                                  const PowerRowFinish* power) {
  constexpr int kRows = 2;
  RowDivisor divisors[kRows];
  const int64_t first = run.first_output * l.stride - run.pad;
  cpu::RunRowWalk<value_t> walk(run);
  while (walk.more()) {
    AverageBlock<value_t> rows[kRows];
    const int64_t row_count = walk.window_row_count();
    int count = 0;  // rows taken: those that follow with as many window rows
    for (; count < kRows && walk.more() && walk.window_row_count() == row_count; ++count, walk.next()) {
      rows[count] = {.plane = walk.plane(),
                     .rows = walk.window_rows(),
                     .first = first,
                     .out = run.output + walk.row * run.out_width + run.first_output,
                     .lanes = run.outputs,
                     .divisor = kPower == 0 ? divisors[count].of(run.divisor[walk.j]) : nullptr,
                     .padded = run.divisor[walk.j],
                     .row = walk.row,
                     .column = run.first_output};
    }
    if (kPower == 0 && count == 2 && kStride == 2 && run.kw == 2 && run.outputs <= 8 &&
        taps_inside(l, rows[0], run.kw, run.width)) {
      average_row_pair_2x2(row_count, rows);
    } else if (count == 2) {
      average_blocks<2, kPower>(l, run.kw, run.width, row_count, rows, power);
    } else {
      average_blocks<1, kPower>(l, run.kw, run.width, row_count, rows, power);
    }
  }
}

// kBlocks blocks of output row `row` of the run from output i0 (l.lanes each,
// `lanes` in the last).
template <int kBlocks, int kPower, int kStride, typename value_t>
POOLING_EXT_AVX512_INLINE void row_blocks(const StridedLanes<kStride>& l, const RowRun<value_t>& run,
                                          const value_t* plane, const int64_t* rows, int64_t row_count,
                                          const Divisor* divisor, const PowerRowFinish* power, int64_t row, int64_t j,
                                          value_t* out, int64_t i0, int64_t lanes) {
  AverageBlock<value_t> block[kBlocks];
  for (int k = 0; k < kBlocks; ++k) {
    const int64_t i = i0 + l.lanes * k;
    block[k] = {.plane = plane,
                .rows = rows,
                .first = (run.first_output + i) * l.stride - run.pad,
                .out = out + i,
                .lanes = k == kBlocks - 1 ? lanes : l.lanes,
                .divisor = divisor,
                .padded = run.divisor[j],
                .row = row,
                .column = run.first_output + i};
  }
  average_blocks<kBlocks, kPower>(l, run.kw, run.width, row_count, block, power);
}

// kPower 0: averages (run.divisor: each row's divisor); 2 or 4: power means
// (`power`; run.divisor: each row's padded window size).
template <int kPower, int kStride, typename value_t>
POOLING_EXT_AVX512_TARGET void average_run(const RowRun<value_t>& run, const PowerRowFinish* power) {
  const StridedLanes<kStride> l = strided_lanes<kStride>(run.stride);
  const int64_t n = run.outputs;
  if (n <= l.lanes) return average_short_rows<kPower>(l, run, power);
  RowDivisor divisor;
  for (cpu::RunRowWalk<value_t> walk(run); walk.more(); walk.next()) {
    const value_t* plane = walk.plane();
    const int64_t* rows = walk.window_rows();
    const int64_t row_count = walk.window_row_count();
    const Divisor* row_divisor = kPower == 0 ? divisor.of(run.divisor[walk.j]) : nullptr;
    value_t* out = run.output + walk.row * run.out_width + run.first_output;
    int64_t i0 = 0;
    for (; i0 + 2 * l.lanes <= n; i0 += 2 * l.lanes) {
      row_blocks<2, kPower>(l, run, plane, rows, row_count, row_divisor, power, walk.row, walk.j, out, i0, l.lanes);
    }
    for (; i0 < n; i0 += l.lanes) {
      row_blocks<1, kPower>(l, run, plane, rows, row_count, row_divisor, power, walk.row, walk.j, out, i0,
                            n - i0 < l.lanes ? n - i0 : l.lanes);
    }
  }
}

// One block of 16 outputs of a "same" plane: its window's taps from `first`
// (lane 0's first tap), rows `width` apart, in the body's order; kWhole: every
// tap of every lane inside the plane (unmasked loads), else masks[t] (tap t's
// lanes inside). kRows, kTaps: kh and kw at compile time (3x3, 5x5), or 0.
template <int kRows, int kTaps, bool kWhole, typename value_t>
POOLING_EXT_AVX512_INLINE __m512 same_block_sum(const value_t* x, int64_t first, int64_t width, int64_t kh, int64_t kw,
                                                const __mmask16* masks) {
  const int64_t rows = kRows > 0 ? kRows : kh, taps = kTaps > 0 ? kTaps : kw;
  __m512 sum = _mm512_setzero_ps();
  for (int64_t th = 0; th < rows; ++th) {
#pragma GCC unroll 8
    for (int64_t tw = 0; tw < taps; ++tw) {
      const int64_t at = first + th * width + tw;
      sum = _mm512_add_ps(sum,
                          kWhole ? load_16(x + at) : load_lanes_where(element_address(x, at), masks[th * taps + tw]));
    }
  }
  return sum;
}

// One "same" plane's sums of x into out, each / divisor (or not, for
// kDivide false).
template <int kRows, int kTaps, bool kDivide, typename value_t, typename out_t>
POOLING_EXT_AVX512_INLINE void same_plane_sums(const value_t* x, out_t* out, int64_t height, int64_t width, int64_t kh,
                                               int64_t kw, const Divisor& divisor, const __mmask16* masks,
                                               const uint8_t* whole) {
  const int64_t n = height * width, taps = kh * kw;
  const int64_t to_first = (kh - 1) / 2 * width + (kw - 1) / 2;  // from an output to its window's first tap
  for (int64_t b = 0; 16 * b < n; ++b) {
    const int64_t first = 16 * b - to_first;
    const __m512 sum = whole[b] ? same_block_sum<kRows, kTaps, true>(x, first, width, kh, kw, nullptr)
                                : same_block_sum<kRows, kTaps, false>(x, first, width, kh, kw, masks + b * taps);
    store_rounded(out + 16 * b, kDivide ? divisor.divide(sum) : sum, n - 16 * b);
  }
}

// The planes' averages; or, for kShares (the backward: input the gradient
// of the outputs), each plane's shares g / divisor into `shares` first (as
// the backward's body divides), then their sums: an input's covering
// outputs are the window centred on it, taken in output order.
template <int kRows, int kTaps, bool kShares, typename value_t>
POOLING_EXT_AVX512_INLINE void same_average_planes(const SameAveragePlanes<value_t>& s, const __mmask16* masks,
                                                   const uint8_t* whole, float* shares) {
  const int64_t n = s.height * s.width;
  const Divisor divisor(s.divisor);
  for (int64_t p = 0; p < s.planes; ++p) {
    const value_t* x = s.input + p * n;
    value_t* out = s.output + p * n;
    if constexpr (kShares) {
      for (int64_t i = 0; i < n; i += 16) _mm512_storeu_ps(shares + i, divisor.divide(load_lanes(x + i, n - i)));
      same_plane_sums<kRows, kTaps, false>(shares, out, s.height, s.width, s.kh, s.kw, divisor, masks, whole);
    } else {
      same_plane_sums<kRows, kTaps, true>(x, out, s.height, s.width, s.kh, s.kw, divisor, masks, whole);
    }
  }
}

template <bool kShares, typename value_t>
POOLING_EXT_AVX512_TARGET void same_average_planes(const SameAveragePlanes<value_t>& s) {
  const int64_t H = s.height, W = s.width, n = H * W, blocks = (n + 15) / 16, taps = s.kh * s.kw;
  const int64_t up = (s.kh - 1) / 2, left = (s.kw - 1) / 2;
  // Per block and tap, the lanes whose tap lies inside the plane (its row and
  // column); whole[b]: all 16 lanes, every tap.
  std::vector<__mmask16> masks(blocks * taps, 0);
  std::vector<uint8_t> whole(blocks, 0);
  for (int64_t f = 0; f < n; ++f) {
    const int64_t h = f / W, w = f % W;
    for (int64_t th = 0; th < s.kh; ++th) {
      for (int64_t tw = 0; tw < s.kw; ++tw) {
        const int64_t ih = h - up + th, iw = w - left + tw;
        if (ih >= 0 && ih < H && iw >= 0 && iw < W) {
          masks[(f / 16) * taps + th * s.kw + tw] |= static_cast<__mmask16>(1u << (f % 16));
        }
      }
    }
  }
  for (int64_t b = 0; b < blocks; ++b) {
    whole[b] =
        std::all_of(masks.begin() + b * taps, masks.begin() + (b + 1) * taps, [](__mmask16 m) { return m == 0xffff; });
  }
  std::vector<float> shares(kShares ? blocks * 16 : 0);
  if (s.kh == 3 && s.kw == 3) return same_average_planes<3, 3, kShares>(s, masks.data(), whole.data(), shares.data());
  if (s.kh == 5 && s.kw == 5) return same_average_planes<5, 5, kShares>(s, masks.data(), whole.data(), shares.data());
  same_average_planes<0, 0, kShares>(s, masks.data(), whole.data(), shares.data());
}

// Tiling windows' shares: 16 outputs' shares at a time, spread across their
// 16 * kw inputs by kw permutes (input lane l of part p takes share
// (16p + l) / kw).
template <typename value_t>
POOLING_EXT_AVX512_TARGET void tiled_planes_backward(const TiledPlanes<value_t>& t) {
  const Divisor divisor(t.divisor);
  const int64_t kw = t.kw, width = t.outputs * kw;
  __m512i spread[16];
  for (int64_t part = 0; part < kw; ++part) {
    alignas(64) int32_t index[16];
    for (int l = 0; l < 16; ++l) index[l] = static_cast<int32_t>((16 * part + l) / kw);
    spread[part] = _mm512_load_si512(index);
  }
  for (int64_t p = 0; p < t.planes; ++p) {
    const value_t* grad = t.grad + p * t.out_plane;
    value_t* plane = t.grad_in + p * t.in_plane;
    for (int64_t j = 0; j < t.out_rows; ++j, grad += t.outputs) {
      const int64_t* rows = t.rows->offset.data() + t.rows->begin[j];
      const int64_t row_count = t.rows->begin[j + 1] - t.rows->begin[j];
      value_t* first_row = plane + rows[0];
      for (int64_t o = 0; o < t.outputs; o += 16) {
        const int64_t n = std::min<int64_t>(16, t.outputs - o);
        const __m512 share = _mm512_add_ps(_mm512_setzero_ps(), divisor.divide(load_lanes(grad + o, n)));
        for (int64_t part = 0; part < kw && 16 * part < n * kw; ++part) {
          store_rounded(first_row + o * kw + 16 * part, _mm512_permutexvar_ps(spread[part], share),
                        std::min<int64_t>(16, n * kw - 16 * part));
        }
      }
      for (int64_t r = 1; r < row_count; ++r) std::memcpy(plane + rows[r], first_row, width * sizeof(value_t));
    }
  }
}

// StrideTwoRows: each row's shares into `shares` (zeros past the row's
// outputs), then 16 outputs' inputs at a time: the even inputs 0 + s[m],
// the odd (0 + s[m]) + s[m + 1] (a share past the row adds +0: no change),
// interleaved by two permutes.
template <typename value_t>
POOLING_EXT_AVX512_TARGET void stride_two_rows_backward(const StrideTwoRows<value_t>& t, float* shares) {
  const __m512i first_half = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
  const __m512i second_half = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
  const __m512 zero = _mm512_setzero_ps();
  for (int64_t r = 0; r < t.rows; ++r) {
    const value_t* grad = t.grad + r * t.outputs;
    value_t* row = t.grad_in + r * t.width;
    for (int64_t o = 0; o < t.outputs; o += 16) {
      const int64_t n = std::min<int64_t>(16, t.outputs - o);
      const __m512 share = _mm512_add_ps(zero, _mm512_div_ps(load_lanes(grad + o, n), load_lanes(t.divisor + o, n)));
      _mm512_mask_storeu_ps(shares + o, lanes16(n), share);
    }
    _mm512_storeu_ps(shares + t.outputs, zero);
    for (int64_t o = 0; o < t.outputs; o += 16) {
      const __m512 share = _mm512_loadu_ps(shares + o);
      const __m512 even = _mm512_add_ps(zero, share);
      const __m512 odd = _mm512_add_ps(even, _mm512_loadu_ps(shares + o + 1));
      const int64_t inputs = t.width - 2 * o;
      store_rounded(row + 2 * o, _mm512_permutex2var_ps(even, first_half, odd), std::min<int64_t>(16, inputs));
      if (inputs > 16) {
        store_rounded(row + 2 * o + 16, _mm512_permutex2var_ps(even, second_half, odd),
                      std::min<int64_t>(16, inputs - 16));
      }
    }
  }
}

// Adaptive windows (contiguous): each output row's blocks of columns, their
// windows' elements loaded once per window row and each output's taps picked
// from them in order; the sum divided by the window's depth, height and
// width in turn (torch's contiguous kernel), not by their product.
template <typename value_t>
POOLING_EXT_AVX512_TARGET void adaptive_run(const RowRun<value_t>& run, const cpu::ColumnBlocks& blocks) {
  const int64_t block_count = static_cast<int64_t>(blocks.first.size());
  for (cpu::RunRowWalk<value_t> walk(run); walk.more(); walk.next()) {
    const value_t* plane = walk.plane();
    const int64_t* rows = walk.window_rows();
    const int64_t row_count = walk.window_row_count();
    value_t* out = run.output + walk.row * run.out_width;
    for (int64_t b = 0; b < block_count; ++b) {
      const int64_t lanes = blocks.lanes[b];
      const __m512i index = _mm512_loadu_si512(blocks.index.data() + 16 * b);
      const __m512i length = _mm512_loadu_si512(blocks.length.data() + 16 * b);
      const int64_t last = 16 * b + lanes - 1;
      const int64_t span = blocks.index[last] + blocks.length[last];  // the last window ends last
      const uint32_t mask = span >= 32 ? 0xffffffffu : (1u << span) - 1;
      int32_t longest = 0;
      for (int64_t i = 16 * b; i <= last; ++i) longest = blocks.length[i] > longest ? blocks.length[i] : longest;
      __m512 sum = _mm512_setzero_ps();
      for (int64_t r = 0; r < row_count; ++r) {
        const Loaded32 loaded = load32(element_address(plane, rows[r] + blocks.base[b]), mask);
        for (int32_t t = 0; t < longest; ++t) {
          const __mmask16 taps = _mm512_cmpgt_epi32_mask(length, _mm512_set1_epi32(t));  // t < length
          const __m512 v = pick(loaded, _mm512_add_epi32(index, _mm512_set1_epi32(t)), plane);
          sum = _mm512_mask_add_ps(sum, taps, sum, v);
        }
      }
      // torch's order: the sum divided by the window's depth, then height, then width
      __m512 average = _mm512_div_ps(sum, _mm512_set1_ps(run.divisor[2 * walk.j]));
      average = _mm512_div_ps(average, _mm512_set1_ps(run.divisor[2 * walk.j + 1]));
      average = _mm512_div_ps(average, _mm512_cvtepi32_ps(length));
      store_rounded(out + blocks.first[b], average, lanes);
    }
  }
}

// The halving tree of sum_of_lanes (lane_vectors.h) over 16 vectors at once:
// lane i of the result is vector i's sum, ((l0..7 + l8..15) halved twice
// more), pairing the same lanes in the same order as the tree of one vector,
// so the same bits, at a quarter of its shuffles and additions per vector.
// One level: vector i of `count` pairs lane j with lane j + kHalf in each
// group of 2 * kHalf lanes of in[2i] (lanes [0, 8)) and in[2i + 1] (the rest).
template <int kHalf>
POOLING_EXT_AVX512_INLINE void halve_lane_groups(__m512* in, int count) {
  constexpr int kGroup = 2 * kHalf;
  const __m512i take_low = _mm512_setr_epi32(
      0 / kHalf * kGroup + 0 % kHalf, 1 / kHalf * kGroup + 1 % kHalf, 2 / kHalf * kGroup + 2 % kHalf,
      3 / kHalf * kGroup + 3 % kHalf, 4 / kHalf * kGroup + 4 % kHalf, 5 / kHalf * kGroup + 5 % kHalf,
      6 / kHalf * kGroup + 6 % kHalf, 7 / kHalf * kGroup + 7 % kHalf, 8 / kHalf * kGroup + 8 % kHalf,
      9 / kHalf * kGroup + 9 % kHalf, 10 / kHalf * kGroup + 10 % kHalf, 11 / kHalf * kGroup + 11 % kHalf,
      12 / kHalf * kGroup + 12 % kHalf, 13 / kHalf * kGroup + 13 % kHalf, 14 / kHalf * kGroup + 14 % kHalf,
      15 / kHalf * kGroup + 15 % kHalf);
  const __m512i take_high = _mm512_add_epi32(take_low, _mm512_set1_epi32(kHalf));
  for (int i = 0; i < count; ++i) {
    in[i] = _mm512_add_ps(_mm512_permutex2var_ps(in[2 * i], take_low, in[2 * i + 1]),
                          _mm512_permutex2var_ps(in[2 * i], take_high, in[2 * i + 1]));
  }
}

// The halving tree of sum_of_lanes (lane_vectors.h) over 16 vectors at once:
// lane i of the result is vector i's sum (lanes j + j+8, then j + j+4, then
// (q0 + q2) + (q1 + q3)), the same lanes paired in the same order as the
// tree of one vector, so the same bits, at a quarter of its shuffles and
// additions per vector.
POOLING_EXT_AVX512_INLINE __m512 sum_lanes_of_16(__m512* v) {
  halve_lane_groups<8>(v, 8);
  halve_lane_groups<4>(v, 4);
  halve_lane_groups<2>(v, 2);
  halve_lane_groups<1>(v, 1);
  return v[0];
}

// Sixteen planes (count of them, the rest zero) of sum_bfloat16_planes: each
// plane's whole vectors added in order, the 16 partial vectors reduced
// together, then the planes' last elements in order, gathered as the high
// halves of the 32-bit words that end at them (an element and the one
// before: inside the tensor, as a plane's tail follows at least 16 elements).
POOLING_EXT_AVX512_INLINE __m512 sum_16_bfloat16_planes(const uint16_t* x, int count, int64_t plane_size, int64_t whole,
                                                        __m512i plane_starts) {
  __m512 lanes[16];
  for (int k = 0; k < 16; ++k) {
    lanes[k] = _mm512_setzero_ps();
    if (k >= count) continue;
    const uint16_t* plane = x + k * plane_size;
    for (int64_t i = 0; i < whole; i += 16) {
      lanes[k] = _mm512_add_ps(lanes[k], widen_bf16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(plane + i))));
    }
  }
  __m512 sum = sum_lanes_of_16(lanes);
  const __mmask16 planes = lanes16(count);
  for (int64_t i = whole; i < plane_size; ++i) {
    const __m512i words = _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), planes, plane_starts, x + i - 1, 2);
    sum = _mm512_add_ps(sum, _mm512_castsi512_ps(_mm512_and_si512(words, _mm512_set1_epi32(int32_t(0xffff0000)))));
  }
  return sum;
}

POOLING_EXT_AVX512_TARGET void average_bfloat16_planes_run(const uint16_t* x, int64_t planes, int64_t plane_size,
                                                           const float* divide_by, uint16_t* out) {
  const int64_t whole = plane_size - plane_size % 16;
  const __m512i plane_starts =
      _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                         _mm512_set1_epi32(static_cast<int32_t>(plane_size)));
  for (int64_t p = 0; p < planes; p += 16) {
    const int count = planes - p < 16 ? static_cast<int>(planes - p) : 16;
    __m512 average = sum_16_bfloat16_planes(x + p * plane_size, count, plane_size, whole, plane_starts);
    for (int d = 0; d < 3; ++d) average = _mm512_div_ps(average, _mm512_set1_ps(divide_by[d]));
    store_rounded(out + p, average, count);
  }
}

template <typename value_t>
bool average_run_dispatch(const RowRun<value_t>& run) {
  if (!cpu_has_avx512()) return false;
  with_lane_stride(run.stride, [&](auto stride) { average_run<0, decltype(stride)::value>(run, nullptr); });
  return true;
}

template <typename value_t>
bool power_run_dispatch(const RowRun<value_t>& run, const PowerRowFinish& power) {
  if (!cpu_has_avx512() || (power.power != 2 && power.power != 4)) return false;
  with_lane_stride(run.stride, [&](auto stride) {
    constexpr int kStride = decltype(stride)::value;
    if (power.power == 2) {
      average_run<2, kStride>(run, &power);
    } else {
      average_run<4, kStride>(run, &power);
    }
  });
  return true;
}

}  // namespace

bool average_rows_avx512_supported() { return cpu_has_avx512(); }
bool average_same_planes_avx512(const SameAveragePlanes<float>& s) {
  if (!cpu_has_avx512()) return false;
  same_average_planes<false>(s);
  return true;
}

bool average_same_planes_avx512(const SameAveragePlanes<uint16_t>& s) {
  if (!cpu_has_avx512()) return false;
  same_average_planes<false>(s);
  return true;
}

bool average_same_planes_backward_avx512(const SameAveragePlanes<float>& s) {
  if (!cpu_has_avx512()) return false;
  same_average_planes<true>(s);
  return true;
}

bool average_same_planes_backward_avx512(const SameAveragePlanes<uint16_t>& s) {
  if (!cpu_has_avx512()) return false;
  same_average_planes<true>(s);
  return true;
}

bool average_tiled_planes_backward_avx512(const TiledPlanes<float>& t) {
  if (!cpu_has_avx512() || t.kw > 16) return false;
  tiled_planes_backward(t);
  return true;
}

bool average_tiled_planes_backward_avx512(const TiledPlanes<uint16_t>& t) {
  if (!cpu_has_avx512() || t.kw > 16) return false;
  tiled_planes_backward(t);
  return true;
}

bool average_stride_two_rows_backward_avx512(const StrideTwoRows<float>& t) {
  if (!cpu_has_avx512()) return false;
  std::vector<float> shares((t.outputs + 15) / 16 * 16 + 16);
  stride_two_rows_backward(t, shares.data());
  return true;
}

bool average_stride_two_rows_backward_avx512(const StrideTwoRows<uint16_t>& t) {
  if (!cpu_has_avx512()) return false;
  std::vector<float> shares((t.outputs + 15) / 16 * 16 + 16);
  stride_two_rows_backward(t, shares.data());
  return true;
}

bool average_rows_avx512(const cpu::RowRun<float>& run) { return average_run_dispatch(run); }
bool average_rows_avx512(const cpu::RowRun<uint16_t>& run) { return average_run_dispatch(run); }
bool power_rows_avx512(const cpu::RowRun<float>& run, const PowerRowFinish& power) {
  return power_run_dispatch(run, power);
}
bool power_rows_avx512(const cpu::RowRun<uint16_t>& run, const PowerRowFinish& power) {
  return power_run_dispatch(run, power);
}

bool average_bfloat16_planes_avx512(const uint16_t* x, int64_t planes, int64_t plane_size, const float* divide_by,
                                    uint16_t* out) {
  // (gather offsets of 16 planes in 32 bits)
  if (!cpu_has_avx512() || plane_size < 16 || plane_size > (int64_t{1} << 26)) return false;
  average_bfloat16_planes_run(x, planes, plane_size, divide_by, out);
  return true;
}

bool average_adaptive_rows_avx512(const cpu::RowRun<float>& run, const cpu::ColumnBlocks& blocks) {
  if (!cpu_has_avx512() || blocks.empty()) return false;
  adaptive_run(run, blocks);
  return true;
}

bool average_adaptive_rows_avx512(const cpu::RowRun<uint16_t>& run, const cpu::ColumnBlocks& blocks) {
  if (!cpu_has_avx512() || blocks.empty()) return false;
  adaptive_run(run, blocks);
  return true;
}

#else  // no AVX-512 code in this build

bool average_rows_avx512_supported() { return false; }
bool average_same_planes_avx512(const SameAveragePlanes<float>&) { return false; }
bool average_same_planes_avx512(const SameAveragePlanes<uint16_t>&) { return false; }
bool average_same_planes_backward_avx512(const SameAveragePlanes<float>&) { return false; }
bool average_same_planes_backward_avx512(const SameAveragePlanes<uint16_t>&) { return false; }
bool average_tiled_planes_backward_avx512(const TiledPlanes<float>&) { return false; }
bool average_tiled_planes_backward_avx512(const TiledPlanes<uint16_t>&) { return false; }
bool average_stride_two_rows_backward_avx512(const StrideTwoRows<float>&) { return false; }
bool average_stride_two_rows_backward_avx512(const StrideTwoRows<uint16_t>&) { return false; }
bool average_rows_avx512(const cpu::RowRun<float>&) { return false; }
bool average_rows_avx512(const cpu::RowRun<uint16_t>&) { return false; }
bool power_rows_avx512(const cpu::RowRun<float>&, const PowerRowFinish&) { return false; }
bool power_rows_avx512(const cpu::RowRun<uint16_t>&, const PowerRowFinish&) { return false; }
bool average_bfloat16_planes_avx512(const uint16_t*, int64_t, int64_t, const float*, uint16_t*) { return false; }
bool average_adaptive_rows_avx512(const cpu::RowRun<float>&, const cpu::ColumnBlocks&) { return false; }
bool average_adaptive_rows_avx512(const cpu::RowRun<uint16_t>&, const cpu::ColumnBlocks&) { return false; }

#endif

}  // namespace simd
}  // namespace pooling_ext
