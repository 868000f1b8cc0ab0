"""max_unpool1d/2d/3d against torch: values, output_size, repeated indices,
layouts, gradients and errors."""
import itertools

import pytest
import torch
import torch.nn.functional as TF

import pooling_ext.functional as PF
from conftest import assert_same, make_input

POOL = {1: TF.max_pool1d, 2: TF.max_pool2d, 3: TF.max_pool3d}
UNPOOL = {1: (PF.max_unpool1d, TF.max_unpool1d), 2: (PF.max_unpool2d, TF.max_unpool2d),
          3: (PF.max_unpool3d, TF.max_unpool3d)}
CASES = [dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1), dict(kernel_size=3, stride=1, padding=1),
         dict(kernel_size=2, stride=3)]


def pooled(dims, shape, kwargs, device, dtype=torch.float32, memory_format=None):
    x = make_input(shape, dtype=dtype, device=device)
    if memory_format is not None:
        x = x.to(memory_format=memory_format)
    return POOL[dims](x, return_indices=True, **kwargs)


@pytest.mark.parametrize("dims", [1, 2, 3])
@pytest.mark.parametrize("case", range(len(CASES)))
def test_matches_torch(dims, case, device):
    kwargs = CASES[case]
    ours_fn, torch_fn = UNPOOL[dims]
    unpool_kwargs = {k: v for k, v in kwargs.items() if k in ("kernel_size", "stride", "padding")}
    for shape in [(2, 3) + (8,) * dims, (3,) + (6,) * dims]:
        out, idx = pooled(dims, shape, kwargs, device)
        size = shape[-dims:]
        if kwargs == dict(kernel_size=2):  # the default size holds every index
            assert_same(ours_fn(out, idx, **unpool_kwargs), torch_fn(out, idx, **unpool_kwargs))
        # Explicit output_size: the input's own size, with (N, C) when batched.
        ref = torch_fn(out, idx, output_size=size, **unpool_kwargs)
        assert_same(ours_fn(out, idx, output_size=size, **unpool_kwargs), ref)
        if len(shape) == dims + 2:
            assert_same(ours_fn(out, idx, output_size=shape, **unpool_kwargs),
                        torch_fn(out, idx, output_size=shape, **unpool_kwargs))
        # Gradient: each input element takes the gradient at its index.
        a, b = out.clone().requires_grad_(), out.clone().requires_grad_()
        g = torch.randn(ref.shape, device=device)
        ours_fn(a, idx, output_size=size, **unpool_kwargs).backward(g)
        torch_fn(b, idx, output_size=size, **unpool_kwargs).backward(g)
        assert_same(a.grad, b.grad)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
def test_dtypes(dtype, device):
    out, idx = pooled(2, (2, 3, 8, 8), dict(kernel_size=2), device, dtype)
    assert_same(PF.max_unpool2d(out, idx, 2), TF.max_unpool2d(out, idx, 2))


def test_integer_input_rejected_like_torch():
    out = torch.zeros(1, 1, 2, 2, dtype=torch.int64)
    idx = torch.zeros(1, 1, 2, 2, dtype=torch.int64)
    with pytest.raises(NotImplementedError):
        TF.max_unpool2d(out, idx, 2)
    with pytest.raises(NotImplementedError):
        PF.max_unpool2d(out, idx, 2)


@pytest.mark.parametrize("dims,fmt", [(2, torch.channels_last), (3, torch.channels_last_3d)])
def test_channels_last(dims, fmt, device):
    """Output layout follows torch's CPU rule on both devices (channels-last
    kept for 2d only); torch's CUDA kernel returns contiguous output instead."""
    out, idx = pooled(dims, (2, 5) + (6,) * dims, dict(kernel_size=2), device, memory_format=fmt)
    ref = UNPOOL[dims][1](out, idx, 2)
    mine = UNPOOL[dims][0](out, idx, 2)
    assert_same(mine, ref)
    ref_cpu = UNPOOL[dims][1](out.cpu(), idx.cpu(), 2)
    assert mine.stride() == ref_cpu.stride()


