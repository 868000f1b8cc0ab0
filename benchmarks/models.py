"""Whole torchvision models, eager: ours (replace_pooling + patch()) against
torch's pooling, inference and a training step.

Issue 12's whole-model target: ResNet-18 and VGG-11 on the CPU, batch 16 at
112x112, at least 8% faster with our pooling in both modes. Each model is
timed in interleaved rounds (torch, ours, torch, ...) in one process with the
same weights and input; a row gives the median over rounds of each side's
time per call and the speedup (torch's time / ours). Inference: eval mode
under torch.no_grad(); training step: train mode, forward, the sum of the
outputs' backward (parameter gradients), gradients cleared between calls.

    python benchmarks/models.py [--models resnet18 vgg11 densenet121] [--rounds 15] [--out FILE.json]
"""
import argparse
import copy
import json
import os
import statistics
import sys
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [os.path.dirname(HERE)]  # the source tree
import pooling_ext  # noqa: E402

MODELS = ("resnet18", "vgg11", "densenet121")


def inference(model, x):
    model.eval()

    def call():
        with torch.no_grad():
            model(x)
    return call


def training_step(model, x):
    model.train()

    def call():
        model.zero_grad(set_to_none=True)
        model(x).sum().backward()
    return call


def ours_call(call):
    def patched():
        with pooling_ext.patch():
            call()
    return patched


def seconds_per_call(call, calls):
    start = time.perf_counter()
    for _ in range(calls):
        call()
    return (time.perf_counter() - start) / calls


def main():
    import torchvision

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="*", default=["resnet18", "vgg11"], choices=MODELS)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--size", type=int, default=112)
    parser.add_argument("--rounds", type=int, default=15, help="interleaved rounds; rows give the median")
    parser.add_argument("--calls", type=int, default=2, help="calls timed per round and side")
    parser.add_argument("--out", help="write the rows as JSON here")
    args = parser.parse_args()

    torch.manual_seed(0)
    x = torch.randn(args.batch, 3, args.size, args.size)
    info = dict(torch=torch.__version__, threads=torch.get_num_threads(), batch=args.batch, size=args.size,
                rounds=args.rounds, pooling_ext=pooling_ext.info())
    print(f"torch {info['torch']}, {info['threads']} threads, batch {args.batch} at {args.size}x{args.size}, "
          f"median of {args.rounds} interleaved rounds")
    rows = []
    for name in args.models:
        theirs = getattr(torchvision.models, name)(weights=None)
        ours = pooling_ext.replace_pooling(copy.deepcopy(theirs))
        for mode, make in (("inference", inference), ("training step", training_step)):
            sides = {"torch": make(theirs, x), "ours": ours_call(make(ours, x))}
            for call in sides.values():  # warm up: allocator, thread pool, first-call dispatch
                seconds_per_call(call, 2)
            times = {side: [] for side in sides}
            for _ in range(args.rounds):
                for side, call in sides.items():
                    times[side].append(seconds_per_call(call, args.calls))
            median = {side: statistics.median(t) for side, t in times.items()}
            row = dict(model=name, mode=mode, ms={s: 1e3 * t for s, t in median.items()},
                       spread_ms={s: [1e3 * min(t), 1e3 * max(t)] for s, t in times.items()},
                       speedup=median["torch"] / median["ours"])
            rows.append(row)
            print(f"{name:12s} {mode:14s} torch {row['ms']['torch']:8.2f} ms   ours {row['ms']['ours']:8.2f} ms   "
                  f"{row['speedup']:.3f}x")
    if args.out:
        with open(args.out, "w") as f:
            json.dump(dict(info=info, rows=rows), f, indent=1)


if __name__ == "__main__":
    main()
