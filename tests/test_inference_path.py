"""The inference path: where no gradient is needed, max pooling (fixed,
adaptive and fractional windows) runs a values-only op that computes and
saves no window offsets; where one is needed, the same call saves them. The
choice is made in the op's autograd kernel, so eager calls, torch.compile
inference and AOTAutograd's training graphs each get the right op, and the
values-only loops give torch's results bit for bit."""
import itertools

import pytest
import torch
import torch.nn.functional as F
from torch._dynamo.backends.common import aot_autograd
from torch.utils._python_dispatch import TorchDispatchMode

import pooling_ext.functional as PF
from conftest import assert_same, make_input

FORWARD_OPS = {"max_pool_forward", "adaptive_max_pool_forward", "fractional_max_pool_forward"}
VALUES_OPS = {"max_pool_values", "adaptive_max_pool_values", "fractional_max_pool_values"}


class KernelCalls(TorchDispatchMode):
    """The names of the pooling_ext ops that reach a device kernel."""

    def __init__(self):
        super().__init__()
        self.names = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func.namespace == "pooling_ext":
            self.names.append(func.__name__.split(".")[0])
        return func(*args, **(kwargs or {}))


def samples_2d(x):
    return x.new_empty(x.shape[0], x.shape[1], 2).uniform_()


CALLS = {
    "max2d": lambda x: PF.max_pool2d(x, 3, 2, 1),
    "max1d": lambda x: PF.max_pool1d(x.flatten(2), 3, 2),
    "max3d": lambda x: PF.max_pool3d(x.unsqueeze(2), (1, 2, 2)),
    "adaptive": lambda x: PF.adaptive_max_pool2d(x, 3),
    "fractional": lambda x: PF.fractional_max_pool2d(x, 2, output_size=4, _random_samples=samples_2d(x)),
}


def kernels_run(fn, x):
    with KernelCalls() as calls:
        fn(x)
    return set(calls.names)


@pytest.mark.parametrize("name", sorted(CALLS))
def test_values_only_without_gradient(name):
    fn = CALLS[name]
    x = make_input((2, 3, 9, 8))
    assert kernels_run(fn, x) & FORWARD_OPS == set()
    assert kernels_run(fn, x) & VALUES_OPS
    with torch.no_grad():
        assert kernels_run(fn, x.requires_grad_()) & FORWARD_OPS == set()
    with torch.inference_mode():
        assert kernels_run(fn, make_input((2, 3, 9, 8))) & FORWARD_OPS == set()


@pytest.mark.parametrize("name", sorted(CALLS))
def test_saving_forward_with_gradient(name):
    fn = CALLS[name]
    x = make_input((2, 3, 9, 8), dtype=torch.float64).requires_grad_()
    assert kernels_run(fn, x) & VALUES_OPS == set()
    assert kernels_run(fn, x) & FORWARD_OPS
    # and the gradient is torch's
    ref_fn = {"max2d": lambda t: F.max_pool2d(t, 3, 2, 1), "max1d": lambda t: F.max_pool1d(t.flatten(2), 3, 2),
              "max3d": lambda t: F.max_pool3d(t.unsqueeze(2), (1, 2, 2)),
              "adaptive": lambda t: F.adaptive_max_pool2d(t, 3)}.get(name)
    if ref_fn is not None:
        (ours,) = torch.autograd.grad(fn(x).sum(), x)
        (ref,) = torch.autograd.grad(ref_fn(x).sum(), x)
        assert_same(ours, ref)


def test_return_indices_without_gradient_gives_torchs_indices():
    x = make_input((2, 3, 9, 8), ties=True)
    with torch.no_grad():
        out, idx = PF.max_pool2d(x, 3, 2, 1, return_indices=True)
        ref, ref_idx = F.max_pool2d(x, 3, 2, 1, return_indices=True)
        a_out, a_idx = PF.adaptive_max_pool2d(x, 4, return_indices=True)
        a_ref, a_ref_idx = F.adaptive_max_pool2d(x, 4, return_indices=True)
    assert_same(out, ref) and assert_same(idx, ref_idx)
    assert_same(a_out, a_ref) and assert_same(a_idx, a_ref_idx)


