// Window geometry shared by the CPU kernels, the CUDA kernels and the CPU grid
// emulation of the CUDA kernels. Everything here is plain data plus
// __host__ __device__ inline functions, so each CPU test also exercises the
// index arithmetic the GPU runs. Index arithmetic is templated on the index
// type: the GPU runs 32-bit arithmetic whenever the tensors allow it (64-bit
// division is many times slower there), 64-bit otherwise.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>

#include "host_device.h"

namespace pooling_ext {

// Every op works on a canonical 5-d view (N, C, D, H, W): 1d and 2d pooling set
// the leading spatial extents to 1 (kernel 1, stride 1, no padding), which
// changes no linear offset in either memory layout.
constexpr int kMaxSpatialDims = 3;

// Division of n in [0, 2^31) by a divisor d in [1, 2^31) fixed for a whole
// launch, as a multiply-high, an add and a shift (Granlund and Montgomery's
// round-up method): with s = ceil(log2 d) and m = 2^32 (2^s - d) / d + 1,
// n / d = (mulhi(n, m) + n) >> s. A GPU has no integer divider; its division
// sequence made the 32-bit index arithmetic, not memory, bound the kernels.
struct Int32Divider {
  uint32_t divisor = 1;
  uint32_t magic = 1;
  uint32_t shift = 0;

  Int32Divider() = default;
  explicit Int32Divider(int64_t d) : divisor(d > 0 ? static_cast<uint32_t>(d) : 1u) {  // d = 0: never used
    while ((uint64_t(1) << shift) < divisor) ++shift;
    magic = static_cast<uint32_t>(((uint64_t(1) << 32) * ((uint64_t(1) << shift) - divisor)) / divisor + 1);
  }

  POOL_HD int32_t quotient(int32_t n) const {
#if defined(__CUDA_ARCH__) || defined(__HIP_DEVICE_COMPILE__)
    const uint32_t high = __umulhi(static_cast<uint32_t>(n), magic);
#else
    const uint32_t high = static_cast<uint32_t>((uint64_t(static_cast<uint32_t>(n)) * magic) >> 32);
#endif
    return static_cast<int32_t>((high + static_cast<uint32_t>(n)) >> shift);
  }
};

// The dividers of the 32-bit index path: set by PoolGeometryT::as<int32_t>(),
// the only way that path's geometry is made, and unused by the 64-bit path.
struct GeometryDividers {
  Int32Divider channels;
  Int32Divider in_plane;
  Int32Divider out_plane;
  Int32Divider in_row;    // in[2]
  Int32Divider in_rows;   // in[1]
  Int32Divider out_row;   // out[2]
  Int32Divider out_rows;  // out[1]
  Int32Divider stride[3];
};

// One pooling problem: sizes of input and output, the window policy, and the
// memory layout shared by input and output (contiguous NCDHW, or
// channels-last NDHWC). Window policies:
//   fixed:    output o's window starts at o * stride - pad and has `kernel`
//             taps `dilation` apart;
//   adaptive: torch's adaptive pooling, output o of `out` positions over `in`
//             inputs covers [floor(o * in / out), ceil((o + 1) * in / out))
//             (windows overlap or vary in size when out does not divide in);
//             `kernel` holds the longest window, stride 1, pad 0, dilation 1.
// Fractional pooling keeps the fixed policy's kernel (stride 1, no padding) and
// takes each plane's window starts from a table (fractional_bodies.h).
template <typename I>
struct PoolGeometryT {
  I batch;
  I channels;
  I in[kMaxSpatialDims];
  I out[kMaxSpatialDims];
  I kernel[kMaxSpatialDims];
  I stride[kMaxSpatialDims];
  I pad[kMaxSpatialDims];
  I dilation[kMaxSpatialDims];
  bool channels_last;
  bool adaptive;
  GeometryDividers dividers;

