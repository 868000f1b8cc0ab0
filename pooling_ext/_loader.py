"""Loads the compiled extension, refusing a torch it was not built for."""
import torch

try:
    from . import _build_info
except ImportError as error:  # pragma: no cover - only without a build
    raise ImportError(
        "pooling_ext's C++ extension is not built; install it with "
        "`pip install --no-build-isolation .` from the source tree"
    ) from error

if torch.__version__ != _build_info.TORCH_VERSION:
    raise ImportError(
        f"pooling_ext was built against torch {_build_info.TORCH_VERSION} but torch {torch.__version__} "
        "is imported; rebuild it for this torch with `pip install --no-build-isolation --force-reinstall .`"
    )

from . import _C  # noqa: E402  (importing runs the op registrations)

ops = torch.ops.pooling_ext
