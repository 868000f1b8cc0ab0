"""Fractional max pooling (2d, 3d) against torch with the same _random_samples
(random grid of sizes, kernels and output sizes with the extreme ones, dtypes,
layouts, unbatched), torch's NaN and tie rules, samples drawn as torch draws
them, gradients, gradcheck, determinism, opcheck, torch.compile, modules,
errors, emulation of the CUDA kernels, no torch pooling, and the clamp of window starts for
samples outside [0, 1) against a NumPy reference."""
import copy
import itertools
import pickle
import random

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import pooling_ext
import pooling_ext.functional as PF
from conftest import NoTorchPooling, assert_bitwise_same_across_thread_counts, assert_same, make_input, same_layout
from test_autograd_compile import captured_ops
from emulation import EMULATIONS

ops = torch.ops.pooling_ext
CL = {2: torch.channels_last, 3: torch.channels_last_3d}
OURS = {2: PF.fractional_max_pool2d, 3: PF.fractional_max_pool3d}
THEIRS = {2: TF.fractional_max_pool2d, 3: TF.fractional_max_pool3d}
OURS_WITH_INDICES = {2: PF.fractional_max_pool2d_with_indices, 3: PF.fractional_max_pool3d_with_indices}
MODULES = {2: (pooling_ext.nn.FractionalMaxPool2d, torch.nn.FractionalMaxPool2d),
           3: (pooling_ext.nn.FractionalMaxPool3d, torch.nn.FractionalMaxPool3d)}
DTYPES = [torch.float64, torch.float32, torch.bfloat16, torch.float16]
# torch's sample column for each spatial dim: 2d (H, W) <- (1, 0); 3d (T, H, W) <- (0, 1, 2).
SAMPLE_COLUMN = {2: [1, 0], 3: [0, 1, 2]}


def draw_samples(x, dims, extra_batch=0):
    n = 1 if x.dim() == dims + 1 else x.shape[0]
    return torch.rand(n + extra_batch, x.shape[-dims - 1], dims, dtype=x.dtype, device=x.device)


def scatter_grad(x, indices, grad, dims):
    """The gradient max pooling sends to its argmaxes: grad summed at each index, in float64."""
    flat = torch.zeros(x.shape[:-dims] + (int(np.prod(x.shape[-dims:])),), dtype=torch.float64, device=x.device)
    flat.scatter_add_(-1, indices.flatten(-dims), grad.double().flatten(-dims))
    return flat.view(x.shape)


def check_against_torch(dims, x, kernel, output_size, samples, grad=True):
    """Values, int64 indices and their layout exactly torch's; gradients torch's
    (float32 / float64) or the float64 sum at torch's argmaxes (half types)."""
    x = x.detach().requires_grad_(grad)
    out, idx = OURS[dims](x, kernel, output_size, return_indices=True, _random_samples=samples)
    ref, ref_idx = THEIRS[dims](x, kernel, output_size, return_indices=True, _random_samples=samples)
    assert_same(out, ref)
    assert_same(idx, ref_idx)
    if grad:
        check_gradient(dims, x, out, ref, ref_idx)
    assert_layout_like_torch(dims, out, idx, ref, ref_idx, x)


def assert_layout_like_torch(dims, out, idx, ref, ref_idx, x):
    """torch 2.14.1 returns contiguous output and indices for channels-last input; ours keep the input's
    layout, as the other pooling layers do, so a channels-last network stays channels-last (a documented
    difference). Contiguous input gives contiguous results in both."""
    fmt = torch.channels_last if dims == 2 else torch.channels_last_3d
    if x.dim() == dims + 2 and not x.is_contiguous() and x.is_contiguous(memory_format=fmt):
        assert out.is_contiguous(memory_format=fmt) and idx.is_contiguous(memory_format=fmt), (out.stride(), idx.stride())
    else:
        assert same_layout(out, ref) and same_layout(idx, ref_idx), (out.stride(), ref.stride(), idx.stride())


def check_gradient(dims, x, out, ref, ref_idx):
    g = torch.randn(ref.shape, dtype=torch.float64, device=x.device).to(x.dtype)
    (ga,) = torch.autograd.grad(out, x, g)
    assert ga.dtype == x.dtype and ga.shape == x.shape
    if x.dtype in (torch.float32, torch.float64):
        (gb,) = torch.autograd.grad(ref, x, g)
        if x.device.type == "cpu":
            # Both add the gradients at a shared argmax in output order: bitwise equal.
            assert torch.equal(ga, gb)
        else:
            # torch's CUDA backward adds with atomics in no fixed order.
            torch.testing.assert_close(ga, gb, rtol=1e-6, atol=1e-6)
    else:
        # torch adds at shared argmaxes in the half type (one rounding per addition): against the
        # float64 sum at torch's indices, within the error bound of n additions in that type.
        assert_within_sum_bound(ga, x, ref_idx, g, dims)


def assert_within_sum_bound(grad, x, indices, g, dims):
    """|grad - exact sum| within the bound for n additions rounded in x's dtype."""
    unit = {torch.bfloat16: 2.0 ** -8, torch.float16: 2.0 ** -11, torch.float32: 2.0 ** -24,
            torch.float64: 2.0 ** -53}[x.dtype]
    exact = scatter_grad(x, indices, g, dims)
    count = scatter_grad(x, indices, torch.ones_like(g), dims)
    bound = unit * (count + 1) * scatter_grad(x, indices, g.abs(), dims)
    error = (grad.double() - exact).abs()
    assert bool((error <= bound).all()), (error - bound).max()


def extent_options(rng, n, dims):
    """(output, kernel) for one input extent n: torch needs out + k - 1 <= n in
    2d and < n in 3d. Kernel 1, the largest kernel, output 1, random."""
    room = n if dims == 2 else n - 1
    mode = rng.choice(["kernel 1", "largest kernel", "output 1", "random", "random"])
    if mode == "kernel 1":
        out = rng.randint(1, room)
        return out, 1
    if mode == "largest kernel":  # also output = in - k + 1 (2d), the largest output for k
        out = rng.randint(1, room)
        return out, room - out + 1
    if mode == "output 1":
        return 1, rng.randint(1, room)
    out = rng.randint(1, room)
    return out, rng.randint(1, room - out + 1)


