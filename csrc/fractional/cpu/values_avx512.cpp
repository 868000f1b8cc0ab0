// Fractional max pooling's forward in AVX-512 intrinsics: the
// per-output scalar windows of forward_contiguous.cpp and
// forward_channels_last.cpp became 16 outputs per register, maxima by the
// body's rule in its tap order. Contiguous: a block of output columns loads
// the (at most 32) input elements its windows cover once per window row and
// picks each output's tap tw from them with a permute (index: the output's
// start within the block, plus tw). Channels-last: each channel has its own
// window, so 16 channels' taps are gathered.
#include "values_avx512.h"

#include <type_traits>

#include "../../common/cpu/avx512_lanes.h"

namespace pooling_ext {
namespace simd {

#ifdef POOLING_EXT_HAS_AVX512_INTRINSICS
namespace {

using namespace avx512;

// torch's rule on the lanes in `inside`: the lanes where v replaces best
// (greater, or NaN).
POOLING_EXT_AVX512_INLINE __mmask16 replaces(__m512 best, __m512 v, __mmask16 inside) {
  return (_mm512_cmp_ps_mask(v, best, _CMP_GT_OQ) | _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q)) & inside;
}

// Keeps no taps: a values-only forward.
struct NoTaps {};

// The plane's rows of windows; with taps (offset_t: uint8_t or int32_t), each
// output's window offset beside its maximum. From -inf at tap 0, torch's rule
// gives the body's result, which takes the first tap as is (a fractional
// window lies wholly inside): a first tap of -inf is not taken but is tap 0.
template <typename value_t, typename offset_t>
POOLING_EXT_AVX512_TARGET void plane_windows(const value_t* plane, const int64_t* row_offset, int64_t rows,
                                             const cpu::ColumnBlocks& blocks, int64_t outputs, const int64_t* kernel,
                                             int64_t depth_step, int64_t row_step, value_t* out, offset_t* taps) {
  constexpr bool kKeepsTaps = !std::is_same_v<offset_t, NoTaps>;
  const int64_t block_count = static_cast<int64_t>(blocks.first.size());
  for (int64_t r = 0; r < rows; ++r, out += outputs) {
    for (int64_t b = 0; b < block_count; ++b) {
      const int64_t first = blocks.first[b], lanes = blocks.lanes[b];
      const __m512i index = _mm512_loadu_si512(blocks.index.data() + 16 * b);
      const int64_t span = blocks.index[16 * b + lanes - 1] + kernel[2];  // elements the block reads per row
      const uint32_t mask = span >= 32 ? 0xffffffffu : (1u << span) - 1;
      const value_t* corner = plane + row_offset[r] + blocks.base[b];
      const __mmask16 inside = lanes16(lanes);
      __m512 best = _mm512_set1_ps(-__builtin_inff());
      __m512 last_nan = _mm512_setzero_ps();  // values only: the last NaN a lane met
      __m512i tap = _mm512_setzero_si512();
      int32_t t = 0;
      for (int64_t td = 0; td < kernel[0]; ++td) {
        for (int64_t th = 0; th < kernel[1]; ++th) {
          const Loaded32 row = load32(corner + td * depth_step + th * row_step, mask);
          for (int64_t tw = 0; tw < kernel[2]; ++tw, ++t) {
            const __m512 v = pick(row, _mm512_add_epi32(index, _mm512_set1_epi32(static_cast<int32_t>(tw))), plane);
            if constexpr (kKeepsTaps) {
              const __mmask16 take = replaces(best, v, inside);
              best = _mm512_mask_mov_ps(best, take, v);
              tap = _mm512_mask_mov_epi32(tap, take, _mm512_set1_epi32(t));
            } else {
              // vmaxps(v, best) is the rule wherever v is not a NaN (ties
              // keep the first); a NaN v is kept aside, the last one wins.
              best = _mm512_max_ps(v, best);
              last_nan = _mm512_mask_mov_ps(last_nan, _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q), v);
            }
          }
        }
      }
      if constexpr (!kKeepsTaps) {
        best = _mm512_mask_mov_ps(best, _mm512_cmp_ps_mask(last_nan, last_nan, _CMP_UNORD_Q), last_nan);
      }
      store_lanes(out + first, best, lanes);
      if constexpr (kKeepsTaps) store_taps(taps + r * outputs + first, tap, lanes);
    }
  }
}

// 16 channels' elements at `element` (int32 lanes, relative to x), the lanes in `inside`.
POOLING_EXT_AVX512_INLINE __m512 gather(const float* x, __m512i element, __mmask16 inside, bool) {
  return _mm512_mask_i32gather_ps(_mm512_setzero_ps(), inside, element, x, 4);
}

// bfloat16: the 32-bit word that ends with the element, its high half; where
// the element before may not be read (element 0 of the first sample), that
// lane takes x[0] instead.
POOLING_EXT_AVX512_INLINE __m512 gather(const uint16_t* x, __m512i element, __mmask16 inside, bool element_before) {
  __mmask16 lanes = inside;
  if (!element_before) lanes &= _mm512_cmpneq_epi32_mask(element, _mm512_setzero_si512());
  const __m512i byte = _mm512_sub_epi32(_mm512_add_epi32(element, element), _mm512_set1_epi32(2));
  __m512i words = _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), lanes, byte, x, 1);
  words = _mm512_and_si512(words, _mm512_set1_epi32(static_cast<int32_t>(0xffff0000u)));
  const __m512i first = _mm512_set1_epi32(static_cast<int32_t>(static_cast<uint32_t>(x[0]) << 16));
  return _mm512_castsi512_ps(_mm512_mask_mov_epi32(words, inside & ~lanes, first));
}

