// Average (fixed and adaptive windows), LP and GeM pooling as launches of
// the per-element bodies of window_sum_bodies.h, for any Launcher
// (common/launch.h): the CUDA kernels and the test emulation of them. (The
// CPU runs its own loops: cpu/window_sum_cpu.cpp.)
#pragma once

#include "../common/dtype_dispatch.h"
#include "../common/fixed_order_sum.h"
#include "../common/launch.h"
#include "window_sum_bodies.h"
#include "window_sum_plan.h"

namespace pooling_ext {
namespace grid {

template <class Launcher>
void launch_forward(const WindowSumPlan& plan, const at::Tensor& p_device) {
  const int64_t count = plan.output.numel();
  if (count == 0) return;
  POOLING_EXT_DISPATCH_AVG_POOL_TYPES(plan.input.scalar_type(), "window_sum_forward", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    const acc_t* p_ptr = p_device.defined() ? p_device.const_data_ptr<acc_t>() : nullptr;
    with_index_type<Launcher>(plan.geometry, [&](auto geometry) {
      using index_t = decltype(geometry.batch);
      Launcher::elementwise(count, WindowSumForwardBody<scalar_t, index_t>{
                                       plan.input.const_data_ptr<scalar_t>(), plan.output.mutable_data_ptr<scalar_t>(),
                                       geometry, plan.reduction.spec<acc_t>(p_ptr)});
    });
  });
}

// grad_input is allocated in plan.format; grad is laid out in it too.
template <class Launcher>
void launch_backward(const WindowSumPlan& plan, const at::Tensor& grad, const at::Tensor& grad_input,
                     const at::Tensor& p_device) {
  const int64_t count = grad_input.numel();
  if (count == 0) return;
  POOLING_EXT_DISPATCH_FLOAT_TYPES(grad.scalar_type(), "window_sum_backward", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    const acc_t* p_ptr = p_device.defined() ? p_device.const_data_ptr<acc_t>() : nullptr;
    const scalar_t* input = plan.input.defined() ? plan.input.const_data_ptr<scalar_t>() : nullptr;
    const scalar_t* output =
        plan.reduction.reduction == WindowReduction::kAverage ? nullptr : plan.output.const_data_ptr<scalar_t>();
    with_index_type<Launcher>(plan.geometry, [&](auto geometry) {
      using index_t = decltype(geometry.batch);
      Launcher::elementwise(count,
                            WindowSumBackwardBody<scalar_t, index_t>{grad.const_data_ptr<scalar_t>(), input, output,
                                                                     grad_input.mutable_data_ptr<scalar_t>(), geometry,
                                                                     plan.reduction.spec<acc_t>(p_ptr)});
    });
  });
}

// ---------------------------------------------------------------- average pooling

template <class Launcher>
at::Tensor avg_pool_forward(const at::Tensor& self, at::IntArrayRef kernel_size, at::IntArrayRef stride,
                            at::IntArrayRef padding, bool ceil_mode, bool count_include_pad,
                            std::optional<int64_t> divisor_override) {
  const WindowSumPlan plan =
      plan_avg_pool_forward(self, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override);
  launch_forward<Launcher>(plan, at::Tensor());
  return plan.output;
}

template <class Launcher>
at::Tensor avg_pool_backward(const at::Tensor& grad_output, at::IntArrayRef input_size, at::IntArrayRef kernel_size,
                             at::IntArrayRef stride, at::IntArrayRef padding, bool ceil_mode, bool count_include_pad,
                             std::optional<int64_t> divisor_override) {
  const WindowSumPlan plan = plan_avg_pool_backward(grad_output, input_size, kernel_size, stride, padding, ceil_mode,
                                                    count_include_pad, divisor_override);
  at::Tensor grad_input = at::empty(input_size, grad_output.options().memory_format(plan.format));
  launch_backward<Launcher>(plan, plan.output, grad_input, at::Tensor());
  return grad_input;
}

// ---------------------------------------------------------------- adaptive average pooling

