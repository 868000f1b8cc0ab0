"""Functional pooling with torch.nn.functional's signatures, defaults and
return types, running pooling_ext's kernels."""
import numbers

import torch

from . import _args
from ._loader import ops

__all__ = [
    "max_pool1d", "max_pool2d", "max_pool3d",
    "max_pool1d_with_indices", "max_pool2d_with_indices", "max_pool3d_with_indices",
    "max_unpool1d", "max_unpool2d", "max_unpool3d",
    "avg_pool1d", "avg_pool2d", "avg_pool3d",
    "lp_pool1d", "lp_pool2d", "lp_pool3d",
    "adaptive_avg_pool1d", "adaptive_avg_pool2d", "adaptive_avg_pool3d",
    "adaptive_max_pool1d", "adaptive_max_pool2d", "adaptive_max_pool3d",
    "adaptive_max_pool1d_with_indices", "adaptive_max_pool2d_with_indices", "adaptive_max_pool3d_with_indices",
    "fractional_max_pool2d", "fractional_max_pool3d",
    "fractional_max_pool2d_with_indices", "fractional_max_pool3d_with_indices",
    "gem",
]


def _max_pool(op, dims, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices):
    kernel, strides, pads, dilations = _args.window(op, dims, kernel_size, stride, padding, dilation)
    if dims == 1 and not return_indices and not input.is_floating_point():
        # torch's max_pool1d takes integer input only with return_indices=True.
        raise NotImplementedError(f"{op}: input dtype {input.dtype} is supported only with return_indices=True")
    if not return_indices:
        # Values only where no gradient is needed (the op's autograd kernel decides).
        return ops.max_pool_values(input, kernel, strides, pads, dilations, bool(ceil_mode))
    output, window_offset = ops.max_pool_forward(input, kernel, strides, pads, dilations, bool(ceil_mode))
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
        if any(size >= 2**63 for size in default):  # torch's type for sizes past int64
            raise TypeError(f"{op}(): argument 'output_size' failed to unpack: the default output_size {default} "
                            "does not fit in int64")
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


def _check_rank_2d(op, dims, input):
    # torch's 2d average (and so LP) pooling indexes dim -3 first: IndexError below 3 dims.
    if dims == 2 and isinstance(input, torch.Tensor) and input.dim() < 3:
        raise IndexError(f"{op}: input must be a 3D (unbatched) or 4D (batched) tensor, "
                         f"but got input of shape {tuple(input.shape)}")


def _avg_pool(op, dims, input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override):
    _check_rank_2d(op, dims, input)
    kernel, strides, pads, _ = _args.window(op, dims, kernel_size, stride, padding)
    if divisor_override is not None:
        if isinstance(divisor_override, bool) or not isinstance(divisor_override, (int, torch.SymInt)):
            raise TypeError(f"{op}(): argument 'divisor_override' must be int, not "
                            f"{type(divisor_override).__name__}")
        if divisor_override == 0:
            raise RuntimeError(f"{op}: divisor_override must be non-zero")
    return ops.avg_pool_forward(input, kernel, strides, pads, bool(ceil_mode), bool(count_include_pad),
                                divisor_override)


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    """Like torch.nn.functional.avg_pool1d."""
    return _avg_pool("avg_pool1d", 1, input, kernel_size, stride, padding, ceil_mode, count_include_pad, None)


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    """Like torch.nn.functional.avg_pool2d."""
    return _avg_pool("avg_pool2d", 2, input, kernel_size, stride, padding, ceil_mode, count_include_pad,
                     divisor_override)


def avg_pool3d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    """Like torch.nn.functional.avg_pool3d."""
    return _avg_pool("avg_pool3d", 3, input, kernel_size, stride, padding, ceil_mode, count_include_pad,
                     divisor_override)


