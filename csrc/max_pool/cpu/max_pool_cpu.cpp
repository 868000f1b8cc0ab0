// CPU kernels of max pooling (fixed and adaptive windows): the entry points,
// and which loop runs for which problem (max_pool_cpu_loops.h):
//
// A values-only forward (the *_values ops: inference) runs the same selection
// with a null window offset; each loop then keeps no taps (float32/bfloat16:
// register-blocked, AVX-512 where the CPU has it).
//
//   forward   contiguous float32, window = whole plane   -> max_forward_global_float_planes
//             contiguous, adaptive or whole-plane windows,
//               small planes, many channels              -> the channels-last loops on copies
//               (but bfloat16 whole planes on AVX-512 CPUs -> max_forward_global_planes)
//             channels-last                               -> max_forward_channels_last
//             contiguous, window = whole plane            -> max_forward_global_planes
//             contiguous                                  -> max_forward_rows (borders: the body)
//   backward  channels-last float32/bfloat16, windows that
//               tile the input, AVX-512 CPU               -> max_backward_tiling_channels_last
//             channels-last, windows that never overlap,
//               >= 16 taps, not bfloat16                  -> max_backward_scatter_channels_last
//             channels-last                               -> max_backward_gather_channels_last
//             contiguous float32/bfloat16, overlapping fixed
//               windows of <= 4 taps, stride <= 2 along W,
//               AVX-512 CPU                               -> max_backward_gather_rows
//             contiguous                                  -> max_backward_scatter_planes
//   gather, indices: the per-element bodies in parallel (nothing in them gains from a loop of its own).
#include <limits>

#include "../../common/cpu/loop_support.h"
#include "../../common/cpu/parallel_launch.h"
#include "../../common/dtype_dispatch.h"
#include "../max_pool.h"
#include "../max_pool_launch.h"
#include "float_loops.h"
#include "max_pool_cpu_loops.h"

