#include "max_pool_plan.h"

namespace pooling_ext {

WindowArgs check_window_args(const char* family, at::IntArrayRef kernel_size, at::IntArrayRef stride,
                             at::IntArrayRef padding, at::IntArrayRef dilation) {
  const int64_t dims = static_cast<int64_t>(kernel_size.size());
  TORCH_CHECK(dims >= 1 && dims <= kMaxSpatialDims, family, ": kernel_size must have 1, 2 or 3 elements, but got ",
              kernel_size);
  WindowArgs args{static_cast<int>(dims), kernel_size.vec(), stride.vec(), padding.vec(), dilation.vec()};
  const std::string op = args.op_name(family);
  TORCH_CHECK(static_cast<int64_t>(stride.size()) == dims, op, ": stride must have ", dims, " elements, but got ", stride);
  TORCH_CHECK(static_cast<int64_t>(padding.size()) == dims, op, ": padding must have ", dims, " elements, but got ",
              padding);
  TORCH_CHECK(static_cast<int64_t>(dilation.size()) == dims, op, ": dilation must have ", dims,
              " elements, but got ", dilation);
  for (int64_t d = 0; d < dims; ++d) {
    TORCH_CHECK(kernel_size[d] > 0, op, ": kernel_size must be greater than zero, but got kernel_size=",
                list_str(kernel_size));
    TORCH_CHECK(stride[d] > 0, op, ": stride must be greater than zero, but got stride=", list_str(stride));
    TORCH_CHECK(padding[d] >= 0, op, ": padding must be non-negative, but got padding=", list_str(padding));
    TORCH_CHECK(dilation[d] > 0, op, ": dilation must be greater than zero, but got dilation=", list_str(dilation));
    // torch 2.14.1's rule: half the kernel size, whatever the dilation.
    TORCH_CHECK(padding[d] <= kernel_size[d] / 2, op,
                ": padding must be at most half of kernel_size, but got padding=", list_str(padding),
                " and kernel_size=", list_str(kernel_size));
  }
  return args;
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

template <typename I>
std::vector<I> adaptive_shape(const char* family, c10::ArrayRef<I> input_sizes, at::IntArrayRef output_size,
                              bool empty_channels_allowed) {
  const int dims = static_cast<int>(output_size.size());
  TORCH_CHECK(dims >= 1 && dims <= kMaxSpatialDims, family, ": output_size must have 1 to 3 entries, but got ",
              output_size);
  const std::string op = std::string(family) + std::to_string(dims) + "d";
  for (int64_t size : output_size) {
    TORCH_CHECK(size >= 0, op, ": elements of output_size must be greater than or equal to 0, but got ",
                output_size);
  }
  const int64_t rank = static_cast<int64_t>(input_sizes.size());
  TORCH_CHECK(rank == dims + 1 || rank == dims + 2, op, "(): Expected ", dims + 1, "D or ", dims + 2,
              "D input, but got input of shape ", input_sizes);
  const int64_t first_checked = rank - dims - (empty_channels_allowed ? 0 : 1);
  for (int64_t d = first_checked; d < rank; ++d) {
    TORCH_CHECK(input_sizes[d] != 0, op, "(): Expected input to have non-zero size for non-batch dimensions, "
                "but input has sizes ", input_sizes, " with dimension ", d, " being empty");
  }
  std::vector<I> out(input_sizes.begin(), input_sizes.end());
  for (int d = 0; d < dims; ++d) out[rank - dims + d] = I(output_size[d]);
  return out;
}

}  // namespace

std::vector<int64_t> adaptive_pooled_shape(const char* family, at::IntArrayRef input_sizes,
                                           at::IntArrayRef output_size, bool empty_channels_allowed) {
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
    int64_t longest = 1;
    if (divisible) {
      longest = in / out;
    } else {
      for (int64_t o = 0; o < out; ++o) {
        longest = std::max(longest, adaptive_end(o, in, out) - adaptive_start(o, in, out));
      }
    }
    args.kernel.push_back(longest);
    args.stride.push_back(divisible ? longest : 1);
  }
  PoolGeometry g = make_geometry(input_sizes, output_sizes, args, channels_last);
  g.adaptive = !divisible;
  return g;
}

