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
# Every run records in other-cpu.tsv how many CPUs the rest of the machine kept busy
# meanwhile at normal priority (user and system time of /proc/stat but this script's
# children's), and how many niced work (nice 1-19, e.g. `nice -n 19 cargo build` of other
# work on a shared machine: the scheduler gives such work about 1.5% of a CPU that a
# nice-0 process wants, so it fills idle time without taking the runs' time); a run above
# --max-other (default 0.25) at normal priority was disturbed, and is made again.
#
#   scripts/gate-check.sh [--aa 20] [--ab 10] [--out DIR] [--lock FILE [--pause 60]] [--max-other 0.25]
set -euo pipefail
cd "$(dirname "$0")/.."

aa=20 ab=10 lock="" out="" pause=60 max_other=0.25
while [ $# -gt 0 ]; do
  case "$1" in
    --aa) aa=$2; shift 2 ;;
    --ab) ab=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --lock) lock=$2; shift 2 ;;
    --pause) pause=$2; shift 2 ;;
    --max-other) max_other=$2; shift 2 ;;
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
  # Idle, iowait and niced time count as idle: niced work yields to the runs.
  echo $((100 * (b[4] - a[4] + b[5] - a[5] + b[2] - a[2]) / (total > 0 ? total : 1)))
}

# Whether a cargo or rustc runs at normal priority (niced ones are left to run).
normal_priority_build() {
  local pid
  for pid in $(pgrep -x cargo; pgrep -x rustc); do
    [ "$(ps -o ni= -p "$pid" 2>/dev/null | tr -d ' ')" = 0 ] && return 0
  done
  return 1
}

acquire() {
  [ -n "$lock" ] || return 0
  while [ -e "$lock" ]; do sleep 20; done
  touch "$lock"
  held=1
  # Work started before the lock was taken finishes first: no build or test at normal
  # priority, and the machine idle but for niced work (a test's busy loops are neither
  # cargo nor rustc).
  while normal_priority_build || [ "$(idle_percent)" -lt 90 ]; do
    sleep 10
  done
}

# CPU time the machine's processes used at normal priority (user and system of /proc/stat:
# not niced work, not the hypervisor's steal, which is the noise under study, nor
# interrupts, which the run's own loopback traffic causes), the time niced processes used,
# and that this script's finished children used, in clock ticks (cutime + cstime of
# /proc/$$/stat).
machine_busy() { awk '/^cpu /{print $2+$4; exit}' /proc/stat; }
machine_niced() { awk '/^cpu /{print $3; exit}' /proc/stat; }
children_cpu() { awk '{print $16+$17}' "/proc/$$/stat"; }

# One paired run into $out/$1 with candidate server $2, unless it is already complete. A run
# during which the rest of the machine kept more than --max-other CPUs busy on average (a
# build or a test started while the lock was held) is kept as $1.disturbed-N, listed in
# disturbed.tsv, and made again.
paired_run() {
  local dir="$out/$1" candidate=$2 tries=0
  if [ -f "$dir/paired.json" ] && grep -q '"completed": true' "$dir/candidate/meta.json" 2>/dev/null; then
    return
  fi
  while :; do
    rm -rf "$dir"
    acquire
    echo "gate-check: $1 ($(date -u +%H:%M:%S))" >&2
    local busy0 own0 t0 busy1 own1 t1 other nice0 nice1 niced
    busy0=$(machine_busy) own0=$(children_cpu) nice0=$(machine_niced) t0=$(date +%s.%N)
    "$bin" run "$scenario" --out "$dir" --quiet --baseline-bin "$bin" --candidate-bin "$candidate"
    busy1=$(machine_busy) own1=$(children_cpu) nice1=$(machine_niced) t1=$(date +%s.%N)
    release
    # CPUs the rest of the machine kept busy, on average over the run.
    other=$(awk -v b="$((busy1 - busy0))" -v o="$((own1 - own0))" -v t0="$t0" -v t1="$t1" \
      -v hz="$(getconf CLK_TCK)" 'BEGIN{printf "%.3f", (b - o) / hz / (t1 - t0)}')
    niced=$(awk -v n="$((nice1 - nice0))" -v t0="$t0" -v t1="$t1" -v hz="$(getconf CLK_TCK)" \
      'BEGIN{printf "%.3f", n / hz / (t1 - t0)}')
    printf '%s\t%s\t%s\t%s\n' "$1" "$(date -u +%H:%M:%S)" "$other" "$niced" >>"$out/other-cpu.tsv"
    if [ -n "$lock" ]; then sleep "$pause"; fi
    if awk -v o="$other" -v m="$max_other" 'BEGIN{exit !(o <= m)}'; then
      return
    fi
    tries=$((tries + 1))
    echo "gate-check: $1 disturbed (the rest of the machine used $other CPUs); made again" >&2
    mv "$dir" "$dir.disturbed-$tries"
    printf '%s\t%s\n' "$1" "$other" >>"$out/disturbed.tsv"
  done
}

# Alternated, so that both series see the machine's afternoon alike.
for i in $(seq "$((aa > ab ? aa : ab))"); do
  if [ "$i" -le "$aa" ]; then paired_run "aa-$i" "$bin"; fi
  if [ "$i" -le "$ab" ]; then paired_run "ab-$i" "$out/bin/pushbench-slow"; fi
done

source scripts/common.sh
python3 scripts/gate_tables.py "$bin" "$out" "$aa" "$ab" "${PAIRED_GATE_THRESHOLDS[@]}" | tee "$out/tables.md"
