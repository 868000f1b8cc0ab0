"""Build of pooling_ext_emulation, the test extension that runs the CUDA
kernels' launch code on the CPU (tests/emulation/README.md). Not part of the
package users install: `tools/dev.sh test` and CI build it in place with

    python tests/emulation/setup.py build_ext --inplace

(run from this folder, or pass --build-lib tests/emulation)."""
import glob
import os

from setuptools import setup
from torch.utils import cpp_extension

HERE = os.path.dirname(os.path.abspath(__file__))
CSRC = os.path.join(os.path.dirname(os.path.dirname(HERE)), "csrc")

# The emulator and the emulated families, plus the product's host-only
# preparation code the launch code calls (argument checks, shape rules, plans).
SOURCES = sorted(glob.glob(os.path.join(HERE, "*.cpp"))) + [
    os.path.join(CSRC, path)
    for path in (
        "common/shape_rules.cpp",
        "max_pool/max_pool_plan.cpp",
        "fractional/fractional_plan.cpp",
        "unpool/unpool_plan.cpp",
        "window_sum/window_sum_plan.cpp",
    )
]

setup(
    name="pooling_ext_emulation",
    ext_modules=[
        cpp_extension.CppExtension(
            name="pooling_ext_emulation",
            # (absolute paths: the objects of ../../csrc sources then stay in the build folder)
            sources=SOURCES,
            depends=sorted(glob.glob(os.path.join(CSRC, "**", "*.h"), recursive=True) +
                           glob.glob(os.path.join(HERE, "*.h"))),
            extra_compile_args={"cxx": ["-O2", "-g0", "-Wno-psabi"]},
        )
    ],
    cmdclass={"build_ext": cpp_extension.BuildExtension},
)
