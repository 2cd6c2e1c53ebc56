"""Dashboards and rules against what a running broker really exports, through a real Prometheus.

One scenario (live.py) runs a 3-node cluster from the broker binary through a busy healthy phase (t1) and
a degraded one (t2); then:

* every SPEC §7 broker metric is on the /metrics pages with its type, the pages pass `promtool check
  metrics`, publish counters move and a forced leader change is counted;
* every metric name the dashboards and rules use is one the broker exported (or an operator name from
  SPEC §7, or an allow-listed exporter), with label matchers the series really carry;
* every broker panel query returns data at t1 or t2 (no dangling panels), every variable query finds the
  cluster, and Prometheus evaluates every alert rule without errors;
* `/readyz` answers 503 on the node cut off from the leader.
"""

from __future__ import annotations

import re
import signal
import subprocess

import pytest

import known_metrics as km
import live
from promql import analyze, substitute, variable_selector, walk_dashboard
from test_static import DASHBOARDS, alert_rules, load_dashboard, recorded_names

# Grafana variables as a user of each dashboard would pick them for the test cluster ("All" pods).
VALUES = {
    "jumpnet-broker.json": {"namespace": live.NAMESPACE, "cluster": live.CLUSTER, "pod": ".*"},
    "jumpnet-operator.json": {"namespace": live.NAMESPACE, "cluster": live.CLUSTER, "pod": f"({live.OPERATOR_POD})"},
}
# Panels whose series only exist after an event this scenario does not cause.
NO_DATA_UNTIL_EVENT = {
    "Reconcile errors": "jumpnet_operator_reconcile_errors_total has no series before the first reconcile error",
    "Reconcile errors by kind": "jumpnet_operator_reconcile_errors_total has no series before the first error",
}
# A labelled counter shows no series until its first increment.
OPERATOR_LAZY = {"jumpnet_operator_reconcile_errors_total"}


@pytest.fixture(scope="module")
def scenario(tmp_path_factory):
    sc = live.run(tmp_path_factory.mktemp("observability"))
    yield sc
    sc.stop()


def dashboard_targets():
    """(where, panel title, PromQL) of every panel target, Grafana variables filled in for the test cluster."""
    out = []
    for name in DASHBOARDS:
        for p in load_dashboard(name)["panels"]:
            for t in p.get("targets") or []:
                where = f"{name} panel {p['title']!r} target {t['refId']}"
                out.append((where, p["title"], substitute(t["expr"], VALUES[name], live.RATE_INTERVAL)))
    return out


# -- the /metrics page ----------------------------------------------------------------------------------


def test_metrics_pages_carry_every_spec_broker_metric_with_its_type(scenario):
    types = scenario.exported_types()
    missing = sorted(set(km.BROKER) - set(types))
    assert not missing, f"SPEC §7 metrics missing from /metrics: {missing}"
    wrong = {n: types[n] for n, kind in km.BROKER.items() if types[n] != kind}
    assert not wrong, f"metrics with another type than SPEC §7 implies: {wrong}"
    for name, labels in km.BROKER_LABELS.items():
        series = name + ("_bucket" if km.BROKER[name] == "histogram" else "")
        assert labels <= scenario.labels_of(series), f"{name} lacks labels {labels - scenario.labels_of(series)}"
    extra = {n: kind for n, kind in km.BROKER_EXTRA.items() if n not in km.BROKER_EXTRA_OPT_IN}
    missing = sorted(set(extra) - set(types))
    assert not missing, f"allow-listed extra broker metrics missing from /metrics: {missing}"
    wrong = {n: types[n] for n, kind in extra.items() if types[n] != kind}
    assert not wrong, f"extra broker metrics with another type than known_metrics.py says: {wrong}"


def test_process_metrics_the_dashboards_use_are_exported(scenario):
    used = {m for _, _, q in dashboard_targets() for m in analyze(q).metrics if m.startswith("process_")}
    assert used and used <= scenario.exported_names(), used - scenario.exported_names()


@pytest.mark.parametrize("which", ["start", "traffic", "degraded", "isolated"])
def test_promtool_check_metrics_passes(scenario, which):
    pages = [p for k, p in scenario.pages.items() if k.startswith(which + " ")]
    assert pages
    for page in pages:
        proc = subprocess.run(["promtool", "check", "metrics"], input=page.text, capture_output=True, text=True)
        assert proc.returncode == 0 and not proc.stdout.strip() and not proc.stderr.strip(), (
            f"promtool check metrics:\n{proc.stdout}{proc.stderr}"
        )