// Lanes of int64 values as int32 (they fit: the caller checks the sample's size).
POOLING_EXT_AVX512_INLINE __m512i load_starts(const int64_t* v, __mmask16 inside) {
  const __m256i low = _mm512_cvtepi64_epi32(_mm512_maskz_loadu_epi64(static_cast<__mmask8>(inside), v));
  const __m256i high = _mm512_cvtepi64_epi32(_mm512_maskz_loadu_epi64(static_cast<__mmask8>(inside >> 8), v + 8));
  return _mm512_inserti64x4(_mm512_castsi256_si512(low), high, 1);
}

// One position's C channels, each from its own window; with taps (offset_t:
// uint8_t or int32_t), each channel's window offset beside its maximum, as
// plane_windows keeps them.
template <typename value_t, typename offset_t>
POOLING_EXT_AVX512_TARGET void channels_windows(const value_t* sample, const int64_t* d, const int64_t* h,
                                                const int64_t* w, int64_t height, int64_t width, int64_t C,
                                                const int64_t* kernel, bool element_before, value_t* out,
                                                offset_t* taps) {
  constexpr bool kKeepsTaps = !std::is_same_v<offset_t, NoTaps>;
  const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  const __m512i H = _mm512_set1_epi32(static_cast<int32_t>(height)), W = _mm512_set1_epi32(static_cast<int32_t>(width));
  const __m512i channels = _mm512_set1_epi32(static_cast<int32_t>(C));
  for (int64_t c = 0; c < C; c += 16) {
    const __mmask16 inside = lanes16(C - c);
    // corner = ((d * height + h) * width + w) * C + c
    __m512i corner = _mm512_add_epi32(_mm512_mullo_epi32(load_starts(d + c, inside), H), load_starts(h + c, inside));
    corner = _mm512_add_epi32(_mm512_mullo_epi32(corner, W), load_starts(w + c, inside));
    corner = _mm512_add_epi32(_mm512_mullo_epi32(corner, channels),
                              _mm512_add_epi32(lane, _mm512_set1_epi32(static_cast<int32_t>(c))));
    __m512 best = _mm512_set1_ps(-__builtin_inff());
    __m512i tap = _mm512_setzero_si512();
    int32_t t = 0;
    for (int64_t td = 0; td < kernel[0]; ++td) {
      for (int64_t th = 0; th < kernel[1]; ++th) {
        for (int64_t tw = 0; tw < kernel[2]; ++tw, ++t) {
          const int64_t tap_element = ((td * height + th) * width + tw) * C;
          const __m512i element = _mm512_add_epi32(corner, _mm512_set1_epi32(static_cast<int32_t>(tap_element)));
          const __m512 v = gather(sample, element, inside, element_before);
          const __mmask16 take = replaces(best, v, inside);
          best = _mm512_mask_mov_ps(best, take, v);
          if constexpr (kKeepsTaps) tap = _mm512_mask_mov_epi32(tap, take, _mm512_set1_epi32(t));
        }
      }
    }
    store_lanes(out + c, best, C - c);
    if constexpr (kKeepsTaps) store_taps(taps + c, tap, C - c);
  }
}

}  // namespace

bool fractional_channels_values_avx512(const float* sample, const int64_t* d, const int64_t* h, const int64_t* w,
                                       int64_t height, int64_t width, int64_t C, const int64_t* kernel,
                                       bool element_before, float* out) {
  if (!cpu_has_avx512()) return false;
  channels_windows(sample, d, h, w, height, width, C, kernel, element_before, out, static_cast<NoTaps*>(nullptr));
  return true;
}

bool fractional_channels_values_avx512(const uint16_t* sample, const int64_t* d, const int64_t* h, const int64_t* w,
                                       int64_t height, int64_t width, int64_t C, const int64_t* kernel,
                                       bool element_before, uint16_t* out) {
  if (!cpu_has_avx512()) return false;
  channels_windows(sample, d, h, w, height, width, C, kernel, element_before, out, static_cast<NoTaps*>(nullptr));
  return true;
}

