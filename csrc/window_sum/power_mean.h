// The one home of the power-mean math (LP pooling, GeM). Over a window of
// `padded` positions (the window clipped to the padded input) holding inputs
// x, with base b(x) (x, |x| or max(x, clamp_min)) and slope b'(x):
//
//   y        = (numerator / padded * sum b(x)^p)^(1/p)
//   dy/dx    = numerator / padded * (b(x) / y)^(p-1) * b'(x)          (zero where y = 0)
//   dy/dp    = y * numerator / padded / p * sum u^p ln u,  u = b(x) / y  (GeM's learnable p)
//
// Every piece is written once, generic over the value type V: the per-element
// bodies (CUDA) and the CPU loops use it on float and double, with p known at
// compile time where the CPU unrolls small integer powers (kPower 1 to 4;
// 0: p at run time); the double backward of LP pooling and GeM uses it on
// at::Tensor (the primitives' tensor overloads below), so the derivative it
// differentiates is the backward kernels' formula itself.
#pragma once

#include <cmath>
#include <cstdint>

#include "../common/host_device.h"
#include "reduction.h"

namespace at {
class Tensor;
}  // namespace at

namespace pooling_ext {

// ---------------------------------------------------------------- tensor primitives
// (host code; defined in power_mean_tensor.cpp)

at::Tensor abs_of(const at::Tensor& x);
at::Tensor sign_of(const at::Tensor& x);
at::Tensor one_like(const at::Tensor& x);
at::Tensor zero_like(const at::Tensor& x);
at::Tensor select(const at::Tensor& condition, const at::Tensor& if_true, const at::Tensor& if_false);
at::Tensor clamp_below(const at::Tensor& x, double low);
at::Tensor step_at(const at::Tensor& x, double low);
at::Tensor power(const at::Tensor& base, double p);
at::Tensor power(const at::Tensor& base, const at::Tensor& p);

// ---------------------------------------------------------------- scalar primitives

POOL_HD_SMALL float pow_of(float base, float exponent) { return powf(base, exponent); }
POOL_HD_SMALL double pow_of(double base, double exponent) { return pow(base, exponent); }
POOL_HD_SMALL float log_of(float v) { return logf(v); }
POOL_HD_SMALL double log_of(double v) { return log(v); }
POOL_HD_SMALL float sqrt_of(float v) { return sqrtf(v); }
POOL_HD_SMALL double sqrt_of(double v) { return sqrt(v); }
#if defined(__CUDACC__) || defined(__HIPCC__)
POOL_HD_SMALL float cbrt_of(float v) { return cbrtf(v); }
#else
// On the CPU a cube root the vectoriser can handle (cbrtf is a scalar library
// call per output): a first guess from the exponent bits, three Newton steps
// (relative error about 1e-7), exact for 0, inf and NaN. v >= 0.
POOL_HD_SMALL float cbrt_of(float v) {
  float y = bits_as<float>(bits_as<uint32_t>(v) / 3u + 0x2a5137a0u);
  for (int step = 0; step < 3; ++step) y = (2.0f * y + v / (y * y)) * (1.0f / 3.0f);
  return (v == 0.0f || v - v != 0.0f) ? v : y;
}
#endif
POOL_HD_SMALL double cbrt_of(double v) { return cbrt(v); }
POOL_HD_SMALL float abs_of(float v) { return fabsf(v); }
POOL_HD_SMALL double abs_of(double v) { return fabs(v); }

template <typename acc_t>
POOL_HD_SMALL bool is_finite_value(acc_t v) {
  return v == v && v - v == acc_t(0);  // false for NaN and +-inf
}

template <typename acc_t>
POOL_HD_SMALL acc_t select(bool condition, acc_t if_true, acc_t if_false) {
  return condition ? if_true : if_false;
}
template <typename acc_t>
POOL_HD_SMALL acc_t one_like(acc_t) {
  return acc_t(1);
}
template <typename acc_t>
POOL_HD_SMALL acc_t zero_like(acc_t) {
  return acc_t(0);
}
template <typename acc_t>
POOL_HD_SMALL acc_t sign_of(acc_t x) {
  return x > acc_t(0) ? acc_t(1) : (x < acc_t(0) ? acc_t(-1) : acc_t(0));
}
// max(x, low), a NaN staying NaN (torch.clamp's rule).
template <typename acc_t>
POOL_HD_SMALL acc_t clamp_below(acc_t x, acc_t low) {
  return x < low ? low : x;
}
// torch.clamp's gradient mask: 1 where x >= low, else 0.
template <typename acc_t>
POOL_HD_SMALL acc_t step_at(acc_t x, acc_t low) {
  return x >= low ? acc_t(1) : acc_t(0);
}

// base^p; small integer exponents by multiplication (faster, and what the
// CPU's unrolled loops compute too).
template <typename acc_t>
POOL_HD_SMALL acc_t power(acc_t base, acc_t p) {
  if (p == acc_t(1)) return base;
  if (p == acc_t(2)) return base * base;
  if (p == acc_t(3)) return base * base * base;
  if (p == acc_t(4)) {
    const acc_t square = base * base;
    return square * square;
  }
  return pow_of(base, p);
}

// ---------------------------------------------------------------- the power mean

// b^p, with p = kPower at compile time (1 to 4), or at run time (kPower 0).
template <int kPower = 0, typename V, typename P>
POOL_HD_SMALL V raise(const V& b, const P& p) {
  if constexpr (kPower == 1) {
    return b;
  } else if constexpr (kPower == 2) {
    return b * b;
  } else if constexpr (kPower == 3) {
    return b * b * b;
  } else if constexpr (kPower == 4) {
    return (b * b) * (b * b);
  } else {
    return power(b, p);
  }
}

// The base raised to p: x, |x|, or max(x, clamp_min).
template <typename V, typename S>
POOL_HD_SMALL V power_base(PowerBase kind, const V& x, S clamp_min) {
  if (kind == PowerBase::kAbsolute) return abs_of(x);
  if (kind == PowerBase::kClampMin) return clamp_below(x, clamp_min);
  return x;
}

// d base / d x: 1, sign(x), or torch.clamp's mask (x >= clamp_min).
template <typename V, typename S>
POOL_HD_SMALL V power_base_slope(PowerBase kind, const V& x, S clamp_min) {
  if (kind == PowerBase::kAbsolute) return sign_of(x);
  if (kind == PowerBase::kClampMin) return step_at(x, clamp_min);
  return one_like(x);
}

// The window's value from its power sum: torch's lp_pool computes
// (sum / padded) * numerator and raises it to 1/p. Where the two are equal
// (lp_pool's whole windows) the mean is the sum itself: torch's division and
// multiplication move it by at most an ulp, and the division limits the
// channels-last loops. Roots without pow where a cheaper exact-enough form
// exists (pow is a library call per output; these vectorise); a negative mean
// stays NaN, as pow's.
template <typename acc_t>
POOL_HD_SMALL acc_t power_mean_root(acc_t sum, acc_t padded, acc_t numerator, acc_t p) {
  const acc_t mean = padded == numerator ? sum : sum / padded * numerator;
  if (p == acc_t(2)) return sqrt_of(mean);  // what torch's pow(t, 0.5) computes
  if (p == acc_t(1)) return mean;
  if (p == acc_t(4)) return sqrt_of(sqrt_of(mean));
  if (p == acc_t(3)) return mean < acc_t(0) ? sqrt_of(mean) : cbrt_of(mean);
  return pow_of(mean, acc_t(1) / p);
}

// One input's factor in dy/dx: ratio^(p-1) * slope, with ratio = b(x) / y.
template <int kPower = 0, typename V, typename P>
POOL_HD_SMALL V power_mean_input_factor(const V& ratio, const V& slope, const P& p) {
  if constexpr (kPower == 1) {
    return slope;
  } else if constexpr (kPower > 1) {
    return raise<kPower - 1>(ratio, p) * slope;
  } else {
    return raise(ratio, p - 1) * slope;
  }
}

// One input's term of dy/dp: u^p ln u with u = b(x) / y, which tends to 0 as
// u -> 0 (taken as 0 there, and where u is NaN). `log` is the logarithm the
// caller vectorises.
template <int kPower = 0, typename V, typename P, class Log>
POOL_HD_SMALL V power_mean_exponent_term(const V& u, const P& p, const Log& log) {
  const auto positive = u > zero_like(u);
  const V safe_u = select(positive, u, one_like(u));
  return select(positive, raise<kPower>(safe_u, p) * log(safe_u), zero_like(u));
}

}  // namespace pooling_ext
