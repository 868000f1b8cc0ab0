#include "window_sum_plan.h"

#include <cmath>

namespace pooling_ext {

namespace {

std::vector<int64_t> ones_like_dims(size_t dims) { return std::vector<int64_t>(dims, 1); }

WindowSumPlan forward_plan(const char* family, const at::Tensor& self, WindowArgs args, bool ceil_mode,
                           ReductionArgs reduction) {
  const std::vector<int64_t> out_sizes = pooled_shape<int64_t>(family, self.sizes(), args, ceil_mode);
  check_numel_fits(args.op_name(family), out_sizes, "the window arguments");
  WindowSumPlan plan;
  plan.format = pooling_memory_format(self, args.dims);
  plan.input = self.contiguous(plan.format);
  plan.output = at::empty(out_sizes, self.options().memory_format(plan.format));
  plan.geometry = make_geometry(self.sizes(), out_sizes, args, plan.format != at::MemoryFormat::Contiguous);
  plan.args = std::move(args);
  plan.reduction = reduction;
  return plan;
}

// Backward of an op that reads its input and output (LP, GeM): everything in
// the input's layout.
WindowSumPlan input_output_backward_plan(const char* op, const at::Tensor& grad_output, const at::Tensor& self,
                                         const at::Tensor& output, WindowArgs args, at::IntArrayRef out_sizes,
                                         ReductionArgs reduction) {
  check_floating_dtype(op, grad_output);
  TORCH_CHECK(self.scalar_type() == grad_output.scalar_type() && output.scalar_type() == grad_output.scalar_type(), op,
              ": grad_output, self and output must have one dtype, but got ", grad_output.scalar_type(), ", ",
              self.scalar_type(), " and ", output.scalar_type());
  TORCH_CHECK(self.device() == grad_output.device() && output.device() == grad_output.device(), op,
              ": grad_output, self and output must be on one device");
  check_grad_output_shape(op, grad_output, out_sizes);
  check_grad_output_shape(op, output, out_sizes);
  WindowSumPlan plan;
  plan.format = pooling_memory_format(self, args.dims);
  plan.input = self.contiguous(plan.format);
  plan.output = output.contiguous(plan.format);
  plan.geometry = make_geometry(self.sizes(), out_sizes, args, plan.format != at::MemoryFormat::Contiguous);
  plan.args = std::move(args);
  plan.reduction = reduction;
  return plan;
}

}  // namespace

void check_avg_pool_dtype(const char* op, const at::Tensor& t) {
  TORCH_CHECK_NOT_IMPLEMENTED(at::isFloatingType(t.scalar_type()) || t.scalar_type() == at::kLong, op, ": input dtype ",
                              t.scalar_type(), " is not supported");
}

// ---------------------------------------------------------------- average pooling

WindowArgs check_avg_pool_args(at::IntArrayRef kernel_size, at::IntArrayRef stride, at::IntArrayRef padding,
                               std::optional<int64_t> divisor_override) {
  WindowArgs args = check_window_args("avg_pool", kernel_size, stride, padding, ones_like_dims(kernel_size.size()));
  TORCH_CHECK(!divisor_override.has_value() || *divisor_override != 0, args.op_name("avg_pool"),
              ": divisor_override must be non-zero");
  return args;
}

ReductionArgs average_reduction(bool count_include_pad, std::optional<int64_t> divisor_override) {
  ReductionArgs r;
  r.reduction = WindowReduction::kAverage;
  r.count_include_pad = count_include_pad;
  r.divisor_override = divisor_override.value_or(0);
  return r;
}

WindowSumPlan plan_avg_pool_forward(const at::Tensor& self, at::IntArrayRef kernel_size, at::IntArrayRef stride,
                                    at::IntArrayRef padding, bool ceil_mode, bool count_include_pad,
                                    std::optional<int64_t> divisor_override) {
  WindowArgs args = check_avg_pool_args(kernel_size, stride, padding, divisor_override);
  const std::string op = args.op_name("avg_pool");
  check_backend(op.c_str(), self);
  check_avg_pool_dtype(op.c_str(), self);
  return forward_plan("avg_pool", self, std::move(args), ceil_mode,
                      average_reduction(count_include_pad, divisor_override));
}

WindowSumPlan plan_avg_pool_backward(const at::Tensor& grad_output, at::IntArrayRef input_size,
                                     at::IntArrayRef kernel_size, at::IntArrayRef stride, at::IntArrayRef padding,
                                     bool ceil_mode, bool count_include_pad, std::optional<int64_t> divisor_override) {
  WindowArgs args = check_avg_pool_args(kernel_size, stride, padding, divisor_override);
  check_floating_dtype("avg_pool_backward", grad_output);
  check_numel_fits("avg_pool_backward", input_size, "input_size");
  const std::vector<int64_t> out_sizes = pooled_shape<int64_t>("avg_pool", input_size, args, ceil_mode);
  check_grad_output_shape("avg_pool_backward", grad_output, out_sizes);
  WindowSumPlan plan;
  plan.format = pooling_memory_format(grad_output, args.dims);
  plan.output = grad_output.contiguous(plan.format);  // the gradient, in the layout grad_input takes
  plan.geometry = make_geometry(input_size, out_sizes, args, plan.format != at::MemoryFormat::Contiguous);
  plan.args = std::move(args);
  plan.reduction = average_reduction(count_include_pad, divisor_override);
  return plan;
}

// ---------------------------------------------------------------- adaptive average pooling

WindowSumPlan plan_adaptive_avg_pool_forward(const at::Tensor& self, at::IntArrayRef output_size) {
  const std::vector<int64_t> out_sizes = adaptive_pooled_shape("adaptive_avg_pool", self.sizes(), output_size,
                                                               adaptive_avg_empty_channels_allowed(output_size));
  const int dims = static_cast<int>(output_size.size());
  const std::string op = "adaptive_avg_pool" + std::to_string(dims) + "d";
  check_backend(op.c_str(), self);
  check_floating_dtype(op.c_str(), self);
  WindowSumPlan plan;
  plan.format = pooling_memory_format(self, dims);
  plan.input = self.contiguous(plan.format);
  plan.output = at::empty(out_sizes, self.options().memory_format(plan.format));
  plan.geometry = make_adaptive_geometry(self.sizes(), out_sizes, dims, plan.format != at::MemoryFormat::Contiguous);
  plan.reduction = average_reduction(false, std::nullopt);  // every window lies inside the input
  // As torch's contiguous kernel. (Output sizes that divide the input's are
  // planned as fixed windows, divided by their size: an exact multiplication
  // for 2x2 and other power-of-two windows, the row kernels' fast path.)
  plan.reduction.divide_in_turn = plan.format == at::MemoryFormat::Contiguous && plan.geometry.adaptive;
  return plan;
}

WindowSumPlan plan_adaptive_avg_pool_backward(const at::Tensor& grad_output, at::IntArrayRef input_size,
                                              at::IntArrayRef output_size) {
  const std::vector<int64_t> out_sizes = adaptive_pooled_shape("adaptive_avg_pool", input_size, output_size,
                                                               adaptive_avg_empty_channels_allowed(output_size));
  const int dims = static_cast<int>(output_size.size());
  check_floating_dtype("adaptive_avg_pool_backward", grad_output);
  check_numel_fits("adaptive_avg_pool_backward", input_size, "input_size");
  check_grad_output_shape("adaptive_avg_pool_backward", grad_output, out_sizes);
  WindowSumPlan plan;
  plan.format = pooling_memory_format(grad_output, dims);
  plan.output = grad_output.contiguous(plan.format);  // the gradient, in the layout grad_input takes
  plan.geometry = make_adaptive_geometry(input_size, out_sizes, dims, plan.format != at::MemoryFormat::Contiguous);
  plan.reduction = average_reduction(false, std::nullopt);
  return plan;
}

// ---------------------------------------------------------------- LP pooling

WindowArgs check_lp_pool_args(double norm_type, at::IntArrayRef kernel_size, at::IntArrayRef stride) {
  TORCH_CHECK_VALUE(norm_type != 0.0, "lp_pool: norm_type must be a non-zero value, but got ", norm_type);
  TORCH_CHECK_VALUE(!std::isnan(norm_type), "lp_pool: norm_type must be a number, but got ", norm_type);
  return check_window_args("lp_pool", kernel_size, stride, std::vector<int64_t>(kernel_size.size(), 0),
                           ones_like_dims(kernel_size.size()));
}

ReductionArgs lp_reduction(double norm_type, int64_t kernel_volume, bool true_norm) {
  ReductionArgs r;
  if (std::isinf(norm_type)) {
    // torch's lp_pool with p = +-inf is max_pool of |x| (or -max_pool of -|x|).
    r.reduction = WindowReduction::kExtremeAbs;
    r.smallest = norm_type < 0;
    return r;
  }
  r.reduction = WindowReduction::kPowerMean;
  r.base = true_norm ? PowerBase::kAbsolute : PowerBase::kSigned;
  r.p = norm_type;
  r.numerator = static_cast<double>(kernel_volume);
  return r;
}

WindowSumPlan plan_lp_pool_forward(const at::Tensor& self, double norm_type, at::IntArrayRef kernel_size,
                                   at::IntArrayRef stride, bool ceil_mode, bool true_norm) {
  WindowArgs args = check_lp_pool_args(norm_type, kernel_size, stride);
  const std::string op = args.op_name("lp_pool");
  check_backend(op.c_str(), self);
  check_floating_dtype(op.c_str(), self);
  const ReductionArgs reduction = lp_reduction(norm_type, args.kernel_volume(), true_norm);
  return forward_plan("lp_pool", self, std::move(args), ceil_mode, reduction);
}

WindowSumPlan plan_lp_pool_backward(const at::Tensor& grad_output, const at::Tensor& self, const at::Tensor& output,
                                    double norm_type, at::IntArrayRef kernel_size, at::IntArrayRef stride,
                                    bool ceil_mode, bool true_norm) {
  WindowArgs args = check_lp_pool_args(norm_type, kernel_size, stride);
  const std::vector<int64_t> out_sizes = pooled_shape<int64_t>("lp_pool", self.sizes(), args, ceil_mode);
  const ReductionArgs reduction = lp_reduction(norm_type, args.kernel_volume(), true_norm);
  return input_output_backward_plan("lp_pool_backward", grad_output, self, output, std::move(args), out_sizes,
                                    reduction);
}

// ---------------------------------------------------------------- GeM

WindowArgs gem_window(const char* op, at::IntArrayRef input_sizes) {
  const int64_t rank = static_cast<int64_t>(input_sizes.size());
  TORCH_CHECK(rank >= 3 && rank <= 5, op,
              ": input must be a batched (N, C, L), (N, C, H, W) or (N, C, D, H, W) "
              "tensor, but got input of shape ",
              input_sizes);
  for (int64_t d = 1; d < rank; ++d) {
    TORCH_CHECK(input_sizes[d] != 0, op,
                ": input must have non-zero size in every dim but the batch dim, "
                "but got input of shape ",
                input_sizes);
  }
  const std::vector<int64_t> spatial(input_sizes.begin() + 2, input_sizes.end());
  const size_t dims = spatial.size();
  return WindowArgs{static_cast<int>(dims), spatial, spatial, std::vector<int64_t>(dims, 0), ones_like_dims(dims)};
}

ReductionArgs gem_reduction(double eps) {
  ReductionArgs r;
  r.reduction = WindowReduction::kPowerMean;
  r.base = PowerBase::kClampMin;
  r.clamp_min = eps;
  r.numerator = 1.0;
  return r;
}

at::Tensor gem_exponent(const char* op, const at::Tensor& p, const at::Tensor& like) {
  TORCH_CHECK(p.numel() == 1, op, ": p must be a float or a one-element tensor, but got a tensor of shape ", p.sizes());
  TORCH_CHECK(at::isFloatingType(p.scalar_type()), op, ": p must be floating point, but got ", p.scalar_type());
  const at::ScalarType acc = like.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
  return p.reshape({}).to(like.device(), acc).contiguous();
}

WindowSumPlan plan_gem_forward(const at::Tensor& self, double eps) {
  check_backend("gem", self);
  check_floating_dtype("gem", self);
  WindowArgs args = gem_window("gem", self.sizes());
  return forward_plan("gem", self, std::move(args), false, gem_reduction(eps));
}

WindowSumPlan plan_gem_backward(const at::Tensor& grad_output, const at::Tensor& self, const at::Tensor& output,
                                double eps) {
  WindowArgs args = gem_window("gem_backward", self.sizes());
  const std::vector<int64_t> out_sizes = gem_output_shape<int64_t>(self.sizes());
  return input_output_backward_plan("gem_backward", grad_output, self, output, std::move(args), out_sizes,
                                    gem_reduction(eps));
}

}  // namespace pooling_ext
