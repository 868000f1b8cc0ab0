// Max pooling / unpooling ops as launches of per-element bodies over a grid.
//
// `Launcher` is the CUDA launcher (cuda/max_pool_cuda.cu) or the CPU grid
// emulation (cpu/grid_emulation.cpp), which runs the very same bodies one
// index at a time so CPU tests check the GPU kernels' arithmetic.
// A Launcher provides: static void launch(int64_t count, const Body& body),
// and kAllowInt32Index.
#pragma once

#include <ATen/Dispatch.h>

#include <type_traits>

#include "kernels/fractional_bodies.h"
#include "max_pool_plan.h"

namespace pooling_ext {

// Calls f(geometry) with 32-bit index arithmetic when every index of the
// problem fits in int32 (much faster on GPUs), else with 64-bit. A launcher
// can forbid the 32-bit path (the emulation does, to test the 64-bit one).
template <class Launcher, typename F>
void with_index_type(const PoolGeometry& g, const F& f) {
  constexpr int64_t kInt32Limit = (int64_t(1) << 31) - 1;
  int64_t largest = std::max(g.in_numel(), g.out_numel());
  for (int d = 0; d < kMaxSpatialDims; ++d) {
    largest = std::max(largest, (g.out[d] + 1) * g.stride[d] + g.kernel[d] * g.dilation[d]);
  }
  if (Launcher::kAllowInt32Index && largest < kInt32Limit) {
    f(g.as<int32_t>());
  } else {
    f(g);
  }
}

// ---------------------------------------------------------------- launches of a planned problem
// (fixed or adaptive windows alike: the geometry carries the policy)

template <class Launcher>
std::tuple<at::Tensor, at::Tensor> launch_max_pool_forward(const MaxPoolForwardPlan& plan) {
  const int64_t count = plan.output.numel();
  if (count == 0) return {plan.output, plan.window_offset};
  POOLING_EXT_DISPATCH_MAX_POOL_TYPES(plan.input.scalar_type(), "max_pool_forward", [&] {
    POOLING_EXT_DISPATCH_OFFSET_TYPE(plan.window_offset.scalar_type(), [&] {
      with_index_type<Launcher>(plan.geometry, [&](auto geometry) {
        using index_t = decltype(geometry.batch);
        Launcher::launch(count, MaxPoolForwardBody<scalar_t, offset_t, index_t>{
                                    plan.input.const_data_ptr<scalar_t>(), plan.output.mutable_data_ptr<scalar_t>(),
                                    plan.window_offset.mutable_data_ptr<offset_t>(), geometry});
      });
    });
  });
  return {plan.output, plan.window_offset};
}

template <class Launcher>
at::Tensor launch_max_pool_backward(const WindowOffsetPlan& plan, const at::Tensor& grad_output,
                                    const at::Tensor& window_offset, at::IntArrayRef input_size) {
  const at::Tensor grad = prepare_grad_output(plan, grad_output, window_offset);
  at::Tensor grad_input = at::empty(input_size, grad_output.options().memory_format(plan.format));
  const int64_t count = grad_input.numel();
  if (count == 0) return grad_input;
  if (window_offset.numel() == 0) return grad_input.zero_();  // no output, no gradient
  POOLING_EXT_DISPATCH_FLOAT_TYPES(grad.scalar_type(), "max_pool_backward", [&] {
    POOLING_EXT_DISPATCH_OFFSET_TYPE(plan.window_offset.scalar_type(), [&] {
      with_index_type<Launcher>(plan.geometry, [&](auto geometry) {
        using index_t = decltype(geometry.batch);
        Launcher::launch(count, MaxPoolBackwardBody<scalar_t, offset_t, index_t>{
                                    grad.const_data_ptr<scalar_t>(), plan.window_offset.const_data_ptr<offset_t>(),
                                    grad_input.mutable_data_ptr<scalar_t>(), geometry});
      });
    });
  });
  return grad_input;
}

template <class Launcher>
at::Tensor launch_max_pool_gather(const WindowOffsetPlan& plan, const at::Tensor& source,
                                  const at::Tensor& window_offset) {
  check_max_pool_dtype("max_pool_gather", source, /*need_floating=*/false);
  const at::Tensor src = source.contiguous(plan.format);
  at::Tensor output = at::empty(window_offset.sizes(), source.options().memory_format(plan.format));
  const int64_t count = output.numel();
  if (count == 0) return output;
  POOLING_EXT_DISPATCH_MAX_POOL_TYPES(src.scalar_type(), "max_pool_gather", [&] {
    POOLING_EXT_DISPATCH_OFFSET_TYPE(plan.window_offset.scalar_type(), [&] {
      with_index_type<Launcher>(plan.geometry, [&](auto geometry) {
        using index_t = decltype(geometry.batch);
        Launcher::launch(count, MaxPoolGatherBody<scalar_t, offset_t, index_t>{
                                    src.const_data_ptr<scalar_t>(), plan.window_offset.const_data_ptr<offset_t>(),
                                    output.mutable_data_ptr<scalar_t>(), geometry});
      });
    });
  });
  return output;
}

template <class Launcher>
at::Tensor launch_max_pool_indices(const WindowOffsetPlan& plan, const at::Tensor& window_offset) {
  at::Tensor indices = at::empty(window_offset.sizes(), window_offset.options().dtype(at::kLong).memory_format(plan.format));
  const int64_t count = indices.numel();
  if (count == 0) return indices;
  POOLING_EXT_DISPATCH_OFFSET_TYPE(plan.window_offset.scalar_type(), [&] {
    with_index_type<Launcher>(plan.geometry, [&](auto geometry) {
      using index_t = decltype(geometry.batch);
      Launcher::launch(count, MaxPoolIndicesBody<offset_t, index_t>{plan.window_offset.const_data_ptr<offset_t>(),
                                                                    indices.mutable_data_ptr<int64_t>(), geometry});
    });
  });
  return indices;
}

// ---------------------------------------------------------------- max pooling (fixed windows)

template <class Launcher>
std::tuple<at::Tensor, at::Tensor> grid_max_pool_forward(const at::Tensor& self, at::IntArrayRef kernel_size,
                                                         at::IntArrayRef stride, at::IntArrayRef padding,
                                                         at::IntArrayRef dilation, bool ceil_mode) {
  return launch_max_pool_forward<Launcher>(plan_max_pool_forward(self, kernel_size, stride, padding, dilation, ceil_mode));
}

template <class Launcher>
at::Tensor grid_max_pool_backward(const at::Tensor& grad_output, const at::Tensor& window_offset,
                                  at::IntArrayRef input_size, at::IntArrayRef kernel_size, at::IntArrayRef stride,
                                  at::IntArrayRef padding, at::IntArrayRef dilation) {
  const WindowOffsetPlan plan =
      plan_window_offset_op("max_pool_backward", window_offset, input_size, kernel_size, stride, padding, dilation);
  return launch_max_pool_backward<Launcher>(plan, grad_output, window_offset, input_size);
}

template <class Launcher>
at::Tensor grid_max_pool_gather(const at::Tensor& source, const at::Tensor& window_offset,
                                at::IntArrayRef kernel_size, at::IntArrayRef stride, at::IntArrayRef padding,
                                at::IntArrayRef dilation) {
  const WindowOffsetPlan plan =
      plan_window_offset_op("max_pool_gather", window_offset, source.sizes(), kernel_size, stride, padding, dilation);
  return launch_max_pool_gather<Launcher>(plan, source, window_offset);
}

template <class Launcher>
at::Tensor grid_max_pool_indices(const at::Tensor& window_offset, at::IntArrayRef input_size,
                                 at::IntArrayRef kernel_size, at::IntArrayRef stride, at::IntArrayRef padding,
                                 at::IntArrayRef dilation) {
  const WindowOffsetPlan plan =
      plan_window_offset_op("max_pool_indices", window_offset, input_size, kernel_size, stride, padding, dilation);
  return launch_max_pool_indices<Launcher>(plan, window_offset);
}

// ---------------------------------------------------------------- adaptive max pooling

template <class Launcher>
std::tuple<at::Tensor, at::Tensor> grid_adaptive_max_pool_forward(const at::Tensor& self,
                                                                  at::IntArrayRef output_size) {
  return launch_max_pool_forward<Launcher>(plan_adaptive_max_pool_forward(self, output_size));
}

template <class Launcher>
at::Tensor grid_adaptive_max_pool_backward(const at::Tensor& grad_output, const at::Tensor& window_offset,
                                           at::IntArrayRef input_size, at::IntArrayRef output_size) {
  const WindowOffsetPlan plan =
      plan_adaptive_window_offset_op("adaptive_max_pool_backward", window_offset, input_size, output_size);
  return launch_max_pool_backward<Launcher>(plan, grad_output, window_offset, input_size);
}

template <class Launcher>
at::Tensor grid_adaptive_max_pool_gather(const at::Tensor& source, const at::Tensor& window_offset,
                                         at::IntArrayRef output_size) {
  const WindowOffsetPlan plan =
      plan_adaptive_window_offset_op("adaptive_max_pool_gather", window_offset, source.sizes(), output_size);
  return launch_max_pool_gather<Launcher>(plan, source, window_offset);
}

template <class Launcher>
at::Tensor grid_adaptive_max_pool_indices(const at::Tensor& window_offset, at::IntArrayRef input_size,
                                          at::IntArrayRef output_size) {
  const WindowOffsetPlan plan =
      plan_adaptive_window_offset_op("adaptive_max_pool_indices", window_offset, input_size, output_size);
  return launch_max_pool_indices<Launcher>(plan, window_offset);
}

// ---------------------------------------------------------------- fractional max pooling
// `intervals_in_sample_dtype`: torch computes the window starts in the
// samples' dtype on the CPU and in float for half and bfloat16 on CUDA; the
// CPU ops set it, CUDA and its emulation leave it false.

template <class Launcher, bool intervals_in_sample_dtype>
at::Tensor launch_fractional_starts(const FractionalPlan& plan) {
  const PoolGeometry& g = plan.geometry;
  const int64_t count = g.batch * g.channels * fractional_starts_per_plane(g);
  at::Tensor starts = at::empty({count}, plan.samples.options().dtype(at::kLong));
  if (count == 0) return starts;
  // torch orders the samples (w, h) in 2d and (t, h, w) in 3d; the canonical
  // dims are (d, h, w), and 2d's d has a single window.
  const bool two_d = plan.args.dims == 2;
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, plan.samples.scalar_type(), "fractional_starts", [&] {
    using math_t = std::conditional_t<intervals_in_sample_dtype, scalar_t, at::opmath_type<scalar_t>>;
    Launcher::launch(count, FractionalStartsBody<scalar_t, math_t, int64_t>{
                                plan.samples.const_data_ptr<scalar_t>(), starts.mutable_data_ptr<int64_t>(), g,
                                plan.args.dims, {0, 1, two_d ? 0 : 2}});
  });
  return starts;
}

