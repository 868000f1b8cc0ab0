// Autograd of max pooling, in C++ so libtorch users get gradients too. One
// set of Functions (and the forward's own gradient node, used wherever no
// torch.func transform or forward-mode tangent is active) serves fixed,
// adaptive and fractional windows: a SavedWindow says which, and which ops to
// call.
//   forward   -> (output, window offset), saves only the offset
//   backward  -> the gradient scattered to each window's argmax; its
//                derivative in grad_output is the gather at the argmax
//   gather    -> its derivative is the backward again
// so gradients of any order work.
#pragma once

#include <torch/autograd.h>

#include <tuple>
#include <vector>

namespace pooling_ext {

// The window an autograd node keeps: fixed (kernel, stride, padding,
// dilation); torch's adaptive windows when adaptive_output_size is set; or
// fractional windows of `kernel` when fractional_samples is defined (with
// fractional_output_size).
struct SavedWindow {
  std::vector<int64_t> kernel, stride, padding, dilation;
  std::vector<int64_t> adaptive_output_size;
  std::vector<int64_t> fractional_output_size;
  at::Tensor fractional_samples;

  static SavedWindow fixed(at::IntArrayRef kernel_size, at::IntArrayRef stride, at::IntArrayRef padding,
                           at::IntArrayRef dilation) {
    return SavedWindow{kernel_size.vec(), stride.vec(), padding.vec(), dilation.vec()};
  }
  static SavedWindow adaptive(at::IntArrayRef output_size) { return SavedWindow{{}, {}, {}, {}, output_size.vec()}; }
  static SavedWindow fractional(at::IntArrayRef kernel_size, at::IntArrayRef output_size, const at::Tensor& samples) {
    return SavedWindow{kernel_size.vec(), {}, {}, {}, {}, output_size.vec(), samples};
  }
  bool is_adaptive() const { return !adaptive_output_size.empty(); }
  bool is_fractional() const { return fractional_samples.defined(); }

  void save(torch::autograd::AutogradContext* ctx) const;
  static SavedWindow load(torch::autograd::AutogradContext* ctx);
};

class MaxPoolFunction : public torch::autograd::Function<MaxPoolFunction> {
 public:
  static torch::autograd::variable_list forward(torch::autograd::AutogradContext* ctx, const at::Tensor& self,
                                                const SavedWindow& w, bool ceil_mode);
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads);
};

class MaxPoolBackwardFunction : public torch::autograd::Function<MaxPoolBackwardFunction> {
 public:
  static torch::autograd::variable_list forward(torch::autograd::AutogradContext* ctx, const at::Tensor& grad_output,
                                                const at::Tensor& window_offset, c10::SymIntArrayRef input_size,
                                                const SavedWindow& w);
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads);
};

class MaxPoolGatherFunction : public torch::autograd::Function<MaxPoolGatherFunction> {
 public:
  static torch::autograd::variable_list forward(torch::autograd::AutogradContext* ctx, const at::Tensor& source,
                                                const at::Tensor& window_offset, const SavedWindow& w);
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads);
};

// The saving forward and the backward of any window policy: below the
// autograd key where nothing is recorded; the forward with a gradient node of
// its own where a gradient is (max_pool_autograd.cpp); through the Functions
// under torch.func transforms and forward-mode tangents, and for the
// backward's own graph (double backward).
std::tuple<at::Tensor, at::Tensor> max_forward(const at::Tensor& self, const SavedWindow& w, bool ceil_mode);
at::Tensor max_backward(const at::Tensor& grad_output, const at::Tensor& window_offset, c10::SymIntArrayRef input_size,
                        const SavedWindow& w);

}  // namespace pooling_ext
