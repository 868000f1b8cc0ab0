// Max unpooling: the kernels of its ops on each device.
//
// Every device's kernel of an op has the op's signature, with the schema's
// SymInt[] sizes as `Sizes`: at::IntArrayRef for the CPU and CUDA kernels
// (cpu::, cuda::), c10::SymIntArrayRef for the Meta and Autograd kernels
// (meta::, autograd::) and for the C++ API (ops.h). library.cpp registers them.
#pragma once

#include <ATen/ATen.h>

#include <optional>
#include <tuple>

#define POOLING_EXT_UNPOOL_KERNELS(Sizes) \
  /* each input value written at its index into a zeroed output of output_size (the last in input order wins) */ \
  at::Tensor max_unpool(const at::Tensor& self, const at::Tensor& indices, Sizes output_size); \
  /* the backward: each input element takes the gradient at its index */ \
  at::Tensor max_unpool_gather(const at::Tensor& grad_output, const at::Tensor& indices, int64_t dims);

namespace pooling_ext {
namespace cpu {
POOLING_EXT_UNPOOL_KERNELS(at::IntArrayRef)
}  // namespace cpu
namespace cuda {
POOLING_EXT_UNPOOL_KERNELS(at::IntArrayRef)
}  // namespace cuda
namespace meta {
POOLING_EXT_UNPOOL_KERNELS(c10::SymIntArrayRef)
}  // namespace meta
namespace autograd {
POOLING_EXT_UNPOOL_KERNELS(c10::SymIntArrayRef)
}  // namespace autograd
}  // namespace pooling_ext
