// Fractional max pooling's CPU forward on channels-last tensors: one output
// position at a time, each channel's window from its own starts; float32
// and bfloat16 in AVX-512 where the CPU has it.
#include <ATen/Parallel.h>

#include <type_traits>
#include <vector>

#include "../../common/cpu/loop_support.h"
#include "../../common/dtype_dispatch.h"
#include "fractional_cpu_loops.h"
#include "values_avx512.h"

namespace pooling_ext {
namespace cpu {
namespace {

// The starts table with channels innermost, (n, entry, c): one position's
// starts for consecutive channels lie together instead of a plane's row apart.
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

  PositionStarts(const std::vector<int64_t>& table, const PoolGeometry& g, int64_t n, const Spatial3<int64_t>& o) {
    const int64_t* sample = table.data() + n * fractional_starts_per_plane(g) * g.channels;
    d = sample + o.d * g.channels;
    h = sample + (g.out[0] + o.h) * g.channels;
    w = sample + (g.out[0] + g.out[1] + o.w) * g.channels;
  }
};

// One position's channels, 1 x k x k windows (float or bfloat16 bits).
template <int kH, int kW, typename value_t, typename offset_t>
POOLING_EXT_ISA_CLONES void channels_max_branch_free(const value_t* __restrict__ sample, const PositionStarts& s,
                                                     int64_t height, int64_t width, int64_t channels,
                                                     value_t* __restrict__ out, offset_t* __restrict__ out_tap) {
  for (int64_t c = 0; c < channels; ++c) {
    const value_t* corner = sample + ((s.d[c] * height + s.h[c]) * width + s.w[c]) * channels + c;
    window_max_branch_free<kH, kW>(corner, width * channels, channels, out[c], out_tap[c]);
  }
}

// One position's channels of float32 or bfloat16 in AVX-512
// (values_avx512.cpp), their window offsets into `taps` unless null (values
// only); false (nothing done) for other dtypes or a CPU without AVX-512.
template <typename scalar_t, typename offset_t>
bool channels_avx512(const FractionalMaxForwardBody<scalar_t, offset_t>& body, const PositionStarts& s,
                     const scalar_t* sample, bool element_before, scalar_t* out, offset_t* taps) {
  constexpr bool kFloat = std::is_same_v<scalar_t, float>, kBFloat16 = std::is_same_v<scalar_t, at::BFloat16>;
  if constexpr (kFloat || kBFloat16) {
    using bits_t = std::conditional_t<kFloat, float, uint16_t>;
    const PoolGeometry& g = body.max.g;
    const auto* bits_in = reinterpret_cast<const bits_t*>(sample);
    auto* bits_out = reinterpret_cast<bits_t*>(out);
    if (taps == nullptr) {
      return simd::fractional_channels_values_avx512(bits_in, s.d, s.h, s.w, g.in[1], g.in[2], g.channels, g.kernel,
                                                     element_before, bits_out);
    }
    return simd::fractional_channels_with_taps_avx512(bits_in, s.d, s.h, s.w, g.in[1], g.in[2], g.channels, g.kernel,
                                                      element_before, bits_out, taps);
  }
  return false;
}

}  // namespace

template <typename scalar_t, typename offset_t>
void fractional_forward_channels_last(const FractionalMaxForwardBody<scalar_t, offset_t>& body) {
  const PoolGeometry& g = body.max.g;
  const int64_t C = g.channels, out_plane = g.out_plane();
  const int64_t row_step = g.in[2] * C, depth_step = g.in[1] * row_step;
  const std::vector<int64_t> position_table = channels_innermost_starts(body.starts, g);
  // Float32 or bfloat16 samples indexable in int32 lanes: AVX-512 where the CPU has it.
  const bool avx512 = g.in_plane() * C < (int64_t(1) << 30) && simd::fractional_values_avx512_supported();
  const bool saves_offsets = body.max.window_offset != nullptr;
  at::parallel_for(0, g.batch * out_plane, grain_for(C), [&](int64_t begin, int64_t end) {
    // A values-only forward (null window_offset) puts the taps in a scratch row, never read.
    std::vector<offset_t> discarded_taps(saves_offsets ? 0 : C);
    for (int64_t position = begin; position < end; ++position) {
      const int64_t n = position / out_plane;
      const PositionStarts s(position_table, g, n, geometry_spatial(g, false, position - n * out_plane));
      const scalar_t* sample = body.max.input + n * g.in_plane() * C;
      scalar_t* out = body.max.output + position * C;
      offset_t* saved_taps = saves_offsets ? body.max.window_offset + position * C : nullptr;
      if (avx512 && channels_avx512(body, s, sample, n > 0, out, saved_taps)) continue;
      offset_t* out_tap = saves_offsets ? saved_taps : discarded_taps.data();
      const bool branch_free = with_small_branch_free_window<scalar_t>(g, [&](auto k, auto as_values) {
        channels_max_branch_free<k, k>(as_values(sample), s, g.in[1], g.in[2], C, as_values(out), out_tap);
      });
      if (branch_free) continue;
      for (int64_t c = 0; c < C; ++c) {
        const scalar_t* corner = sample + ((s.d[c] * g.in[1] + s.h[c]) * g.in[2] + s.w[c]) * C + c;
        out_tap[c] = static_cast<offset_t>(window_max(corner, g.kernel, depth_step, row_step, C, out[c]));
      }
    }
  });
}

#define POOLING_EXT_INSTANTIATE(scalar_t, offset_t) \
  template void fractional_forward_channels_last(const FractionalMaxForwardBody<scalar_t, offset_t>&);
#define POOLING_EXT_INSTANTIATE_OFFSETS(scalar_t) POOLING_EXT_FOR_EACH_OFFSET_TYPE(POOLING_EXT_INSTANTIATE, scalar_t)
POOLING_EXT_FOR_EACH_FLOAT_TYPE(POOLING_EXT_INSTANTIATE_OFFSETS)

}  // namespace cpu
}  // namespace pooling_ext
