// Max pooling, fixed and adaptive windows: the kernels of its ops on each
// device. (Fractional windows: fractional/.)
//
// Every device's kernel of an op has the op's signature, with the schema's
// SymInt[] sizes as `Sizes`: at::IntArrayRef for the CPU and CUDA kernels
// (cpu::, cuda::), c10::SymIntArrayRef for the Meta and Autograd kernels
// (meta::, autograd::) and for the C++ API (ops.h). library.cpp registers them.
#pragma once

#include <ATen/ATen.h>

#include <optional>
#include <tuple>

#define POOLING_EXT_MAX_POOL_KERNELS(Sizes) \
  /* the output and each window's window offset (the tap of its maximum) */ \
  std::tuple<at::Tensor, at::Tensor> max_pool_forward(const at::Tensor& self, at::IntArrayRef kernel_size, at::IntArrayRef stride, at::IntArrayRef padding, at::IntArrayRef dilation, bool ceil_mode); \
  /* the output alone (inference); its autograd kernel runs max_pool_forward where a gradient is needed */ \
  at::Tensor max_pool_values(const at::Tensor& self, at::IntArrayRef kernel_size, at::IntArrayRef stride, at::IntArrayRef padding, at::IntArrayRef dilation, bool ceil_mode); \
  /* grad_output added at each window's argmax */ \
  at::Tensor max_pool_backward(const at::Tensor& grad_output, const at::Tensor& window_offset, Sizes input_size, at::IntArrayRef kernel_size, at::IntArrayRef stride, at::IntArrayRef padding, at::IntArrayRef dilation); \
  /* source at each window's argmax (the backward's derivative) */ \
  at::Tensor max_pool_gather(const at::Tensor& source, const at::Tensor& window_offset, at::IntArrayRef kernel_size, at::IntArrayRef stride, at::IntArrayRef padding, at::IntArrayRef dilation); \
  /* torch's int64 return_indices */ \
  at::Tensor max_pool_indices(const at::Tensor& window_offset, Sizes input_size, at::IntArrayRef kernel_size, at::IntArrayRef stride, at::IntArrayRef padding, at::IntArrayRef dilation); \
  /* the same five with torch's adaptive windows (int32 window offsets) */ \
  std::tuple<at::Tensor, at::Tensor> adaptive_max_pool_forward(const at::Tensor& self, at::IntArrayRef output_size); \
  at::Tensor adaptive_max_pool_values(const at::Tensor& self, at::IntArrayRef output_size); \
  at::Tensor adaptive_max_pool_backward(const at::Tensor& grad_output, const at::Tensor& window_offset, Sizes input_size, at::IntArrayRef output_size); \
  at::Tensor adaptive_max_pool_gather(const at::Tensor& source, const at::Tensor& window_offset, at::IntArrayRef output_size); \
  at::Tensor adaptive_max_pool_indices(const at::Tensor& window_offset, Sizes input_size, at::IntArrayRef output_size);

namespace pooling_ext {
namespace cpu {
POOLING_EXT_MAX_POOL_KERNELS(at::IntArrayRef)
}  // namespace cpu
namespace cuda {
POOLING_EXT_MAX_POOL_KERNELS(at::IntArrayRef)
}  // namespace cuda
namespace meta {
POOLING_EXT_MAX_POOL_KERNELS(c10::SymIntArrayRef)
}  // namespace meta
namespace autograd {
POOLING_EXT_MAX_POOL_KERNELS(c10::SymIntArrayRef)
}  // namespace autograd
}  // namespace pooling_ext
