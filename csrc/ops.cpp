// Schemas, Meta kernels, autograd and the C++ API of the pooling_ext ops.
#include <torch/autograd.h>
#include <torch/library.h>

#include "cpu/simd_loops.h"
#include "autograd_support.h"
#include "dispatch_call.h"
#include "max_pool_plan.h"
#include "ops.h"

#ifndef POOLING_EXT_TORCH_VERSION
#define POOLING_EXT_TORCH_VERSION "unknown"
#endif

namespace pooling_ext {

// One list of schemas, defined for the public namespace and for the CPU grid
// emulation of the CUDA kernels (tests only; with 32-bit and with 64-bit
// index arithmetic).
static void define_schemas(torch::Library& m) {
  m.def(
      "max_pool_forward(Tensor self, int[] kernel_size, int[] stride, int[] padding, int[] dilation, "
      "bool ceil_mode) -> (Tensor, Tensor)");
  m.def(
      "max_pool_backward(Tensor grad_output, Tensor window_offset, SymInt[] input_size, int[] kernel_size, "
      "int[] stride, int[] padding, int[] dilation) -> Tensor");
  m.def(
      "max_pool_gather(Tensor source, Tensor window_offset, int[] kernel_size, int[] stride, int[] padding, "
      "int[] dilation) -> Tensor");
  m.def(
      "max_pool_indices(Tensor window_offset, SymInt[] input_size, int[] kernel_size, int[] stride, "
      "int[] padding, int[] dilation) -> Tensor");
  m.def("adaptive_max_pool_forward(Tensor self, int[] output_size) -> (Tensor, Tensor)");
  m.def(
      "adaptive_max_pool_backward(Tensor grad_output, Tensor window_offset, SymInt[] input_size, int[] output_size) "
      "-> Tensor");
  m.def("adaptive_max_pool_gather(Tensor source, Tensor window_offset, int[] output_size) -> Tensor");
  m.def("adaptive_max_pool_indices(Tensor window_offset, SymInt[] input_size, int[] output_size) -> Tensor");
  m.def(
      "fractional_max_pool_forward(Tensor self, int[] kernel_size, int[] output_size, Tensor random_samples) "
      "-> (Tensor, Tensor)");
  m.def(
      "fractional_max_pool_backward(Tensor grad_output, Tensor window_offset, Tensor random_samples, "
      "SymInt[] input_size, int[] kernel_size) -> Tensor");
  m.def(
      "fractional_max_pool_gather(Tensor source, Tensor window_offset, Tensor random_samples, int[] kernel_size) "
      "-> Tensor");
  m.def(
      "fractional_max_pool_indices(Tensor window_offset, Tensor random_samples, SymInt[] input_size, "
      "int[] kernel_size) -> Tensor");
  m.def("max_unpool(Tensor self, Tensor indices, SymInt[] output_size) -> Tensor");
  m.def("max_unpool_gather(Tensor grad_output, Tensor indices, int dims) -> Tensor");
  m.def(
      "avg_pool_forward(Tensor self, int[] kernel_size, int[] stride, int[] padding, bool ceil_mode, "
      "bool count_include_pad, int? divisor_override) -> Tensor");
  m.def(
      "avg_pool_backward(Tensor grad_output, SymInt[] input_size, int[] kernel_size, int[] stride, int[] padding, "
      "bool ceil_mode, bool count_include_pad, int? divisor_override) -> Tensor");
  m.def("adaptive_avg_pool_forward(Tensor self, int[] output_size) -> Tensor");
  m.def("adaptive_avg_pool_backward(Tensor grad_output, SymInt[] input_size, int[] output_size) -> Tensor");
  m.def(
      "lp_pool_forward(Tensor self, float norm_type, int[] kernel_size, int[] stride, bool ceil_mode, "
      "bool true_norm) -> Tensor");
  m.def(
      "lp_pool_backward(Tensor grad_output, Tensor self, Tensor output, float norm_type, int[] kernel_size, "
      "int[] stride, bool ceil_mode, bool true_norm) -> Tensor");
  m.def("gem_forward(Tensor self, Tensor p, float eps) -> Tensor");
  m.def(
      "gem_backward(Tensor grad_output, Tensor self, Tensor output, Tensor p, float eps, bool p_requires_grad) "
      "-> (Tensor, Tensor)");
}

TORCH_LIBRARY(pooling_ext, m) { define_schemas(m); }
TORCH_LIBRARY(pooling_ext_grid_emulation, m) { define_schemas(m); }
TORCH_LIBRARY(pooling_ext_grid_emulation_int64, m) { define_schemas(m); }

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// ---------------------------------------------------------------- Meta kernels

at::MemoryFormat meta_format(const at::Tensor& t, int dims) { return pooling_memory_format(t, dims); }

std::tuple<at::Tensor, at::Tensor> max_pool_forward_meta(const at::Tensor& self, at::IntArrayRef kernel_size,
                                                         at::IntArrayRef stride, at::IntArrayRef padding,
                                                         at::IntArrayRef dilation, bool ceil_mode) {
  const WindowArgs args = check_window_args("max_pool", kernel_size, stride, padding, dilation);
  check_max_pool_dtype(args.op_name("max_pool").c_str(), self, /*need_floating=*/false);
  const std::vector<c10::SymInt> out = pooled_shape<c10::SymInt>("max_pool", self.sym_sizes(), args, ceil_mode);
  const at::MemoryFormat format = meta_format(self, args.dims);
  return {at::empty_symint(out, self.options().memory_format(format)),
          at::empty_symint(out, self.options().dtype(window_offset_dtype(args.kernel_volume())).memory_format(format))};
}

at::Tensor max_pool_backward_meta(const at::Tensor& grad_output, const at::Tensor& window_offset,
                                  c10::SymIntArrayRef input_size, at::IntArrayRef kernel_size, at::IntArrayRef stride,
                                  at::IntArrayRef padding, at::IntArrayRef dilation) {
  const WindowArgs args = check_window_args("max_pool_backward", kernel_size, stride, padding, dilation);
  check_max_pool_dtype("max_pool_backward", grad_output, /*need_floating=*/true);
  return at::empty_symint(input_size, grad_output.options().memory_format(meta_format(window_offset, args.dims)));
}

at::Tensor max_pool_gather_meta(const at::Tensor& source, const at::Tensor& window_offset, at::IntArrayRef kernel_size,
                                at::IntArrayRef stride, at::IntArrayRef padding, at::IntArrayRef dilation) {
  const WindowArgs args = check_window_args("max_pool_gather", kernel_size, stride, padding, dilation);
  return at::empty_symint(window_offset.sym_sizes(), source.options().memory_format(meta_format(window_offset, args.dims)));
}

at::Tensor max_pool_indices_meta(const at::Tensor& window_offset, c10::SymIntArrayRef input_size,
                                 at::IntArrayRef kernel_size, at::IntArrayRef stride, at::IntArrayRef padding,
                                 at::IntArrayRef dilation) {
  const WindowArgs args = check_window_args("max_pool_indices", kernel_size, stride, padding, dilation);
  return at::empty_symint(window_offset.sym_sizes(),
                          window_offset.options().dtype(at::kLong).memory_format(meta_format(window_offset, args.dims)));
}

// Adaptive max pooling saves int32 window offsets whatever the sizes, so the
// dtype does not depend on the (possibly symbolic) input extents.
std::tuple<at::Tensor, at::Tensor> adaptive_max_pool_forward_meta(const at::Tensor& self, at::IntArrayRef output_size) {
  const auto out = adaptive_pooled_shape("adaptive_max_pool", self.sym_sizes(), output_size,
                                         /*empty_channels_allowed=*/false);
  const int dims = static_cast<int>(output_size.size());
  check_max_pool_dtype(("adaptive_max_pool" + std::to_string(dims) + "d").c_str(), self, /*need_floating=*/true);
  const at::MemoryFormat format = meta_format(self, dims);
  return {at::empty_symint(out, self.options().memory_format(format)),
          at::empty_symint(out, self.options().dtype(kAdaptiveWindowOffsetDtype).memory_format(format))};
}

at::Tensor adaptive_max_pool_backward_meta(const at::Tensor& grad_output, const at::Tensor& window_offset,
                                           c10::SymIntArrayRef input_size, at::IntArrayRef output_size) {
  adaptive_pooled_shape("adaptive_max_pool", input_size, output_size, /*empty_channels_allowed=*/false);
  check_max_pool_dtype("adaptive_max_pool_backward", grad_output, /*need_floating=*/true);
  const int dims = static_cast<int>(output_size.size());
  return at::empty_symint(input_size, grad_output.options().memory_format(meta_format(window_offset, dims)));
}

at::Tensor adaptive_max_pool_gather_meta(const at::Tensor& source, const at::Tensor& window_offset,
                                         at::IntArrayRef output_size) {
  const int dims = static_cast<int>(output_size.size());
  return at::empty_symint(window_offset.sym_sizes(), source.options().memory_format(meta_format(window_offset, dims)));
}

at::Tensor adaptive_max_pool_indices_meta(const at::Tensor& window_offset, c10::SymIntArrayRef input_size,
                                          at::IntArrayRef output_size) {
  const int dims = static_cast<int>(output_size.size());
  return at::empty_symint(window_offset.sym_sizes(),
                          window_offset.options().dtype(at::kLong).memory_format(meta_format(window_offset, dims)));
}

std::tuple<at::Tensor, at::Tensor> fractional_max_pool_forward_meta(const at::Tensor& self,
                                                                    at::IntArrayRef kernel_size,
                                                                    at::IntArrayRef output_size,
                                                                    const at::Tensor& random_samples) {
  const auto out =
      fractional_pooled_shape(self.sym_sizes(), kernel_size, output_size, random_samples, self.scalar_type());
  const int dims = static_cast<int>(kernel_size.size());
  check_max_pool_dtype(("fractional_max_pool" + std::to_string(dims) + "d").c_str(), self, /*need_floating=*/true);
  const at::MemoryFormat format = meta_format(self, dims);
  return {at::empty_symint(out, self.options().memory_format(format)),
          at::empty_symint(out, self.options()
                                    .dtype(window_offset_dtype(c10::multiply_integers(kernel_size)))
                                    .memory_format(format))};
}

at::Tensor fractional_max_pool_backward_meta(const at::Tensor& grad_output, const at::Tensor& window_offset,
                                             const at::Tensor& random_samples, c10::SymIntArrayRef input_size,
                                             at::IntArrayRef kernel_size) {
  check_max_pool_dtype("fractional_max_pool_backward", grad_output, /*need_floating=*/true);
  const int dims = static_cast<int>(kernel_size.size());
  return at::empty_symint(input_size, grad_output.options().memory_format(meta_format(window_offset, dims)));
}

at::Tensor fractional_max_pool_gather_meta(const at::Tensor& source, const at::Tensor& window_offset,
                                           const at::Tensor& random_samples, at::IntArrayRef kernel_size) {
  const int dims = static_cast<int>(kernel_size.size());
  return at::empty_symint(window_offset.sym_sizes(), source.options().memory_format(meta_format(window_offset, dims)));
}

at::Tensor fractional_max_pool_indices_meta(const at::Tensor& window_offset, const at::Tensor& random_samples,
                                            c10::SymIntArrayRef input_size, at::IntArrayRef kernel_size) {
  const int dims = static_cast<int>(kernel_size.size());
  return at::empty_symint(window_offset.sym_sizes(),
                          window_offset.options().dtype(at::kLong).memory_format(meta_format(window_offset, dims)));
}

at::MemoryFormat unpool_format(const at::Tensor& indices, int64_t dims) {
  return dims == 2 ? pooling_memory_format(indices, 2) : at::MemoryFormat::Contiguous;
}

at::Tensor max_unpool_meta(const at::Tensor& self, const at::Tensor& indices, c10::SymIntArrayRef output_size) {
  check_unpool_inputs("max_unpool", self, indices);
  check_unpool_dtype("max_unpool", self);
  const int64_t dims = static_cast<int64_t>(output_size.size());
  TORCH_CHECK(dims >= 1 && dims <= kMaxSpatialDims && self.dim() > dims, "max_unpool: output_size ", output_size,
              " does not fit input of shape ", self.sym_sizes());
  std::vector<c10::SymInt> out(self.sym_sizes().begin(), self.sym_sizes().end());
  for (int64_t d = 0; d < dims; ++d) out[self.dim() - dims + d] = output_size[d];
  return at::empty_symint(out, self.options().memory_format(unpool_format(indices, dims)));
}

at::Tensor max_unpool_gather_meta(const at::Tensor& grad_output, const at::Tensor& indices, int64_t dims) {
  check_unpool_dtype("max_unpool_gather", grad_output);
  return at::empty_symint(indices.sym_sizes(), grad_output.options().memory_format(unpool_format(indices, dims)));
}

// ---------------------------------------------------------------- autograd

// Calls below the autograd key, to the device kernels.
std::tuple<at::Tensor, at::Tensor> call_max_pool_forward(const at::Tensor& self, at::IntArrayRef k, at::IntArrayRef s,
                                                         at::IntArrayRef p, at::IntArrayRef d, bool ceil_mode) {
  static auto op = op_handle<std::tuple<at::Tensor, at::Tensor>(const at::Tensor&, at::IntArrayRef, at::IntArrayRef,
                                                                at::IntArrayRef, at::IntArrayRef, bool)>(
      "pooling_ext::max_pool_forward");
  return op.call(self, k, s, p, d, ceil_mode);
}

at::Tensor call_max_pool_backward(const at::Tensor& grad, const at::Tensor& offset, c10::SymIntArrayRef input_size,
                                  at::IntArrayRef k, at::IntArrayRef s, at::IntArrayRef p, at::IntArrayRef d) {
  static auto op = op_handle<at::Tensor(const at::Tensor&, const at::Tensor&, c10::SymIntArrayRef, at::IntArrayRef,
                                        at::IntArrayRef, at::IntArrayRef, at::IntArrayRef)>(
      "pooling_ext::max_pool_backward");
  return op.call(grad, offset, input_size, k, s, p, d);
}

at::Tensor call_max_pool_gather(const at::Tensor& source, const at::Tensor& offset, at::IntArrayRef k,
                                at::IntArrayRef s, at::IntArrayRef p, at::IntArrayRef d) {
  static auto op = op_handle<at::Tensor(const at::Tensor&, const at::Tensor&, at::IntArrayRef, at::IntArrayRef,
                                        at::IntArrayRef, at::IntArrayRef)>("pooling_ext::max_pool_gather");
  return op.call(source, offset, k, s, p, d);
}

std::tuple<at::Tensor, at::Tensor> call_adaptive_max_pool_forward(const at::Tensor& self,
                                                                  at::IntArrayRef output_size) {
  static auto op = op_handle<std::tuple<at::Tensor, at::Tensor>(const at::Tensor&, at::IntArrayRef)>(
      "pooling_ext::adaptive_max_pool_forward");
  return op.call(self, output_size);
}

at::Tensor call_adaptive_max_pool_backward(const at::Tensor& grad, const at::Tensor& offset,
                                           c10::SymIntArrayRef input_size, at::IntArrayRef output_size) {
  static auto op = op_handle<at::Tensor(const at::Tensor&, const at::Tensor&, c10::SymIntArrayRef, at::IntArrayRef)>(
      "pooling_ext::adaptive_max_pool_backward");
  return op.call(grad, offset, input_size, output_size);
}

at::Tensor call_adaptive_max_pool_gather(const at::Tensor& source, const at::Tensor& offset,
                                         at::IntArrayRef output_size) {
  static auto op = op_handle<at::Tensor(const at::Tensor&, const at::Tensor&, at::IntArrayRef)>(
      "pooling_ext::adaptive_max_pool_gather");
  return op.call(source, offset, output_size);
}

std::tuple<at::Tensor, at::Tensor> call_fractional_max_pool_forward(const at::Tensor& self, at::IntArrayRef kernel_size,
                                                                    at::IntArrayRef output_size,
                                                                    const at::Tensor& samples) {
  static auto op = op_handle<std::tuple<at::Tensor, at::Tensor>(const at::Tensor&, at::IntArrayRef, at::IntArrayRef,
                                                                const at::Tensor&)>(
      "pooling_ext::fractional_max_pool_forward");
  return op.call(self, kernel_size, output_size, samples);
}

at::Tensor call_fractional_max_pool_backward(const at::Tensor& grad, const at::Tensor& offset,
                                             const at::Tensor& samples, c10::SymIntArrayRef input_size,
                                             at::IntArrayRef kernel_size) {
  static auto op = op_handle<at::Tensor(const at::Tensor&, const at::Tensor&, const at::Tensor&, c10::SymIntArrayRef,
                                        at::IntArrayRef)>("pooling_ext::fractional_max_pool_backward");
  return op.call(grad, offset, samples, input_size, kernel_size);
}

at::Tensor call_fractional_max_pool_gather(const at::Tensor& source, const at::Tensor& offset,
                                           const at::Tensor& samples, at::IntArrayRef kernel_size) {
  static auto op = op_handle<at::Tensor(const at::Tensor&, const at::Tensor&, const at::Tensor&, at::IntArrayRef)>(
      "pooling_ext::fractional_max_pool_gather");
  return op.call(source, offset, samples, kernel_size);
}

at::Tensor call_max_unpool(const at::Tensor& self, const at::Tensor& indices, c10::SymIntArrayRef output_size) {
  static auto op = op_handle<at::Tensor(const at::Tensor&, const at::Tensor&, c10::SymIntArrayRef)>(
      "pooling_ext::max_unpool");
  return op.call(self, indices, output_size);
}

at::Tensor call_max_unpool_gather(const at::Tensor& grad, const at::Tensor& indices, int64_t dims) {
  static auto op =
      op_handle<at::Tensor(const at::Tensor&, const at::Tensor&, int64_t)>("pooling_ext::max_unpool_gather");
  return op.call(grad, indices, dims);
}

// The window an autograd node keeps: fixed (kernel, stride, padding,
// dilation); torch's adaptive windows when adaptive_output_size is set; or
// fractional windows of `kernel` when fractional_samples is defined (with
// fractional_output_size). The max pooling autograd functions below serve all
// three through it.
struct SavedWindow {
  std::vector<int64_t> kernel, stride, padding, dilation;
  std::vector<int64_t> adaptive_output_size;
  std::vector<int64_t> fractional_output_size;
  at::Tensor fractional_samples;