def _lp_pool(op, dims, input, norm_type, kernel_size, stride, ceil_mode, true_norm):
    if isinstance(norm_type, torch.Tensor):
        norm_type = float(norm_type)
    if isinstance(norm_type, bool) or not isinstance(norm_type, (int, float)):
        raise TypeError(f"{op}(): argument 'norm_type' must be a number, not {type(norm_type).__name__}")
    if norm_type == 0:
        raise ValueError(f"{op}: norm_type must be a non-zero value, but got {norm_type}")
    _check_rank_2d(op, dims, input)
    kernel, strides, _, _ = _args.window(op, dims, kernel_size, stride, 0)
    if not input.is_floating_point():
        # torch's lp_pool raises integer input to a float power: the default float dtype.
        input = input.to(torch.get_default_dtype())
    return ops.lp_pool_forward(input, float(norm_type), kernel, strides, bool(ceil_mode), bool(true_norm))


def lp_pool1d(input, norm_type, kernel_size, stride=None, ceil_mode=False, *, true_norm=False):
    """Like torch.nn.functional.lp_pool1d, as one fused kernel each way.

    By default it computes what torch computes, x ** p (so negative x to a
    fractional p gives NaN, pytorch#184037); true_norm=True uses |x| ** p, the
    true p-norm. Where x ** p overflows but the result does not, the result is
    still finite (torch gives inf)."""
    return _lp_pool("lp_pool1d", 1, input, norm_type, kernel_size, stride, ceil_mode, true_norm)


def lp_pool2d(input, norm_type, kernel_size, stride=None, ceil_mode=False, *, true_norm=False):
    """Like torch.nn.functional.lp_pool2d, as one fused kernel each way (see lp_pool1d)."""
    return _lp_pool("lp_pool2d", 2, input, norm_type, kernel_size, stride, ceil_mode, true_norm)


def lp_pool3d(input, norm_type, kernel_size, stride=None, ceil_mode=False, *, true_norm=False):
    """Like torch.nn.functional.lp_pool3d, as one fused kernel each way (see lp_pool1d)."""
    return _lp_pool("lp_pool3d", 3, input, norm_type, kernel_size, stride, ceil_mode, true_norm)


def gem(input, p=3.0, eps=1e-6):
    """Generalized mean pooling: (mean over the spatial dims of clamp(x, eps) ** p) ** (1 / p)
    for a batched (N, C, L), (N, C, H, W) or (N, C, D, H, W) input; the output
    keeps N and C and has size 1 in each spatial dim. p is a float or a
    one-element tensor (it gets a gradient if it requires one; nothing waits
    on the device for it)."""
    if not isinstance(input, torch.Tensor):
        raise TypeError(f"gem(): argument 'input' must be Tensor, not {type(input).__name__}")
    if isinstance(p, torch.Tensor):
        exponent = p
    elif isinstance(p, (int, float)) and not isinstance(p, bool):
        # Made on the input's device: a copy from the host could wait for the GPU.
        exponent = torch.full((), float(p), dtype=torch.float64 if input.dtype == torch.float64 else torch.float32,
                              device=input.device)
    else:
        raise TypeError(f"gem(): argument 'p' must be a float or a tensor, not {type(p).__name__}")
    if isinstance(eps, bool) or not isinstance(eps, (int, float)):
        raise TypeError(f"gem(): argument 'eps' must be a float, not {type(eps).__name__}")
    return ops.gem_forward(input, exponent, float(eps))


