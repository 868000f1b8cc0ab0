// Window geometry shared by the CPU kernels, the CUDA kernels and the CPU grid
// emulation of the CUDA kernels. Everything here is plain data plus
// __host__ __device__ inline functions, so each CPU test also exercises the
// index arithmetic the GPU runs.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>

#if defined(__CUDACC__) || defined(__HIPCC__)
#define POOL_HD __host__ __device__ __forceinline__
#else
#define POOL_HD inline
#endif

namespace pooling_ext {

// Every op works on a canonical 5-d view (N, C, D, H, W): 1d and 2d pooling set
// the leading spatial extents to 1 (kernel 1, stride 1, no padding), which
// changes no linear offset in either memory layout.
constexpr int kMaxSpatialDims = 3;

// One pooling problem: sizes of input and output, the fixed window policy, and
// the memory layout shared by input and output (contiguous NCDHW, or
// channels-last NDHWC).
struct PoolGeometry {
  int64_t batch;
  int64_t channels;
  int64_t in[kMaxSpatialDims];
  int64_t out[kMaxSpatialDims];
  int64_t kernel[kMaxSpatialDims];
  int64_t stride[kMaxSpatialDims];
  int64_t pad[kMaxSpatialDims];
  int64_t dilation[kMaxSpatialDims];
  bool channels_last;

  POOL_HD int64_t kernel_volume() const { return kernel[0] * kernel[1] * kernel[2]; }
  POOL_HD int64_t in_plane() const { return in[0] * in[1] * in[2]; }
  POOL_HD int64_t out_plane() const { return out[0] * out[1] * out[2]; }
  POOL_HD int64_t in_numel() const { return batch * channels * in_plane(); }
  POOL_HD int64_t out_numel() const { return batch * channels * out_plane(); }
};

// Position of element (n, c, spatial index within the plane) in memory.
POOL_HD int64_t layout_offset(bool channels_last, int64_t channels, int64_t plane_size,
                              int64_t n, int64_t c, int64_t spatial) {
  return channels_last ? (n * plane_size + spatial) * channels + c
                       : (n * channels + c) * plane_size + spatial;
}

// Coordinates of the element stored at `linear` in a tensor of the given
// layout: batch n, channel c and the flat spatial index within the plane.
struct PlaneCoord {
  int64_t n;
  int64_t c;
  int64_t spatial;
};

POOL_HD PlaneCoord layout_coord(bool channels_last, int64_t channels, int64_t plane_size,
                                int64_t linear) {
  PlaneCoord p;
  if (channels_last) {
    p.c = linear % channels;
    const int64_t rest = linear / channels;
    p.spatial = rest % plane_size;
    p.n = rest / plane_size;
  } else {
    p.spatial = linear % plane_size;
    const int64_t nc = linear / plane_size;
    p.c = nc % channels;
    p.n = nc / channels;
  }
  return p;
}

// Taps t in [first, end) of a window put input position start + t * dilation
// inside [0, size). first >= end means the window lies wholly in the padding.
struct TapRange {
  int64_t first;
  int64_t end;
  int64_t start;  // input position of tap 0 (may be negative: left padding)
};

POOL_HD TapRange window_taps(int64_t out_pos, int64_t size, int64_t kernel, int64_t stride,
                             int64_t pad, int64_t dilation) {
  TapRange r;
  r.start = out_pos * stride - pad;
  // Smallest t with start + t*dilation >= 0.
  r.first = r.start >= 0 ? 0 : (-r.start + dilation - 1) / dilation;
  // One past the largest t with start + t*dilation <= size - 1.
  const int64_t room = size - 1 - r.start;
  r.end = room < 0 ? 0 : room / dilation + 1;
  if (r.end > kernel) r.end = kernel;
  if (r.first > r.end) r.first = r.end;
  return r;
}

// Output positions whose window covers input position `in_pos` along one dim,
// with the tap that lands on it: out * stride - pad + tap * dilation == in_pos.
// At most `kernel` of them; callers pass arrays of kMaxKernelPerDim.
POOL_HD int covering_outputs(int64_t in_pos, int64_t out_size, int64_t kernel, int64_t stride,
                             int64_t pad, int64_t dilation, int64_t* out_positions,
                             int64_t* taps, int max_count) {
  int count = 0;
  for (int64_t t = 0; t < kernel && count < max_count; ++t) {
    const int64_t shifted = in_pos + pad - t * dilation;
    if (shifted < 0) break;  // grows more negative with t
    if (shifted % stride != 0) continue;
    const int64_t o = shifted / stride;
    if (o < out_size) {
      out_positions[count] = o;
      taps[count] = t;
      ++count;
    }
  }
  return count;
}

// Sentinel stored as the window offset of a window with no input element.
POOL_HD int64_t empty_window_offset(int64_t kernel_volume) { return kernel_volume; }

// The input plane index (torch's return_indices convention) of a window tap.
POOL_HD int64_t tap_to_plane_index(const PoolGeometry& g, int64_t out_spatial, int64_t tap) {
  const int64_t ow = out_spatial % g.out[2];
  const int64_t oh = (out_spatial / g.out[2]) % g.out[1];
  const int64_t od = out_spatial / (g.out[2] * g.out[1]);
  const int64_t tw = tap % g.kernel[2];
  const int64_t th = (tap / g.kernel[2]) % g.kernel[1];
  const int64_t td = tap / (g.kernel[2] * g.kernel[1]);
  const int64_t id = od * g.stride[0] - g.pad[0] + td * g.dilation[0];
  const int64_t ih = oh * g.stride[1] - g.pad[1] + th * g.dilation[1];
  const int64_t iw = ow * g.stride[2] - g.pad[2] + tw * g.dilation[2];
  return (id * g.in[1] + ih) * g.in[2] + iw;
}

// NaN-aware "is v the new maximum" with torch's rule: a NaN always replaces
// the running value (so the last NaN of a window wins), ties keep the first.
template <typename T>
POOL_HD bool is_nan_value(T v) {
  return v != v;
}

// The value of a max over no element: -inf, or the lowest integer.
template <typename T>
POOL_HD T max_identity() {
  if constexpr (std::numeric_limits<T>::has_infinity) {
    return static_cast<T>(-INFINITY);
  } else {
    return std::numeric_limits<T>::lowest();
  }
}

template <typename T>
POOL_HD bool replaces_max(T candidate, T current) {
  return candidate > current || is_nan_value(candidate);
}

}  // namespace pooling_ext
