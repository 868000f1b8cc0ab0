"""LP and GeM forward+backward over integer p (1-4), ours vs torch's
composite, CPU float32: the issue's "at least 2x for integer p" check.

    python benchmarks/power_sweep.py [--rounds 5]
"""
import argparse

import torch
import torch.nn.functional as TF

import pooling_ext.functional as PF
from bench import fwd_bwd, time_pair
from registry import gem_composite


def lp_case(p, channels_last):
    x = torch.randn(4, 64, 112, 112).abs()  # |x|: torch's lp_pool is NaN on negative x for odd p
    if channels_last:
        x = x.to(memory_format=torch.channels_last)
    return (lambda v: PF.lp_pool2d(v, p, 3, 2)), (lambda v: TF.lp_pool2d(v, p, 3, 2)), (x,)


def gem_case(p, channels_last):
    x = torch.randn(8, 2048, 7, 7)
    if channels_last:
        x = x.to(memory_format=torch.channels_last)
    return PF.gem, gem_composite, (x, torch.full((1,), float(p)))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    print(f"threads {torch.get_num_threads()}; forward+backward speedup = torch / ours")
    print("| p | LP contiguous | LP channels-last | GeM contiguous | GeM channels-last |")
    print("|---|---:|---:|---:|---:|")
    for p in (1, 2, 3, 4):
        cells = []
        for make in (lp_case, gem_case):
            for channels_last in (False, True):
                ours, theirs, inputs = make(p, channels_last)
                inputs = tuple(t.detach().requires_grad_() for t in inputs)
                grad = torch.randn_like(ours(*inputs))
                times, _ = time_pair(fwd_bwd(ours, grad), fwd_bwd(theirs, grad), inputs, "cpu",
                                     rounds=args.rounds, min_time=0.2)
                cells.append(f"{times['torch'] / times['ours']:.2f}x")
        print(f"| {p} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
