import os

import pytest
import torch

import pooling_ext  # noqa: F401  (registers the ops)
from torch.utils._python_dispatch import TorchDispatchMode

CUDA = torch.cuda.is_available()
DEVICES = ["cpu"] + (["cuda"] if CUDA else [])

requires_cuda = pytest.mark.skipif(not CUDA, reason="needs a CUDA device")


def pytest_collection_modifyitems(config, items):
    # Tests named *_cuda* need a GPU; everywhere else they skip cleanly.
    for item in items:
        if "cuda" in item.keywords and not CUDA:
            item.add_marker(pytest.mark.skip(reason="needs a CUDA device"))


@pytest.fixture(params=DEVICES)
def device(request):
    return request.param


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def assert_same(ours, ref, exact=True, rtol=None, atol=None):
    """Values equal (NaN where torch has NaN), same shape, dtype and strides
    layout class."""
    assert ours.shape == ref.shape, (ours.shape, ref.shape)
    assert ours.dtype == ref.dtype, (ours.dtype, ref.dtype)
    if exact:
        torch.testing.assert_close(ours, ref, rtol=0, atol=0, equal_nan=True)
    else:
        torch.testing.assert_close(ours, ref, rtol=rtol, atol=atol, equal_nan=True)


def same_layout(a, b):
    """Same memory-format class (strides may differ where sizes are 1)."""
    formats = [torch.contiguous_format]
    if a.dim() == 4:
        formats.append(torch.channels_last)
    if a.dim() == 5:
        formats.append(torch.channels_last_3d)
    return all(a.is_contiguous(memory_format=f) == b.is_contiguous(memory_format=f) for f in formats)


def make_input(shape, dtype=torch.float32, device="cpu", ties=False, nans=False):
    if dtype.is_floating_point:
        if ties:  # few distinct values: many ties
            x = torch.randint(-3, 3, shape, device=device).to(dtype)
        else:
            x = torch.randn(shape, device=device, dtype=torch.float64).to(dtype)
        if nans and x.numel():
            mask = torch.rand(shape, device=device) < 0.1
            x = x.masked_fill(mask, float("nan"))
        return x
    info = torch.iinfo(dtype)
    low, high = max(info.min, -100), min(info.max, 100)
    return torch.randint(low, high, shape, device=device, dtype=dtype)


class NoTorchPooling(TorchDispatchMode):
    """Fails on any aten op with "pool" in its name."""

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = func.name()
        if name.startswith("aten::") and "pool" in name:
            raise AssertionError(f"torch pooling op called: {name}")
        return func(*args, **(kwargs or {}))


def assert_raises_like_torch(call, argument):
    """call(torch.nn.functional) and call(pooling_ext.functional) raise the
    same exception type, ours with a message naming `argument`."""
    import torch.nn.functional as TF
    import pooling_ext.functional as PF
    with pytest.raises(Exception) as theirs:
        call(TF)
    with pytest.raises(Exception) as ours:
        call(PF)
    assert type(ours.value) is type(theirs.value), (ours.value, theirs.value)
    assert argument in str(ours.value), str(ours.value)


def assert_bitwise_same_across_thread_counts(run, thread_counts=(1, 2, 2)):
    """Calls run() (a list of tensors) at each thread count (a repeat: across runs too) and
    asserts every result bitwise equal to the first call's; restores the thread count."""
    results, previous = [], torch.get_num_threads()
    try:
        for threads in thread_counts:
            torch.set_num_threads(threads)
            results.append(run())
    finally:
        torch.set_num_threads(previous)
    for tensors in results[1:]:
        assert len(tensors) == len(results[0])
        for a, b in zip(tensors, results[0]):
            assert torch.equal(a, b)

