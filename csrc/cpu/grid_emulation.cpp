// CPU grid emulation of the CUDA kernels: the ops of the
// pooling_ext_grid_emulation namespace run the very code the CUDA ops run
// (max_pool_grid.h), with a launcher that calls each per-thread body for every
// global index in turn. Tests compare them with torch, so the GPU's index
// arithmetic is checked on machines without a GPU.
#include <torch/library.h>

#include "../max_pool_grid.h"

namespace pooling_ext {
namespace {

struct HostGridLauncher {
  template <class Body>
  static void launch(int64_t count, const Body& body) {
    for (int64_t i = 0; i < count; ++i) body(i);
  }
};

}  // namespace

TORCH_LIBRARY_IMPL(pooling_ext_grid_emulation, CPU, m) {
  m.impl("max_pool_forward", &grid_max_pool_forward<HostGridLauncher>);
  m.impl("max_pool_backward", &grid_max_pool_backward<HostGridLauncher>);
  m.impl("max_pool_gather", &grid_max_pool_gather<HostGridLauncher>);
  m.impl("max_pool_indices", &grid_max_pool_indices<HostGridLauncher>);
  m.impl("max_unpool", &grid_max_unpool<HostGridLauncher>);
  m.impl("max_unpool_gather", &grid_max_unpool_gather<HostGridLauncher>);
}

}  // namespace pooling_ext
