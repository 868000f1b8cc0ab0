// CPU kernels of the window-sum family (average, LP, GeM): the entry points,
// and which loop runs for which problem (window_sum_cpu_loops.h):
//
//   forward   p = +-inf (extreme |x|)                  -> the body, per output
//             contiguous adaptive average, float32/bfloat16 on AVX-512 CPUs -> average_forward_adaptive_rows_avx512
//             contiguous adaptive, small planes, many channels -> the channels-last loops on copies
//             channels-last                             -> sum_forward_channels_last
//             window = whole plane                      -> sum_forward_global (bfloat16 averages: 16
//                                                          planes at a time in AVX-512)
//             adaptive (average)                        -> average_forward_adaptive_planes
//             fixed windows                             -> sum_forward_rows (interiors of averages and of
//                                                          p = 2, 4 in AVX-512; borders: the body, or
//                                                          masked in AVX-512 where they share their row's
//                                                          divisor; "same" averages: whole planes)
//   backward  p = +-inf                                 -> the body, per input
//             contiguous adaptive average, small planes -> the channels-last loops on copies
//             channels-last: average, disjoint windows  -> average_backward_disjoint_channels_last
//                            average                    -> average_backward_gather_channels_last
//                            power mean                 -> power_backward_gather_channels_last
//             window = whole plane                      -> sum_backward_global
//             average, disjoint windows                 -> average_backward_disjoint_planes (tiling rows,
//                                                          float32/bfloat16: shares spread in AVX-512)
//             adaptive: average                         -> average_backward_adaptive_planes
//                       power mean                      -> the body, per input
//             fixed windows                             -> sum_backward_planes ("same" averages of one
//                                                          divisor: the forward's flat sums of the shares;
//                                                          1-d 3 s2 p1 averages: a gather of 1-2 shares)
//   GeM's gradient in p: gem_exponent_grad_partials, then fixed_order_sum.
#include <ATen/OpMathType.h>

#include "../../common/cpu/loop_support.h"
#include "../../common/dtype_dispatch.h"
#include "../window_sum.h"
#include "../window_sum_plan.h"
#include "window_sum_cpu_loops.h"

