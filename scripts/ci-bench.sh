#!/usr/bin/env bash
# The CI regression gate: runs scenarios/ci.toml, compares it with the committed baseline in
# results/baseline/, and exits with compare's code (0 no regression, 1 regression, 2 bad
# input). The Markdown verdict goes to stdout and, in GitHub Actions, to the job summary.
#
#   scripts/ci-bench.sh [extra compare options, e.g. --threshold p99=15%]
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --release -q -p pushbench
out=$(mktemp -d)/ci
target/release/pushbench run scenarios/ci.toml --out "$out" --quiet
echo "candidate run: $out"

set +e
target/release/pushbench compare results/baseline "$out" --format markdown --html "$out/compare.html" "$@" >"$out/compare.md"
code=$?
set -e
cat "$out/compare.md"
if [ -n "${GITHUB_STEP_SUMMARY:-}" ]; then
  cat "$out/compare.md" >>"$GITHUB_STEP_SUMMARY"
fi
echo "comparison page: $out/compare.html"
exit "$code"
