// Max pooling's CPU forward on contiguous tensors, one output row at a time.
// Interior outputs (whose whole window lies inside the input) run tap by tap
// over the whole row: `x[ow * stride]` with a compile-time stride (1 and 2
// cover most networks; 0 means "runtime stride") is a loop the compiler
// vectorises. Taps are visited in the body's order, so NaN and tie rules match
// it exactly; border outputs run the body itself. Where the CPU has AVX-512,
// float32 and bfloat16 run each whole row, borders included, through the
// AVX-512 row kernels instead (taps kept in registers where the forward saves
// window offsets), and "same" windows at stride 1 (YOLO's SPP) separably:
// along each row, then down each column. Elsewhere a values-only forward
// (inference: no window offsets) runs the interior through register-blocked
// loops that keep no taps.
#include <ATen/Parallel.h>

#include <algorithm>
#include <type_traits>
#include <utility>
#include <vector>

#include "../../common/cpu/loop_support.h"
#include "../../common/cpu/row_run.h"
#include "../../common/dtype_dispatch.h"
#include "float_loops.h"
#include "max_pool_cpu_loops.h"

namespace pooling_ext {
namespace cpu {
namespace {

// Output positions [first, end) along W whose whole window lies inside the
// input: the vectorised row loop handles them, the per-element body the rest.
std::pair<int64_t, int64_t> interior_outputs(const PoolGeometry& g) {
  if (g.adaptive) return {0, 0};  // adaptive windows do not start at ow * stride - pad
  const int64_t s = g.stride[2], p = g.pad[2], span = (g.kernel[2] - 1) * g.dilation[2];
  const int64_t first = std::min(g.out[2], (p + s - 1) / s);
  const int64_t last_ok = g.in[2] - 1 - span + p;  // ow * s <= last_ok
  const int64_t end = last_ok < 0 ? 0 : std::min(g.out[2], last_ok / s + 1);
  return {first, std::max(first, end)};
}

// The running maxima (and their taps) of `count` interior outputs of one row
// from `first` on, over the taps of rows rd x rh of `plane` (at least one tap).
template <int kStride, typename scalar_t, typename offset_t>
void interior_row_max(const MaxPoolForwardBody<scalar_t, offset_t>& body, const scalar_t* plane,
                      const TapRange<int64_t>& rd, const TapRange<int64_t>& rh, int64_t first, int64_t count,
                      running_t<scalar_t>* __restrict__ best, int32_t* __restrict__ best_tap) {
  using value_t = running_t<scalar_t>;
  const PoolGeometry& g = body.g;
  const int64_t stride = kStride > 0 ? kStride : g.stride[2];
  bool first_tap = true;
  for (int64_t td = rd.first; td < rd.end; ++td) {
    for (int64_t th = rh.first; th < rh.end; ++th) {
      const int64_t ih = rh.start + th * g.dilation[1];
      const scalar_t* in_row = plane + ((rd.start + td * g.dilation[0]) * g.in[1] + ih) * g.in[2];
      for (int64_t tw = 0; tw < g.kernel[2]; ++tw) {
        const scalar_t* __restrict__ x = in_row + first * stride - g.pad[2] + tw * g.dilation[2];
        const int32_t tap = static_cast<int32_t>((td * g.kernel[1] + th) * g.kernel[2] + tw);
        if (first_tap) {
          for (int64_t i = 0; i < count; ++i) {
            best[i] = static_cast<value_t>(x[i * stride]);
            best_tap[i] = tap;
          }
          first_tap = false;
        } else if constexpr (std::is_same_v<scalar_t, float> && kStride == 1) {
          simd::select_max(x, best, best_tap, tap, count);
        } else if constexpr (std::is_same_v<scalar_t, float> && kStride == 2) {
          simd::select_max_stride2(x, best, best_tap, tap, count);
        } else {
          select_max_generic(x, stride, best, best_tap, tap, count);
        }
      }
    }
  }
}

// The window's rows inside the input (rd x rh, the body's order), each as
// `plane`'s element at the row's start + `shift` (>= 0), into `rows`; their count.
template <typename scalar_t>
int64_t window_row_starts(const PoolGeometry& g, const scalar_t* plane, const TapRange<int64_t>& rd,
                          const TapRange<int64_t>& rh, int64_t shift, std::vector<const scalar_t*>& rows) {
  rows.clear();
  for (int64_t td = rd.first; td < rd.end; ++td) {
    for (int64_t th = rh.first; th < rh.end; ++th) {
      const int64_t ih = rh.start + th * g.dilation[1];
      rows.push_back(plane + ((rd.start + td * g.dilation[0]) * g.in[1] + ih) * g.in[2] + shift);
    }
  }
  return static_cast<int64_t>(rows.size());
}

// The AVX-512 row kernel keeping taps, or values only where there is no window offset.
template <typename bits_t, typename offset_t>
void run_rows_avx512(const cpu::RowRun<bits_t>& run, offset_t* window_offset, const int32_t* row_tap, int32_t empty) {
  if (window_offset == nullptr) {
    simd::max_rows_values_avx512(run);
  } else {
    simd::max_rows_with_taps_avx512(run, window_offset, row_tap, empty);
  }
}

// A forward of float32 or bfloat16 through the AVX-512 row kernels
// (loops_avx512.cpp): every row whole, borders included, one call per
// thread's run of rows; values only, or keeping each output's tap where the
// forward saves window offsets. False (nothing done) for other dtypes or a
// CPU without AVX-512: the interior loops and the body run instead.
template <typename scalar_t, typename offset_t>
bool whole_rows_avx512(const MaxPoolForwardBody<scalar_t, offset_t>& body) {
  constexpr bool kFloat = std::is_same_v<scalar_t, float>, kBFloat16 = std::is_same_v<scalar_t, at::BFloat16>;
  if constexpr (kFloat || kBFloat16) {
    if (!simd::max_row_values_avx512_supported()) return false;
    using bits_t = std::conditional_t<kFloat, float, uint16_t>;
    const PoolGeometry& g = body.g;
    const int64_t rows_per_plane = g.out[0] * g.out[1];
    std::vector<int32_t> row_tap;  // per table entry: the tap of its first element
    const WindowRowTable table(rows_per_plane, [&](int64_t j, const auto& push) {
      const TapRange<int64_t> rd = dim_window_taps(g, 0, j / g.out[1]);
      const TapRange<int64_t> rh = dim_window_taps(g, 1, j % g.out[1]);
      for (int64_t td = rd.first; td < rd.end; ++td) {
        for (int64_t th = rh.first; th < rh.end; ++th) {
          push(((rd.start + td * g.dilation[0]) * g.in[1] + rh.start + th * g.dilation[1]) * g.in[2]);
          row_tap.push_back(static_cast<int32_t>((td * g.kernel[1] + th) * g.kernel[2]));
        }
      }
    });
    const int32_t empty = static_cast<int32_t>(empty_window_offset(g.kernel_volume()));
    const int64_t rows = g.batch * g.channels * rows_per_plane;
    at::parallel_for(0, rows, grain_for(g.out[2], g.kernel_volume()), [&](int64_t begin, int64_t stop) {
      run_rows_avx512(cpu::RowRun<bits_t>{reinterpret_cast<const bits_t*>(body.input),
                                          reinterpret_cast<bits_t*>(body.output), begin, stop, rows_per_plane,
                                          g.in_plane(), g.out[2], table.offset.data(), table.begin.data(), 0, g.out[2],
                                          g.kernel[2], g.stride[2], g.dilation[2], g.pad[2], g.in[2], nullptr},
                      body.window_offset, row_tap.data(), empty);
    });
    return true;
  }
  return false;
}

// A forward of "same" windows, float32 or bfloat16, through the separable
// AVX-512 kernel (a row pass, then a column pass), planes split among the
// threads; false (nothing done) for other windows or dtypes, a CPU without
// AVX-512, or fewer planes than threads (each plane is one thread's).
template <typename scalar_t, typename offset_t>
bool same_planes_avx512(const MaxPoolForwardBody<scalar_t, offset_t>& body) {
  constexpr bool kFloat = std::is_same_v<scalar_t, float>, kBFloat16 = std::is_same_v<scalar_t, at::BFloat16>;
  if constexpr (kFloat || kBFloat16) {
    const PoolGeometry& g = body.g;
    const int64_t planes = g.batch * g.channels;
    if (!simd::max_row_values_avx512_supported() || !same_size_windows(g) || planes < at::get_num_threads()) {
      return false;
    }
    using bits_t = std::conditional_t<kFloat, float, uint16_t>;
    const int64_t n = g.in_plane();
    at::parallel_for(0, planes, grain_for(n, g.kernel[1] + g.kernel[2]), [&](int64_t begin, int64_t end) {
      const simd::SamePlanes<bits_t> s{reinterpret_cast<const bits_t*>(body.input) + begin * n,
                                       reinterpret_cast<bits_t*>(body.output) + begin * n,
                                       end - begin,
                                       g.in[1],
                                       g.in[2],
                                       g.kernel[1],
                                       g.kernel[2]};
      if (body.window_offset == nullptr) {
        simd::max_same_planes_avx512(s);
      } else {
        simd::max_same_planes_with_taps_avx512(s, body.window_offset + begin * n);
      }
    });
    return true;
  }
  return false;
}

// A values-only forward's interior outputs of one row, float32 or bfloat16,
// through the ISA-cloned loops (no taps kept). False for other dtypes (they
// take interior_row_max).
template <typename scalar_t, typename offset_t>
bool interior_row_values(const MaxPoolForwardBody<scalar_t, offset_t>& body, const scalar_t* plane,
                         const TapRange<int64_t>& rd, const TapRange<int64_t>& rh, int64_t first, int64_t count,
                         std::vector<const scalar_t*>& rows, scalar_t* out) {
  constexpr bool kFloat = std::is_same_v<scalar_t, float>, kBFloat16 = std::is_same_v<scalar_t, at::BFloat16>;
  if constexpr (kFloat || kBFloat16) {
    const PoolGeometry& g = body.g;
    const int64_t row_count = window_row_starts(g, plane, rd, rh, first * g.stride[2] - g.pad[2], rows);
    if constexpr (kFloat) {
      simd::max_row_values(rows.data(), row_count, g.kernel[2], g.dilation[2], g.stride[2], out, count);
    } else {
      simd::max_row_values_bf16(reinterpret_cast<const uint16_t* const*>(rows.data()), row_count, g.kernel[2],
                                g.dilation[2], g.stride[2], reinterpret_cast<uint16_t*>(out), count);
    }
    return true;
  }
  return false;
}

template <int kStride, typename scalar_t, typename offset_t>
void forward_rows_with_stride(const MaxPoolForwardBody<scalar_t, offset_t>& body) {
  using value_t = running_t<scalar_t>;
  const PoolGeometry& g = body.g;
  const int64_t rows = g.batch * g.channels * g.out[0] * g.out[1];
  auto [first, end] = interior_outputs(g);
  if (end - first < 4) first = end = 0;  // too short to pay: all through the body
  const int64_t empty = empty_window_offset(g.kernel_volume());
  const std::vector<TapRange<int64_t>> taps_w =
      per_position_table(g.out[2], [&](int64_t ow) { return dim_window_taps(g, 2, ow); });
  if (same_planes_avx512(body) || (!g.adaptive && whole_rows_avx512(body))) return;
  at::parallel_for(0, rows, grain_for(g.out[2], g.kernel_volume()), [&](int64_t begin, int64_t stop) {
    std::vector<value_t> best(end - first);
    std::vector<int32_t> best_tap(end - first);
    std::vector<const scalar_t*> window_rows;
    for (int64_t row = begin; row < stop; ++row) {
      const int64_t oh = row % g.out[1];
      const int64_t od = (row / g.out[1]) % g.out[0];
      const int64_t nc = row / (g.out[1] * g.out[0]);
      const int64_t n = nc / g.channels, c = nc % g.channels;
      const int64_t out_base = row * g.out[2];
      const TapRange<int64_t> rd = dim_window_taps(g, 0, od);
      const TapRange<int64_t> rh = dim_window_taps(g, 1, oh);
      // Border (and adaptive) windows: the body, with taps along W from the table.
      for (int64_t ow = 0; ow < first; ++ow) body.compute_taps(n, c, rd, rh, taps_w[ow], out_base + ow);
      for (int64_t ow = end; ow < g.out[2]; ++ow) body.compute_taps(n, c, rd, rh, taps_w[ow], out_base + ow);
      if (first >= end) continue;
      scalar_t* out = body.output + out_base;
      offset_t* off = body.window_offset != nullptr ? body.window_offset + out_base : nullptr;  // null: values only
      if (rd.first >= rd.end || rh.first >= rh.end) {  // the row's windows lie in the padding
        std::fill(out + first, out + end, max_identity<scalar_t>());
        if (off != nullptr) std::fill(off + first, off + end, static_cast<offset_t>(empty));
        continue;
      }
      const scalar_t* plane = body.input + nc * g.in_plane();
      if (off == nullptr && interior_row_values(body, plane, rd, rh, first, end - first, window_rows, out + first)) {
        continue;
      }
      interior_row_max<kStride>(body, plane, rd, rh, first, end - first, best.data(), best_tap.data());
      for (int64_t i = 0; i < end - first; ++i) out[first + i] = static_cast<scalar_t>(best[i]);
      if (off == nullptr) continue;
      for (int64_t i = 0; i < end - first; ++i) off[first + i] = static_cast<offset_t>(best_tap[i]);
    }
  });
}

}  // namespace

template <typename scalar_t, typename offset_t>
void max_forward_rows(const MaxPoolForwardBody<scalar_t, offset_t>& body) {
  switch (body.g.stride[2]) {
    case 1:
      return forward_rows_with_stride<1>(body);
    case 2:
      return forward_rows_with_stride<2>(body);
    default:
      return forward_rows_with_stride<0>(body);
  }
}

#define POOLING_EXT_INSTANTIATE(scalar_t, offset_t) \
  template void max_forward_rows(const MaxPoolForwardBody<scalar_t, offset_t>&);
#define POOLING_EXT_INSTANTIATE_OFFSETS(scalar_t) POOLING_EXT_FOR_EACH_OFFSET_TYPE(POOLING_EXT_INSTANTIATE, scalar_t)
POOLING_EXT_FOR_EACH_MAX_POOL_TYPE(POOLING_EXT_INSTANTIATE_OFFSETS)

}  // namespace cpu
}  // namespace pooling_ext
