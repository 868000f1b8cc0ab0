// CPU kernels of fractional max pooling: the entry points, and which loop
// runs (fractional_cpu_loops.h). Window starts are computed in the samples'
// dtype, as torch's CPU computes them; gather and indices run the launch code's
// bodies in parallel.
#include <algorithm>

#include "../../common/cpu/parallel_launch.h"
#include "../../common/dtype_dispatch.h"
#include "../fractional.h"
#include "../fractional_launch.h"
#include "fractional_cpu_loops.h"

namespace pooling_ext {
namespace cpu {
namespace {

constexpr bool kStartsInSampleDtype = true;

// The backward's tasks, or nullopt where one task's buffer would pass 16 MiB
// (huge planes): those take the launch code's gather.
std::optional<FractionalBackwardTasks> backward_tasks(const PoolGeometry& g, at::ScalarType dtype) {
  constexpr int64_t kChannelBlock = 16;                 // channels-last task width: its planes' buffer stays in L2
  constexpr int64_t kMaxTaskBuffer = int64_t(1) << 22;  // float elements (16 MiB) per task
  const int64_t in_plane = std::max<int64_t>(g.in_plane(), 1);
  // (fewer channels per task where planes are large, so a task's buffer stays within bounds)
  const int64_t channels_per_task =
      g.channels_last
          ? std::clamp<int64_t>(kMaxTaskBuffer / in_plane, 1, std::clamp<int64_t>(g.channels, 1, kChannelBlock))
          : 1;
  // Tasks add into grad_input directly only for contiguous float or double.
  const bool sums_in_buffer = dtype == at::kHalf || dtype == at::kBFloat16 || g.channels_last;
  if (sums_in_buffer && in_plane * channels_per_task > kMaxTaskBuffer) return std::nullopt;
  return FractionalBackwardTasks{channels_per_task, sums_in_buffer};
}

// The output and, unless offsets is kNone, the window offsets (undefined otherwise).
std::tuple<at::Tensor, at::Tensor> forward(const at::Tensor& self, at::IntArrayRef kernel_size,
                                           at::IntArrayRef output_size, const at::Tensor& random_samples,
                                           WindowOffsets offsets) {
  FractionalPlan fractional;
  const MaxPoolForwardPlan plan =
      plan_fractional_max_pool_forward(self, kernel_size, output_size, random_samples, fractional, offsets);
  if (plan.output.numel() == 0) return {plan.output, plan.window_offset};
  const at::Tensor starts = grid::launch_fractional_starts<ParallelCpuLauncher, kStartsInSampleDtype>(fractional);
  POOLING_EXT_DISPATCH_FLOAT_TYPES(plan.input.scalar_type(), "fractional_max_pool_forward", [&] {
    POOLING_EXT_DISPATCH_OFFSET_TYPE(plan.offset_dtype, [&] {
      const FractionalMaxForwardBody<scalar_t, offset_t> body{
          {plan.input.const_data_ptr<scalar_t>(), plan.output.mutable_data_ptr<scalar_t>(),
           plan.offset_data<offset_t>(), plan.geometry},
          starts.const_data_ptr<int64_t>()};
      if (plan.geometry.channels_last) {
        fractional_forward_channels_last(body);
      } else {
        fractional_forward_contiguous(body);
      }
    });
  });
  return {plan.output, plan.window_offset};
}

}  // namespace

std::tuple<at::Tensor, at::Tensor> fractional_max_pool_forward(const at::Tensor& self, at::IntArrayRef kernel_size,
                                                               at::IntArrayRef output_size,
                                                               const at::Tensor& random_samples) {
  return forward(self, kernel_size, output_size, random_samples, WindowOffsets::kSaved);
}

at::Tensor fractional_max_pool_values(const at::Tensor& self, at::IntArrayRef kernel_size,
                                      at::IntArrayRef output_size, const at::Tensor& random_samples) {
  return std::get<0>(forward(self, kernel_size, output_size, random_samples, WindowOffsets::kNone));
}

at::Tensor fractional_max_pool_backward(const at::Tensor& grad_output, const at::Tensor& window_offset,
                                        const at::Tensor& random_samples, at::IntArrayRef input_size,
                                        at::IntArrayRef kernel_size) {
  const FractionalPlan plan = plan_fractional_window_offset_op("fractional_max_pool_backward", window_offset,
                                                               random_samples, input_size, kernel_size);
  const std::optional<FractionalBackwardTasks> tasks = backward_tasks(plan.geometry, grad_output.scalar_type());
  if (!tasks.has_value()) {
    return grid::fractional_max_pool_backward<ParallelCpuLauncher, kStartsInSampleDtype>(
        grad_output, window_offset, random_samples, input_size, kernel_size);
  }
  const at::Tensor offset = window_offset.contiguous(plan.format);
  const at::Tensor grad = prepare_fractional_grad_output(plan, grad_output, offset);
  // (at::zeros drops the memory format of its options: empty, then zero.)
  at::Tensor grad_input = at::empty(input_size, grad_output.options().memory_format(plan.format));
  if (!tasks->sums_in_buffer || offset.numel() == 0) grad_input.zero_();
  if (grad_input.numel() == 0 || offset.numel() == 0) return grad_input;
  const at::Tensor starts = grid::launch_fractional_starts<ParallelCpuLauncher, kStartsInSampleDtype>(plan);
  POOLING_EXT_DISPATCH_FLOAT_TYPES(grad.scalar_type(), "fractional_max_pool_backward", [&] {
    POOLING_EXT_DISPATCH_OFFSET_TYPE(offset.scalar_type(), [&] {
      fractional_backward_scatter(
          FractionalMaxBackwardBody<scalar_t, offset_t>{
              grad.const_data_ptr<scalar_t>(), offset.const_data_ptr<offset_t>(),
              grad_input.mutable_data_ptr<scalar_t>(), plan.geometry, starts.const_data_ptr<int64_t>()},
          *tasks);
    });
  });
  return grad_input;
}

at::Tensor fractional_max_pool_gather(const at::Tensor& source, const at::Tensor& window_offset,
                                      const at::Tensor& random_samples, at::IntArrayRef kernel_size) {
  return grid::fractional_max_pool_gather<ParallelCpuLauncher, kStartsInSampleDtype>(source, window_offset,
                                                                                     random_samples, kernel_size);
}

at::Tensor fractional_max_pool_indices(const at::Tensor& window_offset, const at::Tensor& random_samples,
                                       at::IntArrayRef input_size, at::IntArrayRef kernel_size) {
  return grid::fractional_max_pool_indices<ParallelCpuLauncher, kStartsInSampleDtype>(window_offset, random_samples,
                                                                                      input_size, kernel_size);
}

}  // namespace cpu
}  // namespace pooling_ext
