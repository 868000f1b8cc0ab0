// Per-element bodies of the window-sum family: average pooling (fixed and
// adaptive windows), LP (power-average) pooling and GeM (a power mean over
// the whole plane).
//
// As with max pooling, each body's operator()(linear_index) is what one GPU
// thread runs for one element; they are the CUDA kernels, the reference the
// CPU loops are checked against, and the CPU's own code for the windows its
// vectorised loops leave out (`compute` and `compute_box`). The window policy
// is the fixed one of common/window.h with dilation 1, or the adaptive one;
// the reduction is described by a ReductionSpec, the power mean's math is
// power_mean.h's.
#pragma once

#include <ATen/OpMathType.h>

#include <type_traits>

#include "../common/window.h"
#include "power_mean.h"
#include "reduction.h"

namespace pooling_ext {

// ---------------------------------------------------------------- window extents

// One dim of a window with dilation 1: input positions [first, end) inside the
// input, and `padded`, the window's length clipped to the padded input
// (torch's count_include_pad divisor factor; equal to end - first without padding).
template <typename I>
struct WindowExtent {
  I first;
  I end;
  I padded;
};

template <typename I>
POOL_HD WindowExtent<I> window_extent(I out_pos, I size, I kernel, I stride, I pad) {
  const I start = out_pos * stride - pad;
  I end = start + kernel;
  if (end > size + pad) end = size + pad;
  WindowExtent<I> e;
  e.padded = end - start;
  e.first = start < 0 ? I(0) : start;
  e.end = end > size ? size : end;
  return e;
}

template <typename I>
struct WindowBox {
  WindowExtent<I> d, h, w;

  POOL_HD I padded_count() const { return d.padded * h.padded * w.padded; }
  POOL_HD I inside_count() const { return (d.end - d.first) * (h.end - h.first) * (w.end - w.first); }
};

// The window extent of output o along spatial dim d under the geometry's
// policy (an adaptive window never reaches padding: padded = its length).
template <typename I>
POOL_HD WindowExtent<I> dim_window_extent(const PoolGeometryT<I>& g, int d, I o) {
  if (!g.adaptive) return window_extent(o, g.in[d], g.kernel[d], g.stride[d], g.pad[d]);
  WindowExtent<I> e;
  e.first = adaptive_start(o, g.in[d], g.out[d]);
  e.end = adaptive_end(o, g.in[d], g.out[d]);
  e.padded = e.end - e.first;
  return e;
}

template <typename I>
POOL_HD WindowBox<I> window_box(const PoolGeometryT<I>& g, I od, I oh, I ow) {
  return WindowBox<I>{dim_window_extent(g, 0, od), dim_window_extent(g, 1, oh), dim_window_extent(g, 2, ow)};
}

// torch's avg_pool divisor: divisor_override, else the window size clipped to
// the padded input (count_include_pad) or to the input. The clipping at the
// padded input's end is torch's ceil_mode rule: the part of a last window
// past the right padding is never counted. (In 64 bits: an override need
// not fit the 32-bit index path.)
template <typename I, typename acc_t>
POOL_HD int64_t average_divisor(const ReductionSpec<acc_t>& r, const WindowBox<I>& box) {
  if (r.divisor_override != 0) return r.divisor_override;
  return r.count_include_pad ? box.padded_count() : box.inside_count();
}

// A window's average from its sum: by the divisor, or, for contiguous
// adaptive windows (r.divide_in_turn), by the window's depth, height and width
// in turn, as torch divides (a division by a 1-long dim is exact).
template <typename I, typename acc_t>
POOL_HD acc_t average_of_sum(const ReductionSpec<acc_t>& r, const WindowBox<I>& box, acc_t sum) {
  if (r.divide_in_turn) {
    return sum / static_cast<acc_t>(box.d.end - box.d.first) / static_cast<acc_t>(box.h.end - box.h.first) /
           static_cast<acc_t>(box.w.end - box.w.first);
  }
  return sum / static_cast<acc_t>(average_divisor(r, box));
}

// Calls f(spatial index within the plane) for each input of a window, in
// torch's order (d, then h, then w).
template <typename I, typename F>
POOL_HD void for_each_window_input(const PoolGeometryT<I>& g, const WindowBox<I>& box, const F& f) {
  for (I id = box.d.first; id < box.d.end; ++id) {
    for (I ih = box.h.first; ih < box.h.end; ++ih) {
      const I row = (id * g.in[1] + ih) * g.in[2];
      for (I iw = box.w.first; iw < box.w.end; ++iw) f(row + iw);
    }
  }
}

// ---------------------------------------------------------------- bodies

// Forward: one output element per index.
template <typename scalar_t, typename index_t = int64_t>
struct WindowSumForwardBody {
  using acc_t = at::opmath_type<scalar_t>;
  const scalar_t* input;
  scalar_t* output;
  PoolGeometryT<index_t> g;
  ReductionSpec<acc_t> r;

