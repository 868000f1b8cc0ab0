// The window-sum family's CPU backward on contiguous tensors with fixed
// windows: one (n, c) plane per task, outputs in order, each scattering its
// share (the average's grad / divisor, or the power mean's factor) to the
// inputs of its window. The same sums in the same order for any thread count.
//
// Interior outputs (whose window lies inside the input) scatter tap by tap
// across a whole row. With stride s > 1 that would stride through memory, so
// such rows accumulate in phase-major order: within each row the inputs
// iw = phase + s * j of one phase are stored together; output ow's tap tw
// reaches j = ow - q of phase (tw - pad) mod s, and every tap becomes a
// contiguous loop. The plane is permuted once on the way in (x) and out (the
// gradient). Border outputs scatter one by one.
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <cstring>
#include <type_traits>
#include <vector>

#include "../../common/dtype_dispatch.h"
#include "average_avx512.h"
#include "lane_vectors.h"
#include "terms.h"
#include "window_sum_cpu_loops.h"
#include "window_tables.h"

namespace pooling_ext {
namespace cpu {
namespace {

// grad_in[ow * stride + offset] += weight[ow] * term.grad(x[...], inv_y[ow]) for
// the interior outputs (the average's share is the weight itself).
template <int kStride, typename scalar_t, typename acc_t, class Term>
POOLING_EXT_ISA_CLONES void scatter_tap_across_row(acc_t* __restrict__ grad_in, const scalar_t* __restrict__ x,
                                                   const acc_t* __restrict__ weight, const acc_t* __restrict__ inv_y,
                                                   int64_t first, int64_t end, int64_t stride, int64_t offset,
                                                   const Term& term) {
  const int64_t s = kStride > 0 ? kStride : stride;
  for (int64_t ow = first; ow < end; ++ow) {
    if constexpr (Term::kAverage) {
      grad_in[ow * s + offset] += weight[ow];
    } else {
      grad_in[ow * s + offset] += weight[ow] * term.grad(static_cast<acc_t>(x[ow * s + offset]), inv_y[ow]);
    }
  }
}

// acc[j] += the share of output j + q for inputs j in [j_begin, j_end) of one phase.
template <typename scalar_t, typename acc_t, class Term>
POOLING_EXT_ISA_CLONES void add_tap_in_phase(acc_t* __restrict__ acc, const acc_t* __restrict__ x,
                                             const acc_t* __restrict__ weight, const acc_t* __restrict__ inv_y,
                                             int64_t q, int64_t j_begin, int64_t j_end, const Term& term) {
  for (int64_t j = j_begin; j < j_end; ++j) {
    if constexpr (Term::kAverage) {
      acc[j] += weight[j + q];
    } else {
      acc[j] += weight[j + q] * term.grad(x[j], inv_y[j + q]);
    }
  }
}

// The permutation of a plane's rows into phase-major order (input iw of a
// row to offset[iw % stride] + iw / stride) and back, a whole plane per call.
// Float rows of stride 2 split into even and odd halves (and merge back) 32
// elements at a time with two shuffles of two vectors; GCC's loop over a
// strided store (`dst[2j] = src[j]`) was mostly scalar moves (LP's 3x3 s2
// backward 8% faster). kStride > 0: the stride at compile time, which lets
// the other loops vectorise.
// f(j) for blocks of 16 pairs [j, j + 16) covering a row's `pairs` pairs,
// the last block overlapping the one before (its values written again)
// rather than leaving up to 15 pairs to a scalar loop; returns the pairs
// covered (none where the row has fewer than 16).
template <class F>
POOLING_EXT_ALWAYS_INLINE int64_t for_each_block_of_16_pairs(int64_t pairs, const F& f) {
  if (pairs < 16) return 0;
  for (int64_t j = 0; j < pairs; j += 16) f(std::min(j, pairs - 16));
  return pairs;
}

template <int kStride, typename scalar_t, typename acc_t>
POOLING_EXT_ISA_CLONES void permute_plane_rows(const scalar_t* __restrict__ x, acc_t* __restrict__ permuted,
                                               int64_t rows, int64_t width, int64_t stride, const int64_t* phase_offset,
                                               const int64_t* phase_count) {
  const int64_t step = kStride > 0 ? kStride : stride;
  for (int64_t row = 0; row < rows; ++row) {
    const scalar_t* __restrict__ src = x + row * width;
    acc_t* __restrict__ dst = permuted + row * width;
    int64_t j = 0;
    if constexpr (kStride == 2 && std::is_same_v<scalar_t, float> && std::is_same_v<acc_t, float>) {
      using V = LaneVectors<float>::Full;
      using I = LaneVectors<float>::FullInt;
      float* __restrict__ odd = dst + phase_offset[1];
      // (an odd row's last even input is left to the loop below)
      j = for_each_block_of_16_pairs(width / 2, [&](int64_t k) POOLING_EXT_LAMBDA_ALWAYS_INLINE {
        V a, b;
        std::memcpy(&a, src + 2 * k, sizeof(V));
        std::memcpy(&b, src + 2 * k + 16, sizeof(V));
        const V even_lanes = __builtin_shuffle(a, b, I{0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30});
        const V odd_lanes = __builtin_shuffle(a, b, I{1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31});
        std::memcpy(dst + k, &even_lanes, sizeof(V));
        std::memcpy(odd + k, &odd_lanes, sizeof(V));
      });
    }
    for (int64_t phase = 0; phase < step; ++phase) {  // (the rest: each phase from input j * step + phase)
      for (int64_t k = j; k < phase_count[phase]; ++k) {
        dst[phase_offset[phase] + k] = static_cast<acc_t>(src[k * step + phase]);
      }
    }
  }
}

template <int kStride, typename scalar_t, typename acc_t>
POOLING_EXT_ISA_CLONES void unpermute_plane_rows(const acc_t* __restrict__ permuted, scalar_t* __restrict__ x,
                                                 int64_t rows, int64_t width, int64_t stride,
                                                 const int64_t* phase_offset, const int64_t* phase_count) {
  const int64_t step = kStride > 0 ? kStride : stride;
  for (int64_t row = 0; row < rows; ++row) {
    const acc_t* __restrict__ src = permuted + row * width;
    scalar_t* __restrict__ dst = x + row * width;
    int64_t j = 0;
    if constexpr (kStride == 2 && std::is_same_v<scalar_t, float> && std::is_same_v<acc_t, float>) {
      using V = LaneVectors<float>::Full;
      using I = LaneVectors<float>::FullInt;
      const float* __restrict__ odd = src + phase_offset[1];
      j = for_each_block_of_16_pairs(width / 2, [&](int64_t k) POOLING_EXT_LAMBDA_ALWAYS_INLINE {
        V even_lanes, odd_lanes;
        std::memcpy(&even_lanes, src + k, sizeof(V));
        std::memcpy(&odd_lanes, odd + k, sizeof(V));
        const V low =
            __builtin_shuffle(even_lanes, odd_lanes, I{0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23});
        const V high =
            __builtin_shuffle(even_lanes, odd_lanes, I{8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31});
        std::memcpy(dst + 2 * k, &low, sizeof(V));
        std::memcpy(dst + 2 * k + 16, &high, sizeof(V));
      });
    }
    for (int64_t phase = 0; phase < step; ++phase) {
      for (int64_t k = j; k < phase_count[phase]; ++k) {
        dst[k * step + phase] = static_cast<scalar_t>(src[phase_offset[phase] + k]);
      }
    }
  }
}

// Per output of a row: the average's share grad / divisor, or the power
// mean's grad * numerator / divisor and 1 / y (both zero where y = 0).
template <typename scalar_t, typename acc_t, bool kAverage>
POOLING_EXT_ISA_CLONES void row_weights(const scalar_t* __restrict__ grad, const scalar_t* __restrict__ out,
                                        const acc_t* __restrict__ width_factor, acc_t row_factor, acc_t numerator,
                                        acc_t* __restrict__ weight, acc_t* __restrict__ inv_y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const acc_t g = static_cast<acc_t>(grad[i]);
    if constexpr (kAverage) {
      weight[i] = g / (row_factor * width_factor[i]);
    } else {
      const acc_t y = static_cast<acc_t>(out[i]);
      const bool zero = y == acc_t(0);
      weight[i] = zero ? acc_t(0) : g * (numerator / (row_factor * width_factor[i]));
      inv_y[i] = zero ? acc_t(0) : acc_t(1) / y;
    }
  }
}

// Where each input of a row lies in phase-major order.
struct PhaseLayout {
  std::vector<int64_t> position;  // iw -> index within the row in phase-major order
  std::vector<int64_t> offset;    // phase -> its first index
  std::vector<int64_t> count;     // phase -> number of inputs

