"""Functional pooling with torch.nn.functional's signatures, defaults and
return types, running pooling_ext's kernels."""
import torch

from . import _args
from ._loader import ops

__all__ = [
    "max_pool1d", "max_pool2d", "max_pool3d",
    "max_pool1d_with_indices", "max_pool2d_with_indices", "max_pool3d_with_indices",
    "max_unpool1d", "max_unpool2d", "max_unpool3d",
]


def _max_pool(op, dims, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices):
    kernel, strides, pads, dilations = _args.window(op, dims, kernel_size, stride, padding, dilation)
    if dims == 1 and not return_indices and not input.is_floating_point():
        # torch's max_pool1d takes integer input only with return_indices=True.
        raise NotImplementedError(f"{op}: input dtype {input.dtype} is supported only with return_indices=True")
    output, window_offset = ops.max_pool_forward(input, kernel, strides, pads, dilations, bool(ceil_mode))
    if not return_indices:
        return output
    indices = ops.max_pool_indices(window_offset, input.shape, kernel, strides, pads, dilations)
    return output, indices


def max_pool1d_with_indices(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
                            return_indices=False):
    """Like torch.nn.functional.max_pool1d_with_indices: (output, int64 indices)."""
    return _max_pool("max_pool1d", 1, input, kernel_size, stride, padding, dilation, ceil_mode, True)


def max_pool2d_with_indices(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
                            return_indices=False):
    """Like torch.nn.functional.max_pool2d_with_indices: (output, int64 indices)."""
    return _max_pool("max_pool2d", 2, input, kernel_size, stride, padding, dilation, ceil_mode, True)


def max_pool3d_with_indices(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
                            return_indices=False):
    """Like torch.nn.functional.max_pool3d_with_indices: (output, int64 indices)."""
    return _max_pool("max_pool3d", 3, input, kernel_size, stride, padding, dilation, ceil_mode, True)


def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """Like torch.nn.functional.max_pool1d."""
    return _max_pool("max_pool1d", 1, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices)


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """Like torch.nn.functional.max_pool2d."""
    return _max_pool("max_pool2d", 2, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices)


def max_pool3d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """Like torch.nn.functional.max_pool3d."""
    return _max_pool("max_pool3d", 3, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices)


def unpooled_size(op, input, dims, kernel, strides, pads, output_size):
    """The spatial size of max_unpool's output: (in - 1) * stride - 2 * padding
    + kernel_size by default; an explicit output_size (of `dims` or `dims` + 2
    entries) must lie strictly within one stride of that."""
    if input.dim() < dims + 1:
        raise RuntimeError(f"{op}: input must be a {dims + 1}D (unbatched) or {dims + 2}D (batched) tensor, "
                           f"but got input of shape {tuple(input.shape)}")
    spatial_in = input.shape[input.dim() - dims:]
    default = [(spatial_in[d] - 1) * strides[d] - 2 * pads[d] + kernel[d] for d in range(dims)]
    if output_size is None:
        return default
    requested = list(output_size)
    if len(requested) == dims + 2:
        requested = requested[2:]
    if len(requested) != dims:
        raise ValueError(f"{op}: output_size should be a sequence containing {dims} or {dims + 2} elements, "
                         f"but it has a length of '{len(requested)}'")
    for d in range(dims):
        low, high = default[d] - strides[d], default[d] + strides[d]
        if not low < requested[d] < high:
            raise ValueError(f'{op}: invalid output_size "{tuple(output_size)}" (dim {d} must be between '
                             f"{low} and {high})")
    return requested


def _max_unpool(op, dims, input, indices, kernel_size, stride, padding, output_size):
    kernel, strides, pads, _ = _args.window(op, dims, kernel_size, stride, padding)
    for name, values, least in (("kernel_size", kernel, 1), ("stride", strides, 1), ("padding", pads, 0)):
        if any(v < least for v in values):
            raise RuntimeError(f"{op}: {name} must be {'positive' if least else 'non-negative'}, "
                               f"but got {name}={tuple(values)}")
    size = unpooled_size(op, input, dims, kernel, strides, pads, output_size)
    return ops.max_unpool(input, indices, size)


def max_unpool1d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    """Like torch.nn.functional.max_unpool1d."""
    return _max_unpool("max_unpool1d", 1, input, indices, kernel_size, stride, padding, output_size)


def max_unpool2d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    """Like torch.nn.functional.max_unpool2d."""
    return _max_unpool("max_unpool2d", 2, input, indices, kernel_size, stride, padding, output_size)


def max_unpool3d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    """Like torch.nn.functional.max_unpool3d."""
    return _max_unpool("max_unpool3d", 3, input, indices, kernel_size, stride, padding, output_size)
