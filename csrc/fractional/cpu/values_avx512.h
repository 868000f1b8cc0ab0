// Fractional max pooling's forward in AVX-512 intrinsics (values_avx512.cpp),
// for CPUs that have it: values only (inference) or keeping each output's
// tap (training), contiguous or channels-last. forward_contiguous.cpp and
// forward_channels_last.cpp call it first for float32 and bfloat16.
#pragma once

#include <cstdint>

#include "../../common/cpu/row_run.h"

namespace pooling_ext {
namespace simd {

// Whether fractional_plane_values_avx512 runs on this CPU.
bool fractional_values_avx512_supported();

// One plane's output rows: output row r's windows have their corners at
// plane + row_offset[r] + their start along W (`blocks`: the columns' blocks
// of windows kw wide) and kernel kd x kh x kw (taps in the
// body's order: d, h, w; a NaN replaces, ties keep the first), window rows
// depth_step and row_step elements apart. out: the plane's outputs, rows of
// `outputs`. False, having done nothing, on a CPU without AVX-512.
bool fractional_plane_values_avx512(const float* plane, const int64_t* row_offset, int64_t rows,
                                    const cpu::ColumnBlocks& blocks, int64_t outputs, const int64_t* kernel,
                                    int64_t depth_step, int64_t row_step, float* out);
bool fractional_plane_values_avx512(const uint16_t* plane, const int64_t* row_offset, int64_t rows,
                                    const cpu::ColumnBlocks& blocks, int64_t outputs, const int64_t* kernel,
                                    int64_t depth_step, int64_t row_step, uint16_t* out);

// The same keeping each output's window offset (its tap in the body's
// numbering) in `taps`, laid out as `out`.
template <typename value_t, typename offset_t>
bool fractional_plane_with_taps_avx512(const value_t* plane, const int64_t* row_offset, int64_t rows,
                                       const cpu::ColumnBlocks& blocks, int64_t outputs, const int64_t* kernel,
                                       int64_t depth_step, int64_t row_step, value_t* out, offset_t* taps);

// Channels-last: one output position's C channels, channel c's window at
// (d[c], h[c], w[c]) of `sample` (height x width positions of C channels,
// fewer than 2^30 elements), kernel kd x kh x kw, taps in the body's order.
// element_before: whether the element before `sample` may be read (the
// bfloat16 path reads 32-bit words that end at the element it needs).
// False, having done nothing, on a CPU without AVX-512.
bool fractional_channels_values_avx512(const float* sample, const int64_t* d, const int64_t* h, const int64_t* w,
                                       int64_t height, int64_t width, int64_t C, const int64_t* kernel,
                                       bool element_before, float* out);
bool fractional_channels_values_avx512(const uint16_t* sample, const int64_t* d, const int64_t* h, const int64_t* w,
                                       int64_t height, int64_t width, int64_t C, const int64_t* kernel,
                                       bool element_before, uint16_t* out);

// The same keeping each channel's window offset in `taps`, laid out as `out`.
template <typename value_t, typename offset_t>
bool fractional_channels_with_taps_avx512(const value_t* sample, const int64_t* d, const int64_t* h, const int64_t* w,
                                          int64_t height, int64_t width, int64_t C, const int64_t* kernel,
                                          bool element_before, value_t* out, offset_t* taps);

}  // namespace simd
}  // namespace pooling_ext
