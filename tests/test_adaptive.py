"""Adaptive average and max pooling against torch (grids of input / output sizes with
non-divisible, larger-than-input, None and size-1 outputs, layouts, dtypes),
a NumPy reference from the window definition, gradcheck, opcheck,
torch.compile, determinism, errors, modules, emulation of the CUDA kernels, no torch pooling."""
import copy
import itertools
import pickle

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import pooling_ext
import pooling_ext.functional as PF
from conftest import (NoTorchPooling, assert_bitwise_same_across_thread_counts, assert_raises_like_torch, make_input,
                      same_layout)
from test_autograd_compile import captured_ops
from emulation import EMULATIONS

ops = torch.ops.pooling_ext
ADAPTIVE_AVG = {d: (getattr(PF, f"adaptive_avg_pool{d}d"), getattr(TF, f"adaptive_avg_pool{d}d")) for d in (1, 2, 3)}
ADAPTIVE_MAX = {d: (getattr(PF, f"adaptive_max_pool{d}d"), getattr(TF, f"adaptive_max_pool{d}d")) for d in (1, 2, 3)}
POOLS = {"avg": ADAPTIVE_AVG, "max": ADAPTIVE_MAX}
CL = {2: torch.channels_last, 3: torch.channels_last_3d}
F64 = dict(rtol=1e-12, atol=1e-12)
F32 = dict(rtol=1e-5, atol=1e-6)


def check_against_torch(dims, x, output_size, tol, layout=True):
    ours_fn, torch_fn = ADAPTIVE_AVG[dims]
    x = x.detach().requires_grad_()
    out, ref = ours_fn(x, output_size), torch_fn(x, output_size)
    torch.testing.assert_close(out, ref, **tol)
    # torch's CPU adaptive_avg_pool3d returns contiguous output for channels_last_3d input; ours keeps the layout.
    assert same_layout(out, ref) or not layout
    grad = torch.randn(ref.shape, dtype=torch.float64, device=x.device).to(x.dtype)
    (ga,), (gb,) = torch.autograd.grad(out, x, grad), torch.autograd.grad(ref, x, grad)
    assert same_layout(ga, gb) or not layout
    if x.dtype in (torch.float32, torch.float64):
        torch.testing.assert_close(ga, gb, **tol)
    else:
        # Overlapping windows: ours accumulate in float32 and round once, torch's backward adds in
        # the half type; both against the float64 gradient.
        x64 = x.detach().double().requires_grad_()
        (g64,) = torch.autograd.grad(torch_fn(x64, output_size), x64, grad.double())
        torch.testing.assert_close(ga.double(), g64, **tol)


SIZES = [(1, 1), (5, 1), (5, 2), (5, 3), (7, 3), (13, 6), (14, 7), (4, 4), (3, 5), (2, 7), (9, 4)]


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("dims", [1, 2, 3])
def test_grid_matches_torch(dims, dtype, device):
    tol = F64 if dtype == torch.float64 else F32
    rng = np.random.default_rng(dims)
    combos = list(itertools.product(SIZES, repeat=dims))
    picks = [combos[i] for i in rng.choice(len(combos), size=min(len(combos), 40), replace=False)]
    for combo in picks:
        in_sizes, out_sizes = [c[0] for c in combo], [c[1] for c in combo]
        x = torch.randn([2, 3] + in_sizes, dtype=dtype, device=device)
        check_against_torch(dims, x, out_sizes, tol)
        if dims > 1:
            check_against_torch(dims, x.contiguous(memory_format=CL[dims]), out_sizes, tol, layout=dims == 2)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float64])
