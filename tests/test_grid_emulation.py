"""CPU emulation of every CUDA kernel: the ops of pooling_ext_grid_emulation
run the same per-thread bodies and launch code as the CUDA ops, one global
index at a time, and must match torch. A body without a test here fails
test_every_cuda_body_is_emulated."""
import pathlib
import re

import pytest
import torch
import torch.nn.functional as TF

from conftest import assert_same, make_input
from pool_cases import has_empty_window, torch_accepts, window_cases

# The 32-bit index path (what the GPU runs below 2^31 elements) and the
# 64-bit one (above), both emulated on the CPU.
EMULATIONS = {"int32": torch.ops.pooling_ext_grid_emulation, "int64": torch.ops.pooling_ext_grid_emulation_int64}


@pytest.fixture(params=sorted(EMULATIONS))
def emu(request):
    return EMULATIONS[request.param]
ROOT = pathlib.Path(__file__).resolve().parents[1]
TORCH_POOL = {1: TF.max_pool1d, 2: TF.max_pool2d, 3: TF.max_pool3d}


def normalize(dims, kwargs):
    def lst(v):
        return list(v) if isinstance(v, (list, tuple)) else [v] * dims
    k = lst(kwargs["kernel_size"])
    s = k if kwargs.get("stride") is None else lst(kwargs["stride"])
    return k, s, lst(kwargs.get("padding", 0)), lst(kwargs.get("dilation", 1)), kwargs.get("ceil_mode", False)


def emulated_cases():
    for dims in (1, 2, 3):
        for shape, kwargs in window_cases(dims, 14, seed=200 + dims):
            yield dims, shape, kwargs


def check_forward_backward(emu, dims, x, kwargs):
    k, s, p, d, ceil = normalize(dims, kwargs)
    out, offset = emu.max_pool_forward(x, k, s, p, d, ceil)
    idx = emu.max_pool_indices(offset, list(x.shape), k, s, p, d)
    ref, ref_idx = TORCH_POOL[dims](x, return_indices=True, **kwargs)
    assert_same(out, ref)
    if has_empty_window(idx, ref_idx, x.shape, dims):
        assert bool((idx[idx != ref_idx] == -1).all())
        return
    assert_same(idx, ref_idx)
    # Backward body against torch's gradient.
    grad = torch.randint(-4, 5, out.shape).to(x.dtype)
    xr = x.detach().clone().requires_grad_()
    TORCH_POOL[dims](xr, **kwargs).backward(grad)
    assert_same(emu.max_pool_backward(grad, offset, list(x.shape), k, s, p, d), xr.grad)
    # Gather body: the value at each argmax is the output itself.
    assert_same(emu.max_pool_gather(x, offset, k, s, p, d), ref)


def test_forward_backward_gather_indices_bodies(emu):
    checked = 0
    for dims, shape, kwargs in emulated_cases():
        x = make_input(shape, ties=True)
        if not torch_accepts(TORCH_POOL[dims], x, kwargs):
            continue
        check_forward_backward(emu, dims, x, kwargs)
        if dims >= 2:
            fmt = torch.channels_last if dims == 2 else torch.channels_last_3d
            check_forward_backward(emu, dims, x.to(memory_format=fmt), kwargs)
        checked += 1
    assert checked > 15


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64, torch.int32, torch.uint8])
def test_bodies_on_dtypes(emu, dtype):
    x = make_input((2, 3, 7, 6), dtype=dtype, nans=True)
    kwargs = dict(kernel_size=3, stride=2, padding=1)
    out, offset = emu.max_pool_forward(x, [3, 3], [2, 2], [1, 1], [1, 1], False)
    ref, ref_idx = TF.max_pool2d(x, return_indices=True, **kwargs)
    assert_same(out, ref)
    assert_same(emu.max_pool_indices(offset, list(x.shape), [3, 3], [2, 2], [1, 1], [1, 1]), ref_idx)


