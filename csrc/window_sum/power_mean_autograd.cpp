// Autograd of the power-mean ops, LP pooling and GeM, in C++ so libtorch
// users get gradients too. First derivatives are the fused backward kernels,
// which need only the input and the output (and p): that is all the forward
// saves. The backward ops are differentiable too: in double backward only,
// they differentiate a composite of differentiable tensor ops equal to the
// backward kernel, written with power_mean.h's formulas on tensors.
#include <torch/autograd.h>

#include <cmath>
#include <functional>

#include "../common/autograd_support.h"
#include "../ops.h"
#include "power_mean.h"
#include "window_sum.h"

namespace pooling_ext {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// The gradients of sum(grads[k] * outputs[k]) with respect to `inputs`, where
// `composite(inputs)` computes the outputs with differentiable ops. Inputs
// that carry a graph stay connected to it when a graph is being built
// (create_graph), so higher derivatives flow through.
variable_list differentiate_composite(const std::function<variable_list(const variable_list&)>& composite,
                                      const variable_list& inputs, const variable_list& grads) {
  const bool create_graph = at::GradMode::is_enabled();
  const at::AutoGradMode enable_grad(true);
  variable_list leaves;
  for (const at::Tensor& t : inputs) {
    leaves.push_back(create_graph && t.requires_grad() ? t : t.detach().requires_grad_(true));
  }
  const variable_list outputs = composite(leaves);
  variable_list used_outputs, used_grads;
  for (size_t k = 0; k < outputs.size(); ++k) {
    if (grads[k].defined() && outputs[k].requires_grad()) {
      used_outputs.push_back(outputs[k]);
      used_grads.push_back(grads[k]);
    }
  }
  if (used_outputs.empty()) return variable_list(inputs.size());
  return torch::autograd::grad(used_outputs, leaves, used_grads, /*retain_graph=*/create_graph, create_graph,
                               /*allow_unused=*/true);
}

// y where y != 0, else 1: keeps powers of y finite on the branch torch.where discards.
at::Tensor nonzero_or_one(const at::Tensor& y) { return at::where(y != 0, y, at::ones_like(y)); }

// ---------------------------------------------------------------- LP pooling

struct LpWindow {
  double norm_type;
  std::vector<int64_t> kernel, stride;
  bool ceil_mode = false;
  bool true_norm = false;

