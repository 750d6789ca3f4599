#!/usr/bin/env bash
# Runs a scenario as N shards on this machine and merges them into one run directory
# (docs/sharding.md): starts `pushbench serve` (unless a --server URL is among the run
# options), starts `pushbench run --shard I/N` for I = 1..N with one common --start-at,
# waits for all of them, and runs `pushbench merge`. Works for any scenario pushbench's own
# server runs (a target cannot be sharded).
#
#   scripts/shards.sh SCENARIO N [--out DIR] [--start-in SECONDS] [--server-processes P]
#                     [RUN OPTIONS...]
#
#   --out DIR           the merged run directory (default results/<name>-<N>shards-<UTC time>);
#                       the shards' own run directories and logs go to DIR.shards/
#   --start-in SECONDS  from launching the shards to the plan's start (default 5): time for
#                       N processes to start and reach the server
#   --server-processes P
#                       the server it starts is P processes sharing one port (`pushbench
#                       serve --processes P`): P times the connections one process holds
#                       descriptors for (default 1)
#   RUN OPTIONS         passed to every shard as given (--quiet, --server URL, ...)
#
# The server it starts listens on a free loopback port with the scenario's [server] table
# (threads, runtime, ring_capacity), as many processes as --server-processes says, and any
# further `pushbench serve` options in $PUSHBENCH_SERVE_ARGS. $PUSHBENCH_BIN names the binary (default: built with
# `cargo build --release`). Exit status: 2 for bad arguments, else the first failing
# shard's (the shards are merged all the same, as far as they got), else merge's.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() {
  echo "usage: scripts/shards.sh SCENARIO N [--out DIR] [--start-in SECONDS] [RUN OPTIONS...]" >&2
  exit 2
}
[ $# -ge 2 ] || usage
scenario=$1
n=$2
shift 2
[ -f "$scenario" ] || { echo "shards.sh: $scenario: no such scenario file" >&2; exit 2; }
[[ "$n" =~ ^[1-9][0-9]*$ ]] || { echo "shards.sh: N: expected a whole number of shards from 1, found '$n'" >&2; exit 2; }

name=$(basename "$scenario" .toml)
out=""
start_in=5
server_processes=1
server=""
run_opts=()
while [ $# -gt 0 ]; do
  case $1 in
    --out) [ $# -ge 2 ] || usage; out=$2; shift 2 ;;
    --start-in) [ $# -ge 2 ] || usage; start_in=$2; shift 2 ;;
    --server-processes) [ $# -ge 2 ] || usage; server_processes=$2; shift 2 ;;
    --server) [ $# -ge 2 ] || usage; server=$2; run_opts+=("$1" "$2"); shift 2 ;;
    *) run_opts+=("$1"); shift ;;
  esac
done
[[ "$start_in" =~ ^[0-9]+(\.[0-9]+)?$ ]] || { echo "shards.sh: --start-in: expected seconds, found '$start_in'" >&2; exit 2; }
[[ "$server_processes" =~ ^[1-9][0-9]*$ ]] || { echo "shards.sh: --server-processes: expected a whole number of processes from 1, found '$server_processes'" >&2; exit 2; }
if [ -n "$server" ] && [ "$server_processes" -ne 1 ]; then
  echo "shards.sh: --server-processes: only for the server shards.sh starts, not with --server" >&2
  exit 2
fi
[ -n "$out" ] || out=results/$name-${n}shards-$(date -u +%Y%m%dT%H%M%SZ)
if [ -e "$out" ] && [ -n "$(ls -A "$out")" ]; then
  echo "shards.sh: $out: refusing to write into a non-empty directory" >&2
  exit 2
fi
work=$out.shards
mkdir -p "$work"

if [ -z "${PUSHBENCH_BIN:-}" ]; then
  cargo build --release -q -p pushbench
  PUSHBENCH_BIN=target/release/pushbench
fi
bin=$PUSHBENCH_BIN

pids=()
server_pid=""
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ -z "$server" ]; then
  # The scenario's [server] table, as `pushbench run` would pass it to the server it starts.
  read -r -a serve_args < <(python3 - "$scenario" <<'EOF'
import sys, tomllib
s = tomllib.load(open(sys.argv[1], "rb")).get("server", {})
args = ["--ring-capacity", str(s.get("ring_capacity", 4096))]
if "threads" in s: args += ["--threads", str(s["threads"])]
if "runtime" in s: args += ["--runtime", s["runtime"]]
print(" ".join(args))
EOF
  )
  # shellcheck disable=SC2206 # further serve options, split as the shell splits words
  extra=(${PUSHBENCH_SERVE_ARGS:-})
  [ "$server_processes" -eq 1 ] || extra+=(--processes "$server_processes")
  "$bin" serve --addr 127.0.0.1:0 "${serve_args[@]}" "${extra[@]}" >"$work/server.log" 2>&1 &
  server_pid=$!
  # shellcheck source=scripts/common.sh
  source scripts/common.sh
  server=http://$(server_addr "$work/server.log")
  run_opts+=(--server "$server")
  echo "shards.sh: server $server (pid $server_pid, $server_processes process(es)), log $work/server.log" >&2
fi

start=$(python3 -c "import datetime as d, sys; t = d.datetime.now(d.timezone.utc) + d.timedelta(seconds=float(sys.argv[1])); print(t.strftime('%Y-%m-%dT%H:%M:%S.%f')[:-3] + 'Z')" "$start_in")
echo "shards.sh: $n shard(s) of $scenario starting at $start" >&2
for i in $(seq "$n"); do
  "$bin" run "$scenario" --shard "$i/$n" --start-at "$start" --out "$work/shard-$i" "${run_opts[@]}" \
    >"$work/shard-$i.log" 2>&1 &
  pids+=($!)
done

status=0
for i in $(seq "$n"); do
  if wait "${pids[$((i - 1))]}"; then
    echo "shards.sh: shard $i/$n done" >&2
  else
    code=$?
    echo "shards.sh: shard $i/$n failed (exit $code); the end of $work/shard-$i.log:" >&2
    tail -n 5 "$work/shard-$i.log" >&2
    [ $status -ne 0 ] || status=$code
  fi
done
pids=()

# Merged even when a shard failed: what the shards measured before is kept, and the merged
# meta.json says the run is incomplete and why.
dirs=()
for i in $(seq "$n"); do dirs+=("$work/shard-$i"); done
merged=0
"$bin" merge "${dirs[@]}" --out "$out" || merged=$?
[ $status -eq 0 ] || exit $status
exit $merged
