// Building blocks of the CPU loops written in AVX-512 intrinsics (F, BW, VL
// and BMI2): blocks of 16 float lanes loaded from float32 or bfloat16 rows,
// contiguous or at a stride, with masked lanes never read or written. GCC's
// own vectors are lowered for the baseline ISA under target_clones and its
// vectoriser leaves strided loads part scalar, so the hottest row loops are
// written with these instead; each such file checks cpu_has_avx512() at run
// time and its callers keep a portable loop for CPUs without it.
//
// Include only where POOLING_EXT_HAS_AVX512_INTRINSICS is defined.
#pragma once

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(POOLING_EXT_NO_ISA_CLONES)
#define POOLING_EXT_HAS_AVX512_INTRINSICS 1
#endif

#ifdef POOLING_EXT_HAS_AVX512_INTRINSICS
// GCC 12 reports the intrinsics' own _mm512_undefined_* placeholders as
// maybe-uninitialized where several blocks' loads are inlined into one loop
// (a false positive): silenced for the intrinsics' headers only.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop

#include <cstdint>
#include <type_traits>

#define POOLING_EXT_AVX512_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,bmi2")))
#define POOLING_EXT_AVX512_INLINE POOLING_EXT_AVX512_TARGET __attribute__((always_inline)) inline

namespace pooling_ext {
namespace avx512 {

inline bool cpu_has_avx512() {
  static const bool has = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                          __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("bmi2");
  return has;
}

// Lanes i < n of a block of 16.
POOLING_EXT_AVX512_INLINE __mmask16 lanes16(int64_t n) {
  return n >= 16 ? __mmask16(0xffff) : static_cast<__mmask16>((1u << (n < 0 ? 0 : n)) - 1);
}

// x[0, n) as float (the other lanes 0), reading only those elements.
POOLING_EXT_AVX512_INLINE __m512 load_lanes(const float* x, int64_t n) { return _mm512_maskz_loadu_ps(lanes16(n), x); }

// bfloat16 bits, widened exactly.
POOLING_EXT_AVX512_INLINE __m512 widen_bf16(__m256i bits) {
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(bits), 16));
}

POOLING_EXT_AVX512_INLINE __m512 load_lanes(const uint16_t* x, int64_t n) {
  return widen_bf16(_mm256_maskz_loadu_epi16(lanes16(n), x));
}

// x[0, 16) as float, every lane read.
POOLING_EXT_AVX512_INLINE __m512 load_16(const float* x) { return _mm512_loadu_ps(x); }

POOLING_EXT_AVX512_INLINE __m512 load_16(const uint16_t* x) {
  return widen_bf16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(x)));
}

// The lanes in `mask` of x[0, 16) as float (the others 0), reading only those.
POOLING_EXT_AVX512_INLINE __m512 load_lanes_where(const float* x, __mmask16 mask) {
  return _mm512_maskz_loadu_ps(mask, x);
}

POOLING_EXT_AVX512_INLINE __m512 load_lanes_where(const uint16_t* x, __mmask16 mask) {
  return widen_bf16(_mm256_maskz_loadu_epi16(mask, x));
}

POOLING_EXT_AVX512_INLINE void store_lanes(float* out, __m512 v, int64_t n) {
  _mm512_mask_storeu_ps(out, lanes16(n), v);
}

// Lanes that hold bfloat16 values (a maximum, a copy): their top halves.
POOLING_EXT_AVX512_INLINE void store_lanes(uint16_t* out, __m512 v, int64_t n) {
  const __m256i h = _mm512_cvtepi32_epi16(_mm512_srli_epi32(_mm512_castps_si512(v), 16));
  _mm256_mask_storeu_epi16(out, lanes16(n), h);
}

// Lanes that hold any float (a sum, an average), rounded to bfloat16 as
// c10::BFloat16 does: to nearest even, every NaN to 0x7fc0.
POOLING_EXT_AVX512_INLINE void store_rounded(float* out, __m512 v, int64_t n) { store_lanes(out, v, n); }

POOLING_EXT_AVX512_INLINE void store_rounded(uint16_t* out, __m512 v, int64_t n) {
  const __m512i bits = _mm512_castps_si512(v);
  const __m512i odd = _mm512_and_si512(_mm512_srli_epi32(bits, 16), _mm512_set1_epi32(1));
  __m512i rounded = _mm512_srli_epi32(_mm512_add_epi32(bits, _mm512_add_epi32(odd, _mm512_set1_epi32(0x7fff))), 16);
  rounded = _mm512_mask_mov_epi32(rounded, _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q), _mm512_set1_epi32(0x7fc0));
  _mm256_mask_storeu_epi16(out, lanes16(n), _mm512_cvtepi32_epi16(rounded));
}

