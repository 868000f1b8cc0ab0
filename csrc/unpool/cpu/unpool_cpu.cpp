// CPU kernels of max unpooling, parallel with at::parallel_for.
#include <ATen/Parallel.h>

#include <atomic>

#include "../../common/cpu/loop_support.h"
#include "../../common/dtype_dispatch.h"
#include "../unpool.h"
#include "../unpool_plan.h"

namespace pooling_ext {
namespace {

// One task's elements written in input order: when indices repeat within a
// plane, the last element wins, whatever the thread count. Returns the last
// out-of-range index met, or 0 (always a valid index) for none.
template <typename scalar_t>
int64_t unpool_tasks(const UnpoolGeometry& g, const scalar_t* in, const int64_t* idx, scalar_t* out, int64_t begin,
                     int64_t end) {
  // Channels-last runs all channels of a batch item per task: within each
  // plane the spatial order is still the input order.
  const int64_t lanes = g.channels_last ? g.channels : 1;
  int64_t bad = 0;
  for (int64_t task = begin; task < end; ++task) {
    const int64_t* __restrict__ task_idx = idx + task * g.in_plane * lanes;
    const scalar_t* __restrict__ task_in = in + task * g.in_plane * lanes;
    scalar_t* __restrict__ task_out = out + task * g.out_plane * lanes;
    for (int64_t p = 0; p < g.in_plane; ++p) {
      for (int64_t c = 0; c < lanes; ++c) {
        const int64_t target = task_idx[p * lanes + c];
        if (target < 0 || target >= g.out_plane) {
          bad = target;
          continue;
        }
        task_out[target * lanes + c] = task_in[p * lanes + c];
      }
    }
  }
  return bad;
}

}  // namespace

namespace cpu {

at::Tensor max_unpool(const at::Tensor& self, const at::Tensor& indices, at::IntArrayRef output_size) {
  const UnpoolPlan plan = plan_max_unpool_forward(self, indices, output_size);
  const at::Tensor& input = plan.source;
  const at::Tensor& output = plan.result;
  if (input.numel() == 0) return output;
  const UnpoolGeometry& g = plan.geometry;
  std::atomic<int64_t> bad_index{0};
  POOLING_EXT_DISPATCH_FLOAT_TYPES(input.scalar_type(), "max_unpool_cpu", [&] {
    const int64_t tasks = g.channels_last ? g.batch : g.batch * g.channels;
    const int64_t task_elements = g.in_plane * (g.channels_last ? g.channels : 1);
    at::parallel_for(0, tasks, grain_for(task_elements), [&](int64_t begin, int64_t end) {
      const int64_t bad = unpool_tasks(g, input.const_data_ptr<scalar_t>(), plan.indices.const_data_ptr<int64_t>(),
                                       output.mutable_data_ptr<scalar_t>(), begin, end);
      if (bad != 0) bad_index.store(bad);
    });
  });
  if (bad_index.load() != 0) throw_bad_unpool_index(bad_index.load(), output_size);
  return output;
}

at::Tensor max_unpool_gather(const at::Tensor& grad_output, const at::Tensor& indices, int64_t dims) {
  const UnpoolPlan plan = plan_max_unpool_gather(grad_output, indices, dims);
  const at::Tensor& grad = plan.source;
  const at::Tensor& grad_input = plan.result;
  if (grad_input.numel() == 0) return grad_input;
  std::atomic<int64_t> bad_index{0};
  POOLING_EXT_DISPATCH_FLOAT_TYPES(grad.scalar_type(), "max_unpool_gather_cpu", [&] {
    const MaxUnpoolGatherBody<scalar_t> body{grad.const_data_ptr<scalar_t>(), plan.indices.const_data_ptr<int64_t>(),
                                             grad_input.mutable_data_ptr<scalar_t>(), nullptr, plan.geometry};
    at::parallel_for(0, grad_input.numel(), kGrainElements, [&](int64_t begin, int64_t end) {
      int64_t bad = 0;  // 0 is always a valid index, so it means "none"
      MaxUnpoolGatherBody<scalar_t> task_body = body;
      task_body.bad_index_slot = &bad;
      for (int64_t i = begin; i < end; ++i) task_body(i);
      if (bad != 0) bad_index.store(bad);
    });
  });
  if (bad_index.load() != 0) {
    throw_bad_unpool_index(bad_index.load(), grad_output.sizes().slice(grad_output.dim() - dims));
  }
  return grad_input;
}

}  // namespace cpu
}  // namespace pooling_ext