  PhaseLayout(int64_t width, int64_t stride) : position(width), offset(stride), count(stride) {
    int64_t next = 0;
    for (int64_t phase = 0; phase < stride; ++phase) {
      offset[phase] = next;
      count[phase] = phase < width ? (width - phase + stride - 1) / stride : 0;
      for (int64_t j = 0; j < count[phase]; ++j) position[phase + stride * j] = next + j;
      next += count[phase];
    }
  }
};

// The backward of one plane at a time; what every plane shares is computed once.
template <int kStride, typename scalar_t, class Term>
class PlaneScatter {
 public:
  using acc_t = at::opmath_type<scalar_t>;

  // One task's scratch.
  struct Scratch {
    std::vector<acc_t> sums;        // the plane's sums, unless they go straight into grad_input
    std::vector<acc_t> permuted_x;  // the plane's input in phase-major order (power mean, by phase)
    std::vector<acc_t> weight, inv_y;
  };

  PlaneScatter(const WindowSumBackwardBody<scalar_t, int64_t>& body, const Term& term)
      : body_(body), g_(body.g), term_(term), extents_(body.g) {
    const auto interior = interior_range(g_);
    first_ = interior.first;
    end_ = interior.second;
    stride_ = g_.stride[2];
    // (a stride past the row's width leaves one input per phase at most: nothing to permute)
    by_phase_ = stride_ > 1 && stride_ <= g_.in[2];
    if (by_phase_) layout_ = PhaseLayout(g_.in[2], stride_);
    if (by_phase_ && first_ < end_) {  // (interior windows fit in the row: kernel[2] <= width)
      for (int64_t tw = 0; tw < g_.kernel[2]; ++tw) {
        const int64_t phase = ((tw - g_.pad[2]) % stride_ + stride_) % stride_;
        tap_phase_.push_back(phase);
        tap_shift_.push_back((tw - g_.pad[2] - phase) / stride_);
      }
    }
    // float and double accumulate in grad_input itself unless permuted; half
    // and bfloat16 always in a float plane, rounded at the end.
    in_place_ = std::is_same_v<acc_t, scalar_t> && !by_phase_;
    // Each output's divisor is (d and h factor) * width_factor[ow], products of
    // small integers (exact in floating point).
    const bool padded = !Term::kAverage || body.r.count_include_pad;
    for (int64_t ow = 0; ow < g_.out[2]; ++ow) {
      const WindowExtent<int64_t>& ew = extents_.dim[2][ow];
      width_factor_.push_back(Term::kAverage && body.r.divisor_override != 0
                                  ? acc_t(1)
                                  : static_cast<acc_t>(padded ? ew.padded : ew.end - ew.first));
    }
  }