template <class Launcher, bool intervals_in_sample_dtype = false>
std::tuple<at::Tensor, at::Tensor> grid_fractional_max_pool_forward(const at::Tensor& self,
                                                                    at::IntArrayRef kernel_size,
                                                                    at::IntArrayRef output_size,
                                                                    const at::Tensor& random_samples) {
  FractionalPlan fractional;
  const MaxPoolForwardPlan plan =
      plan_fractional_max_pool_forward(self, kernel_size, output_size, random_samples, fractional);
  const int64_t count = plan.output.numel();
  if (count == 0) return {plan.output, plan.window_offset};
  const at::Tensor starts = launch_fractional_starts<Launcher, intervals_in_sample_dtype>(fractional);
  POOLING_EXT_DISPATCH_FLOAT_TYPES(plan.input.scalar_type(), "fractional_max_pool_forward", [&] {
    POOLING_EXT_DISPATCH_OFFSET_TYPE(plan.window_offset.scalar_type(), [&] {
      with_index_type<Launcher>(plan.geometry, [&](auto geometry) {
        using index_t = decltype(geometry.batch);
        Launcher::launch(count, FractionalMaxForwardBody<scalar_t, offset_t, index_t>{
                                    {plan.input.const_data_ptr<scalar_t>(), plan.output.mutable_data_ptr<scalar_t>(),
                                     plan.window_offset.mutable_data_ptr<offset_t>(), geometry},
                                    starts.const_data_ptr<int64_t>()});
      });
    });
  });
  return {plan.output, plan.window_offset};
}

