#!/usr/bin/env bash
# Validates every manifest of deploy/kubernetes/ offline against the Kubernetes API schemas
# of the oldest version the manifests support (1.29.0) and of the newest the validator
# ships, with kubernetes-validate --strict (unknown fields refused). Run by .ci/run.
#
# kubernetes-validate is installed from PyPI, pinned, into a virtual environment under
# target/ (Debian's Python refuses `pip install` outside one, PEP 668); when it cannot be
# installed this says so in one line and passes, except with CI=true, where it fails.
#
# Before the real manifests, it checks that the validator refuses known mistakes (a
# misspelt field, a wrong type, a field newer than 1.29, an unknown kind...): a validator
# that passed everything would otherwise pass here too.
set -euo pipefail
cd "$(dirname "$0")/.."

VALIDATOR=kubernetes-validate==1.37.0
VERSIONS=(1.29.0 1.37.0)
manifests_dir=deploy/kubernetes
venv=target/k8s-validate
work=target/k8s-validate-broken

missing() {
  if [ "${CI:-}" = true ]; then
    echo "validate-k8s: $1 (CI=true: failing)" >&2
    exit 1
  fi
  echo "validate-k8s: $1; manifests not validated" >&2
  exit 0
}

install() {
  if [ -x "$venv/bin/kubernetes-validate" ]; then
    [ "$("$venv/bin/kubernetes-validate" --version 2>/dev/null)" = "${VALIDATOR#*==}" ] && return
    rm -rf "$venv" # another version: the pin moved
  fi
  command -v python3 >/dev/null || missing "python3 is missing (apt-get install python3-venv)"
  if ! python3 -m venv "$venv" >/dev/null 2>&1; then
    rm -rf "$venv"
    # Debian's python3 lacks ensurepip without python3-venv.
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      echo "installing python3-venv (apt-get)" >&2
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends python3-venv >/dev/null
    fi
    python3 -m venv "$venv" >/dev/null 2>&1 ||
      { rm -rf "$venv"; missing "python3 cannot create a virtual environment (apt-get install python3-venv)"; }
  fi
  echo "installing $VALIDATOR (pip, into $venv)" >&2
  "$venv/bin/pip" install -q --disable-pip-version-check "$VALIDATOR" >&2 ||
    { rm -rf "$venv"; missing "kubernetes-validate could not be installed from PyPI"; }
}

# kubernetes-validate exits 0 after a WARN (no schema for a kind), so any line other than
# INFO counts as a failure too.
validate() {
  local args=() v out rc=0
  for v in "${VERSIONS[@]}"; do args+=(--kubernetes-version "$v"); done
  out=$("$venv/bin/kubernetes-validate" --strict --quiet "${args[@]}" "$@" 2>&1) || rc=1
  [ -n "$out" ] && rc=1
  printf '%s' "$out"
  return $rc
}

install
py="$venv/bin/python"

rm -rf "$work"
controls=0
while IFS=$'\t' read -r file why; do
  if out=$(validate "$file"); then
    echo "validate-k8s: the validator accepted $why ($file); its verdicts cannot be trusted" >&2
    exit 1
  fi
  controls=$((controls + 1))
done < <("$py" scripts/k8s-checks.py broken "$manifests_dir" "$work")
[ "$controls" -gt 0 ] || { echo "validate-k8s: no negative control was written" >&2; exit 1; }

list=$("$py" scripts/k8s-checks.py manifests "$manifests_dir")
mapfile -t files <<<"$list"
if ! out=$(validate "${files[@]}"); then
  echo "$out" >&2
  echo "validate-k8s: deploy/kubernetes/ is not valid (above)" >&2
  exit 1
fi
echo "validate-k8s: ${#files[@]} manifests valid for Kubernetes ${VERSIONS[*]} ($VALIDATOR --strict; $controls broken ones refused)"
