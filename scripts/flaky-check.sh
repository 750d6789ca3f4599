#!/usr/bin/env bash
# Runs a test command again and again, first on a quiet machine and then while busy loops
# keep every core occupied (as on a shared CI runner), and prints how often it failed.
# A test that fails even once here is a bug to fix at its cause (docs/testing.md).
#
#   scripts/flaky-check.sh [QUIET_RUNS] [LOADED_RUNS] [-- TEST COMMAND...]
#
# Defaults: 10 quiet runs, 5 loaded runs, `cargo test --workspace`. Each run's output is
# kept in $FLAKY_LOG_DIR (default target/flaky-check/) as quiet-N.log / loaded-N.log.
# Exit status: 0 when every run passed, 1 otherwise.
set -uo pipefail
cd "$(dirname "$0")/.."

quiet=${1:-10}
loaded=${2:-5}
shift $(($# >= 2 ? 2 : $#))
[ "${1:-}" = "--" ] && shift
cmd=("$@")
[ ${#cmd[@]} -eq 0 ] && cmd=(cargo test --workspace)
logs=${FLAKY_LOG_DIR:-target/flaky-check}
mkdir -p "$logs"

# Build first, so that the first run is not also the one that compiles.
[ "${cmd[*]}" = "cargo test --workspace" ] && cargo test --workspace --no-run >/dev/null 2>&1

busy=()
stop_load() {
  for p in "${busy[@]}"; do kill "$p" 2>/dev/null; done
  busy=()
}
trap stop_load EXIT INT TERM

failed=0
run() { # tag index
  local started=$SECONDS
  if "${cmd[@]}" >"$logs/$1-$2.log" 2>&1; then
    echo "$1 run $2: ok ($((SECONDS - started)) s)"
  else
    failed=$((failed + 1))
    echo "$1 run $2: FAILED ($((SECONDS - started)) s), see $logs/$1-$2.log:"
    grep -E "^test .* FAILED|panicked at" "$logs/$1-$2.log" | head -5 | sed 's/^/    /'
  fi
}

for i in $(seq 1 "$quiet"); do run quiet "$i"; done
if [ "$loaded" -gt 0 ]; then
  cores=$(nproc)
  # One busy loop per core, at the tests' own priority, for the loaded runs only.
  for _ in $(seq 1 "$cores"); do
    sh -c 'while :; do :; done' &
    busy+=($!)
  done
  echo "($cores busy loops running)"
  for i in $(seq 1 "$loaded"); do run loaded "$i"; done
  stop_load
fi
echo "$failed of $((quiet + loaded)) runs failed"
[ "$failed" -eq 0 ]
