"""pooling_ext vs torch, side by side in one process.

For each registry case, device and dtype: forward and forward+backward times
of ours and torch (torch.utils.benchmark, interleaved rounds, median), the
speedup, the fraction of the memory-bandwidth floor reached (bytes that must
move over the bandwidth of a large copy measured in the same run), and the
bytes each side saves for backward. Every result is checked against torch.
Writes a table to stdout, JSON and a PNG chart to --out.

    python benchmarks/bench.py --preset short
"""
import argparse
import json
import os
import platform
import statistics
import sys
import time

import torch
import torch.utils.benchmark as tb

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.dirname(HERE)]  # the registry; the source tree
import pooling_ext  # noqa: E402
from registry import CASES  # noqa: E402

PRESETS = {
    # rounds of interleaved timing, minimum seconds per measurement
    "short": dict(rounds=3, min_time=0.05),
    "full": dict(rounds=7, min_time=0.2),
}


def synchronize(device):
    if device == "cuda":
        torch.cuda.synchronize()


def copy_bandwidth(device):
    """Bytes read plus written per second by a large tensor copy."""
    n = (256 if device == "cpu" else 1024) * 2**20 // 4
    src = torch.randn(n, device=device)
    dst = torch.empty_like(src)
    timer = tb.Timer("dst.copy_(src)", globals=dict(dst=dst, src=src), num_threads=torch.get_num_threads())
    seconds = timer.blocked_autorange(min_run_time=0.3).median
    return 2 * src.numel() * src.element_size() / seconds


def saved_bytes(fn, inputs):
    """Bytes of distinct storages autograd saves for backward."""
    storages = {}

    def pack(t):
        if isinstance(t, torch.Tensor):
            s = t.untyped_storage()
            storages[(s.data_ptr(), t.device)] = s.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn(*inputs)
    return sum(storages.values())


def fwd_bwd(fn, grad):
    # autograd.grad, not backward(): the gradient is returned as it is for a
    # layer inside a network, not added into a leaf's .grad (an extra pass over
    # the input that is not pooling's work).
    def run(*inputs):
        out = fn(*inputs)
        torch.autograd.grad(out, [x for x in inputs if x.requires_grad], grad)
    return run


def time_pair(ours, theirs, args, device, rounds, min_time):
    """Median seconds of ours and torch, measured in alternating rounds."""
    results = {"ours": [], "torch": []}
    for _ in range(rounds):
        for side, fn in (("ours", ours), ("torch", theirs)):
            synchronize(device)
            # Timer runs single-threaded unless told: time at the thread count users get.
            timer = tb.Timer("fn(*args)", globals=dict(fn=fn, args=args), num_threads=torch.get_num_threads())
            results[side].append(timer.blocked_autorange(min_run_time=min_time).median)
    return {side: statistics.median(v) for side, v in results.items()}, results


def check(ours_out, torch_out, case, dtype):
    if isinstance(torch_out, tuple):
        ours_out, torch_out = ours_out[0], torch_out[0]
    ours_out, torch_out = torch.nan_to_num(ours_out.float()), torch.nan_to_num(torch_out.float())
    if case.rtol == 0:
        same = torch.equal(ours_out, torch_out)
    else:  # half / bfloat16 round differently when sums run in another order
        rtol = case.rtol if dtype in (torch.float32, torch.float64) else 2e-2
        same = torch.allclose(ours_out, torch_out, rtol=rtol, atol=rtol)
    if not same:
        raise AssertionError(f"{case.name}: result differs from torch")


def run_case(case, device, dtype, preset, bandwidth):
    batch = case.cpu_batch if device == "cpu" else None
    inputs = case.inputs(device, dtype, batch)
    elem = inputs[0].element_size()
    with torch.no_grad():
        ours_out, torch_out = case.ours(*inputs), case.theirs(*inputs)
    check(ours_out, torch_out, case, dtype)
    out_bytes = ours_out.numel() * elem
    in_bytes = inputs[0].numel() * elem
    rows = []
    t, spread = time_pair(case.ours, case.theirs, inputs, device, **preset)
    rows.append(dict(mode="forward", floor_bytes=in_bytes + out_bytes, times=t, spread=spread))
    if case.backward and dtype.is_floating_point:
        # The gradient flows to the pooled input (the first); others (indices, random samples) are constants.
        grad_inputs = (inputs[0].detach().requires_grad_(),) + tuple(inputs[1:])
        grad = torch.randn_like(ours_out)
        ours_fb, torch_fb = fwd_bwd(case.ours, grad), fwd_bwd(case.theirs, grad)
        t, spread = time_pair(ours_fb, torch_fb, grad_inputs, device, **preset)
        saved = {"ours": saved_bytes(case.ours, grad_inputs), "torch": saved_bytes(case.theirs, grad_inputs)}
        # forward (in + out) and backward (grad_out read + grad_in written)
        rows.append(dict(mode="fwd+bwd", floor_bytes=2 * (in_bytes + out_bytes), times=t, spread=spread,
                         saved=saved))
    for row in rows:
        row.update(case=case.name, family=case.family, device=device, dtype=str(dtype).replace("torch.", ""),
                   shape=list(inputs[0].shape), speedup=row["times"]["torch"] / row["times"]["ours"],
                   floor_fraction=row["floor_bytes"] / bandwidth / row["times"]["ours"],
                   torch_floor_fraction=row["floor_bytes"] / bandwidth / row["times"]["torch"])
    return rows