  void save(AutogradContext* ctx) const {
    ctx->saved_data["norm_type"] = norm_type;
    const int64_t flags[] = {ceil_mode, true_norm};
    save_int_lists(ctx, "window", {kernel, stride, flags});
  }
  static LpWindow load(AutogradContext* ctx) {
    LpWindow w{ctx->saved_data["norm_type"].toDouble()};
    std::vector<int64_t> flags;
    load_int_lists(ctx, "window", {&w.kernel, &w.stride, &flags});
    w.ceil_mode = flags[0] != 0;
    w.true_norm = flags[1] != 0;
    return w;
  }
  std::vector<int64_t> zero_padding() const { return std::vector<int64_t>(kernel.size(), 0); }
  std::vector<int64_t> unit_dilation() const { return std::vector<int64_t>(kernel.size(), 1); }
};

// p = +-inf: sign(x) * max pooling's backward of grad at the window's extreme |x|.
at::Tensor extreme_abs_backward_composite(const at::Tensor& grad, const at::Tensor& x, const LpWindow& w) {
  const at::Tensor magnitude = w.norm_type > 0 ? x.abs() : -x.abs();
  const at::Tensor offset = std::get<1>(pooling_ext::max_pool_forward(
      magnitude.detach(), w.kernel, w.stride, w.zero_padding(), w.unit_dilation(), w.ceil_mode));
  return x.sign() * pooling_ext::max_pool_backward(grad, offset, x.sym_sizes(), w.kernel, w.stride, w.zero_padding(),
                                                   w.unit_dilation());
}

// lp_pool's backward kernel as differentiable ops. dy/dx's factor
// (b(x) / y)^(p-1) * b'(x) splits into y^(1-p), per output, and
// power_mean_input_factor(b(x)), per input; S, the adjoint of the window sum
// (average pooling's backward with divisor 1), carries the first to the inputs:
//   grad_x = power_mean_input_factor(b(x)) * S(grad * numerator / count * y^(1-p)),  zero where y = 0.
at::Tensor lp_pool_backward_composite(const at::Tensor& grad, const at::Tensor& x, const at::Tensor& y,
                                      const LpWindow& w) {
  if (std::isinf(w.norm_type)) return extreme_abs_backward_composite(grad, x, w);
  const PowerBase kind = w.true_norm ? PowerBase::kAbsolute : PowerBase::kSigned;
  const std::vector<int64_t> pad = w.zero_padding();
  const at::Tensor count =
      pooling_ext::avg_pool_forward(at::ones_like(x), w.kernel, w.stride, pad, w.ceil_mode, true, 1);
  double numerator = 1.0;
  for (int64_t k : w.kernel) numerator *= static_cast<double>(k);
  const at::Tensor per_output = at::where(
      y != 0, grad * count.reciprocal() * numerator * power(nonzero_or_one(y), 1.0 - w.norm_type), at::zeros_like(y));
  const at::Tensor spread =
      pooling_ext::avg_pool_backward(per_output, x.sym_sizes(), w.kernel, w.stride, pad, w.ceil_mode, true, 1);
  const at::Tensor factor =
      power_mean_input_factor(power_base(kind, x, 0.0), power_base_slope(kind, x, 0.0), w.norm_type);
  return factor * spread;
}

class LpPoolBackwardFunction : public torch::autograd::Function<LpPoolBackwardFunction> {
 public:
  static variable_list forward(AutogradContext* ctx, const at::Tensor& grad, const at::Tensor& x, const at::Tensor& y,
                               const LpWindow& w) {
    at::AutoDispatchBelowADInplaceOrView guard;
    ctx->save_for_backward({grad, x, y});
    w.save(ctx);
    return {pooling_ext::lp_pool_backward(grad, x, y, w.norm_type, w.kernel, w.stride, w.ceil_mode, w.true_norm)};
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const LpWindow w = LpWindow::load(ctx);
    variable_list result = differentiate_composite(
        [&](const variable_list& in) { return variable_list{lp_pool_backward_composite(in[0], in[1], in[2], w)}; },
        ctx->get_saved_variables(), {grads[0]});
    result.push_back(at::Tensor());
    return result;
  }
};

at::Tensor lp_backward(const at::Tensor& grad, const at::Tensor& x, const at::Tensor& y, const LpWindow& w);

class LpPoolFunction : public torch::autograd::Function<LpPoolFunction> {
 public:
  static variable_list forward(AutogradContext* ctx, const at::Tensor& self, const LpWindow& w) {
    at::AutoDispatchBelowADInplaceOrView guard;
    at::Tensor output = pooling_ext::lp_pool_forward(self, w.norm_type, w.kernel, w.stride, w.ceil_mode, w.true_norm);
    ctx->save_for_backward({self, output});
    w.save(ctx);
    return {output};
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const variable_list saved = ctx->get_saved_variables();
    return {lp_backward(grads[0], saved[0], saved[1], LpWindow::load(ctx)), at::Tensor()};
  }
};

// The gradient node of an LP pooling that records one: what LpPoolFunction's
// node does, built directly (make_gradient_node) since a training step pays
// this on every call; the Function remains the path under torch.func
// transforms and forward-mode tangents.
struct LpPoolBackwardNode final : GradientNode<LpPoolBackwardNode> {
  torch::autograd::SavedVariable input, output;
  LpWindow window;

