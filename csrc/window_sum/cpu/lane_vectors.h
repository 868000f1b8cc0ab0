// 64 bytes of float or double lanes as a GCC vector: one AVX-512 register,
// two AVX2 or four SSE registers, the same arithmetic on every ISA clone, so
// sums taken in these lanes do not depend on the CPU they run on.
#pragma once

#include <cstdint>
#include <cstring>
#include <type_traits>

#include <c10/util/BFloat16.h>

#include "../../common/cpu/isa_clones.h"

namespace pooling_ext {
namespace cpu {

template <typename acc_t>
struct LaneVectors {
  static constexpr int kLanes = 64 / sizeof(acc_t);
  typedef acc_t Full __attribute__((vector_size(64)));
  typedef acc_t Half __attribute__((vector_size(32)));
  typedef acc_t Quarter __attribute__((vector_size(16)));
  using LaneInt = std::conditional_t<sizeof(acc_t) == 4, int32_t, int64_t>;
  typedef LaneInt FullInt __attribute__((vector_size(64)));
};

// The lanes' sum by halving (a fixed tree, the same on every ISA clone).
template <typename acc_t>
POOLING_EXT_ALWAYS_INLINE acc_t sum_of_lanes(const typename LaneVectors<acc_t>::Full& lanes) {
  using V = LaneVectors<acc_t>;
  typename V::Half low, high;
  std::memcpy(&low, &lanes, sizeof(low));
  std::memcpy(&high, reinterpret_cast<const char*>(&lanes) + sizeof(low), sizeof(high));
  const typename V::Half half = low + high;
  typename V::Quarter first, second;
  std::memcpy(&first, &half, sizeof(first));
  std::memcpy(&second, reinterpret_cast<const char*>(&half) + sizeof(first), sizeof(second));
  const typename V::Quarter quarter = first + second;
  if constexpr (V::kLanes == 16) return (quarter[0] + quarter[2]) + (quarter[1] + quarter[3]);
  return quarter[0] + quarter[1];
}

// 16 consecutive float32 or bfloat16 values as float lanes (bfloat16 widened exactly).
POOLING_EXT_ALWAYS_INLINE LaneVectors<float>::Full load_float_lanes(const float* x) {
  LaneVectors<float>::Full v;
  std::memcpy(&v, x, sizeof(v));
  return v;
}
POOLING_EXT_ALWAYS_INLINE LaneVectors<float>::Full load_float_lanes(const c10::BFloat16* x) {
  typedef uint16_t Bits16 __attribute__((vector_size(32)));
  typedef uint32_t Bits32 __attribute__((vector_size(64)));
  Bits16 bits;
  std::memcpy(&bits, x, sizeof(bits));
  return reinterpret_cast<LaneVectors<float>::Full>(__builtin_convertvector(bits, Bits32) << 16);
}

}  // namespace cpu
}  // namespace pooling_ext
