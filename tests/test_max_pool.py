"""Max pooling forward and backward against torch over broad grids, against
an independent NumPy reference, and on dtypes, layouts, NaN, ties, errors."""
import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import pooling_ext.functional as PF
from conftest import assert_bitwise_same_across_thread_counts, assert_same, make_input, same_layout
from pool_cases import has_empty_window, torch_accepts, window_cases

FUNCS = {1: (PF.max_pool1d, TF.max_pool1d), 2: (PF.max_pool2d, TF.max_pool2d), 3: (PF.max_pool3d, TF.max_pool3d)}


def integer_grad(shape, dtype, device):
    # Small integers: sums are exact, so any accumulation order gives the same bits.
    return torch.randint(-4, 5, shape, device=device).to(dtype)


def torch_reference(torch_fn, x, kwargs):
    """torch's result; where torch has no kernel for the dtype on this device
    (integer max pooling on CUDA), its CPU result, moved over."""
    if x.is_cuda and not x.is_floating_point():
        ref, ref_idx = torch_fn(x.cpu(), return_indices=True, **kwargs)
        return ref.to(x.device), ref_idx.to(x.device)
    return torch_fn(x, return_indices=True, **kwargs)


def check_against_torch(dims, x, kwargs, check_backward=True):
    ours_fn, torch_fn = FUNCS[dims]
    out, idx = ours_fn(x, return_indices=True, **kwargs)
    ref, ref_idx = torch_reference(torch_fn, x, kwargs)
    assert same_layout(out, ref)
    if has_empty_window(idx, ref_idx, x.shape, dims):
        # Documented difference: torch returns out-of-range indices; ours -1.
        assert_same(out, ref)
        assert bool((idx == -1).any())
        valid = ref_idx == idx
        assert bool((idx[~valid] == -1).all())
        return
    assert_same(out, ref)
    assert_same(idx, ref_idx)
    if check_backward and x.is_floating_point():
        xa = x.detach().clone().requires_grad_()
        xb = x.detach().clone().requires_grad_()
        grad = integer_grad(out.shape, x.dtype, x.device)
        ours_fn(xa, **kwargs).backward(grad)
        torch_fn(xb, **kwargs).backward(grad)
        assert_same(xa.grad, xb.grad)
        assert same_layout(xa.grad, xb.grad)


@pytest.mark.parametrize("dims", [1, 2, 3])
def test_grid_matches_torch(dims, device):
    checked = 0
    for shape, kwargs in window_cases(dims, 70, seed=dims):
        x = make_input(shape, device=device)
        if not torch_accepts(FUNCS[dims][1], x, kwargs):
            with pytest.raises(RuntimeError):
                FUNCS[dims][0](x, **kwargs)
            continue
        check_against_torch(dims, x, kwargs)
        checked += 1
    assert checked > 20


@pytest.mark.parametrize("dims", [2, 3])
def test_grid_channels_last_and_views(dims, device):
    fmt = torch.channels_last if dims == 2 else torch.channels_last_3d
    for shape, kwargs in window_cases(dims, 30, seed=10 + dims):
        base = make_input(shape, device=device)
        if not torch_accepts(FUNCS[dims][1], base, kwargs):
            continue
        check_against_torch(dims, base.to(memory_format=fmt), kwargs)
        # A strided view: every other element of a wider tensor.
        wide = make_input((*shape[:-1], shape[-1] * 2), device=device)[..., ::2]
        check_against_torch(dims, wide, kwargs)
        # A permuted (non-contiguous, not channels-last) view.
        check_against_torch(dims, base.transpose(0, 1).contiguous().transpose(0, 1), kwargs)


@pytest.mark.parametrize("dims", [1, 2, 3])
def test_unbatched_and_empty_batch(dims, device):
    ours_fn, torch_fn = FUNCS[dims]
    x = make_input((3,) + (7,) * dims, device=device)
    check_against_torch(dims, x, dict(kernel_size=3, stride=2, padding=1))
    empty = make_input((0, 3) + (7,) * dims, device=device)
    out = ours_fn(empty, 3, 2, 1)
    assert out.shape == torch_fn(empty, 3, 2, 1).shape
    empty.requires_grad_()
    ours_fn(empty, 3, 2, 1).sum().backward()
    assert empty.grad.shape == empty.shape


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64, torch.uint8,
                                   torch.int8, torch.int16, torch.int32, torch.int64])
