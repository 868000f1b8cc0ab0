// CUDA kernels of max unpooling: the launch code of unpool_launch.h on the
// current stream (library.cpp sets the device).
#include "../../common/cuda/block_launch.cuh"
#include "../unpool.h"
#include "../unpool_launch.h"

namespace pooling_ext {
namespace cuda {

at::Tensor max_unpool(const at::Tensor& self, const at::Tensor& indices, at::IntArrayRef output_size) {
  return grid::max_unpool<CudaLauncher>(self, indices, output_size);
}

at::Tensor max_unpool_gather(const at::Tensor& grad_output, const at::Tensor& indices, int64_t dims) {
  return grid::max_unpool_gather<CudaLauncher>(grad_output, indices, dims);
}

}  // namespace cuda
}  // namespace pooling_ext
