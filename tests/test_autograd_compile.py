"""gradcheck / gradgradcheck in float64, torch.library.opcheck on every op,
torch.compile(fullgraph=True) of the functionals and of a small CNN."""
import pytest
import torch

import pooling_ext
import pooling_ext.functional as PF
from conftest import make_input

ops = torch.ops.pooling_ext
WINDOW_SUM_OPS = ["avg_pool_forward", "avg_pool_backward", "lp_pool_forward", "lp_pool_backward", "gem_forward",
                  "gem_backward"]
FRACTIONAL_OPS = ["fractional_max_pool_forward", "fractional_max_pool_values", "fractional_max_pool_backward",
                  "fractional_max_pool_gather", "fractional_max_pool_indices"]  # opcheck'ed in test_fractional.py
ADAPTIVE_OPS = ["adaptive_avg_pool_forward", "adaptive_avg_pool_backward", "adaptive_max_pool_forward",
                "adaptive_max_pool_values", "adaptive_max_pool_backward", "adaptive_max_pool_gather",
                "adaptive_max_pool_indices"]

GRAD_CASES = [
    (2, (1, 2, 6, 7), dict(kernel_size=3, stride=1, padding=1)),                       # overlapping
    (2, (2, 1, 7, 6), dict(kernel_size=(3, 2), stride=(2, 1), padding=(1, 0), ceil_mode=True)),
    (2, (1, 2, 7, 7), dict(kernel_size=2, stride=1, dilation=2, padding=1)),            # dilation
    (1, (2, 3, 9), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)),
    (3, (1, 2, 4, 5, 5), dict(kernel_size=3, stride=(1, 2, 1), padding=1, dilation=(1, 1, 2))),
]
FUNCS = {1: PF.max_pool1d, 2: PF.max_pool2d, 3: PF.max_pool3d}


def distinct_input(shape, device):
    # Distinct values: max pooling is differentiable there (no ties).
    n = 1
    for s in shape:
        n *= s
    return (torch.randperm(n, device=device).double() / n).view(shape).requires_grad_()


@pytest.mark.parametrize("case", range(len(GRAD_CASES)))
def test_gradcheck_and_gradgradcheck(case, device):
    dims, shape, kwargs = GRAD_CASES[case]
    x = distinct_input(shape, device)
    fn = lambda t: FUNCS[dims](t, **kwargs)  # noqa: E731
    assert torch.autograd.gradcheck(fn, (x,))
    assert torch.autograd.gradgradcheck(fn, (x,))
    cl = distinct_input(shape, device)
    if dims == 2:
        cl = cl.detach().to(memory_format=torch.channels_last).requires_grad_()
        assert torch.autograd.gradgradcheck(fn, (cl,))


def test_unpool_gradcheck_and_gradgradcheck(device):
    x = distinct_input((2, 3, 6, 6), device)
    out, idx = PF.max_pool2d(x.detach(), 2, return_indices=True)  # unique indices
    src = out.clone().requires_grad_()
    fn = lambda t: PF.max_unpool2d(t, idx, 2)  # noqa: E731
    assert torch.autograd.gradcheck(fn, (src,))
    assert torch.autograd.gradgradcheck(fn, (src,))