@pytest.mark.parametrize("dims", [1, 2, 3])
def test_dtypes(dims, dtype, device):
    # Integer dtypes run on CUDA too, where torch has no kernel for them.
    x = make_input((2, 3) + (9,) * dims, dtype=dtype, device=device)
    check_against_torch(dims, x, dict(kernel_size=3, stride=2, padding=1, ceil_mode=True))
    check_against_torch(dims, make_input((2, 3) + (9,) * dims, dtype=dtype, device=device, ties=dtype.is_floating_point),
                        dict(kernel_size=2, stride=1, dilation=2))


def test_integer_max_pool1d_needs_indices():
    x = torch.arange(12).view(1, 2, 6)
    with pytest.raises(NotImplementedError):
        TF.max_pool1d(x, 2)
    with pytest.raises(NotImplementedError):
        PF.max_pool1d(x, 2)
    assert_same(PF.max_pool1d(x, 2, return_indices=True)[1], TF.max_pool1d(x, 2, return_indices=True)[1])


@pytest.mark.parametrize("dims", [1, 2, 3])
def test_bool_rejected_like_torch(dims):
    x = torch.zeros((1, 1) + (4,) * dims, dtype=torch.bool)
    with pytest.raises(NotImplementedError):
        FUNCS[dims][1](x, 2, return_indices=True)
    with pytest.raises(NotImplementedError, match="Bool"):
        FUNCS[dims][0](x, 2, return_indices=True)


@pytest.mark.parametrize("dims", [1, 2, 3])
def test_nan_and_ties(dims, device):
    for dtype in (torch.float32, torch.bfloat16):
        x = make_input((2, 4) + (8,) * dims, dtype=dtype, device=device, ties=True, nans=True)
        check_against_torch(dims, x, dict(kernel_size=3, stride=1, padding=1))
        check_against_torch(dims, x, dict(kernel_size=2, stride=2))
    # All -inf windows: torch's index is the first valid tap.
    x = torch.full((1, 2) + (5,) * dims, float("-inf"), device=device)
    check_against_torch(dims, x, dict(kernel_size=3, stride=2, padding=1))


# Shapes that reach every branch of the CPU's vector loops (AVX-512 where
# the CPU has it): rows of two blocks and a tail at strides 1, 2 and 3,
# dilation, borders, windows of more than 255 taps (int32 window offsets),
# channels-last positions of 64 + 16 + a tail of channels, whole planes of 49
# and 300 elements, windows that never overlap (gradients written, not added),
# and small overlapping windows (gathered per input row).
VECTOR_LOOP_CASES = [
    (2, (2, 3, 9, 45), dict(kernel_size=3, stride=1, padding=1)),
    (2, (2, 3, 9, 70), dict(kernel_size=3, stride=2, padding=1)),
    (2, (1, 2, 12, 80), dict(kernel_size=(2, 3), stride=3, padding=1, dilation=2, ceil_mode=True)),
    (2, (1, 2, 40, 40), dict(kernel_size=(17, 16), stride=1, padding=8)),
    (1, (2, 3, 101), dict(kernel_size=5, stride=2, padding=2)),
    (3, (1, 2, 6, 7, 33), dict(kernel_size=(2, 3, 3), stride=(1, 2, 1), padding=1)),
    (2, (2, 100, 7, 7), dict(kernel_size=7)),
    (2, (2, 3, 15, 20), dict(kernel_size=(15, 20))),
    (2, (2, 100, 9, 11), dict(kernel_size=2, stride=2)),
    # small overlapping windows: the contiguous backward gathers each input row
    # (16 elements per phase per step, the two phases of stride 2 interleaved)
    (1, (2, 3, 101), dict(kernel_size=3, stride=2, padding=1)),
    (1, (2, 3, 70), dict(kernel_size=3, stride=1, padding=1)),
    (1, (1, 2, 90), dict(kernel_size=2, stride=2, dilation=3, padding=1, ceil_mode=True)),
    (2, (1, 2, 9, 37), dict(kernel_size=2, stride=(2, 1))),
    (3, (1, 2, 5, 6, 35), dict(kernel_size=(1, 2, 2), stride=(1, 1, 2), padding=(0, 1, 1))),
    # rows of one block (two rows at a time), across planes, the first rows
    # with fewer window rows than the next
    (2, (3, 5, 10, 13), dict(kernel_size=3, stride=2, padding=1)),
    (2, (2, 3, 28, 28), dict(kernel_size=4, stride=4)),
    (1, (3, 5, 15), dict(kernel_size=2, stride=2)),
]


