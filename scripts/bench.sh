#!/usr/bin/env bash
# Speed benchmarks, side by side with the reference tool (docs/benchmarks.md):
#
#  1. Closed-loop polling: wrk and pushbench each keep 100 connections polling /poll on the
#     same `pushbench serve`, back to back, for the same duration, alternating ROUNDS times.
#     The server runs on the first CPU and the client under test on the second, so the two
#     tools get the same machine. Reported: requests per second and request latency
#     percentiles of each round, their medians, and pushbench / wrk.
#  2. WebSocket fan-out ceiling: 10,000 subscribers (scenarios/bench-ws-10k.toml), server and
#     load generator on CPUs of their own (--pin); the highest publish rate at which the run
#     judges its phase `ok` (the server kept up: docs/scenarios.md, "Keeping up") with zero
#     loss and no error is the ceiling (bench_tables.py probe). A rate past the ceiling is
#     a completed run judged `overloaded`, not a failed one.
#
# Everything runs on loopback and ends by itself (about 8 minutes with the defaults). wrk is
# installed from the distribution's packages when it is missing.
#
#   scripts/bench.sh [--target FILE] [OUT_DIR]    env: ROUNDS=3 DURATION=15 SKIP_FANOUT=1 FANOUT_ONLY=1
#
# With --target the fan-out ceiling is searched for the server a target file describes
# (targets/nchan.toml: nginx + nchan, pinned to the first CPU as pushbench's own would be),
# and the polling comparison, which measures pushbench's client, is left out.
set -euo pipefail
cd "$(dirname "$0")/.."

target=""
if [ "${1:-}" = "--target" ]; then
  target=$2
  shift 2
fi
rounds=${ROUNDS:-3}
duration=${DURATION:-15}
out=${1:-results/bench-$(date -u +%Y%m%dT%H%M%SZ)}
tables=scripts/bench_tables.py
mkdir -p "$out"

source scripts/common.sh
[ -n "$target" ] || [ -n "${FANOUT_ONLY:-}" ] || need wrk wrk
cargo build --release -q -p pushbench
bin=target/release/pushbench

if [ "$(nproc)" -ge 2 ]; then
  server_cpus=0 client_cpus=1 pin=(--pin)
else
  server_cpus=0 client_cpus=0 pin=()
fi

# --- 1. closed-loop polling: wrk versus pushbench on one server -------------------------
if [ -z "$target" ] && [ -z "${FANOUT_ONLY:-}" ]; then
"$bin" serve --addr 127.0.0.1:0 --cpus "$server_cpus" >"$out/server.log" &
server=$!
trap 'kill "$server" 2>/dev/null || true' EXIT
addr=$(server_addr "$out/server.log")

scenario="$out/bench-poll.toml"
sed -e "s/^duration = .*/duration = \"${duration}s\"/" scenarios/bench-poll.toml >"$scenario"
for r in $(seq "$rounds"); do
  echo "bench: round $r/$rounds, wrk" >&2
  taskset -c "$client_cpus" wrk -t1 -c100 -d"${duration}s" --latency \
    "http://$addr/poll?topic=0" >"$out/wrk-$r.txt"
  echo "bench: round $r/$rounds, pushbench" >&2
  "$bin" run "$scenario" --server "http://$addr" --pin ":$client_cpus" --quiet \
    --out "$out/pushbench-$r"
done
kill "$server"
wait "$server" 2>/dev/null || true
trap - EXIT
python3 "$tables" poll "$out" "$rounds" >"$out/poll.md"
echo "## Closed-loop polling, 100 connections, ${duration} s per round"
echo
cat "$out/poll.md"
fi

# --- 2. WebSocket fan-out ceiling ---------------------------------------------------------
# The rate doubles from 5 messages/s until one fails, then two bisection steps narrow the gap.
probe() {
  local rate=$1 dir="$out/ws-rate-$1" code=0
  sed -e "s/^rate = .*/rate = $rate/" scenarios/bench-ws-10k.toml >"$dir.toml"
  echo "bench: fan-out to 10,000 WebSocket subscribers at $rate messages/s" >&2
  "$bin" run "$dir.toml" "${pin[@]}" ${target:+--target "$target"} --quiet --out "$dir" 2>"$dir.err" || code=$?
  python3 "$tables" probe "$dir" "$rate" "$code" >>"$out/fanout.csv"
  tail -1 "$out/fanout.csv" | grep -q ',pass,$'
}
if [ -z "${SKIP_FANOUT:-}" ]; then
  echo "rate,published,delivered,delivered_per_s,lost,errors,p50_us,p99_us,server_cpu_s,fell_behind_us,loadgen_cpu_share,judged,verdict,error" >"$out/fanout.csv"
  good=0 bad=0 rate=5
  while [ "$rate" -le 1280 ]; do
    if probe "$rate"; then good=$rate rate=$((rate * 2)); else bad=$rate; break; fi
  done
  for _ in 1 2; do
    mid=$(((good + bad) / 2))
    if [ "$good" -eq 0 ] || [ "$bad" -eq 0 ] || [ "$mid" -le "$good" ]; then break; fi
    if probe "$mid"; then good=$mid; else bad=$mid; fi
  done
  python3 "$tables" fanout "$out/fanout.csv" "$good" "$bad" >"$out/fanout.md"
  echo
  echo "## WebSocket fan-out, 10,000 subscribers${target:+, target $target}"
  echo
  cat "$out/fanout.md"
fi
echo
echo "bench: everything is in $out" >&2
