// Average pooling's row outputs in AVX-512 intrinsics. Fixed windows (the
// interior outputs): two blocks of outputs at a time in independent
// registers (two rows at a time where a row is one block; two 2x2 s2 rows
// of at most 8 outputs share one register), each tap one
// (masked, strided) load and one add in the body's order, then one division
// (a multiplication where that is exact). Adaptive
// windows: blocks of columns picked from one load per window row, the sum
// divided by the window's depth, height and width in turn, as torch does. GCC's vectoriser
// made the portable row loop (forward_rows.cpp) a pass over a sums buffer per
// tap, with stride-2 loads part scalar.
#include "average_avx512.h"

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
// `lanes` averages go to out.
template <typename value_t>
struct AverageBlock {
  const value_t* plane;
  const int64_t* rows;
  int64_t first;
  value_t* out;
  int64_t lanes;
  const Divisor* divisor;
};

// kBlocks blocks (all of row_count window rows and kw taps) in independent
// registers: each tap one (masked, strided) load and one add in the body's
// order, then one division.
template <int kBlocks, int kStride, typename value_t>
POOLING_EXT_AVX512_INLINE void average_blocks(const StridedLanes<kStride>& l, int64_t kw, int64_t row_count,
                                              const AverageBlock<value_t>* block) {
  __m512 sum[kBlocks];
  __mmask16 inside[kBlocks];
  for (int k = 0; k < kBlocks; ++k) {
    sum[k] = _mm512_setzero_ps();
    inside[k] = lanes16(block[k].lanes);
  }
  if constexpr (kStride == 2) {
    if (kw == 2) {  // 2x2 s2: both taps of a window row from one load
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
        sum[k] = _mm512_add_ps(sum[k], l.load(x, inside[k]));
      }
    }
  }
  for (int k = 0; k < kBlocks; ++k) store_rounded(block[k].out, block[k].divisor->divide(sum[k]), block[k].lanes);
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
template <int kStride, typename value_t>
POOLING_EXT_AVX512_INLINE void average_short_rows(const StridedLanes<kStride>& l, const RowRun<value_t>& run) {
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
                     .divisor = divisors[count].of(run.divisor[walk.j])};
    }
    if (count == 2 && kStride == 2 && run.kw == 2 && run.outputs <= 8) {
      average_row_pair_2x2(row_count, rows);
    } else if (count == 2) {
      average_blocks<2>(l, run.kw, row_count, rows);
    } else {
      average_blocks<1>(l, run.kw, row_count, rows);
    }
  }
}

// kBlocks blocks of one row from output i0 (l.lanes each, `lanes` in the last).
template <int kBlocks, int kStride, typename value_t>
POOLING_EXT_AVX512_INLINE void row_blocks(const StridedLanes<kStride>& l, const RowRun<value_t>& run,
                                          const value_t* plane, const int64_t* rows, int64_t row_count,
                                          const Divisor* divisor, value_t* out, int64_t i0, int64_t lanes) {
  AverageBlock<value_t> block[kBlocks];
  for (int k = 0; k < kBlocks; ++k) {
    const int64_t i = i0 + l.lanes * k;
    block[k] = {.plane = plane,
                .rows = rows,
                .first = (run.first_output + i) * l.stride - run.pad,
                .out = out + i,
                .lanes = k == kBlocks - 1 ? lanes : l.lanes,
                .divisor = divisor};
  }
  average_blocks<kBlocks>(l, run.kw, row_count, block);
}

template <int kStride, typename value_t>
POOLING_EXT_AVX512_TARGET void average_run(const RowRun<value_t>& run) {
  const StridedLanes<kStride> l = strided_lanes<kStride>(run.stride);
  const int64_t n = run.outputs;
  if (n <= l.lanes) return average_short_rows(l, run);
  RowDivisor divisor;
  for (cpu::RunRowWalk<value_t> walk(run); walk.more(); walk.next()) {
    const value_t* plane = walk.plane();
    const int64_t* rows = walk.window_rows();
    const int64_t row_count = walk.window_row_count();
    const Divisor* row_divisor = divisor.of(run.divisor[walk.j]);
    value_t* out = run.output + walk.row * run.out_width + run.first_output;
    int64_t i0 = 0;
    for (; i0 + 2 * l.lanes <= n; i0 += 2 * l.lanes) {
      row_blocks<2>(l, run, plane, rows, row_count, row_divisor, out, i0, l.lanes);
    }
    for (; i0 < n; i0 += l.lanes) {
      row_blocks<1>(l, run, plane, rows, row_count, row_divisor, out, i0, n - i0 < l.lanes ? n - i0 : l.lanes);
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

template <typename value_t>
bool average_run_dispatch(const RowRun<value_t>& run) {
  if (!cpu_has_avx512()) return false;
  with_lane_stride(run.stride, [&](auto stride) { average_run<decltype(stride)::value>(run); });
  return true;
}

}  // namespace

bool average_rows_avx512_supported() { return cpu_has_avx512(); }
bool average_rows_avx512(const cpu::RowRun<float>& run) { return average_run_dispatch(run); }
bool average_rows_avx512(const cpu::RowRun<uint16_t>& run) { return average_run_dispatch(run); }

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
bool average_rows_avx512(const cpu::RowRun<float>&) { return false; }
bool average_rows_avx512(const cpu::RowRun<uint16_t>&) { return false; }
bool average_adaptive_rows_avx512(const cpu::RowRun<float>&, const cpu::ColumnBlocks&) { return false; }
bool average_adaptive_rows_avx512(const cpu::RowRun<uint16_t>&, const cpu::ColumnBlocks&) { return false; }

#endif

}  // namespace simd
}  // namespace pooling_ext
