// bfloat16 held as its raw 16 bits, for the ISA-cloned CPU loops (which take
// uint16_t, so that c10::BFloat16's out-of-line conversions stay out of them):
// exact widening to float, and exact narrowing of a float that holds a
// bfloat16 value (a maximum or a copy, NaN included). Sums round instead:
// round_to_bf16 in max_pool/cpu/float_loops.h.
#pragma once

#include <cstdint>

#include "isa_clones.h"

namespace pooling_ext {
namespace cpu_bits {

POOLING_EXT_ALWAYS_INLINE float widen_to_float(float value) { return value; }

POOLING_EXT_ALWAYS_INLINE float widen_to_float(uint16_t bfloat16_bits) {
  return __builtin_bit_cast(float, static_cast<uint32_t>(bfloat16_bits) << 16);
}

// The bfloat16 bits of float bits whose low 16 bits are zero.
POOLING_EXT_ALWAYS_INLINE uint16_t bfloat16_bits_exact(uint32_t float_bits) {
  return static_cast<uint16_t>(float_bits >> 16);
}

POOLING_EXT_ALWAYS_INLINE uint16_t bfloat16_bits_exact(float value) {
  return bfloat16_bits_exact(__builtin_bit_cast(uint32_t, value));
}

}  // namespace cpu_bits
}  // namespace pooling_ext