@pytest.mark.parametrize("dims,shape,kwargs", VECTOR_LOOP_CASES)
@pytest.mark.parametrize("layout", ["contiguous", "channels_last"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_vector_loops_match_torch_bitwise(dims, shape, kwargs, layout, dtype):
    """Values, indices and gradients with torch's bits on ties, NaN and signed
    zeros; a gradient of -0 lands as torch's +0 (added to a zeroed gradient)."""
    if layout == "channels_last" and dims == 1:
        pytest.skip("no channels-last layout in 1-d")
    torch.manual_seed(len(shape) * 1000 + shape[-1])
    for values in ("ties", "nans", "signed zeros"):
        if values == "signed zeros":
            x = torch.where(torch.rand(shape) < 0.5, 0.0, -0.0).to(dtype)
        else:
            x = make_input(shape, dtype, ties=values == "ties", nans=values == "nans")
        if layout == "channels_last":
            x = x.contiguous(memory_format=torch.channels_last if dims == 2 else torch.channels_last_3d)
        check_against_torch(dims, x, kwargs)
        with torch.no_grad():  # the values-only loops
            values = FUNCS[dims][0](x, **kwargs)
        ref = FUNCS[dims][1](x, **kwargs)
        assert_same(values, ref)
        numbers = ~ref.isnan()
        assert torch.equal(values.signbit()[numbers], ref.signbit()[numbers])
        xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
        ours, theirs = FUNCS[dims][0](xa, **kwargs), FUNCS[dims][1](xb, **kwargs)
        minus_zero = torch.full_like(ours, -0.0)
        (ga,) = torch.autograd.grad(ours, xa, minus_zero)
        (gb,) = torch.autograd.grad(theirs, xb, minus_zero)
        assert torch.equal(ga.signbit(), gb.signbit())


# Channels-last windows of >= 16 taps that never overlap scatter their
# gradients (float types but bfloat16): windows starting in the padding,
# inputs no window covers (kernel < stride), dilated taps, 3-d, adaptive
# windows that divide the input, whole planes.
SCATTER_CASES = [
    ((2, 5, 13, 17), dict(kernel_size=4, stride=4, padding=2)),
    ((1, 3, 20, 22), dict(kernel_size=4, stride=5)),
    ((1, 70, 15, 15), dict(kernel_size=4, stride=7, dilation=2, padding=1)),
    ((1, 3, 6, 8, 8), dict(kernel_size=(2, 3, 3), stride=(2, 3, 3), padding=(0, 1, 1))),
    ((2, 5, 28, 28), dict(output_size=7)),
    ((1, 4, 4, 8, 8), dict(output_size=(1, 2, 2))),
    ((2, 70, 5, 5), dict(output_size=1)),
]


def x_format(dims):
    return torch.channels_last if dims == 2 else torch.channels_last_3d


@pytest.mark.parametrize("shape,kwargs", SCATTER_CASES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16])
def test_channels_last_scatter_matches_torch_bitwise(shape, kwargs, dtype):
    """Values and gradients with torch's bits: random gradients with -0
    (which lands as +0), zeros where no window's argmax lies."""
    dims = len(shape) - 2
    torch.manual_seed(shape[-1] * 10 + dims)
    if "output_size" in kwargs:
        ours_fn, torch_fn = {2: (PF.adaptive_max_pool2d, TF.adaptive_max_pool2d),
                             3: (PF.adaptive_max_pool3d, TF.adaptive_max_pool3d)}[dims]
    else:
        ours_fn, torch_fn = FUNCS[dims]
    x = make_input(shape, dtype, ties=True).contiguous(memory_format=x_format(dims))
    xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
    ours, theirs = ours_fn(xa, **kwargs), torch_fn(xb, **kwargs)
    assert_same(ours, theirs)
    grad = torch.randn(ours.shape, dtype=dtype)
    grad[torch.rand(ours.shape) < 0.2] = -0.0
    (ga,) = torch.autograd.grad(ours, xa, grad)
    (gb,) = torch.autograd.grad(theirs, xb, grad)
    # (torch's CPU adaptive_max_pool3d gradient comes back contiguous; ours keeps the input's layout)
    assert same_layout(ga, gb) or (dims == 3 and "output_size" in kwargs)
    assert ga.is_contiguous(memory_format=x_format(dims)) or ga.numel() == 0
    assert torch.equal(ga, gb) and torch.equal(ga.signbit(), gb.signbit())


# Channels-last windows that tile the input (each element in one window;
# float32 and bfloat16 on AVX-512 CPUs) write each window whole, tap by tap:
# windows on sizes they divide, rows of several windows, 3-d, a whole plane
# as a fixed kernel, divisible adaptive windows, channel counts on both sides
# of the 16- and 32-lane blocks.
TILING_CASES = [
    ((2, 17, 8, 10), dict(kernel_size=2, stride=2)),
    ((1, 40, 6, 9), dict(kernel_size=(2, 3))),
    ((2, 3, 4, 6, 8), dict(kernel_size=2)),
    ((2, 70, 7, 7), dict(kernel_size=7)),
    ((2, 33, 28, 28), dict(output_size=7)),
    ((1, 16, 12, 9), dict(output_size=(3, 1))),
    ((2, 5, 4, 8, 8), dict(output_size=(1, 2, 2))),
]


@pytest.mark.parametrize("shape,kwargs", TILING_CASES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_channels_last_tiling_windows_match_torch_bitwise(shape, kwargs, dtype):
    """Gradients with torch's bits: -0 lands as +0, NaNs of any payload (bfloat16: as 0x7fc0),
    ties (the first tap), NaN and -inf inputs, zeros wherever the argmax is not."""
    dims = len(shape) - 2
    torch.manual_seed(shape[1] * 10 + dims)
    if "output_size" in kwargs:
        ours_fn, torch_fn = {2: (PF.adaptive_max_pool2d, TF.adaptive_max_pool2d),
                             3: (PF.adaptive_max_pool3d, TF.adaptive_max_pool3d)}[dims]
    else:
        ours_fn, torch_fn = FUNCS[dims]
    x = make_input(shape, torch.float64, ties=True)
    x[torch.rand(shape) < 0.05] = float("nan")
    x[torch.rand(shape) < 0.05] = float("-inf")
    x = x.to(dtype).contiguous(memory_format=x_format(dims))
    xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
    ours, theirs = ours_fn(xa, **kwargs), torch_fn(xb, **kwargs)
    bits = torch.int16 if dtype == torch.bfloat16 else torch.int32
    special = torch.tensor([-0.0, 0.0, float("nan"), -float("nan"), float("-inf"), 1.5], dtype=torch.float64)
    grad = torch.where(torch.rand(ours.shape) < 0.4, special[torch.randint(0, len(special), ours.shape)],
                       torch.randn(ours.shape, dtype=torch.float64)).to(dtype)
    (ga,) = torch.autograd.grad(ours, xa, grad)
    (gb,) = torch.autograd.grad(theirs, xb, grad)
    assert ga.is_contiguous(memory_format=x_format(dims))
    assert torch.equal(ga.contiguous().view(bits), gb.contiguous().view(bits))


@pytest.mark.parametrize(
    "dims,shape,kwargs",
    [
        (1, (2, 3, 101), dict(kernel_size=3, stride=2, padding=1)),
        (1, (2, 3, 70), dict(kernel_size=3, stride=1, padding=1)),
        (2, (1, 2, 9, 37), dict(kernel_size=2, stride=1)),
        (2, (2, 3, 13, 40), dict(kernel_size=3, stride=2, padding=1)),
    ],
)
@pytest.mark.parametrize("layout", ["contiguous", "channels_last"])
def test_overlapping_gradients_sum_in_output_order(dims, shape, kwargs, layout):
    """Where windows overlap, an input element takes the gradients of several
    outputs (ties: one value everywhere makes it the argmax of many): float32
    sums of random gradients keep torch's bits only when added in torch's
    order, output order from +0, whichever loop (gather or scatter) runs."""
    if layout == "channels_last" and dims == 1:
        pytest.skip("no channels-last layout in 1-d")
    torch.manual_seed(shape[-1])
    x = torch.randint(0, 2, shape).float()
    if layout == "channels_last":
        x = x.contiguous(memory_format=torch.channels_last)
    xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
    ours, theirs = FUNCS[dims][0](xa, **kwargs), FUNCS[dims][1](xb, **kwargs)
    grad = torch.randn(ours.shape) * 1e3
    (ga,) = torch.autograd.grad(ours, xa, grad)
    (gb,) = torch.autograd.grad(theirs, xb, grad)
    assert torch.equal(ga.contiguous().view(torch.int32), gb.contiguous().view(torch.int32))


# "Same" windows (odd, stride 1, padded to the input's size: YOLO's SPP) run
# separably on AVX-512 CPUs, along rows then down columns. Contiguous: in
# blocks of 16 consecutive plane elements: planes narrower than a block (rows
# run into each other), wider than one, kernels taller than the plane, kh !=
# kw. Channels-last (values only): 64 channels at a time, a partial block
# (2, 3, 6 or 40 channels), rows split between threads inside a sample.
SAME_WINDOW_CASES = [
    ((2, 3, 20, 20), (5, 5)),
    ((2, 2, 7, 5), (3, 3)),
    ((1, 3, 9, 37), (13, 3)),
    ((3, 2, 4, 18), (9, 7)),
    ((2, 70, 6, 9), (5, 3)),
    ((3, 40, 7, 5), (3, 5)),
]


@pytest.mark.parametrize("shape,kernel", SAME_WINDOW_CASES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_same_windows_match_torch_bitwise(shape, kernel, dtype):
    """Values (values-only and saving forwards), indices and gradients with
    torch's bits on ties, NaNs of both signs, -inf and signed zeros. The
    values-only loops take a plane (contiguous) or an input row
    (channels-last) without NaNs by vmaxps alone and one with a NaN by
    torch's rule: "one nan" mixes both kinds in one call. Channels-last
    values equal the contiguous ones bit for bit (torch's own bfloat16
    channels-last kernel flips NaNs' sign bits), at 1, 2 and 3 threads."""
    kwargs = dict(kernel_size=kernel, stride=1, padding=(kernel[0] // 2, kernel[1] // 2))
    torch.manual_seed(shape[-1] * 100 + kernel[0])
    for values in ("ties", "nans", "one nan", "minus inf", "signed zeros"):
        if values == "one nan":
            x = make_input(shape, ties=True)
            x[-1, -1].view(-1)[x[-1, -1].numel() // 2] = float("nan")
        elif values == "signed zeros":
            x = torch.where(torch.rand(shape) < 0.5, 0.0, -0.0)
        elif values == "minus inf":
            x = torch.randn(shape).masked_fill(torch.rand(shape) < 0.7, float("-inf"))
        else:
            x = make_input(shape, ties=values == "ties", nans=values == "nans")
            x = torch.where(torch.rand(shape) < 0.5, -x, x)  # NaNs of both signs
        x = x.to(dtype)
        check_against_torch(2, x, kwargs)
        with torch.no_grad():
            values_only, ref = PF.max_pool2d(x, **kwargs), TF.max_pool2d(x, **kwargs)
        saving, _ = PF.max_pool2d(x, return_indices=True, **kwargs)
        int_type = torch.int32 if dtype == torch.float32 else torch.int16
        assert torch.equal(values_only.view(int_type), saving.view(int_type))
        numbers = ~ref.isnan() if dtype == torch.bfloat16 else torch.ones_like(ref, dtype=torch.bool)
        assert torch.equal(values_only.isnan(), ref.isnan())
        assert torch.equal(values_only.view(int_type)[numbers], ref.view(int_type)[numbers])
        x_cl = x.contiguous(memory_format=torch.channels_last)

        def channels_last_bits():
            with torch.no_grad():
                return [PF.max_pool2d(x_cl, **kwargs).view(int_type)]

        assert_bitwise_same_across_thread_counts(channels_last_bits, (1, 2, 3))
        bits_cl = channels_last_bits()[0]
        assert bits_cl.is_contiguous(memory_format=torch.channels_last)
        assert torch.equal(bits_cl.contiguous(), values_only.view(int_type))


@pytest.mark.parametrize("kwargs", [dict(kernel_size=2, stride=2), dict(kernel_size=7), dict(kernel_size=3, stride=2)])
def test_channels_last_bfloat16_gradient_bits(kwargs):
    """Channels-last bfloat16 gradients of -0, +0 and NaNs of other signs and
    payloads land with torch's bits (bf16(0 + g): +0, and c10's 0x7fc0 for
    every NaN), where each input position has one covering output (written in
    16-bit lanes) and where windows overlap (summed in float)."""
    torch.manual_seed(7)
    x = torch.randn(2, 80, 7, 14).to(torch.bfloat16).contiguous(memory_format=torch.channels_last)
    out = TF.max_pool2d(x, **kwargs)
    special = torch.tensor([0x8000, 0x0000, 0x7FC1, 0xFFC0, 0x7F81, 0x3F80], dtype=torch.int32).to(torch.int16)
    special = special.view(torch.bfloat16)
    grad = special[torch.randint(0, len(special), out.shape)].contiguous(memory_format=torch.channels_last)
    xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
    (ga,) = torch.autograd.grad(PF.max_pool2d(xa, **kwargs), xa, grad)
    (gb,) = torch.autograd.grad(TF.max_pool2d(xb, **kwargs), xb, grad)
    assert torch.equal(ga.contiguous().view(torch.int16), gb.contiguous().view(torch.int16))


def test_channels_last_3d_window_of_minus_inf():
    """torch 2.14.1 bug not copied: channels-last max_pool3d gives a window
    whose values are all -inf an index outside the window (its CPU kernel
    leaves the depth out of the first tap's index). Ours gives the window's
    first tap on every layout, as torch's contiguous kernel does."""
    x = torch.full((1, 2, 6, 4, 6), float("-inf")).contiguous(memory_format=torch.channels_last_3d)
    kwargs = dict(kernel_size=(1, 1, 2), stride=2)
    out, idx = PF.max_pool3d(x, return_indices=True, **kwargs)
    ref_out, ref_idx = TF.max_pool3d(x.contiguous(), return_indices=True, **kwargs)
    assert_same(out, ref_out)
    assert_same(idx, ref_idx)


def numpy_max_pool(x, kernel, stride, padding, dilation, ceil_mode):
    """Independent reference from the definition: loops over windows, NaN wins
    (the last NaN), ties keep the first element."""
    dims = len(kernel)
    spatial = x.shape[2:]
    out_sizes = []
    for d in range(dims):
        span = spatial[d] + 2 * padding[d] - dilation[d] * (kernel[d] - 1) - 1
        n = (span + (stride[d] - 1 if ceil_mode else 0)) // stride[d] + 1
        if ceil_mode and (n - 1) * stride[d] >= spatial[d] + padding[d]:
            n -= 1
        out_sizes.append(n)
    out = np.empty(x.shape[:2] + tuple(out_sizes), dtype=x.dtype)
    idx = np.empty(out.shape, dtype=np.int64)
    for b, c in itertools.product(range(x.shape[0]), range(x.shape[1])):
        for o in itertools.product(*[range(n) for n in out_sizes]):
            best, best_index = None, None
            for taps in itertools.product(*[range(k) for k in kernel]):
                pos = [o[d] * stride[d] - padding[d] + taps[d] * dilation[d] for d in range(dims)]
                if any(p < 0 or p >= spatial[d] for d, p in enumerate(pos)):
                    continue
                v = x[(b, c, *pos)]
                if best is None or v > best or np.isnan(v):
                    best, best_index = v, int(np.ravel_multi_index(pos, spatial))
            out[(b, c, *o)] = best
            idx[(b, c, *o)] = best_index
    return out, idx


@pytest.mark.parametrize("dims", [1, 2, 3])
def test_numpy_reference(dims):
    for shape, kwargs in window_cases(dims, 12, seed=100 + dims):
        x = make_input(shape, dtype=torch.float64, ties=True, nans=True)
        if not torch_accepts(FUNCS[dims][1], x, kwargs):
            continue
        k = kwargs["kernel_size"]
        k = [k] * dims if isinstance(k, int) else k
        s = kwargs["stride"]
        s = k if s is None else ([s] * dims if isinstance(s, int) else s)
        p = kwargs["padding"]
        p = [p] * dims if isinstance(p, int) else p
        d = kwargs["dilation"]
        d = [d] * dims if isinstance(d, int) else d
        out, idx = FUNCS[dims][0](x, return_indices=True, **kwargs)
        if bool((idx < 0).any()):
            continue  # empty windows: see test_empty_dilated_window
        ref_out, ref_idx = numpy_max_pool(x.numpy(), k, s, p, d, kwargs["ceil_mode"])
        np.testing.assert_array_equal(out.numpy(), ref_out)
        np.testing.assert_array_equal(idx.numpy(), ref_idx)


def test_empty_dilated_window(device):
    """torch 2.14.1 bug not copied: a dilated max_pool3d window wholly in the
    padding. Torch returns out-of-range indices and its CPU backward corrupts
    the heap; ours gives -inf, index -1, and no gradient from that window."""
    x = torch.randn(3, 1, 1, 4, 5, device=device, requires_grad=True)
    kwargs = dict(kernel_size=(2, 2, 1), stride=3, padding=(1, 0, 0), dilation=2)
    out, idx = PF.max_pool3d(x, return_indices=True, **kwargs)
    ref = TF.max_pool3d(x.detach(), **kwargs)  # forward only: its backward is unsafe
    assert_same(out.detach(), ref)
    assert bool((out == float("-inf")).all())
    assert bool((idx == -1).all())
    PF.max_pool3d(x, **kwargs).sum().backward()
    assert bool((x.grad == 0).all())


def test_overlapping_windows_accumulate(device):
    x = torch.tensor([[[1.0, 5.0, 2.0, 0.0, 3.0]]], device=device, requires_grad=True)
    PF.max_pool1d(x, 3, stride=1).backward(torch.tensor([[[1.0, 10.0, 100.0]]], device=device))
    assert x.grad.tolist() == [[[0.0, 11.0, 0.0, 0.0, 100.0]]]


def test_bfloat16_channels_last_gradient_rounds_once_like_torch():
    # Channels-last bfloat16 backward sums each input's shares in float32 (in output order) and
    # rounds once to nearest even (NaN to 0x7fc0), as c10's conversion: the same bits as a float32
    # scatter-add in output order rounded by torch. Ties make inputs the argmax of many windows.
    x = torch.randint(-2, 2, (2, 24, 9, 10)).to(torch.bfloat16).contiguous(memory_format=torch.channels_last)
    x = x.requires_grad_()
    out, idx = PF.max_pool2d(x, 3, 1, return_indices=True)
    grad = torch.randn(out.shape).to(torch.bfloat16).contiguous(memory_format=torch.channels_last)
    grad[0, 0, 0, :3] = float("nan")
    (g,) = torch.autograd.grad(out, x, grad)
    sums = torch.zeros(2, 24, 90).scatter_add_(-1, idx.flatten(-2), grad.float().flatten(-2)).to(torch.bfloat16)
    ours = g.contiguous().flatten(-2)
    assert torch.equal(ours.isnan(), sums.isnan()) and ours.isnan().any()  # (NaN payloads may differ)
    finite = ~sums.isnan()
    assert torch.equal(ours[finite].view(torch.int16), sums[finite].view(torch.int16))


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_deterministic_across_threads(threads):
    x = make_input((2, 16, 33, 35), dtype=torch.bfloat16)
    grad_shape = TF.max_pool2d(x, 3, 1, 1).shape
    grad = torch.randn(grad_shape, dtype=torch.float64).to(torch.bfloat16)
    results = {}
    previous = torch.get_num_threads()
    try:
        for n in (1, threads):
            torch.set_num_threads(n)
            for layout in (torch.contiguous_format, torch.channels_last):
                xi = x.detach().clone(memory_format=layout).requires_grad_()
                out = PF.max_pool2d(xi, 3, 1, 1)
                out.backward(grad)
                results.setdefault(layout, []).append((out.detach().clone(), xi.grad.clone()))
    finally:
        torch.set_num_threads(previous)
    for runs in results.values():
        for out, grad_in in runs[1:]:
            assert torch.equal(out.view(torch.int16), runs[0][0].view(torch.int16))
            assert torch.equal(grad_in.view(torch.int16), runs[0][1].view(torch.int16))


def test_deterministic_across_runs(device):
    x = make_input((2, 8, 20, 20, 20), device=device).requires_grad_()
    grads = []
    for _ in range(3):
        x.grad = None
        PF.max_pool3d(x, 3, 1, 1).backward(torch.ones(2, 8, 20, 20, 20, device=device))
        grads.append(x.grad.clone())
    assert all(torch.equal(g, grads[0]) for g in grads)