// Element `index` of a row that starts at `row`, as an address: a block's
// first lane may lie before the row when its lanes there are masked off
// (integer arithmetic, so no out-of-bounds pointer is formed).
template <typename value_t>
POOLING_EXT_AVX512_INLINE const value_t* element_address(const value_t* row, int64_t index) {
  return reinterpret_cast<const value_t*>(reinterpret_cast<uintptr_t>(row) + index * int64_t(sizeof(value_t)));
}

// Lane i of a block reads element i * stride of a row. kStride 1 and 2 are
// compile-time (most networks); 0 is any stride, whose block then holds
// `lanes` <= 16 outputs so that it spans at most 32 elements (two float
// registers or one of bfloat16), from which a permute picks its lanes.
template <int kStride>
struct StridedLanes {
  int64_t stride;
  int64_t lanes;       // outputs per block
  uint32_t spread;     // a full block's elements, as bits of the 32 it spans
  __m512i pick_float;  // lane i <- element i * stride of the two float registers
  __m512i pick_bf16;   // word i <- element i * stride of the bfloat16 register

  // Lanes i < n whose element first + i * stride lies in [0, width).
  POOLING_EXT_AVX512_INLINE __mmask16 inside(int64_t first, int64_t width, int64_t n) const {
    const int64_t s = kStride > 0 ? kStride : stride;
    const int64_t low = first >= 0 ? 0 : (-first + s - 1) / s;                  // i >= ceil(-first / s)
    const int64_t high = width - first <= 0 ? 0 : (width - first + s - 1) / s;  // i < ceil((width - first) / s)
    return static_cast<__mmask16>(lanes16(high < n ? high : n) & ~lanes16(low));
  }

  // x[i * stride] for the lanes in `inside` (the others: 0), reading only those elements.
  POOLING_EXT_AVX512_INLINE __m512 load(const float* x, __mmask16 inside) const {
    if constexpr (kStride == 1) {
      return _mm512_maskz_loadu_ps(inside, x);
    } else {
      const uint32_t raw = _pdep_u32(inside, kStride == 2 ? 0x55555555u : spread);  // lane i -> element i * s
      const __m512 low = _mm512_maskz_loadu_ps(static_cast<__mmask16>(raw), x);
      const __m512 high = _mm512_maskz_loadu_ps(static_cast<__mmask16>(raw >> 16), x + 16);
      return _mm512_permutex2var_ps(low, pick_float, high);
    }
  }

  // All `lanes` lanes (a full block), their element masks known up front.
  POOLING_EXT_AVX512_INLINE __m512 load_full(const float* x) const {
    if constexpr (kStride == 1) {
      return _mm512_loadu_ps(x);
    } else {
      const uint32_t raw = kStride == 2 ? 0x55555555u : spread;
      const __m512 low = _mm512_maskz_loadu_ps(static_cast<__mmask16>(raw), x);
      const __m512 high = _mm512_maskz_loadu_ps(static_cast<__mmask16>(raw >> 16), x + 16);
      return _mm512_permutex2var_ps(low, pick_float, high);
    }
  }

  POOLING_EXT_AVX512_INLINE __m512 load_full(const uint16_t* x) const {
    return kStride == 1 ? widen_bf16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(x))) : load(x, lanes16(lanes));
  }

  POOLING_EXT_AVX512_INLINE __m512 load(const uint16_t* x, __mmask16 inside) const {
    if constexpr (kStride == 1) {
      return widen_bf16(_mm256_maskz_loadu_epi16(inside, x));
    } else if constexpr (kStride == 2) {
      const uint32_t raw = _pdep_u32(inside, 0x55555555u);
      const __m512i words = _mm512_maskz_loadu_epi16(static_cast<__mmask32>(raw), x);
      return _mm512_castsi512_ps(_mm512_slli_epi32(words, 16));  // element 2i is lane i's low half
    } else {
      const uint32_t raw = _pdep_u32(inside, spread);
      const __m512i words = _mm512_maskz_loadu_epi16(static_cast<__mmask32>(raw), x);
      return widen_bf16(_mm512_castsi512_si256(_mm512_permutexvar_epi16(pick_bf16, words)));
    }
  }
};

