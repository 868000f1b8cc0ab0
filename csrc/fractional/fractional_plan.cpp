#include "fractional_plan.h"

namespace pooling_ext {

std::string fractional_op(int dims) { return "fractional_max_pool" + std::to_string(dims) + "d"; }

WindowArgs fractional_window_args(at::IntArrayRef kernel_size) {
  const int dims = static_cast<int>(kernel_size.size());
  return WindowArgs{dims, kernel_size.vec(), std::vector<int64_t>(dims, 1), std::vector<int64_t>(dims, 0),
                    std::vector<int64_t>(dims, 1)};
}

namespace {

// torch's name in the messages of its size checks.
std::string fractional_sizes_op(int dims) { return dims == 2 ? "fractional_max_pool2d" : "fractional_max_pool3d_out"; }

void check_kernel_and_output_size(const std::string& op, at::IntArrayRef kernel_size, at::IntArrayRef output_size) {
  const int dims = static_cast<int>(kernel_size.size());
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
    TORCH_CHECK(output_size[d] >= 0, op,
                "(): output_size must be non-negative, but got output_size=", list_str(output_size));
  }
}

// torch's rule: the window of the last output ends inside the input in 2d
// (out + k - 1 <= in), and one element before its end in 3d (out + k - 1 < in).
// Sizes past 2^62 reach past any input (no overflow on the way).
int64_t fractional_reach(int64_t output_size, int64_t kernel_size, int dims) {
  if (output_size > kMaxSizeProduct || kernel_size > kMaxSizeProduct) return std::numeric_limits<int64_t>::max();
  return output_size + kernel_size - (dims == 2 ? 1 : 0);
}

template <typename I>
void check_samples(c10::ArrayRef<I> input_sizes, c10::ArrayRef<I> sample_sizes, at::ScalarType sample_dtype,
                   at::ScalarType input_dtype, int dims) {
  const bool batched = static_cast<int>(input_sizes.size()) == dims + 2;
  TORCH_CHECK(sample_sizes.size() == 3, "Expect _random_samples to have 3 dimensions, got ", sample_sizes.size());
  TORCH_CHECK(sample_sizes[0] >= (batched ? input_sizes[0] : I(1)),
              "Expect _random_samples.size(0) no less then input batch size.");
  TORCH_CHECK(sample_sizes[1] == input_sizes[batched ? 1 : 0],
              "Expect _random_samples.size(1) equals to input channel size.");
  TORCH_CHECK(sample_sizes[2] == dims, "Expect _random_samples.size(2) equals to ", dims, "; got ", sample_sizes[2],
              ".");
  TORCH_CHECK(sample_dtype == input_dtype, "Expect _random_samples to have the same dtype as input");
}

template <typename I>
std::vector<I> fractional_shape(c10::ArrayRef<I> input_sizes, at::IntArrayRef kernel_size, at::IntArrayRef output_size,
                                c10::ArrayRef<I> sample_sizes, at::ScalarType sample_dtype,
                                at::ScalarType input_dtype) {
  const int dims = static_cast<int>(kernel_size.size());
  TORCH_CHECK(dims == 2 || dims == 3, "fractional_max_pool: kernel_size must have 2 or 3 elements, but got ",
              kernel_size);
  const std::string sizes_op = fractional_sizes_op(dims);
  check_kernel_and_output_size(fractional_op(dims), kernel_size, output_size);
  const int64_t rank = static_cast<int64_t>(input_sizes.size());
  TORCH_CHECK(rank == dims + 1 || rank == dims + 2, sizes_op, "(): Expected ", dims + 1, "D or ", dims + 2,
              "D tensor, but got: ", input_sizes);
  for (int64_t d = rank == dims + 2 ? 1 : 0; d < rank; ++d) {
    TORCH_CHECK(input_sizes[d] != 0, sizes_op,
                "(): Expected input to have non-zero size for non-batch dimensions, "
                "but got",
                input_sizes, " with dimension ", d, " being empty.");
  }
  static const char* const kDimNames[2][3] = {{"height", "width", ""}, {"time", "height", "width"}};
  static const int kCheckOrder[2][3] = {{0, 1, 2}, {0, 2, 1}};  // torch's order (3d: time, width, height)
  for (int i = 0; i < dims; ++i) {
    const int d = kCheckOrder[dims - 2][i];
    const I& in = input_sizes[rank - dims + d];
    TORCH_CHECK(fractional_reach(output_size[d], kernel_size[d], dims) <= in, sizes_op, "(): pool ",
                kDimNames[dims - 2][d], " ", kernel_size[d], " too large relative to input ", kDimNames[dims - 2][d],
                " ", in, " (kernel_size=", list_str(kernel_size), ", output_size=", list_str(output_size), ")");
  }
  check_samples(input_sizes, sample_sizes, sample_dtype, input_dtype, dims);
  std::vector<I> out(input_sizes.begin(), input_sizes.end());
  for (int d = 0; d < dims; ++d) out[rank - dims + d] = I(output_size[d]);
  return out;
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
                                                    FractionalPlan& fractional, WindowOffsets offsets) {
  const std::vector<int64_t> out_sizes =
      fractional_pooled_shape(self.sizes(), kernel_size, output_size, samples, self.scalar_type());
  const WindowArgs args = fractional_window_args(kernel_size);
  const std::string op = fractional_op(args.dims);
  check_backend(op.c_str(), self);
  check_max_pool_dtype(op.c_str(), self, /*need_floating=*/true);
  MaxPoolForwardPlan plan = fixed_window_forward_plan(self, out_sizes, args, window_offset_dtype(op, args), offsets);
  fractional = FractionalPlan{args, plan.geometry, pooling_memory_format(self, args.dims),
                              checked_samples(op.c_str(), samples, self)};
  return plan;
}

FractionalPlan plan_fractional_window_offset_op(const char* what, const at::Tensor& window_offset,
                                                const at::Tensor& samples, at::IntArrayRef input_size,
                                                at::IntArrayRef kernel_size) {
  TORCH_CHECK(window_offset.dim() >= static_cast<int64_t>(kernel_size.size()), what, ": window_offset of shape ",
              window_offset.sizes(), " has fewer dims than kernel_size ", kernel_size);
  check_numel_fits(what, input_size, "input_size");
  const at::IntArrayRef pooled = window_offset.sizes().slice(window_offset.dim() - kernel_size.size());
  const std::vector<int64_t> out_sizes =
      fractional_pooled_shape(input_size, kernel_size, pooled, samples, samples.scalar_type());
  TORCH_CHECK(window_offset.sizes() == at::IntArrayRef(out_sizes), what, ": window_offset of shape ",
              window_offset.sizes(), " does not match input_size ", input_size);
  const WindowArgs args = fractional_window_args(kernel_size);
  const at::ScalarType offset_dtype = window_offset_dtype(what, args);
  TORCH_CHECK(window_offset.scalar_type() == offset_dtype, what, ": window_offset must have dtype ", offset_dtype,
              " for kernel_size=", list_str(kernel_size), ", but got ", window_offset.scalar_type());
  FractionalPlan plan;
  plan.args = args;
  plan.format = pooling_memory_format(window_offset, args.dims);
  plan.geometry = make_geometry(input_size, out_sizes, args, plan.format != at::MemoryFormat::Contiguous);
  plan.samples = checked_samples(what, samples, window_offset);
  return plan;
}

at::Tensor prepare_fractional_grad_output(const FractionalPlan& plan, const at::Tensor& grad_output,
                                          const at::Tensor& window_offset) {
  return prepare_grad_output(WindowOffsetPlan{plan.args, plan.geometry, plan.format, window_offset}, grad_output,
                             window_offset);
}

}  // namespace pooling_ext
