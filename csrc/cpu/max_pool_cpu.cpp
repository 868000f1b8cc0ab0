// CPU kernels of max pooling and unpooling. They run the shared per-element
// bodies (kernels/max_pool_bodies.h) from loops in memory order, parallel
// with at::parallel_for, except where a channels-last loop over the
// contiguous channel dim is faster: there the same window rule runs once per
// spatial position for all channels.
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <atomic>
#include <utility>
#include <type_traits>

#include "../max_pool_plan.h"
#include "../ops.h"

namespace pooling_ext {
namespace {

// Grain sizes in elements: enough work per task to amortise its start.
constexpr int64_t kGrainElements = 32768;

int64_t grain_for(int64_t work_per_item) {
  return std::max<int64_t>(1, kGrainElements / std::max<int64_t>(1, work_per_item));
}

template <class Body>
void parallel_for_each_index(int64_t count, const Body& body) {
  at::parallel_for(0, count, kGrainElements, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) body(i);
  });
}

// ---------------------------------------------------------------- forward

template <typename scalar_t>
using running_t = std::conditional_t<std::is_arithmetic_v<scalar_t>, scalar_t, float>;

// Output positions [first, end) along W whose whole window lies inside the
// input: the vectorised row loop handles them, the per-element body the rest.
inline std::pair<int64_t, int64_t> interior_outputs(const PoolGeometry& g) {
  const int64_t s = g.stride[2], p = g.pad[2], span = (g.kernel[2] - 1) * g.dilation[2];
  const int64_t first = std::min(g.out[2], (p + s - 1) / s);
  const int64_t last_ok = g.in[2] - 1 - span + p;  // ow * s <= last_ok
  const int64_t end = last_ok < 0 ? 0 : std::min(g.out[2], last_ok / s + 1);
  return {first, std::max(first, end)};
}

// Contiguous layout, one output row (n, c, od, oh) at a time. Interior outputs
// run tap by tap over the whole row: `x[ow * stride]` with a compile-time
// stride (1 and 2 cover most networks; 0 means "runtime stride") is a loop
// the compiler vectorises. Taps are visited in the body's order, so NaN and
// tie rules match it exactly; border outputs run the body itself.
template <int kStride, typename scalar_t, typename offset_t>
void forward_contiguous_rows(const MaxPoolForwardBody<scalar_t, offset_t>& body) {
  using value_t = running_t<scalar_t>;
  const PoolGeometry& g = body.g;
  const int64_t rows = g.batch * g.channels * g.out[0] * g.out[1];
  auto [inner_first, inner_end] = interior_outputs(g);
  if (inner_end - inner_first < 4) inner_first = inner_end = 0;  // too short to pay: all through the body
  const int64_t stride = kStride > 0 ? kStride : g.stride[2];
  const int64_t empty = empty_window_offset(g.kernel_volume());
  at::parallel_for(0, rows, grain_for(g.out[2] * g.kernel_volume()), [&](int64_t begin, int64_t end) {
    std::vector<value_t> best_buffer(g.out[2]);
    std::vector<int32_t> tap_buffer(g.out[2]);
    value_t* __restrict__ best = best_buffer.data();
    int32_t* __restrict__ best_tap = tap_buffer.data();
    for (int64_t row = begin; row < end; ++row) {
      const int64_t oh = row % g.out[1];
      const int64_t od = (row / g.out[1]) % g.out[0];
      const int64_t nc = row / (g.out[1] * g.out[0]);
      const int64_t n = nc / g.channels, c = nc % g.channels;
      const int64_t out_base = row * g.out[2];
      for (int64_t ow = 0; ow < inner_first; ++ow) body.compute(n, c, od, oh, ow, out_base + ow);
      for (int64_t ow = inner_end; ow < g.out[2]; ++ow) body.compute(n, c, od, oh, ow, out_base + ow);
      if (inner_first >= inner_end) continue;
      const TapRange<int64_t> rd = window_taps(od, g.in[0], g.kernel[0], g.stride[0], g.pad[0], g.dilation[0]);
      const TapRange<int64_t> rh = window_taps(oh, g.in[1], g.kernel[1], g.stride[1], g.pad[1], g.dilation[1]);
      scalar_t* out = body.output + out_base;
      offset_t* off = body.window_offset + out_base;
      if (rd.first >= rd.end || rh.first >= rh.end) {  // the row's windows lie in the padding
        for (int64_t ow = inner_first; ow < inner_end; ++ow) {
          out[ow] = max_identity<scalar_t>();
          off[ow] = static_cast<offset_t>(empty);
        }
        continue;
      }
      const int64_t count = inner_end - inner_first;
      const scalar_t* plane = body.input + nc * g.in_plane();
      bool first = true;
      for (int64_t td = rd.first; td < rd.end; ++td) {
        for (int64_t th = rh.first; th < rh.end; ++th) {
          const scalar_t* in_row = plane + ((rd.start + td * g.dilation[0]) * g.in[1] + rh.start + th * g.dilation[1]) * g.in[2];
          for (int64_t tw = 0; tw < g.kernel[2]; ++tw) {
            const scalar_t* __restrict__ x = in_row + inner_first * stride - g.pad[2] + tw * g.dilation[2];
            const int32_t tap = static_cast<int32_t>((td * g.kernel[1] + th) * g.kernel[2] + tw);
            if (first) {
              for (int64_t i = 0; i < count; ++i) {
                best[i] = static_cast<value_t>(x[i * stride]);
                best_tap[i] = tap;
              }
              first = false;
              continue;
            }
            for (int64_t i = 0; i < count; ++i) {
              const value_t v = static_cast<value_t>(x[i * stride]);
              const bool take = (v > best[i]) | (v != v);
              best[i] = take ? v : best[i];
              best_tap[i] = take ? tap : best_tap[i];
            }
          }
        }
      }
      for (int64_t i = 0; i < count; ++i) {
        out[inner_first + i] = static_cast<scalar_t>(best[i]);
        off[inner_first + i] = static_cast<offset_t>(best_tap[i]);
      }
    }
  });
}

