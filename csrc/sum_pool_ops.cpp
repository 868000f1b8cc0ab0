// Meta kernels, autograd and the C++ API of the average / LP / GeM ops (their
// schemas are defined with the others in ops.cpp).
//
// First derivatives are the fused backward kernels. The backward ops are
// differentiable too: average pooling's backward is linear (its derivative
// is the forward), and LP / GeM differentiate, in double backward only, a
// composite of differentiable ops equal to their backward kernel.
#include <torch/autograd.h>
#include <torch/library.h>

#include <cmath>
#include <functional>

#include "autograd_support.h"
#include "dispatch_call.h"
#include "ops.h"
#include "sum_pool_plan.h"

namespace pooling_ext {
namespace {

using torch::autograd::variable_list;

// ---------------------------------------------------------------- calls below autograd

at::Tensor call_avg_pool_forward(const at::Tensor& self, at::IntArrayRef k, at::IntArrayRef s, at::IntArrayRef p,
                                 bool ceil_mode, bool count_include_pad, std::optional<int64_t> divisor) {
  static auto op = op_handle<at::Tensor(const at::Tensor&, at::IntArrayRef, at::IntArrayRef, at::IntArrayRef, bool,
                                        bool, std::optional<int64_t>)>("pooling_ext::avg_pool_forward");
  return op.call(self, k, s, p, ceil_mode, count_include_pad, divisor);
}

at::Tensor call_avg_pool_backward(const at::Tensor& grad, c10::SymIntArrayRef input_size, at::IntArrayRef k,
                                  at::IntArrayRef s, at::IntArrayRef p, bool ceil_mode, bool count_include_pad,
                                  std::optional<int64_t> divisor) {
  static auto op = op_handle<at::Tensor(const at::Tensor&, c10::SymIntArrayRef, at::IntArrayRef, at::IntArrayRef,
                                        at::IntArrayRef, bool, bool, std::optional<int64_t>)>(
      "pooling_ext::avg_pool_backward");
  return op.call(grad, input_size, k, s, p, ceil_mode, count_include_pad, divisor);
}

at::Tensor call_adaptive_avg_pool_forward(const at::Tensor& self, at::IntArrayRef output_size) {
  static auto op =
      op_handle<at::Tensor(const at::Tensor&, at::IntArrayRef)>("pooling_ext::adaptive_avg_pool_forward");
  return op.call(self, output_size);
}

at::Tensor call_adaptive_avg_pool_backward(const at::Tensor& grad, c10::SymIntArrayRef input_size,
                                           at::IntArrayRef output_size) {
  static auto op = op_handle<at::Tensor(const at::Tensor&, c10::SymIntArrayRef, at::IntArrayRef)>(
      "pooling_ext::adaptive_avg_pool_backward");
  return op.call(grad, input_size, output_size);
}

at::Tensor call_lp_pool_forward(const at::Tensor& self, double norm_type, at::IntArrayRef k, at::IntArrayRef s,
                                bool ceil_mode, bool true_norm) {
  static auto op = op_handle<at::Tensor(const at::Tensor&, double, at::IntArrayRef, at::IntArrayRef, bool, bool)>(
      "pooling_ext::lp_pool_forward");
  return op.call(self, norm_type, k, s, ceil_mode, true_norm);
}

at::Tensor call_lp_pool_backward(const at::Tensor& grad, const at::Tensor& self, const at::Tensor& output,
                                 double norm_type, at::IntArrayRef k, at::IntArrayRef s, bool ceil_mode,
                                 bool true_norm) {
  static auto op = op_handle<at::Tensor(const at::Tensor&, const at::Tensor&, const at::Tensor&, double,
                                        at::IntArrayRef, at::IntArrayRef, bool, bool)>(
      "pooling_ext::lp_pool_backward");
  return op.call(grad, self, output, norm_type, k, s, ceil_mode, true_norm);
}

at::Tensor call_gem_forward(const at::Tensor& self, const at::Tensor& p, double eps) {
  static auto op =
      op_handle<at::Tensor(const at::Tensor&, const at::Tensor&, double)>("pooling_ext::gem_forward");
  return op.call(self, p, eps);
}

std::tuple<at::Tensor, at::Tensor> call_gem_backward(const at::Tensor& grad, const at::Tensor& self,
                                                     const at::Tensor& output, const at::Tensor& p, double eps,
                                                     bool p_requires_grad) {
  static auto op = op_handle<std::tuple<at::Tensor, at::Tensor>(const at::Tensor&, const at::Tensor&,
                                                                const at::Tensor&, const at::Tensor&, double, bool)>(
      "pooling_ext::gem_backward");
  return op.call(grad, self, output, p, eps, p_requires_grad);
}

// ---------------------------------------------------------------- Meta kernels

at::Tensor avg_pool_forward_meta(const at::Tensor& self, at::IntArrayRef kernel_size, at::IntArrayRef stride,
                                 at::IntArrayRef padding, bool ceil_mode, bool count_include_pad,
                                 std::optional<int64_t> divisor_override) {
  const WindowArgs args = check_avg_pool_args(kernel_size, stride, padding, divisor_override);
  check_avg_pool_dtype(args.op_name("avg_pool").c_str(), self);
  const auto out = pooled_shape<c10::SymInt>("avg_pool", self.sym_sizes(), args, ceil_mode);
  return at::empty_symint(out, self.options().memory_format(pooling_memory_format(self, args.dims)));
}

at::Tensor avg_pool_backward_meta(const at::Tensor& grad_output, c10::SymIntArrayRef input_size,
                                  at::IntArrayRef kernel_size, at::IntArrayRef stride, at::IntArrayRef padding,
                                  bool ceil_mode, bool count_include_pad, std::optional<int64_t> divisor_override) {
  const WindowArgs args = check_avg_pool_args(kernel_size, stride, padding, divisor_override);
  check_floating_dtype("avg_pool_backward", grad_output);
  return at::empty_symint(input_size,
                          grad_output.options().memory_format(pooling_memory_format(grad_output, args.dims)));
}

at::Tensor adaptive_avg_pool_forward_meta(const at::Tensor& self, at::IntArrayRef output_size) {
  const auto out = adaptive_pooled_shape("adaptive_avg_pool", self.sym_sizes(), output_size,
                                         adaptive_avg_empty_channels_allowed(output_size));
  const int dims = static_cast<int>(output_size.size());
  check_floating_dtype(("adaptive_avg_pool" + std::to_string(dims) + "d").c_str(), self);
  return at::empty_symint(out, self.options().memory_format(pooling_memory_format(self, dims)));
}

at::Tensor adaptive_avg_pool_backward_meta(const at::Tensor& grad_output, c10::SymIntArrayRef input_size,
                                           at::IntArrayRef output_size) {
  adaptive_pooled_shape("adaptive_avg_pool", input_size, output_size, adaptive_avg_empty_channels_allowed(output_size));
  check_floating_dtype("adaptive_avg_pool_backward", grad_output);
  const int dims = static_cast<int>(output_size.size());
  return at::empty_symint(input_size,
                          grad_output.options().memory_format(pooling_memory_format(grad_output, dims)));
}

at::Tensor lp_pool_forward_meta(const at::Tensor& self, double norm_type, at::IntArrayRef kernel_size,
                                at::IntArrayRef stride, bool ceil_mode, bool true_norm) {
  const WindowArgs args = check_lp_pool_args(norm_type, kernel_size, stride);
  check_floating_dtype(args.op_name("lp_pool").c_str(), self);
  const auto out = pooled_shape<c10::SymInt>("lp_pool", self.sym_sizes(), args, ceil_mode);
  return at::empty_symint(out, self.options().memory_format(pooling_memory_format(self, args.dims)));
}

at::Tensor lp_pool_backward_meta(const at::Tensor& grad_output, const at::Tensor& self, const at::Tensor& output,
                                 double norm_type, at::IntArrayRef kernel_size, at::IntArrayRef stride,
                                 bool ceil_mode, bool true_norm) {
  const WindowArgs args = check_lp_pool_args(norm_type, kernel_size, stride);
  check_floating_dtype("lp_pool_backward", grad_output);
  return at::empty_symint(self.sym_sizes(),
                          grad_output.options().memory_format(pooling_memory_format(self, args.dims)));
}

at::Tensor gem_forward_meta(const at::Tensor& self, const at::Tensor& p, double eps) {
  check_floating_dtype("gem", self);
  TORCH_CHECK(self.dim() >= 3 && self.dim() <= 5, "gem: input must be a batched (N, C, L), (N, C, H, W) or "
              "(N, C, D, H, W) tensor, but got input of shape ", self.sym_sizes());
  const auto out = gem_output_shape<c10::SymInt>(self.sym_sizes());
  return at::empty_symint(out, self.options().memory_format(pooling_memory_format(self, self.dim() - 2)));
}

std::tuple<at::Tensor, at::Tensor> gem_backward_meta(const at::Tensor& grad_output, const at::Tensor& self,
                                                     const at::Tensor& output, const at::Tensor& p, double eps,
                                                     bool p_requires_grad) {
  check_floating_dtype("gem_backward", grad_output);
  return {at::empty_symint(self.sym_sizes(),
                           grad_output.options().memory_format(pooling_memory_format(self, self.dim() - 2))),
          at::empty_like(p)};
}

// ---------------------------------------------------------------- double backward support

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

// ---------------------------------------------------------------- average pooling

struct AvgWindow {
  std::vector<int64_t> kernel, stride, padding;
  bool ceil_mode;
  bool count_include_pad;
  std::optional<int64_t> divisor_override;

