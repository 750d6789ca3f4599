#!/usr/bin/env bash
# WebSocket echo on a closed loop, side by side (docs/targets.md): pushbench's echo client
# and uWebSockets' load_test (the WebSocket benchmark built on uSockets) each keep
# CONNECTIONS connections with one message in flight on each, against the same server,
# fastwebsockets' own echo_server example. The server runs on CPU 0, the client under test
# on CPU 1; the two clients alternate (load_test first in odd rounds, pushbench first in
# even ones), ROUNDS times. Reported: echoes per second of each round with the CPU share of
# the client and of the echo server over the same time (whose core is full is what limits
# the rate), their medians, and pushbench / load_test (at least 1.0 means pushbench is not
# the bottleneck).
#
# Both sides are built from their public sources, outside the repository (BUILD_DIR):
# load_test from uWebSockets' benchmarks/load_test.c with uSockets at the commit uWebSockets
# pins (a C compiler and zlib's headers are needed; zlib1g-dev is installed when missing),
# echo_server from the example in the fastwebsockets crate Cargo.lock names (cargo's own
# download), its listening address read from ECHO_ADDR instead of the fixed 127.0.0.1:8080,
# so it runs on a free port.
#
# UWS_GIT and USOCKETS_GIT name where the two repositories come from: a URL (default:
# GitHub; cloned bare into BUILD_DIR) or a local git directory (a clone or a bare mirror),
# for a machine that cannot reach GitHub. Only the commits below are built, extracted with
# `git archive`.
#
#   scripts/echo-bench.sh [OUT_DIR]    env: ROUNDS=3 DURATION=12 CONNECTIONS=100 SIZE=34
#                                           UWS_GIT, USOCKETS_GIT, BUILD_DIR
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/common.sh