template <class Launcher, bool intervals_in_sample_dtype = false>
at::Tensor grid_fractional_max_pool_backward(const at::Tensor& grad_output, const at::Tensor& window_offset,
                                             const at::Tensor& random_samples, at::IntArrayRef input_size,
                                             at::IntArrayRef kernel_size) {
  const FractionalPlan plan = plan_fractional_window_offset_op("fractional_max_pool_backward", window_offset,
                                                               random_samples, input_size, kernel_size);
  const at::Tensor offset = window_offset.contiguous(plan.format);
  const at::Tensor grad =
      prepare_grad_output(WindowOffsetPlan{plan.args, plan.geometry, plan.format, offset}, grad_output, offset);
  at::Tensor grad_input = at::empty(input_size, grad_output.options().memory_format(plan.format));
  const int64_t count = grad_input.numel();
  if (count == 0) return grad_input;
  if (offset.numel() == 0) return grad_input.zero_();
  const at::Tensor starts = launch_fractional_starts<Launcher, intervals_in_sample_dtype>(plan);
  POOLING_EXT_DISPATCH_FLOAT_TYPES(grad.scalar_type(), "fractional_max_pool_backward", [&] {
    POOLING_EXT_DISPATCH_OFFSET_TYPE(offset.scalar_type(), [&] {
      with_index_type<Launcher>(plan.geometry, [&](auto geometry) {
        using index_t = decltype(geometry.batch);
        Launcher::launch(count, FractionalMaxBackwardBody<scalar_t, offset_t, index_t>{
                                    grad.const_data_ptr<scalar_t>(), offset.const_data_ptr<offset_t>(),
                                    grad_input.mutable_data_ptr<scalar_t>(), geometry,
                                    starts.const_data_ptr<int64_t>()});
      });
    });
  });
  return grad_input;
}

