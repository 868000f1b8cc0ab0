// The CPU loops of the window-sum family (average, LP, GeM), parallel with
// at::parallel_for and written so the compiler vectorises them:
//   contiguous:    each output row accumulates tap by tap across the whole
//                  row of interior outputs (a loop over output width); the
//                  backward scatters one (n, c) plane per task, in order
//                  (strided rows permuted to phase-major order first);
//   channels-last: loops across channels, per output (forward) or per input
//                  position gathering its covering outputs (backward);
//   global window: one reduction per plane, in vector lanes.
// What a window adds up is a Term (the average's x, or base(x)^p with small
// integer p unrolled); windows the loops leave out (borders, overflowing
// power sums, extreme-|x| reductions) run the shared bodies themselves, so
// every result follows the rules of kernels/sum_pool_bodies.h. Every order of
// accumulation is fixed: results do not depend on the thread count (global
// sums run in vector lanes: float and double averages in one order on every
// ISA clone, other terms in an order that depends on the clone only).
#pragma once

#include <ATen/Parallel.h>

#include <cmath>
#include <cstring>
#include <type_traits>
#include <vector>

#include "../kernels/sum_pool_bodies.h"
#include "isa_clones.h"
#include "loop_support.h"

namespace pooling_ext {
namespace cpu {

// ---------------------------------------------------------------- terms

// Natural log of a positive normal float without a library call, so loops
// using it vectorise: exponent from the bits, the mantissa m in
// [sqrt(1/2), sqrt(2)) through log(m) = 2 atanh((m-1)/(m+1)) (series to s^9:
// relative error ~1e-9, below float rounding).
POOLING_EXT_ALWAYS_INLINE float vector_friendly_log(float v) {
  const int32_t bits = bits_as<int32_t>(v);
  int32_t exponent = ((bits >> 23) & 0xff) - 127;
  float m = bits_as<float>((bits & 0x7fffff) | 0x3f800000);
  // Both arms computed, then selected: a multiplication under a condition is
  // not if-converted (it might trap), which would keep the loop scalar.
  const bool high = m > 1.41421356f;
  const float halved = m * 0.5f;
  m = high ? halved : m;
  exponent += static_cast<int32_t>(high);
  const float s = (m - 1.0f) / (m + 1.0f);
  const float s2 = s * s;
  const float series = s * (2.0f + s2 * (2.0f / 3 + s2 * (2.0f / 5 + s2 * (2.0f / 7 + s2 * (2.0f / 9)))));
  return static_cast<float>(exponent) * 0.693147180559945f + series;
}
POOLING_EXT_ALWAYS_INLINE double vector_friendly_log(double v) { return std::log(v); }

template <typename acc_t>
struct AverageTerm {
  static constexpr bool kAverage = true;
  POOLING_EXT_ALWAYS_INLINE acc_t value(acc_t x) const { return x; }
};

// base(x)^p; kPower 1, 2, 3, 4 unrolled, 0 for any other p (known at run time).
template <typename acc_t, int kPower, PowerBase kBase>
struct PowerTerm {
  static constexpr bool kAverage = false;
  acc_t p;
  acc_t clamp_min;

  POOLING_EXT_ALWAYS_INLINE acc_t base(acc_t x) const {
    if constexpr (kBase == PowerBase::kAbsolute) {
      return std::abs(x);
    } else if constexpr (kBase == PowerBase::kClampMin) {
      return x < clamp_min ? clamp_min : x;
    } else {
      return x;
    }
  }
  POOLING_EXT_ALWAYS_INLINE acc_t slope(acc_t x) const {
    if constexpr (kBase == PowerBase::kAbsolute) {
      return x > acc_t(0) ? acc_t(1) : (x < acc_t(0) ? acc_t(-1) : acc_t(0));
    } else if constexpr (kBase == PowerBase::kClampMin) {
      return x >= clamp_min ? acc_t(1) : acc_t(0);
    } else {
      return acc_t(1);
    }
  }
  POOLING_EXT_ALWAYS_INLINE acc_t value(acc_t x) const {
    const acc_t b = base(x);
    if constexpr (kPower == 1) return b;
    if constexpr (kPower == 2) return b * b;
    if constexpr (kPower == 3) return b * b * b;
    if constexpr (kPower == 4) return (b * b) * (b * b);
    return power(b, p);
  }
  // The window's value from its power sum (power_mean_root with p known at
  // compile time for the unrolled powers, so its branches fold and it vectorises).
  POOLING_EXT_ALWAYS_INLINE acc_t root(acc_t sum, acc_t padded, acc_t numerator) const {
    return power_mean_root(sum, padded, numerator, kPower == 0 ? p : acc_t(kPower));
  }
  // (base(x) / y)^(p-1) * base'(x) given inv_y = 1 / y, zero where y = 0 (inv_y = 0).
  POOLING_EXT_ALWAYS_INLINE acc_t grad(acc_t x, acc_t inv_y) const {
    const acc_t ratio = base(x) * inv_y;
    if constexpr (kPower == 1) return inv_y == acc_t(0) ? acc_t(0) : slope(x);  // ratio^0, zero where y = 0
    if constexpr (kPower == 2) return ratio * slope(x);
    if constexpr (kPower == 3) return ratio * ratio * slope(x);
    if constexpr (kPower == 4) return ratio * ratio * ratio * slope(x);
    return inv_y == acc_t(0) ? acc_t(0) : power(ratio, p - acc_t(1)) * slope(x);
  }
  // u^p ln u with u = base(x) / y: GeM's gradient with respect to p, per input.
  POOLING_EXT_ALWAYS_INLINE acc_t exponent_grad(acc_t x, acc_t inv_y) const {
    const acc_t u = base(x) * inv_y;
    acc_t raised;
    if constexpr (kPower == 1) {
      raised = u;
    } else if constexpr (kPower == 2) {
      raised = u * u;
    } else if constexpr (kPower == 3) {
      raised = u * u * u;
    } else if constexpr (kPower == 4) {
      raised = (u * u) * (u * u);
    } else {
      raised = power(u, p);
    }
    // log(1) = 0 makes the term zero where u = 0, without a branch (which would stop vectorisation).
    const acc_t positive_u = u > acc_t(0) ? u : acc_t(1);
    return raised * vector_friendly_log(positive_u);
  }
};

// Calls f(term) with the Term of the body's reduction (average or power mean).
template <typename acc_t, class F>
void with_term(const ReductionSpec<acc_t>& r, const F& f) {
  if (r.reduction == WindowReduction::kAverage) {
    f(AverageTerm<acc_t>{});
    return;
  }
  if constexpr (!std::is_integral_v<acc_t>) {
    const acc_t p = r.exponent();
    auto with_base = [&](auto base) {
      constexpr PowerBase kBase = decltype(base)::value;
      if (p == acc_t(1)) {
        f(PowerTerm<acc_t, 1, kBase>{p, r.clamp_min});
      } else if (p == acc_t(2)) {
        f(PowerTerm<acc_t, 2, kBase>{p, r.clamp_min});
      } else if (p == acc_t(3)) {
        f(PowerTerm<acc_t, 3, kBase>{p, r.clamp_min});
      } else if (p == acc_t(4)) {
        f(PowerTerm<acc_t, 4, kBase>{p, r.clamp_min});
      } else {
        f(PowerTerm<acc_t, 0, kBase>{p, r.clamp_min});
      }
    };
    if (r.base == PowerBase::kAbsolute) {
      with_base(std::integral_constant<PowerBase, PowerBase::kAbsolute>{});
    } else if (r.base == PowerBase::kClampMin) {
      with_base(std::integral_constant<PowerBase, PowerBase::kClampMin>{});
    } else {
      with_base(std::integral_constant<PowerBase, PowerBase::kSigned>{});
    }
  }
}

// The value of an interior window from its sum: the average, or the power
// mean's root (NaN-free overflow handling is the body's: `fallback`).
template <class Term, typename acc_t>
struct WindowFinish {
  const ReductionSpec<acc_t>& r;
  int64_t divisor;   // average
  acc_t padded;      // power mean: padded window size
  acc_t p;

  template <class Fallback>
  acc_t operator()(acc_t sum, const Fallback& fallback) const {
    if constexpr (Term::kAverage) {
      return sum / static_cast<acc_t>(divisor);
    } else {
      if (!is_finite_value(sum)) return fallback();
      return power_mean_root(sum, padded, r.numerator, p);
    }
  }
};

template <typename acc_t, class Term>
WindowFinish<Term, acc_t> window_finish(const ReductionSpec<acc_t>& r, const WindowBox<int64_t>& box) {
  if constexpr (Term::kAverage) {
    return {r, average_divisor(r, box), acc_t(0), acc_t(0)};
  } else {
    return {r, 1, static_cast<acc_t>(box.padded_count()), r.exponent()};
  }
}

// Per-dim tables of the window extents of every output position.
struct ExtentTables {
  std::vector<WindowExtent<int64_t>> dim[kMaxSpatialDims];

