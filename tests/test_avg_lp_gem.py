"""Average, LP and GeM pooling against torch (grids, dtypes, layouts, LP edge cases), hand and NumPy
references, gradcheck, opcheck, torch.compile, determinism, errors, modules, no torch pooling op."""
import copy
import itertools
import math
import pickle
import random

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import pooling_ext
import pooling_ext.functional as PF
from conftest import (NoTorchPooling, assert_bitwise_same_across_thread_counts, assert_raises_like_torch, assert_same,
                      make_input, same_layout)
from pool_cases import torch_accepts, window_cases
from test_autograd_compile import captured_ops

ops = torch.ops.pooling_ext
AVG = {1: (PF.avg_pool1d, TF.avg_pool1d), 2: (PF.avg_pool2d, TF.avg_pool2d), 3: (PF.avg_pool3d, TF.avg_pool3d)}
LP = {1: (PF.lp_pool1d, TF.lp_pool1d), 2: (PF.lp_pool2d, TF.lp_pool2d), 3: (PF.lp_pool3d, TF.lp_pool3d)}
CL = {2: torch.channels_last, 3: torch.channels_last_3d}
F64 = dict(rtol=1e-12, atol=1e-12)
F32 = dict(rtol=1e-5, atol=1e-6)


def avg_cases(dims, count, seed):
    """window_cases without dilation, plus count_include_pad and (2-d, 3-d) divisor_override."""
    rng, cases = random.Random(seed), window_cases(dims, count, seed)
    for _, kwargs in cases:
        del kwargs["dilation"]
        kwargs["count_include_pad"] = rng.random() < 0.5
        kwargs.update(dict(divisor_override=rng.choice([None, None, 1, 3, -2])) if dims > 1 else {})
    return cases


def check_avg(dims, x, kwargs, tol, layout=True):
    ours_fn, torch_fn = AVG[dims]
    x = x.detach().requires_grad_()  # views keep their strides
    out, ref = ours_fn(x, **kwargs), torch_fn(x, **kwargs)
    assert_same(out, ref, exact=False, **tol)
    assert same_layout(out, ref) or not layout  # see test_layout_like_torch
    grad = torch.randn(ref.shape, dtype=torch.float64, device=x.device).to(x.dtype)
    if x.is_cuda and not x.is_contiguous():
        # torch's CUDA channels-last avg_pool2d backward gives wrong gradients with ceil_mode or
        # padding (seen in 2.11 on an H100; its contiguous kernel and the CPU agree with ours):
        # the reference gradient is torch's on a contiguous copy.
        x_ref = x.detach().contiguous().requires_grad_()
        (ga,), (gb,) = torch.autograd.grad(out, x, grad), torch.autograd.grad(torch_fn(x_ref, **kwargs), x_ref, grad)
    else:
        (ga,), (gb,) = torch.autograd.grad(out, x, grad), torch.autograd.grad(ref, x, grad)
    assert_same(ga, gb, exact=False, **tol)


@pytest.mark.parametrize("dims", [1, 2, 3])
def test_avg_disjoint_windows_backward(dims):
    # Windows that do not overlap (stride >= kernel) take the CPU's direct backward: gaps
    # between windows, windows cut by padding or ceil_mode, count_include_pad, divisor_override,
    # a -0 gradient (torch sums it into zeros: +0).
    calls = [dict(kernel_size=2), dict(kernel_size=2, stride=3), dict(kernel_size=3, stride=3, padding=1),
             dict(kernel_size=2, stride=3, ceil_mode=True), dict(kernel_size=3, stride=4, padding=1, ceil_mode=True,
                                                                 count_include_pad=False)]
    if dims > 1:
        calls.append(dict(kernel_size=2, stride=2, divisor_override=3))
    # Channels-last (2-d, 3-d): each output row's shares written into its first input row,
    # copied into the window's other rows and columns; each share 0 + g / divisor as torch's.
    layouts = [torch.contiguous_format] + ([CL[dims]] if dims > 1 else [])
    for dtype, tol in ((torch.float64, F64), (torch.float32, F32)):
        for kwargs, layout in itertools.product(calls, layouts):
            x = make_input((2, 3) + (11, 10, 9)[:dims], dtype=dtype).contiguous(memory_format=layout)
            check_avg(dims, x, kwargs, tol, layout=dims < 3)  # (3-d: see test_layout_like_torch)
    if dims > 1:  # channels-last float32 gradients: torch's bits (its CL kernel adds g / divisor to 0)
        for kwargs in calls:
            x = make_input((2, 19) + (11, 10, 9)[:dims]).contiguous(memory_format=CL[dims]).requires_grad_()
            out, ref = AVG[dims][0](x, **kwargs), AVG[dims][1](x, **kwargs)
            grad = torch.randn(ref.shape)
            assert torch.equal(torch.autograd.grad(out, x, grad)[0], torch.autograd.grad(ref, x, grad)[0]), kwargs
    for layout in layouts:
        x = torch.randn((1, 2) + (4,) * dims).contiguous(memory_format=layout).requires_grad_()
        out = AVG[dims][0](x, 2)
        (g,) = torch.autograd.grad(out, x, torch.full_like(out, -0.0))
        assert not torch.signbit(g).any()


# Windows that tile each row (kernel = stride along W, no padding, every
# input covered) and share one divisor: on AVX-512 CPUs each output row's
# shares are spread across its first input row by permutes and copied to the
# window's other rows. 2x2, 2x3, 4-wide and 16-wide windows (17: the
# portable loop), 3-d 2x2x2, a divisible adaptive size, a divisor override.
TILED_BACKWARD_CASES = [
    ((2, 3, 8, 10), dict(kernel_size=2)),
    ((2, 3, 6, 12), dict(kernel_size=(2, 3))),
    ((1, 2, 8, 40), dict(kernel_size=4)),
    ((1, 2, 4, 32), dict(kernel_size=(2, 16))),
    ((1, 2, 4, 34), dict(kernel_size=(2, 17))),
    ((2, 3, 4, 6, 8), dict(kernel_size=2)),
    ((2, 3, 14, 14), "adaptive 7"),
    ((2, 3, 8, 10), dict(kernel_size=2, divisor_override=3)),
]


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("shape,kwargs", TILED_BACKWARD_CASES)
def test_avg_tiled_windows_backward_is_each_share_once(shape, kwargs, dtype):
    """Each input's gradient is its window's share 0 + g / divisor: torch's
    float32 bits; bfloat16: the float share rounded once (torch's float32
    gradient of the same values, rounded)."""
    dims = len(shape) - 2
    if kwargs == "adaptive 7":
        ours_fn, ref_fn = (lambda t: PF.adaptive_avg_pool2d(t, 7)), (lambda t: TF.adaptive_avg_pool2d(t, 7))
    else:
        ours_fn, ref_fn = (lambda t: AVG[dims][0](t, **kwargs)), (lambda t: AVG[dims][1](t, **kwargs))
    torch.manual_seed(shape[-1])
    x = torch.randn(shape, dtype=dtype, requires_grad=True)
    out = ours_fn(x)
    grad = make_input(out.shape, dtype=torch.float64).to(dtype)
    grad[(0,) * grad.dim()] = -0.0
    ours, = torch.autograd.grad(out, [x], grad)
    x32 = x.detach().float().requires_grad_()
    ref, = torch.autograd.grad(ref_fn(x32), [x32], grad.float())
    bits = torch.int32 if dtype == torch.float32 else torch.int16
    assert torch.equal(ours.view(bits), ref.to(dtype).view(bits))


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("dims", [1, 2, 3])
def test_avg_grid_matches_torch(dims, dtype, device):
    tol = F64 if dtype == torch.float64 else F32
    checked = 0
    for shape, kwargs in avg_cases(dims, 60 if dims < 3 else 120, seed=200 + dims):
        x = make_input(shape, dtype=dtype, device=device)
        if not torch_accepts(AVG[dims][1], x, kwargs):
            with pytest.raises(RuntimeError) as theirs:
                AVG[dims][1](x, **kwargs)
            if "smaller than kernel size" not in str(theirs.value):  # torch's extra avg_pool3d check, padding
                with pytest.raises(RuntimeError):                     # ignored: ours may accept those
                    AVG[dims][0](x, **kwargs)
            continue
        check_avg(dims, x, kwargs, tol)
        if dims > 1:
            check_avg(dims, x.contiguous(memory_format=CL[dims]), kwargs, tol, layout=dims == 2)
        checked += 1
    assert checked > 25


