// Helpers of the C++ autograd layer: when an op goes through autograd at all,
// gradient nodes built directly (make_gradient_node), and for the Functions
// symbolic sizes kept in an AutogradContext (so torch.compile can trace
// through them) and a node's int arguments kept in one entry.
#pragma once

#include <c10/core/impl/LocalDispatchKeySet.h>
#include <torch/autograd.h>
#include <torch/csrc/autograd/functions/utils.h>
#include <torch/version.h>

#include <algorithm>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
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

// Gradient nodes built the way aten's generated autograd kernels build
// theirs, for ops whose per-call cost matters: no AutogradContext, no
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

// A saved tensor as a gradient node lists it (GradientNode::for_each_field).
struct SavedField {
  torch::autograd::SavedVariable& variable;
  bool is_output;
};

// The base of our gradient nodes. Derived lists its saved state once,
//   template <class Visit> void for_each_field(Visit&& visit)
// calling visit(field) for each field (a SavedField for a saved tensor), and
// computes its gradients from it (called only where the output has a
// gradient and some input needs one),
//   variable_list backward(const variable_list& grads, const std::vector<bool>& needs_grad)
// From that list the base frees the saved tensors after a backward, and (on
// torch 2.7 and later) lets compiled autograd capture the node: its state is
// lifted into the compiled graph, which calls `functional` with it, as torch
// does for its own nodes and C++ Functions.
template <class Derived>
struct GradientNode : torch::autograd::Node {
  torch::autograd::variable_list apply(torch::autograd::variable_list&& grads) override {
    std::lock_guard<std::mutex> lock(mutex_);  // the saved tensors, as aten's nodes guard them
    return run_backward(self(), grads, needs_grad());
  }
  void release_variables() override {
    std::lock_guard<std::mutex> lock(mutex_);
    self().for_each_field([](auto&& field) {
      if constexpr (std::is_same_v<std::decay_t<decltype(field)>, SavedField>) field.variable.reset_data();
    });
  }

#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 7)
  void compiled_args(torch::dynamo::autograd::CompiledNodeArgs& args) const override {
    args.collect(name());
    const_cast<Derived&>(self()).for_each_field([&](auto&& field) {
      if constexpr (std::is_same_v<std::decay_t<decltype(field)>, SavedField>) {
        args.collect(field.variable, field.is_output);
      } else {
        args.collect(field);
      }
    });
  }

  torch::autograd::variable_list apply_with_saved(const torch::autograd::variable_list& grads,
                                                  torch::dynamo::autograd::SwapSavedVariables& saved) override {
    namespace ca = torch::dynamo::autograd;
    self().for_each_field([&](auto&& field) { saved.before(unwrap(field)); });
    ca::PackedArgs packed;
    self().for_each_field([&](auto&& field) {
      if constexpr (std::is_same_v<std::decay_t<decltype(field)>, SavedField>) {
        packed.pack(field.is_output ? field.variable.unpack(owning_pointer(this)) : field.variable.unpack());
      } else {
        packed.pack(field);
      }
    });
    packed.pack(needs_grad());
    const std::vector<c10::IValue>& args = packed.vec();
    std::vector<at::TypePtr> schema;
    for (const c10::IValue& value : args) schema.push_back(value.isTensor() ? at::TensorType::get() : value.type());
    const auto& compiler = ca::getPyCompilerInterface();
    // Bound anew on each capture (a numbered name, as torch's C++ Functions
    // are): the schema follows the values, and an undefined tensor packs as None.
    const std::string fn_name = compiler->bind_function(saved.get_py_compiler(), name(), &GradientNode::functional,
                                                        schema, /*is_custom_function=*/true, /*is_traceable=*/true);
    const auto output_metadata = ca::IValuePacker<std::vector<std::optional<torch::autograd::InputMetadata>>>::pack(
        ca::get_input_metadata(next_edges()));
    torch::autograd::variable_list result =
        compiler->call_function(saved.get_py_compiler(), "apply_functional", fn_name, grads, args, output_metadata);
    self().for_each_field([&](auto&& field) { saved.after(unwrap(field)); });
    return result;
  }

  // The node's backward from its lifted state, in apply_with_saved's order.
  static torch::autograd::variable_list functional(const torch::autograd::variable_list& grads,
                                                   const std::vector<c10::IValue>& args) {
    torch::dynamo::autograd::PackedArgs packed(args);
    auto state = make_gradient_node<Derived>();
    state->for_each_field([&](auto&& field) {
      using Field = std::decay_t<decltype(field)>;
      if constexpr (std::is_same_v<Field, SavedField>) {
        field.variable = torch::autograd::SavedVariable(packed.template unpack<at::Tensor>(), /*is_output=*/false);
      } else {
        field = packed.template unpack<Field>();
      }
    });
    return run_backward(*state, grads, packed.template unpack<std::vector<bool>>());
  }
#endif

 private:
  // Derived's backward, where the output has a gradient and an input needs one.
  static torch::autograd::variable_list run_backward(Derived& node, const torch::autograd::variable_list& grads,
                                                     const std::vector<bool>& needs_grad) {
    const bool any_needed = std::find(needs_grad.begin(), needs_grad.end(), true) != needs_grad.end();
    if (!grads[0].defined() || !any_needed) return torch::autograd::variable_list(needs_grad.size());
    return node.backward(grads, needs_grad);
  }
  Derived& self() { return static_cast<Derived&>(*this); }
  const Derived& self() const { return static_cast<const Derived&>(*this); }
  std::vector<bool> needs_grad() const {
    std::vector<bool> needs(num_outputs());
    for (size_t i = 0; i < needs.size(); ++i) needs[i] = should_compute_output(i);
    return needs;
  }
  // (what SwapSavedVariables swaps: the field, or a saved tensor's variable)
  template <class Field>
  static Field& unwrap(Field& field) {
    return field;
  }
  static torch::autograd::SavedVariable& unwrap(SavedField& field) { return field.variable; }
};

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
