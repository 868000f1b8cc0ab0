// Pieces every CPU kernel loop shares: task grain sizes, per-position window
// tables, and a cursor over positions that needs no division.
#pragma once

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "../window.h"

namespace pooling_ext {
namespace cpu {

// Grain sizes in elements: enough work per task to amortise its start.
inline constexpr int64_t kGrainElements = 32768;

// Items per task, so that a task does about kGrainElements of work, given the
// work of one item as a product of factors (each held at kGrainElements: no
// overflow, and any larger item gets a task of its own anyway).
template <typename... Factors>
int64_t grain_for(Factors... work_per_item) {
  int64_t work = 1;
  ((work *= std::clamp<int64_t>(work_per_item, 1, kGrainElements)), ...);
  return std::max<int64_t>(1, kGrainElements / work);
}

// Each tap's offset from its window's first element, in the body's tap
// order (d, h, w; dilation included), in elements of `per_position` each
// (channels-last: C). Fixed windows inside the input all share it.
inline std::vector<int64_t> window_tap_offsets(const PoolGeometry& g, int64_t per_position = 1) {
  std::vector<int64_t> offsets;
  offsets.reserve(g.kernel_volume());
  for (int64_t td = 0; td < g.kernel[0]; ++td) {
    for (int64_t th = 0; th < g.kernel[1]; ++th) {
      for (int64_t tw = 0; tw < g.kernel[2]; ++tw) {
        offsets.push_back(((td * g.dilation[0] * g.in[1] + th * g.dilation[1]) * g.in[2] + tw * g.dilation[2]) *
                          per_position);
      }
    }
  }
  return offsets;
}

// body(i) for every i in [0, count), in parallel tasks of `grain` elements.
template <class Body>
void parallel_for_each_index(int64_t count, const Body& body, int64_t grain = kGrainElements) {
  at::parallel_for(0, count, grain, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) body(i);
  });
}

// A per-dim table of window rules (TapRange or OutRange for each position),
// computed once per call so the loops over positions do no division.
template <typename F>
auto per_position_table(int64_t size, const F& rule) {
  std::vector<decltype(rule(int64_t(0)))> table;
  table.reserve(size);
  for (int64_t i = 0; i < size; ++i) table.push_back(rule(i));
  return table;
}

// A window covering the whole plane (network heads: global pooling, and
// adaptive pooling to size 1): one reduction per plane.
inline bool is_global_window(const PoolGeometry& g) {
  for (int d = 0; d < kMaxSpatialDims; ++d) {
    if (g.out[d] != 1 || g.pad[d] != 0 || g.kernel[d] != g.in[d] || (g.in[d] > 1 && g.dilation[d] != 1)) return false;
  }
  return true;
}

// Contiguous input whose windows have no fixed stride (adaptive) or cover the
// whole plane, with small planes and many channels: the channels-last loops,
// which vectorise across channels, run on channels-last copies; at these
// sizes the two copies cost far less than per-plane loops over a few
// elements each.
inline bool runs_on_channels_last_copy(const PoolGeometry& g, bool global_window) {
  return !g.channels_last && (g.adaptive || global_window) && g.in_plane() <= 4096 && g.channels >= 16;
}

// The canonical 5-d (N, C, D, H, W) tensor over a contiguous buffer of the
// input's (`input_side`) or the output's extents.
inline at::Tensor canonical_view(const void* data, const PoolGeometry& g, bool input_side, at::ScalarType dtype) {
  const int64_t* s = input_side ? g.in : g.out;
  return at::from_blob(const_cast<void*>(data), {g.batch, g.channels, s[0], s[1], s[2]},
                       at::TensorOptions().dtype(dtype));
}

inline at::Tensor channels_last_copy(const void* data, const PoolGeometry& g, bool input_side, at::ScalarType dtype) {
  return canonical_view(data, g, input_side, dtype).contiguous(at::MemoryFormat::ChannelsLast3d);
}

inline at::Tensor channels_last_scratch(const PoolGeometry& g, bool input_side, at::ScalarType dtype) {
  const int64_t* s = input_side ? g.in : g.out;
  return at::empty({g.batch, g.channels, s[0], s[1], s[2]},
                   at::TensorOptions().dtype(dtype).memory_format(at::MemoryFormat::ChannelsLast3d));
}

// (n, d, h, w) of consecutive positions in an N x D x H x W grid, advanced
// by increments instead of divisions.
struct PositionCursor {
  const int64_t* size;
  int64_t n, d, h, w;

  PositionCursor(const int64_t* extent, int64_t position) : size(extent) {
    w = position % size[2];
    position /= size[2];
    h = position % size[1];
    position /= size[1];
    d = position % size[0];
    n = position / size[0];
  }
  void next() {
    if (++w < size[2]) return;
    w = 0;
    if (++h < size[1]) return;
    h = 0;
    if (++d < size[0]) return;
    d = 0;
    ++n;
  }
};

}  // namespace cpu
}  // namespace pooling_ext
