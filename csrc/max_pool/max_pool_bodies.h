// Per-element bodies of max pooling (fixed and adaptive windows).
//
// Each body is a functor whose operator()(linear_index) is what one GPU
// thread runs for one element (the one-phase block program of
// common/block_program.h). They are the CUDA kernels, the reference the
// CPU loops and faster kernels are checked against, and the CPU's own code
// for what its loops leave out: MaxPoolForwardBody::compute_taps for border
// windows, the gather and indices bodies through the parallel CPU launcher.
#pragma once

#include <ATen/OpMathType.h>

#include "../common/window.h"

namespace pooling_ext {

// Forward: the maximum of each window and the tap (window offset) it came
// from; a values-only forward (inference) passes a null window_offset.
template <typename scalar_t, typename offset_t, typename index_t = int64_t>
struct MaxPoolForwardBody {
  const scalar_t* input;
  scalar_t* output;
  offset_t* window_offset;
  PoolGeometryT<index_t> g;

  POOL_HD void operator()(int64_t linear) const {
    const index_t out_linear = static_cast<index_t>(linear);
    const PlaneCoord<index_t> p = geometry_coord(g, false, out_linear);
    const Spatial3<index_t> o = geometry_spatial(g, false, p.spatial);
    compute(p.n, p.c, o.d, o.h, o.w, out_linear);
  }

  POOL_HD void compute(index_t n, index_t c, index_t od, index_t oh, index_t ow, index_t out_linear) const {
    compute_taps(n, c, dim_window_taps(g, 0, od), dim_window_taps(g, 1, oh), dim_window_taps(g, 2, ow), out_linear);
  }

  // The window given by its taps along each dim (the CPU passes them from tables).
  POOL_HD void compute_taps(index_t n, index_t c, const TapRange<index_t>& rd, const TapRange<index_t>& rh,
                            const TapRange<index_t>& rw, index_t out_linear) const {
    const index_t step = g.channels_last ? g.channels : index_t(1);
    const scalar_t* plane = input + layout_offset(g.channels_last, g.channels, g.in_plane(), n, c, index_t(0));
    const index_t empty = empty_window_offset(g.kernel_volume());
    scalar_t best = max_identity<scalar_t>();
    index_t best_tap = empty;
    for (index_t td = rd.first; td < rd.end; ++td) {
      const index_t id = rd.start + td * g.dilation[0];
      for (index_t th = rh.first; th < rh.end; ++th) {
        const index_t ih = rh.start + th * g.dilation[1];
        const scalar_t* row = plane + (id * g.in[1] + ih) * g.in[2] * step;
        const index_t tap_row = (td * g.kernel[1] + th) * g.kernel[2];
        for (index_t tw = rw.first; tw < rw.end; ++tw) {
          const scalar_t v = row[(rw.start + tw * g.dilation[2]) * step];
          if (best_tap == empty || replaces_max(v, best)) {
            best = v;
            best_tap = tap_row + tw;
          }
        }
      }
    }
    output[out_linear] = best;
    if (window_offset != nullptr) window_offset[out_linear] = static_cast<offset_t>(best_tap);
  }
};

// Backward as a gather: each input element sums the output gradients of the
// windows whose maximum it was. No atomics, so the result is deterministic.
template <typename scalar_t, typename offset_t, typename index_t = int64_t>
struct MaxPoolBackwardBody {
  const scalar_t* grad_output;
  const offset_t* window_offset;
  scalar_t* grad_input;
  PoolGeometryT<index_t> g;

  POOL_HD void operator()(int64_t linear) const {
    using acc_t = at::opmath_type<scalar_t>;
    const index_t in_linear = static_cast<index_t>(linear);
    const PlaneCoord<index_t> p = geometry_coord(g, true, in_linear);
    const Spatial3<index_t> i = geometry_spatial(g, true, p.spatial);
    const index_t id = i.d, ih = i.h, iw = i.w;
    const index_t step = g.channels_last ? g.channels : index_t(1);
    const index_t plane_base = layout_offset(g.channels_last, g.channels, g.out_plane(), p.n, p.c, index_t(0));
    const OutRange<index_t> rd = dim_covering_outputs(g, 0, id);
    const OutRange<index_t> rh = dim_covering_outputs(g, 1, ih);
    const OutRange<index_t> rw = dim_covering_outputs(g, 2, iw);
    acc_t acc = acc_t(0);
    for (index_t od = rd.first; od <= rd.last; ++od) {
      const index_t td = dim_tap_landing_on(g, 0, id, od);
      if (td < 0) continue;
      for (index_t oh = rh.first; oh <= rh.last; ++oh) {
        const index_t th = dim_tap_landing_on(g, 1, ih, oh);
        if (th < 0) continue;
        const index_t out_row = (od * g.out[1] + oh) * g.out[2];
        const index_t tap_row = (td * g.kernel[1] + th) * g.kernel[2];
        for (index_t ow = rw.first; ow <= rw.last; ++ow) {
          const index_t tw = dim_tap_landing_on(g, 2, iw, ow);
          if (tw < 0) continue;
          const index_t o = plane_base + (out_row + ow) * step;
          if (static_cast<index_t>(window_offset[o]) == tap_row + tw) {
            acc += static_cast<acc_t>(grad_output[o]);
          }
        }
      }
    }
    grad_input[in_linear] = static_cast<scalar_t>(acc);
  }
};

// The value of an input-shaped tensor at each window's argmax (zero for an
// empty window). It is the derivative of the backward with respect to its
// grad_output, so it serves double backward.
template <typename scalar_t, typename offset_t, typename index_t = int64_t>
struct MaxPoolGatherBody {
  const scalar_t* source;
  const offset_t* window_offset;
  scalar_t* output;
  PoolGeometryT<index_t> g;

  POOL_HD void operator()(int64_t linear) const {
    const index_t out_linear = static_cast<index_t>(linear);
    const PlaneCoord<index_t> p = geometry_coord(g, false, out_linear);
    const index_t tap = static_cast<index_t>(window_offset[out_linear]);
    if (tap >= g.kernel_volume()) {
      output[out_linear] = scalar_t(0);
      return;
    }
    const index_t in_spatial = tap_to_plane_index(g, p.spatial, tap);
    output[out_linear] = source[layout_offset(g.channels_last, g.channels, g.in_plane(), p.n, p.c, in_spatial)];
  }
};

// torch's return_indices: the flat index of the argmax within its input plane,
// or -1 for a window that lies wholly in the padding.
template <typename offset_t, typename index_t = int64_t>
struct MaxPoolIndicesBody {
  const offset_t* window_offset;
  int64_t* indices;
  PoolGeometryT<index_t> g;

  POOL_HD void operator()(int64_t linear) const {
    const index_t out_linear = static_cast<index_t>(linear);
    const index_t tap = static_cast<index_t>(window_offset[out_linear]);
    if (tap >= g.kernel_volume()) {
      indices[out_linear] = -1;
      return;
    }
    indices[out_linear] = tap_to_plane_index(g, geometry_coord(g, false, out_linear).spatial, tap);
  }
};

}  // namespace pooling_ext
