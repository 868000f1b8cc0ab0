"""The CUDA kernels, emulated on the CPU (tests/emulation/): the ops of
torch.ops.pooling_ext_emulation_int32 / _int64 run the CUDA code's launches
with the block emulator, in 32-bit and 64-bit index arithmetic, and must match
torch. The block interface itself (barriers, shared memory, warp collectives,
atomics) is probed, and every kernel the CUDA code launches must be listed in
EMULATION_TESTS and reached by its tests in both index widths."""
import functools
import pathlib
import re

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import emulation
import test_adaptive
import test_fractional
from conftest import assert_same, make_input
from emulation import EMULATIONS
from pool_cases import has_empty_window, torch_accepts, window_cases


@pytest.fixture(params=list(EMULATIONS.values()), ids=list(EMULATIONS))
def emu(request):
    return request.param


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
    assert_same(emu.max_pool_values(x, k, s, p, d, ceil), out)  # the values-only launch
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
            assert_same(emu.fractional_max_pool_values(xl, kernel, out_size, samples), out)
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


# ---------------------------------------------------------------- the block interface


def test_block_interface_probe():
    """The emulator's barrier and shared memory, warp sum / max / xor shuffle /
    ballot over each warp's 32 lanes, and atomic adds in thread order."""
    torch.manual_seed(5)
    values = torch.randn(3 * 64).mul_(100).round_()  # integers: the sums are exact in any order
    sums, maxes, swapped, ballots, neighbours, totals = emulation.module.run_interface_probe(values)
    v = values.view(-1, 32)
    assert torch.equal(sums, v.sum(1, keepdim=True).expand(-1, 32).reshape(-1))
    assert torch.equal(maxes, v.max(1, keepdim=True).values.expand(-1, 32).reshape(-1))
    lane = torch.arange(32)
    warp_start = torch.arange(2).repeat_interleave(32).repeat(3) * 32  # of each thread's warp, in its block
    assert torch.equal(swapped, ((lane ^ 5).repeat(6) + warp_start).to(torch.int32))
    bits = ((v > 0).long() << lane).sum(1, keepdim=True)
    assert torch.equal(ballots, bits.expand(-1, 32).reshape(-1))
    assert torch.equal(neighbours, values.view(3, 64).roll(-1, dims=1).reshape(-1))
    assert torch.equal(totals, values.view(3, 64).sum(1))
    # Float sums: every lane of a warp gets the same bits (the butterfly).
    sums, *_ = emulation.module.run_interface_probe(torch.randn(64))
    assert torch.equal(sums.view(2, 32), sums.view(2, 32)[:, :1].expand(-1, 32))


