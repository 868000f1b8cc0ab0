// Preparation shared by every device's fractional max pooling entry points
// and their Meta kernels: torch's checks of the sizes and the samples, and
// the plans. The window args are kernel_size with stride 1, no padding and
// dilation 1; each plane's window starts come from its samples
// (fractional_bodies.h). The max pooling plans and window offsets serve the rest.
#pragma once

#include <ATen/ATen.h>

#include <string>
#include <vector>

#include "../common/shape_rules.h"
#include "../max_pool/max_pool_plan.h"

namespace pooling_ext {

// torch's name of the op in its messages.
std::string fractional_op(int dims);

// The window arguments of fractional pooling with kernel_size.
WindowArgs fractional_window_args(at::IntArrayRef kernel_size);

// The pooled shape, after torch's checks of the sizes and the samples
// ((N' >= N, C, dims), of the input's dtype).
std::vector<int64_t> fractional_pooled_shape(at::IntArrayRef input_sizes, at::IntArrayRef kernel_size,
                                             at::IntArrayRef output_size, const at::Tensor& samples,
                                             at::ScalarType input_dtype);
std::vector<c10::SymInt> fractional_pooled_shape(c10::SymIntArrayRef input_sizes, at::IntArrayRef kernel_size,
                                                 at::IntArrayRef output_size, const at::Tensor& samples,
                                                 at::ScalarType input_dtype);

struct FractionalPlan {
  WindowArgs args;
  PoolGeometry geometry;
  at::MemoryFormat format;
  at::Tensor samples;  // checked against the input, contiguous
};

// Forward: the plan of the input, with output (and window offset, where saved) allocated.
MaxPoolForwardPlan plan_fractional_max_pool_forward(const at::Tensor& self, at::IntArrayRef kernel_size,
                                                    at::IntArrayRef output_size, const at::Tensor& samples,
                                                    FractionalPlan& fractional, WindowOffsets offsets);
// Backward, gather and indices: the plan of a saved window offset.
FractionalPlan plan_fractional_window_offset_op(const char* what, const at::Tensor& window_offset,
                                                const at::Tensor& samples, at::IntArrayRef input_size,
                                                at::IntArrayRef kernel_size);

// A backward's grad_output checked and laid out like the window offset.
at::Tensor prepare_fractional_grad_output(const FractionalPlan& plan, const at::Tensor& grad_output,
                                          const at::Tensor& window_offset);

}  // namespace pooling_ext
