// The window-sum family's CPU forward on channels-last tensors: per output
// position, the window's rows of C channels summed across the channels in
// row order (a loop over channels that vectorises), one call per window.
// Averages of many rows keep their sums in registers; power sums that
// overflow, and windows wholly in the padding, run the body.
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <cstring>
#include <type_traits>
#include <vector>

#include "../../common/dtype_dispatch.h"
#include "lane_vectors.h"
#include "terms.h"
#include "window_sum_cpu_loops.h"
#include "window_tables.h"

namespace pooling_ext {
namespace cpu {
namespace {

template <typename scalar_t, typename acc_t, class Term>
POOLING_EXT_ALWAYS_INLINE void add_row_across_channels_inline(const scalar_t* __restrict__ x, acc_t* __restrict__ sums,
                                                              int64_t C, const Term& term) {
  for (int64_t c = 0; c < C; ++c) sums[c] += term.value(static_cast<acc_t>(x[c]));
}

template <typename scalar_t, typename acc_t, class Term>
POOLING_EXT_ISA_CLONES void add_row_across_channels(const scalar_t* __restrict__ x, acc_t* __restrict__ sums, int64_t C,
                                                    const Term& term) {
  add_row_across_channels_inline<scalar_t, acc_t>(x, sums, C, term);
}

// Row loops with restrict-qualified parameters (GCC ignores restrict on
// local pointers, and without it these loops need run-time alias checks).
template <typename scalar_t, typename acc_t>
POOLING_EXT_ALWAYS_INLINE void start_sums(const scalar_t* __restrict__ a, const scalar_t* __restrict__ b,
                                          acc_t* __restrict__ sums, int64_t C) {
  for (int64_t c = 0; c < C; ++c) sums[c] = static_cast<acc_t>(a[c]) + static_cast<acc_t>(b[c]);
}

template <typename scalar_t, typename acc_t>
POOLING_EXT_ALWAYS_INLINE void add_to_sums(const scalar_t* __restrict__ row, acc_t* __restrict__ sums, int64_t C) {
  for (int64_t c = 0; c < C; ++c) sums[c] += static_cast<acc_t>(row[c]);
}

// sum / divisor as a division, or as a multiplication by the reciprocal where
// that is exact (a power-of-two divisor: 2x2 and 2x2x2 windows), which gives
// the same result without the division whose throughput limits these loops
// when the data is in cache.
template <typename acc_t>
struct DivideBy {
  acc_t divisor;
  template <typename T>  // acc_t, or a vector of acc_t lanes
  POOLING_EXT_ALWAYS_INLINE T operator()(const T& sum) const {
    return sum / divisor;
  }
};
template <typename acc_t>
struct MultiplyByExactReciprocal {
  acc_t reciprocal;
  template <typename T>  // acc_t, or a vector of acc_t lanes
  POOLING_EXT_ALWAYS_INLINE T operator()(const T& sum) const {
    return sum * reciprocal;
  }
};

// sum / depth / height / width: contiguous adaptive windows run here on
// channels-last copies and divide as torch's contiguous kernel does.
template <typename acc_t>
struct DivideInTurn {
  acc_t depth, height, width;
  template <typename T>  // acc_t, or a vector of acc_t lanes
  POOLING_EXT_ALWAYS_INLINE T operator()(const T& sum) const {
    return sum / depth / height / width;
  }
};

template <typename scalar_t, typename acc_t, class Divide>
POOLING_EXT_ALWAYS_INLINE void store_average(const acc_t* __restrict__ sums, const scalar_t* __restrict__ last,
                                             scalar_t* __restrict__ out, const Divide& divide, int64_t C) {
  for (int64_t c = 0; c < C; ++c) out[c] = static_cast<scalar_t>(divide(sums[c] + static_cast<acc_t>(last[c])));
}

template <typename scalar_t, typename acc_t, class Divide>
POOLING_EXT_ALWAYS_INLINE void average_four_rows(const scalar_t* __restrict__ a, const scalar_t* __restrict__ b,
                                                 const scalar_t* __restrict__ c2, const scalar_t* __restrict__ d,
                                                 scalar_t* __restrict__ out, const Divide& divide, int64_t C) {
  for (int64_t c = 0; c < C; ++c) {
    const acc_t sum =
        static_cast<acc_t>(a[c]) + static_cast<acc_t>(b[c]) + static_cast<acc_t>(c2[c]) + static_cast<acc_t>(d[c]);
    out[c] = static_cast<scalar_t>(divide(sum));
  }
}

// kVectors lane vectors of channels from `first`: the sums of term(x) over
// a window's `count` (>= 1) rows, in row order from the first row's term,
// held in registers across the rows.
template <int kVectors, typename scalar_t, class Term>
POOLING_EXT_ALWAYS_INLINE void term_sums_block(const scalar_t* const* rows, int64_t count, int64_t first,
                                               const Term& term, typename ChannelBlocks<scalar_t>::Full* sums) {
  using Blocks = ChannelBlocks<scalar_t>;
  typename Blocks::Full row[kVectors];
  Blocks::template load<kVectors>(rows[0] + first, row);
  for (int j = 0; j < kVectors; ++j) sums[j] = term.value_lanes(row[j]);
  for (int64_t k = 1; k < count; ++k) {
    Blocks::template load<kVectors>(rows[k] + first, row);
    for (int j = 0; j < kVectors; ++j) sums[j] += term.value_lanes(row[j]);
  }
}

// kVectors lane vectors of channels from `first`: the average of `count`
// (>= 2) rows.
template <int kVectors, typename scalar_t, typename acc_t, class Divide>
POOLING_EXT_ALWAYS_INLINE void average_channel_block(const scalar_t* const* rows, int64_t count, int64_t first,
                                                     scalar_t* __restrict__ out, const Divide& divide) {
  using Blocks = ChannelBlocks<scalar_t>;
  typename Blocks::Full sums[kVectors];
  term_sums_block<kVectors>(rows, count, first, AverageTerm<acc_t>{}, sums);
  for (int j = 0; j < kVectors; ++j) sums[j] = divide(sums[j]);
  Blocks::template store<kVectors>(out + first, sums);
}

// The average of many (> 4) rows: channel blocks whose sums stay in
// registers across all rows, instead of a pass over a sums buffer per row
// (5x faster on a global window of 196 rows of 512 channels; bfloat16 3x3
// windows of 288 channels 1.6-2x). Same order of additions per channel as
// average_rows.
template <typename scalar_t, typename acc_t, class Divide>
POOLING_EXT_ALWAYS_INLINE void average_many_rows(const scalar_t* const* rows, int64_t count, scalar_t* out,
                                                 const Divide& divide, int64_t C) {
  using Blocks = ChannelBlocks<scalar_t>;
  constexpr int kLeast = Blocks::kVectorsPerLoad;
  constexpr int64_t kLanes = Blocks::kChannelsPerVector;
  int64_t c = 0;
  for (; c + 4 * kLanes <= C; c += 4 * kLanes) average_channel_block<4, scalar_t, acc_t>(rows, count, c, out, divide);
  for (; c + kLeast * kLanes <= C; c += kLeast * kLanes) {
    average_channel_block<kLeast, scalar_t, acc_t>(rows, count, c, out, divide);
  }
  for (; c < C; ++c) {
    acc_t sum = static_cast<acc_t>(rows[0][c]) + static_cast<acc_t>(rows[1][c]);
    for (int64_t k = 2; k < count; ++k) sum += static_cast<acc_t>(rows[k][c]);
    out[c] = static_cast<scalar_t>(divide(sum));
  }
}

// The average of `count` (>= 3) rows of C channels in one pass per row: the
// first two rows start the sums, the last one is added as the result is stored.
template <typename scalar_t, typename acc_t, class Divide>
POOLING_EXT_ALWAYS_INLINE void average_rows(const scalar_t* const* rows, int64_t count, acc_t* sums, scalar_t* out,
                                            const Divide& divide, int64_t C) {
  if (count == 4) return average_four_rows<scalar_t, acc_t>(rows[0], rows[1], rows[2], rows[3], out, divide, C);
  if constexpr (kHasChannelBlocks<scalar_t>) {
    if (count > 4) return average_many_rows<scalar_t, acc_t>(rows, count, out, divide, C);
  }
  start_sums(rows[0], rows[1], sums, C);
  for (int64_t k = 2; k + 1 < count; ++k) add_to_sums(rows[k], sums, C);
  store_average<scalar_t, acc_t>(sums, rows[count - 1], out, divide, C);
}

template <typename scalar_t, typename acc_t>
POOLING_EXT_ISA_CLONES void average_rows_across_channels(const scalar_t* const* rows, int64_t count, acc_t* sums,
                                                         scalar_t* out, const ReductionSpec<acc_t>& r,
                                                         const WindowBox<int64_t>& box, int64_t C) {
  if (r.divide_in_turn) {
    const DivideInTurn<acc_t> divide{static_cast<acc_t>(box.d.end - box.d.first),
                                     static_cast<acc_t>(box.h.end - box.h.first),
                                     static_cast<acc_t>(box.w.end - box.w.first)};
    return average_rows<scalar_t, acc_t>(rows, count, sums, out, divide, C);
  }
  const int64_t divisor = average_divisor(r, box);
  if constexpr (std::is_floating_point_v<acc_t>) {
    if (divisor > 0 && (divisor & (divisor - 1)) == 0) {
      const MultiplyByExactReciprocal<acc_t> divide{acc_t(1) / static_cast<acc_t>(divisor)};
      return average_rows<scalar_t, acc_t>(rows, count, sums, out, divide, C);
    }
  }
  average_rows<scalar_t, acc_t>(rows, count, sums, out, DivideBy<acc_t>{static_cast<acc_t>(divisor)}, C);
}

template <typename scalar_t, typename acc_t, class Term>
POOLING_EXT_ALWAYS_INLINE void start_power_sums(const scalar_t* __restrict__ row, acc_t* __restrict__ sums, int64_t C,
                                                const Term& term) {
  for (int64_t c = 0; c < C; ++c) sums[c] = term.value(static_cast<acc_t>(row[c]));
}

template <typename scalar_t, typename acc_t, class Term>
POOLING_EXT_ALWAYS_INLINE void add_two_power_rows(const scalar_t* __restrict__ a, const scalar_t* __restrict__ b,
                                                  acc_t* __restrict__ sums, int64_t C, const Term& term) {
  for (int64_t c = 0; c < C; ++c) {
    sums[c] = (sums[c] + term.value(static_cast<acc_t>(a[c]))) + term.value(static_cast<acc_t>(b[c]));
  }
}

// Stores the roots of the sums; returns whether any sum overflowed.
template <typename scalar_t, typename acc_t, class Term>
POOLING_EXT_ALWAYS_INLINE bool store_power_roots(const acc_t* __restrict__ sums, scalar_t* __restrict__ out,
                                                 acc_t padded, acc_t numerator, int64_t C, const Term& term) {
  int overflowed = 0;
  for (int64_t c = 0; c < C; ++c) {
    out[c] = static_cast<scalar_t>(term.root(sums[c], padded, numerator));
    overflowed |= is_finite_value(sums[c]) ? 0 : 1;
  }
  return overflowed != 0;
}

// kVectors lane vectors of channels from `first` of a window's power sums,
// kept in registers across its rows (the additions of the row-by-row passes,
// without their loads and stores of the sums).
template <int kVectors, typename scalar_t, class Term>
POOLING_EXT_ALWAYS_INLINE void power_sum_block(const scalar_t* const* rows, int64_t count, int64_t first,
                                               float* __restrict__ sums, const Term& term) {
  typename ChannelBlocks<scalar_t>::Full acc[kVectors];
  term_sums_block<kVectors>(rows, count, first, term, acc);
  ChannelBlocks<scalar_t>::template store_unrounded<kVectors>(sums + first, acc);
}

// One power-mean window of C channels: the power sums of its `count` (>= 1)
// input rows, in row order, and their roots, in one call (per-row calls cost
// more than the work at C = 64). Float sums of the unrolled powers run in
// register blocks of 64 channels; others a pass per row or two over the
// sums. Returns whether any sum overflowed: those outputs are then redone by
// the body (its scaled sum).
template <typename scalar_t, typename acc_t, class Term>
POOLING_EXT_ISA_CLONES bool power_window_across_channels(const scalar_t* const* rows, int64_t count, acc_t* sums,
                                                         scalar_t* out, acc_t padded, acc_t numerator, int64_t C,
                                                         const Term& term) {
  int64_t c = 0;
  constexpr bool kFloatLanes = std::is_same_v<scalar_t, float> || std::is_same_v<scalar_t, c10::BFloat16>;
  if constexpr (kFloatLanes && Term::kUnrolled) {
    constexpr int kLeast = ChannelBlocks<scalar_t>::kVectorsPerLoad;
    for (; c + 64 <= C; c += 64) power_sum_block<4, scalar_t>(rows, count, c, sums, term);
    for (; c + 16 * kLeast <= C; c += 16 * kLeast) power_sum_block<kLeast, scalar_t>(rows, count, c, sums, term);
  }
  if (c < C) {
    start_power_sums<scalar_t, acc_t>(rows[0] + c, sums + c, C - c, term);
    int64_t k = 1;
    for (; k + 1 < count; k += 2) {
      add_two_power_rows<scalar_t, acc_t>(rows[k] + c, rows[k + 1] + c, sums + c, C - c, term);
    }
    if (k < count) add_row_across_channels_inline<scalar_t, acc_t>(rows[k] + c, sums + c, C - c, term);
  }
  return store_power_roots<scalar_t, acc_t>(sums, out, padded, numerator, C, term);
}

// The rows of C channels of the window inside the input, in the body's
// order (d, h, w); returns how many.
template <typename scalar_t>
int64_t window_rows(const PoolGeometry& g, const scalar_t* sample, const WindowBox<int64_t>& box,
                    const scalar_t** rows) {
  int64_t count = 0;
  for (int64_t id = box.d.first; id < box.d.end; ++id) {
    for (int64_t ih = box.h.first; ih < box.h.end; ++ih) {
      for (int64_t iw = box.w.first; iw < box.w.end; ++iw) {
        rows[count++] = sample + ((id * g.in[1] + ih) * g.in[2] + iw) * g.channels;
      }
    }
  }
  return count;
}

template <typename scalar_t, class Term>
void forward_channels_last(const WindowSumForwardBody<scalar_t, int64_t>& body, const Term& term) {
  using acc_t = at::opmath_type<scalar_t>;
  const PoolGeometry& g = body.g;
  const int64_t C = g.channels;
  const ExtentTables extents(g);
  // A window's inputs are distinct input positions.
  const int64_t most_rows = std::min(g.kernel_volume(), g.in_plane());
  at::parallel_for(0, g.batch * g.out_plane(), grain_for(C, g.kernel_volume()), [&](int64_t begin, int64_t stop) {
    std::vector<acc_t> sums(C);
    std::vector<const scalar_t*> rows(most_rows);
    PositionCursor cursor(g.out, begin);
    for (int64_t pos = begin; pos < stop; ++pos, cursor.next()) {
      const WindowBox<int64_t> box = extents.box(cursor.d, cursor.h, cursor.w);
      const int64_t count = window_rows(g, body.input + cursor.n * g.in_plane() * C, box, rows.data());
      scalar_t* out = body.output + pos * C;
      const auto finish = window_finish<acc_t, Term>(body.r, box);
      if constexpr (Term::kAverage) {
        if (count >= 3) {
          average_rows_across_channels<scalar_t, acc_t>(rows.data(), count, sums.data(), out, body.r, box, C);
        } else {
          std::fill(sums.begin(), sums.end(), acc_t(0));
          for (int64_t k = 0; k < count; ++k) add_row_across_channels<scalar_t, acc_t>(rows[k], sums.data(), C, term);
          for (int64_t c = 0; c < C; ++c) out[c] = static_cast<scalar_t>(finish(sums[c], [] { return acc_t(0); }));
        }
      } else if (count == 0) {  // a window wholly in the padding: the body's rules
        for (int64_t c = 0; c < C; ++c) out[c] = body.compute(cursor.n, c, cursor.d, cursor.h, cursor.w);
      } else if (power_window_across_channels<scalar_t, acc_t>(rows.data(), count, sums.data(), out, finish.padded,
                                                               body.r.numerator, C, term)) {
        // Some sums overflowed: those outputs again through the body (its scaled sum).
        for (int64_t c = 0; c < C; ++c) {
          if (!is_finite_value(sums[c])) out[c] = body.compute(cursor.n, c, cursor.d, cursor.h, cursor.w);
        }
      }
    }
  });
}

}  // namespace

template <typename scalar_t>
void sum_forward_channels_last(const WindowSumForwardBody<scalar_t, int64_t>& body) {
  with_term(body.r, [&](const auto& term) { forward_channels_last(body, term); });
}

#define POOLING_EXT_INSTANTIATE(scalar_t) \
  template void sum_forward_channels_last(const WindowSumForwardBody<scalar_t, int64_t>&);
POOLING_EXT_FOR_EACH_AVG_POOL_TYPE(POOLING_EXT_INSTANTIATE)

}  // namespace cpu
}  // namespace pooling_ext
