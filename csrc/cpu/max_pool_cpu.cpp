// CPU kernels of max pooling and unpooling, parallel with at::parallel_for.
// They share the window rules of kernels/window.h with the CUDA kernels and
// run the shared per-element bodies where a window is irregular (borders);
// the regular bulk runs as loops over a contiguous dim that vectorise: output
// width for contiguous tensors, channels for channels-last ones (float32
// through the ISA-dispatched loops of simd_loops.h).
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <atomic>
#include <limits>
#include <utility>
#include <type_traits>

#include "../max_pool_grid.h"
#include "../ops.h"
#include "isa_clones.h"
#include "loop_support.h"
#include "simd_loops.h"

namespace pooling_ext {
namespace {

using namespace cpu;

// ---------------------------------------------------------------- forward

template <typename scalar_t>
using running_t = std::conditional_t<std::is_arithmetic_v<scalar_t>, scalar_t, float>;

// The compare-select step of every vectorised max loop (torch's rule: greater,
// or NaN, replaces), over n elements of x read at `stride`.
template <typename scalar_t>
inline void select_max_generic(const scalar_t* x, int64_t stride, running_t<scalar_t>* best, int32_t* best_tap,
                               int32_t tap, int64_t n) {
  using value_t = running_t<scalar_t>;
  for (int64_t i = 0; i < n; ++i) {
    const value_t v = static_cast<value_t>(x[i * stride]);
    const bool take = (v > best[i]) | (v != v);
    best[i] = take ? v : best[i];
    best_tap[i] = take ? tap : best_tap[i];
  }
}

// Output positions [first, end) along W whose whole window lies inside the
// input: the vectorised row loop handles them, the per-element body the rest.
inline std::pair<int64_t, int64_t> interior_outputs(const PoolGeometry& g) {
  if (g.adaptive) return {0, 0};  // adaptive windows do not start at ow * stride - pad
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
  const std::vector<TapRange<int64_t>> taps_w =
      per_position_table(g.out[2], [&](int64_t ow) { return dim_window_taps(g, 2, ow); });
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
      const TapRange<int64_t> rd = dim_window_taps(g, 0, od);
      const TapRange<int64_t> rh = dim_window_taps(g, 1, oh);
      // Border (and adaptive) windows: the body, with taps along W from the table.
      for (int64_t ow = 0; ow < inner_first; ++ow) body.compute_taps(n, c, rd, rh, taps_w[ow], out_base + ow);
      for (int64_t ow = inner_end; ow < g.out[2]; ++ow) body.compute_taps(n, c, rd, rh, taps_w[ow], out_base + ow);
      if (inner_first >= inner_end) continue;
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
            if constexpr (std::is_same_v<scalar_t, float> && kStride == 1) {
              simd::select_max(x, best, best_tap, tap, count);
            } else if constexpr (std::is_same_v<scalar_t, float> && kStride == 2) {
              simd::select_max_stride2(x, best, best_tap, tap, count);
            } else {
              select_max_generic(x, stride, best, best_tap, tap, count);
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

// Global windows (is_global_window): each output reduces its contiguous plane
// in order with the body's rule (a NaN replaces, ties keep the first), the
// tap being the index in the plane.

// The running maximum of one chain of a plane's elements and its index.
template <typename value_t>
struct RunningMax {
  value_t value;
  int64_t index;
};

// Which of two chains' results a scan of the whole plane in order ends with:
// the last NaN if there is one, else the larger value, the earlier index on ties.
template <typename value_t>
inline RunningMax<value_t> merge_in_plane_order(const RunningMax<value_t>& a, const RunningMax<value_t>& b) {
  const bool a_nan = is_nan_value(a.value), b_nan = is_nan_value(b.value);
  if (a_nan || b_nan) {
    if (a_nan && b_nan) return a.index > b.index ? a : b;
    return a_nan ? a : b;
  }
  if (a.value != b.value) return a.value > b.value ? a : b;
  return a.index < b.index ? a : b;
}

template <typename scalar_t, typename offset_t>
void forward_global_contiguous(const MaxPoolForwardBody<scalar_t, offset_t>& body) {
  using value_t = running_t<scalar_t>;
  constexpr int64_t kChains = 4;  // independent chains: a single running maximum is latency-bound
  const int64_t plane_size = body.g.in_plane();
  at::parallel_for(0, body.g.batch * body.g.channels, grain_for(plane_size), [&](int64_t begin, int64_t end) {
    for (int64_t plane = begin; plane < end; ++plane) {
      const scalar_t* x = body.input + plane * plane_size;
      // Chain k scans elements k, k + 4, ... with the body's rule, so it holds
      // its own last NaN or first maximum; the merge restores the plane's order.
      RunningMax<value_t> chain[kChains];
      const int64_t chains = std::min(kChains, plane_size);
      for (int64_t k = 0; k < chains; ++k) chain[k] = {static_cast<value_t>(x[k]), k};
      int64_t i = chains;
      for (; i + kChains <= plane_size; i += kChains) {
        for (int64_t k = 0; k < kChains; ++k) {
          const value_t v = static_cast<value_t>(x[i + k]);
          const bool take = replaces_max(v, chain[k].value);
          chain[k].value = take ? v : chain[k].value;
          chain[k].index = take ? i + k : chain[k].index;
        }
      }
      for (; i < plane_size; ++i) {
        const int64_t k = i % kChains;
        const value_t v = static_cast<value_t>(x[i]);
        if (replaces_max(v, chain[k].value)) chain[k] = {v, i};
      }
      RunningMax<value_t> best = chain[0];
      for (int64_t k = 1; k < chains; ++k) best = merge_in_plane_order(best, chain[k]);
      body.output[plane] = static_cast<scalar_t>(best.value);
      body.window_offset[plane] = static_cast<offset_t>(best.index);
    }
  });
}

template <typename scalar_t, typename offset_t>
void forward_contiguous(const MaxPoolForwardBody<scalar_t, offset_t>& body) {
  if (is_global_window(body.g)) return forward_global_contiguous(body);
  switch (body.g.stride[2]) {
    case 1: return forward_contiguous_rows<1>(body);
    case 2: return forward_contiguous_rows<2>(body);
    default: return forward_contiguous_rows<0>(body);
  }
}

// Channels-last: per output position, the window rule gives the rows of C
// channels to reduce (taps in order); the reduction runs over the contiguous
// channels, for float32 in one ISA-dispatched call per position. The running
// maxima live in float (or the integer type) and the taps in int32, so the
// compare-select loop has lanes of one width and vectorises.
template <typename scalar_t>
void max_over_taps_generic(const scalar_t* const* rows, const int32_t* taps, int64_t count,
                           running_t<scalar_t>* __restrict__ best, int32_t* __restrict__ best_tap, int64_t C) {
  using value_t = running_t<scalar_t>;
  for (int64_t c = 0; c < C; ++c) {
    best[c] = static_cast<value_t>(rows[0][c]);
    best_tap[c] = taps[0];
  }
  for (int64_t k = 1; k < count; ++k) select_max_generic(rows[k], 1, best, best_tap, taps[k], C);
}

template <typename scalar_t, typename offset_t>
void forward_channels_last(const MaxPoolForwardBody<scalar_t, offset_t>& body) {
  using value_t = running_t<scalar_t>;
  const PoolGeometry& g = body.g;
  const int64_t C = g.channels;
  const int64_t positions = g.batch * g.out_plane();
  const int64_t empty = empty_window_offset(g.kernel_volume());
  std::vector<TapRange<int64_t>> taps[kMaxSpatialDims];
  for (int d = 0; d < kMaxSpatialDims; ++d) {
    taps[d] = per_position_table(g.out[d], [&](int64_t o) {
      return dim_window_taps(g, d, o);
    });
  }
  at::parallel_for(0, positions, grain_for(C * g.kernel_volume()), [&](int64_t begin, int64_t end) {
    std::vector<value_t> best_buffer(C);
    std::vector<int32_t> tap_buffer(C);
    std::vector<const scalar_t*> rows(g.kernel_volume());
    std::vector<int32_t> row_taps(g.kernel_volume());
    PositionCursor cursor(g.out, begin);
    for (int64_t pos = begin; pos < end; ++pos, cursor.next()) {
      const TapRange<int64_t>& rd = taps[0][cursor.d];
      const TapRange<int64_t>& rh = taps[1][cursor.h];
      const TapRange<int64_t>& rw = taps[2][cursor.w];
      int64_t count = 0;
      for (int64_t td = rd.first; td < rd.end; ++td) {
        for (int64_t th = rh.first; th < rh.end; ++th) {
          const int64_t row = ((rd.start + td * g.dilation[0]) * g.in[1] + rh.start + th * g.dilation[1]) * g.in[2];
          for (int64_t tw = rw.first; tw < rw.end; ++tw, ++count) {
            rows[count] = body.input + (cursor.n * g.in_plane() + row + rw.start + tw * g.dilation[2]) * C;
            row_taps[count] = static_cast<int32_t>((td * g.kernel[1] + th) * g.kernel[2] + tw);
          }
        }
      }
      scalar_t* __restrict__ out = body.output + pos * C;
      offset_t* __restrict__ off = body.window_offset + pos * C;
      if (count == 0) {  // window wholly in the padding
        for (int64_t c = 0; c < C; ++c) {
          out[c] = max_identity<scalar_t>();
          off[c] = static_cast<offset_t>(empty);
        }
        continue;
      }
      if constexpr (std::is_same_v<scalar_t, float>) {
        simd::max_over_taps(rows.data(), row_taps.data(), count, out, tap_buffer.data(), C);
      } else if constexpr (std::is_same_v<scalar_t, at::BFloat16>) {
        simd::max_over_taps_bf16(reinterpret_cast<const uint16_t* const*>(rows.data()), row_taps.data(), count,
                                 reinterpret_cast<uint16_t*>(out), tap_buffer.data(), best_buffer.data(), C);
      } else {
        max_over_taps_generic(rows.data(), row_taps.data(), count, best_buffer.data(), tap_buffer.data(), C);
        for (int64_t c = 0; c < C; ++c) out[c] = static_cast<scalar_t>(best_buffer[c]);
      }
      for (int64_t c = 0; c < C; ++c) off[c] = static_cast<offset_t>(tap_buffer[c]);
    }
  });
}

// Global max pooling of contiguous float input: each plane's maximum in
// vector lanes (simd::max_of_planes), a span of planes per call; its index in
// the plane is the window offset (the window is the plane).
template <typename offset_t>
void global_max_contiguous_float(const float* input, float* output, offset_t* window_offset, const PoolGeometry& g) {
  const int64_t plane = g.in_plane();
  at::parallel_for(0, g.batch * g.channels, grain_for(plane), [&](int64_t begin, int64_t end) {
    std::vector<int32_t> taps(end - begin);
    simd::max_of_planes(input + begin * plane, end - begin, plane, output + begin, taps.data());
    for (int64_t p = begin; p < end; ++p) window_offset[p] = static_cast<offset_t>(taps[p - begin]);
  });
}

std::tuple<at::Tensor, at::Tensor> run_max_pool_forward(const MaxPoolForwardPlan& plan) {
  if (plan.output.numel() == 0) return {plan.output, plan.window_offset};
  const PoolGeometry& g = plan.geometry;
  if (!g.channels_last && is_global_window(g) && plan.input.scalar_type() == at::kFloat &&
      g.in_plane() > 0 && g.in_plane() < std::numeric_limits<int32_t>::max()) {
    POOLING_EXT_DISPATCH_OFFSET_TYPE(plan.window_offset.scalar_type(), [&] {
      global_max_contiguous_float(plan.input.const_data_ptr<float>(), plan.output.mutable_data_ptr<float>(),
                                  plan.window_offset.mutable_data_ptr<offset_t>(), g);
    });
    return {plan.output, plan.window_offset};
  }
  if (runs_on_channels_last_copy(g, is_global_window(g))) {
    MaxPoolForwardPlan on_copy = plan;
    on_copy.input = channels_last_copy(plan.input.const_data_ptr(), g, /*input_side=*/true, plan.input.scalar_type());
    on_copy.output = channels_last_scratch(g, /*input_side=*/false, plan.output.scalar_type());
    on_copy.window_offset = channels_last_scratch(g, /*input_side=*/false, plan.window_offset.scalar_type());
    on_copy.geometry.channels_last = true;
    run_max_pool_forward(on_copy);
    canonical_view(plan.output.data_ptr(), g, /*input_side=*/false, plan.output.scalar_type()).copy_(on_copy.output);
    canonical_view(plan.window_offset.data_ptr(), g, /*input_side=*/false, plan.window_offset.scalar_type())
        .copy_(on_copy.window_offset);
    return {plan.output, plan.window_offset};
  }
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

std::tuple<at::Tensor, at::Tensor> max_pool_forward_cpu(const at::Tensor& self, at::IntArrayRef kernel_size,
                                                        at::IntArrayRef stride, at::IntArrayRef padding,
                                                        at::IntArrayRef dilation, bool ceil_mode) {
  return run_max_pool_forward(plan_max_pool_forward(self, kernel_size, stride, padding, dilation, ceil_mode));
}

std::tuple<at::Tensor, at::Tensor> adaptive_max_pool_forward_cpu(const at::Tensor& self, at::IntArrayRef output_size) {
  return run_max_pool_forward(plan_adaptive_max_pool_forward(self, output_size));
}

// ---------------------------------------------------------------- backward

// Backward on the CPU, deterministic for any thread count and without
// atomics. Contiguous: each (n, c) plane is accumulated by one task, outputs
// in memory order, each adding its gradient at its argmax (window start plus
// a per-tap offset table: no division). Channels-last: a gather per input
// position over the few outputs whose window covers it, vectorised across
// channels. Half and bfloat16 accumulate in float.
template <typename scalar_t, typename offset_t>
void backward_contiguous(const MaxPoolBackwardBody<scalar_t, offset_t>& body) {
  using acc_t = at::opmath_type<scalar_t>;
  const PoolGeometry& g = body.g;
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
  std::vector<int64_t> window_start[kMaxSpatialDims];  // per output position, so the loop does no division
  for (int d = 0; d < kMaxSpatialDims; ++d) {
    window_start[d] = per_position_table(g.out[d], [&](int64_t o) { return dim_window_start(g, d, o); });
  }
  // float and double accumulate in grad_input itself; half and bfloat16 in a
  // float plane written back at the end.
  constexpr bool kInPlace = std::is_same_v<acc_t, scalar_t>;
  const int64_t planes = g.batch * g.channels;
  at::parallel_for(0, planes, grain_for(g.in_plane()), [&](int64_t begin, int64_t end) {
    std::vector<acc_t> buffer(kInPlace ? 0 : g.in_plane());
    const int64_t* __restrict__ tap_to_input = tap_offset.data();
    for (int64_t plane = begin; plane < end; ++plane) {
      scalar_t* grad_in = body.grad_input + plane * g.in_plane();
      acc_t* __restrict__ acc = kInPlace ? reinterpret_cast<acc_t*>(grad_in) : buffer.data();
      const scalar_t* __restrict__ grad = body.grad_output + plane * g.out_plane();
      const offset_t* __restrict__ off = body.window_offset + plane * g.out_plane();
      std::fill(acc, acc + g.in_plane(), acc_t(0));
      int64_t o = 0;
      for (int64_t od = 0; od < g.out[0]; ++od) {
        for (int64_t oh = 0; oh < g.out[1]; ++oh) {
          const int64_t row_start = (window_start[0][od] * g.in[1] + window_start[1][oh]) * g.in[2];
          const int64_t* start_w = window_start[2].data();
          for (int64_t ow = 0; ow < g.out[2]; ++ow, ++o) {
            const int64_t tap = static_cast<int64_t>(off[o]);
            if (tap >= kernel_volume) continue;  // empty window: no gradient
            acc[row_start + start_w[ow] + tap_to_input[tap]] += static_cast<acc_t>(grad[o]);
          }
        }
      }
      if constexpr (!kInPlace) {
        for (int64_t i = 0; i < g.in_plane(); ++i) grad_in[i] = static_cast<scalar_t>(acc[i]);
      }
    }
  });
}

template <typename scalar_t, typename offset_t>
void backward_channels_last(const MaxPoolBackwardBody<scalar_t, offset_t>& body) {
  using acc_t = at::opmath_type<scalar_t>;
  const PoolGeometry& g = body.g;
  const int64_t C = g.channels;
  const int64_t positions = g.batch * g.in_plane();
  std::vector<OutRange<int64_t>> covering[kMaxSpatialDims];
  for (int d = 0; d < kMaxSpatialDims; ++d) {
    covering[d] = per_position_table(g.in[d], [&](int64_t i) {
      return dim_covering_outputs(g, d, i);
    });
  }
  // The most outputs any input position has covering it: the kernel volume
  // for fixed windows, more for adaptive ones when out > in.
  int64_t most_covering = 1;
  for (int d = 0; d < kMaxSpatialDims; ++d) {
    int64_t most = 0;
    for (const OutRange<int64_t>& r : covering[d]) most = std::max(most, r.last - r.first + 1);
    most_covering *= most;
  }
  at::parallel_for(0, positions, grain_for(C * 4), [&](int64_t begin, int64_t end) {
    std::vector<acc_t> acc(C);
    std::vector<const scalar_t*> grad_rows(most_covering);
    std::vector<const offset_t*> offset_rows(most_covering);
    std::vector<int32_t> row_taps(most_covering);
    PositionCursor cursor(g.in, begin);
    for (int64_t pos = begin; pos < end; ++pos, cursor.next()) {
      const OutRange<int64_t>& rd = covering[0][cursor.d];
      const OutRange<int64_t>& rh = covering[1][cursor.h];
      const OutRange<int64_t>& rw = covering[2][cursor.w];
      int64_t count = 0;
      for (int64_t od = rd.first; od <= rd.last; ++od) {
        const int64_t td = dim_tap_landing_on(g, 0, cursor.d, od);
        if (td < 0) continue;
        for (int64_t oh = rh.first; oh <= rh.last; ++oh) {
          const int64_t th = dim_tap_landing_on(g, 1, cursor.h, oh);
          if (th < 0) continue;
          for (int64_t ow = rw.first; ow <= rw.last; ++ow) {
            const int64_t tw = dim_tap_landing_on(g, 2, cursor.w, ow);
            if (tw < 0) continue;
            const int64_t o = (cursor.n * g.out_plane() + (od * g.out[1] + oh) * g.out[2] + ow) * C;
            grad_rows[count] = body.grad_output + o;
            offset_rows[count] = body.window_offset + o;
            row_taps[count] = static_cast<int32_t>((td * g.kernel[1] + th) * g.kernel[2] + tw);
            ++count;
          }
        }
      }
      scalar_t* __restrict__ out = body.grad_input + pos * C;
      if constexpr (std::is_same_v<scalar_t, float>) {
        simd::sum_where_taps(grad_rows.data(), offset_rows.data(), row_taps.data(), count, out, C);
      } else if constexpr (std::is_same_v<scalar_t, at::BFloat16>) {
        simd::sum_where_taps_bf16(reinterpret_cast<const uint16_t* const*>(grad_rows.data()), offset_rows.data(),
                                  row_taps.data(), count, acc.data(), C);
        simd::round_to_bf16(acc.data(), reinterpret_cast<uint16_t*>(out), C);
      } else {
        std::fill(acc.begin(), acc.end(), acc_t(0));
        for (int64_t k = 0; k < count; ++k) {
          for (int64_t c = 0; c < C; ++c) {
            acc[c] += static_cast<int32_t>(offset_rows[k][c]) == row_taps[k] ? static_cast<acc_t>(grad_rows[k][c])
                                                                              : acc_t(0);
          }
        }
        for (int64_t c = 0; c < C; ++c) out[c] = static_cast<scalar_t>(acc[c]);
      }
    }
  });
}

at::Tensor run_max_pool_backward(const WindowOffsetPlan& plan, const at::Tensor& grad_output,
                                 const at::Tensor& window_offset, at::IntArrayRef input_size) {
  const at::Tensor grad = prepare_grad_output(plan, grad_output, window_offset);
  at::Tensor grad_input = at::empty(input_size, grad_output.options().memory_format(plan.format));
  if (grad_input.numel() == 0) return grad_input;
  if (window_offset.numel() == 0) return grad_input.zero_();  // no output, no gradient
  POOLING_EXT_DISPATCH_FLOAT_TYPES(grad.scalar_type(), "max_pool_backward_cpu", [&] {
    POOLING_EXT_DISPATCH_OFFSET_TYPE(plan.window_offset.scalar_type(), [&] {
      const MaxPoolBackwardBody<scalar_t, offset_t> body{grad.const_data_ptr<scalar_t>(),
                                                         plan.window_offset.const_data_ptr<offset_t>(),
                                                         grad_input.mutable_data_ptr<scalar_t>(), plan.geometry};
      if (plan.geometry.channels_last) {
        backward_channels_last(body);
      } else {
        backward_contiguous(body);
      }
    });
  });
  return grad_input;
}

at::Tensor max_pool_backward_cpu(const at::Tensor& grad_output, const at::Tensor& window_offset,
                                 at::IntArrayRef input_size, at::IntArrayRef kernel_size, at::IntArrayRef stride,
                                 at::IntArrayRef padding, at::IntArrayRef dilation) {
  const WindowOffsetPlan plan =
      plan_window_offset_op("max_pool_backward", window_offset, input_size, kernel_size, stride, padding, dilation);
  return run_max_pool_backward(plan, grad_output, window_offset, input_size);
}

at::Tensor adaptive_max_pool_backward_cpu(const at::Tensor& grad_output, const at::Tensor& window_offset,
                                          at::IntArrayRef input_size, at::IntArrayRef output_size) {
  const WindowOffsetPlan plan =
      plan_adaptive_window_offset_op("adaptive_max_pool_backward", window_offset, input_size, output_size);
  return run_max_pool_backward(plan, grad_output, window_offset, input_size);
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
      int64_t local_bad = 0;  // 0 is always a valid index, so it means "none"
      for (int64_t task = begin; task < end; ++task) {
        const int64_t* __restrict__ task_idx = idx + task * g.in_plane * lanes;
        const scalar_t* __restrict__ task_in = in + task * g.in_plane * lanes;
        scalar_t* __restrict__ task_out = out + task * g.out_plane * lanes;
        for (int64_t p = 0; p < g.in_plane; ++p) {
          for (int64_t c = 0; c < lanes; ++c) {
            const int64_t target = task_idx[p * lanes + c];
            if (target < 0 || target >= g.out_plane) {
              local_bad = target;
              continue;
            }
            task_out[target * lanes + c] = task_in[p * lanes + c];
          }
        }
      }
      if (local_bad != 0) {
        bad_value.store(local_bad);
        found_bad.store(true);
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

// The element-wise ops (gather, indices) run the grid code of the CUDA ops
// with a parallel CPU launcher: nothing in them gains from a CPU-specific loop.
struct ParallelCpuLauncher {
  static constexpr bool kAllowInt32Index = false;

  template <class Body>
  static void launch(int64_t count, const Body& body) {
    parallel_for_each_index(count, body);
  }
};

// ---------------------------------------------------------------- fractional max pooling
// Windows differ per (n, c) plane, so nothing vectorises across channels: the
// CPU walks each plane's outputs (contiguous), or each position's channels
// with their own windows (channels-last), taking each window's maximum with
// torch's rule and tap order (windows never leave the input, so the first tap
// opens each). The starts come from the table the grid code uses, computed
// in the samples' dtype as torch's CPU computes them.

// The starts table with channels innermost, (n, entry, c), for the
// channels-last loops: one position's starts for consecutive channels lie
// together instead of a plane's row apart.
std::vector<int64_t> channels_innermost_starts(const int64_t* table, const PoolGeometry& g) {
  const int64_t per_plane = fractional_starts_per_plane(g);
  std::vector<int64_t> transposed(g.batch * per_plane * g.channels);
  for (int64_t n = 0; n < g.batch; ++n) {
    for (int64_t c = 0; c < g.channels; ++c) {
      const int64_t* row = table + (n * g.channels + c) * per_plane;
      for (int64_t e = 0; e < per_plane; ++e) transposed[(n * per_plane + e) * g.channels + c] = row[e];
    }
  }
  return transposed;
}

// Pointers to the starts (one per channel) of output (od, oh, ow) of sample n
// in a channels_innermost_starts table.
struct PositionStarts {
  const int64_t* d;
  const int64_t* h;
  const int64_t* w;

  PositionStarts(const std::vector<int64_t>& table, const PoolGeometry& g, int64_t n, int64_t od, int64_t oh,
                 int64_t ow) {
    const int64_t* sample = table.data() + n * fractional_starts_per_plane(g) * g.channels;
    d = sample + od * g.channels;
    h = sample + (g.out[0] + oh) * g.channels;
    w = sample + (g.out[0] + g.out[1] + ow) * g.channels;
  }
};

// select_max's step without a branch: on random data a branch per tap is
// mispredicted about half the time, which cost more than the whole window.
template <typename scalar_t>
POOLING_EXT_ALWAYS_INLINE void take_if_replaces_max(scalar_t value, int64_t tap, scalar_t& best, int64_t& best_tap) {
  const bool take = replaces_max(value, best);
  best = take ? value : best;
  best_tap = take ? tap : best_tap;
}

// Float, or bfloat16 as its raw bits, widened exactly to float; and the
// winner's float bits narrowed back (exact: they came from such a value).
POOLING_EXT_ALWAYS_INLINE float widened(float value) { return value; }
POOLING_EXT_ALWAYS_INLINE float widened(uint16_t bfloat16_bits) {
  return __builtin_bit_cast(float, static_cast<uint32_t>(bfloat16_bits) << 16);
}
POOLING_EXT_ALWAYS_INLINE void narrow_into(int32_t float_bits, float& out) { out = __builtin_bit_cast(float, float_bits); }
POOLING_EXT_ALWAYS_INLINE void narrow_into(int32_t float_bits, uint16_t& out) {
  out = static_cast<uint16_t>(static_cast<uint32_t>(float_bits) >> 16);
}

// The maximum of one window of 1 x kH x kW taps, `row_step` apart along h
// and `column_step` along w from `corner`: select_max's steps as bit blends,
// so that no branch depends on the data (GCC turns float selects here into
// branches, and random data mispredicts half of them).
template <int kH, int kW, typename value_t, typename offset_t>
POOLING_EXT_ALWAYS_INLINE void window_max_branch_free(const value_t* corner, int64_t row_step, int64_t column_step,
                                                      value_t& out, offset_t& out_tap) {
  int32_t best_bits = __builtin_bit_cast(int32_t, widened(corner[0]));
  int32_t best_tap = 0;
#pragma GCC unroll 16
  for (int tap = 1; tap < kH * kW; ++tap) {
    const float value = widened(corner[(tap / kW) * row_step + (tap % kW) * column_step]);
    const int32_t take = -static_cast<int32_t>((value > __builtin_bit_cast(float, best_bits)) | (value != value));
    best_bits = (take & __builtin_bit_cast(int32_t, value)) | (~take & best_bits);
    best_tap = (take & tap) | (~take & best_tap);
  }
  narrow_into(best_bits, out);
  out_tap = static_cast<offset_t>(best_tap);
}

// One output row of fractional windows (contiguous), whose corners are
// `corner_row` + w_starts[ow].
template <int kH, int kW, typename value_t, typename offset_t>
POOLING_EXT_ISA_CLONES void fractional_row_max(const value_t* __restrict__ corner_row,
                                               const int64_t* __restrict__ w_starts, int64_t row_stride,
                                               int64_t count, value_t* __restrict__ out,
                                               offset_t* __restrict__ out_tap) {
  for (int64_t ow = 0; ow < count; ++ow) {
    window_max_branch_free<kH, kW>(corner_row + w_starts[ow], row_stride, 1, out[ow], out_tap[ow]);
  }
}

// One channels-last position of fractional windows, each channel's corner
// from its own starts (d_starts[c], h_starts[c], w_starts[c]).
template <int kH, int kW, typename value_t, typename offset_t>
POOLING_EXT_ISA_CLONES void fractional_channels_max(const value_t* __restrict__ sample,
                                                    const int64_t* __restrict__ d_starts,
                                                    const int64_t* __restrict__ h_starts,
                                                    const int64_t* __restrict__ w_starts, int64_t height, int64_t width,
                                                    int64_t channels, value_t* __restrict__ out,
                                                    offset_t* __restrict__ out_tap) {
  for (int64_t c = 0; c < channels; ++c) {
    const value_t* corner = sample + ((d_starts[c] * height + h_starts[c]) * width + w_starts[c]) * channels + c;
    window_max_branch_free<kH, kW>(corner, width * channels, channels, out[c], out_tap[c]);
  }
}

// Float or bfloat16 (as its raw bits) windows of 1x2x2 or 1x3x3 through the
// branch-free loops: f(std::integral_constant<int, k>{}, pointer cast);
// false for any other type or window.
template <typename scalar_t, class F>
bool with_small_branch_free_window(const PoolGeometry& g, const F& f) {
  if constexpr (std::is_same_v<scalar_t, float> || std::is_same_v<scalar_t, at::BFloat16>) {
    using value_t = std::conditional_t<std::is_same_v<scalar_t, float>, float, uint16_t>;
    const auto as_values = [](auto* p) {
      using pointee = std::remove_pointer_t<decltype(p)>;
      if constexpr (std::is_const_v<pointee>) {
        return reinterpret_cast<const value_t*>(p);
      } else {
        return reinterpret_cast<value_t*>(p);
      }
    };
    if (g.kernel[0] != 1 || g.kernel[1] != g.kernel[2]) return false;
    if (g.kernel[1] == 2) return f(std::integral_constant<int, 2>{}, as_values), true;
    if (g.kernel[1] == 3) return f(std::integral_constant<int, 3>{}, as_values), true;
  }
  return false;
}

std::tuple<at::Tensor, at::Tensor> fractional_max_pool_forward_cpu(const at::Tensor& self,
                                                                   at::IntArrayRef kernel_size,
                                                                   at::IntArrayRef output_size,
                                                                   const at::Tensor& random_samples) {
  FractionalPlan fractional;
  const MaxPoolForwardPlan plan =
      plan_fractional_max_pool_forward(self, kernel_size, output_size, random_samples, fractional);
  if (plan.output.numel() == 0) return {plan.output, plan.window_offset};
  const at::Tensor starts = launch_fractional_starts<ParallelCpuLauncher, true>(fractional);
  const int64_t* start_table = starts.const_data_ptr<int64_t>();
  const PoolGeometry& g = plan.geometry;
  const int64_t out_plane = g.out_plane();
  POOLING_EXT_DISPATCH_FLOAT_TYPES(plan.input.scalar_type(), "fractional_max_pool_forward", [&] {
    POOLING_EXT_DISPATCH_OFFSET_TYPE(plan.window_offset.scalar_type(), [&] {
      const scalar_t* input = plan.input.const_data_ptr<scalar_t>();
      scalar_t* output = plan.output.mutable_data_ptr<scalar_t>();
      offset_t* window_offset = plan.window_offset.mutable_data_ptr<offset_t>();
      if (!g.channels_last) {
        const int64_t grain = std::max<int64_t>(1, kGrainElements / out_plane);
        at::parallel_for(0, g.batch * g.channels, grain, [&](int64_t begin, int64_t end) {
          for (int64_t plane = begin; plane < end; ++plane) {
            const FractionalStarts<int64_t> s(start_table, g, plane / g.channels, plane % g.channels);
            const scalar_t* in = input + plane * g.in_plane();
            scalar_t* out = output + plane * out_plane;
            offset_t* out_tap = window_offset + plane * out_plane;
            // Windows lie inside the plane, so the first tap opens every window.
            for (int64_t od = 0; od < g.out[0]; ++od) {
              for (int64_t oh = 0; oh < g.out[1]; ++oh, out += g.out[2], out_tap += g.out[2]) {
                const scalar_t* corner_row = in + (s.dim[0][od] * g.in[1] + s.dim[1][oh]) * g.in[2];
                const bool branch_free = with_small_branch_free_window<scalar_t>(g, [&](auto k, auto as_values) {
                  fractional_row_max<k, k>(as_values(corner_row), s.dim[2], g.in[2], g.out[2], as_values(out),
                                           out_tap);
                });
                if (branch_free) continue;
                for (int64_t ow = 0; ow < g.out[2]; ++ow) {
                  const scalar_t* corner = corner_row + s.dim[2][ow];
                  scalar_t best = corner[0];
                  int64_t best_tap = 0, tap = 0;
                  for (int64_t td = 0; td < g.kernel[0]; ++td) {
                    for (int64_t th = 0; th < g.kernel[1]; ++th) {
                      const scalar_t* row = corner + (td * g.in[1] + th) * g.in[2];
                      for (int64_t tw = 0; tw < g.kernel[2]; ++tw, ++tap) {
                        take_if_replaces_max(row[tw], tap, best, best_tap);
                      }
                    }
                  }
                  out[ow] = best;
                  out_tap[ow] = static_cast<offset_t>(best_tap);
                }
              }
            }
          }
        });
      } else {
        const std::vector<int64_t> position_table = channels_innermost_starts(start_table, g);
        const int64_t grain = std::max<int64_t>(1, kGrainElements / g.channels);
        at::parallel_for(0, g.batch * out_plane, grain, [&](int64_t begin, int64_t end) {
          for (int64_t position = begin; position < end; ++position) {
            const int64_t n = position / out_plane;
            const Spatial3<int64_t> o = geometry_spatial(g, false, position - n * out_plane);
            const PositionStarts s(position_table, g, n, o.d, o.h, o.w);
            const scalar_t* in = input + n * g.in_plane() * g.channels;
            const int64_t row_step = g.in[2] * g.channels, depth_step = g.in[1] * row_step;
            const bool branch_free = with_small_branch_free_window<scalar_t>(g, [&](auto k, auto as_values) {
              fractional_channels_max<k, k>(as_values(in), s.d, s.h, s.w, g.in[1], g.in[2], g.channels,
                                            as_values(output + position * g.channels),
                                            window_offset + position * g.channels);
            });
            if (branch_free) continue;
            for (int64_t c = 0; c < g.channels; ++c) {
              const scalar_t* corner = in + ((s.d[c] * g.in[1] + s.h[c]) * g.in[2] + s.w[c]) * g.channels + c;
              scalar_t best = corner[0];
              int64_t best_tap = 0, tap = 0;
              for (int64_t td = 0; td < g.kernel[0]; ++td) {
                for (int64_t th = 0; th < g.kernel[1]; ++th) {
                  const scalar_t* row = corner + td * depth_step + th * row_step;
                  for (int64_t tw = 0; tw < g.kernel[2]; ++tw, ++tap) {
                    take_if_replaces_max(row[tw * g.channels], tap, best, best_tap);
                  }
                }
              }
              output[position * g.channels + c] = best;
              window_offset[position * g.channels + c] = static_cast<offset_t>(best_tap);
            }
          }
        });
      }
    });
  });
  return {plan.output, plan.window_offset};
}

// Backward as torch's CPU: each plane's output gradients added at their argmax
// in output order by one thread, so the sums are deterministic and, for float
// and double, torch's bit for bit. Half and bfloat16 add into a float buffer
// per task (a plane, or a block of channels-last channels), rounded once; for
// planes too large for such a buffer they take the grid code's gather.
at::Tensor fractional_max_pool_backward_cpu(const at::Tensor& grad_output, const at::Tensor& window_offset,
                                            const at::Tensor& random_samples, at::IntArrayRef input_size,
                                            at::IntArrayRef kernel_size) {
  constexpr int64_t kChannelBlock = 16;  // channels-last task width: its planes' buffer stays in L2
  constexpr int64_t kMaxTaskBuffer = int64_t(1) << 22;  // float elements (16 MiB) per task
  const FractionalPlan plan = plan_fractional_window_offset_op("fractional_max_pool_backward", window_offset,
                                                               random_samples, input_size, kernel_size);
  const PoolGeometry& g = plan.geometry;
  const int64_t in_plane = g.in_plane(), out_plane = g.out_plane();
  // (fewer channels per task where planes are large, so a task's buffer stays within bounds)
  const int64_t task_channels =
      g.channels_last ? std::clamp<int64_t>(kMaxTaskBuffer / std::max<int64_t>(in_plane, 1), 1,
                                            std::max<int64_t>(1, std::min(g.channels, kChannelBlock)))
                      : 1;
  const bool reduced_precision = grad_output.scalar_type() == at::kHalf || grad_output.scalar_type() == at::kBFloat16;
  // Tasks sum into a buffer of their planes unless they can add into grad_input
  // directly: contiguous float or double.
  const bool sums_in_buffer = reduced_precision || g.channels_last;
  if (sums_in_buffer && in_plane * task_channels > kMaxTaskBuffer) {
    return grid_fractional_max_pool_backward<ParallelCpuLauncher, true>(grad_output, window_offset, random_samples,
                                                                        input_size, kernel_size);
  }
  const at::Tensor offset = window_offset.contiguous(plan.format);
  const at::Tensor grad =
      prepare_grad_output(WindowOffsetPlan{plan.args, plan.geometry, plan.format, offset}, grad_output, offset);
  // (at::zeros drops the memory format of its options: empty, then zero.)
  at::Tensor grad_input = at::empty(input_size, grad_output.options().memory_format(plan.format));
  if (!sums_in_buffer || offset.numel() == 0) grad_input.zero_();
  if (grad_input.numel() == 0 || offset.numel() == 0) return grad_input;
  const at::Tensor starts = launch_fractional_starts<ParallelCpuLauncher, true>(plan);
  const int64_t* start_table = starts.const_data_ptr<int64_t>();
  // Each tap's offset from its window's corner within the plane (no division per output).
  std::vector<int64_t> tap_offset;
  tap_offset.reserve(g.kernel_volume());
  for (int64_t td = 0; td < g.kernel[0]; ++td) {
    for (int64_t th = 0; th < g.kernel[1]; ++th) {
      for (int64_t tw = 0; tw < g.kernel[2]; ++tw) tap_offset.push_back((td * g.in[1] + th) * g.in[2] + tw);
    }
  }
  POOLING_EXT_DISPATCH_FLOAT_TYPES(grad.scalar_type(), "fractional_max_pool_backward", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    POOLING_EXT_DISPATCH_OFFSET_TYPE(offset.scalar_type(), [&] {
      const scalar_t* grad_out = grad.const_data_ptr<scalar_t>();
      const offset_t* taps = offset.const_data_ptr<offset_t>();
      scalar_t* grad_in = grad_input.mutable_data_ptr<scalar_t>();
      // One task: channels [c_begin, c_end) of sample n, each plane's output
      // gradients added at their argmax in output order. The sums go to
      // grad_in directly (contiguous float, double), or to a float or
      // double buffer of the task's planes, (spatial, channel in task), which
      // is then written out in grad_in's layout: a channels-last scatter
      // straight into grad_in would touch a cache line per element.
      auto run_task = [&](int64_t n, int64_t c_begin, int64_t c_end, std::vector<acc_t>& buffer) {
        const int64_t width = c_end - c_begin;
        if (sums_in_buffer) buffer.assign(in_plane * width, acc_t(0));
        // Gradient and tap of output `spatial` of channel c: planes apart in
        // channels-last, consecutive in contiguous layout.
        const int64_t out_step = g.channels_last ? g.channels : 1;
        for (int64_t c = c_begin; c < c_end; ++c) {
          const FractionalStarts<int64_t> s(start_table, g, n, c);
          const int64_t first_out = g.channels_last ? n * out_plane * g.channels + c : (n * g.channels + c) * out_plane;
          const scalar_t* plane_grad_out = grad_out + first_out;
          const offset_t* plane_taps = taps + first_out;
          // (the cast is the identity where it is taken: acc_t is scalar_t there)
          acc_t* plane_grad_in = sums_in_buffer ? buffer.data() + (c - c_begin)
                                                : reinterpret_cast<acc_t*>(grad_in + (n * g.channels + c) * in_plane);
          // The plane's scatter, with the steps known at compile time where
          // they are 1 (contiguous: no multiply per output).
          const auto scatter_plane = [&](auto in_step, auto grad_step) {
            for (int64_t od = 0; od < g.out[0]; ++od) {
              for (int64_t oh = 0; oh < g.out[1]; ++oh) {
                acc_t* row = plane_grad_in + (s.dim[0][od] * g.in[1] + s.dim[1][oh]) * g.in[2] * in_step;
                for (int64_t ow = 0; ow < g.out[2]; ++ow, plane_grad_out += grad_step, plane_taps += grad_step) {
                  row[(s.dim[2][ow] + tap_offset[static_cast<int64_t>(*plane_taps)]) * in_step] +=
                      static_cast<acc_t>(*plane_grad_out);
                }
              }
            }
          };
          if (g.channels_last) {
            scatter_plane(width, out_step);
          } else {  // (a contiguous task is one plane: a buffer of width 1)
            scatter_plane(std::integral_constant<int64_t, 1>{}, std::integral_constant<int64_t, 1>{});
          }
        }
        if (!sums_in_buffer) return;
        if (g.channels_last) {
          scalar_t* out = grad_in + n * in_plane * g.channels + c_begin;
          for (int64_t s = 0; s < in_plane; ++s, out += g.channels) {
            for (int64_t c = 0; c < width; ++c) out[c] = static_cast<scalar_t>(buffer[s * width + c]);
          }
        } else {
          scalar_t* out = grad_in + (n * g.channels + c_begin) * in_plane;
          for (int64_t i = 0; i < width * in_plane; ++i) out[i] = static_cast<scalar_t>(buffer[i]);
        }
      };
      const int64_t blocks = (g.channels + task_channels - 1) / task_channels;
      const int64_t grain = std::max<int64_t>(1, kGrainElements / (out_plane * task_channels));
      at::parallel_for(0, g.batch * blocks, grain, [&](int64_t begin, int64_t end) {
        std::vector<acc_t> buffer;
        for (int64_t task = begin; task < end; ++task) {
          const int64_t n = task / blocks, c_begin = (task % blocks) * task_channels;
          run_task(n, c_begin, std::min(g.channels, c_begin + task_channels), buffer);
        }
      });
    });
  });
  return grad_input;
}

}  // namespace

TORCH_LIBRARY_IMPL(pooling_ext, CPU, m) {
  m.impl("max_pool_forward", &max_pool_forward_cpu);
  m.impl("max_pool_backward", &max_pool_backward_cpu);
  m.impl("max_pool_gather", &grid_max_pool_gather<ParallelCpuLauncher>);
  m.impl("max_pool_indices", &grid_max_pool_indices<ParallelCpuLauncher>);
  m.impl("adaptive_max_pool_forward", &adaptive_max_pool_forward_cpu);
  m.impl("adaptive_max_pool_backward", &adaptive_max_pool_backward_cpu);
  m.impl("adaptive_max_pool_gather", &grid_adaptive_max_pool_gather<ParallelCpuLauncher>);
  m.impl("adaptive_max_pool_indices", &grid_adaptive_max_pool_indices<ParallelCpuLauncher>);
  // Gather and indices: the grid code, window starts in the samples' dtype as torch's CPU.
  m.impl("fractional_max_pool_forward", &fractional_max_pool_forward_cpu);
  m.impl("fractional_max_pool_backward", &fractional_max_pool_backward_cpu);
  m.impl("fractional_max_pool_gather", &grid_fractional_max_pool_gather<ParallelCpuLauncher, true>);
  m.impl("fractional_max_pool_indices", &grid_fractional_max_pool_indices<ParallelCpuLauncher, true>);
  m.impl("max_unpool", &max_unpool_cpu);
  m.impl("max_unpool_gather", &max_unpool_gather_cpu);
}

}  // namespace pooling_ext
