#!/usr/bin/env bash
# Measures the regression gate instead of assuming it works (docs/compare.md, "The gate,
# measured"):
#
#  1. False alarms: AA paired runs of scenarios/ci-paired.toml with the same build as
#     baseline and candidate. Each is judged three ways with the default thresholds: paired
#     (`pushbench compare RUN`), the same data unpaired (`compare RUN/baseline
#     RUN/candidate`), and unpaired across runs, as a committed baseline is used (the
#     baseline side of run i against the candidate side of run i+1, made minutes apart).
#     Nothing changed, so every regression is a false alarm. Paired runs are judged with
#     compare's default thresholds and with the paired CI gate's (PAIRED_GATE_THRESHOLDS in
#     scripts/common.sh).
#  2. Power: AB paired runs with a normal build as baseline and, as candidate, a build with
#     the `slow-delivery` feature (crates/server/src/slowdown.rs: a fixed amount of extra CPU
#     work per delivered message). Each is judged paired and unpaired; the table says how
#     many runs flag a regression, and which metrics.
#
# Runs are kept in OUT (default results/gate-check-<UTC time>) and skipped when already
# complete, so the script can be stopped and resumed, or run in batches (--aa 5, then
# --aa 10 on the same --out adds five more). With --lock FILE it measures only while it
# holds FILE: before each run it waits until FILE is absent and no cargo or rustc process is
# running, creates FILE, runs, removes FILE and pauses (--pause seconds, default 60), so
# that other work on a shared machine, which waits for FILE to go, proceeds between runs. Every figure in the tables is read from the run directories by
# scripts/gate_tables.py.
#
#   scripts/gate-check.sh [--aa 20] [--ab 10] [--out DIR] [--lock FILE [--pause 60]]
set -euo pipefail
cd "$(dirname "$0")/.."

aa=20 ab=10 lock="" out="" pause=60
while [ $# -gt 0 ]; do
  case "$1" in
    --aa) aa=$2; shift 2 ;;
    --ab) ab=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --lock) lock=$2; shift 2 ;;
    --pause) pause=$2; shift 2 ;;
    *) echo "gate-check: unknown argument $1" >&2; exit 2 ;;
  esac
done
out=${out:-results/gate-check-$(date -u +%Y%m%dT%H%M%SZ)}
scenario=scenarios/ci-paired.toml
mkdir -p "$out/bin"

# The two builds, copied so that a later build cannot change a half-measured series.
if [ ! -x "$out/bin/pushbench" ] || [ ! -x "$out/bin/pushbench-slow" ]; then
  if [ -n "$lock" ]; then while [ -e "$lock" ]; do sleep 20; done; fi
  cargo build --release -q -p pushbench
  cargo build --release -q -p pushbench --features slow-delivery --target-dir target/slow-delivery
  cp target/release/pushbench "$out/bin/pushbench"
  cp target/slow-delivery/release/pushbench "$out/bin/pushbench-slow"
  git rev-parse HEAD >"$out/bin/commit" 2>/dev/null || true
fi
bin="$out/bin/pushbench"

held=""
release() { if [ -n "$held" ]; then rm -f "$lock"; held=""; fi; }
trap release EXIT
trap 'exit 130' INT TERM

# The share of the CPUs' time spent idle over the next 5 seconds, in percent (/proc/stat).
idle_percent() {
  local a b
  read -ra a < <(head -1 /proc/stat)
  sleep 5
  read -ra b < <(head -1 /proc/stat)
  local total=0 i
  for i in 1 2 3 4 5 6 7 8; do total=$((total + b[i] - a[i])); done
  echo $((100 * (b[4] - a[4] + b[5] - a[5]) / (total > 0 ? total : 1)))
}

acquire() {
  [ -n "$lock" ] || return 0
  while [ -e "$lock" ]; do sleep 20; done
  touch "$lock"
  held=1
  # Work started before the lock was taken finishes first: no build or test, and the
  # machine idle (a test's busy loops are neither cargo nor rustc).
  while pgrep -x cargo >/dev/null || pgrep -x rustc >/dev/null || [ "$(idle_percent)" -lt 90 ]; do
    sleep 10
  done
}

# One paired run into $out/$1 with candidate server $2, unless it is already complete.
paired_run() {
  local dir="$out/$1" candidate=$2
  if [ -f "$dir/paired.json" ] && grep -q '"completed": true' "$dir/candidate/meta.json" 2>/dev/null; then
    return
  fi
  rm -rf "$dir"
  acquire
  echo "gate-check: $1 ($(date -u +%H:%M:%S))" >&2
  "$bin" run "$scenario" --out "$dir" --quiet --baseline-bin "$bin" --candidate-bin "$candidate"
  release
  if [ -n "$lock" ]; then sleep "$pause"; fi
}

# Alternated, so that both series see the machine's afternoon alike.
for i in $(seq "$((aa > ab ? aa : ab))"); do
  if [ "$i" -le "$aa" ]; then paired_run "aa-$i" "$bin"; fi
  if [ "$i" -le "$ab" ]; then paired_run "ab-$i" "$out/bin/pushbench-slow"; fi
done

source scripts/common.sh
python3 scripts/gate_tables.py "$bin" "$out" "$aa" "$ab" "${PAIRED_GATE_THRESHOLDS[@]}" | tee "$out/tables.md"
