#!/usr/bin/env python3
"""Tables for scripts/gate-check.sh, from the paired runs it left in OUT. Nothing here
measures: every verdict is `pushbench compare`'s (JSON, default thresholds), every figure is
read from its output.

  gate_tables.py PUSHBENCH OUT AA AB [GATE THRESHOLD ARGUMENTS...]

Each comparison is made with compare's default thresholds and again with the paired CI
gate's (the arguments after AB, e.g. --threshold p99=50% --threshold p999=100%).
"""
import collections
import json
import statistics
import subprocess
import sys


def compare(bin_, *dirs, extra=()):
    """compare's exit code and JSON for the given run directories."""
    p = subprocess.run([bin_, "compare", *dirs, *extra, "--format", "json"], capture_output=True, text=True)
    if p.returncode not in (0, 1):
        sys.exit(f"pushbench compare {' '.join(dirs)}: exit {p.returncode}: {p.stderr.strip()}")
    return p.returncode, json.loads(p.stdout)


def flagged(result):
    """The regressed metrics of one comparison, as `transport metric`."""
    return [f"{r['transport']} {r['metric']}" for r in result["results"] if r["verdict"] == "regression"]


def gate_label(gate):
    """`p99=50%, p999=100%` for `--threshold p99=50% --threshold p999=100%`."""
    return "default, " + ", ".join(a for a in gate if a != "--threshold")


def tally(verdicts):
    """`k of n` runs failing, and which metrics failed how often."""
    failing = sum(1 for code, _ in verdicts if code == 1)
    metrics = collections.Counter(m for _, result in verdicts for m in flagged(result))
    listed = ", ".join(f"{m} ({n})" if n > 1 else m for m, n in metrics.most_common()) or "—"
    return failing, listed


def false_alarms(bin_, out, aa, gate):
    runs = [f"{out}/aa-{i}" for i in range(1, aa + 1)]
    ways = [
        ("paired: `compare aa-i`", [(r,) for r in runs]),
        ("unpaired, same data: `compare aa-i/baseline aa-i/candidate`", [(f"{r}/baseline", f"{r}/candidate") for r in runs]),
        (
            "unpaired across runs, as against a committed baseline: `compare aa-i/baseline aa-(i+1)/candidate`",
            [(f"{runs[i]}/baseline", f"{runs[(i + 1) % aa]}/candidate") for i in range(aa)],
        ),
    ]
    print(f"### False alarms: {aa} A/A paired runs (the same build on both sides)\n")
    print("| comparison | thresholds | runs failing | metrics flagged (in how many runs) |")
    print("|---|---|---:|---|")
    for name, args in ways:
        for label, extra in [("default", ()), (gate_label(gate), gate)]:
            failing, listed = tally([compare(bin_, *a, extra=extra) for a in args])
            print(f"| {name} | {label} | **{failing} of {aa}** | {listed} |")
    print()


def power(bin_, out, ab, gate):
    runs = [f"{out}/ab-{i}" for i in range(1, ab + 1)]
    judged = {
        (way, label): [compare(bin_, *a, extra=extra) for a in args]
        for way, args in [("paired", [(r,) for r in runs]), ("unpaired, same data", [(f"{r}/baseline", f"{r}/candidate") for r in runs])]
        for label, extra in [("default", ()), (gate_label(gate), gate)]
    }
    print(f"### Power: {ab} A/B paired runs (candidate: the `slow-delivery` build)\n")
    print("| run | paired, default thresholds: regressed metrics |")
    print("|---|---|")
    for i, (code, result) in enumerate(judged[("paired", "default")], 1):
        print(f"| ab-{i} | " + ("**fail**: " if code == 1 else "pass: ") + (", ".join(flagged(result)) or "—") + " |")
    print()
    print("| comparison | thresholds | runs flagged | metrics flagged (in how many runs) |")
    print("|---|---|---:|---|")
    for (way, label), verdicts in judged.items():
        failing, listed = tally(verdicts)
        print(f"| {way} | {label} | **{failing} of {ab}** | {listed} |")
    print()
    effect(judged[("paired", "default")], ab)


def effect(paired, ab):
    """What the slowdown did: per transport, the median over the runs of the paired
    estimate of the change (the Hodges–Lehmann estimate of each run's 6 pairs)."""
    metrics = ["server_cpu_s_per_1k_messages", "latency_mean_us", "latency_p50_us", "latency_p99_us"]
    change = collections.defaultdict(list)
    for _, result in paired:
        for r in result["results"]:
            if r["metric"] in metrics and r["change"] is not None:
                change[(r["transport"], r["metric"])].append(r["change"])
    transports = list(dict.fromkeys(t for t, _ in change))
    print(f"What the slowdown did (median over the {ab} runs of each run's paired estimate):\n")
    print("| transport | " + " | ".join(metrics) + " |")
    print("|---|" + "---:|" * len(metrics))
    for t in transports:
        cells = [f"{statistics.median(change[(t, m)]) * 100:+.1f}%" if change[(t, m)] else "—" for m in metrics]
        print(f"| {t} | " + " | ".join(cells) + " |")
    print()


def main():
    bin_, out, aa, ab = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    gate = tuple(sys.argv[5:])
    if aa:
        false_alarms(bin_, out, aa, gate)
    if ab:
        power(bin_, out, ab, gate)


if __name__ == "__main__":
    main()
