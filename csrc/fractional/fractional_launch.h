// Fractional max pooling as launches of the per-element bodies of
// fractional_bodies.h, for any Launcher (common/launch.h): the CUDA kernels,
// the test emulation of them, and the CPU's window starts, gather and indices.
#pragma once

#include <type_traits>

#include "../common/dtype_dispatch.h"
#include "../common/launch.h"
#include "fractional_bodies.h"
#include "fractional_plan.h"

namespace pooling_ext {
namespace grid {

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
    Launcher::elementwise(count,
                          FractionalStartsBody<scalar_t, math_t, int64_t>{plan.samples.const_data_ptr<scalar_t>(),
                                                                          starts.mutable_data_ptr<int64_t>(),
                                                                          g,
                                                                          plan.args.dims,
                                                                          {0, 1, two_d ? 0 : 2}});
  });
  return starts;
}

// The output and, unless offsets is kNone, the window offsets (undefined otherwise).
template <class Launcher, bool intervals_in_sample_dtype = false>
std::tuple<at::Tensor, at::Tensor> launch_fractional_forward(const at::Tensor& self, at::IntArrayRef kernel_size,
                                                             at::IntArrayRef output_size,
                                                             const at::Tensor& random_samples, WindowOffsets offsets) {
  FractionalPlan fractional;
  const MaxPoolForwardPlan plan =
      plan_fractional_max_pool_forward(self, kernel_size, output_size, random_samples, fractional, offsets);
  const int64_t count = plan.output.numel();
  if (count == 0) return {plan.output, plan.window_offset};
  const at::Tensor starts = launch_fractional_starts<Launcher, intervals_in_sample_dtype>(fractional);
  POOLING_EXT_DISPATCH_FLOAT_TYPES(plan.input.scalar_type(), "fractional_max_pool_forward", [&] {
    POOLING_EXT_DISPATCH_OFFSET_TYPE(plan.offset_dtype, [&] {
      with_index_type<Launcher>(plan.geometry, [&](auto geometry) {
        using index_t = decltype(geometry.batch);
        Launcher::elementwise(count,
                              FractionalMaxForwardBody<scalar_t, offset_t, index_t>{
                                  {plan.input.const_data_ptr<scalar_t>(), plan.output.mutable_data_ptr<scalar_t>(),
                                   plan.offset_data<offset_t>(), geometry},
                                  starts.const_data_ptr<int64_t>()});
      });
    });
  });
  return {plan.output, plan.window_offset};
}

template <class Launcher, bool intervals_in_sample_dtype = false>
std::tuple<at::Tensor, at::Tensor> fractional_max_pool_forward(const at::Tensor& self, at::IntArrayRef kernel_size,
                                                               at::IntArrayRef output_size,
                                                               const at::Tensor& random_samples) {
  return launch_fractional_forward<Launcher, intervals_in_sample_dtype>(self, kernel_size, output_size,
                                                                        random_samples, WindowOffsets::kSaved);
}

template <class Launcher, bool intervals_in_sample_dtype = false>
at::Tensor fractional_max_pool_values(const at::Tensor& self, at::IntArrayRef kernel_size,
                                      at::IntArrayRef output_size, const at::Tensor& random_samples) {
  return std::get<0>(launch_fractional_forward<Launcher, intervals_in_sample_dtype>(
      self, kernel_size, output_size, random_samples, WindowOffsets::kNone));
}

template <class Launcher, bool intervals_in_sample_dtype = false>
at::Tensor fractional_max_pool_backward(const at::Tensor& grad_output, const at::Tensor& window_offset,
                                        const at::Tensor& random_samples, at::IntArrayRef input_size,
                                        at::IntArrayRef kernel_size) {
  const FractionalPlan plan = plan_fractional_window_offset_op("fractional_max_pool_backward", window_offset,
                                                               random_samples, input_size, kernel_size);
  const at::Tensor offset = window_offset.contiguous(plan.format);
  const at::Tensor grad = prepare_fractional_grad_output(plan, grad_output, offset);
  at::Tensor grad_input = at::empty(input_size, grad_output.options().memory_format(plan.format));
  const int64_t count = grad_input.numel();
  if (count == 0) return grad_input;
  if (offset.numel() == 0) return grad_input.zero_();
  const at::Tensor starts = launch_fractional_starts<Launcher, intervals_in_sample_dtype>(plan);
  POOLING_EXT_DISPATCH_FLOAT_TYPES(grad.scalar_type(), "fractional_max_pool_backward", [&] {
    POOLING_EXT_DISPATCH_OFFSET_TYPE(offset.scalar_type(), [&] {
      with_index_type<Launcher>(plan.geometry, [&](auto geometry) {
        using index_t = decltype(geometry.batch);
        Launcher::elementwise(count,
                              FractionalMaxBackwardBody<scalar_t, offset_t, index_t>{
                                  grad.const_data_ptr<scalar_t>(), offset.const_data_ptr<offset_t>(),
                                  grad_input.mutable_data_ptr<scalar_t>(), geometry, starts.const_data_ptr<int64_t>()});
      });
    });
  });
  return grad_input;
}

template <class Launcher, bool intervals_in_sample_dtype = false>
at::Tensor fractional_max_pool_gather(const at::Tensor& source, const at::Tensor& window_offset,
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
        Launcher::elementwise(count,
                              FractionalMaxGatherBody<scalar_t, offset_t, index_t>{
                                  src.const_data_ptr<scalar_t>(), offset.const_data_ptr<offset_t>(),
                                  output.mutable_data_ptr<scalar_t>(), geometry, starts.const_data_ptr<int64_t>()});
      });
    });
  });
  return output;
}

template <class Launcher, bool intervals_in_sample_dtype = false>
at::Tensor fractional_max_pool_indices(const at::Tensor& window_offset, const at::Tensor& random_samples,
                                       at::IntArrayRef input_size, at::IntArrayRef kernel_size) {
  const FractionalPlan plan = plan_fractional_window_offset_op("fractional_max_pool_indices", window_offset,
                                                               random_samples, input_size, kernel_size);
  const at::Tensor offset = window_offset.contiguous(plan.format);
  at::Tensor indices =
      at::empty(window_offset.sizes(), window_offset.options().dtype(at::kLong).memory_format(plan.format));
  const int64_t count = indices.numel();
  if (count == 0) return indices;
  const at::Tensor starts = launch_fractional_starts<Launcher, intervals_in_sample_dtype>(plan);
  POOLING_EXT_DISPATCH_OFFSET_TYPE(offset.scalar_type(), [&] {
    with_index_type<Launcher>(plan.geometry, [&](auto geometry) {
      using index_t = decltype(geometry.batch);
      Launcher::elementwise(count, FractionalMaxIndicesBody<offset_t, index_t>{
                                       offset.const_data_ptr<offset_t>(), indices.mutable_data_ptr<int64_t>(), geometry,
                                       starts.const_data_ptr<int64_t>()});
    });
  });
  return indices;
}

}  // namespace grid
}  // namespace pooling_ext