  Scratch scratch() const {
    return Scratch{std::vector<acc_t>(in_place_ ? 0 : g_.in_plane()),
                   std::vector<acc_t>(by_phase_ && !Term::kAverage ? g_.in_plane() : 0), std::vector<acc_t>(g_.out[2]),
                   std::vector<acc_t>(g_.out[2])};
  }

  void run(int64_t plane, Scratch& scratch) const {
    scalar_t* grad_in = body_.grad_input + plane * g_.in_plane();
    acc_t* acc = in_place_ ? reinterpret_cast<acc_t*>(grad_in) : scratch.sums.data();
    std::fill(acc, acc + g_.in_plane(), acc_t(0));
    const scalar_t* x_plane = Term::kAverage ? nullptr : body_.input + plane * g_.in_plane();
    if (by_phase_ && !Term::kAverage) permute_rows(x_plane, scratch.permuted_x.data());
    for (int64_t od = 0; od < g_.out[0]; ++od) {
      for (int64_t oh = 0; oh < g_.out[1]; ++oh) {
        output_row_weights(plane, od, oh, scratch);
        const WindowExtent<int64_t>& ed = extents_.dim[0][od];
        const WindowExtent<int64_t>& eh = extents_.dim[1][oh];
        for (int64_t id = ed.first; id < ed.end; ++id) {
          for (int64_t ih = eh.first; ih < eh.end; ++ih) {
            scatter_input_row((id * g_.in[1] + ih) * g_.in[2], acc, x_plane, scratch);
          }
        }
      }
    }
    if (by_phase_) {
      unpermute_rows(acc, grad_in);
    } else if (!in_place_) {
      for (int64_t i = 0; i < g_.in_plane(); ++i) grad_in[i] = static_cast<scalar_t>(acc[i]);
    }
  }

