// The CPU loops of max pooling, one file per layout or strategy;
// max_pool_cpu.cpp picks among them. Each takes the per-element body of the
// op (max_pool_bodies.h): the problem's pointers and geometry, and the code
// that borders and irregular windows run, so the loops follow the bodies'
// rules exactly (torch's: a NaN replaces the running maximum, ties keep the
// first tap; the window offset is the tap).
//
// The regular bulk runs as loops over a contiguous dim that vectorise:
// output width for contiguous tensors, channels for channels-last ones
// (float32 and bfloat16 through the ISA-dispatched loops of float_loops.h).
// The backward is deterministic for any thread count, without atomics:
// contiguous planes scatter in output order, one plane per task;
// channels-last positions gather from their covering outputs.
#pragma once

#include <ATen/OpMathType.h>

#include <algorithm>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "../max_pool_bodies.h"

namespace pooling_ext {
namespace cpu {

// Contiguous, one output row (n, c, od, oh) at a time: interior outputs tap by
// tap across the row, border outputs through the body.
template <typename scalar_t, typename offset_t>
void max_forward_rows(const MaxPoolForwardBody<scalar_t, offset_t>& body);

// Contiguous, a window covering the whole plane: one reduction per plane.
template <typename scalar_t, typename offset_t>
void max_forward_global_planes(const MaxPoolForwardBody<scalar_t, offset_t>& body);

// Contiguous float32, a window covering the whole plane (of fewer than 2^31
// elements): the plane maxima in vector lanes.
template <typename offset_t>
void max_forward_global_float_planes(const MaxPoolForwardBody<float, offset_t>& body);

// Channels-last: per output position, the window's rows of C channels reduced
// tap by tap across the channels.
template <typename scalar_t, typename offset_t>
void max_forward_channels_last(const MaxPoolForwardBody<scalar_t, offset_t>& body);

// Contiguous backward: each (n, c) plane accumulated by one task, outputs in
// memory order, each adding its gradient at its argmax.
template <typename scalar_t, typename offset_t>
void max_backward_scatter_planes(const MaxPoolBackwardBody<scalar_t, offset_t>& body);

// Channels-last backward of windows that never overlap: the input zeroed,
// then each output's gradients written at their argmax positions.
template <typename scalar_t, typename offset_t>
void max_backward_scatter_channels_last(const MaxPoolBackwardBody<scalar_t, offset_t>& body);

// Channels-last backward: per input position, the sum over its covering
// outputs of the gradients whose argmax it is, across the channels.
template <typename scalar_t, typename offset_t>
void max_backward_gather_channels_last(const MaxPoolBackwardBody<scalar_t, offset_t>& body);

// Channels-last windows that tile the input (windows_tile_input), float32
// and bfloat16 on a CPU with AVX-512: each output's window written once,
// its gradient at the argmax and +0 elsewhere (one pass over grad_input, no
// zeroing, no scattered stores). False (nothing done) elsewhere.
template <typename scalar_t, typename offset_t>
bool max_backward_tiling_channels_last(const MaxPoolBackwardBody<scalar_t, offset_t>& body);

// Contiguous backward of small overlapping fixed windows (<= 4 taps) at
// stride 1 or 2 along W, float32 and bfloat16 on a CPU with AVX-512: per
// input row, the sum over its covering outputs of the gradients whose argmax
// each element is, across the row, each element written once. False
// (nothing done) elsewhere.
template <typename scalar_t, typename offset_t>
bool max_backward_gather_rows(const MaxPoolBackwardBody<scalar_t, offset_t>& body);

// ---------------------------------------------------------------- shared by the loops

// Per input position along one spatial dim: the outputs whose window has a
// tap on it, in output order, with that tap (dilated windows that step over
// the position left out). Built once per call, so the backward's gathers do
// no division per position.
struct CoveringTable {
  std::vector<int64_t> begin;  // position i's entries: [begin[i], begin[i + 1])
  std::vector<int64_t> out;    // the output's position along the dim
  std::vector<int64_t> tap;    // the tap along the dim landing on position i

