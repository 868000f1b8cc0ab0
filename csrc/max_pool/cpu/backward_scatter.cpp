// Max pooling's CPU backward as a scatter: each output's gradient added, or
// written, at its argmax (its window's start plus the tap's offset: no
// division per output). Deterministic for any thread count.
//   - Contiguous: each (n, c) plane accumulated by one task, outputs in
//     memory order. float and double accumulate in grad_input itself; half
//     and bfloat16 in a float plane written back at the end.
//   - Where no two windows share an input element (global windows, kernel <=
//     stride), each element gets at most one gradient: the input is zeroed
//     and each gradient written at its argmax in grad_input's own dtype, with
//     no accumulator plane and no read-modify-write; channels-last windows of
//     many taps this way too (max_backward_scatter_channels_last).
//   - Channels-last windows that tile the input (float32 and bfloat16 on
//     AVX-512: VGG's 2x2 on even sizes, divisible adaptive windows, global
//     heads) write each window whole instead, output by output: its
//     gradient at the argmax and +0 elsewhere, each element once (no zeroing
//     pass, no scattered stores).
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <cstring>
#include <type_traits>
#include <vector>

#include "../../common/cpu/loop_support.h"
#include "../../common/dtype_dispatch.h"
#include "float_loops.h"
#include "max_pool_cpu_loops.h"