  void save(AutogradContext* ctx) const {
    ctx->saved_data["kernel"] = kernel;
    ctx->saved_data["stride"] = stride;
    ctx->saved_data["padding"] = padding;
    ctx->saved_data["ceil_mode"] = ceil_mode;
    ctx->saved_data["count_include_pad"] = count_include_pad;
    ctx->saved_data["divisor_override"] = divisor_override.has_value() ? c10::IValue(*divisor_override) : c10::IValue();
  }
  static AvgWindow load(AutogradContext* ctx) {
    const c10::IValue& divisor = ctx->saved_data["divisor_override"];
    return AvgWindow{ctx->saved_data["kernel"].toIntVector(), ctx->saved_data["stride"].toIntVector(),
                     ctx->saved_data["padding"].toIntVector(), ctx->saved_data["ceil_mode"].toBool(),
                     ctx->saved_data["count_include_pad"].toBool(),
                     divisor.isNone() ? std::nullopt : std::optional<int64_t>(divisor.toInt())};
  }
};

// Saves nothing but sizes: average pooling's gradient does not depend on the input.
class AvgPoolFunction : public torch::autograd::Function<AvgPoolFunction> {
 public:
  static variable_list forward(AutogradContext* ctx, const at::Tensor& self, const AvgWindow& w);
  static variable_list backward(AutogradContext* ctx, variable_list grads);
};

class AvgPoolBackwardFunction : public torch::autograd::Function<AvgPoolBackwardFunction> {
 public:
  static variable_list forward(AutogradContext* ctx, const at::Tensor& grad_output, c10::SymIntArrayRef input_size,
                               const AvgWindow& w) {
    at::AutoDispatchBelowADInplaceOrView guard;
    w.save(ctx);
    return {call_avg_pool_backward(grad_output, input_size, w.kernel, w.stride, w.padding, w.ceil_mode,
                                   w.count_include_pad, w.divisor_override)};
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    // The backward is linear in grad_output; its adjoint is the forward.
    return {AvgPoolFunction::apply(grads[0], AvgWindow::load(ctx))[0], at::Tensor(), at::Tensor()};
  }
};

variable_list AvgPoolFunction::forward(AutogradContext* ctx, const at::Tensor& self, const AvgWindow& w) {
  at::AutoDispatchBelowADInplaceOrView guard;
  save_sizes(ctx, "input_size", self.sym_sizes());
  ctx->saved_data["input_format"] = static_cast<int64_t>(pooling_memory_format(self, static_cast<int>(w.kernel.size())));
  w.save(ctx);
  return {call_avg_pool_forward(self, w.kernel, w.stride, w.padding, w.ceil_mode, w.count_include_pad,
                                w.divisor_override)};
}

variable_list AvgPoolFunction::backward(AutogradContext* ctx, variable_list grads) {
  const std::vector<c10::SymInt> size = load_sizes(ctx, "input_size");
  const at::Tensor grad_input = AvgPoolBackwardFunction::apply(grads[0], size, AvgWindow::load(ctx))[0];
  // The gradient takes the input's layout, as torch's (a no-op unless
  // grad_output came in another layout than the output).
  const auto input_format = static_cast<at::MemoryFormat>(ctx->saved_data["input_format"].toInt());
  return {grad_input.contiguous(input_format), at::Tensor()};
}

at::Tensor avg_pool_forward_autograd(const at::Tensor& self, at::IntArrayRef kernel_size, at::IntArrayRef stride,
                                     at::IntArrayRef padding, bool ceil_mode, bool count_include_pad,
                                     std::optional<int64_t> divisor_override) {
  return AvgPoolFunction::apply(self, AvgWindow{kernel_size.vec(), stride.vec(), padding.vec(), ceil_mode,
                                                count_include_pad, divisor_override})[0];
}

at::Tensor avg_pool_backward_autograd(const at::Tensor& grad_output, c10::SymIntArrayRef input_size,
                                      at::IntArrayRef kernel_size, at::IntArrayRef stride, at::IntArrayRef padding,
                                      bool ceil_mode, bool count_include_pad,
                                      std::optional<int64_t> divisor_override) {
  return AvgPoolBackwardFunction::apply(grad_output, input_size,
                                        AvgWindow{kernel_size.vec(), stride.vec(), padding.vec(), ceil_mode,
                                                  count_include_pad, divisor_override})[0];
}

// ---------------------------------------------------------------- adaptive average pooling

// Saves nothing but sizes, as AvgPoolFunction.
class AdaptiveAvgPoolFunction : public torch::autograd::Function<AdaptiveAvgPoolFunction> {
 public:
  static variable_list forward(AutogradContext* ctx, const at::Tensor& self, at::IntArrayRef output_size);
  static variable_list backward(AutogradContext* ctx, variable_list grads);
};

class AdaptiveAvgPoolBackwardFunction : public torch::autograd::Function<AdaptiveAvgPoolBackwardFunction> {
 public:
  static variable_list forward(AutogradContext* ctx, const at::Tensor& grad_output, c10::SymIntArrayRef input_size,
                               at::IntArrayRef output_size) {
    at::AutoDispatchBelowADInplaceOrView guard;
    ctx->saved_data["output_size"] = output_size.vec();
    return {call_adaptive_avg_pool_backward(grad_output, input_size, output_size)};
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    // Linear in grad_output; its adjoint is the forward.
    const std::vector<int64_t> output_size = ctx->saved_data["output_size"].toIntVector();
    return {AdaptiveAvgPoolFunction::apply(grads[0], output_size)[0], at::Tensor(), at::Tensor()};
  }
};

variable_list AdaptiveAvgPoolFunction::forward(AutogradContext* ctx, const at::Tensor& self,
                                               at::IntArrayRef output_size) {
  at::AutoDispatchBelowADInplaceOrView guard;
  save_sizes(ctx, "input_size", self.sym_sizes());
  const int dims = static_cast<int>(output_size.size());
  ctx->saved_data["input_format"] = static_cast<int64_t>(pooling_memory_format(self, dims));
  ctx->saved_data["output_size"] = output_size.vec();
  return {call_adaptive_avg_pool_forward(self, output_size)};
}

variable_list AdaptiveAvgPoolFunction::backward(AutogradContext* ctx, variable_list grads) {
  const std::vector<c10::SymInt> size = load_sizes(ctx, "input_size");
  const std::vector<int64_t> output_size = ctx->saved_data["output_size"].toIntVector();
  const at::Tensor grad_input = AdaptiveAvgPoolBackwardFunction::apply(grads[0], size, output_size)[0];
  const auto input_format = static_cast<at::MemoryFormat>(ctx->saved_data["input_format"].toInt());
  return {grad_input.contiguous(input_format), at::Tensor()};
}

at::Tensor adaptive_avg_pool_forward_autograd(const at::Tensor& self, at::IntArrayRef output_size) {
  return AdaptiveAvgPoolFunction::apply(self, output_size)[0];
}

at::Tensor adaptive_avg_pool_backward_autograd(const at::Tensor& grad_output, c10::SymIntArrayRef input_size,
                                               at::IntArrayRef output_size) {
  return AdaptiveAvgPoolBackwardFunction::apply(grad_output, input_size, output_size)[0];
}

// ---------------------------------------------------------------- LP pooling

struct LpWindow {
  double norm_type;
  std::vector<int64_t> kernel, stride;
  bool ceil_mode;
  bool true_norm;

