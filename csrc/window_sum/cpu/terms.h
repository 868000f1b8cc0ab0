// What the CPU loops of the window-sum family add up per input and how they
// finish a window: a Term (the average's x, or the power mean's base(x)^p
// with small integer p unrolled at compile time), chosen once per call by
// with_term, and the window's value from its sum. The power mean's formulas
// are power_mean.h's, so the loops compute what the bodies compute.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "../../common/cpu/isa_clones.h"
#include "../power_mean.h"
#include "../window_sum_bodies.h"

namespace pooling_ext {
namespace cpu {

// Natural log of a positive normal float without a library call, so loops
// using it vectorise: exponent from the bits, the mantissa m in
// [sqrt(1/2), sqrt(2)) through log(m) = 2 atanh((m-1)/(m+1)) (series to s^9:
// relative error ~1e-9, below float rounding).
POOLING_EXT_ALWAYS_INLINE float vector_friendly_log(float v) {
  const int32_t bits = bits_as<int32_t>(v);
  int32_t exponent = ((bits >> 23) & 0xff) - 127;
  float m = bits_as<float>((bits & 0x7fffff) | 0x3f800000);
  // Both arms computed, then selected: a multiplication under a condition is
  // not if-converted (it might trap), which would keep the loop scalar.
  const bool high = m > 1.41421356f;
  const float halved = m * 0.5f;
  m = high ? halved : m;
  exponent += static_cast<int32_t>(high);
  const float s = (m - 1.0f) / (m + 1.0f);
  const float s2 = s * s;
  const float series = s * (2.0f + s2 * (2.0f / 3 + s2 * (2.0f / 5 + s2 * (2.0f / 7 + s2 * (2.0f / 9)))));
  return static_cast<float>(exponent) * 0.693147180559945f + series;
}
POOLING_EXT_ALWAYS_INLINE double vector_friendly_log(double v) { return std::log(v); }

// vector_friendly_log as a functor the ISA clones inline.
struct VectorFriendlyLog {
  template <typename acc_t>
  POOLING_EXT_ALWAYS_INLINE acc_t operator()(acc_t v) const {
    return vector_friendly_log(v);
  }
};

// Lane-by-lane square roots of a GCC vector (one vsqrtps on AVX-512): a
// loop of constant trip count over an array, which GCC vectorises.
template <class V>
POOLING_EXT_ALWAYS_INLINE V square_root_lanes(const V& v) {
  using lane_t = std::remove_cv_t<std::remove_reference_t<decltype(v[0])>>;
  constexpr int kLanes = sizeof(V) / sizeof(lane_t);
  lane_t lanes[kLanes];
  std::memcpy(lanes, &v, sizeof(V));
  for (int i = 0; i < kLanes; ++i) lanes[i] = sqrt_of(lanes[i]);
  V roots;
  std::memcpy(&roots, lanes, sizeof(V));
  return roots;
}

template <typename acc_t>
struct AverageTerm {
  static constexpr bool kAverage = true;
  static constexpr bool kRootsInLanes = false;  // (no roots)
  static constexpr bool kEvenUnrolledPower = false;
  POOLING_EXT_ALWAYS_INLINE acc_t value(acc_t x) const { return x; }
  template <class V>  // (a GCC vector of lanes)
  POOLING_EXT_ALWAYS_INLINE V value_lanes(const V& x) const {
    return x;
  }
};

// base(x)^p; kPower 1, 2, 3, 4 unrolled, 0 for any other p (known at run
// time); the base's kind known at compile time.
template <typename acc_t, int kPower, PowerBase kBase>
struct PowerTerm {
  static constexpr bool kAverage = false;
  static constexpr bool kUnrolled = kPower >= 1 && kPower <= 4;  // value_lanes exists
  // root_lanes exists: the roots of p = 1, 2, 4 are square roots or none (a
  // cube root has no vector instruction).
  static constexpr bool kRootsInLanes = kPower == 1 || kPower == 2 || kPower == 4;
  // x^p for p = 2 or 4 of x or |x| (the same even powers): what the AVX-512
  // row kernels add up (average_avx512.cpp).
  static constexpr bool kEvenUnrolledPower = (kPower == 2 || kPower == 4) && kBase != PowerBase::kClampMin;
  static constexpr int kPowerValue = kPower;
  acc_t p;
  acc_t clamp_min;