  POOL_HD void operator()(int64_t linear) const {
    const index_t out_linear = static_cast<index_t>(linear);
    const PlaneCoord<index_t> p = geometry_coord(g, false, out_linear);
    const Spatial3<index_t> o = geometry_spatial(g, false, p.spatial);
    output[out_linear] = compute(p.n, p.c, o.d, o.h, o.w);
  }

  POOL_HD acc_t base(acc_t x) const { return power_base(r.base, x, r.clamp_min); }

  POOL_HD acc_t at(index_t n, index_t c, index_t spatial) const {
    return static_cast<acc_t>(input[layout_offset(g.channels_last, g.channels, g.in_plane(), n, c, spatial)]);
  }

  POOL_HD scalar_t compute(index_t n, index_t c, index_t od, index_t oh, index_t ow) const {
    return compute_box(n, c, window_box(g, od, oh, ow));
  }

  // The window given by its extents (the CPU passes them from tables).
  POOL_HD scalar_t compute_box(index_t n, index_t c, const WindowBox<index_t>& box) const {
    if (r.reduction == WindowReduction::kAverage) {
      acc_t sum = acc_t(0);
      for_each_window_input(g, box, [&](index_t s) { sum += at(n, c, s); });
      // Integer input divides as integers (truncating), as torch's int64 avg_pool.
      return static_cast<scalar_t>(average_of_sum(r, box, sum));
    }
    if constexpr (std::is_integral_v<scalar_t>) {
      return scalar_t(0);  // only average pooling runs on integers
    } else if (r.reduction == WindowReduction::kExtremeAbs) {
      return static_cast<scalar_t>(extreme_abs(n, c, box).value);
    } else {
      return static_cast<scalar_t>(power_mean(n, c, box));
    }
  }

  // kPowerMean. Where the plain power sum overflows (large p) the window is
  // summed again relative to its dominant element m, whose p-th power would
  // overflow: (c * sum x^p)^(1/p) = m * (c * sum (x/m)^p)^(1/p).
  POOL_HD acc_t power_mean(index_t n, index_t c, const WindowBox<index_t>& box) const {
    const acc_t p = r.exponent();
    const acc_t padded = static_cast<acc_t>(box.padded_count());
    acc_t sum = acc_t(0);
    for_each_window_input(g, box, [&](index_t s) { sum += power(base(at(n, c, s)), p); });
    if (is_finite_value(sum)) return power_mean_root(sum, padded, r.numerator, p);
    // The element whose |x|^p is largest: the largest |x| for p > 0, the smallest for p < 0.
    acc_t dominant = acc_t(0);
    bool first = true;
    for_each_window_input(g, box, [&](index_t s) {
      const acc_t m = abs_of(base(at(n, c, s)));
      if (first || (p > acc_t(0) ? m > dominant : m < dominant)) dominant = m;
      first = false;
    });
    if (!is_finite_value(dominant) || dominant == acc_t(0)) return power_mean_root(sum, padded, r.numerator, p);
    acc_t scaled = acc_t(0);
    for_each_window_input(g, box, [&](index_t s) { scaled += power(base(at(n, c, s)) / dominant, p); });
    return dominant * power_mean_root(scaled, padded, r.numerator, p);
  }

  struct Extreme {
    acc_t value;
    index_t spatial;  // the winning input's index within its plane
  };

  // kExtremeAbs: max_pool's rules on |x| (or on -|x|, negated, for the
  // minimum): the first maximum wins, a NaN always replaces.
  POOL_HD Extreme extreme_abs(index_t n, index_t c, const WindowBox<index_t>& box) const {
    acc_t best = acc_t(0);
    index_t best_spatial = index_t(-1);
    for_each_window_input(g, box, [&](index_t s) {
      const acc_t magnitude = abs_of(at(n, c, s));
      const acc_t v = r.smallest ? -magnitude : magnitude;
      if (best_spatial < 0 || replaces_max(v, best)) {
        best = v;
        best_spatial = s;
      }
    });
    return Extreme{r.smallest ? -best : best, best_spatial};
  }
};

// Backward as a gather: each input element sums its share of the gradient of
// every output whose window contains it. No atomics: deterministic.
//   average:    grad / divisor
//   power mean: grad * (numerator / padded) * (base(x) / y)^(p-1) * base'(x),
//               zero where y = 0 (torch: zero gradient where the power sum is zero)
//   extreme:    grad * sign(x) for the window's winning input only
template <typename scalar_t, typename index_t = int64_t>
struct WindowSumBackwardBody {
  using acc_t = at::opmath_type<scalar_t>;
  const scalar_t* grad_output;
  const scalar_t* input;   // power mean and extreme only
  const scalar_t* output;  // power mean only
  scalar_t* grad_input;
  PoolGeometryT<index_t> g;
  ReductionSpec<acc_t> r;

