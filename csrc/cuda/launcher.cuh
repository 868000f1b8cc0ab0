// The one __global__ function of pooling_ext: a grid-stride loop over a
// per-element body, launched on the current stream. Every CUDA op is
// device-independent grid code (max_pool_grid.h, sum_pool_grid.h)
// instantiated with this launcher.
#pragma once

#include <ATen/cuda/CUDAContext.h>

namespace pooling_ext {
namespace {

constexpr int kThreadsPerBlock = 256;

template <class Body>
__global__ void __launch_bounds__(kThreadsPerBlock) grid_stride_kernel(int64_t count, Body body) {
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < count; i += step) body(i);
}

struct CudaLauncher {
  static constexpr bool kAllowInt32Index = true;

  template <class Body>
  static void launch(int64_t count, const Body& body) {
    // Enough blocks to fill every SM several times; the loop covers the rest.
    const int64_t max_blocks = static_cast<int64_t>(at::cuda::getCurrentDeviceProperties()->multiProcessorCount) * 32;
    const int64_t blocks = std::min<int64_t>((count + kThreadsPerBlock - 1) / kThreadsPerBlock, max_blocks);
    grid_stride_kernel<<<static_cast<unsigned>(blocks), kThreadsPerBlock, 0, at::cuda::getCurrentCUDAStream()>>>(
        count, body);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  }
};

}  // namespace
}  // namespace pooling_ext
