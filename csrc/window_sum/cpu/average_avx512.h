// Average pooling's row loop in AVX-512 intrinsics (average_avx512.cpp), for
// CPUs that have it: forward_rows.cpp calls it first for float32 and
// bfloat16, and its portable loops where it is not supported.
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

}  // namespace simd
}  // namespace pooling_ext