  explicit ExtentTables(const PoolGeometry& g) {
    for (int d = 0; d < kMaxSpatialDims; ++d) {
      dim[d] = per_position_table(
          g.out[d], [&](int64_t o) { return dim_window_extent(g, d, o); });
    }
  }
  WindowBox<int64_t> box(int64_t od, int64_t oh, int64_t ow) const {
    return WindowBox<int64_t>{dim[0][od], dim[1][oh], dim[2][ow]};
  }
  // For windows that do not overlap: whether they leave no input uncovered
  // (their lengths inside the input add up to its size in every dim).
  bool disjoint_windows_cover_input(const PoolGeometry& g) const {
    for (int d = 0; d < kMaxSpatialDims; ++d) {
      int64_t covered = 0;
      for (const WindowExtent<int64_t>& e : dim[d]) covered += e.end - e.first;
      if (covered != g.in[d]) return false;
    }
    return true;
  }
};

// The average's divisor of every output position of a plane (table-driven
// loops look it up instead of recomputing the window).
template <typename acc_t>
std::vector<acc_t> divisor_table(const ReductionSpec<acc_t>& r, const PoolGeometry& g, const ExtentTables& extents) {
  std::vector<acc_t> divisor(g.out_plane());
  for (int64_t od = 0, o = 0; od < g.out[0]; ++od) {
    for (int64_t oh = 0; oh < g.out[1]; ++oh) {
      for (int64_t ow = 0; ow < g.out[2]; ++ow, ++o) {
        divisor[o] = static_cast<acc_t>(average_divisor(r, extents.box(od, oh, ow)));
      }
    }
  }
  return divisor;
}

// 1 / divisor of every output position, so the backward loops do no division.
template <typename acc_t>
std::vector<acc_t> inverse_divisor_table(const ReductionSpec<acc_t>& r, const PoolGeometry& g,
                                         const ExtentTables& extents) {
  std::vector<acc_t> inverse = divisor_table(r, g, extents);
  for (acc_t& v : inverse) v = acc_t(1) / v;
  return inverse;
}

// Per-dim tables of the outputs whose windows cover each input position.
struct CoveringTables {
  std::vector<OutRange<int64_t>> dim[kMaxSpatialDims];

  explicit CoveringTables(const PoolGeometry& g) {
    for (int d = 0; d < kMaxSpatialDims; ++d) {
      dim[d] = per_position_table(g.in[d], [&](int64_t i) { return dim_covering_outputs(g, d, i); });
    }
  }
  // f(od, oh, ow, linear output position) for each output covering the
  // cursor's input position, in output order.
  template <class F>
  void for_each_output(const PoolGeometry& g, const PositionCursor& at, const F& f) const {
    const OutRange<int64_t>& rd = dim[0][at.d];
    const OutRange<int64_t>& rh = dim[1][at.h];
    const OutRange<int64_t>& rw = dim[2][at.w];
    for (int64_t od = rd.first; od <= rd.last; ++od) {
      for (int64_t oh = rh.first; oh <= rh.last; ++oh) {
        for (int64_t ow = rw.first; ow <= rw.last; ++ow) {
          f(od, oh, ow, at.n * g.out_plane() + (od * g.out[1] + oh) * g.out[2] + ow);
        }
      }
    }
  }
};

// ---------------------------------------------------------------- contiguous forward

// sums[ow] += term(x[ow * stride + offset]) for the interior outputs.
template <int kStride, typename scalar_t, typename acc_t, class Term>
POOLING_EXT_ISA_CLONES void add_tap_across_row(const scalar_t* __restrict__ x, acc_t* __restrict__ sums, int64_t first, int64_t end,
                               int64_t stride, int64_t offset, const Term& term) {
  const int64_t s = kStride > 0 ? kStride : stride;
  for (int64_t ow = first; ow < end; ++ow) sums[ow] += term.value(static_cast<acc_t>(x[ow * s + offset]));
}

// Output positions [first, end) along W whose window lies inside the input
// and starts at ow * stride - pad (none for adaptive windows, whose outputs
// all run the body).
inline std::pair<int64_t, int64_t> interior_range(const PoolGeometry& g) {
  if (g.adaptive) return {0, 0};
  const int64_t s = g.stride[2], p = g.pad[2];
  const int64_t first = std::min(g.out[2], (p + s - 1) / s);
  const int64_t last_ok = g.in[2] - g.kernel[2] + p;  // ow * s <= last_ok
  const int64_t end = last_ok < 0 ? 0 : std::min(g.out[2], last_ok / s + 1);
  return {first, std::max(first, end)};
}

template <int kStride, typename scalar_t, class Term>
void forward_rows(const WindowSumForwardBody<scalar_t, int64_t>& body, const Term& term) {
  using acc_t = at::opmath_type<scalar_t>;
  const PoolGeometry& g = body.g;
  const ExtentTables extents(g);
  const auto [first, end] = interior_range(g);
  const int64_t rows = g.batch * g.channels * g.out[0] * g.out[1];
  at::parallel_for(0, rows, grain_for(g.out[2] * g.kernel_volume()), [&](int64_t begin, int64_t stop) {
    std::vector<acc_t> sum_buffer(g.out[2]);
    acc_t* sums = sum_buffer.data();
    for (int64_t row = begin; row < stop; ++row) {
      const int64_t oh = row % g.out[1];
      const int64_t od = (row / g.out[1]) % g.out[0];
      const int64_t nc = row / (g.out[1] * g.out[0]);
      const int64_t n = nc / g.channels, c = nc % g.channels;
      const scalar_t* plane = body.input + nc * g.in_plane();
      scalar_t* out = body.output + row * g.out[2];
      const WindowExtent<int64_t>& ed = extents.dim[0][od];
      const WindowExtent<int64_t>& eh = extents.dim[1][oh];
      std::fill(sums + first, sums + end, acc_t(0));
      for (int64_t id = ed.first; id < ed.end; ++id) {
        for (int64_t ih = eh.first; ih < eh.end; ++ih) {
          const scalar_t* x = plane + (id * g.in[1] + ih) * g.in[2];
          for (int64_t tw = 0; tw < g.kernel[2]; ++tw) {
            add_tap_across_row<kStride>(x, sums, first, end, g.stride[2], tw - g.pad[2], term);
          }
        }
      }
      if (first < end) {
        const auto finish = window_finish<acc_t, Term>(body.r, extents.box(od, oh, first));
        for (int64_t ow = first; ow < end; ++ow) {
          out[ow] = static_cast<scalar_t>(finish(sums[ow], [&] { return static_cast<acc_t>(body.compute(n, c, od, oh, ow)); }));
        }
      }
      // Border (and adaptive) windows: the body, with extents from the tables.
      for (int64_t ow = 0; ow < first; ++ow) out[ow] = body.compute_box(n, c, extents.box(od, oh, ow));
      for (int64_t ow = end; ow < g.out[2]; ++ow) out[ow] = body.compute_box(n, c, extents.box(od, oh, ow));
    }
  });
}

// Average pooling's contiguous forward for windows without a fixed stride
// (adaptive): per plane, each output sums its window in the body's order
// (d, h, w) with extents from the tables, and divides as the body does.
template <typename scalar_t>
void average_forward_table_planes(const WindowSumForwardBody<scalar_t, int64_t>& body) {
  using acc_t = at::opmath_type<scalar_t>;
  const PoolGeometry& g = body.g;
  const ExtentTables extents(g);
  const std::vector<acc_t> divisor = divisor_table(body.r, g, extents);
  at::parallel_for(0, g.batch * g.channels, grain_for(g.in_plane() * 2), [&](int64_t begin, int64_t stop) {
    for (int64_t plane = begin; plane < stop; ++plane) {
      const scalar_t* x = body.input + plane * g.in_plane();
      scalar_t* out = body.output + plane * g.out_plane();
      int64_t o = 0;
      for (int64_t od = 0; od < g.out[0]; ++od) {
        for (int64_t oh = 0; oh < g.out[1]; ++oh) {
          for (int64_t ow = 0; ow < g.out[2]; ++ow, ++o) {
            const WindowBox<int64_t> box = extents.box(od, oh, ow);
            acc_t sum = acc_t(0);
            for (int64_t id = box.d.first; id < box.d.end; ++id) {
              for (int64_t ih = box.h.first; ih < box.h.end; ++ih) {
                const scalar_t* row = x + (id * g.in[1] + ih) * g.in[2];
                for (int64_t iw = box.w.first; iw < box.w.end; ++iw) sum += static_cast<acc_t>(row[iw]);
              }
            }
            out[o] = static_cast<scalar_t>(sum / divisor[o]);
          }
        }
      }
    }
  });
}

// ---------------------------------------------------------------- contiguous backward

// grad_in[ow * stride + offset] += weight[ow] * term.grad(x[...], inv_y[ow]) for
// the interior outputs (the average's share is the weight itself).
template <int kStride, typename scalar_t, typename acc_t, class Term>
POOLING_EXT_ISA_CLONES void scatter_tap_across_row(acc_t* __restrict__ grad_in, const scalar_t* __restrict__ x,
                                   const acc_t* __restrict__ weight, const acc_t* __restrict__ inv_y, int64_t first,
                                   int64_t end, int64_t stride, int64_t offset, const Term& term) {
  const int64_t s = kStride > 0 ? kStride : stride;
  for (int64_t ow = first; ow < end; ++ow) {
    if constexpr (Term::kAverage) {
      grad_in[ow * s + offset] += weight[ow];
    } else {
      grad_in[ow * s + offset] += weight[ow] * term.grad(static_cast<acc_t>(x[ow * s + offset]), inv_y[ow]);
    }
  }
}

// Rows with stride s > 1 accumulate in phase-major order: within each row the
// inputs iw = phase + s * j of one phase are stored together. Output ow's tap
// tw reaches j = ow - q of phase (tw - pad) mod s, so every tap becomes a
// contiguous loop; the plane is permuted once on the way in (x) and out (the
// gradient) instead of every tap striding through memory.
struct PhaseLayout {
  std::vector<int64_t> position;  // iw -> index within the row in phase-major order
  std::vector<int64_t> offset;    // phase -> its first index
  std::vector<int64_t> count;     // phase -> number of inputs

