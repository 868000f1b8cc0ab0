// The CPU loops of the window-sum family (placeholder: element-wise).
#pragma once

#include <ATen/Parallel.h>

#include "../kernels/sum_pool_bodies.h"

namespace pooling_ext {
namespace cpu {

template <typename scalar_t>
void window_sum_forward(const WindowSumForwardBody<scalar_t, int64_t>& body) {
  at::parallel_for(0, body.g.out_numel(), 16384, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) body(i);
  });
}

template <typename scalar_t>
void window_sum_backward(const WindowSumBackwardBody<scalar_t, int64_t>& body) {
  at::parallel_for(0, body.g.in_numel(), 16384, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) body(i);
  });
}

}  // namespace cpu
}  // namespace pooling_ext