namespace pooling_ext {
namespace cpu {
namespace {

bool runs_global_float_planes(const MaxPoolForwardPlan& plan) {
  const PoolGeometry& g = plan.geometry;
  return !g.channels_last && is_global_window(g) && plan.input.scalar_type() == at::kFloat &&
         g.in_plane() < std::numeric_limits<int32_t>::max();
}

// Contiguous bfloat16 global windows, which max_forward_global_planes reduces
// in AVX-512 where the CPU has it (faster than the copies).
bool runs_global_bf16_in_place(const MaxPoolForwardPlan& plan) {
  const PoolGeometry& g = plan.geometry;
  return !g.channels_last && is_global_window(g) && plan.input.scalar_type() == at::kBFloat16 &&
         simd::max_of_plane_values_avx512_supported();
}

void run_forward(const MaxPoolForwardPlan& plan);

// Channels-last windows that never overlap and have many taps, where they do
// not tile the input or the CPU lacks AVX-512, scatter: a store per output
// element, where the gather compares every input element with its output's
// tap (f32 backward 10-25% faster at 16 and 49 taps; slower at 4). bfloat16
// gathers those in 16-bit lanes, as fast as the scatter.
bool scatters_channels_last(const PoolGeometry& g, at::ScalarType dtype) {
  return windows_never_overlap(g) && g.kernel_volume() >= 16 && dtype != at::kBFloat16;
}

// The channels-last loops on channels-last copies of input and outputs.
void run_forward_on_channels_last_copy(const MaxPoolForwardPlan& plan) {
  const PoolGeometry& g = plan.geometry;
  MaxPoolForwardPlan on_copy = plan;
  on_copy.input = channels_last_copy(plan.input.const_data_ptr(), g, /*input_side=*/true, plan.input.scalar_type());
  on_copy.output = channels_last_scratch(g, /*input_side=*/false, plan.output.scalar_type());
  if (plan.saves_offsets()) {
    on_copy.window_offset = channels_last_scratch(g, /*input_side=*/false, plan.offset_dtype);
  }
  on_copy.geometry.channels_last = true;
  run_forward(on_copy);
  canonical_view(plan.output.data_ptr(), g, /*input_side=*/false, plan.output.scalar_type()).copy_(on_copy.output);
  if (plan.saves_offsets()) {
    canonical_view(plan.window_offset.data_ptr(), g, /*input_side=*/false, plan.offset_dtype)
        .copy_(on_copy.window_offset);
  }
}

template <typename scalar_t, typename offset_t>
void run_forward_loop(const MaxPoolForwardPlan& plan, const MaxPoolForwardBody<scalar_t, offset_t>& body) {
  if constexpr (std::is_same_v<scalar_t, float>) {
    if (runs_global_float_planes(plan)) return max_forward_global_float_planes(body);
  }
  if (body.g.channels_last) return max_forward_channels_last(body);
  if (is_global_window(body.g)) return max_forward_global_planes(body);
  max_forward_rows(body);
}

void run_forward(const MaxPoolForwardPlan& plan) {
  const PoolGeometry& g = plan.geometry;
  if (runs_on_channels_last_copy(g, is_global_window(g)) && !runs_global_float_planes(plan) &&
      !runs_global_bf16_in_place(plan)) {
    return run_forward_on_channels_last_copy(plan);
  }
  POOLING_EXT_DISPATCH_MAX_POOL_TYPES(plan.input.scalar_type(), "max_pool_forward_cpu", [&] {
    POOLING_EXT_DISPATCH_OFFSET_TYPE(plan.offset_dtype, [&] {
      run_forward_loop(plan, MaxPoolForwardBody<scalar_t, offset_t>{plan.input.const_data_ptr<scalar_t>(),
                                                                    plan.output.mutable_data_ptr<scalar_t>(),
                                                                    plan.offset_data<offset_t>(), g});
    });
  });
}

std::tuple<at::Tensor, at::Tensor> forward(const MaxPoolForwardPlan& plan) {
  if (plan.output.numel() > 0) run_forward(plan);
  return {plan.output, plan.window_offset};
}

at::Tensor backward(const WindowOffsetPlan& plan, const at::Tensor& grad_output, const at::Tensor& window_offset,
                    at::IntArrayRef input_size) {
  const at::Tensor grad = prepare_grad_output(plan, grad_output, window_offset);
  at::Tensor grad_input = at::empty(input_size, grad_output.options().memory_format(plan.format));
  if (grad_input.numel() == 0) return grad_input;
  if (window_offset.numel() == 0) return grad_input.zero_();  // no output, no gradient
  POOLING_EXT_DISPATCH_FLOAT_TYPES(grad.scalar_type(), "max_pool_backward_cpu", [&] {
    POOLING_EXT_DISPATCH_OFFSET_TYPE(plan.window_offset.scalar_type(), [&] {
      const MaxPoolBackwardBody<scalar_t, offset_t> body{grad.const_data_ptr<scalar_t>(),
                                                         plan.window_offset.const_data_ptr<offset_t>(),
                                                         grad_input.mutable_data_ptr<scalar_t>(), plan.geometry};
      if (plan.geometry.channels_last) {
        if (max_backward_tiling_channels_last(body)) return;
        if (scatters_channels_last(plan.geometry, grad.scalar_type())) return max_backward_scatter_channels_last(body);
        return max_backward_gather_channels_last(body);
      }
      if (max_backward_gather_rows(body)) return;
      max_backward_scatter_planes(body);
    });
  });
  return grad_input;
}

}  // namespace

std::tuple<at::Tensor, at::Tensor> max_pool_forward(const at::Tensor& self, at::IntArrayRef kernel_size,
                                                    at::IntArrayRef stride, at::IntArrayRef padding,
                                                    at::IntArrayRef dilation, bool ceil_mode) {
  return forward(plan_max_pool_forward(self, kernel_size, stride, padding, dilation, ceil_mode));
}

at::Tensor max_pool_values(const at::Tensor& self, at::IntArrayRef kernel_size, at::IntArrayRef stride,
                           at::IntArrayRef padding, at::IntArrayRef dilation, bool ceil_mode) {
  return std::get<0>(
      forward(plan_max_pool_forward(self, kernel_size, stride, padding, dilation, ceil_mode, WindowOffsets::kNone)));
}

at::Tensor max_pool_backward(const at::Tensor& grad_output, const at::Tensor& window_offset, at::IntArrayRef input_size,
                             at::IntArrayRef kernel_size, at::IntArrayRef stride, at::IntArrayRef padding,
                             at::IntArrayRef dilation) {
  const WindowOffsetPlan plan =
      plan_window_offset_op("max_pool_backward", window_offset, input_size, kernel_size, stride, padding, dilation);
  return backward(plan, grad_output, window_offset, input_size);
}

at::Tensor max_pool_gather(const at::Tensor& source, const at::Tensor& window_offset, at::IntArrayRef kernel_size,
                           at::IntArrayRef stride, at::IntArrayRef padding, at::IntArrayRef dilation) {
  return grid::max_pool_gather<ParallelCpuLauncher>(source, window_offset, kernel_size, stride, padding, dilation);
}

at::Tensor max_pool_indices(const at::Tensor& window_offset, at::IntArrayRef input_size, at::IntArrayRef kernel_size,
                            at::IntArrayRef stride, at::IntArrayRef padding, at::IntArrayRef dilation) {
  return grid::max_pool_indices<ParallelCpuLauncher>(window_offset, input_size, kernel_size, stride, padding, dilation);
}

std::tuple<at::Tensor, at::Tensor> adaptive_max_pool_forward(const at::Tensor& self, at::IntArrayRef output_size) {
  return forward(plan_adaptive_max_pool_forward(self, output_size));
}

at::Tensor adaptive_max_pool_values(const at::Tensor& self, at::IntArrayRef output_size) {
  return std::get<0>(forward(plan_adaptive_max_pool_forward(self, output_size, WindowOffsets::kNone)));
}

at::Tensor adaptive_max_pool_backward(const at::Tensor& grad_output, const at::Tensor& window_offset,
                                      at::IntArrayRef input_size, at::IntArrayRef output_size) {
  const WindowOffsetPlan plan =
      plan_adaptive_window_offset_op("adaptive_max_pool_backward", window_offset, input_size, output_size);
  return backward(plan, grad_output, window_offset, input_size);
}

at::Tensor adaptive_max_pool_gather(const at::Tensor& source, const at::Tensor& window_offset,
                                    at::IntArrayRef output_size) {
  return grid::adaptive_max_pool_gather<ParallelCpuLauncher>(source, window_offset, output_size);
}

at::Tensor adaptive_max_pool_indices(const at::Tensor& window_offset, at::IntArrayRef input_size,
                                     at::IntArrayRef output_size) {
  return grid::adaptive_max_pool_indices<ParallelCpuLauncher>(window_offset, input_size, output_size);
}

}  // namespace cpu
}  // namespace pooling_ext
