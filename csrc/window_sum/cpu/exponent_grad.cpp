// GeM's gradient with respect to p on the CPU: one partial per output (the
// sum over its plane of u^p ln u, across channels in channels-last layout),
// then their fixed-order sum, deterministic for any thread count.
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <type_traits>
#include <vector>

#include "../../common/cpu/loop_support.h"
#include "../../common/dtype_dispatch.h"
#include "terms.h"
#include "window_sum_cpu_loops.h"

namespace pooling_ext {
namespace cpu {
namespace {

template <typename scalar_t, typename acc_t, class Term>
POOLING_EXT_ISA_CLONES acc_t exponent_grad_sum(const scalar_t* __restrict__ x, int64_t count, acc_t inv_y,
                                               const Term& term) {
  acc_t sum = acc_t(0);
#pragma omp simd reduction(+ : sum)
  for (int64_t i = 0; i < count; ++i) sum += term.exponent_grad(static_cast<acc_t>(x[i]), inv_y);
  return sum;
}

template <typename scalar_t, typename acc_t, class Term>
POOLING_EXT_ISA_CLONES void add_exponent_grad_across_channels(const scalar_t* __restrict__ x,
                                                              const acc_t* __restrict__ inv_y, acc_t* __restrict__ sums,
                                                              int64_t C, const Term& term) {
  for (int64_t c = 0; c < C; ++c) sums[c] += term.exponent_grad(static_cast<acc_t>(x[c]), inv_y[c]);
}

}  // namespace

template <typename scalar_t>
void gem_exponent_grad_partials(const PowerMeanExponentGradBody<scalar_t, int64_t>& body) {
  using acc_t = at::opmath_type<scalar_t>;
  const PoolGeometry& g = body.g;
  if (!is_global_window(g)) return parallel_for_each_index(g.out_numel(), body, kGrainElements / 16);
  const acc_t p = body.r.exponent();
  const acc_t scale = body.r.numerator / static_cast<acc_t>(g.in_plane());
  auto partial = [&](int64_t o, acc_t sum) {
    const acc_t y = static_cast<acc_t>(body.output[o]);
    body.partial[o] = y == acc_t(0) ? acc_t(0) : static_cast<acc_t>(body.grad_output[o]) * y * scale / p * sum;
  };
  auto inverse = [](acc_t y) { return y == acc_t(0) ? acc_t(0) : acc_t(1) / y; };
  with_term(body.r, [&](const auto& term) {
    if constexpr (!std::decay_t<decltype(term)>::kAverage) {
      if (!g.channels_last) {
        at::parallel_for(0, g.batch * g.channels, grain_for(g.in_plane()), [&](int64_t begin, int64_t stop) {
          for (int64_t plane = begin; plane < stop; ++plane) {
            const acc_t inv_y = inverse(static_cast<acc_t>(body.output[plane]));
            partial(plane,
                    exponent_grad_sum<scalar_t, acc_t>(body.input + plane * g.in_plane(), g.in_plane(), inv_y, term));
          }
        });
        return;
      }
      const int64_t C = g.channels;
      at::parallel_for(0, g.batch, 1, [&](int64_t begin, int64_t stop) {
        std::vector<acc_t> sums(C), inv_y(C);
        for (int64_t n = begin; n < stop; ++n) {
          for (int64_t c = 0; c < C; ++c) inv_y[c] = inverse(static_cast<acc_t>(body.output[n * C + c]));
          std::fill(sums.begin(), sums.end(), acc_t(0));
          for (int64_t pos = 0; pos < g.in_plane(); ++pos) {
            add_exponent_grad_across_channels<scalar_t, acc_t>(body.input + (n * g.in_plane() + pos) * C, inv_y.data(),
                                                               sums.data(), C, term);
          }
          for (int64_t c = 0; c < C; ++c) partial(n * C + c, sums[c]);
        }
      });
    }
  });
}

at::Tensor fixed_order_sum(at::Tensor values) {
  constexpr int64_t kChunk = 256;
  AT_DISPATCH_FLOATING_TYPES(values.scalar_type(), "fixed_order_sum", [&] {
    // Levels of sums of kChunk consecutive values, each added in index order.
    while (values.numel() > 1) {
      const int64_t count = values.numel(), chunks = (count + kChunk - 1) / kChunk;
      at::Tensor sums = at::empty({chunks}, values.options());
      const scalar_t* in = values.const_data_ptr<scalar_t>();
      scalar_t* out = sums.mutable_data_ptr<scalar_t>();
      parallel_for_each_index(
          chunks,
          [&](int64_t chunk) {
            scalar_t sum = scalar_t(0);
            for (int64_t i = chunk * kChunk; i < std::min(count, (chunk + 1) * kChunk); ++i) sum += in[i];
            out[chunk] = sum;
          },
          kGrainElements / 2);
      values = sums;
    }
  });
  return values.numel() == 1 ? values.reshape({}) : at::zeros({}, values.options());
}

#define POOLING_EXT_INSTANTIATE(scalar_t) \
  template void gem_exponent_grad_partials(const PowerMeanExponentGradBody<scalar_t, int64_t>&);
POOLING_EXT_FOR_EACH_FLOAT_TYPE(POOLING_EXT_INSTANTIATE)

}  // namespace cpu
}  // namespace pooling_ext
