// The window-sum family's CPU loops where the window covers the whole plane
// (global pooling heads, GeM, adaptive pooling to size 1), contiguous
// tensors: one reduction per plane in vector lanes, a span of planes per call
// (a call per plane would cost as much as its sum); the backward spreads each
// plane's share over it.
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>

#include <cstring>
#include <type_traits>
#include <vector>

#include "../../common/cpu/loop_support.h"
#include "../../common/dtype_dispatch.h"
#include "average_avx512.h"
#include "lane_vectors.h"
#include "terms.h"
#include "window_sum_cpu_loops.h"

namespace pooling_ext {
namespace cpu {
namespace {

// The plain sums of `planes` consecutive float or double planes (the
// average's global window): 64-byte lanes, a plane's last partial vector read
// whole with the lanes past the plane zeroed where that stays below
// `readable_end`, and a halving tree at the end. A plane of a network head is
// 49 elements: a compiler's in-order horizontal sum would cost more than its
// loads.
template <typename acc_t>
POOLING_EXT_ISA_CLONES void sum_float_planes(const acc_t* __restrict__ x, int64_t planes, int64_t plane_size,
                                             acc_t* __restrict__ sums, const acc_t* readable_end) {
  using V = LaneVectors<acc_t>;
  constexpr int kLanes = V::kLanes;
  const int64_t whole = plane_size - plane_size % kLanes;
  const int64_t tail = plane_size - whole;
  typename V::FullInt lane_index;
  for (int l = 0; l < kLanes; ++l) lane_index[l] = l;
  const typename V::FullInt in_tail = lane_index < static_cast<typename V::LaneInt>(tail);
  for (int64_t p = 0; p < planes; ++p) {
    const acc_t* __restrict__ plane = x + p * plane_size;
    typename V::Full lanes = {};
    for (int64_t i = 0; i < whole; i += kLanes) {
      typename V::Full chunk;
      std::memcpy(&chunk, plane + i, sizeof(chunk));
      lanes += chunk;
    }
    if (tail != 0 && plane + whole + kLanes <= readable_end) {
      typename V::Full chunk;
      std::memcpy(&chunk, plane + whole, sizeof(chunk));
      lanes += in_tail ? chunk : typename V::Full{};
      sums[p] = sum_of_lanes<acc_t>(lanes);
    } else {
      acc_t sum = sum_of_lanes<acc_t>(lanes);
      for (int64_t i = whole; i < plane_size; ++i) sum += plane[i];
      sums[p] = sum;
    }
  }
}

// The plain sums of `planes` consecutive bfloat16 planes (the average's
// global window) in 16 float lanes, widened exactly, a halving tree, then
// the plane's last elements in order (a generic loop converted each element
// through c10::BFloat16 and ran at half float32's speed on half its bytes).
POOLING_EXT_ISA_CLONES void sum_bfloat16_planes(const c10::BFloat16* __restrict__ x, int64_t planes, int64_t plane_size,
                                                float* __restrict__ sums) {
  const int64_t whole = plane_size - plane_size % 16;
  for (int64_t p = 0; p < planes; ++p) {
    const c10::BFloat16* __restrict__ plane = x + p * plane_size;
    LaneVectors<float>::Full lanes = {};
    for (int64_t i = 0; i < whole; i += 16) lanes += load_float_lanes(plane + i);
    float sum = sum_of_lanes<float>(lanes);
    for (int64_t i = whole; i < plane_size; ++i) sum += static_cast<float>(plane[i]);
    sums[p] = sum;
  }
}

// The sums of `planes` consecutive planes of plane_size elements through any
// term, in one call (a call per plane would cost as much as its sum).
template <typename scalar_t, typename acc_t, class Term>
POOLING_EXT_ISA_CLONES void sum_planes_in_lanes(const scalar_t* __restrict__ x, int64_t planes, int64_t plane_size,
                                                acc_t* __restrict__ sums, const Term& term) {
  for (int64_t p = 0; p < planes; ++p) {
    const scalar_t* __restrict__ plane = x + p * plane_size;
    // The vector lanes are the independent partial sums: the order depends on
    // the ISA clone only, never on threads or timing.
    acc_t sum = acc_t(0);
#pragma omp simd reduction(+ : sum)
    for (int64_t i = 0; i < plane_size; ++i) sum += term.value(static_cast<acc_t>(plane[i]));
    sums[p] = sum;
  }
}

template <typename scalar_t, class Term>
void forward_global(const WindowSumForwardBody<scalar_t, int64_t>& body, const Term& term) {
  using acc_t = at::opmath_type<scalar_t>;
  const PoolGeometry& g = body.g;
  const WindowBox<int64_t> box = window_box<int64_t>(g, 0, 0, 0);
  const auto finish = window_finish<acc_t, Term>(body.r, box);
  const int64_t planes = g.batch * g.channels;
  // bfloat16 averages: finished in the AVX-512 kernel, by average_of_sum's divisions.
  float divide_by[3] = {static_cast<float>(average_divisor(body.r, box)), 1.0f, 1.0f};
  if (body.r.divide_in_turn) {
    divide_by[0] = static_cast<float>(box.d.end - box.d.first);
    divide_by[1] = static_cast<float>(box.h.end - box.h.first);
    divide_by[2] = static_cast<float>(box.w.end - box.w.first);
  }
  at::parallel_for(0, planes, grain_for(g.in_plane()), [&](int64_t begin, int64_t stop) {
    const scalar_t* planes_start = body.input + begin * g.in_plane();
    if constexpr (Term::kAverage && std::is_same_v<scalar_t, c10::BFloat16>) {
      if (simd::average_bfloat16_planes_avx512(reinterpret_cast<const uint16_t*>(planes_start), stop - begin,
                                               g.in_plane(), divide_by,
                                               reinterpret_cast<uint16_t*>(body.output + begin))) {
        return;  // (averages stored: no sums buffer)
      }
    }
    std::vector<acc_t> sums(stop - begin);
    if constexpr (Term::kAverage && std::is_same_v<scalar_t, acc_t>) {
      sum_float_planes<acc_t>(planes_start, stop - begin, g.in_plane(), sums.data(), body.input + g.in_numel());
    } else if constexpr (Term::kAverage && std::is_same_v<scalar_t, c10::BFloat16>) {
      sum_bfloat16_planes(planes_start, stop - begin, g.in_plane(), sums.data());
    } else {
      sum_planes_in_lanes<scalar_t, acc_t>(planes_start, stop - begin, g.in_plane(), sums.data(), term);
    }
    for (int64_t plane = begin; plane < stop; ++plane) {
      body.output[plane] = static_cast<scalar_t>(finish(sums[plane - begin], [&] {
        return static_cast<acc_t>(body.compute(plane / g.channels, plane % g.channels, 0, 0, 0));
      }));
    }
  });
}

// Average pooling's global backward: each plane filled with its gradient over
// the divisor, a span of planes per call.
template <typename scalar_t, typename acc_t>
POOLING_EXT_ISA_CLONES void spread_average_over_planes(scalar_t* __restrict__ grad_in,
                                                       const scalar_t* __restrict__ grad, int64_t planes,
                                                       int64_t plane_size, acc_t divisor) {
  for (int64_t p = 0; p < planes; ++p) {
    const scalar_t share = static_cast<scalar_t>(static_cast<acc_t>(grad[p]) / divisor);
    scalar_t* __restrict__ plane = grad_in + p * plane_size;
    if constexpr (std::is_same_v<scalar_t, c10::BFloat16> || std::is_same_v<scalar_t, c10::Half>) {
      // As 16-bit words: a fill of the class type stayed a loop of 2-byte stores.
      uint16_t* __restrict__ words = reinterpret_cast<uint16_t*>(plane);
      for (int64_t i = 0; i < plane_size; ++i) words[i] = share.x;
    } else {
      for (int64_t i = 0; i < plane_size; ++i) plane[i] = share;
    }
  }
}

// The power mean's global backward of one plane: each input's share.
template <typename scalar_t, typename acc_t, class Term>
POOLING_EXT_ISA_CLONES void spread_power_grad_over_plane(scalar_t* __restrict__ grad_in, const scalar_t* __restrict__ x,
                                                         int64_t count, acc_t weight, acc_t inv_y, const Term& term) {
  for (int64_t i = 0; i < count; ++i) {
    grad_in[i] = static_cast<scalar_t>(weight * term.grad(static_cast<acc_t>(x[i]), inv_y));
  }
}

template <typename scalar_t, class Term>
void backward_global(const WindowSumBackwardBody<scalar_t, int64_t>& body, const Term& term) {
  using acc_t = at::opmath_type<scalar_t>;
  const PoolGeometry& g = body.g;
  const ReductionSpec<acc_t>& r = body.r;
  const WindowBox<int64_t> box = window_box<int64_t>(g, 0, 0, 0);
  at::parallel_for(0, g.batch * g.channels, grain_for(g.in_plane(), 2), [&](int64_t begin, int64_t stop) {
    if constexpr (Term::kAverage) {
      spread_average_over_planes<scalar_t, acc_t>(body.grad_input + begin * g.in_plane(), body.grad_output + begin,
                                                  stop - begin, g.in_plane(),
                                                  static_cast<acc_t>(average_divisor(r, box)));
    } else {
      const acc_t scale = r.numerator / static_cast<acc_t>(box.padded_count());
      for (int64_t plane = begin; plane < stop; ++plane) {
        const acc_t grad = static_cast<acc_t>(body.grad_output[plane]);
        const acc_t y = static_cast<acc_t>(body.output[plane]);
        const acc_t weight = y == acc_t(0) ? acc_t(0) : grad * scale;
        const acc_t inv_y = y == acc_t(0) ? acc_t(0) : acc_t(1) / y;
        spread_power_grad_over_plane<scalar_t, acc_t>(body.grad_input + plane * g.in_plane(),
                                                      body.input + plane * g.in_plane(), g.in_plane(), weight, inv_y,
                                                      term);
      }
    }
  });
}

}  // namespace

template <typename scalar_t>
void sum_forward_global(const WindowSumForwardBody<scalar_t, int64_t>& body) {
  with_term(body.r, [&](const auto& term) { forward_global(body, term); });
}

template <typename scalar_t>
void sum_backward_global(const WindowSumBackwardBody<scalar_t, int64_t>& body) {
  with_term(body.r, [&](const auto& term) { backward_global(body, term); });
}

#define POOLING_EXT_INSTANTIATE_FORWARD(scalar_t) \
  template void sum_forward_global(const WindowSumForwardBody<scalar_t, int64_t>&);
POOLING_EXT_FOR_EACH_AVG_POOL_TYPE(POOLING_EXT_INSTANTIATE_FORWARD)
#define POOLING_EXT_INSTANTIATE_BACKWARD(scalar_t) \
  template void sum_backward_global(const WindowSumBackwardBody<scalar_t, int64_t>&);
POOLING_EXT_FOR_EACH_FLOAT_TYPE(POOLING_EXT_INSTANTIATE_BACKWARD)

}  // namespace cpu
}  // namespace pooling_ext
