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

// 16 consecutive bfloat16 values as float lanes, widened exactly, element i
// in lane i (ChannelBlocks splits them even/odd instead).
POOLING_EXT_ALWAYS_INLINE LaneVectors<float>::Full load_float_lanes(const c10::BFloat16* x) {
  typedef uint16_t Bits16 __attribute__((vector_size(32)));
  typedef uint32_t Bits32 __attribute__((vector_size(64)));
  Bits16 bits;
  std::memcpy(&bits, x, sizeof(bits));
  return reinterpret_cast<LaneVectors<float>::Full>(__builtin_convertvector(bits, Bits32) << 16);
}

// Blocks of kVectors lane vectors of channels, loaded from and stored to a
// row of scalar_t: float32 and float64 as they are; bfloat16 as float lanes,
// 32 channels per two vectors, split even/odd: one 64-byte load gives both,
// a shift and a mask widen them exactly, and the store packs them back
// rounded as c10 rounds a float (to nearest even; every NaN 0x7fc0). (A
// widening convert of 16 lanes compiles to four instructions and the packing
// convert to a word permute; these are single-cycle integer operations.) The
// lanes' order within a block does not matter to sums taken lane by lane.
template <typename scalar_t>
struct ChannelBlocks {
  using acc_t = scalar_t;
  static constexpr int kVectorsPerLoad = 1;
  using Full = typename LaneVectors<acc_t>::Full;
  static constexpr int64_t kChannelsPerVector = LaneVectors<acc_t>::kLanes;

  // (One copy per vector: one copy of the whole block keeps it on the stack.)
  template <int kVectors>
  POOLING_EXT_ALWAYS_INLINE static void load(const scalar_t* x, Full* v) {
    for (int j = 0; j < kVectors; ++j) std::memcpy(&v[j], x + kChannelsPerVector * j, sizeof(Full));
  }
  template <int kVectors>
  POOLING_EXT_ALWAYS_INLINE static void store(scalar_t* out, const Full* v) {
    for (int j = 0; j < kVectors; ++j) std::memcpy(out + kChannelsPerVector * j, &v[j], sizeof(Full));
  }
  // The lanes as acc_t, in channel order.
  template <int kVectors>
  POOLING_EXT_ALWAYS_INLINE static void store_unrounded(acc_t* out, const Full* v) {
    store<kVectors>(out, v);
  }
};

template <>
struct ChannelBlocks<c10::BFloat16> {
  using acc_t = float;
  static constexpr int kVectorsPerLoad = 2;
  using Full = LaneVectors<float>::Full;
  typedef uint32_t Bits __attribute__((vector_size(64)));
  static constexpr int64_t kChannelsPerVector = 16;

  template <int kVectors>
  POOLING_EXT_ALWAYS_INLINE static void load(const c10::BFloat16* x, Full* v) {
    static_assert(kVectors % 2 == 0, "bfloat16 channel blocks come in pairs of vectors");
    for (int j = 0; j < kVectors; j += 2) {
      Bits pair;
      std::memcpy(&pair, x + 16 * j, sizeof(pair));
      v[j] = reinterpret_cast<Full>(pair << 16);              // even channels
      v[j + 1] = reinterpret_cast<Full>(pair & 0xffff0000u);  // odd channels
    }
  }
  template <int kVectors>
  POOLING_EXT_ALWAYS_INLINE static void store(c10::BFloat16* out, const Full* v) {
    for (int j = 0; j < kVectors; j += 2) {
      const Bits pair = rounded(v[j]) | (rounded(v[j + 1]) << 16);
      std::memcpy(out + 16 * j, &pair, sizeof(pair));
    }
  }
  // The lanes as floats, in channel order: the even and odd vectors interleaved.
  template <int kVectors>
  POOLING_EXT_ALWAYS_INLINE static void store_unrounded(float* out, const Full* v) {
    for (int j = 0; j < kVectors; j += 2) {
      const Full low = __builtin_shufflevector(v[j], v[j + 1], 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
      const Full high =
          __builtin_shufflevector(v[j], v[j + 1], 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
      std::memcpy(out + 16 * j, &low, sizeof(low));
      std::memcpy(out + 16 * j + 16, &high, sizeof(high));
    }
  }
  // Lane by lane, the bfloat16 bits of a float in the low half (c10's rounding).
  POOLING_EXT_ALWAYS_INLINE static Bits rounded(const Full& v) {
    const Bits bits = reinterpret_cast<Bits>(v);
    const Bits nearest_even = (bits + (((bits >> 16) & 1) + 0x7fff)) >> 16;
    return v != v ? Bits{} + 0x7fc0 : nearest_even;
  }
};

// Whether ChannelBlocks takes rows of scalar_t (widened exactly to its lanes).
template <typename scalar_t>
constexpr bool kHasChannelBlocks =
    std::is_same_v<scalar_t, float> || std::is_same_v<scalar_t, double> || std::is_same_v<scalar_t, c10::BFloat16>;

}  // namespace cpu
}  // namespace pooling_ext
