"""Modules (subclassing, repr, pickle, state_dict), replace_pooling, patch,
info, and that no code path runs a torch pooling op."""
import io
import pickle

import pytest
import torch
import torch.nn.functional as TF

import pooling_ext
import pooling_ext.functional as PF
from conftest import NoTorchPooling, make_input

MODULE_PAIRS = [
    (pooling_ext.nn.MaxPool1d, torch.nn.MaxPool1d, dict(kernel_size=3, stride=2, padding=1, dilation=1,
                                                         return_indices=True, ceil_mode=True)),
    (pooling_ext.nn.MaxPool2d, torch.nn.MaxPool2d, dict(kernel_size=(3, 2), stride=2, padding=(1, 0))),
    (pooling_ext.nn.MaxPool3d, torch.nn.MaxPool3d, dict(kernel_size=2, dilation=2)),
    (pooling_ext.nn.MaxUnpool1d, torch.nn.MaxUnpool1d, dict(kernel_size=2)),
    (pooling_ext.nn.MaxUnpool2d, torch.nn.MaxUnpool2d, dict(kernel_size=3, stride=2, padding=1)),
    (pooling_ext.nn.MaxUnpool3d, torch.nn.MaxUnpool3d, dict(kernel_size=2, stride=(1, 2, 2))),
]


@pytest.mark.parametrize("ours,theirs,kwargs", MODULE_PAIRS)
def test_module_is_a_drop_in(ours, theirs, kwargs):
    mine, ref = ours(**kwargs), theirs(**kwargs)
    assert isinstance(mine, theirs)
    assert repr(mine) == repr(ref)
    assert mine.state_dict().keys() == ref.state_dict().keys()
    mine.load_state_dict(ref.state_dict())
    clone = pickle.loads(pickle.dumps(mine))
    assert type(clone) is ours and repr(clone) == repr(mine)
    buffer = io.BytesIO()
    torch.save(mine, buffer)
    buffer.seek(0)
    assert type(torch.load(buffer, weights_only=False)) is ours


@pytest.mark.parametrize("dims", [1, 2, 3])
def test_modules_compute_like_torch(dims):
    x = make_input((2, 3) + (8,) * dims)
    pool_cls = [None, torch.nn.MaxPool1d, torch.nn.MaxPool2d, torch.nn.MaxPool3d][dims]
    unpool_cls = [None, torch.nn.MaxUnpool1d, torch.nn.MaxUnpool2d, torch.nn.MaxUnpool3d][dims]
    ours_pool = pooling_ext.replace_pooling(pool_cls(2, return_indices=True))
    ours_unpool = pooling_ext.replace_pooling(unpool_cls(2))
    out, idx = ours_pool(x)
    ref, ref_idx = pool_cls(2, return_indices=True)(x)
    assert torch.equal(out, ref) and torch.equal(idx, ref_idx)
    assert torch.equal(ours_unpool(out, idx, output_size=x.shape), unpool_cls(2)(ref, ref_idx, output_size=x.shape))


def test_replace_pooling_in_place_and_idempotent():
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.MaxPool2d(2),
                                torch.nn.Sequential(torch.nn.MaxPool1d(3, 1)), torch.nn.ReLU())
    hook_calls = []
    model[1].register_forward_hook(lambda *a: hook_calls.append(1))
    same = pooling_ext.replace_pooling(model)
    assert same is model
    assert type(model[1]) is pooling_ext.nn.MaxPool2d and model[1].kernel_size == 2
    assert type(model[2][0]) is pooling_ext.nn.MaxPool1d and model[2][0].stride == 1
    swapped = model[1]
    pooling_ext.replace_pooling(model)
    assert model[1] is swapped  # ours are not re-wrapped
    model[:2](torch.randn(1, 1, 8, 8))
    assert hook_calls == [1]  # hooks carried over


def test_patch_routes_functionals():
    original = TF.max_pool2d
    with pooling_ext.patch():
        assert TF.max_pool2d is PF.max_pool2d
        assert torch.nn.MaxPool2d(2)(torch.randn(1, 1, 4, 4)).shape == (1, 1, 2, 2)
    assert TF.max_pool2d is original
    handle = pooling_ext.patch()
    try:
        assert TF.max_unpool3d is PF.max_unpool3d
    finally:
        handle.restore()
    assert TF.max_unpool3d is not PF.max_unpool3d
    pooling_ext.patch()
    pooling_ext.unpatch()
    assert TF.max_pool2d is original


def test_info_reports_the_binary():
    info = pooling_ext.info()
    assert info["built_against_torch"] == torch.__version__
    assert info["cpu_capability"] in {"avx512", "avx2", "sse2", "neon", "scalar"}
    assert isinstance(info["cuda_kernels_compiled"], bool)


@pytest.mark.parametrize("dims", [1, 2, 3])
def test_no_torch_pooling_op_runs(dims, device):
    pool = [None, PF.max_pool1d, PF.max_pool2d, PF.max_pool3d][dims]
    unpool = [None, PF.max_unpool1d, PF.max_unpool2d, PF.max_unpool3d][dims]
    x = make_input((2, 3) + (8,) * dims, dtype=torch.float64, device=device).requires_grad_()
    with NoTorchPooling():
        out, idx = pool(x, 3, 2, 1, return_indices=True)
        grad_out = torch.ones_like(out, requires_grad=True)
        (g,) = torch.autograd.grad(out, x, grad_out, create_graph=True)
        g.sum().backward()  # double backward: into grad_out
        src = out.detach().clone().requires_grad_()
        restored = unpool(src, idx, 3, 2, 1, output_size=x.shape[-dims:])
        (gu,) = torch.autograd.grad(restored.square().sum(), src, create_graph=True)
        gu.sum().backward()
        ints = make_input((2, 3) + (8,) * dims, dtype=torch.int32, device=device)
        pool(ints, 2, return_indices=True)


def test_unsupported_backends_get_clear_errors():
    sparse = torch.randn(1, 1, 4, 4).to_sparse()
    with pytest.raises(NotImplementedError, match="Sparse"):
        PF.max_pool2d(sparse, 2)
    quantized = torch.quantize_per_tensor(torch.randn(1, 1, 4, 4), 0.1, 0, torch.quint8)
    with pytest.raises(NotImplementedError, match="Quantized"):
        PF.max_pool2d(quantized, 2)


def test_import_under_another_torch_fails_clearly(tmp_path):
    """A build for another torch refuses to load, naming both versions,
    instead of failing later with an undefined-symbol error."""
    import pathlib
    import shutil
    import subprocess
    import sys

    source = pathlib.Path(pooling_ext.__file__).parent
    copy = tmp_path / "pooling_ext"
    shutil.copytree(source, copy, ignore=shutil.ignore_patterns("__pycache__"))
    (copy / "_build_info.py").write_text("TORCH_VERSION = '0.0.1-other'\nWITH_CUDA = False\nCUDA_ARCH_LIST = ''\n")
    result = subprocess.run([sys.executable, "-c", "import pooling_ext"], cwd=tmp_path, capture_output=True,
                            text=True, env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"})
    assert result.returncode != 0
    assert "ImportError" in result.stderr
    assert "0.0.1-other" in result.stderr and torch.__version__ in result.stderr
