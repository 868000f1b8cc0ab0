// 64 bytes of float or double lanes as a GCC vector: one AVX-512 register,
// two AVX2 or four SSE registers, the same arithmetic on every ISA clone, so
// sums taken in these lanes do not depend on the CPU they run on.
#pragma once

#include <cstdint>
#include <cstring>
#include <type_traits>

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

// The plain sums of `planes` consecutive float or double planes (the
// average's global window): 64-byte lanes, a plane's last partial vector read
// whole with the lanes past the plane zeroed where that stays below
// `readable_end`, and a halving tree at the end. A plane of a network head is
// 49 elements: a compiler's in-order horizontal sum would cost more than its

}  // namespace cpu
}  // namespace pooling_ext
