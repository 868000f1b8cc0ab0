"""Parameter grids shared by the max pooling tests."""
import random

import torch


def window_cases(dims, count, seed):
    """Random but reproducible (shape, kwargs) cases for `dims`-d pooling that
    cover every argument: anisotropic kernels, strides, padding up to its
    limit, dilation, ceil_mode, odd and size-1 extents."""
    rng = random.Random(seed)
    cases = []
    while len(cases) < count:
        kernel = [rng.choice([1, 2, 3, 4, 5]) for _ in range(dims)]
        stride = [rng.choice([1, 2, 3]) for _ in range(dims)]
        padding = [rng.randint(0, k // 2) for k in kernel]
        dilation = [rng.choice([1, 1, 2, 3]) for _ in range(dims)]
        spatial = [rng.choice([1, 2, 3, 5, 7, 8, 11]) for _ in range(dims)]
        batch, channels = rng.choice([1, 2]), rng.choice([1, 3, 4])
        kwargs = dict(
            kernel_size=kernel if rng.random() < 0.7 else kernel[0],
            stride=stride if rng.random() < 0.7 else rng.choice([None, stride[0]]),
            padding=padding if rng.random() < 0.7 else min(padding),
            dilation=dilation if rng.random() < 0.7 else min(dilation),
            ceil_mode=rng.random() < 0.5,
        )
        cases.append(((batch, channels, *spatial), kwargs))
    return cases


def torch_accepts(fn, x, kwargs):
    try:
        fn(x, **kwargs)
        return True
    except RuntimeError:
        return False


def has_empty_window(ours_indices, torch_indices, input_shape, dims):
    """Where a dilated window lies wholly in the padding, torch 2.14.1 gives a
    wrong (often out-of-range) index and its CPU backward may corrupt the heap;
    ours gives -1 there."""
    plane = 1
    for s in input_shape[-dims:]:
        plane *= s
    return bool((ours_indices == -1).any()) or bool(((torch_indices < 0) | (torch_indices >= plane)).any())
