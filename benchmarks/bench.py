"""pooling_ext against the two rivals users have, side by side in one process.

For each registry case, device and dtype, three sides are timed in
interleaved rounds (torch.utils.benchmark, median, at the process's thread
count on every side):
  ours       pooling_ext's functional
  torch      torch's built-in, eager
  compiled   torch.compile of torch's built-in (default mode, static shapes,
             warmed up before timing); for LP and GeM the composite torch
             users write, compiled
Forward rows are inference (under no_grad); forward+backward rows are a
training step: the forward (compiled, for the compiled rival), then
torch.autograd.grad. Each row also gives the memory floor at the case's own
footprint: the bytes the case must move (input + output for the forward,
twice that for forward+backward) over the bandwidth of a copy of the input
tensor into a ready buffer, measured in the same run (a cache-resident case
is judged against a cache-resident copy). --runs repeats the whole
measurement; rows report the median over runs and the spread. Every result
is checked against torch. Writes a table to stdout, JSON and a PNG chart to
--out.

    python benchmarks/bench.py --preset short --runs 3
"""
import argparse
import json
import math
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
SIDES = ("ours", "torch", "compiled")


def synchronize(device):
    if device == "cuda":
        torch.cuda.synchronize()


def timer_seconds(fn, args, min_time):
    # Timer runs single-threaded unless told: time at the thread count users get.
    timer = tb.Timer("fn(*args)", globals=dict(fn=fn, args=args), num_threads=torch.get_num_threads())
    return timer.blocked_autorange(min_run_time=min_time).median


class FootprintBandwidth:
    """Bytes read plus written per second by a copy of a tensor of the given
    size and dtype into a ready buffer, measured once per footprint."""

    def __init__(self, device):
        self.device = device
        self.measured = {}

    def __call__(self, numel, dtype):
        key = (numel, dtype)
        if key not in self.measured:
            src = torch.randn(numel, device=self.device).to(dtype)
            dst = torch.empty_like(src)
            copy = dst.copy_
            dst.copy_(src)  # first touch outside the timing
            synchronize(self.device)
            seconds = min(timer_seconds(copy, (src,), 0.1) for _ in range(3))
            self.measured[key] = 2 * numel * src.element_size() / seconds
        return self.measured[key]


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


def inference(fn):
    def run(*inputs):
        with torch.no_grad():
            return fn(*inputs)
    return run


def training_step(fn, grad):
    # autograd.grad, not backward(): the gradient is returned as it is for a
    # layer inside a network, not added into a leaf's .grad (an extra pass over
    # the input that is not pooling's work).
    def run(*inputs):
        out = fn(*inputs)
        return torch.autograd.grad(out, [x for x in inputs if x.requires_grad], grad)
    return run


def compiled(fn):
    # One graph per (case, dtype, mode), static shapes. Every wrapper shares
    # this lambda's code object, whose graphs count against dynamo's
    # recompile limit: raised (main) so that none falls back to eager.
    return torch.compile(lambda *inputs: fn(*inputs), dynamic=False)


def check(ours_out, torch_out, case, dtype, what):
    if isinstance(torch_out, (tuple, list)):
        ours_out, torch_out = ours_out[0], torch_out[0]
    ours_out, torch_out = torch.nan_to_num(ours_out.float()), torch.nan_to_num(torch_out.float())
    if case.rtol == 0 and what == "torch":
        same = torch.equal(ours_out, torch_out)
    else:  # sums in another order (inductor's gradients too); half / bfloat16 round differently
        rtol = max(case.rtol, 1e-5 if what == "torch" else 1e-4) if dtype in (torch.float32, torch.float64) else 2e-2
        same = torch.allclose(ours_out, torch_out, rtol=rtol, atol=rtol)
    if same:
        return
    if what == "torch":
        raise AssertionError(f"{case.name}: result differs from {what}")
    # The compiled rival is timed, not trusted: inductor's bfloat16 gradients round differently.
    print(f"note: {case.name} {dtype}: differs from {what} by up to "
          f"{(ours_out - torch_out).abs().max().item():.3g}", file=sys.stderr)


class Measurement:
    """One (case, device, dtype, mode): its three timed functions, inputs and floor bytes."""

    def __init__(self, case, device, dtype, mode, fns, inputs, floor_bytes, copy_bandwidth, saved=None):
        self.key = dict(case=case.name, family=case.family, device=device, dtype=str(dtype).replace("torch.", ""),
                        mode=mode, shape=list(inputs[0].shape))
        self.fns, self.inputs = fns, inputs
        self.floor_bytes, self.copy_bandwidth, self.saved = floor_bytes, copy_bandwidth, saved
        self.samples = {side: [] for side in fns}  # per run: the median over its rounds

    def time_run(self, device, rounds, min_time):
        per_round = {side: [] for side in self.fns}
        for _ in range(rounds):
            for side, fn in self.fns.items():
                synchronize(device)
                per_round[side].append(timer_seconds(fn, self.inputs, min_time))
        for side, values in per_round.items():
            self.samples[side].append(statistics.median(values))

    def row(self):
        times = {side: statistics.median(v) for side, v in self.samples.items()}
        floor_seconds = self.floor_bytes / self.copy_bandwidth
        row = dict(self.key, times=times, runs={s: v for s, v in self.samples.items()},
                   floor_bytes=self.floor_bytes, copy_bandwidth=self.copy_bandwidth,
                   speedup=times["torch"] / times["ours"],
                   floor_fraction={side: floor_seconds / t for side, t in times.items()})
        if "compiled" in times:
            row["speedup_compiled"] = times["compiled"] / times["ours"]
        if self.saved:
            row["saved"] = self.saved
        return row


