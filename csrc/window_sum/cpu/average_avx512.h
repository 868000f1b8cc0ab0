// Average pooling's row loops in AVX-512 intrinsics (average_avx512.cpp), for
// CPUs that have them: forward_rows.cpp calls them first for float32 and
// bfloat16 (fixed windows, and adaptive ones of contiguous tensors), and the
// portable loops where they are not supported.
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