  void save(AutogradContext* ctx) const {
    ctx->saved_data["norm_type"] = norm_type;
    ctx->saved_data["kernel"] = kernel;
    ctx->saved_data["stride"] = stride;
    ctx->saved_data["ceil_mode"] = ceil_mode;
    ctx->saved_data["true_norm"] = true_norm;
  }
  static LpWindow load(AutogradContext* ctx) {
    return LpWindow{ctx->saved_data["norm_type"].toDouble(), ctx->saved_data["kernel"].toIntVector(),
                    ctx->saved_data["stride"].toIntVector(), ctx->saved_data["ceil_mode"].toBool(),
                    ctx->saved_data["true_norm"].toBool()};
  }
  std::vector<int64_t> zero_padding() const { return std::vector<int64_t>(kernel.size(), 0); }
};

// lp_pool's backward kernel as differentiable ops, for double backward:
//   finite p:  base'(x) * base(x)^(p-1) * S(grad * numerator / count * y^(1-p)), zero where y = 0,
//              with S the adjoint of the window sum (average pooling's backward with divisor 1);
//   p = +-inf: sign(x) * max pooling's backward of grad at the window's extreme |x|.
at::Tensor lp_pool_backward_composite(const at::Tensor& grad, const at::Tensor& x, const at::Tensor& y,
                                      const LpWindow& w) {
  const std::vector<int64_t> pad = w.zero_padding();
  if (std::isinf(w.norm_type)) {
    const at::Tensor magnitude = w.norm_type > 0 ? x.abs() : -x.abs();
    const std::vector<int64_t> dilation(w.kernel.size(), 1);
    const at::Tensor offset = std::get<1>(max_pool_forward(magnitude.detach(), w.kernel, w.stride, pad, dilation,
                                                           w.ceil_mode));
    return x.sign() * max_pool_backward(grad, offset, x.sym_sizes(), w.kernel, w.stride, pad, dilation);
  }
  const at::Tensor base = w.true_norm ? x.abs() : x;
  const at::Tensor count = call_avg_pool_forward(at::ones_like(x), w.kernel, w.stride, pad, w.ceil_mode, true, 1);
  double numerator = 1.0;
  for (int64_t k : w.kernel) numerator *= static_cast<double>(k);
  const double q = w.norm_type - 1.0;
  const at::Tensor per_output = at::where(y != 0, grad * count.reciprocal() * numerator * nonzero_or_one(y).pow(-q),
                                          at::zeros_like(y));
  const at::Tensor spread = avg_pool_backward(per_output, x.sym_sizes(), w.kernel, w.stride, pad, w.ceil_mode, true, 1);
  const at::Tensor result = base.pow(q) * spread;
  return w.true_norm ? x.sign() * result : result;
}

class LpPoolBackwardFunction : public torch::autograd::Function<LpPoolBackwardFunction> {
 public:
  static variable_list forward(AutogradContext* ctx, const at::Tensor& grad, const at::Tensor& x,
                               const at::Tensor& y, const LpWindow& w) {
    at::AutoDispatchBelowADInplaceOrView guard;
    ctx->save_for_backward({grad, x, y});
    w.save(ctx);
    return {call_lp_pool_backward(grad, x, y, w.norm_type, w.kernel, w.stride, w.ceil_mode, w.true_norm)};
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const variable_list saved = ctx->get_saved_variables();
    const LpWindow w = LpWindow::load(ctx);
    variable_list result = differentiate_composite(
        [&](const variable_list& in) { return variable_list{lp_pool_backward_composite(in[0], in[1], in[2], w)}; },
        saved, {grads[0]});
    result.push_back(at::Tensor());
    return result;
  }
};

// Saves the input and the output, nothing else.
class LpPoolFunction : public torch::autograd::Function<LpPoolFunction> {
 public:
  static variable_list forward(AutogradContext* ctx, const at::Tensor& self, const LpWindow& w) {
    at::AutoDispatchBelowADInplaceOrView guard;
    at::Tensor output = call_lp_pool_forward(self, w.norm_type, w.kernel, w.stride, w.ceil_mode, w.true_norm);
    ctx->save_for_backward({self, output});
    w.save(ctx);
    return {output};
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const variable_list saved = ctx->get_saved_variables();
    return {LpPoolBackwardFunction::apply(grads[0], saved[0], saved[1], LpWindow::load(ctx))[0], at::Tensor()};
  }
};

at::Tensor lp_pool_forward_autograd(const at::Tensor& self, double norm_type, at::IntArrayRef kernel_size,
                                    at::IntArrayRef stride, bool ceil_mode, bool true_norm) {
  return LpPoolFunction::apply(self, LpWindow{norm_type, kernel_size.vec(), stride.vec(), ceil_mode, true_norm})[0];
}

at::Tensor lp_pool_backward_autograd(const at::Tensor& grad_output, const at::Tensor& self, const at::Tensor& output,
                                     double norm_type, at::IntArrayRef kernel_size, at::IntArrayRef stride,
                                     bool ceil_mode, bool true_norm) {
  return LpPoolBackwardFunction::apply(grad_output, self, output,
                                       LpWindow{norm_type, kernel_size.vec(), stride.vec(), ceil_mode, true_norm})[0];
}

// ---------------------------------------------------------------- GeM

// GeM's backward kernel as differentiable ops, for double backward. With
// u = clamp(x, eps) / y and n the plane size:
//   grad_x = grad / n * u^(p-1) * (x >= eps),   grad_p = sum grad * y / (p n) * sum_plane u^p ln u.
variable_list gem_backward_composite(const at::Tensor& grad, const at::Tensor& x, const at::Tensor& y,
                                     const at::Tensor& p, double eps) {
  std::vector<int64_t> spatial;
  for (int64_t d = 2; d < x.dim(); ++d) spatial.push_back(d);
  double plane = 1.0;
  for (int64_t d : spatial) plane *= static_cast<double>(x.size(d));
  const at::Tensor nonzero = y != 0;
  const at::Tensor u = x.clamp_min(eps) / nonzero_or_one(y);
  const at::Tensor exponent = p.reshape({});
  const at::Tensor grad_x = at::where(nonzero, grad / plane * u.pow(exponent - 1), at::zeros_like(grad)) *
                            (x >= eps).to(x.scalar_type());
  const at::Tensor positive = u > 0;
  const at::Tensor safe_u = at::where(positive, u, at::ones_like(u));
  const at::Tensor terms = at::where(positive, safe_u.pow(exponent) * safe_u.log(), at::zeros_like(u));
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
    auto [grad_x, grad_p] = call_gem_backward(grad, x, y, p, eps, p_requires_grad);
    return {grad_x, grad_p};
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const variable_list saved = ctx->get_saved_variables();
    const double eps = ctx->saved_data["eps"].toDouble();
    variable_list result = differentiate_composite(
        [&](const variable_list& in) { return gem_backward_composite(in[0], in[1], in[2], in[3], eps); }, saved,
        {grads[0], grads[1]});
    result.push_back(at::Tensor());
    result.push_back(at::Tensor());
    return result;
  }
};

// Saves the input, p and the output.
class GemFunction : public torch::autograd::Function<GemFunction> {
 public:
  static variable_list forward(AutogradContext* ctx, const at::Tensor& self, const at::Tensor& p, double eps) {
    at::AutoDispatchBelowADInplaceOrView guard;
    at::Tensor output = call_gem_forward(self, p, eps);
    ctx->save_for_backward({self, p, output});
    ctx->saved_data["eps"] = eps;
    return {output};
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const variable_list saved = ctx->get_saved_variables();
    const double eps = ctx->saved_data["eps"].toDouble();
    const bool p_requires_grad = ctx->needs_input_grad(1);
    variable_list g = GemBackwardFunction::apply(grads[0], saved[0], saved[2], saved[1], eps, p_requires_grad);
    return {g[0], p_requires_grad ? g[1] : at::Tensor(), at::Tensor()};
  }
};

at::Tensor gem_forward_autograd(const at::Tensor& self, const at::Tensor& p, double eps) {
  return GemFunction::apply(self, p, eps)[0];
}

std::tuple<at::Tensor, at::Tensor> gem_backward_autograd(const at::Tensor& grad_output, const at::Tensor& self,
                                                         const at::Tensor& output, const at::Tensor& p, double eps,
                                                         bool p_requires_grad) {
  variable_list g = GemBackwardFunction::apply(grad_output, self, output, p, eps, p_requires_grad);
  return {g[0], g[1]};
}

}  // namespace