namespace pooling_ext {
namespace cpu {
namespace {

// The offset in the input plane of tap (td, th, tw) from its window's start.
int64_t tap_offset(const PoolGeometry& g, int64_t td, int64_t th, int64_t tw) {
  return (td * g.dilation[0] * g.in[1] + th * g.dilation[1]) * g.in[2] + tw * g.dilation[2];
}

// Every tap's offset, where the window has no more taps than the plane has
// elements (a larger table would cost more than the work); else empty.
std::vector<int64_t> tap_offset_table(const PoolGeometry& g) {
  if (g.kernel_volume() > g.in_plane()) return {};
  return window_tap_offsets(g);
}

// A tap's offset from its window's start, looked up in the table.
struct TapOffsetFromTable {
  const int64_t* table;
  int64_t operator()(int64_t tap) const { return table[tap]; }
};

// A tap's offset from its window's start, computed (windows of more taps than the plane).
struct TapOffsetComputed {
  const PoolGeometry* g;
  int64_t operator()(int64_t tap) const {
    return tap_offset(*g, tap / (g->kernel[1] * g->kernel[2]), (tap / g->kernel[2]) % g->kernel[1], tap % g->kernel[2]);
  }
};

// One row of outputs: each gradient added at its argmax, in output order
// (kAdd), or written there through +0 where windows never overlap (each
// element gets at most one, and the plane was zeroed: -0 lands as torch's
// zeroed-then-added +0, exactly, in any dtype).
// (A function of its own, with everything it reads in its arguments: inlined
// into the parallel region, the loop reloaded its state from memory at every
// output and ran slower on two threads than on one.)
template <bool kAdd, typename scalar_t, typename offset_t, typename acc_t, class TapOffset>
__attribute__((noinline)) void scatter_output_row(const scalar_t* __restrict__ grad, const offset_t* __restrict__ off,
                                                  const int64_t* __restrict__ start_w, int64_t count,
                                                  int64_t kernel_volume, TapOffset offset_of_tap,
                                                  acc_t* __restrict__ acc, int64_t row_start) {
  using math_t = at::opmath_type<scalar_t>;
  for (int64_t ow = 0; ow < count; ++ow) {
    const int64_t tap = static_cast<int64_t>(off[ow]);
    if (tap >= kernel_volume) continue;  // empty window: no gradient
    acc_t& element = acc[row_start + start_w[ow] + offset_of_tap(tap)];
    if constexpr (kAdd) {
      element += static_cast<acc_t>(grad[ow]);
    } else {
      element = static_cast<acc_t>(static_cast<math_t>(grad[ow]) + math_t(0));
    }
  }
}

template <bool kAdd, typename scalar_t, typename offset_t, typename acc_t, class TapOffset>
void scatter_plane(const MaxPoolBackwardBody<scalar_t, offset_t>& body, TapOffset offset_of_tap,
                   const std::vector<int64_t>* window_start, int64_t plane, acc_t* acc) {
  const PoolGeometry& g = body.g;
  const scalar_t* grad = body.grad_output + plane * g.out_plane();
  const offset_t* off = body.window_offset + plane * g.out_plane();
  std::fill(acc, acc + g.in_plane(), acc_t(0));
  for (int64_t od = 0; od < g.out[0]; ++od) {
    for (int64_t oh = 0; oh < g.out[1]; ++oh, grad += g.out[2], off += g.out[2]) {
      // The row's first window start; negative where the window starts in
      // the padding, so it stays an index (acc + row_start may point outside acc).
      const int64_t row_start = (window_start[0][od] * g.in[1] + window_start[1][oh]) * g.in[2];
      scatter_output_row<kAdd>(grad, off, window_start[2].data(), g.out[2], g.kernel_volume(), offset_of_tap, acc,
                               row_start);
    }
  }
}

// scatter_plane with the taps' offsets from the table, where there is one.
template <bool kAdd, typename scalar_t, typename offset_t, typename acc_t>
void scatter_plane_by_taps(const MaxPoolBackwardBody<scalar_t, offset_t>& body, const std::vector<int64_t>& table,
                           const std::vector<int64_t>* window_start, int64_t plane, acc_t* acc) {
  if (!table.empty()) return scatter_plane<kAdd>(body, TapOffsetFromTable{table.data()}, window_start, plane, acc);
  scatter_plane<kAdd>(body, TapOffsetComputed{&body.g}, window_start, plane, acc);
}

}  // namespace

template <typename scalar_t, typename offset_t>
void max_backward_scatter_planes(const MaxPoolBackwardBody<scalar_t, offset_t>& body) {
  using acc_t = at::opmath_type<scalar_t>;
  const PoolGeometry& g = body.g;
  const std::vector<int64_t> table = tap_offset_table(g);
  std::vector<int64_t> window_start[kMaxSpatialDims];  // per output position, so the loop does no division
  for (int d = 0; d < kMaxSpatialDims; ++d) {
    window_start[d] = per_position_table(g.out[d], [&](int64_t o) { return dim_window_start(g, d, o); });
  }
  if (windows_never_overlap(g)) {  // grad_input's own dtype: no accumulator plane
    at::parallel_for(0, g.batch * g.channels, grain_for(g.in_plane()), [&](int64_t begin, int64_t end) {
      for (int64_t plane = begin; plane < end; ++plane) {
        scatter_plane_by_taps<false>(body, table, window_start, plane, body.grad_input + plane * g.in_plane());
      }
    });
    return;
  }
  constexpr bool kInPlace = std::is_same_v<acc_t, scalar_t>;
  at::parallel_for(0, g.batch * g.channels, grain_for(g.in_plane()), [&](int64_t begin, int64_t end) {
    std::vector<acc_t> buffer(kInPlace ? 0 : g.in_plane());
    for (int64_t plane = begin; plane < end; ++plane) {
      scalar_t* grad_in = body.grad_input + plane * g.in_plane();
      acc_t* acc = kInPlace ? reinterpret_cast<acc_t*>(grad_in) : buffer.data();
      scatter_plane_by_taps<true>(body, table, window_start, plane, acc);
      if constexpr (std::is_same_v<scalar_t, at::BFloat16>) {
        simd::round_to_bf16(acc, reinterpret_cast<uint16_t*>(grad_in), g.in_plane());
      } else if constexpr (!kInPlace) {
        for (int64_t i = 0; i < g.in_plane(); ++i) grad_in[i] = static_cast<scalar_t>(acc[i]);
      }
    }
  });
}

namespace {

// One channels-last output position's C gradients, each written through +0
// at its argmax: element (window_start + the tap's offset) * C + c of
// grad_in, window_start the window's first position (negative where it
// starts in the padding, so it stays an index).
// (A function of its own, for the restrict-qualified pointers; as
// scatter_output_row.)
template <typename scalar_t, typename offset_t, class TapOffset>
__attribute__((noinline)) void scatter_position(const scalar_t* __restrict__ grad, const offset_t* __restrict__ off,
                                                int64_t C, int64_t kernel_volume, TapOffset offset_of_tap,
                                                scalar_t* __restrict__ grad_in, int64_t window_start) {
  using math_t = at::opmath_type<scalar_t>;
  for (int64_t c = 0; c < C; ++c) {
    const int64_t tap = static_cast<int64_t>(off[c]);
    if (tap >= kernel_volume) continue;  // empty window: no gradient
    grad_in[(window_start + offset_of_tap(tap)) * C + c] =
        static_cast<scalar_t>(static_cast<math_t>(grad[c]) + math_t(0));
  }
}

template <typename scalar_t, typename offset_t, class TapOffset>
void scatter_channels_last(const MaxPoolBackwardBody<scalar_t, offset_t>& body, TapOffset offset_of_tap,
                           const std::vector<int64_t>* window_start) {
  const PoolGeometry& g = body.g;
  const int64_t C = g.channels;
  // +0 is all zero bytes in every float type.
  at::parallel_for(0, g.batch * g.in_plane(), grain_for(C), [&](int64_t begin, int64_t end) {
    std::memset(static_cast<void*>(body.grad_input + begin * C), 0, sizeof(scalar_t) * (end - begin) * C);
  });
  // Windows never overlap: the outputs write distinct elements, in any order.
  at::parallel_for(0, g.batch * g.out_plane(), grain_for(C), [&](int64_t begin, int64_t end) {
    PositionCursor cursor(g.out, begin);
    for (int64_t pos = begin; pos < end; ++pos, cursor.next()) {
      const int64_t start =
          (window_start[0][cursor.d] * g.in[1] + window_start[1][cursor.h]) * g.in[2] + window_start[2][cursor.w];
      scatter_position(body.grad_output + pos * C, body.window_offset + pos * C, C, g.kernel_volume(), offset_of_tap,
                       body.grad_input + cursor.n * g.in_plane() * C, start);
    }
  });
}

}  // namespace

template <typename scalar_t, typename offset_t>
void max_backward_scatter_channels_last(const MaxPoolBackwardBody<scalar_t, offset_t>& body) {
  const PoolGeometry& g = body.g;
  const std::vector<int64_t> table = tap_offset_table(g);
  std::vector<int64_t> window_start[kMaxSpatialDims];
  for (int d = 0; d < kMaxSpatialDims; ++d) {
    window_start[d] = per_position_table(g.out[d], [&](int64_t o) { return dim_window_start(g, d, o); });
  }
  if (!table.empty()) return scatter_channels_last(body, TapOffsetFromTable{table.data()}, window_start);
  scatter_channels_last(body, TapOffsetComputed{&g}, window_start);
}

template <typename scalar_t, typename offset_t>
bool max_backward_tiling_channels_last(const MaxPoolBackwardBody<scalar_t, offset_t>& body) {
  constexpr bool kFloat = std::is_same_v<scalar_t, float>, kBFloat16 = std::is_same_v<scalar_t, at::BFloat16>;
  if constexpr (kFloat || kBFloat16) {
    const PoolGeometry& g = body.g;
    if (!windows_tile_input(g) || !simd::max_row_values_avx512_supported()) return false;
    using bits_t = std::conditional_t<kFloat, float, uint16_t>;
    const int64_t C = g.channels;
    const std::vector<int64_t> tap_element = window_tap_offsets(g, C);
    // A task per output row (n, od, oh): its windows start kernel[2] * C apart.
    const int64_t out_rows = g.batch * g.out[0] * g.out[1];
    at::parallel_for(0, out_rows, grain_for(g.out[2], g.kernel_volume(), C), [&](int64_t begin, int64_t end) {
      for (int64_t row = begin; row < end; ++row) {
        const int64_t oh = row % g.out[1], od = (row / g.out[1]) % g.out[0], n = row / (g.out[1] * g.out[0]);
        const int64_t first = ((n * g.in[0] + od * g.kernel[0]) * g.in[1] + oh * g.kernel[1]) * g.in[2] * C;
        simd::max_tiling_window_run_avx512(simd::TilingWindowRun<bits_t, offset_t>{
            reinterpret_cast<const bits_t*>(body.grad_output) + row * g.out[2] * C,
            body.window_offset + row * g.out[2] * C, tap_element.data(), g.kernel_volume(), g.out[2], g.kernel[2] * C,
            C, reinterpret_cast<bits_t*>(body.grad_input) + first});
      }
    });
    return true;
  }
  return false;
}

#define POOLING_EXT_INSTANTIATE(scalar_t, offset_t) \
  template void max_backward_scatter_planes(const MaxPoolBackwardBody<scalar_t, offset_t>&);
#define POOLING_EXT_INSTANTIATE_OFFSETS(scalar_t) POOLING_EXT_FOR_EACH_OFFSET_TYPE(POOLING_EXT_INSTANTIATE, scalar_t)
POOLING_EXT_FOR_EACH_FLOAT_TYPE(POOLING_EXT_INSTANTIATE_OFFSETS)
#undef POOLING_EXT_INSTANTIATE
#define POOLING_EXT_INSTANTIATE(scalar_t, offset_t)                                                 \
  template void max_backward_scatter_channels_last(const MaxPoolBackwardBody<scalar_t, offset_t>&); \
  template bool max_backward_tiling_channels_last(const MaxPoolBackwardBody<scalar_t, offset_t>&);
POOLING_EXT_FOR_EACH_FLOAT_TYPE(POOLING_EXT_INSTANTIATE_OFFSETS)

}  // namespace cpu
}  // namespace pooling_ext