  CoveringTable(const PoolGeometry& g, int d) {
    begin.reserve(g.in[d] + 1);
    for (int64_t i = 0; i < g.in[d]; ++i) {
      begin.push_back(static_cast<int64_t>(out.size()));
      const OutRange<int64_t> r = dim_covering_outputs(g, d, i);
      for (int64_t o = r.first; o <= r.last; ++o) {
        const int64_t t = dim_tap_landing_on(g, d, i, o);
        if (t < 0) continue;
        out.push_back(o);
        tap.push_back(t);
      }
    }
    begin.push_back(static_cast<int64_t>(out.size()));
  }
  int64_t most() const {
    int64_t m = 0;
    for (size_t i = 0; i + 1 < begin.size(); ++i) m = std::max(m, begin[i + 1] - begin[i]);
    return m;
  }
};

// Whether no two windows share an input element: along every dim with more
// than one output, each window ends before the next one starts.
inline bool windows_never_overlap(const PoolGeometry& g) {
  for (int d = 0; d < kMaxSpatialDims; ++d) {
    if (g.out[d] <= 1) continue;
    const bool overlap = g.adaptive ? g.in[d] % g.out[d] != 0 : (g.kernel[d] - 1) * g.dilation[d] + 1 > g.stride[d];
    if (overlap) return false;
  }
  return true;
}

// Whether the windows tile the input: every input element in exactly one
// window, every tap of every window inside the input (fixed windows: stride
// = kernel along dims of more than one output, no padding or dilation, out *
// kernel = in; adaptive: in a multiple of out, kernel = in / out). Window o
// then starts at o * kernel along each dim.
inline bool windows_tile_input(const PoolGeometry& g) {
  for (int d = 0; d < kMaxSpatialDims; ++d) {
    if (g.out[d] * g.kernel[d] != g.in[d]) return false;
    if (!g.adaptive && (g.pad[d] != 0 || g.dilation[d] != 1 || (g.out[d] > 1 && g.stride[d] != g.kernel[d]))) {
      return false;
    }
  }
  return true;
}

// Whether windows are "same" 2-d windows (odd kh x kw, stride 1, padded to
// the input's size; no dilation) over planes small enough for a scratch plane.
inline bool same_size_windows(const PoolGeometry& g) {
  if (g.adaptive || g.in[0] != 1 || g.kernel[0] != 1) return false;
  for (int d = 1; d < kMaxSpatialDims; ++d) {
    // (Up to 31 taps a dim: each pass costs a tap per output, and its lane
    // masks a mask per tap per block.)
    if (g.kernel[d] < 3 || g.kernel[d] > 31 || g.stride[d] != 1 || g.dilation[d] != 1 ||
        2 * g.pad[d] != g.kernel[d] - 1) {
      return false;
    }
  }
  return g.in_plane() <= (int64_t{1} << 20);
}

// The running maximum's type: the scalar type, or float for half and bfloat16.
template <typename scalar_t>
using running_t = std::conditional_t<std::is_arithmetic_v<scalar_t>, scalar_t, float>;

// The compare-select step of every vectorised max loop (torch's rule: greater,
// or NaN, replaces), over n elements of x read at `stride`.
template <typename scalar_t>
inline void select_max_generic(const scalar_t* x, int64_t stride, running_t<scalar_t>* best, int32_t* best_tap,
                               int32_t tap, int64_t n) {
  using value_t = running_t<scalar_t>;
  for (int64_t i = 0; i < n; ++i) {
    const value_t v = static_cast<value_t>(x[i * stride]);
    const bool take = (v > best[i]) | (v != v);
    best[i] = take ? v : best[i];
    best_tap[i] = take ? tap : best_tap[i];
  }
}

}  // namespace cpu
}  // namespace pooling_ext