def _adaptive_output_size(op, dims, input, output_size):
    """output_size as a list of `dims` ints: an int, or a sequence of `dims`
    entries where (2d and 3d only) None keeps that input size."""
    if type(output_size) is int:  # the common case, before the checks' ABC isinstance (a per-call cost)
        return [output_size] * dims
    sequence = isinstance(output_size, (tuple, list, torch.Size))
    if sequence and dims > 1 and isinstance(input, torch.Tensor) and input.dim() <= len(output_size):
        # torch's 2d and 3d functionals check this first, whatever the entries.
        raise ValueError(f"Input dimension should be at least {len(output_size) + 1}")
    if isinstance(output_size, bool) or isinstance(output_size, float):
        raise TypeError(f"{op}(): argument 'output_size' must be an int or a tuple of ints, "
                        f"not {type(output_size).__name__}")
    if isinstance(output_size, (numbers.Integral, torch.SymInt)):
        return [output_size] * dims
    if not sequence:
        raise TypeError(f"{op}(): argument 'output_size' must be an int or a tuple of ints, "
                        f"not {type(output_size).__name__}")
    if len(output_size) != dims:
        raise RuntimeError(f"{op}: output_size must have {dims} entries, but got {tuple(output_size)}")
    sizes = []
    for i, entry in enumerate(output_size):
        if entry is None and dims > 1 and isinstance(input, torch.Tensor) and input.dim() >= dims:
            sizes.append(input.shape[input.dim() - dims + i])
        elif isinstance(entry, bool) or not isinstance(entry, (numbers.Integral, torch.SymInt)):
            raise TypeError(f"{op}(): argument 'output_size' must be a tuple of ints, but found element of type "
                            f"{type(entry).__name__} at pos {i}")
        else:
            sizes.append(entry)
    return sizes


def adaptive_avg_pool1d(input, output_size):
    """Like torch.nn.functional.adaptive_avg_pool1d."""
    return ops.adaptive_avg_pool_forward(input, _adaptive_output_size("adaptive_avg_pool1d", 1, input, output_size))


def adaptive_avg_pool2d(input, output_size):
    """Like torch.nn.functional.adaptive_avg_pool2d (None in output_size keeps that input size)."""
    return ops.adaptive_avg_pool_forward(input, _adaptive_output_size("adaptive_avg_pool2d", 2, input, output_size))


def adaptive_avg_pool3d(input, output_size):
    """Like torch.nn.functional.adaptive_avg_pool3d (None in output_size keeps that input size)."""
    return ops.adaptive_avg_pool_forward(input, _adaptive_output_size("adaptive_avg_pool3d", 3, input, output_size))


def _adaptive_max_pool(op, dims, input, output_size, return_indices):
    sizes = _adaptive_output_size(op, dims, input, output_size)
    if not return_indices:
        return ops.adaptive_max_pool_values(input, sizes)
    output, window_offset = ops.adaptive_max_pool_forward(input, sizes)
    return output, ops.adaptive_max_pool_indices(window_offset, input.shape, sizes)


def adaptive_max_pool1d_with_indices(input, output_size, return_indices=False):
    """Like torch.nn.functional.adaptive_max_pool1d_with_indices: (output, int64 indices)."""
    return _adaptive_max_pool("adaptive_max_pool1d", 1, input, output_size, True)


def adaptive_max_pool2d_with_indices(input, output_size, return_indices=False):
    """Like torch.nn.functional.adaptive_max_pool2d_with_indices: (output, int64 indices)."""
    return _adaptive_max_pool("adaptive_max_pool2d", 2, input, output_size, True)


def adaptive_max_pool3d_with_indices(input, output_size, return_indices=False):
    """Like torch.nn.functional.adaptive_max_pool3d_with_indices: (output, int64 indices)."""
    return _adaptive_max_pool("adaptive_max_pool3d", 3, input, output_size, True)


def adaptive_max_pool1d(input, output_size, return_indices=False):
    """Like torch.nn.functional.adaptive_max_pool1d."""
    return _adaptive_max_pool("adaptive_max_pool1d", 1, input, output_size, return_indices)


def adaptive_max_pool2d(input, output_size, return_indices=False):
    """Like torch.nn.functional.adaptive_max_pool2d (None in output_size keeps that input size)."""
    return _adaptive_max_pool("adaptive_max_pool2d", 2, input, output_size, return_indices)


