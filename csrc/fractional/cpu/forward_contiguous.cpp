// Fractional max pooling's CPU forward on contiguous tensors: one (n, c)
// plane per task, each output row's windows from the plane's starts; float32
// and bfloat16 in AVX-512 where the CPU has it (values only, or keeping the
// window offsets: 16 outputs per register instead of one window at a time).
#include <ATen/Parallel.h>

#include <type_traits>
#include <utility>
#include <vector>

#include "../../common/cpu/loop_support.h"
#include "../../common/dtype_dispatch.h"
#include "fractional_cpu_loops.h"
#include "values_avx512.h"

namespace pooling_ext {
namespace cpu {
namespace {

// One output row of 1 x k x k windows (float or bfloat16 bits), whose corners
// are `corner_row` + w_starts[ow].
template <int kH, int kW, typename value_t, typename offset_t>
POOLING_EXT_ISA_CLONES void row_max_branch_free(const value_t* __restrict__ corner_row,
                                                const int64_t* __restrict__ w_starts, int64_t row_stride, int64_t count,
                                                value_t* __restrict__ out, offset_t* __restrict__ out_tap) {
  for (int64_t ow = 0; ow < count; ++ow) {
    window_max_branch_free<kH, kW>(corner_row + w_starts[ow], row_stride, 1, out[ow], out_tap[ow]);
  }
}

// A plane of float32 or bfloat16 in AVX-512 (values_avx512.cpp), its window
// offsets into `taps` unless null (values only); false (nothing done) for
// other dtypes, windows wider than 32 or a CPU without AVX-512.
template <typename scalar_t, typename offset_t>
bool plane_avx512(const FractionalMaxForwardBody<scalar_t, offset_t>& body, const FractionalStarts<int64_t>& s,
                  const scalar_t* in, scalar_t* out, offset_t* taps) {
  constexpr bool kFloat = std::is_same_v<scalar_t, float>, kBFloat16 = std::is_same_v<scalar_t, at::BFloat16>;
  if constexpr (kFloat || kBFloat16) {
    using bits_t = std::conditional_t<kFloat, float, uint16_t>;
    const PoolGeometry& g = body.max.g;
    const int64_t* w_starts = s.dim[2];
    const ColumnBlocks blocks(
        g.out[2], [&](int64_t ow) { return std::pair<int64_t, int64_t>{w_starts[ow], w_starts[ow] + g.kernel[2]}; });
    std::vector<int64_t> row_offset;
    row_offset.reserve(g.out[0] * g.out[1]);
    for (int64_t od = 0; od < g.out[0]; ++od) {
      for (int64_t oh = 0; oh < g.out[1]; ++oh) row_offset.push_back((s.dim[0][od] * g.in[1] + s.dim[1][oh]) * g.in[2]);
    }
    const auto* bits_in = reinterpret_cast<const bits_t*>(in);
    auto* bits_out = reinterpret_cast<bits_t*>(out);
    const int64_t rows = static_cast<int64_t>(row_offset.size());
    if (taps == nullptr) {
      return simd::fractional_plane_values_avx512(bits_in, row_offset.data(), rows, blocks, g.out[2], g.kernel,
                                                  g.in[1] * g.in[2], g.in[2], bits_out);
    }
    return simd::fractional_plane_with_taps_avx512(bits_in, row_offset.data(), rows, blocks, g.out[2], g.kernel,
                                                   g.in[1] * g.in[2], g.in[2], bits_out, taps);
  }
  return false;
}

template <typename scalar_t, typename offset_t>
void forward_plane(const FractionalMaxForwardBody<scalar_t, offset_t>& body, int64_t plane) {
  const PoolGeometry& g = body.max.g;
  const FractionalStarts<int64_t> s(body.starts, g, plane / g.channels, plane % g.channels);
  const scalar_t* in = body.max.input + plane * g.in_plane();
  scalar_t* out = body.max.output + plane * g.out_plane();
  const bool saves_offsets = body.max.window_offset != nullptr;
  if (plane_avx512(body, s, in, out, saves_offsets ? body.max.window_offset + plane * g.out_plane() : nullptr)) return;
  // Otherwise a values-only forward (null window_offset) puts each row's taps in a scratch row, never read.
  std::vector<offset_t> discarded_taps(saves_offsets ? 0 : g.out[2]);
  offset_t* out_tap = saves_offsets ? body.max.window_offset + plane * g.out_plane() : discarded_taps.data();
  const int64_t tap_step = saves_offsets ? g.out[2] : 0;
  const int64_t depth_step = g.in[1] * g.in[2], row_step = g.in[2];
  for (int64_t od = 0; od < g.out[0]; ++od) {
    for (int64_t oh = 0; oh < g.out[1]; ++oh, out += g.out[2], out_tap += tap_step) {
      const scalar_t* corner_row = in + s.dim[0][od] * depth_step + s.dim[1][oh] * row_step;
      const bool branch_free = with_small_branch_free_window<scalar_t>(g, [&](auto k, auto as_values) {
        row_max_branch_free<k, k>(as_values(corner_row), s.dim[2], row_step, g.out[2], as_values(out), out_tap);
      });
      if (branch_free) continue;
      for (int64_t ow = 0; ow < g.out[2]; ++ow) {
        out_tap[ow] =
            static_cast<offset_t>(window_max(corner_row + s.dim[2][ow], g.kernel, depth_step, row_step, 1, out[ow]));
      }
    }
  }
}

}  // namespace

template <typename scalar_t, typename offset_t>
void fractional_forward_contiguous(const FractionalMaxForwardBody<scalar_t, offset_t>& body) {
  const PoolGeometry& g = body.max.g;
  at::parallel_for(0, g.batch * g.channels, grain_for(g.out_plane()), [&](int64_t begin, int64_t end) {
    for (int64_t plane = begin; plane < end; ++plane) forward_plane(body, plane);
  });
}

#define POOLING_EXT_INSTANTIATE(scalar_t, offset_t) \
  template void fractional_forward_contiguous(const FractionalMaxForwardBody<scalar_t, offset_t>&);
#define POOLING_EXT_INSTANTIATE_OFFSETS(scalar_t) POOLING_EXT_FOR_EACH_OFFSET_TYPE(POOLING_EXT_INSTANTIATE, scalar_t)
POOLING_EXT_FOR_EACH_FLOAT_TYPE(POOLING_EXT_INSTANTIATE_OFFSETS)

}  // namespace cpu
}  // namespace pooling_ext