template <class Launcher, bool intervals_in_sample_dtype = false>
at::Tensor grid_fractional_max_pool_gather(const at::Tensor& source, const at::Tensor& window_offset,
                                           const at::Tensor& random_samples, at::IntArrayRef kernel_size) {
  const FractionalPlan plan = plan_fractional_window_offset_op("fractional_max_pool_gather", window_offset,
                                                               random_samples, source.sizes(), kernel_size);
  check_max_pool_dtype("fractional_max_pool_gather", source, /*need_floating=*/false);
  const at::Tensor src = source.contiguous(plan.format);
  const at::Tensor offset = window_offset.contiguous(plan.format);
  at::Tensor output = at::empty(window_offset.sizes(), source.options().memory_format(plan.format));
  const int64_t count = output.numel();
  if (count == 0) return output;
  const at::Tensor starts = launch_fractional_starts<Launcher, intervals_in_sample_dtype>(plan);
  POOLING_EXT_DISPATCH_MAX_POOL_TYPES(src.scalar_type(), "fractional_max_pool_gather", [&] {
    POOLING_EXT_DISPATCH_OFFSET_TYPE(offset.scalar_type(), [&] {
      with_index_type<Launcher>(plan.geometry, [&](auto geometry) {
        using index_t = decltype(geometry.batch);
        Launcher::launch(count, FractionalMaxGatherBody<scalar_t, offset_t, index_t>{
                                    src.const_data_ptr<scalar_t>(), offset.const_data_ptr<offset_t>(),
                                    output.mutable_data_ptr<scalar_t>(), geometry, starts.const_data_ptr<int64_t>()});
      });
    });
  });
  return output;
}