def grid_cases(dims, count, seed):
    """(shape, kernel_size, output_size, unbatched) with non-square tuples, ints, and
    wide planes where the half types' interval arithmetic rounds."""
    rng = random.Random(seed)
    sizes = [1, 2, 3, 5, 7, 8, 11, 16, 33] if dims == 2 else [2, 3, 5, 7, 9]
    cases = []
    while len(cases) < count:
        spatial = [rng.choice(sizes) for _ in range(dims)]
        outs, kernels = zip(*(extent_options(rng, n, dims) for n in spatial))
        kernel = kernels[0] if len(set(kernels)) == 1 and rng.random() < 0.5 else tuple(kernels)
        output = outs[0] if len(set(outs)) == 1 and rng.random() < 0.5 else tuple(outs)
        unbatched = rng.random() < 0.25
        shape = (rng.choice([1, 3, 4]),) + tuple(spatial)
        if not unbatched:
            shape = (rng.choice([1, 2, 3]),) + shape
        cases.append((shape, kernel, output, unbatched))
    wide = {2: [((1, 2, 5, 300), (2, 3), (3, 123)), ((2, 1, 517, 3), (1, 2), (400, 2))],
            3: [((1, 2, 3, 4, 300), (1, 2, 3), (2, 2, 150))]}[dims]
    cases += [(shape, kernel, output, False) for shape, kernel, output in wide]
    return cases


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("dims", [2, 3])
def test_grid_matches_torch(dims, dtype, device):
    """Values, indices, layouts and gradients equal to torch's with the same samples,
    over random sizes, contiguous and channels-last, batched and unbatched."""
    for shape, kernel, output_size, unbatched in grid_cases(dims, 24, seed=10 * dims + DTYPES.index(dtype)):
        x = make_input(shape, dtype=dtype, device=device)
        samples = draw_samples(x, dims)
        check_against_torch(dims, x, kernel, output_size, samples)
        if not unbatched:
            check_against_torch(dims, x.contiguous(memory_format=CL[dims]), kernel, output_size, samples)


@pytest.mark.parametrize("dims", [2, 3])
def test_edge_samples_views_and_extra_sample_rows(dims, device):
    """Samples 0 and just below 1, more sample rows than the batch, non-contiguous
    samples and input views: still torch's results."""
    shape = (3, 4, 13, 10) if dims == 2 else (3, 4, 7, 9, 8)
    kernel, output_size = (2, 3, 2)[:dims], (5, 4, 3)[:dims]
    for dtype in (torch.float32, torch.float64, torch.bfloat16):
        x = make_input(shape, dtype=dtype, device=device)
        below_one = {torch.float32: 1 - 2 ** -24, torch.float64: 1 - 2 ** -53, torch.bfloat16: 1 - 2 ** -8}[dtype]
        for value in (0.0, below_one):
            samples = torch.full((3, 4, dims), value, dtype=dtype, device=device)
            check_against_torch(dims, x, kernel, output_size, samples)
        check_against_torch(dims, x, kernel, output_size, draw_samples(x, dims, extra_batch=2))
        transposed = torch.rand(3, dims, 4, dtype=dtype, device=device).transpose(1, 2)
        check_against_torch(dims, x, kernel, output_size, transposed)
        view = x.transpose(-1, -2)[..., 1:, :]  # strided, neither layout
        check_against_torch(dims, view, kernel, output_size, draw_samples(view, dims))


@pytest.mark.parametrize("dims", [2, 3])
def test_samples_drawn_like_torch(dims, device):
    """Without _random_samples ours draws torch.rand(N, C, dims) in the input's dtype
    (N = 1 unbatched): the same seed gives torch's windows."""
    for dtype, unbatched in itertools.product((torch.float32, torch.bfloat16, torch.float64), (False, True)):
        x = make_input((2, 3) + (9, 8, 7)[:dims], dtype=dtype, device=device)
        x = x[0] if unbatched else x
        torch.manual_seed(7)
        out, idx = OURS[dims](x, 2, output_size=4, return_indices=True)
        torch.manual_seed(7)
        ref, ref_idx = THEIRS[dims](x, 2, output_size=4, return_indices=True)
        assert_same(out, ref)
        assert_same(idx, ref_idx)
        # ... drawing nothing else: the generator ends where torch's ends.
        torch.manual_seed(7)
        OURS[dims](x, 2, output_size=4)
        after_ours = torch.rand(3, device=device)
        torch.manual_seed(7)
        THEIRS[dims](x, 2, output_size=4)
        assert torch.equal(after_ours, torch.rand(3, device=device))


@pytest.mark.parametrize("dims", [2, 3])
def test_return_types_and_output_ratio(dims, device):
    """plain -> tensor, return_indices / *_with_indices -> (out, indices);
    output_ratio tuples as torch's; a scalar ratio (torch's 2d functional raises
    TypeError) as the tuple of that ratio, output int(in * ratio)."""
    x = make_input((2, 3) + (11, 10, 9)[:dims], dtype=torch.float64, device=device)
    s = draw_samples(x, dims)
    plain = OURS[dims](x, 2, output_size=3, _random_samples=s)
    assert isinstance(plain, torch.Tensor)
    both = OURS_WITH_INDICES[dims](x, 2, output_size=3, _random_samples=s)
    assert isinstance(both, tuple) and len(both) == 2 and torch.equal(both[0], plain)
    ratio = (0.55, 0.7, 0.5)[:dims]
    out, idx = OURS[dims](x, 2, output_ratio=ratio, return_indices=True, _random_samples=s)
    ref, ref_idx = THEIRS[dims](x, 2, output_ratio=ratio, return_indices=True, _random_samples=s)
    assert out.shape[2:] == tuple(int(n * r) for n, r in zip(x.shape[2:], ratio))
    assert_same(out, ref)
    assert_same(idx, ref_idx)
    scalar = OURS[dims](x, 2, output_ratio=0.6, return_indices=True, _random_samples=s)
    tupled = OURS[dims](x, 2, output_ratio=(0.6,) * dims, return_indices=True, _random_samples=s)
    assert scalar[0].shape[2:] == tuple(int(n * 0.6) for n in x.shape[2:])
    assert torch.equal(scalar[0], tupled[0]) and torch.equal(scalar[1], tupled[1])
    if dims == 3:  # torch's 3d functional takes a scalar ratio
        assert torch.equal(scalar[0], THEIRS[3](x, 2, output_ratio=0.6, _random_samples=s))
    # Both given: torch's functional uses output_size.
    assert_same(OURS[dims](x, 2, output_size=3, output_ratio=ratio, _random_samples=s),
                THEIRS[dims](x, 2, output_size=3, output_ratio=ratio, _random_samples=s))


