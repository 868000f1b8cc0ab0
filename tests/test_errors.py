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
    # Window arguments are C ints in torch: larger ones are refused, naming the argument.
    ("kernel past int32", "kernel_size", lambda F: F.max_pool2d(X2, 2**31)),
    ("stride past int32", "stride", lambda F: F.avg_pool2d(X2, 2, 2**40)),
    ("dilation past int32", "dilation", lambda F: F.max_pool3d(X2[None], 2, 1, 0, 2**62)),
    # adaptive 2d/3d with a sequence output_size: torch's ValueError before any other check.
    ("adaptive avg 2d, 1-d input", "Input dimension", lambda F: F.adaptive_avg_pool2d(torch.randn(8), (2, 2))),
    ("adaptive avg 2d, None entries", "Input dimension",
     lambda F: F.adaptive_avg_pool2d(torch.randn(8), (None, None))),
    ("adaptive avg 2d, 2-d input", "Input dimension", lambda F: F.adaptive_avg_pool2d(torch.randn(4, 8), [2, 2])),
    ("adaptive avg 3d, 3-d input", "Input dimension",
     lambda F: F.adaptive_avg_pool3d(torch.randn(2, 4, 8), (2, 2, 2))),
    ("adaptive max 2d, 1-d input", "Input dimension", lambda F: F.adaptive_max_pool2d(torch.randn(8), (2, 2))),
    ("adaptive max 3d, None entries", "Input dimension",
     lambda F: F.adaptive_max_pool3d(torch.randn(4, 8), (None, 2, None))),
    ("adaptive max 3d, indices", "Input dimension",
     lambda F: F.adaptive_max_pool3d(torch.randn(4, 8), (2, 2, 2), return_indices=True)),
    # ... and with an int output_size, torch's RuntimeError naming the input.
    ("adaptive avg 2d int, 1-d input", "input", lambda F: F.adaptive_avg_pool2d(torch.randn(8), 2)),
    ("adaptive max 3d int, 2-d input", "input", lambda F: F.adaptive_max_pool3d(torch.randn(4, 8), 2)),
    ("adaptive avg 1d sequence, 1-d input", "input", lambda F: F.adaptive_avg_pool1d(torch.randn(8), (2,))),
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


def test_saved_offsets_must_fit_the_input_size():
    """The backward, gather and indices ops check a saved window offset
    against input_size (a mismatch would index outside the input)."""
    ops = torch.ops.pooling_ext
    x = torch.randn(1, 2, 9, 9)
    out, offset = ops.max_pool_forward(x, [3, 3], [2, 2], [1, 1], [1, 1], False)
    for wrong in ([1, 2, 40, 9], [1, 2, 3, 9]):
        with pytest.raises(RuntimeError, match="input_size"):
            ops.max_pool_backward(torch.ones_like(out), offset, wrong, [3, 3], [2, 2], [1, 1], [1, 1])
        with pytest.raises(RuntimeError, match="input_size"):
            ops.max_pool_indices(offset, wrong, [3, 3], [2, 2], [1, 1], [1, 1])
    # With or without ceil_mode, the sizes the windows give are accepted.
    _, ceil_offset = ops.max_pool_forward(torch.randn(1, 2, 10, 10), [3, 3], [2, 2], [1, 1], [1, 1], True)
    assert ops.max_pool_indices(ceil_offset, [1, 2, 10, 10], [3, 3], [2, 2], [1, 1], [1, 1]).shape == (1, 2, 6, 6)
