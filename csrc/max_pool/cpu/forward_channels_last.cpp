// Max pooling's CPU forward on channels-last tensors: per output position,
// the window rule gives the rows of C channels to reduce (taps in order); the
// reduction runs over the contiguous channels. Windows with every tap inside
// share their taps' offsets, so a row's run of them is one call; a border
// window is a run of one. float32 and bfloat16 run in AVX-512 register blocks
// where the CPU has them (maxima and taps in registers, written out once),
// else through the ISA-dispatched loops. The running maxima live in float (or
// the integer type) and the taps in int32, so the compare-select loop has
// lanes of one width and vectorises.
#include <ATen/Parallel.h>

#include <algorithm>
#include <type_traits>
#include <vector>

#include "../../common/cpu/loop_support.h"
#include "../../common/dtype_dispatch.h"
#include "float_loops.h"
#include "max_pool_cpu_loops.h"

namespace pooling_ext {
namespace cpu {
namespace {

using simd::WindowRun;

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

// The window's taps inside the input in tap order, as the element offsets of
// their rows of C channels from the sample's start, and their numbers;
// returns how many.
int64_t window_taps(const PoolGeometry& g, const TapRange<int64_t>& rd, const TapRange<int64_t>& rh,
                    const TapRange<int64_t>& rw, int64_t* tap_offset, int32_t* taps) {
  int64_t count = 0;
  for (int64_t td = rd.first; td < rd.end; ++td) {
    for (int64_t th = rh.first; th < rh.end; ++th) {
      const int64_t row = ((rd.start + td * g.dilation[0]) * g.in[1] + rh.start + th * g.dilation[1]) * g.in[2];
      for (int64_t tw = rw.first; tw < rw.end; ++tw, ++count) {
        tap_offset[count] = (row + rw.start + tw * g.dilation[2]) * g.channels;
        taps[count] = static_cast<int32_t>((td * g.kernel[1] + th) * g.kernel[2] + tw);
      }
    }
  }
  return count;
}

bool whole_window(const PoolGeometry& g, int d, const TapRange<int64_t>& r) {
  return r.first == 0 && r.end == g.kernel[d];
}

// The window run's maxima (and taps where the forward saves window offsets):
// float32 and bfloat16 through the AVX-512 kernels where the CPU has them,
// else position by position through the ISA-dispatched loops or the generic one.
template <typename scalar_t, typename offset_t>
void max_window_run(const WindowRun<scalar_t>& run, offset_t* window_offset, std::vector<const scalar_t*>& rows,
                    std::vector<running_t<scalar_t>>& best, std::vector<int32_t>& best_tap) {
  const int64_t C = run.C;
  constexpr bool kFloat = std::is_same_v<scalar_t, float>, kBFloat16 = std::is_same_v<scalar_t, at::BFloat16>;
  if constexpr (kFloat || kBFloat16) {
    using bits_t = std::conditional_t<kFloat, float, uint16_t>;
    const WindowRun<bits_t> bits_run{reinterpret_cast<const bits_t*>(run.first_window),
                                     run.window_step,
                                     run.tap_offset,
                                     run.tap,
                                     run.count,
                                     run.positions,
                                     reinterpret_cast<bits_t*>(run.out),
                                     C};
    if (window_offset == nullptr ? simd::max_window_run_values_avx512(bits_run)
                                 : simd::max_window_run_with_taps_avx512(bits_run, window_offset)) {
      return;
    }
  }
  for (int64_t p = 0; p < run.positions; ++p) {
    const scalar_t* window = run.first_window + p * run.window_step;
    for (int64_t t = 0; t < run.count; ++t) rows[t] = window + run.tap_offset[t];
    scalar_t* out = run.out + p * C;
    offset_t* off = window_offset != nullptr ? window_offset + p * C : nullptr;  // null: values only
    if constexpr (kFloat) {
      if (off == nullptr) {
        simd::max_over_taps_values(rows.data(), run.count, out, C);
        continue;
      }
      simd::max_over_taps(rows.data(), run.tap, run.count, out, best_tap.data(), C);
    } else if constexpr (kBFloat16) {
      const auto* bits = reinterpret_cast<const uint16_t* const*>(rows.data());
      auto* out_bits = reinterpret_cast<uint16_t*>(out);
      if (off == nullptr) {
        simd::max_over_taps_values_bf16(bits, run.count, out_bits, C);
        continue;
      }
      simd::max_over_taps_bf16(bits, run.tap, run.count, out_bits, best_tap.data(), best.data(), C);
    } else {
      max_over_taps_generic(rows.data(), run.tap, run.count, best.data(), best_tap.data(), C);
      for (int64_t c = 0; c < C; ++c) out[c] = static_cast<scalar_t>(best[c]);
    }
    if (off == nullptr) continue;
    for (int64_t c = 0; c < C; ++c) off[c] = static_cast<offset_t>(best_tap[c]);
  }
}

// "Same" windows (YOLO's SPP), values only, float32 and bfloat16 on a CPU
// with AVX-512: separably (a pass costs kh or kw taps per output instead of
// kh * kw), the threads splitting the samples' output rows. False (nothing
// done) elsewhere.
template <typename scalar_t, typename offset_t>
bool same_windows_channels_last(const MaxPoolForwardBody<scalar_t, offset_t>& body) {
  constexpr bool kFloat = std::is_same_v<scalar_t, float>, kBFloat16 = std::is_same_v<scalar_t, at::BFloat16>;
  if constexpr (kFloat || kBFloat16) {
    const PoolGeometry& g = body.g;
    if (body.window_offset != nullptr || !simd::max_row_values_avx512_supported() || !same_size_windows(g)) {
      return false;
    }
    using bits_t = std::conditional_t<kFloat, float, uint16_t>;
    const int64_t H = g.in[1], sample = g.in_plane() * g.channels, slot_channels = (g.channels + 63) / 64 * 64;
    const auto* input = reinterpret_cast<const bits_t*>(body.input);
    auto* output = reinterpret_cast<bits_t*>(body.output);
    at::parallel_for(0, g.batch * H, grain_for(g.in[2] * g.channels, g.kernel[1] + g.kernel[2]),
                     [&](int64_t begin, int64_t end) {
                       std::vector<float> scratch(std::min(g.kernel[1], H) * g.in[2] * slot_channels);
                       // Each sample's share of rows [begin, end).
                       for (int64_t n = begin / H; n * H < end; ++n) {
                         const simd::SameChannelsLast<bits_t> s{input + n * sample,
                                                                output + n * sample,
                                                                H,
                                                                g.in[2],
                                                                g.channels,
                                                                g.kernel[1],
                                                                g.kernel[2],
                                                                std::max(begin - n * H, int64_t{0}),
                                                                std::min(end - n * H, H),
                                                                slot_channels};
                         simd::max_same_channels_last_values_avx512(s, scratch.data());
                       }
                     });
    return true;
  }
  return false;
}

}  // namespace

template <typename scalar_t, typename offset_t>
void max_forward_channels_last(const MaxPoolForwardBody<scalar_t, offset_t>& body) {
  using value_t = running_t<scalar_t>;
  if (same_windows_channels_last(body)) return;
  const PoolGeometry& g = body.g;
  const int64_t C = g.channels;
  const int64_t empty = empty_window_offset(g.kernel_volume());
  // A window's taps inside the input are distinct input positions.
  const int64_t most_taps = std::min(g.kernel_volume(), g.in_plane());
  std::vector<TapRange<int64_t>> taps[kMaxSpatialDims];
  for (int d = 0; d < kMaxSpatialDims; ++d) {
    taps[d] = per_position_table(g.out[d], [&](int64_t o) { return dim_window_taps(g, d, o); });
  }
  // A fixed window with all its taps inside: its taps' offsets from tap 0
  // are the same for every such window, so a row's run of them is one call.
  // (No window of more taps than the plane has elements lies wholly inside.)
  const bool whole_windows = !g.adaptive && g.kernel_volume() <= g.in_plane();
  std::vector<int64_t> whole_offset(whole_windows ? g.kernel_volume() : 0);
  std::vector<int32_t> whole_tap(whole_windows ? g.kernel_volume() : 0);
  if (whole_windows) {
    const TapRange<int64_t> rd{0, g.kernel[0], 0}, rh{0, g.kernel[1], 0}, rw{0, g.kernel[2], 0};
    window_taps(g, rd, rh, rw, whole_offset.data(), whole_tap.data());
  }
  at::parallel_for(0, g.batch * g.out_plane(), grain_for(C, g.kernel_volume()), [&](int64_t begin, int64_t end) {
    std::vector<value_t> best(C);
    std::vector<int32_t> best_tap(C);
    std::vector<const scalar_t*> rows(most_taps);
    std::vector<int64_t> tap_offset(most_taps);
    std::vector<int32_t> row_taps(most_taps);
    PositionCursor cursor(g.out, begin);
    for (int64_t pos = begin; pos < end;) {
      const scalar_t* sample = body.input + cursor.n * g.in_plane() * C;
      const TapRange<int64_t>&rd = taps[0][cursor.d], &rh = taps[1][cursor.h], &rw = taps[2][cursor.w];
      scalar_t* out = body.output + pos * C;
      offset_t* off = body.window_offset != nullptr ? body.window_offset + pos * C : nullptr;  // null: values only
      WindowRun<scalar_t> run{sample, 0, tap_offset.data(), row_taps.data(), 0, 1, out, C};
      if (whole_windows && whole_window(g, 0, rd) && whole_window(g, 1, rh) && whole_window(g, 2, rw)) {
        // This and the next whole windows along W, up to the row's or the task's end.
        int64_t positions = 1;
        while (positions < end - pos && cursor.w + positions < g.out[2] &&
               whole_window(g, 2, taps[2][cursor.w + positions])) {
          ++positions;
        }
        run = {sample + ((rd.start * g.in[1] + rh.start) * g.in[2] + rw.start) * C,
               g.stride[2] * C,
               whole_offset.data(),
               whole_tap.data(),
               g.kernel_volume(),
               positions,
               out,
               C};
      } else {
        run.count = window_taps(g, rd, rh, rw, tap_offset.data(), row_taps.data());
      }
      if (run.count == 0) {  // window wholly in the padding
        std::fill(out, out + C, max_identity<scalar_t>());
        if (off != nullptr) std::fill(off, off + C, static_cast<offset_t>(empty));
      } else {
        max_window_run(run, off, rows, best, best_tap);
      }
      pos += run.positions;
      for (int64_t p = 0; p < run.positions; ++p) cursor.next();
    }
  });
}
#define POOLING_EXT_INSTANTIATE(scalar_t, offset_t) \
  template void max_forward_channels_last(const MaxPoolForwardBody<scalar_t, offset_t>&);
#define POOLING_EXT_INSTANTIATE_OFFSETS(scalar_t) POOLING_EXT_FOR_EACH_OFFSET_TYPE(POOLING_EXT_INSTANTIATE, scalar_t)
POOLING_EXT_FOR_EACH_MAX_POOL_TYPE(POOLING_EXT_INSTANTIATE_OFFSETS)

}  // namespace cpu
}  // namespace pooling_ext