@pytest.mark.parametrize("dims", [2, 3])
def test_empty_batch_and_zero_output_size(dims, device):
    """N = 0 and an output size of 0 along a dim give torch's empty results and a zero gradient."""
    calls = [((0, 3) + (6, 7, 8)[:dims], 2, 3),                      # empty batch
             ((2, 3) + (6, 7, 8)[:dims], 2, (0,) + (3,) * (dims - 1)),  # zero output along one dim
             ((3,) + (6, 7, 8)[:dims], 2, (2,) * (dims - 1) + (0,))]   # unbatched, last dim
    if dims == 2:
        calls.append(((2, 3, 10, 10), 11, 0))  # kernel wider than the input, allowed with output 0
    for shape, kernel, output_size in calls:
        x = torch.randn(shape, dtype=torch.float64, device=device, requires_grad=True)
        s = draw_samples(x, dims)
        out, idx = OURS[dims](x, kernel, output_size, return_indices=True, _random_samples=s)
        ref, ref_idx = THEIRS[dims](x, kernel, output_size, return_indices=True, _random_samples=s)
        assert out.shape == ref.shape and idx.shape == ref_idx.shape and out.numel() == 0
        assert out.dtype == ref.dtype and idx.dtype == ref_idx.dtype
        (grad,) = torch.autograd.grad(out, x, torch.randn_like(out))
        assert torch.equal(grad, torch.zeros_like(x))


VALUE_KINDS = ["nans", "ties", "ties and nans", "all nan", "all equal", "all -inf", "inf and nan"]


def special_input(kind, shape, device):
    x = make_input(shape, dtype=torch.float64, device=device, ties="ties" in kind, nans="nans" in kind)
    if kind == "all nan":
        x = torch.full(shape, float("nan"), dtype=torch.float64, device=device)
    elif kind == "all equal":
        x = torch.full(shape, 1.5, dtype=torch.float64, device=device)
    elif kind == "all -inf":
        x = torch.full(shape, float("-inf"), dtype=torch.float64, device=device)
    elif kind == "inf and nan":
        x = torch.randint(0, 3, shape, device=device).double()
        x = x.masked_fill(x == 0, float("-inf")).masked_fill(x == 1, float("inf")).masked_fill(x == 2, float("nan"))
        x[..., ::2] = float("inf")
    return x


@pytest.mark.parametrize("kind", VALUE_KINDS)
@pytest.mark.parametrize("dims", [2, 3])
def test_nan_and_tie_rules_like_torch(dims, kind, device):
    """A NaN always takes the max (the last NaN in a window wins), ties keep the first
    index, all -inf windows give torch's index; overlapping windows, both layouts."""
    shape, kernel, output_size = {2: ((2, 3, 11, 9), 3, (6, 5)), 3: ((2, 2, 7, 6, 8), (3, 2, 3), (4, 4, 5))}[dims]
    for dtype in (torch.float64, torch.float32):
        x = special_input(kind, shape, device).to(dtype)
        s = draw_samples(x, dims)
        check_against_torch(dims, x, kernel, output_size, s)
        check_against_torch(dims, x.contiguous(memory_format=CL[dims]), kernel, output_size, s)


@pytest.mark.parametrize("kind", VALUE_KINDS)
def test_branch_free_windows_like_torch(kind):
    """The CPU's float32 and bfloat16 loops for 2x2 and 3x3 windows (2d, and 1xkxk in 3d) select
    with bit blends instead of branches: values, indices and gradients as torch, both layouts,
    channel counts around the channels-last backward's block width."""
    cases = [(2, (2, 1, 13, 12), 2, (9, 8)), (2, (2, 17, 14, 11), 3, (6, 7)), (2, (1, 40, 9, 9), 2, 8),
             (3, (2, 3, 5, 9, 8), (1, 2, 2), (3, 6, 5)), (3, (1, 18, 4, 8, 7), (1, 3, 3), (2, 5, 4))]
    for dims, shape, kernel, output_size in cases:
        for dtype in (torch.float32, torch.bfloat16):
            x = special_input(kind, shape, "cpu").to(dtype)
            s = draw_samples(x, dims)
            check_against_torch(dims, x, kernel, output_size, s)
            check_against_torch(dims, x.contiguous(memory_format=CL[dims]), kernel, output_size, s)


@pytest.mark.parametrize("kind", VALUE_KINDS)
def test_values_only_forward_equals_torch_bitwise(kind):
    """Without a gradient the float32 and bfloat16 forward computes values only
    (AVX-512 where the CPU has it: contiguous rows picked from 32 loaded
    elements, channels-last taps gathered 16 channels at a time): torch's
    values bit for bit, NaN's sign aside. Cases: blocks of 16 outputs and a
    rest, ratios near 1 and near 2 (fewer outputs per block), a window of 5,
    3d windows, channel counts around 16, and channel 0's window at the
    sample's first element (bfloat16 gathers read the word that ends there).
    With one (the saving forward), the same loops keep each output's tap:
    values, indices and gradients as torch's, in both layouts."""
    cases = [(2, (2, 3, 56, 56), 2, 40), (2, (1, 17, 30, 70), 3, (20, 34)), (2, (2, 5, 12, 64), 5, (6, 33)),
             (2, (1, 16, 9, 9), 2, 8), (3, (1, 3, 6, 9, 40), (2, 2, 3), (4, 6, 30))]
    for dims, shape, kernel, output_size in cases:
        for dtype in (torch.float32, torch.bfloat16):
            x = special_input(kind, shape, "cpu").to(dtype)
            s = draw_samples(x, dims)
            s[0, 0] = 0.0  # channel 0 of sample 0: windows from the first element on
            for layout in (torch.contiguous_format, CL[dims]):
                xl = x.contiguous(memory_format=layout)
                fn = {2: (PF.fractional_max_pool2d, TF.fractional_max_pool2d),
                      3: (PF.fractional_max_pool3d, TF.fractional_max_pool3d)}[dims]
                with torch.no_grad():
                    ours = fn[0](xl, kernel, output_size=output_size, _random_samples=s)
                ref = fn[1](xl, kernel, output_size=output_size, _random_samples=s)
                assert_same(ours, ref)
                numbers = ~ref.isnan()
                bits = torch.int16 if dtype == torch.bfloat16 else torch.int32
                assert torch.equal(ours.contiguous().view(bits)[numbers.contiguous()],
                                   ref.contiguous().view(bits)[numbers.contiguous()])
                # the saving forward: the same blocks and gathers, keeping each output's tap
                check_against_torch(dims, xl, kernel, output_size, s)


