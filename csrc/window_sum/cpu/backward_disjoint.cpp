// Average pooling's CPU backward where windows do not overlap (stride >=
// kernel: VGG and DenseNet 2x2, adaptive pooling with divisible sizes): every
// input takes the share of at most one output, written straight into its
// place (no sums, no scatter); inputs no window covers are zeroed first.
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <cstring>
#include <type_traits>
#include <vector>

#include "../../common/cpu/isa_clones.h"
#include "../../common/cpu/row_run.h"
#include "../../common/dtype_dispatch.h"
#include "average_avx512.h"
#include "window_sum_cpu_loops.h"
#include "window_tables.h"

namespace pooling_ext {
namespace cpu {
namespace {

// One output's row of channels' shares, as torch's channels-last kernel
// computes them (0 + g / divisor: a -0 gradient gives +0), the division a
// multiplication by the inverse where that is exact (a power-of-two divisor).
template <typename scalar_t, typename acc_t>
POOLING_EXT_ISA_CLONES void share_row_across_channels(const scalar_t* __restrict__ row, int64_t window_divisor,
                                                      scalar_t* __restrict__ out, int64_t C) {
  const acc_t divisor = static_cast<acc_t>(window_divisor);
  if (window_divisor > 0 && (window_divisor & (window_divisor - 1)) == 0) {
    const acc_t inverse = acc_t(1) / divisor;
    for (int64_t c = 0; c < C; ++c) out[c] = static_cast<scalar_t>(acc_t(0) + static_cast<acc_t>(row[c]) * inverse);
  } else {
    for (int64_t c = 0; c < C; ++c) out[c] = static_cast<scalar_t>(acc_t(0) + static_cast<acc_t>(row[c]) / divisor);
  }
}

// The shares of output row (od, oh) of a plane, written into the inputs of
// their windows.
template <typename scalar_t>
void write_output_row(const PoolGeometry& g, const ExtentTables& extents, int64_t od, int64_t oh,
                      const scalar_t* shares, scalar_t* grad_in) {
  const WindowExtent<int64_t>& ed = extents.dim[0][od];
  const WindowExtent<int64_t>& eh = extents.dim[1][oh];
  for (int64_t id = ed.first; id < ed.end; ++id) {
    for (int64_t ih = eh.first; ih < eh.end; ++ih) {
      scalar_t* row = grad_in + (id * g.in[1] + ih) * g.in[2];
      for (int64_t ow = 0; ow < g.out[2]; ++ow) {
        const WindowExtent<int64_t>& ew = extents.dim[2][ow];
        std::fill(row + ew.first, row + ew.end, shares[ow]);
      }
    }
  }
}

// Float32 and bfloat16 planes whose windows tile each row (kernel = stride
// along W, no padding, every input covered) and share one divisor, on a CPU
// with AVX-512: per output row, its shares spread across the first input
// row its windows cover, then copied to the window's other input rows
// (average_tiled_planes_backward_avx512; the portable loop is a division and
// a fill of kw elements per output). False (nothing done) elsewhere.
template <typename scalar_t, typename acc_t>
bool tiled_planes_avx512(const WindowSumBackwardBody<scalar_t, int64_t>& body, const ExtentTables& extents,
                         const std::vector<acc_t>& divisor) {
  constexpr bool kFloat = std::is_same_v<scalar_t, float>, kBFloat16 = std::is_same_v<scalar_t, at::BFloat16>;
  if constexpr (kFloat || kBFloat16) {
    const PoolGeometry& g = body.g;
    const int64_t kw = g.in[2] / std::max<int64_t>(g.out[2], 1);
    if (!simd::average_rows_avx512_supported() || kw > 16 || g.out[2] * kw != g.in[2] ||
        !extents.disjoint_windows_cover_input(g) ||
        std::any_of(divisor.begin(), divisor.end(), [&](acc_t d) { return d != divisor[0]; })) {
      return false;
    }
    for (int64_t ow = 0; ow < g.out[2]; ++ow) {
      const WindowExtent<int64_t>& ew = extents.dim[2][ow];
      if (ew.first != ow * kw || ew.end != ew.first + kw) return false;
    }
    using bits_t = std::conditional_t<kFloat, float, uint16_t>;
    const int64_t out_rows = g.out[0] * g.out[1];
    const WindowRowTable rows(out_rows, [&](int64_t j, const auto& push) {
      const WindowExtent<int64_t>& ed = extents.dim[0][j / g.out[1]];
      const WindowExtent<int64_t>& eh = extents.dim[1][j % g.out[1]];
      for (int64_t id = ed.first; id < ed.end; ++id) {
        for (int64_t ih = eh.first; ih < eh.end; ++ih) push((id * g.in[1] + ih) * g.in[2]);
      }
    });
    const int64_t in_plane = g.in_plane(), out_plane = g.out_plane();
    at::parallel_for(0, g.batch * g.channels, grain_for(in_plane + out_plane), [&](int64_t begin, int64_t stop) {
      simd::average_tiled_planes_backward_avx512(simd::TiledPlanes<bits_t>{
          reinterpret_cast<const bits_t*>(body.grad_output) + begin * out_plane,
          reinterpret_cast<bits_t*>(body.grad_input) + begin * in_plane, stop - begin, out_plane, in_plane, out_rows,
          g.out[2], kw, &rows, static_cast<float>(divisor[0])});
    });
    return true;
  }
  return false;
}

}  // namespace

// Average pooling's channels-last backward when windows do not overlap
// (stride >= kernel: DenseNet and VGG-style 2x2, adaptive pooling with
// divisible sizes): every input takes the share of at most one output. Per
// output row, its shares go into the first input row its windows cover, each
// output's row of channels scaled once and copied across its window's
// columns; the window's other input rows take the same values, copied whole
// (the backward is a write of the input's size: copies of rows already in
// cache instead of a scaling per input position; DenseNet's 2x2 transition
// 4% faster, bound by the writes).
template <typename scalar_t>
void average_backward_disjoint_channels_last(const WindowSumBackwardBody<scalar_t, int64_t>& body) {
  using acc_t = at::opmath_type<scalar_t>;
  const PoolGeometry& g = body.g;
  const ExtentTables extents(g);
  const int64_t C = g.channels;
  const bool all_covered = extents.disjoint_windows_cover_input(g);
  if (!all_covered) std::fill(body.grad_input, body.grad_input + g.in_numel(), scalar_t(0));
  const int64_t rows = g.batch * g.out[0] * g.out[1];
  const int64_t input_row = g.in[2] * C;  // one input row of channels-last positions
  at::parallel_for(0, rows, grain_for(g.out[2] * C, g.kernel_volume()), [&](int64_t begin, int64_t stop) {
    for (int64_t row = begin; row < stop; ++row) {
      const int64_t oh = row % g.out[1], od = (row / g.out[1]) % g.out[0], n = row / (g.out[1] * g.out[0]);
      const WindowExtent<int64_t>& ed = extents.dim[0][od];
      const WindowExtent<int64_t>& eh = extents.dim[1][oh];
      if (ed.first == ed.end || eh.first == eh.end) continue;  // windows wholly in the padding
      scalar_t* first_row = body.grad_input + ((n * g.in[0] + ed.first) * g.in[1] + eh.first) * input_row;
      const scalar_t* grad = body.grad_output + row * g.out[2] * C;
      for (int64_t ow = 0; ow < g.out[2]; ++ow) {
        const WindowExtent<int64_t>& ew = extents.dim[2][ow];
        if (ew.first == ew.end) continue;
        scalar_t* column = first_row + ew.first * C;
        share_row_across_channels<scalar_t, acc_t>(grad + ow * C, average_divisor(body.r, extents.box(od, oh, ow)),
                                                   column, C);
        for (int64_t iw = ew.first + 1; iw < ew.end; ++iw) {
          std::memcpy(first_row + iw * C, column, C * sizeof(scalar_t));
        }
      }
      for (int64_t id = ed.first; id < ed.end; ++id) {
        for (int64_t ih = id == ed.first ? eh.first + 1 : eh.first; ih < eh.end; ++ih) {
          std::memcpy(body.grad_input + ((n * g.in[0] + id) * g.in[1] + ih) * input_row, first_row,
                      input_row * sizeof(scalar_t));
        }
      }
    }
  });
}

// Average pooling's contiguous backward when windows do not overlap (stride
// >= kernel: VGG and DenseNet 2x2, adaptive pooling with divisible sizes):
// every input takes the share of at most one output, written straight into
// its plane, a span of planes per task (the phase-major scatter costs more
// than the work on planes of a few hundred elements).
template <typename scalar_t>
void average_backward_disjoint_planes(const WindowSumBackwardBody<scalar_t, int64_t>& body) {
  using acc_t = at::opmath_type<scalar_t>;
  const PoolGeometry& g = body.g;
  const ExtentTables extents(g);
  const std::vector<acc_t> divisor = divisor_table(body.r, g, extents);
  if (tiled_planes_avx512(body, extents, divisor)) return;
  const bool all_covered = extents.disjoint_windows_cover_input(g);
  const int64_t in_plane = g.in_plane(), out_plane = g.out_plane();
  at::parallel_for(0, g.batch * g.channels, grain_for(in_plane + out_plane), [&](int64_t begin, int64_t stop) {
    std::vector<scalar_t> shares(g.out[2]);
    for (int64_t plane = begin; plane < stop; ++plane) {
      scalar_t* grad_in = body.grad_input + plane * in_plane;
      const scalar_t* grad = body.grad_output + plane * out_plane;
      if (!all_covered) std::fill(grad_in, grad_in + in_plane, scalar_t(0));
      for (int64_t od = 0, o = 0; od < g.out[0]; ++od) {
        for (int64_t oh = 0; oh < g.out[1]; ++oh, o += g.out[2]) {
          // (0 + share: a -0 gradient gives +0, as summed into zeros)
          for (int64_t ow = 0; ow < g.out[2]; ++ow) {
            shares[ow] = static_cast<scalar_t>(acc_t(0) + static_cast<acc_t>(grad[o + ow]) / divisor[o + ow]);
          }
          write_output_row(g, extents, od, oh, shares.data(), grad_in);
        }
      }
    }
  });
}

#define POOLING_EXT_INSTANTIATE(scalar_t)                                                                 \
  template void average_backward_disjoint_channels_last(const WindowSumBackwardBody<scalar_t, int64_t>&); \
  template void average_backward_disjoint_planes(const WindowSumBackwardBody<scalar_t, int64_t>&);
POOLING_EXT_FOR_EACH_FLOAT_TYPE(POOLING_EXT_INSTANTIATE)

}  // namespace cpu
}  // namespace pooling_ext
