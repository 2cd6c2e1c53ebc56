#!/usr/bin/env bash
# Refreshes every derived packaging file from its source:
#   deploy/crd.yaml                      -> charts/jumpnet-operator/crds/jumpnetclusters.jumpnet.io.yaml
#   deploy/grafana/*.json                -> charts/jumpnet-operator/dashboards/
#   deploy/prometheus/jumpnet-rules.yaml -> charts/jumpnet-operator/files/prometheus-rules.yaml
#   charts/jumpnet-operator/values.yaml  -> the values table of charts/jumpnet-operator/README.md
#   deploy/crd.yaml                      -> the cluster.* schemas of charts/jumpnet-operator/values.schema.json
#   the chart (defaults)                 -> deploy/operator.yaml (Namespace jumpnet-system + the operator)
#
#   scripts/sync-chart-files.sh          # rewrite them
#   scripts/sync-chart-files.sh --check  # exit 1 (naming each stale file) when any differs
# The chart tests run --check, so a change to a source without this script fails CI.
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"
cd "$JUMPNET_ROOT"

CHART=charts/jumpnet-operator
check=0
[[ ${1:-} == --check ]] && check=1
stale=()
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# update DEST CANDIDATE: installs CANDIDATE as DEST, or in --check mode records DEST when they differ.
update() {
  if ! cmp -s "$1" "$2"; then
    if ((check)); then stale+=("$1"); else mkdir -p "$(dirname "$1")"; cp "$2" "$1"; fi
  fi
}

# -- CRD --------------------------------------------------------------------------------------------
if [[ -f deploy/crd.yaml ]]; then
  update "$CHART/crds/jumpnetclusters.jumpnet.io.yaml" deploy/crd.yaml
else
  stale+=("deploy/crd.yaml (missing: the operator team generates it with \`jumpnet-operator crd\`)")
fi

# -- dashboards: the chart holds exactly the JSON files of deploy/grafana -----------------------------
mkdir -p "$work/dashboards"
shopt -s nullglob
for f in deploy/grafana/*.json; do cp "$f" "$work/dashboards/"; done
for f in "$work"/dashboards/*.json; do update "$CHART/dashboards/$(basename "$f")" "$f"; done
for f in "$CHART"/dashboards/*.json; do
  [[ -f deploy/grafana/$(basename "$f") ]] && continue
  if ((check)); then stale+=("$f (no deploy/grafana/$(basename "$f"))"); else rm -f "$f"; fi
done

# -- alert rules --------------------------------------------------------------------------------------
if [[ -f deploy/prometheus/jumpnet-rules.yaml ]]; then
  update "$CHART/files/prometheus-rules.yaml" deploy/prometheus/jumpnet-rules.yaml
elif [[ -f $CHART/files/prometheus-rules.yaml ]]; then
  if ((check)); then stale+=("$CHART/files/prometheus-rules.yaml (no deploy/prometheus/jumpnet-rules.yaml)"); else rm -f "$CHART/files/prometheus-rules.yaml"; fi
fi

# -- values.schema.json: cluster.* checked against the CRD's own schema ---------------------------------
if ((check)); then
  "$JUMPNET_PYTHON" scripts/chart-values-schema.py --check || stale+=("$CHART/values.schema.json")
else
  "$JUMPNET_PYTHON" scripts/chart-values-schema.py
fi

# -- chart README values table -----------------------------------------------------------------------
if ((check)); then
  "$JUMPNET_PYTHON" scripts/chart-readme.py --check || stale+=("$CHART/README.md")
else
  "$JUMPNET_PYTHON" scripts/chart-readme.py
fi

# -- deploy/operator.yaml: the chart's defaults, for `kubectl apply -f deploy/` ------------------------
"$HELM" template jumpnet-operator "$CHART" --namespace jumpnet-system --set dashboards.enabled=false \
  >"$work/rendered.yaml"
"$JUMPNET_PYTHON" - "$work/rendered.yaml" >"$work/operator.yaml" <<'PY'
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "jumpnet-system", "labels": {
    "app.kubernetes.io/part-of": "jumpnet",
    # the operator runs under the restricted Pod Security Standard; enforce it for the namespace
    "pod-security.kubernetes.io/enforce": "restricted"}}}
def relabel(labels):
    if labels is None:
        return
    labels.pop("helm.sh/chart", None)
    if labels.get("app.kubernetes.io/managed-by") == "Helm":
        labels["app.kubernetes.io/managed-by"] = "kubectl"
for d in docs:
    relabel(d["metadata"].get("labels"))
    tpl = (d.get("spec") or {}).get("template")
    if tpl:
        relabel(tpl["metadata"].get("labels"))
print("# The Jumpnet operator for `kubectl apply -f deploy/` (after deploy/crd.yaml, which sorts first).")
print("# Generated from charts/jumpnet-operator with its default values by scripts/sync-chart-files.sh;")
print("# do not edit: change the chart and run that script.")
sys.stdout.write(yaml.safe_dump_all([ns] + docs, sort_keys=False, explicit_start=True))
PY
update deploy/operator.yaml "$work/operator.yaml"

if ((${#stale[@]})); then
  printf 'stale or missing (run scripts/sync-chart-files.sh): %s\n' "${stale[@]}" >&2
  exit 1
fi
((check)) && echo "chart copies, README values and deploy/operator.yaml are current"
exit 0
