// The CPU loops of the window-sum family (average, LP, GeM), one file per
// layout or strategy; window_sum_cpu.cpp picks among them. Each takes the
// per-element body of the op (window_sum_bodies.h): the problem's pointers,
// geometry and reduction, and the code that the windows a loop leaves out
// run (borders, power sums that overflow), so every result follows the
// bodies' rules. The loops are written so the compiler vectorises them
// (float32 inner loops compiled per ISA, common/cpu/isa_clones.h), and every
// order of accumulation is fixed: results do not depend on the thread count.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <type_traits>

#include "../window_sum_bodies.h"

namespace pooling_ext {
namespace cpu {

// ---------------------------------------------------------------- forward

// Contiguous, fixed windows: each output row tap by tap across the row (forward_rows.cpp).
template <typename scalar_t>
void sum_forward_rows(const WindowSumForwardBody<scalar_t, int64_t>& body);

// Contiguous, window = whole plane: one reduction per plane in vector lanes (global_window.cpp).
template <typename scalar_t>
void sum_forward_global(const WindowSumForwardBody<scalar_t, int64_t>& body);

// Channels-last: per output position, rows of C channels (forward_channels_last.cpp).
template <typename scalar_t>
void sum_forward_channels_last(const WindowSumForwardBody<scalar_t, int64_t>& body);

// Contiguous average, adaptive windows, float32 or bfloat16 on an AVX-512 CPU:
// whole rows, columns in blocks (forward_rows.cpp); false (nothing done) elsewhere.
template <typename scalar_t>
bool average_forward_adaptive_rows_avx512(const WindowSumForwardBody<scalar_t, int64_t>& body);

// Contiguous average, adaptive windows: per plane, windows from tables (adaptive_planes.cpp).
template <typename scalar_t>
void average_forward_adaptive_planes(const WindowSumForwardBody<scalar_t, int64_t>& body);

// ---------------------------------------------------------------- backward

// Contiguous, fixed windows: per plane, outputs in order scatter their shares (backward_planes.cpp).
template <typename scalar_t>
void sum_backward_planes(const WindowSumBackwardBody<scalar_t, int64_t>& body);

// Contiguous, window = whole plane: each plane's share spread over it (global_window.cpp).
template <typename scalar_t>
void sum_backward_global(const WindowSumBackwardBody<scalar_t, int64_t>& body);

// Average, windows that do not overlap: each input takes one output's share (backward_disjoint.cpp).
template <typename scalar_t>
void average_backward_disjoint_planes(const WindowSumBackwardBody<scalar_t, int64_t>& body);
template <typename scalar_t>
void average_backward_disjoint_channels_last(const WindowSumBackwardBody<scalar_t, int64_t>& body);

// Channels-last, overlapping windows: each input gathers from its covering
// outputs (backward_gather_channels_last.cpp).
template <typename scalar_t>
void average_backward_gather_channels_last(const WindowSumBackwardBody<scalar_t, int64_t>& body);
template <typename scalar_t>
void power_backward_gather_channels_last(const WindowSumBackwardBody<scalar_t, int64_t>& body);

// Contiguous average, adaptive windows: per plane, outputs in order (adaptive_planes.cpp).
template <typename scalar_t>
void average_backward_adaptive_planes(const WindowSumBackwardBody<scalar_t, int64_t>& body);

// ---------------------------------------------------------------- GeM's gradient with respect to p

// One partial per output (exponent_grad.cpp), and their sum in a fixed order.
template <typename scalar_t>
void gem_exponent_grad_partials(const PowerMeanExponentGradBody<scalar_t, int64_t>& body);
at::Tensor fixed_order_sum(at::Tensor values);

// ---------------------------------------------------------------- shared

// Calls f(std::integral_constant<int, kStride>) with the row loops' stride
// along W: 1 or 2 at compile time (most networks) for float32 and bfloat16,
// else 0 (any).
template <typename scalar_t, class F>
void with_row_stride(const PoolGeometry& g, const F& f) {
  if constexpr (std::is_same_v<scalar_t, float> || std::is_same_v<scalar_t, at::BFloat16>) {
    if (g.stride[2] == 1) return f(std::integral_constant<int, 1>{});
    if (g.stride[2] == 2) return f(std::integral_constant<int, 2>{});
  }
  f(std::integral_constant<int, 0>{});
}

// Windows that never overlap: stride >= kernel in every dim (fixed windows).
inline bool windows_are_disjoint(const PoolGeometry& g) {
  return !g.adaptive && g.stride[0] >= g.kernel[0] && g.stride[1] >= g.kernel[1] && g.stride[2] >= g.kernel[2];
}

}  // namespace cpu
}  // namespace pooling_ext
