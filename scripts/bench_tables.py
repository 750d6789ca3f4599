#!/usr/bin/env python3
"""Tables for scripts/bench.sh, from the files its runs left behind (wrk's output and
pushbench run directories). Nothing here measures: every figure is read from those files.

  bench_tables.py poll OUT ROUNDS        Markdown table: wrk versus pushbench, closed-loop polling
  bench_tables.py probe DIR RATE CODE    one CSV row judging a fan-out run directory
  bench_tables.py fanout CSV GOOD BAD    Markdown table of the fan-out probes and the ceiling
"""
import csv
import os
import re
import statistics
import sys

UNIT_US = {"us": 1.0, "ms": 1e3, "s": 1e6}


def wrk_us(value):
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", value).groups()
    return float(number) * UNIT_US[unit]


def poll(out, rounds):
    rows = []
    for r in range(1, rounds + 1):
        text = open(f"{out}/wrk-{r}.txt").read()
        pct = dict(re.findall(r"^\s+(50|90|99)%\s+(\S+)$", text, re.M))
        rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
        rows.append(("wrk", r, rps, wrk_us(pct["50"]), wrk_us(pct["90"]), wrk_us(pct["99"])))
        s = next(csv.DictReader(open(f"{out}/pushbench-{r}/summary.csv")))
        rows.append(("pushbench", r, int(s["requests"]) / float(s["duration_s"]),
                     float(s["request_p50_us"]), float(s["request_p90_us"]),
                     float(s["request_p99_us"])))
    print("| tool | round | requests/s | p50 µs | p90 µs | p99 µs |")
    print("|---|---:|---:|---:|---:|---:|")
    for tool, r, rps, p50, p90, p99 in rows:
        print(f"| {tool} | {r} | {rps:,.0f} | {p50:,.0f} | {p90:,.0f} | {p99:,.0f} |")
    med = {t: [statistics.median(x[i] for x in rows if x[0] == t) for i in range(2, 6)]
           for t in ("wrk", "pushbench")}
    for tool in ("wrk", "pushbench"):
        rps, p50, p90, p99 = med[tool]
        print(f"| **{tool}** | median | **{rps:,.0f}** | {p50:,.0f} | {p90:,.0f} | {p99:,.0f} |")
    p, w = med["pushbench"], med["wrk"]
    print()
    print(f"pushbench / wrk, medians: requests/s {p[0] / w[0]:.2f}, p50 {p[1] / w[1]:.2f}, "
          f"p90 {p[2] / w[2]:.2f}, p99 {p[3] / w[3]:.2f}")


def probe(run_dir, rate, code):
    """A rate passes when the run judged its phase `ok` (summary.csv's verdict: the
    publisher kept to its schedule, no backlog beyond what the window's edges explain, no
    slow-consumer disconnects, the load generator not saturated; docs/scenarios.md) and
    nothing was lost and no connection failed. A rate past the ceiling is a result, not an
    error: its run completes and says `overloaded` and why. Only a run that failed (the
    server stopped answering) has no summary; its error is recorded instead. A target
    without server figures is judged `unknown` when nothing it can be judged on failed;
    that passes only if its publishes kept to the schedule too (at least 99% of the
    `rate × duration × clients` deliveries due in the window were published: a server
    whose publish answers fall behind has not kept up) and the deliveries are within 1% of
    what was published (no backlog from before the window drained into it)."""
    path = os.path.join(run_dir, "summary.csv")
    rows = list(csv.DictReader(open(path))) if os.path.exists(path) else []
    if not rows:
        err = open(run_dir + ".err").read().strip().replace(",", ";").replace("\n", " ")
        print(f"{rate},,,,,,,,,,,,fail,{err}")
        return
    r = rows[0]
    pub, dlv = int(r["messages_published"]), int(r["messages_delivered"])
    lost, errors = int(r["messages_lost"]), int(r["errors"])
    verdict = r.get("verdict", "")
    # `unknown`: a server that reports no publisher or queue figures (a --target such as
    # nchan), judged on the deliveries owed and the load generator alone, which passed.
    ok = (code == "0" and verdict in ("ok", "unknown") and lost == 0 and errors == 0
          and pub > 0)
    if verdict == "unknown":
        due = float(rate) * float(r["duration_s"]) * int(r["clients"])
        ok = ok and pub >= 0.99 * due and abs(dlv - pub) <= 0.01 * pub
    reasons = r.get("overload_reasons", "").replace(";", " ")
    print(f"{rate},{pub},{dlv},{dlv / float(r['duration_s']):.0f},{lost},{errors},"
          f"{r['latency_p50_us']},{r['latency_p99_us']},{r['server_cpu_s']},"
          f"{r.get('publisher_fell_behind_us', '')},{r.get('loadgen_cpu_share', '')},"
          f"{verdict} {reasons}".rstrip() + f",{'pass' if ok else 'fail'},")


def fanout(path, good, bad):
    rows = sorted(csv.DictReader(open(path)), key=lambda r: float(r["rate"]))
    print("| rate (msg/s) | published | delivered | deliveries/s | lost | errors | p50 ms | p99 ms "
          "| publisher fell behind ms | load-gen CPU | judged | verdict |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|")
    for r in rows:
        if not r["published"]:
            print(f"| {r['rate']} | | | | | | | | | | | fail: {r['error']} |")
            continue
        fell = r["fell_behind_us"]
        fell = f"{int(fell) / 1e3:,.0f}" if fell else "unknown"
        share = f"{float(r['loadgen_cpu_share']) * 100:.0f}%" if r["loadgen_cpu_share"] else ""
        print(f"| {r['rate']} | {int(r['published']):,} | {int(r['delivered']):,} | "
              f"{int(r['delivered_per_s']):,} | {r['lost']} | {r['errors']} | "
              f"{int(r['p50_us']) / 1e3:,.1f} | {int(r['p99_us']) / 1e3:,.1f} | {fell} | {share} | "
              f"{r['judged']} | {r['verdict']} |")
    print()
    if good:
        best = next(r for r in rows if int(r["rate"]) == good)
        print(f"Ceiling: {good} messages/s to 10,000 subscribers "
              f"({int(best['delivered_per_s']):,} deliveries/s) kept up with zero loss"
              + (f"; {bad} messages/s did not." if bad else "."))
    else:
        print("Even the lowest rate tried did not keep up without loss.")


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "poll":
        poll(args[0], int(args[1]))
    elif cmd == "probe":
        probe(*args)
    elif cmd == "fanout":
        fanout(args[0], int(args[1]), int(args[2]))
    else:
        sys.exit(f"bench_tables.py: unknown command {cmd!r}")