template <typename scalar_t, typename offset_t>
void forward_contiguous(const MaxPoolForwardBody<scalar_t, offset_t>& body) {
  switch (body.g.stride[2]) {
    case 1: return forward_contiguous_rows<1>(body);
    case 2: return forward_contiguous_rows<2>(body);
    default: return forward_contiguous_rows<0>(body);
  }
}

// Channels-last: the window rule runs once per output position, then each
// tap is one pass over the contiguous channels. The running maxima live in
// float (or the integer type) and the taps in int32, so the compare-select
// loop has lanes of one width and vectorises.

template <typename scalar_t, typename offset_t>
void forward_channels_last(const MaxPoolForwardBody<scalar_t, offset_t>& body) {
  using value_t = running_t<scalar_t>;
  const PoolGeometry& g = body.g;
  const int64_t C = g.channels;
  const int64_t positions = g.batch * g.out_plane();
  const int64_t empty = empty_window_offset(g.kernel_volume());
  at::parallel_for(0, positions, grain_for(C * g.kernel_volume()), [&](int64_t begin, int64_t end) {
    std::vector<value_t> best_buffer(C);
    std::vector<int32_t> tap_buffer(C);
    value_t* __restrict__ best = best_buffer.data();
    int32_t* __restrict__ best_tap = tap_buffer.data();
    for (int64_t pos = begin; pos < end; ++pos) {
      const int64_t n = pos / g.out_plane();
      const Spatial3<int64_t> o = split_spatial(pos % g.out_plane(), g.out);
      const TapRange<int64_t> rd = window_taps(o.d, g.in[0], g.kernel[0], g.stride[0], g.pad[0], g.dilation[0]);
      const TapRange<int64_t> rh = window_taps(o.h, g.in[1], g.kernel[1], g.stride[1], g.pad[1], g.dilation[1]);
      const TapRange<int64_t> rw = window_taps(o.w, g.in[2], g.kernel[2], g.stride[2], g.pad[2], g.dilation[2]);
      bool first = true;
      for (int64_t td = rd.first; td < rd.end; ++td) {
        for (int64_t th = rh.first; th < rh.end; ++th) {
          for (int64_t tw = rw.first; tw < rw.end; ++tw) {
            const int64_t spatial = ((rd.start + td * g.dilation[0]) * g.in[1] + rh.start + th * g.dilation[1]) *
                                        g.in[2] + rw.start + tw * g.dilation[2];
            const scalar_t* __restrict__ v = body.input + (n * g.in_plane() + spatial) * C;
            const int32_t tap = static_cast<int32_t>((td * g.kernel[1] + th) * g.kernel[2] + tw);
            if (first) {
              for (int64_t c = 0; c < C; ++c) {
                best[c] = static_cast<value_t>(v[c]);
                best_tap[c] = tap;
              }
              first = false;
              continue;
            }
            for (int64_t c = 0; c < C; ++c) {
              const value_t x = static_cast<value_t>(v[c]);
              const bool take = (x > best[c]) | (x != x);
              best[c] = take ? x : best[c];
              best_tap[c] = take ? tap : best_tap[c];
            }
          }
        }
      }
      scalar_t* __restrict__ out = body.output + pos * C;
      offset_t* __restrict__ off = body.window_offset + pos * C;
      if (first) {  // window wholly in the padding
        for (int64_t c = 0; c < C; ++c) {
          out[c] = max_identity<scalar_t>();
          off[c] = static_cast<offset_t>(empty);
        }
        continue;
      }
      for (int64_t c = 0; c < C; ++c) {
        out[c] = static_cast<scalar_t>(best[c]);
        off[c] = static_cast<offset_t>(best_tap[c]);
      }
    }
  });
}