# Contiguous rows that the CPU's row loops (AVX-512 where present) run: stride
# 1, 2 (compile-time lanes) and 3, 4, 9 (permuted lanes: 11, 8 and 4 outputs
# per block), rows of two blocks plus a rest, short rows (7 outputs; 2x2 s2
# ones two to a register), borders (in the row loops, their taps outside the
# row masked, where they share their row's divisor; else left to the body),
# and divisors that are and are not powers of two (the first are a
# multiplication).
AVERAGE_ROW_CASES = [
    (2, (2, 3, 10, 75), dict(kernel_size=2, stride=2)),
    (2, (2, 3, 14, 14), dict(kernel_size=2, stride=2)),
    (2, (1, 4, 9, 70), dict(kernel_size=3, stride=1, padding=1)),
    (2, (1, 4, 9, 70), dict(kernel_size=3, stride=1, padding=1, count_include_pad=False)),
    (2, (2, 3, 11, 100), dict(kernel_size=3, stride=3, padding=1, ceil_mode=True)),
    (2, (1, 3, 8, 95), dict(kernel_size=4, stride=4, divisor_override=3)),
    (2, (1, 3, 9, 95), dict(kernel_size=(1, 5), stride=(2, 9), padding=(0, 2))),
    (1, (2, 5, 101), dict(kernel_size=3, stride=2, padding=1)),
    (3, (1, 3, 6, 9, 40), dict(kernel_size=2, stride=2)),
    (3, (1, 2, 5, 8, 33), dict(kernel_size=3, stride=(1, 2, 2), padding=1, divisor_override=8)),
    # rows of one block, two at a time: across planes, and at the borders with
    # fewer window rows (and other divisors) than the next
    (2, (3, 5, 9, 13), dict(kernel_size=3, stride=2, padding=1)),
    (2, (3, 5, 9, 13), dict(kernel_size=3, stride=2, padding=1, count_include_pad=False)),
    (1, (3, 7, 15), dict(kernel_size=2, stride=2)),
    # 2x2 s2 rows of at most 8 outputs, two rows to a register: pairs across
    # planes, a row left alone, border rows with one window row and another
    # divisor, divisors that are not powers of two, 3d rows with their
    # divisors at the borders (ceil_mode)
    (2, (1, 1, 2, 16), dict(kernel_size=2, stride=2)),
    (2, (3, 5, 9, 13), dict(kernel_size=2, stride=2, padding=1, count_include_pad=False)),
    (2, (3, 5, 9, 13), dict(kernel_size=2, stride=2, padding=1)),
    (2, (2, 3, 14, 14), dict(kernel_size=2, stride=2, divisor_override=3)),
    (3, (1, 3, 5, 7, 14), dict(kernel_size=2, stride=2, padding=1, ceil_mode=True)),
    # "same" windows (stride 1, padded to the input's size) of one divisor,
    # each plane flat in blocks of 16: 3x3 and 5x5 (unrolled) and 7x3, planes
    # narrower than a block, a kernel taller than the plane, a divisor override
    (2, (2, 3, 35, 35), dict(kernel_size=3, stride=1, padding=1)),
    (2, (2, 3, 20, 20), dict(kernel_size=5, stride=1, padding=2)),
    (2, (3, 2, 7, 5), dict(kernel_size=(7, 3), stride=1, padding=(3, 1))),
    (2, (2, 2, 4, 18), dict(kernel_size=(9, 5), stride=1, padding=(4, 2), divisor_override=7)),
]


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("case", range(len(AVERAGE_ROW_CASES)))
def test_avg_contiguous_rows_equal_torch_bitwise(case, dtype):
    dims, shape, kwargs = AVERAGE_ROW_CASES[case]
    scales = [1.0, 1e30, 1e-40]  # ordinary, overflow, subnormal (float32: multiplying by 1/4 and dividing by 4 agree)
    if dtype == torch.bfloat16:  # torch rounds bfloat16 subnormal averages with the CPU's bf16 instruction,
        scales.pop()             # flushing them: its avg_pool gives +0 where its own .bfloat16() gives -0
    for scale, nans in [(scale, False) for scale in scales] + [(1.0, True)]:
        x = make_input(shape, dtype=torch.float64, nans=nans).mul_(scale).to(dtype)
        with torch.no_grad():
            ours = AVG[dims][0](x, **kwargs)
        bits = torch.int16 if dtype == torch.bfloat16 else torch.int32
        if dims == 3 and dtype == torch.bfloat16:  # torch has no bfloat16 avg_pool3d: its float32 result, rounded
            ref = AVG[dims][1](x.float(), **kwargs).to(dtype)
            numbers = ~ref.isnan()  # (.to() keeps a NaN's sign and payload where c10's rounding gives 0x7fc0)
            assert torch.equal(ours.isnan(), ref.isnan())
            assert torch.equal(ours.view(bits)[numbers], ref.view(bits)[numbers]), (scale, nans)
        else:
            assert torch.equal(ours.view(bits), AVG[dims][1](x, **kwargs).view(bits)), (scale, nans)


