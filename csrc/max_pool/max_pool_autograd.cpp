#include "max_pool_autograd.h"

#include "../common/autograd_support.h"
#include "../ops.h"
#include "max_pool.h"

namespace pooling_ext {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

void SavedWindow::save(AutogradContext* ctx) const {
  save_int_lists(ctx, "window", {kernel, stride, padding, dilation, adaptive_output_size, fractional_output_size});
  // The samples are a constant of the op, never differentiated: kept as data.
  if (is_fractional()) ctx->saved_data["fractional_samples"] = fractional_samples;
}

SavedWindow SavedWindow::load(AutogradContext* ctx) {
  SavedWindow w;
  load_int_lists(ctx, "window",
                 {&w.kernel, &w.stride, &w.padding, &w.dilation, &w.adaptive_output_size, &w.fractional_output_size});
  const auto samples = ctx->saved_data.find("fractional_samples");
  if (samples != ctx->saved_data.end()) w.fractional_samples = samples->second.toTensor();
  return w;
}

namespace {

// The ops of the window's policy, called below the autograd key.
std::tuple<at::Tensor, at::Tensor> forward_op(const at::Tensor& self, const SavedWindow& w, bool ceil_mode) {
  if (w.is_fractional()) {
    return fractional_max_pool_forward(self, w.kernel, w.fractional_output_size, w.fractional_samples);
  }
  if (w.is_adaptive()) return adaptive_max_pool_forward(self, w.adaptive_output_size);
  return max_pool_forward(self, w.kernel, w.stride, w.padding, w.dilation, ceil_mode);
}

at::Tensor backward_op(const at::Tensor& grad, const at::Tensor& offset, c10::SymIntArrayRef input_size,
                       const SavedWindow& w) {
  if (w.is_fractional()) return fractional_max_pool_backward(grad, offset, w.fractional_samples, input_size, w.kernel);
  if (w.is_adaptive()) return adaptive_max_pool_backward(grad, offset, input_size, w.adaptive_output_size);
  return max_pool_backward(grad, offset, input_size, w.kernel, w.stride, w.padding, w.dilation);
}

at::Tensor gather_op(const at::Tensor& source, const at::Tensor& offset, const SavedWindow& w) {
  if (w.is_fractional()) return fractional_max_pool_gather(source, offset, w.fractional_samples, w.kernel);
  if (w.is_adaptive()) return adaptive_max_pool_gather(source, offset, w.adaptive_output_size);
  return max_pool_gather(source, offset, w.kernel, w.stride, w.padding, w.dilation);
}

// The gradient node of a forward that records one: the output's gradient
// scattered to each window's argmax. What MaxPoolFunction's node does, built
// directly (make_gradient_node) since a training step pays this on every
// call; the Function remains the path under torch.func transforms and
// forward-mode tangents.
struct MaxPoolBackwardNode final : GradientNode<MaxPoolBackwardNode> {
  torch::autograd::SavedVariable window_offset;
  std::vector<c10::SymInt> input_size;
  SavedWindow window;