TORCH_LIBRARY_IMPL(pooling_ext, Meta, m) {
  m.impl("avg_pool_forward", &avg_pool_forward_meta);
  m.impl("avg_pool_backward", &avg_pool_backward_meta);
  m.impl("adaptive_avg_pool_forward", &adaptive_avg_pool_forward_meta);
  m.impl("adaptive_avg_pool_backward", &adaptive_avg_pool_backward_meta);
  m.impl("lp_pool_forward", &lp_pool_forward_meta);
  m.impl("lp_pool_backward", &lp_pool_backward_meta);
  m.impl("gem_forward", &gem_forward_meta);
  m.impl("gem_backward", &gem_backward_meta);
}

TORCH_LIBRARY_IMPL(pooling_ext, Autograd, m) {
  m.impl("avg_pool_forward", &avg_pool_forward_autograd);
  m.impl("avg_pool_backward", &avg_pool_backward_autograd);
  m.impl("adaptive_avg_pool_forward", &adaptive_avg_pool_forward_autograd);
  m.impl("adaptive_avg_pool_backward", &adaptive_avg_pool_backward_autograd);
  m.impl("lp_pool_forward", &lp_pool_forward_autograd);
  m.impl("lp_pool_backward", &lp_pool_backward_autograd);
  m.impl("gem_forward", &gem_forward_autograd);
  m.impl("gem_backward", &gem_backward_autograd);
}

