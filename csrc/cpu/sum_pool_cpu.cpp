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
    cpu::window_sum_forward(body);
  }

  template <typename scalar_t>
  static void launch(int64_t count, const WindowSumBackwardBody<scalar_t, int64_t>& body) {
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
