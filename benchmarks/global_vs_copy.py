"""Global average pooling heads against a copy of the same tensor.

Issue 4's aim: the forward and backward of global pooling at >= 80% of the
speed of a copy of the same tensor (same size, same cache state). For each
head and layout this times, in interleaved rounds (median):
  copy      x.clone(): reads and writes the input's bytes;
  forward   adaptive_avg_pool(x, 1): reads them;
  backward  the backward op the autograd node calls (writes them), and the
            same through torch.autograd.grad (adds the engine's overhead);
  x * 1.0   its backward through torch.autograd.grad: the cheapest backward
            that writes a gradient of the input's size, the engine's floor;
and prints each as a share of the copy's speed (copy time / its time).

    python benchmarks/global_vs_copy.py [--device cpu|cuda] [--dtype float32]
"""
import argparse
import os
import statistics
import sys

import torch
import torch.utils.benchmark as tb

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [os.path.dirname(HERE)]  # the source tree
import pooling_ext  # noqa: E402
import pooling_ext.functional as PF  # noqa: E402

HEADS = [
    ("resnet 2d head", (8, 2048, 7, 7)),
    ("resnet 2d head, batch 64", (64, 2048, 7, 7)),
    ("video 3d head", (4, 512, 4, 7, 7)),
]


def median_seconds(stmt, scope, device, rounds, min_time):
    times = []
    for _ in range(rounds):
        if device == "cuda":
            torch.cuda.synchronize()
        timer = tb.Timer(stmt, globals=scope, num_threads=torch.get_num_threads())
        times.append(timer.blocked_autorange(min_run_time=min_time).median)
    return statistics.median(times)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--min-time", type=float, default=0.2)
    args = parser.parse_args(argv)
    dtype = getattr(torch, args.dtype)
    ops = torch.ops.pooling_ext
    print(f"{args.device}, {args.dtype}, {torch.get_num_threads()} threads; share = copy time / time")
    print("| head | shape | layout | copy ms | forward ms (share) | backward op ms (share) "
          "| autograd.grad ms (share) | x * 1.0 autograd.grad ms (share) |")
    print("|---|---|---|---:|---|---|---|---|")
    for name, shape in HEADS:
        dims = len(shape) - 2
        pool = PF.adaptive_avg_pool2d if dims == 2 else PF.adaptive_avg_pool3d
        for layout in ("contiguous", "channels_last"):
            x = torch.randn(shape, device=args.device, dtype=dtype)
            if layout == "channels_last":
                x = x.contiguous(memory_format=torch.channels_last if dims == 2 else torch.channels_last_3d)
            grad = pool(x, 1)  # the gradient of a head's output: the output's shape and layout
            leaf = x.detach().requires_grad_()
            out = pool(leaf, 1)
            scaled = leaf * 1.0
            # The backward must be what a network gets: check it against torch.
            expected = torch.full_like(x, 1.0 / x[0, 0].numel()) * grad
            got = ops.adaptive_avg_pool_backward(grad, list(x.shape), [1] * dims)
            torch.testing.assert_close(got, expected)
            scope = dict(x=x, pool=pool, ops=ops, grad=grad, shape=list(x.shape), ones=[1] * dims,
                         out=out, leaf=leaf, scaled=scaled, torch=torch)
            copy = median_seconds("x.clone()", scope, args.device, args.rounds, args.min_time)
            forward = median_seconds("pool(x, 1)", scope, args.device, args.rounds, args.min_time)
            backward = median_seconds("ops.adaptive_avg_pool_backward(grad, shape, ones)", scope, args.device,
                                      args.rounds, args.min_time)
            through_autograd = median_seconds("torch.autograd.grad(out, leaf, grad, retain_graph=True)", scope,
                                              args.device, args.rounds, args.min_time)
            engine_floor = median_seconds("torch.autograd.grad(scaled, leaf, x, retain_graph=True)", scope,
                                          args.device, args.rounds, args.min_time)
            cells = [f"{t * 1e3:.4f} ({copy / t:.0%})" for t in (forward, backward, through_autograd, engine_floor)]
            print(f"| {name} | {tuple(shape)} | {layout} | {copy * 1e3:.4f} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
