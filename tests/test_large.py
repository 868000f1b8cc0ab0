"""Tensors over 2^31 elements index correctly (64-bit offsets everywhere).
Checked on slices near the end against torch on the same slices."""
import pytest
import torch
import torch.nn.functional as TF

import pooling_ext.functional as PF

pytestmark = pytest.mark.slow
BIG = 2**31


def big_input(shape, dtype, device):
    # Filling 2^31 random values is slow: a constant body with random tails.
    x = torch.full(shape, -5, dtype=dtype, device=device)
    x[-1, -1, -16:] = torch.randint(-100, 100, x[-1, -1, -16:].shape, device=device).to(dtype)
    x[0, 0, :16] = torch.randint(-100, 100, x[0, 0, :16].shape, device=device).to(dtype)
    return x


@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_max_pool_over_2_31_elements(device):
    if device == "cuda" and not torch.cuda.is_available():
        pytest.skip("needs a CUDA device")
    shape = (2, 16, 8192, 8200)  # 2,149,580,800 elements
    x = big_input(shape, torch.bfloat16, device)
    assert x.numel() > BIG
    x.requires_grad_()
    out, idx = PF.max_pool2d(x, 2, return_indices=True)
    ref_tail, ref_tail_idx = TF.max_pool2d(x.detach()[-1:, -1:, -16:], 2, return_indices=True)
    assert torch.equal(out[-1:, -1:, -8:], ref_tail)
    assert torch.equal(idx[-1:, -1:, -8:] - (8192 - 16) * 8200, ref_tail_idx)
    del idx
    grad = torch.ones_like(out)
    (g,) = torch.autograd.grad(out, x, grad)
    tail = x.detach()[-1:, -1:, -16:].clone().requires_grad_()
    TF.max_pool2d(tail, 2).backward(torch.ones(1, 1, 8, 4100, dtype=torch.bfloat16, device=device))
    assert torch.equal(g[-1:, -1:, -16:], tail.grad)


@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_max_unpool_over_2_31_elements(device):
    if device == "cuda" and not torch.cuda.is_available():
        pytest.skip("needs a CUDA device")
    pooled_shape = (2, 16, 4096, 4100)  # unpools to 2,149,580,800 elements
    values = torch.randn(pooled_shape[-2:], device=device).to(torch.float16).expand(pooled_shape)
    # Index of each 2x2 window's bottom-right element.
    rows = torch.arange(4096, device=device).view(-1, 1) * 2 + 1
    cols = torch.arange(4100, device=device).view(1, -1) * 2 + 1
    indices = (rows * 8200 + cols).expand(pooled_shape)
    out = PF.max_unpool2d(values, indices, 2)
    assert out.numel() > BIG
    ref_tail = TF.max_unpool2d(values[-1:, -1:, -4:].contiguous(), indices[-1:, -1:, -4:] - (4096 - 4) * 2 * 8200, 2)
    assert torch.equal(out[-1:, -1:, -8:], ref_tail)


@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_avg_and_lp_pool_over_2_31_elements(device):
    if device == "cuda" and not torch.cuda.is_available():
        pytest.skip("needs a CUDA device")
    shape = (2, 16, 8192, 8200)  # 2,149,580,800 elements
    x = big_input(shape, torch.bfloat16, device)
    assert x.numel() > BIG
    x.requires_grad_()
    tail = x.detach()[-1:, -1:, -16:].clone().requires_grad_()
    out = PF.avg_pool2d(x, 2)
    ref_tail = TF.avg_pool2d(tail, 2)
    torch.testing.assert_close(out[-1:, -1:, -8:], ref_tail)
    (g,) = torch.autograd.grad(out, x, torch.ones_like(out))
    ref_tail.backward(torch.ones_like(ref_tail))
    torch.testing.assert_close(g[-1:, -1:, -16:], tail.grad)
    del out, g
    out = PF.lp_pool2d(x.detach(), 2, 2)
    torch.testing.assert_close(out[-1:, -1:, -8:].float(), TF.lp_pool2d(tail.detach().float(), 2, 2),
                               rtol=1e-2, atol=1e-2)


def adaptive_window(o, in_size, out_size):
    return (o * in_size) // out_size, -((-(o + 1) * in_size) // out_size)