def test_channels_last_backward_of_large_planes():
    """Channels-last backward tasks hold their planes in a bounded buffer: planes of 490,000
    elements take 8 channels per task instead of 16. Same gradient as torch, layout kept."""
    x = torch.randn(1, 20, 700, 700).contiguous(memory_format=torch.channels_last)
    check_against_torch(2, x, 2, 500, torch.rand(1, 20, 2))


def distinct(shape, device):
    # Distinct values: max pooling is differentiable there (no ties).
    n = int(np.prod(shape))
    return (torch.randperm(n, device=device).double() / n).view(shape).requires_grad_()


GRAD_CASES = [  # name, input shape, kernel, output size: windows overlap (kernel > spacing)
    ("2d", (1, 2, 7, 6), 3, (4, 3)),
    ("2d tuple kernel", (2, 1, 6, 8), (2, 4), (5, 3)),
    ("2d unbatched", (2, 7, 7), 3, 4),
    ("3d", (1, 2, 5, 6, 5), 2, (3, 4, 3)),
]


@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("name,shape,kernel,output_size", GRAD_CASES, ids=[c[0] for c in GRAD_CASES])
def test_gradcheck_and_gradgradcheck(name, shape, kernel, output_size, channels_last, device):
    """float64 gradcheck and gradgradcheck (the double backward runs the gather op)."""
    dims = 3 if name.startswith("3d") else 2
    if channels_last and len(shape) != dims + 2:
        pytest.skip("channels-last needs a batched input")
    x = distinct(shape, device)
    s = draw_samples(x, dims)

    def fn(t):
        if channels_last:
            t = t.contiguous(memory_format=CL[dims])
        return OURS[dims](t, kernel, output_size, _random_samples=s)

    assert torch.autograd.gradcheck(fn, (x,))
    assert torch.autograd.gradgradcheck(fn, (x,))


def test_forward_backward_bitwise_deterministic_across_runs_and_threads():
    """Same samples: outputs, indices and gradients bitwise equal over runs and thread counts
    (ties: several windows share an argmax)."""
    inputs = [(2, make_input((4, 16, 27, 27), ties=True)), (3, make_input((2, 8, 9, 11, 10), ties=True))]
    samples = {dims: draw_samples(x, dims) for dims, x in inputs}

    def run():
        results = []
        for (dims, x), (kernel, output_size), layout in itertools.product(
                inputs, ((3, 6), (2, 7), (1, 5)), ("contiguous", "channels_last")):
            xi = x.clone(memory_format=CL[dims] if layout == "channels_last" else torch.contiguous_format)
            xi.requires_grad_()
            out, idx = OURS[dims](xi, kernel, output_size, return_indices=True, _random_samples=samples[dims])
            out.backward(torch.linspace(-1, 1, out.numel()).view(out.shape))
            results += [out.detach(), idx, xi.grad]
        return results

    assert_bitwise_same_across_thread_counts(run)


def test_opcheck_raw_ops():
    """torch.library.opcheck on forward, backward, gather and indices (2d both layouts, 3d)."""
    cases = [((2, 3, 9, 8), [3, 2], [4, 5], None), ((2, 3, 9, 8), [2, 2], [6, 3], torch.channels_last),
             ((1, 2, 6, 7, 5), [2, 3, 2], [3, 2, 3], None),
             ((2, 2, 6, 5, 7), [1, 2, 2], [4, 3, 5], torch.channels_last_3d)]
    samples = []
    for shape, kernel, output_size, layout in cases:
        dims = len(kernel)
        x = torch.randn(shape)
        if layout is not None:
            x = x.contiguous(memory_format=layout)
        x.requires_grad_()
        s = draw_samples(x, dims)
        out, offset = ops.fractional_max_pool_forward(x, kernel, output_size, s)
        samples += [(ops.fractional_max_pool_forward, (x, kernel, output_size, s)),
                    (ops.fractional_max_pool_values, (x, kernel, output_size, s)),
                    (ops.fractional_max_pool_values, (x.detach(), kernel, output_size, s)),
                    (ops.fractional_max_pool_backward,
                     (torch.randn_like(out).requires_grad_(), offset, s, list(shape), kernel)),
                    (ops.fractional_max_pool_gather, (torch.randn_like(x).requires_grad_(), offset, s, kernel)),
                    (ops.fractional_max_pool_indices, (offset, s, list(shape), kernel))]
    for op, args in samples:
        torch.library.opcheck(op.default, args)


COMPILE_CASES = [  # name, input shape, kernel, output_size, output_ratio
    ("2d channels_last", (2, 3, 9, 8), (3, 2), (4, 5), None),
    ("3d unbatched ratio", (3, 7, 6, 9), 2, None, (0.5, 0.6, 0.7)),
]


@pytest.mark.parametrize("name,shape,kernel,output_size,output_ratio", COMPILE_CASES, ids=[c[0] for c in COMPILE_CASES])
def test_compile_fullgraph(name, shape, kernel, output_size, output_ratio):
    """torch.compile(fullgraph=True) with given samples runs our ops and matches eager,
    gradients included."""
    torch._dynamo.reset()
    dims = int(name[0])
    x = torch.randn(shape)
    if "channels_last" in name:
        x = x.contiguous(memory_format=CL[dims])
    x.requires_grad_()
    s = draw_samples(x, dims)
    fn = lambda t, samples: OURS[dims](t, kernel, output_size, output_ratio, True, samples)  # noqa: E731
    names = captured_ops(fn, x, s)
    assert any("pooling_ext" in n for n in names), names
    (out, idx), (ref, ref_idx) = torch.compile(fn, fullgraph=True)(x, s), fn(x, s)
    assert torch.equal(out, ref) and torch.equal(idx, ref_idx)
    g = torch.randn_like(ref)
    assert torch.equal(torch.autograd.grad(out, x, g)[0], torch.autograd.grad(ref, x, g)[0])


