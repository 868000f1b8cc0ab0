"""Modules that replace torch.nn's pooling one for one. Each subclasses the
torch class (isinstance checks keep passing), takes the same constructor
arguments, prints and pickles the same way, and runs pooling_ext's kernels."""
import torch

from . import functional as F

__all__ = ["MaxPool1d", "MaxPool2d", "MaxPool3d", "MaxUnpool1d", "MaxUnpool2d", "MaxUnpool3d"]


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
