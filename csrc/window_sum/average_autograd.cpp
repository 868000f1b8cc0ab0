// Autograd of average pooling (fixed and adaptive windows), in C++ so
// libtorch users get gradients too. Nothing but sizes is saved: the gradient
// of an average does not depend on the input. The backward is linear in
// grad_output, so its derivative is the forward: gradients of any order.
#include <torch/autograd.h>

#include "../common/autograd_support.h"
#include "../common/shape_rules.h"
#include "../ops.h"
#include "window_sum.h"

namespace pooling_ext {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// The gradient takes the input's layout, as torch's (a no-op unless
// grad_output came in another layout than the output).
void save_input_layout(AutogradContext* ctx, const at::Tensor& self, int dims) {
  save_sizes(ctx, "input_size", self.sym_sizes());
  ctx->saved_data["input_format"] = static_cast<int64_t>(pooling_memory_format(self, dims));
}

at::Tensor in_input_layout(AutogradContext* ctx, const at::Tensor& grad_input) {
  return grad_input.contiguous(static_cast<at::MemoryFormat>(ctx->saved_data["input_format"].toInt()));
}

struct AvgWindow {
  std::vector<int64_t> kernel, stride, padding;
  bool ceil_mode = false;
  bool count_include_pad = true;
  std::optional<int64_t> divisor_override;

  void save(AutogradContext* ctx) const {
    const int64_t flags[] = {ceil_mode, count_include_pad, divisor_override.has_value(), divisor_override.value_or(0)};
    save_int_lists(ctx, "window", {kernel, stride, padding, flags});
  }
  static AvgWindow load(AutogradContext* ctx) {
    AvgWindow w;
    std::vector<int64_t> flags;
    load_int_lists(ctx, "window", {&w.kernel, &w.stride, &w.padding, &flags});
    w.ceil_mode = flags[0] != 0;
    w.count_include_pad = flags[1] != 0;
    if (flags[2] != 0) w.divisor_override = flags[3];
    return w;
  }
};

class AvgPoolFunction : public torch::autograd::Function<AvgPoolFunction> {
 public:
  static variable_list forward(AutogradContext* ctx, const at::Tensor& self, const AvgWindow& w);
  static variable_list backward(AutogradContext* ctx, variable_list grads);
};

at::Tensor average_forward(const at::Tensor& self, const AvgWindow& w);

class AvgPoolBackwardFunction : public torch::autograd::Function<AvgPoolBackwardFunction> {
 public:
  static variable_list forward(AutogradContext* ctx, const at::Tensor& grad_output, c10::SymIntArrayRef input_size,
                               const AvgWindow& w) {
    at::AutoDispatchBelowADInplaceOrView guard;
    w.save(ctx);
    return {pooling_ext::avg_pool_backward(grad_output, input_size, w.kernel, w.stride, w.padding, w.ceil_mode,
                                           w.count_include_pad, w.divisor_override)};
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    return {average_forward(grads[0], AvgWindow::load(ctx)), at::Tensor(), at::Tensor()};
  }
};

at::Tensor average_backward(const at::Tensor& grad_output, c10::SymIntArrayRef input_size, const AvgWindow& w);

// The gradient node of a forward that records one: what AvgPoolFunction's
// node does, built directly (make_gradient_node) since a training step pays
// this on every call; the Function remains the path under torch.func
// transforms and forward-mode tangents.
struct AvgPoolBackwardNode final : GradientNode<AvgPoolBackwardNode> {
  std::vector<c10::SymInt> input_size;
  at::MemoryFormat input_format = at::MemoryFormat::Contiguous;
  AvgWindow window;