std::tuple<at::Tensor, at::Tensor> max_pool_forward_cpu(const at::Tensor& self, at::IntArrayRef kernel_size,
                                                        at::IntArrayRef stride, at::IntArrayRef padding,
                                                        at::IntArrayRef dilation, bool ceil_mode) {
  MaxPoolForwardPlan plan = plan_max_pool_forward(self, kernel_size, stride, padding, dilation, ceil_mode);
  if (plan.output.numel() == 0) return {plan.output, plan.window_offset};
  POOLING_EXT_DISPATCH_MAX_POOL_TYPES(plan.input.scalar_type(), "max_pool_forward_cpu", [&] {
    POOLING_EXT_DISPATCH_OFFSET_TYPE(plan.window_offset.scalar_type(), [&] {
      const MaxPoolForwardBody<scalar_t, offset_t> body{plan.input.const_data_ptr<scalar_t>(),
                                                        plan.output.mutable_data_ptr<scalar_t>(),
                                                        plan.window_offset.mutable_data_ptr<offset_t>(), plan.geometry};
      if (plan.geometry.channels_last) {
        forward_channels_last(body);
      } else {
        forward_contiguous(body);
      }
    });
  });
  return {plan.output, plan.window_offset};
}

// ---------------------------------------------------------------- backward

