// Preparation shared by every device's max unpooling entry points and their
// Meta kernels: torch's checks of input, indices and output_size, the
// layout, the unpooled shape.
#pragma once

#include <ATen/ATen.h>

#include <vector>

#include "../common/shape_rules.h"
#include "unpool_bodies.h"

namespace pooling_ext {

struct UnpoolPlan {
  UnpoolGeometry geometry;
  at::MemoryFormat format;
  at::Tensor indices;  // laid out in `format`
  std::vector<int64_t> output_sizes;
  at::Tensor source;   // max_unpool: the input; max_unpool_gather: the gradient (laid out in `format`)
  at::Tensor result;   // max_unpool: the output (zeroed unless the caller zeroes it); max_unpool_gather: grad_input
};

// torch keeps channels-last for 2d unpooling only; 1d and 3d give contiguous output.
at::MemoryFormat unpool_memory_format(const at::Tensor& indices, int64_t dims);

// Checks `indices` (int64, of the unpool input's shape) against the unpooled
// spatial size `output_spatial`, whose length is the number of pooled dims.
UnpoolPlan plan_max_unpool(const char* what, const at::Tensor& indices, at::IntArrayRef output_spatial);

// Every device's max_unpool and max_unpool_gather: the checks, the layout,
// source and result (empty when the problem is).
// zero_result: the result comes zeroed (else the kernel zeroes it, plane by
// plane just before it scatters, while the plane is in cache).
UnpoolPlan plan_max_unpool_forward(const at::Tensor& self, const at::Tensor& indices, at::IntArrayRef output_size,
                                   bool zero_result = true);
UnpoolPlan plan_max_unpool_gather(const at::Tensor& grad_output, const at::Tensor& indices, int64_t dims);

// Checks the unpool input against its indices (shape, dtype, device), as torch.
void check_unpool_inputs(const char* what, const at::Tensor& self, const at::Tensor& indices);

// Unpooling runs on floating types only (NotImplementedError otherwise, as torch).
void check_unpool_dtype(const char* what, const at::Tensor& t);

// The spatial size of an unpooled tensor (grad_output of the unpool) after
// checking its rank against the indices.
at::IntArrayRef unpooled_spatial_size(const at::Tensor& unpooled, const at::Tensor& indices, int64_t dims);

[[noreturn]] void throw_bad_unpool_index(int64_t bad_index, at::IntArrayRef output_spatial);

}  // namespace pooling_ext
