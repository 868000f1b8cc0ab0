// Meta kernels of fractional max pooling: each output's shape, dtype and
// layout, after the checks the real kernels make first.
#include "fractional.h"
#include "fractional_plan.h"

namespace pooling_ext {
namespace meta {

std::tuple<at::Tensor, at::Tensor> fractional_max_pool_forward(const at::Tensor& self, at::IntArrayRef kernel_size,
                                                               at::IntArrayRef output_size,
                                                               const at::Tensor& random_samples) {
  const auto out =
      fractional_pooled_shape(self.sym_sizes(), kernel_size, output_size, random_samples, self.scalar_type());
  const WindowArgs args = fractional_window_args(kernel_size);
  const std::string op = fractional_op(args.dims);
  check_max_pool_dtype(op.c_str(), self, /*need_floating=*/true);
  const at::MemoryFormat format = pooling_memory_format(self, args.dims);
  return {at::empty_symint(out, self.options().memory_format(format)),
          at::empty_symint(out, self.options().dtype(window_offset_dtype(op, args)).memory_format(format))};
}

at::Tensor fractional_max_pool_values(const at::Tensor& self, at::IntArrayRef kernel_size,
                                      at::IntArrayRef output_size, const at::Tensor& random_samples) {
  return std::get<0>(fractional_max_pool_forward(self, kernel_size, output_size, random_samples));
}

at::Tensor fractional_max_pool_backward(const at::Tensor& grad_output, const at::Tensor& window_offset,
                                        const at::Tensor& random_samples, c10::SymIntArrayRef input_size,
                                        at::IntArrayRef kernel_size) {
  check_max_pool_dtype("fractional_max_pool_backward", grad_output, /*need_floating=*/true);
  const int dims = static_cast<int>(kernel_size.size());
  return at::empty_symint(input_size, grad_output.options().memory_format(pooling_memory_format(window_offset, dims)));
}

at::Tensor fractional_max_pool_gather(const at::Tensor& source, const at::Tensor& window_offset,
                                      const at::Tensor& random_samples, at::IntArrayRef kernel_size) {
  const int dims = static_cast<int>(kernel_size.size());
  return at::empty_symint(window_offset.sym_sizes(),
                          source.options().memory_format(pooling_memory_format(window_offset, dims)));
}

at::Tensor fractional_max_pool_indices(const at::Tensor& window_offset, const at::Tensor& random_samples,
                                       c10::SymIntArrayRef input_size, at::IntArrayRef kernel_size) {
  const int dims = static_cast<int>(kernel_size.size());
  return at::empty_symint(window_offset.sym_sizes(), window_offset.options().dtype(at::kLong).memory_format(
                                                         pooling_memory_format(window_offset, dims)));
}

}  // namespace meta
}  // namespace pooling_ext