def reference_fixed_order_sum(values):
    """FixedOrderSumProgram's order, in numpy: per block of 1024 values, thread
    t adds values t, t + 256, t + 512, t + 768; the warps and then the 8 warp
    sums are added by the butterfly; levels repeat until one value is left."""
    values = np.asarray(values)
    dtype = values.dtype.type
    while values.size > 1:
        blocks = -(-values.size // 1024)
        padded = np.zeros(blocks * 1024, dtype=values.dtype)
        padded[:values.size] = values
        per_thread = padded.reshape(blocks, 4, 256)
        thread_sums = np.zeros((blocks, 256), dtype=values.dtype)
        for k in range(4):
            thread_sums = thread_sums + per_thread[:, k]
        warps = butterfly(thread_sums.reshape(blocks, 8, 32))[:, :, 0]
        first_warp = np.zeros((blocks, 32), dtype=values.dtype)
        first_warp[:, :8] = warps
        values = butterfly(first_warp[:, None, :])[:, 0, 0].astype(dtype)
    return values[0] if values.size else dtype(0)


def butterfly(lanes):
    for round_ in (16, 8, 4, 2, 1):
        lanes = lanes + lanes[..., np.arange(32) ^ round_]
    return lanes


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_fixed_order_sum_program(dtype):
    for count in (1, 2, 31, 1024, 1025, 70000, 1100000):
        values = torch.randn(count, dtype=dtype)
        ours = emulation.module.fixed_order_sum(values)
        assert ours.shape == ()
        expected = reference_fixed_order_sum(values.numpy())
        assert ours.item() == expected.item(), (count, ours.item(), expected)
        torch.testing.assert_close(ours, values.double().sum().to(dtype), rtol=1e-4 if dtype == torch.float32 else 1e-12,
                                   atol=1e-3)


# ---------------------------------------------------------------- every CUDA kernel is emulated

# Every kernel the CUDA code launches (the per-element bodies and block
# programs of the families' launch code) and the emulation tests that run it.
EMULATION_TESTS = {
    "MaxPoolForwardBody": [test_forward_backward_gather_indices_bodies, test_adaptive.test_max_emulation_of_the_cuda_kernels],
    "MaxPoolBackwardBody": [test_forward_backward_gather_indices_bodies, test_adaptive.test_max_emulation_of_the_cuda_kernels],
    "MaxPoolGatherBody": [test_forward_backward_gather_indices_bodies, test_adaptive.test_max_emulation_of_the_cuda_kernels],
    "MaxPoolIndicesBody": [functools.partial(test_bodies_on_dtypes, dtype=torch.float32)],
    "MaxUnpoolClaimBody": [functools.partial(test_unpool_claim_write_gather_bodies, dims=2)],
    "MaxUnpoolWriteBody": [functools.partial(test_unpool_claim_write_gather_bodies, dims=2)],
    "MaxUnpoolGatherBody": [functools.partial(test_unpool_claim_write_gather_bodies, dims=2)],
    "WindowSumForwardBody": [test_window_sum_forward_backward_bodies, test_adaptive.test_avg_emulation_of_the_cuda_kernels],
    "WindowSumBackwardBody": [test_window_sum_forward_backward_bodies, test_adaptive.test_avg_emulation_of_the_cuda_kernels],
    "PowerMeanExponentGradBody": [test_gem_and_fixed_order_sum_bodies],
    "FixedOrderSumProgram": [test_gem_and_fixed_order_sum_bodies],
    "FractionalStartsBody": [test_fractional.test_emulation_of_the_cuda_kernels],
    "FractionalMaxForwardBody": [test_fractional.test_emulation_of_the_cuda_kernels],
    "FractionalMaxBackwardBody": [test_fractional.test_emulation_of_the_cuda_kernels],
    "FractionalMaxGatherBody": [test_fractional.test_emulation_of_the_cuda_kernels],
    "FractionalMaxIndicesBody": [test_fractional.test_emulation_of_the_cuda_kernels],
}


def launched_by_cuda_code():
    """The kernels the launch code instantiated by the CUDA files launches:
    `Launcher::elementwise(count, Body{...})` and `Launcher::blocks(n, Program{...})`."""
    code = "".join(p.read_text() for p in (ROOT / "csrc").rglob("*_launch.h"))
    code += (ROOT / "csrc" / "common" / "fixed_order_sum.h").read_text()
    return set(re.findall(r"Launcher::(?:elementwise|blocks)\(\s*[^,]+,\s*(\w+)", code))


def test_every_cuda_kernel_is_listed():
    """The list above is the CUDA code's kernels; every __global__ function in
    the CUDA sources is the block-program kernel every launch goes through."""
    assert launched_by_cuda_code() == set(EMULATION_TESTS), launched_by_cuda_code() ^ set(EMULATION_TESTS)
    for cu in [*(ROOT / "csrc").rglob("*.cu"), *(ROOT / "csrc").rglob("*.cuh")]:
        kernels = re.findall(r"__global__\s+void(?:\s+__launch_bounds__\([^)]*\))?\s+(\w+)", cu.read_text())
        assert set(kernels) <= {"block_program_kernel"}, (cu, kernels)
        if cu.suffix == ".cu":  # each family's kernels go through the CUDA launcher
            assert "CudaLauncher" in cu.read_text() and "__global__" not in cu.read_text(), cu


@pytest.mark.parametrize("kernel", sorted(EMULATION_TESTS))
def test_every_cuda_kernel_runs_in_emulation(kernel):
    """Each listed test reaches its kernel, with 32-bit indices allowed and with 64-bit forced."""
    for name, ops in EMULATIONS.items():
        for run_test in EMULATION_TESTS[kernel]:
            emulation.module.clear_launched_kernels()
            run_test(emu=ops)
            reached = {(k, int32) for k, int32 in emulation.module.launched_kernels()}
            assert (kernel, name == "int32") in reached, (kernel, name, run_test)
