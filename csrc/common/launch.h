// The launch interface of the device-independent kernel code (each family's
// *_launch.h). A Launcher runs kernels on one device:
//
//   Launcher::elementwise(count, body)   body(i) for every i in [0, count)
//   Launcher::blocks(blocks, program)    a block program (common/block_program.h) on `blocks` blocks
//   Launcher::kAllowInt32Index           whether with_index_type may pick 32-bit index arithmetic
//
// Launchers: CudaLauncher (common/cuda/block_launch.cuh); ParallelCpuLauncher
// (common/cpu/parallel_launch.h: element-wise only, for the CPU ops that need
// no loop of their own); and the test emulator's (tests/emulation/), which
// runs the CUDA code's launches on the CPU with 32-bit or 64-bit indices.
#pragma once

#include <algorithm>
#include <cstdint>

#include "block_program.h"
#include "window.h"

namespace pooling_ext {

// Whether every index of the problem (elements, window spans, the products
// of the window policy) fits in int32.
inline bool fits_int32_index(const PoolGeometry& g) {
  constexpr int64_t kInt32Limit = (int64_t(1) << 31) - 1;
  int64_t largest = std::max({g.in_numel(), g.out_numel(), g.kernel_volume()});
  for (int d = 0; d < kMaxSpatialDims; ++d) {
    largest = std::max(largest, (g.out[d] + 1) * g.stride[d] + g.kernel[d] * g.dilation[d]);
  }
  return largest < kInt32Limit;
}

// Calls f(geometry) with 32-bit index arithmetic when every index of the
// problem fits in int32 (much faster on GPUs), else with 64-bit. A launcher
// can forbid the 32-bit path (the emulator does, to test the 64-bit one).
template <class Launcher, typename F>
void with_index_type(const PoolGeometry& g, const F& f) {
  if (Launcher::kAllowInt32Index && fits_int32_index(g)) {
    f(g.as<int32_t>());
  } else {
    f(g);
  }
}

}  // namespace pooling_ext
