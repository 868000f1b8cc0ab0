// Max pooling (fixed and adaptive windows) as launches of the per-element
// bodies of max_pool_bodies.h, for any Launcher (common/launch.h): the CUDA
// kernels, the test emulation of them, and the CPU's gather and indices ops.
#pragma once

#include "../common/dtype_dispatch.h"
#include "../common/launch.h"
#include "max_pool_bodies.h"
#include "max_pool_plan.h"

namespace pooling_ext {
namespace grid {

// ---------------------------------------------------------------- launches of a planned problem
// (fixed or adaptive windows alike: the geometry carries the policy)

template <class Launcher>
std::tuple<at::Tensor, at::Tensor> launch_forward(const MaxPoolForwardPlan& plan) {
  const int64_t count = plan.output.numel();
  if (count == 0) return {plan.output, plan.window_offset};
  POOLING_EXT_DISPATCH_MAX_POOL_TYPES(plan.input.scalar_type(), "max_pool_forward", [&] {
    POOLING_EXT_DISPATCH_OFFSET_TYPE(plan.offset_dtype, [&] {
      with_index_type<Launcher>(plan.geometry, [&](auto geometry) {
        using index_t = decltype(geometry.batch);
        Launcher::elementwise(count,
                              MaxPoolForwardBody<scalar_t, offset_t, index_t>{
                                  plan.input.const_data_ptr<scalar_t>(), plan.output.mutable_data_ptr<scalar_t>(),
                                  plan.offset_data<offset_t>(), geometry});
      });
    });
  });
  return {plan.output, plan.window_offset};
}

template <class Launcher>
at::Tensor launch_backward(const WindowOffsetPlan& plan, const at::Tensor& grad_output, const at::Tensor& window_offset,
                           at::IntArrayRef input_size) {
  const at::Tensor grad = prepare_grad_output(plan, grad_output, window_offset);
  at::Tensor grad_input = at::empty(input_size, grad_output.options().memory_format(plan.format));
  const int64_t count = grad_input.numel();
  if (count == 0) return grad_input;
  if (window_offset.numel() == 0) return grad_input.zero_();  // no output, no gradient
  POOLING_EXT_DISPATCH_FLOAT_TYPES(grad.scalar_type(), "max_pool_backward", [&] {
    POOLING_EXT_DISPATCH_OFFSET_TYPE(plan.window_offset.scalar_type(), [&] {
      with_index_type<Launcher>(plan.geometry, [&](auto geometry) {
        using index_t = decltype(geometry.batch);
        Launcher::elementwise(count, MaxPoolBackwardBody<scalar_t, offset_t, index_t>{
                                         grad.const_data_ptr<scalar_t>(), plan.window_offset.const_data_ptr<offset_t>(),
                                         grad_input.mutable_data_ptr<scalar_t>(), geometry});
      });
    });
  });
  return grad_input;
}

template <class Launcher>
at::Tensor launch_gather(const WindowOffsetPlan& plan, const at::Tensor& source, const at::Tensor& window_offset) {
  check_max_pool_dtype("max_pool_gather", source, /*need_floating=*/false);
  const at::Tensor src = source.contiguous(plan.format);
  at::Tensor output = at::empty(window_offset.sizes(), source.options().memory_format(plan.format));
  const int64_t count = output.numel();
  if (count == 0) return output;
  POOLING_EXT_DISPATCH_MAX_POOL_TYPES(src.scalar_type(), "max_pool_gather", [&] {
    POOLING_EXT_DISPATCH_OFFSET_TYPE(plan.window_offset.scalar_type(), [&] {
      with_index_type<Launcher>(plan.geometry, [&](auto geometry) {
        using index_t = decltype(geometry.batch);
        Launcher::elementwise(count, MaxPoolGatherBody<scalar_t, offset_t, index_t>{
                                         src.const_data_ptr<scalar_t>(), plan.window_offset.const_data_ptr<offset_t>(),
                                         output.mutable_data_ptr<scalar_t>(), geometry});
      });
    });
  });
  return output;
}

template <class Launcher>
at::Tensor launch_indices(const WindowOffsetPlan& plan, const at::Tensor& window_offset) {
  at::Tensor indices =
      at::empty(window_offset.sizes(), window_offset.options().dtype(at::kLong).memory_format(plan.format));
  const int64_t count = indices.numel();
  if (count == 0) return indices;
  POOLING_EXT_DISPATCH_OFFSET_TYPE(plan.window_offset.scalar_type(), [&] {
    with_index_type<Launcher>(plan.geometry, [&](auto geometry) {
      using index_t = decltype(geometry.batch);
      Launcher::elementwise(count,
                            MaxPoolIndicesBody<offset_t, index_t>{plan.window_offset.const_data_ptr<offset_t>(),
                                                                  indices.mutable_data_ptr<int64_t>(), geometry});
    });
  });
  return indices;
}

// ---------------------------------------------------------------- max pooling (fixed windows)

template <class Launcher>
std::tuple<at::Tensor, at::Tensor> max_pool_forward(const at::Tensor& self, at::IntArrayRef kernel_size,
                                                    at::IntArrayRef stride, at::IntArrayRef padding,
                                                    at::IntArrayRef dilation, bool ceil_mode) {
  return launch_forward<Launcher>(plan_max_pool_forward(self, kernel_size, stride, padding, dilation, ceil_mode));
}

template <class Launcher>
at::Tensor max_pool_values(const at::Tensor& self, at::IntArrayRef kernel_size, at::IntArrayRef stride,
                           at::IntArrayRef padding, at::IntArrayRef dilation, bool ceil_mode) {
  return std::get<0>(launch_forward<Launcher>(
      plan_max_pool_forward(self, kernel_size, stride, padding, dilation, ceil_mode, WindowOffsets::kNone)));
}

template <class Launcher>
at::Tensor max_pool_backward(const at::Tensor& grad_output, const at::Tensor& window_offset, at::IntArrayRef input_size,
                             at::IntArrayRef kernel_size, at::IntArrayRef stride, at::IntArrayRef padding,
                             at::IntArrayRef dilation) {
  const WindowOffsetPlan plan =
      plan_window_offset_op("max_pool_backward", window_offset, input_size, kernel_size, stride, padding, dilation);
  return launch_backward<Launcher>(plan, grad_output, window_offset, input_size);
}

template <class Launcher>
at::Tensor max_pool_gather(const at::Tensor& source, const at::Tensor& window_offset, at::IntArrayRef kernel_size,
                           at::IntArrayRef stride, at::IntArrayRef padding, at::IntArrayRef dilation) {
  const WindowOffsetPlan plan =
      plan_window_offset_op("max_pool_gather", window_offset, source.sizes(), kernel_size, stride, padding, dilation);
  return launch_gather<Launcher>(plan, source, window_offset);
}

template <class Launcher>
at::Tensor max_pool_indices(const at::Tensor& window_offset, at::IntArrayRef input_size, at::IntArrayRef kernel_size,
                            at::IntArrayRef stride, at::IntArrayRef padding, at::IntArrayRef dilation) {
  const WindowOffsetPlan plan =
      plan_window_offset_op("max_pool_indices", window_offset, input_size, kernel_size, stride, padding, dilation);
  return launch_indices<Launcher>(plan, window_offset);
}

// ---------------------------------------------------------------- adaptive max pooling

template <class Launcher>
std::tuple<at::Tensor, at::Tensor> adaptive_max_pool_forward(const at::Tensor& self, at::IntArrayRef output_size) {
  return launch_forward<Launcher>(plan_adaptive_max_pool_forward(self, output_size));
}

template <class Launcher>
at::Tensor adaptive_max_pool_values(const at::Tensor& self, at::IntArrayRef output_size) {
  return std::get<0>(launch_forward<Launcher>(plan_adaptive_max_pool_forward(self, output_size, WindowOffsets::kNone)));
}

template <class Launcher>
at::Tensor adaptive_max_pool_backward(const at::Tensor& grad_output, const at::Tensor& window_offset,
                                      at::IntArrayRef input_size, at::IntArrayRef output_size) {
  const WindowOffsetPlan plan =
      plan_adaptive_window_offset_op("adaptive_max_pool_backward", window_offset, input_size, output_size);
  return launch_backward<Launcher>(plan, grad_output, window_offset, input_size);
}

template <class Launcher>
at::Tensor adaptive_max_pool_gather(const at::Tensor& source, const at::Tensor& window_offset,
                                    at::IntArrayRef output_size) {
  const WindowOffsetPlan plan =
      plan_adaptive_window_offset_op("adaptive_max_pool_gather", window_offset, source.sizes(), output_size);
  return launch_gather<Launcher>(plan, source, window_offset);
}

template <class Launcher>
at::Tensor adaptive_max_pool_indices(const at::Tensor& window_offset, at::IntArrayRef input_size,
                                     at::IntArrayRef output_size) {
  const WindowOffsetPlan plan =
      plan_adaptive_window_offset_op("adaptive_max_pool_indices", window_offset, input_size, output_size);
  return launch_indices<Launcher>(plan, window_offset);
}

}  // namespace grid
}  // namespace pooling_ext