// Backward on the CPU: each (batch item, channel block) is accumulated by one
// task in a fixed order (outputs in memory order), in float for half and
// bfloat16: no atomics, the same bits for any thread count. Each output adds
// its gradient at its argmax, found from the window start plus a per-tap
// offset table, so the loop does no division.
template <typename scalar_t, typename offset_t>
void backward_accumulate(const MaxPoolBackwardBody<scalar_t, offset_t>& body) {
  using acc_t = at::opmath_type<scalar_t>;
  const PoolGeometry& g = body.g;
  const int64_t C = g.channels;
  const int64_t kernel_volume = g.kernel_volume();
  std::vector<int64_t> tap_offset(kernel_volume);
  for (int64_t td = 0; td < g.kernel[0]; ++td) {
    for (int64_t th = 0; th < g.kernel[1]; ++th) {
      for (int64_t tw = 0; tw < g.kernel[2]; ++tw) {
        tap_offset[(td * g.kernel[1] + th) * g.kernel[2] + tw] =
            (td * g.dilation[0] * g.in[1] + th * g.dilation[1]) * g.in[2] + tw * g.dilation[2];
      }
    }
  }
  // Channels-last: blocks of channels share a cache line per position.
  const int64_t block = g.channels_last ? std::min<int64_t>(C, 16) : 1;
  const int64_t blocks_per_item = (C + block - 1) / block;
  const int64_t position_stride = g.channels_last ? C : 1;
  const int64_t tasks = g.batch * blocks_per_item;
  // float and double accumulate in grad_input itself; half and bfloat16 in a
  // float buffer written back at the end.
  constexpr bool kInPlace = std::is_same_v<acc_t, scalar_t>;
  at::parallel_for(0, tasks, grain_for(g.in_plane() * block), [&](int64_t begin, int64_t end) {
    std::vector<acc_t> buffer(kInPlace ? 0 : g.in_plane() * block);
    for (int64_t task = begin; task < end; ++task) {
      const int64_t n = task / blocks_per_item;
      const int64_t c0 = (task % blocks_per_item) * block;
      const int64_t width = std::min(block, C - c0);
      scalar_t* grad_in = body.grad_input + layout_offset(g.channels_last, C, g.in_plane(), n, c0, int64_t(0));
      // acc[i * acc_stride + j]: input position i, channel c0 + j
      acc_t* acc = kInPlace ? reinterpret_cast<acc_t*>(grad_in) : buffer.data();
      const int64_t acc_stride = kInPlace ? position_stride : width;
      const int64_t out_base = layout_offset(g.channels_last, C, g.out_plane(), n, c0, int64_t(0));
      const scalar_t* __restrict__ grad = body.grad_output + out_base;
      const offset_t* __restrict__ off = body.window_offset + out_base;
      if (acc_stride == 1) {  // one channel per task: a plain plane
        std::fill(acc, acc + g.in_plane(), acc_t(0));
        const int64_t* __restrict__ tap_to_input = tap_offset.data();
        int64_t o = 0;
        for (int64_t od = 0; od < g.out[0]; ++od) {
          for (int64_t oh = 0; oh < g.out[1]; ++oh) {
            const int64_t row_start = ((od * g.stride[0] - g.pad[0]) * g.in[1] + oh * g.stride[1] - g.pad[1]) * g.in[2];
            for (int64_t ow = 0; ow < g.out[2]; ++ow, ++o) {
              const int64_t tap = static_cast<int64_t>(off[o]);
              if (tap >= kernel_volume) continue;  // empty window: no gradient
              acc[row_start + ow * g.stride[2] - g.pad[2] + tap_to_input[tap]] += static_cast<acc_t>(grad[o]);
            }
          }
        }
      } else {  // channels-last: a block of channels per position
        for (int64_t i = 0; i < g.in_plane(); ++i) {
          for (int64_t j = 0; j < width; ++j) acc[i * acc_stride + j] = acc_t(0);
        }
        int64_t o = 0;
        for (int64_t od = 0; od < g.out[0]; ++od) {
          for (int64_t oh = 0; oh < g.out[1]; ++oh) {
            const int64_t row_start = ((od * g.stride[0] - g.pad[0]) * g.in[1] + oh * g.stride[1] - g.pad[1]) * g.in[2];
            for (int64_t ow = 0; ow < g.out[2]; ++ow, ++o) {
              const int64_t window_start = row_start + ow * g.stride[2] - g.pad[2];
              for (int64_t j = 0; j < width; ++j) {
                const int64_t tap = static_cast<int64_t>(off[o * position_stride + j]);
                if (tap >= kernel_volume) continue;  // empty window: no gradient
                acc[(window_start + tap_offset[tap]) * acc_stride + j] +=
                    static_cast<acc_t>(grad[o * position_stride + j]);
              }
            }
          }
        }
      }
      if constexpr (!kInPlace) {
        for (int64_t i = 0; i < g.in_plane(); ++i) {
          for (int64_t j = 0; j < width; ++j) grad_in[i * position_stride + j] = static_cast<scalar_t>(acc[i * width + j]);
        }
      }
    }
  });
}

