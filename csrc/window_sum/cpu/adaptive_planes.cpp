// Average pooling's CPU loops on contiguous tensors with adaptive windows
// (no fixed stride, so no row loops): one (n, c) plane per task, windows and
// divisors from per-call tables. Forward: each output sums its window in the
// body's order (d, h, w) and divides as the body does. Backward: outputs in
// order, each adding its share to the inputs of its window.
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <vector>

#include "../../common/dtype_dispatch.h"
#include "window_sum_cpu_loops.h"
#include "window_tables.h"

namespace pooling_ext {
namespace cpu {

template <typename scalar_t>
void average_forward_adaptive_planes(const WindowSumForwardBody<scalar_t, int64_t>& body) {
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

template <typename scalar_t>
void average_backward_adaptive_planes(const WindowSumBackwardBody<scalar_t, int64_t>& body) {
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

#define POOLING_EXT_INSTANTIATE_FORWARD(scalar_t) \
  template void average_forward_adaptive_planes(const WindowSumForwardBody<scalar_t, int64_t>&);
POOLING_EXT_FOR_EACH_AVG_POOL_TYPE(POOLING_EXT_INSTANTIATE_FORWARD)
#define POOLING_EXT_INSTANTIATE_BACKWARD(scalar_t) \
  template void average_backward_adaptive_planes(const WindowSumBackwardBody<scalar_t, int64_t>&);
POOLING_EXT_FOR_EACH_FLOAT_TYPE(POOLING_EXT_INSTANTIATE_BACKWARD)

}  // namespace cpu
}  // namespace pooling_ext