# "Same" windows (stride 1, padded to the input's size) of one divisor: an
# input's covering outputs are the window centred on it, so the backward is
# the forward's flat sum over the outputs' shares. 3x3 and 5x5 (unrolled),
# 7x3 taller than the plane, 9x5 with an override.
SAME_AVERAGE_CASES = [
    ((2, 3, 35, 35), dict(kernel_size=3, stride=1, padding=1)),
    ((2, 3, 20, 20), dict(kernel_size=5, stride=1, padding=2)),
    ((3, 2, 7, 5), dict(kernel_size=(7, 3), stride=1, padding=(3, 1))),
    ((2, 2, 4, 18), dict(kernel_size=(9, 5), stride=1, padding=(4, 2), divisor_override=7)),
]


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("shape,kwargs", SAME_AVERAGE_CASES)
def test_avg_same_windows_backward_sums_shares_in_output_order(shape, kwargs, dtype):
    """On AVX-512 CPUs (the kernel's), each share g / divisor added in output
    order, from 0: torch's float32 gradient bit for bit (torch's CPU
    backward adds them in that order); bfloat16 shares and sums in float,
    rounded once: torch's float32 gradient of the same values, rounded
    (torch's bfloat16 kernel rounds each addition). Elsewhere the portable
    scatter adds a row's shares in another order: within rounding."""
    torch.manual_seed(shape[-1])
    x = torch.randn(shape, dtype=dtype, requires_grad=True)
    grad = make_input(shape, dtype=torch.float64, nans=False).to(dtype)
    ours, = torch.autograd.grad(PF.avg_pool2d(x, **kwargs), [x], grad)
    x32 = x.detach().float().requires_grad_()
    ref, = torch.autograd.grad(TF.avg_pool2d(x32, **kwargs), [x32], grad.float())
    if pooling_ext.info()["cpu_capability"] != "avx512":
        assert_same(ours, ref.to(dtype), exact=False, **(F32 if dtype == torch.float32 else dict(rtol=8e-3, atol=1e-3)))
        return
    bits = torch.int32 if dtype == torch.float32 else torch.int16
    assert torch.equal(ours.view(bits), ref.to(dtype).view(bits))


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("count_include_pad", [True, False])
def test_avg1d_three_wide_stride_two_backward_gathers_shares(count_include_pad, dtype):
    """avg_pool1d(3, 2, 1)'s backward as a gather (AVX-512 CPUs): even inputs
    take one share, odd ones two (the last of an even-width row one), summed
    in output order: torch's float32 bits (bfloat16: rounded once). Widths
    around the 32 inputs a step writes, 1 and 2, a -0 gradient."""
    for width in (1, 2, 17, 31, 32, 33, 34, 95):
        torch.manual_seed(width)
        x = torch.randn(2, 3, width, dtype=dtype, requires_grad=True)
        out = PF.avg_pool1d(x, 3, 2, 1, count_include_pad=count_include_pad)
        grad = make_input(out.shape, dtype=torch.float64).to(dtype)
        grad[0, 0, 0] = -0.0
        ours, = torch.autograd.grad(out, [x], grad)
        x32 = x.detach().float().requires_grad_()
        ref, = torch.autograd.grad(TF.avg_pool1d(x32, 3, 2, 1, count_include_pad=count_include_pad), [x32],
                                   grad.float())
        bits = torch.int32 if dtype == torch.float32 else torch.int16
        assert torch.equal(ours.view(bits), ref.to(dtype).view(bits)), width


# Channels-last windows of more than four rows keep their sums in registers
# across the rows, in blocks of channels (bfloat16: 32 at a time, split into
# even and odd channels): channel counts on both sides of the blocks, and
# windows of 6 and 9 rows at the borders and inside. Windows whole inside the
# input run a row at a time (rows at fixed offsets): those of 3, 4 and more
# rows, with and without a divisor override.
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("channels", [1, 17, 31, 32, 33, 64, 65, 96, 150])
def test_avg_channels_last_many_rows_equal_torch_bitwise(channels, dtype):
    bits = torch.int16 if dtype == torch.bfloat16 else torch.int32
    for kwargs in [dict(kernel_size=3, stride=1, padding=1), dict(kernel_size=3, padding=1, count_include_pad=False),
                   dict(kernel_size=(2, 3), stride=1), dict(kernel_size=5, stride=2, padding=2),
                   dict(kernel_size=2, stride=2, ceil_mode=True), dict(kernel_size=(1, 3), stride=(1, 2), padding=(0, 1)),
                   dict(kernel_size=3, stride=2, divisor_override=5)]:
        for scale in (1.0, 1e30):  # (1e30: sums that overflow to inf)
            x = make_input((2, channels, 7, 9), dtype=torch.float64, nans=True).mul_(scale).to(dtype)
            x.view(-1)[3::29] = float("-inf")
            x.view(-1)[5::31] = -0.0
            x = x.contiguous(memory_format=torch.channels_last)
            with torch.no_grad():
                ours = PF.avg_pool2d(x, **kwargs)
            ref = TF.avg_pool2d(x, **kwargs).contiguous(memory_format=torch.channels_last)
            assert torch.equal(ours.isnan(), ref.isnan()), kwargs
            numbers = ~ref.isnan()  # (torch's channels-last bfloat16 keeps a NaN's bits; c10's rounding gives 0x7fc0)
            assert torch.equal(ours.view(bits)[numbers], ref.view(bits)[numbers]), (kwargs, scale)
            assert torch.equal(ours.view(bits), PF.avg_pool2d(x.contiguous(), **kwargs).view(bits)), (kwargs, scale)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float64])
@pytest.mark.parametrize("channels", [17, 32, 64, 65, 150])
def test_avg_channels_last_backward_blocks_equal_single_channels(channels, dtype):
    """The channels-last backward of overlapping windows sums each input's covering gradients
    in registers, blocks of channels at a time (bfloat16 split even/odd), and the channels
    left over one pass per row: each channel's gradient is the one it gets alone (one channel:
    the passes per row), bit for bit, and close to torch's."""
    bits = {torch.float32: torch.int32, torch.bfloat16: torch.int16, torch.float64: torch.int64}[dtype]
    for kwargs in [dict(kernel_size=3, stride=1, padding=1), dict(kernel_size=3, padding=1, count_include_pad=False),
                   dict(kernel_size=(2, 3), stride=1), dict(kernel_size=5, stride=2, padding=2, divisor_override=7)]:
        x = make_input((2, channels, 7, 9), dtype=torch.float64).to(dtype).contiguous(memory_format=torch.channels_last)
        grad = PF.avg_pool2d(x, **kwargs).double().normal_().to(dtype)
        whole = _avg_grad(x, grad, kwargs)
        for c in range(channels):
            alone = _avg_grad(x[:, c:c + 1].contiguous(memory_format=torch.channels_last), grad[:, c:c + 1], kwargs)
            assert torch.equal(whole[:, c:c + 1].contiguous().view(bits), alone.contiguous().view(bits)), (kwargs, c)
        ref = _avg_grad(x, grad, kwargs, TF.avg_pool2d)
        tol = dict(rtol=1e-2, atol=1e-2) if dtype == torch.bfloat16 else dict(rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(whole, ref, **tol)


def _avg_grad(x, grad, kwargs, avg_pool2d=PF.avg_pool2d):
    x = x.detach().requires_grad_()
    return torch.autograd.grad(avg_pool2d(x, **kwargs), x, grad)[0]


@pytest.mark.parametrize("dims", [1, 2, 3])
def test_avg_views_unbatched_and_empty_batch(dims, device):
    kwargs = dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=False)
    wide = make_input((2, 3) + (6,) * (dims - 1) + (14,), dtype=torch.float64, device=device)
    check_avg(dims, wide[..., ::2], kwargs, F64)                       # strided view
    check_avg(dims, wide.transpose(0, 1), kwargs, F64)                 # permuted view
    check_avg(dims, make_input((3,) + (7,) * dims, dtype=torch.float64, device=device), kwargs, F64)
    empty = make_input((0, 3) + (7,) * dims, device=device).requires_grad_()
    out = AVG[dims][0](empty, **kwargs)
    assert out.shape == AVG[dims][1](empty, **kwargs).shape
    out.sum().backward()
    assert empty.grad.shape == empty.shape