  std::string name() const override { return "pooling_ext::AvgPoolBackward"; }
  template <class Visit>
  void for_each_field(Visit&& visit) {
    visit(input_size), visit(input_format);
    visit(window.kernel), visit(window.stride), visit(window.padding);
    visit(window.ceil_mode), visit(window.count_include_pad), visit(window.divisor_override);
  }
  variable_list backward(const variable_list& grads, const std::vector<bool>& needs_grad) {
    return {average_backward(grads[0], input_size, window).contiguous(input_format)};
  }
};

// The forward: below the autograd key where nothing is recorded, with its
// gradient node where a gradient is, through the Function under torch.func
// transforms and forward-mode tangents. The backward likewise, through its
// Function where its own graph is recorded (double backward).
at::Tensor average_forward(const at::Tensor& self, const AvgWindow& w) {
  if (transform_or_tangent_active(self)) return AvgPoolFunction::apply(self, w)[0];
  at::Tensor output = [&] {
    at::AutoDispatchBelowADInplaceOrView guard;
    return pooling_ext::avg_pool_forward(self, w.kernel, w.stride, w.padding, w.ceil_mode, w.count_include_pad,
                                         w.divisor_override);
  }();
  if (records_gradient(self)) {
    auto node = make_gradient_node<AvgPoolBackwardNode>();
    node->input_size = self.sym_sizes().vec();
    node->input_format = pooling_memory_format(self, static_cast<int>(w.kernel.size()));
    node->window = w;
    record_gradient_node(node, output, self);
  }
  return output;
}

at::Tensor average_backward(const at::Tensor& grad_output, c10::SymIntArrayRef input_size, const AvgWindow& w) {
  if (needs_autograd_function(grad_output)) return AvgPoolBackwardFunction::apply(grad_output, input_size, w)[0];
  at::AutoDispatchBelowADInplaceOrView guard;
  return pooling_ext::avg_pool_backward(grad_output, input_size, w.kernel, w.stride, w.padding, w.ceil_mode,
                                        w.count_include_pad, w.divisor_override);
}

variable_list AvgPoolFunction::forward(AutogradContext* ctx, const at::Tensor& self, const AvgWindow& w) {
  at::AutoDispatchBelowADInplaceOrView guard;
  save_input_layout(ctx, self, static_cast<int>(w.kernel.size()));
  w.save(ctx);
  return {pooling_ext::avg_pool_forward(self, w.kernel, w.stride, w.padding, w.ceil_mode, w.count_include_pad,
                                        w.divisor_override)};
}

variable_list AvgPoolFunction::backward(AutogradContext* ctx, variable_list grads) {
  const std::vector<c10::SymInt> size = load_sizes(ctx, "input_size");
  return {in_input_layout(ctx, average_backward(grads[0], size, AvgWindow::load(ctx))), at::Tensor()};
}

class AdaptiveAvgPoolFunction : public torch::autograd::Function<AdaptiveAvgPoolFunction> {
 public:
  static variable_list forward(AutogradContext* ctx, const at::Tensor& self, at::IntArrayRef output_size);
  static variable_list backward(AutogradContext* ctx, variable_list grads);
};

at::Tensor adaptive_average_forward(const at::Tensor& self, at::IntArrayRef output_size);

class AdaptiveAvgPoolBackwardFunction : public torch::autograd::Function<AdaptiveAvgPoolBackwardFunction> {
 public:
  static variable_list forward(AutogradContext* ctx, const at::Tensor& grad_output, c10::SymIntArrayRef input_size,
                               at::IntArrayRef output_size) {
    at::AutoDispatchBelowADInplaceOrView guard;
    ctx->saved_data["output_size"] = output_size.vec();
    return {pooling_ext::adaptive_avg_pool_backward(grad_output, input_size, output_size)};
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const std::vector<int64_t> output_size = ctx->saved_data["output_size"].toIntVector();
    return {adaptive_average_forward(grads[0], output_size), at::Tensor(), at::Tensor()};
  }
};

at::Tensor adaptive_average_backward(const at::Tensor& grad_output, c10::SymIntArrayRef input_size,
                                     at::IntArrayRef output_size);

// As AvgPoolBackwardNode, for adaptive windows.
struct AdaptiveAvgPoolBackwardNode final : GradientNode<AdaptiveAvgPoolBackwardNode> {
  std::vector<c10::SymInt> input_size;
  at::MemoryFormat input_format = at::MemoryFormat::Contiguous;
  std::vector<int64_t> output_size;

