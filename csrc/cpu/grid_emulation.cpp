// CPU grid emulation of the CUDA kernels: the ops of the
// pooling_ext_grid_emulation namespace run the very code the CUDA ops run
// (max_pool_grid.h), with a launcher that calls each per-thread body for every
// global index in turn. Tests compare them with torch, so the GPU's index
// arithmetic is checked on machines without a GPU.
#include <torch/library.h>

#include "../max_pool_grid.h"
#include "../sum_pool_grid.h"

namespace pooling_ext {
namespace {

// kAllowInt32Index as on the GPU; the _int64 namespace forces the 64-bit
// index path that the GPU takes only for tensors of over 2^31 elements.
template <bool allow_int32_index>
struct HostGridLauncher {
  static constexpr bool kAllowInt32Index = allow_int32_index;

  template <class Body>
  static void launch(int64_t count, const Body& body) {
    for (int64_t i = 0; i < count; ++i) body(i);
  }
};

}  // namespace

template <class Launcher>
void register_emulation(torch::Library& m) {
  m.impl("max_pool_forward", &grid_max_pool_forward<Launcher>);
  m.impl("max_pool_backward", &grid_max_pool_backward<Launcher>);
  m.impl("max_pool_gather", &grid_max_pool_gather<Launcher>);
  m.impl("max_pool_indices", &grid_max_pool_indices<Launcher>);
  m.impl("adaptive_max_pool_forward", &grid_adaptive_max_pool_forward<Launcher>);
  m.impl("adaptive_max_pool_backward", &grid_adaptive_max_pool_backward<Launcher>);
  m.impl("adaptive_max_pool_gather", &grid_adaptive_max_pool_gather<Launcher>);
  m.impl("adaptive_max_pool_indices", &grid_adaptive_max_pool_indices<Launcher>);
  m.impl("fractional_max_pool_forward", &grid_fractional_max_pool_forward<Launcher>);
  m.impl("fractional_max_pool_backward", &grid_fractional_max_pool_backward<Launcher>);
  m.impl("fractional_max_pool_gather", &grid_fractional_max_pool_gather<Launcher>);
  m.impl("fractional_max_pool_indices", &grid_fractional_max_pool_indices<Launcher>);
  m.impl("max_unpool", &grid_max_unpool<Launcher>);
  m.impl("max_unpool_gather", &grid_max_unpool_gather<Launcher>);
  m.impl("avg_pool_forward", &grid_avg_pool_forward<Launcher>);
  m.impl("avg_pool_backward", &grid_avg_pool_backward<Launcher>);
  m.impl("adaptive_avg_pool_forward", &grid_adaptive_avg_pool_forward<Launcher>);
  m.impl("adaptive_avg_pool_backward", &grid_adaptive_avg_pool_backward<Launcher>);
  m.impl("lp_pool_forward", &grid_lp_pool_forward<Launcher>);
  m.impl("lp_pool_backward", &grid_lp_pool_backward<Launcher>);
  m.impl("gem_forward", &grid_gem_forward<Launcher>);
  m.impl("gem_backward", &grid_gem_backward<Launcher>);
}

TORCH_LIBRARY_IMPL(pooling_ext_grid_emulation, CPU, m) { register_emulation<HostGridLauncher<true>>(m); }
TORCH_LIBRARY_IMPL(pooling_ext_grid_emulation_int64, CPU, m) { register_emulation<HostGridLauncher<false>>(m); }

}  // namespace pooling_ext
