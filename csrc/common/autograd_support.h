// Helpers of the C++ autograd Functions: symbolic sizes kept in an
// AutogradContext (so torch.compile can trace through them), and a node's
// int arguments kept in one entry.
#pragma once

#include <c10/core/impl/LocalDispatchKeySet.h>
#include <torch/autograd.h>

#include <initializer_list>
#include <vector>

namespace pooling_ext {

using torch::autograd::AutogradContext;

// Whether an op must run through its autograd Function, or may call its
// kernel below the autograd key. Function::apply builds a context and saves
// the op's arguments into it even where no graph is recorded, a fixed cost
// that dominates small calls (inference, and the backward of a training
// step, which runs with grad mode off). Through the Function: where a
// gradient is recorded; where a forward-mode tangent rides on the input or a
// torch.func transform is active, which the Function refuses with torch's
// message (below the autograd key the tangent would be dropped silently).
// Deciding here, above the device kernels, is what a traced graph
// (AOTAutograd) records correctly; a grad-mode check inside a kernel is not.
inline bool records_gradient_or_tangent(const at::Tensor& input) {
  return (at::GradMode::is_enabled() && input.requires_grad()) || input._fw_grad(/*level=*/0).defined();
}

// (of every differentiable input; functorch includes its dynamic-layer keys
// in the thread's dispatch keys while any transform is active)
template <class... More>
inline bool needs_autograd_function(const at::Tensor& input, const More&... more) {
  return c10::impl::tls_is_dispatch_key_included(c10::DispatchKey::FuncTorchDynamicLayerBackMode) ||
         records_gradient_or_tangent(input) || (records_gradient_or_tangent(more) || ...);
}

inline void save_sizes(AutogradContext* ctx, const char* key, c10::SymIntArrayRef sizes) {
  ctx->saved_data[key] = c10::IValue(sizes);
}

inline std::vector<c10::SymInt> load_sizes(AutogradContext* ctx, const char* key) {
  std::vector<c10::SymInt> sizes;
  for (const c10::IValue& v : ctx->saved_data[key].toListRef()) sizes.push_back(v.toSymInt());
  return sizes;
}

// Several int lists in one saved entry, each as its length then its values:
// one allocation and one lookup per node instead of one per list (a fixed
// cost of every training step, which small inputs feel).
inline void save_int_lists(AutogradContext* ctx, const char* key, std::initializer_list<at::IntArrayRef> lists) {
  std::vector<int64_t> packed;
  for (at::IntArrayRef list : lists) {
    packed.push_back(static_cast<int64_t>(list.size()));
    packed.insert(packed.end(), list.begin(), list.end());
  }
  ctx->saved_data[key] = std::move(packed);
}

// The lists save_int_lists kept, in the same order.
inline void load_int_lists(AutogradContext* ctx, const char* key, std::initializer_list<std::vector<int64_t>*> lists) {
  const c10::List<int64_t> packed = ctx->saved_data[key].toIntList();
  size_t at = 0;
  for (std::vector<int64_t>* list : lists) {
    const int64_t length = packed[at++];
    list->assign(length, 0);
    for (int64_t& value : *list) value = packed[at++];
  }
}

}  // namespace pooling_ext