 private:
  // The weights (and 1 / y) of output row (od, oh) of the plane.
  void output_row_weights(int64_t plane, int64_t od, int64_t oh, Scratch& scratch) const {
    const int64_t o_row = plane * g_.out_plane() + (od * g_.out[1] + oh) * g_.out[2];
    const ReductionSpec<acc_t>& r = body_.r;
    row_weights<scalar_t, acc_t, Term::kAverage>(
        body_.grad_output + o_row, Term::kAverage ? nullptr : body_.output + o_row, width_factor_.data(),
        row_factor(extents_.dim[0][od], extents_.dim[1][oh]), Term::kAverage ? acc_t(1) : r.numerator,
        scratch.weight.data(), scratch.inv_y.data(), g_.out[2]);
  }

  // The d and h factor of the divisor of a row of outputs (see width_factor_).
  acc_t row_factor(const WindowExtent<int64_t>& ed, const WindowExtent<int64_t>& eh) const {
    const ReductionSpec<acc_t>& r = body_.r;
    if (Term::kAverage && r.divisor_override != 0) return static_cast<acc_t>(r.divisor_override);
    if (!Term::kAverage || r.count_include_pad) return static_cast<acc_t>(ed.padded * eh.padded);
    return static_cast<acc_t>((ed.end - ed.first) * (eh.end - eh.first));
  }

  // The current output row's shares, scattered into the input row at `row`.
  void scatter_input_row(int64_t row, acc_t* acc, const scalar_t* x_plane, const Scratch& scratch) const {
    acc_t* a = acc + row;
    const acc_t* weight = scratch.weight.data();
    const acc_t* inv_y = scratch.inv_y.data();
    if (first_ < end_ && !by_phase_) {
      const scalar_t* x = Term::kAverage ? nullptr : x_plane + row;
      for (int64_t tw = 0; tw < g_.kernel[2]; ++tw) {
        scatter_tap_across_row<kStride>(a, x, weight, inv_y, first_, end_, stride_, tw - g_.pad[2], term_);
      }
    } else if (first_ < end_) {
      const acc_t* x = Term::kAverage ? nullptr : scratch.permuted_x.data() + row;
      for (int64_t tw = 0; tw < g_.kernel[2]; ++tw) {
        const int64_t phase = tap_phase_[tw];
        const int64_t q = tap_shift_[tw];  // input j of the phase <- output ow = j - q
        const int64_t j_begin = std::max<int64_t>(first_ + q, 0);
        const int64_t j_end = std::min<int64_t>(end_ + q, layout_.count[phase]);
        if (j_begin >= j_end) continue;
        const int64_t at = layout_.offset[phase];
        add_tap_in_phase<scalar_t, acc_t>(a + at, Term::kAverage ? nullptr : x + at, weight, inv_y, -q, j_begin, j_end,
                                          term_);
      }
    }
    for (int64_t ow = 0; ow < first_; ++ow) scatter_border_output(ow, row, a, x_plane, scratch);
    for (int64_t ow = end_; ow < g_.out[2]; ++ow) scatter_border_output(ow, row, a, x_plane, scratch);
  }

