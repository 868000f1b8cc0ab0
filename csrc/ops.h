// C++ API of pooling_ext: thin calls through the dispatcher, so C++ users get
// the same kernels, autograd and checks as Python users.
#pragma once

#include <ATen/ATen.h>

#include <optional>
#include <tuple>

namespace pooling_ext {

// Max pooling over the last kernel_size.size() dims (1, 2 or 3) of a batched
// or unbatched input. Returns the output and the compact window offset of
// each maximum (what backward uses); autograd-aware.
std::tuple<at::Tensor, at::Tensor> max_pool_forward(const at::Tensor& self, at::IntArrayRef kernel_size,
                                                    at::IntArrayRef stride, at::IntArrayRef padding,
                                                    at::IntArrayRef dilation, bool ceil_mode);

// torch's int64 return_indices from a window offset.
at::Tensor max_pool_indices(const at::Tensor& window_offset, c10::SymIntArrayRef input_size,
                            at::IntArrayRef kernel_size, at::IntArrayRef stride, at::IntArrayRef padding,
                            at::IntArrayRef dilation);

at::Tensor max_pool_backward(const at::Tensor& grad_output, const at::Tensor& window_offset,
                             c10::SymIntArrayRef input_size, at::IntArrayRef kernel_size, at::IntArrayRef stride,
                             at::IntArrayRef padding, at::IntArrayRef dilation);

at::Tensor max_pool_gather(const at::Tensor& source, const at::Tensor& window_offset, at::IntArrayRef kernel_size,
                           at::IntArrayRef stride, at::IntArrayRef padding, at::IntArrayRef dilation);

// Adaptive max pooling to output_size (torch's adaptive windows): output and
// int32 window offsets; the indices op converts them to torch's int64 indices.
std::tuple<at::Tensor, at::Tensor> adaptive_max_pool_forward(const at::Tensor& self, at::IntArrayRef output_size);
at::Tensor adaptive_max_pool_indices(const at::Tensor& window_offset, c10::SymIntArrayRef input_size,
                                     at::IntArrayRef output_size);

// Max unpooling to the spatial size output_size; autograd-aware.
at::Tensor max_unpool(const at::Tensor& self, const at::Tensor& indices, c10::SymIntArrayRef output_size);

at::Tensor max_unpool_gather(const at::Tensor& grad_output, const at::Tensor& indices, int64_t dims);

// Average pooling (torch's avg_pool rules); autograd-aware, differentiable backward.
at::Tensor avg_pool_forward(const at::Tensor& self, at::IntArrayRef kernel_size, at::IntArrayRef stride,
                            at::IntArrayRef padding, bool ceil_mode, bool count_include_pad,
                            std::optional<int64_t> divisor_override);
at::Tensor avg_pool_backward(const at::Tensor& grad_output, c10::SymIntArrayRef input_size,
                             at::IntArrayRef kernel_size, at::IntArrayRef stride, at::IntArrayRef padding,
                             bool ceil_mode, bool count_include_pad, std::optional<int64_t> divisor_override);

// Adaptive average pooling (torch's adaptive window rule) to output_size, one
// entry per pooled dim; autograd-aware, differentiable backward.
at::Tensor adaptive_avg_pool_forward(const at::Tensor& self, at::IntArrayRef output_size);
at::Tensor adaptive_avg_pool_backward(const at::Tensor& grad_output, c10::SymIntArrayRef input_size,
                                      at::IntArrayRef output_size);

// LP (power-average) pooling: torch's lp_pool, fused; true_norm raises |x|
// instead of x to the power.
at::Tensor lp_pool_forward(const at::Tensor& self, double norm_type, at::IntArrayRef kernel_size,
                           at::IntArrayRef stride, bool ceil_mode, bool true_norm);
at::Tensor lp_pool_backward(const at::Tensor& grad_output, const at::Tensor& self, const at::Tensor& output,
                            double norm_type, at::IntArrayRef kernel_size, at::IntArrayRef stride, bool ceil_mode,
                            bool true_norm);

// GeM: (mean over the spatial dims of clamp(x, eps)^p)^(1/p), p a one-element tensor.
at::Tensor gem_forward(const at::Tensor& self, const at::Tensor& p, double eps);
std::tuple<at::Tensor, at::Tensor> gem_backward(const at::Tensor& grad_output, const at::Tensor& self,
                                                const at::Tensor& output, const at::Tensor& p, double eps,
                                                bool p_requires_grad);

// torch.nn.functional-style conveniences for C++ users.
at::Tensor max_pool2d(const at::Tensor& self, at::IntArrayRef kernel_size, at::IntArrayRef stride,
                      at::IntArrayRef padding = {0, 0}, at::IntArrayRef dilation = {1, 1}, bool ceil_mode = false);

// What this binary holds, for pooling_ext.info().
bool compiled_with_cuda();
const char* cpu_capability();
const char* built_torch_version();

}  // namespace pooling_ext