  std::string name() const override { return "pooling_ext::LpPoolBackward"; }
  template <class Visit>
  void for_each_field(Visit&& visit) {
    visit(SavedField{input, /*is_output=*/false}), visit(SavedField{output, /*is_output=*/true});
    visit(window.norm_type), visit(window.kernel), visit(window.stride), visit(window.ceil_mode),
        visit(window.true_norm);
  }
  variable_list backward(const variable_list& grads, const std::vector<bool>& needs_grad) {
    return {lp_backward(grads[0], input.unpack(), output.unpack(owning_pointer(this)), window)};
  }
};

// The forwards: below the autograd key where nothing is recorded, with their
// gradient nodes where a gradient is, through the Functions under torch.func
// transforms and forward-mode tangents. The backwards likewise, through their
// Functions where their own graph is recorded (double backward).
at::Tensor lp_forward(const at::Tensor& self, const LpWindow& w) {
  if (transform_or_tangent_active(self)) return LpPoolFunction::apply(self, w)[0];
  at::Tensor output = [&] {
    at::AutoDispatchBelowADInplaceOrView guard;
    return pooling_ext::lp_pool_forward(self, w.norm_type, w.kernel, w.stride, w.ceil_mode, w.true_norm);
  }();
  if (records_gradient(self)) {
    auto node = make_gradient_node<LpPoolBackwardNode>();
    node->input = torch::autograd::SavedVariable(self, /*is_output=*/false);
    node->window = w;
    record_gradient_node(node, output, self);
    node->output = torch::autograd::SavedVariable(output, /*is_output=*/true);  // after: it carries the node
  }
  return output;
}

at::Tensor lp_backward(const at::Tensor& grad, const at::Tensor& x, const at::Tensor& y, const LpWindow& w) {
  if (needs_autograd_function(grad, x, y)) return LpPoolBackwardFunction::apply(grad, x, y, w)[0];
  at::AutoDispatchBelowADInplaceOrView guard;
  return pooling_ext::lp_pool_backward(grad, x, y, w.norm_type, w.kernel, w.stride, w.ceil_mode, w.true_norm);
}

// ---------------------------------------------------------------- GeM

// GeM's backward kernel as differentiable ops. With u = b(x) / y (b: the
// clamp at eps) over planes of n elements:
//   grad_x = grad / n * power_mean_input_factor(u),   grad_p = sum grad * y / (p n) * sum_plane u^p ln u.
variable_list gem_backward_composite(const at::Tensor& grad, const at::Tensor& x, const at::Tensor& y,
                                     const at::Tensor& p, double eps) {
  std::vector<int64_t> spatial;
  double plane = 1.0;
  for (int64_t d = 2; d < x.dim(); ++d) {
    spatial.push_back(d);
    plane *= static_cast<double>(x.size(d));
  }
  const at::Tensor nonzero = y != 0;
  const at::Tensor u = power_base(PowerBase::kClampMin, x, eps) / nonzero_or_one(y);
  const at::Tensor exponent = p.reshape({});
  const at::Tensor slope = power_base_slope(PowerBase::kClampMin, x, eps);
  const at::Tensor grad_x =
      at::where(nonzero, grad / plane * power_mean_input_factor(u, slope, exponent), at::zeros_like(grad));
  const auto log = [](const at::Tensor& v) { return v.log(); };
  const at::Tensor terms = power_mean_exponent_term(u, exponent, log);
  const at::Tensor per_output =
      at::where(nonzero, grad * y / (exponent * plane) * terms.sum(spatial, /*keepdim=*/true), at::zeros_like(y));
  return {grad_x, per_output.sum().to(p.scalar_type()).reshape(p.sizes())};
}

class GemBackwardFunction : public torch::autograd::Function<GemBackwardFunction> {
 public:
  static variable_list forward(AutogradContext* ctx, const at::Tensor& grad, const at::Tensor& x, const at::Tensor& y,
                               const at::Tensor& p, double eps, bool p_requires_grad) {
    at::AutoDispatchBelowADInplaceOrView guard;
    ctx->save_for_backward({grad, x, y, p});
    ctx->saved_data["eps"] = eps;
    auto [grad_x, grad_p] = pooling_ext::gem_backward(grad, x, y, p, eps, p_requires_grad);
    return {grad_x, grad_p};
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const double eps = ctx->saved_data["eps"].toDouble();
    variable_list result = differentiate_composite(
        [&](const variable_list& in) { return gem_backward_composite(in[0], in[1], in[2], in[3], eps); },
        ctx->get_saved_variables(), {grads[0], grads[1]});
    result.push_back(at::Tensor());
    result.push_back(at::Tensor());
    return result;
  }
};

std::tuple<at::Tensor, at::Tensor> gem_backward_of(const at::Tensor& grad, const at::Tensor& x, const at::Tensor& y,
                                                   const at::Tensor& p, double eps, bool p_requires_grad);

class GemFunction : public torch::autograd::Function<GemFunction> {
 public:
  static variable_list forward(AutogradContext* ctx, const at::Tensor& self, const at::Tensor& p, double eps) {
    at::AutoDispatchBelowADInplaceOrView guard;
    at::Tensor output = pooling_ext::gem_forward(self, p, eps);
    ctx->save_for_backward({self, p, output});
    ctx->saved_data["eps"] = eps;
    return {output};
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const variable_list saved = ctx->get_saved_variables();
    const double eps = ctx->saved_data["eps"].toDouble();
    const bool p_requires_grad = ctx->needs_input_grad(1);
    auto [grad_x, grad_p] = gem_backward_of(grads[0], saved[0], saved[2], saved[1], eps, p_requires_grad);
    return {grad_x, p_requires_grad ? grad_p : at::Tensor(), at::Tensor()};
  }
};

// As LpPoolBackwardNode, for GeM, whose exponent p may take a gradient too.
struct GemBackwardNode final : GradientNode<GemBackwardNode> {
  torch::autograd::SavedVariable input, p, output;
  double eps = 0;

