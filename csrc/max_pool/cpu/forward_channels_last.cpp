// Max pooling's CPU forward on channels-last tensors: per output position,
// the window rule gives the rows of C channels to reduce (taps in order); the
// reduction runs over the contiguous channels, for float32 and bfloat16 in
// one call per position: AVX-512 register blocks where the CPU has them
// (maxima and taps in registers, written out once), else the ISA-dispatched
// loops. The running maxima live in float (or the integer type) and the taps
// in int32, so the compare-select loop has lanes of one width and vectorises.
#include <ATen/Parallel.h>

#include <algorithm>
#include <vector>

#include "../../common/cpu/loop_support.h"
#include "../../common/dtype_dispatch.h"
#include "float_loops.h"
#include "max_pool_cpu_loops.h"

namespace pooling_ext {
namespace cpu {
namespace {

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

// The window's rows of C channels inside the input, and their taps, in tap
// order; returns how many.
template <typename scalar_t>
int64_t window_rows(const PoolGeometry& g, const scalar_t* sample, const TapRange<int64_t>& rd,
                    const TapRange<int64_t>& rh, const TapRange<int64_t>& rw, const scalar_t** rows, int32_t* taps) {
  int64_t count = 0;
  for (int64_t td = rd.first; td < rd.end; ++td) {
    for (int64_t th = rh.first; th < rh.end; ++th) {
      const int64_t row = ((rd.start + td * g.dilation[0]) * g.in[1] + rh.start + th * g.dilation[1]) * g.in[2];
      for (int64_t tw = rw.first; tw < rw.end; ++tw, ++count) {
        rows[count] = sample + (row + rw.start + tw * g.dilation[2]) * g.channels;
        taps[count] = static_cast<int32_t>((td * g.kernel[1] + th) * g.kernel[2] + tw);
      }
    }
  }
  return count;
}

}  // namespace

template <typename scalar_t, typename offset_t>
void max_forward_channels_last(const MaxPoolForwardBody<scalar_t, offset_t>& body) {
  using value_t = running_t<scalar_t>;
  const PoolGeometry& g = body.g;
  const int64_t C = g.channels;
  const int64_t empty = empty_window_offset(g.kernel_volume());
  // A window's taps inside the input are distinct input positions.
  const int64_t most_taps = std::min(g.kernel_volume(), g.in_plane());
  std::vector<TapRange<int64_t>> taps[kMaxSpatialDims];
  for (int d = 0; d < kMaxSpatialDims; ++d) {
    taps[d] = per_position_table(g.out[d], [&](int64_t o) { return dim_window_taps(g, d, o); });
  }
  at::parallel_for(0, g.batch * g.out_plane(), grain_for(C, g.kernel_volume()), [&](int64_t begin, int64_t end) {
    std::vector<value_t> best(C);
    std::vector<int32_t> best_tap(C);
    std::vector<const scalar_t*> rows(most_taps);
    std::vector<int32_t> row_taps(most_taps);
    PositionCursor cursor(g.out, begin);
    for (int64_t pos = begin; pos < end; ++pos, cursor.next()) {
      const int64_t count = window_rows(g, body.input + cursor.n * g.in_plane() * C, taps[0][cursor.d],
                                        taps[1][cursor.h], taps[2][cursor.w], rows.data(), row_taps.data());
      scalar_t* __restrict__ out = body.output + pos * C;
      offset_t* __restrict__ off = body.window_offset != nullptr ? body.window_offset + pos * C : nullptr;
      if (count == 0) {  // window wholly in the padding
        std::fill(out, out + C, max_identity<scalar_t>());
        if (off != nullptr) std::fill(off, off + C, static_cast<offset_t>(empty));
        continue;
      }
      if constexpr (std::is_same_v<scalar_t, float>) {
        if (off == nullptr) {  // values only
          if (!simd::max_over_taps_values_avx512(rows.data(), count, out, C)) {
            simd::max_over_taps_values(rows.data(), count, out, C);
          }
          continue;
        }
        if (simd::max_over_taps_with_taps_avx512(rows.data(), row_taps.data(), count, out, off, C)) continue;
        simd::max_over_taps(rows.data(), row_taps.data(), count, out, best_tap.data(), C);
      } else if constexpr (std::is_same_v<scalar_t, at::BFloat16>) {
        if (off == nullptr) {
          const auto* bits = reinterpret_cast<const uint16_t* const*>(rows.data());
          auto* out_bits = reinterpret_cast<uint16_t*>(out);
          if (!simd::max_over_taps_values_avx512(bits, count, out_bits, C)) {
            simd::max_over_taps_values_bf16(bits, count, out_bits, C);
          }
          continue;
        }
        const auto* bits = reinterpret_cast<const uint16_t* const*>(rows.data());
        auto* out_bits = reinterpret_cast<uint16_t*>(out);
        if (simd::max_over_taps_with_taps_avx512(bits, row_taps.data(), count, out_bits, off, C)) continue;
        simd::max_over_taps_bf16(bits, row_taps.data(), count, out_bits, best_tap.data(), best.data(), C);
      } else {
        max_over_taps_generic(rows.data(), row_taps.data(), count, best.data(), best_tap.data(), C);
        for (int64_t c = 0; c < C; ++c) out[c] = static_cast<scalar_t>(best[c]);
      }
      if (off == nullptr) continue;  // values only
      for (int64_t c = 0; c < C; ++c) off[c] = static_cast<offset_t>(best_tap[c]);
    }
  });
}

#define POOLING_EXT_INSTANTIATE(scalar_t, offset_t) \
  template void max_forward_channels_last(const MaxPoolForwardBody<scalar_t, offset_t>&);
#define POOLING_EXT_INSTANTIATE_OFFSETS(scalar_t) POOLING_EXT_FOR_EACH_OFFSET_TYPE(POOLING_EXT_INSTANTIATE, scalar_t)
POOLING_EXT_FOR_EACH_MAX_POOL_TYPE(POOLING_EXT_INSTANTIATE_OFFSETS)

}  // namespace cpu
}  // namespace pooling_ext
