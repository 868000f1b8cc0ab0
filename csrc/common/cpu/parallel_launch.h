// The CPU's launcher for the device-independent launch code, for the ops
// whose per-element bodies need no loop of their own on the CPU (gather,
// indices, fractional window starts, ...): the elements in parallel,
// 64-bit indices. It launches no block programs: CPU kernels are loops.
#pragma once

#include <ATen/Parallel.h>

#include <cstdint>

#include "loop_support.h"

namespace pooling_ext {

struct ParallelCpuLauncher {
  static constexpr bool kAllowInt32Index = false;

  template <class Body>
  static void elementwise(int64_t count, const Body& body) {
    cpu::parallel_for_each_index(count, body);
  }
};

}  // namespace pooling_ext