  std::string name() const override { return "pooling_ext::AdaptiveAvgPoolBackward"; }
  template <class Visit>
  void for_each_field(Visit&& visit) {
    visit(input_size), visit(input_format), visit(output_size);
  }
  variable_list backward(const variable_list& grads, const std::vector<bool>& needs_grad) {
    return {adaptive_average_backward(grads[0], input_size, output_size).contiguous(input_format)};
  }
};

// As average_forward, for adaptive windows.
at::Tensor adaptive_average_forward(const at::Tensor& self, at::IntArrayRef output_size) {
  if (transform_or_tangent_active(self)) return AdaptiveAvgPoolFunction::apply(self, output_size)[0];
  at::Tensor output = [&] {
    at::AutoDispatchBelowADInplaceOrView guard;
    return pooling_ext::adaptive_avg_pool_forward(self, output_size);
  }();
  if (records_gradient(self)) {
    auto node = make_gradient_node<AdaptiveAvgPoolBackwardNode>();
    node->input_size = self.sym_sizes().vec();
    node->input_format = pooling_memory_format(self, static_cast<int>(output_size.size()));
    node->output_size = output_size.vec();
    record_gradient_node(node, output, self);
  }
  return output;
}

at::Tensor adaptive_average_backward(const at::Tensor& grad_output, c10::SymIntArrayRef input_size,
                                     at::IntArrayRef output_size) {
  if (needs_autograd_function(grad_output)) {
    return AdaptiveAvgPoolBackwardFunction::apply(grad_output, input_size, output_size)[0];
  }
  at::AutoDispatchBelowADInplaceOrView guard;
  return pooling_ext::adaptive_avg_pool_backward(grad_output, input_size, output_size);
}

variable_list AdaptiveAvgPoolFunction::forward(AutogradContext* ctx, const at::Tensor& self,
                                               at::IntArrayRef output_size) {
  at::AutoDispatchBelowADInplaceOrView guard;
  save_input_layout(ctx, self, static_cast<int>(output_size.size()));
  ctx->saved_data["output_size"] = output_size.vec();
  return {pooling_ext::adaptive_avg_pool_forward(self, output_size)};
}

variable_list AdaptiveAvgPoolFunction::backward(AutogradContext* ctx, variable_list grads) {
  const std::vector<c10::SymInt> size = load_sizes(ctx, "input_size");
  const std::vector<int64_t> output_size = ctx->saved_data["output_size"].toIntVector();
  return {in_input_layout(ctx, adaptive_average_backward(grads[0], size, output_size)), at::Tensor()};
}

}  // namespace

namespace autograd {

at::Tensor avg_pool_forward(const at::Tensor& self, at::IntArrayRef kernel_size, at::IntArrayRef stride,
                            at::IntArrayRef padding, bool ceil_mode, bool count_include_pad,
                            std::optional<int64_t> divisor_override) {
  return average_forward(
      self, AvgWindow{kernel_size.vec(), stride.vec(), padding.vec(), ceil_mode, count_include_pad, divisor_override});
}

at::Tensor avg_pool_backward(const at::Tensor& grad_output, c10::SymIntArrayRef input_size, at::IntArrayRef kernel_size,
                             at::IntArrayRef stride, at::IntArrayRef padding, bool ceil_mode, bool count_include_pad,
                             std::optional<int64_t> divisor_override) {
  return average_backward(
      grad_output, input_size,
      AvgWindow{kernel_size.vec(), stride.vec(), padding.vec(), ceil_mode, count_include_pad, divisor_override});
}

at::Tensor adaptive_avg_pool_forward(const at::Tensor& self, at::IntArrayRef output_size) {
  return adaptive_average_forward(self, output_size);
}

at::Tensor adaptive_avg_pool_backward(const at::Tensor& grad_output, c10::SymIntArrayRef input_size,
                                      at::IntArrayRef output_size) {
  return adaptive_average_backward(grad_output, input_size, output_size);
}

}  // namespace autograd
}  // namespace pooling_ext
