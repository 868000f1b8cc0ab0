// The C++ API (ops.h): each op called through the dispatcher, above the
// Autograd key, so calls from C++ get autograd, device kernels and checks.
#include "ops.h"

#include <ATen/core/dispatch/Dispatcher.h>

#include "common/cpu/isa_clones.h"

#ifndef POOLING_EXT_TORCH_VERSION
#define POOLING_EXT_TORCH_VERSION "unknown"
#endif

namespace pooling_ext {
namespace {

template <typename Signature>
c10::TypedOperatorHandle<Signature> op_handle(const char* name) {
  return c10::Dispatcher::singleton().findSchemaOrThrow(name, "").typed<Signature>();
}

}  // namespace

// The call of `op` through the dispatcher; its handle is looked up once, on
// the first call. (The C++ function has the schema's signature: decltype(op).)
#define POOLING_EXT_CALL(op, ...)                                          \
  static const auto handle = op_handle<decltype(op)>("pooling_ext::" #op); \
  return handle.call(__VA_ARGS__)

std::tuple<at::Tensor, at::Tensor> max_pool_forward(const at::Tensor& self, at::IntArrayRef kernel_size,
                                                    at::IntArrayRef stride, at::IntArrayRef padding,
                                                    at::IntArrayRef dilation, bool ceil_mode) {
  POOLING_EXT_CALL(max_pool_forward, self, kernel_size, stride, padding, dilation, ceil_mode);
}

at::Tensor max_pool_values(const at::Tensor& self, at::IntArrayRef kernel_size, at::IntArrayRef stride,
                           at::IntArrayRef padding, at::IntArrayRef dilation, bool ceil_mode) {
  POOLING_EXT_CALL(max_pool_values, self, kernel_size, stride, padding, dilation, ceil_mode);
}

at::Tensor max_pool_backward(const at::Tensor& grad_output, const at::Tensor& window_offset,
                             c10::SymIntArrayRef input_size, at::IntArrayRef kernel_size, at::IntArrayRef stride,
                             at::IntArrayRef padding, at::IntArrayRef dilation) {
  POOLING_EXT_CALL(max_pool_backward, grad_output, window_offset, input_size, kernel_size, stride, padding, dilation);
}

at::Tensor max_pool_gather(const at::Tensor& source, const at::Tensor& window_offset, at::IntArrayRef kernel_size,
                           at::IntArrayRef stride, at::IntArrayRef padding, at::IntArrayRef dilation) {
  POOLING_EXT_CALL(max_pool_gather, source, window_offset, kernel_size, stride, padding, dilation);
}

at::Tensor max_pool_indices(const at::Tensor& window_offset, c10::SymIntArrayRef input_size,
                            at::IntArrayRef kernel_size, at::IntArrayRef stride, at::IntArrayRef padding,
                            at::IntArrayRef dilation) {
  POOLING_EXT_CALL(max_pool_indices, window_offset, input_size, kernel_size, stride, padding, dilation);
}

std::tuple<at::Tensor, at::Tensor> adaptive_max_pool_forward(const at::Tensor& self, at::IntArrayRef output_size) {
  POOLING_EXT_CALL(adaptive_max_pool_forward, self, output_size);
}

at::Tensor adaptive_max_pool_values(const at::Tensor& self, at::IntArrayRef output_size) {
  POOLING_EXT_CALL(adaptive_max_pool_values, self, output_size);
}

at::Tensor adaptive_max_pool_backward(const at::Tensor& grad_output, const at::Tensor& window_offset,
                                      c10::SymIntArrayRef input_size, at::IntArrayRef output_size) {
  POOLING_EXT_CALL(adaptive_max_pool_backward, grad_output, window_offset, input_size, output_size);
}

at::Tensor adaptive_max_pool_gather(const at::Tensor& source, const at::Tensor& window_offset,
                                    at::IntArrayRef output_size) {
  POOLING_EXT_CALL(adaptive_max_pool_gather, source, window_offset, output_size);
}

at::Tensor adaptive_max_pool_indices(const at::Tensor& window_offset, c10::SymIntArrayRef input_size,
                                     at::IntArrayRef output_size) {
  POOLING_EXT_CALL(adaptive_max_pool_indices, window_offset, input_size, output_size);
}

std::tuple<at::Tensor, at::Tensor> fractional_max_pool_forward(const at::Tensor& self, at::IntArrayRef kernel_size,
                                                               at::IntArrayRef output_size,
                                                               const at::Tensor& random_samples) {
  POOLING_EXT_CALL(fractional_max_pool_forward, self, kernel_size, output_size, random_samples);
}

at::Tensor fractional_max_pool_values(const at::Tensor& self, at::IntArrayRef kernel_size,
                                      at::IntArrayRef output_size, const at::Tensor& random_samples) {
  POOLING_EXT_CALL(fractional_max_pool_values, self, kernel_size, output_size, random_samples);
}

at::Tensor fractional_max_pool_backward(const at::Tensor& grad_output, const at::Tensor& window_offset,
                                        const at::Tensor& random_samples, c10::SymIntArrayRef input_size,
                                        at::IntArrayRef kernel_size) {
  POOLING_EXT_CALL(fractional_max_pool_backward, grad_output, window_offset, random_samples, input_size, kernel_size);
}

at::Tensor fractional_max_pool_gather(const at::Tensor& source, const at::Tensor& window_offset,
                                      const at::Tensor& random_samples, at::IntArrayRef kernel_size) {
  POOLING_EXT_CALL(fractional_max_pool_gather, source, window_offset, random_samples, kernel_size);
}

at::Tensor fractional_max_pool_indices(const at::Tensor& window_offset, const at::Tensor& random_samples,
                                       c10::SymIntArrayRef input_size, at::IntArrayRef kernel_size) {
  POOLING_EXT_CALL(fractional_max_pool_indices, window_offset, random_samples, input_size, kernel_size);
}

at::Tensor max_unpool(const at::Tensor& self, const at::Tensor& indices, c10::SymIntArrayRef output_size) {
  POOLING_EXT_CALL(max_unpool, self, indices, output_size);
}

at::Tensor max_unpool_gather(const at::Tensor& grad_output, const at::Tensor& indices, int64_t dims) {
  POOLING_EXT_CALL(max_unpool_gather, grad_output, indices, dims);
}

at::Tensor avg_pool_forward(const at::Tensor& self, at::IntArrayRef kernel_size, at::IntArrayRef stride,
                            at::IntArrayRef padding, bool ceil_mode, bool count_include_pad,
                            std::optional<int64_t> divisor_override) {
  POOLING_EXT_CALL(avg_pool_forward, self, kernel_size, stride, padding, ceil_mode, count_include_pad,
                   divisor_override);
}

at::Tensor avg_pool_backward(const at::Tensor& grad_output, c10::SymIntArrayRef input_size, at::IntArrayRef kernel_size,
                             at::IntArrayRef stride, at::IntArrayRef padding, bool ceil_mode, bool count_include_pad,
                             std::optional<int64_t> divisor_override) {
  POOLING_EXT_CALL(avg_pool_backward, grad_output, input_size, kernel_size, stride, padding, ceil_mode,
                   count_include_pad, divisor_override);
}

at::Tensor adaptive_avg_pool_forward(const at::Tensor& self, at::IntArrayRef output_size) {
  POOLING_EXT_CALL(adaptive_avg_pool_forward, self, output_size);
}

at::Tensor adaptive_avg_pool_backward(const at::Tensor& grad_output, c10::SymIntArrayRef input_size,
                                      at::IntArrayRef output_size) {
  POOLING_EXT_CALL(adaptive_avg_pool_backward, grad_output, input_size, output_size);
}

at::Tensor lp_pool_forward(const at::Tensor& self, double norm_type, at::IntArrayRef kernel_size,
                           at::IntArrayRef stride, bool ceil_mode, bool true_norm) {
  POOLING_EXT_CALL(lp_pool_forward, self, norm_type, kernel_size, stride, ceil_mode, true_norm);
}

at::Tensor lp_pool_backward(const at::Tensor& grad_output, const at::Tensor& self, const at::Tensor& output,
                            double norm_type, at::IntArrayRef kernel_size, at::IntArrayRef stride, bool ceil_mode,
                            bool true_norm) {
  POOLING_EXT_CALL(lp_pool_backward, grad_output, self, output, norm_type, kernel_size, stride, ceil_mode, true_norm);
}

at::Tensor gem_forward(const at::Tensor& self, const at::Tensor& p, double eps) {
  POOLING_EXT_CALL(gem_forward, self, p, eps);
}

std::tuple<at::Tensor, at::Tensor> gem_backward(const at::Tensor& grad_output, const at::Tensor& self,
                                                const at::Tensor& output, const at::Tensor& p, double eps,
                                                bool p_requires_grad) {
  POOLING_EXT_CALL(gem_backward, grad_output, self, output, p, eps, p_requires_grad);
}

at::Tensor max_pool2d(const at::Tensor& self, at::IntArrayRef kernel_size, at::IntArrayRef stride,
                      at::IntArrayRef padding, at::IntArrayRef dilation, bool ceil_mode) {
  const at::IntArrayRef effective_stride = stride.empty() ? kernel_size : stride;
  return max_pool_values(self, kernel_size, effective_stride, padding, dilation, ceil_mode);
}

bool compiled_with_cuda() {
#ifdef POOLING_EXT_WITH_CUDA
  return true;
#else
  return false;
#endif
}

const char* cpu_capability() { return cpu::selected_isa(); }

const char* built_torch_version() { return POOLING_EXT_TORCH_VERSION; }

}  // namespace pooling_ext
