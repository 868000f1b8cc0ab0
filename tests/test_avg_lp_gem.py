"""Average, LP and GeM pooling: forward and backward against torch over
random grids, hand-computed and NumPy references, dtypes, layouts, LP edge
cases (negative inputs, zero windows, overflow, true_norm), GeM with a
learnable p, gradcheck, opcheck, torch.compile, determinism, errors, modules."""
import itertools
import math
import pickle
import random

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from torch.utils._python_dispatch import TorchDispatchMode

import pooling_ext
import pooling_ext.functional as PF
from conftest import assert_same, make_input, same_layout
from pool_cases import torch_accepts, window_cases

ops = torch.ops.pooling_ext
AVG = {1: (PF.avg_pool1d, TF.avg_pool1d), 2: (PF.avg_pool2d, TF.avg_pool2d), 3: (PF.avg_pool3d, TF.avg_pool3d)}
LP = {1: (PF.lp_pool1d, TF.lp_pool1d), 2: (PF.lp_pool2d, TF.lp_pool2d), 3: (PF.lp_pool3d, TF.lp_pool3d)}
CL = {2: torch.channels_last, 3: torch.channels_last_3d}
F64 = dict(rtol=1e-12, atol=1e-12)
F32 = dict(rtol=1e-5, atol=1e-6)


def avg_cases(dims, count, seed):
    """window_cases without dilation, plus count_include_pad and (2-d, 3-d) divisor_override."""
    rng = random.Random(seed)
    cases = []
    for shape, kwargs in window_cases(dims, count, seed):
        kwargs.pop("dilation")
        kwargs["count_include_pad"] = rng.random() < 0.5
        if dims > 1:
            kwargs["divisor_override"] = rng.choice([None, None, 1, 3, -2])
        cases.append((shape, kwargs))
    return cases


def check_avg(dims, x, kwargs, tol, layout=True):
    ours_fn, torch_fn = AVG[dims]
    x = x.detach().requires_grad_()  # views keep their strides
    out, ref = ours_fn(x, **kwargs), torch_fn(x, **kwargs)
    assert_same(out, ref, exact=False, **tol)
    assert same_layout(out, ref) or not layout  # see test_output_layout_like_torch
    grad = torch.randn(ref.shape, dtype=torch.float64, device=x.device).to(x.dtype)
    (ga,), (gb,) = torch.autograd.grad(out, x, grad), torch.autograd.grad(ref, x, grad)
    assert_same(ga, gb, exact=False, **tol)


# 1. Random grids against torch ------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("dims", [1, 2, 3])
def test_avg_grid_matches_torch(dims, dtype, device):
    tol = F64 if dtype == torch.float64 else F32
    checked = 0
    for shape, kwargs in avg_cases(dims, 60 if dims < 3 else 120, seed=200 + dims):
        x = make_input(shape, dtype=dtype, device=device)
        if not torch_accepts(AVG[dims][1], x, kwargs):
            try:
                AVG[dims][1](x, **kwargs)
            except RuntimeError as error:
                if "smaller than kernel size" in str(error):
                    continue  # torch's extra avg_pool3d check (input >= kernel, padding ignored): ours may accept
            with pytest.raises(RuntimeError):
                AVG[dims][0](x, **kwargs)
            continue
        check_avg(dims, x, kwargs, tol)
        if dims > 1:
            check_avg(dims, x.contiguous(memory_format=CL[dims]), kwargs, tol, layout=False)
        checked += 1
    assert checked > 25


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
def test_output_layout_like_torch(dims, device):
    x = make_input((2, 3) + (6,) * dims, dtype=torch.float64, device=device).contiguous(memory_format=CL[dims])
    mismatches = []
    for (ours_fn, torch_fn), args in ((AVG[dims], (3, 2, 1)), (LP[dims], (2, 2)), (LP[dims], (math.inf, 2))):
        out, ref = ours_fn(x.abs(), *args), torch_fn(x.abs(), *args)
        if not same_layout(out, ref):
            mismatches.append((ours_fn.__name__, args, out.stride(), ref.stride()))
    assert not mismatches


@pytest.mark.parametrize("dims", [2, 3])
def test_avg_raw_gradient_layout_like_torch(dims, device):
    # torch.autograd.grad returns the backward kernel's own layout (no AccumulateGrad restriding).
    x = make_input((2, 3) + (6,) * dims, dtype=torch.float64, device=device)
    for x_fmt, g_fmt in itertools.product((torch.contiguous_format, CL[dims]), repeat=2):
        xi = x.contiguous(memory_format=x_fmt).requires_grad_()
        out, ref = AVG[dims][0](xi, 3, 2, 1), AVG[dims][1](xi, 3, 2, 1)
        g = torch.randn_like(ref).contiguous(memory_format=g_fmt)
        (ga,), (gb,) = torch.autograd.grad(out, xi, g), torch.autograd.grad(ref, xi, g)
        assert same_layout(ga, gb), (x_fmt, g_fmt, ga.stride(), gb.stride())


