// The emulated ops: each family's launch code (the code the CUDA kernels
// run) instantiated with the emulator's launchers, registered as CPU kernels
// of the pooling_ext ops' schemas in two test namespaces:
// torch.ops.pooling_ext_emulation_int32 (32-bit index arithmetic wherever the
// GPU would use it) and torch.ops.pooling_ext_emulation_int64 (64-bit forced).
#pragma once

#include <torch/library.h>

namespace pooling_ext {
namespace emulation {

// Registers one family's ops in `library`, whose namespace defines them.
template <bool kInt32Allowed>
void register_max_pool(torch::Library& library);
template <bool kInt32Allowed>
void register_fractional(torch::Library& library);
template <bool kInt32Allowed>
void register_unpool(torch::Library& library);
template <bool kInt32Allowed>
void register_window_sum(torch::Library& library);

}  // namespace emulation
}  // namespace pooling_ext