def test_contiguous_adaptive_average_equals_torch_bitwise(dtype):
    """A contiguous adaptive average divides each window's sum by its depth,
    height and width in turn, as torch does (a division by their product can
    round differently), on every CPU loop that takes it: the AVX-512 rows
    (windows up to 32 wide, float32 and bfloat16), the plane loops (other
    CPUs, float64, wider windows) and the channels-last copies that many
    channels of small planes run on (24 channels). Window lengths 1 to 50,
    several column blocks per row, outputs wider than inputs, 1d, 2d and 3d."""
    cases = [(2, (13, 13), 6), (2, (14, 14), 7), (2, (9, 100), (4, 37)), (2, (5, 7), (9, 11)),
             (2, (3, 64), (2, 2)), (2, (6, 100), (3, 2)), (1, (50,), (17,)), (3, (5, 9, 40), (3, 4, 13))]
    bits = {torch.bfloat16: torch.int16, torch.float32: torch.int32, torch.float64: torch.int64}[dtype]
    for dims, in_size, out_size in cases:
        for channels, nans in ((5, False), (5, True), (24, False)):
            x = make_input([2, channels, *in_size], dtype=dtype, nans=nans)
            with torch.no_grad():
                ours = ADAPTIVE_AVG[dims][0](x, out_size)
            if dims == 3 and dtype == torch.bfloat16:  # (no bfloat16 adaptive_avg_pool3d in torch)
                ref = ADAPTIVE_AVG[dims][1](x.float(), out_size).to(dtype)
                assert torch.equal(ours.isnan(), ref.isnan())
                numbers = ~ref.isnan()
                assert torch.equal(ours.view(bits)[numbers], ref.view(bits)[numbers]), (in_size, out_size)
            else:
                ref = ADAPTIVE_AVG[dims][1](x, out_size)
                assert torch.equal(ours.view(bits), ref.view(bits)), (in_size, out_size, channels)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_lane_widths_of_global_and_many_row_averages(dtype):
    # The CPU sums float/double planes in 64-byte lanes (a plane's last partial vector masked,
    # read whole only below the tensor's end) and channels-last windows of more than 4 rows in
    # blocks of 4 vectors, 1 vector, then single channels: sizes around every boundary, the
    # last plane of the tensor included, against torch and against a float64 sum.
    tol = F64 if dtype == torch.float64 else F32
    for plane in [(1, 1), (3, 5), (4, 4), (1, 17), (4, 8), (7, 7), (2, 31), (6, 11)]:
        for channels in [1, 3, 16]:
            x = torch.randn([3, channels, *plane], dtype=dtype)
            check_against_torch(2, x, 1, tol)
            expected = x.double().mean((-1, -2), keepdim=True).to(dtype)
            torch.testing.assert_close(PF.adaptive_avg_pool2d(x, 1), expected, **tol)
            # A view ending exactly where the buffer does: its last plane's tail cannot be read whole.
            tail = torch.randn(2 * channels * plane[0] * plane[1], dtype=dtype)[-channels * plane[0] * plane[1]:]
            torch.testing.assert_close(PF.adaptive_avg_pool2d(tail.view(1, channels, *plane), 1),
                                       tail.view(1, channels, *plane).double().mean((-1, -2), keepdim=True).to(dtype),
                                       **tol)
    for channels in [1, 7, 16, 17, 33, 64, 75, 130, 200]:
        for in_size, out_size in [((7, 7), 1), ((6, 9), (2, 3)), ((5, 5), 2), ((13, 13), 6)]:
            x = torch.randn([2, channels, *in_size], dtype=dtype).contiguous(memory_format=torch.channels_last)
            # One channel is both layouts at once; a global window's gradient stays channels-last
            # (torch's comes from its mean's backward, contiguous: README, documented differences).
            check_against_torch(2, x, out_size, tol, layout=channels > 1 and out_size != 1)
        x = torch.randn([2, channels, 3, 4, 5], dtype=dtype).contiguous(memory_format=torch.channels_last_3d)
        check_against_torch(3, x, 1, tol, layout=False)


@pytest.mark.parametrize("dims", [1, 2, 3])
def test_views_unbatched_empty_batch_and_none(dims, device):
    x = torch.randn((3, 4) + (9,) * dims, dtype=torch.float64, device=device)
    strided = x[:, :, ::2] if dims == 1 else x.transpose(-1, -2)[..., 1:]
    check_against_torch(dims, strided, [4] * dims, F64)
    check_against_torch(dims, x[0], [5] * dims, F64)                # unbatched
    check_against_torch(dims, x[:0], [2] * dims, F64)               # empty batch
    check_against_torch(dims, x, 1, F64)                            # global, an int
    if dims > 1:
        sizes = [None] + [3] * (dims - 1)
        out = PF.__dict__[f"adaptive_avg_pool{dims}d"](x, sizes)
        assert out.shape[2] == 9
        check_against_torch(dims, x, sizes, F64)


def test_zero_output_size_gives_zero_gradient():
    # torch's forward accepts a zero output size, but its backward raises; ours returns a zero gradient.
    x = torch.randn(2, 3, 7, 9, dtype=torch.float64, requires_grad=True)
    out = PF.adaptive_avg_pool2d(x, (0, 3))
    assert out.shape == (2, 3, 0, 3) and TF.adaptive_avg_pool2d(x, (0, 3)).shape == out.shape
    (grad,) = torch.autograd.grad(out, x, torch.randn_like(out))
    assert torch.equal(grad, torch.zeros_like(x))


