// What a window-sum op reduces each window to: the average (torch's divisor
// rules), the power mean (LP pooling, GeM), or the extreme |x| (LP pooling
// with p = +-inf). ReductionArgs is the host's description; ReductionSpec,
// in the accumulation type, is what the kernels take.
#pragma once

#include <cstdint>

#include "../common/host_device.h"

namespace pooling_ext {

enum class WindowReduction : int32_t {
  kAverage = 0,     // sum / divisor, with torch's avg_pool divisor rules
  kPowerMean = 1,   // (numerator / padded_count * sum base(x)^p)^(1/p): lp_pool, GeM
  kExtremeAbs = 2,  // max |x| (lp_pool with p = +inf) or min |x| (p = -inf)
};

// The base raised to p by kPowerMean (power_mean.h).
enum class PowerBase : int32_t {
  kSigned = 0,    // x itself, as torch's lp_pool does (a negative x to a fractional p is NaN)
  kAbsolute = 1,  // |x|: the true p-norm
  kClampMin = 2,  // max(x, clamp_min): GeM
};

template <typename acc_t>
struct ReductionSpec {
  WindowReduction reduction;
  bool count_include_pad;    // kAverage
  int64_t divisor_override;  // kAverage; 0 = none
  PowerBase base;            // kPowerMean
  acc_t p;                   // kPowerMean, unless p_device is set
  const acc_t* p_device;     // kPowerMean: p read from memory (GeM's learnable p: no host sync)
  acc_t clamp_min;           // PowerBase::kClampMin
  acc_t numerator;           // kPowerMean: lp_pool's kernel volume; GeM's 1
  bool smallest;             // kExtremeAbs: min |x| instead of max |x|
  // kAverage forward of contiguous adaptive windows: the sum divided by the
  // window's depth, height and width in turn, as torch's kernel does, not by
  // their product (which can round differently: torch's bits, not an ulp off).
  // (torch's channels-last kernel and its backward divide by the product.)
  bool divide_in_turn;

  POOL_HD acc_t exponent() const { return p_device != nullptr ? *p_device : p; }
};

struct ReductionArgs {
  WindowReduction reduction = WindowReduction::kAverage;
  bool count_include_pad = true;
  int64_t divisor_override = 0;
  PowerBase base = PowerBase::kSigned;
  double p = 1.0;
  double clamp_min = 0.0;
  double numerator = 1.0;
  bool smallest = false;
  bool divide_in_turn = false;

  template <typename acc_t>
  ReductionSpec<acc_t> spec(const acc_t* p_device = nullptr) const {
    return ReductionSpec<acc_t>{reduction,
                                count_include_pad,
                                divisor_override,
                                base,
                                static_cast<acc_t>(p),
                                p_device,
                                static_cast<acc_t>(clamp_min),
                                static_cast<acc_t>(numerator),
                                smallest,
                                divide_in_turn};
  }
};

}  // namespace pooling_ext
