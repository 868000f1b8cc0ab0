// The primitives of power_mean.h on at::Tensor: differentiable tensor ops.
#include <ATen/ATen.h>

#include "power_mean.h"

namespace pooling_ext {

at::Tensor abs_of(const at::Tensor& x) { return x.abs(); }
at::Tensor sign_of(const at::Tensor& x) { return x.sign(); }
at::Tensor one_like(const at::Tensor& x) { return at::ones_like(x); }
at::Tensor zero_like(const at::Tensor& x) { return at::zeros_like(x); }
at::Tensor select(const at::Tensor& condition, const at::Tensor& if_true, const at::Tensor& if_false) {
  return at::where(condition, if_true, if_false);
}
at::Tensor clamp_below(const at::Tensor& x, double low) { return x.clamp_min(low); }
at::Tensor step_at(const at::Tensor& x, double low) { return (x >= low).to(x.scalar_type()); }
at::Tensor power(const at::Tensor& base, double p) { return base.pow(p); }
at::Tensor power(const at::Tensor& base, const at::Tensor& p) { return base.pow(p); }

}  // namespace pooling_ext
