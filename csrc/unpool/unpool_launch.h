// Max unpooling and its backward as launches of the per-element bodies of
// unpool_bodies.h, for any Launcher (common/launch.h): the CUDA kernels, and
// the test emulation of them.
#pragma once

#include "../common/dtype_dispatch.h"
#include "../common/launch.h"
#include "unpool_plan.h"

namespace pooling_ext {
namespace grid {

// Two passes: every input element claims its output slot (the last in input
// order wins, through an integer atomic maximum), then the winners write.
template <class Launcher>
at::Tensor max_unpool(const at::Tensor& self, const at::Tensor& indices, at::IntArrayRef output_size) {
  const UnpoolPlan plan = plan_max_unpool_forward(self, indices, output_size);
  const at::Tensor& input = plan.source;
  const at::Tensor& output = plan.result;
  const int64_t count = input.numel();
  if (count == 0) return output;
  at::Tensor winner = at::empty(plan.output_sizes, self.options().dtype(at::kLong).memory_format(plan.format)).zero_();
  at::Tensor bad_index = at::zeros({1}, self.options().dtype(at::kLong));
  auto* winner_ptr = reinterpret_cast<unsigned long long*>(winner.mutable_data_ptr<int64_t>());
  Launcher::elementwise(count, MaxUnpoolClaimBody{plan.indices.const_data_ptr<int64_t>(), winner_ptr,
                                                  bad_index.mutable_data_ptr<int64_t>(), plan.geometry});
  const int64_t bad = bad_index.item<int64_t>();
  if (bad != 0) throw_bad_unpool_index(bad, output_size);
  POOLING_EXT_DISPATCH_FLOAT_TYPES(input.scalar_type(), "max_unpool", [&] {
    Launcher::elementwise(
        count, MaxUnpoolWriteBody<scalar_t>{input.const_data_ptr<scalar_t>(), plan.indices.const_data_ptr<int64_t>(),
                                            winner_ptr, output.mutable_data_ptr<scalar_t>(), plan.geometry});
  });
  return output;
}

// The backward: each input element takes the gradient at its index.
template <class Launcher>
at::Tensor max_unpool_gather(const at::Tensor& grad_output, const at::Tensor& indices, int64_t dims) {
  const UnpoolPlan plan = plan_max_unpool_gather(grad_output, indices, dims);
  const at::Tensor& grad = plan.source;
  const at::Tensor& grad_input = plan.result;
  const int64_t count = grad_input.numel();
  if (count == 0) return grad_input;
  at::Tensor bad_index = at::zeros({1}, grad_output.options().dtype(at::kLong));
  POOLING_EXT_DISPATCH_FLOAT_TYPES(grad.scalar_type(), "max_unpool_gather", [&] {
    Launcher::elementwise(
        count, MaxUnpoolGatherBody<scalar_t>{grad.const_data_ptr<scalar_t>(), plan.indices.const_data_ptr<int64_t>(),
                                             grad_input.mutable_data_ptr<scalar_t>(),
                                             bad_index.mutable_data_ptr<int64_t>(), plan.geometry});
  });
  const int64_t bad = bad_index.item<int64_t>();
  if (bad != 0) throw_bad_unpool_index(bad, grad_output.sizes().slice(grad_output.dim() - dims));
  return grad_input;
}

}  // namespace grid
}  // namespace pooling_ext
