// CUDA kernels of fractional max pooling: the launch code of
// fractional_launch.h on the current stream (library.cpp sets the device).
// Window starts in float for half and bfloat16 samples, as torch's CUDA.
#include "../../common/cuda/block_launch.cuh"
#include "../fractional.h"
#include "../fractional_launch.h"

namespace pooling_ext {
namespace cuda {

std::tuple<at::Tensor, at::Tensor> fractional_max_pool_forward(const at::Tensor& self, at::IntArrayRef kernel_size,
                                                               at::IntArrayRef output_size,
                                                               const at::Tensor& random_samples) {
  return grid::fractional_max_pool_forward<CudaLauncher>(self, kernel_size, output_size, random_samples);
}

at::Tensor fractional_max_pool_values(const at::Tensor& self, at::IntArrayRef kernel_size,
                                      at::IntArrayRef output_size, const at::Tensor& random_samples) {
  return grid::fractional_max_pool_values<CudaLauncher>(self, kernel_size, output_size, random_samples);
}

at::Tensor fractional_max_pool_backward(const at::Tensor& grad_output, const at::Tensor& window_offset,
                                        const at::Tensor& random_samples, at::IntArrayRef input_size,
                                        at::IntArrayRef kernel_size) {
  return grid::fractional_max_pool_backward<CudaLauncher>(grad_output, window_offset, random_samples, input_size,
                                                          kernel_size);
}

at::Tensor fractional_max_pool_gather(const at::Tensor& source, const at::Tensor& window_offset,
                                      const at::Tensor& random_samples, at::IntArrayRef kernel_size) {
  return grid::fractional_max_pool_gather<CudaLauncher>(source, window_offset, random_samples, kernel_size);
}

at::Tensor fractional_max_pool_indices(const at::Tensor& window_offset, const at::Tensor& random_samples,
                                       at::IntArrayRef input_size, at::IntArrayRef kernel_size) {
  return grid::fractional_max_pool_indices<CudaLauncher>(window_offset, random_samples, input_size, kernel_size);
}

}  // namespace cuda
}  // namespace pooling_ext
