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

namespace {

// f(o, box) for each output o of a plane, in order, with its window.
template <class F>
void for_each_window(const PoolGeometry& g, const ExtentTables& extents, const F& f) {
  int64_t o = 0;
  for (int64_t od = 0; od < g.out[0]; ++od) {
    for (int64_t oh = 0; oh < g.out[1]; ++oh) {
      for (int64_t ow = 0; ow < g.out[2]; ++ow, ++o) f(o, extents.box(od, oh, ow));
    }
  }
}

// The sum of one window of a plane, in the body's order (d, h, w).
template <typename acc_t, typename scalar_t>
acc_t window_sum(const PoolGeometry& g, const scalar_t* plane, const WindowBox<int64_t>& box) {
  acc_t sum = acc_t(0);
  for (int64_t id = box.d.first; id < box.d.end; ++id) {
    for (int64_t ih = box.h.first; ih < box.h.end; ++ih) {
      const scalar_t* row = plane + (id * g.in[1] + ih) * g.in[2];
      for (int64_t iw = box.w.first; iw < box.w.end; ++iw) sum += static_cast<acc_t>(row[iw]);
    }
  }
  return sum;
}

// `share` added to every input of one window of a plane.
template <typename acc_t>
void add_to_window(const PoolGeometry& g, acc_t* plane, const WindowBox<int64_t>& box, acc_t share) {
  for (int64_t id = box.d.first; id < box.d.end; ++id) {
    for (int64_t ih = box.h.first; ih < box.h.end; ++ih) {
      acc_t* row = plane + (id * g.in[1] + ih) * g.in[2];
      for (int64_t iw = box.w.first; iw < box.w.end; ++iw) row[iw] += share;
    }
  }
}

}  // namespace

template <typename scalar_t>
void average_forward_adaptive_planes(const WindowSumForwardBody<scalar_t, int64_t>& body) {
  using acc_t = at::opmath_type<scalar_t>;
  const PoolGeometry& g = body.g;
  const ExtentTables extents(g);
  at::parallel_for(0, g.batch * g.channels, grain_for(g.in_plane(), 2), [&](int64_t begin, int64_t stop) {
    for (int64_t plane = begin; plane < stop; ++plane) {
      const scalar_t* x = body.input + plane * g.in_plane();
      scalar_t* out = body.output + plane * g.out_plane();
      for_each_window(g, extents, [&](int64_t o, const WindowBox<int64_t>& box) {
        out[o] = static_cast<scalar_t>(average_of_sum(body.r, box, window_sum<acc_t>(g, x, box)));
      });
    }
  });
}

template <typename scalar_t>
void average_backward_adaptive_planes(const WindowSumBackwardBody<scalar_t, int64_t>& body) {
  using acc_t = at::opmath_type<scalar_t>;
  const PoolGeometry& g = body.g;
  const ExtentTables extents(g);
  const std::vector<acc_t> inverse_divisor = inverse_divisor_table(body.r, g, extents);
  at::parallel_for(0, g.batch * g.channels, grain_for(g.in_plane(), 2), [&](int64_t begin, int64_t stop) {
    std::vector<acc_t> acc(g.in_plane());
    for (int64_t plane = begin; plane < stop; ++plane) {
      std::fill(acc.begin(), acc.end(), acc_t(0));
      const scalar_t* grad = body.grad_output + plane * g.out_plane();
      for_each_window(g, extents, [&](int64_t o, const WindowBox<int64_t>& box) {
        add_to_window(g, acc.data(), box, static_cast<acc_t>(grad[o]) * inverse_divisor[o]);
      });
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