  PhaseLayout(int64_t width, int64_t stride) : position(width), offset(stride), count(stride) {
    int64_t next = 0;
    for (int64_t phase = 0; phase < stride; ++phase) {
      offset[phase] = next;
      count[phase] = phase < width ? (width - phase + stride - 1) / stride : 0;
      for (int64_t j = 0; j < count[phase]; ++j) position[phase + stride * j] = next + j;
      next += count[phase];
    }
  }
};

template <typename scalar_t, typename acc_t, class Term>
POOLING_EXT_ISA_CLONES void add_tap_in_phase(acc_t* __restrict__ acc, const acc_t* __restrict__ x,
                                             const acc_t* __restrict__ weight, const acc_t* __restrict__ inv_y,
                                             int64_t q, int64_t j_begin, int64_t j_end, const Term& term) {
  for (int64_t j = j_begin; j < j_end; ++j) {  // input j of the phase takes output j + q
    if constexpr (Term::kAverage) {
      acc[j] += weight[j + q];
    } else {
      acc[j] += weight[j + q] * term.grad(x[j], inv_y[j + q]);
    }
  }
}

// dst[j] = src[j * stride] and back: the permutation into and out of phase-major rows.
// (kStride > 0: the stride at compile time, which lets these loops vectorise.)
template <int kStride, typename scalar_t, typename acc_t>
POOLING_EXT_ISA_CLONES void load_strided(const scalar_t* __restrict__ src, int64_t stride, acc_t* __restrict__ dst,
                                         int64_t count) {
  const int64_t step = kStride > 0 ? kStride : stride;
  for (int64_t j = 0; j < count; ++j) dst[j] = static_cast<acc_t>(src[j * step]);
}

template <int kStride, typename scalar_t, typename acc_t>
POOLING_EXT_ISA_CLONES void store_strided(const acc_t* __restrict__ src, scalar_t* __restrict__ dst, int64_t stride,
                                          int64_t count) {
  const int64_t step = kStride > 0 ? kStride : stride;
  for (int64_t j = 0; j < count; ++j) dst[j * step] = static_cast<scalar_t>(src[j]);
}

// The d and h factor of the divisor of a row of outputs (see width_factor).
template <typename acc_t>
acc_t divisor_factor(const ReductionSpec<acc_t>& r, const WindowExtent<int64_t>& ed, const WindowExtent<int64_t>& eh,
                     bool average) {
  if (average && r.divisor_override != 0) return static_cast<acc_t>(r.divisor_override);
  if (!average || r.count_include_pad) return static_cast<acc_t>(ed.padded * eh.padded);
  return static_cast<acc_t>((ed.end - ed.first) * (eh.end - eh.first));
}

// Per output of a row: the average's share grad / divisor, or the power
// mean's grad * numerator / divisor and 1 / y (both zero where y = 0).
template <typename scalar_t, typename acc_t, bool kAverage>
POOLING_EXT_ISA_CLONES void row_weights(const scalar_t* __restrict__ grad, const scalar_t* __restrict__ out,
                                        const acc_t* __restrict__ width_factor, acc_t row_factor, acc_t numerator,
                                        acc_t* __restrict__ weight, acc_t* __restrict__ inv_y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const acc_t g = static_cast<acc_t>(grad[i]);
    if constexpr (kAverage) {
      weight[i] = g / (row_factor * width_factor[i]);
    } else {
      const acc_t y = static_cast<acc_t>(out[i]);
      const bool zero = y == acc_t(0);
      weight[i] = zero ? acc_t(0) : g * (numerator / (row_factor * width_factor[i]));
      inv_y[i] = zero ? acc_t(0) : acc_t(1) / y;
    }
  }
}

template <int kStride, typename scalar_t, class Term>
void backward_planes(const WindowSumBackwardBody<scalar_t, int64_t>& body, const Term& term) {
  using acc_t = at::opmath_type<scalar_t>;
  const PoolGeometry& g = body.g;
  const ReductionSpec<acc_t>& r = body.r;
  const ExtentTables extents(g);
  const auto [first, end] = interior_range(g);
  const int64_t W = g.in[2], s = g.stride[2];
  const bool by_phase = s > 1;
  const PhaseLayout layout(W, by_phase ? s : 1);
  std::vector<int64_t> tap_phase(g.kernel[2]), tap_shift(g.kernel[2]);
  for (int64_t tw = 0; tw < g.kernel[2]; ++tw) {
    tap_phase[tw] = ((tw - g.pad[2]) % s + s) % s;
    tap_shift[tw] = (tw - g.pad[2] - tap_phase[tw]) / s;
  }
  // float and double accumulate in grad_input itself unless permuted; half
  // and bfloat16 always in a float plane, rounded at the end.
  const bool in_place = std::is_same_v<acc_t, scalar_t> && !by_phase;
  // Each output's divisor is (d and h factor) * width_factor[ow], products of
  // small integers (exact in floating point).
  std::vector<acc_t> width_factor(g.out[2]);
  for (int64_t ow = 0; ow < g.out[2]; ++ow) {
    const WindowExtent<int64_t>& ew = extents.dim[2][ow];
    const bool padded = !Term::kAverage || r.count_include_pad;
    width_factor[ow] = Term::kAverage && r.divisor_override != 0 ? acc_t(1)
                                                                   : static_cast<acc_t>(padded ? ew.padded : ew.end - ew.first);
  }
  const int64_t planes = g.batch * g.channels;
  at::parallel_for(0, planes, grain_for(g.in_plane() * 2), [&](int64_t begin, int64_t stop) {
    std::vector<acc_t> buffer(in_place ? 0 : g.in_plane());
    std::vector<acc_t> permuted_x(by_phase && !Term::kAverage ? g.in_plane() : 0);
    std::vector<acc_t> weight(g.out[2]), inv_y(g.out[2]);
    for (int64_t plane = begin; plane < stop; ++plane) {
      scalar_t* grad_in = body.grad_input + plane * g.in_plane();
      acc_t* acc = in_place ? reinterpret_cast<acc_t*>(grad_in) : buffer.data();
      std::fill(acc, acc + g.in_plane(), acc_t(0));
      const scalar_t* grad = body.grad_output + plane * g.out_plane();
      const scalar_t* out = Term::kAverage ? nullptr : body.output + plane * g.out_plane();
      const scalar_t* x_plane = Term::kAverage ? nullptr : body.input + plane * g.in_plane();
      if (by_phase && !Term::kAverage) {
        for (int64_t row = 0; row < g.in_plane(); row += W) {
          for (int64_t phase = 0; phase < s; ++phase) {
            load_strided<kStride, scalar_t, acc_t>(x_plane + row + phase, s, permuted_x.data() + row + layout.offset[phase],
                                          layout.count[phase]);
          }
        }
      }
      for (int64_t od = 0; od < g.out[0]; ++od) {
        for (int64_t oh = 0; oh < g.out[1]; ++oh) {
          const int64_t o_row = (od * g.out[1] + oh) * g.out[2];
          const WindowExtent<int64_t>& ed = extents.dim[0][od];
          const WindowExtent<int64_t>& eh = extents.dim[1][oh];
          row_weights<scalar_t, acc_t, Term::kAverage>(grad + o_row, Term::kAverage ? nullptr : out + o_row,
                                                       width_factor.data(), divisor_factor(r, ed, eh, Term::kAverage),
                                                       Term::kAverage ? acc_t(1) : r.numerator, weight.data(),
                                                       inv_y.data(), g.out[2]);
          for (int64_t id = ed.first; id < ed.end; ++id) {
            for (int64_t ih = eh.first; ih < eh.end; ++ih) {
              const int64_t row = (id * g.in[1] + ih) * W;
              acc_t* a = acc + row;
              if (!by_phase) {
                const scalar_t* x = Term::kAverage ? nullptr : x_plane + row;
                for (int64_t tw = 0; tw < g.kernel[2]; ++tw) {
                  scatter_tap_across_row<kStride>(a, x, weight.data(), inv_y.data(), first, end, s, tw - g.pad[2],
                                                  term);
                }
              } else {
                const acc_t* x = Term::kAverage ? nullptr : permuted_x.data() + row;
                for (int64_t tw = 0; tw < g.kernel[2]; ++tw) {
                  const int64_t phase = tap_phase[tw];
                  const int64_t q = tap_shift[tw];  // input j of the phase <- output ow = j - q
                  const int64_t j_begin = std::max<int64_t>(first + q, 0);
                  const int64_t j_end = std::min<int64_t>(end + q, layout.count[phase]);
                  if (j_begin >= j_end) continue;
                  const int64_t at = layout.offset[phase];
                  add_tap_in_phase<scalar_t, acc_t>(a + at, Term::kAverage ? nullptr : x + at, weight.data(),
                                                    inv_y.data(), -q, j_begin, j_end, term);
                }
              }
              auto border = [&](int64_t ow) {
                const WindowExtent<int64_t>& ew = extents.dim[2][ow];
                for (int64_t iw = ew.first; iw < ew.end; ++iw) {
                  const int64_t i = by_phase ? layout.position[iw] : iw;
                  if constexpr (Term::kAverage) {
                    a[i] += weight[ow];
                  } else {
                    const acc_t xv = by_phase ? permuted_x[row + i] : static_cast<acc_t>(x_plane[row + iw]);
                    a[i] += weight[ow] * term.grad(xv, inv_y[ow]);
                  }
                }
              };
              for (int64_t ow = 0; ow < first; ++ow) border(ow);
              for (int64_t ow = end; ow < g.out[2]; ++ow) border(ow);
            }
          }
        }
      }
      if (by_phase) {
        for (int64_t row = 0; row < g.in_plane(); row += W) {
          for (int64_t phase = 0; phase < s; ++phase) {
            store_strided<kStride, scalar_t, acc_t>(acc + row + layout.offset[phase], grad_in + row + phase, s,
                                           layout.count[phase]);
          }
        }
      } else if (!in_place) {
        for (int64_t i = 0; i < g.in_plane(); ++i) grad_in[i] = static_cast<scalar_t>(acc[i]);
      }
    }
  });
}

// ---------------------------------------------------------------- global window (contiguous)


// 64 bytes of float or double lanes as a GCC vector: one AVX-512 register,
// two AVX2 or four SSE registers, the same arithmetic on every ISA clone.
template <typename acc_t>
struct LaneVectors {
  static constexpr int kLanes = 64 / sizeof(acc_t);
  typedef acc_t Full __attribute__((vector_size(64)));
  typedef acc_t Half __attribute__((vector_size(32)));
  typedef acc_t Quarter __attribute__((vector_size(16)));
  using LaneInt = std::conditional_t<sizeof(acc_t) == 4, int32_t, int64_t>;
  typedef LaneInt FullInt __attribute__((vector_size(64)));
};

// The lanes' sum by halving (a fixed tree, the same on every ISA clone).
template <typename acc_t>
POOLING_EXT_ALWAYS_INLINE acc_t sum_of_lanes(const typename LaneVectors<acc_t>::Full& lanes) {
  using V = LaneVectors<acc_t>;
  typename V::Half low, high;
  std::memcpy(&low, &lanes, sizeof(low));
  std::memcpy(&high, reinterpret_cast<const char*>(&lanes) + sizeof(low), sizeof(high));
  const typename V::Half half = low + high;
  typename V::Quarter first, second;
  std::memcpy(&first, &half, sizeof(first));
  std::memcpy(&second, reinterpret_cast<const char*>(&half) + sizeof(first), sizeof(second));
  const typename V::Quarter quarter = first + second;
  if constexpr (V::kLanes == 16) return (quarter[0] + quarter[2]) + (quarter[1] + quarter[3]);
  return quarter[0] + quarter[1];
}

// The plain sums of `planes` consecutive float or double planes (the
// average's global window): 64-byte lanes, a plane's last partial vector read
// whole with the lanes past the plane zeroed where that stays below
// `readable_end`, and a halving tree at the end. A plane of a network head is
// 49 elements: a compiler's in-order horizontal sum would cost more than its
// loads.
template <typename acc_t>
POOLING_EXT_ISA_CLONES void sum_float_planes(const acc_t* __restrict__ x, int64_t planes, int64_t plane_size,
                                             acc_t* __restrict__ sums, const acc_t* readable_end) {
  using V = LaneVectors<acc_t>;
  constexpr int kLanes = V::kLanes;
  const int64_t whole = plane_size - plane_size % kLanes;
  const int64_t tail = plane_size - whole;
  typename V::FullInt lane_index;
  for (int l = 0; l < kLanes; ++l) lane_index[l] = l;
  const typename V::FullInt in_tail = lane_index < static_cast<typename V::LaneInt>(tail);
  for (int64_t p = 0; p < planes; ++p) {
    const acc_t* __restrict__ plane = x + p * plane_size;
    typename V::Full lanes = {};
    for (int64_t i = 0; i < whole; i += kLanes) {
      typename V::Full chunk;
      std::memcpy(&chunk, plane + i, sizeof(chunk));
      lanes += chunk;
    }
    if (tail != 0 && plane + whole + kLanes <= readable_end) {
      typename V::Full chunk;
      std::memcpy(&chunk, plane + whole, sizeof(chunk));
      lanes += in_tail ? chunk : typename V::Full{};
      sums[p] = sum_of_lanes<acc_t>(lanes);
    } else {
      acc_t sum = sum_of_lanes<acc_t>(lanes);
      for (int64_t i = whole; i < plane_size; ++i) sum += plane[i];
      sums[p] = sum;
    }
  }
}

// The sums of `planes` consecutive planes of plane_size elements through any
// term, in one call (a call per plane would cost as much as its sum).
template <typename scalar_t, typename acc_t, class Term>
POOLING_EXT_ISA_CLONES void sum_planes_in_lanes(const scalar_t* __restrict__ x, int64_t planes, int64_t plane_size,
                                                acc_t* __restrict__ sums, const Term& term) {
  for (int64_t p = 0; p < planes; ++p) {
    const scalar_t* __restrict__ plane = x + p * plane_size;
    // The vector lanes are the independent partial sums: the order depends on
    // the ISA clone only, never on threads or timing.
    acc_t sum = acc_t(0);
#pragma omp simd reduction(+ : sum)
    for (int64_t i = 0; i < plane_size; ++i) sum += term.value(static_cast<acc_t>(plane[i]));
    sums[p] = sum;
  }
}

template <typename scalar_t, class Term>
void forward_global(const WindowSumForwardBody<scalar_t, int64_t>& body, const Term& term) {
  using acc_t = at::opmath_type<scalar_t>;
  const PoolGeometry& g = body.g;
  const WindowBox<int64_t> box = window_box<int64_t>(g, 0, 0, 0);
  const auto finish = window_finish<acc_t, Term>(body.r, box);
  const int64_t planes = g.batch * g.channels;
  at::parallel_for(0, planes, grain_for(g.in_plane()), [&](int64_t begin, int64_t stop) {
    std::vector<acc_t> sums(stop - begin);
    const scalar_t* planes_start = body.input + begin * g.in_plane();
    if constexpr (Term::kAverage && std::is_same_v<scalar_t, acc_t>) {
      sum_float_planes<acc_t>(planes_start, stop - begin, g.in_plane(), sums.data(), body.input + g.in_numel());
    } else {
      sum_planes_in_lanes<scalar_t, acc_t>(planes_start, stop - begin, g.in_plane(), sums.data(), term);
    }
    for (int64_t plane = begin; plane < stop; ++plane) {
      body.output[plane] = static_cast<scalar_t>(finish(sums[plane - begin], [&] {
        return static_cast<acc_t>(body.compute(plane / g.channels, plane % g.channels, 0, 0, 0));
      }));
    }
  });
}

// Average pooling's global backward: each plane filled with its gradient over
// the divisor, a span of planes per call.
template <typename scalar_t, typename acc_t>
POOLING_EXT_ISA_CLONES void spread_average_over_planes(scalar_t* __restrict__ grad_in, const scalar_t* __restrict__ grad,
                                                       int64_t planes, int64_t plane_size, acc_t divisor) {
  for (int64_t p = 0; p < planes; ++p) {
    const scalar_t share = static_cast<scalar_t>(static_cast<acc_t>(grad[p]) / divisor);
    scalar_t* __restrict__ plane = grad_in + p * plane_size;
    for (int64_t i = 0; i < plane_size; ++i) plane[i] = share;
  }
}

template <typename scalar_t, typename acc_t, class Term>
POOLING_EXT_ISA_CLONES void spread_over_plane(scalar_t* __restrict__ grad_in, const scalar_t* __restrict__ x, int64_t count,
                              acc_t weight, acc_t inv_y, const Term& term) {
  for (int64_t i = 0; i < count; ++i) {
    if constexpr (Term::kAverage) {
      grad_in[i] = static_cast<scalar_t>(weight);
    } else {
      grad_in[i] = static_cast<scalar_t>(weight * term.grad(static_cast<acc_t>(x[i]), inv_y));
    }
  }
}

template <typename scalar_t, class Term>
void backward_global(const WindowSumBackwardBody<scalar_t, int64_t>& body, const Term& term) {
  using acc_t = at::opmath_type<scalar_t>;
  const PoolGeometry& g = body.g;
  const ReductionSpec<acc_t>& r = body.r;
  const WindowBox<int64_t> box = window_box<int64_t>(g, 0, 0, 0);
  const int64_t planes = g.batch * g.channels;
  at::parallel_for(0, planes, grain_for(g.in_plane() * 2), [&](int64_t begin, int64_t stop) {
    if constexpr (Term::kAverage) {
      return spread_average_over_planes<scalar_t, acc_t>(body.grad_input + begin * g.in_plane(),
                                                         body.grad_output + begin, stop - begin, g.in_plane(),
                                                         static_cast<acc_t>(average_divisor(r, box)));
    }
    for (int64_t plane = begin; plane < stop; ++plane) {
      const acc_t gv = static_cast<acc_t>(body.grad_output[plane]);
      acc_t weight, inv_y = acc_t(0);
      if constexpr (Term::kAverage) {
        weight = gv / static_cast<acc_t>(average_divisor(r, box));
      } else {
        const acc_t y = static_cast<acc_t>(body.output[plane]);
        weight = y == acc_t(0) ? acc_t(0) : gv * (r.numerator / static_cast<acc_t>(box.padded_count()));
        inv_y = y == acc_t(0) ? acc_t(0) : acc_t(1) / y;
      }
      const scalar_t* x = Term::kAverage ? nullptr : body.input + plane * g.in_plane();
      spread_over_plane<scalar_t, acc_t>(body.grad_input + plane * g.in_plane(), x, g.in_plane(), weight, inv_y,
                                         term);
    }
  });
}

// ---------------------------------------------------------------- channels-last

template <typename scalar_t, typename acc_t, class Term>
POOLING_EXT_ALWAYS_INLINE void add_row_across_channels_inline(const scalar_t* __restrict__ x, acc_t* __restrict__ sums,
                                                              int64_t C, const Term& term) {
  for (int64_t c = 0; c < C; ++c) sums[c] += term.value(static_cast<acc_t>(x[c]));
}

template <typename scalar_t, typename acc_t, class Term>
POOLING_EXT_ISA_CLONES void add_row_across_channels(const scalar_t* __restrict__ x, acc_t* __restrict__ sums, int64_t C,
                                                    const Term& term) {
  add_row_across_channels_inline<scalar_t, acc_t>(x, sums, C, term);
}

// Row loops with restrict-qualified parameters (GCC ignores restrict on
// local pointers, and without it these loops need run-time alias checks).
template <typename scalar_t, typename acc_t>
POOLING_EXT_ALWAYS_INLINE void start_sums(const scalar_t* __restrict__ a, const scalar_t* __restrict__ b, acc_t* __restrict__ sums,
                       int64_t C) {
  for (int64_t c = 0; c < C; ++c) sums[c] = static_cast<acc_t>(a[c]) + static_cast<acc_t>(b[c]);
}

template <typename scalar_t, typename acc_t>
POOLING_EXT_ALWAYS_INLINE void add_to_sums(const scalar_t* __restrict__ row, acc_t* __restrict__ sums, int64_t C) {
  for (int64_t c = 0; c < C; ++c) sums[c] += static_cast<acc_t>(row[c]);
}

// sum / divisor as a division, or as a multiplication by the reciprocal where
// that is exact (a power-of-two divisor: 2x2 and 2x2x2 windows), which gives
// the same result without the division whose throughput limits these loops
// when the data is in cache.
template <typename acc_t>
struct DivideBy {
  acc_t divisor;
  template <typename T>  // acc_t, or a vector of acc_t lanes
  POOLING_EXT_ALWAYS_INLINE T operator()(const T& sum) const { return sum / divisor; }
};
template <typename acc_t>
struct MultiplyByExactReciprocal {
  acc_t reciprocal;
  template <typename T>  // acc_t, or a vector of acc_t lanes
  POOLING_EXT_ALWAYS_INLINE T operator()(const T& sum) const { return sum * reciprocal; }
};

template <typename scalar_t, typename acc_t, class Divide>
POOLING_EXT_ALWAYS_INLINE void store_average(const acc_t* __restrict__ sums, const scalar_t* __restrict__ last,
                                             scalar_t* __restrict__ out, const Divide& divide, int64_t C) {
  for (int64_t c = 0; c < C; ++c) out[c] = static_cast<scalar_t>(divide(sums[c] + static_cast<acc_t>(last[c])));
}

template <typename scalar_t, typename acc_t, class Divide>
POOLING_EXT_ALWAYS_INLINE void average_four_rows(const scalar_t* __restrict__ a, const scalar_t* __restrict__ b,
                                                 const scalar_t* __restrict__ c2, const scalar_t* __restrict__ d,
                                                 scalar_t* __restrict__ out, const Divide& divide, int64_t C) {
  for (int64_t c = 0; c < C; ++c) {
    const acc_t sum = static_cast<acc_t>(a[c]) + static_cast<acc_t>(b[c]) + static_cast<acc_t>(c2[c]) +
                      static_cast<acc_t>(d[c]);
    out[c] = static_cast<scalar_t>(divide(sum));
  }
}

// kVectors lane vectors of float or double channels from `first`: the
// average of `count` (>= 2) rows, the sums held in registers across the rows.
template <int kVectors, typename acc_t, class Divide>
POOLING_EXT_ALWAYS_INLINE void average_channel_block(const acc_t* const* rows, int64_t count, int64_t first,
                                                     acc_t* __restrict__ out, const Divide& divide) {
  using V = LaneVectors<acc_t>;
  typename V::Full sums[kVectors];
  for (int j = 0; j < kVectors; ++j) {
    typename V::Full a, b;
    std::memcpy(&a, rows[0] + first + j * V::kLanes, sizeof(a));
    std::memcpy(&b, rows[1] + first + j * V::kLanes, sizeof(b));
    sums[j] = a + b;
  }
  for (int64_t k = 2; k < count; ++k) {
    for (int j = 0; j < kVectors; ++j) {
      typename V::Full row;
      std::memcpy(&row, rows[k] + first + j * V::kLanes, sizeof(row));
      sums[j] += row;
    }
  }
  for (int j = 0; j < kVectors; ++j) {
    const typename V::Full averages = divide(sums[j]);
    std::memcpy(out + first + j * V::kLanes, &averages, sizeof(averages));
  }
}

// The average of many (> 4) float or double rows: channel blocks whose sums
// stay in registers across all rows, instead of a pass over a sums buffer per
// row (5x faster on a global window of 196 rows of 512 channels). Same
// order of additions per channel as average_rows.
template <typename acc_t, class Divide>
POOLING_EXT_ALWAYS_INLINE void average_many_rows(const acc_t* const* rows, int64_t count, acc_t* out,
                                                 const Divide& divide, int64_t C) {
  constexpr int64_t kLanes = LaneVectors<acc_t>::kLanes;
  int64_t c = 0;
  for (; c + 4 * kLanes <= C; c += 4 * kLanes) average_channel_block<4, acc_t>(rows, count, c, out, divide);
  for (; c + kLanes <= C; c += kLanes) average_channel_block<1, acc_t>(rows, count, c, out, divide);
  for (; c < C; ++c) {
    acc_t sum = rows[0][c] + rows[1][c];
    for (int64_t k = 2; k < count; ++k) sum += rows[k][c];
    out[c] = divide(sum);
  }
}

// The average of `count` (>= 3) rows of C channels in one pass per row: the
// first two rows start the sums, the last one is added as the result is stored.
template <typename scalar_t, typename acc_t, class Divide>
POOLING_EXT_ALWAYS_INLINE void average_rows(const scalar_t* const* rows, int64_t count, acc_t* sums, scalar_t* out,
                                            const Divide& divide, int64_t C) {
  if (count == 4) return average_four_rows<scalar_t, acc_t>(rows[0], rows[1], rows[2], rows[3], out, divide, C);
  if constexpr (std::is_same_v<scalar_t, acc_t>) {
    if (count > 4) return average_many_rows<acc_t>(rows, count, out, divide, C);
  }
  start_sums(rows[0], rows[1], sums, C);
  for (int64_t k = 2; k + 1 < count; ++k) add_to_sums(rows[k], sums, C);
  store_average<scalar_t, acc_t>(sums, rows[count - 1], out, divide, C);
}

template <typename scalar_t, typename acc_t>
POOLING_EXT_ISA_CLONES void average_rows_across_channels(const scalar_t* const* rows, int64_t count, acc_t* sums,
                                                         scalar_t* out, int64_t divisor, int64_t C) {
  if constexpr (std::is_floating_point_v<acc_t>) {
    if (divisor > 0 && (divisor & (divisor - 1)) == 0) {
      const MultiplyByExactReciprocal<acc_t> divide{acc_t(1) / static_cast<acc_t>(divisor)};
      return average_rows<scalar_t, acc_t>(rows, count, sums, out, divide, C);
    }
  }
  average_rows<scalar_t, acc_t>(rows, count, sums, out, DivideBy<acc_t>{static_cast<acc_t>(divisor)}, C);
}

template <typename scalar_t, typename acc_t, class Term>
POOLING_EXT_ALWAYS_INLINE void start_power_sums(const scalar_t* __restrict__ row, acc_t* __restrict__ sums, int64_t C,
                                                const Term& term) {
  for (int64_t c = 0; c < C; ++c) sums[c] = term.value(static_cast<acc_t>(row[c]));
}

template <typename scalar_t, typename acc_t, class Term>
POOLING_EXT_ALWAYS_INLINE void add_two_power_rows(const scalar_t* __restrict__ a, const scalar_t* __restrict__ b,
                                                  acc_t* __restrict__ sums, int64_t C, const Term& term) {
  for (int64_t c = 0; c < C; ++c) {
    sums[c] = (sums[c] + term.value(static_cast<acc_t>(a[c]))) + term.value(static_cast<acc_t>(b[c]));
  }
}

// Stores the roots of the sums; returns whether any sum overflowed.
template <typename scalar_t, typename acc_t, class Term>
POOLING_EXT_ALWAYS_INLINE bool store_power_roots(const acc_t* __restrict__ sums, scalar_t* __restrict__ out,
                                                 acc_t padded, acc_t numerator, int64_t C, const Term& term) {
  int overflowed = 0;
  for (int64_t c = 0; c < C; ++c) {
    out[c] = static_cast<scalar_t>(term.root(sums[c], padded, numerator));
    overflowed |= is_finite_value(sums[c]) ? 0 : 1;
  }
  return overflowed != 0;
}

// One power-mean window of C channels: the power sums of its `count` (>= 1)
// input rows, in row order, and their roots, in one call (per-row calls cost
// more than the work at C = 64). Returns whether any sum overflowed: those
// outputs are then redone by the body (its scaled sum).
template <typename scalar_t, typename acc_t, class Term>
POOLING_EXT_ISA_CLONES bool power_window_across_channels(const scalar_t* const* rows, int64_t count, acc_t* sums,
                                                         scalar_t* out, acc_t padded, acc_t numerator, int64_t C,
                                                         const Term& term) {
  start_power_sums<scalar_t, acc_t>(rows[0], sums, C, term);
  int64_t k = 1;
  for (; k + 1 < count; k += 2) add_two_power_rows<scalar_t, acc_t>(rows[k], rows[k + 1], sums, C, term);
  if (k < count) add_row_across_channels_inline<scalar_t, acc_t>(rows[k], sums, C, term);
  return store_power_roots<scalar_t, acc_t>(sums, out, padded, numerator, C, term);
}

template <typename scalar_t, class Term>
void forward_channels_last(const WindowSumForwardBody<scalar_t, int64_t>& body, const Term& term) {
  using acc_t = at::opmath_type<scalar_t>;
  const PoolGeometry& g = body.g;
  const int64_t C = g.channels;
  const ExtentTables extents(g);
  const int64_t positions = g.batch * g.out_plane();
  at::parallel_for(0, positions, grain_for(C * g.kernel_volume()), [&](int64_t begin, int64_t stop) {
    std::vector<acc_t> sums(C);
    std::vector<const scalar_t*> rows(g.kernel_volume());
    PositionCursor cursor(g.out, begin);
    for (int64_t pos = begin; pos < stop; ++pos, cursor.next()) {
      const WindowBox<int64_t> box = extents.box(cursor.d, cursor.h, cursor.w);
      int64_t count = 0;
      for (int64_t id = box.d.first; id < box.d.end; ++id) {
        for (int64_t ih = box.h.first; ih < box.h.end; ++ih) {
          for (int64_t iw = box.w.first; iw < box.w.end; ++iw) {
            rows[count++] = body.input + (cursor.n * g.in_plane() + (id * g.in[1] + ih) * g.in[2] + iw) * C;
          }
        }
      }
      scalar_t* out = body.output + pos * C;
      const auto finish = window_finish<acc_t, Term>(body.r, box);
      if constexpr (Term::kAverage) {
        if (count >= 3) {
          average_rows_across_channels<scalar_t, acc_t>(rows.data(), count, sums.data(), out, finish.divisor, C);
          continue;
        }
      }
      if constexpr (Term::kAverage) {
        std::fill(sums.begin(), sums.end(), acc_t(0));
        for (int64_t k = 0; k < count; ++k) add_row_across_channels<scalar_t, acc_t>(rows[k], sums.data(), C, term);
        for (int64_t c = 0; c < C; ++c) out[c] = static_cast<scalar_t>(finish(sums[c], [] { return acc_t(0); }));
      } else if (count == 0) {  // a window wholly in the padding: the body's rules
        for (int64_t c = 0; c < C; ++c) out[c] = body.compute(cursor.n, c, cursor.d, cursor.h, cursor.w);
      } else if (power_window_across_channels<scalar_t, acc_t>(rows.data(), count, sums.data(), out, finish.padded,
                                                               body.r.numerator, C, term)) {
        for (int64_t c = 0; c < C; ++c) {
          if (!is_finite_value(sums[c])) out[c] = body.compute(cursor.n, c, cursor.d, cursor.h, cursor.w);
        }
      }
    }
  });
}

template <typename scalar_t, typename acc_t>
POOLING_EXT_ALWAYS_INLINE void start_weighted_sums(const scalar_t* __restrict__ a, acc_t wa, const scalar_t* __restrict__ b, acc_t wb,
                                acc_t* __restrict__ sums, int64_t C) {
  for (int64_t c = 0; c < C; ++c) sums[c] = static_cast<acc_t>(a[c]) * wa + static_cast<acc_t>(b[c]) * wb;
}

template <typename scalar_t, typename acc_t>
POOLING_EXT_ALWAYS_INLINE void add_weighted(const scalar_t* __restrict__ row, acc_t w, acc_t* __restrict__ sums, int64_t C) {
  for (int64_t c = 0; c < C; ++c) sums[c] += static_cast<acc_t>(row[c]) * w;
}

template <typename scalar_t, typename acc_t>
POOLING_EXT_ALWAYS_INLINE void store_weighted(const acc_t* __restrict__ sums, const scalar_t* __restrict__ last, acc_t w,
                           scalar_t* __restrict__ out, int64_t C) {
  for (int64_t c = 0; c < C; ++c) out[c] = static_cast<scalar_t>(sums[c] + static_cast<acc_t>(last[c]) * w);
}

template <typename scalar_t, typename acc_t>
POOLING_EXT_ALWAYS_INLINE void store_scaled(const scalar_t* __restrict__ row, acc_t w, scalar_t* __restrict__ out, int64_t C) {
  for (int64_t c = 0; c < C; ++c) out[c] = static_cast<scalar_t>(static_cast<acc_t>(row[c]) * w);
}

template <typename scalar_t, typename acc_t>
POOLING_EXT_ISA_CLONES void scale_row_across_channels(const scalar_t* __restrict__ row, acc_t w,
                                                      scalar_t* __restrict__ out, int64_t C) {
  for (int64_t c = 0; c < C; ++c) out[c] = static_cast<scalar_t>(static_cast<acc_t>(row[c]) * w);
}

// out[c] = sum over k of rows[k][c] * weights[k] (average pooling's
// channels-last backward: the gradients of the covering outputs, each over
// its divisor), one pass per row.
template <typename scalar_t, typename acc_t>
POOLING_EXT_ISA_CLONES void weighted_rows_across_channels(const scalar_t* const* rows, const acc_t* weights,
                                                          int64_t count, acc_t* sums, scalar_t* out, int64_t C) {
  if (count == 0) {
    std::fill(out, out + C, scalar_t(0));
  } else if (count == 1) {
    store_scaled(rows[0], weights[0], out, C);
  } else {
    start_weighted_sums(rows[0], weights[0], rows[1], weights[1], sums, C);
    for (int64_t k = 2; k + 1 < count; ++k) add_weighted(rows[k], weights[k], sums, C);
    if (count == 2) {
      for (int64_t c = 0; c < C; ++c) out[c] = static_cast<scalar_t>(sums[c]);
    } else {
      store_weighted(sums, rows[count - 1], weights[count - 1], out, C);
    }
  }
}

// Average pooling's channels-last backward when windows do not overlap
// (stride >= kernel: DenseNet and VGG-style 2x2): every input takes the share
// of at most one output, written straight from that output's row.
template <typename scalar_t>
void average_backward_disjoint_channels_last(const WindowSumBackwardBody<scalar_t, int64_t>& body,
                                             const ExtentTables& extents) {
  using acc_t = at::opmath_type<scalar_t>;
  const PoolGeometry& g = body.g;
  const int64_t C = g.channels;
  const bool all_covered = extents.disjoint_windows_cover_input(g);
  if (!all_covered) std::fill(body.grad_input, body.grad_input + g.in_numel(), scalar_t(0));
  const int64_t positions = g.batch * g.out_plane();
  at::parallel_for(0, positions, grain_for(C * g.kernel_volume()), [&](int64_t begin, int64_t stop) {
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

// Average pooling's channels-last backward for overlapping windows: each
// input position gathers the gradients of its covering outputs, each over its
// divisor.
template <typename scalar_t>
void average_backward_channels_last(const WindowSumBackwardBody<scalar_t, int64_t>& body, const ExtentTables& extents,
                                    const CoveringTables& covering) {
  using acc_t = at::opmath_type<scalar_t>;
  const PoolGeometry& g = body.g;
  const int64_t C = g.channels;
  const std::vector<acc_t> inverse_divisor = inverse_divisor_table(body.r, g, extents);
  at::parallel_for(0, g.batch * g.in_plane(), grain_for(C * 4), [&](int64_t begin, int64_t stop) {
    std::vector<acc_t> acc(C);
    std::vector<const scalar_t*> grad_rows;
    std::vector<acc_t> weights;
    PositionCursor cursor(g.in, begin);
    for (int64_t pos = begin; pos < stop; ++pos, cursor.next()) {
      grad_rows.clear();
      weights.clear();
      covering.for_each_output(g, cursor, [&](int64_t od, int64_t oh, int64_t ow, int64_t o) {
        grad_rows.push_back(body.grad_output + o * C);
        weights.push_back(inverse_divisor[(od * g.out[1] + oh) * g.out[2] + ow]);
      });
      weighted_rows_across_channels<scalar_t, acc_t>(grad_rows.data(), weights.data(),
                                                     static_cast<int64_t>(grad_rows.size()), acc.data(),
                                                     body.grad_input + pos * C, C);
    }
  });
}

// Per output element of the power mean's backward: its gradient times
// numerator / padded window size, and 1 / y (zero where y = 0).
template <typename scalar_t, typename acc_t>
POOLING_EXT_ISA_CLONES void power_output_factors(const scalar_t* __restrict__ grad, const scalar_t* __restrict__ out,
                                                 acc_t scale, acc_t* __restrict__ weight, acc_t* __restrict__ inv_y,
                                                 int64_t C) {
  for (int64_t c = 0; c < C; ++c) {
    const acc_t y = static_cast<acc_t>(out[c]);
    weight[c] = static_cast<acc_t>(grad[c]) * scale;
    inv_y[c] = y == acc_t(0) ? acc_t(0) : acc_t(1) / y;
  }
}

template <typename scalar_t, typename acc_t, class Term>
POOLING_EXT_ALWAYS_INLINE void add_power_grad(const scalar_t* __restrict__ x, const acc_t* __restrict__ weight,
                                              const acc_t* __restrict__ inv_y, acc_t* __restrict__ acc, int64_t C,
                                              const Term& term) {
  for (int64_t c = 0; c < C; ++c) acc[c] += weight[c] * term.grad(static_cast<acc_t>(x[c]), inv_y[c]);
}

// One input position's gradient across C channels: the shares of its `count`
// covering outputs (rows of power_output_factors), in output order.
template <typename scalar_t, typename acc_t, class Term>
POOLING_EXT_ISA_CLONES void power_grad_across_channels(const scalar_t* __restrict__ x, const acc_t* const* weights,
                                                       const acc_t* const* inv_ys, int64_t count,
                                                       acc_t* __restrict__ acc, scalar_t* __restrict__ grad_in,
                                                       int64_t C, const Term& term) {
  std::fill(acc, acc + C, acc_t(0));
  for (int64_t k = 0; k < count; ++k) add_power_grad<scalar_t, acc_t>(x, weights[k], inv_ys[k], acc, C, term);
  for (int64_t c = 0; c < C; ++c) grad_in[c] = static_cast<scalar_t>(acc[c]);
}

// The power mean's channels-last backward, a batch chunk at a time: first the
// factors of every output (so each division happens once per output, not once
// per input and covering output), then a gather per input position.
template <typename scalar_t, class Term>
void power_backward_channels_last(const WindowSumBackwardBody<scalar_t, int64_t>& body, const Term& term,
                                  const ExtentTables& extents, const CoveringTables& covering) {
  using acc_t = at::opmath_type<scalar_t>;
  const PoolGeometry& g = body.g;
  const int64_t C = g.channels;
  const int64_t out_sample = g.out_plane() * C;
  // Bounded scratch (two acc_t per output of the chunk), whatever the batch.
  const int64_t chunk = std::max<int64_t>(1, (int64_t(1) << 22) / std::max<int64_t>(1, out_sample));
  std::vector<acc_t> weight(std::min(chunk, g.batch) * out_sample), inv_y(weight.size());
  for (int64_t n0 = 0; n0 < g.batch; n0 += chunk) {
    const int64_t samples = std::min(chunk, g.batch - n0);
    at::parallel_for(0, samples * g.out_plane(), grain_for(C), [&](int64_t begin, int64_t stop) {
      PositionCursor cursor(g.out, begin);
      for (int64_t pos = begin; pos < stop; ++pos, cursor.next()) {
        const acc_t scale = body.r.numerator /
                            static_cast<acc_t>(extents.box(cursor.d, cursor.h, cursor.w).padded_count());
        const int64_t o = (n0 * g.out_plane() + pos) * C;
        power_output_factors<scalar_t, acc_t>(body.grad_output + o, body.output + o, scale,
                                              weight.data() + pos * C, inv_y.data() + pos * C, C);
      }
    });
    at::parallel_for(0, samples * g.in_plane(), grain_for(C * 4), [&](int64_t begin, int64_t stop) {
      std::vector<acc_t> acc(C);
      std::vector<const acc_t*> weight_rows, inv_y_rows;
      PositionCursor cursor(g.in, begin);
      for (int64_t pos = begin; pos < stop; ++pos, cursor.next()) {
        weight_rows.clear();
        inv_y_rows.clear();
        covering.for_each_output(g, cursor, [&](int64_t, int64_t, int64_t, int64_t o) {
          weight_rows.push_back(weight.data() + o * C);
          inv_y_rows.push_back(inv_y.data() + o * C);
        });
        const int64_t in_offset = (n0 * g.in_plane() + pos) * C;
        power_grad_across_channels<scalar_t, acc_t>(body.input + in_offset, weight_rows.data(), inv_y_rows.data(),
                                                    static_cast<int64_t>(weight_rows.size()), acc.data(),
                                                    body.grad_input + in_offset, C, term);
      }
    });
  }
}

// Average pooling's contiguous backward for windows without a fixed stride
// (adaptive): one (n, c) plane per task, outputs in order, each adding its
// share to the inputs of its window (extents from the tables).
template <typename scalar_t>
void average_backward_scatter_planes(const WindowSumBackwardBody<scalar_t, int64_t>& body) {
  using acc_t = at::opmath_type<scalar_t>;
  const PoolGeometry& g = body.g;
  const ExtentTables extents(g);
  const std::vector<acc_t> inverse_divisor = inverse_divisor_table(body.r, g, extents);
  at::parallel_for(0, g.batch * g.channels, grain_for(g.in_plane() * 2), [&](int64_t begin, int64_t stop) {
    std::vector<acc_t> acc(g.in_plane());
    for (int64_t plane = begin; plane < stop; ++plane) {
      std::fill(acc.begin(), acc.end(), acc_t(0));
      const scalar_t* grad = body.grad_output + plane * g.out_plane();
      int64_t o = 0;
      for (int64_t od = 0; od < g.out[0]; ++od) {
        for (int64_t oh = 0; oh < g.out[1]; ++oh) {
          for (int64_t ow = 0; ow < g.out[2]; ++ow, ++o) {
            const acc_t share = static_cast<acc_t>(grad[o]) * inverse_divisor[o];
            const WindowBox<int64_t> box = extents.box(od, oh, ow);
            for (int64_t id = box.d.first; id < box.d.end; ++id) {
              for (int64_t ih = box.h.first; ih < box.h.end; ++ih) {
                acc_t* row = acc.data() + (id * g.in[1] + ih) * g.in[2];
                for (int64_t iw = box.w.first; iw < box.w.end; ++iw) row[iw] += share;
              }
            }
          }
        }
      }
      scalar_t* grad_in = body.grad_input + plane * g.in_plane();
      for (int64_t i = 0; i < g.in_plane(); ++i) grad_in[i] = static_cast<scalar_t>(acc[i]);
    }
  });
}

template <typename scalar_t, class Term>
void backward_channels_last(const WindowSumBackwardBody<scalar_t, int64_t>& body, const Term& term) {
  const PoolGeometry& g = body.g;
  const ExtentTables extents(g);
  if constexpr (Term::kAverage) {
    if (!g.adaptive && g.stride[0] >= g.kernel[0] && g.stride[1] >= g.kernel[1] && g.stride[2] >= g.kernel[2]) {
      return average_backward_disjoint_channels_last(body, extents);
    }
    average_backward_channels_last(body, extents, CoveringTables(g));
  } else {
    power_backward_channels_last(body, term, extents, CoveringTables(g));
  }
}

// ---------------------------------------------------------------- GeM's gradient with respect to p

template <class Body>
void run_elementwise(int64_t count, const Body& body) {
  at::parallel_for(0, count, kGrainElements / 16, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) body(i);
  });
}


template <typename scalar_t, typename acc_t, class Term>
POOLING_EXT_ISA_CLONES acc_t exponent_grad_sum(const scalar_t* __restrict__ x, int64_t count, acc_t inv_y, const Term& term) {
  acc_t sum = acc_t(0);
#pragma omp simd reduction(+ : sum)
  for (int64_t i = 0; i < count; ++i) sum += term.exponent_grad(static_cast<acc_t>(x[i]), inv_y);
  return sum;
}

template <typename scalar_t, typename acc_t, class Term>
POOLING_EXT_ISA_CLONES void add_exponent_grad_across_channels(const scalar_t* __restrict__ x, const acc_t* __restrict__ inv_y,
                                              acc_t* __restrict__ sums, int64_t C, const Term& term) {
  for (int64_t c = 0; c < C; ++c) sums[c] += term.exponent_grad(static_cast<acc_t>(x[c]), inv_y[c]);
}

// Global windows (GeM) in either layout; any other window runs the body per output.
template <typename scalar_t>
void exponent_grad_partials(int64_t count, const PowerMeanExponentGradBody<scalar_t, int64_t>& body) {
  using acc_t = at::opmath_type<scalar_t>;
  const PoolGeometry& g = body.g;
  if (!is_global_window(g)) return run_elementwise(count, body);
  const acc_t p = body.r.exponent();
  const acc_t scale = body.r.numerator / static_cast<acc_t>(g.in_plane());
  auto partial = [&](int64_t o, acc_t sum) {
    const acc_t y = static_cast<acc_t>(body.output[o]);
    body.partial[o] = y == acc_t(0) ? acc_t(0) : static_cast<acc_t>(body.grad_output[o]) * y * scale / p * sum;
  };
  auto inverse = [](acc_t y) { return y == acc_t(0) ? acc_t(0) : acc_t(1) / y; };
  with_term(body.r, [&](const auto& term) {
    if constexpr (!std::decay_t<decltype(term)>::kAverage) {
      if (!g.channels_last) {
        at::parallel_for(0, g.batch * g.channels, grain_for(g.in_plane()), [&](int64_t begin, int64_t stop) {
          for (int64_t plane = begin; plane < stop; ++plane) {
            const acc_t inv_y = inverse(static_cast<acc_t>(body.output[plane]));
            partial(plane, exponent_grad_sum<scalar_t, acc_t>(body.input + plane * g.in_plane(), g.in_plane(),
                                                               inv_y, term));
          }
        });
        return;
      }
      const int64_t C = g.channels;
      at::parallel_for(0, g.batch, 1, [&](int64_t begin, int64_t stop) {
        std::vector<acc_t> sums(C), inv_y(C);
        for (int64_t n = begin; n < stop; ++n) {
          for (int64_t c = 0; c < C; ++c) inv_y[c] = inverse(static_cast<acc_t>(body.output[n * C + c]));
          std::fill(sums.begin(), sums.end(), acc_t(0));
          for (int64_t pos = 0; pos < g.in_plane(); ++pos) {
            add_exponent_grad_across_channels<scalar_t, acc_t>(body.input + (n * g.in_plane() + pos) * C,
                                                               inv_y.data(), sums.data(), C, term);
          }
          for (int64_t c = 0; c < C; ++c) partial(n * C + c, sums[c]);
        }
      });
    }
  });
}

// ---------------------------------------------------------------- disjoint windows (contiguous)

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
        const WindowExtent<int64_t>& ed = extents.dim[0][od];
        for (int64_t oh = 0; oh < g.out[1]; ++oh, o += g.out[2]) {
          const WindowExtent<int64_t>& eh = extents.dim[1][oh];
          // (0 + share: a -0 gradient gives +0, as summed into zeros)
          for (int64_t ow = 0; ow < g.out[2]; ++ow) {
            shares[ow] = static_cast<scalar_t>(acc_t(0) + static_cast<acc_t>(grad[o + ow]) / divisor[o + ow]);
          }
          for (int64_t id = ed.first; id < ed.end; ++id) {
            for (int64_t ih = eh.first; ih < eh.end; ++ih) {
              scalar_t* row = grad_in + (id * g.in[1] + ih) * g.in[2];
              for (int64_t ow = 0; ow < g.out[2]; ++ow) {
                const WindowExtent<int64_t>& ew = extents.dim[2][ow];
                for (int64_t iw = ew.first; iw < ew.end; ++iw) row[iw] = shares[ow];
              }
            }
          }
        }
      }
    }
  });
}

