#include "max_pool_plan.h"

namespace pooling_ext {

at::ScalarType window_offset_dtype(const std::string& op, const WindowArgs& args) {
  const int64_t taps = args.kernel_volume();
  TORCH_CHECK(taps < std::numeric_limits<int32_t>::max(), op, ": kernel_size=", list_str(args.kernel),
              " gives windows of ", taps, " taps; max pooling takes windows of at most 2^31 - 2 taps");
  return taps < 255 ? at::kByte : at::kInt;
}

void check_max_pool_dtype(const char* op, const at::Tensor& t, bool need_floating) {
  const bool ok = need_floating ? at::isFloatingType(t.scalar_type())
                                : (at::isFloatingType(t.scalar_type()) || at::isIntegralType(t.scalar_type(), false));
  TORCH_CHECK_NOT_IMPLEMENTED(ok, op, ": input dtype ", t.scalar_type(), " is not supported");
}

MaxPoolForwardPlan fixed_window_forward_plan(const at::Tensor& self, const std::vector<int64_t>& out_sizes,
                                             const WindowArgs& args, at::ScalarType offset_dtype,
                                             WindowOffsets offsets) {
  const at::MemoryFormat format = pooling_memory_format(self, args.dims);
  MaxPoolForwardPlan plan;
  plan.args = args;
  plan.input = self.contiguous(format);
  plan.geometry = make_geometry(self.sizes(), out_sizes, args, format != at::MemoryFormat::Contiguous);
  plan.output = at::empty(out_sizes, self.options().memory_format(format));
  plan.offset_dtype = offset_dtype;
  if (offsets == WindowOffsets::kSaved) {
    plan.window_offset = at::empty(out_sizes, self.options().dtype(offset_dtype).memory_format(format));
  }
  return plan;
}

MaxPoolForwardPlan plan_max_pool_forward(const at::Tensor& self, at::IntArrayRef kernel_size, at::IntArrayRef stride,
                                         at::IntArrayRef padding, at::IntArrayRef dilation, bool ceil_mode,
                                         WindowOffsets offsets) {
  const WindowArgs args = check_window_args("max_pool", kernel_size, stride, padding, dilation);
  const std::string op = args.op_name("max_pool");
  check_backend(op.c_str(), self);
  check_max_pool_dtype(op.c_str(), self, /*need_floating=*/false);
  const at::ScalarType offset_dtype = window_offset_dtype(op, args);
  const std::vector<int64_t> out_sizes = pooled_shape<int64_t>("max_pool", self.sizes(), args, ceil_mode);
  check_numel_fits(op, out_sizes, "the window arguments");
  return fixed_window_forward_plan(self, out_sizes, args, offset_dtype, offsets);
}

MaxPoolForwardPlan plan_adaptive_max_pool_forward(const at::Tensor& self, at::IntArrayRef output_size,
                                                  WindowOffsets offsets) {
  const std::vector<int64_t> out_sizes =
      adaptive_pooled_shape("adaptive_max_pool", self.sizes(), output_size, /*empty_channels_allowed=*/false);
  const int dims = static_cast<int>(output_size.size());
  const std::string op = "adaptive_max_pool" + std::to_string(dims) + "d";
  check_backend(op.c_str(), self);
  check_max_pool_dtype(op.c_str(), self, /*need_floating=*/true);
  const at::MemoryFormat format = pooling_memory_format(self, dims);
  MaxPoolForwardPlan plan;
  plan.input = self.contiguous(format);
  plan.output = at::empty(out_sizes, self.options().memory_format(format));
  plan.offset_dtype = kAdaptiveWindowOffsetDtype;
  if (offsets == WindowOffsets::kSaved) {
    plan.window_offset = at::empty(out_sizes, self.options().dtype(kAdaptiveWindowOffsetDtype).memory_format(format));
  }
  plan.geometry = make_adaptive_geometry(self.sizes(), out_sizes, dims, format != at::MemoryFormat::Contiguous);
  return plan;
}

WindowOffsetPlan plan_window_offset_op(const char* what, const at::Tensor& window_offset, at::IntArrayRef input_size,
                                       at::IntArrayRef kernel_size, at::IntArrayRef stride, at::IntArrayRef padding,
                                       at::IntArrayRef dilation) {
  const WindowArgs args = check_window_args(what, kernel_size, stride, padding, dilation);
  const at::ScalarType offset_dtype = window_offset_dtype(what, args);
  TORCH_CHECK(window_offset.scalar_type() == offset_dtype, what, ": window_offset must have dtype ", offset_dtype,
              " for kernel_size=", list_str(kernel_size), ", but got ", window_offset.scalar_type());
  TORCH_CHECK(static_cast<int64_t>(input_size.size()) == window_offset.dim(), what, ": input_size ", input_size,
              " must have the rank of window_offset ", window_offset.sizes());
  check_numel_fits(what, input_size, "input_size");
  const int64_t lead = window_offset.dim() - args.dims;
  TORCH_CHECK(lead == 1 || lead == 2, what, ": window_offset of shape ", window_offset.sizes(), " does not fit ",
              args.dims, "d pooling");
  for (int64_t i = 0; i < lead; ++i) {
    TORCH_CHECK(input_size[i] == window_offset.size(i), what, ": input_size ", input_size,
                " and window_offset of shape ", window_offset.sizes(), " differ in a non-spatial dim");
  }
  // The windows must give window_offset's extents from input_size (with or
  // without ceil_mode): then every window starts inside the input or its padding.
  for (int64_t d = 0; d < args.dims; ++d) {
    const int64_t in = input_size[lead + d], out = window_offset.size(lead + d);
    const auto extent = [&](bool ceil_mode) {
      return pooled_extent(in, args.kernel[d], args.stride[d], args.padding[d], args.dilation[d], ceil_mode);
    };
    TORCH_CHECK(out == extent(false) || out == extent(true), what, ": window_offset of shape ", window_offset.sizes(),
                " is not what the windows give for input_size ", input_size);
  }
  WindowOffsetPlan plan;
  plan.args = args;
  plan.format = pooling_memory_format(window_offset, args.dims);
  plan.window_offset = window_offset.contiguous(plan.format);
  plan.geometry = make_geometry(input_size, window_offset.sizes(), args, plan.format != at::MemoryFormat::Contiguous);
  return plan;
}

WindowOffsetPlan plan_adaptive_window_offset_op(const char* what, const at::Tensor& window_offset,
                                                at::IntArrayRef input_size, at::IntArrayRef output_size) {
  check_numel_fits(what, input_size, "input_size");
  const std::vector<int64_t> out_sizes =
      adaptive_pooled_shape("adaptive_max_pool", input_size, output_size, /*empty_channels_allowed=*/false);
  TORCH_CHECK(window_offset.sizes() == at::IntArrayRef(out_sizes), what, ": window_offset of shape ",
              window_offset.sizes(), " does not match the pooled shape ", out_sizes);
  TORCH_CHECK(window_offset.scalar_type() == kAdaptiveWindowOffsetDtype, what, ": window_offset must have dtype ",
              kAdaptiveWindowOffsetDtype, ", but got ", window_offset.scalar_type());
  const int dims = static_cast<int>(output_size.size());
  WindowOffsetPlan plan;
  plan.format = pooling_memory_format(window_offset, dims);
  plan.geometry = make_adaptive_geometry(input_size, out_sizes, dims, plan.format != at::MemoryFormat::Contiguous);
  plan.window_offset = window_offset.contiguous(plan.format);
  return plan;
}

at::Tensor prepare_grad_output(const WindowOffsetPlan& plan, const at::Tensor& grad_output,
                               const at::Tensor& window_offset) {
  check_max_pool_dtype("max_pool_backward", grad_output, /*need_floating=*/true);
  TORCH_CHECK(grad_output.sizes() == window_offset.sizes(), "max_pool_backward: grad_output of shape ",
              grad_output.sizes(), " must have the shape of window_offset ", window_offset.sizes());
  TORCH_CHECK(grad_output.device() == window_offset.device(),
              "max_pool_backward: grad_output and window_offset "
              "must be on the same device, but got ",
              grad_output.device(), " and ", window_offset.device());
  return grad_output.contiguous(plan.format);
}

}  // namespace pooling_ext
