"""A seeded differential check against torch across every family: random
shapes, window arguments, layouts and dtypes; outputs, indices and input
gradients compared with torch's. Small and quick, so the sanitizer stage
(tools/sanitize.sh) runs it under AddressSanitizer and UBSan too."""
import random

import pytest
import torch
import torch.nn.functional as TF

import pooling_ext.functional as PF
from pool_cases import has_empty_window, torch_accepts, window_cases

SEED = 20261202
CASES_PER_FAMILY = 24
CHANNELS_LAST = {2: torch.channels_last, 3: torch.channels_last_3d}


def tolerance(dtype):
    return dict(rtol=1e-6, atol=1e-6) if dtype == torch.float64 else dict(rtol=2e-4, atol=2e-5)


def layouts(x, dims):
    yield x
    if dims >= 2 and x.dim() == dims + 2:
        yield x.contiguous(memory_format=CHANNELS_LAST[dims])


def compare(ours_fn, torch_fn, x, dtype, exact=False):
    """Outputs (and indices) and the input gradient of ours and torch's on x."""
    xa, xb = x.detach().clone().requires_grad_(), x.detach().clone().requires_grad_()
    ours, theirs = ours_fn(xa), torch_fn(xb)
    ours_t = ours if isinstance(ours, tuple) else (ours,)
    theirs_t = theirs if isinstance(theirs, tuple) else (theirs,)
    for a, b in zip(ours_t, theirs_t, strict=True):
        if exact or not a.is_floating_point():
            assert torch.equal(a, b) or torch.equal(a.isnan(), b.isnan()) and torch.equal(a.nan_to_num(), b.nan_to_num())
        else:
            torch.testing.assert_close(a, b, equal_nan=True, **tolerance(dtype))
    grad = torch.randn(ours_t[0].shape, dtype=dtype)
    (ga,) = torch.autograd.grad(ours_t[0], xa, grad)
    (gb,) = torch.autograd.grad(theirs_t[0], xb, grad)
    torch.testing.assert_close(ga, gb, **tolerance(dtype))


@pytest.mark.parametrize("dims", [1, 2, 3])
def test_max_pooling(dims):
    rng = random.Random(SEED + dims)
    checked = 0
    for shape, kwargs in window_cases(dims, CASES_PER_FAMILY, seed=SEED + dims):
        dtype = rng.choice([torch.float32, torch.float64])
        x = torch.randn(shape, dtype=dtype)
        ours = {1: PF.max_pool1d, 2: PF.max_pool2d, 3: PF.max_pool3d}[dims]
        theirs = {1: TF.max_pool1d, 2: TF.max_pool2d, 3: TF.max_pool3d}[dims]
        if not torch_accepts(theirs, x, kwargs):
            continue
        _, idx = ours(x, return_indices=True, **kwargs)
        _, ref_idx = theirs(x, return_indices=True, **kwargs)
        if has_empty_window(idx, ref_idx, x.shape, dims):
            continue  # torch's indices are wrong there (documented difference)
        for xl in layouts(x, dims):
            compare(lambda t: ours(t, return_indices=True, **kwargs), lambda t: theirs(t, return_indices=True, **kwargs),
                    xl, dtype, exact=True)
            checked += 1
    assert checked > CASES_PER_FAMILY // 2


@pytest.mark.parametrize("dims", [1, 2, 3])
def test_average_and_lp_pooling(dims):
    rng = random.Random(SEED + 10 + dims)
    checked = 0
    for shape, kwargs in window_cases(dims, CASES_PER_FAMILY, seed=SEED + 10 + dims):
        dtype = rng.choice([torch.float32, torch.float64])
        kernel, stride, ceil = kwargs["kernel_size"], kwargs["stride"], kwargs["ceil_mode"]
        avg = dict(kernel_size=kernel, stride=stride, padding=kwargs["padding"], ceil_mode=ceil,
                   count_include_pad=rng.random() < 0.5)
        if dims > 1 and rng.random() < 0.3:
            avg["divisor_override"] = rng.choice([1, 3, 7])
        x = torch.randn(shape, dtype=dtype)
        ours = {1: PF.avg_pool1d, 2: PF.avg_pool2d, 3: PF.avg_pool3d}[dims]
        theirs = {1: TF.avg_pool1d, 2: TF.avg_pool2d, 3: TF.avg_pool3d}[dims]
        norm = rng.choice([1.0, 2.0, 3.0, 1.5])
        lp_ours = {1: PF.lp_pool1d, 2: PF.lp_pool2d, 3: PF.lp_pool3d}[dims]
        lp_theirs = {1: TF.lp_pool1d, 2: TF.lp_pool2d, 3: TF.lp_pool3d}[dims]
        lp_kernel = kernel if not isinstance(kernel, list) or dims > 1 else kernel[0]
        positive = x.abs() + 0.5  # (torch's lp_pool of negative x to a fractional p is NaN)
        for xl, pl in zip(layouts(x, dims), layouts(positive, dims)):
            if torch_accepts(theirs, xl, avg):
                compare(lambda t: ours(t, **avg), lambda t: theirs(t, **avg), xl, dtype)
                checked += 1
            if torch_accepts(lambda t: lp_theirs(t, norm, lp_kernel, stride, ceil), pl, {}):
                compare(lambda t: lp_ours(t, norm, lp_kernel, stride, ceil),
                        lambda t: lp_theirs(t, norm, lp_kernel, stride, ceil), pl, dtype)
    assert checked > CASES_PER_FAMILY // 3


