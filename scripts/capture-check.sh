#!/usr/bin/env bash
# Checks pushbench's byte counts against a packet capture of the same loopback traffic.
#
#   scripts/capture-check.sh [SCENARIO] [--target FILE]   (default: scenarios/smoke.toml)
#
# Starts `pushbench serve` on a free loopback port, captures that port with tshark, runs
# the scenario against it, and compares the TCP payload bytes the capture saw with what
# pushbench counted: the sum of `bytes_total` (every client socket, both directions, whole
# phase) plus `control_bytes` (the load generator's control requests, or a target's
# publishes and before-phase requests) plus meta.json's `probe_control_bytes`. With
# `--target` pushbench starts the target's server itself on a port it picks: the whole
# loopback interface is captured and the port, read from meta.json, is filtered afterwards.
# Installs tshark from the distribution's packages if it is missing (needs root). Exits 1
# if the two differ.
set -euo pipefail
cd "$(dirname "$0")/.."
scenario=scenarios/smoke.toml
target=""
while [ $# -gt 0 ]; do
  case "$1" in
    --target) target=$2; shift 2 ;;
    *) scenario=$1; shift ;;
  esac
done

if ! command -v tshark >/dev/null 2>&1; then
  echo "installing tshark..." >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq tshark >/dev/null
fi

cargo build --release -q -p pushbench
bin=target/release/pushbench
work=$(mktemp -d)
trap 'kill ${server_pid:-} ${tshark_pid:-} 2>/dev/null || true; wait 2>/dev/null || true' EXIT

if [ -z "$target" ]; then
  "$bin" serve --addr 127.0.0.1:0 >"$work/serve.out" &
  server_pid=$!
  for _ in $(seq 100); do
    grep -q 'listening on' "$work/serve.out" 2>/dev/null && break
    sleep 0.1
  done
  addr=$(sed -n 's/^pushbench server listening on //p' "$work/serve.out")
  port=${addr##*:}
  [ -n "$port" ] || { echo "server did not start" >&2; exit 1; }
  filter="tcp port $port"
else
  server_pid=""
  filter="tcp"
fi

tshark -q -i lo -f "$filter" -w "$work/capture.pcapng" 2>"$work/tshark.err" &
tshark_pid=$!
for _ in $(seq 100); do
  grep -q 'Capturing on' "$work/tshark.err" 2>/dev/null && break
  sleep 0.1
done
# tshark announces the capture a moment before its filter is in place: without this pause
# the first control requests can be missed.
sleep 1

if [ -z "$target" ]; then
  "$bin" run "$scenario" --server "http://$addr" --out "$work/run" --quiet
else
  "$bin" run "$scenario" --target "$target" --out "$work/run" --quiet
  port=$(sed -n 's/.*"server": "target .*started by pushbench on 127\.0\.0\.1:\([0-9]*\)".*/\1/p' "$work/run/meta.json")
  [ -n "$port" ] || { echo "no port of a started target in $work/run/meta.json" >&2; exit 1; }
fi
sleep 1
kill -INT "$tshark_pid"; wait "$tshark_pid" 2>/dev/null || true

captured=$(tshark -r "$work/capture.pcapng" -Y "tcp.port == $port" -T fields -e tcp.len 2>/dev/null | awk '{s += $1} END {print s + 0}')
probe=$(sed -n 's/.*"probe_control_bytes": \([0-9]*\).*/\1/p' "$work/run/meta.json")
counted=$(awk -F, -v probe="${probe:-0}" 'NR == 1 {for (i = 1; i <= NF; i++) col[$i] = i; next}
                   {s += $col["bytes_total"] + $col["control_bytes"]} END {print s + probe}' "$work/run/summary.csv")
echo "scenario:              $scenario${target:+ against target $target}"
echo "capture (TCP payload): $captured bytes"
echo "pushbench counted:     $counted bytes (sum of bytes_total + control_bytes, plus meta.json's probe_control_bytes)"
awk -v a="$captured" -v b="$counted" 'BEGIN {printf "difference:            %d bytes (%.4f%%)\n", a - b, (a - b) * 100 / a}'
cp "$work/run/summary.csv" "${CAPTURE_CHECK_KEEP:-/dev/null}" 2>/dev/null || true
[ "$captured" = "$counted" ]
