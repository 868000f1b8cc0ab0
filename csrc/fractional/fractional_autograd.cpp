// Autograd of fractional max pooling: max pooling's Functions with
// fractional windows (max_pool/max_pool_autograd.h).
#include "../common/autograd_support.h"
#include "../max_pool/max_pool_autograd.h"
#include "../ops.h"
#include "fractional.h"

namespace pooling_ext {
namespace autograd {
namespace {

// The pooled sizes of a saved window offset.
at::IntArrayRef pooled_size(const at::Tensor& window_offset, at::IntArrayRef kernel_size) {
  return window_offset.sizes().slice(window_offset.dim() - static_cast<int64_t>(kernel_size.size()));
}

}  // namespace

std::tuple<at::Tensor, at::Tensor> fractional_max_pool_forward(const at::Tensor& self, at::IntArrayRef kernel_size,
                                                               at::IntArrayRef output_size,
                                                               const at::Tensor& random_samples) {
  return max_forward(self, SavedWindow::fractional(kernel_size, output_size, random_samples), false);
}

at::Tensor fractional_max_pool_values(const at::Tensor& self, at::IntArrayRef kernel_size, at::IntArrayRef output_size,
                                      const at::Tensor& random_samples) {
  if (needs_autograd_function(self)) {
    return std::get<0>(max_forward(self, SavedWindow::fractional(kernel_size, output_size, random_samples), false));
  }
  at::AutoDispatchBelowADInplaceOrView guard;
  return pooling_ext::fractional_max_pool_values(self, kernel_size, output_size, random_samples);
}

at::Tensor fractional_max_pool_backward(const at::Tensor& grad_output, const at::Tensor& window_offset,
                                        const at::Tensor& random_samples, c10::SymIntArrayRef input_size,
                                        at::IntArrayRef kernel_size) {
  const SavedWindow w = SavedWindow::fractional(kernel_size, pooled_size(window_offset, kernel_size), random_samples);
  return max_backward(grad_output, window_offset, input_size, w);
}

at::Tensor fractional_max_pool_gather(const at::Tensor& source, const at::Tensor& window_offset,
                                      const at::Tensor& random_samples, at::IntArrayRef kernel_size) {
  const SavedWindow w = SavedWindow::fractional(kernel_size, pooled_size(window_offset, kernel_size), random_samples);
  return MaxPoolGatherFunction::apply(source, window_offset, w)[0];
}

}  // namespace autograd
}  // namespace pooling_ext
