// Per-element bodies of fractional max pooling (torch's variant of Graham's
// pseudo-random pooling). Each (n, c) plane has one sample u per spatial dim;
// along that dim output o's window is [start(o), start(o) + k) with
//   alpha = (in - k) / (out - 1),
//   start(o) = int((o + u) * alpha) - int(u * alpha),   start(out - 1) = in - k.
// A first launch writes every plane's starts into an int64 table; the max
// bodies then read their plane's row of it and reuse the fixed-window max
// code (MaxPoolForwardBody::compute_taps) on windows that never leave the input.
#pragma once

#include <ATen/OpMathType.h>

#include "../max_pool/max_pool_bodies.h"

namespace pooling_ext {

// The starts table holds, per plane (n * C + c), out[0] starts of the
// canonical dim 0, then out[1] of dim 1, then out[2] of dim 2.
template <typename I>
POOL_HD int64_t fractional_starts_per_plane(const PoolGeometryT<I>& g) {
  return static_cast<int64_t>(g.out[0]) + g.out[1] + g.out[2];
}

// int(v) as torch's cast, but defined for every v: NaN gives 0 and values
// beyond +-2^40 are held there (a start is clamped into the input after).
template <typename T>
POOL_HD int64_t truncate_to_int(T value) {
  const float v = static_cast<float>(value);
  if (!(v == v)) return 0;
  constexpr float kLimit = 1099511627776.0f;  // 2^40
  return static_cast<int64_t>(v > kLimit ? kLimit : (v < -kLimit ? -kLimit : v));
}

template <>
POOL_HD int64_t truncate_to_int<double>(double v) {
  if (!(v == v)) return 0;
  constexpr double kLimit = 1099511627776.0;
  return static_cast<int64_t>(v > kLimit ? kLimit : (v < -kLimit ? -kLimit : v));
}

// torch's window start of output o along one dim, computed in math_t as torch
// does (the sample's dtype on the CPU, float for half and bfloat16 on CUDA),
// then clamped into [0, in - k]. torch does not check the samples: one outside
// [0, 1) puts its windows outside the input (out-of-bounds reads); here they
// stay inside.
template <typename math_t>
POOL_HD int64_t fractional_window_start(math_t sample, int64_t o, int64_t in, int64_t out, int64_t k) {
  const int64_t last = in - k;
  if (o == out - 1) return last;
  const math_t alpha = static_cast<math_t>(static_cast<int>(last)) / static_cast<math_t>(static_cast<int>(out - 1));
  const int64_t start = truncate_to_int((static_cast<int>(o) + sample) * alpha) - truncate_to_int(sample * alpha);
  return start < 0 ? 0 : (start > last ? last : start);
}

// One thread per table entry. The samples are (N', C, dims) contiguous with
// N' >= N; sample_column[d] is the sample of canonical dim d (torch orders
// them (w, h) in 2d and (t, h, w) in 3d).
template <typename sample_t, typename math_t, typename index_t>
struct FractionalStartsBody {
  const sample_t* samples;
  int64_t* starts;
  PoolGeometryT<index_t> g;
  int64_t sample_dims;
  int64_t sample_column[kMaxSpatialDims];

  POOL_HD void operator()(int64_t linear) const {
    const int64_t per_plane = fractional_starts_per_plane(g);
    const int64_t plane = linear / per_plane;
    const int64_t entry = linear - plane * per_plane;
    const int d = entry < g.out[0] ? 0 : (entry < static_cast<int64_t>(g.out[0]) + g.out[1] ? 1 : 2);
    const int64_t o = entry - (d == 0 ? 0 : (d == 1 ? g.out[0] : static_cast<int64_t>(g.out[0]) + g.out[1]));
    const math_t u = static_cast<math_t>(samples[plane * sample_dims + sample_column[d]]);
    starts[linear] = fractional_window_start<math_t>(u, o, g.in[d], g.out[d], g.kernel[d]);
  }
};

// The plane's row of the starts table, split by dim.
template <typename index_t>
struct FractionalStarts {
  const int64_t* dim[kMaxSpatialDims];

  POOL_HD FractionalStarts(const int64_t* table, const PoolGeometryT<index_t>& g, index_t n, index_t c) {
    dim[0] = table + (static_cast<int64_t>(n) * g.channels + c) * fractional_starts_per_plane(g);
    dim[1] = dim[0] + g.out[0];
    dim[2] = dim[1] + g.out[1];
  }

  POOL_HD TapRange<index_t> taps(const PoolGeometryT<index_t>& g, int d, index_t o) const {
    return TapRange<index_t>{index_t(0), g.kernel[d], static_cast<index_t>(dim[d][o])};
  }

  // The outputs whose window [start, start + k) holds input i: the starts
  // never decrease with o, so they are the o with i - k < start(o) <= i,
  // found by two binary searches.
  POOL_HD OutRange<index_t> covering(const PoolGeometryT<index_t>& g, int d, index_t i) const {
    const int64_t* s = dim[d];
    index_t low = 0, high = g.out[d];  // first o with s[o] > i - k
    while (low < high) {
      const index_t mid = low + (high - low) / 2;
      if (s[mid] > i - g.kernel[d])
        high = mid;
      else
        low = mid + 1;
    }
    OutRange<index_t> r;
    r.first = low;
    high = g.out[d];  // first o with s[o] > i, from r.first on
    while (low < high) {
      const index_t mid = low + (high - low) / 2;
      if (s[mid] > i)
        high = mid;
      else
        low = mid + 1;
    }
    r.last = low - 1;
    return r;
  }
};

// Forward: one output per index; the fixed-window max code on the plane's windows.
template <typename scalar_t, typename offset_t, typename index_t = int64_t>
struct FractionalMaxForwardBody {
  MaxPoolForwardBody<scalar_t, offset_t, index_t> max;  // its geometry: kernel k, dilation 1
  const int64_t* starts;

