// Max pooling's CPU backward on contiguous tensors as a gather, for small
// overlapping fixed windows at stride 1 or 2 along W (max_pool1d 3 s2 in
// audio and text models), float32 and bfloat16 on a CPU with AVX-512: per
// input row, each element's sum over the outputs whose argmax it is, 16
// elements per phase per step (loops_avx512.cpp). Each element is written
// once, in grad_input's dtype: no zeroed plane, no read-modify-write per
// output, no float plane for bfloat16. The sums run from +0 in output order,
// as the scatter's (backward_scatter_planes.cpp, which runs everywhere else).
#include <ATen/Parallel.h>

#include <algorithm>
#include <type_traits>
#include <vector>

#include "../../common/cpu/loop_support.h"
#include "../../common/dtype_dispatch.h"
#include "float_loops.h"
#include "max_pool_cpu_loops.h"

namespace pooling_ext {
namespace cpu {
namespace {

// Along W, per phase q < stride (input elements stride * i + q): the taps
// landing there, tw descending (output order), and the output each comes
// from, i + shift; per entry, the steps of 16 elements whose lanes all have
// their output and element inside the row (the others, at the row's ends,
// get their lanes computed).
struct PhaseTaps {
  std::vector<int64_t> begin;     // phase q's entries: [begin[q], begin[q + 1])
  std::vector<int64_t> elements;  // phase q's elements in a row
  std::vector<int32_t> tap;
  std::vector<int64_t> shift;
  std::vector<int64_t> full_first, full_end;  // entry k's steps of 16 full lanes

  explicit PhaseTaps(const PoolGeometry& g) {
    const int64_t s = g.stride[2], W = g.in[2];
    for (int64_t q = 0; q < s; ++q) {
      begin.push_back(static_cast<int64_t>(tap.size()));
      elements.push_back((W - q + s - 1) / s);
      for (int64_t tw = g.kernel[2] - 1; tw >= 0; --tw) {
        // Output o's tap tw is element s * o - pad + tw * dilation = s * i + q.
        const int64_t num = q + g.pad[2] - tw * g.dilation[2];
        if (((num % s) + s) % s != 0) continue;
        const int64_t shift_here = num / s;
        tap.push_back(static_cast<int32_t>(tw));
        shift.push_back(shift_here);
        // Step t is full where 16 t + shift >= 0, 16 t + shift + 16 <= out
        // width and 16 t + 16 <= the phase's elements.
        const int64_t first = shift_here >= 0 ? 0 : (-shift_here + 15) / 16;
        const int64_t end = std::min(g.out[2] - shift_here, elements.back());
        full_first.push_back(first);
        full_end.push_back(std::max(first, end < 16 ? int64_t{0} : end / 16));
      }
    }
    begin.push_back(static_cast<int64_t>(tap.size()));
  }
};

}  // namespace

template <typename scalar_t, typename offset_t>
bool max_backward_gather_rows(const MaxPoolBackwardBody<scalar_t, offset_t>& body) {
  constexpr bool kFloat = std::is_same_v<scalar_t, float>, kBFloat16 = std::is_same_v<scalar_t, at::BFloat16>;
  if constexpr (kFloat || kBFloat16) {
    const PoolGeometry& g = body.g;
    // The gather tests each element against every tap that can land on it,
    // about kernel volume / 16 vector steps per element, where the scatter
    // adds each output's gradient once, 1 / stride volume per element: the
    // gather measured 1.7x faster for 3 taps (max_pool1d 3 s2) and 1.3x
    // slower for 9 (3x3 s2), so it takes windows of up to 4 taps that overlap
    // (the scatter writes, not adds, where windows never overlap).
    if (g.adaptive || g.stride[2] > 2 || g.kernel_volume() > 4 || windows_never_overlap(g) ||
        !simd::max_row_values_avx512_supported()) {
      return false;
    }
    using bits_t = std::conditional_t<kFloat, float, uint16_t>;
    // Per input row of a plane (d, h): its covering output rows (od, oh), in output order.
    const CoveringTable cd(g, 0), ch(g, 1);
    std::vector<int64_t> row_begin, out_row;
    std::vector<int32_t> row_tap;
    for (int64_t id = 0; id < g.in[0]; ++id) {
      for (int64_t ih = 0; ih < g.in[1]; ++ih) {
        row_begin.push_back(static_cast<int64_t>(out_row.size()));
        for (int64_t a = cd.begin[id]; a < cd.begin[id + 1]; ++a) {
          for (int64_t b = ch.begin[ih]; b < ch.begin[ih + 1]; ++b) {
            out_row.push_back(cd.out[a] * g.out[1] + ch.out[b]);
            row_tap.push_back(static_cast<int32_t>((cd.tap[a] * g.kernel[1] + ch.tap[b]) * g.kernel[2]));
          }
        }
      }
    }
    row_begin.push_back(static_cast<int64_t>(out_row.size()));
    const PhaseTaps phases(g);
    const int64_t rows_per_plane = g.in[0] * g.in[1];
    at::parallel_for(0, g.batch * g.channels * rows_per_plane, grain_for(g.in[2], 4), [&](int64_t begin, int64_t end) {
      simd::max_gradient_plane_rows_avx512(simd::PlaneGradientRows<bits_t, offset_t>{
          reinterpret_cast<const bits_t*>(body.grad_output), body.window_offset, row_begin.data(), out_row.data(),
          row_tap.data(), phases.begin.data(), phases.elements.data(), phases.tap.data(), phases.shift.data(),
          phases.full_first.data(), phases.full_end.data(), g.stride[2], g.in[2], g.out[2], rows_per_plane,
          g.out[0] * g.out[1], begin, end, reinterpret_cast<bits_t*>(body.grad_input)});
    });
    return true;
  }
  return false;
}

#define POOLING_EXT_INSTANTIATE(scalar_t, offset_t) \
  template bool max_backward_gather_rows(const MaxPoolBackwardBody<scalar_t, offset_t>&);
#define POOLING_EXT_INSTANTIATE_OFFSETS(scalar_t) POOLING_EXT_FOR_EACH_OFFSET_TYPE(POOLING_EXT_INSTANTIATE, scalar_t)
POOLING_EXT_FOR_EACH_FLOAT_TYPE(POOLING_EXT_INSTANTIATE_OFFSETS)

}  // namespace cpu
}  // namespace pooling_ext
