// Meta kernels of max pooling (fixed and adaptive windows): each output's
// shape, dtype and layout, after the checks the real kernels make first.
// Sizes may be symbolic (torch.compile with dynamic shapes).
#include "max_pool.h"
#include "max_pool_plan.h"

namespace pooling_ext {
namespace meta {

std::tuple<at::Tensor, at::Tensor> max_pool_forward(const at::Tensor& self, at::IntArrayRef kernel_size,
                                                    at::IntArrayRef stride, at::IntArrayRef padding,
                                                    at::IntArrayRef dilation, bool ceil_mode) {
  const WindowArgs args = check_window_args("max_pool", kernel_size, stride, padding, dilation);
  const std::string op = args.op_name("max_pool");
  check_max_pool_dtype(op.c_str(), self, /*need_floating=*/false);
  const at::ScalarType offset_dtype = window_offset_dtype(op, args);
  const std::vector<c10::SymInt> out = pooled_shape<c10::SymInt>("max_pool", self.sym_sizes(), args, ceil_mode);
  check_numel_fits(op, out, "the window arguments");
  const at::MemoryFormat format = pooling_memory_format(self, args.dims);
  return {at::empty_symint(out, self.options().memory_format(format)),
          at::empty_symint(out, self.options().dtype(offset_dtype).memory_format(format))};
}

at::Tensor max_pool_values(const at::Tensor& self, at::IntArrayRef kernel_size, at::IntArrayRef stride,
                           at::IntArrayRef padding, at::IntArrayRef dilation, bool ceil_mode) {
  return std::get<0>(max_pool_forward(self, kernel_size, stride, padding, dilation, ceil_mode));
}

at::Tensor max_pool_backward(const at::Tensor& grad_output, const at::Tensor& window_offset,
                             c10::SymIntArrayRef input_size, at::IntArrayRef kernel_size, at::IntArrayRef stride,
                             at::IntArrayRef padding, at::IntArrayRef dilation) {
  const WindowArgs args = check_window_args("max_pool_backward", kernel_size, stride, padding, dilation);
  check_max_pool_dtype("max_pool_backward", grad_output, /*need_floating=*/true);
  return at::empty_symint(input_size,
                          grad_output.options().memory_format(pooling_memory_format(window_offset, args.dims)));
}

at::Tensor max_pool_gather(const at::Tensor& source, const at::Tensor& window_offset, at::IntArrayRef kernel_size,
                           at::IntArrayRef stride, at::IntArrayRef padding, at::IntArrayRef dilation) {
  const WindowArgs args = check_window_args("max_pool_gather", kernel_size, stride, padding, dilation);
  return at::empty_symint(window_offset.sym_sizes(),
                          source.options().memory_format(pooling_memory_format(window_offset, args.dims)));
}

at::Tensor max_pool_indices(const at::Tensor& window_offset, c10::SymIntArrayRef input_size,
                            at::IntArrayRef kernel_size, at::IntArrayRef stride, at::IntArrayRef padding,
                            at::IntArrayRef dilation) {
  const WindowArgs args = check_window_args("max_pool_indices", kernel_size, stride, padding, dilation);
  return at::empty_symint(window_offset.sym_sizes(), window_offset.options().dtype(at::kLong).memory_format(
                                                         pooling_memory_format(window_offset, args.dims)));
}

// Adaptive max pooling saves int32 window offsets whatever the sizes, so the
// dtype does not depend on the (possibly symbolic) input extents.
std::tuple<at::Tensor, at::Tensor> adaptive_max_pool_forward(const at::Tensor& self, at::IntArrayRef output_size) {
  const auto out = adaptive_pooled_shape("adaptive_max_pool", self.sym_sizes(), output_size,
                                         /*empty_channels_allowed=*/false);
  const int dims = static_cast<int>(output_size.size());
  check_max_pool_dtype(("adaptive_max_pool" + std::to_string(dims) + "d").c_str(), self, /*need_floating=*/true);
  const at::MemoryFormat format = pooling_memory_format(self, dims);
  return {at::empty_symint(out, self.options().memory_format(format)),
          at::empty_symint(out, self.options().dtype(kAdaptiveWindowOffsetDtype).memory_format(format))};
}

at::Tensor adaptive_max_pool_values(const at::Tensor& self, at::IntArrayRef output_size) {
  return std::get<0>(adaptive_max_pool_forward(self, output_size));
}

at::Tensor adaptive_max_pool_backward(const at::Tensor& grad_output, const at::Tensor& window_offset,
                                      c10::SymIntArrayRef input_size, at::IntArrayRef output_size) {
  adaptive_pooled_shape("adaptive_max_pool", input_size, output_size, /*empty_channels_allowed=*/false);
  check_max_pool_dtype("adaptive_max_pool_backward", grad_output, /*need_floating=*/true);
  const int dims = static_cast<int>(output_size.size());
  return at::empty_symint(input_size, grad_output.options().memory_format(pooling_memory_format(window_offset, dims)));
}

at::Tensor adaptive_max_pool_gather(const at::Tensor& source, const at::Tensor& window_offset,
                                    at::IntArrayRef output_size) {
  const int dims = static_cast<int>(output_size.size());
  return at::empty_symint(window_offset.sym_sizes(),
                          source.options().memory_format(pooling_memory_format(window_offset, dims)));
}

at::Tensor adaptive_max_pool_indices(const at::Tensor& window_offset, c10::SymIntArrayRef input_size,
                                     at::IntArrayRef output_size) {
  const int dims = static_cast<int>(output_size.size());
  return at::empty_symint(window_offset.sym_sizes(), window_offset.options().dtype(at::kLong).memory_format(
                                                         pooling_memory_format(window_offset, dims)));
}

}  // namespace meta
}  // namespace pooling_ext