MODULE_CASES = [  # dims, constructor kwargs, input shape
    (2, dict(kernel_size=3, output_size=(4, 5)), (2, 3, 9, 10)),
    (2, dict(kernel_size=(2, 3), output_ratio=0.5, return_indices=True), (3, 9, 10)),
    (3, dict(kernel_size=2, output_size=(3, 4, 3)), (2, 3, 6, 7, 5)),
    (3, dict(kernel_size=(1, 2, 2), output_ratio=(0.5, 0.6, 0.7), return_indices=True), (2, 3, 6, 7, 8)),
]


@pytest.mark.parametrize("dims,kwargs,shape", MODULE_CASES)
def test_module_is_a_drop_in(dims, kwargs, shape, device):
    """isinstance of torch's class, same repr and state_dict, pickle round trip, and
    torch's results both with drawn samples (same seed) and with a _random_samples buffer."""
    ours, theirs = MODULES[dims]
    mine, ref = ours(**kwargs), theirs(**kwargs)
    assert isinstance(mine, theirs) and repr(mine) == repr(ref)
    assert list(mine.state_dict()) == list(ref.state_dict())
    clone = pickle.loads(pickle.dumps(mine))
    assert type(clone) is ours and repr(clone) == repr(mine)
    x = torch.randn(shape, dtype=torch.float64, device=device)
    torch.manual_seed(3)
    a = clone(x)
    torch.manual_seed(3)
    b = ref(x)
    for u, v in zip(torch.utils._pytree.tree_leaves(a), torch.utils._pytree.tree_leaves(b)):
        assert_same(u, v)

    s = draw_samples(x, dims)
    mine, ref = ours(**kwargs, _random_samples=s), theirs(**kwargs, _random_samples=s)
    assert list(mine.state_dict()) == list(ref.state_dict()) == ["_random_samples"]
    assert torch.equal(mine.state_dict()["_random_samples"], s)
    clone = pickle.loads(pickle.dumps(mine))
    assert torch.equal(clone._random_samples, s)
    for module in (mine, clone):
        for u, v in zip(torch.utils._pytree.tree_leaves(module(x)), torch.utils._pytree.tree_leaves(ref(x))):
            assert_same(u, v)
    loaded = ours(**kwargs, _random_samples=torch.zeros_like(s))
    loaded.load_state_dict(ref.state_dict())
    assert torch.equal(loaded._random_samples, s)


MODULE_ERRORS = [  # name, dims, kwargs
    ("ratio 1", 2, dict(kernel_size=2, output_ratio=1.0)),
    ("ratio 0", 2, dict(kernel_size=2, output_ratio=0)),
    ("ratio above 1 in a tuple", 2, dict(kernel_size=2, output_ratio=(0.5, 1.5))),
    ("negative ratio 3d", 3, dict(kernel_size=2, output_ratio=(0.5, -0.5, 0.5))),
    ("neither 2d", 2, dict(kernel_size=2)),
    ("neither 3d", 3, dict(kernel_size=2)),
    ("both 2d", 2, dict(kernel_size=2, output_size=3, output_ratio=0.5)),
    ("both 3d", 3, dict(kernel_size=2, output_size=3, output_ratio=(0.5, 0.5, 0.5))),
    ("3d zero kernel", 3, dict(kernel_size=0, output_size=3)),
]


@pytest.mark.parametrize("name,dims,kwargs", MODULE_ERRORS, ids=[c[0] for c in MODULE_ERRORS])
def test_module_constructor_errors_like_torch(name, dims, kwargs):
    """ValueError with torch's message for a ratio outside (0, 1), neither or both of
    output_size / output_ratio (and torch's 3d check of the kernel)."""
    ours, theirs = MODULES[dims]
    with pytest.raises(ValueError) as theirs_error:
        theirs(**kwargs)
    with pytest.raises(ValueError) as ours_error:
        ours(**kwargs)
    assert str(ours_error.value) == str(theirs_error.value)


def test_replace_pooling_and_patch():
    """replace_pooling swaps torch's fractional modules (keeping a _random_samples buffer);
    patch() routes torch.nn.functional's fractional functions, and so torch's modules, to ours."""
    s = torch.rand(1, 2, 2)
    model = torch.nn.Sequential(torch.nn.Conv2d(2, 2, 1), torch.nn.FractionalMaxPool2d(3, (4, 5), _random_samples=s),
                                torch.nn.Flatten())
    reference = copy.deepcopy(model)
    pooling_ext.replace_pooling(model)
    assert type(model[1]) is pooling_ext.nn.FractionalMaxPool2d and torch.equal(model[1]._random_samples, s)
    x = torch.randn(1, 2, 9, 10)
    assert torch.equal(model(x), reference(x))
    names = [f"fractional_max_pool{d}d{suffix}" for d in (2, 3) for suffix in ("", "_with_indices")]
    with pooling_ext.patch():
        for name in names:
            assert getattr(TF, name) is getattr(PF, name), name
        with NoTorchPooling():
            torch.nn.FractionalMaxPool2d(2, output_ratio=0.5)(x)
            torch.nn.FractionalMaxPool3d(2, output_ratio=0.5, return_indices=True)(torch.randn(1, 2, 6, 7, 8))
    assert TF.fractional_max_pool2d is not PF.fractional_max_pool2d