def adaptive_max_pool3d(input, output_size, return_indices=False):
    """Like torch.nn.functional.adaptive_max_pool3d (None in output_size keeps that input size)."""
    return _adaptive_max_pool("adaptive_max_pool3d", 3, input, output_size, return_indices)


def _fractional_sizes(op, dims, value, name, position):
    """kernel_size or output_size: an int for every dim, or one per dim; torch's
    TypeError for other types, its RuntimeError for another length."""
    def is_int(v):
        return isinstance(v, (numbers.Integral, torch.SymInt)) and not isinstance(v, bool)
    if is_int(value):
        return [value] * dims
    if not isinstance(value, (tuple, list, torch.Size)) or not all(is_int(v) for v in value):
        raise TypeError(f"{op}(): argument '{name}' (position {position}) must be tuple of ints, "
                        f"not {type(value).__name__}")
    if len(value) != dims:
        raise RuntimeError(f"{op}: {name} must either be a single Int or tuple of {'three ' if dims == 3 else ''}Ints")
    return list(value)


def _fractional_max_pool(op, dims, input, kernel_size, output_size, output_ratio, return_indices, samples):
    if output_size is None and output_ratio is None:
        raise ValueError(f"{op} requires specifying either an output_size or an output_ratio")
    kernel = _fractional_sizes(op, dims, kernel_size, "kernel_size", 2)
    if output_size is None:
        # torch's functional takes a tuple of ratios only; a number applies to every dim here.
        ratios = [output_ratio] * dims if isinstance(output_ratio, numbers.Real) else list(output_ratio)
        if len(ratios) != dims:
            raise ValueError(f"{op} requires output_ratio to either be a single Int or tuple of Ints.")
        sizes = [int(input.size(i - dims) * ratios[i]) for i in range(dims)]
    else:
        sizes = _fractional_sizes(op, dims, output_size, "output_size", 3)
    if samples is None:
        # torch's draw: one sample per (batch, channel, dim), uniform in [0, 1), in the input's dtype.
        batch = 1 if input.dim() == dims + 1 else input.size(0)
        samples = torch.rand(batch, input.size(-dims - 1), dims, dtype=input.dtype, device=input.device)
    if not return_indices:
        return ops.fractional_max_pool_values(input, kernel, sizes, samples)
    output, window_offset = ops.fractional_max_pool_forward(input, kernel, sizes, samples)
    return output, ops.fractional_max_pool_indices(window_offset, samples, input.shape, kernel)


def fractional_max_pool2d_with_indices(input, kernel_size, output_size=None, output_ratio=None,
                                       return_indices=False, _random_samples=None):
    """Like torch.nn.functional.fractional_max_pool2d_with_indices: (output, int64 indices)."""
    return _fractional_max_pool("fractional_max_pool2d", 2, input, kernel_size, output_size, output_ratio, True,
                                _random_samples)


def fractional_max_pool2d(input, kernel_size, output_size=None, output_ratio=None, return_indices=False,
                          _random_samples=None):
    """Like torch.nn.functional.fractional_max_pool2d; output_ratio may also be a single number."""
    return _fractional_max_pool("fractional_max_pool2d", 2, input, kernel_size, output_size, output_ratio,
                                return_indices, _random_samples)


def fractional_max_pool3d_with_indices(input, kernel_size, output_size=None, output_ratio=None,
                                       return_indices=False, _random_samples=None):
    """Like torch.nn.functional.fractional_max_pool3d_with_indices: (output, int64 indices)."""
    return _fractional_max_pool("fractional_max_pool3d", 3, input, kernel_size, output_size, output_ratio, True,
                                _random_samples)


def fractional_max_pool3d(input, kernel_size, output_size=None, output_ratio=None, return_indices=False,
                          _random_samples=None):
    """Like torch.nn.functional.fractional_max_pool3d; output_ratio may also be a single number."""
    return _fractional_max_pool("fractional_max_pool3d", 3, input, kernel_size, output_size, output_ratio,
                                return_indices, _random_samples)
