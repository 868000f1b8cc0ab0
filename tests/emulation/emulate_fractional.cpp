// Emulated fractional max pooling: fractional_launch.h with the emulator
// (window starts in float for half and bfloat16, as torch's CUDA).
#include "../../csrc/fractional/fractional_launch.h"
#include "block_emulator.h"
#include "emulated_ops.h"

namespace pooling_ext {
namespace emulation {

template <bool kInt32Allowed>
void register_fractional(torch::Library& library) {
  using L = EmulatorLauncher<kInt32Allowed>;
  library.impl("fractional_max_pool_forward", c10::DispatchKey::CPU, &grid::fractional_max_pool_forward<L>);
  library.impl("fractional_max_pool_values", c10::DispatchKey::CPU, &grid::fractional_max_pool_values<L>);
  library.impl("fractional_max_pool_backward", c10::DispatchKey::CPU, &grid::fractional_max_pool_backward<L>);
  library.impl("fractional_max_pool_gather", c10::DispatchKey::CPU, &grid::fractional_max_pool_gather<L>);
  library.impl("fractional_max_pool_indices", c10::DispatchKey::CPU, &grid::fractional_max_pool_indices<L>);
}

template void register_fractional<true>(torch::Library&);
template void register_fractional<false>(torch::Library&);

}  // namespace emulation
}  // namespace pooling_ext