void check_max_pool_dtype(const char* op, const at::Tensor& t, bool need_floating) {
  const bool ok = need_floating ? at::isFloatingType(t.scalar_type())
                                : (at::isFloatingType(t.scalar_type()) || at::isIntegralType(t.scalar_type(), false));
  TORCH_CHECK_NOT_IMPLEMENTED(ok, op, ": input dtype ", t.scalar_type(), " is not supported");
}

void check_backend(const char* op, const at::Tensor& t) {
  TORCH_CHECK_NOT_IMPLEMENTED(t.layout() == at::kStrided, op, ": only strided (dense) tensors are supported, but got ",
                              t.layout());
  TORCH_CHECK_NOT_IMPLEMENTED(!t.is_quantized(), op, ": quantized tensors are not supported");
}

namespace {

// The input in its pooling layout, the geometry of fixed windows, and the
// output and window offset allocated in that layout.
MaxPoolForwardPlan fixed_window_forward_plan(const at::Tensor& self, const std::vector<int64_t>& out_sizes,
                                             const WindowArgs& args) {
  const at::MemoryFormat format = pooling_memory_format(self, args.dims);
  MaxPoolForwardPlan plan;
  plan.args = args;
  plan.input = self.contiguous(format);
  plan.geometry = make_geometry(self.sizes(), out_sizes, args, format != at::MemoryFormat::Contiguous);
  plan.output = at::empty(out_sizes, self.options().memory_format(format));
  plan.window_offset =
      at::empty(out_sizes, self.options().dtype(window_offset_dtype(args.kernel_volume())).memory_format(format));
  return plan;
}

}  // namespace

MaxPoolForwardPlan plan_max_pool_forward(const at::Tensor& self, at::IntArrayRef kernel_size, at::IntArrayRef stride,
                                         at::IntArrayRef padding, at::IntArrayRef dilation, bool ceil_mode) {
  WindowArgs args = check_window_args("max_pool", kernel_size, stride, padding, dilation);
  const std::string op = args.op_name("max_pool");
  check_backend(op.c_str(), self);
  check_max_pool_dtype(op.c_str(), self, /*need_floating=*/false);
  return fixed_window_forward_plan(self, pooled_shape<int64_t>("max_pool", self.sizes(), args, ceil_mode), args);
}

WindowOffsetPlan plan_window_offset_op(const char* what, const at::Tensor& window_offset, at::IntArrayRef input_size,
                                       at::IntArrayRef kernel_size, at::IntArrayRef stride, at::IntArrayRef padding,
                                       at::IntArrayRef dilation) {
  WindowArgs args = check_window_args(what, kernel_size, stride, padding, dilation);
  TORCH_CHECK(window_offset.scalar_type() == window_offset_dtype(args.kernel_volume()), what,
              ": window_offset must have dtype ", window_offset_dtype(args.kernel_volume()), " for kernel_size=",
              list_str(kernel_size), ", but got ", window_offset.scalar_type());
  TORCH_CHECK(static_cast<int64_t>(input_size.size()) == window_offset.dim(), what, ": input_size ", input_size,
              " must have the rank of window_offset ", window_offset.sizes());
  const int64_t lead = window_offset.dim() - args.dims;
  TORCH_CHECK(lead == 1 || lead == 2, what, ": window_offset of shape ", window_offset.sizes(), " does not fit ",
              args.dims, "d pooling");
  for (int64_t i = 0; i < lead; ++i) {
    TORCH_CHECK(input_size[i] == window_offset.size(i), what, ": input_size ", input_size,
                " and window_offset of shape ", window_offset.sizes(), " differ in a non-spatial dim");
  }
  WindowOffsetPlan plan;
  plan.args = args;
  plan.format = pooling_memory_format(window_offset, args.dims);
  plan.window_offset = window_offset.contiguous(plan.format);
  plan.geometry = make_geometry(input_size, window_offset.sizes(), args, plan.format != at::MemoryFormat::Contiguous);
  return plan;
}

