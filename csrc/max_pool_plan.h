// Preparation shared by every device's max pooling / unpooling entry points:
// argument checks, canonical geometry, output allocation. The kernels proper
// live in kernels/ (per-element bodies) and cpu/ (CPU loops).
#pragma once

#include <ATen/ATen.h>

#include "kernels/max_pool_bodies.h"
#include "pool_shape.h"

namespace pooling_ext {

struct MaxPoolForwardPlan {
  WindowArgs args;
  PoolGeometry geometry;
  at::Tensor input;          // laid out in `format`
  at::Tensor output;         // allocated, same layout
  at::Tensor window_offset;  // allocated, same layout
};

MaxPoolForwardPlan plan_max_pool_forward(const at::Tensor& self, at::IntArrayRef kernel_size,
                                         at::IntArrayRef stride, at::IntArrayRef padding,
                                         at::IntArrayRef dilation, bool ceil_mode);

// For the ops that consume a saved window offset: backward, gather, indices.
struct WindowOffsetPlan {
  WindowArgs args;
  PoolGeometry geometry;
  at::MemoryFormat format;
  at::Tensor window_offset;  // laid out in `format`
};

WindowOffsetPlan plan_window_offset_op(const char* what, const at::Tensor& window_offset,
                                       at::IntArrayRef input_size, at::IntArrayRef kernel_size,
                                       at::IntArrayRef stride, at::IntArrayRef padding,
                                       at::IntArrayRef dilation);

// Adaptive max pooling (torch's adaptive windows; fixed ones where the sizes divide).
MaxPoolForwardPlan plan_adaptive_max_pool_forward(const at::Tensor& self, at::IntArrayRef output_size);
WindowOffsetPlan plan_adaptive_window_offset_op(const char* what, const at::Tensor& window_offset,
                                                at::IntArrayRef input_size, at::IntArrayRef output_size);

// Fractional max pooling: windows of kernel_size at per-plane pseudo-random
// starts (kernels/fractional_bodies.h). The window args are kernel_size with
// stride 1, no padding and dilation 1; the samples (N' >= N, C, dims) are
// checked against the input and made contiguous.
struct FractionalPlan {
  WindowArgs args;
  PoolGeometry geometry;
  at::MemoryFormat format;
  at::Tensor samples;
};

// The pooled shape, after torch's checks of the sizes and the samples.
std::vector<int64_t> fractional_pooled_shape(at::IntArrayRef input_sizes, at::IntArrayRef kernel_size,
                                             at::IntArrayRef output_size, const at::Tensor& samples,
                                             at::ScalarType input_dtype);
std::vector<c10::SymInt> fractional_pooled_shape(c10::SymIntArrayRef input_sizes, at::IntArrayRef kernel_size,
                                                 at::IntArrayRef output_size, const at::Tensor& samples,
                                                 at::ScalarType input_dtype);

// Forward: the plan of the input, with output and window offset allocated.
MaxPoolForwardPlan plan_fractional_max_pool_forward(const at::Tensor& self, at::IntArrayRef kernel_size,
                                                    at::IntArrayRef output_size, const at::Tensor& samples,
                                                    FractionalPlan& fractional);
// Backward, gather and indices: the plan of a saved window offset.
FractionalPlan plan_fractional_window_offset_op(const char* what, const at::Tensor& window_offset,
                                                const at::Tensor& samples, at::IntArrayRef input_size,
                                                at::IntArrayRef kernel_size);

// Checks a max pooling backward's grad_output against the saved window offset
// and lays it out like the offset.
at::Tensor prepare_grad_output(const WindowOffsetPlan& plan, const at::Tensor& grad_output,
                               const at::Tensor& window_offset);

struct UnpoolPlan {
  UnpoolGeometry geometry;
  at::MemoryFormat format;
  at::Tensor indices;  // laid out in `format`
  std::vector<int64_t> output_sizes;
};

// Checks `indices` (int64, of the unpool input's shape) against the unpooled
// spatial size `output_spatial`, whose length is the number of pooled dims.
UnpoolPlan plan_max_unpool(const char* what, const at::Tensor& indices, at::IntArrayRef output_spatial);

// Checks the unpool input against its indices (shape, dtype, device), as torch.
void check_unpool_inputs(const char* what, const at::Tensor& self, const at::Tensor& indices);

// Unpooling runs on floating types only (NotImplementedError otherwise, as torch).
void check_unpool_dtype(const char* what, const at::Tensor& t);

// The spatial size of an unpooled tensor (grad_output of the unpool) after
// checking its rank against the indices.
at::IntArrayRef unpooled_spatial_size(const at::Tensor& unpooled, const at::Tensor& indices, int64_t dims);

[[noreturn]] void throw_bad_unpool_index(int64_t bad_index, at::IntArrayRef output_spatial);

// Dispatch over the dtypes max pooling accepts (torch's CPU set: floating
// types, half, bfloat16 and the integer types but bool).
#define POOLING_EXT_DISPATCH_MAX_POOL_TYPES(TYPE, NAME, ...) \
  AT_DISPATCH_ALL_TYPES_AND2(at::kHalf, at::kBFloat16, TYPE, NAME, __VA_ARGS__)

#define POOLING_EXT_DISPATCH_FLOAT_TYPES(TYPE, NAME, ...) \
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, TYPE, NAME, __VA_ARGS__)

// Dispatch over the window offset's storage type.
#define POOLING_EXT_DISPATCH_OFFSET_TYPE(OFFSET_DTYPE, ...)         \
  [&] {                                                              \
    if ((OFFSET_DTYPE) == at::kByte) {                               \
      using offset_t = uint8_t;                                      \
      return __VA_ARGS__();                                          \
    }                                                                \
    TORCH_CHECK((OFFSET_DTYPE) == at::kInt,                          \
                "window_offset must be uint8 or int32, but got ", \
                (OFFSET_DTYPE));                                     \
    using offset_t = int32_t;                                        \
    return __VA_ARGS__();                                            \
  }()

}  // namespace pooling_ext
