#!/usr/bin/env bash
# Runs one sharded benchmark on a Kubernetes cluster and copies its results here
# (docs/distributed.md walks through the same steps by hand).
#
#   deploy/kubernetes/run.sh --image IMAGE --shards N [--namespace NS] [--lead SECONDS]
#                            [--storage-class NAME] [--access-mode MODE] [--out DIR]
#                            SCENARIO.toml
#   deploy/kubernetes/run.sh --image IMAGE --shards N --render DIR SCENARIO.toml
#
# 1. server: the Deployment, Service and results volume (ReadWriteMany, of the cluster's
#    default StorageClass unless --storage-class and --access-mode say otherwise: a
#    one-node test cluster can use ReadWriteOnce), with IMAGE; the control token
#    Secret is created once with a random token; waits until the server is ready.
# 2. shards: the pushbench-run ConfigMap (the scenario, N, a run id, and the start time:
#    now + --lead seconds, default 120, computed once here so every shard gets the same),
#    then the Indexed Job with N completions run in parallel; waits for it.
# 3. merge: the merge Job over shard-1..N; waits for it.
# 4. fetch: copies /results/<run id>/ (the shards and merged/) to DIR (default
#    results/<run id>/) through a reader pod, then deletes that pod.
# The server keeps running for the next run; `kubectl -n NS delete -k
# deploy/kubernetes/server` removes it, and the results volume with it.
#
# --render DIR writes the rendered manifests of every stage to DIR and contacts no cluster.
# Exit codes: 0 done, 1 a stage failed (its pods' last log lines are printed), 2 bad input.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

image="" shards="" namespace="" lead=120 out="" render="" scenario="" storage_class="" access_mode=""

usage() {
  echo "run.sh: $1 (deploy/kubernetes/run.sh --help)" >&2
  exit 2
}

parse_args() {
  while [ $# -gt 0 ]; do
    case "$1" in
      --image | --shards | --namespace | --lead | --out | --render | --storage-class | --access-mode)
        [ $# -ge 2 ] || usage "$1 needs a value"
        local v="$2"
        case "$1" in
          --image) image=$v ;; --shards) shards=$v ;; --namespace) namespace=$v ;;
          --lead) lead=$v ;; --out) out=$v ;; --render) render=$v ;;
          --storage-class) storage_class=$v ;; --access-mode) access_mode=$v ;;
        esac
        shift 2 ;;
      -h | --help) sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
      -*) usage "unknown option $1" ;;
      *) [ -z "$scenario" ] || usage "one scenario only ($scenario, $1)"; scenario=$1; shift ;;
    esac
  done
  [ -n "$scenario" ] || usage "no scenario given"
  [ -f "$scenario" ] || usage "$scenario: no such file"
  [ -n "$image" ] || usage "--image is required (the image pushed to a registry the cluster pulls from)"
  [[ "$shards" =~ ^[1-9][0-9]*$ ]] || usage "--shards: expected a whole number of at least 1, got '$shards'"
  if ! [[ "$lead" =~ ^[0-9]+$ ]] || [ "$lead" -lt 10 ]; then
    usage "--lead: expected whole seconds, at least 10, got '$lead'"
  fi
  case "$access_mode" in
    "" | ReadWriteMany | ReadWriteOnce | ReadWriteOncePod) ;;
    *) usage "--access-mode: expected ReadWriteMany, ReadWriteOnce or ReadWriteOncePod, got '$access_mode'" ;;
  esac
}