MaxPoolForwardPlan plan_adaptive_max_pool_forward(const at::Tensor& self, at::IntArrayRef output_size) {
  const std::vector<int64_t> out_sizes =
      adaptive_pooled_shape("adaptive_max_pool", self.sizes(), output_size, /*empty_channels_allowed=*/false);
  const int dims = static_cast<int>(output_size.size());
  const std::string op = "adaptive_max_pool" + std::to_string(dims) + "d";
  check_backend(op.c_str(), self);
  check_max_pool_dtype(op.c_str(), self, /*need_floating=*/true);
  const at::MemoryFormat format = pooling_memory_format(self, dims);
  MaxPoolForwardPlan plan;
  plan.input = self.contiguous(format);
  plan.geometry = make_adaptive_geometry(self.sizes(), out_sizes, dims, format != at::MemoryFormat::Contiguous);
  plan.output = at::empty(out_sizes, self.options().memory_format(format));
  plan.window_offset = at::empty(out_sizes, self.options().dtype(kAdaptiveWindowOffsetDtype).memory_format(format));
  return plan;
}

WindowOffsetPlan plan_adaptive_window_offset_op(const char* what, const at::Tensor& window_offset,
                                                at::IntArrayRef input_size, at::IntArrayRef output_size) {
  const std::vector<int64_t> out_sizes =
      adaptive_pooled_shape("adaptive_max_pool", input_size, output_size, /*empty_channels_allowed=*/false);
  TORCH_CHECK(window_offset.sizes() == at::IntArrayRef(out_sizes), what, ": window_offset of shape ",
              window_offset.sizes(), " does not match the pooled shape ", out_sizes);
  const int dims = static_cast<int>(output_size.size());
  WindowOffsetPlan plan;
  plan.format = pooling_memory_format(window_offset, dims);
  plan.geometry = make_adaptive_geometry(input_size, out_sizes, dims, plan.format != at::MemoryFormat::Contiguous);
  TORCH_CHECK(window_offset.scalar_type() == kAdaptiveWindowOffsetDtype, what, ": window_offset must have dtype ",
              kAdaptiveWindowOffsetDtype, ", but got ", window_offset.scalar_type());
  plan.window_offset = window_offset.contiguous(plan.format);
  return plan;
}

