// The one home of the shape rules and argument checks every family shares:
// window arguments, output extents (ceil_mode, padding), adaptive output
// sizes, memory formats and the canonical geometry. The CPU and CUDA entry
// points, the Meta kernels and the test emulation all call these, so they
// agree on shapes and on the exceptions they raise (torch's types, messages
// naming the argument). Rules that only one family has (fractional windows,
// unpooling, GeM) live in that family's plan.
//
// Every size computation here is checked: window arguments are C ints as in
// torch (at most 2^31 - 1), a window's volume and every tensor's element count
// fit in int64, and the products the geometry takes later (o * in for
// adaptive windows, kernel * dilation) cannot overflow either. So the kernels
// can do plain int64 arithmetic.
#pragma once

#include <ATen/ATen.h>
#include <c10/core/SymInt.h>

#include <string>
#include <vector>

#include "window.h"

namespace pooling_ext {

// torch stores window arguments as C ints (it raises RuntimeError above this).
inline constexpr int64_t kMaxWindowArgument = (int64_t(1) << 31) - 1;
// Window volumes, element counts and the products of adaptive windows stay
// at or below this, so that any sum of two of them still fits in int64.
inline constexpr int64_t kMaxSizeProduct = int64_t(1) << 62;

// a * b for a, b >= 0, or -1 when the product passes kMaxSizeProduct.
int64_t checked_size_product(int64_t a, int64_t b);

// The product of `sizes` (all >= 0), or -1 when it passes kMaxSizeProduct.
// A zero anywhere still gives -1 if the other sizes alone pass the limit:
// strides are products of the later sizes, and must fit too.
int64_t checked_numel(at::IntArrayRef sizes);

// Checks that a tensor of `sizes` can be described (RuntimeError naming
// `argument` otherwise): what an output or gradient of that shape needs
// before it is allocated. Symbolic sizes are left to torch.
void check_numel_fits(const std::string& op, at::IntArrayRef sizes, const char* argument);
void check_numel_fits(const std::string& op, c10::SymIntArrayRef sizes, const char* argument);

std::string list_str(at::IntArrayRef v);

// Validated window arguments of one call, each with `dims` entries.
struct WindowArgs {
  int dims;
  std::vector<int64_t> kernel, stride, padding, dilation;

  std::string op_name(const char* family) const { return std::string(family) + std::to_string(dims) + "d"; }
  // Checked by check_window_args to be at most kMaxSizeProduct.
  int64_t kernel_volume() const;
};

// Checks the window arguments as torch does (RuntimeError for each), with a
// message naming the argument. `family` is "max_pool" and the like.
WindowArgs check_window_args(const char* family, at::IntArrayRef kernel_size, at::IntArrayRef stride,
                             at::IntArrayRef padding, at::IntArrayRef dilation);

// Output extent of one pooled dim: torch's rule, including ceil_mode's "the
// last window must start inside the input or the left padding"; 0 when the
// window does not fit (the caller reports it). The int64 form is exact for
// any input extent; the SymInt form defers to it for concrete values.
int64_t pooled_extent(int64_t in, int64_t kernel, int64_t stride, int64_t pad, int64_t dilation, bool ceil_mode);
c10::SymInt pooled_extent(const c10::SymInt& in, int64_t kernel, int64_t stride, int64_t pad, int64_t dilation,
                          bool ceil_mode);

// Checks the input's rank and extents for `args.dims`-d pooling (batched or
// unbatched) and returns the full output shape, of the input's rank.
template <typename I>
std::vector<I> pooled_shape(const char* family, c10::ArrayRef<I> input_sizes, const WindowArgs& args, bool ceil_mode) {
  const int dims = args.dims;
  const int64_t rank = static_cast<int64_t>(input_sizes.size());
  const std::string op = args.op_name(family);
  TORCH_CHECK(rank == dims + 1 || rank == dims + 2, op, ": input must be a ", dims + 1, "D (unbatched) or ", dims + 2,
              "D (batched) tensor, but got input of shape ", input_sizes);
  for (int64_t i = rank == dims + 2 ? 1 : 0; i < rank; ++i) {
    TORCH_CHECK(input_sizes[i] != 0, op,
                ": input must have non-zero size in every dim but the batch dim, "
                "but got input of shape ",
                input_sizes);
  }
  std::vector<I> out(input_sizes.begin(), input_sizes.end());
  for (int d = 0; d < dims; ++d) {
    const I extent = pooled_extent(input_sizes[rank - dims + d], args.kernel[d], args.stride[d], args.padding[d],
                                   args.dilation[d], ceil_mode);
    TORCH_CHECK(extent >= 1, op, ": output size is too small: input of shape ", input_sizes,
                " with kernel_size=", list_str(args.kernel), ", stride=", list_str(args.stride),
                ", padding=", list_str(args.padding), ", dilation=", list_str(args.dilation), " gives output extent ",
                extent, " in spatial dim ", d);
    out[rank - dims + d] = extent;
  }
  return out;
}

// Dense, non-quantized tensors only (NotImplementedError otherwise, as torch).
void check_backend(const char* op, const at::Tensor& t);

// The floating types (NotImplementedError otherwise, as torch).
void check_floating_dtype(const char* op, const at::Tensor& t);

// Checks that a backward's grad_output has the forward output's shape.
void check_grad_output_shape(const char* op, const at::Tensor& grad_output, at::IntArrayRef expected);

// The memory format input and output share: channels-last for batched 2d/3d
// input laid out that way, contiguous otherwise.
at::MemoryFormat pooling_memory_format(const at::Tensor& t, int dims);

// Fills the canonical 5-d geometry of a pooling problem from concrete shapes.
PoolGeometry make_geometry(at::IntArrayRef input_sizes, at::IntArrayRef output_sizes, const WindowArgs& args,
                           bool channels_last);

// torch's adaptive pooling checks, for output_size of 1, 2 or 3 entries (the
// pooled dims): entries >= 0, input of rank dims + 1 or dims + 2 with
// non-zero spatial sizes and, unless empty_channels_allowed, a non-zero
// channel size (torch's adaptive_avg_pool1d/2d accept empty channels); the
// output must have a describable size and each in * out product must stay
// within kMaxSizeProduct (the windows' bounds are computed from it).
// Returns the full output shape (RuntimeError naming the argument otherwise).
std::vector<int64_t> adaptive_pooled_shape(const char* family, at::IntArrayRef input_sizes, at::IntArrayRef output_size,
                                           bool empty_channels_allowed);
std::vector<c10::SymInt> adaptive_pooled_shape(const char* family, c10::SymIntArrayRef input_sizes,
                                               at::IntArrayRef output_size, bool empty_channels_allowed);

// The geometry of adaptive pooling: fixed windows (kernel = stride = in / out)
// where every output size divides its input size, so the fixed-window loops
// run; torch's adaptive window policy otherwise. Takes time proportional to
// the smaller of the input and output extents.
PoolGeometry make_adaptive_geometry(at::IntArrayRef input_sizes, at::IntArrayRef output_sizes, int dims,
                                    bool channels_last);

}  // namespace pooling_ext
