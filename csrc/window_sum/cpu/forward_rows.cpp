// The window-sum family's CPU forward on contiguous tensors with fixed
// windows, one output row (n, c, od, oh) at a time: interior outputs (whose
// window lies inside the input) add up tap by tap across the whole row, a
// loop over output width that vectorises (stride 1 and 2 at compile time for
// float32); border windows, and interior ones whose power sum overflows, run
// the body. Float32 and bfloat16 rows of averages and of power means of
// p = 2 and 4 (LP pooling's usual norms; their interiors 2.9x faster on a
// 3x3 s2 window) run their interiors through the AVX-512 row kernels
// (average_avx512.cpp) where the CPU has them, and so do contiguous adaptive
// averages, whole rows at a time. Averages whose border windows share their
// row's divisor run whole rows there too (the body's pass over the borders
// re-read the input), and "same" windows of one divisor (Inception's 3x3 s1
// p1) whole planes, each plane flat.
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <type_traits>
#include <utility>
#include <vector>

#include "../../common/cpu/row_run.h"
#include "../../common/dtype_dispatch.h"
#include "average_avx512.h"
#include "terms.h"
#include "window_sum_cpu_loops.h"
#include "window_tables.h"

namespace pooling_ext {
namespace cpu {
namespace {

// sums[ow] += term(x[ow * stride + offset]) for the interior outputs.
template <int kStride, typename scalar_t, typename acc_t, class Term>
POOLING_EXT_ISA_CLONES void add_tap_across_row(const scalar_t* __restrict__ x, acc_t* __restrict__ sums, int64_t first,
                                               int64_t end, int64_t stride, int64_t offset, const Term& term) {
  const int64_t s = kStride > 0 ? kStride : stride;
  for (int64_t ow = first; ow < end; ++ow) sums[ow] += term.value(static_cast<acc_t>(x[ow * s + offset]));
}

// The sums of interior outputs [first, end) of one output row, whose windows
// span input rows ed x eh of `plane`, tap by tap across the row. (Interior
// windows fit in the row, so their kernel[2] taps all lie inside it.)
template <int kStride, typename scalar_t, typename acc_t, class Term>
void interior_row_sums(const PoolGeometry& g, const scalar_t* plane, const WindowExtent<int64_t>& ed,
                       const WindowExtent<int64_t>& eh, int64_t first, int64_t end, acc_t* sums, const Term& term) {
  std::fill(sums + first, sums + end, acc_t(0));
  for (int64_t id = ed.first; id < ed.end; ++id) {
    for (int64_t ih = eh.first; ih < eh.end; ++ih) {
      const scalar_t* x = plane + (id * g.in[1] + ih) * g.in[2];
      for (int64_t tw = 0; tw < g.kernel[2]; ++tw) {
        add_tap_across_row<kStride>(x, sums, first, end, g.stride[2], tw - g.pad[2], term);
      }
    }
  }
}

// The walk over every row's interior outputs [first, end) shared by the
// AVX-512 row kernels: one table of each output row's window rows, and
// per_row[j], a float per output row of a plane (the average's divisor, the
// power mean's padded window size: interior windows of a row share theirs);
// run_rows(RowRun) is called once per thread's run of rows.
template <typename bits_t, typename scalar_t, class PerRow, class RunRows>
void interior_row_runs(const WindowSumForwardBody<scalar_t, int64_t>& body, const ExtentTables& extents, int64_t first,
                       int64_t end, const PerRow& per_row, const RunRows& run_rows) {
  const PoolGeometry& g = body.g;
  const int64_t rows_per_plane = g.out[0] * g.out[1];
  std::vector<float> row_values(rows_per_plane);
  const WindowRowTable table(rows_per_plane, [&](int64_t j, const auto& push) {
    const int64_t od = j / g.out[1], oh = j % g.out[1];
    const WindowExtent<int64_t>& ed = extents.dim[0][od];
    const WindowExtent<int64_t>& eh = extents.dim[1][oh];
    for (int64_t id = ed.first; id < ed.end; ++id) {
      for (int64_t ih = eh.first; ih < eh.end; ++ih) push((id * g.in[1] + ih) * g.in[2]);
    }
    row_values[j] = per_row(extents.box(od, oh, first));
  });
  const int64_t rows = g.batch * g.channels * rows_per_plane;
  at::parallel_for(0, rows, grain_for(end - first, g.kernel_volume()), [&](int64_t begin, int64_t stop) {
    run_rows(cpu::RowRun<bits_t>{reinterpret_cast<const bits_t*>(body.input), reinterpret_cast<bits_t*>(body.output),
                                 begin, stop, rows_per_plane, g.in_plane(), g.out[2], table.offset.data(),
                                 table.begin.data(), first, end - first, g.kernel[2], g.stride[2], 1, g.pad[2], g.in[2],
                                 row_values.data()});
  });
}

// Whether every border window along W (outputs outside [first, end)) has
// its row's interior divisor (count_include_pad's padded size, where the
// padding holds the windows; a divisor_override): then a row's averages are
// its sums divided alike, borders included.
template <typename scalar_t>
bool borders_share_row_divisor(const WindowSumForwardBody<scalar_t, int64_t>& body, const ExtentTables& extents,
                               int64_t first, int64_t end) {
  const PoolGeometry& g = body.g;
  for (int64_t od = 0; od < g.out[0]; ++od) {
    for (int64_t oh = 0; oh < g.out[1]; ++oh) {
      const int64_t divisor = average_divisor(body.r, extents.box(od, oh, first));
      for (int64_t ow = 0; ow < g.out[2]; ow = ow + 1 == first ? end : ow + 1) {
        if (average_divisor(body.r, extents.box(od, oh, ow)) != divisor) return false;
      }
    }
  }
  return true;
}

// What interiors_avx512 did: nothing, the interior outputs [first, end) of
// every row, or whole rows.
enum class RowKernelCoverage { kNone, kInteriors, kWholeRows };

// "Same" average windows of one divisor (same_windows_divisor), float32 or
// bfloat16, at least a plane per thread: through average_same_planes_avx512,
// each plane flat (a 35-wide Inception row is 3 blocks of 16 row by row, 2.2
// of them flat). False (nothing done) elsewhere.
template <typename bits_t, typename scalar_t>
bool same_average_planes(const WindowSumForwardBody<scalar_t, int64_t>& body) {
  const PoolGeometry& g = body.g;
  const int64_t divisor = same_windows_divisor(g, body.r);
  const int64_t n = g.in_plane(), taps = g.kernel[1] * g.kernel[2];
  if (divisor == 0 || taps == 1 || g.batch * g.channels < at::get_num_threads() ||
      (n + 15) / 16 * taps > (int64_t{1} << 20)) {  // (a lane mask per block and tap)
    return false;
  }
  at::parallel_for(0, g.batch * g.channels, grain_for(n, taps), [&](int64_t begin, int64_t end) {
    simd::average_same_planes_avx512(simd::SameAveragePlanes<bits_t>{
        reinterpret_cast<const bits_t*>(body.input) + begin * n, reinterpret_cast<bits_t*>(body.output) + begin * n,
        end - begin, g.in[1], g.in[2], g.kernel[1], g.kernel[2], static_cast<float>(divisor)});
  });
  return true;
}

// Every row's interior outputs [first, end) of float32 or bfloat16 through
// the AVX-512 row kernels (average_avx512.cpp): averages (whole rows, their
// taps outside the input masked off, where the border windows share their
// row's divisor), and power means of p = 2 and 4 of x or |x|. Nothing for
// other dtypes, terms or a CPU without AVX-512.
template <class Term, typename scalar_t>
RowKernelCoverage interiors_avx512(const WindowSumForwardBody<scalar_t, int64_t>& body, const ExtentTables& extents,
                                   int64_t first, int64_t end) {
  constexpr bool kFloat = std::is_same_v<scalar_t, float>, kBFloat16 = std::is_same_v<scalar_t, at::BFloat16>;
  if constexpr (kFloat || kBFloat16) {
    if (!simd::average_rows_avx512_supported()) return RowKernelCoverage::kNone;
    using bits_t = std::conditional_t<kFloat, float, uint16_t>;
    if constexpr (Term::kAverage) {
      if (same_average_planes<bits_t>(body)) return RowKernelCoverage::kWholeRows;
      const bool whole_rows = borders_share_row_divisor(body, extents, first, end);
      const int64_t row_first = whole_rows ? 0 : first, row_end = whole_rows ? body.g.out[2] : end;
      interior_row_runs<bits_t>(
          body, extents, row_first, row_end,
          [&](const WindowBox<int64_t>& box) { return static_cast<float>(average_divisor(body.r, box)); },
          [](const cpu::RowRun<bits_t>& run) { simd::average_rows_avx512(run); });
      return whole_rows ? RowKernelCoverage::kWholeRows : RowKernelCoverage::kInteriors;
    } else if constexpr (Term::kEvenUnrolledPower) {
      // An overflowing power sum: the body's value for that output, as the portable loop.
      const auto recompute = [](const void* context, int64_t row, int64_t ow) {
        const auto& b = *static_cast<const WindowSumForwardBody<scalar_t, int64_t>*>(context);
        const int64_t oh = row % b.g.out[1], od = (row / b.g.out[1]) % b.g.out[0];
        const int64_t nc = row / (b.g.out[1] * b.g.out[0]);
        b.output[row * b.g.out[2] + ow] = b.compute(nc / b.g.channels, nc % b.g.channels, od, oh, ow);
      };
      simd::PowerRowFinish finish;
      finish.power = Term::kPowerValue;
      finish.numerator = static_cast<float>(body.r.numerator);
      finish.recompute = recompute;
      finish.context = &body;
      interior_row_runs<bits_t>(
          body, extents, first, end,
          [](const WindowBox<int64_t>& box) { return static_cast<float>(box.padded_count()); },
          [&](const cpu::RowRun<bits_t>& run) { simd::power_rows_avx512(run, finish); });
      return RowKernelCoverage::kInteriors;
    }
  }
  return RowKernelCoverage::kNone;
}

template <int kStride, typename scalar_t, class Term>
void forward_rows(const WindowSumForwardBody<scalar_t, int64_t>& body, const Term& term) {
  using acc_t = at::opmath_type<scalar_t>;
  const PoolGeometry& g = body.g;
  const ExtentTables extents(g);
  const auto [first, end] = interior_range(g);
  const int64_t rows = g.batch * g.channels * g.out[0] * g.out[1];
  // Interiors (or whole rows) in AVX-512 where the CPU has it; then only the borders are left.
  const RowKernelCoverage covered =
      first < end ? interiors_avx512<Term>(body, extents, first, end) : RowKernelCoverage::kNone;
  const bool interiors_done = covered != RowKernelCoverage::kNone;
  if (covered == RowKernelCoverage::kWholeRows || (interiors_done && first == 0 && end == g.out[2])) return;
  at::parallel_for(0, rows, grain_for(g.out[2], g.kernel_volume()), [&](int64_t begin, int64_t stop) {
    std::vector<acc_t> sum_buffer(g.out[2]);
    acc_t* sums = sum_buffer.data();
    for (int64_t row = begin; row < stop; ++row) {
      const int64_t oh = row % g.out[1];
      const int64_t od = (row / g.out[1]) % g.out[0];
      const int64_t nc = row / (g.out[1] * g.out[0]);
      const int64_t n = nc / g.channels, c = nc % g.channels;
      const scalar_t* plane = body.input + nc * g.in_plane();
      scalar_t* out = body.output + row * g.out[2];
      const WindowExtent<int64_t>& ed = extents.dim[0][od];
      const WindowExtent<int64_t>& eh = extents.dim[1][oh];
      if (first < end && !interiors_done) {
        interior_row_sums<kStride>(g, plane, ed, eh, first, end, sums, term);
        const auto finish = window_finish<acc_t, Term>(body.r, extents.box(od, oh, first));
        for (int64_t ow = first; ow < end; ++ow) {
          out[ow] = static_cast<scalar_t>(
              finish(sums[ow], [&] { return static_cast<acc_t>(body.compute(n, c, od, oh, ow)); }));
        }
      }
      // Border (and adaptive) windows: the body, with extents from the tables.
      for (int64_t ow = 0; ow < first; ++ow) out[ow] = body.compute_box(n, c, extents.box(od, oh, ow));
      for (int64_t ow = end; ow < g.out[2]; ++ow) out[ow] = body.compute_box(n, c, extents.box(od, oh, ow));
    }
  });
}

}  // namespace

template <typename scalar_t>
bool average_forward_adaptive_rows_avx512(const WindowSumForwardBody<scalar_t, int64_t>& body) {
  constexpr bool kFloat = std::is_same_v<scalar_t, float>, kBFloat16 = std::is_same_v<scalar_t, at::BFloat16>;
  if constexpr (kFloat || kBFloat16) {
    if (!simd::average_rows_avx512_supported()) return false;
    using bits_t = std::conditional_t<kFloat, float, uint16_t>;
    const PoolGeometry& g = body.g;
    const ExtentTables extents(g);
    const ColumnBlocks blocks(g.out[2], [&](int64_t ow) {
      return std::pair<int64_t, int64_t>{extents.dim[2][ow].first, extents.dim[2][ow].end};
    });
    if (blocks.empty()) return false;  // windows longer than 32 along W
    const int64_t rows_per_plane = g.out[0] * g.out[1];
    std::vector<float> depth_and_height(2 * rows_per_plane);  // output row j's windows'
    const WindowRowTable table(rows_per_plane, [&](int64_t j, const auto& push) {
      const WindowExtent<int64_t>& ed = extents.dim[0][j / g.out[1]];
      const WindowExtent<int64_t>& eh = extents.dim[1][j % g.out[1]];
      for (int64_t id = ed.first; id < ed.end; ++id) {
        for (int64_t ih = eh.first; ih < eh.end; ++ih) push((id * g.in[1] + ih) * g.in[2]);
      }
      depth_and_height[2 * j] = static_cast<float>(ed.end - ed.first);
      depth_and_height[2 * j + 1] = static_cast<float>(eh.end - eh.first);
    });
    const int64_t rows = g.batch * g.channels * rows_per_plane;
    at::parallel_for(0, rows, grain_for(g.out[2], blocks.longest), [&](int64_t begin, int64_t stop) {
      simd::average_adaptive_rows_avx512(
          cpu::RowRun<bits_t>{reinterpret_cast<const bits_t*>(body.input), reinterpret_cast<bits_t*>(body.output),
                              begin, stop, rows_per_plane, g.in_plane(), g.out[2], table.offset.data(),
                              table.begin.data(), 0, g.out[2], 0, 0, 1, 0, g.in[2], depth_and_height.data()},
          blocks);
    });
    return true;
  }
  return false;
}

template <typename scalar_t>
void sum_forward_rows(const WindowSumForwardBody<scalar_t, int64_t>& body) {
  with_term(body.r, [&](const auto& term) {
    with_row_stride<scalar_t>(body.g, [&](auto stride) { forward_rows<decltype(stride)::value>(body, term); });
  });
}

#define POOLING_EXT_INSTANTIATE(scalar_t)                                         \
  template void sum_forward_rows(const WindowSumForwardBody<scalar_t, int64_t>&); \
  template bool average_forward_adaptive_rows_avx512(const WindowSumForwardBody<scalar_t, int64_t>&);
POOLING_EXT_FOR_EACH_AVG_POOL_TYPE(POOLING_EXT_INSTANTIATE)

}  // namespace cpu
}  // namespace pooling_ext
