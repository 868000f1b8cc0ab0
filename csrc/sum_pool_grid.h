// Average / LP / GeM ops as launches of the per-element bodies of
// kernels/sum_pool_bodies.h over a grid, for any Launcher (see
// max_pool_grid.h): the CUDA launcher, the CPU grid emulation, or the CPU
// launcher, which replaces the forward and backward launches with its
// vectorised loops.
#pragma once

#include <ATen/Dispatch.h>

#include "max_pool_grid.h"
#include "sum_pool_plan.h"

namespace pooling_ext {

// Average pooling also runs on int64, as torch's CPU kernel.
#define POOLING_EXT_DISPATCH_AVG_POOL_TYPES(TYPE, NAME, ...) \
  AT_DISPATCH_FLOATING_TYPES_AND3(at::kLong, at::kHalf, at::kBFloat16, TYPE, NAME, __VA_ARGS__)

template <class Launcher>
void launch_window_sum_forward(const SumPoolPlan& plan, const at::Tensor& p_device) {
  const int64_t count = plan.output.numel();
  if (count == 0) return;
  POOLING_EXT_DISPATCH_AVG_POOL_TYPES(plan.input.scalar_type(), "window_sum_forward", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    const acc_t* p_ptr = p_device.defined() ? p_device.const_data_ptr<acc_t>() : nullptr;
    with_index_type<Launcher>(plan.geometry, [&](auto geometry) {
      using index_t = decltype(geometry.batch);
      Launcher::launch(count, WindowSumForwardBody<scalar_t, index_t>{plan.input.const_data_ptr<scalar_t>(),
                                                                      plan.output.mutable_data_ptr<scalar_t>(),
                                                                      geometry, plan.reduction.spec<acc_t>(p_ptr)});
    });
  });
}

// grad_input is allocated in plan.format; grad is laid out in it too.
template <class Launcher>
void launch_window_sum_backward(const SumPoolPlan& plan, const at::Tensor& grad, const at::Tensor& grad_input,
                                const at::Tensor& p_device) {
  const int64_t count = grad_input.numel();
  if (count == 0) return;
  POOLING_EXT_DISPATCH_FLOAT_TYPES(grad.scalar_type(), "window_sum_backward", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    const acc_t* p_ptr = p_device.defined() ? p_device.const_data_ptr<acc_t>() : nullptr;
    const scalar_t* input = plan.input.defined() ? plan.input.const_data_ptr<scalar_t>() : nullptr;
    const scalar_t* output = plan.reduction.reduction == WindowReduction::kAverage
                                 ? nullptr
                                 : plan.output.const_data_ptr<scalar_t>();
    with_index_type<Launcher>(plan.geometry, [&](auto geometry) {
      using index_t = decltype(geometry.batch);
      Launcher::launch(count, WindowSumBackwardBody<scalar_t, index_t>{grad.const_data_ptr<scalar_t>(), input, output,
                                                                       grad_input.mutable_data_ptr<scalar_t>(),
                                                                       geometry, plan.reduction.spec<acc_t>(p_ptr)});
    });
  });
}

// ---------------------------------------------------------------- average pooling

template <class Launcher>
at::Tensor grid_avg_pool_forward(const at::Tensor& self, at::IntArrayRef kernel_size, at::IntArrayRef stride,
                                 at::IntArrayRef padding, bool ceil_mode, bool count_include_pad,
                                 std::optional<int64_t> divisor_override) {
  const SumPoolPlan plan =
      plan_avg_pool_forward(self, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override);
  launch_window_sum_forward<Launcher>(plan, at::Tensor());
  return plan.output;
}

template <class Launcher>
at::Tensor grid_avg_pool_backward(const at::Tensor& grad_output, at::IntArrayRef input_size,
                                  at::IntArrayRef kernel_size, at::IntArrayRef stride, at::IntArrayRef padding,
                                  bool ceil_mode, bool count_include_pad, std::optional<int64_t> divisor_override) {
  const SumPoolPlan plan = plan_avg_pool_backward(grad_output, input_size, kernel_size, stride, padding, ceil_mode,
                                                  count_include_pad, divisor_override);
  at::Tensor grad_input = at::empty(input_size, grad_output.options().memory_format(plan.format));
  launch_window_sum_backward<Launcher>(plan, plan.output, grad_input, at::Tensor());
  return grad_input;
}

// ---------------------------------------------------------------- adaptive average pooling

template <class Launcher>
at::Tensor grid_adaptive_avg_pool_forward(const at::Tensor& self, at::IntArrayRef output_size) {
  const SumPoolPlan plan = plan_adaptive_avg_pool_forward(self, output_size);
  launch_window_sum_forward<Launcher>(plan, at::Tensor());
  return plan.output;
}

