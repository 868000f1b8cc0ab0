// Emulated max pooling (fixed and adaptive windows): max_pool_launch.h with the emulator.
#include "../../csrc/max_pool/max_pool_launch.h"
#include "block_emulator.h"
#include "emulated_ops.h"

namespace pooling_ext {
namespace emulation {

template <bool kInt32Allowed>
void register_max_pool(torch::Library& library) {
  using L = EmulatorLauncher<kInt32Allowed>;
  library.impl("max_pool_forward", c10::DispatchKey::CPU, &grid::max_pool_forward<L>);
  library.impl("max_pool_values", c10::DispatchKey::CPU, &grid::max_pool_values<L>);
  library.impl("max_pool_backward", c10::DispatchKey::CPU, &grid::max_pool_backward<L>);
  library.impl("max_pool_gather", c10::DispatchKey::CPU, &grid::max_pool_gather<L>);
  library.impl("max_pool_indices", c10::DispatchKey::CPU, &grid::max_pool_indices<L>);
  library.impl("adaptive_max_pool_forward", c10::DispatchKey::CPU, &grid::adaptive_max_pool_forward<L>);
  library.impl("adaptive_max_pool_values", c10::DispatchKey::CPU, &grid::adaptive_max_pool_values<L>);
  library.impl("adaptive_max_pool_backward", c10::DispatchKey::CPU, &grid::adaptive_max_pool_backward<L>);
  library.impl("adaptive_max_pool_gather", c10::DispatchKey::CPU, &grid::adaptive_max_pool_gather<L>);
  library.impl("adaptive_max_pool_indices", c10::DispatchKey::CPU, &grid::adaptive_max_pool_indices<L>);
}

template void register_max_pool<true>(torch::Library&);
template void register_max_pool<false>(torch::Library&);

}  // namespace emulation
}  // namespace pooling_ext
