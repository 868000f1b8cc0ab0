"""Where a forward records a gradient, it builds its gradient node directly,
as aten's generated autograd kernels do (not through a C++ autograd
Function, whose per-call cost a small training step feels). The graph it
makes must behave as torch's: edges to the inputs, retained graphs that run
again, saved tensors freed after a backward and guarded against in-place
changes, hooks, and the gradients themselves."""
import pytest
import torch
import torch.nn.functional as F

import pooling_ext.functional as PF
from conftest import assert_same, make_input, same_layout

ops = torch.ops.pooling_ext

SHAPE = (2, 3, 9, 8)
SAMPLES = torch.rand(2, 3, 2, dtype=torch.float64)
# Each 2x2 window's top-left corner of the 18x16 unpooled plane.
UNPOOL_INDICES = (32 * torch.arange(9).view(9, 1) + 2 * torch.arange(8)).expand(*SHAPE).contiguous()

# name: (ours, torch's, whether the node saves tensors)
CALLS = {
    "max_pool2d": (lambda x: PF.max_pool2d(x, 3, 2, 1), lambda x: F.max_pool2d(x, 3, 2, 1), True),
    "adaptive_max_pool2d": (lambda x: PF.adaptive_max_pool2d(x, 4), lambda x: F.adaptive_max_pool2d(x, 4), True),
    "fractional_max_pool2d": (lambda x: PF.fractional_max_pool2d(x, 2, output_size=4, _random_samples=SAMPLES),
                              lambda x: F.fractional_max_pool2d(x, 2, output_size=4, _random_samples=SAMPLES), True),
    "avg_pool2d": (lambda x: PF.avg_pool2d(x, 3, 2, 1), lambda x: F.avg_pool2d(x, 3, 2, 1), False),
    "adaptive_avg_pool2d": (lambda x: PF.adaptive_avg_pool2d(x, 4), lambda x: F.adaptive_avg_pool2d(x, 4), False),
    "lp_pool2d": (lambda x: PF.lp_pool2d(x, 2.0, 2), lambda x: F.lp_pool2d(x, 2.0, 2), True),
    "gem": (lambda x: PF.gem(x, 3.0),
            lambda x: x.clamp(min=1e-6).pow(3.0).mean((-2, -1), keepdim=True).pow(1.0 / 3.0), True),
    "max_unpool2d": (lambda x: PF.max_unpool2d(x, UNPOOL_INDICES, 2),
                     lambda x: F.max_unpool2d(x, UNPOOL_INDICES, 2), True),
}


def positive_input(channels_last=False):
    # Positive and distinct: LP and GeM are smooth there, max pooling has no ties.
    x = (torch.randperm(2 * 3 * 9 * 8, dtype=torch.float64) + 1).view(SHAPE) / 100
    return (x.contiguous(memory_format=torch.channels_last) if channels_last else x).requires_grad_()


@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("name", sorted(CALLS))
def test_graph_behaves_like_torchs(name, channels_last):
    ours, theirs, saves_tensors = CALLS[name]
    x = positive_input(channels_last)
    y = ours(x)
    assert y.requires_grad and y.grad_fn.name().startswith("pooling_ext::"), y.grad_fn.name()
    # an edge to the input's gradient accumulator (and none for GeM's p, which needs no gradient here)
    edges = [fn for fn, _ in y.grad_fn.next_functions]
    assert edges[0].variable is x and all(fn is None for fn in edges[1:])

    grad = torch.randn_like(y)
    hook_calls = []
    y.grad_fn.register_hook(lambda grad_inputs, grad_outputs: hook_calls.append(len(grad_inputs)))
    (first,) = torch.autograd.grad(y, x, grad, retain_graph=True)
    (second,) = torch.autograd.grad(y, x, grad)  # a retained graph runs again
    assert hook_calls == [len(edges)] * 2
    (expected,) = torch.autograd.grad(theirs(x), x, grad)
    assert_same(first, expected, exact=False, rtol=1e-12, atol=1e-12)
    assert_same(second, first)
    # torch's layout (fractional pooling keeps a channels-last input's layout where torch's drops it: README)
    assert same_layout(first, x if name == "fractional_max_pool2d" else expected)
    if saves_tensors:  # freed by the backward that did not retain the graph
        with pytest.raises(RuntimeError, match="second time"):
            torch.autograd.grad(y, x, grad)


