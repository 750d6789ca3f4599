#!/usr/bin/env bash
# Refreshes results/baseline/ with a new run of scenarios/ci.toml on this machine. Run it on
# the machine class CI uses, on a quiet machine, from a commit whose performance you accept
# as the new reference; then commit results/baseline/.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --release -q -p pushbench
tmp=$(mktemp -d)/baseline
target/release/pushbench run scenarios/ci.toml --out "$tmp"
readme=results/baseline/README.md
keep=$(mktemp)
[ -f "$readme" ] && cp "$readme" "$keep"
rm -rf results/baseline
mv "$tmp" results/baseline
[ -s "$keep" ] && cp "$keep" "$readme"
echo "results/baseline/ refreshed from $(git rev-parse --short HEAD 2>/dev/null || echo 'this tree'); update the date and commit in $readme, then commit the directory."
