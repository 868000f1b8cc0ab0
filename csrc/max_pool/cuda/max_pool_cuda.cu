// CUDA kernels of max pooling (fixed and adaptive windows): the launch code
// of max_pool_launch.h on the current stream (library.cpp sets the device).
#include "../../common/cuda/block_launch.cuh"
#include "../max_pool.h"
#include "../max_pool_launch.h"

namespace pooling_ext {
namespace cuda {

std::tuple<at::Tensor, at::Tensor> max_pool_forward(const at::Tensor& self, at::IntArrayRef kernel_size,
                                                    at::IntArrayRef stride, at::IntArrayRef padding,
                                                    at::IntArrayRef dilation, bool ceil_mode) {
  return grid::max_pool_forward<CudaLauncher>(self, kernel_size, stride, padding, dilation, ceil_mode);
}

at::Tensor max_pool_values(const at::Tensor& self, at::IntArrayRef kernel_size, at::IntArrayRef stride,
                           at::IntArrayRef padding, at::IntArrayRef dilation, bool ceil_mode) {
  return grid::max_pool_values<CudaLauncher>(self, kernel_size, stride, padding, dilation, ceil_mode);
}

at::Tensor max_pool_backward(const at::Tensor& grad_output, const at::Tensor& window_offset, at::IntArrayRef input_size,
                             at::IntArrayRef kernel_size, at::IntArrayRef stride, at::IntArrayRef padding,
                             at::IntArrayRef dilation) {
  return grid::max_pool_backward<CudaLauncher>(grad_output, window_offset, input_size, kernel_size, stride, padding,
                                               dilation);
}

at::Tensor max_pool_gather(const at::Tensor& source, const at::Tensor& window_offset, at::IntArrayRef kernel_size,
                           at::IntArrayRef stride, at::IntArrayRef padding, at::IntArrayRef dilation) {
  return grid::max_pool_gather<CudaLauncher>(source, window_offset, kernel_size, stride, padding, dilation);
}

at::Tensor max_pool_indices(const at::Tensor& window_offset, at::IntArrayRef input_size, at::IntArrayRef kernel_size,
                            at::IntArrayRef stride, at::IntArrayRef padding, at::IntArrayRef dilation) {
  return grid::max_pool_indices<CudaLauncher>(window_offset, input_size, kernel_size, stride, padding, dilation);
}

std::tuple<at::Tensor, at::Tensor> adaptive_max_pool_forward(const at::Tensor& self, at::IntArrayRef output_size) {
  return grid::adaptive_max_pool_forward<CudaLauncher>(self, output_size);
}

at::Tensor adaptive_max_pool_values(const at::Tensor& self, at::IntArrayRef output_size) {
  return grid::adaptive_max_pool_values<CudaLauncher>(self, output_size);
}

at::Tensor adaptive_max_pool_backward(const at::Tensor& grad_output, const at::Tensor& window_offset,
                                      at::IntArrayRef input_size, at::IntArrayRef output_size) {
  return grid::adaptive_max_pool_backward<CudaLauncher>(grad_output, window_offset, input_size, output_size);
}

at::Tensor adaptive_max_pool_gather(const at::Tensor& source, const at::Tensor& window_offset,
                                    at::IntArrayRef output_size) {
  return grid::adaptive_max_pool_gather<CudaLauncher>(source, window_offset, output_size);
}

at::Tensor adaptive_max_pool_indices(const at::Tensor& window_offset, at::IntArrayRef input_size,
                                     at::IntArrayRef output_size) {
  return grid::adaptive_max_pool_indices<CudaLauncher>(window_offset, input_size, output_size);
}

}  // namespace cuda
}  // namespace pooling_ext
