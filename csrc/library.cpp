// The pooling_ext op library: every schema, and one table that names each
// op's kernel for every dispatch key. The kernels live with their family:
//   max_pool/     max pooling, fixed and adaptive windows
//   fractional/   fractional max pooling
//   unpool/       max unpooling
//   window_sum/   average pooling (fixed and adaptive windows), LP pooling, GeM
// each with cpu::, cuda::, meta:: and autograd:: entry points named after the
// op (declared in the family's header). The C++ API (ops.h) is these ops
// called through the dispatcher.
#include <torch/library.h>

#include <type_traits>

#include "common/device_guard.h"
#include "fractional/fractional.h"
#include "max_pool/max_pool.h"
#include "unpool/unpool.h"
#include "window_sum/window_sum.h"

namespace pooling_ext {
namespace {

// A kernel an op does not have for a dispatch key.
struct NoKernel {};

template <class Cpu, class Cuda, class Meta, class Autograd>
void register_kernels(torch::Library& m, const char* op, Cpu cpu, Cuda cuda, Meta meta, Autograd autograd) {
  m.impl(op, c10::DispatchKey::CPU, cpu);
  if constexpr (!std::is_same_v<Cuda, NoKernel>) m.impl(op, c10::DispatchKey::CUDA, cuda);
  m.impl(op, c10::DispatchKey::Meta, meta);
  // Ops without an autograd kernel return nothing differentiable (indices).
  if constexpr (!std::is_same_v<Autograd, NoKernel>) m.impl(op, c10::DispatchKey::Autograd, autograd);
}

}  // namespace
}  // namespace pooling_ext

// A CUDA kernel, run with the current device set to its first tensor's; none
// in a build without CUDA.
#ifdef POOLING_EXT_WITH_CUDA
#define POOLING_EXT_CUDA_KERNEL(op) &pooling_ext::OnDeviceOfFirstTensor<&pooling_ext::cuda::op>::call
#else
#define POOLING_EXT_CUDA_KERNEL(op) pooling_ext::NoKernel()
#endif

// Each op's kernels: CPU, CUDA, Meta and Autograd.
#define POOLING_EXT_KERNELS(op) \
  &pooling_ext::cpu::op, POOLING_EXT_CUDA_KERNEL(op), &pooling_ext::meta::op, &pooling_ext::autograd::op
#define POOLING_EXT_KERNELS_NOT_DIFFERENTIABLE(op) \
  &pooling_ext::cpu::op, POOLING_EXT_CUDA_KERNEL(op), &pooling_ext::meta::op, pooling_ext::NoKernel()

