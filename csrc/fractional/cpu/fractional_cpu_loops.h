// The CPU loops of fractional max pooling, one file per layout or strategy;
// fractional_cpu.cpp picks among them.
//
// Windows differ per (n, c) plane, so nothing vectorises across channels:
// the forward walks each plane's outputs (contiguous) or each position's
// channels with their own windows (channels-last), taking each window's
// maximum with torch's rule and tap order (windows never leave the input, so
// the first tap opens each). The backward adds each plane's output gradients
// at their argmax in output order, as torch's CPU: deterministic and, for
// float and double, torch's sums bit for bit.
#pragma once

#include <cstdint>

#include "../../common/cpu/bfloat16_bits.h"
#include "../../common/cpu/isa_clones.h"
#include "../fractional_bodies.h"

namespace pooling_ext {
namespace cpu {

// Forward, contiguous: one (n, c) plane per task, row by row.
template <typename scalar_t, typename offset_t>
void fractional_forward_contiguous(const FractionalMaxForwardBody<scalar_t, offset_t>& body);

// Forward, channels-last: one output position (all channels) per step.
template <typename scalar_t, typename offset_t>
void fractional_forward_channels_last(const FractionalMaxForwardBody<scalar_t, offset_t>& body);

// How the backward splits its work: tasks of `channels_per_task` channels of
// one sample (1 when contiguous). With `sums_in_buffer` a task sums into a
// float or double buffer of its planes, (spatial, channel in task), then
// writes it out in grad_input's layout (half and bfloat16 round once; a
// channels-last scatter straight into grad_input would touch a cache line per
// element); without, it adds into grad_input directly (contiguous float and
// double, zeroed by the caller).
struct FractionalBackwardTasks {
  int64_t channels_per_task;
  bool sums_in_buffer;
};

template <typename scalar_t, typename offset_t>
void fractional_backward_scatter(const FractionalMaxBackwardBody<scalar_t, offset_t>& body,
                                 const FractionalBackwardTasks& tasks);

// ---------------------------------------------------------------- window maxima

// select_max's step without a branch: on random data a branch per tap is
// mispredicted about half the time, which cost more than the whole window.
template <typename scalar_t>
POOLING_EXT_ALWAYS_INLINE void take_if_replaces_max(scalar_t value, int64_t tap, scalar_t& best, int64_t& best_tap) {
  const bool take = replaces_max(value, best);
  best = take ? value : best;
  best_tap = take ? tap : best_tap;
}

// The maximum of one window of any size from `corner`, taps in torch's order
// (d, h, w), `depth_step`, `row_step` and `column_step` apart; its tap.
template <typename scalar_t>
POOLING_EXT_ALWAYS_INLINE int64_t window_max(const scalar_t* corner, const int64_t* kernel, int64_t depth_step,
                                             int64_t row_step, int64_t column_step, scalar_t& best) {
  best = corner[0];
  int64_t best_tap = 0, tap = 0;
  for (int64_t td = 0; td < kernel[0]; ++td) {
    for (int64_t th = 0; th < kernel[1]; ++th) {
      const scalar_t* row = corner + td * depth_step + th * row_step;
      for (int64_t tw = 0; tw < kernel[2]; ++tw, ++tap)
        take_if_replaces_max(row[tw * column_step], tap, best, best_tap);
    }
  }
  return best_tap;
}

// The winner's float bits narrowed back to the value type (exact: they came
// from a value of that type).
POOLING_EXT_ALWAYS_INLINE void narrow_into(int32_t float_bits, float& out) {
  out = __builtin_bit_cast(float, float_bits);
}
POOLING_EXT_ALWAYS_INLINE void narrow_into(int32_t float_bits, uint16_t& out) {
  out = cpu_bits::bfloat16_bits_exact(static_cast<uint32_t>(float_bits));
}

// The maximum of one window of 1 x kH x kW taps, `row_step` apart along h
// and `column_step` along w from `corner`: select_max's steps as bit blends,
// so that no branch depends on the data (GCC turns float selects here into
// branches, and random data mispredicts half of them).
template <int kH, int kW, typename value_t, typename offset_t>
POOLING_EXT_ALWAYS_INLINE void window_max_branch_free(const value_t* corner, int64_t row_step, int64_t column_step,
                                                      value_t& out, offset_t& out_tap) {
  int32_t best_bits = __builtin_bit_cast(int32_t, cpu_bits::widen_to_float(corner[0]));
  int32_t best_tap = 0;
#pragma GCC unroll 16
  for (int tap = 1; tap < kH * kW; ++tap) {
    const float value = cpu_bits::widen_to_float(corner[(tap / kW) * row_step + (tap % kW) * column_step]);
    const int32_t take = -static_cast<int32_t>((value > __builtin_bit_cast(float, best_bits)) | (value != value));
    best_bits = (take & __builtin_bit_cast(int32_t, value)) | (~take & best_bits);
    best_tap = (take & tap) | (~take & best_tap);
  }
  narrow_into(best_bits, out);
  out_tap = static_cast<offset_t>(best_tap);
}

// Calls f(std::integral_constant<int, k>{}, as_values) for float or bfloat16
// windows of 1 x k x k with k = 2 or 3 (as_values casts a pointer to the
// branch-free loops' value type: float, or bfloat16's raw bits) and returns
// true; false for any other type or window.
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

}  // namespace cpu
}  // namespace pooling_ext