def test_publish_counters_move_with_published_messages(scenario):
    assert scenario.published_count >= 20
    assert scenario.published_after - scenario.published_before >= scenario.published_count


def test_forced_leader_change_is_counted_on_every_node(scenario):
    assert scenario.leader_changes_after >= scenario.leader_changes_before + 1


def test_readyz_is_503_on_a_node_cut_off_from_the_leader(scenario):
    assert scenario.isolated_readyz == 503
    assert scenario.degraded_errors, "publishing to the isolated node did not fail"


# -- names and labels in dashboards and rules -------------------------------------------------------------


def _queries():
    qs = [(where, q) for where, _, q in dashboard_targets()]
    for name in DASHBOARDS:
        for where, kind, q in walk_dashboard(load_dashboard(name)):
            if kind == "variable":
                qs.append((f"{name} {where}", variable_selector(substitute(q, VALUES[name]))[0]))
    qs += [(f"rule {r.get('alert') or r.get('record')}", r["expr"]) for _, r in alert_rules()]
    return [(w, q) for w, q in qs if q]


def test_every_metric_in_dashboards_and_rules_is_exported(scenario):
    exported = scenario.exported_names()
    operator = km.series_names(km.OPERATOR)
    tls = set(km.TLS)  # only on nodes serving TLS; this cluster does not
    tls |= km.series_names(km.KAFKA)  # likewise only on nodes with --kafka
    allowed = exported | operator | tls | set(km.EXTERNAL) | recorded_names()
    used = {(where, m) for where, q in _queries() for m in analyze(q).metrics}
    unknown = sorted(f"{where}: {m}" for where, m in used if m not in allowed)
    assert not unknown, "names not exported by the broker, the operator or an allow-listed exporter:\n" + "\n".join(
        unknown
    )
    broker_used = {m for _, m in used if m.startswith(("jumpnet_", "process_")) and m not in operator | tls}
    assert broker_used <= exported, f"not on any broker /metrics page: {broker_used - exported}"
    if scenario.operator_page is not None:
        op_used = {m for _, m in used if m in operator} - OPERATOR_LAZY
        assert op_used <= scenario.operator_page.names(), op_used - scenario.operator_page.names()


def test_label_matchers_name_labels_the_series_carry(scenario):
    exported = scenario.exported_names()
    problems = []
    for where, q in _queries():
        for sel in analyze(q).selectors:
            if sel.metric not in exported:
                continue
            have = scenario.labels_of(sel.metric) | km.TARGET_LABELS
            problems += [f"{where}: {sel.metric} has no label {lbl!r}" for lbl in sel.labels() if lbl not in have]
    assert not problems, "\n".join(problems)


# -- queries through Prometheus ---------------------------------------------------------------------------


def test_every_panel_returns_data_where_its_exporter_runs(scenario):
    """Panels on broker (and, when its binary exists, operator) metrics show data in a live cluster."""
    exported = scenario.exported_names() | {"up"}
    empty, errors, checked = [], [], 0
    for where, title, q in dashboard_targets():
        metrics = set(analyze(q).metrics)
        results = [scenario.prometheus.query(q, at) for at in (scenario.t1, scenario.t2)]
        errors += [f"{where}: {r.get('error')}\n  {q}" for r in results if r.get("status") != "success"]
        if not metrics <= exported or title in NO_DATA_UNTIL_EVENT:
            continue  # cAdvisor / kubelet / kube-state-metrics do not run here
        checked += 1
        if not any(r.get("status") == "success" and r["data"]["result"] for r in results):
            empty.append(f"{where}\n  {q}")
    assert not errors, "queries Prometheus rejects:\n" + "\n".join(errors)
    assert not empty, "panels with no data in a live cluster:\n" + "\n".join(empty)
    assert checked >= (35 if scenario.operator_page else 25)


