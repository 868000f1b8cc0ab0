// CUDA kernels of max pooling and unpooling: each is the grid-stride loop of
// launcher.cuh over a per-element body from kernels/max_pool_bodies.h,
// launched by the device-independent code in max_pool_grid.h on the current
// stream under a device guard.
#include <c10/cuda/CUDAGuard.h>
#include <torch/library.h>

#include "../max_pool_grid.h"
#include "launcher.cuh"

namespace pooling_ext {
namespace {

std::tuple<at::Tensor, at::Tensor> max_pool_forward_cuda(const at::Tensor& self, at::IntArrayRef kernel_size,
                                                         at::IntArrayRef stride, at::IntArrayRef padding,
                                                         at::IntArrayRef dilation, bool ceil_mode) {
  const c10::cuda::CUDAGuard guard(self.device());
  return grid_max_pool_forward<CudaLauncher>(self, kernel_size, stride, padding, dilation, ceil_mode);
}

at::Tensor max_pool_backward_cuda(const at::Tensor& grad_output, const at::Tensor& window_offset,
                                  at::IntArrayRef input_size, at::IntArrayRef kernel_size, at::IntArrayRef stride,
                                  at::IntArrayRef padding, at::IntArrayRef dilation) {
  const c10::cuda::CUDAGuard guard(grad_output.device());
  return grid_max_pool_backward<CudaLauncher>(grad_output, window_offset, input_size, kernel_size, stride, padding,
                                              dilation);
}

at::Tensor max_pool_gather_cuda(const at::Tensor& source, const at::Tensor& window_offset, at::IntArrayRef kernel_size,
                                at::IntArrayRef stride, at::IntArrayRef padding, at::IntArrayRef dilation) {
  const c10::cuda::CUDAGuard guard(source.device());
  return grid_max_pool_gather<CudaLauncher>(source, window_offset, kernel_size, stride, padding, dilation);
}

at::Tensor max_pool_indices_cuda(const at::Tensor& window_offset, at::IntArrayRef input_size,
                                 at::IntArrayRef kernel_size, at::IntArrayRef stride, at::IntArrayRef padding,
                                 at::IntArrayRef dilation) {
  const c10::cuda::CUDAGuard guard(window_offset.device());
  return grid_max_pool_indices<CudaLauncher>(window_offset, input_size, kernel_size, stride, padding, dilation);
}

std::tuple<at::Tensor, at::Tensor> adaptive_max_pool_forward_cuda(const at::Tensor& self, at::IntArrayRef output_size) {
  const c10::cuda::CUDAGuard guard(self.device());
  return grid_adaptive_max_pool_forward<CudaLauncher>(self, output_size);
}

at::Tensor adaptive_max_pool_backward_cuda(const at::Tensor& grad_output, const at::Tensor& window_offset,
                                           at::IntArrayRef input_size, at::IntArrayRef output_size) {
  const c10::cuda::CUDAGuard guard(grad_output.device());
  return grid_adaptive_max_pool_backward<CudaLauncher>(grad_output, window_offset, input_size, output_size);
}

at::Tensor adaptive_max_pool_gather_cuda(const at::Tensor& source, const at::Tensor& window_offset,
                                         at::IntArrayRef output_size) {
  const c10::cuda::CUDAGuard guard(source.device());
  return grid_adaptive_max_pool_gather<CudaLauncher>(source, window_offset, output_size);
}

at::Tensor adaptive_max_pool_indices_cuda(const at::Tensor& window_offset, at::IntArrayRef input_size,
                                          at::IntArrayRef output_size) {
  const c10::cuda::CUDAGuard guard(window_offset.device());
  return grid_adaptive_max_pool_indices<CudaLauncher>(window_offset, input_size, output_size);
}

std::tuple<at::Tensor, at::Tensor> fractional_max_pool_forward_cuda(const at::Tensor& self,
                                                                    at::IntArrayRef kernel_size,
                                                                    at::IntArrayRef output_size,
                                                                    const at::Tensor& random_samples) {
  const c10::cuda::CUDAGuard guard(self.device());
  return grid_fractional_max_pool_forward<CudaLauncher>(self, kernel_size, output_size, random_samples);
}

at::Tensor fractional_max_pool_backward_cuda(const at::Tensor& grad_output, const at::Tensor& window_offset,
                                             const at::Tensor& random_samples, at::IntArrayRef input_size,
                                             at::IntArrayRef kernel_size) {
  const c10::cuda::CUDAGuard guard(grad_output.device());
  return grid_fractional_max_pool_backward<CudaLauncher>(grad_output, window_offset, random_samples, input_size,
                                                         kernel_size);
}

at::Tensor fractional_max_pool_gather_cuda(const at::Tensor& source, const at::Tensor& window_offset,
                                           const at::Tensor& random_samples, at::IntArrayRef kernel_size) {
  const c10::cuda::CUDAGuard guard(source.device());
  return grid_fractional_max_pool_gather<CudaLauncher>(source, window_offset, random_samples, kernel_size);
}

at::Tensor fractional_max_pool_indices_cuda(const at::Tensor& window_offset, const at::Tensor& random_samples,
                                            at::IntArrayRef input_size, at::IntArrayRef kernel_size) {
  const c10::cuda::CUDAGuard guard(window_offset.device());
  return grid_fractional_max_pool_indices<CudaLauncher>(window_offset, random_samples, input_size, kernel_size);
}

at::Tensor max_unpool_cuda(const at::Tensor& self, const at::Tensor& indices, at::IntArrayRef output_size) {
  const c10::cuda::CUDAGuard guard(self.device());
  return grid_max_unpool<CudaLauncher>(self, indices, output_size);
}

at::Tensor max_unpool_gather_cuda(const at::Tensor& grad_output, const at::Tensor& indices, int64_t dims) {
  const c10::cuda::CUDAGuard guard(grad_output.device());
  return grid_max_unpool_gather<CudaLauncher>(grad_output, indices, dims);
}

}  // namespace

TORCH_LIBRARY_IMPL(pooling_ext, CUDA, m) {
  m.impl("max_pool_forward", &max_pool_forward_cuda);
  m.impl("max_pool_backward", &max_pool_backward_cuda);
  m.impl("max_pool_gather", &max_pool_gather_cuda);
  m.impl("max_pool_indices", &max_pool_indices_cuda);
  m.impl("adaptive_max_pool_forward", &adaptive_max_pool_forward_cuda);
  m.impl("adaptive_max_pool_backward", &adaptive_max_pool_backward_cuda);
  m.impl("adaptive_max_pool_gather", &adaptive_max_pool_gather_cuda);
  m.impl("adaptive_max_pool_indices", &adaptive_max_pool_indices_cuda);
  m.impl("fractional_max_pool_forward", &fractional_max_pool_forward_cuda);
  m.impl("fractional_max_pool_backward", &fractional_max_pool_backward_cuda);
  m.impl("fractional_max_pool_gather", &fractional_max_pool_gather_cuda);
  m.impl("fractional_max_pool_indices", &fractional_max_pool_indices_cuda);
  m.impl("max_unpool", &max_unpool_cuda);
  m.impl("max_unpool_gather", &max_unpool_gather_cuda);
}

}  // namespace pooling_ext
