"""The benchmark registry: real-network pooling shapes, ours vs torch.
Later families add their cases with `register`."""
import dataclasses
from typing import Callable

import torch
import torch.nn.functional as TF

import pooling_ext.functional as PF


@dataclasses.dataclass
class Case:
    name: str            # network and layer
    family: str          # "max", "unpool", ...
    shape: tuple         # full input shape at the reference batch size
    ours: Callable       # (inputs) -> output
    theirs: Callable     # (inputs) -> output
    make_inputs: Callable = None  # (x) -> tuple passed to ours/theirs; default (x,)
    channels_last: bool = False
    backward: bool = True
    cpu_batch: int = None  # smaller batch on the CPU keeps the run short
    rtol: float = 0.0      # 0: results must equal torch's bit for bit; else allclose (sums in another order)

    def inputs(self, device, dtype, batch=None):
        shape = (batch or self.shape[0],) + tuple(self.shape[1:])
        x = torch.randn(shape, device=device, dtype=torch.float32).to(dtype)
        if self.channels_last:
            x = x.to(memory_format=torch.channels_last if x.dim() == 4 else torch.channels_last_3d)
        return self.make_inputs(x) if self.make_inputs else (x,)


CASES = []


def register(case):
    CASES.append(case)
    return case


def _pool_pair(ours, theirs, *args, **kwargs):
    return (lambda x: ours(x, *args, **kwargs)), (lambda x: theirs(x, *args, **kwargs))


def _max_cases():
    specs = [
        # name, shape, functional pair, args, cpu batch
        ("resnet stem max 3x3 s2 p1", (32, 64, 112, 112), 2, (3, 2, 1), 4),
        ("vgg max 2x2 s2", (32, 128, 112, 112), 2, (2, 2), 2),
        ("yolo spp max 5x5 s1 p2", (32, 512, 20, 20), 2, (5, 1, 2), 4),
        ("global max head 7x7", (64, 2048, 7, 7), 2, (7,), 8),
        ("video max3d 2x2x2", (8, 64, 16, 56, 56), 3, (2,), 2),
        ("video max3d 3x3x3 s2 p1", (8, 64, 16, 56, 56), 3, ((3, 3, 3), 2, 1), 2),
        ("audio/text max1d 3 s2 p1", (32, 256, 4000), 1, (3, 2, 1), 8),
    ]
    pairs = {1: (PF.max_pool1d, TF.max_pool1d), 2: (PF.max_pool2d, TF.max_pool2d), 3: (PF.max_pool3d, TF.max_pool3d)}
    for name, shape, dims, args, cpu_batch in specs:
        ours, theirs = _pool_pair(*pairs[dims], *args)
        register(Case(name, "max", shape, ours, theirs, cpu_batch=cpu_batch))
        if dims >= 2 and "global" not in name:
            register(Case(name + " (channels_last)", "max", shape, ours, theirs, channels_last=True,
                          cpu_batch=cpu_batch))


def _unpool_inputs(x):
    out, idx = TF.max_pool2d(x.float(), 2, return_indices=True)
    return out.to(x.dtype), idx


def _unpool_cases():
    register(Case("segnet max_unpool2d 2x2", "unpool", (32, 64, 224, 224),
                  lambda v, i: PF.max_unpool2d(v, i, 2), lambda v, i: TF.max_unpool2d(v, i, 2),
                  make_inputs=_unpool_inputs, cpu_batch=2))