  POOLING_EXT_ALWAYS_INLINE acc_t base(acc_t x) const { return power_base(kBase, x, clamp_min); }
  POOLING_EXT_ALWAYS_INLINE acc_t slope(acc_t x) const { return power_base_slope(kBase, x, clamp_min); }
  POOLING_EXT_ALWAYS_INLINE acc_t value(acc_t x) const { return raise<kPower>(base(x), p); }
  // value() on a GCC vector of float lanes, for the unrolled powers (1 to
  // 4): the same base and products, lane by lane. |x| clears the sign bit,
  // as fabs does (-0 gives +0).
  template <class V>
  POOLING_EXT_ALWAYS_INLINE V value_lanes(const V& x) const {
    static_assert(kPower >= 1 && kPower <= 4, "value_lanes: unrolled powers only");
    V b = x;
    if constexpr (kBase == PowerBase::kAbsolute) {
      typedef int32_t Bits __attribute__((vector_size(sizeof(V))));
      b = reinterpret_cast<V>(reinterpret_cast<Bits>(x) & 0x7fffffff);
    } else if constexpr (kBase == PowerBase::kClampMin) {
      V low;
      for (int i = 0; i < static_cast<int>(sizeof(V) / sizeof(acc_t)); ++i) low[i] = clamp_min;
      b = x < low ? low : x;  // a NaN stays NaN, as clamp_below
    }
    return raise<kPower>(b, p);
  }
  // The window's value from its power sum (the root with p known at compile
  // time for the unrolled powers, so its branches fold and it vectorises).
  POOLING_EXT_ALWAYS_INLINE acc_t root(acc_t sum, acc_t padded, acc_t numerator) const {
    return power_mean_root(sum, padded, numerator, kPower == 0 ? p : acc_t(kPower));
  }
  // root() on a GCC vector of float lanes (kRootsInLanes): the same
  // operations lane by lane, so the same bits.
  template <class V>
  POOLING_EXT_ALWAYS_INLINE V root_lanes(const V& sums, acc_t padded, acc_t numerator) const {
    static_assert(kRootsInLanes, "root_lanes: p = 1, 2 or 4 only");
    const V mean = padded == numerator ? sums : sums / padded * numerator;
    if constexpr (kPower == 1) return mean;
    if constexpr (kPower == 2) return square_root_lanes(mean);
    return square_root_lanes(square_root_lanes(mean));
  }
  // One input's factor of dy/dx given inv_y = 1 / y; zero where y = 0
  // (inv_y = 0), which the powers of the ratio alone would not give for p <= 1.
  POOLING_EXT_ALWAYS_INLINE acc_t grad(acc_t x, acc_t inv_y) const {
    const acc_t factor = power_mean_input_factor<kPower>(base(x) * inv_y, slope(x), p);
    if constexpr (kPower == 0 || kPower == 1) return inv_y == acc_t(0) ? acc_t(0) : factor;
    return factor;
  }
  // One input's term of GeM's dy/dp: u^p ln u with u = base(x) / y.
  POOLING_EXT_ALWAYS_INLINE acc_t exponent_grad(acc_t x, acc_t inv_y) const {
    return power_mean_exponent_term<kPower>(base(x) * inv_y, p, VectorFriendlyLog{});
  }
};

// Calls f(term) with the Term of the body's reduction (average or power mean).
template <typename acc_t, class F>
void with_term(const ReductionSpec<acc_t>& r, const F& f) {
  if (r.reduction == WindowReduction::kAverage) {
    f(AverageTerm<acc_t>{});
    return;
  }
  if constexpr (!std::is_integral_v<acc_t>) {
    const acc_t p = r.exponent();
    auto with_base = [&](auto base) {
      constexpr PowerBase kBase = decltype(base)::value;
      if (p == acc_t(1)) {
        f(PowerTerm<acc_t, 1, kBase>{p, r.clamp_min});
      } else if (p == acc_t(2)) {
        f(PowerTerm<acc_t, 2, kBase>{p, r.clamp_min});
      } else if (p == acc_t(3)) {
        f(PowerTerm<acc_t, 3, kBase>{p, r.clamp_min});
      } else if (p == acc_t(4)) {
        f(PowerTerm<acc_t, 4, kBase>{p, r.clamp_min});
      } else {
        f(PowerTerm<acc_t, 0, kBase>{p, r.clamp_min});
      }
    };
    if (r.base == PowerBase::kAbsolute) {
      with_base(std::integral_constant<PowerBase, PowerBase::kAbsolute>{});
    } else if (r.base == PowerBase::kClampMin) {
      with_base(std::integral_constant<PowerBase, PowerBase::kClampMin>{});
    } else {
      with_base(std::integral_constant<PowerBase, PowerBase::kSigned>{});
    }
  }
}

// The value of an interior window from its sum: the average, or the power
// mean's root (NaN-free overflow handling is the body's: `fallback`).
template <class Term, typename acc_t>
struct WindowFinish {
  const ReductionSpec<acc_t>& r;
  WindowBox<int64_t> box;  // average: the window, for its divisor
  acc_t padded;            // power mean: padded window size
  acc_t p;

  template <class Fallback>
  acc_t operator()(acc_t sum, const Fallback& fallback) const {
    if constexpr (Term::kAverage) {
      return average_of_sum(r, box, sum);
    } else {
      if (!is_finite_value(sum)) return fallback();
      return power_mean_root(sum, padded, r.numerator, p);
    }
  }
};

template <typename acc_t, class Term>
WindowFinish<Term, acc_t> window_finish(const ReductionSpec<acc_t>& r, const WindowBox<int64_t>& box) {
  if constexpr (Term::kAverage) {
    return {r, box, acc_t(0), acc_t(0)};
  } else {
    return {r, box, static_cast<acc_t>(box.padded_count()), r.exponent()};
  }
}

}  // namespace cpu
}  // namespace pooling_ext