  static SavedWindow adaptive(at::IntArrayRef output_size) { return SavedWindow{{}, {}, {}, {}, output_size.vec()}; }
  static SavedWindow fractional(at::IntArrayRef kernel_size, at::IntArrayRef output_size, const at::Tensor& samples) {
    return SavedWindow{kernel_size.vec(), {}, {}, {}, {}, output_size.vec(), samples};
  }
  bool is_adaptive() const { return !adaptive_output_size.empty(); }
  bool is_fractional() const { return fractional_samples.defined(); }

  void save(AutogradContext* ctx) const {
    ctx->saved_data["kernel"] = kernel;
    ctx->saved_data["stride"] = stride;
    ctx->saved_data["padding"] = padding;
    ctx->saved_data["dilation"] = dilation;
    ctx->saved_data["adaptive_output_size"] = adaptive_output_size;
    ctx->saved_data["fractional_output_size"] = fractional_output_size;
    // The samples are a constant of the op, never differentiated: kept as data.
    if (is_fractional()) ctx->saved_data["fractional_samples"] = fractional_samples;
  }
  static SavedWindow load(AutogradContext* ctx) {
    SavedWindow w{ctx->saved_data["kernel"].toIntVector(), ctx->saved_data["stride"].toIntVector(),
                  ctx->saved_data["padding"].toIntVector(), ctx->saved_data["dilation"].toIntVector(),
                  ctx->saved_data["adaptive_output_size"].toIntVector(),
                  ctx->saved_data["fractional_output_size"].toIntVector()};
    const auto samples = ctx->saved_data.find("fractional_samples");
    if (samples != ctx->saved_data.end()) w.fractional_samples = samples->second.toTensor();
    return w;
  }
};

std::tuple<at::Tensor, at::Tensor> window_max_pool_forward(const at::Tensor& self, const SavedWindow& w,
                                                           bool ceil_mode) {
  if (w.is_fractional()) {
    return call_fractional_max_pool_forward(self, w.kernel, w.fractional_output_size, w.fractional_samples);
  }
  if (w.is_adaptive()) return call_adaptive_max_pool_forward(self, w.adaptive_output_size);
  return call_max_pool_forward(self, w.kernel, w.stride, w.padding, w.dilation, ceil_mode);
}

at::Tensor window_max_pool_backward(const at::Tensor& grad, const at::Tensor& offset, c10::SymIntArrayRef input_size,
                                    const SavedWindow& w) {
  if (w.is_fractional()) {
    return call_fractional_max_pool_backward(grad, offset, w.fractional_samples, input_size, w.kernel);
  }
  if (w.is_adaptive()) return call_adaptive_max_pool_backward(grad, offset, input_size, w.adaptive_output_size);
  return call_max_pool_backward(grad, offset, input_size, w.kernel, w.stride, w.padding, w.dilation);
}

at::Tensor window_max_pool_gather(const at::Tensor& source, const at::Tensor& offset, const SavedWindow& w) {
  if (w.is_fractional()) return call_fractional_max_pool_gather(source, offset, w.fractional_samples, w.kernel);
  if (w.is_adaptive()) return call_adaptive_max_pool_gather(source, offset, w.adaptive_output_size);
  return call_max_pool_gather(source, offset, w.kernel, w.stride, w.padding, w.dilation);
}

class MaxPoolGatherFunction;

// d(grad_input)/d(grad_output) is the gather at the argmax.
class MaxPoolBackwardFunction : public torch::autograd::Function<MaxPoolBackwardFunction> {
 public:
  static variable_list forward(AutogradContext* ctx, const at::Tensor& grad_output, const at::Tensor& window_offset,
                               c10::SymIntArrayRef input_size, const SavedWindow& w);
  static variable_list backward(AutogradContext* ctx, variable_list grads);
};

// d(gather)/d(source) is the backward scatter-as-gather.
class MaxPoolGatherFunction : public torch::autograd::Function<MaxPoolGatherFunction> {
 public:
  static variable_list forward(AutogradContext* ctx, const at::Tensor& source, const at::Tensor& window_offset,
                               const SavedWindow& w) {
    at::AutoDispatchBelowADInplaceOrView guard;
    ctx->save_for_backward({window_offset});
    save_sizes(ctx, "source_size", source.sym_sizes());
    w.save(ctx);
    return {window_max_pool_gather(source, window_offset, w)};
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const at::Tensor offset = ctx->get_saved_variables()[0];
    const SavedWindow w = SavedWindow::load(ctx);
    const std::vector<c10::SymInt> size = load_sizes(ctx, "source_size");
    return {MaxPoolBackwardFunction::apply(grads[0], offset, size, w)[0], at::Tensor(), at::Tensor()};
  }
};

variable_list MaxPoolBackwardFunction::forward(AutogradContext* ctx, const at::Tensor& grad_output,
                                               const at::Tensor& window_offset, c10::SymIntArrayRef input_size,
                                               const SavedWindow& w) {
  at::AutoDispatchBelowADInplaceOrView guard;
  ctx->save_for_backward({window_offset});
  w.save(ctx);
  return {window_max_pool_backward(grad_output, window_offset, input_size, w)};
}

variable_list MaxPoolBackwardFunction::backward(AutogradContext* ctx, variable_list grads) {
  const at::Tensor offset = ctx->get_saved_variables()[0];
  const SavedWindow w = SavedWindow::load(ctx);
  return {MaxPoolGatherFunction::apply(grads[0], offset, w)[0], at::Tensor(), at::Tensor(), at::Tensor()};
}

class MaxPoolFunction : public torch::autograd::Function<MaxPoolFunction> {
 public:
  static variable_list forward(AutogradContext* ctx, const at::Tensor& self, const SavedWindow& w, bool ceil_mode) {
    at::AutoDispatchBelowADInplaceOrView guard;
    auto [output, window_offset] = window_max_pool_forward(self, w, ceil_mode);
    ctx->save_for_backward({window_offset});
    save_sizes(ctx, "input_size", self.sym_sizes());
    w.save(ctx);
    ctx->mark_non_differentiable({window_offset});
    return {output, window_offset};
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const at::Tensor offset = ctx->get_saved_variables()[0];
    const SavedWindow w = SavedWindow::load(ctx);
    const std::vector<c10::SymInt> size = load_sizes(ctx, "input_size");
    return {MaxPoolBackwardFunction::apply(grads[0], offset, size, w)[0], at::Tensor(), at::Tensor()};
  }
};

std::tuple<at::Tensor, at::Tensor> max_pool_forward_autograd(const at::Tensor& self, at::IntArrayRef kernel_size,
                                                             at::IntArrayRef stride, at::IntArrayRef padding,
                                                             at::IntArrayRef dilation, bool ceil_mode) {
  const SavedWindow w{kernel_size.vec(), stride.vec(), padding.vec(), dilation.vec()};
  variable_list out = MaxPoolFunction::apply(self, w, ceil_mode);
  return {out[0], out[1]};
}

at::Tensor max_pool_backward_autograd(const at::Tensor& grad_output, const at::Tensor& window_offset,
                                      c10::SymIntArrayRef input_size, at::IntArrayRef kernel_size,
                                      at::IntArrayRef stride, at::IntArrayRef padding, at::IntArrayRef dilation) {
  const SavedWindow w{kernel_size.vec(), stride.vec(), padding.vec(), dilation.vec()};
  return MaxPoolBackwardFunction::apply(grad_output, window_offset, input_size, w)[0];
}

at::Tensor max_pool_gather_autograd(const at::Tensor& source, const at::Tensor& window_offset,
                                    at::IntArrayRef kernel_size, at::IntArrayRef stride, at::IntArrayRef padding,
                                    at::IntArrayRef dilation) {
  const SavedWindow w{kernel_size.vec(), stride.vec(), padding.vec(), dilation.vec()};
  return MaxPoolGatherFunction::apply(source, window_offset, w)[0];
}

std::tuple<at::Tensor, at::Tensor> adaptive_max_pool_forward_autograd(const at::Tensor& self,
                                                                      at::IntArrayRef output_size) {
  variable_list out = MaxPoolFunction::apply(self, SavedWindow::adaptive(output_size), false);
  return {out[0], out[1]};
}

at::Tensor adaptive_max_pool_backward_autograd(const at::Tensor& grad_output, const at::Tensor& window_offset,
                                               c10::SymIntArrayRef input_size, at::IntArrayRef output_size) {
  return MaxPoolBackwardFunction::apply(grad_output, window_offset, input_size, SavedWindow::adaptive(output_size))[0];
}

at::Tensor adaptive_max_pool_gather_autograd(const at::Tensor& source, const at::Tensor& window_offset,
                                             at::IntArrayRef output_size) {
  return MaxPoolGatherFunction::apply(source, window_offset, SavedWindow::adaptive(output_size))[0];
}

std::tuple<at::Tensor, at::Tensor> fractional_max_pool_forward_autograd(const at::Tensor& self,
                                                                        at::IntArrayRef kernel_size,
                                                                        at::IntArrayRef output_size,
                                                                        const at::Tensor& random_samples) {
  variable_list out =
      MaxPoolFunction::apply(self, SavedWindow::fractional(kernel_size, output_size, random_samples), false);
  return {out[0], out[1]};
}

at::Tensor fractional_max_pool_backward_autograd(const at::Tensor& grad_output, const at::Tensor& window_offset,
                                                 const at::Tensor& random_samples, c10::SymIntArrayRef input_size,
                                                 at::IntArrayRef kernel_size) {
  const auto pooled = window_offset.sizes().slice(window_offset.dim() - static_cast<int64_t>(kernel_size.size()));
  return MaxPoolBackwardFunction::apply(grad_output, window_offset, input_size,
                                        SavedWindow::fractional(kernel_size, pooled, random_samples))[0];
}

at::Tensor fractional_max_pool_gather_autograd(const at::Tensor& source, const at::Tensor& window_offset,
                                               const at::Tensor& random_samples, at::IntArrayRef kernel_size) {
  const auto pooled = window_offset.sizes().slice(window_offset.dim() - static_cast<int64_t>(kernel_size.size()));
  return MaxPoolGatherFunction::apply(source, window_offset,
                                      SavedWindow::fractional(kernel_size, pooled, random_samples))[0];
}

class MaxUnpoolGatherFunction;

// Unpool backward: every input element takes the gradient at its index (torch's rule).
class MaxUnpoolFunction : public torch::autograd::Function<MaxUnpoolFunction> {
 public:
  static variable_list forward(AutogradContext* ctx, const at::Tensor& self, const at::Tensor& indices,
                               c10::SymIntArrayRef output_size) {
    at::AutoDispatchBelowADInplaceOrView guard;
    ctx->save_for_backward({indices});
    ctx->saved_data["dims"] = static_cast<int64_t>(output_size.size());
    return {call_max_unpool(self, indices, output_size)};
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads);
};

// The gather's adjoint is a scatter-add into the unpooled shape (aten's
// scatter_add, deterministic on the CPU and, in deterministic mode, on CUDA).
class MaxUnpoolGatherFunction : public torch::autograd::Function<MaxUnpoolGatherFunction> {
 public:
  static variable_list forward(AutogradContext* ctx, const at::Tensor& grad_output, const at::Tensor& indices,
                               int64_t dims) {
    at::AutoDispatchBelowADInplaceOrView guard;
    ctx->save_for_backward({indices});
    ctx->saved_data["dims"] = dims;
    save_sizes(ctx, "unpooled_size", grad_output.sym_sizes());
    return {call_max_unpool_gather(grad_output, indices, dims)};
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const at::Tensor indices = ctx->get_saved_variables()[0];
    const int64_t dims = ctx->saved_data["dims"].toInt();
    const std::vector<c10::SymInt> unpooled_size = load_sizes(ctx, "unpooled_size");
    const int64_t lead = indices.dim() - dims;
    std::vector<c10::SymInt> flat_unpooled(unpooled_size.begin(), unpooled_size.begin() + lead);
    flat_unpooled.push_back(c10::SymInt(-1));
    const at::Tensor flat_grad = grads[0].flatten(lead);
    const at::Tensor flat_indices = indices.flatten(lead);
    std::vector<c10::SymInt> zeros_size(unpooled_size.begin(), unpooled_size.begin() + lead);
    c10::SymInt plane = 1;
    for (size_t i = lead; i < unpooled_size.size(); ++i) plane = plane * unpooled_size[i];
    zeros_size.push_back(plane);
    at::Tensor flat = at::zeros_symint(zeros_size, grads[0].options()).scatter_add(lead, flat_indices, flat_grad);
    return {flat.view_symint(unpooled_size), at::Tensor(), at::Tensor()};
  }
};

variable_list MaxUnpoolFunction::backward(AutogradContext* ctx, variable_list grads) {
  const at::Tensor indices = ctx->get_saved_variables()[0];
  const int64_t dims = ctx->saved_data["dims"].toInt();
  return {MaxUnpoolGatherFunction::apply(grads[0], indices, dims)[0], at::Tensor(), at::Tensor()};
}

at::Tensor max_unpool_autograd(const at::Tensor& self, const at::Tensor& indices, c10::SymIntArrayRef output_size) {
  return MaxUnpoolFunction::apply(self, indices, output_size)[0];
}

at::Tensor max_unpool_gather_autograd(const at::Tensor& grad_output, const at::Tensor& indices, int64_t dims) {
  return MaxUnpoolGatherFunction::apply(grad_output, indices, dims)[0];
}

}  // namespace