// ---------------------------------------------------------------- C++ API

at::Tensor avg_pool_forward(const at::Tensor& self, at::IntArrayRef kernel_size, at::IntArrayRef stride,
                            at::IntArrayRef padding, bool ceil_mode, bool count_include_pad,
                            std::optional<int64_t> divisor_override) {
  return call_avg_pool_forward(self, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override);
}

at::Tensor avg_pool_backward(const at::Tensor& grad_output, c10::SymIntArrayRef input_size,
                             at::IntArrayRef kernel_size, at::IntArrayRef stride, at::IntArrayRef padding,
                             bool ceil_mode, bool count_include_pad, std::optional<int64_t> divisor_override) {
  return call_avg_pool_backward(grad_output, input_size, kernel_size, stride, padding, ceil_mode, count_include_pad,
                                divisor_override);
}

at::Tensor adaptive_avg_pool_forward(const at::Tensor& self, at::IntArrayRef output_size) {
  return call_adaptive_avg_pool_forward(self, output_size);
}

at::Tensor adaptive_avg_pool_backward(const at::Tensor& grad_output, c10::SymIntArrayRef input_size,
                                      at::IntArrayRef output_size) {
  return call_adaptive_avg_pool_backward(grad_output, input_size, output_size);
}

at::Tensor lp_pool_forward(const at::Tensor& self, double norm_type, at::IntArrayRef kernel_size,
                           at::IntArrayRef stride, bool ceil_mode, bool true_norm) {
  return call_lp_pool_forward(self, norm_type, kernel_size, stride, ceil_mode, true_norm);
}

at::Tensor lp_pool_backward(const at::Tensor& grad_output, const at::Tensor& self, const at::Tensor& output,
                            double norm_type, at::IntArrayRef kernel_size, at::IntArrayRef stride, bool ceil_mode,
                            bool true_norm) {
  return call_lp_pool_backward(grad_output, self, output, norm_type, kernel_size, stride, ceil_mode, true_norm);
}

at::Tensor gem_forward(const at::Tensor& self, const at::Tensor& p, double eps) {
  return call_gem_forward(self, p, eps);
}

std::tuple<at::Tensor, at::Tensor> gem_backward(const at::Tensor& grad_output, const at::Tensor& self,
                                                const at::Tensor& output, const at::Tensor& p, double eps,
                                                bool p_requires_grad) {
  return call_gem_backward(grad_output, self, output, p, eps, p_requires_grad);
}

}  // namespace pooling_ext