def test_variable_queries_find_the_cluster_and_its_pods(scenario):
    doc = load_dashboard("jumpnet-broker.json")
    variables = {v["name"]: v for v in doc["templating"]["list"] if v["type"] == "query"}
    found = {}
    for name in ("namespace", "cluster", "pod"):
        selector, label = variable_selector(substitute(variables[name]["query"], VALUES["jumpnet-broker.json"]))
        # What Grafana asks for label_values(): the label's values over the dashboard's time range.
        doc = scenario.prometheus.api(
            f"label/{label}/values", **{"match[]": selector, "start": f"{scenario.t0:.3f}", "end": f"{scenario.t2:.3f}"}
        )
        assert doc.get("status") == "success", doc
        found[name] = set(doc["data"])
    assert found["namespace"] == {live.NAMESPACE}
    pods = {f"{live.CLUSTER}-{i}" for i in range(3)}
    assert found["pod"] == pods
    regex = variables["cluster"]["regex"].strip("/")
    assert {re.match(regex, p).group(1) for p in found["cluster"]} == {live.CLUSTER}


def test_prometheus_evaluates_every_rule_without_error(scenario):
    doc = scenario.prometheus.api("rules")
    rules = [r for g in doc["data"]["groups"] for r in g["rules"]]
    assert len(rules) == len(alert_rules())
    bad = [f"{r['name']}: {r.get('lastError')}" for r in rules if r.get("health") != "ok"]
    assert not bad, bad
    for _, rule in alert_rules():
        for at in (scenario.t1, scenario.t2):
            r = scenario.prometheus.query(rule["expr"], at)
            assert r.get("status") == "success", f"{rule['alert']}: {r.get('error')}"


def test_every_broker_selector_in_the_rules_matches_live_series(scenario):
    """A rule whose selector matches nothing (a wrong route template, label value) could never fire."""
    exported = scenario.exported_names()
    dangling = []
    for _, rule in alert_rules():
        for sel in analyze(rule["expr"]).selectors:
            if sel.metric not in exported:
                continue
            matchers = ", ".join(f'{k}{op}"{v}"' for k, op, v in sel.matchers)
            selector = f"{sel.metric}{{{matchers}}}"
            found = [
                scenario.prometheus.query(f"count({selector})", at)["data"]["result"]
                for at in (scenario.t1, scenario.t2)
            ]
            if not any(found):
                dangling.append(f"{rule['alert']}: {selector}")
    assert not dangling, "rule selectors that match no series of a live cluster:\n" + "\n".join(dangling)


def test_readyz_is_503_while_a_node_shuts_down(tmp_path):
    """SIGTERM the leader: while it hands leadership over and drains, /readyz says 503, then the port closes."""
    c = live.LocalCluster(tmp_path, size=3)
    c.start()
    try:
        leader = c.leader()
        leader.proc.send_signal(signal.SIGTERM)
        seen = []
        while leader.proc.poll() is None:
            try:
                seen.append(live.http_get(leader.api_port, "/readyz", timeout=1)[0])
            except OSError:
                seen.append("closed")
        assert leader.proc.returncode == 0, f"exit status {leader.proc.returncode}"
        answers = [s for s in seen if s != "closed"]
        assert 503 in answers, f"/readyz answers during shutdown: {sorted(set(map(str, seen)))}"
        assert 200 not in answers[answers.index(503) :], "ready again after saying it shuts down"
    finally:
        c.stop()


# -- the operator's /metrics (when its binary exists) ------------------------------------------------------


@pytest.fixture
def operator_page(scenario):
    if scenario.operator_page is None:
        pytest.skip("no jumpnet-operator binary (JUMPNET_OPERATOR_BIN, target/.../jumpnet-operator)")
    return scenario.operator_page


def test_operator_exports_the_spec_operator_metrics(operator_page):
    types = operator_page.types
    for name, kind in km.OPERATOR.items():
        if name in OPERATOR_LAZY:
            continue
        assert types.get(name) == kind, f"{name}: {types.get(name)} (want {kind})"
    assert {"process_cpu_seconds_total", "process_resident_memory_bytes"} <= operator_page.names()


def test_promtool_check_metrics_passes_on_the_operator_page(operator_page):
    proc = subprocess.run(["promtool", "check", "metrics"], input=operator_page.text, capture_output=True, text=True)
    assert proc.returncode == 0 and not (proc.stdout + proc.stderr).strip(), proc.stdout + proc.stderr


def test_operator_pod_variable_finds_the_operator(scenario, operator_page):
    doc = scenario.prometheus.api(
        "label/pod/values",
        **{"match[]": "jumpnet_operator_clusters", "start": f"{scenario.t0:.3f}", "end": f"{scenario.t2:.3f}"},
    )
    assert doc["data"] == [live.OPERATOR_POD]
