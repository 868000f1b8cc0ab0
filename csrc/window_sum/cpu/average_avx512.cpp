// Average pooling's row outputs in AVX-512 intrinsics. Fixed windows (the
// interior outputs): two blocks of outputs at a time in independent
// registers, each tap one (masked, strided) load and one add in the body's
// order, then one division (a multiplication where that is exact). Adaptive
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

// kBlocks blocks of outputs from output i0 (l.lanes per block, `lanes` in
// the last); window row r starts at plane + rows[r].
template <int kBlocks, int kStride, typename value_t>
POOLING_EXT_AVX512_INLINE void average_blocks(const StridedLanes<kStride>& l, const RowRun<value_t>& run,
                                              const value_t* plane, const int64_t* rows, int64_t row_count,
                                              const Divisor& divisor, value_t* out, int64_t i0, int64_t lanes) {
  __m512 sum[kBlocks];
  __mmask16 inside[kBlocks];
  for (int k = 0; k < kBlocks; ++k) {
    sum[k] = _mm512_setzero_ps();
    inside[k] = lanes16(k == kBlocks - 1 ? lanes : l.lanes);
  }
  const int64_t first = (run.first_output + i0) * l.stride - run.pad;  // block 0's first tap
  if constexpr (kStride == 2) {
    if (run.kw == 2) {  // 2x2 s2: both taps of a window row from one load
      for (int64_t r = 0; r < row_count; ++r) {
        for (int k = 0; k < kBlocks; ++k) {
          __m512 even, odd;
          load_pairs(element_address(plane, rows[r] + first + 32 * k), inside[k], even, odd);
          sum[k] = _mm512_add_ps(_mm512_add_ps(sum[k], even), odd);
        }
      }
      for (int k = 0; k < kBlocks; ++k) {
        store_rounded(out + i0 + 16 * k, divisor.divide(sum[k]), k == kBlocks - 1 ? lanes : 16);
      }
      return;
    }
  }
  for (int64_t r = 0; r < row_count; ++r) {
    for (int64_t tw = 0; tw < run.kw; ++tw) {
      for (int k = 0; k < kBlocks; ++k) {
        const value_t* x = element_address(plane, rows[r] + first + l.lanes * k * l.stride + tw);
        sum[k] = _mm512_add_ps(sum[k], l.load(x, inside[k]));
      }
    }
  }
  for (int k = 0; k < kBlocks; ++k) {
    store_rounded(out + i0 + l.lanes * k, divisor.divide(sum[k]), k == kBlocks - 1 ? lanes : l.lanes);
  }
}

template <int kStride, typename value_t>
POOLING_EXT_AVX512_TARGET void average_run(const RowRun<value_t>& run) {
  const StridedLanes<kStride> l = strided_lanes<kStride>(run.stride);
  const int64_t n = run.outputs;
  // Rows mostly share their divisor: a new Divisor only where it changes.
  float divisor_value = run.divisor[run.first_row % run.rows_per_plane];
  Divisor divisor(divisor_value);
  for (cpu::RunRowWalk<value_t> walk(run); walk.more(); walk.next()) {
    const value_t* plane = walk.plane();
    const int64_t* rows = walk.window_rows();
    const int64_t row_count = walk.window_row_count();
    if (run.divisor[walk.j] != divisor_value) divisor = Divisor(divisor_value = run.divisor[walk.j]);
    value_t* out = run.output + walk.row * run.out_width + run.first_output;
    int64_t i0 = 0;
    for (; i0 + 2 * l.lanes <= n; i0 += 2 * l.lanes) {
      average_blocks<2>(l, run, plane, rows, row_count, divisor, out, i0, l.lanes);
    }
    for (; i0 < n; i0 += l.lanes) {
      average_blocks<1>(l, run, plane, rows, row_count, divisor, out, i0, n - i0 < l.lanes ? n - i0 : l.lanes);
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