namespace {

// torch's names in its fractional pooling messages.
std::string fractional_op(int dims) { return "fractional_max_pool" + std::to_string(dims) + "d"; }
std::string fractional_sizes_op(int dims) { return dims == 2 ? "fractional_max_pool2d" : "fractional_max_pool3d_out"; }

template <typename I>
std::vector<I> fractional_shape(c10::ArrayRef<I> input_sizes, at::IntArrayRef kernel_size, at::IntArrayRef output_size,
                                c10::ArrayRef<I> sample_sizes, at::ScalarType sample_dtype, at::ScalarType input_dtype) {
  const int dims = static_cast<int>(kernel_size.size());
  TORCH_CHECK(dims == 2 || dims == 3, "fractional_max_pool: kernel_size must have 2 or 3 elements, but got ",
              kernel_size);
  const std::string op = fractional_op(dims), sizes_op = fractional_sizes_op(dims);
  TORCH_CHECK(static_cast<int>(output_size.size()) == dims, op,
              ": output_size must either be a single Int or tuple of Ints");
  bool kernel_positive = true;
  std::string kernel_text;
  for (int d = 0; d < dims; ++d) {
    kernel_positive = kernel_positive && kernel_size[d] > 0;
    kernel_text += (d ? "x" : "") + std::to_string(kernel_size[d]);
  }
  TORCH_CHECK(kernel_positive, op, "(): kernel size should be greater than zero, but got ", kernel_text);
  for (int d = 0; d < dims; ++d) {
    TORCH_CHECK(output_size[d] >= 0, op, "(): output_size must be non-negative, but got output_size=",
                list_str(output_size));
  }
  const int64_t rank = static_cast<int64_t>(input_sizes.size());
  TORCH_CHECK(rank == dims + 1 || rank == dims + 2, sizes_op, "(): Expected ", dims + 1, "D or ", dims + 2,
              "D tensor, but got: ", input_sizes);
  const bool batched = rank == dims + 2;
  for (int64_t d = batched ? 1 : 0; d < rank; ++d) {
    TORCH_CHECK(input_sizes[d] != 0, sizes_op, "(): Expected input to have non-zero size for non-batch dimensions, "
                "but got", input_sizes, " with dimension ", d, " being empty.");
  }
  static const char* const kDimNames[2][3] = {{"height", "width", ""}, {"time", "height", "width"}};
  // torch's rule: the windows of the last output end inside the input in 2d
  // (out + k - 1 <= in), and one element before its end in 3d (out + k - 1 < in);
  // checked in torch's order (3d: time, width, height).
  static const int kCheckOrder[2][3] = {{0, 1, 2}, {0, 2, 1}};
  for (int i = 0; i < dims; ++i) {
    const int d = kCheckOrder[dims - 2][i];
    const I& in = input_sizes[rank - dims + d];
    const int64_t reach = output_size[d] + kernel_size[d] - (dims == 2 ? 1 : 0);
    TORCH_CHECK(reach <= in, sizes_op, "(): pool ", kDimNames[dims - 2][d], " ", kernel_size[d],
                " too large relative to input ", kDimNames[dims - 2][d], " ", in);
  }
  TORCH_CHECK(sample_sizes.size() == 3, "Expect _random_samples to have 3 dimensions, got ", sample_sizes.size());
  TORCH_CHECK(sample_sizes[0] >= (batched ? input_sizes[0] : I(1)),
              "Expect _random_samples.size(0) no less then input batch size.");
  TORCH_CHECK(sample_sizes[1] == input_sizes[batched ? 1 : 0],
              "Expect _random_samples.size(1) equals to input channel size.");
  TORCH_CHECK(sample_sizes[2] == dims, "Expect _random_samples.size(2) equals to ", dims, "; got ", sample_sizes[2],
              ".");
  TORCH_CHECK(sample_dtype == input_dtype, "Expect _random_samples to have the same dtype as input");
  std::vector<I> out(input_sizes.begin(), input_sizes.end());
  for (int d = 0; d < dims; ++d) out[rank - dims + d] = I(output_size[d]);
  return out;
}

WindowArgs fractional_window_args(at::IntArrayRef kernel_size) {
  const int dims = static_cast<int>(kernel_size.size());
  return WindowArgs{dims, kernel_size.vec(), std::vector<int64_t>(dims, 1), std::vector<int64_t>(dims, 0),
                    std::vector<int64_t>(dims, 1)};
}

at::Tensor checked_samples(const char* what, const at::Tensor& samples, const at::Tensor& like) {
  TORCH_CHECK(samples.device() == like.device(), what, ": _random_samples must be on the device of the input, ",
              like.device(), ", but got ", samples.device());
  return samples.contiguous();
}

}  // namespace

std::vector<int64_t> fractional_pooled_shape(at::IntArrayRef input_sizes, at::IntArrayRef kernel_size,
                                             at::IntArrayRef output_size, const at::Tensor& samples,
                                             at::ScalarType input_dtype) {
  return fractional_shape<int64_t>(input_sizes, kernel_size, output_size, samples.sizes(), samples.scalar_type(),
                                   input_dtype);
}