def test_gradients_of_any_order_through_the_nodes():
    # The node's backward records its own graph under create_graph.
    for name in ("max_pool2d", "avg_pool2d", "lp_pool2d", "gem", "max_unpool2d"):
        ours, theirs, _ = CALLS[name]
        x = positive_input()
        (g_ours,) = torch.autograd.grad(ours(x).pow(2).sum(), x, create_graph=True)
        (g_theirs,) = torch.autograd.grad(theirs(x).pow(2).sum(), x, create_graph=True)
        v = torch.randn_like(x)
        (gg_ours,) = torch.autograd.grad(g_ours, x, v)
        (gg_theirs,) = torch.autograd.grad(g_theirs, x, v)
        assert_same(gg_ours, gg_theirs, exact=False, rtol=1e-9, atol=1e-9)


def test_gem_exponent_takes_its_gradient_alone_or_with_the_input():
    x = positive_input()
    for x_requires_grad in (True, False):
        xi = x.detach().requires_grad_(x_requires_grad)
        p = torch.tensor(3.0, dtype=torch.float64, requires_grad=True)
        pr = p.detach().requires_grad_()
        xr = x.detach().requires_grad_(x_requires_grad)
        wrt, wrt_ref = ((xi, p), (xr, pr)) if x_requires_grad else ((p,), (pr,))
        ours = torch.autograd.grad(PF.gem(xi, p).sum(), wrt)
        theirs = torch.autograd.grad(xr.clamp(min=1e-6).pow(pr).mean((-2, -1), keepdim=True).pow(1 / pr).sum(),
                                     wrt_ref)
        for a, b in zip(ours, theirs):
            assert_same(a, b, exact=False, rtol=1e-10, atol=1e-12)


def test_saved_tensors_are_guarded_against_in_place_changes():
    # the window offsets max pooling saves
    x = make_input(SHAPE, dtype=torch.float64).requires_grad_()
    out, offset = ops.max_pool_forward(x, [2, 2], [2, 2], [0, 0], [1, 1], False)
    offset.add_(1)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        out.sum().backward()
    # the input LP pooling saves
    base = positive_input()
    x = base * 1
    y = PF.lp_pool2d(x, 2.0, 2)
    x.mul_(2)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()
    # the output LP pooling saves
    y = PF.lp_pool2d(base, 2.0, 2)
    y.mul_(2)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()


@pytest.mark.skipif(not hasattr(torch._dynamo, "compiled_autograd"), reason="no compiled autograd in this torch")
@pytest.mark.parametrize("name", sorted(CALLS))
def test_compiled_autograd_captures_the_nodes(name):
    """Compiled autograd over an eager forward: each node's state is lifted
    into the backward graph, which calls the node's backward (not an error,
    as for C++ nodes without compiled_args), and the gradient is eager's."""
    from torch._dynamo import compiled_autograd

    ours, _, _ = CALLS[name]
    x = positive_input()
    y = ours(x)
    grad = torch.randn_like(y)
    (expected,) = torch.autograd.grad(y, x, grad, retain_graph=True)
    graphs = []

    def compiler(graph_module):
        graphs.append(graph_module.code)
        return torch.compile(graph_module, backend="eager")

    with compiled_autograd._enable(compiler):
        y.backward(grad)
    assert len(graphs) == 1 and y.grad_fn.name().replace("::", "_") in graphs[0]
    assert_same(x.grad, expected)