def op_samples(device):
    x = make_input((2, 3, 9, 8), dtype=torch.float32, device=device).requires_grad_()
    cl = make_input((2, 3, 9, 8), device=device).to(memory_format=torch.channels_last).requires_grad_()
    one_d = make_input((2, 3, 10), device=device).requires_grad_()
    big_kernel = make_input((1, 2, 17, 17), device=device).requires_grad_()  # int32 window offsets
    samples = {
        "max_pool_forward": [
            (x, [3, 3], [2, 2], [1, 1], [1, 1], False),
            (cl, [2, 3], [1, 2], [1, 0], [2, 1], True),
            (one_d, [3], [2], [1], [1], True),
            (big_kernel, [16, 16], [1, 1], [0, 0], [1, 1], False),
        ],
    }
    # The values-only forward: with a gradient (its autograd kernel takes the
    # saving forward) and without (values only).
    samples["max_pool_values"] = samples["max_pool_forward"] + [
        (args[0].detach(),) + args[1:] for args in samples["max_pool_forward"]]
    back, gather, index, unpool, unpool_gather = [], [], [], [], []
    for args in samples["max_pool_forward"]:
        out, offset = ops.max_pool_forward(*args)
        inp, window = args[0], list(args[1:5])
        back.append((torch.randn_like(out).requires_grad_(), offset, list(inp.shape), *window))
        gather.append((torch.randn_like(inp).requires_grad_(), offset, *window))
        index.append((offset, list(inp.shape), *window))
    out, idx = torch.nn.functional.max_pool2d(x.detach(), 2, return_indices=True)
    unpool.append((out.clone().requires_grad_(), idx, [9, 8]))
    unpool_gather.append((torch.randn(2, 3, 9, 8, device=device).requires_grad_(), idx, 2))
    samples.update(max_pool_backward=back, max_pool_gather=gather, max_pool_indices=index, max_unpool=unpool,
                   max_unpool_gather=unpool_gather)
    return samples


def test_opcheck_every_op(device):
    samples = op_samples(device)
    registered = {s.name.split("::")[1] for s in torch._C._jit_get_all_schemas() if s.name.startswith("pooling_ext::")}
    # The window-sum family's ops are opcheck'ed in test_avg_lp_gem.py, the adaptive ones in test_adaptive.py.
    assert registered == set(samples) | set(WINDOW_SUM_OPS) | set(ADAPTIVE_OPS) | set(FRACTIONAL_OPS), registered
    for name, arg_sets in samples.items():
        for args in arg_sets:
            torch.library.opcheck(getattr(ops, name).default, args)


def captured_ops(fn, *args):
    names = []

    def backend(gm, example_inputs):
        names.extend(str(node.target) for node in gm.graph.nodes if node.op == "call_function")
        return gm.forward

    torch.compile(fn, backend=backend, fullgraph=True)(*args)
    return names


@pytest.mark.parametrize("dims", [1, 2, 3])
def test_compile_functional(dims):
    torch._dynamo.reset()
    x = make_input((2, 3) + (9,) * dims).requires_grad_()
    fn = lambda t: FUNCS[dims](t, 3, 2, 1, ceil_mode=True, return_indices=True)  # noqa: E731
    names = captured_ops(fn, x)
    assert any("pooling_ext" in n for n in names), names
    compiled = torch.compile(fn, fullgraph=True)
    out, idx = compiled(x)
    ref, ref_idx = fn(x)
    assert torch.equal(out, ref) and torch.equal(idx, ref_idx)
    g = torch.randn_like(out)
    (ga,) = torch.autograd.grad(out, x, g)
    (gb,) = torch.autograd.grad(ref, x, g)
    assert torch.equal(ga, gb)


class SmallCNN(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.features = torch.nn.Sequential(
            torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(3, 2, 1),
            torch.nn.Conv2d(8, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2, ceil_mode=True))
        self.head = torch.nn.Linear(8 * 4 * 4, 5)

    def forward(self, x):
        return self.head(self.features(x).flatten(1))


def test_compile_model_made_with_replace_pooling():
    torch._dynamo.reset()
    torch.manual_seed(0)
    reference = SmallCNN()
    model = pooling_ext.replace_pooling(SmallCNN())
    model.load_state_dict(reference.state_dict())
    assert isinstance(model.features[2], pooling_ext.nn.MaxPool2d)
    x = torch.randn(2, 3, 13, 13)
    names = captured_ops(model, x)
    assert sum("pooling_ext" in n for n in names) >= 2, names
    compiled = torch.compile(model, fullgraph=True)
    out = compiled(x)
    ref = reference(x)
    torch.testing.assert_close(out, ref)
    out.sum().backward()
    ref.sum().backward()
    for p, q in zip(model.parameters(), reference.parameters()):
        torch.testing.assert_close(p.grad, q.grad)