@pytest.mark.parametrize("dims", [2, 3])
def test_layout_like_torch(dims, device):
    """Outputs keep the input's layout and raw gradients (autograd.grad: no AccumulateGrad restriding)
    take it, as torch's 1d/2d pooling. torch's CPU avg_pool3d returns contiguous tensors for
    channels_last_3d input; ours keep channels_last_3d (a documented difference)."""
    x, mismatches = make_input((2, 3) + (6,) * dims, dtype=torch.float64, device=device).abs(), []
    for (ours_fn, torch_fn), args in ((AVG[dims], (3, 2, 1)), (LP[dims], (2, 2)), (LP[dims], (math.inf, 2))):
        out, ref = ours_fn(x.to(memory_format=CL[dims]), *args), torch_fn(x.to(memory_format=CL[dims]), *args)
        expected_ok = same_layout(out, ref) if dims < 3 else out.is_contiguous(memory_format=CL[dims])
        if not expected_ok:
            mismatches.append((ours_fn.__name__, args, out.stride(), ref.stride()))
    for x_fmt, g_fmt in itertools.product((torch.contiguous_format, CL[dims]), repeat=2):
        xi = x.clone(memory_format=x_fmt).requires_grad_()
        out, ref = AVG[dims][0](xi, 3, 2, 1), AVG[dims][1](xi, 3, 2, 1)
        g = torch.randn_like(ref).contiguous(memory_format=g_fmt)
        (ga,), (gb,) = torch.autograd.grad(out, xi, g), torch.autograd.grad(ref, xi, g)
        expected_ok = same_layout(ga, gb) if dims < 3 else ga.is_contiguous(memory_format=x_fmt)
        if not expected_ok:
            mismatches.append((f"grad: input {x_fmt}, grad_output {g_fmt}", ga.stride(), gb.stride()))
    assert not mismatches


def test_ceil_mode_divisor_by_hand():
    # Length 6, kernel 3, stride 2, padding 1, ceil_mode: windows start at -1, 1, 3, 5. The last one
    # [5, 8) is cut at input + padding = 7, so it covers x[5] and one padding position.
    x = torch.tensor([[[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]]], dtype=torch.float64, requires_grad=True)
    expect = lambda values: torch.tensor(values, dtype=torch.float64)  # noqa: E731
    out = PF.avg_pool1d(x, 3, 2, 1, ceil_mode=True, count_include_pad=True)
    torch.testing.assert_close(out, expect([[[(1 + 2) / 3, (2 + 3 + 4) / 3, (4 + 5 + 6) / 3, 6 / 2]]]))
    out.backward(torch.ones_like(out))
    torch.testing.assert_close(x.grad, expect([[[1 / 3, 2 / 3, 1 / 3, 2 / 3, 1 / 3, 1 / 3 + 1 / 2]]]))
    out = PF.avg_pool1d(x, 3, 2, 1, ceil_mode=True, count_include_pad=False)
    torch.testing.assert_close(out, expect([[[(1 + 2) / 2, (2 + 3 + 4) / 3, (4 + 5 + 6) / 3, 6 / 1]]]))
    # divisor_override replaces every divisor, even of truncated windows.
    x2 = torch.arange(1.0, 10.0, dtype=torch.float64).view(1, 1, 3, 3)
    out = PF.avg_pool2d(x2, 2, 2, 1, ceil_mode=True, divisor_override=3)
    torch.testing.assert_close(out, expect([[[[1 / 3, (2 + 3) / 3], [(4 + 7) / 3, (5 + 6 + 8 + 9) / 3]]]]))


def numpy_avg_pool2d(x, kernel, stride, padding, ceil_mode, count_include_pad, divisor_override):
    """From the definition: a window's divisor counts padding (when asked) but not the positions past
    input + padding that ceil_mode adds; windows starting past input + padding are dropped."""
    (h, w), sizes = x.shape[2:], []
    for n_in, k, s, p in zip((h, w), kernel, stride, padding):
        n = (n_in + 2 * p - k + (s - 1 if ceil_mode else 0)) // s + 1
        sizes.append(n - 1 if ceil_mode and (n - 1) * s >= n_in + p else n)
    out = np.zeros(x.shape[:2] + tuple(sizes))
    for i, j in itertools.product(range(sizes[0]), range(sizes[1])):
        h0, w0 = i * stride[0] - padding[0], j * stride[1] - padding[1]
        h1, w1 = min(h0 + kernel[0], h + padding[0]), min(w0 + kernel[1], w + padding[1])
        window = x[:, :, max(h0, 0):min(h1, h), max(w0, 0):min(w1, w)]
        divisor = divisor_override or ((h1 - h0) * (w1 - w0) if count_include_pad else window[0, 0].size)
        out[:, :, i, j] = window.sum(axis=(2, 3)) / divisor
    return out


