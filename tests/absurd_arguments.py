"""Absurd window arguments and output sizes (up to 2^62) on small inputs, for
torch's functionals and ours: the cases, and a runner that reports what each
side did. tests/test_absurd_arguments.py runs it in a child process (a hang
must fail the test, not stall it); the sanitizer stage runs the same test
under AddressSanitizer and UBSan.

    python tests/absurd_arguments.py    # prints one JSON line per case
"""
import json
import sys
import time

import torch

BIG = [2**31 - 1, 2**31, 2**40, 2**62]

# Calls torch 2.14.1 itself does not return from (minutes at 100% CPU; its
# max_pool1d loops over the taps of 2^40-wide windows), or takes seconds over
# (its max_pool1d with 2^31-wide windows) while ours declines at once: only
# ours is run.
TORCH_HANGS = {
    "max_pool1d kernel=2147483647 padding=1073741823", "max_pool1d kernel=2147483647 padding=1073741823 ceil_mode",
    "max_pool1d kernel=2147483648 padding=1073741824", "max_pool1d kernel=2147483648 padding=1073741824 ceil_mode",
    "max_pool1d kernel=1099511627776", "max_pool1d kernel=1099511627776 padding=549755813888",
    "max_pool1d kernel=1099511627776 padding=549755813888 ceil_mode", "max_pool1d stride=1099511627776 ceil_mode",
    "max_pool1d dilation=1099511627776", "max_pool1d kernel=4611686018427387904",
    "max_pool1d kernel=4611686018427387904 padding=2305843009213693952",
    "max_pool1d kernel=4611686018427387904 padding=2305843009213693952 ceil_mode",
    "lp_pool1d stride=4611686018427387904", "max_pool2d kernel=2147483647 padding=1073741823",
    "max_pool2d kernel=2147483647 padding=1073741823 ceil_mode", "max_pool3d kernel=2147483647 padding=1073741823",
    "max_pool3d kernel=2147483647 padding=1073741823 ceil_mode",
}


def cases():
    """(name, call(F), argument the message must name) for F = torch.nn.functional or ours."""
    x1, x2, x3 = torch.randn(1, 2, 8), torch.randn(1, 2, 8, 8), torch.randn(1, 2, 4, 5, 6)
    inputs = {1: x1, 2: x2, 3: x3}
    found = []

    def add(name, call, argument):
        found.append((name, call, argument))

    for dims, x in inputs.items():
        for family in ("max_pool", "avg_pool", "lp_pool"):
            fn = f"{family}{dims}d"

            def pool(F, *args, fn=fn, family=family, x=x, **kwargs):
                if family == "lp_pool":
                    return getattr(F, fn)(x, 2.0, *args, **kwargs)
                return getattr(F, fn)(x, *args, **kwargs)

            for k in BIG:
                add(f"{fn} kernel={k}", lambda F, k=k, pool=pool: pool(F, k), "kernel_size")
                if family != "lp_pool":
                    add(f"{fn} kernel={k} padding={k // 2}", lambda F, k=k, pool=pool: pool(F, k, 1, k // 2),
                        "kernel_size")
                    add(f"{fn} kernel={k} padding={k // 2} ceil_mode",
                        lambda F, k=k, pool=pool: pool(F, k, 1, k // 2, ceil_mode=True), "kernel_size")
                add(f"{fn} stride={k}", lambda F, k=k, pool=pool: pool(F, 2, k), "stride")
                add(f"{fn} stride={k} ceil_mode", lambda F, k=k, pool=pool: pool(F, 2, k, ceil_mode=True), "stride")
                if family == "max_pool":
                    add(f"{fn} dilation={k}", lambda F, k=k, pool=pool: pool(F, 2, 1, 1, k), "dilation")
            if family == "max_pool":
                # Windows of under 2^31 taps that still dwarf the input.
                k = {1: 2**30, 2: 2**15, 3: 2**10}[dims]
                add(f"{fn} kernel={k} padding={k // 2}", lambda F, k=k, pool=pool: pool(F, k, 1, k // 2),
                    "kernel_size")
            if family == "avg_pool" and dims > 1:
                for d in (2**62, -(2**62)):
                    add(f"{fn} divisor_override={d}", lambda F, d=d, pool=pool: pool(F, 2, divisor_override=d),
                        "divisor_override")
    for dims, x in inputs.items():
        for family in ("adaptive_avg_pool", "adaptive_max_pool"):
            getattr_name = f"{family}{dims}d"
            fn = getattr_name
            for size in (2**40, 2**62):  # (2^31 would be a real 16 GiB output)
                add(f"{fn} output_size={size}", lambda F, s=size, fn=getattr_name, x=x: getattr(F, fn)(x, s),
                    "output_size")
                add(f"{fn} output_size={size}, empty batch",
                    lambda F, s=size, fn=getattr_name, x=x: getattr(F, fn)(x[:0], s), "output_size")
                if dims > 1:
                    one_big = (size,) + (1,) * (dims - 1)
                    add(f"{fn} output_size={one_big}",
                        lambda F, s=one_big, fn=getattr_name, x=x: getattr(F, fn)(x, s), "output_size")
    for dims, x in ((2, x2), (3, x3)):
        fn = f"fractional_max_pool{dims}d"
        samples = torch.rand(1, 2, dims)
        for size in (2**40, 2**62):
            add(f"{fn} output_size={size}",
                lambda F, s=size, fn=fn, x=x, u=samples: getattr(F, fn)(x, 2, output_size=s, _random_samples=u),
                "output_size")
            add(f"{fn} kernel={size}",
                lambda F, s=size, fn=fn, x=x, u=samples: getattr(F, fn)(x, s, output_size=2, _random_samples=u),
                "kernel_size")
    for dims in (1, 2, 3):
        fn = f"max_unpool{dims}d"
        values = torch.randn((1, 2) + (2,) * dims)
        indices = torch.zeros(values.shape, dtype=torch.long)
        for k in (2**40, 2**62):  # the default output_size, (in - 1) * stride + kernel_size, is huge
            add(f"{fn} kernel_size={k}", lambda F, k=k, fn=fn, v=values, i=indices: getattr(F, fn)(v, i, k),
                "output_size")
    return found


def outcome(call, F):
    start = time.monotonic()
    try:
        result = call(F)
    except Exception as error:  # noqa: BLE001 - reported, judged by the test
        return {"error": type(error).__name__, "message": str(error).split("\n")[0][:400],
                "seconds": time.monotonic() - start}
    tensors = result if isinstance(result, tuple) else (result,)
    summary = [{"shape": list(t.shape), "dtype": str(t.dtype), "values": t.double().flatten()[:64].tolist()
                if t.numel() <= 4096 else None} for t in tensors]
    return {"result": summary, "seconds": time.monotonic() - start}


def main():
    import torch.nn.functional as TF

    import pooling_ext.functional as PF

    for name, call, argument in cases():
        print("START " + name, flush=True)  # the last one printed is the one that hung, if any
        theirs = {"skipped": "torch hangs"} if name in TORCH_HANGS else outcome(call, TF)
        report = {"name": name, "argument": argument, "torch": theirs, "ours": outcome(call, PF)}
        print(json.dumps(report), flush=True)


if __name__ == "__main__":
    sys.exit(main())