// Stride 2, windows two wide (2x2 s2 pooling): x[2i] and x[2i + 1] for the
// lanes in `inside` (the others: 0) from one load of the elements they span.
POOLING_EXT_AVX512_INLINE void load_pairs(const float* x, __mmask16 inside, __m512& even, __m512& odd) {
  const uint32_t first = _pdep_u32(inside, 0x55555555u);
  const uint32_t raw = first | (first << 1);
  const __m512 low = _mm512_maskz_loadu_ps(static_cast<__mmask16>(raw), x);
  const __m512 high = _mm512_maskz_loadu_ps(static_cast<__mmask16>(raw >> 16), x + 16);
  const __m512i even_index = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  even = _mm512_permutex2var_ps(low, even_index, high);
  odd = _mm512_permutex2var_ps(low, _mm512_add_epi32(even_index, _mm512_set1_epi32(1)), high);
}

POOLING_EXT_AVX512_INLINE void load_pairs(const uint16_t* x, __mmask16 inside, __m512& even, __m512& odd) {
  const uint32_t first = _pdep_u32(inside, 0x55555555u);
  const __m512i words = _mm512_maskz_loadu_epi16(static_cast<__mmask32>(first | (first << 1)), x);
  even = _mm512_castsi512_ps(_mm512_slli_epi32(words, 16));  // element 2i: lane i's low half
  odd = _mm512_castsi512_ps(_mm512_and_si512(words, _mm512_set1_epi32(static_cast<int32_t>(0xffff0000u))));
}

// Lanes [0, n) of window offsets (taps) into uint8 or int32 storage.
POOLING_EXT_AVX512_INLINE void store_taps(uint8_t* out, __m512i taps, int64_t n) {
  _mm512_mask_cvtepi32_storeu_epi8(out, lanes16(n), taps);
}

POOLING_EXT_AVX512_INLINE void store_taps(int32_t* out, __m512i taps, int64_t n) {
  _mm512_mask_storeu_epi32(out, lanes16(n), taps);
}

// The elements of a window row under a 32-bit mask (at most 32), from which
// a block of outputs picks its lanes (fractional and adaptive windows).
struct Loaded32 {
  __m512 low, high;  // float32: two registers
  __m512i words;     // bfloat16: one
};

POOLING_EXT_AVX512_INLINE Loaded32 load32(const float* x, uint32_t mask) {
  return {_mm512_maskz_loadu_ps(static_cast<__mmask16>(mask), x),
          _mm512_maskz_loadu_ps(static_cast<__mmask16>(mask >> 16), x + 16), _mm512_setzero_si512()};
}

POOLING_EXT_AVX512_INLINE Loaded32 load32(const uint16_t* x, uint32_t mask) {
  return {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_maskz_loadu_epi16(static_cast<__mmask32>(mask), x)};
}

// Lane i <- loaded element index[i]; the pointer type picks the dtype.
POOLING_EXT_AVX512_INLINE __m512 pick(const Loaded32& l, __m512i index, const float*) {
  return _mm512_permutex2var_ps(l.low, index, l.high);
}

POOLING_EXT_AVX512_INLINE __m512 pick(const Loaded32& l, __m512i index, const uint16_t*) {
  const __m512i word_index = _mm512_castsi256_si512(_mm512_cvtepi32_epi16(index));
  return widen_bf16(_mm512_castsi512_si256(_mm512_permutexvar_epi16(word_index, l.words)));
}

template <int kStride>
POOLING_EXT_AVX512_INLINE StridedLanes<kStride> strided_lanes(int64_t stride) {
  StridedLanes<kStride> l;
  l.stride = kStride > 0 ? kStride : stride;
  l.lanes = kStride > 0 ? 16 : (31 / l.stride + 1 < 16 ? 31 / l.stride + 1 : 16);
  alignas(64) int32_t pick[16];
  alignas(64) int16_t pick_words[32] = {};
  l.spread = 0;
  for (int i = 0; i < 16; ++i) {
    const int64_t element = i < l.lanes ? i * l.stride : 0;
    pick[i] = static_cast<int32_t>(element);
    pick_words[i] = static_cast<int16_t>(element);
    if (i < l.lanes) l.spread |= 1u << element;
  }
  l.pick_float = _mm512_load_si512(pick);
  l.pick_bf16 = _mm512_load_si512(pick_words);
  return l;
}

// Calls f(std::integral_constant<int, kStride>) with the StridedLanes
// specialisation for a row stride: 1 and 2 at compile time, 0 for any other.
template <class F>
inline void with_lane_stride(int64_t stride, const F& f) {
  if (stride == 1) {
    f(std::integral_constant<int, 1>{});
  } else if (stride == 2) {
    f(std::integral_constant<int, 2>{});
  } else {
    f(std::integral_constant<int, 0>{});
  }
}

}  // namespace avx512
}  // namespace pooling_ext

#endif  // POOLING_EXT_HAS_AVX512_INTRINSICS
