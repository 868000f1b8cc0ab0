"""Making existing models use pooling_ext: swap their modules
(replace_pooling) or route torch.nn.functional's calls (patch)."""
import torch
import torch.nn.functional as torch_functional

from . import functional, nn

# torch module class -> ours. Later families add their entries here.
MODULE_REPLACEMENTS = {
    torch.nn.MaxPool1d: nn.MaxPool1d,
    torch.nn.MaxPool2d: nn.MaxPool2d,
    torch.nn.MaxPool3d: nn.MaxPool3d,
    torch.nn.MaxUnpool1d: nn.MaxUnpool1d,
    torch.nn.MaxUnpool2d: nn.MaxUnpool2d,
    torch.nn.MaxUnpool3d: nn.MaxUnpool3d,
    torch.nn.AvgPool1d: nn.AvgPool1d,
    torch.nn.AvgPool2d: nn.AvgPool2d,
    torch.nn.AvgPool3d: nn.AvgPool3d,
    torch.nn.LPPool1d: nn.LPPool1d,
    torch.nn.LPPool2d: nn.LPPool2d,
    torch.nn.LPPool3d: nn.LPPool3d,
    torch.nn.AdaptiveAvgPool1d: nn.AdaptiveAvgPool1d,
    torch.nn.AdaptiveAvgPool2d: nn.AdaptiveAvgPool2d,
    torch.nn.AdaptiveAvgPool3d: nn.AdaptiveAvgPool3d,
    torch.nn.AdaptiveMaxPool1d: nn.AdaptiveMaxPool1d,
    torch.nn.AdaptiveMaxPool2d: nn.AdaptiveMaxPool2d,
    torch.nn.AdaptiveMaxPool3d: nn.AdaptiveMaxPool3d,
    torch.nn.FractionalMaxPool2d: nn.FractionalMaxPool2d,
    torch.nn.FractionalMaxPool3d: nn.FractionalMaxPool3d,
}

# Names in torch.nn.functional that patch() routes to pooling_ext.functional
# (our extras, such as gem, have no torch twin to replace).
PATCHED_FUNCTIONALS = [name for name in functional.__all__ if hasattr(torch_functional, name)]

_TORCH_ORIGINALS = {name: getattr(torch_functional, name) for name in PATCHED_FUNCTIONALS}


def _swapped(module):
    """Our module with the torch module's configuration, hooks and state."""
    replacement = MODULE_REPLACEMENTS[type(module)]
    new = replacement.__new__(replacement)
    new.__dict__ = module.__dict__.copy()
    return new


def replace_pooling(model):
    """Swaps, in place, every torch.nn pooling module that pooling_ext supports
    for its pooling_ext twin with the same configuration, and returns the model
    (a new module if `model` itself is one to swap). Ours are never re-wrapped:
    only exact torch classes are swapped."""
    if type(model) in MODULE_REPLACEMENTS:
        return _swapped(model)
    for parent in model.modules():
        for name, child in list(parent.named_children()):
            if type(child) in MODULE_REPLACEMENTS:
                setattr(parent, name, _swapped(child))
    return model


class patch:
    """Routes torch.nn.functional's pooling functions to pooling_ext's.

    As a context manager it restores the previous functions on exit:
        with pooling_ext.patch():
            model(x)
    Called alone it is a global switch, undone by `.restore()` or
    `pooling_ext.unpatch()`."""

    def __init__(self):
        self._previous = {name: getattr(torch_functional, name) for name in PATCHED_FUNCTIONALS}
        for name in PATCHED_FUNCTIONALS:
            setattr(torch_functional, name, getattr(functional, name))

    def restore(self):
        for name, previous in self._previous.items():
            setattr(torch_functional, name, previous)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.restore()
        return False


def unpatch():
    """Gives torch.nn.functional back torch's own pooling functions."""
    for name, original in _TORCH_ORIGINALS.items():
        setattr(torch_functional, name, original)
