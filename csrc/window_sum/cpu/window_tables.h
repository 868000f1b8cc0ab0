// Per-call tables of the window-sum CPU loops: each output position's window
// extents and divisor, each input position's covering outputs, and the
// interior of a row (outputs whose window lies inside the input), computed
// once so the loops over positions do no division.
#pragma once

#include <algorithm>
#include <cstdint>
#include <utility>
#include <vector>

#include "../../common/cpu/loop_support.h"
#include "../window_sum_bodies.h"

namespace pooling_ext {
namespace cpu {

// Per-dim tables of the window extents of every output position.
struct ExtentTables {
  std::vector<WindowExtent<int64_t>> dim[kMaxSpatialDims];

  explicit ExtentTables(const PoolGeometry& g) {
    for (int d = 0; d < kMaxSpatialDims; ++d) {
      dim[d] = per_position_table(g.out[d], [&](int64_t o) { return dim_window_extent(g, d, o); });
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

// The divisor of "same" 2-d average windows (odd kh x kw, stride 1, padded
// by (k - 1) / 2: as many outputs as inputs) where every window has the
// same one: an override, or count_include_pad's padded size (kh * kw for
// every such window); 0 for other windows.
template <typename acc_t>
int64_t same_windows_divisor(const PoolGeometry& g, const ReductionSpec<acc_t>& r) {
  if (g.adaptive || g.in[0] != 1 || g.kernel[0] != 1) return 0;
  if (r.divisor_override == 0 && !r.count_include_pad) return 0;
  for (int d = 1; d < kMaxSpatialDims; ++d) {
    if (g.kernel[d] % 2 == 0 || g.stride[d] != 1 || g.dilation[d] != 1 || 2 * g.pad[d] != g.kernel[d] - 1) return 0;
  }
  return r.divisor_override != 0 ? r.divisor_override : g.kernel[1] * g.kernel[2];
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

}  // namespace cpu
}  // namespace pooling_ext
