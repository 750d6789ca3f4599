# Shared by the benchmark scripts; `source` it from the repository root.

# Installs Debian package $2 when command $1 is missing.
need() {
  command -v "$1" >/dev/null && return
  echo "installing $2 (apt-get)" >&2
  local sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq && $sudo apt-get install -y -qq "$2" >/dev/null
}

# Waits until `pushbench serve`, writing to log file $1, says where it listens; prints the
# address, or fails after 10 s.
server_addr() {
  local addr=""
  for _ in $(seq 100); do
    addr=$(grep -o '127\.0\.0\.1:[0-9]*' "$1" || true)
    [ -n "$addr" ] && { echo "$addr"; return; }
    sleep 0.1
  done
  echo "the server did not start; its output is in $1" >&2
  return 1
}

# The paired CI gate's thresholds beyond compare's defaults: the p99 and p99.9 latency of a
# 2-second window differ between two phases seconds apart by a factor of 1.5 or more on a
# shared 2-core machine (measured before the gate was: docs/compare.md, "The gate,
# measured"), so only changes beyond that are judged there. Later --threshold arguments win.
PAIRED_GATE_THRESHOLDS=(--threshold p99=50% --threshold p999=100%)