TORCH_LIBRARY_IMPL(pooling_ext, Meta, m) {
  m.impl("max_pool_forward", &max_pool_forward_meta);
  m.impl("max_pool_backward", &max_pool_backward_meta);
  m.impl("max_pool_gather", &max_pool_gather_meta);
  m.impl("max_pool_indices", &max_pool_indices_meta);
  m.impl("adaptive_max_pool_forward", &adaptive_max_pool_forward_meta);
  m.impl("adaptive_max_pool_backward", &adaptive_max_pool_backward_meta);
  m.impl("adaptive_max_pool_gather", &adaptive_max_pool_gather_meta);
  m.impl("adaptive_max_pool_indices", &adaptive_max_pool_indices_meta);
  m.impl("fractional_max_pool_forward", &fractional_max_pool_forward_meta);
  m.impl("fractional_max_pool_backward", &fractional_max_pool_backward_meta);
  m.impl("fractional_max_pool_gather", &fractional_max_pool_gather_meta);
  m.impl("fractional_max_pool_indices", &fractional_max_pool_indices_meta);
  m.impl("max_unpool", &max_unpool_meta);
  m.impl("max_unpool_gather", &max_unpool_gather_meta);
}

TORCH_LIBRARY_IMPL(pooling_ext, Autograd, m) {
  m.impl("max_pool_forward", &max_pool_forward_autograd);
  m.impl("max_pool_backward", &max_pool_backward_autograd);
  m.impl("max_pool_gather", &max_pool_gather_autograd);
  m.impl("adaptive_max_pool_forward", &adaptive_max_pool_forward_autograd);
  m.impl("adaptive_max_pool_backward", &adaptive_max_pool_backward_autograd);
  m.impl("adaptive_max_pool_gather", &adaptive_max_pool_gather_autograd);
  m.impl("fractional_max_pool_forward", &fractional_max_pool_forward_autograd);
  m.impl("fractional_max_pool_backward", &fractional_max_pool_backward_autograd);
  m.impl("fractional_max_pool_gather", &fractional_max_pool_gather_autograd);
  m.impl("max_unpool", &max_unpool_autograd);
  m.impl("max_unpool_gather", &max_unpool_gather_autograd);
}