X2, X3 = torch.randn(2, 3, 10, 10), torch.randn(2, 3, 6, 7, 8)
S2, S3 = torch.rand(2, 3, 2), torch.rand(2, 3, 3)
BAD_CALLS = [  # name, call(F), message torch gives (None: exception type only)
    ("kernel 0", lambda F: F.fractional_max_pool2d(X2, 0, 3, _random_samples=S2),
     "fractional_max_pool2d(): kernel size should be greater than zero, but got 0x0"),
    ("kernel 0 in one dim", lambda F: F.fractional_max_pool2d(X2, (0, 3), 3, _random_samples=S2),
     "kernel size should be greater than zero, but got 0x3"),
    ("negative kernel", lambda F: F.fractional_max_pool2d(X2, -1, 3, _random_samples=S2),
     "kernel size should be greater than zero, but got -1x-1"),
    ("3d kernel 0", lambda F: F.fractional_max_pool3d(X3, 0, 3, _random_samples=S3),
     "fractional_max_pool3d(): kernel size should be greater than zero, but got 0x0x0"),
    ("pool height", lambda F: F.fractional_max_pool2d(X2, 3, 9, _random_samples=S2),
     "fractional_max_pool2d(): pool height 3 too large relative to input height 10"),
    ("pool width", lambda F: F.fractional_max_pool2d(X2, 3, (8, 9), _random_samples=S2),
     "fractional_max_pool2d(): pool width 3 too large relative to input width 10"),
    ("3d pool time", lambda F: F.fractional_max_pool3d(X3, (4, 1, 1), 3, _random_samples=S3),
     "fractional_max_pool3d_out(): pool time 4 too large relative to input time 6"),
    ("3d pool height", lambda F: F.fractional_max_pool3d(X3, 3, (3, 6, 3), _random_samples=S3),
     "fractional_max_pool3d_out(): pool height 3 too large relative to input height 7"),
    ("3d pool width", lambda F: F.fractional_max_pool3d(X3, 3, (3, 3, 7), _random_samples=S3),
     "fractional_max_pool3d_out(): pool width 3 too large relative to input width 8"),
    # torch's 3d check is strict: out + k - 1 == in is refused.
    ("3d out + k - 1 == in", lambda F: F.fractional_max_pool3d(X3, 1, (6, 7, 8), _random_samples=S3),
     "fractional_max_pool3d_out(): pool time 1 too large relative to input time 6"),
    ("samples 2 dims", lambda F: F.fractional_max_pool2d(X2, 3, 3, _random_samples=torch.rand(2, 3)),
     "Expect _random_samples to have 3 dimensions, got 2"),
    ("samples 4 dims 3d", lambda F: F.fractional_max_pool3d(X3, 3, 3, _random_samples=torch.rand(2, 3, 3, 1)),
     "Expect _random_samples to have 3 dimensions, got 4"),
    ("samples batch", lambda F: F.fractional_max_pool2d(X2, 3, 3, _random_samples=torch.rand(1, 3, 2)),
     "Expect _random_samples.size(0) no less then input batch size."),
    ("3d samples batch", lambda F: F.fractional_max_pool3d(X3, 3, 3, _random_samples=torch.rand(1, 3, 3)),
     "Expect _random_samples.size(0) no less then input batch size."),
    ("samples channels", lambda F: F.fractional_max_pool2d(X2, 3, 3, _random_samples=torch.rand(2, 2, 2)),
     "Expect _random_samples.size(1) equals to input channel size."),
    ("unbatched samples channels", lambda F: F.fractional_max_pool2d(X2[0], 3, 3, _random_samples=torch.rand(1, 4, 2)),
     "Expect _random_samples.size(1) equals to input channel size."),
    ("samples columns", lambda F: F.fractional_max_pool2d(X2, 3, 3, _random_samples=torch.rand(2, 3, 3)),
     "Expect _random_samples.size(2) equals to 2; got 3."),
    ("3d samples columns", lambda F: F.fractional_max_pool3d(X3, 3, 3, _random_samples=S2),
     "Expect _random_samples.size(2) equals to 3; got 2."),
    ("samples dtype", lambda F: F.fractional_max_pool2d(X2, 3, 3, _random_samples=S2.double()),
     "Expect _random_samples to have the same dtype as input"),
    ("3d samples dtype", lambda F: F.fractional_max_pool3d(X3, 3, 3, _random_samples=S3.half()),
     "Expect _random_samples to have the same dtype as input"),
    ("zero channels", lambda F: F.fractional_max_pool2d(torch.randn(2, 0, 5, 5), 3, 3),
     "fractional_max_pool2d(): Expected input to have non-zero size for non-batch dimensions"),
    ("zero height", lambda F: F.fractional_max_pool2d(torch.randn(2, 3, 0, 5), 2, 3, _random_samples=S2),
     "fractional_max_pool2d(): Expected input to have non-zero size for non-batch dimensions"),
    ("3d zero channels", lambda F: F.fractional_max_pool3d(torch.randn(2, 0, 5, 5, 5), 2, 2),
     "fractional_max_pool3d_out(): Expected input to have non-zero size for non-batch dimensions"),
    ("kernel 3 entries", lambda F: F.fractional_max_pool2d(X2, (3, 3, 3), 3, _random_samples=S2),
     "fractional_max_pool2d: kernel_size must either be a single Int or tuple of Ints"),
    ("kernel 1 entry", lambda F: F.fractional_max_pool2d(X2, (3,), 3, _random_samples=S2),
     "fractional_max_pool2d: kernel_size must either be a single Int or tuple of Ints"),
    ("output 3 entries", lambda F: F.fractional_max_pool2d(X2, 3, (3, 3, 3), _random_samples=S2),
     "fractional_max_pool2d: output_size must either be a single Int or tuple of Ints"),
    ("3d kernel 2 entries", lambda F: F.fractional_max_pool3d(X3, (3, 3), 3, _random_samples=S3),
     "fractional_max_pool3d: kernel_size must either be a single Int or tuple of three Ints"),
    ("3d output 2 entries", lambda F: F.fractional_max_pool3d(X3, 3, (3, 3), _random_samples=S3),
     "fractional_max_pool3d: output_size must either be a single Int or tuple of three Ints"),
    ("integer input", lambda F: F.fractional_max_pool2d(torch.ones(1, 1, 5, 5, dtype=torch.long), 2, 3), "Long"),
    ("3d integer input", lambda F: F.fractional_max_pool3d(torch.ones(1, 1, 5, 5, 5, dtype=torch.int32), 2, 3),
     "Int"),
    ("integer input, float samples",
     lambda F: F.fractional_max_pool2d(torch.ones(1, 1, 5, 5, dtype=torch.long), 2, 3,
                                       _random_samples=torch.rand(1, 1, 2)),
     "Expect _random_samples to have the same dtype as input"),
    ("integer input and samples",
     lambda F: F.fractional_max_pool2d(torch.ones(1, 1, 5, 5, dtype=torch.long), 2, 3,
                                       _random_samples=torch.ones(1, 1, 2, dtype=torch.long)), None),
    ("neither size nor ratio", lambda F: F.fractional_max_pool2d(X2, 3),
     "fractional_max_pool2d requires specifying either an output_size or an output_ratio"),
    ("3d neither size nor ratio", lambda F: F.fractional_max_pool3d(X3, 3),
     "fractional_max_pool3d requires specifying either an output_size or an output_ratio"),
    ("ratio 3 entries", lambda F: F.fractional_max_pool2d(X2, 3, output_ratio=(0.5, 0.5, 0.5)), None),
    ("negative output", lambda F: F.fractional_max_pool2d(X2, 3, (-1, 3), _random_samples=S2), None),
    ("float kernel", lambda F: F.fractional_max_pool2d(X2, 3.0, 3, _random_samples=S2), None),
    ("rank 2 input, drawn samples", lambda F: F.fractional_max_pool2d(X2[0, 0], 2, 3), None),
    ("rank 2 input, given samples",
     lambda F: F.fractional_max_pool2d(X2[0, 0], 2, 3, _random_samples=torch.rand(1, 1, 2)), None),
    ("rank 5 input to 2d", lambda F: F.fractional_max_pool2d(X2[None], 2, 3, _random_samples=torch.rand(1, 2, 2)),
     None),
]