# Writes the kustomize overlay of one stage into $work/$1: the stage's manifests with
# IMAGE (for the shards, N as completions and parallelism; for the server, the volume's
# storage class and access mode when given).
overlay() {
  local stage=$1 name=$image tag="" digest=""
  if [[ "$image" == *@* ]]; then
    name=${image%@*} digest=${image#*@}
  elif [[ "${image##*/}" == *:* ]]; then
    name=${image%:*} tag=${image##*:}
  fi
  mkdir -p "$work/$stage"
  {
    echo "apiVersion: kustomize.config.k8s.io/v1beta1"
    echo "kind: Kustomization"
    echo "resources:"
    echo "  - $(realpath --relative-to="$work/$stage" "$here/$stage")"
    echo "images:"
    echo "  - name: pushbench"
    echo "    newName: $name"
    [ -z "$tag" ] || echo "    newTag: \"$tag\""
    [ -z "$digest" ] || echo "    digest: $digest"
    if [ "$stage" = shards ]; then
      echo "patches:"
      echo "  - target: {group: batch, kind: Job, name: pushbench-shards}"
      echo "    patch: |"
      echo "      - {op: replace, path: /spec/completions, value: $shards}"
      echo "      - {op: replace, path: /spec/parallelism, value: $shards}"
    fi
    if [ "$stage" = server ] && [ -n "$storage_class$access_mode" ]; then
      echo "patches:"
      echo "  - target: {kind: PersistentVolumeClaim, name: pushbench-results}"
      echo "    patch: |"
      [ -z "$storage_class" ] || echo "      - {op: add, path: /spec/storageClassName, value: \"$storage_class\"}"
      [ -z "$access_mode" ] || echo "      - {op: replace, path: /spec/accessModes, value: [$access_mode]}"
    fi
  } >"$work/$stage/kustomization.yaml"
}

rendered() { overlay "$1" && kubectl kustomize "$work/$1"; }

k() { kubectl ${namespace:+--namespace "$namespace"} "$@"; }

# The ConfigMap every shard and the merge read: one scenario, one N, one run id, and the
# one start time.
run_configmap() {
  local now start
  now=$(date -u +%s)
  start=$(date -u -d "@$((now + lead))" +%Y-%m-%dT%H:%M:%SZ)
  kubectl create configmap pushbench-run --dry-run=client -o yaml \
    --from-file=scenario.toml="$scenario" --from-literal=shards="$shards" \
    --from-literal=start-at="$start" --from-literal=run-id="$run_id"
}

# Waits until Job $1 has completed (0) or failed (1, with its pods' last log lines).
wait_job() {
  local job=$1 state
  while :; do
    state=$(k get job "$job" -o jsonpath='{range .status.conditions[?(@.status=="True")]}{.type} {end}')
    case " $state " in
      *" Complete "*) echo "$job: complete"; return 0 ;;
      *" Failed "*)
        echo "$job: failed: $(k get job "$job" -o jsonpath='{.status.conditions[?(@.type=="Failed")].message}')" >&2
        k logs --selector "batch.kubernetes.io/job-name=$job" --prefix --tail 5 >&2 || true
        return 1 ;;
    esac
    echo "$job: $(k get job "$job" -o jsonpath='active {.status.active}, succeeded {.status.succeeded}, failed {.status.failed}')"
    sleep 10
  done
}

start_server() {
  if ! k get secret pushbench-control >/dev/null 2>&1; then
    k create secret generic pushbench-control \
      --from-literal=token="$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')" >/dev/null
  fi
  rendered server | k apply -f -
  k rollout status deployment/pushbench-server --timeout=300s
}

run_jobs() {
  # A Job's pod template cannot change, and the ConfigMap belongs to one run: start clean.
  k delete job pushbench-shards pushbench-merge --ignore-not-found --cascade=foreground
  run_configmap | k apply -f -
  rendered shards | k apply -f -
  echo "shards: $shards, run $run_id, starting $(k get configmap pushbench-run -o jsonpath='{.data.start-at}')"
  wait_job pushbench-shards || exit 1
  rendered merge | k apply -f -
  wait_job pushbench-merge || exit 1
}

fetch() {
  k delete pod pushbench-results-reader --ignore-not-found
  rendered reader | k apply -f -
  k wait --for=condition=Ready pod/pushbench-results-reader --timeout=300s
  k cp "pushbench-results-reader:/results/$run_id" "$dest"
  k delete pod pushbench-results-reader --wait=false
  echo "$dest/merged/report.html"
}

main() {
  parse_args "$@"
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  run_id="$(basename "$scenario" .toml)-$(date -u +%Y%m%dT%H%M%SZ)"
  if [ -n "$render" ]; then
    mkdir -p "$render"
    for stage in server shards merge reader; do rendered "$stage" >"$render/$stage.yaml"; done
    run_configmap >"$render/run-configmap.yaml"
    echo "$render"
    return
  fi
  command -v kubectl >/dev/null || usage "kubectl is not installed"
  dest=${out:-results/$run_id}
  [ ! -e "$dest" ] || usage "--out: $dest exists; give a new directory"
  start_server
  run_jobs
  fetch
}

main "$@"