  POOL_HD I kernel_volume() const { return kernel[0] * kernel[1] * kernel[2]; }
  POOL_HD I in_plane() const { return in[0] * in[1] * in[2]; }
  POOL_HD I out_plane() const { return out[0] * out[1] * out[2]; }
  POOL_HD I in_numel() const { return batch * channels * in_plane(); }
  POOL_HD I out_numel() const { return batch * channels * out_plane(); }

  // The same geometry with another index type (the caller checks it fits).
  template <typename J>
  PoolGeometryT<J> as() const {
    PoolGeometryT<J> g;
    g.batch = static_cast<J>(batch);
    g.channels = static_cast<J>(channels);
    for (int d = 0; d < kMaxSpatialDims; ++d) {
      g.in[d] = static_cast<J>(in[d]);
      g.out[d] = static_cast<J>(out[d]);
      g.kernel[d] = static_cast<J>(kernel[d]);
      g.stride[d] = static_cast<J>(stride[d]);
      g.pad[d] = static_cast<J>(pad[d]);
      g.dilation[d] = static_cast<J>(dilation[d]);
    }
    g.channels_last = channels_last;
    g.adaptive = adaptive;
    if constexpr (std::is_same_v<J, int32_t>) {
      g.dividers.channels = Int32Divider(channels);
      g.dividers.in_plane = Int32Divider(in_plane());
      g.dividers.out_plane = Int32Divider(out_plane());
      g.dividers.in_row = Int32Divider(in[2]);
      g.dividers.in_rows = Int32Divider(in[1]);
      g.dividers.out_row = Int32Divider(out[2]);
      g.dividers.out_rows = Int32Divider(out[1]);
      for (int d = 0; d < kMaxSpatialDims; ++d) g.dividers.stride[d] = Int32Divider(stride[d]);
    }
    return g;
  }
};

using PoolGeometry = PoolGeometryT<int64_t>;

// Position of element (n, c, spatial index within the plane) in memory.
template <typename I>
POOL_HD I layout_offset(bool channels_last, I channels, I plane_size, I n, I c, I spatial) {
  return channels_last ? (n * plane_size + spatial) * channels + c : (n * channels + c) * plane_size + spatial;
}

// Coordinates of the element stored at `linear` in a tensor of the given
// layout: batch n, channel c and the flat spatial index within the plane.
template <typename I>
struct PlaneCoord {
  I n;
  I c;
  I spatial;
};

template <typename I>
POOL_HD PlaneCoord<I> layout_coord(bool channels_last, I channels, I plane_size, I linear) {
  PlaneCoord<I> p;
  if (channels_last) {
    p.c = linear % channels;
    const I rest = linear / channels;
    p.spatial = rest % plane_size;
    p.n = rest / plane_size;
  } else {
    p.spatial = linear % plane_size;
    const I nc = linear / plane_size;
    p.c = nc % channels;
    p.n = nc / channels;
  }
  return p;
}

// Spatial coordinates (d, h, w) of a flat index within a plane of `size`.
template <typename I>
struct Spatial3 {
  I d, h, w;
};

// n / d for n >= 0: through the launch's divider on the 32-bit path.
template <typename I>
POOL_HD I divide_by(const Int32Divider& divider, I n, I d) {
  if constexpr (std::is_same_v<I, int32_t>) {
    return divider.quotient(n);
  } else {
    return n / d;
  }
}

// layout_coord for the geometry's input or output tensor, and the (d, h, w)
// of a flat index within its plane.
template <typename I>
POOL_HD PlaneCoord<I> geometry_coord(const PoolGeometryT<I>& g, bool of_input, I linear) {
  const I plane = of_input ? g.in_plane() : g.out_plane();
  const Int32Divider& plane_divider = of_input ? g.dividers.in_plane : g.dividers.out_plane;
  PlaneCoord<I> p;
  if (g.channels_last) {
    const I rest = divide_by(g.dividers.channels, linear, g.channels);
    p.c = linear - rest * g.channels;
    p.n = divide_by(plane_divider, rest, plane);
    p.spatial = rest - p.n * plane;
  } else {
    const I nc = divide_by(plane_divider, linear, plane);
    p.spatial = linear - nc * plane;
    p.n = divide_by(g.dividers.channels, nc, g.channels);
    p.c = nc - p.n * g.channels;
  }
  return p;
}

template <typename I>
POOL_HD Spatial3<I> geometry_spatial(const PoolGeometryT<I>& g, bool of_input, I flat) {
  const I* size = of_input ? g.in : g.out;
  const I dh = divide_by(of_input ? g.dividers.in_row : g.dividers.out_row, flat, size[2]);
  Spatial3<I> s;
  s.w = flat - dh * size[2];
  s.d = divide_by(of_input ? g.dividers.in_rows : g.dividers.out_rows, dh, size[1]);
  s.h = dh - s.d * size[1];
  return s;
}

// Taps t in [first, end) of a window put input position start + t * dilation
// inside [0, size). first >= end means the window lies wholly in the padding.
template <typename I>
struct TapRange {
  I first;
  I end;
  I start;  // input position of tap 0 (may be negative: left padding)
};

template <typename I>
POOL_HD TapRange<I> window_taps(I out_pos, I size, I kernel, I stride, I pad, I dilation) {
  TapRange<I> r;
  r.start = out_pos * stride - pad;
  if (dilation == 1) {  // the common case, without division
    r.first = r.start >= 0 ? I(0) : -r.start;
    r.end = size - r.start;
  } else {
    // Smallest t with start + t*dilation >= 0.
    r.first = r.start >= 0 ? I(0) : (-r.start + dilation - 1) / dilation;
    // One past the largest t with start + t*dilation <= size - 1.
    const I room = size - 1 - r.start;
    r.end = room < 0 ? I(0) : room / dilation + 1;
  }
  if (r.end > kernel) r.end = kernel;
  if (r.first > r.end) r.first = r.end;
  return r;
}

// Output positions [first, last] whose window may cover input position
// `in_pos` along one dim: out * stride - pad + tap * dilation == in_pos for
// some tap in [0, kernel). Empty when first > last.
template <typename I>
struct OutRange {
  I first;
  I last;
};

template <typename I>
POOL_HD OutRange<I> covering_outputs(I in_pos, I out_size, I kernel, I stride, I pad, I dilation) {
  const I high = in_pos + pad;                   // out * stride at tap 0
  const I low = high - (kernel - 1) * dilation;  // out * stride at the last tap
  OutRange<I> r;
  if (stride == 1) {  // the common case, without division
    r.first = low <= 0 ? I(0) : low;
    r.last = high;
  } else {
    r.first = low <= 0 ? I(0) : (low + stride - 1) / stride;
    r.last = high / stride;
  }
  if (r.last > out_size - 1) r.last = out_size - 1;
  return r;
}

// Adaptive windows: the products are taken in 64 bits, since o * in can pass
// 2^31 even where the 32-bit index path runs.
template <typename I>
POOL_HD I adaptive_start(I out_pos, I in_size, I out_size) {
  return static_cast<I>(static_cast<int64_t>(out_pos) * in_size / out_size);
}

template <typename I>
POOL_HD I adaptive_end(I out_pos, I in_size, I out_size) {
  return static_cast<I>(((static_cast<int64_t>(out_pos) + 1) * in_size + out_size - 1) / out_size);
}

// The outputs whose adaptive window covers input i: o covers i exactly when
// i * out / in - 1 < o < (i + 1) * out / in, so o runs from
// floor(i * out / in) to ceil((i + 1) * out / in) - 1.
template <typename I>
POOL_HD OutRange<I> adaptive_covering_outputs(I in_pos, I in_size, I out_size) {
  OutRange<I> r;
  r.first = static_cast<I>(static_cast<int64_t>(in_pos) * out_size / in_size);
  r.last = static_cast<I>(((static_cast<int64_t>(in_pos) + 1) * out_size + in_size - 1) / in_size) - 1;
  if (r.last > out_size - 1) r.last = out_size - 1;
  return r;
}

// window_taps under the geometry's window policy, for spatial dim d: an
// adaptive window's taps are its inputs, from its start (dilation 1).
template <typename I>
POOL_HD TapRange<I> dim_window_taps(const PoolGeometryT<I>& g, int d, I out_pos) {
  if (!g.adaptive) return window_taps(out_pos, g.in[d], g.kernel[d], g.stride[d], g.pad[d], g.dilation[d]);
  TapRange<I> r;
  r.start = adaptive_start(out_pos, g.in[d], g.out[d]);
  r.first = I(0);
  r.end = adaptive_end(out_pos, g.in[d], g.out[d]) - r.start;
  return r;
}

// Input position of tap 0 of output out_pos's window along spatial dim d.
template <typename I>
POOL_HD I dim_window_start(const PoolGeometryT<I>& g, int d, I out_pos) {
  return g.adaptive ? adaptive_start(out_pos, g.in[d], g.out[d]) : out_pos * g.stride[d] - g.pad[d];
}

// covering_outputs under the geometry's window policy, for spatial dim d.
template <typename I>
POOL_HD OutRange<I> dim_covering_outputs(const PoolGeometryT<I>& g, int d, I in_pos) {
  if (g.adaptive) return adaptive_covering_outputs(in_pos, g.in[d], g.out[d]);
  if (g.stride[d] == 1) return covering_outputs(in_pos, g.out[d], g.kernel[d], I(1), g.pad[d], g.dilation[d]);
  // covering_outputs with its two divisions by the stride through the divider.
  const I high = in_pos + g.pad[d];
  const I low = high - (g.kernel[d] - 1) * g.dilation[d];
  OutRange<I> r;
  r.first = low <= 0 ? I(0) : divide_by(g.dividers.stride[d], low + g.stride[d] - 1, g.stride[d]);
  r.last = divide_by(g.dividers.stride[d], high, g.stride[d]);
  if (r.last > g.out[d] - 1) r.last = g.out[d] - 1;
  return r;
}

// The tap of output `out_pos`'s window that lands on `in_pos`, or -1 if that
// window steps over it (dilation > 1).
template <typename I>
POOL_HD I tap_landing_on(I in_pos, I out_pos, I stride, I pad, I dilation) {
  const I offset = in_pos + pad - out_pos * stride;
  if (dilation == 1) return offset;
  return offset % dilation == 0 ? offset / dilation : I(-1);
}

// tap_landing_on under the geometry's window policy, for spatial dim d.
template <typename I>
POOL_HD I dim_tap_landing_on(const PoolGeometryT<I>& g, int d, I in_pos, I out_pos) {
  if (g.adaptive) return in_pos - adaptive_start(out_pos, g.in[d], g.out[d]);
  return tap_landing_on(in_pos, out_pos, g.stride[d], g.pad[d], g.dilation[d]);
}

// Sentinel stored as the window offset of a window with no input element.
template <typename I>
POOL_HD I empty_window_offset(I kernel_volume) {
  return kernel_volume;
}

// The input plane index (torch's return_indices convention) of a window tap.
template <typename I>
POOL_HD I tap_to_plane_index(const PoolGeometryT<I>& g, I out_spatial, I tap) {
  const Spatial3<I> o = geometry_spatial(g, false, out_spatial);
  const I tw = tap % g.kernel[2];
  const I th = (tap / g.kernel[2]) % g.kernel[1];
  const I td = tap / (g.kernel[2] * g.kernel[1]);
  const I id = dim_window_start(g, 0, o.d) + td * g.dilation[0];
  const I ih = dim_window_start(g, 1, o.h) + th * g.dilation[1];
  const I iw = dim_window_start(g, 2, o.w) + tw * g.dilation[2];
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
