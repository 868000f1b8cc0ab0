// Fractional max pooling's CPU backward: each plane's output gradients added
// at their argmax in output order by one task (see fractional_cpu_loops.h).
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <type_traits>
#include <vector>

#include "../../common/cpu/loop_support.h"
#include "../../common/dtype_dispatch.h"
#include "fractional_cpu_loops.h"

namespace pooling_ext {
namespace cpu {
namespace {

// Adds the output gradients of channel c of sample n at their argmax into
// `sums`, in output order: the plane's sums `in_step` apart (1 for a
// contiguous plane, the task's width in a channels-last buffer); the
// gradients and taps `grad_step` apart. Steps of 1 are passed at compile time.
template <typename scalar_t, typename offset_t, typename acc_t, class InStep, class GradStep>
void scatter_plane(const FractionalMaxBackwardBody<scalar_t, offset_t>& body, const std::vector<int64_t>& tap_offset,
                   int64_t n, int64_t c, acc_t* sums, InStep in_step, GradStep grad_step) {
  const PoolGeometry& g = body.g;
  const FractionalStarts<int64_t> s(body.starts, g, n, c);
  const int64_t first_out = g.channels_last ? n * g.out_plane() * g.channels + c : (n * g.channels + c) * g.out_plane();
  const scalar_t* grad = body.grad_output + first_out;
  const offset_t* taps = body.window_offset + first_out;
  for (int64_t od = 0; od < g.out[0]; ++od) {
    for (int64_t oh = 0; oh < g.out[1]; ++oh) {
      acc_t* row = sums + (s.dim[0][od] * g.in[1] + s.dim[1][oh]) * g.in[2] * in_step;
      for (int64_t ow = 0; ow < g.out[2]; ++ow, grad += grad_step, taps += grad_step) {
        row[(s.dim[2][ow] + tap_offset[static_cast<int64_t>(*taps)]) * in_step] += static_cast<acc_t>(*grad);
      }
    }
  }
}

// A task's buffer of sums, (spatial, channel in task), written out in
// grad_input's layout.
template <typename scalar_t, typename acc_t>
void write_buffer(const PoolGeometry& g, const std::vector<acc_t>& buffer, int64_t n, int64_t c_begin, int64_t width,
                  scalar_t* grad_input) {
  const int64_t in_plane = g.in_plane();
  if (g.channels_last) {
    scalar_t* out = grad_input + n * in_plane * g.channels + c_begin;
    for (int64_t s = 0; s < in_plane; ++s, out += g.channels) {
      for (int64_t c = 0; c < width; ++c) out[c] = static_cast<scalar_t>(buffer[s * width + c]);
    }
  } else {
    scalar_t* out = grad_input + (n * g.channels + c_begin) * in_plane;
    for (int64_t i = 0; i < width * in_plane; ++i) out[i] = static_cast<scalar_t>(buffer[i]);
  }
}

}  // namespace

template <typename scalar_t, typename offset_t>
void fractional_backward_scatter(const FractionalMaxBackwardBody<scalar_t, offset_t>& body,
                                 const FractionalBackwardTasks& tasks) {
  using acc_t = at::opmath_type<scalar_t>;
  const PoolGeometry& g = body.g;
  const std::vector<int64_t> tap_offset = window_tap_offsets(g);
  const int64_t per_task = tasks.channels_per_task;
  const int64_t blocks = (g.channels + per_task - 1) / per_task;
  const auto unit = std::integral_constant<int64_t, 1>{};
  const auto run_task = [&](int64_t n, int64_t c_begin, int64_t c_end, std::vector<acc_t>& buffer) {
    const int64_t width = c_end - c_begin;
    if (tasks.sums_in_buffer) buffer.assign(g.in_plane() * width, acc_t(0));
    for (int64_t c = c_begin; c < c_end; ++c) {
      if (g.channels_last) {
        scatter_plane(body, tap_offset, n, c, buffer.data() + (c - c_begin), width, g.channels);
      } else if (tasks.sums_in_buffer) {  // a contiguous task is one plane: a buffer of width 1
        scatter_plane(body, tap_offset, n, c, buffer.data(), unit, unit);
      } else {  // contiguous float or double: acc_t is scalar_t
        acc_t* plane = reinterpret_cast<acc_t*>(body.grad_input + (n * g.channels + c) * g.in_plane());
        scatter_plane(body, tap_offset, n, c, plane, unit, unit);
      }
    }
    if (tasks.sums_in_buffer) write_buffer(g, buffer, n, c_begin, width, body.grad_input);
  };
  at::parallel_for(0, g.batch * blocks, grain_for(g.out_plane() * per_task), [&](int64_t begin, int64_t end) {
    std::vector<acc_t> buffer;
    for (int64_t task = begin; task < end; ++task) {
      const int64_t n = task / blocks, c_begin = (task % blocks) * per_task;
      run_task(n, c_begin, std::min(g.channels, c_begin + per_task), buffer);
    }
  });
}

#define POOLING_EXT_INSTANTIATE(scalar_t, offset_t)                                               \
  template void fractional_backward_scatter(const FractionalMaxBackwardBody<scalar_t, offset_t>&, \
                                            const FractionalBackwardTasks&);
#define POOLING_EXT_INSTANTIATE_OFFSETS(scalar_t) POOLING_EXT_FOR_EACH_OFFSET_TYPE(POOLING_EXT_INSTANTIATE, scalar_t)
POOLING_EXT_FOR_EACH_FLOAT_TYPE(POOLING_EXT_INSTANTIATE_OFFSETS)

}  // namespace cpu
}  // namespace pooling_ext