  POOL_HD void operator()(int64_t linear) const {
    const PoolGeometryT<index_t>& g = max.g;
    const index_t out_linear = static_cast<index_t>(linear);
    const PlaneCoord<index_t> p = geometry_coord(g, false, out_linear);
    const Spatial3<index_t> o = geometry_spatial(g, false, p.spatial);
    const FractionalStarts<index_t> s(starts, g, p.n, p.c);
    max.compute_taps(p.n, p.c, s.taps(g, 0, o.d), s.taps(g, 1, o.h), s.taps(g, 2, o.w), out_linear);
  }
};

// Backward as a gather, as MaxPoolBackwardBody: each input sums the output
// gradients of the windows whose maximum it was, in output order.
template <typename scalar_t, typename offset_t, typename index_t = int64_t>
struct FractionalMaxBackwardBody {
  const scalar_t* grad_output;
  const offset_t* window_offset;
  scalar_t* grad_input;
  PoolGeometryT<index_t> g;
  const int64_t* starts;

  POOL_HD void operator()(int64_t linear) const {
    using acc_t = at::opmath_type<scalar_t>;
    const index_t in_linear = static_cast<index_t>(linear);
    const PlaneCoord<index_t> p = geometry_coord(g, true, in_linear);
    const Spatial3<index_t> i = geometry_spatial(g, true, p.spatial);
    const FractionalStarts<index_t> s(starts, g, p.n, p.c);
    const index_t step = g.channels_last ? g.channels : index_t(1);
    const index_t plane_base = layout_offset(g.channels_last, g.channels, g.out_plane(), p.n, p.c, index_t(0));
    const OutRange<index_t> rd = s.covering(g, 0, i.d);
    const OutRange<index_t> rh = s.covering(g, 1, i.h);
    const OutRange<index_t> rw = s.covering(g, 2, i.w);
    acc_t acc = acc_t(0);
    for (index_t od = rd.first; od <= rd.last; ++od) {
      const index_t td = i.d - static_cast<index_t>(s.dim[0][od]);
      for (index_t oh = rh.first; oh <= rh.last; ++oh) {
        const index_t tap_row = (td * g.kernel[1] + i.h - static_cast<index_t>(s.dim[1][oh])) * g.kernel[2];
        const index_t out_row = (od * g.out[1] + oh) * g.out[2];
        for (index_t ow = rw.first; ow <= rw.last; ++ow) {
          const index_t o = plane_base + (out_row + ow) * step;
          if (static_cast<index_t>(window_offset[o]) == tap_row + i.w - static_cast<index_t>(s.dim[2][ow])) {
            acc += static_cast<acc_t>(grad_output[o]);
          }
        }
      }
    }
    grad_input[in_linear] = static_cast<scalar_t>(acc);
  }
};

// The input plane index (d * H * W + h * W + w) of output out_linear's argmax.
template <typename index_t>
POOL_HD index_t fractional_argmax_plane_index(const PoolGeometryT<index_t>& g, const int64_t* starts,
                                              const PlaneCoord<index_t>& p, index_t out_spatial, index_t tap) {
  const Spatial3<index_t> o = geometry_spatial(g, false, out_spatial);
  const FractionalStarts<index_t> s(starts, g, p.n, p.c);
  const index_t tw = tap % g.kernel[2];
  const index_t th = (tap / g.kernel[2]) % g.kernel[1];
  const index_t td = tap / (g.kernel[2] * g.kernel[1]);
  const index_t id = static_cast<index_t>(s.dim[0][o.d]) + td;
  const index_t ih = static_cast<index_t>(s.dim[1][o.h]) + th;
  const index_t iw = static_cast<index_t>(s.dim[2][o.w]) + tw;
  return (id * g.in[1] + ih) * g.in[2] + iw;
}

// The source value at each window's argmax (double backward).
template <typename scalar_t, typename offset_t, typename index_t = int64_t>
struct FractionalMaxGatherBody {
  const scalar_t* source;
  const offset_t* window_offset;
  scalar_t* output;
  PoolGeometryT<index_t> g;
  const int64_t* starts;

  POOL_HD void operator()(int64_t linear) const {
    const index_t out_linear = static_cast<index_t>(linear);
    const PlaneCoord<index_t> p = geometry_coord(g, false, out_linear);
    const index_t tap = static_cast<index_t>(window_offset[out_linear]);
    const index_t in_spatial = fractional_argmax_plane_index(g, starts, p, p.spatial, tap);
    output[out_linear] = source[layout_offset(g.channels_last, g.channels, g.in_plane(), p.n, p.c, in_spatial)];
  }
};

// torch's return_indices: the argmax's flat index within its input plane.
template <typename offset_t, typename index_t = int64_t>
struct FractionalMaxIndicesBody {
  const offset_t* window_offset;
  int64_t* indices;
  PoolGeometryT<index_t> g;
  const int64_t* starts;

  POOL_HD void operator()(int64_t linear) const {
    const index_t out_linear = static_cast<index_t>(linear);
    const PlaneCoord<index_t> p = geometry_coord(g, false, out_linear);
    const index_t tap = static_cast<index_t>(window_offset[out_linear]);
    indices[out_linear] = fractional_argmax_plane_index(g, starts, p, p.spatial, tap);
  }
};

}  // namespace pooling_ext