def prepare_case(case, device, dtype, bandwidth, with_compiled):
    """The case's measurements (forward, and forward+backward where it has one), results checked."""
    batch = case.cpu_batch if device == "cpu" else None
    inputs = case.inputs(device, dtype, batch)
    with torch.no_grad():
        ours_out, torch_out = case.ours(*inputs), case.theirs(*inputs)
    check(ours_out, torch_out, case, dtype, "torch")
    elem = inputs[0].element_size()
    in_bytes, out_bytes = inputs[0].numel() * elem, ours_out.numel() * elem
    copy_bw = bandwidth(inputs[0].numel(), dtype)

    fns = {"ours": inference(case.ours), "torch": inference(case.theirs)}
    if with_compiled:
        fns["compiled"] = inference(compiled(case.theirs))
        check(fns["ours"](*inputs), fns["compiled"](*inputs), case, dtype, "torch.compile")
    measurements = [Measurement(case, device, dtype, "forward", fns, inputs, in_bytes + out_bytes, copy_bw)]

    if case.backward and dtype.is_floating_point:
        # The gradient flows to the pooled input (the first); others (indices, random samples) are constants.
        grad_inputs = (inputs[0].detach().requires_grad_(),) + tuple(inputs[1:])
        grad = torch.randn_like(ours_out)
        fns = {"ours": training_step(case.ours, grad), "torch": training_step(case.theirs, grad)}
        if with_compiled:
            fns["compiled"] = training_step(compiled(case.theirs), grad)
            check(fns["ours"](*grad_inputs)[0], fns["compiled"](*grad_inputs)[0], case, dtype,
                  "torch.compile's gradient")
        saved = {"ours": saved_bytes(case.ours, grad_inputs), "torch": saved_bytes(case.theirs, grad_inputs)}
        # forward (in + out) and backward (grad_out read + grad_in written)
        measurements.append(Measurement(case, device, dtype, "fwd+bwd", fns, grad_inputs,
                                        2 * (in_bytes + out_bytes), copy_bw, saved))
    for m in measurements:  # warm-up: compile, first-touch allocations
        for fn in m.fns.values():
            for _ in range(3):
                fn(*m.inputs)
    return measurements


def print_row(r):
    times, ff = r["times"], r["floor_fraction"]
    compiled_text = (f"{times['compiled'] * 1e3:9.3f} {r['speedup_compiled']:6.2f}x"
                     if "compiled" in times else f"{'-':>9} {'-':>7}")
    spread = r["runs"]["ours"]
    print(f"{r['device']:4} {r['dtype']:8} {r['mode']:7} {r['case'][:42]:42} {times['ours'] * 1e3:9.3f} "
          f"{times['torch'] * 1e3:9.3f} {r['speedup']:6.2f}x {compiled_text} {100 * ff['ours']:5.0f}% "
          f"(ours {min(spread) * 1e3:.3f}-{max(spread) * 1e3:.3f})", flush=True)


