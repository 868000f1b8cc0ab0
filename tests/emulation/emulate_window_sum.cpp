// Emulated average, LP and GeM pooling: window_sum_launch.h with the emulator.
#include "../../csrc/window_sum/window_sum_launch.h"
#include "block_emulator.h"
#include "emulated_ops.h"

namespace pooling_ext {
namespace emulation {

template <bool kInt32Allowed>
void register_window_sum(torch::Library& library) {
  using L = EmulatorLauncher<kInt32Allowed>;
  library.impl("avg_pool_forward", c10::DispatchKey::CPU, &grid::avg_pool_forward<L>);
  library.impl("avg_pool_backward", c10::DispatchKey::CPU, &grid::avg_pool_backward<L>);
  library.impl("adaptive_avg_pool_forward", c10::DispatchKey::CPU, &grid::adaptive_avg_pool_forward<L>);
  library.impl("adaptive_avg_pool_backward", c10::DispatchKey::CPU, &grid::adaptive_avg_pool_backward<L>);
  library.impl("lp_pool_forward", c10::DispatchKey::CPU, &grid::lp_pool_forward<L>);
  library.impl("lp_pool_backward", c10::DispatchKey::CPU, &grid::lp_pool_backward<L>);
  library.impl("gem_forward", c10::DispatchKey::CPU, &grid::gem_forward<L>);
  library.impl("gem_backward", c10::DispatchKey::CPU, &grid::gem_backward<L>);
}

template void register_window_sum<true>(torch::Library&);
template void register_window_sum<false>(torch::Library&);

}  // namespace emulation
}  // namespace pooling_ext