  std::string name() const override { return "pooling_ext::GemBackward"; }
  template <class Visit>
  void for_each_field(Visit&& visit) {
    visit(SavedField{input, /*is_output=*/false}), visit(SavedField{p, /*is_output=*/false});
    visit(SavedField{output, /*is_output=*/true}), visit(eps);
  }
  variable_list backward(const variable_list& grads, const std::vector<bool>& needs_grad) {
    auto [grad_x, grad_p] =
        gem_backward_of(grads[0], input.unpack(), output.unpack(owning_pointer(this)), p.unpack(), eps, needs_grad[1]);
    return {needs_grad[0] ? grad_x : at::Tensor(), needs_grad[1] ? grad_p : at::Tensor()};
  }
};

// As lp_forward, for GeM.
at::Tensor gem_forward_of(const at::Tensor& self, const at::Tensor& p, double eps) {
  if (transform_or_tangent_active(self, p)) return GemFunction::apply(self, p, eps)[0];
  at::Tensor output = [&] {
    at::AutoDispatchBelowADInplaceOrView guard;
    return pooling_ext::gem_forward(self, p, eps);
  }();
  if (records_gradient(self) || records_gradient(p)) {
    auto node = make_gradient_node<GemBackwardNode>();
    node->input = torch::autograd::SavedVariable(self, /*is_output=*/false);
    node->p = torch::autograd::SavedVariable(p, /*is_output=*/false);
    node->eps = eps;
    record_gradient_node(node, output, self, p);
    node->output = torch::autograd::SavedVariable(output, /*is_output=*/true);  // after: it carries the node
  }
  return output;
}

std::tuple<at::Tensor, at::Tensor> gem_backward_of(const at::Tensor& grad, const at::Tensor& x, const at::Tensor& y,
                                                   const at::Tensor& p, double eps, bool p_requires_grad) {
  if (needs_autograd_function(grad, x, y, p)) {
    const variable_list g = GemBackwardFunction::apply(grad, x, y, p, eps, p_requires_grad);
    return {g[0], g[1]};
  }
  at::AutoDispatchBelowADInplaceOrView guard;
  return pooling_ext::gem_backward(grad, x, y, p, eps, p_requires_grad);
}

}  // namespace

namespace autograd {

at::Tensor lp_pool_forward(const at::Tensor& self, double norm_type, at::IntArrayRef kernel_size,
                           at::IntArrayRef stride, bool ceil_mode, bool true_norm) {
  return lp_forward(self, LpWindow{norm_type, kernel_size.vec(), stride.vec(), ceil_mode, true_norm});
}

at::Tensor lp_pool_backward(const at::Tensor& grad_output, const at::Tensor& self, const at::Tensor& output,
                            double norm_type, at::IntArrayRef kernel_size, at::IntArrayRef stride, bool ceil_mode,
                            bool true_norm) {
  return lp_backward(grad_output, self, output,
                     LpWindow{norm_type, kernel_size.vec(), stride.vec(), ceil_mode, true_norm});
}

at::Tensor gem_forward(const at::Tensor& self, const at::Tensor& p, double eps) { return gem_forward_of(self, p, eps); }

std::tuple<at::Tensor, at::Tensor> gem_backward(const at::Tensor& grad_output, const at::Tensor& self,
                                                const at::Tensor& output, const at::Tensor& p, double eps,
                                                bool p_requires_grad) {
  return gem_backward_of(grad_output, self, output, p, eps, p_requires_grad);
}

}  // namespace autograd
}  // namespace pooling_ext