namespace pooling_ext {
namespace cpu {
namespace {

// The bodies of the extreme-|x| reduction do more work per element than most.
constexpr int64_t kElementwiseGrain = kGrainElements / 16;

template <typename scalar_t>
void run_forward(const WindowSumForwardBody<scalar_t, int64_t>& body) {
  const PoolGeometry& g = body.g;
  if (body.r.reduction == WindowReduction::kExtremeAbs) {
    return parallel_for_each_index(g.out_numel(), body, kElementwiseGrain);
  }
  if (g.channels_last) return sum_forward_channels_last(body);
  if (is_global_window(g)) return sum_forward_global(body);
  if (g.adaptive) return average_forward_adaptive_planes(body);  // only average pooling has adaptive windows
  sum_forward_rows(body);
}

template <typename scalar_t>
void run_backward(const WindowSumBackwardBody<scalar_t, int64_t>& body) {
  const PoolGeometry& g = body.g;
  const bool average = body.r.reduction == WindowReduction::kAverage;
  if (body.r.reduction == WindowReduction::kExtremeAbs) {
    return parallel_for_each_index(g.in_numel(), body, kElementwiseGrain);
  }
  if (g.channels_last) {
    if (!average) return power_backward_gather_channels_last(body);
    if (windows_are_disjoint(g)) return average_backward_disjoint_channels_last(body);
    return average_backward_gather_channels_last(body);
  }
  if (is_global_window(g)) return sum_backward_global(body);
  if (average && windows_are_disjoint(g)) return average_backward_disjoint_planes(body);
  if (g.adaptive) {  // (the row loops need a fixed stride)
    if (average) return average_backward_adaptive_planes(body);
    return parallel_for_each_index(g.in_numel(), body, kElementwiseGrain);
  }
  sum_backward_planes(body);
}

// Contiguous adaptive windows over small planes with many channels: the
// channels-last loops, which vectorise across channels, on channels-last
// copies of what the op reads and writes.
template <typename scalar_t>
void run_forward_on_channels_last_copy(const WindowSumForwardBody<scalar_t, int64_t>& body) {
  const at::ScalarType dtype = c10::CppTypeToScalarType<scalar_t>::value;
  const at::Tensor input = channels_last_copy(body.input, body.g, /*input_side=*/true, dtype);
  at::Tensor output = channels_last_scratch(body.g, /*input_side=*/false, dtype);
  WindowSumForwardBody<scalar_t, int64_t> on_copy = body;
  on_copy.input = input.const_data_ptr<scalar_t>();
  on_copy.output = output.mutable_data_ptr<scalar_t>();
  on_copy.g.channels_last = true;
  run_forward(on_copy);
  canonical_view(body.output, body.g, /*input_side=*/false, dtype).copy_(output);
}

template <typename scalar_t>
void run_backward_on_channels_last_copy(const WindowSumBackwardBody<scalar_t, int64_t>& body) {
  // (only average pooling has adaptive windows: its backward reads nothing but the gradient)
  const at::ScalarType dtype = c10::CppTypeToScalarType<scalar_t>::value;
  const at::Tensor grad = channels_last_copy(body.grad_output, body.g, /*input_side=*/false, dtype);
  at::Tensor grad_input = channels_last_scratch(body.g, /*input_side=*/true, dtype);
  WindowSumBackwardBody<scalar_t, int64_t> on_copy = body;
  on_copy.grad_output = grad.const_data_ptr<scalar_t>();
  on_copy.grad_input = grad_input.mutable_data_ptr<scalar_t>();
  on_copy.g.channels_last = true;
  run_backward(on_copy);
  canonical_view(body.grad_input, body.g, /*input_side=*/true, dtype).copy_(grad_input);
}

// The forward of a planned problem; p_device: GeM's exponent, else undefined.
void forward(const WindowSumPlan& plan, const at::Tensor& p_device) {
  if (plan.output.numel() == 0) return;
  POOLING_EXT_DISPATCH_AVG_POOL_TYPES(plan.input.scalar_type(), "window_sum_forward_cpu", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    const acc_t* p = p_device.defined() ? p_device.const_data_ptr<acc_t>() : nullptr;
    const WindowSumForwardBody<scalar_t, int64_t> body{plan.input.const_data_ptr<scalar_t>(),
                                                       plan.output.mutable_data_ptr<scalar_t>(), plan.geometry,
                                                       plan.reduction.spec<acc_t>(p)};
    const PoolGeometry& g = plan.geometry;
    // (g.adaptive: output sizes that do not divide the input's, so never a global window)
    if (!g.channels_last && g.adaptive && body.r.reduction == WindowReduction::kAverage &&
        average_forward_adaptive_rows_avx512(body)) {
      return;
    }
    if (runs_on_channels_last_copy(g, /*global_window=*/false)) return run_forward_on_channels_last_copy(body);
    run_forward(body);
  });
}

// grad_input is allocated in plan.format; grad is laid out in it too.
void backward(const WindowSumPlan& plan, const at::Tensor& grad, const at::Tensor& grad_input,
              const at::Tensor& p_device) {
  if (grad_input.numel() == 0) return;
  POOLING_EXT_DISPATCH_FLOAT_TYPES(grad.scalar_type(), "window_sum_backward_cpu", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    const acc_t* p = p_device.defined() ? p_device.const_data_ptr<acc_t>() : nullptr;
    const bool average = plan.reduction.reduction == WindowReduction::kAverage;
    const WindowSumBackwardBody<scalar_t, int64_t> body{
        grad.const_data_ptr<scalar_t>(),
        plan.input.defined() ? plan.input.const_data_ptr<scalar_t>() : nullptr,
        average ? nullptr : plan.output.const_data_ptr<scalar_t>(),
        grad_input.mutable_data_ptr<scalar_t>(),
        plan.geometry,
        plan.reduction.spec<acc_t>(p)};
    if (average && runs_on_channels_last_copy(plan.geometry, /*global_window=*/false)) {
      return run_backward_on_channels_last_copy(body);
    }
    run_backward(body);
  });
}

// GeM's gradient with respect to p, summed in a fixed order.
at::Tensor gem_exponent_grad(const WindowSumPlan& plan, const at::Tensor& grad, const at::Tensor& exponent) {
  at::Tensor partial = at::empty({grad.numel()}, exponent.options());
  if (grad.numel() > 0) {
    POOLING_EXT_DISPATCH_FLOAT_TYPES(grad.scalar_type(), "gem_exponent_grad_cpu", [&] {
      using acc_t = at::opmath_type<scalar_t>;
      gem_exponent_grad_partials(PowerMeanExponentGradBody<scalar_t, int64_t>{
          grad.const_data_ptr<scalar_t>(), plan.input.const_data_ptr<scalar_t>(),
          plan.output.const_data_ptr<scalar_t>(), partial.mutable_data_ptr<acc_t>(), plan.geometry,
          plan.reduction.spec<acc_t>(exponent.const_data_ptr<acc_t>())});
    });
  }
  return fixed_order_sum(partial);
}

}  // namespace