# Windows that exercise every values-only loop: stride 1, 2 and 3 rows,
# dilation, padding borders, ceil_mode, 1d/3d, and long rows (register blocks
# plus a tail), in both layouts.
VALUES_CASES = [
    (2, (2, 3, 11, 75), dict(kernel_size=2, stride=2)),
    (2, (2, 3, 13, 70), dict(kernel_size=3, stride=2, padding=1)),
    (2, (1, 4, 9, 41), dict(kernel_size=5, stride=1, padding=2)),
    (2, (1, 2, 12, 50), dict(kernel_size=(2, 3), stride=(1, 3), dilation=(2, 2), padding=(1, 1), ceil_mode=True)),
    (1, (2, 5, 100), dict(kernel_size=3, stride=2, padding=1)),
    (3, (1, 3, 6, 9, 40), dict(kernel_size=2, stride=2)),
    (3, (1, 3, 7, 9, 37), dict(kernel_size=3, stride=2, padding=1)),
    # rows of 2 x 32 outputs and a 1-lane rest; channels-last: 64-channel blocks and a 16-lane rest
    (2, (1, 80, 4, 130), dict(kernel_size=2, stride=2)),
    (2, (1, 80, 5, 131), dict(kernel_size=3, stride=1)),
    # other strides: lanes picked from 32 loaded elements (8, 7 and 4 outputs per block), borders masked
    (2, (2, 4, 28, 28), dict(kernel_size=4, stride=4)),
    (2, (1, 3, 9, 90), dict(kernel_size=(2, 6), stride=(1, 5), padding=(1, 3), dilation=(1, 2), ceil_mode=True)),
    (1, (2, 3, 95), dict(kernel_size=4, stride=9, padding=2)),
]


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float64])
@pytest.mark.parametrize("case", range(len(VALUES_CASES)))
@pytest.mark.parametrize("channels_last", [False, True])
def test_values_only_equals_torch_bitwise(case, dtype, channels_last):
    dims, shape, kwargs = VALUES_CASES[case]
    if channels_last and dims == 1:
        pytest.skip("no channels-last 1d layout")
    fn = {1: (PF.max_pool1d, F.max_pool1d), 2: (PF.max_pool2d, F.max_pool2d), 3: (PF.max_pool3d, F.max_pool3d)}[dims]
    for ties, nans in ((False, False), (True, False), (False, True)):
        x = make_input(shape, dtype=dtype, ties=ties, nans=nans)
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last if dims == 2 else torch.channels_last_3d)
        with torch.no_grad():
            ours, ref = fn[0](x, **kwargs), fn[1](x, **kwargs)
        assert_same(ours, ref)
        assert ours.stride() == ref.stride()
        # -0 and +0 tie: the first in tap order wins, as in torch (NaN's sign
        # bit aside: torch's own bfloat16 channels-last kernel flips it)
        numbers = ~ref.isnan()
        assert torch.equal(ours.float().signbit()[numbers], ref.float().signbit()[numbers])


@pytest.mark.parametrize("case", range(len(VALUES_CASES)))
@pytest.mark.parametrize("channels_last", [False, True])
def test_last_nan_of_a_window_wins(case, channels_last):
    """NaNs of both signs: torch's rule takes every NaN it meets, so a window's
    result is its last NaN, sign bit included (float32, whose NaN bits torch
    keeps). The values-only loops keep it beside their vmaxps chain, which
    alone would drop a NaN; the saving forward takes it by the rule."""
    dims, shape, kwargs = VALUES_CASES[case]
    if channels_last and dims == 1:
        pytest.skip("no channels-last 1d layout")
    fn = {1: (PF.max_pool1d, F.max_pool1d), 2: (PF.max_pool2d, F.max_pool2d), 3: (PF.max_pool3d, F.max_pool3d)}[dims]
    torch.manual_seed(case)
    x = torch.randn(shape)
    x[torch.rand(shape) < 0.2] = float("nan")
    x = torch.where(torch.rand(shape) < 0.5, -x, x)
    ref = fn[1](x, **kwargs)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last if dims == 2 else torch.channels_last_3d)
    with torch.no_grad():
        values = fn[0](x, **kwargs)
    saving, _ = fn[0](x, return_indices=True, **kwargs)
    assert bool((ref.isnan() & ref.signbit()).any()) and bool((ref.isnan() & ~ref.signbit()).any())
    for ours in (values, saving):
        assert torch.equal(ours.contiguous().view(torch.int32), ref.view(torch.int32))


