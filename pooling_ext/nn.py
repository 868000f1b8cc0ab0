"""Modules that replace torch.nn's pooling one for one. Each subclasses the
torch class (isinstance checks keep passing), takes the same constructor
arguments, prints and pickles the same way, and runs pooling_ext's kernels."""
import torch

from . import functional as F

__all__ = [
    "MaxPool1d", "MaxPool2d", "MaxPool3d", "MaxUnpool1d", "MaxUnpool2d", "MaxUnpool3d",
    "AvgPool1d", "AvgPool2d", "AvgPool3d", "LPPool1d", "LPPool2d", "LPPool3d", "GeM",
    "AdaptiveAvgPool1d", "AdaptiveAvgPool2d", "AdaptiveAvgPool3d",
    "AdaptiveMaxPool1d", "AdaptiveMaxPool2d", "AdaptiveMaxPool3d",
    "FractionalMaxPool2d", "FractionalMaxPool3d",
]


class _MaxPoolForward:
    _functional = None

    def forward(self, input):
        return type(self)._functional(input, self.kernel_size, self.stride, self.padding, self.dilation,
                                      ceil_mode=self.ceil_mode, return_indices=self.return_indices)


class MaxPool1d(_MaxPoolForward, torch.nn.MaxPool1d):
    """torch.nn.MaxPool1d on pooling_ext's kernels."""
    _functional = staticmethod(F.max_pool1d)


class MaxPool2d(_MaxPoolForward, torch.nn.MaxPool2d):
    """torch.nn.MaxPool2d on pooling_ext's kernels."""
    _functional = staticmethod(F.max_pool2d)


class MaxPool3d(_MaxPoolForward, torch.nn.MaxPool3d):
    """torch.nn.MaxPool3d on pooling_ext's kernels."""
    _functional = staticmethod(F.max_pool3d)


class _MaxUnpoolForward:
    _functional = None

    def forward(self, input, indices, output_size=None):
        return type(self)._functional(input, indices, self.kernel_size, self.stride, self.padding, output_size)


class MaxUnpool1d(_MaxUnpoolForward, torch.nn.MaxUnpool1d):
    """torch.nn.MaxUnpool1d on pooling_ext's kernels."""
    _functional = staticmethod(F.max_unpool1d)


class MaxUnpool2d(_MaxUnpoolForward, torch.nn.MaxUnpool2d):
    """torch.nn.MaxUnpool2d on pooling_ext's kernels."""
    _functional = staticmethod(F.max_unpool2d)


class MaxUnpool3d(_MaxUnpoolForward, torch.nn.MaxUnpool3d):
    """torch.nn.MaxUnpool3d on pooling_ext's kernels."""
    _functional = staticmethod(F.max_unpool3d)


class AvgPool1d(torch.nn.AvgPool1d):
    """torch.nn.AvgPool1d on pooling_ext's kernels."""

    def forward(self, input):
        return F.avg_pool1d(input, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                            self.count_include_pad)


class _AvgPoolForward:
    _functional = None

    def forward(self, input):
        return type(self)._functional(input, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                                      self.count_include_pad, self.divisor_override)


class AvgPool2d(_AvgPoolForward, torch.nn.AvgPool2d):
    """torch.nn.AvgPool2d on pooling_ext's kernels."""

    _functional = staticmethod(F.avg_pool2d)


class AvgPool3d(_AvgPoolForward, torch.nn.AvgPool3d):
    """torch.nn.AvgPool3d on pooling_ext's kernels."""

    _functional = staticmethod(F.avg_pool3d)


class _LPPoolForward:
    """LP pooling as one fused kernel each way. Set `true_norm = True` on an
    instance for |x| ** p instead of torch's x ** p (see functional.lp_pool1d)."""

    _functional = None
    true_norm = False

    def forward(self, input):
        return type(self)._functional(input, float(self.norm_type), self.kernel_size, self.stride, self.ceil_mode,
                                      true_norm=self.true_norm)


class LPPool1d(_LPPoolForward, torch.nn.LPPool1d):
    """torch.nn.LPPool1d on pooling_ext's fused kernels."""

    _functional = staticmethod(F.lp_pool1d)


