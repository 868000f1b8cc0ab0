"""Every invalid argument raises the exception type torch raises for the same
call, with a message naming the argument; never a crash."""
import pytest
import torch
import torch.nn.functional as TF

from conftest import assert_raises_like_torch
import pooling_ext.functional as PF

X2 = torch.randn(1, 1, 5, 5)
BAD_CALLS = [
    # (name, argument the message must name, call taking the functional module)
    ("kernel zero", "kernel_size", lambda F: F.max_pool2d(X2, 0)),
    ("kernel negative", "kernel_size", lambda F: F.max_pool2d(X2, -1)),
    ("stride zero", "stride", lambda F: F.max_pool2d(X2, 2, 0)),
    ("stride negative", "stride", lambda F: F.max_pool2d(X2, 2, -1)),
    ("padding negative", "padding", lambda F: F.max_pool2d(X2, 2, padding=-1)),
    ("padding over half kernel", "padding", lambda F: F.max_pool2d(X2, 2, padding=2)),
    ("padding over half kernel, dilated", "padding", lambda F: F.max_pool2d(X2, 3, padding=2, dilation=2)),
    ("dilation zero", "dilation", lambda F: F.max_pool2d(X2, 2, dilation=0)),
    ("kernel tuple length", "kernel_size", lambda F: F.max_pool2d(X2, (2, 2, 2))),
    ("padding tuple length", "padding", lambda F: F.max_pool2d(X2, 2, padding=(1, 1, 1))),
    ("kernel float", "kernel_size", lambda F: F.max_pool2d(X2, 2.5)),
    ("rank too low", "input", lambda F: F.max_pool2d(X2[0, 0], 2)),
    ("rank too high", "input", lambda F: F.max_pool2d(X2[None], 2)),
    ("zero channels", "input", lambda F: F.max_pool2d(torch.randn(1, 0, 5, 5), 2)),
    ("zero height", "input", lambda F: F.max_pool2d(torch.randn(1, 3, 0, 5), 2)),
    ("output too small", "output size", lambda F: F.max_pool2d(X2, 6)),
    ("output too small dilated", "output size", lambda F: F.max_pool2d(X2, 3, dilation=3)),
    ("1d stride zero", "stride", lambda F: F.max_pool1d(X2[0], 2, 0)),
    ("1d padding", "padding", lambda F: F.max_pool1d(X2[0], 2, padding=2)),
    ("1d rank", "input", lambda F: F.max_pool1d(torch.randn(4), 2)),
    ("1d output too small", "output size", lambda F: F.max_pool1d(X2[0], 6)),
    ("3d stride zero", "stride", lambda F: F.max_pool3d(X2[None], 2, 0)),
    ("3d kernel", "kernel_size", lambda F: F.max_pool3d(X2[None], (1, 2))),
    ("3d rank", "input", lambda F: F.max_pool3d(X2[0], 2)),
]


@pytest.mark.parametrize("name,argument,call", BAD_CALLS, ids=[c[0] for c in BAD_CALLS])
def test_same_exception_type_as_torch(name, argument, call):
    assert_raises_like_torch(call, argument)


def test_mismatched_devices_rejected():
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA device")
    out, idx = TF.max_pool2d(torch.randn(1, 1, 4, 4), 2, return_indices=True)
    with pytest.raises(RuntimeError):
        TF.max_unpool2d(out.cuda(), idx, 2)
    with pytest.raises(RuntimeError, match="device"):
        PF.max_unpool2d(out.cuda(), idx, 2)