at::Tensor avg_pool_forward(const at::Tensor& self, at::IntArrayRef kernel_size, at::IntArrayRef stride,
                            at::IntArrayRef padding, bool ceil_mode, bool count_include_pad,
                            std::optional<int64_t> divisor_override) {
  const WindowSumPlan plan =
      plan_avg_pool_forward(self, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override);
  forward(plan, at::Tensor());
  return plan.output;
}

at::Tensor avg_pool_backward(const at::Tensor& grad_output, at::IntArrayRef input_size, at::IntArrayRef kernel_size,
                             at::IntArrayRef stride, at::IntArrayRef padding, bool ceil_mode, bool count_include_pad,
                             std::optional<int64_t> divisor_override) {
  const WindowSumPlan plan = plan_avg_pool_backward(grad_output, input_size, kernel_size, stride, padding, ceil_mode,
                                                    count_include_pad, divisor_override);
  at::Tensor grad_input = at::empty(input_size, grad_output.options().memory_format(plan.format));
  backward(plan, plan.output, grad_input, at::Tensor());
  return grad_input;
}

at::Tensor adaptive_avg_pool_forward(const at::Tensor& self, at::IntArrayRef output_size) {
  const WindowSumPlan plan = plan_adaptive_avg_pool_forward(self, output_size);
  forward(plan, at::Tensor());
  return plan.output;
}

at::Tensor adaptive_avg_pool_backward(const at::Tensor& grad_output, at::IntArrayRef input_size,
                                      at::IntArrayRef output_size) {
  const WindowSumPlan plan = plan_adaptive_avg_pool_backward(grad_output, input_size, output_size);
  at::Tensor grad_input = at::empty(input_size, grad_output.options().memory_format(plan.format));
  backward(plan, plan.output, grad_input, at::Tensor());
  return grad_input;
}

at::Tensor lp_pool_forward(const at::Tensor& self, double norm_type, at::IntArrayRef kernel_size,
                           at::IntArrayRef stride, bool ceil_mode, bool true_norm) {
  const WindowSumPlan plan = plan_lp_pool_forward(self, norm_type, kernel_size, stride, ceil_mode, true_norm);
  forward(plan, at::Tensor());
  return plan.output;
}

at::Tensor lp_pool_backward(const at::Tensor& grad_output, const at::Tensor& self, const at::Tensor& output,
                            double norm_type, at::IntArrayRef kernel_size, at::IntArrayRef stride, bool ceil_mode,
                            bool true_norm) {
  const WindowSumPlan plan =
      plan_lp_pool_backward(grad_output, self, output, norm_type, kernel_size, stride, ceil_mode, true_norm);
  at::Tensor grad_input = at::empty(self.sizes(), grad_output.options().memory_format(plan.format));
  backward(plan, grad_output.contiguous(plan.format), grad_input, at::Tensor());
  return grad_input;
}

at::Tensor gem_forward(const at::Tensor& self, const at::Tensor& p, double eps) {
  const WindowSumPlan plan = plan_gem_forward(self, eps);
  forward(plan, gem_exponent("gem", p, self));
  return plan.output;
}

std::tuple<at::Tensor, at::Tensor> gem_backward(const at::Tensor& grad_output, const at::Tensor& self,
                                                const at::Tensor& output, const at::Tensor& p, double eps,
                                                bool p_requires_grad) {
  const WindowSumPlan plan = plan_gem_backward(grad_output, self, output, eps);
  const at::Tensor exponent = gem_exponent("gem_backward", p, self);
  const at::Tensor grad = grad_output.contiguous(plan.format);
  at::Tensor grad_input = at::empty(self.sizes(), grad_output.options().memory_format(plan.format));
  backward(plan, grad, grad_input, exponent);
  if (!p_requires_grad) return {grad_input, at::zeros_like(p)};
  return {grad_input, gem_exponent_grad(plan, grad, exponent).to(p.scalar_type()).reshape(p.sizes())};
}

}  // namespace cpu
}  // namespace pooling_ext