# 2. References that do not rely on torch ---------------------------------------------------------------------

def test_ceil_mode_divisor_by_hand():
    # Length 6, kernel 3, stride 2, padding 1, ceil_mode: windows start at -1, 1, 3, 5. The last one
    # [5, 8) is cut at input + padding = 7, so it covers x[5] and one padding position.
    x = torch.tensor([[[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]]], dtype=torch.float64, requires_grad=True)
    out = PF.avg_pool1d(x, 3, 2, 1, ceil_mode=True, count_include_pad=True)
    assert out.tolist() == [[[(1 + 2) / 3, (2 + 3 + 4) / 3, (4 + 5 + 6) / 3, 6 / 2]]]
    out.backward(torch.ones_like(out))
    torch.testing.assert_close(x.grad, torch.tensor([[[1 / 3, 2 / 3, 1 / 3, 2 / 3, 1 / 3, 1 / 3 + 1 / 2]]],
                                                    dtype=torch.float64))
    out = PF.avg_pool1d(x, 3, 2, 1, ceil_mode=True, count_include_pad=False)
    assert out.tolist() == [[[(1 + 2) / 2, (2 + 3 + 4) / 3, (4 + 5 + 6) / 3, 6 / 1]]]
    # divisor_override replaces every divisor, even of truncated windows.
    x2 = torch.arange(1.0, 10.0, dtype=torch.float64).view(1, 1, 3, 3)
    out = PF.avg_pool2d(x2, 2, 2, 1, ceil_mode=True, divisor_override=3)
    assert out.tolist() == [[[[1 / 3, (2 + 3) / 3], [(4 + 7) / 3, (5 + 6 + 8 + 9) / 3]]]]


def numpy_avg_pool2d(x, kernel, stride, padding, ceil_mode, count_include_pad, divisor_override):
    """From the definition: a window's divisor counts padding (when asked) but not the positions past
    input + padding that ceil_mode adds; windows starting past input + padding are dropped."""
    spatial, sizes = x.shape[2:], []
    for d in range(2):
        n = (spatial[d] + 2 * padding[d] - kernel[d] + (stride[d] - 1 if ceil_mode else 0)) // stride[d] + 1
        if ceil_mode and (n - 1) * stride[d] >= spatial[d] + padding[d]:
            n -= 1
        sizes.append(n)
    out = np.zeros(x.shape[:2] + tuple(sizes))
    for o in itertools.product(range(sizes[0]), range(sizes[1])):
        lo = [o[d] * stride[d] - padding[d] for d in range(2)]
        hi = [min(lo[d] + kernel[d], spatial[d] + padding[d]) for d in range(2)]
        clo = [max(v, 0) for v in lo]
        chi = [min(hi[d], spatial[d]) for d in range(2)]
        total = x[:, :, clo[0]:chi[0], clo[1]:chi[1]].sum(axis=(2, 3))
        if divisor_override:
            divisor = divisor_override
        elif count_include_pad:
            divisor = (hi[0] - lo[0]) * (hi[1] - lo[1])
        else:
            divisor = (chi[0] - clo[0]) * (chi[1] - clo[1])
        out[(slice(None), slice(None)) + o] = total / divisor
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


# 3. dtypes --------------------------------------------------------------------------------------------------

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
    assert PF.avg_pool1d(torch.tensor([[[-3, -4]]]), 2).item() == TF.avg_pool1d(torch.tensor([[[-3, -4]]]), 2).item()


@pytest.mark.parametrize("dtype", [torch.int32, torch.uint8, torch.bool])
@pytest.mark.parametrize("dims", [1, 2, 3])
def test_avg_unsupported_dtypes(dims, dtype):
    x = torch.ones((1, 2) + (4,) * dims).to(dtype)
    with pytest.raises(NotImplementedError):
        AVG[dims][1](x, 2)
    with pytest.raises(NotImplementedError):
        AVG[dims][0](x, 2)


# 4. LP pooling ----------------------------------------------------------------------------------------------

P_VALUES = [1, 2, 3, 4, 1.5, 0.5, -1, -2.5, math.inf, -math.inf]
LP_WINDOWS = {1: [dict(kernel_size=3, stride=2), dict(kernel_size=2)],
              2: [dict(kernel_size=(3, 2), stride=(2, 1)), dict(kernel_size=2)],
              3: [dict(kernel_size=(2, 3, 2), stride=(1, 2, 2)), dict(kernel_size=2)]}


def check_lp(dims, x, p, kwargs, tol=F64, equal_nan=False):
    """Values equal torch's (NaN where torch has NaN, if equal_nan); gradients wherever torch's is finite
    (torch's elementwise pow gives NaN gradients even to negative inputs outside every window)."""
    ours_fn, torch_fn = LP[dims]
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


