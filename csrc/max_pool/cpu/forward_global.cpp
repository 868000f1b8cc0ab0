// Max pooling's CPU forward where the window covers the whole plane
// (global max heads, adaptive pooling to size 1), contiguous tensors: one
// reduction per plane, its index in the plane the window offset.
#include <ATen/Parallel.h>

#include <algorithm>
#include <limits>
#include <type_traits>
#include <vector>

#include "../../common/cpu/loop_support.h"
#include "../../common/dtype_dispatch.h"
#include "float_loops.h"
#include "max_pool_cpu_loops.h"

namespace pooling_ext {
namespace cpu {
namespace {

// The running maximum of one chain of a plane's elements and its index.
template <typename value_t>
struct RunningMax {
  value_t value;
  int64_t index;
};

// Which of two chains' results a scan of the whole plane in order ends with:
// the last NaN if there is one, else the larger value, the earlier index on ties.
template <typename value_t>
RunningMax<value_t> merge_in_plane_order(const RunningMax<value_t>& a, const RunningMax<value_t>& b) {
  const bool a_nan = is_nan_value(a.value), b_nan = is_nan_value(b.value);
  if (a_nan || b_nan) {
    if (a_nan && b_nan) return a.index > b.index ? a : b;
    return a_nan ? a : b;
  }
  if (a.value != b.value) return a.value > b.value ? a : b;
  return a.index < b.index ? a : b;
}

// The maximum of one plane with the body's rule (a NaN replaces, ties keep
// the first), in interleaved chains: a single running maximum is latency-bound.
template <typename scalar_t>
RunningMax<running_t<scalar_t>> plane_max(const scalar_t* x, int64_t plane_size) {
  using value_t = running_t<scalar_t>;
  constexpr int64_t kChains = 4;
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
  return best;
}

}  // namespace

template <typename scalar_t, typename offset_t>
void max_forward_global_planes(const MaxPoolForwardBody<scalar_t, offset_t>& body) {
  const int64_t plane_size = body.g.in_plane();
  at::parallel_for(0, body.g.batch * body.g.channels, grain_for(plane_size), [&](int64_t begin, int64_t end) {
    for (int64_t plane = begin; plane < end; ++plane) {
      const scalar_t* x = body.input + plane * plane_size;
      if constexpr (std::is_same_v<scalar_t, at::BFloat16>) {
        const auto* bits = reinterpret_cast<const uint16_t*>(x);
        int32_t index;
        if (body.window_offset == nullptr) {  // values only: AVX-512 where it can tell
          if (simd::max_of_plane_values_avx512(bits, plane_size, reinterpret_cast<uint16_t*>(body.output + plane))) {
            continue;
          }
        } else if (plane_size < std::numeric_limits<int32_t>::max() &&
                   simd::max_of_planes_avx512(bits, 1, plane_size, reinterpret_cast<uint16_t*>(body.output + plane),
                                              &index)) {
          body.window_offset[plane] = static_cast<offset_t>(index);
          continue;
        }
      }
      const auto best = plane_max(x, plane_size);
      body.output[plane] = static_cast<scalar_t>(best.value);
      if (body.window_offset != nullptr) body.window_offset[plane] = static_cast<offset_t>(best.index);
    }
  });
}

template <typename offset_t>
void max_forward_global_float_planes(const MaxPoolForwardBody<float, offset_t>& body) {
  const int64_t plane = body.g.in_plane();
  at::parallel_for(0, body.g.batch * body.g.channels, grain_for(plane), [&](int64_t begin, int64_t end) {
    if (body.window_offset == nullptr) {  // values only: AVX-512 per plane where it can tell, else the key loops
      for (int64_t p = begin; p < end; ++p) {
        const float* x = body.input + p * plane;
        if (!simd::max_of_plane_values_avx512(x, plane, body.output + p)) {
          simd::max_of_planes_values(x, 1, plane, body.output + p);
        }
      }
      return;
    }
    std::vector<int32_t> taps(end - begin);
    const float* x = body.input + begin * plane;
    if (!simd::max_of_planes_avx512(x, end - begin, plane, body.output + begin, taps.data())) {
      simd::max_of_planes(x, end - begin, plane, body.output + begin, taps.data());
    }
    for (int64_t p = begin; p < end; ++p) body.window_offset[p] = static_cast<offset_t>(taps[p - begin]);
  });
}

#define POOLING_EXT_INSTANTIATE(scalar_t, offset_t) \
  template void max_forward_global_planes(const MaxPoolForwardBody<scalar_t, offset_t>&);
#define POOLING_EXT_INSTANTIATE_OFFSETS(scalar_t) POOLING_EXT_FOR_EACH_OFFSET_TYPE(POOLING_EXT_INSTANTIATE, scalar_t)
POOLING_EXT_FOR_EACH_MAX_POOL_TYPE(POOLING_EXT_INSTANTIATE_OFFSETS)
template void max_forward_global_float_planes(const MaxPoolForwardBody<float, uint8_t>&);
template void max_forward_global_float_planes(const MaxPoolForwardBody<float, int32_t>&);

}  // namespace cpu
}  // namespace pooling_ext