// ---------------------------------------------------------------- entry points

// Calls f(std::integral_constant<int, kStride>) with the row loops' stride
// along W: 1 or 2 at compile time (most networks) for float32, else 0 (any).
template <typename scalar_t, class F>
void with_row_stride(const PoolGeometry& g, const F& f) {
  if constexpr (std::is_same_v<scalar_t, float>) {
    if (g.stride[2] == 1) return f(std::integral_constant<int, 1>{});
    if (g.stride[2] == 2) return f(std::integral_constant<int, 2>{});
  }
  f(std::integral_constant<int, 0>{});
}

template <typename scalar_t>
void window_sum_forward(const WindowSumForwardBody<scalar_t, int64_t>& body) {
  const PoolGeometry& g = body.g;
  if (body.r.reduction == WindowReduction::kExtremeAbs) return run_elementwise(g.out_numel(), body);
  with_term(body.r, [&](const auto& term) {
    if (g.channels_last) return forward_channels_last(body, term);
    if (is_global_window(g)) return forward_global(body, term);
    if constexpr (std::decay_t<decltype(term)>::kAverage) {
      if (g.adaptive) return average_forward_table_planes(body);
    }
    with_row_stride<scalar_t>(g, [&](auto stride) { forward_rows<decltype(stride)::value>(body, term); });
  });
}

template <typename scalar_t>
void window_sum_backward(const WindowSumBackwardBody<scalar_t, int64_t>& body) {
  const PoolGeometry& g = body.g;
  if (body.r.reduction == WindowReduction::kExtremeAbs) return run_elementwise(g.in_numel(), body);
  with_term(body.r, [&](const auto& term) {
    if (g.channels_last) return backward_channels_last(body, term);
    if (is_global_window(g)) return backward_global(body, term);
    if constexpr (std::decay_t<decltype(term)>::kAverage) {
      if (!g.adaptive && g.stride[0] >= g.kernel[0] && g.stride[1] >= g.kernel[1] && g.stride[2] >= g.kernel[2]) {
        return average_backward_disjoint_planes(body);
      }
    }
    if (g.adaptive) {  // the phase-major planes need a fixed stride
      if constexpr (std::decay_t<decltype(term)>::kAverage) return average_backward_scatter_planes(body);
      return run_elementwise(g.in_numel(), body);
    }
    with_row_stride<scalar_t>(g, [&](auto stride) { backward_planes<decltype(stride)::value>(body, term); });
  });
}

}  // namespace cpu
}  // namespace pooling_ext
