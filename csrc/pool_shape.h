// The one home of the fixed-window pooling shape rules and argument checks,
// used by the CPU and CUDA entry points, the grid emulation and the Meta
// kernels (templated on int64_t / c10::SymInt so torch.compile can trace them).
#pragma once

#include <ATen/ATen.h>
#include <c10/core/SymInt.h>

#include <string>
#include <vector>

#include "kernels/window.h"

namespace pooling_ext {

// Validated window arguments of one call, each with `dims` entries.
struct WindowArgs {
  int dims;
  std::vector<int64_t> kernel, stride, padding, dilation;

  std::string op_name(const char* family) const {
    return std::string(family) + std::to_string(dims) + "d";
  }
  int64_t kernel_volume() const {
    int64_t v = 1;
    for (int64_t k : kernel) v *= k;
    return v;
  }
};

inline std::string list_str(at::IntArrayRef v) {
  std::string s = "(";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
  return s + ")";
}

// Checks the window arguments as torch does (RuntimeError for each), with a
// message naming the argument. `family` is "max_pool" and the like.
WindowArgs check_window_args(const char* family, at::IntArrayRef kernel_size, at::IntArrayRef stride,
                             at::IntArrayRef padding, at::IntArrayRef dilation);

// Output extent of one pooled dim: torch's rule, including ceil_mode's "the
// last window must start inside the input or the left padding".
template <typename I>
I pooled_extent(const I& in, int64_t kernel, int64_t stride, int64_t pad, int64_t dilation,
                bool ceil_mode) {
  const I span = in + 2 * pad - dilation * (kernel - 1) - 1 + (ceil_mode ? stride - 1 : 0);
  if (span < 0) return I(0);  // too small; the caller reports it
  I out = span / stride + 1;
  if (ceil_mode && (out - 1) * stride >= in + pad) out = out - 1;
  return out;
}

// Checks the input's rank and extents for `args.dims`-d pooling (batched or
// unbatched) and returns the full output shape, of the input's rank.
template <typename I>
std::vector<I> pooled_shape(const char* family, c10::ArrayRef<I> input_sizes, const WindowArgs& args,
                            bool ceil_mode) {
  const int dims = args.dims;
  const int64_t rank = static_cast<int64_t>(input_sizes.size());
  const std::string op = args.op_name(family);
  TORCH_CHECK(rank == dims + 1 || rank == dims + 2, op, ": input must be a ", dims + 1, "D (unbatched) or ",
              dims + 2, "D (batched) tensor, but got input of shape ", input_sizes);
  for (int64_t i = rank == dims + 2 ? 1 : 0; i < rank; ++i) {
    TORCH_CHECK(input_sizes[i] != 0, op, ": input must have non-zero size in every dim but the batch dim, "
                "but got input of shape ", input_sizes);
  }
  std::vector<I> out(input_sizes.begin(), input_sizes.end());
  for (int d = 0; d < dims; ++d) {
    const I extent = pooled_extent(input_sizes[rank - dims + d], args.kernel[d], args.stride[d],
                                   args.padding[d], args.dilation[d], ceil_mode);
    TORCH_CHECK(extent >= 1, op, ": output size is too small: input of shape ", input_sizes,
                " with kernel_size=", list_str(args.kernel), ", stride=", list_str(args.stride), ", padding=",
                list_str(args.padding), ", dilation=", list_str(args.dilation), " gives output extent ",
                extent, " in spatial dim ", d);
    out[rank - dims + d] = extent;
  }
  return out;
}

// Dense, non-quantized tensors only (NotImplementedError otherwise, as torch).
void check_backend(const char* op, const at::Tensor& t);

// The memory format input and output share: channels-last for batched 2d/3d
// input laid out that way, contiguous otherwise.
at::MemoryFormat pooling_memory_format(const at::Tensor& t, int dims);

// Fills the canonical 5-d geometry of a pooling problem from concrete shapes.
PoolGeometry make_geometry(at::IntArrayRef input_sizes, at::IntArrayRef output_sizes, const WindowArgs& args,
                           bool channels_last);

// torch's adaptive pooling checks, for output_size of 1, 2 or 3 entries (the
// pooled dims): entries >= 0, input of rank dims + 1 or dims + 2 with
// non-zero spatial sizes and, unless empty_channels_allowed, a non-zero
// channel size (torch's adaptive_avg_pool1d/2d accept empty channels).
// Returns the full output shape (RuntimeError naming the argument otherwise).
std::vector<int64_t> adaptive_pooled_shape(const char* family, at::IntArrayRef input_sizes,
                                           at::IntArrayRef output_size, bool empty_channels_allowed);
std::vector<c10::SymInt> adaptive_pooled_shape(const char* family, c10::SymIntArrayRef input_sizes,
                                               at::IntArrayRef output_size, bool empty_channels_allowed);

// The geometry of adaptive pooling: fixed windows (kernel = stride = in / out)
// where every output size divides its input size, so the fixed-window loops
// run; torch's adaptive window policy otherwise.
PoolGeometry make_adaptive_geometry(at::IntArrayRef input_sizes, at::IntArrayRef output_sizes, int dims,
                                    bool channels_last);

// The saved window offset is one byte per output when the window has fewer
// than 255 taps (the value kernel_volume marks an empty window).
inline at::ScalarType window_offset_dtype(int64_t kernel_volume) {
  return kernel_volume < 255 ? at::kByte : at::kInt;
}

// Adaptive max pooling's window offsets are int32 whatever the sizes (the
// Meta kernel cannot see symbolic extents to pick a narrower type).
inline constexpr at::ScalarType kAdaptiveWindowOffsetDtype = at::kInt;

// Checks the dtype a max pooling kernel is asked to run on.
void check_max_pool_dtype(const char* op, const at::Tensor& t, bool need_floating);

}  // namespace pooling_ext
