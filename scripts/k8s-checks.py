#!/usr/bin/env python3
"""The checks of deploy/kubernetes/ that a schema cannot make, for scripts/validate-k8s.sh.

  k8s-checks.py manifests DIR      checks DIR's layout; prints every manifest, one a line
  k8s-checks.py broken DIR OUT     writes manifests the validator must refuse into OUT;
                                   prints `PATH<TAB>what is wrong` for each

`manifests`: every folder with manifests has a kustomization.yaml whose `resources` lists
exactly the YAML files beside it (none left out of `kubectl apply -k`, none missing), each
file holds at least one resource, and no resource names a namespace (the manifests are
namespace-agnostic: `kubectl -n`, or an overlay's `namespace:`, chooses). Errors are one
line each, naming the file; exit 1 on any.

`broken`: the negative controls. kubernetes-validate only warns, and exits 0, on a kind it
has no schema for, and a validator that accepts everything would pass every manifest; so the
script shows it refuses each kind of mistake before its verdict on the real files counts.
Needs PyYAML (installed with kubernetes-validate).
"""
import copy
import os
import sys

import yaml

KUSTOMIZATION = "kustomization.yaml"


def load_all(path):
    with open(path) as f:
        return [doc for doc in yaml.safe_load_all(f) if doc is not None]


def check_folder(folder, names, errors):
    manifests = sorted(n for n in names if n.endswith(".yaml") and n != KUSTOMIZATION)
    if not manifests:
        return []
    kpath = os.path.join(folder, KUSTOMIZATION)
    if KUSTOMIZATION not in names:
        errors.append(f"{folder}: manifests without a {KUSTOMIZATION}")
        return manifests
    docs = load_all(kpath)
    k = docs[0] if len(docs) == 1 else {}
    if k.get("kind") != "Kustomization":
        errors.append(f"{kpath}: kind: expected Kustomization")
    listed = k.get("resources") or []
    for r in listed:
        if r not in manifests:
            errors.append(f"{kpath}: resources: {r} is not a YAML file in {folder}")
    for m in manifests:
        if m not in listed:
            errors.append(f"{kpath}: resources: {m} is not listed")
    return manifests


def check_manifest(path, errors):
    docs = load_all(path)
    if not docs:
        errors.append(f"{path}: no resource in the file")
    for doc in docs:
        ns = (doc.get("metadata") or {}).get("namespace")
        if ns is not None:
            errors.append(f"{path}: metadata.namespace: {ns!r}; leave it out (kubectl -n chooses)")


def manifests(root):
    errors, found = [], []
    for folder, dirs, names in sorted(os.walk(root)):
        dirs.sort()
        for m in check_folder(folder, names, errors):
            path = os.path.join(folder, m)
            check_manifest(path, errors)
            found.append(path)
    if not found:
        errors.append(f"{root}: no manifest found")
    for e in errors:
        print(e, file=sys.stderr)
    if errors:
        return 1
    print("\n".join(found))
    return 0


def broken(root, out):
    (job,) = load_all(os.path.join(root, "shards", "job.yaml"))
    container = lambda d: d["spec"]["template"]["spec"]["containers"][0]  # noqa: E731
    cases = []

    def case(name, why, edit):
        doc = copy.deepcopy(job)
        edit(doc)
        cases.append((name, why, doc))

    case("unknown-field", "a misspelt field (strict)",
         lambda d: d["spec"].update(completionsMode="Indexed"))
    case("unknown-container-field", "a misspelt container field (strict)",
         lambda d: container(d).update(imagePulPolicy="Always"))
    case("wrong-type", "a string where an integer belongs",
         lambda d: d["spec"].update(completions="two"))
    case("newer-than-1.29", "spec.successPolicy, a Job field added in Kubernetes 1.30",
         lambda d: d["spec"].update(successPolicy={"rules": [{"succeededCount": 1}]}))
    case("missing-required", "a container without its required name",
         lambda d: container(d).pop("name"))
    case("unknown-kind", "a kind no schema describes (the validator only warns)",
         lambda d: d.update(kind="Jobb"))
    os.makedirs(out, exist_ok=True)
    for name, why, doc in cases:
        path = os.path.join(out, f"{name}.yaml")
        with open(path, "w") as f:
            yaml.safe_dump(doc, f, sort_keys=False)
        print(f"{path}\t{why}")
    return 0


def main(argv):
    if len(argv) == 3 and argv[1] == "manifests":
        return manifests(argv[2])
    if len(argv) == 4 and argv[1] == "broken":
        return broken(argv[2], argv[3])
    print("usage: k8s-checks.py manifests DIR | k8s-checks.py broken DIR OUT", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
