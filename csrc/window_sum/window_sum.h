// The window-sum family, average pooling (fixed and adaptive windows), LP
// pooling and GeM: the kernels of its ops on each device.
//
// Every device's kernel of an op has the op's signature, with the schema's
// SymInt[] sizes as `Sizes`: at::IntArrayRef for the CPU and CUDA kernels
// (cpu::, cuda::), c10::SymIntArrayRef for the Meta and Autograd kernels
// (meta::, autograd::) and for the C++ API (ops.h). library.cpp registers them.
#pragma once

#include <ATen/ATen.h>

#include <optional>
#include <tuple>

#define POOLING_EXT_WINDOW_SUM_KERNELS(Sizes) \
  /* average pooling with torch's rules; its backward (linear in grad_output) */ \
  at::Tensor avg_pool_forward(const at::Tensor& self, at::IntArrayRef kernel_size, at::IntArrayRef stride, at::IntArrayRef padding, bool ceil_mode, bool count_include_pad, std::optional<int64_t> divisor_override); \
  at::Tensor avg_pool_backward(const at::Tensor& grad_output, Sizes input_size, at::IntArrayRef kernel_size, at::IntArrayRef stride, at::IntArrayRef padding, bool ceil_mode, bool count_include_pad, std::optional<int64_t> divisor_override); \
  /* adaptive average pooling to output_size (torch's windows) */ \
  at::Tensor adaptive_avg_pool_forward(const at::Tensor& self, at::IntArrayRef output_size); \
  at::Tensor adaptive_avg_pool_backward(const at::Tensor& grad_output, Sizes input_size, at::IntArrayRef output_size); \
  /* LP pooling, fused (true_norm: |x| to the power); its backward reads only the input and output */ \
  at::Tensor lp_pool_forward(const at::Tensor& self, double norm_type, at::IntArrayRef kernel_size, at::IntArrayRef stride, bool ceil_mode, bool true_norm); \
  at::Tensor lp_pool_backward(const at::Tensor& grad_output, const at::Tensor& self, const at::Tensor& output, double norm_type, at::IntArrayRef kernel_size, at::IntArrayRef stride, bool ceil_mode, bool true_norm); \
  /* GeM: (mean of clamp(x, eps)^p over the spatial dims)^(1/p), p a one-element tensor; its backward also gives dp */ \
  at::Tensor gem_forward(const at::Tensor& self, const at::Tensor& p, double eps); \
  std::tuple<at::Tensor, at::Tensor> gem_backward(const at::Tensor& grad_output, const at::Tensor& self, const at::Tensor& output, const at::Tensor& p, double eps, bool p_requires_grad);

namespace pooling_ext {
namespace cpu {
POOLING_EXT_WINDOW_SUM_KERNELS(at::IntArrayRef)
}  // namespace cpu
namespace cuda {
POOLING_EXT_WINDOW_SUM_KERNELS(at::IntArrayRef)
}  // namespace cuda
namespace meta {
POOLING_EXT_WINDOW_SUM_KERNELS(c10::SymIntArrayRef)
}  // namespace meta
namespace autograd {
POOLING_EXT_WINDOW_SUM_KERNELS(c10::SymIntArrayRef)
}  // namespace autograd
}  // namespace pooling_ext
