#!/usr/bin/env bash
# The CI regression gate (docs/compare.md). By default it is paired: it builds the pull
# request's base commit and its head (`cargo build --release`, each in its own target
# directory), runs scenarios/ci-paired.toml once against both servers, interleaved by one
# load generator, and judges the head against the base pair by pair. With
# --committed-baseline it runs scenarios/ci.toml against the head alone and compares it with
# the committed reference run in results/baseline/ instead, for CI that cannot build the
# base. Either way it exits with compare's code (0 no regression, 1 regression, 2 bad
# input); the Markdown verdict goes to stdout and, in GitHub Actions, to the job summary.
#
#   scripts/ci-bench.sh --base REV [compare options, e.g. --threshold p99=15%]
#   scripts/ci-bench.sh --committed-baseline [compare options]
#
# The paired gate widens the p99 and p99.9 thresholds (PAIRED_GATE_THRESHOLDS in
# scripts/common.sh); compare options given here come after them, and win.
#
# Without --base, the base is $PUSHBENCH_BASE, else origin/$GITHUB_BASE_REF (GitHub Actions
# on a pull request). The base's binary is kept as target/ci-bench/bin/pushbench-<commit>
# and its build in target/ci-bench/target, so a second run against the same base builds
# nothing for it, and one against a newer base only its changed crates.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/common.sh

mode=paired
base=${PUSHBENCH_BASE:-}
if [ -z "$base" ] && [ -n "${GITHUB_BASE_REF:-}" ]; then
  base="origin/$GITHUB_BASE_REF"
fi
while [ $# -gt 0 ]; do
  case "$1" in
    --base) base=${2:?--base needs a commit}; shift 2 ;;
    --base=*) base=${1#--base=}; shift ;;
    --committed-baseline) mode=committed; shift ;;
    *) break ;;
  esac
done

# Builds the pushbench of commit $1 in its own target directory, unless its binary is kept
# from an earlier run, and prints the binary's path. Only the latest base's binary is kept.
build_base() {
  local sha bin src=target/ci-bench/src
  sha=$(git rev-parse --verify --quiet "$1^{commit}") || {
    echo "ci-bench: $1 is not a commit of this repository (fetch it: actions/checkout with fetch-depth: 0)" >&2
    return 2
  }
  bin="$PWD/target/ci-bench/bin/pushbench-${sha:0:12}"
  if [ ! -x "$bin" ]; then
    echo "ci-bench: building the base ${sha:0:12} into target/ci-bench/target" >&2
    # A worktree, so that the base's build script records the base's commit; always at
    # the same path, so that its crates' artifacts in target/ci-bench/target are reused.
    git worktree remove --force "$src" 2>/dev/null || rm -rf "$src"
    git worktree prune
    git worktree add -q --detach "$src" "$sha"
    cargo build --release -q -p pushbench --manifest-path "$src/Cargo.toml" \
      --target-dir "$PWD/target/ci-bench/target"
    rm -rf target/ci-bench/bin
    mkdir -p target/ci-bench/bin
    cp target/ci-bench/target/release/pushbench "$bin"
    git worktree remove --force "$src"
  fi
  echo "$bin"
}

# The head: the load generator of either mode, and the paired run's candidate server.
cargo build --release -q -p pushbench
out=$(mktemp -d)/ci

if [ "$mode" = paired ]; then
  if [ -z "$base" ]; then
    echo "ci-bench: name the base commit: --base REV (or \$PUSHBENCH_BASE), or gate on the committed baseline with --committed-baseline" >&2
    exit 2
  fi
  base_bin=$(build_base "$base")
  # The head's server under its commit's name, so that the verdict names both builds.
  head_sha=$(git rev-parse --short=12 HEAD)
  git diff --quiet HEAD -- || head_sha="$head_sha-dirty"
  rm -rf target/ci-bench/head
  mkdir -p target/ci-bench/head
  head_bin="$PWD/target/ci-bench/head/pushbench-$head_sha"
  cp target/release/pushbench "$head_bin"
  target/release/pushbench run scenarios/ci-paired.toml --out "$out" --quiet \
    --baseline-bin "$base_bin" --candidate-bin "$head_bin"
  echo "paired run: $out (base $(basename "$base_bin"), head $(basename "$head_bin"))"
  judged=("$out" "${PAIRED_GATE_THRESHOLDS[@]}")
else
  target/release/pushbench run scenarios/ci.toml --out "$out" --quiet
  echo "candidate run: $out"
  judged=(results/baseline "$out")
fi

set +e
target/release/pushbench compare "${judged[@]}" --format markdown --html "$out/compare.html" "$@" >"$out/compare.md"
code=$?
set -e
cat "$out/compare.md"
if [ -n "${GITHUB_STEP_SUMMARY:-}" ]; then
  cat "$out/compare.md" >>"$GITHUB_STEP_SUMMARY"
fi
echo "comparison page: $out/compare.html"
exit "$code"