@pytest.mark.parametrize("name,call,message", BAD_CALLS, ids=[c[0] for c in BAD_CALLS])
def test_same_exception_as_torch(name, call, message):
    """Torch's exception type, and torch's message where given."""
    with pytest.raises(Exception) as theirs:
        call(TF)
    with pytest.raises(Exception) as ours:
        call(PF)
    assert type(ours.value) is type(theirs.value), (ours.value, theirs.value)
    if message is not None:
        assert message in str(theirs.value), str(theirs.value)  # the message is torch's
        assert message in str(ours.value), str(ours.value)


@pytest.mark.parametrize("dims", [2, 3])
def test_no_torch_pooling_op_runs(dims, device):
    """Forward (samples drawn or given), backward and double backward of the functional
    and the module run no aten pooling op."""
    x = distinct((2, 3) + (8, 9, 7)[:dims], device)
    module = MODULES[dims][0](2, output_size=4, return_indices=True)
    with NoTorchPooling():
        out, idx = OURS[dims](x, 3, 4, return_indices=True)
        module(x)
        out = OURS[dims](x, 3, 4, _random_samples=draw_samples(x, dims))
        grad_out = torch.rand_like(out).requires_grad_()
        (grad,) = torch.autograd.grad(out, x, grad_out, create_graph=True)
        (grad * grad).sum().backward()  # double backward, into grad_out
    assert grad_out.grad is not None


EMULATED = [  # dims, input shape, kernel, output size
    (2, (2, 3, 9, 8), [3, 2], [4, 5]), (2, (1, 2, 7, 7), [1, 1], [7, 7]), (2, (2, 3, 6, 11), [4, 2], [3, 10]),
    (2, (1, 2, 5, 6), [5, 6], [1, 1]), (3, (2, 2, 6, 5, 7), [2, 3, 2], [4, 2, 5]),
    (3, (1, 3, 4, 4, 5), [1, 2, 3], [3, 2, 1])]


@pytest.mark.parametrize("emu", list(EMULATIONS.values()), ids=list(EMULATIONS))
def test_emulation_of_the_cuda_kernels(emu):
    """The CUDA launches of forward, indices, backward and gather, emulated on the CPU
    (32- and 64-bit index paths), give the CPU op's and torch's results."""
    grid = emu
    for (dims, shape, kernel, output_size), dtype in itertools.product(EMULATED, (torch.float64, torch.float32)):
        x = make_input(shape, dtype=dtype, ties=True, nans=True)
        for t in (x, x.contiguous(memory_format=CL[dims])):
            s = draw_samples(t, dims)
            s[0, 0] = 0.0
            out, offset = grid.fractional_max_pool_forward(t, kernel, output_size, s)
            cpu_out, cpu_offset = ops.fractional_max_pool_forward(t, kernel, output_size, s)
            ref, ref_idx = THEIRS[dims](t, kernel, output_size, return_indices=True, _random_samples=s)
            assert_same(out, ref)
            assert_same(out, cpu_out)
            assert same_layout(out, cpu_out)
            assert_same(grid.fractional_max_pool_indices(offset, s, list(t.shape), kernel), ref_idx)
            g = torch.randn(out.shape, dtype=torch.float64).to(dtype)
            back = grid.fractional_max_pool_backward(g, offset, s, list(t.shape), kernel)
            assert_same(back, ops.fractional_max_pool_backward(g, cpu_offset, s, list(t.shape), kernel))
            torch.testing.assert_close(back.double(), scatter_grad(t, ref_idx, g, dims), rtol=1e-6, atol=1e-6)
            source = torch.randn_like(t)
            gathered = grid.fractional_max_pool_gather(source, offset, s, kernel)
            assert_same(gathered, source.flatten(-dims).gather(-1, ref_idx.flatten(-dims)).view_as(ref))


# ------------------------------------------------- samples outside [0, 1): window starts clamped

def reference_starts(u, n, k, out, arith):
    """torch's interval formula, in the sample's arithmetic `arith` (a scalar type
    rounding after each operation), and the starts clamped into [0, n - k]."""
    raw = []
    if out > 1:
        alpha = arith(n - k) / arith(out - 1)
        raw = [int(float((arith(i) + arith(u)) * alpha)) - int(float(arith(u) * alpha)) for i in range(out - 1)]
    raw = raw + [n - k] if out > 0 else raw
    return raw, [min(max(s, 0), n - k) for s in raw]


def bf16(value):
    return torch.tensor(value, dtype=torch.bfloat16)


ARITH = {torch.float64: np.float64, torch.float32: np.float32, torch.bfloat16: bf16}