def print_row(r):
    saved = r.get("saved")
    saved_text = f"{saved['ours'] / 2**20:8.1f} / {saved['torch'] / 2**20:8.1f}" if saved else " " * 19
    spread = r["spread"]["ours"]
    print(f"{r['device']:4} {r['dtype']:8} {r['mode']:7} {r['case'][:44]:44} "
          f"{r['times']['ours'] * 1e3:9.3f} {r['times']['torch'] * 1e3:9.3f} {r['speedup']:6.2f}x "
          f"{100 * r['floor_fraction']:5.0f}% {saved_text}  (ours {min(spread) * 1e3:.3f}-{max(spread) * 1e3:.3f})",
          flush=True)


def chart(rows, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not installed: no chart", file=sys.stderr)
        return
    labels = [f"{r['device']} {r['dtype']} {r['mode']}\n{r['case']}" for r in rows]
    fig, ax = plt.subplots(figsize=(10, 0.32 * len(rows) + 1.5))
    ax.barh(range(len(rows)), [r["speedup"] for r in rows],
            color=["tab:green" if r["speedup"] >= 1 else "tab:red" for r in rows])
    ax.axvline(1.0, color="black", linewidth=0.8)
    ax.set_yticks(range(len(rows)), labels, fontsize=6)
    ax.invert_yaxis()
    ax.set_xlabel("speedup over torch (higher is better)")
    ax.set_title("pooling_ext vs torch " + torch.__version__)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", choices=sorted(PRESETS), default="short")
    parser.add_argument("--device", choices=["auto", "cpu", "cuda", "all"], default="auto",
                        help="auto: CUDA when present, else CPU")
    parser.add_argument("--dtype", nargs="+", default=["float32", "bfloat16"])
    parser.add_argument("--family", nargs="*", help="only these families (max, unpool, ...)")
    parser.add_argument("--filter", default="", help="only cases whose name contains this")
    parser.add_argument("--out", default="bench_out")
    args = parser.parse_args(argv)

    if args.device == "auto":
        devices = ["cuda"] if torch.cuda.is_available() else ["cpu"]
    elif args.device == "all":
        devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    else:
        devices = [args.device]
    dtypes = [getattr(torch, d) for d in args.dtype]
    cases = [c for c in CASES if (not args.family or c.family in args.family) and args.filter in c.name]
    os.makedirs(args.out, exist_ok=True)
    info = pooling_ext.info()
    print(f"pooling_ext {info['version']}  torch {torch.__version__}  threads {torch.get_num_threads()}  "
          f"cpu {info['cpu_capability']}  {platform.processor() or platform.machine()}")
    rows = []
    total = len(devices) * len(dtypes) * len(cases)
    done = 0
    start = time.time()
    for device in devices:
        bandwidth = copy_bandwidth(device)
        name = torch.cuda.get_device_name() if device == "cuda" else f"CPU x{torch.get_num_threads()}"
        print(f"\n{device}: {name}; copy bandwidth {bandwidth / 1e9:.1f} GB/s (read + write)")
        print(f"{'dev':4} {'dtype':8} {'mode':7} {'case':44} {'ours ms':>9} {'torch ms':>9} {'speed':>7} "
              f"{'floor':>6} {'saved MiB ours / torch':>19}")
        for dtype in dtypes:
            for case in cases:
                done += 1
                try:
                    case_rows = run_case(case, device, dtype, PRESETS[args.preset], bandwidth)
                except NotImplementedError as error:  # e.g. torch has no CPU bfloat16 avg_pool3d
                    print(f"{device:4} {str(dtype).replace('torch.', ''):8} {'skipped':7} {case.name[:44]:44} "
                          f"torch: {str(error).splitlines()[0][:60]}", flush=True)
                    continue
                for row in case_rows:
                    row["bandwidth"] = bandwidth
                    rows.append(row)
                    print_row(row)
                print(f"  [{done}/{total} cases, {time.time() - start:.0f}s]", file=sys.stderr, flush=True)
    summary = {
        "info": info, "preset": args.preset, "torch": torch.__version__,
        "devices": {d: (torch.cuda.get_device_name() if d == "cuda" else platform.processor()) for d in devices},
        "rows": rows,
    }
    with open(os.path.join(args.out, "bench.json"), "w") as f:
        json.dump(summary, f, indent=1)
    chart(rows, os.path.join(args.out, "bench.png"))
    slower = [r for r in rows if r["speedup"] < 1]
    print(f"\n{len(rows)} measurements; {len(slower)} slower than torch; results in {args.out}/bench.json, "
          f"chart in {args.out}/bench.png")


if __name__ == "__main__":
    main()