def test_large_kernel_int32_offsets(emu):
    x = make_input((1, 2, 20, 20))
    out, offset = emu.max_pool_forward(x, [16, 16], [2, 2], [8, 8], [1, 1], True)
    assert offset.dtype == torch.int32
    ref, ref_idx = TF.max_pool2d(x, 16, 2, 8, ceil_mode=True, return_indices=True)
    assert_same(out, ref)
    assert_same(emu.max_pool_indices(offset, list(x.shape), [16, 16], [2, 2], [8, 8], [1, 1]), ref_idx)


def test_empty_window_body(emu):
    x = torch.randn(3, 1, 1, 4, 5)
    out, offset = emu.max_pool_forward(x, [2, 2, 1], [3, 3, 3], [1, 0, 0], [2, 2, 2], False)
    assert bool((out == float("-inf")).all())
    idx = emu.max_pool_indices(offset, list(x.shape), [2, 2, 1], [3, 3, 3], [1, 0, 0], [2, 2, 2])
    assert bool((idx == -1).all())
    grad = emu.max_pool_backward(torch.ones_like(out), offset, list(x.shape), [2, 2, 1], [3, 3, 3], [1, 0, 0],
                                 [2, 2, 2])
    assert bool((grad == 0).all())


@pytest.mark.parametrize("dims", [1, 2, 3])
def test_unpool_claim_write_gather_bodies(emu, dims):
    for fmt in [None] + ([torch.channels_last] if dims == 2 else []):
        x = make_input((2, 3) + (6,) * dims)
        if fmt is not None:
            x = x.to(memory_format=fmt)
        out, idx = TORCH_POOL[dims](x, 3, 2, 1, return_indices=True)
        size = list(x.shape[-dims:])
        ref = [None, TF.max_unpool1d, TF.max_unpool2d, TF.max_unpool3d][dims](out, idx, 3, 2, 1, output_size=size)
        mine = emu.max_unpool(out, idx, size)
        assert_same(mine, ref)
        assert mine.stride() == ref.stride()
        grad = torch.randn(ref.shape)
        assert_same(emu.max_unpool_gather(grad, idx, dims), grad.flatten(-dims).gather(-1, idx.flatten(-dims)).view_as(idx))


def test_unpool_bodies_repeated_and_bad_indices(emu):
    values = torch.tensor([[[1.0, 2.0, 3.0, 4.0]]])
    indices = torch.tensor([[[1, 1, 3, 1]]])
    assert emu.max_unpool(values, indices, [8]).tolist() == [[[0.0, 4.0, 0.0, 3.0, 0.0, 0.0, 0.0, 0.0]]]
    with pytest.raises(RuntimeError, match="invalid index 9"):
        emu.max_unpool(values, torch.tensor([[[1, 9, 3, 1]]]), [8])
    with pytest.raises(RuntimeError, match="invalid index -2"):
        emu.max_unpool_gather(torch.randn(1, 1, 8), torch.tensor([[[1, -2, 3, 1]]]), 1)


TORCH_AVG = {1: TF.avg_pool1d, 2: TF.avg_pool2d, 3: TF.avg_pool3d}
TORCH_LP = {1: TF.lp_pool1d, 2: TF.lp_pool2d, 3: TF.lp_pool3d}


def window_sum_cases():
    for dims in (1, 2, 3):
        for shape, kwargs in window_cases(dims, 10, seed=300 + dims):
            k, s, p, _, ceil = normalize(dims, kwargs)
            yield dims, shape, k, s, p, ceil


