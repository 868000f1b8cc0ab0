// Preparation shared by every device's average / LP / GeM entry points and
// their Meta kernels: argument checks with torch's exception types, the
// reduction each op asks for, canonical geometry, output allocation.
#pragma once

#include <ATen/ATen.h>

#include <optional>

#include "../common/shape_rules.h"
#include "reduction.h"

namespace pooling_ext {

struct WindowSumPlan {
  WindowArgs args;
  PoolGeometry geometry;
  at::MemoryFormat format;
  ReductionArgs reduction;
  at::Tensor input;   // laid out in `format` (undefined for average pooling's backward)
  at::Tensor output;  // forward: allocated; backward: the forward's output laid out in `format`, if needed
};

// ---------------------------------------------------------------- average pooling

// kernel_size, stride, padding checked as torch checks avg_pool's (dilation 1).
WindowArgs check_avg_pool_args(at::IntArrayRef kernel_size, at::IntArrayRef stride, at::IntArrayRef padding,
                               std::optional<int64_t> divisor_override);
ReductionArgs average_reduction(bool count_include_pad, std::optional<int64_t> divisor_override);
// Average pooling runs on floating types and int64 (torch's CPU set).
void check_avg_pool_dtype(const char* op, const at::Tensor& t);

WindowSumPlan plan_avg_pool_forward(const at::Tensor& self, at::IntArrayRef kernel_size, at::IntArrayRef stride,
                                    at::IntArrayRef padding, bool ceil_mode, bool count_include_pad,
                                    std::optional<int64_t> divisor_override);
// grad_input is allocated by the caller in plan.format.
WindowSumPlan plan_avg_pool_backward(const at::Tensor& grad_output, at::IntArrayRef input_size,
                                     at::IntArrayRef kernel_size, at::IntArrayRef stride, at::IntArrayRef padding,
                                     bool ceil_mode, bool count_include_pad, std::optional<int64_t> divisor_override);

// ---------------------------------------------------------------- LP pooling

// lp_pool's window: kernel_size and stride, no padding, dilation 1.
WindowArgs check_lp_pool_args(double norm_type, at::IntArrayRef kernel_size, at::IntArrayRef stride);
ReductionArgs lp_reduction(double norm_type, int64_t kernel_volume, bool true_norm);

WindowSumPlan plan_lp_pool_forward(const at::Tensor& self, double norm_type, at::IntArrayRef kernel_size,
                                   at::IntArrayRef stride, bool ceil_mode, bool true_norm);
WindowSumPlan plan_lp_pool_backward(const at::Tensor& grad_output, const at::Tensor& self, const at::Tensor& output,
                                    double norm_type, at::IntArrayRef kernel_size, at::IntArrayRef stride,
                                    bool ceil_mode, bool true_norm);

// ---------------------------------------------------------------- GeM

// GeM's window is the whole plane of a batched (N, C, spatial...) input.
WindowArgs gem_window(const char* op, at::IntArrayRef input_sizes);
ReductionArgs gem_reduction(double eps);
// p as the accumulation type of `like`, on its device, 0-d (no host sync).
at::Tensor gem_exponent(const char* op, const at::Tensor& p, const at::Tensor& like);
template <typename I>
std::vector<I> gem_output_shape(c10::ArrayRef<I> input_sizes) {
  std::vector<I> out(input_sizes.begin(), input_sizes.end());
  for (size_t d = 2; d < out.size(); ++d) out[d] = I(1);
  return out;
}

WindowSumPlan plan_gem_forward(const at::Tensor& self, double eps);
WindowSumPlan plan_gem_backward(const at::Tensor& grad_output, const at::Tensor& self, const at::Tensor& output,
                                double eps);

// ---------------------------------------------------------------- adaptive average pooling

// torch's adaptive_avg_pool1d/2d accept an empty channel dim; 3d does not.
inline bool adaptive_avg_empty_channels_allowed(at::IntArrayRef output_size) { return output_size.size() < 3; }

WindowSumPlan plan_adaptive_avg_pool_forward(const at::Tensor& self, at::IntArrayRef output_size);
// grad_input is allocated by the caller in plan.format.
WindowSumPlan plan_adaptive_avg_pool_backward(const at::Tensor& grad_output, at::IntArrayRef input_size,
                                              at::IntArrayRef output_size);

}  // namespace pooling_ext
