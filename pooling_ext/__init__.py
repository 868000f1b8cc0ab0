"""pooling_ext: every PyTorch pooling layer as CPU and CUDA ops.

`pooling_ext.functional` and `pooling_ext.nn` replace torch.nn.functional's and
torch.nn's pooling one for one; `replace_pooling(model)` and `patch()` make an
existing model use them.
"""
import torch

from ._loader import _build_info, _C
from . import functional, nn
from ._drop_in import patch, replace_pooling, unpatch

__version__ = "0.1.0"

__all__ = ["functional", "nn", "replace_pooling", "patch", "unpatch", "info"]


def info():
    """What this binary holds and what it runs on."""
    return {
        "version": __version__,
        "built_against_torch": _C.built_torch_version(),
        "running_torch": torch.__version__,
        "cuda_kernels_compiled": bool(_C.compiled_with_cuda()),
        "cuda_arch_list": _build_info.CUDA_ARCH_LIST,
        "cuda_device_available": torch.cuda.is_available(),
        "cpu_capability": _C.cpu_capability(),
        "cpu_threads": torch.get_num_threads(),
    }