  void scatter_border_output(int64_t ow, int64_t row, acc_t* a, const scalar_t* x_plane, const Scratch& scratch) const {
    const WindowExtent<int64_t>& ew = extents_.dim[2][ow];
    for (int64_t iw = ew.first; iw < ew.end; ++iw) {
      const int64_t i = by_phase_ ? layout_.position[iw] : iw;
      if constexpr (Term::kAverage) {
        a[i] += scratch.weight[ow];
      } else {
        const acc_t x = by_phase_ ? scratch.permuted_x[row + i] : static_cast<acc_t>(x_plane[row + iw]);
        a[i] += scratch.weight[ow] * term_.grad(x, scratch.inv_y[ow]);
      }
    }
  }

  void permute_rows(const scalar_t* x_plane, acc_t* permuted) const {
    permute_plane_rows<kStride, scalar_t, acc_t>(x_plane, permuted, g_.in[0] * g_.in[1], g_.in[2], stride_,
                                                 layout_.offset.data(), layout_.count.data());
  }

  void unpermute_rows(const acc_t* acc, scalar_t* grad_in) const {
    unpermute_plane_rows<kStride, scalar_t, acc_t>(acc, grad_in, g_.in[0] * g_.in[1], g_.in[2], stride_,
                                                   layout_.offset.data(), layout_.count.data());
  }

