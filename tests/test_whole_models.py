"""Whole torchvision models made drop-in with replace_pooling and patch(): the
same outputs and parameter gradients as the originals, no torch pooling op run
(eager for ResNet-18, VGG-11 and DenseNet-121; torch.compile for ResNet-18)."""
import copy

import pytest
import torch

import pooling_ext
from conftest import NoTorchPooling
from test_autograd_compile import captured_ops

torchvision = pytest.importorskip("torchvision")

TOL = dict(rtol=1e-4, atol=1e-5)
# Inductor fuses and reorders the convolutions' float arithmetic: differences of ~2e-5 in their gradients.
COMPILED_TOL = dict(rtol=1e-3, atol=1e-4)
MODELS = {"resnet18": torchvision.models.resnet18, "vgg11": torchvision.models.vgg11,
          "densenet121": torchvision.models.densenet121}


def outputs_and_gradients(model, x):
    out = model(x)
    params = [p for p in model.parameters() if p.requires_grad]
    grads = torch.autograd.grad(out, params, torch.ones_like(out))
    return out, grads


def swapped(model):
    ours = pooling_ext.replace_pooling(copy.deepcopy(model))
    kinds = {type(m).__module__.split(".")[0] for m in ours.modules() if "Pool" in type(m).__name__}
    assert kinds <= {"pooling_ext"}, kinds  # every pooling module is ours
    return ours


@pytest.mark.parametrize("name", list(MODELS))
def test_eager_model_matches_torch(name):
    torch.manual_seed(0)
    model = MODELS[name](weights=None).eval()  # eval: VGG's dropout off, batch norm from running stats
    x = torch.randn(2, 3, 64, 64)  # small: VGG's 7x7 adaptive pool then upsamples a 2x2 map
    ref_out, ref_grads = outputs_and_gradients(model, x)
    ours = swapped(model)
    with pooling_ext.patch(), NoTorchPooling():  # DenseNet calls F.adaptive_avg_pool2d itself
        out, grads = outputs_and_gradients(ours, x)
    torch.testing.assert_close(out, ref_out, **TOL)
    for a, b in zip(grads, ref_grads):
        torch.testing.assert_close(a, b, **TOL)


def test_compiled_resnet18_matches_torch():
    torch._dynamo.reset()
    torch.manual_seed(0)
    model = torchvision.models.resnet18(weights=None).eval()
    x = torch.randn(2, 3, 64, 64)
    ref_out, ref_grads = outputs_and_gradients(model, x)
    ours = swapped(model)
    compiled = torch.compile(ours, fullgraph=True)
    with pooling_ext.patch():
        out, grads = outputs_and_gradients(compiled, x)
    torch.testing.assert_close(out, ref_out, **COMPILED_TOL)
    for a, b in zip(grads, ref_grads):
        torch.testing.assert_close(a, b, **COMPILED_TOL)
    # Dispatch modes and compiled frames do not mix: check the captured graph instead.
    torch._dynamo.reset()
    with pooling_ext.patch():
        names = captured_ops(ours, x)
    pooling = [n for n in names if "pool" in n]
    assert pooling and all("pooling_ext" in n for n in pooling), pooling