rounds=${ROUNDS:-3}
duration=${DURATION:-12}
conns=${CONNECTIONS:-100}
# load_test's message size: pushbench's smallest message is its 34-byte envelope
# (docs/protocol.md), so both send the same frames (load_test's default is 20 bytes).
size=${SIZE:-34}
out=${1:-results/echo-bench-$(date -u +%Y%m%dT%H%M%SZ)}
uws_git=${UWS_GIT:-https://github.com/uNetworking/uWebSockets}
us_git=${USOCKETS_GIT:-https://github.com/uNetworking/uSockets}
# uWebSockets at the commit measured in docs/targets.md, and the uSockets its submodule pins.
uws_rev=66dcff3dd48f0c19dd1703426365d062039321d0
us_rev=86097c490263ab662d62e8e7b541390bdec7d149
mkdir -p "$out"
build=${BUILD_DIR:-${TMPDIR:-/tmp}/pushbench-echo-build}
mkdir -p "$build"
build=$(cd "$build" && pwd)

# --- load_test -------------------------------------------------------------------------
need cc gcc
if ! echo '#include <zlib.h>' | cc -E - >/dev/null 2>&1; then
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  echo "installing zlib1g-dev (apt-get)" >&2
  $sudo apt-get update -qq && $sudo apt-get install -y -qq zlib1g-dev >/dev/null
fi
# Extracts commit REV of the repository at SOURCE (a URL or a git directory) into
# $build/NAME, once.
fetch_source() { # NAME SOURCE REV VARIABLE
  local name=$1 source=$2 rev=$3 var=$4 git_dir
  [ -e "$build/$name/.rev-$rev" ] && return
  if [ -d "$source" ]; then
    git_dir=$(git -C "$source" rev-parse --absolute-git-dir)
  else
    git_dir=$build/$name.git
    [ -d "$git_dir" ] || git clone -q --bare "$source" "$git_dir" || {
      echo "echo-bench: cannot download $name from $source; give a local git directory of its sources in $var" >&2
      exit 1
    }
  fi
  git --git-dir="$git_dir" cat-file -e "$rev^{commit}" 2>/dev/null || {
    echo "echo-bench: $source lacks $name commit $rev" >&2
    exit 1
  }
  rm -rf "${build:?}/$name" && mkdir -p "$build/$name"
  git --git-dir="$git_dir" archive "$rev" | tar -x -C "$build/$name"
  touch "$build/$name/.rev-$rev"
}
fetch_source uWebSockets "$uws_git" "$uws_rev" UWS_GIT
fetch_source uSockets "$us_git" "$us_rev" USOCKETS_GIT
# Built again only when the sources are newer than it.
[ "$build/load_test" -nt "$build/uWebSockets/.rev-$uws_rev" ] &&
  [ "$build/load_test" -nt "$build/uSockets/.rev-$us_rev" ] ||
  cc -O3 -DLIBUS_NO_SSL -I "$build/uSockets/src" "$build"/uSockets/src/*.c \
  "$build"/uSockets/src/eventing/*.c "$build"/uSockets/src/crypto/*.c \
  "$build/uWebSockets/benchmarks/load_test.c" -lz -o "$build/load_test" 2>"$build/load_test.log"

# --- fastwebsockets' echo_server --------------------------------------------------------
cargo fetch -q
fws=$(cargo metadata --format-version 1 | python3 -c '
import json, os, sys
pkg = next(p for p in json.load(sys.stdin)["packages"] if p["name"] == "fastwebsockets")
print(os.path.dirname(pkg["manifest_path"]), pkg["version"])')
read -r fws_dir fws_version <<<"$fws"
mkdir -p "$build/echo_server/src"
# Writes stdin to file $1 only when that changes it, so cargo does not build again each time.
put() {
  cat >"$1.new"
  if cmp -s "$1.new" "$1"; then rm "$1.new"; else mv "$1.new" "$1"; fi
}
sed -e 's|TcpListener::bind("127.0.0.1:8080")|TcpListener::bind(std::env::var("ECHO_ADDR").expect("ECHO_ADDR"))|' \
  -e 's|println!("Server started, listening on {}", "127.0.0.1:8080");|println!("Server started");|' \
  "$fws_dir/examples/echo_server.rs" | put "$build/echo_server/src/main.rs"
grep -q 'ECHO_ADDR' "$build/echo_server/src/main.rs"
put "$build/echo_server/Cargo.toml" <<EOF
[package]
name = "echo_server"
version = "0.0.0"
edition = "2021"
publish = false

[dependencies]
fastwebsockets = { version = "=$fws_version", features = ["upgrade"] }
http-body-util = "0.1"
hyper = { version = "1", features = ["server", "http1"] }
hyper-util = { version = "0.1", features = ["tokio"] }
tokio = { version = "1", features = ["rt", "net", "macros"] }

[workspace]
EOF
put "$build/echo_server/Cargo.lock" <Cargo.lock
# Cargo.lock's versions, which cargo already has: no registry needed.
(cd "$build/echo_server" && cargo build --release -q --offline)
echo_server=$build/echo_server/target/release/echo_server

cargo build --release -q -p pushbench
bin=target/release/pushbench

# --- rounds ------------------------------------------------------------------------------
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
cat >"$out/echo.toml" <<EOF
# $conns WebSocket connections, one 34-byte message (the envelope, no payload) in flight on
# each: what load_test does (with SIZE=$size-byte messages).
name = "echo-closed-loop"
duration = "${duration}s"
warmup = "2s"
ramp_up = "1s"

[workload]
pattern = "echo"
closed_loop = true
payload_bytes = 0

[[transports]]
kind = "websocket"
clients = $conns
EOF
# CPU seconds process $1 has used so far (utime + stime of all its threads, /proc/PID/stat
# fields 14 and 15).
cpu_s() { awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / hz }' "/proc/$1/stat"; }
# The CPU share of client $1 and of the echo server over the $3 seconds that start $2 seconds
# from now, both measured over the same steady stretch, past connecting and warming up.
shares() { # CLIENT_PID DELAY LENGTH
  local c0 s0 t0 c1 s1 t1
  sleep "$2"
  c0=$(cpu_s "$1") s0=$(cpu_s "$server") t0=$(date +%s.%N)
  sleep "$3"
  c1=$(cpu_s "$1") s1=$(cpu_s "$server") t1=$(date +%s.%N)
  python3 -c 'import sys; c0, c1, s0, s1, t0, t1 = map(float, sys.argv[1:]); print(f"{(c1 - c0) / (t1 - t0):.3f},{(s1 - s0) / (t1 - t0):.3f}")' \
    "$c0" "$c1" "$s0" "$s1" "$t0" "$t1"
}

# One round of load_test against the echo server $server on $port. The CPU shares of client
# and server go into echo.csv beside its rate: the one whose core is full limits the rate.
run_load_test() { # ROUND
  echo "echo-bench: round $1/$rounds, load_test" >&2
  local lt cpu
  # It prints the echoes of each 4-second interval; the first is its warm-up. It runs until
  # it is stopped, so its output is line-buffered (stdbuf) lest the stop lose it.
  stdbuf -oL taskset -c 1 "$build/load_test" "$conns" 127.0.0.1 "$port" 0 0 "$size" \
    >"$out/load_test-$1.txt" 2>&1 &
  lt=$!
  cpu=$(shares "$lt" 4 "$((duration - 1))")
  sleep 1
  kill "$lt"; wait "$lt" 2>/dev/null || true
  python3 - "$out/load_test-$1.txt" "$1" "$size" "$cpu" >>"$out/echo.csv" <<'EOF'
import re, statistics, sys
path, rnd, size, cpu = sys.argv[1:5]
text = open(path).read()
if f"Using message size of {size} bytes" not in text:
    sys.exit(f"load_test did not send {size}-byte messages: {path}")
rates = [float(x) for x in re.findall(r"Msg/sec: ([\d.]+)", text)][1:]
if not rates:
    sys.exit(f"load_test printed no measurement in {path}")
print(f"load_test,{rnd},{statistics.mean(rates):.0f},{cpu}")
EOF
}

# One round of pushbench's closed-loop client against the echo server $server on $port.
run_pushbench() { # ROUND
  echo "echo-bench: round $1/$rounds, pushbench" >&2
  local pb cpu
  cat >"$out/target-$1.toml" <<EOF
name = "fastwebsockets-echo"
kind = "websocket-echo"
[server]
base = "http://127.0.0.1:$port"
pid = $server
[subscribe.websocket]
url = "{base}/"
EOF
  "$bin" run "$out/echo.toml" --target "$out/target-$1.toml" --pin 0:1 --quiet --out "$out/pushbench-$1" &
  pb=$!
  # Its window opens after the ramp-up and the warm-up (3 s).
  cpu=$(shares "$pb" 4 "$((duration - 1))")
  wait "$pb"
  python3 - "$out/pushbench-$1/summary.csv" "$1" "$cpu" >>"$out/echo.csv" <<'EOF'
import csv, sys
row = next(csv.DictReader(open(sys.argv[1])))
assert int(row["messages_lost"]) == 0 and int(row["errors"]) == 0, row
print(f"pushbench,{sys.argv[2]},{int(row['messages_delivered']) / float(row['duration_s']):.0f},{sys.argv[3]}")
EOF
}

echo "tool,round,echoes_per_s,client_cpu_share,server_cpu_share" >"$out/echo.csv"
for r in $(seq "$rounds"); do
  port=$(free_port)
  ECHO_ADDR=127.0.0.1:$port taskset -c 0 "$echo_server" >/dev/null 2>"$out/echo_server-$r.err" &
  server=$!
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.1
  done
  if [ $((r % 2)) = 1 ]; then
    run_load_test "$r"
    run_pushbench "$r"
  else
    run_pushbench "$r"
    run_load_test "$r"
  fi
  kill "$server"; wait "$server" 2>/dev/null || true
done

python3 - "$out/echo.csv" "$conns" >"$out/echo.md" <<'EOF'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1])))
tools = ("load_test", "pushbench")
print(f"| client | round | echoes/s ({sys.argv[2]} connections) | client CPU (of its core) | echo server CPU (of its core) |")
print("|---|---:|---:|---:|---:|")
for r in rows:
    print(f"| {r['tool']} | {r['round']} | {int(r['echoes_per_s']):,} | "
          f"{float(r['client_cpu_share']):.0%} | {float(r['server_cpu_share']):.0%} |")
med = {t: [statistics.median(float(r[c]) for r in rows if r["tool"] == t)
           for c in ("echoes_per_s", "client_cpu_share", "server_cpu_share")] for t in tools}
for t in tools:
    print(f"| **{t}** | median | **{med[t][0]:,.0f}** | {med[t][1]:.0%} | {med[t][2]:.0%} |")
print()
ratios = [int(p["echoes_per_s"]) / int(l["echoes_per_s"]) for p in rows if p["tool"] == "pushbench"
          for l in rows if l["tool"] == "load_test" and l["round"] == p["round"]]
print(f"pushbench / load_test: {med['pushbench'][0] / med['load_test'][0]:.2f} of the medians; "
      f"by round {', '.join(f'{x:.2f}' for x in ratios)}")
EOF
cat "$out/echo.md"
echo "echo-bench: everything is in $out" >&2
