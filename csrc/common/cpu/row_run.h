// What the AVX-512 row kernels (max_pool/cpu/loops_avx512.cpp,
// window_sum/cpu/average_avx512.cpp) take per call: a run of consecutive
// output rows of contiguous planes, and a table of each output row's window
// rows. One call per run of rows, not per row: rows are short in the heads of
// networks (7 outputs in VGG's adaptive pooling), where a call, its setup and
// the index arithmetic per row cost more than the row's arithmetic.
#pragma once

#include <algorithm>
#include <cstdint>
#include <utility>
#include <vector>

namespace pooling_ext {
namespace cpu {

// For output row j of a plane (j = od * out[1] + oh): the input rows its
// windows read, as element offsets from the plane's start, in the body's
// order (d, then h); rows in the padding are left out.
struct WindowRowTable {
  std::vector<int64_t> offset;  // the output rows' window rows, back to back
  std::vector<int64_t> begin;   // output row j's: offset[begin[j]] up to offset[begin[j + 1]]

  // add_rows(j, push) calls push(offset) for output row j's window rows.
  template <class AddRows>
  WindowRowTable(int64_t rows_per_plane, const AddRows& add_rows) {
    begin.reserve(rows_per_plane + 1);
    for (int64_t j = 0; j < rows_per_plane; ++j) {
      begin.push_back(static_cast<int64_t>(offset.size()));
      add_rows(j, [&](int64_t row_offset) { offset.push_back(row_offset); });
    }
    begin.push_back(static_cast<int64_t>(offset.size()));
  }
};

// A row's output columns in blocks of up to 16 whose windows along W (any
// starts and lengths: fractional and adaptive windows) all lie within 32
// consecutive input elements from the block's first start: a block loads
// those once per window row and picks each output's taps from them.
struct ColumnBlocks {
  std::vector<int64_t> first;   // the block's first output column
  std::vector<int64_t> lanes;   // its outputs
  std::vector<int64_t> base;    // its first output's window start
  std::vector<int32_t> index;   // 16 per block: output i's start less the block's first start
  std::vector<int32_t> length;  // 16 per block: output i's window length (0 past the block's outputs)
  int64_t longest = 0;

  // window(o) gives output o's {start, end}; no blocks (empty) where a window
  // is longer than 32 elements.
  template <class Window>
  ColumnBlocks(int64_t outputs, const Window& window) {
    for (int64_t o = 0; o < outputs; ++o) {
      const auto [start, end] = window(o);
      longest = std::max(longest, end - start);
    }
    if (longest > 32) return;
    for (int64_t o = 0; o < outputs;) {
      const int64_t base = window(o).first;
      int64_t n = 0;
      while (n < 16 && o + n < outputs && window(o + n).second - base <= 32) ++n;
      first.push_back(o);
      lanes.push_back(n);
      this->base.push_back(base);
      for (int64_t i = 0; i < 16; ++i) {
        const auto [start, end] = i < n ? window(o + i) : std::pair<int64_t, int64_t>{base, base};
        index.push_back(static_cast<int32_t>(start - base));
        length.push_back(static_cast<int32_t>(end - start));
      }
      o += n;
    }
  }
  bool empty() const { return first.empty(); }
};

// Output rows [first_row, end_row) of contiguous planes (row = plane *
// rows_per_plane + j), each one's outputs [first_output, first_output +
// outputs) along W; output i's tap tw reads its window rows' element
// i * stride - pad + tw * dilation, skipped outside [0, width).
template <typename value_t>
struct RowRun {
  const value_t* input;
  value_t* output;
  int64_t first_row, end_row, rows_per_plane;
  int64_t in_plane, out_width;
  const int64_t* window_row_offset;  // WindowRowTable
  const int64_t* window_row_begin;
  int64_t first_output, outputs;
  int64_t kw, stride, dilation, pad, width;
  const float* divisor;  // per output row of a plane (averages)
};

// A walk over a RowRun's output rows, as the kernels take them: the row's
// plane of input and its window rows (WindowRowTable entries from
// first_entry(), window_row_count() of them); j is the row within its plane.
template <typename value_t>
struct RunRowWalk {
  const RowRun<value_t>& run;
  int64_t row, plane_index, j;

  explicit RunRowWalk(const RowRun<value_t>& r)
      : run(r), row(r.first_row), plane_index(r.first_row / r.rows_per_plane), j(r.first_row % r.rows_per_plane) {}
  bool more() const { return row < run.end_row; }
  void next() {
    ++row;
    if (++j == run.rows_per_plane) j = 0, ++plane_index;
  }
  const value_t* plane() const { return run.input + plane_index * run.in_plane; }
  int64_t first_entry() const { return run.window_row_begin[j]; }
  const int64_t* window_rows() const { return run.window_row_offset + first_entry(); }
  int64_t window_row_count() const { return run.window_row_begin[j + 1] - first_entry(); }
};

}  // namespace cpu
}  // namespace pooling_ext