template <class Launcher>
at::Tensor grid_adaptive_avg_pool_backward(const at::Tensor& grad_output, at::IntArrayRef input_size,
                                           at::IntArrayRef output_size) {
  const SumPoolPlan plan = plan_adaptive_avg_pool_backward(grad_output, input_size, output_size);
  at::Tensor grad_input = at::empty(input_size, grad_output.options().memory_format(plan.format));
  launch_window_sum_backward<Launcher>(plan, plan.output, grad_input, at::Tensor());
  return grad_input;
}

// ---------------------------------------------------------------- LP pooling

template <class Launcher>
at::Tensor grid_lp_pool_forward(const at::Tensor& self, double norm_type, at::IntArrayRef kernel_size,
                                at::IntArrayRef stride, bool ceil_mode, bool true_norm) {
  const SumPoolPlan plan = plan_lp_pool_forward(self, norm_type, kernel_size, stride, ceil_mode, true_norm);
  launch_window_sum_forward<Launcher>(plan, at::Tensor());
  return plan.output;
}

template <class Launcher>
at::Tensor grid_lp_pool_backward(const at::Tensor& grad_output, const at::Tensor& self, const at::Tensor& output,
                                 double norm_type, at::IntArrayRef kernel_size, at::IntArrayRef stride,
                                 bool ceil_mode, bool true_norm) {
  const SumPoolPlan plan =
      plan_lp_pool_backward(grad_output, self, output, norm_type, kernel_size, stride, ceil_mode, true_norm);
  const at::Tensor grad = grad_output.contiguous(plan.format);
  at::Tensor grad_input = at::empty(self.sizes(), grad_output.options().memory_format(plan.format));
  launch_window_sum_backward<Launcher>(plan, grad, grad_input, at::Tensor());
  return grad_input;
}

// ---------------------------------------------------------------- GeM

template <class Launcher>
at::Tensor grid_gem_forward(const at::Tensor& self, const at::Tensor& p, double eps) {
  const SumPoolPlan plan = plan_gem_forward(self, eps);
  launch_window_sum_forward<Launcher>(plan, gem_exponent("gem", p, self));
  return plan.output;
}

// The sum of `values` (1-d, contiguous) as a 0-d tensor, added in a fixed
// order whatever the device or thread count.
template <class Launcher>
at::Tensor fixed_order_sum(at::Tensor values) {
  AT_DISPATCH_FLOATING_TYPES(values.scalar_type(), "fixed_order_sum", [&] {
    while (values.numel() > 1) {
      const int64_t chunks = (values.numel() + ChunkSumBody<scalar_t>::kChunk - 1) / ChunkSumBody<scalar_t>::kChunk;
      at::Tensor sums = at::empty({chunks}, values.options());
      Launcher::launch(chunks, ChunkSumBody<scalar_t>{values.const_data_ptr<scalar_t>(),
                                                      sums.mutable_data_ptr<scalar_t>(), values.numel()});
      values = sums;
    }
  });
  return values.numel() == 1 ? values.reshape({}) : at::zeros({}, values.options());
}

template <class Launcher>
std::tuple<at::Tensor, at::Tensor> grid_gem_backward(const at::Tensor& grad_output, const at::Tensor& self,
                                                     const at::Tensor& output, const at::Tensor& p, double eps,
                                                     bool p_requires_grad) {
  const SumPoolPlan plan = plan_gem_backward(grad_output, self, output, eps);
  const at::Tensor exponent = gem_exponent("gem_backward", p, self);
  const at::Tensor grad = grad_output.contiguous(plan.format);
  at::Tensor grad_input = at::empty(self.sizes(), grad_output.options().memory_format(plan.format));
  launch_window_sum_backward<Launcher>(plan, grad, grad_input, exponent);
  if (!p_requires_grad) return {grad_input, at::zeros_like(p)};
  at::Tensor partial = at::empty({grad.numel()}, exponent.options());
  if (grad.numel() > 0) {
    POOLING_EXT_DISPATCH_FLOAT_TYPES(grad.scalar_type(), "gem_exponent_grad", [&] {
      using acc_t = at::opmath_type<scalar_t>;
      with_index_type<Launcher>(plan.geometry, [&](auto geometry) {
        using index_t = decltype(geometry.batch);
        Launcher::launch(grad.numel(), PowerMeanExponentGradBody<scalar_t, index_t>{
                                           grad.const_data_ptr<scalar_t>(), plan.input.const_data_ptr<scalar_t>(),
                                           plan.output.const_data_ptr<scalar_t>(), partial.mutable_data_ptr<acc_t>(),
                                           geometry, plan.reduction.spec<acc_t>(exponent.const_data_ptr<acc_t>())});
      });
    });
  }
  const at::Tensor grad_p = fixed_order_sum<Launcher>(partial).to(p.scalar_type()).reshape(p.sizes());
  return {grad_input, grad_p};
}

}  // namespace pooling_ext