  POOL_HD void operator()(int64_t linear) const {
    const index_t in_linear = static_cast<index_t>(linear);
    const PlaneCoord<index_t> p = geometry_coord(g, true, in_linear);
    const Spatial3<index_t> i = geometry_spatial(g, true, p.spatial);
    const index_t plane_base = layout_offset(g.channels_last, g.channels, g.out_plane(), p.n, p.c, index_t(0));
    const index_t step = g.channels_last ? g.channels : index_t(1);
    const OutRange<index_t> rd = dim_covering_outputs(g, 0, i.d);
    const OutRange<index_t> rh = dim_covering_outputs(g, 1, i.h);
    const OutRange<index_t> rw = dim_covering_outputs(g, 2, i.w);
    acc_t x = acc_t(0), slope = acc_t(0);
    if constexpr (!std::is_integral_v<scalar_t>) {
      if (r.reduction != WindowReduction::kAverage) {
        x = static_cast<acc_t>(input[in_linear]);
        slope = r.reduction == WindowReduction::kExtremeAbs ? sign_of(x) : power_base_slope(r.base, x, r.clamp_min);
      }
    }
    const WindowSumForwardBody<scalar_t, index_t> window{input, nullptr, g, r};
    acc_t acc = acc_t(0);
    for (index_t od = rd.first; od <= rd.last; ++od) {
      for (index_t oh = rh.first; oh <= rh.last; ++oh) {
        for (index_t ow = rw.first; ow <= rw.last; ++ow) {
          const index_t o = plane_base + ((od * g.out[1] + oh) * g.out[2] + ow) * step;
          const acc_t grad = static_cast<acc_t>(grad_output[o]);
          const WindowBox<index_t> box = window_box(g, od, oh, ow);
          if (r.reduction == WindowReduction::kAverage) {
            acc += grad / static_cast<acc_t>(average_divisor(r, box));
          } else if constexpr (!std::is_integral_v<scalar_t>) {
            if (r.reduction == WindowReduction::kExtremeAbs) {
              if (window.extreme_abs(p.n, p.c, box).spatial == p.spatial) acc += grad * slope;
            } else {
              const acc_t y = static_cast<acc_t>(output[o]);
              if (y == acc_t(0)) continue;
              const acc_t scale = r.numerator / static_cast<acc_t>(box.padded_count());
              acc += grad * scale * power_mean_input_factor(window.base(x) / y, slope, r.exponent());
            }
          }
        }
      }
    }
    grad_input[in_linear] = static_cast<scalar_t>(acc);
  }
};

// GeM's gradient with respect to p, one partial per output: with u = base(x)/y,
//   dy/dp = y * (numerator / padded) / p * sum u^p ln u,
// which stays finite wherever y does (u is at most count^(1/p)). The partials
// are then summed in a fixed order (common/fixed_order_sum.h): deterministic,
// no atomics.
template <typename scalar_t, typename index_t = int64_t>
struct PowerMeanExponentGradBody {
  using acc_t = at::opmath_type<scalar_t>;
  const scalar_t* grad_output;
  const scalar_t* input;
  const scalar_t* output;
  acc_t* partial;  // one per output element
  PoolGeometryT<index_t> g;
  ReductionSpec<acc_t> r;

  POOL_HD void operator()(int64_t linear) const {
    const index_t out_linear = static_cast<index_t>(linear);
    const PlaneCoord<index_t> p = geometry_coord(g, false, out_linear);
    const Spatial3<index_t> o = geometry_spatial(g, false, p.spatial);
    const acc_t y = static_cast<acc_t>(output[out_linear]);
    if (y == acc_t(0)) {
      partial[out_linear] = acc_t(0);
      return;
    }
    const WindowBox<index_t> box = window_box(g, o.d, o.h, o.w);
    const acc_t exponent = r.exponent();
    acc_t sum = acc_t(0);
    const auto log = [](acc_t v) { return log_of(v); };
    for_each_window_input(g, box, [&](index_t s) {
      const acc_t x = static_cast<acc_t>(input[layout_offset(g.channels_last, g.channels, g.in_plane(), p.n, p.c, s)]);
      sum += power_mean_exponent_term(power_base(r.base, x, r.clamp_min) / y, exponent, log);
    });
    const acc_t scale = r.numerator / static_cast<acc_t>(box.padded_count());
    partial[out_linear] = static_cast<acc_t>(grad_output[out_linear]) * y * scale / exponent * sum;
  }
};

}  // namespace pooling_ext
