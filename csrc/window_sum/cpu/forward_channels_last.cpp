// The window-sum family's CPU forward on channels-last tensors: per output
// position, the window's rows of C channels summed across the channels in
// row order (a loop over channels that vectorises). Windows whole inside the
// input run a row of them per call, their rows at fixed offsets; others one
// call per window from a table of their rows. Averages of many rows and
// power means keep their sums in registers; power sums that overflow, and
// windows wholly in the padding, run the body.
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

// A window's rows of channels as offsets from its first row: every window
// inside the input of fixed windows has the same (rows[k] as a pointer array).
template <typename scalar_t>
struct RowsFromOffsets {
  const scalar_t* window;
  const int64_t* offsets;
  POOLING_EXT_ALWAYS_INLINE const scalar_t* operator[](int64_t k) const { return window + offsets[k]; }
};

// kVectors lane vectors of channels from `first`: the sums of term(x) over
// a window's `count` (>= 1) rows, in row order from the first row's term,
// held in registers across the rows.
template <int kVectors, typename scalar_t, class Term, class Rows>
POOLING_EXT_ALWAYS_INLINE void term_sums_block(const Rows& rows, int64_t count, int64_t first, const Term& term,
                                               typename ChannelBlocks<scalar_t>::Full* sums) {
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
template <int kVectors, typename scalar_t, typename acc_t, class Divide, class Rows>
POOLING_EXT_ALWAYS_INLINE void average_channel_block(const Rows& rows, int64_t count, int64_t first,
                                                     scalar_t* __restrict__ out, const Divide& divide) {
  using Blocks = ChannelBlocks<scalar_t>;
  typename Blocks::Full sums[kVectors];
  term_sums_block<kVectors, scalar_t>(rows, count, first, AverageTerm<acc_t>{}, sums);
  for (int j = 0; j < kVectors; ++j) sums[j] = divide(sums[j]);
  Blocks::template store<kVectors>(out + first, sums);
}

// The average of many (> 4) rows: channel blocks whose sums stay in
// registers across all rows, instead of a pass over a sums buffer per row
// (5x faster on a global window of 196 rows of 512 channels; bfloat16 3x3
// windows of 288 channels 1.6-2x). Same order of additions per channel as
// average_rows.
template <typename scalar_t, typename acc_t, class Divide, class Rows>
POOLING_EXT_ALWAYS_INLINE void average_many_rows(const Rows& rows, int64_t count, scalar_t* out, const Divide& divide,
                                                 int64_t C) {
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
template <typename scalar_t, typename acc_t, class Divide, class Rows>
POOLING_EXT_ALWAYS_INLINE void average_rows(const Rows& rows, int64_t count, acc_t* sums, scalar_t* out,
                                            const Divide& divide, int64_t C) {
  if (count == 4) return average_four_rows<scalar_t, acc_t>(rows[0], rows[1], rows[2], rows[3], out, divide, C);
  if constexpr (kHasChannelBlocks<scalar_t>) {
    if (count > 4) return average_many_rows<scalar_t, acc_t>(rows, count, out, divide, C);
  }
  start_sums(rows[0], rows[1], sums, C);
  for (int64_t k = 2; k + 1 < count; ++k) add_to_sums(rows[k], sums, C);
  store_average<scalar_t, acc_t>(sums, rows[count - 1], out, divide, C);
}

// f(divide) with the division by `divisor` average_rows takes: a
// multiplication by its reciprocal where that is exact.
template <typename acc_t, class F>
POOLING_EXT_ALWAYS_INLINE void with_divide_by(int64_t divisor, const F& f) {
  if constexpr (std::is_floating_point_v<acc_t>) {
    if (divisor > 0 && (divisor & (divisor - 1)) == 0) {
      return f(MultiplyByExactReciprocal<acc_t>{acc_t(1) / static_cast<acc_t>(divisor)});
    }
  }
  f(DivideBy<acc_t>{static_cast<acc_t>(divisor)});
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
  with_divide_by<acc_t>(average_divisor(r, box), [&](const auto& divide) POOLING_EXT_LAMBDA_ALWAYS_INLINE {
    average_rows<scalar_t, acc_t>(rows, count, sums, out, divide, C);
  });
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
  term_sums_block<kVectors, scalar_t>(rows, count, first, term, acc);
  ChannelBlocks<scalar_t>::template store_unrounded<kVectors>(sums + first, acc);
}

// kVectors lane vectors of channels from `first` of a window's power means,
// sums and roots in registers, stored to `out`. Returns the lanes' poison:
// sum - sum, 0 in every lane unless a sum overflowed (inf - inf is NaN).
template <int kVectors, typename scalar_t, class Term, class Rows>
POOLING_EXT_ALWAYS_INLINE typename ChannelBlocks<scalar_t>::Full power_mean_block(const Rows& rows, int64_t count,
                                                                                  int64_t first,
                                                                                  scalar_t* __restrict__ out,
                                                                                  float padded, float numerator,
                                                                                  const Term& term) {
  using Blocks = ChannelBlocks<scalar_t>;
  typename Blocks::Full sums[kVectors];
  term_sums_block<kVectors, scalar_t>(rows, count, first, term, sums);
  typename Blocks::Full poison = sums[0] - sums[0];
  for (int j = 1; j < kVectors; ++j) poison += sums[j] - sums[j];
  for (int j = 0; j < kVectors; ++j) sums[j] = term.root_lanes(sums[j], padded, numerator);
  Blocks::template store<kVectors>(out + first, sums);
  return poison;
}

// One power-mean window of C channels whose roots vectorise (p = 1, 2, 4;
// float and bfloat16): register blocks from the loads to the stores, without
// a pass over a sums buffer (which cost a fifth of an LP 3x3 s2 window at
// C = 64); channels past the last block through the buffer. Returns false
// where a sum overflowed: the caller then redoes the window.
template <typename scalar_t, typename acc_t, class Term, class Rows>
POOLING_EXT_ALWAYS_INLINE bool power_means_in_blocks(const Rows& rows, int64_t count, acc_t* sums, scalar_t* out,
                                                     acc_t padded, acc_t numerator, int64_t C, const Term& term) {
  using Blocks = ChannelBlocks<scalar_t>;
  constexpr int kLeast = Blocks::kVectorsPerLoad;
  typename Blocks::Full poison{};
  int64_t c = 0;
  for (; c + 64 <= C; c += 64) poison += power_mean_block<4, scalar_t>(rows, count, c, out, padded, numerator, term);
  for (; c + 16 * kLeast <= C; c += 16 * kLeast) {
    poison += power_mean_block<kLeast, scalar_t>(rows, count, c, out, padded, numerator, term);
  }
  if (!is_finite_value(sum_of_lanes<acc_t>(poison))) return false;
  if (c == C) return true;
  start_power_sums<scalar_t, acc_t>(rows[0] + c, sums + c, C - c, term);
  for (int64_t k = 1; k < count; ++k)
    add_row_across_channels_inline<scalar_t, acc_t>(rows[k] + c, sums + c, C - c, term);
  return !store_power_roots<scalar_t, acc_t>(sums + c, out + c, padded, numerator, C - c, term);
}

// One power-mean window of C channels: the power sums of its `count` (>= 1)
// input rows, in row order, and their roots, in one call (per-row calls cost
// more than the work at C = 64). Float sums of the unrolled powers run in
// register blocks of 64 channels (with their roots, where those vectorise);
// others a pass per row or two over the sums. Returns whether any sum
// overflowed: those outputs are then redone by the body (its scaled sum).
template <typename scalar_t, typename acc_t, class Term>
POOLING_EXT_ISA_CLONES bool power_window_across_channels(const scalar_t* const* rows, int64_t count, acc_t* sums,
                                                         scalar_t* out, acc_t padded, acc_t numerator, int64_t C,
                                                         const Term& term) {
  int64_t c = 0;
  constexpr bool kFloatLanes = std::is_same_v<scalar_t, float> || std::is_same_v<scalar_t, c10::BFloat16>;
  if constexpr (kFloatLanes && Term::kUnrolled) {
    if constexpr (Term::kRootsInLanes) {
      // An overflow (rare) redoes the window below, which leaves every sum for the body.
      if (power_means_in_blocks<scalar_t, acc_t>(rows, count, sums, out, padded, numerator, C, term)) return false;
    }
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

// Consecutive power-mean windows along W, `run` of them, each whole inside
// the input (the same row offsets from its first row, which is `step` on
// from the last window's), one call for the run instead of one per window.
// Returns how many were done: fewer than `run` where a sum of the next one
// overflowed, which the caller then takes through the body.
template <typename scalar_t, typename acc_t, class Term>
POOLING_EXT_ISA_CLONES int64_t power_windows_inside(const scalar_t* window, const int64_t* offsets, int64_t count,
                                                    int64_t run, int64_t step, acc_t* sums, scalar_t* out, acc_t padded,
                                                    acc_t numerator, int64_t C, const Term& term) {
  for (int64_t i = 0; i < run; ++i, window += step, out += C) {
    const RowsFromOffsets<scalar_t> rows{window, offsets};
    if (!power_means_in_blocks<scalar_t, acc_t>(rows, count, sums, out, padded, numerator, C, term)) return i;
  }
  return run;
}

// The average of `run` consecutive windows along W whose `count` (>= 3)
// rows lie inside the input, as power_windows_inside.
template <typename scalar_t, typename acc_t>
POOLING_EXT_ISA_CLONES void average_windows_inside(const scalar_t* window, const int64_t* offsets, int64_t count,
                                                   int64_t run, int64_t step, acc_t* sums, scalar_t* out,
                                                   int64_t divisor, int64_t C) {
  with_divide_by<acc_t>(divisor, [&](const auto& divide) POOLING_EXT_LAMBDA_ALWAYS_INLINE {
    for (int64_t i = 0; i < run; ++i, window += step, out += C) {
      average_rows<scalar_t, acc_t>(RowsFromOffsets<scalar_t>{window, offsets}, count, sums, out, divide, C);
    }
  });
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

// Whether a window box is the whole fixed window along D and H.
inline bool whole_along_depth_and_height(const PoolGeometry& g, const WindowBox<int64_t>& box) {
  return box.d.end - box.d.first == g.kernel[0] && box.d.padded == g.kernel[0] &&
         box.h.end - box.h.first == g.kernel[1] && box.h.padded == g.kernel[1];
}

template <typename scalar_t, class Term>
void forward_channels_last(const WindowSumForwardBody<scalar_t, int64_t>& body, const Term& term) {
  using acc_t = at::opmath_type<scalar_t>;
  const PoolGeometry& g = body.g;
  const int64_t C = g.channels;
  const ExtentTables extents(g);
  // A window's inputs are distinct input positions.
  const int64_t most_rows = std::min(g.kernel_volume(), g.in_plane());
  // Float32 and bfloat16 averages of 3 or more rows, and power means whose
  // roots vectorise, run the windows whole inside the input a row at a time
  // (interior_range along W).
  constexpr bool kFloatLanes = std::is_same_v<scalar_t, float> || std::is_same_v<scalar_t, c10::BFloat16>;
  constexpr bool kRunsInside = kFloatLanes && (Term::kAverage || Term::kRootsInLanes);
  const bool runs_inside = kRunsInside && (!Term::kAverage || g.kernel_volume() >= 3);
  const std::pair<int64_t, int64_t> inside = runs_inside ? interior_range(g) : std::pair<int64_t, int64_t>{0, 0};
  const std::vector<int64_t> offsets = inside.first < inside.second ? window_tap_offsets(g, C) : std::vector<int64_t>{};
  at::parallel_for(0, g.batch * g.out_plane(), grain_for(C, g.kernel_volume()), [&](int64_t begin, int64_t stop) {
    std::vector<acc_t> sums(C);
    std::vector<const scalar_t*> rows(most_rows);
    PositionCursor cursor(g.out, begin);
    for (int64_t pos = begin; pos < stop; ++pos, cursor.next()) {
      const WindowBox<int64_t> box = extents.box(cursor.d, cursor.h, cursor.w);
      const scalar_t* sample = body.input + cursor.n * g.in_plane() * C;
      scalar_t* out = body.output + pos * C;
      if constexpr (kRunsInside) {
        if (cursor.w >= inside.first && cursor.w < inside.second && whole_along_depth_and_height(g, box)) {
          const int64_t run = std::min(inside.second - cursor.w, stop - pos);
          const scalar_t* window = sample + ((box.d.first * g.in[1] + box.h.first) * g.in[2] + box.w.first) * C;
          int64_t done = run;
          if constexpr (Term::kAverage) {  // (fixed windows: every divisor is this one's)
            average_windows_inside<scalar_t, acc_t>(window, offsets.data(), g.kernel_volume(), run, g.stride[2] * C,
                                                    sums.data(), out, average_divisor(body.r, box), C);
          } else {
            done = power_windows_inside<scalar_t, acc_t>(
                window, offsets.data(), g.kernel_volume(), run, g.stride[2] * C, sums.data(), out,
                static_cast<acc_t>(g.kernel_volume()), body.r.numerator, C, term);
          }
          if (done > 0) {  // the next window (if any) starts the loop again
            pos += done - 1;
            cursor.w += done - 1;
            continue;
          }
          // done == 0: this power mean's sums overflowed; it runs below.
        }
      }
      const int64_t count = window_rows(g, sample, box, rows.data());
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