def numpy_adaptive_avg(x, out_sizes):
    """From the definition: output o of a dim covers [floor(o in / out), ceil((o + 1) in / out))."""
    dims = len(out_sizes)
    spatial = x.shape[-dims:]
    result = np.zeros(x.shape[:-dims] + tuple(out_sizes))
    for o in itertools.product(*[range(s) for s in out_sizes]):
        window = tuple(slice((oi * n) // m, -((-(oi + 1) * n) // m)) for oi, n, m in zip(o, spatial, out_sizes))
        result[(...,) + o] = x[(...,) + window].mean(axis=tuple(range(-dims, 0)))
    return result


@pytest.mark.parametrize("dims", [1, 2, 3])
def test_numpy_reference(dims):
    x = np.random.default_rng(5).standard_normal((2, 3) + (11, 7, 5)[:dims])
    out_sizes = [4, 3, 7][:dims]
    ours = ADAPTIVE_AVG[dims][0](torch.from_numpy(x), out_sizes).numpy()
    np.testing.assert_allclose(ours, numpy_adaptive_avg(x, out_sizes), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_global_average_of_16_bit_planes(dtype):
    """Global averages of bfloat16 and float16 planes: the CPU sums a plane in
    16 float lanes, then its last elements, and fills each plane's gradient as
    16-bit words. Planes around the lane width; the forward against a float64
    mean, the backward (each input's share of its output's gradient) with
    torch's bits."""
    for plane in [(1, 1), (3, 5), (4, 4), (1, 17), (7, 7), (2, 31), (6, 11)]:
        x = torch.randn([3, 5, *plane]).to(dtype)
        xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
        ours, theirs = PF.adaptive_avg_pool2d(xa, 1), TF.adaptive_avg_pool2d(xb, 1)
        expected = x.double().mean((-1, -2), keepdim=True)
        torch.testing.assert_close(ours.double(), expected, rtol=1e-2, atol=1e-2)
        grad = torch.randn(ours.shape).to(dtype)
        (ga,) = torch.autograd.grad(ours, xa, grad)
        (gb,) = torch.autograd.grad(theirs, xb, grad)
        assert torch.equal(ga.view(torch.int16), gb.view(torch.int16))


def _bfloat16_plane_averages_in_lane_order(x, divide_by):
    """What the CPU computes for global bfloat16 averages, in float32 numpy: a plane's whole
    16-element vectors added in order, lanes j + j+8, then j + j+4, then (q0 + q2) + (q1 + q3),
    then its last elements in order; the sum divided by each of divide_by in turn."""
    planes = x.float().reshape(x.shape[0] * x.shape[1], -1).numpy()
    f32 = np.float32
    n = planes.shape[1]
    whole = n - n % 16
    lanes = np.zeros((planes.shape[0], 16), f32)
    for i in range(0, whole, 16):
        lanes = (lanes + planes[:, i:i + 16]).astype(f32)
    half = (lanes[:, :8] + lanes[:, 8:]).astype(f32)
    quarter = (half[:, :4] + half[:, 4:]).astype(f32)
    sums = ((quarter[:, 0] + quarter[:, 2]).astype(f32) + (quarter[:, 1] + quarter[:, 3]).astype(f32)).astype(f32)
    for i in range(whole, n):
        sums = (sums + planes[:, i]).astype(f32)
    for d in divide_by:
        sums = (sums / f32(d)).astype(f32)
    return torch.from_numpy(sums).to(torch.bfloat16).reshape(x.shape[:2] + (1,) * (x.dim() - 2))


def test_global_bfloat16_average_sums_planes_in_a_fixed_order():
    """On AVX-512 CPUs sixteen bfloat16 planes are summed at once, their lane trees reduced
    together (the last planes of a thread's span fewer than 16), the last elements gathered:
    each average has the bits of one plane summed alone in the order above, for planes under,
    at and over the lane width, with and without last elements, network heads included."""
    for shape in [(8, 2048, 7, 7), (3, 5, 4, 4), (2, 17, 5, 7), (1, 33, 16, 16), (2, 3, 9, 9), (1, 40, 1, 31),
                  (3, 7, 3, 3), (1, 21, 5, 33)]:
        x = (torch.randn(shape) * 3).to(torch.bfloat16)
        for ours, divide_by in ((PF.adaptive_avg_pool2d(x, 1), (shape[2], shape[3])),
                                (PF.avg_pool2d(x, shape[2:]), (shape[2] * shape[3],))):
            expected = _bfloat16_plane_averages_in_lane_order(x, divide_by)
            assert torch.equal(ours.view(torch.int16), expected.view(torch.int16)), (shape, divide_by)
    x = torch.randn(4, 40, 4, 7, 7).to(torch.bfloat16)  # a video head: planes of 196
    assert torch.equal(PF.adaptive_avg_pool3d(x, 1).view(torch.int16),
                       _bfloat16_plane_averages_in_lane_order(x, (4, 7, 7)).view(torch.int16))


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("dims", [1, 2, 3])
def test_half_dtypes(dims, dtype, device):
    x = torch.randn((2, 5) + (9,) * dims, device=device).to(dtype)
    out = ADAPTIVE_AVG[dims][0](x, 4)
    ref = ADAPTIVE_AVG[dims][1](x.double(), 4)
    assert out.dtype == dtype
    torch.testing.assert_close(out.double(), ref, rtol=1e-2, atol=1e-2)


def test_integer_input_not_implemented_like_torch():
    assert_raises_like_torch(lambda F: F.adaptive_avg_pool2d(torch.ones(1, 1, 4, 4, dtype=torch.long), 2), "Long")


def distinct(shape, device):
    # Distinct values: max pooling is differentiable there (no ties).
    n = int(np.prod(shape))
    return (torch.randperm(n, device=device).double() / n).view(shape).requires_grad_()


GRAD_CASES = [  # name, input shape, output_size, channels-last
    ("1d", (2, 2, 7), 3, False),
    ("2d overlap", (1, 2, 5, 7), (3, 4), False),
    ("2d larger out", (1, 2, 3, 2), (5, 3), False),
    ("3d", (1, 2, 3, 5, 4), (2, 3, 3), False),
    ("2d channels_last", (2, 3, 5, 5), 3, True),
]


@pytest.mark.parametrize("family", list(POOLS))
@pytest.mark.parametrize("name,shape,output_size,channels_last", GRAD_CASES, ids=[c[0] for c in GRAD_CASES])
def test_gradcheck_and_gradgradcheck(family, name, shape, output_size, channels_last, device):
    pool = POOLS[family][len(shape) - 2][0]
    fn = lambda t: pool(t.contiguous(memory_format=torch.channels_last) if channels_last else t,  # noqa: E731
                        output_size)
    x = distinct(shape, device)
    assert torch.autograd.gradcheck(fn, (x,))
    assert torch.autograd.gradgradcheck(fn, (x,))


def test_opcheck_raw_ops():
    samples = []
    for shape, output_size in (((2, 3, 7, 6), [3, 4]), ((2, 3, 8), [4]), ((2, 3, 5, 6, 7), [2, 3, 5])):
        x = torch.randn(shape, requires_grad=True)
        layouts = [x] + ([x.detach().contiguous(memory_format=torch.channels_last).requires_grad_()]
                         if len(shape) == 4 else [])
        for t in layouts:
            out = ops.adaptive_avg_pool_forward(t, output_size)
            samples += [(ops.adaptive_avg_pool_forward, (t, output_size)),
                        (ops.adaptive_avg_pool_backward,
                         (torch.randn_like(out).requires_grad_(), list(shape), output_size))]
    for op, args in samples:
        torch.library.opcheck(op.default, args)


@pytest.mark.parametrize("output_size", [(3, 4), (1, 1), (None, 2)])
def test_compile_fullgraph(output_size):
    torch._dynamo.reset()
    fn = lambda t: PF.adaptive_avg_pool2d(t, output_size)  # noqa: E731
    x = torch.randn(2, 3, 9, 8, requires_grad=True)
    names = captured_ops(fn, x)
    assert any("pooling_ext" in n for n in names), names
    out, ref = torch.compile(fn, fullgraph=True)(x), fn(x)
    torch.testing.assert_close(out, ref, **F32)
    g = torch.randn_like(ref)
    torch.testing.assert_close(torch.autograd.grad(out, x, g)[0], torch.autograd.grad(ref, x, g)[0], **F32)


@pytest.mark.parametrize("family", list(POOLS))
def test_backward_bitwise_deterministic_across_runs_and_threads(family):
    x = make_input((4, 16, 27, 27), ties=family == "max")  # ties: several windows share an argmax

    def run():
        results = []
        for output_size, layout in itertools.product(((6, 6), (7, 5), (40, 30), (1, 1)),
                                                    (torch.contiguous_format, torch.channels_last)):
            xi = x.clone(memory_format=layout).requires_grad_()
            out = POOLS[family][2][0](xi, output_size)
            out.backward(torch.linspace(-1, 1, out.numel()).view(out.shape))
            results += [out.detach(), xi.grad]
        return results

    assert_bitwise_same_across_thread_counts(run)


X2 = torch.randn(1, 2, 5, 5)
BAD_CALLS = [
    ("negative output", "output_size", lambda F: F.adaptive_avg_pool2d(X2, -1)),
    ("negative entry 3d", "output_size", lambda F: F.adaptive_avg_pool3d(X2[None], (1, -2, 3))),
    ("too many entries", "output_size", lambda F: F.adaptive_avg_pool2d(X2, (2, 3, 4))),
    ("too few entries 3d", "output_size", lambda F: F.adaptive_avg_pool3d(X2[None], (1, 2))),
    ("1d two entries", "output_size", lambda F: F.adaptive_avg_pool1d(X2[0], (2, 3))),
    ("1d None", "output_size", lambda F: F.adaptive_avg_pool1d(X2[0], None)),
    ("float entry", "output_size", lambda F: F.adaptive_avg_pool2d(X2, (3.0, 2))),
    ("rank too low", "input", lambda F: F.adaptive_avg_pool2d(X2[0, 0], 2)),
    ("1d rank too low", "input", lambda F: F.adaptive_avg_pool1d(torch.randn(7), 2)),
    ("zero width", "input", lambda F: F.adaptive_avg_pool2d(torch.randn(1, 3, 5, 0), 2)),
    ("3d zero channels", "input", lambda F: F.adaptive_avg_pool3d(torch.randn(2, 0, 4, 5, 6), 2)),
]


@pytest.mark.parametrize("name,argument,call", BAD_CALLS, ids=[c[0] for c in BAD_CALLS])
def test_same_exception_type_as_torch(name, argument, call):
    assert_raises_like_torch(call, argument)


def test_zero_channels_accepted_like_torch():
    for dims, shape in ((1, (2, 0, 7)), (2, (2, 0, 7, 9)), (2, (0, 7, 9))):
        x = torch.randn(shape)
        assert ADAPTIVE_AVG[dims][0](x, 3).shape == ADAPTIVE_AVG[dims][1](x, 3).shape


MODULE_PAIRS = [
    (pooling_ext.nn.AdaptiveAvgPool1d, torch.nn.AdaptiveAvgPool1d, dict(output_size=3)),
    (pooling_ext.nn.AdaptiveAvgPool2d, torch.nn.AdaptiveAvgPool2d, dict(output_size=(None, 3))),
    (pooling_ext.nn.AdaptiveAvgPool3d, torch.nn.AdaptiveAvgPool3d, dict(output_size=(2, 3, 5))),
    (pooling_ext.nn.AdaptiveMaxPool1d, torch.nn.AdaptiveMaxPool1d, dict(output_size=3)),
    (pooling_ext.nn.AdaptiveMaxPool2d, torch.nn.AdaptiveMaxPool2d, dict(output_size=(None, 3), return_indices=True)),
    (pooling_ext.nn.AdaptiveMaxPool3d, torch.nn.AdaptiveMaxPool3d, dict(output_size=(2, 3, 5))),
]


@pytest.mark.parametrize("ours,theirs,kwargs", MODULE_PAIRS)
def test_module_is_a_drop_in(ours, theirs, kwargs):
    mine, ref = ours(**kwargs), theirs(**kwargs)
    assert isinstance(mine, theirs) and repr(mine) == repr(ref)
    clone = pickle.loads(pickle.dumps(mine))
    assert type(clone) is ours and repr(clone) == repr(mine)
    dims = int(theirs.__name__[-2])
    x = torch.randn((2, 3) + (7,) * dims, dtype=torch.float64)
    for a, b in zip(torch.utils._pytree.tree_leaves(clone(x)), torch.utils._pytree.tree_leaves(ref(x))):
        torch.testing.assert_close(a, b, **F64)


def test_replace_pooling_and_patch():
    model = torch.nn.Sequential(torch.nn.Conv2d(2, 2, 1), torch.nn.AdaptiveAvgPool2d((3, 5)), torch.nn.Flatten())
    reference = copy.deepcopy(model)
    pooling_ext.replace_pooling(model)
    assert type(model[1]) is pooling_ext.nn.AdaptiveAvgPool2d
    x = torch.randn(1, 2, 7, 11)
    torch.testing.assert_close(model(x), reference(x))
    with pooling_ext.patch():
        assert TF.adaptive_avg_pool2d is PF.adaptive_avg_pool2d
        with NoTorchPooling():
            torch.nn.AdaptiveAvgPool1d(3)(x[0]), torch.nn.AdaptiveAvgPool3d(2)(x[None])
    assert TF.adaptive_avg_pool2d is not PF.adaptive_avg_pool2d


@pytest.mark.parametrize("family", list(POOLS))
@pytest.mark.parametrize("output_size", [(3, 4), (1, 1), (11, 13)])
def test_no_torch_pooling_op_runs(family, output_size, device):
    x = distinct((2, 3, 8, 10), device)
    with NoTorchPooling():
        out = POOLS[family][2][0](x, output_size)
        grad_out = torch.rand_like(out).requires_grad_()
        (grad,) = torch.autograd.grad(out, x, grad_out, create_graph=True)
        (grad * grad).sum().backward()  # double backward, into grad_out
    assert grad_out.grad is not None


EMULATED_SIZES = [  # dims, input sizes, output sizes: overlapping, larger output, divisible
    (1, [13], [6]), (2, [5, 7], [3, 4]), (2, [3, 2], [5, 3]), (3, [4, 5, 3], [3, 2, 2]), (2, [8, 6], [4, 3])]


def emulated_inputs(ties):
    for dims, in_sizes, out_sizes in EMULATED_SIZES:
        x = make_input([2, 3] + in_sizes, dtype=torch.float64, ties=ties)
        for t in [x] + ([x.contiguous(memory_format=CL[dims])] if dims > 1 else []):
            yield dims, t, out_sizes


@pytest.mark.parametrize("emu", list(EMULATIONS.values()), ids=list(EMULATIONS))
def test_avg_emulation_of_the_cuda_kernels(emu):
    # The CUDA ops run these launches of the window-sum bodies under the adaptive policy.
    grid = emu
    for dims, t, out_sizes in emulated_inputs(ties=False):
        out = grid.adaptive_avg_pool_forward(t, out_sizes)
        torch.testing.assert_close(out, ADAPTIVE_AVG[dims][1](t, out_sizes), **F64)
        g = torch.randn_like(out)
        ref = torch.autograd.grad(ADAPTIVE_AVG[dims][1](t.requires_grad_(), out_sizes), t, g)[0]
        torch.testing.assert_close(grid.adaptive_avg_pool_backward(g, list(t.shape), out_sizes), ref, **F64)


# ---------------------------------------------------------------- adaptive max pooling

def check_max_against_torch(dims, x, output_size, layout=True):
    """Values and torch's int64 indices equal; gradients equal (one argmax per window)."""
    ours_fn, torch_fn = ADAPTIVE_MAX[dims]
    x = x.detach().requires_grad_()
    (out, idx), (ref, ref_idx) = ours_fn(x, output_size, True), torch_fn(x, output_size, True)
    torch.testing.assert_close(out, ref, rtol=0, atol=0, equal_nan=True)
    assert torch.equal(idx, ref_idx)
    assert same_layout(out, ref) or not layout
    grad = torch.randn(ref.shape, dtype=torch.float64, device=x.device).to(x.dtype)
    (ga,) = torch.autograd.grad(out, x, grad)
    if x.dtype in (torch.float32, torch.float64):
        (gb,) = torch.autograd.grad(ref, x, grad)
        torch.testing.assert_close(ga, gb, rtol=1e-6, atol=1e-6)
    else:
        # Sums at a shared argmax: ours accumulate in float32 and round once, torch's in the
        # half type; both against the float64 gradient of the same windows.
        x64 = x.detach().double().requires_grad_()
        (g64,) = torch.autograd.grad(torch_fn(x64, output_size), x64, grad.double())
        torch.testing.assert_close(ga.double(), g64, rtol=1e-2, atol=1e-2)


def test_global_max_of_float_planes():
    # Contiguous float32 global windows run a vectorised two-pass plane max (integer order keys,
    # -0 equal to +0; the last NaN, else the first maximum): every plane size up to a few
    # vectors, ties, NaNs, signed zeros and all -inf, against torch's values and indices, for
    # adaptive_max_pool2d/3d and max_pool2d with the plane as its kernel.
    gen = torch.Generator().manual_seed(5)
    kinds = {
        "distinct": lambda s: torch.randn(s, generator=gen),
        "ties": lambda s: torch.randint(-2, 2, s, generator=gen).float(),
        "nans": lambda s: torch.randn(s, generator=gen).masked_fill(torch.rand(s, generator=gen) < 0.1, float("nan")),
        "signed zeros": lambda s: torch.where(torch.rand(s, generator=gen) < 0.5, 0.0, -0.0),
        "-inf and nan": lambda s: torch.full(s, float("-inf")).masked_fill(torch.rand(s, generator=gen) < 0.05,
                                                                             float("nan")),
    }
    for plane in [(1, 1), (1, 5), (4, 4), (3, 6), (1, 17), (7, 7), (5, 13), (9, 9)]:
        for kind, make in kinds.items():
            x = make((3, 5, *plane))
            check_max_against_torch(2, x, 1)
            out, idx = PF.max_pool2d(x, plane, return_indices=True)
            ref, ref_idx = TF.max_pool2d(x, plane, return_indices=True)
            torch.testing.assert_close(out, ref, rtol=0, atol=0, equal_nan=True)
            assert torch.equal(idx, ref_idx), kind
            # The sign of a zero maximum is the chosen element's.
            assert torch.equal(torch.signbit(out), torch.signbit(ref)), kind
    check_max_against_torch(3, kinds["ties"]((2, 4, 3, 4, 5)), 1)


@pytest.mark.parametrize("values", ["distinct", "ties", "nans"])
@pytest.mark.parametrize("dims", [1, 2, 3])
def test_max_grid_matches_torch(dims, values, device):
    rng = np.random.default_rng(10 + dims)
    combos = list(itertools.product(SIZES, repeat=dims))
    picks = [combos[i] for i in rng.choice(len(combos), size=min(len(combos), 30), replace=False)]
    for combo in picks:
        in_sizes, out_sizes = [c[0] for c in combo], [c[1] for c in combo]
        x = make_input([2, 3] + in_sizes, dtype=torch.float64, device=device, ties=values == "ties",
                       nans=values == "nans")
        check_max_against_torch(dims, x, out_sizes)
        if dims > 1:
            check_max_against_torch(dims, x.contiguous(memory_format=CL[dims]), out_sizes, layout=dims == 2)


@pytest.mark.parametrize("dims", [1, 2, 3])
def test_max_views_unbatched_empty_batch_and_none(dims, device):
    x = torch.randn((3, 4) + (9,) * dims, dtype=torch.float64, device=device)
    strided = x[:, :, ::2] if dims == 1 else x.transpose(-1, -2)[..., 1:]
    check_max_against_torch(dims, strided, [4] * dims)
    check_max_against_torch(dims, x[0], [5] * dims)
    check_max_against_torch(dims, x[:0], [2] * dims)
    check_max_against_torch(dims, x, 1)
    if dims > 1:
        check_max_against_torch(dims, x, [None] + [3] * (dims - 1))


def test_max_zero_output_size_gives_zero_gradient():
    x = torch.randn(2, 3, 7, 9, dtype=torch.float64, requires_grad=True)
    out, idx = PF.adaptive_max_pool2d(x, (0, 3), return_indices=True)
    assert out.shape == idx.shape == (2, 3, 0, 3)
    (grad,) = torch.autograd.grad(out, x, torch.randn_like(out))
    assert torch.equal(grad, torch.zeros_like(x))


@pytest.mark.parametrize("dims", [1, 2, 3])
def test_max_numpy_reference(dims):
    x = np.random.default_rng(6).standard_normal((2, 3) + (11, 7, 5)[:dims])
    out_sizes = [4, 3, 7][:dims]
    spatial = x.shape[-dims:]
    expected = np.zeros(x.shape[:-dims] + tuple(out_sizes))
    for o in itertools.product(*[range(s) for s in out_sizes]):
        window = tuple(slice((oi * n) // m, -((-(oi + 1) * n) // m)) for oi, n, m in zip(o, spatial, out_sizes))
        expected[(...,) + o] = x[(...,) + window].max(axis=tuple(range(-dims, 0)))
    np.testing.assert_array_equal(ADAPTIVE_MAX[dims][0](torch.from_numpy(x), out_sizes).numpy(), expected)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32])
@pytest.mark.parametrize("dims", [1, 2, 3])
def test_max_dtypes(dims, dtype, device):
    x = torch.randn((2, 5) + (9,) * dims, device=device).to(dtype)
    check_max_against_torch(dims, x, 4)


def test_max_integer_input_not_implemented_like_torch():
    assert_raises_like_torch(lambda F: F.adaptive_max_pool2d(torch.ones(1, 1, 4, 4, dtype=torch.long), 2), "Long")


def test_max_opcheck_raw_ops():
    samples = []
    for shape, output_size in (((2, 3, 7, 6), [3, 4]), ((2, 3, 8), [5]), ((2, 3, 5, 6, 7), [2, 3, 5]),
                               ((1, 2, 3, 4), [5, 6])):
        x = torch.randn(shape, requires_grad=True)
        layouts = [x] + ([x.detach().contiguous(memory_format=torch.channels_last).requires_grad_()]
                         if len(shape) == 4 else [])
        for t in layouts:
            out, offset = ops.adaptive_max_pool_forward(t, output_size)
            samples += [(ops.adaptive_max_pool_forward, (t, output_size)),
                        (ops.adaptive_max_pool_values, (t, output_size)),
                        (ops.adaptive_max_pool_values, (t.detach(), output_size)),
                        (ops.adaptive_max_pool_backward,
                         (torch.randn_like(out).requires_grad_(), offset, list(shape), output_size)),
                        (ops.adaptive_max_pool_gather, (torch.randn_like(t).requires_grad_(), offset, output_size)),
                        (ops.adaptive_max_pool_indices, (offset, list(shape), output_size))]
    for op, args in samples:
        torch.library.opcheck(op.default, args)


@pytest.mark.parametrize("output_size", [(3, 4), (1, 1), (None, 2)])
def test_max_compile_fullgraph(output_size):
    torch._dynamo.reset()
    fn = lambda t: PF.adaptive_max_pool2d(t, output_size, return_indices=True)  # noqa: E731
    x = torch.randn(2, 3, 9, 8, requires_grad=True)
    names = captured_ops(fn, x)
    assert any("pooling_ext" in n for n in names), names
    (out, idx), (ref, ref_idx) = torch.compile(fn, fullgraph=True)(x), fn(x)
    assert torch.equal(out, ref) and torch.equal(idx, ref_idx)
    g = torch.randn_like(ref)
    assert torch.equal(torch.autograd.grad(out, x, g)[0], torch.autograd.grad(ref, x, g)[0])


MAX_BAD_CALLS = [
    ("negative output", "output_size", lambda F: F.adaptive_max_pool2d(X2, -1)),
    ("too many entries", "output_size", lambda F: F.adaptive_max_pool2d(X2, (2, 3, 4))),
    ("1d two entries", "output_size", lambda F: F.adaptive_max_pool1d(X2[0], (2, 3))),
    ("1d None", "output_size", lambda F: F.adaptive_max_pool1d(X2[0], None)),
    ("float entry", "output_size", lambda F: F.adaptive_max_pool2d(X2, (3.0, 2))),
    ("rank too low", "input", lambda F: F.adaptive_max_pool2d(X2[0, 0], 2)),
    ("zero width", "input", lambda F: F.adaptive_max_pool2d(torch.randn(1, 3, 5, 0), 2)),
    ("1d zero channels", "input", lambda F: F.adaptive_max_pool1d(torch.randn(2, 0, 7), 2)),
    ("2d zero channels", "input", lambda F: F.adaptive_max_pool2d(torch.randn(2, 0, 7, 9), 2)),
    ("3d zero channels", "input", lambda F: F.adaptive_max_pool3d(torch.randn(2, 0, 4, 5, 6), 2)),
]


@pytest.mark.parametrize("name,argument,call", MAX_BAD_CALLS, ids=[c[0] for c in MAX_BAD_CALLS])
def test_max_same_exception_type_as_torch(name, argument, call):
    assert_raises_like_torch(call, argument)


def test_max_replace_pooling_and_patch():
    model = torch.nn.Sequential(torch.nn.Conv2d(2, 2, 1), torch.nn.AdaptiveMaxPool2d((3, 5)), torch.nn.Flatten())
    reference = copy.deepcopy(model)
    pooling_ext.replace_pooling(model)
    assert type(model[1]) is pooling_ext.nn.AdaptiveMaxPool2d
    x = torch.randn(1, 2, 7, 11)
    torch.testing.assert_close(model(x), reference(x))
    with pooling_ext.patch():
        for name in ("adaptive_max_pool2d", "adaptive_max_pool1d_with_indices", "adaptive_max_pool3d"):
            assert getattr(TF, name) is getattr(PF, name)
        with NoTorchPooling():
            torch.nn.AdaptiveMaxPool1d(3)(x[0]), torch.nn.AdaptiveMaxPool3d(2, return_indices=True)(x[None])
    assert TF.adaptive_max_pool2d is not PF.adaptive_max_pool2d


@pytest.mark.parametrize("emu", list(EMULATIONS.values()), ids=list(EMULATIONS))
def test_max_emulation_of_the_cuda_kernels(emu):
    # The CUDA ops run these launches of the max bodies under the adaptive policy.
    grid = emu
    for dims, t, out_sizes in emulated_inputs(ties=True):
        out, offset = grid.adaptive_max_pool_forward(t, out_sizes)
        ref, ref_idx = ADAPTIVE_MAX[dims][1](t, out_sizes, True)
        assert torch.equal(out, ref)
        assert torch.equal(grid.adaptive_max_pool_values(t, out_sizes), ref)
        assert torch.equal(grid.adaptive_max_pool_indices(offset, list(t.shape), out_sizes), ref_idx)
        g = torch.randn_like(out)
        expected = torch.autograd.grad(ADAPTIVE_MAX[dims][1](t.requires_grad_(), out_sizes), t, g)[0]
        torch.testing.assert_close(grid.adaptive_max_pool_backward(g, offset, list(t.shape), out_sizes), expected)
        source = torch.randn_like(t)
        gathered = grid.adaptive_max_pool_gather(source, offset, out_sizes)
        assert torch.equal(gathered, source.flatten(-dims).gather(-1, ref_idx.flatten(-dims)).view_as(ref))


@pytest.mark.parametrize("plane", [(7, 7), (1, 3), (2, 2), (3, 5)])
def test_max_global_head_ties_and_nans_like_torch(plane):
    # The CPU's global-window loop scans each plane in interleaved chains and merges them: ties
    # across chains keep the first index, and the last NaN wins, as in one scan in order.
    n = plane[0] * plane[1]
    x = torch.randint(-2, 2, (64, 8) + plane).double()
    for row in range(0, 64, 4):
        x[row].view(8, -1)[:, torch.randint(0, n, (2,))] = float("nan")
    for layout in (torch.contiguous_format, torch.channels_last):
        check_max_against_torch(2, x.contiguous(memory_format=layout), 1)
        out, idx = PF.max_pool2d(x.contiguous(memory_format=layout), plane, return_indices=True)
        ref, ref_idx = TF.max_pool2d(x, plane, return_indices=True)
        assert torch.equal(idx, ref_idx) and torch.equal(out.isnan(), ref.isnan())


@pytest.mark.parametrize("dtype", [torch.float64, torch.bfloat16])
@pytest.mark.parametrize("dims", [1, 2, 3])
def test_contiguous_heads_on_channels_last_copies(dims, dtype):
    # With >= 16 channels and small planes the CPU runs contiguous adaptive and global pooling
    # through the channels-last loops on copies: values, indices and gradients as torch's.
    in_sizes = {1: [13], 2: [13, 11], 3: [5, 6, 7]}[dims]
    for output_size in ([6, 4, 3][:dims], [1] * dims, [2 * s for s in in_sizes]):
        x = make_input([3, 32] + in_sizes, dtype=torch.float64, ties=True, nans=True).to(dtype)
        check_max_against_torch(dims, x, output_size)
        xs = torch.randn([3, 32] + in_sizes, dtype=torch.float64).to(dtype)
        check_against_torch(dims, xs, output_size, F64 if dtype == torch.float64 else dict(rtol=1e-2, atol=1e-2))