template <class Launcher, bool intervals_in_sample_dtype = false>
at::Tensor grid_fractional_max_pool_indices(const at::Tensor& window_offset, const at::Tensor& random_samples,
                                            at::IntArrayRef input_size, at::IntArrayRef kernel_size) {
  const FractionalPlan plan = plan_fractional_window_offset_op("fractional_max_pool_indices", window_offset,
                                                               random_samples, input_size, kernel_size);
  const at::Tensor offset = window_offset.contiguous(plan.format);
  at::Tensor indices = at::empty(window_offset.sizes(), window_offset.options().dtype(at::kLong)
                                                            .memory_format(plan.format));
  const int64_t count = indices.numel();
  if (count == 0) return indices;
  const at::Tensor starts = launch_fractional_starts<Launcher, intervals_in_sample_dtype>(plan);
  POOLING_EXT_DISPATCH_OFFSET_TYPE(offset.scalar_type(), [&] {
    with_index_type<Launcher>(plan.geometry, [&](auto geometry) {
      using index_t = decltype(geometry.batch);
      Launcher::launch(count, FractionalMaxIndicesBody<offset_t, index_t>{offset.const_data_ptr<offset_t>(),
                                                                          indices.mutable_data_ptr<int64_t>(),
                                                                          geometry, starts.const_data_ptr<int64_t>()});
    });
  });
  return indices;
}

// ---------------------------------------------------------------- unpooling

template <class Launcher>
at::Tensor grid_max_unpool(const at::Tensor& self, const at::Tensor& indices, at::IntArrayRef output_size) {
  check_unpool_inputs("max_unpool", self, indices);
  UnpoolPlan plan = plan_max_unpool("max_unpool", indices, output_size);
  check_unpool_dtype("max_unpool", self);
  const at::Tensor input = self.contiguous(plan.format);
  at::Tensor output = at::empty(plan.output_sizes, self.options().memory_format(plan.format)).zero_();
  const int64_t count = input.numel();
  if (count == 0) return output;
  at::Tensor winner = at::empty(plan.output_sizes, self.options().dtype(at::kLong).memory_format(plan.format)).zero_();
  at::Tensor bad_index = at::zeros({1}, self.options().dtype(at::kLong));
  auto* winner_ptr = reinterpret_cast<unsigned long long*>(winner.mutable_data_ptr<int64_t>());
  Launcher::launch(count, MaxUnpoolClaimBody{plan.indices.const_data_ptr<int64_t>(), winner_ptr,
                                             bad_index.mutable_data_ptr<int64_t>(), plan.geometry});
  const int64_t bad = bad_index.item<int64_t>();
  if (bad != 0) throw_bad_unpool_index(bad, output_size);
  POOLING_EXT_DISPATCH_FLOAT_TYPES(input.scalar_type(), "max_unpool", [&] {
    Launcher::launch(count, MaxUnpoolWriteBody<scalar_t>{input.const_data_ptr<scalar_t>(),
                                                         plan.indices.const_data_ptr<int64_t>(), winner_ptr,
                                                         output.mutable_data_ptr<scalar_t>(), plan.geometry});
  });
  return output;
}

template <class Launcher>
at::Tensor grid_max_unpool_gather(const at::Tensor& grad_output, const at::Tensor& indices, int64_t dims) {
  UnpoolPlan plan = plan_max_unpool("max_unpool_gather", indices, unpooled_spatial_size(grad_output, indices, dims));
  check_unpool_dtype("max_unpool_gather", grad_output);
  const at::Tensor grad = grad_output.contiguous(plan.format);
  at::Tensor grad_input = at::empty(indices.sizes(), grad_output.options().memory_format(plan.format));
  const int64_t count = grad_input.numel();
  if (count == 0) return grad_input;
  at::Tensor bad_index = at::zeros({1}, grad_output.options().dtype(at::kLong));
  POOLING_EXT_DISPATCH_FLOAT_TYPES(grad.scalar_type(), "max_unpool_gather", [&] {
    Launcher::launch(count, MaxUnpoolGatherBody<scalar_t>{grad.const_data_ptr<scalar_t>(),
                                                          plan.indices.const_data_ptr<int64_t>(),
                                                          grad_input.mutable_data_ptr<scalar_t>(),
                                                          bad_index.mutable_data_ptr<int64_t>(), plan.geometry});
  });
  const int64_t bad = bad_index.item<int64_t>();
  if (bad != 0) throw_bad_unpool_index(bad, grad_output.sizes().slice(grad_output.dim() - dims));
  return grad_input;
}

}  // namespace pooling_ext