at::Tensor max_pool_backward_cpu(const at::Tensor& grad_output, const at::Tensor& window_offset,
                                 at::IntArrayRef input_size, at::IntArrayRef kernel_size, at::IntArrayRef stride,
                                 at::IntArrayRef padding, at::IntArrayRef dilation) {
  WindowOffsetPlan plan =
      plan_window_offset_op("max_pool_backward", window_offset, input_size, kernel_size, stride, padding, dilation);
  const at::Tensor grad = prepare_grad_output(plan, grad_output, window_offset);
  at::Tensor grad_input = at::empty(input_size, grad_output.options().memory_format(plan.format));
  if (grad_input.numel() == 0) return grad_input;
  POOLING_EXT_DISPATCH_FLOAT_TYPES(grad.scalar_type(), "max_pool_backward_cpu", [&] {
    POOLING_EXT_DISPATCH_OFFSET_TYPE(plan.window_offset.scalar_type(), [&] {
      backward_accumulate(MaxPoolBackwardBody<scalar_t, offset_t>{grad.const_data_ptr<scalar_t>(),
                                                              plan.window_offset.const_data_ptr<offset_t>(),
                                                              grad_input.mutable_data_ptr<scalar_t>(), plan.geometry});
    });
  });
  return grad_input;
}

// ---------------------------------------------------------------- unpool

// Each (n, c) plane is written by one thread in input order, so when indices
// repeat the last element wins, deterministically.
at::Tensor max_unpool_cpu(const at::Tensor& self, const at::Tensor& indices, at::IntArrayRef output_size) {
  check_unpool_inputs("max_unpool", self, indices);
  UnpoolPlan plan = plan_max_unpool("max_unpool", indices, output_size);
  check_unpool_dtype("max_unpool", self);
  const at::Tensor input = self.contiguous(plan.format);
  at::Tensor output = at::empty(plan.output_sizes, self.options().memory_format(plan.format)).zero_();
  if (input.numel() == 0) return output;
  const UnpoolGeometry g = plan.geometry;
  const int64_t* idx = plan.indices.const_data_ptr<int64_t>();
  std::atomic<bool> found_bad{false};
  std::atomic<int64_t> bad_value{0};
  POOLING_EXT_DISPATCH_FLOAT_TYPES(input.scalar_type(), "max_unpool_cpu", [&] {
    const scalar_t* in = input.const_data_ptr<scalar_t>();
    scalar_t* out = output.mutable_data_ptr<scalar_t>();
    // Channels-last runs all channels of a batch item per task: within each
    // plane the spatial order is still the input order.
    const int64_t tasks = g.channels_last ? g.batch : g.batch * g.channels;
    const int64_t lanes = g.channels_last ? g.channels : 1;
    at::parallel_for(0, tasks, grain_for(g.in_plane * lanes), [&](int64_t begin, int64_t end) {
      for (int64_t task = begin; task < end; ++task) {
        const int64_t in_base = task * g.in_plane * lanes, out_base = task * g.out_plane * lanes;
        for (int64_t p = 0; p < g.in_plane; ++p) {
          for (int64_t c = 0; c < lanes; ++c) {
            const int64_t src = in_base + p * lanes + c;
            const int64_t target = idx[src];
            if (target < 0 || target >= g.out_plane) {
              bad_value.store(target);
              found_bad.store(true);
              continue;
            }
            out[out_base + target * lanes + c] = in[src];
          }
        }
      }
    });
  });
  if (found_bad.load()) throw_bad_unpool_index(bad_value.load(), output_size);
  return output;
}

