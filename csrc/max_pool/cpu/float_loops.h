// The innermost float32 and bfloat16 loops of max pooling's CPU kernels,
// compiled for AVX-512 (x86-64-v4), AVX2 (x86-64-v3) and baseline x86-64, one
// picked at load time by the CPU it runs on (GCC target_clones, see
// common/cpu/isa_clones.h). The binary stays portable: no -march flag anywhere.
#pragma once

#include <cstdint>

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

// Channels-last backward of one input position: out[c] = the sum over the
// `count` covering outputs k of grad_rows[k][c] where offset_rows[k][c] ==
// taps[k] (zero when count == 0).
void sum_where_taps(const float* const* grad_rows, const uint8_t* const* offset_rows, const int32_t* taps,
                    int64_t count, float* out, int64_t C);
void sum_where_taps(const float* const* grad_rows, const int32_t* const* offset_rows, const int32_t* taps,
                    int64_t count, float* out, int64_t C);

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

}  // namespace simd
}  // namespace pooling_ext