def test_window_sum_forward_backward_bodies(emu):
    checked = 0
    for index, (dims, shape, k, s, p, ceil) in enumerate(window_sum_cases()):
        x = make_input(shape, dtype=torch.float64)
        formats = [None] + ([torch.channels_last if dims == 2 else torch.channels_last_3d] if dims >= 2 else [])
        for fmt in formats:
            xf = x if fmt is None else x.to(memory_format=fmt)
            include_pad, divisor = index % 2 == 0, (None if dims == 1 or index % 3 else 3)
            extra = {} if divisor is None else {"divisor_override": divisor}
            try:
                ref = TORCH_AVG[dims](xf, k, s, p, ceil, include_pad, **extra)
            except RuntimeError:
                continue
            assert_same(emu.avg_pool_forward(xf, k, s, p, ceil, include_pad, divisor), ref, exact=False,
                        rtol=1e-12, atol=1e-12)
            xr, grad = xf.clone().requires_grad_(), torch.randn(ref.shape, dtype=torch.float64)
            TORCH_AVG[dims](xr, k, s, p, ceil, include_pad, **extra).backward(grad)
            assert_same(emu.avg_pool_backward(grad, list(x.shape), k, s, p, ceil, include_pad, divisor), xr.grad,
                        exact=False, rtol=1e-12, atol=1e-12)
            positive = xf.abs() + 0.1
            norm = [2.0, 3.0, 1.5, float("inf"), -2.0][index % 5]
            lp_kernel = k[0] if dims == 1 else k
            try:
                lp_ref = TORCH_LP[dims](positive, norm, lp_kernel, s, ceil)
            except RuntimeError:
                continue
            lp_out = emu.lp_pool_forward(positive, norm, k, s, ceil, False)
            assert_same(lp_out, lp_ref, exact=False, rtol=1e-10, atol=1e-12)
            xr, lp_grad = positive.clone().requires_grad_(), torch.randn(lp_ref.shape, dtype=torch.float64)
            TORCH_LP[dims](xr, norm, lp_kernel, s, ceil).backward(lp_grad)
            assert_same(emu.lp_pool_backward(lp_grad, positive, lp_out, norm, k, s, ceil, False), xr.grad,
                        exact=False, rtol=1e-9, atol=1e-12)
            checked += 1
    assert checked > 15


def test_gem_and_fixed_order_sum_bodies(emu):
    # 2 x 300 planes: the exponent gradient's partials take two levels of ChunkSumBody.
    for fmt in (None, torch.channels_last):
        x = torch.rand(2, 300, 3, 4, dtype=torch.float64)
        if fmt is not None:
            x = x.to(memory_format=fmt)
        p = torch.tensor([2.5], dtype=torch.float64, requires_grad=True)
        xr = x.clone().requires_grad_()
        ref = TF.avg_pool2d(xr.clamp(min=1e-6).pow(p), (3, 4)).pow(1.0 / p)
        out = emu.gem_forward(x, p.detach(), 1e-6)
        assert_same(out, ref.detach(), exact=False, rtol=1e-12, atol=1e-12)
        grad = torch.randn(ref.shape, dtype=torch.float64)
        ref_x, ref_p = torch.autograd.grad(ref, (xr, p), grad)
        grad_x, grad_p = emu.gem_backward(grad, x, out, p.detach(), 1e-6, True)
        assert_same(grad_x, ref_x, exact=False, rtol=1e-10, atol=1e-12)
        assert_same(grad_p, ref_p, exact=False, rtol=1e-10, atol=1e-12)