def test_numpy_reference_avg_pool2d():
    for shape, kwargs in avg_cases(2, 25, seed=300):
        x = make_input(shape, dtype=torch.float64)
        if not torch_accepts(TF.avg_pool2d, x, kwargs):
            continue
        expand = lambda v: [v, v] if isinstance(v, int) else list(v)  # noqa: E731
        k = expand(kwargs["kernel_size"])
        s = k if kwargs["stride"] is None else expand(kwargs["stride"])
        ref = numpy_avg_pool2d(x.numpy(), k, s, expand(kwargs["padding"]), kwargs["ceil_mode"],
                               kwargs["count_include_pad"], kwargs["divisor_override"])
        np.testing.assert_allclose(PF.avg_pool2d(x, **kwargs).numpy(), ref, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("dims", [1, 2, 3])
def test_half_dtypes(dims, dtype, device):
    # torch's CPU avg_pool3d has no half kernels: the reference is torch in float32, rounded.
    x = make_input((2, 3) + (9,) * dims, dtype=dtype, device=device)
    tol = dict(rtol=1e-2, atol=1e-2)
    for (ours_fn, torch_fn), xi, args in ((AVG[dims], x, (3, 2, 1, True)), (LP[dims], x.abs(), (2, 3)),
                                          (LP[dims], x.abs() + 0.5, (3, 2, None, True))):
        xi = xi.detach().requires_grad_()
        x32 = xi.detach().float().requires_grad_()
        out, ref = ours_fn(xi, *args), torch_fn(x32, *args)
        assert_same(out, ref.to(dtype), exact=False, **tol)
        g = torch.rand_like(ref)
        (ga,), (gb,) = torch.autograd.grad(out, xi, g.to(dtype)), torch.autograd.grad(ref, x32, g)
        assert_same(ga, gb.to(dtype), exact=False, **tol)


@pytest.mark.parametrize("dims", [1, 2, 3])
def test_avg_int64_truncates_like_torch(dims, device):
    x = make_input((2, 3) + (8,) * dims, dtype=torch.int64, device=device)  # values in [-100, 100)
    for kwargs in (dict(kernel_size=3, stride=2, padding=1, ceil_mode=True), dict(kernel_size=2, stride=1),
                   dict(kernel_size=3, padding=1, count_include_pad=False)):
        ref = AVG[dims][1](x.cpu(), **kwargs).to(device)
        assert_same(AVG[dims][0](x, **kwargs), ref)
    pair = torch.tensor([[[-3, -4, 3, 4]]], device=device)  # -3.5 truncates to -3, as in C
    assert PF.avg_pool1d(pair, 2).tolist() == TF.avg_pool1d(pair.cpu(), 2).tolist() == [[[-3, 3]]]


def test_avg_unsupported_dtypes():
    for dims, dtype in itertools.product((1, 2, 3), (torch.int32, torch.uint8, torch.bool)):
        for fn in (AVG[dims][1], AVG[dims][0]):  # torch, then ours
            with pytest.raises(NotImplementedError):
                fn(torch.ones((1, 2) + (4,) * dims).to(dtype), 2)


P_VALUES = [1, 2, 3, 4, 1.5, 0.5, -1, -2.5, math.inf, -math.inf]
LP_WINDOWS = {1: [dict(kernel_size=3, stride=2), dict(kernel_size=2)],
              2: [dict(kernel_size=(3, 2), stride=(2, 1)), dict(kernel_size=2)],
              3: [dict(kernel_size=(2, 3, 2), stride=(1, 2, 2)), dict(kernel_size=2)]}


def torch_lp_pool_handles_infinite_p():
    """Recent torch computes lp_pool with p = +-inf as the max / min of |x| over each window; older
    releases (2.11, on the lent GPU) return 1 for every window."""
    return TF.lp_pool1d(torch.tensor([[[2.0, 3.0]]]), math.inf, 2).item() == 3.0


MAX_POOL = {1: TF.max_pool1d, 2: TF.max_pool2d, 3: TF.max_pool3d}


def lp_reference(dims, p):
    """torch's lp_pool, or for p = +-inf on a torch that gets it wrong, the max / min of |x| by max_pool."""
    if not math.isinf(p) or torch_lp_pool_handles_infinite_p():
        return LP[dims][1]
    sign = 1.0 if p > 0 else -1.0
    return lambda x, _p, kernel_size, stride=None, ceil_mode=False: sign * MAX_POOL[dims](
        sign * x.abs(), kernel_size, stride, ceil_mode=ceil_mode)


def check_lp(dims, x, p, kwargs, tol=F64, equal_nan=False):
    """Values as torch's; gradients where torch's are finite (its elementwise pow gives NaN gradients
    even to negative inputs that no window covers)."""
    ours_fn, torch_fn = LP[dims][0], lp_reference(dims, p)
    x = x.detach().requires_grad_()
    out, ref = ours_fn(x, p, **kwargs), torch_fn(x, p, **kwargs)
    torch.testing.assert_close(out, ref, equal_nan=equal_nan, **tol)
    grad = torch.rand_like(ref) + 0.5
    (ga,), (gb,) = torch.autograd.grad(out, x, grad), torch.autograd.grad(ref, x, grad)
    finite = torch.isfinite(gb)
    assert bool(finite.all()) or equal_nan
    torch.testing.assert_close(ga[finite], gb[finite], **tol)


@pytest.mark.parametrize("p", P_VALUES)
@pytest.mark.parametrize("dims", [1, 2, 3])
def test_lp_grid_positive_inputs(dims, p, device):
    for kwargs, ceil_mode in itertools.product(LP_WINDOWS[dims], (False, True)):
        x = torch.rand((2, 3) + (7,) * dims, dtype=torch.float64, device=device) + 0.1
        check_lp(dims, x, p, dict(kwargs, ceil_mode=ceil_mode))
        if dims > 1:
            check_lp(dims, x.contiguous(memory_format=CL[dims]), p, dict(kwargs, ceil_mode=ceil_mode))


def test_lp_channels_last_backward_in_batch_chunks():
    # The CPU's channels-last backward keeps two factors per output in scratch of bounded size
    # (2^22 per chunk): with 1.5M outputs per sample, a batch of 3 runs as chunks of 2 and 1.
    x = (torch.rand(3, 24, 251, 251) + 0.1).contiguous(memory_format=torch.channels_last)
    check_lp(2, x, 2, dict(kernel_size=2, stride=1), tol=F32)


@pytest.mark.parametrize("p", [2, 3, 1.5])
@pytest.mark.parametrize("dims", [1, 2, 3])
def test_lp_negative_inputs_like_torch(dims, p, device):
    # x ** p without abs: odd p gives negative sums (NaN root), fractional p NaN powers, like torch.
    x = make_input((2, 3) + (7,) * dims, dtype=torch.float64, device=device)
    for ceil_mode in (False, True):
        check_lp(dims, x, p, dict(kernel_size=2, ceil_mode=ceil_mode), equal_nan=p != 2)
    assert bool(LP[dims][0](x, p, 2).isnan().any()) == (p != 2)


@pytest.mark.parametrize("p", [1, 2, 3, 1.5, 4])
def test_lp_zero_windows_have_zero_gradient(p, device):
    x = torch.zeros(1, 2, 6, 6, dtype=torch.float64, device=device)
    x[:, :, 2:4, 2:4] = torch.rand(1, 2, 2, 2, dtype=torch.float64) + 0.5
    check_lp(2, x, p, dict(kernel_size=2))
    xg = x.clone().requires_grad_()
    PF.lp_pool2d(xg, p, 2).sum().backward()
    assert bool(torch.isfinite(xg.grad).all())
    assert bool((xg.grad[:, :, :2] == 0).all()) and bool((xg.grad[:, :, 4:] == 0).all())


@pytest.mark.parametrize("ceil_mode", [False, True])
def test_lp_overflow_stays_finite(ceil_mode, device):
    x = (10 + torch.rand(2, 3, 7, 7, dtype=torch.float64, device=device)).float().requires_grad_()
    kwargs = dict(kernel_size=3, stride=2, ceil_mode=ceil_mode)
    assert bool(torch.isinf(TF.lp_pool2d(x.detach(), 50, **kwargs)).any())  # torch: (10 ** 50) overflows
    out = PF.lp_pool2d(x, 50, **kwargs)
    # Scaled float64 reference: m * (sum (x / m) ** p * K / count) ** (1 / p), m = max(x).
    x64 = x.detach().double().requires_grad_()
    m = x64.detach().amax()
    ref = m * (TF.avg_pool2d((x64 / m) ** 50, **kwargs) * 9) ** (1 / 50)
    torch.testing.assert_close(out.double(), ref, rtol=1e-5, atol=0)
    torch.testing.assert_close(ref, TF.lp_pool2d(x64, 50, **kwargs))  # finite in float64
    g = torch.rand_like(out)
    (ga,), (gb,) = torch.autograd.grad(out, x, g), torch.autograd.grad(ref, x64, g.double())
    assert bool(torch.isfinite(ga).all())
    torch.testing.assert_close(ga.double(), gb, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("channels", [1, 17, 32, 33, 64, 65, 150])
def test_lp_channels_last_rows_inside_with_overflow(channels, dtype):
    """Channels-last LP windows whole inside the input run a row at a time, in blocks of
    channels with their roots in registers (p = 1, 2, 4); a window whose sum overflows is
    redone through the scaled sum and the row goes on after it. Each result equals the
    contiguous layout's bit for bit, and torch's in float64."""
    bits = torch.int16 if dtype == torch.bfloat16 else torch.int32
    tol = dict(rtol=1e-2, atol=1e-2) if dtype == torch.bfloat16 else dict(rtol=2e-5, atol=1e-5)
    windows = [(2, dict(kernel_size=3, stride=2)), (2, dict(kernel_size=3, stride=1, ceil_mode=True)),
               (2, dict(kernel_size=(2, 3), stride=(1, 2))), (3, dict(kernel_size=2, stride=(1, 2, 2), ceil_mode=True))]
    for (dims, kwargs), p in itertools.product(windows, (1, 2, 3, 4)):
        x = make_input((2, channels) + (7, 9, 8)[3 - dims:], dtype=torch.float64)
        x.view(-1)[5::61] = 1e30  # its square overflows: those windows take the scaled sum
        x = x.to(dtype).contiguous(memory_format=CL[dims])
        with torch.no_grad():
            ours = LP[dims][0](x, p, **kwargs)
            contiguous = LP[dims][0](x.contiguous(), p, **kwargs)
            ref = LP[dims][1](x.double(), p, **kwargs)
        assert ours.is_contiguous(memory_format=CL[dims])
        assert torch.equal(ours.contiguous().view(bits), contiguous.view(bits)), (kwargs, p)
        torch.testing.assert_close(ours.double(), ref, equal_nan=True, **tol)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("width", [40, 75])
def test_lp_contiguous_long_rows_with_overflow(width, dtype):
    """Contiguous LP rows of p = 2 and 4 (of x, or of |x| with true_norm) sum their interior
    windows in blocks of 16 outputs, two blocks at a time, with the roots in registers; a
    window whose sum overflows is redone through the scaled sum. Rows longer than one block
    (and a last partial block), strides 1, 2 and 3: each result equals the channels-last
    layout's bit for bit (loops of their own), and torch's in float64. (Partial windows at a
    ceil_mode border run the body in one layout and the lanes in the other, which may round
    the last bit apart.)"""
    bits = torch.int16 if dtype == torch.bfloat16 else torch.int32
    tol = dict(rtol=1e-2, atol=1e-2) if dtype == torch.bfloat16 else dict(rtol=2e-5, atol=1e-5)
    windows = [(2, dict(kernel_size=3, stride=2)), (2, dict(kernel_size=3, stride=1, ceil_mode=True)),
               (2, dict(kernel_size=(2, 4), stride=(1, 3))), (3, dict(kernel_size=2, stride=(1, 1, 2)))]
    for (dims, kwargs), p, true_norm in itertools.product(windows, (2, 4), (False, True)):
        x = make_input((2, 3) + (3, 6, width)[3 - dims:], dtype=torch.float64)
        x.view(-1)[7::97] = -1e30 if p == 2 else 1e12  # x^p overflows: those windows take the scaled sum
        x = x.to(dtype)
        with torch.no_grad():
            ours = LP[dims][0](x, p, true_norm=true_norm, **kwargs)
            channels_last = LP[dims][0](x.contiguous(memory_format=CL[dims]), p, true_norm=true_norm, **kwargs)
            ref = LP[dims][1](x.double().abs() if true_norm else x.double(), p, **kwargs)
        assert torch.equal(ours.view(bits), channels_last.contiguous().view(bits)), (kwargs, p, true_norm)
        torch.testing.assert_close(ours.double(), ref, equal_nan=True, **tol)


@pytest.mark.parametrize("width", [31, 32, 33, 75, 112])
def test_lp_contiguous_backward_rows_by_phase(width):
    """The contiguous LP backward of stride 2 works on rows split into even and odd inputs
    (float32 rows: 32 elements at a time by shuffles, then the rest one by one) and merges them
    back; rows around and past the vectors' width, odd and even, against torch in float64."""
    for p, kwargs in ((2, dict(kernel_size=3, stride=2)), (2, dict(kernel_size=(2, 4), stride=2)),
                      (4, dict(kernel_size=2, stride=2, ceil_mode=True))):
        x = make_input((2, 3, 5, width), dtype=torch.float64).abs() + 0.1
        xf = x.float().requires_grad_()
        xd = x.requires_grad_()
        out, ref = PF.lp_pool2d(xf, p, **kwargs), TF.lp_pool2d(xd, p, **kwargs)
        grad = torch.randn(ref.shape, dtype=torch.float64)
        (ours,), (theirs,) = torch.autograd.grad(out, xf, grad.float()), torch.autograd.grad(ref, xd, grad)
        torch.testing.assert_close(ours.double(), theirs, rtol=2e-5, atol=1e-5)


@pytest.mark.parametrize("p", [2, 3, 1.5, -1.5])
@pytest.mark.parametrize("dims", [1, 2, 3])
def test_lp_true_norm(dims, p, device):
    x = make_input((2, 3) + (7,) * dims, dtype=torch.float64, device=device)
    x = (x + 0.05 * x.sign()).requires_grad_()  # away from zero
    for ceil_mode in (False, True):
        kwargs = dict(kernel_size=2, stride=2, ceil_mode=ceil_mode)
        out = LP[dims][0](x, p, true_norm=True, **kwargs)
        ref = LP[dims][1](x.abs(), p, **kwargs)
        torch.testing.assert_close(out, ref, **F64)
        assert not bool(out.isnan().any())
        g = torch.rand_like(ref)
        torch.testing.assert_close(torch.autograd.grad(out, x, g)[0], torch.autograd.grad(ref, x, g)[0], **F64)


def gem_ref(x, p, eps=1e-6):
    pool = {3: TF.avg_pool1d, 4: TF.avg_pool2d, 5: TF.avg_pool3d}[x.dim()]
    return pool(x.clamp(min=eps).pow(p), x.shape[2:]).pow(1.0 / p)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("dims", [1, 2, 3])
def test_gem_matches_composite(dims, dtype, device):
    tol = F64 if dtype == torch.float64 else dict(rtol=2e-5, atol=1e-6)
    x0 = make_input((2, 3) + (5,) * dims, dtype=dtype, device=device)  # negatives are clamped to eps
    for xi, value in itertools.product([x0] + ([x0.contiguous(memory_format=CL[dims])] if dims > 1 else []),
                                       (3.0, 1.5, 4.5)):
        x = xi.detach().requires_grad_()
        for p in (value, torch.tensor([value], dtype=dtype, device=device, requires_grad=True),
                  torch.tensor(value, dtype=dtype, device=device, requires_grad=True)):
            out, ref = PF.gem(x, p, eps=1e-6), gem_ref(x, p)
            assert out.shape == (2, 3) + (1,) * dims
            torch.testing.assert_close(out, ref, **tol)
            g = torch.rand_like(ref)
            inputs = (x, p) if isinstance(p, torch.Tensor) else (x,)
            for a, b in zip(torch.autograd.grad(out, inputs, g), torch.autograd.grad(ref, inputs, g)):
                assert a.shape == b.shape
                torch.testing.assert_close(a, b, **tol)


@pytest.mark.parametrize("dims", [1, 2, 3])
def test_gem_gradcheck_and_gradgradcheck(dims, device):
    x = (torch.rand((2, 2) + (3,) * dims, dtype=torch.float64, device=device) + 0.1).requires_grad_()
    p = torch.tensor([2.5], dtype=torch.float64, device=device, requires_grad=True)
    assert torch.autograd.gradcheck(PF.gem, (x, p))
    assert torch.autograd.gradgradcheck(PF.gem, (x, p))


def test_gem_module_and_optimizer_step(device):
    x = torch.rand(2, 4, 5, 5, device=device) + 0.1
    fixed = pooling_ext.nn.GeM(p=2.5, learnable=False).to(device)
    assert list(fixed.parameters()) == [] and "p" in dict(fixed.named_buffers()) and "p" in fixed.state_dict()
    torch.testing.assert_close(fixed(x), gem_ref(x, 2.5), **F32)
    m = pooling_ext.nn.GeM(p=2.5).to(device)
    assert isinstance(m.p, torch.nn.Parameter) and m.p.shape == (1,) and [n for n, _ in m.named_parameters()] == ["p"]
    assert "p=" in repr(m) and "p=" in repr(fixed)
    p_ref = m.p.detach().clone().requires_grad_()
    torch.testing.assert_close(m(x), gem_ref(x, p_ref), **F32)
    opt = torch.optim.SGD(m.parameters(), lr=0.5)
    before = m.p.detach().clone()
    m(x).sum().backward()
    torch.testing.assert_close(m.p.grad, torch.autograd.grad(gem_ref(x, p_ref).sum(), p_ref)[0], rtol=1e-4, atol=1e-6)
    opt.step()
    assert not torch.equal(m.p.detach(), before)
    clone = pickle.loads(pickle.dumps(m))
    assert torch.equal(clone.p, m.p) and isinstance(clone.p, torch.nn.Parameter)


def test_gem_tensor_p_never_calls_item(monkeypatch):
    x, p = (torch.rand(2, 3, 6, 6) + 0.1).requires_grad_(), torch.tensor([3.0], requires_grad=True)
    for method in ("item", "__float__", "tolist"):
        monkeypatch.setattr(torch.Tensor, method, lambda *a, **k: pytest.fail("host synchronisation on p"))
    PF.gem(x, p).sum().backward()
    monkeypatch.undo()
    assert p.grad is not None and x.grad is not None


def test_gem_rejects_unbatched():
    for shape in ((5, 6), (7,), (1, 2, 3, 4, 5, 6)):
        with pytest.raises(RuntimeError, match="input"):
            PF.gem(torch.rand(shape), 3.0)


def distinct(shape, device, signed=False):
    """Distinct values in [0.5, 1.5) (max-like LP is differentiable there); signed: random signs too."""
    n = math.prod(shape)
    x = (torch.randperm(n, device=device).double() / n + 0.5).view(shape)
    if signed:
        x = x * (torch.randint(0, 2, shape, device=device) * 2 - 1)
    return x.requires_grad_()


GRAD_CASES = [
    ("avg2d", (1, 2, 6, 7), False, lambda t: PF.avg_pool2d(t, 3, 2, 1, ceil_mode=True, count_include_pad=False)),
    ("avg2d divisor", (1, 2, 5, 6), False, lambda t: PF.avg_pool2d(t, (3, 2), (1, 2), (1, 0), divisor_override=3)),
    ("avg1d", (2, 2, 8), False, lambda t: PF.avg_pool1d(t, 3, 2, 1, ceil_mode=True)),
    ("avg3d", (1, 2, 3, 4, 4), False, lambda t: PF.avg_pool3d(t, 2, (1, 2, 2), 1, count_include_pad=False)),
    ("lp2d p=2", (1, 2, 5, 6), False, lambda t: PF.lp_pool2d(t, 2, 2, 1, ceil_mode=True)),
    ("lp2d p=2.5", (1, 2, 5, 6), False, lambda t: PF.lp_pool2d(t, 2.5, (2, 3), ceil_mode=True)),
    ("lp2d p=inf", (1, 2, 5, 6), True, lambda t: PF.lp_pool2d(t, math.inf, 2, 1)),
    ("lp1d true_norm", (2, 2, 7), True, lambda t: PF.lp_pool1d(t, 3, 2, ceil_mode=True, true_norm=True)),
]


@pytest.mark.parametrize("name,shape,signed,fn", GRAD_CASES, ids=[c[0] for c in GRAD_CASES])
def test_gradcheck_and_gradgradcheck(name, shape, signed, fn, device):
    x = distinct(shape, device, signed)
    assert torch.autograd.gradcheck(fn, (x,))
    assert torch.autograd.gradgradcheck(fn, (x,))


def test_opcheck_raw_ops():
    base = make_input((2, 3, 7, 6))
    p = torch.tensor([2.5], requires_grad=True)
    samples = []
    for x, count in ((base, None), (base.contiguous(memory_format=torch.channels_last), 1)):  # channels-last: 1 each
        signed, pos = x.detach().requires_grad_(), (x.detach().abs() + 0.1).requires_grad_()
        for args in [([3, 2], [2, 1], [1, 0], True, False, None), ([2, 2], [1, 2], [0, 1], False, True, 3)][:count]:
            out = ops.avg_pool_forward(signed, *args)
            samples += [(ops.avg_pool_forward, (signed, *args)),
                        (ops.avg_pool_backward, (torch.randn_like(out).requires_grad_(), list(x.shape), *args))]
        for args in [(2.5, [2, 3], [2, 2], True, False), (3.0, [2, 2], [1, 2], True, True),
                     (math.inf, [3, 3], [1, 1], False, False)][:count]:
            inp = signed if args[-1] else pos
            out = ops.lp_pool_forward(inp, *args)
            samples += [(ops.lp_pool_forward, (inp, *args)),
                        (ops.lp_pool_backward, (torch.randn_like(out).requires_grad_(), inp, out.detach(), *args))]
        out = ops.gem_forward(signed, p, 1e-6)
        samples += [(ops.gem_forward, (signed, p, 1e-6)),
                    (ops.gem_backward, (torch.randn_like(out).requires_grad_(), signed, out.detach(), p, 1e-6, True))]
    for op, args in samples:
        torch.library.opcheck(op.default, args)


COMPILED = {"avg": lambda t, q: PF.avg_pool2d(t, 3, 2, 1, ceil_mode=True, divisor_override=2),
            "lp": lambda t, q: PF.lp_pool2d(t, 2.5, (3, 2), 2, ceil_mode=True),
            "gem": lambda t, q: PF.gem(t, q)}


@pytest.mark.parametrize("name", list(COMPILED))
def test_compile_fullgraph(name):
    torch._dynamo.reset()
    fn, x, p = COMPILED[name], (make_input((2, 3, 9, 8)).abs() + 0.1).requires_grad_(), torch.tensor([3.0])
    p.requires_grad_()
    names = captured_ops(fn, x, p)
    assert any("pooling_ext" in n for n in names), names
    out, ref = torch.compile(fn, fullgraph=True)(x, p), fn(x, p)
    torch.testing.assert_close(out, ref, **F32)
    g = torch.randn_like(ref)
    inputs = (x, p) if name == "gem" else (x,)
    for a, b in zip(torch.autograd.grad(out, inputs, g), torch.autograd.grad(ref, inputs, g)):
        torch.testing.assert_close(a, b, **F32)


def test_backward_bitwise_deterministic_across_runs_and_threads():
    x = make_input((4, 16, 24, 24)).abs() + 0.1
    fns = [lambda t, q: PF.avg_pool2d(t, 3, 1, 1), lambda t, q: PF.lp_pool2d(t, 2.5, 3, 1), PF.gem]
    previous = torch.get_num_threads()

    def run():
        results = []
        for fn, layout in itertools.product(fns, (torch.contiguous_format, torch.channels_last)):
            xi = x.clone(memory_format=layout).requires_grad_()
            p = torch.tensor([3.0], requires_grad=True)
            out = fn(xi, p)
            out.backward(torch.linspace(-1, 1, out.numel()).view(out.shape))
            results += [out.detach(), xi.grad] + ([p.grad] if p.grad is not None else [])
        return results

    assert_bitwise_same_across_thread_counts(run)
    assert torch.get_num_threads() == previous


X2 = torch.randn(1, 1, 5, 5)
BAD_CALLS = [
    ("avg stride zero", "stride", lambda F: F.avg_pool2d(X2, 2, 0)),
    ("avg kernel zero", "kernel_size", lambda F: F.avg_pool2d(X2, 0)),
    ("avg padding over half kernel", "padding", lambda F: F.avg_pool2d(X2, 2, padding=2)),
    ("avg padding negative", "padding", lambda F: F.avg_pool2d(X2, 2, padding=-1)),
    ("avg divisor zero", "divisor_override", lambda F: F.avg_pool2d(X2, 2, divisor_override=0)),
    ("avg3d divisor zero", "divisor_override", lambda F: F.avg_pool3d(X2[None], 1, divisor_override=0)),
    ("avg divisor float", "divisor_override", lambda F: F.avg_pool2d(X2, 2, divisor_override=2.5)),
    ("avg rank too low", "input", lambda F: F.avg_pool2d(X2[0, 0], 2)),
    ("avg rank too high", "input", lambda F: F.avg_pool2d(X2[None], 2)),
    ("avg1d rank", "input", lambda F: F.avg_pool1d(torch.randn(4), 2)),
    ("avg3d rank", "input", lambda F: F.avg_pool3d(X2[0], 2)),
    ("avg zero channels", "input", lambda F: F.avg_pool2d(torch.randn(1, 0, 5, 5), 2)),
    ("avg zero width", "input", lambda F: F.avg_pool2d(torch.randn(1, 3, 5, 0), 2)),
    ("avg output too small", "output size", lambda F: F.avg_pool2d(X2, 6)),
    ("avg1d output too small", "output size", lambda F: F.avg_pool1d(X2[0], 6)),
    ("avg1d stride zero", "stride", lambda F: F.avg_pool1d(X2[0], 2, 0)),
    ("avg3d stride zero", "stride", lambda F: F.avg_pool3d(X2[None], 1, 0)),
    ("lp stride zero", "stride", lambda F: F.lp_pool2d(X2, 2, 2, 0)),
    ("lp kernel zero", "kernel_size", lambda F: F.lp_pool2d(X2, 2, 0)),
    ("lp inf kernel zero", "kernel_size", lambda F: F.lp_pool2d(X2, math.inf, 0)),
    ("lp rank too low", "input", lambda F: F.lp_pool2d(X2[0, 0], 2, 2)),
    ("lp zero channels", "input", lambda F: F.lp_pool2d(torch.randn(1, 0, 5, 5), 2, 2)),
    ("lp output too small", "output size", lambda F: F.lp_pool2d(X2, 2, 6)),
    ("lp1d output too small", "output size", lambda F: F.lp_pool1d(X2[0], 2, 6)),
    ("lp3d stride zero", "stride", lambda F: F.lp_pool3d(X2[None], 2, 1, 0)),
    ("lp norm_type zero", "norm_type", lambda F: F.lp_pool2d(X2, 0, 2)),
    ("lp1d norm_type zero", "norm_type", lambda F: F.lp_pool1d(X2[0], 0.0, 2)),
    ("lp3d norm_type zero", "norm_type", lambda F: F.lp_pool3d(X2[None], 0, 1)),
]


@pytest.mark.parametrize("name,argument,call", BAD_CALLS, ids=[c[0] for c in BAD_CALLS])
def test_same_exception_type_as_torch(name, argument, call):
    assert_raises_like_torch(call, argument)


MODULE_PAIRS = [
    (pooling_ext.nn.AvgPool1d, torch.nn.AvgPool1d, dict(kernel_size=3, stride=2, padding=1, ceil_mode=True,
                                                        count_include_pad=False)),
    (pooling_ext.nn.AvgPool2d, torch.nn.AvgPool2d, dict(kernel_size=(3, 2), stride=2, padding=(1, 0),
                                                        divisor_override=3)),
    (pooling_ext.nn.AvgPool3d, torch.nn.AvgPool3d, dict(kernel_size=2, stride=(1, 2, 2), ceil_mode=True)),
    (pooling_ext.nn.LPPool1d, torch.nn.LPPool1d, dict(norm_type=2, kernel_size=3, stride=2)),
    (pooling_ext.nn.LPPool2d, torch.nn.LPPool2d, dict(norm_type=1.5, kernel_size=(2, 3), ceil_mode=True)),
    (pooling_ext.nn.LPPool3d, torch.nn.LPPool3d, dict(norm_type=math.inf, kernel_size=2)),
]


@pytest.mark.parametrize("ours,theirs,kwargs", MODULE_PAIRS)
def test_module_is_a_drop_in(ours, theirs, kwargs):
    mine, ref = ours(**kwargs), theirs(**kwargs)
    assert isinstance(mine, theirs) and repr(mine) == repr(ref)
    assert mine.state_dict().keys() == ref.state_dict().keys()
    mine.load_state_dict(ref.state_dict())
    clone = pickle.loads(pickle.dumps(mine))
    assert type(clone) is ours and repr(clone) == repr(mine)
    dims = int(theirs.__name__[-2])
    x = torch.rand((2, 3) + (8,) * dims, dtype=torch.float64) + 0.1
    torch.testing.assert_close(clone(x), ref(x), **F64)


def test_replace_pooling_and_patch():
    model = torch.nn.Sequential(torch.nn.AvgPool2d(3, 1, 1), torch.nn.LPPool2d(2, 2),
                                torch.nn.Sequential(torch.nn.AvgPool1d(2)))
    reference = copy.deepcopy(model)
    assert pooling_ext.replace_pooling(model) is model
    assert type(model[0]) is pooling_ext.nn.AvgPool2d and type(model[1]) is pooling_ext.nn.LPPool2d
    assert type(model[2][0]) is pooling_ext.nn.AvgPool1d
    x = torch.rand(1, 2, 6, 6) + 0.1
    torch.testing.assert_close(model[:2](x), reference[:2](x))
    originals = {name: getattr(TF, name) for name in ("avg_pool2d", "lp_pool2d", "avg_pool3d", "lp_pool1d")}
    with pooling_ext.patch():
        for name in originals:
            assert getattr(TF, name) is getattr(PF, name)
        assert not hasattr(TF, "gem")
        with NoTorchPooling():  # torch's own modules now run ours
            torch.nn.AvgPool2d(2)(x), torch.nn.LPPool2d(2, 2)(x)
    for name, original in originals.items():
        assert getattr(TF, name) is original


NO_POOL = {"avg": lambda t, q: PF.avg_pool2d(t, 3, 2, 1), "lp2": lambda t, q: PF.lp_pool2d(t, 2, 3, 2),
           "lpinf": lambda t, q: PF.lp_pool2d(t, math.inf, 3, 2), "gem": PF.gem}


@pytest.mark.parametrize("name", list(NO_POOL))
def test_no_torch_pooling_op_runs(name, device):
    x = distinct((2, 3, 8, 8), device, signed=True)
    p = torch.tensor([2.5], dtype=torch.float64, device=device, requires_grad=True)
    inputs = (x, p) if name == "gem" else (x,)
    with NoTorchPooling():
        out = NO_POOL[name](x, p)
        grad_out = torch.rand_like(out).requires_grad_()
        grads = torch.autograd.grad(out, inputs, grad_out, create_graph=True)
        sum((g * g).sum() for g in grads).backward()  # double backward, into x (where nonlinear) and grad_out
    assert grad_out.grad is not None
