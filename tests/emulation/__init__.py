"""Loads the test extension pooling_ext_emulation (see README.md): the emulated
ops then live in torch.ops.pooling_ext_emulation_int32 / _int64."""
import importlib
import os
import sys

import torch

import pooling_ext  # noqa: F401  (the emulated ops take the product's schemas)

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)
try:
    module = importlib.import_module("pooling_ext_emulation")
except ImportError as error:  # pragma: no cover - only when it was not built
    raise ImportError("the test extension pooling_ext_emulation is not built: run `bash tools/dev.sh test`, "
                      "or `python tests/emulation/setup.py build_ext --inplace` from the source tree") from error

# The 32-bit index path (what the GPU runs below 2^31 elements) and the
# 64-bit one (above), both emulated on the CPU.
EMULATIONS = {"int32": torch.ops.pooling_ext_emulation_int32, "int64": torch.ops.pooling_ext_emulation_int64}