FRACTIONAL = {2: TF.fractional_max_pool2d, 3: TF.fractional_max_pool3d}


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.bfloat16])
def test_fractional_bodies(emu, dtype):
    """Starts, forward, backward, gather and indices bodies against torch, both layouts. On CUDA torch
    computes the window starts of half and bfloat16 in float: the bfloat16 reference is torch on the
    float32 copies of the input and samples (max and argmax commute with the exact upcast)."""
    torch.manual_seed(3)
    cases = [(2, (2, 3, 11, 9), [3, 2], [5, 6]), (2, (1, 4, 7, 7), [1, 1], [7, 7]), (2, (2, 2, 12, 5), [6, 2], [7, 4]),
             (3, (2, 3, 7, 8, 6), [2, 3, 2], [4, 5, 3]), (3, (1, 2, 6, 5, 9), [1, 2, 4], [5, 3, 2])]
    for dims, shape, kernel, out_size in cases:
        x = make_input(shape, dtype=dtype)
        samples = torch.rand(shape[0], shape[1], dims).to(dtype)
        for layout in (torch.contiguous_format, torch.channels_last if dims == 2 else torch.channels_last_3d):
            xl = x.contiguous(memory_format=layout)
            out, offset = emu.fractional_max_pool_forward(xl, kernel, out_size, samples)
            idx = emu.fractional_max_pool_indices(offset, samples, list(shape), kernel)
            ref_x, ref_samples = (xl.float(), samples.float()) if dtype == torch.bfloat16 else (xl, samples)
            ref, ref_idx = FRACTIONAL[dims](ref_x, kernel, output_size=out_size, _random_samples=ref_samples,
                                            return_indices=True)
            assert_same(out, ref.to(dtype))
            assert_same(idx, ref_idx)
            assert_same(emu.fractional_max_pool_gather(xl, offset, samples, kernel), ref.to(dtype))
            grad = torch.randint(-4, 5, out.shape).to(dtype)
            xr = ref_x.detach().clone().requires_grad_()
            FRACTIONAL[dims](xr, kernel, output_size=out_size, _random_samples=ref_samples).backward(grad.to(xr.dtype))
            assert_same(emu.fractional_max_pool_backward(grad, offset, samples, list(shape), kernel), xr.grad.to(dtype))


# Each kernel body launched by the CUDA code, and the test that emulates it.
EMULATION_TESTS = {
    "MaxPoolForwardBody": test_forward_backward_gather_indices_bodies,
    "MaxPoolBackwardBody": test_forward_backward_gather_indices_bodies,
    "MaxPoolGatherBody": test_forward_backward_gather_indices_bodies,
    "MaxPoolIndicesBody": test_bodies_on_dtypes,
    "MaxUnpoolClaimBody": test_unpool_claim_write_gather_bodies,
    "MaxUnpoolWriteBody": test_unpool_claim_write_gather_bodies,
    "MaxUnpoolGatherBody": test_unpool_claim_write_gather_bodies,
    "WindowSumForwardBody": test_window_sum_forward_backward_bodies,
    "WindowSumBackwardBody": test_window_sum_forward_backward_bodies,
    "PowerMeanExponentGradBody": test_gem_and_fixed_order_sum_bodies,
    "ChunkSumBody": test_gem_and_fixed_order_sum_bodies,
    "FractionalStartsBody": test_fractional_bodies,
    "FractionalMaxForwardBody": test_fractional_bodies,
    "FractionalMaxBackwardBody": test_fractional_bodies,
    "FractionalMaxGatherBody": test_fractional_bodies,
    "FractionalMaxIndicesBody": test_fractional_bodies,
}


def test_every_cuda_body_is_emulated():
    """Every body a CUDA kernel launches (the `Launcher::launch(..., Body{...})`
    calls in the grid code the CUDA file instantiates) has an emulation test,
    and every __global__ in the CUDA sources is the one generic grid wrapper."""
    grid_code = "".join((ROOT / "csrc" / name).read_text() for name in ("max_pool_grid.h", "sum_pool_grid.h"))
    launched = set(re.findall(r"Launcher::launch\(\s*[^,]+,\s*(\w+Body)", grid_code))
    assert launched == set(EMULATION_TESTS), launched ^ set(EMULATION_TESTS)
    for cu in [*(ROOT / "csrc").rglob("*.cu"), *(ROOT / "csrc").rglob("*.cuh")]:
        kernels = re.findall(r"__global__\s+void(?:\s+__launch_bounds__\([^)]*\))?\s+(\w+)", cu.read_text())
        assert set(kernels) <= {"grid_stride_kernel"}, (cu, kernels)