@pytest.mark.parametrize("dims", [1, 2, 3])
def test_adaptive_pooling(dims):
    rng = random.Random(SEED + 20 + dims)
    for _ in range(CASES_PER_FAMILY):
        dtype = rng.choice([torch.float32, torch.float64])
        in_sizes = [rng.randint(1, 13) for _ in range(dims)]
        out_sizes = [rng.randint(1, 2 * s + 1) for s in in_sizes]
        x = torch.randn([rng.randint(1, 2), rng.choice([1, 3, 20])] + in_sizes, dtype=dtype)
        for xl in layouts(x, dims):
            compare(lambda t: getattr(PF, f"adaptive_avg_pool{dims}d")(t, out_sizes),
                    lambda t: getattr(TF, f"adaptive_avg_pool{dims}d")(t, out_sizes), xl, dtype)
            compare(lambda t: getattr(PF, f"adaptive_max_pool{dims}d")(t, out_sizes, True),
                    lambda t: getattr(TF, f"adaptive_max_pool{dims}d")(t, out_sizes, True), xl, dtype, exact=True)


@pytest.mark.parametrize("dims", [2, 3])
def test_fractional_pooling_and_unpooling(dims):
    rng = random.Random(SEED + 30 + dims)
    for _ in range(CASES_PER_FAMILY):
        dtype = rng.choice([torch.float32, torch.float64])
        in_sizes = [rng.randint(4, 12) for _ in range(dims)]
        kernel = [rng.randint(1, 3) for _ in range(dims)]
        out_sizes = [rng.randint(1, s - k) for s, k in zip(in_sizes, kernel)]
        x = torch.randn([2, 3] + in_sizes, dtype=dtype)
        samples = torch.rand(2, 3, dims, dtype=dtype)
        for xl in layouts(x, dims):
            compare(lambda t: getattr(PF, f"fractional_max_pool{dims}d")(t, kernel, out_sizes, None, True, samples),
                    lambda t: getattr(TF, f"fractional_max_pool{dims}d")(t, kernel, out_sizes, None, True, samples),
                    xl, dtype, exact=True)
        # Unpooling the indices of a max pooling.
        out, idx = TF.max_pool2d(x.flatten(1, -3), 2, return_indices=True) if dims == 3 else \
            TF.max_pool2d(x, 2, return_indices=True)
        size = list(x.shape[-2:])
        compare(lambda t: PF.max_unpool2d(t, idx, 2, output_size=size),
                lambda t: TF.max_unpool2d(t, idx, 2, output_size=size), out, dtype, exact=True)


def test_gem():
    rng = random.Random(SEED + 40)
    for _ in range(CASES_PER_FAMILY):
        dtype = rng.choice([torch.float32, torch.float64])
        dims = rng.choice([1, 2, 3])
        x = torch.rand([rng.randint(1, 3), rng.choice([1, 5, 32])] + [rng.randint(1, 9) for _ in range(dims)],
                       dtype=dtype)
        p = rng.choice([1.0, 2.0, 3.0, 2.5])

        def reference(t):
            pooled = {1: TF.avg_pool1d, 2: TF.avg_pool2d, 3: TF.avg_pool3d}[dims](t.clamp(min=1e-6).pow(p),
                                                                                    t.shape[2:])
            return pooled.pow(1.0 / p)

        for xl in layouts(x, dims):
            compare(lambda t: PF.gem(t, p), reference, xl, dtype)
