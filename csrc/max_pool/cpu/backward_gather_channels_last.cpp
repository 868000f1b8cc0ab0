// Max pooling's CPU backward on channels-last tensors: a gather per input
// position over the few outputs whose window covers it, summing across the
// channels the gradients whose argmax the position is, in output order.
// Which outputs cover a position, and with which tap, is tabled per dim once
// per call. float32 and bfloat16 run a row of positions per call in AVX-512
// register blocks where the CPU has them, else a position per call through
// the ISA-dispatched loops of float_loops.h. No atomics: the sums are the
// same for any thread count.
#include <ATen/OpMathType.h>
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

// The outputs covering one input position, as rows of C gradients and
// window offsets, and the tap of each that lands on the position.
template <typename scalar_t, typename offset_t>
struct CoveringRows {
  std::vector<const scalar_t*> grad;
  std::vector<const offset_t*> offset;
  std::vector<int32_t> tap;
  int64_t count = 0;

  explicit CoveringRows(int64_t most) : grad(most), offset(most), tap(most) {}

  void collect(const MaxPoolBackwardBody<scalar_t, offset_t>& body, const CoveringTable* covering,
               const PositionCursor& at) {
    const PoolGeometry& g = body.g;
    const CoveringTable &cd = covering[0], &ch = covering[1], &cw = covering[2];
    count = 0;
    for (int64_t a = cd.begin[at.d]; a < cd.begin[at.d + 1]; ++a) {
      for (int64_t b = ch.begin[at.h]; b < ch.begin[at.h + 1]; ++b) {
        const int64_t row = (at.n * g.out[0] + cd.out[a]) * g.out[1] + ch.out[b];
        const int64_t row_tap = (cd.tap[a] * g.kernel[1] + ch.tap[b]) * g.kernel[2];
        for (int64_t e = cw.begin[at.w]; e < cw.begin[at.w + 1]; ++e, ++count) {
          const int64_t o = (row * g.out[2] + cw.out[e]) * g.channels;
          grad[count] = body.grad_output + o;
          offset[count] = body.window_offset + o;
          tap[count] = static_cast<int32_t>(row_tap + cw.tap[e]);
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

// float32 and bfloat16 on a CPU with AVX-512: one call per input row
// (n, d, h), the row's covering output rows listed once for all its
// positions. False (nothing done) for other dtypes or CPUs.
template <typename scalar_t, typename offset_t>
bool gradient_rows_avx512(const MaxPoolBackwardBody<scalar_t, offset_t>& body, const CoveringTable* covering) {
  constexpr bool kFloat = std::is_same_v<scalar_t, float>, kBFloat16 = std::is_same_v<scalar_t, at::BFloat16>;
  if constexpr (kFloat || kBFloat16) {
    if (!simd::max_row_values_avx512_supported()) return false;
    using bits_t = std::conditional_t<kFloat, float, uint16_t>;
    const PoolGeometry& g = body.g;
    const int64_t C = g.channels;
    const CoveringTable &cd = covering[0], &ch = covering[1], &cw = covering[2];
    at::parallel_for(0, g.batch * g.in[0] * g.in[1], grain_for(g.in[2], C, 4), [&](int64_t begin, int64_t end) {
      std::vector<int64_t> row_offset;
      std::vector<int32_t> row_tap;
      for (int64_t row = begin; row < end; ++row) {
        const int64_t ih = row % g.in[1], id = (row / g.in[1]) % g.in[0], n = row / (g.in[1] * g.in[0]);
        row_offset.clear();
        row_tap.clear();
        for (int64_t a = cd.begin[id]; a < cd.begin[id + 1]; ++a) {
          for (int64_t b = ch.begin[ih]; b < ch.begin[ih + 1]; ++b) {
            row_offset.push_back(((n * g.out[0] + cd.out[a]) * g.out[1] + ch.out[b]) * g.out[2] * C);
            row_tap.push_back(static_cast<int32_t>((cd.tap[a] * g.kernel[1] + ch.tap[b]) * g.kernel[2]));
          }
        }
        simd::max_gradient_row_avx512(simd::GradientRow<bits_t, offset_t>{
            reinterpret_cast<const bits_t*>(body.grad_output), body.window_offset, row_offset.data(), row_tap.data(),
            static_cast<int64_t>(row_offset.size()), cw.begin.data(), cw.out.data(), cw.tap.data(), g.in[2], C,
            reinterpret_cast<bits_t*>(body.grad_input) + row * g.in[2] * C});
      }
    });
    return true;
  }
  return false;
}

}  // namespace

template <typename scalar_t, typename offset_t>
void max_backward_gather_channels_last(const MaxPoolBackwardBody<scalar_t, offset_t>& body) {
  using acc_t = at::opmath_type<scalar_t>;
  const PoolGeometry& g = body.g;
  const int64_t C = g.channels;
  const CoveringTable covering[kMaxSpatialDims] = {CoveringTable(g, 0), CoveringTable(g, 1), CoveringTable(g, 2)};
  // The most outputs any input position has covering it: the kernel volume
  // for fixed windows, more for adaptive ones when out > in.
  if (gradient_rows_avx512(body, covering)) return;
  const int64_t most_covering = covering[0].most() * covering[1].most() * covering[2].most();
  at::parallel_for(0, g.batch * g.in_plane(), grain_for(C, 4), [&](int64_t begin, int64_t end) {
    std::vector<acc_t> acc(C);
    CoveringRows<scalar_t, offset_t> rows(most_covering);
    PositionCursor cursor(g.in, begin);
    for (int64_t pos = begin; pos < end; ++pos, cursor.next()) {
      rows.collect(body, covering, cursor);
      scalar_t* __restrict__ out = body.grad_input + pos * C;
      if constexpr (std::is_same_v<scalar_t, float>) {
        simd::sum_where_taps(rows.grad.data(), rows.offset.data(), rows.tap.data(), rows.count, out, C);
      } else if constexpr (std::is_same_v<scalar_t, at::BFloat16>) {
        const auto* grad_bits = reinterpret_cast<const uint16_t* const*>(rows.grad.data());
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
