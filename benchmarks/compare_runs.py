"""Two builds of pooling_ext compared through their bench.py runs: per case,
the median over runs of ours' time for each build, and new speed / old speed
(old time / new time). torch's times, measured in the same runs, say how much
of a difference is the machine rather than the code.

    python benchmarks/compare_runs.py --old old1/bench.json old2/bench.json \\
        --new new1/bench.json new2/bench.json [--markdown]
"""
import argparse
import json
import statistics


def times(paths):
    """{(device, dtype, mode, case): ([ours times], [torch times])} over the runs."""
    found = {}
    for path in paths:
        with open(path) as f:
            for row in json.load(f)["rows"]:
                key = (row["device"], row["dtype"], row["mode"], row["case"])
                ours, theirs = found.setdefault(key, ([], []))
                ours.append(row["times"]["ours"])
                theirs.append(row["times"]["torch"])
    return found


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old", nargs="+", required=True)
    parser.add_argument("--new", nargs="+", required=True)
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args(argv)
    old, new = times(args.old), times(args.new)
    rows = []
    for key in sorted(old.keys() & new.keys()):
        old_ours, new_ours = statistics.median(old[key][0]), statistics.median(new[key][0])
        torch_drift = statistics.median(old[key][1]) / statistics.median(new[key][1])
        rows.append((key, old_ours, new_ours, old_ours / new_ours, torch_drift))
    if args.markdown:
        print("| dtype | mode | case | old ms | new ms | new speed / old | torch (same runs) |")
        print("|---|---|---|---:|---:|---:|---:|")
    for (device, dtype, mode, case), old_t, new_t, ratio, drift in rows:
        if args.markdown:
            print(f"| {dtype} | {mode} | {case} | {old_t * 1e3:.3f} | {new_t * 1e3:.3f} | {ratio:.2f}x | {drift:.2f}x |")
        else:
            print(f"{device:4} {dtype:8} {mode:7} {case[:44]:44} {old_t * 1e3:9.3f} {new_t * 1e3:9.3f} "
                  f"{ratio:6.2f}x  (torch {drift:.2f}x)")
    ratios = [r[3] for r in rows]
    below = [r for r in rows if r[3] < 0.9]
    print(f"\n{len(rows)} measurements; new / old speed: median {statistics.median(ratios):.2f}x, "
          f"min {min(ratios):.2f}x; {len(below)} below 0.9x")


if __name__ == "__main__":
    main()