// ---------------------------------------------------------------- C++ API

std::tuple<at::Tensor, at::Tensor> max_pool_forward(const at::Tensor& self, at::IntArrayRef kernel_size,
                                                    at::IntArrayRef stride, at::IntArrayRef padding,
                                                    at::IntArrayRef dilation, bool ceil_mode) {
  return call_max_pool_forward(self, kernel_size, stride, padding, dilation, ceil_mode);
}

at::Tensor max_pool_indices(const at::Tensor& window_offset, c10::SymIntArrayRef input_size,
                            at::IntArrayRef kernel_size, at::IntArrayRef stride, at::IntArrayRef padding,
                            at::IntArrayRef dilation) {
  static auto op = op_handle<at::Tensor(const at::Tensor&, c10::SymIntArrayRef, at::IntArrayRef, at::IntArrayRef,
                                        at::IntArrayRef, at::IntArrayRef)>("pooling_ext::max_pool_indices");
  return op.call(window_offset, input_size, kernel_size, stride, padding, dilation);
}

at::Tensor max_pool_backward(const at::Tensor& grad_output, const at::Tensor& window_offset,
                             c10::SymIntArrayRef input_size, at::IntArrayRef kernel_size, at::IntArrayRef stride,
                             at::IntArrayRef padding, at::IntArrayRef dilation) {
  return call_max_pool_backward(grad_output, window_offset, input_size, kernel_size, stride, padding, dilation);
}

