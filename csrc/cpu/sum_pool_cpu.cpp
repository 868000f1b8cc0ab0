// CPU kernels of average, LP and GeM pooling: the grid code of
// sum_pool_grid.h with a CPU launcher that runs the forward and backward
// bodies through vectorised loops (cpu/sum_pool_loops.h) and every other body
// in parallel, element by element.
#include <ATen/Parallel.h>
#include <torch/library.h>

#include "../sum_pool_grid.h"
#include "sum_pool_loops.h"

namespace pooling_ext {
namespace {

struct SumPoolCpuLauncher {
  static constexpr bool kAllowInt32Index = false;

  template <class Body>
  static void launch(int64_t count, const Body& body) {
    at::parallel_for(0, count, 16384, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) body(i);
    });
  }

  template <typename scalar_t>
  static void launch(int64_t count, const WindowSumForwardBody<scalar_t, int64_t>& body) {
    if (cpu::runs_on_channels_last_copy(body.g, /*global_window=*/false)) {
      const at::ScalarType dtype = c10::CppTypeToScalarType<scalar_t>::value;
      const at::Tensor input = cpu::channels_last_copy(body.input, body.g, /*input_side=*/true, dtype);
      at::Tensor output = cpu::channels_last_scratch(body.g, /*input_side=*/false, dtype);
      WindowSumForwardBody<scalar_t, int64_t> on_copy = body;
      on_copy.input = input.const_data_ptr<scalar_t>();
      on_copy.output = output.mutable_data_ptr<scalar_t>();
      on_copy.g.channels_last = true;
      cpu::window_sum_forward(on_copy);
      cpu::canonical_view(body.output, body.g, /*input_side=*/false, dtype).copy_(output);
      return;
    }
    cpu::window_sum_forward(body);
  }

  template <typename scalar_t>
  static void launch(int64_t count, const WindowSumBackwardBody<scalar_t, int64_t>& body) {
    // Only average pooling has adaptive windows: its backward reads nothing but the gradient.
    if (cpu::runs_on_channels_last_copy(body.g, /*global_window=*/false) &&
        body.r.reduction == WindowReduction::kAverage) {
      const at::ScalarType dtype = c10::CppTypeToScalarType<scalar_t>::value;
      const at::Tensor grad = cpu::channels_last_copy(body.grad_output, body.g, /*input_side=*/false, dtype);
      at::Tensor grad_input = cpu::channels_last_scratch(body.g, /*input_side=*/true, dtype);
      WindowSumBackwardBody<scalar_t, int64_t> on_copy = body;
      on_copy.grad_output = grad.const_data_ptr<scalar_t>();
      on_copy.grad_input = grad_input.mutable_data_ptr<scalar_t>();
      on_copy.g.channels_last = true;
      cpu::window_sum_backward(on_copy);
      cpu::canonical_view(body.grad_input, body.g, /*input_side=*/true, dtype).copy_(grad_input);
      return;
    }
    cpu::window_sum_backward(body);
  }

  template <typename scalar_t>
  static void launch(int64_t count, const PowerMeanExponentGradBody<scalar_t, int64_t>& body) {
    cpu::exponent_grad_partials(count, body);
  }
};

}  // namespace

TORCH_LIBRARY_IMPL(pooling_ext, CPU, m) {
  m.impl("avg_pool_forward", &grid_avg_pool_forward<SumPoolCpuLauncher>);
  m.impl("avg_pool_backward", &grid_avg_pool_backward<SumPoolCpuLauncher>);
  m.impl("adaptive_avg_pool_forward", &grid_adaptive_avg_pool_forward<SumPoolCpuLauncher>);
  m.impl("adaptive_avg_pool_backward", &grid_adaptive_avg_pool_backward<SumPoolCpuLauncher>);
  m.impl("lp_pool_forward", &grid_lp_pool_forward<SumPoolCpuLauncher>);
  m.impl("lp_pool_backward", &grid_lp_pool_backward<SumPoolCpuLauncher>);
  m.impl("gem_forward", &grid_gem_forward<SumPoolCpuLauncher>);
  m.impl("gem_backward", &grid_gem_backward<SumPoolCpuLauncher>);
}

}  // namespace pooling_ext
