"""Markdown table of bench.py results: per case, ours / eager torch /
torch.compile times (median over runs), the speedups over both rivals as
median [min-max] across runs, ours' floor fraction, and saved-for-backward
bytes. Takes one bench.json made with --runs N, or several single-run files.

    python benchmarks/table.py bench_out/bench.json
"""
import json
import math
import statistics
import sys


def per_run_times(paths):
    """{(device, dtype, mode, case): (first row, {side: [seconds per run]})}"""
    keyed = {}
    for path in paths:
        with open(path) as f:
            for r in json.load(f)["rows"]:
                key = (r["device"], r["dtype"], r["mode"], r["case"])
                first, runs = keyed.setdefault(key, (r, {}))
                for side, values in r.get("runs", {s: [t] for s, t in r["times"].items()}).items():
                    runs.setdefault(side, []).extend(values)
    return keyed


def spread(values):
    return f"{statistics.median(values):.2f}x [{min(values):.2f}-{max(values):.2f}]"


def geomean(values):
    return math.exp(sum(map(math.log, values)) / len(values))


def main(paths):
    keyed = per_run_times(paths)
    print("| device | dtype | mode | case | ours ms | eager ms | compiled ms | vs eager | vs compiled | floor | "
          "saved MiB ours / torch |")
    print("|---|---|---|---|---:|---:|---:|---|---|---:|---|")
    summary = {}
    for (device, dtype, mode, case), (first, runs) in keyed.items():
        median = {side: statistics.median(v) for side, v in runs.items()}
        vs_eager = [t / o for t, o in zip(runs["torch"], runs["ours"])]
        vs_compiled = [t / o for t, o in zip(runs["compiled"], runs["ours"])] if "compiled" in runs else None
        floor = first["floor_bytes"] / first["copy_bandwidth"] / median["ours"]
        saved = first.get("saved")
        saved_text = f"{saved['ours'] / 2**20:.1f} / {saved['torch'] / 2**20:.1f}" if saved else ""
        compiled_ms = f"{median['compiled'] * 1e3:.3f}" if vs_compiled else "-"
        print(f"| {device} | {dtype} | {mode} | {case} | {median['ours'] * 1e3:.3f} | {median['torch'] * 1e3:.3f} | "
              f"{compiled_ms} | {spread(vs_eager)} | {spread(vs_compiled) if vs_compiled else '-'} | "
              f"{100 * floor:.0f}% | {saved_text} |")
        group = summary.setdefault((device, dtype, mode), {"eager": [], "compiled": [], "floor": []})
        group["eager"].append(statistics.median(vs_eager))
        if vs_compiled:
            group["compiled"].append(statistics.median(vs_compiled))
        group["floor"].append(floor)
    print("\n| device | dtype | mode | vs eager: geomean (min) | vs compiled: geomean (min) | floor: median (min) |")
    print("|---|---|---|---|---|---|")
    for (device, dtype, mode), g in sorted(summary.items()):
        compiled = f"{geomean(g['compiled']):.2f}x ({min(g['compiled']):.2f}x)" if g["compiled"] else "-"
        print(f"| {device} | {dtype} | {mode} | {geomean(g['eager']):.2f}x ({min(g['eager']):.2f}x) | {compiled} | "
              f"{100 * statistics.median(g['floor']):.0f}% ({100 * min(g['floor']):.0f}%) |")


if __name__ == "__main__":
    main(sys.argv[1:])