def test_repeated_indices_last_wins(device):
    values = torch.tensor([[[1.0, 2.0, 3.0, 4.0]]], device=device)
    indices = torch.tensor([[[1, 1, 3, 1]]], device=device)
    mine = PF.max_unpool1d(values, indices, 2)
    assert mine.tolist() == [[[0.0, 4.0, 0.0, 3.0, 0.0, 0.0, 0.0, 0.0]]]
    if device == "cpu":
        # torch's CPU rule holds on one thread; with more, torch 2.14.1 splits
        # a plane between threads and which duplicate wins varies.
        previous = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            assert_same(mine, TF.max_unpool1d(values, indices, 2))
        finally:
            torch.set_num_threads(previous)
    values.requires_grad_()
    PF.max_unpool1d(values, indices, 2).backward(torch.arange(8.0, device=device).view(1, 1, 8))
    assert values.grad.tolist() == [[[1.0, 1.0, 3.0, 1.0]]]


def test_repeated_and_bad_indices_across_index_groups():
    """Planes of 37 inputs (two groups of 16 indices, which the CPU scatter
    and gather check together, and a tail): repeats within and across groups leave the
    last in input order, gradients gather by index, and an out-of-range index
    in a full group or in the tail raises, at every thread count."""
    torch.manual_seed(5)
    values = torch.randn(3, 2, 37)
    indices = torch.randint(0, 20, (3, 2, 37))  # 37 inputs into 74 outputs, many repeats
    expected = torch.zeros(3, 2, 74)
    for n, c, i in itertools.product(range(3), range(2), range(37)):  # input order: the last one wins
        expected[n, c, indices[n, c, i]] = values[n, c, i]
    previous = torch.get_num_threads()
    try:
        for threads in (1, 2, 3):
            torch.set_num_threads(threads)
            for dtype in (torch.float32, torch.bfloat16):
                assert_same(PF.max_unpool1d(values.to(dtype), indices, 2), expected.to(dtype))
            # the backward gathers in the same groups; threads split planes anywhere
            source = values.clone().requires_grad_()
            out = PF.max_unpool1d(source, indices, 2)
            grad = torch.randn_like(out)
            assert_same(torch.autograd.grad(out, source, grad)[0], grad.gather(-1, indices))
            for position, bad in ((5, 74), (20, -1), (36, 1000)):  # first group, second, the tail
                broken = indices.clone()
                broken[1, 1, position] = bad
                with pytest.raises(RuntimeError, match="indices"):
                    PF.max_unpool1d(values, broken, 2)
    finally:
        torch.set_num_threads(previous)


def test_empty_batch(device):
    out = torch.randn(0, 3, 2, 2, device=device)
    idx = torch.zeros(0, 3, 2, 2, dtype=torch.long, device=device)
    assert PF.max_unpool2d(out, idx, 2).shape == TF.max_unpool2d(out, idx, 2).shape


def test_errors_match_torch_types(device):
    """torch's exception type for each bad call, taken on the CPU (torch's CUDA
    unpool turns a bad index into a device-side assert that poisons the
    context); ours must raise the same type on every device."""
    out_cpu, idx_cpu = pooled(2, (1, 1, 4, 4), dict(kernel_size=2), "cpu")
    out, idx = out_cpu.to(device), idx_cpu.to(device)
    bad_calls = {
        "index out of range": lambda f, o, i: f(o, i + 100, 2),
        "negative index": lambda f, o, i: f(o, i - 100, 2),
        "int32 indices": lambda f, o, i: f(o, i.int(), 2),
        "indices shape": lambda f, o, i: f(o, i[..., :1], 2),
        "output_size length": lambda f, o, i: f(o, i, 2, output_size=(1, 4, 4)),
        "output_size range": lambda f, o, i: f(o, i, 2, output_size=(9, 9)),
        "rank": lambda f, o, i: f(o[0, 0], i[0, 0], 2),
    }
    for name, call in bad_calls.items():
        with pytest.raises(Exception) as theirs:
            call(TF.max_unpool2d, out_cpu, idx_cpu)
        with pytest.raises(type(theirs.value)):
            call(PF.max_unpool2d, out, idx)
    with pytest.raises(RuntimeError, match="indices"):
        PF.max_unpool2d(out, idx + 100, 2)
    with pytest.raises(ValueError, match="output_size"):
        PF.max_unpool2d(out, idx, 2, output_size=(9, 9))


def test_kernel_size_zero_rejected():
    """torch 2.14.1 returns an empty tensor for kernel_size=0, silently dropping
    every value; ours raises, naming the argument."""
    out, idx = pooled(2, (1, 1, 4, 4), dict(kernel_size=2), "cpu")
    with pytest.raises(RuntimeError, match="kernel_size"):
        PF.max_unpool2d(out, idx, 0)
    with pytest.raises(RuntimeError, match="stride"):
        PF.max_unpool2d(out, idx, 2, stride=-1)
