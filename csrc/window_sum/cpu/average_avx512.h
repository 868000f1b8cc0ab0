// Average pooling's row loops in AVX-512 intrinsics (average_avx512.cpp), for
// CPUs that have them, and the same walk for power means of p = 2 and 4:
// forward_rows.cpp calls them first for float32 and bfloat16 (fixed windows,
// and adaptive averages of contiguous tensors), and the portable loops where
// they are not supported.
#pragma once

#include <cstdint>

#include "../../common/cpu/row_run.h"

namespace pooling_ext {
namespace simd {

// Whether average_rows_avx512 runs on this CPU.
bool average_rows_avx512_supported();

// The run's rows' outputs, whose windows lie inside the row: out = (the
// sum, from 0, over the window's rows and taps tw < kw in that order (the
// body's)) / the row's divisor, in float, rounded to bfloat16 as c10 does for
// bfloat16 outputs. False, having done nothing, on a CPU without AVX-512.
bool average_rows_avx512(const cpu::RowRun<float>& run);
bool average_rows_avx512(const cpu::RowRun<uint16_t>& run);

// "Same" windows over contiguous planes: odd kh x kw, stride 1, padded by
// (k - 1) / 2 (Inception's 3x3 s1 p1), as many outputs as inputs, every
// window's divisor `divisor` (count_include_pad's padded size, or an
// override).
template <typename value_t>
struct SameAveragePlanes {
  const value_t* input;
  value_t* output;
  int64_t planes, height, width, kh, kw;
  float divisor;
};

// Each plane flat, in blocks of 16 consecutive outputs (rows run into each
// other), out = (the sum, from 0, of the window's taps in the body's order,
// those outside the plane masked off: +0, which changes no sum) / divisor,
// rounded as average_rows_avx512 does. False, having done nothing, on a CPU
// without AVX-512.
bool average_same_planes_avx512(const SameAveragePlanes<float>& s);
bool average_same_planes_avx512(const SameAveragePlanes<uint16_t>& s);

// The backward (input: the outputs' gradient; output: the input's): each
// plane's shares g / divisor in float, then for each input the sum, from 0,
// of the shares of the outputs whose window covers it, in output order (the
// window centred on it: the forward's walk), rounded once. False, having
// done nothing, on a CPU without AVX-512.
bool average_same_planes_backward_avx512(const SameAveragePlanes<float>& s);
bool average_same_planes_backward_avx512(const SameAveragePlanes<uint16_t>& s);

// Disjoint windows that tile each row of contiguous planes (kw <= 16 taps
// along W): per plane, output row j's shares, 0 + grad / divisor (torch's
// share: a -0 gradient gives +0; bfloat16 rounded as c10 rounds), spread
// so that element w of its first window row (rows.offset[rows.begin[j]]
// from the plane's start) takes output w / kw's, and that row copied to
// its other window rows.
template <typename value_t>
struct TiledPlanes {
  const value_t* grad;  // planes * out_plane
  value_t* grad_in;     // planes * in_plane
  int64_t planes, out_plane, in_plane, out_rows, outputs, kw;
  const cpu::WindowRowTable* rows;
  float divisor;
};

// False, having done nothing, on a CPU without AVX-512 or for kw > 16.
bool average_tiled_planes_backward_avx512(const TiledPlanes<float>& t);
bool average_tiled_planes_backward_avx512(const TiledPlanes<uint16_t>& t);

// The backward of 1-d rows of windows 3 wide at stride 2, padded by 1
// (audio/text avg_pool1d(3, 2, 1)): input 2m takes output m's share, input
// 2m + 1 outputs m's and m + 1's (those that exist), each share 0 + grad /
// divisor[o] (divisor: a row's outputs'), summed in output order and
// rounded once. `rows` rows of `outputs` gradients into rows of `width`
// inputs, width / 2 rounded up being `outputs`.
template <typename value_t>
struct StrideTwoRows {
  const value_t* grad;
  value_t* grad_in;
  int64_t rows, outputs, width;
  const float* divisor;
};

// False, having done nothing, on a CPU without AVX-512.
bool average_stride_two_rows_backward_avx512(const StrideTwoRows<float>& t);
bool average_stride_two_rows_backward_avx512(const StrideTwoRows<uint16_t>& t);

// How power_rows_avx512 finishes a window: the root of sum / padded *
// numerator (padded: the row's padded window size, from the run's divisor;
// the sum itself where padded == numerator), as
// power_mean_root; where the power sum is not finite, recompute(context, row,
// column) writes output `column` of the run's output row `row` (the body's
// overflow-safe path).
struct PowerRowFinish {
  int power = 0;  // 2 or 4
  float numerator = 0;
  void (*recompute)(const void* context, int64_t row, int64_t column) = nullptr;
  const void* context = nullptr;
};

// The run's rows' power means of p = power.power (2 or 4) of x or |x| (their
// even powers are the same): the sum of x^p over each window in the body's
// order, then its root (run.divisor: each row's padded window size). False,
// having done nothing, on a CPU without AVX-512 or for another p.
bool power_rows_avx512(const cpu::RowRun<float>& run, const PowerRowFinish& power);
bool power_rows_avx512(const cpu::RowRun<uint16_t>& run, const PowerRowFinish& power);

// The averages of `planes` consecutive bfloat16 planes (global average
// pooling): each plane's sum bit for bit as global_window.cpp's
// sum_bfloat16_planes adds it (whole vectors in order, sum_of_lanes' tree,
// the last elements in order), divided by divide_by[0], [1] and [2] in turn
// (pass 1 for a division not made: exact), rounded to bfloat16 in out[p].
// Sixteen planes at a time, their trees taken together (a network head's
// plane is 49 elements: one tree per plane cost more than its loads). False,
// having done nothing, on a CPU without AVX-512, or for planes of under 16
// or over 2^26 elements.
bool average_bfloat16_planes_avx512(const uint16_t* x, int64_t planes, int64_t plane_size, const float* divide_by,
                                    uint16_t* out);

// Adaptive windows, contiguous: the run's rows, all their outputs (the
// run's kw, stride and pad unused; divisor[2j] and divisor[2j + 1]: the depth
// and height of output row j's windows), `blocks` the columns' windows; each
// output's sum in the body's order divided by its window's depth, height and
// width in turn, as torch's kernel divides. False,
// having done nothing, on a CPU without AVX-512 or where `blocks` is empty.
bool average_adaptive_rows_avx512(const cpu::RowRun<float>& run, const cpu::ColumnBlocks& blocks);
bool average_adaptive_rows_avx512(const cpu::RowRun<uint16_t>& run, const cpu::ColumnBlocks& blocks);

}  // namespace simd
}  // namespace pooling_ext