class LPPool2d(_LPPoolForward, torch.nn.LPPool2d):
    """torch.nn.LPPool2d on pooling_ext's fused kernels."""

    _functional = staticmethod(F.lp_pool2d)


class LPPool3d(_LPPoolForward, torch.nn.LPPool3d):
    """torch.nn.LPPool3d on pooling_ext's fused kernels."""

    _functional = staticmethod(F.lp_pool3d)


class GeM(torch.nn.Module):
    """Generalized mean pooling (image retrieval heads): (mean over the spatial
    dims of clamp(x, eps) ** p) ** (1 / p), one fused kernel each way.

    With learnable=True, p is a one-element Parameter trained by the same
    backward kernel (no host synchronisation); otherwise a buffer."""

    def __init__(self, p=3.0, eps=1e-6, learnable=True):
        super().__init__()
        value = torch.full((1,), float(p))
        if learnable:
            self.p = torch.nn.Parameter(value)
        else:
            self.register_buffer("p", value)
        self.eps = eps

    def forward(self, input):
        return F.gem(input, self.p, self.eps)

    def extra_repr(self):
        kind = "learnable" if isinstance(self.p, torch.nn.Parameter) else "fixed"
        return f"p={float(self.p.detach().cpu()[0]):.4g} ({kind}), eps={self.eps}"


class _AdaptiveAvgPoolForward:
    _functional = None

    def forward(self, input):
        return type(self)._functional(input, self.output_size)


class AdaptiveAvgPool1d(_AdaptiveAvgPoolForward, torch.nn.AdaptiveAvgPool1d):
    """torch.nn.AdaptiveAvgPool1d on pooling_ext's kernels."""
    _functional = staticmethod(F.adaptive_avg_pool1d)


class AdaptiveAvgPool2d(_AdaptiveAvgPoolForward, torch.nn.AdaptiveAvgPool2d):
    """torch.nn.AdaptiveAvgPool2d on pooling_ext's kernels."""
    _functional = staticmethod(F.adaptive_avg_pool2d)


class AdaptiveAvgPool3d(_AdaptiveAvgPoolForward, torch.nn.AdaptiveAvgPool3d):
    """torch.nn.AdaptiveAvgPool3d on pooling_ext's kernels."""
    _functional = staticmethod(F.adaptive_avg_pool3d)


class _AdaptiveMaxPoolForward:
    _functional = None

    def forward(self, input):
        return type(self)._functional(input, self.output_size, self.return_indices)


class AdaptiveMaxPool1d(_AdaptiveMaxPoolForward, torch.nn.AdaptiveMaxPool1d):
    """torch.nn.AdaptiveMaxPool1d on pooling_ext's kernels."""
    _functional = staticmethod(F.adaptive_max_pool1d)


class AdaptiveMaxPool2d(_AdaptiveMaxPoolForward, torch.nn.AdaptiveMaxPool2d):
    """torch.nn.AdaptiveMaxPool2d on pooling_ext's kernels."""
    _functional = staticmethod(F.adaptive_max_pool2d)


class AdaptiveMaxPool3d(_AdaptiveMaxPoolForward, torch.nn.AdaptiveMaxPool3d):
    """torch.nn.AdaptiveMaxPool3d on pooling_ext's kernels."""
    _functional = staticmethod(F.adaptive_max_pool3d)


class _FractionalMaxPoolForward:
    _functional = None

    def forward(self, input):
        return type(self)._functional(input, self.kernel_size, self.output_size, self.output_ratio,
                                      self.return_indices, _random_samples=self._random_samples)


class FractionalMaxPool2d(_FractionalMaxPoolForward, torch.nn.FractionalMaxPool2d):
    """torch.nn.FractionalMaxPool2d on pooling_ext's kernels."""
    _functional = staticmethod(F.fractional_max_pool2d)


class FractionalMaxPool3d(_FractionalMaxPoolForward, torch.nn.FractionalMaxPool3d):
    """torch.nn.FractionalMaxPool3d on pooling_ext's kernels."""
    _functional = staticmethod(F.fractional_max_pool3d)
