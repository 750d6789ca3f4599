#!/usr/bin/env bash
# pushbench's server and nginx + nchan side by side (docs/targets.md): each scenario runs
# against targets/pushbench.toml and targets/nchan.toml, ROUNDS times, alternating which
# goes first (pushbench in odd rounds, nchan in even ones), through the same generic clients
# and the same publisher, with --pin (server on the first half of the CPUs, load generator
# on the rest). One Markdown table compares them transport by transport: the median of the
# rounds for each figure, the sum of the rounds for lost and errors. Every round's row is in
# OUT_DIR/rounds.csv.
#
#   scripts/targets-bench.sh [OUT_DIR] [SCENARIO...]    env: ROUNDS=2 MAX_PAIRS
#       default scenarios: scenarios/fanout-1k.toml scenarios/scale-10k.toml
#
# A run whose directory holds a complete summary.csv is kept, so the script picks up where
# it stopped; MAX_PAIRS=N stops it after N new pairs (one scenario against both servers in
# one round), to split a long measurement into short ones. The table is written once every
# run is there.
#
# Installs nginx and the nchan module when missing (scripts/install-nchan.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

out=${1:-results/targets-bench-$(date -u +%Y%m%dT%H%M%SZ)}
shift || true
scenarios=("$@")
[ ${#scenarios[@]} -gt 0 ] || scenarios=(scenarios/fanout-1k.toml scenarios/scale-10k.toml)
rounds=${ROUNDS:-2}
max_pairs=${MAX_PAIRS:-}
mkdir -p "$out"

scripts/install-nchan.sh
cargo build --release -q -p pushbench
bin=target/release/pushbench

done_run() { # DIR: the run finished every phase
  [ -f "$1/meta.json" ] && python3 -c 'import json, sys; sys.exit(0 if json.load(open(sys.argv[1]))["completed"] else 1)' "$1/meta.json"
}

pairs=0
for r in $(seq "$rounds"); do
  order=(pushbench nchan)
  [ $((r % 2)) = 1 ] || order=(nchan pushbench)
  for scenario in "${scenarios[@]}"; do
    name=$(basename "$scenario" .toml)
    done_run "$out/$name-${order[0]}-$r" && done_run "$out/$name-${order[1]}-$r" && continue
    if [ -n "$max_pairs" ] && [ "$pairs" -ge "$max_pairs" ]; then
      echo "targets-bench: stopped after $pairs pairs (MAX_PAIRS); run it again to go on" >&2
      exit 0
    fi
    for target in "${order[@]}"; do
      dir=$out/$name-$target-$r
      echo "targets-bench: round $r/$rounds, $name against $target" >&2
      rm -rf "$dir"
      "$bin" run "$scenario" --target "targets/$target.toml" --pin --quiet --out "$dir"
    done
    pairs=$((pairs + 1))
  done
done

python3 - "$out" "$rounds" "${scenarios[@]}" <<'EOF' | tee "$out/targets.md"
import csv, os, statistics, sys

out, rounds, scenarios = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
servers = ("pushbench", "nchan")
with open(f"{out}/rounds.csv", "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["scenario", "transport", "clients", "server", "round", "delivered", "lost",
                "errors", "p50_ms", "p99_ms", "bytes_per_message", "cpu_ms_per_1000",
                "rss_per_connection_kib"])
    table = []
    for scenario in scenarios:
        name = os.path.basename(scenario)[:-len(".toml")]
        runs = {(t, r): list(csv.DictReader(open(f"{out}/{name}-{t}-{r}/summary.csv")))
                for t in servers for r in range(1, rounds + 1)}
        for i, first in enumerate(runs[("pushbench", 1)]):
            for t in servers:
                figures = []
                for r in range(1, rounds + 1):
                    row = runs[(t, r)][i]
                    assert row["transport"] == first["transport"], (name, t, r)
                    delivered = int(row["messages_delivered"])
                    rss = row.get("server_rss_per_connection_bytes") or "nan"
                    fig = [delivered, int(row["messages_lost"]), int(row["errors"]),
                           int(row["latency_p50_us"]) / 1e3, int(row["latency_p99_us"]) / 1e3,
                           float(row["bytes_per_message"]),
                           float(row["server_cpu_s"]) * 1e6 / delivered if delivered else float("nan"),
                           float(rss) / 1024]
                    w.writerow([name, row["transport"], row["clients"], t, r] + fig)
                    figures.append(fig)
                med = [statistics.median(c) for c in zip(*figures)]
                lost, errors = (sum(f[k] for f in figures) for k in (1, 2))
                table.append(f"| {name} | {first['transport']} | {int(first['clients']):,} | {t} | "
                             f"{med[0]:,.0f} | {lost} | {errors} | {med[3]:,.2f} | {med[4]:,.2f} | "
                             f"{med[5]:,.1f} | {med[6]:,.1f} | {med[7]:,.1f} KiB |")
print(f"Medians of {rounds} rounds (lost and errors: summed over the rounds); each round in rounds.csv.")
print()
print("| scenario | transport | clients | server | delivered | lost | errors | p50 ms | p99 ms | bytes/msg | server CPU ms per 1,000 msgs | server RSS per connection |")
print("|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|")
print("\n".join(table))
EOF
echo "targets-bench: everything is in $out" >&2
