// Fractional max pooling: the kernels of its ops on each device. The windows
// come from random_samples (N' >= N, C, dims), as torch's.
//
// Every device's kernel of an op has the op's signature, with the schema's
// SymInt[] sizes as `Sizes`: at::IntArrayRef for the CPU and CUDA kernels
// (cpu::, cuda::), c10::SymIntArrayRef for the Meta and Autograd kernels
// (meta::, autograd::) and for the C++ API (ops.h). library.cpp registers them.
#pragma once

#include <ATen/ATen.h>

#include <optional>
#include <tuple>

#define POOLING_EXT_FRACTIONAL_KERNELS(Sizes) \
  /* the output and the window offsets, as max pooling's */ \
  std::tuple<at::Tensor, at::Tensor> fractional_max_pool_forward(const at::Tensor& self, at::IntArrayRef kernel_size, at::IntArrayRef output_size, const at::Tensor& random_samples); \
  /* the output alone (inference), as max_pool_values */ \
  at::Tensor fractional_max_pool_values(const at::Tensor& self, at::IntArrayRef kernel_size, at::IntArrayRef output_size, const at::Tensor& random_samples); \
  at::Tensor fractional_max_pool_backward(const at::Tensor& grad_output, const at::Tensor& window_offset, const at::Tensor& random_samples, Sizes input_size, at::IntArrayRef kernel_size); \
  at::Tensor fractional_max_pool_gather(const at::Tensor& source, const at::Tensor& window_offset, const at::Tensor& random_samples, at::IntArrayRef kernel_size); \
  at::Tensor fractional_max_pool_indices(const at::Tensor& window_offset, const at::Tensor& random_samples, Sizes input_size, at::IntArrayRef kernel_size);

namespace pooling_ext {
namespace cpu {
POOLING_EXT_FRACTIONAL_KERNELS(at::IntArrayRef)
}  // namespace cpu
namespace cuda {
POOLING_EXT_FRACTIONAL_KERNELS(at::IntArrayRef)
}  // namespace cuda
namespace meta {
POOLING_EXT_FRACTIONAL_KERNELS(c10::SymIntArrayRef)
}  // namespace meta
namespace autograd {
POOLING_EXT_FRACTIONAL_KERNELS(c10::SymIntArrayRef)
}  // namespace autograd
}  // namespace pooling_ext