def reference_clamped_pool(x, kernel, output_size, samples):
    """Values and flat indices from the clamped windows (first max: x holds no NaN);
    also how many starts the formula put outside [0, n - k]."""
    dims = len(kernel)
    xs = x.detach().cpu().float().double().numpy() if x.dtype == torch.bfloat16 else x.detach().cpu().numpy()
    spatial = x.shape[-dims:]
    planes = xs.reshape(-1, *spatial)
    u = samples.cpu()
    channels = x.shape[-dims - 1]
    values = np.zeros((planes.shape[0],) + tuple(output_size))
    indices = np.zeros((planes.shape[0],) + tuple(output_size), dtype=np.int64)
    outside = 0
    for p, plane in enumerate(planes):
        starts = []
        for d in range(dims):
            sample = u[p // channels, p % channels, SAMPLE_COLUMN[dims][d]]
            sample = sample.item() if x.dtype != torch.bfloat16 else sample.float().item()
            raw, clamped = reference_starts(sample, spatial[d], kernel[d], output_size[d], ARITH[x.dtype])
            outside += sum(r != c for r, c in zip(raw, clamped))
            starts.append(clamped)
        for o in itertools.product(*[range(s) for s in output_size]):
            corner = [starts[d][o[d]] for d in range(dims)]
            window = plane[tuple(slice(c, c + k) for c, k in zip(corner, kernel))]
            local = np.unravel_index(int(np.argmax(window)), window.shape)
            values[(p,) + o] = window[local]
            indices[(p,) + o] = np.ravel_multi_index(tuple(c + i for c, i in zip(corner, local)), spatial)
    shape = x.shape[:-dims] + tuple(output_size)
    return values.reshape(shape), indices.reshape(shape), outside


def check_clamped(x, kernel, output_size, samples, expect_outside):
    dims = len(kernel)
    x = x.detach().requires_grad_()
    out, idx = OURS[dims](x, kernel, output_size, return_indices=True, _random_samples=samples)
    values, indices, outside = reference_clamped_pool(x, kernel, output_size, samples)
    assert (outside > 0) == expect_outside, outside
    plane = int(np.prod(x.shape[-dims:]))
    assert bool(((idx >= 0) & (idx < plane)).all())
    np.testing.assert_array_equal(idx.cpu().numpy(), indices)
    np.testing.assert_array_equal(out.detach().cpu().double().numpy(), values)
    g = torch.randn(out.shape, dtype=torch.float64, device=x.device).to(x.dtype)
    (grad,) = torch.autograd.grad(out, x, g)
    assert_within_sum_bound(grad, x, idx, g, dims)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("dims", [2, 3])
def test_samples_outside_unit_interval_clamp_window_starts(dims, dtype, device):
    """A documented difference: torch does not check sample values (out-of-range
    windows read outside the input); ours clamps each window start into [0, in - k].
    Samples 5 and -5 (in float32 / float64 torch's formula stays in range for these,
    alpha >= 1 and truncation is monotone), and float32 samples of +-1e8, whose
    rounding of i + u pushes the formula past in - k: equal to the clamped reference,
    every index inside the plane."""
    shape, kernel, output_size = {2: ((2, 3, 20, 11), (3, 2), (8, 5)),
                                  3: ((1, 2, 20, 7, 9), (3, 2, 2), (8, 3, 4))}[dims]
    x = torch.randn(shape, dtype=dtype, device=device)
    batch, channels = shape[0], shape[1]
    # A fixed sign pattern (a random one would differ between devices: CUDA draws x from another generator).
    pick = (torch.arange(batch * channels * dims) % 2).view(batch, channels, dims)
    fives = torch.where(pick == 0, 5.0, -5.0).to(dtype=dtype, device=device)
    check_clamped(x, kernel, output_size, fives, expect_outside=False)
    check_clamped(x[0], kernel, output_size, fives[:1], expect_outside=False)
    if dtype == torch.float32:
        huge = torch.where(pick == 0, 1e8, -1e8).to(dtype=dtype, device=device)
        check_clamped(x, kernel, output_size, huge, expect_outside=True)
        check_clamped(x.contiguous(memory_format=CL[dims]), kernel, output_size, huge, expect_outside=True)


def test_bfloat16_sample_rounding_past_the_last_start_is_clamped():
    """In bfloat16 (torch's CPU arithmetic rounds after each operation) the formula runs
    past in - k on wide planes, for samples of 5 and even for a sample of 0.6 (where torch's
    own CPU kernel reads outside the input, or fails an internal assert in 3d); ours clamps
    into the plane."""
    x = torch.randn(1, 2, 3, 1000).to(torch.bfloat16)
    samples = torch.tensor([[[5.0, 0.5], [5.0, 5.0]]], dtype=torch.bfloat16)
    check_clamped(x, (1, 2), (3, 417), samples, expect_outside=True)
    x = torch.randn(1, 2, 4, 270).to(torch.bfloat16)
    samples = torch.tensor([[[0.6, 0.5], [0.25, 0.5]]], dtype=torch.bfloat16)
    check_clamped(x, (2, 3), (3, 200), samples, expect_outside=True)
    x = torch.randn(1, 2, 2, 4, 270).to(torch.bfloat16)
    samples = torch.tensor([[[0.5, 0.5, 0.6], [0.5, 0.5, 0.25]]], dtype=torch.bfloat16)
    check_clamped(x, (1, 2, 3), (1, 2, 200), samples, expect_outside=True)


@pytest.mark.parametrize("dtype", DTYPES)
def test_non_finite_and_huge_samples_stay_inside_the_plane(dtype, device):
    """Whatever the sample (inf, NaN, overflowing the dtype in i + u), every window stays
    inside the input: indices in range, each output the input at its index, the gradient
    summed there."""
    x = torch.randn(2, 3, 40, 300, dtype=torch.float64, device=device).to(dtype)
    for value in (6e4, -6e4, float("inf"), float("-inf"), float("nan"), torch.finfo(dtype).max):
        s = torch.full((2, 3, 2), value, dtype=torch.float64).to(dtype=dtype, device=device)
        xr = x.detach().requires_grad_()
        out, idx = PF.fractional_max_pool2d(xr, (3, 4), (20, 150), return_indices=True, _random_samples=s)
        assert bool(((idx >= 0) & (idx < 40 * 300)).all()), value
        assert torch.equal(out.detach(), x.flatten(-2).gather(-1, idx.flatten(-2)).view_as(out))
        g = torch.randn(out.shape, dtype=torch.float64, device=device).to(dtype)
        (grad,) = torch.autograd.grad(out, xr, g)
        assert_within_sum_bound(grad, x, idx, g, 2)
