"""Dashboards, alert rules and runbooks checked without a running cluster.

Every PromQL expression parses (promtool), uses only metric names Jumpnet exports (SPEC §7, process_*) or
that an explicitly allow-listed exporter provides, and every alert carries a summary, a description and a
runbook link that resolves to a section of docs/runbooks.md.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
import yaml

import known_metrics as km
from promql import analyze, substitute, variable_selector, walk_dashboard

REPO = km.REPO
GRAFANA = REPO / "deploy/grafana"
RULES = REPO / "deploy/prometheus/jumpnet-rules.yaml"
RULES_TEST = REPO / "tests/observability/rules_test.yaml"
RUNBOOKS = REPO / "docs/runbooks.md"
DASHBOARDS = ["jumpnet-broker.json", "jumpnet-operator.json"]
VALUES = {"namespace": "default", "cluster": "jn", "pod": ".*", "datasource": "prometheus"}


def load_dashboard(name):
    return json.loads((GRAFANA / name).read_text())


def dashboard_queries():
    """(dashboard, where, PromQL) for every target, and the selector of every label_values() variable."""
    out = []
    for name in DASHBOARDS:
        for where, kind, q in walk_dashboard(load_dashboard(name)):
            if kind == "variable":
                parsed = variable_selector(q)
                assert parsed is not None, f"{name} {where}: only label_values() variables are supported: {q}"
                q = parsed[0]
                if not q:
                    continue
            out.append((name, where, substitute(q, VALUES)))
    return out


def alert_rules():
    doc = yaml.safe_load(RULES.read_text())
    return [(g["name"], r) for g in doc["groups"] for r in g["rules"]]


def recorded_names():
    return {r["record"] for _, r in alert_rules() if "record" in r}


def all_queries():
    qs = [(f"{d} {w}", q) for d, w, q in dashboard_queries()]
    qs += [(f"rule {r.get('alert') or r.get('record')}", r["expr"]) for _, r in alert_rules()]
    return qs


def test_generated_dashboards_are_up_to_date():
    proc = subprocess.run(
        [sys.executable, str(GRAFANA / "build_dashboards.py"), "--check"], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("name", DASHBOARDS)
def test_dashboard_has_datasource_namespace_cluster_pod_variables(name):
    variables = {v["name"]: v for v in load_dashboard(name)["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    for var in ("namespace", "cluster", "pod"):
        assert variables[var]["type"] == "query"
        assert variables[var]["datasource"]["uid"] == "${datasource}"


@pytest.mark.parametrize("name", DASHBOARDS)
def test_dashboard_layout_is_sound(name):
    doc = load_dashboard(name)
    ids = [p["id"] for p in doc["panels"]]
    assert len(ids) == len(set(ids)), "duplicate panel ids"
    cells = set()
    for p in doc["panels"]:
        g = p["gridPos"]
        assert 0 <= g["x"] and g["x"] + g["w"] <= 24, p["title"]
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                assert (x, y) not in cells, f"panel {p['title']!r} overlaps another"
                cells.add((x, y))
        if p["type"] != "row":
            assert p["datasource"]["uid"] == "${datasource}", p["title"]
            assert p["targets"] and all(t["datasource"]["uid"] == "${datasource}" for t in p["targets"])
            assert p.get("description"), f"panel {p['title']!r} has no description"


def test_broker_dashboard_has_the_panels_issue_6_lists():
    doc = load_dashboard("jumpnet-broker.json")
    rows = [p["title"] for p in doc["panels"] if p["type"] == "row"]
    assert rows == ["Health", "Requests", "Messages", "Kafka", "Raft", "Resources", "Operator"]
    titles = {p["title"] for p in doc["panels"]}
    wanted = {
        "Members up", "Has leader", "Leader", "Term", "Leader changes (1h)",
        "Request rate by route", "Errors by route", "Publish commit latency", "Messages in / out",
        "Bytes in / out", "Log progress", "Follower lag", "Log fsync latency", "Peer RPC failures",
        "Pod CPU (cAdvisor)", "Pod memory (cAdvisor)", "PVC usage (kubelet)", "Reconciliations",
        "Reconcile errors", "Kafka request rate by API", "Kafka request latency p99 by API",
        "Kafka errors by API", "Kafka connections", "Kafka consumer group lag",
    }  # fmt: skip
    assert wanted <= titles, wanted - titles
    commit = next(p for p in doc["panels"] if p["title"] == "Publish commit latency")
    assert [t["legendFormat"] for t in commit["targets"]] == ["p50", "p99"]


def test_operator_dashboard_shows_reconciliations_and_errors():
    titles = {p["title"] for p in load_dashboard("jumpnet-operator.json")["panels"]}
    assert {"Reconciliations by result", "Reconcile errors by kind", "Reconcile duration", "Clusters managed"} <= titles


def test_every_query_parses_with_promtool(tmp_path):
    """Each dashboard query (variables filled in) and rule expression as a recording rule: promtool parses it."""
    queries = all_queries()
    rules = {
        "groups": [
            {"name": "check", "rules": [{"record": f"check:q{i}", "expr": q} for i, (_, q) in enumerate(queries)]}
        ]
    }
    path = tmp_path / "queries.yaml"
    path.write_text(yaml.safe_dump(rules))
    proc = subprocess.run(["promtool", "check", "rules", str(path)], capture_output=True, text=True)
    if proc.returncode != 0:
        bad = sorted({int(i) for i in re.findall(r"check:q(\d+)", proc.stdout + proc.stderr)})
        detail = "\n".join(f"  {queries[i][0]}: {queries[i][1]}" for i in bad)
        pytest.fail(f"promtool rejects queries:\n{proc.stdout}{proc.stderr}\n{detail}")
    assert f"SUCCESS: {len(queries)} rules found" in proc.stdout


def test_every_metric_name_is_exported_by_jumpnet_or_allow_listed():
    allowed = (
        km.series_names(km.BROKER)
        | km.series_names(km.BROKER_EXTRA)
        | km.series_names(km.TLS)
        | km.series_names(km.KAFKA)
        | km.series_names(km.OPERATOR)
        | km.PROCESS
        | set(km.EXTERNAL)
        | recorded_names()
    )
    unknown = []
    for where, q in all_queries():
        for sel in analyze(q).selectors:
            assert sel.metric, f"{where}: selector without a metric name: {q}"
            if sel.metric not in allowed:
                unknown.append(f"{where}: {sel.metric}")
    assert not unknown, "metric names nobody exports:\n" + "\n".join(unknown)


def test_jumpnet_selectors_use_only_their_labels():
    families = {**km.BROKER, **km.BROKER_EXTRA, **km.TLS, **km.KAFKA, **km.OPERATOR}
    labels = {**km.BROKER_LABELS, **km.BROKER_EXTRA_LABELS, **km.TLS_LABELS, **km.KAFKA_LABELS}
    problems = []
    for where, q in all_queries():
        for sel in analyze(q).selectors:
            fam = km.family_of(sel.metric, families)
            if fam is None:
                continue
            own = labels.get(fam, set()) | ({"le"} if sel.metric.endswith("_bucket") else set())
            for label in sel.labels():
                if label not in own | km.TARGET_LABELS:
                    problems.append(f"{where}: {sel.metric} has no label {label!r}")
    assert not problems, "\n".join(problems)


def test_allow_list_entries_are_all_used():
    used = {m for _, q in all_queries() for m in analyze(q).metrics}
    assert set(km.EXTERNAL) <= used, f"unused allow-list entries: {set(km.EXTERNAL) - used}"


def test_known_names_match_spec_section_7():
    names = km.spec_section7()
    if names is None:
        pytest.skip(f"{km.SPEC} is not beside the repository")
    assert names == set(km.BROKER) | set(km.OPERATOR)


def test_extra_broker_names_are_outside_spec_section_7_and_never_opt_in_in_dashboards_or_rules():
    """BROKER_EXTRA holds only what SPEC §7 lacks (a name the SPEC adopts moves to BROKER), and a series that
    exists only behind a flag is not what a panel or an alert depends on."""
    names = km.spec_section7()
    if names is not None:
        assert not names & set(km.BROKER_EXTRA), names & set(km.BROKER_EXTRA)
    assert km.BROKER_EXTRA_OPT_IN <= set(km.BROKER_EXTRA)
    used = {m for _, q in all_queries() for m in analyze(q).metrics}
    assert not used & km.BROKER_EXTRA_OPT_IN, used & km.BROKER_EXTRA_OPT_IN


# -- alerts and runbooks --------------------------------------------------------------------------------

ISSUE_6_ALERTS = {
    "JumpnetNoLeader",
    "JumpnetFrequentLeaderChanges",
    "JumpnetFollowerLagGrowing",
    "JumpnetPublishErrorRatio",
    "JumpnetFsyncSlow",
    "JumpnetPVCAlmostFull",
    "JumpnetOperatorReconcileErrors",
}


def runbook_anchors():
    """GitHub's anchors for the ## headings of docs/runbooks.md."""
    heads = re.findall(r"^## (.+)$", RUNBOOKS.read_text(), re.M)
    return {re.sub(r"[^a-z0-9 _-]", "", h.strip().lower()).replace(" ", "-"): h for h in heads}