@pytest.mark.parametrize("channels_last", [False, True])
def test_adaptive_values_equal_torch_bitwise(channels_last):
    # divisible sizes are fixed windows (28 -> 7: 4x4, stride 4); others adaptive
    for dtype, size, ties, nans in itertools.product((torch.float32, torch.bfloat16), ((28, 28), (13, 13)),
                                                     (False, True), (False, True)):
        x = make_input((2, 5, *size), dtype=dtype, ties=ties, nans=nans)
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.no_grad():
            ours, ref = PF.adaptive_max_pool2d(x, 7), F.adaptive_max_pool2d(x, 7)
        assert_same(ours, ref)
        numbers = ~ref.isnan()
        assert torch.equal(ours.float().signbit()[numbers], ref.float().signbit()[numbers])


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("plane", [1, 5, 16, 17, 49, 64, 100])
def test_global_max_values_equal_torch_bitwise(plane, dtype):
    """Values-only global max reduces a plane by its order keys and leaves
    planes with a NaN (whose bits: the last one's) or a zero maximum (whose
    sign: the first one's) to the ordered loop."""
    x = make_input((4, 24, plane), dtype=dtype, ties=True)  # many ties, zero maxima among them
    x[0] = -x[0].abs()                                          # planes of zeros and negatives
    x[1, ::2] = torch.where(x[1, ::2] == 0, -0.0, x[1, ::2])    # -0 before +0 ties
    x[2, ::3, plane // 2] = float("nan")
    x[2, ::5, 0] = -float("nan")
    x = x.view(4, 24, 1, plane)
    with torch.no_grad():
        ours = PF.adaptive_max_pool2d(x, 1)
        whole_window = PF.max_pool2d(x, (1, plane))
    ref = F.adaptive_max_pool2d(x, 1)
    bits = torch.int16 if dtype == torch.bfloat16 else torch.int32
    assert torch.equal(ours.view(bits), ref.view(bits))
    assert torch.equal(whole_window.view(bits), ref.view(bits))


def graph_ops(gm):
    return {str(node.target).split(".")[1] for node in gm.graph.nodes
            if node.op == "call_function" and str(node.target).startswith("pooling_ext.")}


def test_compiled_graphs_pick_the_right_forward():
    """torch.compile inference records the values-only op; AOTAutograd's
    training graph records the saving forward and its backward."""
    forward_graphs = []

    def record(gm, example_inputs):
        forward_graphs.append(graph_ops(gm))
        return gm.forward

    backend = aot_autograd(fw_compiler=record, bw_compiler=lambda gm, _: gm.forward)
    fn = lambda t: PF.max_pool2d(t, 3, 2, 1).relu()  # noqa: E731
    x = make_input((2, 3, 9, 8))

    torch._dynamo.reset()
    with torch.no_grad():
        out = torch.compile(fn, backend=backend, fullgraph=True)(x)
    assert_same(out, F.max_pool2d(x, 3, 2, 1).relu())
    assert "max_pool_values" in forward_graphs[-1] and "max_pool_forward" not in forward_graphs[-1]

    torch._dynamo.reset()
    xg = x.clone().requires_grad_()
    out = torch.compile(fn, backend=backend, fullgraph=True)(xg)
    assert "max_pool_forward" in forward_graphs[-1] and "max_pool_values" not in forward_graphs[-1]
    (grad,) = torch.autograd.grad(out.sum(), xg)
    xr = x.clone().requires_grad_()
    (ref,) = torch.autograd.grad(F.max_pool2d(xr, 3, 2, 1).relu().sum(), xr)
    assert_same(grad, ref)


TANGENT_CALLS = {
    **CALLS,
    "avg2d": lambda x: PF.avg_pool2d(x, 3, 2, 1),
    "adaptive_avg": lambda x: PF.adaptive_avg_pool2d(x, 3),
    "lp2d": lambda x: PF.lp_pool2d(x, 2.0, 2),
    "gem": lambda x: PF.gem(x, 3.0),
    "unpool": lambda x: PF.max_unpool2d(x, UNPOOL_INDICES, 2),
}
# For the (2, 3, 9, 8) inputs below: each 2x2 window's top-left corner of the 18x16 output.
UNPOOL_INDICES = (32 * torch.arange(9).view(9, 1) + 2 * torch.arange(8)).expand(2, 3, 9, 8).contiguous()
TORCH_CALLS = {
    "max2d": lambda x: F.max_pool2d(x, 3, 2, 1),
    "max1d": lambda x: F.max_pool1d(x.flatten(2), 3, 2),
    "max3d": lambda x: F.max_pool3d(x.unsqueeze(2), (1, 2, 2)),
    "adaptive": lambda x: F.adaptive_max_pool2d(x, 3),
    "avg2d": lambda x: F.avg_pool2d(x, 3, 2, 1),
    "adaptive_avg": lambda x: F.adaptive_avg_pool2d(x, 3),
    "lp2d": lambda x: F.lp_pool2d(x, 2.0, 2),
    "gem": lambda x: x.clamp(min=1e-6).pow(3.0).mean((-2, -1), keepdim=True).pow(1.0 / 3.0),
    "unpool": lambda x: F.max_unpool2d(x, UNPOOL_INDICES, 2),
}


@pytest.mark.parametrize("name", sorted(TORCH_CALLS))
def test_forward_mode_tangent_is_never_dropped(name):
    """Without a gradient to record, the ops skip their autograd Function and
    call the kernels below it (inference, and the backward pass of a training
    step). A forward-mode tangent (torch.autograd.forward_ad, torch.func.jvp)
    must still reach the Function: below it the tangent would be dropped
    without a word (the values-only path once returned no tangent under
    forward_ad and zeros under jvp). Either torch's tangent, or the
    Function's refusal (a RuntimeError, until the ops have forward
    derivatives)."""
    ours, theirs = TANGENT_CALLS[name], TORCH_CALLS[name]
    x = make_input((2, 3, 9, 8), dtype=torch.float64)
    t = make_input((2, 3, 9, 8), dtype=torch.float64)
    expected = torch.func.jvp(theirs, (x,), (t,))[1]

    def through_forward_ad():
        with torch.autograd.forward_ad.dual_level():
            return torch.autograd.forward_ad.unpack_dual(ours(torch.autograd.forward_ad.make_dual(x, t))).tangent

    def through_jvp():
        return torch.func.jvp(ours, (x,), (t,))[1]

    for run in (through_forward_ad, through_jvp):
        try:
            tangent = run()
        except RuntimeError as error:
            assert "not implemented" in str(error) or "functorch" in str(error), str(error)
            continue
        assert tangent is not None, run.__name__
        assert_same(tangent, expected)
