// C++ API of pooling_ext: thin calls through the dispatcher, so C++ users get
// the same kernels, autograd and checks as Python users.
#pragma once

#include <ATen/ATen.h>

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

// Max unpooling to the spatial size output_size; autograd-aware.
at::Tensor max_unpool(const at::Tensor& self, const at::Tensor& indices, c10::SymIntArrayRef output_size);

at::Tensor max_unpool_gather(const at::Tensor& grad_output, const at::Tensor& indices, int64_t dims);

// torch.nn.functional-style conveniences for C++ users.
at::Tensor max_pool2d(const at::Tensor& self, at::IntArrayRef kernel_size, at::IntArrayRef stride,
                      at::IntArrayRef padding = {0, 0}, at::IntArrayRef dilation = {1, 1}, bool ceil_mode = false);

// What this binary holds, for pooling_ext.info().
bool compiled_with_cuda();
const char* cpu_capability();
const char* built_torch_version();

}  // namespace pooling_ext