@pytest.mark.parametrize("p", [2, 3, 1.5])
@pytest.mark.parametrize("dims", [1, 2, 3])
def test_lp_negative_inputs_like_torch(dims, p, device):
    # x ** p without abs: odd p gives negative sums (NaN root), fractional p NaN powers, like torch.
    x = make_input((2, 3) + (7,) * dims, dtype=torch.float64, device=device)
    for ceil_mode in (False, True):
        check_lp(dims, x, p, dict(kernel_size=2, ceil_mode=ceil_mode), equal_nan=True)
    out = LP[dims][0](x, p, 2)
    if p == 1.5:
        assert bool(out.isnan().any())


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
    x64 = x.detach().double()
    m = x64.amax()
    ref = m * (TF.avg_pool2d((x64 / m) ** 50, **kwargs) * 9) ** (1 / 50)
    torch.testing.assert_close(out.double(), ref, rtol=1e-5, atol=0)
    window_max = TF.max_pool2d(x64, **kwargs)  # and the result lies in [max, max * K ** (1 / p)]
    assert bool((out.double() >= window_max * (1 - 1e-6)).all())
    assert bool((out.double() <= window_max * 9 ** (1 / 50) * (1 + 1e-6)).all())
    x2 = x64.clone().requires_grad_()
    g = torch.rand_like(out)
    (ga,) = torch.autograd.grad(out, x, g)
    (gb,) = torch.autograd.grad(TF.lp_pool2d(x2, 50, **kwargs), x2, g.double())
    assert bool(torch.isfinite(ga).all())
    torch.testing.assert_close(ga.double(), gb, rtol=1e-4, atol=1e-6)


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


@pytest.mark.parametrize("dims", [1, 2, 3])
def test_lp_norm_type_zero(dims):
    x = torch.rand((1, 2) + (4,) * dims)
    with pytest.raises(ValueError):
        LP[dims][1](x, 0, 2)
    with pytest.raises(ValueError, match="norm_type"):
        LP[dims][0](x, 0, 2)


# 5. GeM -----------------------------------------------------------------------------------------------------

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
    x = (torch.rand(2, 3, 6, 6) + 0.1).requires_grad_()
    p = torch.tensor([3.0], requires_grad=True)

    def refuse(*args, **kwargs):
        raise AssertionError("host synchronisation on p")

    monkeypatch.setattr(torch.Tensor, "item", refuse)
    monkeypatch.setattr(torch.Tensor, "__float__", refuse)
    monkeypatch.setattr(torch.Tensor, "tolist", refuse)
    PF.gem(x, p).sum().backward()
    monkeypatch.undo()
    assert p.grad is not None and x.grad is not None


@pytest.mark.parametrize("shape", [(5, 6), (7,)])
def test_gem_rejects_unbatched(shape):
    with pytest.raises(RuntimeError, match="input"):
        PF.gem(torch.rand(shape), 3.0)


# 6. gradcheck / gradgradcheck --------------------------------------------------------------------------------

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


# 7. opcheck on the raw ops -----------------------------------------------------------------------------------

def test_opcheck_raw_ops():
    base = make_input((2, 3, 7, 6))
    p = torch.tensor([2.5], requires_grad=True)
    samples = []
    for x in (base, base.contiguous(memory_format=torch.channels_last), base[:, 0]):  # last: 1-d pooling
        dims = x.dim() - 2
        signed, pos = x.detach().requires_grad_(), (x.detach().abs() + 0.1).requires_grad_()
        for args in (([3] * dims, [2] * dims, [1] * dims, True, False, None),
                     ([2] * dims, [1] * dims, [0] * dims, False, True, 3)):
            out = ops.avg_pool_forward(signed, *args)
            samples += [(ops.avg_pool_forward, (signed, *args)),
                        (ops.avg_pool_backward, (torch.randn_like(out).requires_grad_(), list(x.shape), *args))]
        for args in ((2.5, [2] * dims, [2] * dims, True, False), (math.inf, [3] * dims, [1] * dims, False, False),
                     (3.0, [2] * dims, [1] * dims, True, True)):
            inp = signed if args[-1] else pos
            out = ops.lp_pool_forward(inp, *args)
            samples += [(ops.lp_pool_forward, (inp, *args)),
                        (ops.lp_pool_backward, (torch.randn_like(out).requires_grad_(), inp, out.detach(), *args))]
        out = ops.gem_forward(signed, p, 1e-6)
        samples += [(ops.gem_forward, (signed, p, 1e-6)),
                    (ops.gem_backward, (torch.randn_like(out).requires_grad_(), signed, out.detach(), p, 1e-6, True))]
    for op, args in samples:
        torch.library.opcheck(op.default, args)
