// From C++ through libtorch: max pooling forward and backward with autograd,
// checked against ATen's own max_pool2d (used here as the reference only),
// and LP pooling's fused forward / backward against ATen's lp_pool2d.
#include <torch/torch.h>

#include <iostream>

#include "ops.h"

int main() {
  torch::manual_seed(0);
  const auto x = torch::randn({2, 3, 9, 8}, torch::requires_grad());
  const auto out = pooling_ext::max_pool2d(x, {3, 3}, {2, 2}, {1, 1});
  const auto grad = torch::randn(out.sizes());
  out.backward(grad);

  const auto x_ref = x.detach().clone().requires_grad_();
  const auto ref = torch::max_pool2d(x_ref, {3, 3}, {2, 2}, {1, 1});
  ref.backward(grad);

  const bool forward_ok = torch::equal(out.detach(), ref.detach());
  const bool backward_ok = torch::allclose(x.grad(), x_ref.grad());
  // Double backward through the registered backward op: d(sum of grad_input)
  // / d(grad_output) is 1 for every output (each routes to one input).
  const auto x2 = torch::randn({1, 2, 6, 6}, torch::dtype(torch::kDouble).requires_grad(true));
  const auto y2 = pooling_ext::max_pool2d(x2, {2, 2}, {1, 1});
  const auto grad_out = torch::ones_like(y2).requires_grad_();
  const auto g2 = torch::autograd::grad({y2}, {x2}, {grad_out}, /*retain_graph=*/true, /*create_graph=*/true)[0];
  const auto gg = torch::autograd::grad({g2.sum()}, {grad_out})[0];
  const bool double_ok = torch::equal(gg, torch::ones_like(gg));
  bool error_ok = false;
  try {
    pooling_ext::max_pool2d(x, {0, 0}, {1, 1});
  } catch (const c10::Error& e) {
    error_ok = std::string(e.what()).find("kernel_size") != std::string::npos;
  }
  // LP pooling (p = 2, 3x3 stride 2, ceil_mode) through the autograd Functions.
  const auto xp = torch::rand({2, 3, 9, 8}, torch::dtype(torch::kDouble)).add(0.1).requires_grad_();
  const auto lp = pooling_ext::lp_pool_forward(xp, 2.0, {3, 3}, {2, 2}, /*ceil_mode=*/true, /*true_norm=*/false);
  const auto lp_grad = torch::randn(lp.sizes(), torch::kDouble);
  lp.backward(lp_grad);
  const auto xp_ref = xp.detach().clone().requires_grad_();
  const auto lp_ref = torch::nn::functional::lp_pool2d(
      xp_ref, torch::nn::functional::LPPool2dFuncOptions(2.0, {3, 3}).stride({2, 2}).ceil_mode(true));
  lp_ref.backward(lp_grad);
  const bool lp_ok = torch::allclose(lp.detach(), lp_ref.detach()) && torch::allclose(xp.grad(), xp_ref.grad());
  std::cout << "lp_pool " << (lp_ok ? "ok" : "MISMATCH") << ", ";
  std::cout << "forward " << (forward_ok ? "ok" : "MISMATCH") << ", backward " << (backward_ok ? "ok" : "MISMATCH")
            << ", double backward " << (double_ok ? "ok" : "MISMATCH") << ", bad kernel_size "
            << (error_ok ? "raised" : "NOT RAISED") << std::endl;
  return forward_ok && backward_ok && double_ok && error_ok && lp_ok ? 0 : 1;
}
