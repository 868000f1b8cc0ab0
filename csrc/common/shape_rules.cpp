#include "shape_rules.h"

#include <c10/util/safe_numerics.h>

#include <algorithm>

namespace pooling_ext {

int64_t checked_size_product(int64_t a, int64_t b) {
  uint64_t product = 0;
  if (a < 0 || b < 0 || c10::mul_overflows(static_cast<uint64_t>(a), static_cast<uint64_t>(b), &product) ||
      product > static_cast<uint64_t>(kMaxSizeProduct)) {
    return -1;
  }
  return static_cast<int64_t>(product);
}

int64_t checked_numel(at::IntArrayRef sizes) {
  int64_t without_zeros = 1, numel = 1;
  for (int64_t s : sizes) {
    without_zeros = checked_size_product(without_zeros, std::max<int64_t>(s, 1));
    if (without_zeros < 0) return -1;
    numel *= s;  // at most without_zeros
  }
  return numel;
}

void check_numel_fits(const std::string& op, at::IntArrayRef sizes, const char* argument) {
  TORCH_CHECK(checked_numel(sizes) >= 0, op, ": ", argument, " gives a tensor of shape ", sizes,
              ", whose element count or strides pass 2^62: it cannot be allocated");
}

void check_numel_fits(const std::string& op, c10::SymIntArrayRef sizes, const char* argument) {
  if (const auto concrete = c10::asIntArrayRefSlowOpt(sizes)) check_numel_fits(op, *concrete, argument);
}

std::string list_str(at::IntArrayRef v) {
  std::string s = "(";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
  return s + ")";
}

int64_t WindowArgs::kernel_volume() const {
  int64_t v = 1;
  for (int64_t k : kernel) v = checked_size_product(v, k);
  return v;
}

namespace {

// torch's checks of one window argument's entries, each a RuntimeError naming it.
void check_window_entries(const std::string& op, const char* name, at::IntArrayRef values, int64_t least) {
  for (int64_t v : values) {
    TORCH_CHECK(v >= least, op, ": ", name, least > 0 ? " must be greater than zero" : " must be non-negative",
                ", but got ", name, "=", list_str(values));
    TORCH_CHECK(v <= kMaxWindowArgument, op, ": ", name, " must be at most ", kMaxWindowArgument,
                " (torch stores window arguments as C ints), but got ", name, "=", list_str(values));
  }
}

}  // namespace

WindowArgs check_window_args(const char* family, at::IntArrayRef kernel_size, at::IntArrayRef stride,
                             at::IntArrayRef padding, at::IntArrayRef dilation) {
  const int64_t dims = static_cast<int64_t>(kernel_size.size());
  TORCH_CHECK(dims >= 1 && dims <= kMaxSpatialDims, family, ": kernel_size must have 1, 2 or 3 elements, but got ",
              kernel_size);
  WindowArgs args{static_cast<int>(dims), kernel_size.vec(), stride.vec(), padding.vec(), dilation.vec()};
  const std::string op = args.op_name(family);
  TORCH_CHECK(static_cast<int64_t>(stride.size()) == dims, op, ": stride must have ", dims, " elements, but got ",
              stride);
  TORCH_CHECK(static_cast<int64_t>(padding.size()) == dims, op, ": padding must have ", dims, " elements, but got ",
              padding);
  TORCH_CHECK(static_cast<int64_t>(dilation.size()) == dims, op, ": dilation must have ", dims, " elements, but got ",
              dilation);
  check_window_entries(op, "kernel_size", kernel_size, 1);
  check_window_entries(op, "stride", stride, 1);
  check_window_entries(op, "padding", padding, 0);
  check_window_entries(op, "dilation", dilation, 1);
  for (int64_t d = 0; d < dims; ++d) {
    // torch 2.14.1's rule: half the kernel size, whatever the dilation.
    TORCH_CHECK(padding[d] <= kernel_size[d] / 2, op,
                ": padding must be at most half of kernel_size, but got padding=", list_str(padding),
                " and kernel_size=", list_str(kernel_size));
  }
  TORCH_CHECK(args.kernel_volume() >= 0, op, ": kernel_size=", list_str(kernel_size),
              " gives a window of more than 2^62 elements");
  return args;
}

int64_t pooled_extent(int64_t in, int64_t kernel, int64_t stride, int64_t pad, int64_t dilation, bool ceil_mode) {
  // In 128 bits: exact for any input extent and window arguments below 2^31.
  using wide = __int128;
  const wide span = wide(in) + 2 * wide(pad) - wide(dilation) * (kernel - 1) - 1 + (ceil_mode ? stride - 1 : 0);
  if (span < 0) return 0;
  wide out = span / stride + 1;
  if (ceil_mode && (out - 1) * stride >= wide(in) + pad) out -= 1;
  TORCH_CHECK(out <= kMaxSizeProduct, "pooling: input extent ", in, " gives an output extent past 2^62");
  return static_cast<int64_t>(out);
}

c10::SymInt pooled_extent(const c10::SymInt& in, int64_t kernel, int64_t stride, int64_t pad, int64_t dilation,
                          bool ceil_mode) {
  if (const auto concrete = in.maybe_as_int()) {
    return c10::SymInt(pooled_extent(*concrete, kernel, stride, pad, dilation, ceil_mode));
  }
  const c10::SymInt span = in + 2 * pad - dilation * (kernel - 1) - 1 + (ceil_mode ? stride - 1 : 0);
  if (span < 0) return c10::SymInt(0);
  c10::SymInt out = span / stride + 1;
  if (ceil_mode && (out - 1) * stride >= in + pad) out = out - 1;
  return out;
}

void check_backend(const char* op, const at::Tensor& t) {
  TORCH_CHECK_NOT_IMPLEMENTED(t.layout() == at::kStrided, op, ": only strided (dense) tensors are supported, but got ",
                              t.layout());
  TORCH_CHECK_NOT_IMPLEMENTED(!t.is_quantized(), op, ": quantized tensors are not supported");
}

void check_floating_dtype(const char* op, const at::Tensor& t) {
  TORCH_CHECK_NOT_IMPLEMENTED(at::isFloatingType(t.scalar_type()), op, ": input dtype ", t.scalar_type(),
                              " is not supported");
}

void check_grad_output_shape(const char* op, const at::Tensor& grad_output, at::IntArrayRef expected) {
  TORCH_CHECK(grad_output.sizes() == expected, op, ": grad_output of shape ", grad_output.sizes(),
              " does not match the pooled shape ", expected);
}

at::MemoryFormat pooling_memory_format(const at::Tensor& t, int dims) {
  if (t.dim() != dims + 2) return at::MemoryFormat::Contiguous;
  const at::MemoryFormat suggested = t.suggest_memory_format();
  if (dims == 2 && suggested == at::MemoryFormat::ChannelsLast) return suggested;
  if (dims == 3 && suggested == at::MemoryFormat::ChannelsLast3d) return suggested;
  return at::MemoryFormat::Contiguous;
}

PoolGeometry make_geometry(at::IntArrayRef input_sizes, at::IntArrayRef output_sizes, const WindowArgs& args,
                           bool channels_last) {
  const int64_t rank = static_cast<int64_t>(input_sizes.size());
  const bool batched = rank == args.dims + 2;
  PoolGeometry g{};
  g.batch = batched ? input_sizes[0] : 1;
  g.channels = input_sizes[batched ? 1 : 0];
  g.channels_last = channels_last;
  const int lead = kMaxSpatialDims - args.dims;  // canonical dims padded in front
  for (int d = 0; d < kMaxSpatialDims; ++d) {
    const bool real = d >= lead;
    const int64_t src = rank - kMaxSpatialDims + d;
    g.in[d] = real ? input_sizes[src] : 1;
    g.out[d] = real ? output_sizes[src] : 1;
    g.kernel[d] = real ? args.kernel[d - lead] : 1;
    g.stride[d] = real ? args.stride[d - lead] : 1;
    g.pad[d] = real ? args.padding[d - lead] : 0;
    g.dilation[d] = real ? args.dilation[d - lead] : 1;
  }
  return g;
}

namespace {

// Adaptive windows compute o * in for every output o: each product must fit.
void check_adaptive_window_products(const std::string& op, int64_t in, int64_t out, at::IntArrayRef output_size) {
  TORCH_CHECK(checked_size_product(in, out) >= 0, op, ": output_size=", list_str(output_size),
              " over an input extent of ", in, " passes 2^62 input-output pairs");
}
void check_adaptive_window_products(const std::string& op, const c10::SymInt& in, int64_t out,
                                    at::IntArrayRef output_size) {
  if (const auto concrete = in.maybe_as_int()) check_adaptive_window_products(op, *concrete, out, output_size);
}

template <typename I>
std::vector<I> adaptive_shape(const char* family, c10::ArrayRef<I> input_sizes, at::IntArrayRef output_size,
                              bool empty_channels_allowed) {
  const int dims = static_cast<int>(output_size.size());
  TORCH_CHECK(dims >= 1 && dims <= kMaxSpatialDims, family, ": output_size must have 1 to 3 entries, but got ",
              output_size);
  const std::string op = std::string(family) + std::to_string(dims) + "d";
  for (int64_t size : output_size) {
    TORCH_CHECK(size >= 0, op, ": elements of output_size must be greater than or equal to 0, but got ", output_size);
  }
  const int64_t rank = static_cast<int64_t>(input_sizes.size());
  TORCH_CHECK(rank == dims + 1 || rank == dims + 2, op, "(): Expected ", dims + 1, "D or ", dims + 2,
              "D input, but got input of shape ", input_sizes);
  const int64_t first_checked = rank - dims - (empty_channels_allowed ? 0 : 1);
  for (int64_t d = first_checked; d < rank; ++d) {
    TORCH_CHECK(input_sizes[d] != 0, op,
                "(): Expected input to have non-zero size for non-batch dimensions, "
                "but input has sizes ",
                input_sizes, " with dimension ", d, " being empty");
  }
  std::vector<I> out(input_sizes.begin(), input_sizes.end());
  for (int d = 0; d < dims; ++d) {
    check_adaptive_window_products(op, input_sizes[rank - dims + d], output_size[d], output_size);
    out[rank - dims + d] = I(output_size[d]);
  }
  check_numel_fits(op, c10::ArrayRef<I>(out), "output_size");
  return out;
}

// The longest of the adaptive windows of `out` outputs over `in` inputs.
int64_t longest_adaptive_window(int64_t in, int64_t out) {
  // With out >= in every window holds one or two inputs: two exactly when
  // some boundary k * out / in (0 < k < in) is not an integer.
  if (out >= in) return out % in == 0 ? 1 : 2;
  int64_t longest = 1;
  for (int64_t o = 0; o < out; ++o) longest = std::max(longest, adaptive_end(o, in, out) - adaptive_start(o, in, out));
  return longest;
}

}  // namespace

std::vector<int64_t> adaptive_pooled_shape(const char* family, at::IntArrayRef input_sizes, at::IntArrayRef output_size,
                                           bool empty_channels_allowed) {
  return adaptive_shape<int64_t>(family, input_sizes, output_size, empty_channels_allowed);
}

std::vector<c10::SymInt> adaptive_pooled_shape(const char* family, c10::SymIntArrayRef input_sizes,
                                               at::IntArrayRef output_size, bool empty_channels_allowed) {
  return adaptive_shape<c10::SymInt>(family, input_sizes, output_size, empty_channels_allowed);
}

PoolGeometry make_adaptive_geometry(at::IntArrayRef input_sizes, at::IntArrayRef output_sizes, int dims,
                                    bool channels_last) {
  const int64_t rank = static_cast<int64_t>(input_sizes.size());
  bool divisible = true;
  for (int64_t d = rank - dims; d < rank; ++d) {
    divisible = divisible && output_sizes[d] > 0 && input_sizes[d] % output_sizes[d] == 0;
  }
  WindowArgs args{dims, {}, {}, std::vector<int64_t>(dims, 0), std::vector<int64_t>(dims, 1)};
  for (int64_t d = rank - dims; d < rank; ++d) {
    const int64_t in = input_sizes[d], out = output_sizes[d];
    const int64_t longest = divisible ? in / out : longest_adaptive_window(in, out);
    args.kernel.push_back(longest);
    args.stride.push_back(divisible ? longest : 1);
  }
  PoolGeometry g = make_geometry(input_sizes, output_sizes, args, channels_last);
  g.adaptive = !divisible;
  return g;
}

}  // namespace pooling_ext
