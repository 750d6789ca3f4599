#!/usr/bin/env bash
# Where the time goes (docs/benchmarks.md): CPU profiles of the server and of the load
# generator, each sampled by perf (cpu-clock, so it works where hardware counters do not)
# while a scenario runs, server and load generator on CPUs of their own. Prints each side's
# flat profile (self time by symbol, kernel included) and keeps perf.data files for
# `perf report -i`.
#
#   scripts/profile.sh [SCENARIO] [OUT_DIR]     default: scenarios/bench-ws-10k.toml
#
# Installs perf (Debian's linux-perf) when it is missing. Loopback only; ends with the run.
set -euo pipefail
cd "$(dirname "$0")/.."

scenario=${1:-scenarios/bench-ws-10k.toml}
out=${2:-results/profile-$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$out"
source scripts/common.sh
need perf linux-perf
cargo build --release -q -p pushbench
bin=target/release/pushbench
if [ "$(nproc)" -ge 2 ]; then server_cpus=0 loadgen_cpus=1; else server_cpus=0 loadgen_cpus=0; fi

perf record -q -e cpu-clock -F 499 -o "$out/server.perf.data" -- \
  "$bin" serve --addr 127.0.0.1:0 --cpus "$server_cpus" >"$out/server.log" 2>&1 &
recorder=$!
addr=$(server_addr "$out/server.log") || { kill "$recorder"; exit 1; }

perf record -q -e cpu-clock -F 499 -o "$out/loadgen.perf.data" -- \
  "$bin" run "$scenario" --server "http://$addr" --pin ":$loadgen_cpus" --quiet --out "$out/run"
# SIGTERM to the server (perf's child): it shuts down gracefully and perf writes its file.
pkill -TERM -P "$recorder" || true
wait "$recorder" || true

# The first $3 rows of perf's table for $1 sorted by $2, without comments, blank lines and
# the empty columns it pads lines with (head closing the pipe early is no failure).
table() {
  perf report -i "$out/$1.perf.data" --stdio --no-children --sort "$2" 2>/dev/null |
    grep -v -e '^#' -e '^$' | sed -e 's/[[:space:]-]*$//' | head -"$3" || true
}
for side in server loadgen; do
  echo "## $side: CPU samples by binary"
  echo
  echo '```'
  table "$side" dso 6
  echo '```'
  echo
  echo "## $side: self time by symbol (top 25)"
  echo
  echo '```'
  table "$side" dso,symbol 25
  echo '```'
  echo
done | tee "$out/profile.md"
echo "profile: perf data and the run are in $out" >&2