def _avg_lp_cases():
    specs = [
        # name, family, shape, dims, functional pair, args, cpu batch
        ("inception avg 3x3 s1 p1", "avg", (32, 288, 35, 35), 2, (PF.avg_pool2d, TF.avg_pool2d), (3, 1, 1), 4),
        ("densenet transition avg 2x2 s2", "avg", (32, 256, 56, 56), 2, (PF.avg_pool2d, TF.avg_pool2d), (2, 2), 4),
        ("video avg3d 2x2x2", "avg", (8, 64, 16, 56, 56), 3, (PF.avg_pool3d, TF.avg_pool3d), (2,), 2),
        ("audio/text avg1d 3 s2 p1", "avg", (32, 256, 4000), 1, (PF.avg_pool1d, TF.avg_pool1d), (3, 2, 1), 8),
        ("lp p=2 3x3 s2", "lp", (32, 64, 112, 112), 2, (PF.lp_pool2d, TF.lp_pool2d), (2, 3, 2), 4),
    ]
    for name, family, shape, dims, (ours_fn, theirs_fn), args, cpu_batch in specs:
        ours, theirs = _pool_pair(ours_fn, theirs_fn, *args)
        register(Case(name, family, shape, ours, theirs, cpu_batch=cpu_batch, rtol=1e-5))
        if dims >= 2:
            register(Case(name + " (channels_last)", family, shape, ours, theirs, channels_last=True,
                          cpu_batch=cpu_batch, rtol=1e-5))


def gem_composite(x, p, eps=1e-6):
    """GeM as users write it with torch ops (cirtorch, timm)."""
    return TF.avg_pool2d(x.clamp(min=eps).pow(p), x.shape[-2:]).pow(1.0 / p)


def _gem_inputs(x):
    return x, torch.full((1,), 3.0, device=x.device)  # p, learnable in fwd+bwd


def _gem_cases():
    for channels_last in (False, True):
        register(Case("gem p=3 2048x7x7" + (" (channels_last)" if channels_last else ""), "gem", (64, 2048, 7, 7),
                      PF.gem, gem_composite, make_inputs=_gem_inputs, channels_last=channels_last, cpu_batch=8,
                      rtol=1e-5))


def _adaptive_cases():
    specs = [
        # name, shape, dims, output size, cpu batch, both layouts
        ("resnet global avg head 7x7", (64, 2048, 7, 7), 2, 1, 8, True),
        ("alexnet adaptive avg 6x6 from 13x13", (128, 256, 13, 13), 2, 6, 16, True),
        ("vgg adaptive avg 7x7 from 14x14", (64, 512, 14, 14), 2, 7, 8, True),
        ("video global avg3d head", (16, 512, 4, 7, 7), 3, 1, 4, True),
        ("resnet global max head 7x7", (64, 2048, 7, 7), 2, 1, 8, True),
        ("adaptive max 7x7 from 28x28", (32, 256, 28, 28), 2, 7, 4, True),
    ]
    pairs = {("avg", 2): (PF.adaptive_avg_pool2d, TF.adaptive_avg_pool2d),
             ("avg", 3): (PF.adaptive_avg_pool3d, TF.adaptive_avg_pool3d),
             ("max", 2): (PF.adaptive_max_pool2d, TF.adaptive_max_pool2d)}
    for name, shape, dims, output_size, cpu_batch, both in specs:
        ours, theirs = _pool_pair(*pairs["max" if " max " in name else "avg", dims], output_size)
        rtol = 0.0 if " max " in name else 1e-5  # maxima are exact; sums run in another order
        register(Case(name, "adaptive", shape, ours, theirs, cpu_batch=cpu_batch, rtol=rtol))
        if both:
            register(Case(name + " (channels_last)", "adaptive", shape, ours, theirs, channels_last=True,
                          cpu_batch=cpu_batch, rtol=rtol))


def _fractional_inputs(x):
    # One sample per (batch, channel, dim), shared by ours and torch so both pool the same windows.
    return x, torch.rand(x.shape[0], x.shape[1], x.dim() - 2, dtype=x.dtype, device=x.device)


def _fractional_cases():
    # Graham's fractional max pooling at a ratio of about 1/sqrt(2), 2x2 windows.
    for channels_last in (False, True):
        register(Case("fractional 2d 2x2 56->40" + (" (channels_last)" if channels_last else ""), "fractional",
                      (32, 128, 56, 56),
                      lambda x, s: PF.fractional_max_pool2d(x, 2, output_size=40, _random_samples=s),
                      lambda x, s: TF.fractional_max_pool2d(x, 2, output_size=40, _random_samples=s),
                      make_inputs=_fractional_inputs, channels_last=channels_last, cpu_batch=4))


_max_cases()
_unpool_cases()
_avg_lp_cases()
_gem_cases()
_adaptive_cases()
_fractional_cases()
