// Block programs (common/block_program.h) on CUDA: the one __global__
// function of pooling_ext, the GPU side of the block interface, and the
// launcher the families' launch code is instantiated with.
#pragma once

#include <ATen/cuda/CUDAContext.h>
#include <c10/util/Exception.h>

#include <cstdint>
#include <limits>

#include "../block_program.h"

namespace pooling_ext {

// The value of lane (lane ^ lane_mask) of the calling warp. Overloads rather
// than a template, so that every one of them compiles in CI.
__device__ __forceinline__ float shuffle_xor(float v, int lane_mask) {
  return __shfl_xor_sync(0xffffffffu, v, lane_mask);
}
__device__ __forceinline__ double shuffle_xor(double v, int lane_mask) {
  return __shfl_xor_sync(0xffffffffu, v, lane_mask);
}
__device__ __forceinline__ int32_t shuffle_xor(int32_t v, int lane_mask) {
  return __shfl_xor_sync(0xffffffffu, v, lane_mask);
}
__device__ __forceinline__ uint32_t shuffle_xor(uint32_t v, int lane_mask) {
  return __shfl_xor_sync(0xffffffffu, v, lane_mask);
}
__device__ __forceinline__ int64_t shuffle_xor(int64_t v, int lane_mask) {
  return __shfl_xor_sync(0xffffffffu, static_cast<long long>(v), lane_mask);
}

// One thread's view of its block: its own State, the block's Shared.
template <class Program>
class CudaBlock {
 public:
  using State = typename Program::State;
  using Shared = typename Program::Shared;

  __device__ explicit CudaBlock(Shared& shared)
      : thread_{static_cast<int64_t>(blockIdx.x), static_cast<int32_t>(threadIdx.x), static_cast<int64_t>(gridDim.x)},
        state_{},
        shared_(shared) {}

  template <class Phase>
  __device__ __forceinline__ void phase(const Phase& f) {
    f(thread_, state_, shared_);
  }
  __device__ __forceinline__ void barrier() { __syncthreads(); }

  template <typename T>
  __device__ __forceinline__ void warp_sum(T State::*field) {
    T v = state_.*field;
    for (int round = kWarpSize / 2; round > 0; round /= 2) v = v + shuffle_xor(v, round);
    state_.*field = v;
  }
  template <typename T>
  __device__ __forceinline__ void warp_max(T State::*field) {
    T v = state_.*field;
    for (int round = kWarpSize / 2; round > 0; round /= 2) v = larger_of(v, shuffle_xor(v, round));
    state_.*field = v;
  }
  template <typename T>
  __device__ __forceinline__ void warp_shuffle_xor(T State::*field, int lane_mask) {
    state_.*field = shuffle_xor(state_.*field, lane_mask);
  }
  __device__ __forceinline__ void warp_ballot(bool State::*predicate, uint32_t State::*mask) {
    state_.*mask = __ballot_sync(0xffffffffu, state_.*predicate);
  }

 private:
  BlockThread thread_;
  State state_;
  Shared& shared_;
};

template <class Program>
__global__ void __launch_bounds__(Program::kThreads) block_program_kernel(const Program program) {
  __shared__ typename Program::Shared shared;
  CudaBlock<Program> block(shared);
  program.run(block);
}

struct CudaLauncher {
  static constexpr bool kAllowInt32Index = true;

  template <class Program>
  static void blocks(int64_t count, const Program& program) {
    static_assert(Program::kThreads % kWarpSize == 0, "a block program runs whole warps");
    if (count == 0) return;
    TORCH_CHECK(count <= std::numeric_limits<int32_t>::max(), "pooling_ext: a launch of ", count,
                " blocks exceeds the grid");
    block_program_kernel<Program>
        <<<static_cast<unsigned>(count), Program::kThreads, 0, at::cuda::getCurrentCUDAStream()>>>(program);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  }

  template <class Body>
  static void elementwise(int64_t count, const Body& body) {
    // Enough blocks to fill every multiprocessor several times; the grid-stride loop covers the rest.
    const int64_t resident = static_cast<int64_t>(at::cuda::getCurrentDeviceProperties()->multiProcessorCount) * 32;
    blocks(elementwise_blocks(count, resident), ElementwiseProgram<Body>{body, count});
  }
};

}  // namespace pooling_ext