std::vector<c10::SymInt> fractional_pooled_shape(c10::SymIntArrayRef input_sizes, at::IntArrayRef kernel_size,
                                                 at::IntArrayRef output_size, const at::Tensor& samples,
                                                 at::ScalarType input_dtype) {
  return fractional_shape<c10::SymInt>(input_sizes, kernel_size, output_size, samples.sym_sizes(),
                                       samples.scalar_type(), input_dtype);
}

MaxPoolForwardPlan plan_fractional_max_pool_forward(const at::Tensor& self, at::IntArrayRef kernel_size,
                                                    at::IntArrayRef output_size, const at::Tensor& samples,
                                                    FractionalPlan& fractional) {
  const std::vector<int64_t> out_sizes =
      fractional_pooled_shape(self.sizes(), kernel_size, output_size, samples, self.scalar_type());
  const WindowArgs args = fractional_window_args(kernel_size);
  const std::string op = fractional_op(args.dims);
  check_backend(op.c_str(), self);
  check_max_pool_dtype(op.c_str(), self, /*need_floating=*/true);
  MaxPoolForwardPlan plan = fixed_window_forward_plan(self, out_sizes, args);
  fractional = FractionalPlan{args, plan.geometry, pooling_memory_format(self, args.dims),
                              checked_samples(op.c_str(), samples, self)};
  return plan;
}

FractionalPlan plan_fractional_window_offset_op(const char* what, const at::Tensor& window_offset,
                                                const at::Tensor& samples, at::IntArrayRef input_size,
                                                at::IntArrayRef kernel_size) {
  TORCH_CHECK(window_offset.dim() >= static_cast<int64_t>(kernel_size.size()), what, ": window_offset of shape ",
              window_offset.sizes(), " has fewer dims than kernel_size ", kernel_size);
  const at::IntArrayRef pooled = window_offset.sizes().slice(window_offset.dim() - kernel_size.size());
  const std::vector<int64_t> out_sizes =
      fractional_pooled_shape(input_size, kernel_size, pooled, samples, samples.scalar_type());
  TORCH_CHECK(window_offset.sizes() == at::IntArrayRef(out_sizes), what, ": window_offset of shape ",
              window_offset.sizes(), " does not match input_size ", input_size);
  const WindowArgs args = fractional_window_args(kernel_size);
  TORCH_CHECK(window_offset.scalar_type() == window_offset_dtype(args.kernel_volume()), what,
              ": window_offset must have dtype ", window_offset_dtype(args.kernel_volume()), " for kernel_size=",
              list_str(kernel_size), ", but got ", window_offset.scalar_type());
  FractionalPlan plan;
  plan.args = args;
  plan.format = pooling_memory_format(window_offset, args.dims);
  plan.geometry = make_geometry(input_size, out_sizes, args, plan.format != at::MemoryFormat::Contiguous);
  plan.samples = checked_samples(what, samples, window_offset);
  return plan;
}

at::Tensor prepare_grad_output(const WindowOffsetPlan& plan, const at::Tensor& grad_output,
                               const at::Tensor& window_offset) {
  check_max_pool_dtype("max_pool_backward", grad_output, /*need_floating=*/true);
  TORCH_CHECK(grad_output.sizes() == window_offset.sizes(), "max_pool_backward: grad_output of shape ",
              grad_output.sizes(), " must have the shape of window_offset ", window_offset.sizes());
  TORCH_CHECK(grad_output.device() == window_offset.device(), "max_pool_backward: grad_output and window_offset "
              "must be on the same device, but got ", grad_output.device(), " and ", window_offset.device());
  return grad_output.contiguous(plan.format);
}

void check_unpool_inputs(const char* what, const at::Tensor& self, const at::Tensor& indices) {
  check_backend(what, self);
  TORCH_CHECK(indices.scalar_type() == at::kLong, what, ": indices must have dtype int64, but got ",
              indices.scalar_type());
  TORCH_CHECK(self.device() == indices.device(), what, ": input and indices must be on the same device, but got ",
              self.device(), " and ", indices.device());
  TORCH_CHECK(self.sizes() == indices.sizes(), what, ": indices must have the shape of input ", self.sizes(),
              ", but got indices of shape ", indices.sizes());
}

