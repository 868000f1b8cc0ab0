// The window-sum family's CPU backward on channels-last tensors with
// overlapping windows: each input position gathers the shares of its
// covering outputs, in output order, across the channels (loops over
// channels that vectorise). No atomics: the same sums for any thread count.
// (Windows that do not overlap: backward_disjoint.cpp.)
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <vector>

#include "../../common/dtype_dispatch.h"
#include "lane_vectors.h"
#include "terms.h"
#include "window_sum_cpu_loops.h"
#include "window_tables.h"

namespace pooling_ext {
namespace cpu {
namespace {

template <typename scalar_t, typename acc_t>
POOLING_EXT_ALWAYS_INLINE void start_weighted_sums(const scalar_t* __restrict__ a, acc_t wa,
                                                   const scalar_t* __restrict__ b, acc_t wb, acc_t* __restrict__ sums,
                                                   int64_t C) {
  for (int64_t c = 0; c < C; ++c) sums[c] = static_cast<acc_t>(a[c]) * wa + static_cast<acc_t>(b[c]) * wb;
}

template <typename scalar_t, typename acc_t>
POOLING_EXT_ALWAYS_INLINE void add_weighted(const scalar_t* __restrict__ row, acc_t w, acc_t* __restrict__ sums,
                                            int64_t C) {
  for (int64_t c = 0; c < C; ++c) sums[c] += static_cast<acc_t>(row[c]) * w;
}

template <typename scalar_t, typename acc_t>
POOLING_EXT_ALWAYS_INLINE void store_weighted(const acc_t* __restrict__ sums, const scalar_t* __restrict__ last,
                                              acc_t w, scalar_t* __restrict__ out, int64_t C) {
  for (int64_t c = 0; c < C; ++c) out[c] = static_cast<scalar_t>(sums[c] + static_cast<acc_t>(last[c]) * w);
}

template <typename scalar_t, typename acc_t>
POOLING_EXT_ALWAYS_INLINE void store_scaled(const scalar_t* __restrict__ row, acc_t w, scalar_t* __restrict__ out,
                                            int64_t C) {
  for (int64_t c = 0; c < C; ++c) out[c] = static_cast<scalar_t>(static_cast<acc_t>(row[c]) * w);
}

// kVectors lane vectors of channels from `first` of out = sum over k of
// rows[k] * weights[k], in weighted_rows_across_channels' order (the first
// two rows' products added, then a row at a time), held in registers across
// the rows: none of the per-row passes' loads and stores of the sums.
template <int kVectors, typename scalar_t, typename acc_t>
POOLING_EXT_ALWAYS_INLINE void weighted_channel_block(const scalar_t* const* rows, const acc_t* weights, int64_t count,
                                                      int64_t first, scalar_t* __restrict__ out) {
  using Blocks = ChannelBlocks<scalar_t>;
  typename Blocks::Full a[kVectors], b[kVectors], sums[kVectors];
  Blocks::template load<kVectors>(rows[0] + first, a);
  Blocks::template load<kVectors>(rows[1] + first, b);
  for (int j = 0; j < kVectors; ++j) sums[j] = a[j] * weights[0] + b[j] * weights[1];
  for (int64_t k = 2; k < count; ++k) {
    Blocks::template load<kVectors>(rows[k] + first, a);
    for (int j = 0; j < kVectors; ++j) sums[j] += a[j] * weights[k];
  }
  Blocks::template store<kVectors>(out + first, sums);
}

// The channels of weighted_rows_across_channels (count >= 2) that fill
// ChannelBlocks, in registers; returns how many (a multiple of the blocks'
// width; 0 for types without blocks).
template <typename scalar_t, typename acc_t>
POOLING_EXT_ALWAYS_INLINE int64_t weighted_channel_blocks(const scalar_t* const* rows, const acc_t* weights,
                                                          int64_t count, scalar_t* out, int64_t C) {
  int64_t c = 0;
  if constexpr (kHasChannelBlocks<scalar_t>) {
    using Blocks = ChannelBlocks<scalar_t>;
    constexpr int kLeast = Blocks::kVectorsPerLoad;
    constexpr int64_t kLanes = Blocks::kChannelsPerVector;
    for (; c + 4 * kLanes <= C; c += 4 * kLanes) weighted_channel_block<4>(rows, weights, count, c, out);
    for (; c + kLeast * kLanes <= C; c += kLeast * kLanes) weighted_channel_block<kLeast>(rows, weights, count, c, out);
  }
  return c;
}

// out[c] = sum over k of rows[k][c] * weights[k] (average pooling's
// channels-last backward: the gradients of the covering outputs, each over
// its divisor): blocks of channels in registers, the rest one pass per row.
template <typename scalar_t, typename acc_t>
POOLING_EXT_ISA_CLONES void weighted_rows_across_channels(const scalar_t* const* rows, const acc_t* weights,
                                                          int64_t count, acc_t* sums, scalar_t* out, int64_t C) {
  if (count == 0) {
    std::fill(out, out + C, scalar_t(0));
    return;
  }
  if (count == 1) {
    store_scaled(rows[0], weights[0], out, C);
    return;
  }
  const int64_t c = weighted_channel_blocks(rows, weights, count, out, C);
  if (c == C) return;
  start_weighted_sums(rows[0] + c, weights[0], rows[1] + c, weights[1], sums, C - c);
  for (int64_t k = 2; k + 1 < count; ++k) add_weighted(rows[k] + c, weights[k], sums, C - c);
  if (count == 2) {
    for (int64_t i = 0; i < C - c; ++i) out[c + i] = static_cast<scalar_t>(sums[i]);
  } else {
    store_weighted(sums, rows[count - 1] + c, weights[count - 1], out + c, C - c);
  }
}

// Per output element of the power mean's backward: its gradient times
// numerator / padded window size, and 1 / y (zero where y = 0).
template <typename scalar_t, typename acc_t>
POOLING_EXT_ISA_CLONES void power_output_factors(const scalar_t* __restrict__ grad, const scalar_t* __restrict__ out,
                                                 acc_t scale, acc_t* __restrict__ weight, acc_t* __restrict__ inv_y,
                                                 int64_t C) {
  for (int64_t c = 0; c < C; ++c) {
    const acc_t y = static_cast<acc_t>(out[c]);
    weight[c] = static_cast<acc_t>(grad[c]) * scale;
    inv_y[c] = y == acc_t(0) ? acc_t(0) : acc_t(1) / y;
  }
}

template <typename scalar_t, typename acc_t, class Term>
POOLING_EXT_ALWAYS_INLINE void add_power_grad(const scalar_t* __restrict__ x, const acc_t* __restrict__ weight,
                                              const acc_t* __restrict__ inv_y, acc_t* __restrict__ acc, int64_t C,
                                              const Term& term) {
  for (int64_t c = 0; c < C; ++c) acc[c] += weight[c] * term.grad(static_cast<acc_t>(x[c]), inv_y[c]);
}

// One input position's gradient across C channels: the shares of its `count`
// covering outputs (rows of power_output_factors), in output order, summed
// from 0. The first share starts the sums and the last is added as they are
// stored: no pass of their own to zero and copy them (which GCC made a
// memset and a memcpy call per position, a quarter of the backward at C = 64).
template <typename scalar_t, typename acc_t, class Term>
POOLING_EXT_ISA_CLONES void power_grad_across_channels(const scalar_t* __restrict__ x, const acc_t* const* weights,
                                                       const acc_t* const* inv_ys, int64_t count,
                                                       acc_t* __restrict__ acc, scalar_t* __restrict__ grad_in,
                                                       int64_t C, const Term& term) {
  if (count == 0) {
    std::fill(grad_in, grad_in + C, scalar_t(0));
    return;
  }
  const auto share = [&](int64_t k, int64_t c) {
    return weights[k][c] * term.grad(static_cast<acc_t>(x[c]), inv_ys[k][c]);
  };
  if (count == 1) {
    for (int64_t c = 0; c < C; ++c) grad_in[c] = static_cast<scalar_t>(acc_t(0) + share(0, c));
    return;
  }
  for (int64_t c = 0; c < C; ++c) acc[c] = acc_t(0) + share(0, c);  // (0 + a keeps the sum's sign of zero)
  for (int64_t k = 1; k + 1 < count; ++k) add_power_grad<scalar_t, acc_t>(x, weights[k], inv_ys[k], acc, C, term);
  for (int64_t c = 0; c < C; ++c) grad_in[c] = static_cast<scalar_t>(acc[c] + share(count - 1, c));
}

// The power mean's channels-last backward, a batch chunk at a time: first the
// factors of every output (so each division happens once per output, not once
// per input and covering output), then a gather per input position.
template <typename scalar_t, class Term>
void power_backward_gather(const WindowSumBackwardBody<scalar_t, int64_t>& body, const Term& term) {
  using acc_t = at::opmath_type<scalar_t>;
  const PoolGeometry& g = body.g;
  const ExtentTables extents(g);
  const CoveringTables covering(g);
  const int64_t C = g.channels;
  const int64_t out_sample = g.out_plane() * C;
  // Bounded scratch (two acc_t per output of the chunk), whatever the batch.
  const int64_t chunk = std::max<int64_t>(1, (int64_t(1) << 22) / std::max<int64_t>(1, out_sample));
  std::vector<acc_t> weight(std::min(chunk, g.batch) * out_sample), inv_y(weight.size());
  for (int64_t n0 = 0; n0 < g.batch; n0 += chunk) {
    const int64_t samples = std::min(chunk, g.batch - n0);
    at::parallel_for(0, samples * g.out_plane(), grain_for(C), [&](int64_t begin, int64_t stop) {
      PositionCursor cursor(g.out, begin);
      for (int64_t pos = begin; pos < stop; ++pos, cursor.next()) {
        const acc_t scale =
            body.r.numerator / static_cast<acc_t>(extents.box(cursor.d, cursor.h, cursor.w).padded_count());
        const int64_t o = (n0 * g.out_plane() + pos) * C;
        power_output_factors<scalar_t, acc_t>(body.grad_output + o, body.output + o, scale, weight.data() + pos * C,
                                              inv_y.data() + pos * C, C);
      }
    });
    at::parallel_for(0, samples * g.in_plane(), grain_for(C, 4), [&](int64_t begin, int64_t stop) {
      std::vector<acc_t> acc(C);
      std::vector<const acc_t*> weight_rows, inv_y_rows;
      PositionCursor cursor(g.in, begin);
      for (int64_t pos = begin; pos < stop; ++pos, cursor.next()) {
        weight_rows.clear();
        inv_y_rows.clear();
        covering.for_each_output(g, cursor, [&](int64_t, int64_t, int64_t, int64_t o) {
          weight_rows.push_back(weight.data() + o * C);
          inv_y_rows.push_back(inv_y.data() + o * C);
        });
        const int64_t in_offset = (n0 * g.in_plane() + pos) * C;
        power_grad_across_channels<scalar_t, acc_t>(body.input + in_offset, weight_rows.data(), inv_y_rows.data(),
                                                    static_cast<int64_t>(weight_rows.size()), acc.data(),
                                                    body.grad_input + in_offset, C, term);
      }
    });
  }
}

}  // namespace

// Average pooling's channels-last backward for overlapping windows: each
// input position gathers the gradients of its covering outputs, each over its
// divisor.
template <typename scalar_t>
void average_backward_gather_channels_last(const WindowSumBackwardBody<scalar_t, int64_t>& body) {
  using acc_t = at::opmath_type<scalar_t>;
  const PoolGeometry& g = body.g;
  const ExtentTables extents(g);
  const CoveringTables covering(g);
  const int64_t C = g.channels;
  const std::vector<acc_t> inverse_divisor = inverse_divisor_table(body.r, g, extents);
  at::parallel_for(0, g.batch * g.in_plane(), grain_for(C, 4), [&](int64_t begin, int64_t stop) {
    std::vector<acc_t> acc(C);
    std::vector<const scalar_t*> grad_rows;
    std::vector<acc_t> weights;
    PositionCursor cursor(g.in, begin);
    for (int64_t pos = begin; pos < stop; ++pos, cursor.next()) {
      grad_rows.clear();
      weights.clear();
      covering.for_each_output(g, cursor, [&](int64_t od, int64_t oh, int64_t ow, int64_t o) {
        grad_rows.push_back(body.grad_output + o * C);
        weights.push_back(inverse_divisor[(od * g.out[1] + oh) * g.out[2] + ow]);
      });
      weighted_rows_across_channels<scalar_t, acc_t>(grad_rows.data(), weights.data(),
                                                     static_cast<int64_t>(grad_rows.size()), acc.data(),
                                                     body.grad_input + pos * C, C);
    }
  });
}

template <typename scalar_t>
void power_backward_gather_channels_last(const WindowSumBackwardBody<scalar_t, int64_t>& body) {
  with_term(body.r, [&](const auto& term) {
    if constexpr (!std::decay_t<decltype(term)>::kAverage) power_backward_gather(body, term);
  });
}

#define POOLING_EXT_INSTANTIATE(scalar_t)                                                               \
  template void average_backward_gather_channels_last(const WindowSumBackwardBody<scalar_t, int64_t>&); \
  template void power_backward_gather_channels_last(const WindowSumBackwardBody<scalar_t, int64_t>&);
POOLING_EXT_FOR_EACH_FLOAT_TYPE(POOLING_EXT_INSTANTIATE)

}  // namespace cpu
}  // namespace pooling_ext
