// CUDA kernels of average, LP and GeM pooling: the device-independent grid
// code of sum_pool_grid.h with the CUDA launcher, under a device guard.
#include <c10/cuda/CUDAGuard.h>
#include <torch/library.h>

#include "../sum_pool_grid.h"
#include "launcher.cuh"

namespace pooling_ext {
namespace {

at::Tensor avg_pool_forward_cuda(const at::Tensor& self, at::IntArrayRef kernel_size, at::IntArrayRef stride,
                                 at::IntArrayRef padding, bool ceil_mode, bool count_include_pad,
                                 std::optional<int64_t> divisor_override) {
  const c10::cuda::CUDAGuard guard(self.device());
  return grid_avg_pool_forward<CudaLauncher>(self, kernel_size, stride, padding, ceil_mode, count_include_pad,
                                             divisor_override);
}

at::Tensor avg_pool_backward_cuda(const at::Tensor& grad_output, at::IntArrayRef input_size,
                                  at::IntArrayRef kernel_size, at::IntArrayRef stride, at::IntArrayRef padding,
                                  bool ceil_mode, bool count_include_pad, std::optional<int64_t> divisor_override) {
  const c10::cuda::CUDAGuard guard(grad_output.device());
  return grid_avg_pool_backward<CudaLauncher>(grad_output, input_size, kernel_size, stride, padding, ceil_mode,
                                              count_include_pad, divisor_override);
}

at::Tensor adaptive_avg_pool_forward_cuda(const at::Tensor& self, at::IntArrayRef output_size) {
  const c10::cuda::CUDAGuard guard(self.device());
  return grid_adaptive_avg_pool_forward<CudaLauncher>(self, output_size);
}

at::Tensor adaptive_avg_pool_backward_cuda(const at::Tensor& grad_output, at::IntArrayRef input_size,
                                           at::IntArrayRef output_size) {
  const c10::cuda::CUDAGuard guard(grad_output.device());
  return grid_adaptive_avg_pool_backward<CudaLauncher>(grad_output, input_size, output_size);
}

at::Tensor lp_pool_forward_cuda(const at::Tensor& self, double norm_type, at::IntArrayRef kernel_size,
                                at::IntArrayRef stride, bool ceil_mode, bool true_norm) {
  const c10::cuda::CUDAGuard guard(self.device());
  return grid_lp_pool_forward<CudaLauncher>(self, norm_type, kernel_size, stride, ceil_mode, true_norm);
}

at::Tensor lp_pool_backward_cuda(const at::Tensor& grad_output, const at::Tensor& self, const at::Tensor& output,
                                 double norm_type, at::IntArrayRef kernel_size, at::IntArrayRef stride,
                                 bool ceil_mode, bool true_norm) {
  const c10::cuda::CUDAGuard guard(grad_output.device());
  return grid_lp_pool_backward<CudaLauncher>(grad_output, self, output, norm_type, kernel_size, stride, ceil_mode,
                                             true_norm);
}

at::Tensor gem_forward_cuda(const at::Tensor& self, const at::Tensor& p, double eps) {
  const c10::cuda::CUDAGuard guard(self.device());
  return grid_gem_forward<CudaLauncher>(self, p, eps);
}

std::tuple<at::Tensor, at::Tensor> gem_backward_cuda(const at::Tensor& grad_output, const at::Tensor& self,
                                                     const at::Tensor& output, const at::Tensor& p, double eps,
                                                     bool p_requires_grad) {
  const c10::cuda::CUDAGuard guard(grad_output.device());
  return grid_gem_backward<CudaLauncher>(grad_output, self, output, p, eps, p_requires_grad);
}

}  // namespace

TORCH_LIBRARY_IMPL(pooling_ext, CUDA, m) {
  m.impl("avg_pool_forward", &avg_pool_forward_cuda);
  m.impl("avg_pool_backward", &avg_pool_backward_cuda);
  m.impl("adaptive_avg_pool_forward", &adaptive_avg_pool_forward_cuda);
  m.impl("adaptive_avg_pool_backward", &adaptive_avg_pool_backward_cuda);
  m.impl("lp_pool_forward", &lp_pool_forward_cuda);
  m.impl("lp_pool_backward", &lp_pool_backward_cuda);
  m.impl("gem_forward", &gem_forward_cuda);
  m.impl("gem_backward", &gem_backward_cuda);
}

}  // namespace pooling_ext