template <class Launcher>
at::Tensor adaptive_avg_pool_forward(const at::Tensor& self, at::IntArrayRef output_size) {
  const WindowSumPlan plan = plan_adaptive_avg_pool_forward(self, output_size);
  launch_forward<Launcher>(plan, at::Tensor());
  return plan.output;
}

template <class Launcher>
at::Tensor adaptive_avg_pool_backward(const at::Tensor& grad_output, at::IntArrayRef input_size,
                                      at::IntArrayRef output_size) {
  const WindowSumPlan plan = plan_adaptive_avg_pool_backward(grad_output, input_size, output_size);
  at::Tensor grad_input = at::empty(input_size, grad_output.options().memory_format(plan.format));
  launch_backward<Launcher>(plan, plan.output, grad_input, at::Tensor());
  return grad_input;
}

// ---------------------------------------------------------------- LP pooling

template <class Launcher>
at::Tensor lp_pool_forward(const at::Tensor& self, double norm_type, at::IntArrayRef kernel_size,
                           at::IntArrayRef stride, bool ceil_mode, bool true_norm) {
  const WindowSumPlan plan = plan_lp_pool_forward(self, norm_type, kernel_size, stride, ceil_mode, true_norm);
  launch_forward<Launcher>(plan, at::Tensor());
  return plan.output;
}

template <class Launcher>
at::Tensor lp_pool_backward(const at::Tensor& grad_output, const at::Tensor& self, const at::Tensor& output,
                            double norm_type, at::IntArrayRef kernel_size, at::IntArrayRef stride, bool ceil_mode,
                            bool true_norm) {
  const WindowSumPlan plan =
      plan_lp_pool_backward(grad_output, self, output, norm_type, kernel_size, stride, ceil_mode, true_norm);
  const at::Tensor grad = grad_output.contiguous(plan.format);
  at::Tensor grad_input = at::empty(self.sizes(), grad_output.options().memory_format(plan.format));
  launch_backward<Launcher>(plan, grad, grad_input, at::Tensor());
  return grad_input;
}

// ---------------------------------------------------------------- GeM

template <class Launcher>
at::Tensor gem_forward(const at::Tensor& self, const at::Tensor& p, double eps) {
  const WindowSumPlan plan = plan_gem_forward(self, eps);
  launch_forward<Launcher>(plan, gem_exponent("gem", p, self));
  return plan.output;
}

template <class Launcher>
std::tuple<at::Tensor, at::Tensor> gem_backward(const at::Tensor& grad_output, const at::Tensor& self,
                                                const at::Tensor& output, const at::Tensor& p, double eps,
                                                bool p_requires_grad) {
  const WindowSumPlan plan = plan_gem_backward(grad_output, self, output, eps);
  const at::Tensor exponent = gem_exponent("gem_backward", p, self);
  const at::Tensor grad = grad_output.contiguous(plan.format);
  at::Tensor grad_input = at::empty(self.sizes(), grad_output.options().memory_format(plan.format));
  launch_backward<Launcher>(plan, grad, grad_input, exponent);
  if (!p_requires_grad) return {grad_input, at::zeros_like(p)};
  at::Tensor partial = at::empty({grad.numel()}, exponent.options());
  if (grad.numel() > 0) {
    POOLING_EXT_DISPATCH_FLOAT_TYPES(grad.scalar_type(), "gem_exponent_grad", [&] {
      using acc_t = at::opmath_type<scalar_t>;
      with_index_type<Launcher>(plan.geometry, [&](auto geometry) {
        using index_t = decltype(geometry.batch);
        Launcher::elementwise(grad.numel(),
                              PowerMeanExponentGradBody<scalar_t, index_t>{
                                  grad.const_data_ptr<scalar_t>(), plan.input.const_data_ptr<scalar_t>(),
                                  plan.output.const_data_ptr<scalar_t>(), partial.mutable_data_ptr<acc_t>(), geometry,
                                  plan.reduction.spec<acc_t>(exponent.const_data_ptr<acc_t>())});
      });
    });
  }
  const at::Tensor grad_p = fixed_order_sum<Launcher>(partial).to(p.scalar_type()).reshape(p.sizes());
  return {grad_input, grad_p};
}

}  // namespace grid
}  // namespace pooling_ext