template <typename value_t, typename offset_t>
bool fractional_channels_with_taps_avx512(const value_t* sample, const int64_t* d, const int64_t* h, const int64_t* w,
                                          int64_t height, int64_t width, int64_t C, const int64_t* kernel,
                                          bool element_before, value_t* out, offset_t* taps) {
  if (!cpu_has_avx512()) return false;
  channels_windows(sample, d, h, w, height, width, C, kernel, element_before, out, taps);
  return true;
}

bool fractional_values_avx512_supported() { return cpu_has_avx512(); }

bool fractional_plane_values_avx512(const float* plane, const int64_t* row_offset, int64_t rows,
                                    const cpu::ColumnBlocks& blocks, int64_t outputs, const int64_t* kernel,
                                    int64_t depth_step, int64_t row_step, float* out) {
  if (!cpu_has_avx512() || blocks.empty()) return false;
  plane_windows(plane, row_offset, rows, blocks, outputs, kernel, depth_step, row_step, out,
                static_cast<NoTaps*>(nullptr));
  return true;
}

bool fractional_plane_values_avx512(const uint16_t* plane, const int64_t* row_offset, int64_t rows,
                                    const cpu::ColumnBlocks& blocks, int64_t outputs, const int64_t* kernel,
                                    int64_t depth_step, int64_t row_step, uint16_t* out) {
  if (!cpu_has_avx512() || blocks.empty()) return false;
  plane_windows(plane, row_offset, rows, blocks, outputs, kernel, depth_step, row_step, out,
                static_cast<NoTaps*>(nullptr));
  return true;
}

template <typename value_t, typename offset_t>
bool fractional_plane_with_taps_avx512(const value_t* plane, const int64_t* row_offset, int64_t rows,
                                       const cpu::ColumnBlocks& blocks, int64_t outputs, const int64_t* kernel,
                                       int64_t depth_step, int64_t row_step, value_t* out, offset_t* taps) {
  if (!cpu_has_avx512() || blocks.empty()) return false;
  plane_windows(plane, row_offset, rows, blocks, outputs, kernel, depth_step, row_step, out, taps);
  return true;
}

#else  // no AVX-512 code in this build

template <typename value_t, typename offset_t>
bool fractional_channels_with_taps_avx512(const value_t*, const int64_t*, const int64_t*, const int64_t*, int64_t,
                                          int64_t, int64_t, const int64_t*, bool, value_t*, offset_t*) {
  return false;
}

template <typename value_t, typename offset_t>
bool fractional_plane_with_taps_avx512(const value_t*, const int64_t*, int64_t, const cpu::ColumnBlocks&, int64_t,
                                       const int64_t*, int64_t, int64_t, value_t*, offset_t*) {
  return false;
}

bool fractional_values_avx512_supported() { return false; }
bool fractional_plane_values_avx512(const float*, const int64_t*, int64_t, const cpu::ColumnBlocks&, int64_t,
                                    const int64_t*, int64_t, int64_t, float*) {
  return false;
}
bool fractional_plane_values_avx512(const uint16_t*, const int64_t*, int64_t, const cpu::ColumnBlocks&, int64_t,
                                    const int64_t*, int64_t, int64_t, uint16_t*) {
  return false;
}

bool fractional_channels_values_avx512(const float*, const int64_t*, const int64_t*, const int64_t*, int64_t, int64_t,
                                       int64_t, const int64_t*, bool, float*) {
  return false;
}
bool fractional_channels_values_avx512(const uint16_t*, const int64_t*, const int64_t*, const int64_t*, int64_t,
                                       int64_t, int64_t, const int64_t*, bool, uint16_t*) {
  return false;
}

#endif

#define POOLING_EXT_INSTANTIATE(value_t, offset_t)                                                                   \
  template bool fractional_plane_with_taps_avx512(const value_t*, const int64_t*, int64_t, const cpu::ColumnBlocks&, \
                                                  int64_t, const int64_t*, int64_t, int64_t, value_t*, offset_t*);   \
  template bool fractional_channels_with_taps_avx512(const value_t*, const int64_t*, const int64_t*, const int64_t*, \
                                                     int64_t, int64_t, int64_t, const int64_t*, bool, value_t*,      \
                                                     offset_t*);
POOLING_EXT_INSTANTIATE(float, uint8_t)
POOLING_EXT_INSTANTIATE(float, int32_t)
POOLING_EXT_INSTANTIATE(uint16_t, uint8_t)
POOLING_EXT_INSTANTIATE(uint16_t, int32_t)
#undef POOLING_EXT_INSTANTIATE

}  // namespace simd
}  // namespace pooling_ext
