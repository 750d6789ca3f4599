#!/usr/bin/env bash
# /stats round trip while the data path is overloaded (docs/benchmarks.md, issue 17): the
# server on CPU 0, scenarios/bench-ws-10k.toml (10,000 WebSocket subscribers) at RATE
# messages/s from the load generator on CPU 1, far past the fan-out ceiling, and a probe,
# also on CPU 1, asking GET /stats every 200 ms on a new connection and recording each
# round trip (connect to last byte). The probe shares its CPU with the saturated load
# generator, so its figures are upper bounds on the server's answer time.
#
#   scripts/control-rtt.sh [OUT_DIR]        env: RATE=80
set -euo pipefail
cd "$(dirname "$0")/.."
rate=${RATE:-80}
out=${1:-results/control-rtt-$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$out"
source scripts/common.sh
cargo build --release -q -p pushbench
bin=target/release/pushbench

"$bin" serve --addr 127.0.0.1:0 --cpus 0 >"$out/server.log" &
server=$!
probe=""
trap 'kill "$server" $probe 2>/dev/null || true' EXIT
addr=$(server_addr "$out/server.log")
sed -e "s/^rate = .*/rate = $rate/" scenarios/bench-ws-10k.toml >"$out/scenario.toml"
taskset -c 1 python3 - "$addr" "$out/stats-rtt.csv" <<'PY' &
import socket, sys, time
host, port = sys.argv[1].rsplit(":", 1)
with open(sys.argv[2], "w") as f:
    f.write("unix_s,round_trip_ms,status\n")
    while True:
        t0 = time.monotonic()
        status = "error"
        try:
            s = socket.create_connection((host, int(port)), timeout=60)
            s.sendall(b"GET /stats HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
            data = b""
            while chunk := s.recv(65536):
                data += chunk
            s.close()
            status = data.split(b" ", 2)[1].decode() if data else "closed"
        except OSError as e:
            status = type(e).__name__
        f.write(f"{time.time():.3f},{(time.monotonic() - t0) * 1e3:.3f},{status}\n")
        f.flush()
        time.sleep(0.2)
PY
probe=$!
code=0
"$bin" run "$out/scenario.toml" --server "http://$addr" --pin ":1" --quiet --out "$out/run" || code=$?
kill "$probe"
wait "$probe" 2>/dev/null || true
echo "pushbench run exited $code; its verdict: $(python3 -c "import csv,sys; r=next(csv.DictReader(open(sys.argv[1]))); print(r['verdict'], r['overload_reasons'], 'publisher fell behind', r['publisher_fell_behind_us'], 'us')" "$out/run/summary.csv")"
python3 - "$out/stats-rtt.csv" <<'PY'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1])))
ms = sorted(float(r["round_trip_ms"]) for r in rows if r["status"] == "200")
bad = [r for r in rows if r["status"] != "200"]
q = lambda p: ms[min(len(ms) - 1, int(p * len(ms)))]
print(f"/stats round trips: {len(ms)} answered, {len(bad)} not; median {statistics.median(ms):.1f} ms, "
      f"p99 {q(0.99):.1f} ms, max {ms[-1]:.1f} ms")
PY
