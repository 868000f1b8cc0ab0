// Macros and helpers for code compiled both for the host (CPU kernels, the
// test emulation of the CUDA kernels) and for the GPU.
#pragma once

#if defined(__CUDACC__) || defined(__HIPCC__)
#define POOL_HD __host__ __device__ __forceinline__
#else
#define POOL_HD inline
#endif

// Small math helpers, always inlined on the host too: the CPU's ISA-cloned
// loops call them (see common/cpu/isa_clones.h), and GCC keeps a call to an
// ordinary inline function from a clone compiled for another -march.
#if defined(__CUDACC__) || defined(__HIPCC__) || !defined(__GNUC__)
#define POOL_HD_SMALL POOL_HD
#else
#define POOL_HD_SMALL inline __attribute__((always_inline))
#endif

namespace pooling_ext {

#if !defined(__CUDACC__) && !defined(__HIPCC__)
// The bits of `value` as another type of its size. std::bit_cast is C++20,
// and older torch (2.11 on the lent GPUs) builds extensions as C++17; the
// compiler builtin behind it works under both and, unlike memcpy, keeps the
// loops that use it vectorisable.
template <typename To, typename From>
POOL_HD_SMALL To bits_as(From value) {
  static_assert(sizeof(To) == sizeof(From), "bits_as reinterprets same-sized values");
  return __builtin_bit_cast(To, value);
}
#endif

}  // namespace pooling_ext
