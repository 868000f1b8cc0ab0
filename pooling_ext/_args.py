"""Argument normalisation shared by the functionals: torch's accepted forms,
torch's exception types, messages naming the argument."""
import numbers

import torch


def expand(value, dims, name, op):
    """An int, or a sequence of 1 or `dims` ints, as a list of `dims` ints."""
    # Plain ints first, by exact type: an isinstance check against
    # numbers.Integral goes through the ABC machinery, and these checks run on
    # every call (a tiny pooling call is dominated by such fixed costs).
    if type(value) is int:
        return [value] * dims
    if type(value) in (tuple, list):
        for item in value:
            if type(item) is not int:
                break  # the checks below say what is wrong with it
        else:
            if len(value) == 1:
                return list(value) * dims
            if len(value) == dims:
                return list(value)
    if isinstance(value, bool):
        raise TypeError(f"{op}(): argument '{name}' must be an int or a tuple of ints, not bool")
    if isinstance(value, (numbers.Integral, torch.SymInt)):
        return [value] * dims
    if isinstance(value, (tuple, list, torch.Size)):
        items = list(value)
        for item in items:
            if isinstance(item, bool) or not isinstance(item, (numbers.Integral, torch.SymInt)):
                raise TypeError(f"{op}(): argument '{name}' must be a tuple of ints, but got {value!r}")
        if len(items) == 1:
            return items * dims
        if len(items) == dims:
            return items
        raise RuntimeError(f"{op}: {name} must either be a single int, or a tuple of {dims} ints, but got {value!r}")
    raise TypeError(f"{op}(): argument '{name}' must be an int or a tuple of ints, not {type(value).__name__}")


def window(op, dims, kernel_size, stride, padding, dilation=1):
    """kernel_size, stride (default: kernel_size), padding, dilation as lists."""
    kernel = expand(kernel_size, dims, "kernel_size", op)
    if stride is None or (isinstance(stride, (tuple, list)) and len(stride) == 0):
        strides = list(kernel)
    else:
        strides = expand(stride, dims, "stride", op)
    return kernel, strides, expand(padding, dims, "padding", op), expand(dilation, dims, "dilation", op)
