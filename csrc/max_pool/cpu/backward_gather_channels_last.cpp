// Max pooling's CPU backward on channels-last tensors: a gather per input
// position over the few outputs whose window covers it, summing across the
// channels the gradients whose argmax the position is (float32 and bfloat16
// in AVX-512 register blocks where the CPU has them, else through the
// ISA-dispatched loops of float_loops.h). No atomics: the sums are the same
// for any thread count.
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <vector>

#include "../../common/cpu/loop_support.h"
#include "../../common/dtype_dispatch.h"
#include "float_loops.h"
#include "max_pool_cpu_loops.h"

namespace pooling_ext {
namespace cpu {
namespace {

// The outputs covering one input position, as rows of C gradients and
// window offsets, and the tap of each that lands on the position.
template <typename scalar_t, typename offset_t>
struct CoveringRows {
  std::vector<const scalar_t*> grad;
  std::vector<const offset_t*> offset;
  std::vector<int32_t> tap;
  int64_t count = 0;

  explicit CoveringRows(int64_t most) : grad(most), offset(most), tap(most) {}

  void collect(const MaxPoolBackwardBody<scalar_t, offset_t>& body, const std::vector<OutRange<int64_t>>* covering,
               const PositionCursor& at) {
    const PoolGeometry& g = body.g;
    const OutRange<int64_t>& rd = covering[0][at.d];
    const OutRange<int64_t>& rh = covering[1][at.h];
    const OutRange<int64_t>& rw = covering[2][at.w];
    count = 0;
    for (int64_t od = rd.first; od <= rd.last; ++od) {
      const int64_t td = dim_tap_landing_on(g, 0, at.d, od);
      if (td < 0) continue;
      for (int64_t oh = rh.first; oh <= rh.last; ++oh) {
        const int64_t th = dim_tap_landing_on(g, 1, at.h, oh);
        if (th < 0) continue;
        for (int64_t ow = rw.first; ow <= rw.last; ++ow) {
          const int64_t tw = dim_tap_landing_on(g, 2, at.w, ow);
          if (tw < 0) continue;
          const int64_t o = (at.n * g.out_plane() + (od * g.out[1] + oh) * g.out[2] + ow) * g.channels;
          grad[count] = body.grad_output + o;
          offset[count] = body.window_offset + o;
          tap[count] = static_cast<int32_t>((td * g.kernel[1] + th) * g.kernel[2] + tw);
          ++count;
        }
      }
    }
  }
};

template <typename scalar_t, typename offset_t, typename acc_t>
void sum_where_taps_generic(const CoveringRows<scalar_t, offset_t>& rows, acc_t* acc, scalar_t* out, int64_t C) {
  std::fill(acc, acc + C, acc_t(0));
  for (int64_t k = 0; k < rows.count; ++k) {
    for (int64_t c = 0; c < C; ++c) {
      acc[c] += static_cast<int32_t>(rows.offset[k][c]) == rows.tap[k] ? static_cast<acc_t>(rows.grad[k][c]) : acc_t(0);
    }
  }
  for (int64_t c = 0; c < C; ++c) out[c] = static_cast<scalar_t>(acc[c]);
}

}  // namespace

template <typename scalar_t, typename offset_t>
void max_backward_gather_channels_last(const MaxPoolBackwardBody<scalar_t, offset_t>& body) {
  using acc_t = at::opmath_type<scalar_t>;
  const PoolGeometry& g = body.g;
  const int64_t C = g.channels;
  std::vector<OutRange<int64_t>> covering[kMaxSpatialDims];
  // The most outputs any input position has covering it: the kernel volume
  // for fixed windows, more for adaptive ones when out > in.
  int64_t most_covering = 1;
  for (int d = 0; d < kMaxSpatialDims; ++d) {
    covering[d] = per_position_table(g.in[d], [&](int64_t i) { return dim_covering_outputs(g, d, i); });
    int64_t most = 0;
    for (const OutRange<int64_t>& r : covering[d]) most = std::max(most, r.last - r.first + 1);
    most_covering *= most;
  }
  at::parallel_for(0, g.batch * g.in_plane(), grain_for(C, 4), [&](int64_t begin, int64_t end) {
    std::vector<acc_t> acc(C);
    CoveringRows<scalar_t, offset_t> rows(most_covering);
    PositionCursor cursor(g.in, begin);
    for (int64_t pos = begin; pos < end; ++pos, cursor.next()) {
      rows.collect(body, covering, cursor);
      scalar_t* __restrict__ out = body.grad_input + pos * C;
      if constexpr (std::is_same_v<scalar_t, float>) {
        if (simd::sum_where_taps_avx512(rows.grad.data(), rows.offset.data(), rows.tap.data(), rows.count, out, C)) {
          continue;
        }
        simd::sum_where_taps(rows.grad.data(), rows.offset.data(), rows.tap.data(), rows.count, out, C);
      } else if constexpr (std::is_same_v<scalar_t, at::BFloat16>) {
        const auto* grad_bits = reinterpret_cast<const uint16_t* const*>(rows.grad.data());
        if (simd::sum_where_taps_avx512(grad_bits, rows.offset.data(), rows.tap.data(), rows.count,
                                        reinterpret_cast<uint16_t*>(out), C)) {
          continue;
        }
        simd::sum_where_taps_bf16(grad_bits, rows.offset.data(), rows.tap.data(), rows.count, acc.data(), C);
        simd::round_to_bf16(acc.data(), reinterpret_cast<uint16_t*>(out), C);
      } else {
        sum_where_taps_generic(rows, acc.data(), out, C);
      }
    }
  });
}

#define POOLING_EXT_INSTANTIATE(scalar_t, offset_t) \
  template void max_backward_gather_channels_last(const MaxPoolBackwardBody<scalar_t, offset_t>&);
#define POOLING_EXT_INSTANTIATE_OFFSETS(scalar_t) POOLING_EXT_FOR_EACH_OFFSET_TYPE(POOLING_EXT_INSTANTIATE, scalar_t)
POOLING_EXT_FOR_EACH_FLOAT_TYPE(POOLING_EXT_INSTANTIATE_OFFSETS)

}  // namespace cpu
}  // namespace pooling_ext
