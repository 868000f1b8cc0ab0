// Preparation shared by every device's max pooling entry points (fixed and
// adaptive windows; fractional windows reuse the forward and offset plans):
// argument checks, canonical geometry, output allocation.
#pragma once

#include <ATen/ATen.h>

#include "../common/shape_rules.h"

namespace pooling_ext {

// The saved window offset (the tap of each window's maximum) is one byte per
// output when the window has fewer than 255 taps (the value kernel_volume
// marks an empty window), int32 otherwise. Windows of 2^31 - 1 taps or more
// do not fit: RuntimeError naming kernel_size.
at::ScalarType window_offset_dtype(const std::string& op, const WindowArgs& args);

// Adaptive max pooling's window offsets are int32 whatever the sizes (the
// Meta kernel cannot see symbolic extents to pick a narrower type).
inline constexpr at::ScalarType kAdaptiveWindowOffsetDtype = at::kInt;

// Checks the dtype a max pooling kernel is asked to run on (NotImplementedError
// otherwise, as torch): the floating types, and the integer types but bool
// unless need_floating.
void check_max_pool_dtype(const char* op, const at::Tensor& t, bool need_floating);

// Whether a forward saves each window's offset (for backward) or computes
// the values only (inference: the *_values ops).
enum class WindowOffsets { kSaved, kNone };

struct MaxPoolForwardPlan {
  WindowArgs args;
  PoolGeometry geometry;
  at::Tensor input;          // laid out in the pooling memory format
  at::Tensor output;         // allocated, same layout
  at::Tensor window_offset;  // allocated, same layout; undefined for a values-only forward
  at::ScalarType offset_dtype = at::kByte;  // the window offset's dtype (also when none is saved)

  bool saves_offsets() const { return window_offset.defined(); }
  // Where the loops store window offsets: null for a values-only forward.
  template <typename offset_t>
  offset_t* offset_data() const {
    return saves_offsets() ? window_offset.mutable_data_ptr<offset_t>() : nullptr;
  }
};

MaxPoolForwardPlan plan_max_pool_forward(const at::Tensor& self, at::IntArrayRef kernel_size, at::IntArrayRef stride,
                                         at::IntArrayRef padding, at::IntArrayRef dilation, bool ceil_mode,
                                         WindowOffsets offsets = WindowOffsets::kSaved);
MaxPoolForwardPlan plan_adaptive_max_pool_forward(const at::Tensor& self, at::IntArrayRef output_size,
                                                  WindowOffsets offsets = WindowOffsets::kSaved);

// The input in its pooling layout, the geometry of fixed windows of `args`,
// and the output (and window offset, where saved) allocated in that layout.
MaxPoolForwardPlan fixed_window_forward_plan(const at::Tensor& self, const std::vector<int64_t>& out_sizes,
                                             const WindowArgs& args, at::ScalarType offset_dtype,
                                             WindowOffsets offsets);

// For the ops that consume a saved window offset: backward, gather, indices.
struct WindowOffsetPlan {
  WindowArgs args;
  PoolGeometry geometry;
  at::MemoryFormat format;
  at::Tensor window_offset;  // laid out in `format`
};

WindowOffsetPlan plan_window_offset_op(const char* what, const at::Tensor& window_offset, at::IntArrayRef input_size,
                                       at::IntArrayRef kernel_size, at::IntArrayRef stride, at::IntArrayRef padding,
                                       at::IntArrayRef dilation);
WindowOffsetPlan plan_adaptive_window_offset_op(const char* what, const at::Tensor& window_offset,
                                                at::IntArrayRef input_size, at::IntArrayRef output_size);

// Checks a max pooling backward's grad_output against the saved window offset
// and lays it out like the offset.
at::Tensor prepare_grad_output(const WindowOffsetPlan& plan, const at::Tensor& grad_output,
                               const at::Tensor& window_offset);

}  // namespace pooling_ext