  std::string name() const override { return "pooling_ext::MaxPoolBackward"; }
  template <class Visit>
  void for_each_field(Visit&& visit) {
    visit(SavedField{window_offset, /*is_output=*/false});
    visit(input_size);
    visit(window.kernel), visit(window.stride), visit(window.padding), visit(window.dilation);
    visit(window.adaptive_output_size), visit(window.fractional_output_size), visit(window.fractional_samples);
  }
  variable_list backward(const variable_list& grads, const std::vector<bool>& needs_grad) {
    return {max_backward(grads[0], window_offset.unpack(), input_size, window)};
  }
};

std::tuple<at::Tensor, at::Tensor> forward_recording_gradient(const at::Tensor& self, const SavedWindow& w,
                                                              bool ceil_mode) {
  auto result = [&] {
    at::AutoDispatchBelowADInplaceOrView guard;
    return forward_op(self, w, ceil_mode);
  }();
  auto node = make_gradient_node<MaxPoolBackwardNode>();
  node->window_offset = torch::autograd::SavedVariable(std::get<1>(result), /*is_output=*/false);
  node->input_size = self.sym_sizes().vec();
  node->window = w;
  record_gradient_node(node, std::get<0>(result), self);
  return result;
}

}  // namespace

std::tuple<at::Tensor, at::Tensor> max_forward(const at::Tensor& self, const SavedWindow& w, bool ceil_mode) {
  if (transform_or_tangent_active(self)) {
    const variable_list out = MaxPoolFunction::apply(self, w, ceil_mode);
    return {out[0], out[1]};
  }
  if (records_gradient(self)) return forward_recording_gradient(self, w, ceil_mode);
  at::AutoDispatchBelowADInplaceOrView guard;
  return forward_op(self, w, ceil_mode);
}

at::Tensor max_backward(const at::Tensor& grad_output, const at::Tensor& window_offset, c10::SymIntArrayRef input_size,
                        const SavedWindow& w) {
  if (needs_autograd_function(grad_output)) {
    return MaxPoolBackwardFunction::apply(grad_output, window_offset, input_size, w)[0];
  }
  at::AutoDispatchBelowADInplaceOrView guard;
  return backward_op(grad_output, window_offset, input_size, w);
}

variable_list MaxPoolFunction::forward(AutogradContext* ctx, const at::Tensor& self, const SavedWindow& w,
                                       bool ceil_mode) {
  at::AutoDispatchBelowADInplaceOrView guard;
  auto [output, window_offset] = forward_op(self, w, ceil_mode);
  ctx->save_for_backward({window_offset});
  save_sizes(ctx, "input_size", self.sym_sizes());
  w.save(ctx);
  ctx->mark_non_differentiable({window_offset});
  // The offset never has a gradient: without this, every backward would
  // allocate and zero a tensor of its size (a byte per output) to pass in.
  ctx->set_materialize_grads(false);
  return {output, window_offset};
}

variable_list MaxPoolFunction::backward(AutogradContext* ctx, variable_list grads) {
  if (!grads[0].defined()) return {at::Tensor(), at::Tensor(), at::Tensor()};
  const at::Tensor offset = ctx->get_saved_variables()[0];
  const std::vector<c10::SymInt> size = load_sizes(ctx, "input_size");
  return {max_backward(grads[0], offset, size, SavedWindow::load(ctx)), at::Tensor(), at::Tensor()};
}

variable_list MaxPoolBackwardFunction::forward(AutogradContext* ctx, const at::Tensor& grad_output,
                                               const at::Tensor& window_offset, c10::SymIntArrayRef input_size,
                                               const SavedWindow& w) {
  at::AutoDispatchBelowADInplaceOrView guard;
  ctx->save_for_backward({window_offset});
  w.save(ctx);
  return {backward_op(grad_output, window_offset, input_size, w)};
}

// d(grad_input)/d(grad_output) is the gather at the argmax.
variable_list MaxPoolBackwardFunction::backward(AutogradContext* ctx, variable_list grads) {
  const at::Tensor offset = ctx->get_saved_variables()[0];
  return {MaxPoolGatherFunction::apply(grads[0], offset, SavedWindow::load(ctx))[0], at::Tensor(), at::Tensor(),
          at::Tensor()};
}

variable_list MaxPoolGatherFunction::forward(AutogradContext* ctx, const at::Tensor& source,
                                             const at::Tensor& window_offset, const SavedWindow& w) {
  at::AutoDispatchBelowADInplaceOrView guard;
  ctx->save_for_backward({window_offset});
  save_sizes(ctx, "source_size", source.sym_sizes());
  w.save(ctx);
  return {gather_op(source, window_offset, w)};
}

// d(gather)/d(source) is the backward's scatter.
variable_list MaxPoolGatherFunction::backward(AutogradContext* ctx, variable_list grads) {
  const at::Tensor offset = ctx->get_saved_variables()[0];
  const std::vector<c10::SymInt> size = load_sizes(ctx, "source_size");
  return {max_backward(grads[0], offset, size, SavedWindow::load(ctx)), at::Tensor(), at::Tensor()};
}

namespace autograd {

std::tuple<at::Tensor, at::Tensor> max_pool_forward(const at::Tensor& self, at::IntArrayRef kernel_size,
                                                    at::IntArrayRef stride, at::IntArrayRef padding,
                                                    at::IntArrayRef dilation, bool ceil_mode) {
  return max_forward(self, SavedWindow::fixed(kernel_size, stride, padding, dilation), ceil_mode);
}

at::Tensor max_pool_values(const at::Tensor& self, at::IntArrayRef kernel_size, at::IntArrayRef stride,
                           at::IntArrayRef padding, at::IntArrayRef dilation, bool ceil_mode) {
  if (needs_autograd_function(self)) {
    return std::get<0>(max_forward(self, SavedWindow::fixed(kernel_size, stride, padding, dilation), ceil_mode));
  }
  at::AutoDispatchBelowADInplaceOrView guard;
  return pooling_ext::max_pool_values(self, kernel_size, stride, padding, dilation, ceil_mode);
}

at::Tensor max_pool_backward(const at::Tensor& grad_output, const at::Tensor& window_offset,
                             c10::SymIntArrayRef input_size, at::IntArrayRef kernel_size, at::IntArrayRef stride,
                             at::IntArrayRef padding, at::IntArrayRef dilation) {
  return max_backward(grad_output, window_offset, input_size,
                      SavedWindow::fixed(kernel_size, stride, padding, dilation));
}

at::Tensor max_pool_gather(const at::Tensor& source, const at::Tensor& window_offset, at::IntArrayRef kernel_size,
                           at::IntArrayRef stride, at::IntArrayRef padding, at::IntArrayRef dilation) {
  return MaxPoolGatherFunction::apply(source, window_offset,
                                      SavedWindow::fixed(kernel_size, stride, padding, dilation))[0];
}

std::tuple<at::Tensor, at::Tensor> adaptive_max_pool_forward(const at::Tensor& self, at::IntArrayRef output_size) {
  return max_forward(self, SavedWindow::adaptive(output_size), false);
}

at::Tensor adaptive_max_pool_values(const at::Tensor& self, at::IntArrayRef output_size) {
  if (needs_autograd_function(self)) return std::get<0>(max_forward(self, SavedWindow::adaptive(output_size), false));
  at::AutoDispatchBelowADInplaceOrView guard;
  return pooling_ext::adaptive_max_pool_values(self, output_size);
}

at::Tensor adaptive_max_pool_backward(const at::Tensor& grad_output, const at::Tensor& window_offset,
                                      c10::SymIntArrayRef input_size, at::IntArrayRef output_size) {
  return max_backward(grad_output, window_offset, input_size, SavedWindow::adaptive(output_size));
}

at::Tensor adaptive_max_pool_gather(const at::Tensor& source, const at::Tensor& window_offset,
                                    at::IntArrayRef output_size) {
  return MaxPoolGatherFunction::apply(source, window_offset, SavedWindow::adaptive(output_size))[0];
}

}  // namespace autograd
}  // namespace pooling_ext