  const WindowSumBackwardBody<scalar_t, int64_t>& body_;
  const PoolGeometry& g_;
  const Term& term_;
  const ExtentTables extents_;
  int64_t first_ = 0, end_ = 0, stride_ = 1;
  bool by_phase_ = false, in_place_ = false;
  PhaseLayout layout_{0, 1};
  std::vector<int64_t> tap_phase_, tap_shift_;
  std::vector<acc_t> width_factor_;
};

// "Same" average windows of one divisor (same_windows_divisor; Inception's
// 3x3 s1 p1), float32 and bfloat16 on a CPU with AVX-512: an input's
// covering outputs are the window centred on it, so its gradient is the
// forward's flat sum over the outputs' shares, in output order (torch's:
// float32 gradients with its bits). False (nothing done) elsewhere.
template <typename scalar_t>
bool same_windows_backward(const WindowSumBackwardBody<scalar_t, int64_t>& body) {
  constexpr bool kFloat = std::is_same_v<scalar_t, float>, kBFloat16 = std::is_same_v<scalar_t, at::BFloat16>;
  if constexpr (kFloat || kBFloat16) {
    const PoolGeometry& g = body.g;
    const int64_t divisor = same_windows_divisor(g, body.r);
    const int64_t n = g.in_plane(), taps = g.kernel[1] * g.kernel[2];
    if (divisor == 0 || taps == 1 || !simd::average_rows_avx512_supported() ||
        (n + 15) / 16 * taps > (int64_t{1} << 20)) {  // (a lane mask per block and tap)
      return false;
    }
    using bits_t = std::conditional_t<kFloat, float, uint16_t>;
    at::parallel_for(0, g.batch * g.channels, grain_for(n, taps), [&](int64_t begin, int64_t end) {
      simd::average_same_planes_backward_avx512(
          simd::SameAveragePlanes<bits_t>{reinterpret_cast<const bits_t*>(body.grad_output) + begin * n,
                                          reinterpret_cast<bits_t*>(body.grad_input) + begin * n, end - begin, g.in[1],
                                          g.in[2], g.kernel[1], g.kernel[2], static_cast<float>(divisor)});
    });
    return true;
  }
  return false;
}

// 1-d average windows 3 wide at stride 2, padded by 1 (audio/text
// avg_pool1d(3, 2, 1)), float32 and bfloat16 on a CPU with AVX-512: each
// input has one or two covering outputs (even inputs one, odd two), so a
// gather writes each input once instead of the by-phase scatter's
// permutations; two shares sum alike in either order, so the same bits.
// False (nothing done) elsewhere.
template <typename scalar_t>
bool stride_two_rows_backward(const WindowSumBackwardBody<scalar_t, int64_t>& body) {
  constexpr bool kFloat = std::is_same_v<scalar_t, float>, kBFloat16 = std::is_same_v<scalar_t, at::BFloat16>;
  if constexpr (kFloat || kBFloat16) {
    const PoolGeometry& g = body.g;
    if (g.adaptive || g.in[0] != 1 || g.in[1] != 1 || g.kernel[2] != 3 || g.stride[2] != 2 || g.pad[2] != 1 ||
        g.dilation[2] != 1 || g.out[2] != (g.in[2] + 1) / 2 || !simd::average_rows_avx512_supported()) {
      return false;
    }
    using bits_t = std::conditional_t<kFloat, float, uint16_t>;
    const ExtentTables extents(g);
    std::vector<float> divisor(g.out[2]);
    for (int64_t ow = 0; ow < g.out[2]; ++ow) {
      divisor[ow] = static_cast<float>(average_divisor(body.r, extents.box(0, 0, ow)));
    }
    const int64_t rows = g.batch * g.channels;
    at::parallel_for(0, rows, grain_for(g.in[2], 2), [&](int64_t begin, int64_t end) {
      simd::average_stride_two_rows_backward_avx512(
          simd::StrideTwoRows<bits_t>{reinterpret_cast<const bits_t*>(body.grad_output) + begin * g.out[2],
                                      reinterpret_cast<bits_t*>(body.grad_input) + begin * g.in[2], end - begin,
                                      g.out[2], g.in[2], divisor.data()});
    });
    return true;
  }
  return false;
}

template <int kStride, typename scalar_t, class Term>
void backward_planes(const WindowSumBackwardBody<scalar_t, int64_t>& body, const Term& term) {
  const PlaneScatter<kStride, scalar_t, Term> scatter(body, term);
  at::parallel_for(0, body.g.batch * body.g.channels, grain_for(body.g.in_plane(), 2),
                   [&](int64_t begin, int64_t stop) {
                     auto scratch = scatter.scratch();
                     for (int64_t plane = begin; plane < stop; ++plane) scatter.run(plane, scratch);
                   });
}

}  // namespace

template <typename scalar_t>
void sum_backward_planes(const WindowSumBackwardBody<scalar_t, int64_t>& body) {
  if (body.r.reduction == WindowReduction::kAverage &&
      (same_windows_backward(body) || stride_two_rows_backward(body))) {
    return;
  }
  with_term(body.r, [&](const auto& term) {
    with_row_stride<scalar_t>(body.g, [&](auto stride) { backward_planes<decltype(stride)::value>(body, term); });
  });
}

#define POOLING_EXT_INSTANTIATE(scalar_t) \
  template void sum_backward_planes(const WindowSumBackwardBody<scalar_t, int64_t>&);
POOLING_EXT_FOR_EACH_FLOAT_TYPE(POOLING_EXT_INSTANTIATE)

}  // namespace cpu
}  // namespace pooling_ext