at::Tensor max_unpool_gather_cpu(const at::Tensor& grad_output, const at::Tensor& indices, int64_t dims) {
  UnpoolPlan plan = plan_max_unpool("max_unpool_gather", indices, unpooled_spatial_size(grad_output, indices, dims));
  check_unpool_dtype("max_unpool_gather", grad_output);
  const at::Tensor grad = grad_output.contiguous(plan.format);
  at::Tensor grad_input = at::empty(indices.sizes(), grad_output.options().memory_format(plan.format));
  if (grad_input.numel() == 0) return grad_input;
  int64_t bad_index = 0;  // 0 is always a valid index, so it means "none"
  POOLING_EXT_DISPATCH_FLOAT_TYPES(grad.scalar_type(), "max_unpool_gather_cpu", [&] {
    std::atomic<int64_t> bad{0};
    const MaxUnpoolGatherBody<scalar_t> body{grad.const_data_ptr<scalar_t>(), plan.indices.const_data_ptr<int64_t>(),
                                             grad_input.mutable_data_ptr<scalar_t>(), nullptr, plan.geometry};
    at::parallel_for(0, grad_input.numel(), kGrainElements, [&](int64_t begin, int64_t end) {
      int64_t local_bad = 0;
      MaxUnpoolGatherBody<scalar_t> local = body;
      local.bad_index_slot = &local_bad;
      for (int64_t i = begin; i < end; ++i) local(i);
      if (local_bad != 0) bad.store(local_bad);
    });
    bad_index = bad.load();
  });
  if (bad_index != 0) throw_bad_unpool_index(bad_index, grad_output.sizes().slice(grad_output.dim() - dims));
  return grad_input;
}

// ---------------------------------------------------------------- element-wise ops

at::Tensor max_pool_gather_cpu(const at::Tensor& source, const at::Tensor& window_offset, at::IntArrayRef kernel_size,
                               at::IntArrayRef stride, at::IntArrayRef padding, at::IntArrayRef dilation) {
  WindowOffsetPlan plan =
      plan_window_offset_op("max_pool_gather", window_offset, source.sizes(), kernel_size, stride, padding, dilation);
  check_max_pool_dtype("max_pool_gather", source, /*need_floating=*/false);
  const at::Tensor src = source.contiguous(plan.format);
  at::Tensor output = at::empty(window_offset.sizes(), source.options().memory_format(plan.format));
  if (output.numel() == 0) return output;
  POOLING_EXT_DISPATCH_MAX_POOL_TYPES(src.scalar_type(), "max_pool_gather_cpu", [&] {
    POOLING_EXT_DISPATCH_OFFSET_TYPE(plan.window_offset.scalar_type(), [&] {
      parallel_for_each_index(output.numel(), MaxPoolGatherBody<scalar_t, offset_t>{
                                                  src.const_data_ptr<scalar_t>(),
                                                  plan.window_offset.const_data_ptr<offset_t>(),
                                                  output.mutable_data_ptr<scalar_t>(), plan.geometry});
    });
  });
  return output;
}

at::Tensor max_pool_indices_cpu(const at::Tensor& window_offset, at::IntArrayRef input_size,
                                at::IntArrayRef kernel_size, at::IntArrayRef stride, at::IntArrayRef padding,
                                at::IntArrayRef dilation) {
  WindowOffsetPlan plan =
      plan_window_offset_op("max_pool_indices", window_offset, input_size, kernel_size, stride, padding, dilation);
  at::Tensor indices =
      at::empty(window_offset.sizes(), window_offset.options().dtype(at::kLong).memory_format(plan.format));
  if (indices.numel() == 0) return indices;
  POOLING_EXT_DISPATCH_OFFSET_TYPE(plan.window_offset.scalar_type(), [&] {
    parallel_for_each_index(indices.numel(),
                            MaxPoolIndicesBody<offset_t>{plan.window_offset.const_data_ptr<offset_t>(),
                                                         indices.mutable_data_ptr<int64_t>(), plan.geometry});
  });
  return indices;
}

}  // namespace

TORCH_LIBRARY_IMPL(pooling_ext, CPU, m) {
  m.impl("max_pool_forward", &max_pool_forward_cpu);
  m.impl("max_pool_backward", &max_pool_backward_cpu);
  m.impl("max_pool_gather", &max_pool_gather_cpu);
  m.impl("max_pool_indices", &max_pool_indices_cpu);
  m.impl("max_unpool", &max_unpool_cpu);
  m.impl("max_unpool_gather", &max_unpool_gather_cpu);
}

}  // namespace pooling_ext
