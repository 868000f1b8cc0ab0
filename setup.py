"""Build of pooling_ext's C++/CUDA extension.

Install with `pip install --no-build-isolation .` (build isolation would pull a
second torch into the build). CUDA kernels are compiled whenever nvcc and a
CUDA build of torch are present, GPU or not. Environment:
  POOLING_EXT_CUDA=1 / 0     force / skip the CUDA kernels (skip: quick local iteration only)
  TORCH_CUDA_ARCH_LIST       GPU archs (default: the visible GPUs, else "8.0;9.0")
  MAX_JOBS                   parallel compile jobs
  POOLING_EXT_SANITIZE=DIR   a CPU-only build with AddressSanitizer and UBSan, its build
                             info written to DIR/pooling_ext (tools/sanitize.sh; not for use)
The test-only emulation of the CUDA kernels is another extension:
tests/emulation/setup.py.
"""
import glob
import os
import shutil
import sys

from setuptools import find_packages, setup



def locate_cuda_toolkit():
    """torch guesses the toolkit from the nvcc on PATH, which may be a wrapper
    script outside it (here /usr/local/bin/nvcc): point CUDA_HOME at a folder
    that holds both nvcc and the CUDA headers before torch looks."""
    if os.environ.get("CUDA_HOME") or os.environ.get("CUDA_PATH"):
        return
    candidates = ["/usr/local/cuda"] + sorted(glob.glob("/usr/local/cuda-*"), reverse=True)
    nvcc = shutil.which("nvcc")
    if nvcc:
        candidates.insert(0, os.path.dirname(os.path.dirname(os.path.realpath(nvcc))))
    for root in candidates:
        if os.path.isfile(os.path.join(root, "bin", "nvcc")) and os.path.isfile(
                os.path.join(root, "include", "cuda_runtime.h")):
            os.environ["CUDA_HOME"] = root
            return


locate_cuda_toolkit()

import torch  # noqa: E402
from torch.utils import cpp_extension  # noqa: E402

ROOT = os.path.dirname(os.path.abspath(__file__))
DEFAULT_CUDA_ARCHS = "8.0;9.0"


SANITIZE_DIR = os.environ.get("POOLING_EXT_SANITIZE")


def want_cuda():
    if SANITIZE_DIR:
        return False
    forced = os.environ.get("POOLING_EXT_CUDA")
    available = torch.version.cuda is not None and cpp_extension.CUDA_HOME is not None
    if forced == "0":
        return False
    if forced == "1":
        if not available:
            sys.exit("POOLING_EXT_CUDA=1 but no CUDA toolkit (nvcc) or no CUDA build of torch was found")
        return True
    return available


def pip_cuda_include_dirs():
    """Headers of the CUDA math libraries (cusparse.h, cublas_v2.h, ...) that torch's
    CUDA headers include: pip installs them in the nvidia wheels, not the toolkit."""
    dirs = []
    for entry in sys.path:
        base = os.path.join(entry, "nvidia")
        if os.path.isdir(base):
            dirs += sorted(glob.glob(os.path.join(base, "cu*", "include")))
            dirs += sorted(glob.glob(os.path.join(base, "*", "include")))
    return [d for d in dict.fromkeys(dirs) if os.path.isdir(d)]


def write_build_info(with_cuda):
    package = os.path.join(SANITIZE_DIR or ROOT, "pooling_ext")
    os.makedirs(package, exist_ok=True)
    with open(os.path.join(package, "_build_info.py"), "w") as f:
        f.write("# Written by setup.py: what this build of the extension holds.\n")
        f.write(f"TORCH_VERSION = {torch.__version__!r}\n")
        f.write(f"WITH_CUDA = {with_cuda!r}\n")
        f.write(f"CUDA_ARCH_LIST = {os.environ.get('TORCH_CUDA_ARCH_LIST', '') if with_cuda else ''!r}\n")


def extension():
    with_cuda = want_cuda()
    # Every family's C++ sources (csrc/<family>/..., csrc/<family>/cpu/...); CUDA
    # kernels in csrc/<family>/cuda/*.cu.
    sources = sorted(glob.glob("csrc/**/*.cpp", recursive=True))
    defines = [("POOLING_EXT_TORCH_VERSION", f'"{torch.__version__}"')]
    # No errno from math functions, and no floating-point traps assumed: lets
    # the compiler vectorise loops with selects and library math. IEEE
    # results (NaN, inf, signed zero) are unchanged.
    cxx_flags = ["-O3", "-g0", "-fopenmp", "-fno-math-errno", "-fno-trapping-math", "-Wno-psabi"]
    link_flags = ["-fopenmp"]
    if SANITIZE_DIR:
        # Every undefined behaviour stops the process. -O0 -g0 and no ISA
        # clones (one baseline copy of each loop) keep the build short: a
        # third of -O1 -g's time, the checks the same (their reports carry
        # source lines without debug info).
        # (-fno-wrapv: Python's flags make signed overflow wrap, which would
        # hide it from UBSan; float-cast-overflow is not part of "undefined".)
        sanitizers = ["-fsanitize=address,undefined,float-cast-overflow", "-fno-sanitize-recover=all",
                      "-fno-omit-frame-pointer"]
        cxx_flags = ["-O0", "-g0", "-fno-wrapv", "-fopenmp", "-Wno-psabi"] + sanitizers
        link_flags += sanitizers
        defines.append(("POOLING_EXT_NO_ISA_CLONES", None))
    if with_cuda:
        sources += sorted(glob.glob("csrc/**/*.cu", recursive=True))
        defines.append(("POOLING_EXT_WITH_CUDA", None))
        if not os.environ.get("TORCH_CUDA_ARCH_LIST") and not torch.cuda.is_available():
            os.environ["TORCH_CUDA_ARCH_LIST"] = DEFAULT_CUDA_ARCHS
    write_build_info(with_cuda)
    common = dict(
        name="pooling_ext._C",
        sources=sources,
        define_macros=defines,
        # Headers too: a changed header must trigger a rebuild.
        depends=sorted(glob.glob("csrc/**/*.h", recursive=True) + glob.glob("csrc/**/*.cuh", recursive=True)),
        extra_link_args=link_flags,
    )
    if with_cuda:
        return cpp_extension.CUDAExtension(
            include_dirs=pip_cuda_include_dirs(),
            extra_compile_args={"cxx": cxx_flags, "nvcc": ["-O3", "--expt-relaxed-constexpr", "-lineinfo"]},
            **common,
        )
    return cpp_extension.CppExtension(extra_compile_args={"cxx": cxx_flags}, **common)


setup(
    name="pooling_ext",
    version="0.1.0",
    description="Every PyTorch pooling layer as CPU and CUDA ops: drop-in, deterministic, lean on memory",
    packages=find_packages(include=["pooling_ext", "pooling_ext.*"]),
    ext_modules=[extension()],
    cmdclass={"build_ext": cpp_extension.BuildExtension},
    python_requires=">=3.10",
    install_requires=["torch>=2.4"],
)
