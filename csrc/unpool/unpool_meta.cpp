// Meta kernels of max unpooling: the output's shape, dtype and layout, after
// the checks the real kernels make first.
#include "unpool.h"
#include "unpool_plan.h"

namespace pooling_ext {
namespace meta {

at::Tensor max_unpool(const at::Tensor& self, const at::Tensor& indices, c10::SymIntArrayRef output_size) {
  check_unpool_inputs("max_unpool", self, indices);
  check_unpool_dtype("max_unpool", self);
  const int64_t dims = static_cast<int64_t>(output_size.size());
  TORCH_CHECK(dims >= 1 && dims <= kMaxSpatialDims && self.dim() > dims, "max_unpool: output_size ", output_size,
              " does not fit input of shape ", self.sym_sizes());
  std::vector<c10::SymInt> out(self.sym_sizes().begin(), self.sym_sizes().end());
  for (int64_t d = 0; d < dims; ++d) out[self.dim() - dims + d] = output_size[d];
  check_numel_fits("max_unpool", out, "output_size");
  return at::empty_symint(out, self.options().memory_format(unpool_memory_format(indices, dims)));
}

at::Tensor max_unpool_gather(const at::Tensor& grad_output, const at::Tensor& indices, int64_t dims) {
  check_unpool_dtype("max_unpool_gather", grad_output);
  return at::empty_symint(indices.sym_sizes(),
                          grad_output.options().memory_format(unpool_memory_format(indices, dims)));
}

}  // namespace meta
}  // namespace pooling_ext