def chart(rows, path):
    """One panel per device x dtype x mode: log-scale speedup of ours over each
    rival, cases grouped by family."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not installed: no chart", file=sys.stderr)
        return
    panels = {}
    for r in rows:
        panels.setdefault((r["device"], r["dtype"], r["mode"]), []).append(r)
    keys = sorted(panels, key=lambda k: (k[0], k[1], k[2] != "forward"))
    columns = 2
    lines = (len(keys) + columns - 1) // columns
    most = max(len(v) for v in panels.values())
    fig, axes = plt.subplots(lines, columns, figsize=(16, lines * (0.16 * most + 1.2)), squeeze=False)
    for ax, key in zip(axes.flat, keys):
        panel = sorted(panels[key], key=lambda r: (r["family"], r["case"]))
        y = range(len(panel))
        for offset, rival, field, color in ((-0.2, "eager torch", "speedup", "tab:blue"),
                                            (0.2, "torch.compile", "speedup_compiled", "tab:orange")):
            values = [r.get(field, float("nan")) for r in panel]
            ax.barh([i + offset for i in y], values, height=0.4, color=color, label=f"vs {rival}", log=True)
        ax.axvline(1.0, color="black", linewidth=0.8)
        ax.set_yticks(list(y), [f"{r['family']}: {r['case']}" for r in panel], fontsize=6)
        ax.invert_yaxis()
        ax.set_xscale("log")
        ax.set_title(" ".join(key), fontsize=9)
        ax.tick_params(axis="x", labelsize=7)
        ax.legend(fontsize=6, loc="lower right")
    for ax in list(axes.flat)[len(keys):]:
        ax.axis("off")
    fig.suptitle(f"pooling_ext speedup (log scale, >1 is faster) — torch {torch.__version__}, "
                 f"{torch.get_num_threads()} threads", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def geomean(values):
    values = [v for v in values if v and v > 0 and math.isfinite(v)]
    return math.exp(sum(map(math.log, values)) / len(values)) if values else float("nan")


def summarize(rows):
    groups = {}
    for r in rows:
        groups.setdefault((r["device"], r["dtype"], r["mode"]), []).append(r)
    print("\nsummary (median over runs):")
    for (device, dtype, mode), group in sorted(groups.items()):
        fractions = [r["floor_fraction"]["ours"] for r in group]
        text = (f"{device} {dtype:8} {mode:7}: vs eager geomean {geomean(r['speedup'] for r in group):.2f}x "
                f"(min {min(r['speedup'] for r in group):.2f}x)")
        with_compiled = [r for r in group if "speedup_compiled" in r]
        if with_compiled:
            text += (f", vs compiled geomean {geomean(r['speedup_compiled'] for r in with_compiled):.2f}x "
                     f"(min {min(r['speedup_compiled'] for r in with_compiled):.2f}x)")
        text += f"; floor median {100 * statistics.median(fractions):.0f}% (min {100 * min(fractions):.0f}%)"
        print(text)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", choices=sorted(PRESETS), default="short")
    parser.add_argument("--runs", type=int, default=1, help="whole measurements; rows give the median over them")
    parser.add_argument("--device", choices=["auto", "cpu", "cuda", "all"], default="auto",
                        help="auto: CUDA when present, else CPU")
    parser.add_argument("--dtype", nargs="+", default=["float32", "bfloat16"])
    parser.add_argument("--family", nargs="*", help="only these families (max, unpool, ...)")
    parser.add_argument("--filter", default="", help="only cases whose name contains this")
    parser.add_argument("--no-compile", action="store_true", help="leave out the torch.compile rival")
    parser.add_argument("--out", default="bench_out")
    args = parser.parse_args(argv)
    for limit in ("recompile_limit", "accumulated_recompile_limit", "cache_size_limit"):
        if hasattr(torch._dynamo.config, limit):
            setattr(torch._dynamo.config, limit, 4096)

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
    start = time.time()
    measurements = []
    for device in devices:
        bandwidth = FootprintBandwidth(device)
        for dtype in dtypes:
            for case in cases:
                try:
                    measurements += prepare_case(case, device, dtype, bandwidth, not args.no_compile)
                except NotImplementedError as error:  # e.g. torch has no CPU bfloat16 avg_pool3d
                    print(f"{device:4} {str(dtype).replace('torch.', ''):8} {'skipped':7} {case.name[:42]:42} "
                          f"torch: {str(error).splitlines()[0][:60]}", flush=True)
        print(f"[{len(measurements)} measurements prepared (compiled, warmed up), {time.time() - start:.0f}s]",
              file=sys.stderr, flush=True)
    for run in range(args.runs):
        for i, m in enumerate(measurements):
            m.time_run(m.key["device"], **PRESETS[args.preset])
            if (i + 1) % 10 == 0:
                print(f"  [run {run + 1}/{args.runs}: {i + 1}/{len(measurements)}, {time.time() - start:.0f}s]",
                      file=sys.stderr, flush=True)
    rows = [m.row() for m in measurements]
    print(f"\n{'dev':4} {'dtype':8} {'mode':7} {'case':42} {'ours ms':>9} {'torch ms':>9} {'vs eag':>7} "
          f"{'comp ms':>9} {'vs comp':>7} {'floor':>6}")
    for row in rows:
        print_row(row)
    summarize(rows)
    summary = {
        "info": info, "preset": args.preset, "runs": args.runs, "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "devices": {d: (torch.cuda.get_device_name() if d == "cuda" else platform.processor()) for d in devices},
        "rows": rows,
    }
    with open(os.path.join(args.out, "bench.json"), "w") as f:
        json.dump(summary, f, indent=1)
    chart(rows, os.path.join(args.out, "bench.png"))
    print(f"\n{len(rows)} measurements; {sum(r['speedup'] < 1 for r in rows)} slower than eager torch, "
          f"{sum(r.get('speedup_compiled', 1) < 1 for r in rows)} slower than torch.compile; "
          f"results in {args.out}/bench.json, chart in {args.out}/bench.png")


if __name__ == "__main__":
    main()
