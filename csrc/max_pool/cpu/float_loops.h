// The innermost float32 and bfloat16 loops of max pooling's CPU kernels,
// compiled for AVX-512 (x86-64-v4), AVX2 (x86-64-v3) and baseline x86-64, one
// picked at load time by the CPU it runs on (GCC target_clones, see
// common/cpu/isa_clones.h). The binary stays portable: no -march flag anywhere.
#pragma once

#include <cstdint>

#include "../../common/cpu/row_run.h"

namespace pooling_ext {
namespace simd {

// For i < n: if x[i] replaces best[i] (greater, or NaN), take it and tap.
void select_max(const float* x, float* best, int32_t* best_tap, int32_t tap, int64_t n);

// The same with x read at a stride of 2 (x[2 * i]): stride-2 pooling rows.
void select_max_stride2(const float* x, float* best, int32_t* best_tap, int32_t tap, int64_t n);

// Channels-last forward of one output position: the maximum over `count`
// (>= 1) window taps, each a row of C channels, in tap order (the first tap
// taken as is, then select_max's rule); writes best[C] and best_tap[C].
void max_over_taps(const float* const* rows, const int32_t* taps, int64_t count, float* best, int32_t* best_tap,
                   int64_t C);

// Values-only forward (inference), the same rule in the same tap order, no
// taps tracked. One output row of n windows that lie inside the input: the
// maximum over rows[0..row_count) (the window's rows, each pointing at the
// first window's first tap) and taps tw < kw at x[i * stride + tw * dilation].
void max_row_values(const float* const* rows, int64_t row_count, int64_t kw, int64_t dilation, int64_t stride,
                    float* out, int64_t n);
void max_row_values_bf16(const uint16_t* const* rows, int64_t row_count, int64_t kw, int64_t dilation, int64_t stride,
                         uint16_t* out, int64_t n);
// Channels-last: one output position's C channels over `count` (>= 1) taps.
void max_over_taps_values(const float* const* rows, int64_t count, float* out, int64_t C);
void max_over_taps_values_bf16(const uint16_t* const* rows, int64_t count, uint16_t* out, int64_t C);
// In AVX-512 (loops_avx512.cpp), the run's output rows, all their outputs
// (borders included; first_output 0): taps outside [0, width) along a row
// (the padding) are skipped, a window without taps gives -inf. False, having
// done nothing, on a CPU without AVX-512.
bool max_rows_values_avx512(const cpu::RowRun<float>& run);
bool max_rows_values_avx512(const cpu::RowRun<uint16_t>& run);
// The same rows keeping taps (a forward that saves window offsets): each
// output's window offset into window_offset (the output's layout), row_tap[e]
// being the tap of window-table entry e's first element; `empty` where a
// window has no tap inside.
bool max_rows_with_taps_avx512(const cpu::RowRun<float>& run, uint8_t* window_offset, const int32_t* row_tap,
                               int32_t empty);
bool max_rows_with_taps_avx512(const cpu::RowRun<float>& run, int32_t* window_offset, const int32_t* row_tap,
                               int32_t empty);
bool max_rows_with_taps_avx512(const cpu::RowRun<uint16_t>& run, uint8_t* window_offset, const int32_t* row_tap,
                               int32_t empty);
bool max_rows_with_taps_avx512(const cpu::RowRun<uint16_t>& run, int32_t* window_offset, const int32_t* row_tap,
                               int32_t empty);
// Contiguous planes pooled by windows of kh x kw taps (odd sizes) at stride
// 1, padded to the input's size ("same" pooling: YOLO's SPP, Inception's
// 3x3 s1): height * width outputs per plane, as many as inputs.
template <typename value_t>
struct SamePlanes {
  const value_t* input;
  value_t* output;
  int64_t planes, height, width, kh, kw;
};

// In AVX-512, separably: the maxima of each row's windows along the row,
// then of those down each column, in blocks of 16 consecutive elements of
// the plane (rows run into each other; lane masks keep each window to its
// own row and column). Taking a row's result, then each next row's by the
// rule, gives the body's result over the window's taps in order (ties keep
// the first; the last NaN wins), so values and taps are the body's. Values
// only, or each output's tap into window_offset (the output's layout). False,
// having done nothing, on a CPU without AVX-512.
bool max_same_planes_avx512(const SamePlanes<float>& s);
bool max_same_planes_avx512(const SamePlanes<uint16_t>& s);
bool max_same_planes_with_taps_avx512(const SamePlanes<float>& s, uint8_t* window_offset);
bool max_same_planes_with_taps_avx512(const SamePlanes<float>& s, int32_t* window_offset);
bool max_same_planes_with_taps_avx512(const SamePlanes<uint16_t>& s, uint8_t* window_offset);
bool max_same_planes_with_taps_avx512(const SamePlanes<uint16_t>& s, int32_t* window_offset);
// The same windows over one channels-last sample, values only: output rows
// [first_h, end_h), `input` and `output` at the sample's start.
template <typename value_t>
struct SameChannelsLast {
  const value_t* input;
  value_t* output;
  int64_t height, width, channels, kh, kw;
  int64_t first_h, end_h;
  int64_t slot_channels;  // channels rounded up to 64: a scratch position's floats
};

// In AVX-512, separably as max_same_planes_avx512 (each row's maxima, then
// those down each column: torch's bits), the maxima along the input rows an
// output row spans in `scratch` (min(kh, height) * width * slot_channels
// floats).
// False, having done nothing, on a CPU without AVX-512.
bool max_same_channels_last_values_avx512(const SameChannelsLast<float>& s, float* scratch);
bool max_same_channels_last_values_avx512(const SameChannelsLast<uint16_t>& s, float* scratch);
// Whether max_rows_values_avx512 and max_rows_with_taps_avx512 run on this CPU.
bool max_row_values_avx512_supported();
// In AVX-512, one plane's maximum (of n >= 1 elements) by its order key;
// false, having done nothing, where that cannot give the body's bits (a NaN:
// which one; a zero maximum: which sign) or on a CPU without AVX-512.
bool max_of_plane_values_avx512(const float* x, int64_t n, float* out);
bool max_of_plane_values_avx512(const uint16_t* x, int64_t n, uint16_t* out);
bool max_of_plane_values_avx512_supported();
// max_of_planes in AVX-512 (a plane's lanes in a register, then merged in
// plane order; the value read back at its index), for float32 and bfloat16
// bits; false, having done nothing, on a CPU without AVX-512.
bool max_of_planes_avx512(const float* x, int64_t planes, int64_t plane_size, float* out, int32_t* out_tap);
bool max_of_planes_avx512(const uint16_t* x, int64_t planes, int64_t plane_size, uint16_t* out, int32_t* out_tap);
// Channels-last output positions whose windows have the same taps inside the
// input, at a fixed distance: position p's tap t is the row of C channels at
// first_window + p * window_step + tap_offset[t], its number (the body's) tap[t].
// A window's interior run along W is one call; a border window a run of one.
template <typename value_t>
struct WindowRun {
  const value_t* first_window;
  int64_t window_step;
  const int64_t* tap_offset;
  const int32_t* tap;
  int64_t count;  // taps, >= 1
  int64_t positions;
  value_t* out;  // positions * C
  int64_t C;
};

// Channels-last in AVX-512, values only: the maxima over each position's
// taps in tap order (select_max's rule). False, having done nothing, on a CPU
// without AVX-512.
bool max_window_run_values_avx512(const WindowRun<float>& run);
bool max_window_run_values_avx512(const WindowRun<uint16_t>& run);

// The same keeping taps (a forward that saves window offsets): the first tap
// taken as is, then select_max's rule, each channel's tap into window_offset
// (positions * C, as out).
bool max_window_run_with_taps_avx512(const WindowRun<float>& run, uint8_t* window_offset);
bool max_window_run_with_taps_avx512(const WindowRun<float>& run, int32_t* window_offset);
bool max_window_run_with_taps_avx512(const WindowRun<uint16_t>& run, uint8_t* window_offset);
bool max_window_run_with_taps_avx512(const WindowRun<uint16_t>& run, int32_t* window_offset);

// Channels-last backward of one input position: out[c] = the sum over the
// `count` covering outputs k of grad_rows[k][c] where offset_rows[k][c] ==
// taps[k] (zero when count == 0).
void sum_where_taps(const float* const* grad_rows, const uint8_t* const* offset_rows, const int32_t* taps,
                    int64_t count, float* out, int64_t C);
void sum_where_taps(const float* const* grad_rows, const int32_t* const* offset_rows, const int32_t* taps,
                    int64_t count, float* out, int64_t C);

// The channels-last backward of one input row (n, d, h) at a time: per
// position w < width, the outputs covering it are those of output rows r <
// row_count (row_offset[r]: the element offset of the row's first output in
// grad_output and window_offset; the body's order) at columns out_w[e], e in
// [w_begin[w], w_begin[w + 1]) (ascending), each landing on it with tap
// row_tap[r] + w_tap[e]. One call per input row, the outputs' order per
// position being output order.
template <typename value_t, typename offset_t>
struct GradientRow {
  const value_t* grad_output;
  const offset_t* window_offset;
  const int64_t* row_offset;
  const int32_t* row_tap;
  int64_t row_count;
  const int64_t* w_begin;
  const int64_t* out_w;
  const int64_t* w_tap;
  int64_t width, C;
  value_t* grad_input;  // the row's first position
};

// In AVX-512 registers: each position's sum, from +0 (as torch's zeroed
// gradient), of the covering outputs' gradients whose window offset is the
// tap landing on it, in output order; written as grad_input's dtype
// (bfloat16 rounded once, as round_to_bf16 does). False, having done
// nothing, on a CPU without AVX-512.
bool max_gradient_row_avx512(const GradientRow<float, uint8_t>& row);
bool max_gradient_row_avx512(const GradientRow<float, int32_t>& row);
bool max_gradient_row_avx512(const GradientRow<uint16_t, uint8_t>& row);
bool max_gradient_row_avx512(const GradientRow<uint16_t, int32_t>& row);

// A run of channels-last windows that tile the input (each input element in
// exactly one window): window i's C gradients and window offsets at i * C
// from grad_output and window_offset, its first element at i * window_step
// from grad_input, its tap t's first element tap_element[t] on from there.
template <typename value_t, typename offset_t>
struct TilingWindowRun {
  const value_t* grad_output;
  const offset_t* window_offset;
  const int64_t* tap_element;
  int64_t taps, windows, window_step, C;
  value_t* grad_input;
};

// In AVX-512 registers: each element of each window written once, its
// output's gradient where the window offset is the tap on it, else +0
// (bfloat16 as bf16(float(g) + 0): -0 gives +0, a NaN 0x7fc0). False, having
// done nothing, on a CPU without AVX-512.
bool max_tiling_window_run_avx512(const TilingWindowRun<float, uint8_t>& run);
bool max_tiling_window_run_avx512(const TilingWindowRun<float, int32_t>& run);
bool max_tiling_window_run_avx512(const TilingWindowRun<uint16_t, uint8_t>& run);
bool max_tiling_window_run_avx512(const TilingWindowRun<uint16_t, int32_t>& run);

// The contiguous backward of a run of input rows [first_row, end_row) (rows
// of all planes back to back) of fixed windows at stride 1 or 2 along W.
// Input row j of a plane (j = d * in[1] + h) is covered by output rows
// out_row[e] of its plane (od * out[1] + oh), e in [row_begin[j],
// row_begin[j + 1]) in output order, their taps landing on it starting at
// row_tap[e]; along W, per phase q < stride (the row's elements
// stride * i + q), the taps landing there in output order (tw descending):
// entries k in [phase_begin[q], phase_begin[q + 1]), tap phase_tap[k] from
// output i + phase_shift[k]; phase q has phase_elements[q] elements in a
// row, and entry k's steps t (16 elements of the phase from 16 t) in
// [full_first[k], full_end[k]) have all lanes' outputs and elements inside
// the row. Each element is written once: the sum from +0 of the gradients
// whose window offset is the tap landing on it, in output order.
template <typename value_t, typename offset_t>
struct PlaneGradientRows {
  const value_t* grad_output;
  const offset_t* window_offset;
  const int64_t* row_begin;
  const int64_t* out_row;
  const int32_t* row_tap;
  const int64_t* phase_begin;
  const int64_t* phase_elements;
  const int32_t* phase_tap;
  const int64_t* phase_shift;
  const int64_t* full_first;
  const int64_t* full_end;
  int64_t stride, width, out_width, rows_per_plane, out_rows_per_plane;
  int64_t first_row, end_row;
  value_t* grad_input;
};

// In AVX-512 registers, 16 elements of each phase per step (bfloat16 sums
// rounded once). False, having done nothing, on a CPU without AVX-512.
bool max_gradient_plane_rows_avx512(const PlaneGradientRows<float, uint8_t>& rows);
bool max_gradient_plane_rows_avx512(const PlaneGradientRows<float, int32_t>& rows);
bool max_gradient_plane_rows_avx512(const PlaneGradientRows<uint16_t, uint8_t>& rows);
bool max_gradient_plane_rows_avx512(const PlaneGradientRows<uint16_t, int32_t>& rows);

// bfloat16 (as raw uint16 bits) versions: maxima kept in float (exact: a
// bfloat16 value round-trips), sums returned in float for the caller to round.
void max_over_taps_bf16(const uint16_t* const* rows, const int32_t* taps, int64_t count, uint16_t* out,
                        int32_t* best_tap, float* scratch, int64_t C);
void sum_where_taps_bf16(const uint16_t* const* grad_rows, const uint8_t* const* offset_rows, const int32_t* taps,
                         int64_t count, float* out, int64_t C);
void sum_where_taps_bf16(const uint16_t* const* grad_rows, const int32_t* const* offset_rows, const int32_t* taps,
                         int64_t count, float* out, int64_t C);

// float -> bfloat16 bits, rounded to nearest even, NaN to 0x7fc0: c10's
// conversion, vectorised (c10's is a call per element from these loops).
void round_to_bf16(const float* values, uint16_t* out, int64_t n);

// Global max pooling of `planes` consecutive float planes of plane_size (<
// 2^31) elements: each plane's maximum and its index in the plane under
// select_max's rule in index order (the last NaN, else the first maximum),
// in vector lanes.
void max_of_planes(const float* x, int64_t planes, int64_t plane_size, float* out, int32_t* out_tap);
// The same maxima without their indices (one pass, unless a plane holds a
// NaN or its maximum is a zero, whose bits the indexed pass gives).
void max_of_planes_values(const float* x, int64_t planes, int64_t plane_size, float* out);

}  // namespace simd
}  // namespace pooling_ext
