#!/usr/bin/env bash
# What link emulation costs the load generator (docs/benchmarks.md, "Link emulation"):
# scenarios/bench-link-10k.toml (10,000 WebSocket subscribers over an emulated 100 ms round
# trip) and the same scenario without its [network] table, run alternately (A B B A ...,
# so a drift of the machine's speed hits both), server and load generator on CPUs of their
# own (--pin). Prints each run's load-generator CPU per 1,000 delivered messages, its RSS
# per connection and the latency, the medians of each side and their ratios.
#
#   scripts/bench-link.sh [OUT_DIR]        env: ROUNDS=3 RATE=5
#
# Loopback only; about 30 s per run.
set -euo pipefail
cd "$(dirname "$0")/.."

rounds=${ROUNDS:-3}
rate=${RATE:-5}
out=${1:-results/bench-link-$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$out"
cargo build --release -q -p pushbench
bin=target/release/pushbench

sed -e "s/^rate = .*/rate = $rate/" scenarios/bench-link-10k.toml >"$out/emulated.toml"
# The same scenario without its [network] table (from that line to the next table).
awk '/^\[network\]/{skip=1; next} /^\[/{skip=0} !skip' "$out/emulated.toml" \
  | sed -e 's/^name = .*/name = "bench-link-10k-plain"/' >"$out/plain.toml"

pin=()
[ "$(nproc)" -ge 2 ] && pin=(--pin)
for r in $(seq "$rounds"); do
  # A B, then B A: a linear drift cancels over each pair of rounds.
  order=(plain emulated)
  [ $((r % 2)) -eq 0 ] && order=(emulated plain)
  for side in "${order[@]}"; do
    echo "bench-link: round $r/$rounds, $side" >&2
    "$bin" run "$out/$side.toml" "${pin[@]}" --quiet --out "$out/$side-$r"
  done
done
python3 - "$out" "$rounds" <<'PY'
import csv, statistics, sys
out, rounds = sys.argv[1], int(sys.argv[2])
rows = {}
print("| side | round | delivered | loadgen CPU s | CPU ms per 1,000 msg | loadgen share | RSS per conn KB | p50 ms | p99 ms | lost | errors |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for side in ("plain", "emulated"):
    for r in range(1, rounds + 1):
        s = next(csv.DictReader(open(f"{out}/{side}-{r}/summary.csv")))
        d = int(s["messages_delivered"])
        cpu = float(s["loadgen_cpu_s"])
        v = (cpu / d * 1e6, int(s["loadgen_rss_per_connection_bytes"]) / 1000,
             int(s["latency_p50_us"]) / 1000, int(s["latency_p99_us"]) / 1000)
        rows.setdefault(side, []).append(v)
        print(f"| {side} | {r} | {d:,} | {cpu:.2f} | {v[0]:.3f} | {float(s['loadgen_cpu_share']):.2f} "
              f"| {v[1]:.1f} | {v[2]:.1f} | {v[3]:.1f} | {s['messages_lost']} | {s['errors']} |")
med = {k: [statistics.median(x[i] for x in v) for i in range(4)] for k, v in rows.items()}
print()
for side in ("plain", "emulated"):
    m = med[side]
    print(f"median {side}: CPU {m[0]:.3f} ms per 1,000 messages, RSS {m[1]:.1f} KB per connection, "
          f"p50 {m[2]:.1f} ms, p99 {m[3]:.1f} ms")
e, p = med["emulated"], med["plain"]
print(f"emulated / plain: CPU per message {e[0] / p[0]:.2f}, RSS per connection {e[1] / p[1]:.2f}")
PY
