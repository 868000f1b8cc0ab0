// Helpers of the C++ autograd layer: when an op goes through autograd at all,
// gradient nodes built directly (make_gradient_node), and for the Functions
// symbolic sizes kept in an AutogradContext (so torch.compile can trace
// through them) and a node's int arguments kept in one entry.
#pragma once

#include <c10/core/impl/LocalDispatchKeySet.h>
#include <torch/autograd.h>
#include <torch/csrc/autograd/functions/utils.h>

#include <initializer_list>
#include <memory>
#include <type_traits>
#include <vector>

namespace pooling_ext {

using torch::autograd::AutogradContext;

// Whether an op must run through its autograd Function, or may call its
// kernel below the autograd key. Function::apply builds a context and saves
// the op's arguments into it even where no graph is recorded, a fixed cost
// that dominates small calls (inference, and the backward of a training
// step, which runs with grad mode off). Through the Function (or a gradient
// node of the op's own, make_gradient_node below): where a gradient is
// recorded; where a forward-mode tangent rides on the input or a
// torch.func transform is active, which the Function refuses with torch's
// message (below the autograd key the tangent would be dropped silently).
// Deciding here, above the device kernels, is what a traced graph
// (AOTAutograd) records correctly; a grad-mode check inside a kernel is not.
inline bool records_gradient(const at::Tensor& input) { return at::GradMode::is_enabled() && input.requires_grad(); }

inline bool carries_tangent(const at::Tensor& input) { return input._fw_grad(/*level=*/0).defined(); }

// (functorch includes its dynamic-layer keys in the thread's dispatch keys
// while any transform is active)
template <class... More>
inline bool transform_or_tangent_active(const at::Tensor& input, const More&... more) {
  return c10::impl::tls_is_dispatch_key_included(c10::DispatchKey::FuncTorchDynamicLayerBackMode) ||
         carries_tangent(input) || (carries_tangent(more) || ...);
}

// (of every differentiable input)
template <class... More>
inline bool needs_autograd_function(const at::Tensor& input, const More&... more) {
  return transform_or_tangent_active(input, more...) || records_gradient(input) || (records_gradient(more) || ...);
}

// A gradient node built the way aten's generated autograd kernels build
// theirs, for an op whose per-call cost matters: no AutogradContext, no
// saved_data map, no output bookkeeping of Function::apply. Recent torch
// (2.14 here) owns nodes through c10::intrusive_ptr; earlier releases through
// std::shared_ptr with deleteNode, which frees long chains without deep
// recursion.
template <class NodeT>
auto make_gradient_node() {
  if constexpr (std::is_base_of_v<c10::intrusive_ptr_target, NodeT>) {
    return c10::make_intrusive<NodeT>();
  } else {
    return std::shared_ptr<NodeT>(new NodeT(), [](NodeT* node) { deleteNode(node); });
  }
}

// The owning pointer of a node, to unpack an output it saved
// (SavedVariable(output, /*is_output=*/true) keeps no pointer back to the
// node, which would be a cycle).
template <class NodeT>
auto owning_pointer(NodeT* node) {
  if constexpr (std::is_base_of_v<c10::intrusive_ptr_target, NodeT>) {
    return node->getptr();
  } else {
    return node->shared_from_this();
  }
}

// Makes `node` the gradient node of `output` (the op's one differentiable
// output), its next edges those of `inputs`.
template <class NodePtr, class... Inputs>
void record_gradient_node(const NodePtr& node, const at::Tensor& output, const Inputs&... inputs) {
  node->set_next_edges(torch::autograd::collect_next_edges(inputs...));
  torch::autograd::set_history(output, node);
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
