// Average pooling's CPU backward where windows do not overlap (stride >=
// kernel: VGG and DenseNet 2x2, adaptive pooling with divisible sizes): every
// input takes the share of at most one output, written straight into its
// place (no sums, no scatter); inputs no window covers are zeroed first.
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <vector>

#include "../../common/cpu/isa_clones.h"
#include "../../common/dtype_dispatch.h"
#include "window_sum_cpu_loops.h"
#include "window_tables.h"

namespace pooling_ext {
namespace cpu {
namespace {

template <typename scalar_t, typename acc_t>
POOLING_EXT_ISA_CLONES void scale_row_across_channels(const scalar_t* __restrict__ row, acc_t w,
                                                      scalar_t* __restrict__ out, int64_t C) {
  for (int64_t c = 0; c < C; ++c) out[c] = static_cast<scalar_t>(static_cast<acc_t>(row[c]) * w);
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

}  // namespace

// Average pooling's channels-last backward when windows do not overlap
// (stride >= kernel: DenseNet and VGG-style 2x2): every input takes the share
// of at most one output, written straight from that output's row.
template <typename scalar_t>
void average_backward_disjoint_channels_last(const WindowSumBackwardBody<scalar_t, int64_t>& body) {
  using acc_t = at::opmath_type<scalar_t>;
  const PoolGeometry& g = body.g;
  const ExtentTables extents(g);
  const int64_t C = g.channels;
  const bool all_covered = extents.disjoint_windows_cover_input(g);
  if (!all_covered) std::fill(body.grad_input, body.grad_input + g.in_numel(), scalar_t(0));
  const int64_t positions = g.batch * g.out_plane();
  at::parallel_for(0, positions, grain_for(C, g.kernel_volume()), [&](int64_t begin, int64_t stop) {
    PositionCursor cursor(g.out, begin);
    for (int64_t pos = begin; pos < stop; ++pos, cursor.next()) {
      const WindowBox<int64_t> box = extents.box(cursor.d, cursor.h, cursor.w);
      const acc_t share = acc_t(1) / static_cast<acc_t>(average_divisor(body.r, box));
      const scalar_t* grad = body.grad_output + pos * C;
      for (int64_t id = box.d.first; id < box.d.end; ++id) {
        for (int64_t ih = box.h.first; ih < box.h.end; ++ih) {
          for (int64_t iw = box.w.first; iw < box.w.end; ++iw) {
            const int64_t in_pos = cursor.n * g.in_plane() + (id * g.in[1] + ih) * g.in[2] + iw;
            scale_row_across_channels<scalar_t, acc_t>(grad, share, body.grad_input + in_pos * C, C);
          }
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
