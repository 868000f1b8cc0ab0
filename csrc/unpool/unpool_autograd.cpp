// Autograd of max unpooling, in C++ so libtorch users get gradients too.
// max_unpool's derivative is max_unpool_gather (each input element takes the
// gradient at its index); the gather's is a scatter-add back into the
// unpooled shape, so double backward works too.
#include <torch/autograd.h>

#include "../common/autograd_support.h"
#include "../ops.h"
#include "unpool.h"

namespace pooling_ext {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

class MaxUnpoolFunction : public torch::autograd::Function<MaxUnpoolFunction> {
 public:
  static variable_list forward(AutogradContext* ctx, const at::Tensor& self, const at::Tensor& indices,
                               c10::SymIntArrayRef output_size) {
    at::AutoDispatchBelowADInplaceOrView guard;
    ctx->save_for_backward({indices});
    ctx->saved_data["dims"] = static_cast<int64_t>(output_size.size());
    return {pooling_ext::max_unpool(self, indices, output_size)};
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads);
};

// The gather's adjoint is a scatter-add into the unpooled shape (aten's
// scatter_add, deterministic on the CPU and, in deterministic mode, on CUDA).
class MaxUnpoolGatherFunction : public torch::autograd::Function<MaxUnpoolGatherFunction> {
 public:
  static variable_list forward(AutogradContext* ctx, const at::Tensor& grad_output, const at::Tensor& indices,
                               int64_t dims) {
    at::AutoDispatchBelowADInplaceOrView guard;
    ctx->save_for_backward({indices});
    ctx->saved_data["dims"] = dims;
    save_sizes(ctx, "unpooled_size", grad_output.sym_sizes());
    return {pooling_ext::max_unpool_gather(grad_output, indices, dims)};
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const at::Tensor indices = ctx->get_saved_variables()[0];
    const int64_t dims = ctx->saved_data["dims"].toInt();
    const std::vector<c10::SymInt> unpooled_size = load_sizes(ctx, "unpooled_size");
    const int64_t lead = indices.dim() - dims;
    // Planes flattened: (leading dims..., plane), scattered along the last dim.
    std::vector<c10::SymInt> flat_size(unpooled_size.begin(), unpooled_size.begin() + lead);
    c10::SymInt plane = 1;
    for (size_t i = lead; i < unpooled_size.size(); ++i) plane = plane * unpooled_size[i];
    flat_size.push_back(plane);
    const at::Tensor flat = at::zeros_symint(flat_size, grads[0].options())
                                .scatter_add(lead, indices.flatten(lead), grads[0].flatten(lead));
    return {flat.view_symint(unpooled_size), at::Tensor(), at::Tensor()};
  }
};

at::Tensor unpool_gather(const at::Tensor& grad_output, const at::Tensor& indices, int64_t dims);

// The gradient node of an unpooling that records one: what
// MaxUnpoolFunction's node does, built directly (make_gradient_node) since a
// training step pays this on every call; the Function remains the path under
// torch.func transforms and forward-mode tangents.
struct MaxUnpoolBackwardNode final : GradientNode<MaxUnpoolBackwardNode> {
  torch::autograd::SavedVariable indices;
  int64_t dims = 0;

  std::string name() const override { return "pooling_ext::MaxUnpoolBackward"; }
  template <class Visit>
  void for_each_field(Visit&& visit) {
    visit(SavedField{indices, /*is_output=*/false}), visit(dims);
  }
  variable_list backward(const variable_list& grads, const std::vector<bool>& needs_grad) {
    return {unpool_gather(grads[0], indices.unpack(), dims)};
  }
};

// The unpooling: below the autograd key where nothing is recorded, with its
// gradient node where a gradient is, through the Function under torch.func
// transforms and forward-mode tangents. Its gather likewise, through its
// Function where its own graph is recorded (double backward).
at::Tensor unpool(const at::Tensor& self, const at::Tensor& indices, c10::SymIntArrayRef output_size) {
  if (transform_or_tangent_active(self)) return MaxUnpoolFunction::apply(self, indices, output_size)[0];
  at::Tensor output = [&] {
    at::AutoDispatchBelowADInplaceOrView guard;
    return pooling_ext::max_unpool(self, indices, output_size);
  }();
  if (records_gradient(self)) {
    auto node = make_gradient_node<MaxUnpoolBackwardNode>();
    node->indices = torch::autograd::SavedVariable(indices, /*is_output=*/false);
    node->dims = static_cast<int64_t>(output_size.size());
    record_gradient_node(node, output, self);
  }
  return output;
}

at::Tensor unpool_gather(const at::Tensor& grad_output, const at::Tensor& indices, int64_t dims) {
  if (needs_autograd_function(grad_output)) return MaxUnpoolGatherFunction::apply(grad_output, indices, dims)[0];
  at::AutoDispatchBelowADInplaceOrView guard;
  return pooling_ext::max_unpool_gather(grad_output, indices, dims);
}

variable_list MaxUnpoolFunction::backward(AutogradContext* ctx, variable_list grads) {
  const at::Tensor indices = ctx->get_saved_variables()[0];
  const int64_t dims = ctx->saved_data["dims"].toInt();
  return {unpool_gather(grads[0], indices, dims), at::Tensor(), at::Tensor()};
}

}  // namespace

namespace autograd {

at::Tensor max_unpool(const at::Tensor& self, const at::Tensor& indices, c10::SymIntArrayRef output_size) {
  return unpool(self, indices, output_size);
}

at::Tensor max_unpool_gather(const at::Tensor& grad_output, const at::Tensor& indices, int64_t dims) {
  return unpool_gather(grad_output, indices, dims);
}

}  // namespace autograd
}  // namespace pooling_ext
