#include "unpool_plan.h"

namespace pooling_ext {

at::MemoryFormat unpool_memory_format(const at::Tensor& indices, int64_t dims) {
  return dims == 2 ? pooling_memory_format(indices, 2) : at::MemoryFormat::Contiguous;
}

void check_unpool_inputs(const char* what, const at::Tensor& self, const at::Tensor& indices) {
  check_backend(what, self);
  TORCH_CHECK(indices.scalar_type() == at::kLong, what, ": indices must have dtype int64, but got ",
              indices.scalar_type());
  TORCH_CHECK(self.device() == indices.device(), what, ": input and indices must be on the same device, but got ",
              self.device(), " and ", indices.device());
  TORCH_CHECK(self.sizes() == indices.sizes(), what, ": indices must have the shape of input ", self.sizes(),
              ", but got indices of shape ", indices.sizes());
}

void check_unpool_dtype(const char* what, const at::Tensor& t) {
  TORCH_CHECK_NOT_IMPLEMENTED(at::isFloatingType(t.scalar_type()), what, ": input dtype ", t.scalar_type(),
                              " is not supported");
}

UnpoolPlan plan_max_unpool(const char* what, const at::Tensor& indices, at::IntArrayRef output_spatial) {
  const int64_t dims = static_cast<int64_t>(output_spatial.size());
  TORCH_CHECK(dims >= 1 && dims <= kMaxSpatialDims, what, ": output_size must have 1, 2 or 3 elements, but got ",
              output_spatial);
  TORCH_CHECK(indices.scalar_type() == at::kLong, what, ": indices must have dtype int64, but got ",
              indices.scalar_type());
  const int64_t rank = indices.dim();
  TORCH_CHECK(rank == dims + 1 || rank == dims + 2, what, ": input must be a ", dims + 1, "D (unbatched) or ", dims + 2,
              "D (batched) tensor, but got input of shape ", indices.sizes());
  for (int64_t i = rank == dims + 2 ? 1 : 0; i < rank; ++i) {
    TORCH_CHECK(indices.size(i) != 0, what,
                ": input must have non-zero size in every dim but the batch dim, but got "
                "input of shape ",
                indices.sizes());
  }
  for (int64_t d = 0; d < dims; ++d) {
    TORCH_CHECK(output_spatial[d] > 0, what,
                ": output_size must be positive, but got output_size=", list_str(output_spatial));
  }
  UnpoolPlan plan;
  plan.format = unpool_memory_format(indices, dims);
  plan.output_sizes = indices.sizes().vec();
  for (int64_t d = 0; d < dims; ++d) plan.output_sizes[rank - dims + d] = output_spatial[d];
  check_numel_fits(what, plan.output_sizes, "output_size");
  plan.indices = indices.contiguous(plan.format);
  const bool batched = rank == dims + 2;
  plan.geometry = UnpoolGeometry{batched ? indices.size(0) : 1, indices.size(batched ? 1 : 0),
                                 c10::multiply_integers(indices.sizes().slice(rank - dims)),
                                 c10::multiply_integers(output_spatial), plan.format != at::MemoryFormat::Contiguous};
  return plan;
}

UnpoolPlan plan_max_unpool_forward(const at::Tensor& self, const at::Tensor& indices, at::IntArrayRef output_size,
                                   bool zero_result) {
  check_unpool_inputs("max_unpool", self, indices);
  UnpoolPlan plan = plan_max_unpool("max_unpool", indices, output_size);
  check_unpool_dtype("max_unpool", self);
  plan.source = self.contiguous(plan.format);
  plan.result = at::empty(plan.output_sizes, self.options().memory_format(plan.format));
  if (zero_result) plan.result.zero_();
  return plan;
}

UnpoolPlan plan_max_unpool_gather(const at::Tensor& grad_output, const at::Tensor& indices, int64_t dims) {
  UnpoolPlan plan =
      plan_max_unpool("max_unpool_gather", indices, unpooled_spatial_size(grad_output, indices, dims));
  check_unpool_dtype("max_unpool_gather", grad_output);
  plan.source = grad_output.contiguous(plan.format);
  plan.result = at::empty(indices.sizes(), grad_output.options().memory_format(plan.format));
  return plan;
}

at::IntArrayRef unpooled_spatial_size(const at::Tensor& unpooled, const at::Tensor& indices, int64_t dims) {
  TORCH_CHECK(dims >= 1 && dims <= kMaxSpatialDims, "max_unpool_gather: dims must be 1, 2 or 3, but got ", dims);
  TORCH_CHECK(unpooled.dim() == indices.dim() && unpooled.dim() > dims, "max_unpool_gather: grad_output of shape ",
              unpooled.sizes(), " does not match indices of shape ", indices.sizes());
  TORCH_CHECK(unpooled.device() == indices.device(),
              "max_unpool_gather: grad_output and indices must be on the same "
              "device, but got ",
              unpooled.device(), " and ", indices.device());
  for (int64_t i = 0; i < unpooled.dim() - dims; ++i) {
    TORCH_CHECK(unpooled.size(i) == indices.size(i), "max_unpool_gather: grad_output of shape ", unpooled.sizes(),
                " does not match indices of shape ", indices.sizes());
  }
  return unpooled.sizes().slice(unpooled.dim() - dims);
}

void throw_bad_unpool_index(int64_t bad_index, at::IntArrayRef output_spatial) {
  TORCH_CHECK(false, "max_unpool: indices hold an invalid index ", bad_index, ": each must lie in [0, ",
              c10::multiply_integers(output_spatial), ") for output_size=", list_str(output_spatial));
}

}  // namespace pooling_ext