@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_adaptive_avg_and_max_pool_over_2_31_elements(device):
    # Non-divisible sizes: the adaptive window policy, not folded into fixed windows.
    if device == "cuda" and not torch.cuda.is_available():
        pytest.skip("needs a CUDA device")
    shape, out_size = (2, 16, 8192, 8200), (5000, 3000)
    x = big_input(shape, torch.bfloat16, device)
    x[-1, -1, -16:] = torch.randn(16, 8200, device=device).to(torch.bfloat16)
    assert x.numel() > BIG
    x.requires_grad_()
    out = PF.adaptive_avg_pool2d(x, out_size)
    plane = x.detach()[-1, -1].double()
    for oh, ow in ((4999, 2999), (4999, 2998), (4998, 2997)):
        (h0, h1), (w0, w1) = adaptive_window(oh, 8192, 5000), adaptive_window(ow, 8200, 3000)
        expected = plane[h0:h1, w0:w1].mean()
        torch.testing.assert_close(out[-1, -1, oh, ow].double(), expected, rtol=1e-2, atol=1e-2)
    (g,) = torch.autograd.grad(out, x, torch.ones_like(out))
    for ih, iw in ((8191, 8199), (8190, 8197), (8185, 8196)):
        share = 0.0
        for oh in range(4990, 5000):
            for ow in range(2990, 3000):
                (h0, h1), (w0, w1) = adaptive_window(oh, 8192, 5000), adaptive_window(ow, 8200, 3000)
                if h0 <= ih < h1 and w0 <= iw < w1:
                    share += 1.0 / ((h1 - h0) * (w1 - w0))
        torch.testing.assert_close(g[-1, -1, ih, iw].double(), torch.tensor(share, dtype=torch.float64, device=device),
                                   rtol=1e-2, atol=1e-3)
    del out, g
    out, idx = PF.adaptive_max_pool2d(x, out_size, return_indices=True)
    flat_plane = x.detach()[-1, -1].flatten()
    for oh, ow in ((4999, 2999), (4999, 2998), (4998, 2997)):
        (h0, h1), (w0, w1) = adaptive_window(oh, 8192, 5000), adaptive_window(ow, 8200, 3000)
        assert out[-1, -1, oh, ow] == x.detach()[-1, -1, h0:h1, w0:w1].max()
        i = int(idx[-1, -1, oh, ow])
        assert h0 <= i // 8200 < h1 and w0 <= i % 8200 < w1 and flat_plane[i] == out[-1, -1, oh, ow]
    (g,) = torch.autograd.grad(out, x, torch.ones_like(out))
    # Each input's gradient counts the windows whose argmax it is.
    # Output rows 4995-4999 hold every window reaching input rows 8187-8191 (and reach back to row 8183).
    tail_idx = idx[-1, -1, -5:].flatten()
    counts = torch.bincount(tail_idx - (8192 - 16) * 8200, minlength=16 * 8200).view(16, 8200)
    assert torch.equal(g[-1, -1, -5:].float(), counts[-5:].float())


@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_fractional_max_pool_over_2_31_elements(device):
    """The last plane of a tensor past 2^31 elements pools as the same plane alone (same samples): values,
    indices and the gradient's argmax counts agree, so no index wraps."""
    if device == "cuda" and not torch.cuda.is_available():
        pytest.skip("needs a CUDA device")
    shape, out_size = (2, 16, 8192, 8200), (5000, 3000)
    x = big_input(shape, torch.bfloat16, device)
    x[-1, -1] = torch.randn(8192, 8200, device=device).to(torch.bfloat16)  # distinct values: clear argmaxes
    assert x.numel() > BIG
    samples = torch.rand(2, 16, 2, device=device).to(torch.bfloat16)
    x.requires_grad_()
    out, idx = PF.fractional_max_pool2d(x, 2, out_size, return_indices=True, _random_samples=samples)
    plane = x.detach()[-1:, -1:].clone()
    plane_out, plane_idx = PF.fractional_max_pool2d(plane, 2, out_size, return_indices=True,
                                                    _random_samples=samples[-1:, -1:].clone())
    assert torch.equal(out[-1, -1], plane_out[0, 0]) and torch.equal(idx[-1, -1], plane_idx[0, 0])
    assert torch.equal(x.detach()[-1, -1].flatten()[idx[-1, -1].flatten()], out[-1, -1].flatten())
    (g,) = torch.autograd.grad(out, x, torch.ones_like(out))
    # (bfloat16 starts are coarse on a plane this wide: many windows share an argmax, and a count above
    # 256 rounds in bfloat16.)
    counts = torch.bincount(idx[-1, -1].flatten(), minlength=8192 * 8200).view(8192, 8200)
    assert torch.equal(g[-1, -1], counts.to(torch.bfloat16))
