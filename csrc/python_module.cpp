// The Python module pooling_ext._C: importing it runs the op library's static
// registrations (library.cpp); it also tells pooling_ext.info() what this
// binary holds. (pybind11 alone: the module passes no tensors.)
#include <pybind11/pybind11.h>

#include "build_info.h"

PYBIND11_MODULE(_C, m) {
  m.def("compiled_with_cuda", &pooling_ext::compiled_with_cuda, "Whether the CUDA kernels were compiled in");
  m.def("cpu_capability", &pooling_ext::cpu_capability, "CPU instruction set detected at run time");
  m.def("built_torch_version", &pooling_ext::built_torch_version, "torch version the binary was built against");
}
