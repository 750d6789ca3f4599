#!/usr/bin/env bash
# pushbench's server and nginx + nchan side by side (docs/targets.md): each scenario runs
# against targets/pushbench.toml and targets/nchan.toml in turn, through the same generic
# clients and the same publisher, with --pin (server on the first half of the CPUs, load
# generator on the rest), and one Markdown table compares them transport by transport.
#
#   scripts/targets-bench.sh [OUT_DIR] [SCENARIO...]
#       default scenarios: scenarios/fanout-1k.toml scenarios/scale-10k.toml
#
# Installs nginx and the nchan module when missing (scripts/install-nchan.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

out=${1:-results/targets-bench-$(date -u +%Y%m%dT%H%M%SZ)}
shift || true
scenarios=("$@")
[ ${#scenarios[@]} -gt 0 ] || scenarios=(scenarios/fanout-1k.toml scenarios/scale-10k.toml)
mkdir -p "$out"

scripts/install-nchan.sh
cargo build --release -q -p pushbench
bin=target/release/pushbench

for scenario in "${scenarios[@]}"; do
  name=$(basename "$scenario" .toml)
  for target in pushbench nchan; do
    echo "targets-bench: $name against $target" >&2
    "$bin" run "$scenario" --target "targets/$target.toml" --pin --quiet --out "$out/$name-$target"
  done
done

python3 - "$out" "${scenarios[@]}" <<'EOF' | tee "$out/targets.md"
import csv, os, sys

out = sys.argv[1]
print("| scenario | transport | clients | server | delivered | lost | errors | p50 ms | p99 ms | bytes/msg | server CPU ms per 1,000 msgs | server RSS per connection |")
print("|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|")
for scenario in sys.argv[2:]:
    name = os.path.basename(scenario)[:-len(".toml")]
    runs = {t: list(csv.DictReader(open(f"{out}/{name}-{t}/summary.csv"))) for t in ("pushbench", "nchan")}
    for i, row in enumerate(runs["pushbench"]):
        for t in ("pushbench", "nchan"):
            r = runs[t][i]
            delivered = int(r["messages_delivered"])
            cpu = float(r["server_cpu_s"]) * 1e3 / delivered * 1000 if delivered else float("nan")
            rss = r.get("server_rss_per_connection_bytes") or ""
            rss = f"{int(float(rss)) / 1024:,.1f} KiB" if rss else ""
            print(f"| {name} | {r['transport']} | {int(r['clients']):,} | {t} | {delivered:,} | "
                  f"{r['messages_lost']} | {r['errors']} | {int(r['latency_p50_us']) / 1e3:,.2f} | "
                  f"{int(r['latency_p99_us']) / 1e3:,.2f} | {float(r['bytes_per_message']):,.1f} | "
                  f"{cpu:,.1f} | {rss} |")
EOF
echo "targets-bench: everything is in $out" >&2
