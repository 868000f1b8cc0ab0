// CUDA kernels of average, LP and GeM pooling: the launch code of
// window_sum_launch.h on the current stream (library.cpp sets the device).
#include "../../common/cuda/block_launch.cuh"
#include "../window_sum.h"
#include "../window_sum_launch.h"

namespace pooling_ext {
namespace cuda {

at::Tensor avg_pool_forward(const at::Tensor& self, at::IntArrayRef kernel_size, at::IntArrayRef stride,
                            at::IntArrayRef padding, bool ceil_mode, bool count_include_pad,
                            std::optional<int64_t> divisor_override) {
  return grid::avg_pool_forward<CudaLauncher>(self, kernel_size, stride, padding, ceil_mode, count_include_pad,
                                              divisor_override);
}

at::Tensor avg_pool_backward(const at::Tensor& grad_output, at::IntArrayRef input_size, at::IntArrayRef kernel_size,
                             at::IntArrayRef stride, at::IntArrayRef padding, bool ceil_mode, bool count_include_pad,
                             std::optional<int64_t> divisor_override) {
  return grid::avg_pool_backward<CudaLauncher>(grad_output, input_size, kernel_size, stride, padding, ceil_mode,
                                               count_include_pad, divisor_override);
}

at::Tensor adaptive_avg_pool_forward(const at::Tensor& self, at::IntArrayRef output_size) {
  return grid::adaptive_avg_pool_forward<CudaLauncher>(self, output_size);
}

at::Tensor adaptive_avg_pool_backward(const at::Tensor& grad_output, at::IntArrayRef input_size,
                                      at::IntArrayRef output_size) {
  return grid::adaptive_avg_pool_backward<CudaLauncher>(grad_output, input_size, output_size);
}

at::Tensor lp_pool_forward(const at::Tensor& self, double norm_type, at::IntArrayRef kernel_size,
                           at::IntArrayRef stride, bool ceil_mode, bool true_norm) {
  return grid::lp_pool_forward<CudaLauncher>(self, norm_type, kernel_size, stride, ceil_mode, true_norm);
}

at::Tensor lp_pool_backward(const at::Tensor& grad_output, const at::Tensor& self, const at::Tensor& output,
                            double norm_type, at::IntArrayRef kernel_size, at::IntArrayRef stride, bool ceil_mode,
                            bool true_norm) {
  return grid::lp_pool_backward<CudaLauncher>(grad_output, self, output, norm_type, kernel_size, stride, ceil_mode,
                                              true_norm);
}

at::Tensor gem_forward(const at::Tensor& self, const at::Tensor& p, double eps) {
  return grid::gem_forward<CudaLauncher>(self, p, eps);
}

std::tuple<at::Tensor, at::Tensor> gem_backward(const at::Tensor& grad_output, const at::Tensor& self,
                                                const at::Tensor& output, const at::Tensor& p, double eps,
                                                bool p_requires_grad) {
  return grid::gem_backward<CudaLauncher>(grad_output, self, output, p, eps, p_requires_grad);
}

}  // namespace cuda
}  // namespace pooling_ext
