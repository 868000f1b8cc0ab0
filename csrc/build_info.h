// What this binary holds, for pooling_ext.info() and C++ users (defined in ops.cpp).
#pragma once

namespace pooling_ext {

bool compiled_with_cuda();
const char* cpu_capability();  // the ISA clone of the CPU loops that runs here
const char* built_torch_version();

}  // namespace pooling_ext