void check_unpool_dtype(const char* what, const at::Tensor& t) {
  TORCH_CHECK_NOT_IMPLEMENTED(at::isFloatingType(t.scalar_type()), what, ": input dtype ", t.scalar_type(),
                              " is not supported");
}

UnpoolPlan plan_max_unpool(const char* what, const at::Tensor& indices, at::IntArrayRef output_spatial) {
  const int64_t dims = static_cast<int64_t>(output_spatial.size());
  TORCH_CHECK(dims >= 1 && dims <= kMaxSpatialDims, what, ": output_size must have 1, 2 or 3 elements, but got ",
              output_spatial);
  TORCH_CHECK(indices.scalar_type() == at::kLong, what, ": indices must have dtype int64, but got ",
              indices.scalar_type());
  const int64_t rank = indices.dim();
  TORCH_CHECK(rank == dims + 1 || rank == dims + 2, what, ": input must be a ", dims + 1, "D (unbatched) or ",
              dims + 2, "D (batched) tensor, but got input of shape ", indices.sizes());
  for (int64_t i = rank == dims + 2 ? 1 : 0; i < rank; ++i) {
    TORCH_CHECK(indices.size(i) != 0, what, ": input must have non-zero size in every dim but the batch dim, but got "
                "input of shape ", indices.sizes());
  }
  for (int64_t d = 0; d < dims; ++d) {
    TORCH_CHECK(output_spatial[d] > 0, what, ": output_size must be positive, but got output_size=",
                list_str(output_spatial));
  }
  UnpoolPlan plan;
  // torch keeps channels-last for 2d unpooling only; 1d and 3d give contiguous output.
  plan.format = dims == 2 ? pooling_memory_format(indices, 2) : at::MemoryFormat::Contiguous;
  plan.indices = indices.contiguous(plan.format);
  plan.output_sizes = indices.sizes().vec();
  int64_t in_plane = 1, out_plane = 1;
  for (int64_t d = 0; d < dims; ++d) {
    in_plane *= indices.size(rank - dims + d);
    out_plane *= output_spatial[d];
    plan.output_sizes[rank - dims + d] = output_spatial[d];
  }
  const bool batched = rank == dims + 2;
  plan.geometry = UnpoolGeometry{batched ? indices.size(0) : 1, indices.size(batched ? 1 : 0), in_plane, out_plane,
                                 plan.format != at::MemoryFormat::Contiguous};
  return plan;
}

at::IntArrayRef unpooled_spatial_size(const at::Tensor& unpooled, const at::Tensor& indices, int64_t dims) {
  TORCH_CHECK(dims >= 1 && dims <= kMaxSpatialDims, "max_unpool_gather: dims must be 1, 2 or 3, but got ", dims);
  TORCH_CHECK(unpooled.dim() == indices.dim() && unpooled.dim() > dims, "max_unpool_gather: grad_output of shape ",
              unpooled.sizes(), " does not match indices of shape ", indices.sizes());
  TORCH_CHECK(unpooled.device() == indices.device(), "max_unpool_gather: grad_output and indices must be on the same "
              "device, but got ", unpooled.device(), " and ", indices.device());
  for (int64_t i = 0; i < unpooled.dim() - dims; ++i) {
    TORCH_CHECK(unpooled.size(i) == indices.size(i), "max_unpool_gather: grad_output of shape ", unpooled.sizes(),
                " does not match indices of shape ", indices.sizes());
  }
  return unpooled.sizes().slice(unpooled.dim() - dims);
}

void throw_bad_unpool_index(int64_t bad_index, at::IntArrayRef output_spatial) {
  TORCH_CHECK(false, "max_unpool: indices hold an invalid index ", bad_index, ": each must lie in [0, ",
              c10::multiply_integers(output_spatial), ") for output_size=", list_str(output_spatial));
}

}  // namespace pooling_ext
