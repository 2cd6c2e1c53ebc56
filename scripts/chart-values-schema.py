#!/usr/bin/env python3
"""Derives the chart's `cluster.*` value schemas from the JumpnetCluster CRD (deploy/crd.yaml), so
`helm install/template` rejects what the API server would drop or refuse: unknown keys (typos, a field in
the wrong place) and wrong types (`maxAgeMs: "7d"`).

    scripts/chart-values-schema.py           # rewrite charts/jumpnet-operator/values.schema.json
    scripts/chart-values-schema.py --check   # exit 1 when it is not current

The CRD's structural schema becomes JSON Schema draft-07: every object with properties gets
`additionalProperties: false`, `x-kubernetes-int-or-string` becomes integer-or-string, `nullable` adds
null, Kubernetes-only keywords (`x-kubernetes-*`, formats, defaults) are dropped. Run by
scripts/sync-chart-files.sh; the chart tests run its --check.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
CRD = ROOT / "deploy" / "crd.yaml"
VALUES_SCHEMA = ROOT / "charts" / "jumpnet-operator" / "values.schema.json"

# chart value path under `cluster` -> CRD path under `spec`
DERIVED = {
    ("config",): ("config",),
    ("service",): ("service",),
    ("podTemplate",): ("podTemplate",),
    ("resources",): ("resources",),
    ("rollout",): ("rollout",),
    ("tls",): ("tls",),
    ("kafka",): ("kafka",),
    ("metrics", "serviceMonitor", "labels"): ("metrics", "serviceMonitor", "labels"),
}
DROP = {"default", "format", "nullable", "x-kubernetes-int-or-string", "x-kubernetes-list-type",
        "x-kubernetes-list-map-keys", "x-kubernetes-map-type", "x-kubernetes-validations",
        "x-kubernetes-preserve-unknown-fields", "x-kubernetes-embedded-resource"}


def convert(node: dict) -> dict:
    out = {k: v for k, v in node.items() if k not in DROP}
    if "properties" in out:
        out["properties"] = {k: convert(v) for k, v in out["properties"].items()}
        if "additionalProperties" not in node and not node.get("x-kubernetes-preserve-unknown-fields"):
            out["additionalProperties"] = False
    if isinstance(out.get("additionalProperties"), dict):
        out["additionalProperties"] = convert(out["additionalProperties"])
    if isinstance(out.get("items"), dict):
        out["items"] = convert(out["items"])
    if node.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if node.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
    return out


def crd_spec_schema() -> dict:
    crd = yaml.safe_load(CRD.read_text())
    return crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]


def at(schema: dict, path: tuple) -> dict:
    for key in path:
        schema = schema["properties"][key]
    return schema


def derived_values_schema() -> str:
    values = json.loads(VALUES_SCHEMA.read_text())
    spec = crd_spec_schema()
    cluster = values["properties"]["cluster"]
    for chart_path, crd_path in DERIVED.items():
        parent = at(cluster, chart_path[:-1])
        sub = convert(at(spec, crd_path))
        sub.pop("description", None)
        parent["properties"][chart_path[-1]] = sub
    return json.dumps(values, indent=2) + "\n"


def main() -> int:
    text = derived_values_schema()
    if sys.argv[1:] == ["--check"]:
        if VALUES_SCHEMA.read_text() != text:
            print(f"{VALUES_SCHEMA.relative_to(ROOT)} is not derived from the current CRD "
                  "(run scripts/chart-values-schema.py)", file=sys.stderr)
            return 1
        return 0
    VALUES_SCHEMA.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
