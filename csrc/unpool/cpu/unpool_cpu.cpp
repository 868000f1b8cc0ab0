// CPU kernels of max unpooling, parallel with at::parallel_for over planes
// (contiguous) or batch items (channels-last): the scatter in input order,
// and its backward, the gather (contiguous planes' indices checked 16 at a
// time in both).
#include <ATen/Parallel.h>

#include <algorithm>
#include <atomic>
#include <cstring>

#include "../../common/cpu/loop_support.h"
#include "../../common/dtype_dispatch.h"
#include "../unpool.h"
#include "../unpool_plan.h"

namespace pooling_ext {
namespace {

// The contiguous scatter and gather take their indices in groups of 16,
// checked together and then used without a branch each (SegNet's unpooling
// 1.3-1.9x faster: the per-element loop was bound by its branches and
// bookkeeping, about 20 instructions an element); a group with an
// out-of-range index goes element by element.
constexpr int64_t kIndexGroup = 16;

// Whether the group's indices all lie in [0, size) (a negative index is huge
// as unsigned): one vectorised reduction.
inline bool group_inside(const int64_t* __restrict__ idx, uint64_t size) {
  bool inside = true;
  for (int64_t k = 0; k < kIndexGroup; ++k) inside &= static_cast<uint64_t>(idx[k]) < size;
  return inside;
}

// n consecutive inputs of one contiguous plane written to `out` (out_plane
// elements) at their indices, in input order. Returns the last out-of-range
// index met (its element is dropped), or 0 for none.
template <typename scalar_t>
int64_t scatter_plane(const scalar_t* __restrict__ in, const int64_t* __restrict__ idx, scalar_t* __restrict__ out,
                      int64_t n, int64_t out_plane) {
  const uint64_t size = static_cast<uint64_t>(out_plane);
  int64_t bad = 0;
  for (int64_t p = 0; p < n; p += kIndexGroup) {
    const int64_t group = std::min(kIndexGroup, n - p);
    if (group == kIndexGroup && group_inside(idx + p, size)) {
      for (int64_t k = 0; k < kIndexGroup; ++k) out[idx[p + k]] = in[p + k];
      continue;
    }
    for (int64_t k = 0; k < group; ++k) {
      const int64_t target = idx[p + k];
      if (static_cast<uint64_t>(target) >= size) {
        bad = target;
      } else {
        out[target] = in[p + k];
      }
    }
  }
  return bad;
}

// One task's output zeroed, then its elements written in input order: when
// indices repeat within a plane, the last element wins, whatever the thread
// count. Returns the last out-of-range index met, or 0 (always a valid index)
// for none.
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
    // +0 is all zero bytes in every float type: memset, which std::fill of a
    // class type (c10::BFloat16, c10::Half) does not become.
    std::memset(static_cast<void*>(task_out), 0, sizeof(scalar_t) * g.out_plane * lanes);
    if (lanes == 1) {
      const int64_t plane_bad = scatter_plane(task_in, task_idx, task_out, g.in_plane, g.out_plane);
      if (plane_bad != 0) bad = plane_bad;
      continue;
    }
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

// The gradient of n consecutive inputs of one plane: each reads `grad`
// (out_plane elements) at its index. Returns the last out-of-range index
// met (its element gets 0), or 0 for none.
template <typename scalar_t>
int64_t gather_plane(const scalar_t* __restrict__ grad, const int64_t* __restrict__ idx,
                     scalar_t* __restrict__ grad_input, int64_t n, int64_t out_plane) {
  const uint64_t size = static_cast<uint64_t>(out_plane);
  int64_t bad = 0;
  for (int64_t p = 0; p < n; p += kIndexGroup) {
    const int64_t group = std::min(kIndexGroup, n - p);
    if (group == kIndexGroup && group_inside(idx + p, size)) {
      for (int64_t k = 0; k < kIndexGroup; ++k) grad_input[p + k] = grad[idx[p + k]];
      continue;
    }
    for (int64_t k = 0; k < group; ++k) {
      const int64_t target = idx[p + k];
      if (static_cast<uint64_t>(target) >= size) {
        bad = target;
        grad_input[p + k] = scalar_t(0);
      } else {
        grad_input[p + k] = grad[target];
      }
    }
  }
  return bad;
}

// Input positions [begin, end) of the gradient (position = task * in_plane
// + p, the tasks of unpool_tasks; `lanes` elements each): each element reads
// the output gradient at its index, without the body's per-element
// divisions. Returns the last out-of-range index met (its element gets 0),
// or 0 for none.
template <typename scalar_t>
int64_t gather_positions(const UnpoolGeometry& g, const scalar_t* grad, const int64_t* __restrict__ idx,
                         scalar_t* __restrict__ grad_input, int64_t begin, int64_t end) {
  const int64_t lanes = g.channels_last ? g.channels : 1;
  int64_t bad = 0;
  if (lanes == 1) {  // a plane's run of positions at a time
    for (int64_t position = begin; position < end;) {
      const int64_t task = position / g.in_plane, n = std::min(end - position, g.in_plane - position % g.in_plane);
      const int64_t run_bad =
          gather_plane(grad + task * g.out_plane, idx + position, grad_input + position, n, g.out_plane);
      if (run_bad != 0) bad = run_bad;
      position += n;
    }
    return bad;
  }
  int64_t task = begin / g.in_plane;
  const scalar_t* task_grad = grad + task * g.out_plane * lanes;
  for (int64_t position = begin, p = begin % g.in_plane; position < end; ++position) {
    for (int64_t c = 0; c < lanes; ++c) {
      const int64_t element = position * lanes + c;
      const int64_t target = idx[element];
      if (target < 0 || target >= g.out_plane) {
        bad = target;
        grad_input[element] = scalar_t(0);
      } else {
        grad_input[element] = task_grad[target * lanes + c];
      }
    }
    if (++p == g.in_plane) p = 0, task_grad += g.out_plane * lanes;
  }
  return bad;
}

}  // namespace

namespace cpu {

at::Tensor max_unpool(const at::Tensor& self, const at::Tensor& indices, at::IntArrayRef output_size) {
  const UnpoolPlan plan = plan_max_unpool_forward(self, indices, output_size, /*zero_result=*/false);
  const at::Tensor& input = plan.source;
  const at::Tensor& output = plan.result;
  if (input.numel() == 0) return output.zero_();
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
    const UnpoolGeometry& g = plan.geometry;
    const int64_t tasks = g.channels_last ? g.batch : g.batch * g.channels;
    at::parallel_for(0, tasks * g.in_plane, grain_for(g.channels_last ? g.channels : 1),
                     [&](int64_t begin, int64_t end) {
                       const int64_t bad =
                           gather_positions(g, grad.const_data_ptr<scalar_t>(), plan.indices.const_data_ptr<int64_t>(),
                                            grad_input.mutable_data_ptr<scalar_t>(), begin, end);
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