at::Tensor max_pool_gather(const at::Tensor& source, const at::Tensor& window_offset, at::IntArrayRef kernel_size,
                           at::IntArrayRef stride, at::IntArrayRef padding, at::IntArrayRef dilation) {
  return call_max_pool_gather(source, window_offset, kernel_size, stride, padding, dilation);
}

std::tuple<at::Tensor, at::Tensor> adaptive_max_pool_forward(const at::Tensor& self, at::IntArrayRef output_size) {
  return call_adaptive_max_pool_forward(self, output_size);
}

at::Tensor adaptive_max_pool_indices(const at::Tensor& window_offset, c10::SymIntArrayRef input_size,
                                     at::IntArrayRef output_size) {
  static auto op = op_handle<at::Tensor(const at::Tensor&, c10::SymIntArrayRef, at::IntArrayRef)>(
      "pooling_ext::adaptive_max_pool_indices");
  return op.call(window_offset, input_size, output_size);
}

at::Tensor max_unpool(const at::Tensor& self, const at::Tensor& indices, c10::SymIntArrayRef output_size) {
  return call_max_unpool(self, indices, output_size);
}

at::Tensor max_unpool_gather(const at::Tensor& grad_output, const at::Tensor& indices, int64_t dims) {
  return call_max_unpool_gather(grad_output, indices, dims);
}

at::Tensor max_pool2d(const at::Tensor& self, at::IntArrayRef kernel_size, at::IntArrayRef stride,
                      at::IntArrayRef padding, at::IntArrayRef dilation, bool ceil_mode) {
  const at::IntArrayRef effective_stride = stride.empty() ? kernel_size : stride;
  return std::get<0>(max_pool_forward(self, kernel_size, effective_stride, padding, dilation, ceil_mode));
}

bool compiled_with_cuda() {
#ifdef POOLING_EXT_WITH_CUDA
  return true;
#else
  return false;
#endif
}

const char* built_torch_version() { return POOLING_EXT_TORCH_VERSION; }

const char* cpu_capability() { return simd::selected_isa(); }

}  // namespace pooling_ext