def test_rules_cover_the_alerts_issue_6_lists():
    names = {r["alert"] for _, r in alert_rules() if "alert" in r}
    assert ISSUE_6_ALERTS <= names, ISSUE_6_ALERTS - names


@pytest.mark.parametrize("group,rule", alert_rules(), ids=lambda x: x.get("alert") if isinstance(x, dict) else x)
def test_alert_has_severity_summary_description_and_runbook(group, rule):
    assert rule["labels"]["severity"] in ("warning", "critical")
    ann = rule["annotations"]
    assert ann["summary"].strip() and ann["description"].strip()
    url = ann["runbook_url"]
    assert url.startswith("https://github.com/jumpnet/jumpnet/blob/main/docs/runbooks.md#"), url
    anchor = url.split("#", 1)[1]
    assert anchor in runbook_anchors(), f"{url}: no section {anchor!r} in docs/runbooks.md"
    assert runbook_anchors()[anchor] == rule["alert"]


def test_every_runbook_section_belongs_to_an_alert():
    alerts = {r["alert"] for _, r in alert_rules()}
    assert set(runbook_anchors().values()) == alerts


def test_every_alert_has_a_promtool_unit_test():
    text = RULES_TEST.read_text()
    alerts = {r["alert"] for _, r in alert_rules()}
    doc = yaml.safe_load(text)
    tested = {c["alertname"] for t in doc["tests"] for c in t.get("alert_rule_test", [])}
    assert alerts <= tested, alerts - tested
    firing = {c["alertname"] for t in doc["tests"] for c in t.get("alert_rule_test", []) if c.get("exp_alerts")}
    assert alerts <= firing, f"alerts never expected to fire: {alerts - firing}"
