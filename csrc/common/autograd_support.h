// Helpers of the C++ autograd Functions: symbolic sizes kept in an
// AutogradContext (so torch.compile can trace through them).
#pragma once

#include <torch/autograd.h>

#include <vector>

namespace pooling_ext {

using torch::autograd::AutogradContext;

inline void save_sizes(AutogradContext* ctx, const char* key, c10::SymIntArrayRef sizes) {
  ctx->saved_data[key] = c10::IValue(sizes);
}

inline std::vector<c10::SymInt> load_sizes(AutogradContext* ctx, const char* key) {
  std::vector<c10::SymInt> sizes;
  for (const c10::IValue& v : ctx->saved_data[key].toListRef()) sizes.push_back(v.toSymInt());
  return sizes;
}

}  // namespace pooling_ext
