"""CUDA kernels against the CPU kernels and torch: every test here needs a GPU
and skips cleanly without one."""
import pytest
import torch
import torch.nn.functional as TF

import pooling_ext.functional as PF
from conftest import assert_same, make_input
from pool_cases import torch_accepts, window_cases

pytestmark = pytest.mark.cuda
FUNCS = {1: (PF.max_pool1d, TF.max_pool1d), 2: (PF.max_pool2d, TF.max_pool2d), 3: (PF.max_pool3d, TF.max_pool3d)}


@pytest.mark.parametrize("dims", [1, 2, 3])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16, torch.float64])
def test_cuda_matches_cpu_bitwise(dims, dtype):
    for shape, kwargs in window_cases(dims, 25, seed=300 + dims):
        x = make_input(shape, dtype=dtype, ties=True, nans=True)
        if not torch_accepts(FUNCS[dims][1], x, kwargs):
            continue
        out_cpu, idx_cpu = FUNCS[dims][0](x, return_indices=True, **kwargs)
        out_gpu, idx_gpu = FUNCS[dims][0](x.cuda(), return_indices=True, **kwargs)
        assert_same(out_gpu.cpu(), out_cpu)
        assert_same(idx_gpu.cpu(), idx_cpu)
        grad = torch.randint(-4, 5, out_cpu.shape).to(dtype)
        xa, xb = x.clone().requires_grad_(), x.cuda().requires_grad_()
        FUNCS[dims][0](xa, **kwargs).backward(grad)
        FUNCS[dims][0](xb, **kwargs).backward(grad.cuda())
        assert_same(xb.grad.cpu(), xa.grad)


def test_cuda_deterministic_mode_and_repeats():
    x = make_input((4, 32, 24, 24, 24), device="cuda").requires_grad_()
    grads = []
    torch.use_deterministic_algorithms(True)
    try:
        for _ in range(3):
            x.grad = None
            PF.max_pool3d(x, 3, 1, 1).backward(torch.ones(4, 32, 24, 24, 24, device="cuda"))
            grads.append(x.grad.clone())
    finally:
        torch.use_deterministic_algorithms(False)
    assert all(torch.equal(g, grads[0]) for g in grads)


def test_cuda_unpool_repeated_indices_last_wins():
    values = torch.arange(1.0, 1001.0, device="cuda").view(1, 1, 1000)
    indices = torch.full((1, 1, 1000), 3, device="cuda")
    for _ in range(5):
        out = torch.ops.pooling_ext.max_unpool(values, indices, [8])
        assert out[0, 0, 3].item() == 1000.0


def test_cuda_bad_unpool_index_raises():
    values = torch.randn(1, 1, 4, device="cuda")
    with pytest.raises(RuntimeError, match="invalid index"):
        PF.max_unpool1d(values, torch.tensor([[[0, 1, 99, 2]]], device="cuda"), 2)


def test_cuda_runs_on_current_stream():
    x = make_input((8, 64, 56, 56), device="cuda")
    stream = torch.cuda.Stream()
    with torch.cuda.stream(stream):
        out = PF.max_pool2d(x, 3, 2, 1)
    stream.synchronize()
    assert torch.equal(out, TF.max_pool2d(x, 3, 2, 1))


@pytest.mark.parametrize("fmt", [torch.channels_last, torch.contiguous_format])
def test_cuda_layouts_and_unpool(fmt):
    x = make_input((2, 8, 17, 19), device="cuda").to(memory_format=fmt)
    out, idx = PF.max_pool2d(x, 3, 2, 1, return_indices=True)
    ref, ref_idx = TF.max_pool2d(x, 3, 2, 1, return_indices=True)
    assert_same(out, ref)
    assert_same(idx, ref_idx)
    assert out.stride() == ref.stride()
    assert_same(PF.max_unpool2d(out, idx, 3, 2, 1, output_size=x.shape[-2:]),
                TF.max_unpool2d(ref, ref_idx, 3, 2, 1, output_size=x.shape[-2:]))
