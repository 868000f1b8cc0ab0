// Per-element bodies of max unpooling and its backward, as the max pooling
// bodies (one GPU thread per element; the CPU's reference).
#pragma once

#include "../common/block_program.h"
#include "../common/window.h"

namespace pooling_ext {

// Unpooling: input, indices and output share one layout; indices point into
// the output plane of the same (n, c).
struct UnpoolGeometry {
  int64_t batch;
  int64_t channels;
  int64_t in_plane;
  int64_t out_plane;
  bool channels_last;
};

// Records an out-of-range index; the host reads it after the launch and raises.
POOL_HD void record_bad_index(int64_t* bad_index_slot, int64_t value) { *bad_index_slot = value; }

// Unpool pass 1: every input element claims its output slot; the largest
// input position (+1) wins, so the last element in input order wins, as on
// torch's CPU. Integer atomics only: the winner does not depend on timing.
struct MaxUnpoolClaimBody {
  const int64_t* indices;
  unsigned long long* winner;  // output-shaped, zero-initialised
  int64_t* bad_index_slot;
  UnpoolGeometry g;

  POOL_HD void operator()(int64_t in_linear) const {
    const PlaneCoord<int64_t> p = layout_coord(g.channels_last, g.channels, g.in_plane, in_linear);
    const int64_t target = indices[in_linear];
    if (target < 0 || target >= g.out_plane) {
      record_bad_index(bad_index_slot, target);
      return;
    }
    const int64_t o = layout_offset(g.channels_last, g.channels, g.out_plane, p.n, p.c, target);
    atomic_max(winner + o, static_cast<unsigned long long>(p.spatial) + 1ull);
  }
};

// Unpool pass 2: the winning input element writes its value.
template <typename scalar_t>
struct MaxUnpoolWriteBody {
  const scalar_t* input;
  const int64_t* indices;
  const unsigned long long* winner;
  scalar_t* output;  // zero-initialised
  UnpoolGeometry g;

  POOL_HD void operator()(int64_t in_linear) const {
    const PlaneCoord<int64_t> p = layout_coord(g.channels_last, g.channels, g.in_plane, in_linear);
    const int64_t target = indices[in_linear];
    if (target < 0 || target >= g.out_plane) return;
    const int64_t o = layout_offset(g.channels_last, g.channels, g.out_plane, p.n, p.c, target);
    if (winner[o] == static_cast<unsigned long long>(p.spatial) + 1ull) output[o] = input[in_linear];
  }
};

// Unpool backward: each input element takes the gradient at its index.
template <typename scalar_t>
struct MaxUnpoolGatherBody {
  const scalar_t* grad_output;
  const int64_t* indices;
  scalar_t* grad_input;
  int64_t* bad_index_slot;
  UnpoolGeometry g;

  POOL_HD void operator()(int64_t in_linear) const {
    const PlaneCoord<int64_t> p = layout_coord(g.channels_last, g.channels, g.in_plane, in_linear);
    const int64_t target = indices[in_linear];
    if (target < 0 || target >= g.out_plane) {
      record_bad_index(bad_index_slot, target);
      grad_input[in_linear] = scalar_t(0);
      return;
    }
    grad_input[in_linear] = grad_output[layout_offset(g.channels_last, g.channels, g.out_plane, p.n, p.c, target)];
  }
};

}  // namespace pooling_ext