TORCH_LIBRARY(pooling_ext, m) {
  using pooling_ext::register_kernels;

  // ---------------------------------------------------------------- max pooling, fixed windows
  // The forward returns (output, window_offset): the tap of each window's
  // maximum, 1 byte per output for windows of fewer than 255 taps (int32
  // otherwise). backward scatters a gradient to the argmax; gather reads an
  // input-shaped tensor there (double backward); indices gives torch's
  // return_indices. max_pool_values is the forward of inference: the output
  // alone; its autograd kernel runs max_pool_forward where the input needs a
  // gradient (so the Python layer calls it whenever indices are not asked for).
  m.def(
      "max_pool_forward(Tensor self, int[] kernel_size, int[] stride, int[] padding, int[] dilation, "
      "bool ceil_mode) -> (Tensor, Tensor)");
  m.def(
      "max_pool_values(Tensor self, int[] kernel_size, int[] stride, int[] padding, int[] dilation, "
      "bool ceil_mode) -> Tensor");
  m.def(
      "max_pool_backward(Tensor grad_output, Tensor window_offset, SymInt[] input_size, int[] kernel_size, "
      "int[] stride, int[] padding, int[] dilation) -> Tensor");
  m.def(
      "max_pool_gather(Tensor source, Tensor window_offset, int[] kernel_size, int[] stride, int[] padding, "
      "int[] dilation) -> Tensor");
  m.def(
      "max_pool_indices(Tensor window_offset, SymInt[] input_size, int[] kernel_size, int[] stride, "
      "int[] padding, int[] dilation) -> Tensor");
  register_kernels(m, "max_pool_forward", POOLING_EXT_KERNELS(max_pool_forward));
  register_kernels(m, "max_pool_values", POOLING_EXT_KERNELS(max_pool_values));
  register_kernels(m, "max_pool_backward", POOLING_EXT_KERNELS(max_pool_backward));
  register_kernels(m, "max_pool_gather", POOLING_EXT_KERNELS(max_pool_gather));
  register_kernels(m, "max_pool_indices", POOLING_EXT_KERNELS_NOT_DIFFERENTIABLE(max_pool_indices));

  // ---------------------------------------------------------------- max pooling, adaptive windows
  m.def("adaptive_max_pool_forward(Tensor self, int[] output_size) -> (Tensor, Tensor)");
  m.def("adaptive_max_pool_values(Tensor self, int[] output_size) -> Tensor");
  m.def(
      "adaptive_max_pool_backward(Tensor grad_output, Tensor window_offset, SymInt[] input_size, int[] output_size) "
      "-> Tensor");
  m.def("adaptive_max_pool_gather(Tensor source, Tensor window_offset, int[] output_size) -> Tensor");
  m.def("adaptive_max_pool_indices(Tensor window_offset, SymInt[] input_size, int[] output_size) -> Tensor");
  register_kernels(m, "adaptive_max_pool_forward", POOLING_EXT_KERNELS(adaptive_max_pool_forward));
  register_kernels(m, "adaptive_max_pool_values", POOLING_EXT_KERNELS(adaptive_max_pool_values));
  register_kernels(m, "adaptive_max_pool_backward", POOLING_EXT_KERNELS(adaptive_max_pool_backward));
  register_kernels(m, "adaptive_max_pool_gather", POOLING_EXT_KERNELS(adaptive_max_pool_gather));
  register_kernels(m, "adaptive_max_pool_indices", POOLING_EXT_KERNELS_NOT_DIFFERENTIABLE(adaptive_max_pool_indices));

  // ---------------------------------------------------------------- fractional max pooling
  m.def(
      "fractional_max_pool_forward(Tensor self, int[] kernel_size, int[] output_size, Tensor random_samples) "
      "-> (Tensor, Tensor)");
  m.def(
      "fractional_max_pool_values(Tensor self, int[] kernel_size, int[] output_size, Tensor random_samples) "
      "-> Tensor");
  m.def(
      "fractional_max_pool_backward(Tensor grad_output, Tensor window_offset, Tensor random_samples, "
      "SymInt[] input_size, int[] kernel_size) -> Tensor");
  m.def(
      "fractional_max_pool_gather(Tensor source, Tensor window_offset, Tensor random_samples, int[] kernel_size) "
      "-> Tensor");
  m.def(
      "fractional_max_pool_indices(Tensor window_offset, Tensor random_samples, SymInt[] input_size, "
      "int[] kernel_size) -> Tensor");
  register_kernels(m, "fractional_max_pool_forward", POOLING_EXT_KERNELS(fractional_max_pool_forward));
  register_kernels(m, "fractional_max_pool_values", POOLING_EXT_KERNELS(fractional_max_pool_values));
  register_kernels(m, "fractional_max_pool_backward", POOLING_EXT_KERNELS(fractional_max_pool_backward));
  register_kernels(m, "fractional_max_pool_gather", POOLING_EXT_KERNELS(fractional_max_pool_gather));
  register_kernels(m, "fractional_max_pool_indices",
                   POOLING_EXT_KERNELS_NOT_DIFFERENTIABLE(fractional_max_pool_indices));

  // ---------------------------------------------------------------- max unpooling
  // max_unpool_gather is its backward: each input element takes the gradient at its index.
  m.def("max_unpool(Tensor self, Tensor indices, SymInt[] output_size) -> Tensor");
  m.def("max_unpool_gather(Tensor grad_output, Tensor indices, int dims) -> Tensor");
  register_kernels(m, "max_unpool", POOLING_EXT_KERNELS(max_unpool));
  register_kernels(m, "max_unpool_gather", POOLING_EXT_KERNELS(max_unpool_gather));

  // ---------------------------------------------------------------- average pooling
  m.def(
      "avg_pool_forward(Tensor self, int[] kernel_size, int[] stride, int[] padding, bool ceil_mode, "
      "bool count_include_pad, int? divisor_override) -> Tensor");
  m.def(
      "avg_pool_backward(Tensor grad_output, SymInt[] input_size, int[] kernel_size, int[] stride, int[] padding, "
      "bool ceil_mode, bool count_include_pad, int? divisor_override) -> Tensor");
  m.def("adaptive_avg_pool_forward(Tensor self, int[] output_size) -> Tensor");
  m.def("adaptive_avg_pool_backward(Tensor grad_output, SymInt[] input_size, int[] output_size) -> Tensor");
  register_kernels(m, "avg_pool_forward", POOLING_EXT_KERNELS(avg_pool_forward));
  register_kernels(m, "avg_pool_backward", POOLING_EXT_KERNELS(avg_pool_backward));
  register_kernels(m, "adaptive_avg_pool_forward", POOLING_EXT_KERNELS(adaptive_avg_pool_forward));
  register_kernels(m, "adaptive_avg_pool_backward", POOLING_EXT_KERNELS(adaptive_avg_pool_backward));

  // ---------------------------------------------------------------- LP pooling and GeM (power means)
  // Backward ops read the forward's input and output (and p): nothing else is saved.
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
  register_kernels(m, "lp_pool_forward", POOLING_EXT_KERNELS(lp_pool_forward));
  register_kernels(m, "lp_pool_backward", POOLING_EXT_KERNELS(lp_pool_backward));
  register_kernels(m, "gem_forward", POOLING_EXT_KERNELS(gem_forward));
  register_kernels(m, "gem_backward", POOLING_EXT_KERNELS(gem_backward));
}
