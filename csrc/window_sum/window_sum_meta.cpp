// Meta kernels of the window-sum family: each output's shape, dtype and
// layout, after the checks the real kernels make first. Sizes may be
// symbolic (torch.compile with dynamic shapes).
#include "window_sum.h"
#include "window_sum_plan.h"

namespace pooling_ext {
namespace meta {

at::Tensor avg_pool_forward(const at::Tensor& self, at::IntArrayRef kernel_size, at::IntArrayRef stride,
                            at::IntArrayRef padding, bool ceil_mode, bool count_include_pad,
                            std::optional<int64_t> divisor_override) {
  const WindowArgs args = check_avg_pool_args(kernel_size, stride, padding, divisor_override);
  check_avg_pool_dtype(args.op_name("avg_pool").c_str(), self);
  const auto out = pooled_shape<c10::SymInt>("avg_pool", self.sym_sizes(), args, ceil_mode);
  check_numel_fits(args.op_name("avg_pool"), out, "the window arguments");
  return at::empty_symint(out, self.options().memory_format(pooling_memory_format(self, args.dims)));
}

at::Tensor avg_pool_backward(const at::Tensor& grad_output, c10::SymIntArrayRef input_size, at::IntArrayRef kernel_size,
                             at::IntArrayRef stride, at::IntArrayRef padding, bool ceil_mode, bool count_include_pad,
                             std::optional<int64_t> divisor_override) {
  const WindowArgs args = check_avg_pool_args(kernel_size, stride, padding, divisor_override);
  check_floating_dtype("avg_pool_backward", grad_output);
  return at::empty_symint(input_size,
                          grad_output.options().memory_format(pooling_memory_format(grad_output, args.dims)));
}

at::Tensor adaptive_avg_pool_forward(const at::Tensor& self, at::IntArrayRef output_size) {
  const auto out = adaptive_pooled_shape("adaptive_avg_pool", self.sym_sizes(), output_size,
                                         adaptive_avg_empty_channels_allowed(output_size));
  const int dims = static_cast<int>(output_size.size());
  check_floating_dtype(("adaptive_avg_pool" + std::to_string(dims) + "d").c_str(), self);
  return at::empty_symint(out, self.options().memory_format(pooling_memory_format(self, dims)));
}

at::Tensor adaptive_avg_pool_backward(const at::Tensor& grad_output, c10::SymIntArrayRef input_size,
                                      at::IntArrayRef output_size) {
  adaptive_pooled_shape("adaptive_avg_pool", input_size, output_size, adaptive_avg_empty_channels_allowed(output_size));
  check_floating_dtype("adaptive_avg_pool_backward", grad_output);
  const int dims = static_cast<int>(output_size.size());
  return at::empty_symint(input_size, grad_output.options().memory_format(pooling_memory_format(grad_output, dims)));
}

at::Tensor lp_pool_forward(const at::Tensor& self, double norm_type, at::IntArrayRef kernel_size,
                           at::IntArrayRef stride, bool ceil_mode, bool true_norm) {
  const WindowArgs args = check_lp_pool_args(norm_type, kernel_size, stride);
  check_floating_dtype(args.op_name("lp_pool").c_str(), self);
  const auto out = pooled_shape<c10::SymInt>("lp_pool", self.sym_sizes(), args, ceil_mode);
  check_numel_fits(args.op_name("lp_pool"), out, "the window arguments");
  return at::empty_symint(out, self.options().memory_format(pooling_memory_format(self, args.dims)));
}

at::Tensor lp_pool_backward(const at::Tensor& grad_output, const at::Tensor& self, const at::Tensor& output,
                            double norm_type, at::IntArrayRef kernel_size, at::IntArrayRef stride, bool ceil_mode,
                            bool true_norm) {
  const WindowArgs args = check_lp_pool_args(norm_type, kernel_size, stride);
  check_floating_dtype("lp_pool_backward", grad_output);
  return at::empty_symint(self.sym_sizes(),
                          grad_output.options().memory_format(pooling_memory_format(self, args.dims)));
}

at::Tensor gem_forward(const at::Tensor& self, const at::Tensor& p, double eps) {
  check_floating_dtype("gem", self);
  TORCH_CHECK(self.dim() >= 3 && self.dim() <= 5,
              "gem: input must be a batched (N, C, L), (N, C, H, W) or "
              "(N, C, D, H, W) tensor, but got input of shape ",
              self.sym_sizes());
  const auto out = gem_output_shape<c10::SymInt>(self.sym_sizes());
  return at::empty_symint(out, self.options().memory_format(pooling_memory_format(self, self.dim() - 2)));
}

std::tuple<at::Tensor, at::Tensor> gem_backward(const at::Tensor& grad_output, const at::Tensor& self,
                                                const at::Tensor& output, const at::Tensor& p, double eps,
                                                bool p_requires_grad) {
  check_floating_dtype("gem_backward", grad_output);
  return {at::empty_symint(self.sym_sizes(),
                           grad_output.options().memory_format(pooling_memory_format(self, self.dim() - 2))),
          at::empty_like(p)};
}

}  // namespace meta
}  // namespace pooling_ext
