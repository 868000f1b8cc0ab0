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
