// Emulated max unpooling: unpool_launch.h with the emulator.
#include "../../csrc/unpool/unpool_launch.h"
#include "block_emulator.h"
#include "emulated_ops.h"

namespace pooling_ext {
namespace emulation {

template <bool kInt32Allowed>
void register_unpool(torch::Library& library) {
  using L = EmulatorLauncher<kInt32Allowed>;
  library.impl("max_unpool", c10::DispatchKey::CPU, &grid::max_unpool<L>);
  library.impl("max_unpool_gather", c10::DispatchKey::CPU, &grid::max_unpool_gather<L>);
}

template void register_unpool<true>(torch::Library&);
template void register_unpool<false>(torch::Library&);

}  // namespace emulation
}  // namespace pooling_ext
