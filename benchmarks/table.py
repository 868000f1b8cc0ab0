"""Markdown table of one or more bench.json runs: per case, the speedup over
torch as median [min-max] across runs, times of the first run, floor
fraction and saved-for-backward bytes.

    python benchmarks/table.py run1/bench.json run2/bench.json
"""
import json
import statistics
import sys


def main(paths):
    runs = [json.load(open(p))["rows"] for p in paths]
    keyed = {}
    for rows in runs:
        for r in rows:
            keyed.setdefault((r["device"], r["dtype"], r["mode"], r["case"]), []).append(r)
    print("| device | dtype | mode | case | ours ms | torch ms | speedup (median [min-max]) | floor | saved MiB ours / torch |")
    print("|---|---|---|---|---:|---:|---|---:|---|")
    slower = 0
    for (device, dtype, mode, case), rows in keyed.items():
        speedups = [r["speedup"] for r in rows]
        first = rows[0]
        median = statistics.median(speedups)
        slower += median < 1
        saved = first.get("saved")
        saved_text = f"{saved['ours'] / 2**20:.1f} / {saved['torch'] / 2**20:.1f}" if saved else ""
        print(f"| {device} | {dtype} | {mode} | {case} | {first['times']['ours'] * 1e3:.3f} | "
              f"{first['times']['torch'] * 1e3:.3f} | {median:.2f}x [{min(speedups):.2f}-{max(speedups):.2f}] | "
              f"{100 * first['floor_fraction']:.0f}% | {saved_text} |")
    print(f"\n{len(keyed)} measurements over {len(runs)} run(s); {slower} with median speedup below 1.")


if __name__ == "__main__":
    main(sys.argv[1:])
