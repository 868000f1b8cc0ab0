// The C++ API of pooling_ext: every op of library.cpp called through the
// dispatcher, so C++ users get the same kernels, autograd and checks as
// Python users. The ops and what they compute are listed with their family:
//   max_pool/max_pool.h      max_pool_*, adaptive_max_pool_*
//   fractional/fractional.h  fractional_max_pool_*
//   unpool/unpool.h          max_unpool, max_unpool_gather
//   window_sum/window_sum.h  avg_pool_*, adaptive_avg_pool_*, lp_pool_*, gem_*
// plus a torch.nn.functional-style max_pool2d.
#pragma once

#include <ATen/ATen.h>

#include "build_info.h"
#include "fractional/fractional.h"
#include "max_pool/max_pool.h"
#include "unpool/unpool.h"
#include "window_sum/window_sum.h"

namespace pooling_ext {

POOLING_EXT_MAX_POOL_KERNELS(c10::SymIntArrayRef)
POOLING_EXT_FRACTIONAL_KERNELS(c10::SymIntArrayRef)
POOLING_EXT_UNPOOL_KERNELS(c10::SymIntArrayRef)
POOLING_EXT_WINDOW_SUM_KERNELS(c10::SymIntArrayRef)

// torch.nn.functional.max_pool2d for C++ users (stride defaults to kernel_size).
at::Tensor max_pool2d(const at::Tensor& self, at::IntArrayRef kernel_size, at::IntArrayRef stride = {},
                      at::IntArrayRef padding = {0, 0}, at::IntArrayRef dilation = {1, 1}, bool ceil_mode = false);

}  // namespace pooling_ext
